"""Custody and operation records. A new record replaces the current one (``replaced_at``); history stays."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.time import now_utc
from ..core.types import Money, UTCDateTime
from ..extensions import db

OPERATION_MODES = {
    "self_run": "自主经营",
    "entrusted": "委托经营",
    "lease": "承包租赁",
    "joint_stock": "股份合作",
}
RISK_RATINGS = {"low": "低", "medium": "中", "high": "高"}


class AssetCustody(db.Model):
    __tablename__ = "asset_custodies"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    custodian_unit: Mapped[str] = mapped_column(sa.String(200))
    responsible_person: Mapped[str] = mapped_column(sa.String(64))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    standard: Mapped[str | None] = mapped_column(sa.String(500))
    annual_fund: Mapped[Decimal | None] = mapped_column(Money)
    fund_source: Mapped[str | None] = mapped_column(sa.String(100))
    term_from: Mapped[date | None] = mapped_column(sa.Date)
    term_to: Mapped[date | None] = mapped_column(sa.Date)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.Index("ix_asset_custodies_asset", "asset_id"),
        sa.Index(
            "uq_asset_custodies_current",
            "county_code",
            "asset_id",
            unique=True,
            sqlite_where=sa.text("replaced_at IS NULL"),
            postgresql_where=sa.text("replaced_at IS NULL"),
        ),
        sa.CheckConstraint("annual_fund >= 0", name="fund_nonneg"),
    )


class AssetOperation(db.Model):
    __tablename__ = "asset_operations"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    mode: Mapped[str] = mapped_column(sa.String(16))
    operator_name: Mapped[str] = mapped_column(sa.String(200))
    operator_credit_code: Mapped[str | None] = mapped_column(sa.String(18))
    contract_no: Mapped[str | None] = mapped_column(sa.String(100))
    term_from: Mapped[date | None] = mapped_column(sa.Date)
    term_to: Mapped[date | None] = mapped_column(sa.Date)
    agreed_annual_income: Mapped[Decimal | None] = mapped_column(Money)
    guaranteed_minimum: Mapped[Decimal | None] = mapped_column(Money)
    risk_rating: Mapped[str | None] = mapped_column(sa.String(8))
    risk_assessed_on: Mapped[date | None] = mapped_column(sa.Date)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.Index("ix_asset_operations_asset", "asset_id"),
        sa.Index(
            "uq_asset_operations_current",
            "county_code",
            "asset_id",
            unique=True,
            sqlite_where=sa.text("replaced_at IS NULL"),
            postgresql_where=sa.text("replaced_at IS NULL"),
        ),
        sa.CheckConstraint("mode in ('self_run','entrusted','lease','joint_stock')", name="mode"),
        sa.CheckConstraint("agreed_annual_income >= 0", name="income_nonneg"),
        sa.CheckConstraint("guaranteed_minimum >= 0", name="minimum_nonneg"),
    )
