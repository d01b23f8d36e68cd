"""The stored-file record: an uploaded file kept by its SHA-256 (the bytes: ``core/storage.py``), which any
area's documents and evidence point at."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .time import now_utc
from .types import UTCDateTime


class StoredFile(db.Model):
    """An uploaded file kept under instance/uploads/ by its SHA-256; the uploaded name is display only."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    original_name: Mapped[str | None] = mapped_column(sa.String(200))
    storage_path: Mapped[str] = mapped_column(sa.String(300))
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (sa.Index("ix_stored_files_county_sha", "county_code", "sha256"),)

__all__ = ["StoredFile"]
