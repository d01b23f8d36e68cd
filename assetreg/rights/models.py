"""A right's holder is a dated record; a new holder closes the old record (``ended_on``)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db

# basis: P03 — 所有权、经营权、收益权、处置权、监督权; 分配权 optional.
FIVE_RIGHTS = {
    "ownership": "所有权",
    "operation": "经营权",
    "income": "收益权",
    "disposal": "处置权",
    "supervision": "监督权",
}
RIGHT_KINDS = {**FIVE_RIGHTS, "distribution": "分配权"}
HOLDER_KINDS = {
    "village_collective": "村集体经济组织",
    "town_government": "乡镇人民政府",
    "county_department": "县直部门",
    "household": "农户",
    "operator": "经营主体",
    "village_supervision": "村务监督委员会",
    "other": "其他",
}
# Organisations that must give a unified social credit code (GB 32100).
CREDIT_CODE_REQUIRED = {"village_collective", "town_government", "county_department", "operator"}


class AssetRight(db.Model):
    __tablename__ = "asset_rights"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    holder_kind: Mapped[str] = mapped_column(sa.String(24))
    holder_name: Mapped[str] = mapped_column(sa.String(200))
    credit_code: Mapped[str | None] = mapped_column(sa.String(18))
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"))
    basis_document: Mapped[str | None] = mapped_column(sa.String(200))
    effective_on: Mapped[date] = mapped_column(sa.Date)
    ended_on: Mapped[date | None] = mapped_column(sa.Date)
    superseded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("asset_rights.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.Index("ix_asset_rights_asset_kind", "asset_id", "kind"),
        sa.Index("ix_asset_rights_county", "county_code"),
        # At most one current holder per asset and right, on both databases.
        sa.Index(
            "uq_asset_rights_current",
            "county_code",
            "asset_id",
            "kind",
            unique=True,
            sqlite_where=sa.text("ended_on IS NULL"),
            postgresql_where=sa.text("ended_on IS NULL"),
        ),
        sa.CheckConstraint(
            "kind in ('ownership','operation','income','disposal','supervision','distribution')",
            name="kind",
        ),
    )

    @property
    def is_current(self) -> bool:
        return self.ended_on is None
