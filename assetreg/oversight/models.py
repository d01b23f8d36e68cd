"""Audits, inspections, problems with their status history and evidence, disposal requests with their
approvals, flag acknowledgements and the county's thresholds for the flag rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.time import now_utc
from ..core.types import Money, UTCDateTime
from ..extensions import db

PROBLEM_SOURCES = {"audit": "审计", "inspection": "督查检查", "flag": "预警", "complaint": "群众投诉"}
# basis: P27, P30 — 待整改 → 整改中 → 已整改 → 已销号.
PROBLEM_STATUSES = {"pending": "待整改", "in_progress": "整改中", "rectified": "已整改", "closed": "已销号"}
AUDIT_CONCLUSIONS = {"pass": "合格", "basic_pass": "基本合格", "fail": "不合格"}
# DOMAIN.md §9.
DISPOSAL_GROUNDS = {
    "disaster": "灾害损毁",
    "planning": "规划调整拆除",
    "end_of_life": "达到报废年限",
    "idle_inefficient": "闲置低效需转产",
    "equity_expired": "入股协议到期",
    "superseded": "被新项目覆盖",
    "other": "其他",
}
DISPOSAL_METHODS = {"auction": "拍卖", "transfer": "转让", "conversion": "转产", "suspension": "报停",
                    "loss": "报损", "scrap": "报废"}
DISPOSAL_STATUSES = {
    "requested": "已申请",
    "valued": "已评估",
    "village_decided": "村级已决议",
    "approving": "审批中",
    "approved": "已批准",
    "executed": "已执行",
    "rejected": "已否决",
    "cancelled": "已撤回",
}
# The approvers a county may put in its order (DOMAIN.md §9: e.g. town, then the county bureaus).
APPROVERS = {
    "town_government": "乡镇人民政府",
    "county_rural_revitalisation": "县乡村振兴局",
    "county_finance": "县财政局",
    "county_agriculture": "县农业农村局",
    "county_government": "县人民政府",
}
DEFAULT_DISPOSAL_ORDER = ["town_government", "county_rural_revitalisation", "county_finance"]


def _enum_check(column: str, values) -> str:
    return f"{column} in (" + ",".join(f"'{v}'" for v in values) + ")"


class OversightSettings(db.Model):
    """County thresholds for the flag rules and the disposal approval order (defaults of the seeds)."""

    __tablename__ = "oversight_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6), unique=True)
    no_income_years: Mapped[int] = mapped_column(default=2)  # NO_INCOME after N years without income
    settlement_deadline_month: Mapped[int] = mapped_column(default=3)  # 31 March (basis: P34)
    settlement_deadline_day: Mapped[int] = mapped_column(default=31)
    handover_deadline_month: Mapped[int] = mapped_column(default=3)  # basis: P24
    handover_deadline_day: Mapped[int] = mapped_column(default=31)
    contract_warning_days: Mapped[int] = mapped_column(default=90)
    risk_assessment_max_days: Mapped[int] = mapped_column(default=365)  # basis: P32
    disposal_approval_order: Mapped[list] = mapped_column(sa.JSON, default=lambda: list(DEFAULT_DISPOSAL_ORDER))
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    __mapper_args__ = {"version_id_col": version}


class Audit(db.Model):
    """年度审计 of an operating asset (basis: P25)."""

    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    year: Mapped[int]
    auditor: Mapped[str] = mapped_column(sa.String(200))
    audited_on: Mapped[date] = mapped_column(sa.Date)
    conclusion: Mapped[str] = mapped_column(sa.String(16))
    findings: Mapped[str | None] = mapped_column(sa.String(4000))
    report_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("archive_documents.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.UniqueConstraint("county_code", "asset_id", "year"),
        sa.Index("ix_audits_county_town", "county_code", "town_code"),
        sa.Index("ix_audits_county_year", "county_code", "year"),
        sa.CheckConstraint(_enum_check("conclusion", AUDIT_CONCLUSIONS), name="conclusion"),
    )


class Inspection(db.Model):
    """Quarterly inspection (督查检查) of a town (basis: P16, P27)."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    year: Mapped[int]
    quarter: Mapped[int]
    inspected_on: Mapped[date] = mapped_column(sa.Date)
    inspector: Mapped[str] = mapped_column(sa.String(200))
    conclusion: Mapped[str | None] = mapped_column(sa.String(1000))
    findings: Mapped[str | None] = mapped_column(sa.String(4000))
    report_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("archive_documents.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (
        sa.UniqueConstraint("county_code", "town_code", "year", "quarter"),
        sa.CheckConstraint("quarter >= 1 and quarter <= 4", name="quarter_range"),
    )


