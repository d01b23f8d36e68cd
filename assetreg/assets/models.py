"""The asset registry. Status history and funding are rows of their own; nothing is overwritten."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.time import now_utc
from ..core.types import Money, ScaledDecimal, UTCDateTime
from ..extensions import db

# basis: P02 — operating and public-welfare assets, plus household assets (seed 000).
CATEGORIES = {"operating": "经营性", "public_welfare": "公益性", "household": "到户类"}
SUBTYPES = {
    "operating": ["光伏电站", "扶贫车间", "种养基地", "冷库仓储", "乡村旅游设施", "入股资产", "其他经营性资产"],
    "public_welfare": ["道路", "桥梁", "饮水工程", "农田水利", "教育卫生文化设施", "人居环境设施", "其他公益性资产"],
    "household": ["牲畜", "种苗", "小型设施", "其他到户资产"],
}
MANAGING_LEVELS = {"county": "县", "town": "乡", "village": "村", "household": "户"}
STATUSES = {
    "under_construction": "在建",
    "completed": "待移交",
    "handed_over": "已确权",
    "in_operation": "运营中",
    "in_use": "使用中",
    "idle": "闲置",
    "disposing": "处置中",
    "disposed": "已处置",
    "scrapped": "已报废",
}
FUNDING_SOURCES = {
    "fiscal_link": "财政衔接资金",
    "integrated_agri": "统筹整合涉农资金",
    "east_west": "东西部协作",
    "paired_assistance": "定点帮扶",
    "donation": "社会捐赠",
    "local_bonds": "地方政府债券",
    "other": "其他",
}


class Asset(db.Model):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    place_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(20))
    subtype: Mapped[str] = mapped_column(sa.String(40))
    managing_level: Mapped[str] = mapped_column(sa.String(10))
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"), index=True)
    project_name: Mapped[str | None] = mapped_column(sa.String(200))
    project_year: Mapped[int | None]
    project_approval_no: Mapped[str | None] = mapped_column(sa.String(100))
    completed_on: Mapped[date | None] = mapped_column(sa.Date)
    original_value: Mapped[Decimal] = mapped_column(Money)
    quantity: Mapped[Decimal | None] = mapped_column(ScaledDecimal(3))
    unit: Mapped[str | None] = mapped_column(sa.String(20))
    useful_life_years: Mapped[int | None]
    status: Mapped[str] = mapped_column(sa.String(20))
    status_on: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    fundings: Mapped[list[AssetFunding]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetFunding.id"
    )
    status_changes: Mapped[list[AssetStatusChange]] = relationship(
        back_populates="asset", order_by="AssetStatusChange.id"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("county_code", "code"),
        # A town's or village's page in code order, the county's category by value (migration 0008_hot_indexes).
        sa.Index("ix_assets_county_town_code", "county_code", "town_code", "code", "id"),
        sa.Index("ix_assets_county_village_code", "county_code", "village_code", "code", "id"),
        sa.Index("ix_assets_county_category_value", "county_code", "category", "original_value", "id"),
        sa.Index("ix_assets_county_category", "county_code", "category"),
        sa.Index("ix_assets_county_status", "county_code", "status"),
        sa.Index("ix_assets_county_subtype", "county_code", "subtype"),
        sa.CheckConstraint("category in ('operating','public_welfare','household')", name="category"),
        sa.CheckConstraint("original_value >= 0", name="original_value_nonneg"),
        sa.CheckConstraint(
            "status in ('under_construction','completed','handed_over','in_operation','in_use',"
            "'idle','disposing','disposed','scrapped')",
            name="status",
        ),
    )


class AssetFunding(db.Model):
    """One line of the funding breakdown; the lines add up to the asset's original value."""

    __tablename__ = "asset_fundings"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(sa.String(24))
    amount: Mapped[Decimal] = mapped_column(Money)

    asset: Mapped[Asset] = relationship(back_populates="fundings")

    __table_args__ = (
        sa.UniqueConstraint("county_code", "asset_id", "source"),
        sa.CheckConstraint("amount >= 0", name="amount_nonneg"),
    )


class AssetStatusChange(db.Model):
    """A dated, logged status transition (the status machine's history)."""

    __tablename__ = "asset_status_changes"
    # County-led: "when did each asset of the county first reach these statuses" (the flag rules) reads the
    # index alone (migration 0008).
    __table_args__ = (sa.Index("ix_asset_status_changes_county_status", "county_code", "to_status", "changed_on",
                               "asset_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str] = mapped_column(sa.String(20))
    changed_on: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    document: Mapped[str | None] = mapped_column(sa.String(200))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    asset: Mapped[Asset] = relationship(back_populates="status_changes")


class DepreciationPolicy(db.Model):
    """Per county and subtype: useful life and residual rate for straight-line depreciation."""

    __tablename__ = "depreciation_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    subtype: Mapped[str] = mapped_column(sa.String(40))
    useful_life_years: Mapped[int]
    residual_rate: Mapped[Decimal] = mapped_column(ScaledDecimal(4))

    __table_args__ = (
        sa.UniqueConstraint("county_code", "subtype"),
        sa.CheckConstraint("useful_life_years > 0", name="life_positive"),
        sa.CheckConstraint("residual_rate >= 0 and residual_rate < 10000", name="residual_rate_range"),
    )
