"""Ledger entries (append-only), village shares, fixed-return contracts and year-end settlements."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.chained import Chained
from ..core.partitions import on_postgresql, on_sqlite
from ..core.time import now_utc, today_local
from ..core.types import Money, ScaledDecimal, UTCDateTime
from ..extensions import db
from . import rules

DIRECTIONS = {"income": "收入", "deduction": "扣除"}
# Income kinds (DOMAIN.md §5). 处置收入 is income but kept apart from the ordinary totals (§9).
INCOME_KINDS = {
    "electricity": "电费收入",
    "tariff_subsidy": "电价补贴",
    "rent": "租金",
    "dividend": "保底收益/分红",
    "operating": "经营收入",
    "other": "其他",
    "disposal": "处置收入",
}
DEDUCTION_KINDS = {
    "site_rent": "场地租金",
    "maintenance": "运维费",
    "custody": "管护费",
    "insurance": "保险",
    "tax": "税费",
    "other": "其他",
}
KINDS = {"income": INCOME_KINDS, "deduction": DEDUCTION_KINDS}
ALL_KINDS = sorted(set(INCOME_KINDS) | set(DEDUCTION_KINDS))
DISPOSAL = "disposal"
# Kinds a fixed-return contract may produce (never disposal proceeds).
CONTRACT_KINDS = {k: v for k, v in INCOME_KINDS.items() if k != DISPOSAL}
RETURN_BASES = {"rate": "本金×年收益率", "fixed": "每期固定金额", "lump_sum": "一次性收取多年"}
RETURN_PERIODS = {"month": "按月", "quarter": "按季", "year": "按年"}
SETTLEMENT_LEVELS = {"village": "村", "town": "乡镇"}


def _kind_check() -> str:
    inc = ",".join(f"'{k}'" for k in INCOME_KINDS)
    ded = ",".join(f"'{k}'" for k in DEDUCTION_KINDS)
    return f"(direction = 'income' and kind in ({inc})) or (direction = 'deduction' and kind in ({ded}))"


class IncomeEntry(Chained, db.Model):
    """One posted ledger line. Never updated or deleted (triggers enforce it); a reversal corrects it.
    Chained per county (``core.chained``): each row carries its hash and the hash of the row before."""

    __tablename__ = "income_entries"
    __chain__ = "income_entries"
    __chain_fields__ = (
        "county_code", "town_code", "village_code", "asset_id", "direction", "kind", "period_year",
        "period_month", "period_quarter", "received_on", "amount", "payer", "voucher_no", "note", "reverses_id",
        "reason", "is_adjustment", "adjustment_on", "recorded_by_id", "recorded_at",
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    direction: Mapped[str] = mapped_column(sa.String(10))
    kind: Mapped[str] = mapped_column(sa.String(20))
    period_year: Mapped[int]
    period_month: Mapped[int | None]
    period_quarter: Mapped[int | None]
    received_on: Mapped[date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    payer: Mapped[str | None] = mapped_column(sa.String(200))
    voucher_no: Mapped[str | None] = mapped_column(sa.String(64))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    reverses_id: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    is_adjustment: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    adjustment_on: Mapped[date | None] = mapped_column(sa.Date)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.Index("ix_income_entries_county_asset_year", "county_code", "asset_id", "period_year"),
        sa.Index("ix_income_entries_county_village_year", "county_code", "village_code", "period_year"),
        sa.Index("ix_income_entries_county_town_year", "county_code", "town_code", "period_year"),
        sa.Index("uq_income_entries_county_chain_seq", "county_code", "chain_seq", unique=True),
        # An entry is reversed once. PostgreSQL partitions the ledger by county (core/partitions.py): its keys
        # carry the county; SQLite keeps the single-column ones.
        on_sqlite(sa.UniqueConstraint("reverses_id")),
        on_postgresql(sa.UniqueConstraint("reverses_id", "county_code")),
        on_sqlite(sa.ForeignKeyConstraint(["reverses_id"], ["income_entries.id"])),
        on_postgresql(sa.ForeignKeyConstraint(["reverses_id", "county_code"],
                                              ["income_entries.id", "income_entries.county_code"])),
        sa.CheckConstraint("direction in ('income','deduction')", name="direction"),
        sa.CheckConstraint(_kind_check(), name="kind"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("period_year between 1949 and 2100", name="period_year_range"),
        sa.CheckConstraint("period_month is null or period_month between 1 and 12", name="period_month_range"),
        sa.CheckConstraint("period_quarter is null or period_quarter between 1 and 4", name="period_quarter_range"),
        sa.CheckConstraint("period_month is null or period_quarter is null", name="one_period"),
        sa.CheckConstraint("reverses_id is null or reason is not null", name="reversal_reason"),
        sa.CheckConstraint("is_adjustment = (adjustment_on is not null)", name="adjustment_dated"),
    )

    @property
    def is_reversal(self) -> bool:
        return self.reverses_id is not None

    @hybrid_property
    def signed_amount(self) -> Decimal:
        """The entry's signed amount, what it adds to its asset's net: income +, deduction −, a reversal the
        opposite of the entry it reverses. The one signed amount of the ledger: every SQL sum of the ledger
        uses the expression below (or ``ledger_sums``), Python the same rule (``rules.signed_effect``)."""
        return rules.signed_effect(self.direction, self.amount, self.reverses_id is not None)

    @signed_amount.inplace.expression
    @classmethod
    def _signed_amount_expression(cls) -> sa.ColumnElement[Decimal]:
        # Typed Money (integer fen in the database): a SUM of it comes back as Decimal yuan.
        return sa.case(
            (sa.and_(cls.direction == "income", cls.reverses_id.is_(None)), cls.amount),
            (sa.and_(cls.direction == "deduction", cls.reverses_id.is_not(None)), cls.amount),
            else_=-cls.amount,
        )


def ledger_sums(entry=IncomeEntry) -> tuple[sa.ColumnElement, sa.ColumnElement, sa.ColumnElement]:
    """gross (ordinary income), costs (deductions, positive) and disposal (处置收入, kept apart, DOMAIN.md §9):
    the three SUMs of the signed amount every ledger total is made of; net = gross − costs. Each is NULL
    (None) where the group has no entry of its kind. ``entry``: the model or an alias of it."""
    signed = entry.signed_amount
    return (
        sa.func.sum(sa.case((sa.and_(entry.direction == "income", entry.kind != DISPOSAL), signed))).label("gross"),
        (-sa.func.sum(sa.case((entry.direction == "deduction", signed)))).label("costs"),
        sa.func.sum(sa.case((sa.and_(entry.direction == "income", entry.kind == DISPOSAL), signed))).label("disposal"),
    )


class AssetShare(db.Model):
    """One village's weight in a shared asset for a range of years; a PUT supersedes (``replaced_at``)."""

    __tablename__ = "asset_shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    village_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    weight: Mapped[Decimal] = mapped_column(ScaledDecimal(4))
    basis: Mapped[str | None] = mapped_column(sa.String(200))
    from_year: Mapped[int | None]
    to_year: Mapped[int | None]
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.Index("ix_asset_shares_county_asset", "county_code", "asset_id"),
        sa.Index("ix_asset_shares_county_village", "county_code", "village_code"),
        sa.CheckConstraint("weight > 0", name="weight_positive"),
        sa.CheckConstraint("from_year is null or to_year is null or from_year <= to_year", name="year_range"),
    )