class Problem(db.Model):
    """A problem to rectify (问题清单/整改台账), from an audit, inspection, flag or complaint."""

    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    asset_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assets.id"))
    source: Mapped[str] = mapped_column(sa.String(16))
    audit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("audits.id"))
    inspection_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inspections.id"))
    flag_rule: Mapped[str | None] = mapped_column(sa.String(40))
    flag_key: Mapped[str | None] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.String(2000))
    task: Mapped[str | None] = mapped_column(sa.String(2000))  # 任务清单: what must be done
    responsible_unit: Mapped[str] = mapped_column(sa.String(200))
    responsible_person: Mapped[str] = mapped_column(sa.String(64))
    raised_on: Mapped[date] = mapped_column(sa.Date)
    deadline: Mapped[date] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    rectified_on: Mapped[date | None] = mapped_column(sa.Date)
    closed_on: Mapped[date | None] = mapped_column(sa.Date)
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    events: Mapped[list[ProblemEvent]] = relationship(back_populates="problem", order_by="ProblemEvent.id")
    evidence: Mapped[list[ProblemEvidence]] = relationship(back_populates="problem", order_by="ProblemEvidence.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.Index("ix_problems_county_status", "county_code", "status"),
        sa.Index("ix_problems_county_town", "county_code", "town_code"),
        sa.Index("ix_problems_county_village", "county_code", "village_code"),
        sa.Index("ix_problems_county_deadline", "county_code", "deadline"),
        sa.CheckConstraint(_enum_check("source", PROBLEM_SOURCES), name="source"),
        sa.CheckConstraint(_enum_check("status", PROBLEM_STATUSES), name="status"),
        sa.CheckConstraint("deadline >= raised_on", name="deadline_order"),
    )


class ProblemEvent(db.Model):
    """A dated status change of a problem; the rectification ledger (整改台账) is this history."""

    __tablename__ = "problem_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    problem_id: Mapped[int] = mapped_column(sa.ForeignKey("problems.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    happened_on: Mapped[date] = mapped_column(sa.Date)
    note: Mapped[str | None] = mapped_column(sa.String(2000))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    problem: Mapped[Problem] = relationship(back_populates="events")


class ProblemEvidence(db.Model):
    """A document proving rectification (整改材料)."""

    __tablename__ = "problem_evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    problem_id: Mapped[int] = mapped_column(sa.ForeignKey("problems.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("archive_documents.id"))
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    problem: Mapped[Problem] = relationship(back_populates="evidence")


class DisposalRequest(db.Model):
    """A disposal (处置) from request to execution (basis: P14); the asset itself stays in the registry."""

    __tablename__ = "disposal_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str | None] = mapped_column(sa.String(9))
    village_code: Mapped[str | None] = mapped_column(sa.String(12))
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    grounds: Mapped[str] = mapped_column(sa.String(20))
    method: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(2000))
    requested_on: Mapped[date] = mapped_column(sa.Date)
    valuation: Mapped[Decimal | None] = mapped_column(Money)
    valued_on: Mapped[date | None] = mapped_column(sa.Date)
    valuer: Mapped[str | None] = mapped_column(sa.String(200))
    village_decided_on: Mapped[date | None] = mapped_column(sa.Date)  # 四议两公开 resolution
    village_decision: Mapped[str | None] = mapped_column(sa.String(2000))
    approval_order: Mapped[list] = mapped_column(sa.JSON)  # the county's order, frozen at request time
    status: Mapped[str] = mapped_column(sa.String(16), default="requested")
    executed_on: Mapped[date | None] = mapped_column(sa.Date)
    proceeds: Mapped[Decimal | None] = mapped_column(Money)
    income_entry_id: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    approvals: Mapped[list[DisposalApproval]] = relationship(back_populates="request", order_by="DisposalApproval.seq")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.Index("ix_disposal_requests_county_asset", "county_code", "asset_id"),
        sa.Index("ix_disposal_requests_county_status", "county_code", "status"),
        sa.CheckConstraint(_enum_check("grounds", DISPOSAL_GROUNDS), name="grounds"),
        sa.CheckConstraint(_enum_check("method", DISPOSAL_METHODS), name="method"),
        sa.CheckConstraint(_enum_check("status", DISPOSAL_STATUSES), name="status"),
        sa.CheckConstraint("valuation >= 0", name="valuation_nonneg"),
        sa.CheckConstraint("proceeds >= 0", name="proceeds_nonneg"),
    )


class DisposalApproval(db.Model):
    """One approver's decision, in the order the county set."""

    __tablename__ = "disposal_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("disposal_requests.id"), index=True)
    seq: Mapped[int]
    approver: Mapped[str] = mapped_column(sa.String(40))
    decision: Mapped[str] = mapped_column(sa.String(10))  # approved | rejected
    decided_on: Mapped[date] = mapped_column(sa.Date)
    document: Mapped[str | None] = mapped_column(sa.String(200))  # 批复文号
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    request: Mapped[DisposalRequest] = relationship(back_populates="approvals")

    __table_args__ = (
        sa.UniqueConstraint("county_code", "request_id", "seq"),
        sa.CheckConstraint("decision in ('approved','rejected')", name="decision"),
    )


class FlagAcknowledgement(db.Model):
    """A flag seen and acknowledged with a reason; it stays listed (as acknowledged) while it still fires."""

    __tablename__ = "flag_acknowledgements"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    rule_id: Mapped[str] = mapped_column(sa.String(40))
    flag_key: Mapped[str] = mapped_column(sa.String(80))  # e.g. "asset:123", "plan:7", "town:431299100"
    reason: Mapped[str] = mapped_column(sa.String(1000))
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (sa.UniqueConstraint("county_code", "rule_id", "flag_key"),)


__all__ = ["OversightSettings", "Audit", "Inspection", "Problem", "ProblemEvent", "ProblemEvidence",
           "DisposalRequest", "DisposalApproval", "FlagAcknowledgement"]
