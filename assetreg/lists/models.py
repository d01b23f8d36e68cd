"""Regulations in force per place, stored files, archive documents per asset and level, required kinds."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db

LEVELS = {"county": "县级", "town": "乡镇级", "village": "村级"}
# basis: P26 — the five systems of seed 002 item 19, then other kinds of rules.
FIVE_SYSTEMS = {
    "market": "市场化管理",
    "risk": "资产防风险",
    "distribution": "资产收益分配",
    "depreciation": "资产折旧",
    "disposal": "资产处置",
}
REGULATION_CATEGORIES = {**FIVE_SYSTEMS, "custody": "运营管护", "supervision": "监督管理", "other": "其他"}
# basis: P05 — the documents of the three-level archive list.
DOCUMENT_KINDS = {
    "project_approval": "立项批复",
    "acceptance": "验收报告",
    "handover": "移交书",
    "rights_confirmation": "确权书",
    "operation_contract": "经营合同",
    "custody_agreement": "管护协议",
    "distribution_plan": "收益分配方案",
    "notice": "公示材料",
    "audit_report": "审计报告",
    "inspection_report": "督查报告",
    "disposal_approval": "处置批复",
    "rectification_evidence": "整改材料",
    "regulation": "制度文件",
    "other": "其他",
}


def _enum_check(column: str, values) -> str:
    return f"{column} in (" + ",".join(f"'{v}'" for v in values) + ")"


class Regulation(db.Model):
    """A rule in force (制度): issued at a level by a place, applying to that place's tree or listed places."""

    __tablename__ = "regulations"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    issuer_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))  # the place that issued it
    level: Mapped[str] = mapped_column(sa.String(8))
    title: Mapped[str] = mapped_column(sa.String(200))
    doc_number: Mapped[str | None] = mapped_column(sa.String(100))  # 文号, e.g. 青政办发〔2021〕8号
    category: Mapped[str] = mapped_column(sa.String(20))
    subtypes: Mapped[list | None] = mapped_column(sa.JSON)  # basis: P08 — rules for 光伏电站, 扶贫车间 …
    effective_on: Mapped[date] = mapped_column(sa.Date)
    repealed_on: Mapped[date | None] = mapped_column(sa.Date)
    file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    places: Mapped[list[RegulationPlace]] = relationship(back_populates="regulation", cascade="all, delete-orphan")

    __table_args__ = (
        sa.Index("ix_regulations_county_level", "county_code", "level"),
        sa.Index("ix_regulations_county_town", "county_code", "town_code"),
        sa.Index("ix_regulations_county_category", "county_code", "category"),
        sa.CheckConstraint(_enum_check("level", LEVELS), name="level"),
        sa.CheckConstraint(_enum_check("category", REGULATION_CATEGORIES), name="category"),
        sa.CheckConstraint("repealed_on is null or repealed_on >= effective_on", name="dates"),
    )


class RegulationPlace(db.Model):
    """A place a regulation applies to, when it names them (else it applies to its issuer's whole tree)."""

    __tablename__ = "regulation_places"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    regulation_id: Mapped[int] = mapped_column(sa.ForeignKey("regulations.id", ondelete="CASCADE"), index=True)
    place_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"), index=True)

    regulation: Mapped[Regulation] = relationship(back_populates="places")

    __table_args__ = (sa.UniqueConstraint("county_code", "regulation_id", "place_code"),)


class ArchiveDocument(db.Model):
    """A document filed in the three-level archive (县乡村三级档案), for an asset or for a place."""

    __tablename__ = "archive_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    asset_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assets.id"))
    level: Mapped[str] = mapped_column(sa.String(8))  # which level's archive keeps it
    kind: Mapped[str] = mapped_column(sa.String(32))
    archive_no: Mapped[str] = mapped_column(sa.String(60))  # 档案号
    title: Mapped[str] = mapped_column(sa.String(200))
    filed_on: Mapped[date] = mapped_column(sa.Date)
    file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.UniqueConstraint("county_code", "level", "archive_no"),
        sa.Index("ix_archive_documents_county_asset", "county_code", "asset_id"),
        sa.Index("ix_archive_documents_county_town", "county_code", "town_code"),
        sa.Index("ix_archive_documents_county_village", "county_code", "village_code"),
        sa.Index("ix_archive_documents_county_kind", "county_code", "kind"),
        sa.CheckConstraint(_enum_check("level", LEVELS), name="level"),
        sa.CheckConstraint(_enum_check("kind", DOCUMENT_KINDS), name="kind"),
    )


class RequiredDocument(db.Model):
    """The county's rule: assets in ``status`` (of ``category``, or any when null) must have ``kind`` filed."""

    __tablename__ = "required_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    status: Mapped[str] = mapped_column(sa.String(20))
    category: Mapped[str | None] = mapped_column(sa.String(20))
    kind: Mapped[str] = mapped_column(sa.String(32))

    __table_args__ = (
        sa.UniqueConstraint("county_code", "status", "category", "kind"),
        sa.CheckConstraint(_enum_check("kind", DOCUMENT_KINDS), name="kind"),
    )


__all__ = ["Regulation", "RegulationPlace", "ArchiveDocument", "RequiredDocument"]
