"""Places are never deleted: a withdrawn or merged village gets ``valid_to`` and a successor."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db

LEVELS = {"county": "县", "town": "乡镇", "village": "村"}


class Place(db.Model):
    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(12), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    level: Mapped[str] = mapped_column(sa.String(8))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("places.code"), index=True)
    county_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    valid_from: Mapped[date | None] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    successor_code: Mapped[str | None] = mapped_column(sa.ForeignKey("places.code"))
    phone: Mapped[str | None] = mapped_column(sa.String(32))  # the town's complaint phone, for notices
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.CheckConstraint("level in ('county','town','village')", name="level"),
        sa.CheckConstraint(
            "(level = 'county' and length(code) = 6) or (level = 'town' and length(code) = 9)"
            " or (level = 'village' and length(code) = 12)",
            name="code_length",
        ),
    )

    @property
    def is_withdrawn(self) -> bool:
        return self.valid_to is not None


class PlaceSuccession(db.Model):
    """A dated record of a place withdrawn or merged into another, and what moved with it."""

    __tablename__ = "place_successions"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    old_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    new_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    effective_on: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    document: Mapped[str | None] = mapped_column(sa.String(200))
    moved_assets: Mapped[int] = mapped_column(default=0)
    moved_households: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
