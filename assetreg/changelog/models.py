"""One row per write: actor, time, entity, action, before/after snapshots."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db


class ChangeLogEntry(db.Model):
    __tablename__ = "change_log"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    entity: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[str] = mapped_column(sa.String(40))
    action: Mapped[str] = mapped_column(sa.String(40))
    before: Mapped[dict | None] = mapped_column(sa.JSON)
    after: Mapped[dict | None] = mapped_column(sa.JSON)

    __table_args__ = (
        sa.Index("ix_change_log_county_entity", "county_code", "entity", "entity_id"),
        sa.Index("ix_change_log_county_at", "county_code", "at"),
    )
