"""A background export job: who asked, what, how far it got, and where the file is."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db

JOB_STATUSES = {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}


class ExportJob(db.Model):
    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))  # ledger | pack
    params: Mapped[dict] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(10), default="queued")
    progress: Mapped[int] = mapped_column(default=0)
    rows_written: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    total_rows: Mapped[int | None] = mapped_column(sa.BigInteger)
    file_path: Mapped[str | None] = mapped_column(sa.String(300))
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    error: Mapped[str | None] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # beats with each progress step while the job runs; a running job whose beat stops has lost its worker
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_export_jobs_county_status", "county_code", "status"),
        sa.CheckConstraint("status in ('queued','running','done','failed')", name="status"),
        sa.CheckConstraint("progress >= 0 and progress <= 100", name="progress_range"),
    )


__all__ = ["ExportJob"]
