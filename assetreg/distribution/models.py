"""Distribution (收益分配): county policy, a plan per village and year with its allocations and household
lines, the 四议两公开 procedure steps and objections, and the public-welfare jobs (公益岗位) that feed it.

A notice (公示) reads a plan as: ``plan.allocations`` (ordered by ``position``) → ``allocation.lines``
(ordered by ``position``), the ``notice`` step (``notice_start_on``/``notice_end_on``) and the county's
``DistributionPolicy.complaint_phone``. Money columns are integer fen behind Decimal (``Money``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.time import now_utc
from ..core.types import Money, ScaledDecimal, UTCDateTime
from ..extensions import db

# basis: P10, P36 — the uses seeds 000 and 004 allow, in the order a plan lists them.
PURPOSES = {
    "operation_maintenance": "运营管护",
    "public_jobs": "公益岗位",
    "public_works": "村级公益事业",
    "relief": "扶贫济困",
    "awards": "奖励补助",
    "reinvestment": "产业发展",
    "carry": "结转",
}
# Purposes paid to households, line by line.
LINE_PURPOSES = ("public_jobs", "relief", "awards")
# Purposes that count towards the PV minimum share (basis: P23).
PV_PUBLIC_PURPOSES = ("public_jobs", "public_works")

# The procedure in its only order (四议两公开, basis: P17, P20), then filing, payment and the result.
STEPS = {
    "proposal": "村党组织提议",
    "consultation": "村两委会议商议",
    "party_meeting": "党员大会审议",
    "representatives_meeting": "村民代表会议决议",
    "resolution_published": "决议公开",
    "town_review": "乡镇审核",
    "notice": "公示",
    "approval": "公示期满批准实施",
    "county_filing": "县级备案",
    "payment": "兑付",
    "result_published": "实施结果公开",
}
STEP_ORDER = tuple(STEPS)
MEETINGS = ("party_meeting", "representatives_meeting")
# The plan's status is the last step done ("draft" before any).
STEP_STATUS = {
    "proposal": "proposed",
    "consultation": "consulted",
    "party_meeting": "party_reviewed",
    "representatives_meeting": "resolved",
    "resolution_published": "resolution_published",
    "town_review": "town_reviewed",
    "notice": "in_notice",
    "approval": "approved",
    "county_filing": "filed",
    "payment": "paid",
    "result_published": "completed",
}
STATUSES = {
    "draft": "草拟中",
    "proposed": "已提议",
    "consulted": "已商议",
    "party_reviewed": "党员大会已审议",
    "resolved": "村民代表会议已决议",
    "resolution_published": "决议已公开",
    "town_reviewed": "乡镇已审核",
    "in_notice": "公示中",
    "approved": "已批准实施",
    "filed": "县级已备案",
    "paid": "已兑付",
    "completed": "结果已公开",
}
# Allocations, lines, carry-over and the available figure change only before the town review.
EDITABLE_STATUSES = ("draft", "proposed", "consulted", "party_reviewed", "resolved", "resolution_published")

# basis: P29, P36 — usual posts; others are accepted as free text.
JOB_POSTS = ["道路维护员", "保洁员", "护林防火员", "光伏电站管护员", "水利设施管护员", "公益设施管护员", "养老护理员"]
PAY_CYCLES = {"month": "按月", "quarter": "按季度"}

# Defaults of the seeds' era, used until a county saves its own settings.
DEFAULT_PV_PUBLIC_MIN_SHARE = Decimal("0.8000")  # basis: P23 (2020 national rule for PV income)
DEFAULT_FORBIDDEN_USES = ["村委会基本支出", "津贴福利", "偿还债务", "弥补亏损", "修建楼堂馆所", "发放干部补贴",
                          "购买交通通讯工具"]  # basis: P10
DEFAULT_MIN_NOTICE_DAYS = 10  # basis: P20 (seed 001 二(四)4)
DEFAULT_COMPLAINT_PHONE = "12317"


def _enum_check(column: str, values) -> str:
    return f"{column} in (" + ",".join(f"'{v}'" for v in values) + ")"


class DistributionPolicy(db.Model):
    """The county's distribution settings (one row per county; defaults apply until saved)."""

    __tablename__ = "distribution_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6), unique=True)
    pv_public_min_share: Mapped[Decimal] = mapped_column(ScaledDecimal(4))
    forbidden_uses: Mapped[list] = mapped_column(sa.JSON)
    min_notice_days: Mapped[int]
    complaint_phone: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column(default=1)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.CheckConstraint("pv_public_min_share >= 0 and pv_public_min_share <= 10000", name="share_range"),
        sa.CheckConstraint("min_notice_days >= 1", name="notice_days_positive"),
    )