class ContractReturn(db.Model):
    """A contract with a fixed return: what it makes due per period (basis: P09, 防止资产流失)."""

    __tablename__ = "contract_returns"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    contract_no: Mapped[str | None] = mapped_column(sa.String(100))
    payer: Mapped[str | None] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    basis: Mapped[str] = mapped_column(sa.String(10))
    principal: Mapped[Decimal | None] = mapped_column(Money)
    annual_rate_percent: Mapped[Decimal | None] = mapped_column(ScaledDecimal(4))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    period: Mapped[str] = mapped_column(sa.String(10))
    start_on: Mapped[date] = mapped_column(sa.Date)
    end_on: Mapped[date] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.Index("ix_contract_returns_county_asset", "county_code", "asset_id"),
        sa.CheckConstraint("basis in ('rate','fixed','lump_sum')", name="basis"),
        sa.CheckConstraint("period in ('month','quarter','year')", name="period"),
        sa.CheckConstraint("start_on <= end_on", name="term"),
        sa.CheckConstraint(
            "(basis = 'rate' and principal > 0 and annual_rate_percent > 0 and amount is null)"
            " or (basis in ('fixed','lump_sum') and amount > 0 and principal is null"
            " and annual_rate_percent is null)",
            name="basis_figures",
        ),
    )


