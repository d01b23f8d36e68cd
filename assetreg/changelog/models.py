"""One row per write: actor, time, entity, action, before/after snapshots; append-only and chained."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.chained import Chained
from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db


class ChangeLogEntry(Chained, db.Model):
    """Append-only (triggers, changelog/guard.py) and chained per county (``core.chained``)."""

    __tablename__ = "change_log"
    __chain__ = "change_log"
    __chain_fields__ = ("county_code", "town_code", "village_code", "actor_id", "actor_name", "at", "entity",
                        "entity_id", "action", "before", "after")

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
        sa.Index("uq_change_log_county_chain_seq", "county_code", "chain_seq", unique=True),
    )