class DistributionPlan(db.Model):
    """收益分配方案: one per village and year. ``available`` = ``settled_net`` + ``carry_over``, frozen when
    the plan is created and refreshed from the settlement on every edit until the town review."""

    __tablename__ = "distribution_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str] = mapped_column(sa.String(9))
    village_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    year: Mapped[int]
    # The settlement the figures come from: the village's own, or its town's (income.Settlement).
    settlement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("settlements.id"))
    settled_net: Mapped[Decimal] = mapped_column(Money)  # the village's settled net income of the year
    pv_net: Mapped[Decimal] = mapped_column(Money)  # the part of settled_net that comes from PV stations
    carry_over: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))  # 上年结转
    available: Mapped[Decimal] = mapped_column(Money)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)  # when last frozen
    status: Mapped[str] = mapped_column(sa.String(24), default="draft")
    note: Mapped[str | None] = mapped_column(sa.String(1000))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    allocations: Mapped[list[PlanAllocation]] = relationship(
        back_populates="plan", order_by="PlanAllocation.position", cascade="all, delete-orphan"
    )
    steps: Mapped[list[PlanStep]] = relationship(back_populates="plan", order_by="PlanStep.seq")
    objections: Mapped[list[PlanObjection]] = relationship(back_populates="plan", order_by="PlanObjection.id")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.UniqueConstraint("county_code", "village_code", "year"),
        sa.Index("ix_distribution_plans_county_town", "county_code", "town_code"),
        sa.Index("ix_distribution_plans_county_status", "county_code", "status"),
        sa.CheckConstraint("carry_over >= 0", name="carry_over_nonneg"),
        sa.CheckConstraint(_enum_check("status", STATUSES), name="status"),
    )

    @property
    def allocated(self) -> Decimal:
        return sum((a.amount for a in self.allocations), Decimal("0.00"))

    @property
    def unallocated(self) -> Decimal:
        return self.available - self.allocated

    def step(self, kind: str) -> PlanStep | None:
        return next((s for s in self.steps if s.kind == kind), None)