class Settlement(db.Model):
    """A village's or town's settled year (年度清算, basis: P34). Frozen once written (triggers)."""

    __tablename__ = "settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    place_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    level: Mapped[str] = mapped_column(sa.String(8))
    year: Mapped[int]
    gross: Mapped[Decimal] = mapped_column(Money)
    costs: Mapped[Decimal] = mapped_column(Money)
    net: Mapped[Decimal] = mapped_column(Money)
    disposal: Mapped[Decimal] = mapped_column(Money)
    adjustments_net: Mapped[Decimal] = mapped_column(Money)
    # The highest ledger entry id the totals saw: later adjustments to this year are the ones above it.
    last_entry_id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    lines: Mapped[list] = mapped_column(sa.JSON)
    settled_on: Mapped[date] = mapped_column(sa.Date)
    due_on: Mapped[date] = mapped_column(sa.Date)
    published_on: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    settled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    parts: Mapped[list[SettlementPart]] = relationship(
        back_populates="settlement", order_by="SettlementPart.id"
    )
    adjustments: Mapped[list[SettlementAdjustment]] = relationship(
        back_populates="settlement", order_by="SettlementAdjustment.id"
    )

    __table_args__ = (
        sa.UniqueConstraint("county_code", "place_code", "year"),
        sa.Index("ix_settlements_county_town_year", "county_code", "town_code", "year"),
        sa.Index("ix_settlements_county_village_year", "county_code", "village_code", "year"),
        sa.CheckConstraint("level in ('village','town')", name="level"),
        sa.CheckConstraint("(level = 'village') = (village_code is not null)", name="level_codes"),
        sa.CheckConstraint("gross - costs = net", name="net_balances"),
    )

    @property
    def is_late(self) -> bool:
        """Not settled and published by 31 March of the next year (basis: P34)."""
        published = self.published_on or today_local()  # unpublished: late once the day has passed
        return self.settled_on > self.due_on or published > self.due_on


class SettlementPart(db.Model):
    """A town settlement's part for one village (``village_code`` null: held by the town itself)."""

    __tablename__ = "settlement_parts"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    settlement_id: Mapped[int] = mapped_column(sa.ForeignKey("settlements.id"), index=True)
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    gross: Mapped[Decimal] = mapped_column(Money)
    costs: Mapped[Decimal] = mapped_column(Money)
    net: Mapped[Decimal] = mapped_column(Money)
    disposal: Mapped[Decimal] = mapped_column(Money)

    settlement: Mapped[Settlement] = relationship(back_populates="parts")

    __table_args__ = (
        sa.Index("ix_settlement_parts_county_village", "county_code", "village_code"),
    )


class SettlementAdjustment(db.Model):
    """A prior-year adjustment listed (once per place) in a later settlement."""

    __tablename__ = "settlement_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    settlement_id: Mapped[int] = mapped_column(sa.ForeignKey("settlements.id"))
    entry_id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), index=True)
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    period_year: Mapped[int]
    is_disposal: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    effect: Mapped[Decimal] = mapped_column(Money)
    part: Mapped[Decimal] = mapped_column(Money)

    settlement: Mapped[Settlement] = relationship(back_populates="adjustments")
    entry: Mapped[IncomeEntry] = relationship(
        primaryjoin="and_(foreign(SettlementAdjustment.entry_id) == IncomeEntry.id, "
                    "foreign(SettlementAdjustment.county_code) == IncomeEntry.county_code)",
        viewonly=True,
    )

    __table_args__ = (
        sa.UniqueConstraint("settlement_id", "entry_id"),
        # The ledger is partitioned by county on PostgreSQL (core/partitions.py): the entry is (id, county).
        on_sqlite(sa.ForeignKeyConstraint(["entry_id"], ["income_entries.id"])),
        on_postgresql(sa.ForeignKeyConstraint(["entry_id", "county_code"],
                                              ["income_entries.id", "income_entries.county_code"])),
    )
