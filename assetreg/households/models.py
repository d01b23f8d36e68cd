"""Households keep their county, town and village codes, so scope filters are plain equalities."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db

STATUSES = {"formerly_poor": "脱贫户", "monitored": "监测户", "ordinary": "一般户"}
MONITOR_TYPES = {
    "unstable": "脱贫不稳定户",
    "marginal": "边缘易致贫户",
    "sudden_hardship": "突发严重困难户",
}
LABOUR = {"full": "有劳动力", "weak": "弱劳动力", "half": "半劳动力", "none": "无劳动力"}


class Household(db.Model):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str] = mapped_column(sa.String(9))
    village_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    number: Mapped[str] = mapped_column(sa.String(40))  # 户编号, opaque
    head_name: Mapped[str] = mapped_column(sa.String(64))
    head_id_number: Mapped[str] = mapped_column(sa.String(18))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))
    monitor_type: Mapped[str | None] = mapped_column(sa.String(20))
    is_risk_cleared: Mapped[bool] = mapped_column(default=False)
    risk_cleared_on: Mapped[date | None] = mapped_column(sa.Date)
    bank_card: Mapped[str | None] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    # Members are partitioned by county on PostgreSQL (core/partitions.py): joined on the county too, so a
    # household's members are read from its county's partition.
    members: Mapped[list[HouseholdMember]] = relationship(
        back_populates="household", cascade="all, delete-orphan", order_by="HouseholdMember.id",
        primaryjoin="and_(Household.id == foreign(HouseholdMember.household_id), "
                    "Household.county_code == foreign(HouseholdMember.county_code))",
    )

    @classmethod
    def members_in(cls, county_code: str):
        """``members`` read from the county's partition only, for loader options (``selectinload``): the
        batch load joins from the households, so the county must be named for the planner to prune."""
        return cls.members.and_(HouseholdMember.county_code == county_code)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("county_code", "number"),
        sa.Index("ix_households_county_village", "county_code", "village_code"),
        sa.Index("ix_households_county_town", "county_code", "town_code"),
        sa.Index("ix_households_county_status", "county_code", "status"),
        sa.CheckConstraint("status in ('formerly_poor','monitored','ordinary')", name="status"),
        sa.CheckConstraint(
            "(status = 'monitored') = (monitor_type is not null)", name="monitor_type"
        ),
    )


class HouseholdMember(db.Model):
    __tablename__ = "household_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    relation: Mapped[str] = mapped_column(sa.String(20))  # 户主, 配偶, 子女 …
    id_number: Mapped[str | None] = mapped_column(sa.String(18))
    labour: Mapped[str] = mapped_column(sa.String(10))

    household: Mapped[Household] = relationship(
        back_populates="members",
        primaryjoin="and_(Household.id == foreign(HouseholdMember.household_id), "
                    "Household.county_code == foreign(HouseholdMember.county_code))",
    )

    __table_args__ = (
        sa.CheckConstraint("labour in ('full','weak','half','none')", name="labour"),
    )