class PlanAllocation(db.Model):
    """An amount for one purpose (at most one per purpose), with an optional free-text use."""

    __tablename__ = "plan_allocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_plans.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    purpose: Mapped[str] = mapped_column(sa.String(24))
    amount: Mapped[Decimal] = mapped_column(Money)
    use: Mapped[str | None] = mapped_column(sa.String(200))  # e.g. "村组道路维修"
    note: Mapped[str | None] = mapped_column(sa.String(500))

    plan: Mapped[DistributionPlan] = relationship(back_populates="allocations")
    # Lines are partitioned by county on PostgreSQL (core/partitions.py): joined on the county too.
    lines: Mapped[list[PlanLine]] = relationship(
        back_populates="allocation", order_by="PlanLine.position", cascade="all, delete-orphan",
        primaryjoin="and_(PlanAllocation.id == foreign(PlanLine.allocation_id), "
                    "PlanAllocation.county_code == foreign(PlanLine.county_code))",
    )

    __table_args__ = (
        sa.UniqueConstraint("county_code", "plan_id", "purpose"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(_enum_check("purpose", PURPOSES), name="purpose"),
    )

    @classmethod
    def lines_in(cls, county_code: str):
        """``lines`` read from the county's partition only, for loader options (``selectinload``): the
        batch load joins from the allocations, so the county must be named for the planner to prune."""
        return cls.lines.and_(PlanLine.county_code == county_code)

    @property
    def lines_total(self) -> Decimal:
        return sum((li.amount for li in self.lines), Decimal("0.00"))


class PlanLine(db.Model):
    """A household's share of a 公益岗位, 扶贫济困 or 奖励补助 allocation (a household once per allocation)."""

    __tablename__ = "plan_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_plans.id", ondelete="CASCADE"), index=True)
    allocation_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_allocations.id", ondelete="CASCADE"))
    position: Mapped[int]
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    person_name: Mapped[str] = mapped_column(sa.String(64))
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str | None] = mapped_column(sa.String(200))  # e.g. "道路维护员 6个月×800.00元"
    months: Mapped[int | None]
    monthly_wage: Mapped[Decimal | None] = mapped_column(Money)
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("public_jobs.id"))

    allocation: Mapped[PlanAllocation] = relationship(
        back_populates="lines",
        primaryjoin="and_(PlanAllocation.id == foreign(PlanLine.allocation_id), "
                    "PlanAllocation.county_code == foreign(PlanLine.county_code))",
    )

    __table_args__ = (
        sa.UniqueConstraint("county_code", "allocation_id", "household_id"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("months is null or (months >= 1 and months <= 12)", name="months_range"),
    )


class PlanStep(db.Model):
    """One dated step of the procedure with its minutes; meetings carry their head counts, the notice its
    period, the payment its method."""

    __tablename__ = "plan_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_plans.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]  # 1-based position in STEP_ORDER
    kind: Mapped[str] = mapped_column(sa.String(32))
    done_on: Mapped[date] = mapped_column(sa.Date)
    minutes: Mapped[str | None] = mapped_column(sa.String(4000))
    document: Mapped[str | None] = mapped_column(sa.String(200))
    members_due: Mapped[int | None]
    members_present: Mapped[int | None]
    members_in_favour: Mapped[int | None]
    notice_start_on: Mapped[date | None] = mapped_column(sa.Date)
    notice_end_on: Mapped[date | None] = mapped_column(sa.Date)
    payment_method: Mapped[str | None] = mapped_column(sa.String(40))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    plan: Mapped[DistributionPlan] = relationship(back_populates="steps")

    __table_args__ = (
        sa.UniqueConstraint("county_code", "plan_id", "kind"),
        sa.CheckConstraint(_enum_check("kind", STEPS), name="kind"),
        sa.CheckConstraint("notice_end_on is null or notice_end_on >= notice_start_on", name="notice_order"),
    )


class PlanObjection(db.Model):
    """异议 raised during the notice; approval waits until every one is answered."""

    __tablename__ = "plan_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("distribution_plans.id", ondelete="CASCADE"), index=True)
    raised_on: Mapped[date] = mapped_column(sa.Date)
    raised_by: Mapped[str | None] = mapped_column(sa.String(64))
    content: Mapped[str] = mapped_column(sa.String(2000))
    answer: Mapped[str | None] = mapped_column(sa.String(2000))
    answered_on: Mapped[date | None] = mapped_column(sa.Date)
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    plan: Mapped[DistributionPlan] = relationship(back_populates="objections")

    __table_args__ = (
        sa.CheckConstraint("(answer is null) = (answered_on is null)", name="answered_together"),
    )

    @property
    def is_open(self) -> bool:
        return self.answered_on is None


class PublicJob(db.Model):
    """公益岗位: a post in a village held by one person of a household, with a monthly wage and term."""

    __tablename__ = "public_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    town_code: Mapped[str] = mapped_column(sa.String(9))
    village_code: Mapped[str] = mapped_column(sa.ForeignKey("places.code"))
    post: Mapped[str] = mapped_column(sa.String(40))
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    person_name: Mapped[str] = mapped_column(sa.String(64))
    monthly_wage: Mapped[Decimal] = mapped_column(Money)
    term_from: Mapped[date] = mapped_column(sa.Date)
    term_to: Mapped[date | None] = mapped_column(sa.Date)
    pay_cycle: Mapped[str] = mapped_column(sa.String(10))
    note: Mapped[str | None] = mapped_column(sa.String(500))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, onupdate=now_utc)

    attendance: Mapped[list[JobAttendance]] = relationship(
        back_populates="job", order_by="[JobAttendance.year, JobAttendance.month]"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        sa.Index("ix_public_jobs_county_village", "county_code", "village_code"),
        sa.Index("ix_public_jobs_county_town", "county_code", "town_code"),
        sa.CheckConstraint("monthly_wage > 0", name="wage_positive"),
        sa.CheckConstraint(_enum_check("pay_cycle", PAY_CYCLES), name="pay_cycle"),
        sa.CheckConstraint("term_to is null or term_to >= term_from", name="term_order"),
    )


class JobAttendance(db.Model):
    """One month of a job: days worked and/or the attended flag; an attended month is a paid month."""

    __tablename__ = "job_attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6))
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("public_jobs.id", ondelete="CASCADE"), index=True)
    year: Mapped[int]
    month: Mapped[int]
    days_worked: Mapped[int | None]
    attended: Mapped[bool]
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    job: Mapped[PublicJob] = relationship(back_populates="attendance")

    __table_args__ = (
        sa.UniqueConstraint("county_code", "job_id", "year", "month"),
        sa.CheckConstraint("month >= 1 and month <= 12", name="month_range"),
        sa.CheckConstraint("days_worked is null or (days_worked >= 0 and days_worked <= 31)", name="days_range"),
    )


__all__ = ["DistributionPolicy", "DistributionPlan", "PlanAllocation", "PlanLine", "PlanStep", "PlanObjection",
           "PublicJob", "JobAttendance"]
