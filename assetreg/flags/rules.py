"""The flag rules (预警, DOMAIN.md §11): the catalogue and, per rule, its set-based SQL over a scope as of a day.

Every rule reads only what is dated on or before ``as_of`` so that a list for 2025-03-31 can be rebuilt
later: an asset's status is the last status change with ``changed_on <= as_of``; a right is in force when
``effective_on <= as_of < ended_on``; a custody or operation record counts when its term began by then
(``term_from`` empty or ``<= as_of``) and it had not been replaced by the end of that day (local time) —
of several such records the one replaced first is the one that was current; ledger entries count by
``received_on`` (a reversal from its own date); settlements by ``settled_on``/``published_on``; plan steps
by ``done_on``; objections by ``raised_on``/``answered_on``; problems by their dated events; audits,
inspections and archive documents by ``audited_on``/``inspected_on``/``filed_on``; regulations by
``effective_on``/``repealed_on``. Texts that carry no date (a plan's allocations, a household's status)
are read as they stand: a plan's content is frozen from its town review on.

Each rule is a few queries whatever the number of assets (never a query per asset); NO_INCOME,
SETTLEMENT_LATE and PV_INCOME_LOW share one pass over the ledger (``ledger``), the plan rules one load of
the plans (``plans_at``). Small pure decisions (dues of a contract, a notice's days) run in Python over
the rows. The boundary of each rule is written in its docstring (served by /api/v1/flags/rules) and
tested in tests/test_flags_rules.py; naive.py decides the same rules object by object, and the two agree
(tests/test_flags_naive.py, tests/test_flags_scenario.py, bench/bench_flags.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from ..assets.models import Asset, AssetStatusChange
from ..assets.rules import HELD
from ..core.access import level_of, town_of
from ..core.money import ZERO
from ..core.time import LOCAL_TZ
from ..core.validators import find_unmasked
from ..custody.models import AssetCustody, AssetOperation
from ..distribution import rules as dist_rules
from ..distribution.models import (
    DEFAULT_FORBIDDEN_USES,
    DEFAULT_MIN_NOTICE_DAYS,
    DEFAULT_PV_PUBLIC_MIN_SHARE,
    MEETINGS,
    PURPOSES,
    STEP_ORDER,
    STEPS,
    DistributionPlan,
    PlanAllocation,
    PlanLine,
    PlanObjection,
    PlanStep,
)
from ..distribution.rules import forbidden_match
from ..extensions import db
from ..households.models import Household
from ..income import rules as income_rules
from ..income.models import INCOME_KINDS, AssetShare, ContractReturn, IncomeEntry, Settlement
from ..lists.models import DOCUMENT_KINDS, FIVE_SYSTEMS, ArchiveDocument, Regulation, RegulationPlace, RequiredDocument
from ..oversight.models import (
    APPROVERS,
    DEFAULT_DISPOSAL_ORDER,
    PROBLEM_STATUSES,
    Audit,
    DisposalApproval,
    DisposalRequest,
    Inspection,
    Problem,
    ProblemEvent,
)
from ..places.models import Place
from ..rights.models import FIVE_RIGHTS, RIGHT_KINDS, AssetRight

SEVERITIES = {"error": "严重", "warning": "警告", "info": "提示"}
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
CATEGORIES = {
    "rights": "确权移交",
    "custody": "管护运营",
    "income": "收益台账",
    "distribution": "收益分配",
    "oversight": "审计监督",
    "lists": "制度档案",
}
SUBJECTS = {"asset": "资产", "plan": "分配方案", "town": "乡镇", "village": "村", "problem": "问题",
            "disposal": "处置申请"}
# Statuses of an asset handed over and still held (its rights must be complete).
# Statuses that show an asset was handed over (the first change into one of them is its handover).
HANDED = ("handed_over", "in_operation", "in_use", "idle")
DONE_PROBLEM = ("rectified", "closed")
PV_SUBTYPE = "光伏电站"
# basis: P21 — seed 001 二(一)1: PV stations should add 50,000 yuan a year to a poor village's collective.
PV_VILLAGE_TARGET = Decimal("50000.00")
# basis: P06 — operating assets are confirmed as far as possible to the village collective or the earners.
LOCAL_HOLDERS = ("village_collective", "household")


# --- settings, context, flags ----------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """The county's thresholds (oversight settings and distribution policy, or the seeds' defaults)."""

    no_income_years: int = 2
    settlement_deadline: tuple[int, int] = (3, 31)
    handover_deadline: tuple[int, int] = (3, 31)
    contract_warning_days: int = 90
    risk_assessment_max_days: int = 365
    min_notice_days: int = DEFAULT_MIN_NOTICE_DAYS
    pv_public_min_share: Decimal = DEFAULT_PV_PUBLIC_MIN_SHARE
    forbidden_uses: tuple[str, ...] = tuple(DEFAULT_FORBIDDEN_USES)


@dataclass
class Flag:
    rule_id: str
    key: str
    severity: str
    message: str
    county_code: str
    town_code: str | None = None
    village_code: str | None = None
    asset_id: int | None = None
    asset_code: str | None = None
    asset_name: str | None = None
    asset_category: str | None = None
    place_name: str | None = None
    acknowledged: bool = False
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    ack_reason: str | None = None
    problem_id: int | None = None

    @property
    def rule(self) -> Rule:
        return RULES[self.rule_id]

    @property
    def subject(self) -> str:
        return self.key.split(":", 1)[0]

    @property
    def place_code(self) -> str:
        return self.village_code or self.town_code or self.county_code

    def identity(self) -> tuple:
        """What two evaluations must agree on."""
        return (self.rule_id, self.key, self.severity, self.message, self.county_code, self.town_code,
                self.village_code, self.asset_id)


@dataclass
class Ctx:
    """One evaluation: the scope (a county, town or village), the day, the settings and place names."""

    county_code: str
    level: str
    code: str
    as_of: date
    settings: Settings
    names: dict[str, str]
    cache: dict = field(default_factory=dict)
    # One asset's evaluation (its page): the asset rules read that asset's rows only. The scope still holds it.
    asset_id: int | None = None

    def only_asset(self, column) -> list:
        """``[column == asset_id]`` for one asset's evaluation, else nothing: conditions to add to a WHERE."""
        return [] if self.asset_id is None else [column == self.asset_id]

    @property
    def day_end(self) -> datetime:
        """The first instant after ``as_of`` in local time (China), in UTC: a timestamp belongs to the
        day when it is earlier than this."""
        return datetime.combine(self.as_of + timedelta(days=1), time.min, LOCAL_TZ).astimezone(UTC)

    def place_name(self, code: str | None) -> str:
        return self.names.get(code or self.county_code, code or "")

    def asset_label(self, row) -> str:
        return f"{self.place_name(row.place_code)}“{row.name}”（{row.code}）"

    def asset_flag(self, rule_id: str, row, message: str, *, severity: str | None = None,
                   suffix: str = "") -> Flag:
        return Flag(rule_id=rule_id, key=f"asset:{row.id}{suffix}", severity=severity or RULES[rule_id].severity,
                    message=f"{self.asset_label(row)}{message}", county_code=self.county_code,
                    town_code=row.town_code, village_code=row.village_code, asset_id=row.id,
                    asset_code=row.code, asset_name=row.name, asset_category=row.category,
                    place_name=self.place_name(row.place_code))

    def place_flag(self, rule_id: str, code: str, message: str, *, suffix: str = "",
                   severity: str | None = None) -> Flag:
        level = level_of(code)
        return Flag(rule_id=rule_id, key=f"{level}:{code}{suffix}", severity=severity or RULES[rule_id].severity,
                    message=f"{self.place_name(code)}{message}", county_code=self.county_code,
                    town_code=town_of(code), village_code=code if level == "village" else None,
                    place_name=self.place_name(code))

    def in_scope(self, model, *, town="town_code", village="village_code"):
        """The scope as a condition on a table with county/town/village columns."""
        cond = [model.county_code == self.county_code]
        if self.level == "town":
            cond.append(getattr(model, town) == self.code)
        elif self.level == "village":
            cond.append(getattr(model, village) == self.code)
        return sa.and_(*cond)

    def covers(self, code: str | None) -> bool:
        """A place code (a town's or a village's) lies in the scope."""
        return code is not None and code.startswith(self.code)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # the usual one; a flag may carry another (CONTRACT_EXPIRED: error or warning)
    category: str
    subject: str
    title: str
    basis: tuple[str, ...]
    evaluate: Callable[[Ctx], Iterable[Flag]]
    doc: str

    @property
    def severities(self) -> tuple[str, ...]:
        return RULE_SEVERITIES.get(self.id, (self.severity,))


RULES: dict[str, Rule] = {}
RULE_SEVERITIES = {"CONTRACT_EXPIRED": ("error", "warning")}  # rules whose flags carry more than one


def rule(rule_id: str, severity: str, category: str, subject: str, title: str, basis: tuple[str, ...]):
    def register(fn):
        RULES[rule_id] = Rule(rule_id, severity, category, subject, title, basis, fn,
                              " ".join((fn.__doc__ or "").split()))
        return fn
    return register


# --- pure date arithmetic shared with the naive evaluation ----------------------------------------

def month_day(year: int, md: tuple[int, int]) -> date:
    """The deadline day in ``year`` (a day the month lacks falls back to the month's last day)."""
    month, day = md
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


def years_before(d: date, n: int) -> date:
    try:
        return d.replace(year=d.year - n)
    except ValueError:  # 29 February
        return d.replace(year=d.year - n, day=28)


def last_closed_quarter(d: date) -> tuple[int, int]:
    """The last calendar quarter wholly over by the end of ``d``'s previous day: on 30 June that is Q1,
    on 1 July Q2 (a quarter's last day is not yet over on that day)."""
    q = (d.month - 1) // 3 + 1
    return (d.year, q - 1) if q > 1 else (d.year - 1, 4)


def settlement_year(d: date, md: tuple[int, int]) -> tuple[int, date]:
    """The latest year whose settlement deadline has passed at ``d``, and that deadline. On 31 March
    2025 it is 2023 (2024's deadline is that very day); on 1 April 2025 it is 2024."""
    deadline = month_day(d.year, md)
    if d > deadline:
        return d.year - 1, deadline
    return d.year - 2, month_day(d.year - 1, md)


def handover_threshold(d: date, md: tuple[int, int]) -> date:
    """Assets completed on or before the returned day are late to hand over at ``d``: completed in year
    Y, due by the deadline of Y + 1 (31 March), late from the day after."""
    if d > month_day(d.year, md):
        return date(d.year - 1, 12, 31)
    return date(d.year - 2, 12, 31)


def audit_year(d: date) -> int:
    """The last closed year: the year whose annual audit must be on record."""
    return d.year - 1


def quorum_ok(due: int | None, present: int | None, in_favour: int | None) -> bool:
    """Two thirds of the members present and more than half of those present in favour (basis: P17)."""
    if due is None or present is None or in_favour is None or due <= 0:
        return False
    return present * 3 >= due * 2 and in_favour * 2 > present


def inclusive_days(start: date, end: date) -> int:
    return (end - start).days + 1


def fmt_date(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else "—"


def yuan(v: Decimal) -> str:
    return f"{v:,.2f}元"


# --- SQL building blocks ----------------------------------------------------------------------------

def _run(stmt):
    """Execute a Core select on the session's connection: plain rows, without the ORM's result machinery
    (a measurable share of the time at 20,000 assets). Callers take ``.all()`` (one fetch, not a fetch per
    row)."""
    return db.session.connection().execute(stmt)


def _among(column, ids):
    """``column IN ids`` for a list of ids taken from an earlier query. On PostgreSQL one array parameter
    (``= ANY(:ids)``), not a parameter per id to render and parse each time."""
    ids = sorted(ids)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.literal(ids, ARRAY(sa.Integer)))
    return column.in_(ids)


def _scalars(stmt) -> list:
    return _run(stmt).scalars().all()


@dataclass(frozen=True)
class AssetState:
    """An asset's status on the day, as column expressions over ``assets``."""

    status: sa.ColumnElement
    status_on: sa.ColumnElement


def status_at(ctx: Ctx) -> AssetState:
    """Each asset's status on the day: its last status change on or before it (ties by id); NULL for an
    asset registered later.

    ``assets.status``/``status_on`` are the last change (change_status keeps them so and refuses a change
    dated before the current one), so an asset last changed on or before the day reads them; only assets
    changed after the day look their history up (one index probe each)."""
    c = AssetStatusChange

    def latest(column):
        return (sa.select(column).where(c.asset_id == Asset.id, c.changed_on <= ctx.as_of)
                .order_by(c.changed_on.desc(), c.id.desc()).limit(1).correlate(Asset).scalar_subquery())

    later = sa.or_(Asset.status_on.is_(None), Asset.status_on > ctx.as_of)
    return AssetState(status=sa.case((later, latest(c.to_status)), else_=Asset.status),
                      status_on=sa.case((later, latest(c.changed_on)), else_=Asset.status_on))


def first_reached(ctx: Ctx, statuses: Iterable[str], label: str = "first_on"):
    """(asset_id, first day the asset entered one of ``statuses``) up to the day."""
    c = AssetStatusChange
    return (sa.select(c.asset_id, sa.func.min(c.changed_on).label(label))
            .where(c.county_code == ctx.county_code, c.changed_on <= ctx.as_of, c.to_status.in_(list(statuses)),
                   *ctx.only_asset(c.asset_id))
            .group_by(c.asset_id).subquery())


def assets_at(ctx: Ctx, st: AssetState, *extra_columns):
    """The scope's assets known on the day, with their status then."""
    return (sa.select(Asset.id, Asset.code, Asset.name, Asset.category, Asset.subtype, Asset.town_code,
                      Asset.village_code, Asset.place_code, Asset.completed_on, st.status.label("status"),
                      st.status_on.label("status_on"), *extra_columns)
            .where(ctx.in_scope(Asset), st.status.is_not(None), *ctx.only_asset(Asset.id)))


def record_at(ctx: Ctx, model):
    """An alias of the custody or operation table and the condition joining each asset to the record that
    was current on the day (see the module doc): one index probe per asset."""
    m = model
    current = (sa.select(m.id)
               .where(m.asset_id == Asset.id, sa.or_(m.replaced_at.is_(None), m.replaced_at >= ctx.day_end),
                      sa.or_(m.term_from.is_(None), m.term_from <= ctx.as_of))
               .order_by(sa.case((m.replaced_at.is_(None), 1), else_=0), m.replaced_at, m.id.desc())
               .limit(1).correlate(Asset).scalar_subquery())
    rec = aliased(model)
    return rec, rec.id == current


def rights_at(ctx: Ctx):
    r = AssetRight
    return sa.and_(r.county_code == ctx.county_code, r.effective_on <= ctx.as_of,
                   sa.or_(r.ended_on.is_(None), r.ended_on > ctx.as_of), *ctx.only_asset(r.asset_id))


def live_income(ctx: Ctx, entry=IncomeEntry):
    """Ordinary income (not 处置收入), not itself a reversal, received by the day and not reversed by then.
    Reversals are few: their targets are one hashed list, not a probe per entry."""
    rev = aliased(IncomeEntry)
    reversed_ids = sa.select(rev.reverses_id).where(rev.county_code == ctx.county_code, rev.reverses_id.is_not(None),
                                                    rev.received_on <= ctx.as_of)
    return sa.and_(entry.county_code == ctx.county_code, entry.direction == "income", entry.kind != "disposal",
                   _not_a_reversal(entry), entry.received_on <= ctx.as_of, entry.id.not_in(reversed_ids))


def _not_a_reversal(entry):
    """``reverses_id IS NULL``. SQLite's planner would take the unique index on reverses_id for it and read
    the whole ledger once per asset; wrapped in coalesce it goes by asset. PostgreSQL estimates the plain
    form well."""
    if db.session.get_bind().dialect.name == "sqlite":
        return sa.func.coalesce(entry.reverses_id, 0) == 0
    return entry.reverses_id.is_(None)


def _blank(column):
    return sa.func.coalesce(sa.func.trim(column), "") == ""


def _valid_places(ctx: Ctx, level: str):
    return (sa.select(Place.code)
            .where(Place.county_code == ctx.county_code, Place.level == level, Place.code.startswith(ctx.code),
                   sa.or_(Place.valid_from.is_(None), Place.valid_from <= ctx.as_of),
                   sa.or_(Place.valid_to.is_(None), Place.valid_to > ctx.as_of)))


@dataclass
class Ledger:
    """What three rules need from the ledger, from one pass over the county's entries received by the day."""

    last_income_on: dict[int, date]  # asset → last day ordinary income (live) came in, if after NO_INCOME's cutoff
    earning: dict[int, set[str | None]]  # asset → villages of its live ordinary income for the settlement year
    pv_year_net: dict[int, Decimal]  # asset → net of the last closed year, all kinds but 处置收入


def ledger(ctx: Ctx) -> Ledger:
    """Conditional aggregates per (asset, village) in a single scan, kept for the evaluation (NO_INCOME,
    SETTLEMENT_LATE, PV_INCOME_LOW)."""
    if "ledger" in ctx.cache:
        return ctx.cache["ledger"]
    e = IncomeEntry
    live = live_income(ctx)
    year, _ = settlement_year(ctx.as_of, ctx.settings.settlement_deadline)
    pv_year = ctx.as_of.year - 1
    cutoff = years_before(ctx.as_of, ctx.settings.no_income_years)
    out = Ledger({}, defaultdict(set), defaultdict(lambda: ZERO))
    for asset_id, village, last_on, n, net in _run(
            sa.select(e.asset_id, e.village_code, sa.func.max(e.received_on).filter(live),
                      sa.func.count(e.id).filter(sa.and_(live, e.period_year == year)),
                      sa.func.sum(e.signed_amount).filter(sa.and_(e.period_year == pv_year, e.kind != "disposal")))
            # Only what a rule looks at: received after the cutoff, or belonging to one of the two years.
            .where(e.county_code == ctx.county_code, e.received_on <= ctx.as_of,
                   sa.or_(e.received_on > cutoff, e.period_year.in_(sorted({year, pv_year}))), *ctx.only_asset(e.asset_id))
            .group_by(e.asset_id, e.village_code)).all():
        if last_on is not None and last_on > out.last_income_on.get(asset_id, date.min):
            out.last_income_on[asset_id] = last_on
        if n:
            out.earning[asset_id].add(village)
        if net:
            out.pv_year_net[asset_id] += net
    ctx.cache["ledger"] = out
    return out


# --- rights and handover ----------------------------------------------------------------------------

@rule("RIGHTS_INCOMPLETE", "error", "rights", "asset", "已移交资产五权不全", ("P03",))
def rights_incomplete(ctx: Ctx):
    """An asset handed over and still held on the day (已确权, 运营中, 使用中, 闲置, 处置中) without a holder in
    force for each of the five rights (所有权, 经营权, 收益权, 处置权, 监督权); 分配权 is optional."""
    st = status_at(ctx)
    held = (sa.select(AssetRight.asset_id, sa.func.count(sa.distinct(AssetRight.kind)).label("n"))
            .where(rights_at(ctx), AssetRight.kind.in_(list(FIVE_RIGHTS))).group_by(AssetRight.asset_id).subquery())
    flagged = (assets_at(ctx, st).outerjoin(held, held.c.asset_id == Asset.id)
               .where(st.status.in_(HELD), sa.func.coalesce(held.c.n, 0) < len(FIVE_RIGHTS)).subquery())
    r = AssetRight
    rows = _run(
        sa.select(flagged, r.kind).outerjoin(r, sa.and_(r.asset_id == flagged.c.id, rights_at(ctx),
                                                        r.kind.in_(list(FIVE_RIGHTS))))).all()
    have: dict[int, set[str]] = defaultdict(set)
    info = {}
    for row in rows:
        info[row.id] = row
        if row.kind:
            have[row.id].add(row.kind)
    for asset_id, row in info.items():
        yield ctx.asset_flag("RIGHTS_INCOMPLETE", row, rights_incomplete_message(have[asset_id]))


def rights_incomplete_message(have: set[str]) -> str:
    missing = [label for k, label in FIVE_RIGHTS.items() if k not in have]
    return f"已移交，但五权不全，缺{'、'.join(missing)}"


@rule("RIGHTS_AT_COUNTY", "info", "rights", "asset", "权属由县直部门持有", ("P04",))
def rights_at_county(ctx: Ctx):
    """A held asset with a right in force held by a county department (县直部门): rights and income
    should sink to town and village level as far as possible (information, not a fault)."""
    st = status_at(ctx)
    rows = _run(
        assets_at(ctx, st, AssetRight.kind).join(AssetRight, AssetRight.asset_id == Asset.id)
        .where(st.status.in_(HELD), rights_at(ctx), AssetRight.holder_kind == "county_department")).all()
    yield from _grouped_rights(ctx, "RIGHTS_AT_COUNTY", rows, county_message)


def county_message(kinds: list[str]) -> str:
    return f"的{'、'.join(kinds)}由县直部门持有，权属和收益权应尽量下沉乡镇、村"


@rule("RIGHTS_NOT_LOCAL", "info", "rights", "asset", "经营性资产未确权到村集体或农户", ("P06",))
def rights_not_local(ctx: Ctx):
    """A held operating asset whose ownership or income right in force is held by someone other than a
    village collective or a household (information)."""
    st = status_at(ctx)
    rows = _run(
        assets_at(ctx, st, AssetRight.kind).join(AssetRight, AssetRight.asset_id == Asset.id)
        .where(Asset.category == "operating", st.status.in_(HELD), rights_at(ctx),
               AssetRight.kind.in_(("ownership", "income")), AssetRight.holder_kind.not_in(LOCAL_HOLDERS))).all()
    yield from _grouped_rights(ctx, "RIGHTS_NOT_LOCAL", rows, not_local_message)


def not_local_message(kinds: list[str]) -> str:
    return f"的{'、'.join(kinds)}未确权到村集体经济组织或获得收益的农户"


def _grouped_rights(ctx: Ctx, rule_id: str, rows, message):
    by_asset: dict[int, list] = defaultdict(list)
    for row in rows:
        by_asset[row.id].append(row)
    for group in by_asset.values():
        yield ctx.asset_flag(rule_id, group[0], message(right_labels({r.kind for r in group})))


def right_labels(kinds: set[str]) -> list[str]:
    """The rights' Chinese names in their canonical order."""
    return [label for k, label in RIGHT_KINDS.items() if k in kinds]


@rule("HANDOVER_LATE", "warning", "rights", "asset", "竣工资产未按期确权移交", ("P24",))
def handover_late(ctx: Ctx):
    """An asset still 待移交 (completed) on the day, completed in year Y, and the day is after Y + 1's
    handover deadline (31 March by default): completed in 2024 is late from 1 April 2025, not on 31 March.
    The completion day is the asset's ``completed_on``, else the day it became 待移交."""
    st = status_at(ctx)
    completed = sa.func.coalesce(Asset.completed_on, st.status_on)
    threshold = handover_threshold(ctx.as_of, ctx.settings.handover_deadline)
    rows = _run(assets_at(ctx, st, completed.label("done_on"))
                              .where(st.status == "completed", completed <= threshold)).all()
    for row in rows:
        yield ctx.asset_flag("HANDOVER_LATE", row, handover_message(row.done_on, ctx.settings))


def handover_message(done_on: date, settings: Settings) -> str:
    due = month_day(done_on.year + 1, settings.handover_deadline)
    return f"于{fmt_date(done_on)}竣工，应在{fmt_date(due)}前完成确权移交，至今仍为待移交"


# --- custody and operation --------------------------------------------------------------------------

def _custody(ctx: Ctx):
    return record_at(ctx, AssetCustody)


@rule("CUSTODY_MISSING", "error", "custody", "asset", "公益性资产未明确管护主体", ("P12", "P28"))
def custody_missing(ctx: Ctx):
    """A public-welfare asset 使用中 on the day with no custody record current then, or one without a
    custodian unit or responsible person. Only assets in service (使用中) are checked."""
    st = status_at(ctx)
    cu, on = _custody(ctx)
    rows = _run(
        assets_at(ctx, st, cu.id.label("custody_id")).outerjoin(cu, on)
        .where(Asset.category == "public_welfare", st.status == "in_use",
               sa.or_(cu.id.is_(None), _blank(cu.custodian_unit), _blank(cu.responsible_person)))).all()
    for row in rows:
        yield ctx.asset_flag("CUSTODY_MISSING", row, custody_missing_message(row.custody_id is not None))


def custody_missing_message(has_record: bool) -> str:
    if has_record:
        return "为使用中的公益性资产，管护主体或管护责任人为空"
    return "为使用中的公益性资产，未明确管护主体和管护责任人"


@rule("CUSTODY_EXPIRED", "warning", "custody", "asset", "管护期限已过或未落实管护经费", ("P13",))
def custody_expired(ctx: Ctx):
    """A public-welfare asset 使用中 whose current custody term ended before the day (ended yesterday
    fires, ending today does not), or which has no annual maintenance fund (管护经费 empty or zero)."""
    st = status_at(ctx)
    cu, on = _custody(ctx)
    rows = _run(
        assets_at(ctx, st, cu.term_to, cu.annual_fund).join(cu, on)
        .where(Asset.category == "public_welfare", st.status == "in_use",
               sa.or_(cu.term_to < ctx.as_of, cu.annual_fund.is_(None), cu.annual_fund == 0))).all()
    for row in rows:
        yield ctx.asset_flag("CUSTODY_EXPIRED", row, custody_expired_message(row.term_to, row.annual_fund, ctx.as_of))


def custody_expired_message(term_to: date | None, fund: Decimal | None, as_of: date) -> str:
    parts = []
    if term_to is not None and term_to < as_of:
        parts.append(f"管护期限已于{fmt_date(term_to)}届满")
    if not fund:
        parts.append("未落实管护经费")
    return "：" + "，".join(parts)


def _operation(ctx: Ctx):
    return record_at(ctx, AssetOperation)


@rule("CONTRACT_EXPIRED", "error", "custody", "asset", "经营合同缺失、到期或即将到期", ("P07",))
def contract_expired(ctx: Ctx):
    """An operating asset 运营中 on the day with no operation record current then, or one whose term
    ended before the day (ended yesterday: error); or one ending within ``contract_warning_days`` (90 by
    default) from the day, the day itself included (warning). Only assets in service are checked."""
    st = status_at(ctx)
    op, on = _operation(ctx)
    horizon = ctx.as_of + timedelta(days=ctx.settings.contract_warning_days)
    rows = _run(
        assets_at(ctx, st, op.id.label("operation_id"), op.contract_no, op.term_to).outerjoin(op, on)
        .where(Asset.category == "operating", st.status == "in_operation",
               sa.or_(op.id.is_(None), op.term_to <= horizon))).all()
    for row in rows:
        severity, message = contract_message(row.operation_id is not None, row.contract_no, row.term_to, ctx.as_of)
        yield ctx.asset_flag("CONTRACT_EXPIRED", row, message, severity=severity)


def contract_message(has_record: bool, contract_no: str | None, term_to: date | None, as_of: date) -> tuple[str, str]:
    if not has_record:
        return "error", "为运营中的经营性资产，但无经营合同（经营记录）"
    no = f"（{contract_no}）" if contract_no else ""
    if term_to < as_of:
        return "error", f"的经营合同{no}已于{fmt_date(term_to)}到期，未续签"
    return "warning", f"的经营合同{no}将于{fmt_date(term_to)}到期（剩{(term_to - as_of).days}天）"


@rule("RISK_ASSESSMENT_MISSING", "warning", "custody", "asset", "经营性资产未开展风险评估", ("P32",))
def risk_assessment_missing(ctx: Ctx):
    """An operating asset 运营中 whose current operation record (term not over) has no risk assessment dated
    by the day, or whose last one is more than ``risk_assessment_max_days`` (365) old: assessed 365 days
    before the day is fine, 366 fires. An asset without any record is CONTRACT_EXPIRED's."""
    st = status_at(ctx)
    op, on = _operation(ctx)
    oldest = ctx.as_of - timedelta(days=ctx.settings.risk_assessment_max_days)
    rows = _run(
        assets_at(ctx, st, op.risk_assessed_on).join(op, on)
        .where(Asset.category == "operating", st.status == "in_operation",
               sa.or_(op.term_to.is_(None), op.term_to >= ctx.as_of),
               sa.or_(op.risk_assessed_on.is_(None), op.risk_assessed_on > ctx.as_of,
                      op.risk_assessed_on < oldest))).all()
    for row in rows:
        yield ctx.asset_flag("RISK_ASSESSMENT_MISSING", row, risk_message(row.risk_assessed_on, ctx))


def risk_message(assessed_on: date | None, ctx: Ctx) -> str:
    if assessed_on is None or assessed_on > ctx.as_of:
        return "未开展经营风险评估"
    return f"最近一次风险评估在{fmt_date(assessed_on)}，已超过{ctx.settings.risk_assessment_max_days}天"


# --- income ---------------------------------------------------------------------------------------

@rule("NO_INCOME", "warning", "income", "asset", "经营性资产长期无收益", ("P09",))
def no_income(ctx: Ctx):
    """An operating asset 运营中 on the day, in operation since at least N years before it (N =
    ``no_income_years``, 2 by default), with no ordinary income received in the N years up to the day:
    income received exactly N years before the day does not count (fires), the day after does."""
    n = ctx.settings.no_income_years
    cutoff = years_before(ctx.as_of, n)
    st = status_at(ctx)
    since = first_reached(ctx, ("in_operation",), "since")
    rows = _run(
        assets_at(ctx, st).join(since, since.c.asset_id == Asset.id)
        .where(Asset.category == "operating", st.status == "in_operation", since.c.since <= cutoff)).all()
    last = ledger(ctx).last_income_on
    for row in rows:
        if last.get(row.id, date.min) <= cutoff:
            yield ctx.asset_flag("NO_INCOME", row, no_income_message(n, cutoff))


def no_income_message(n: int, cutoff: date) -> str:
    return f"为运营中的经营性资产，自{fmt_date(cutoff)}以来已{n}年无收益入账"


@rule("INCOME_ON_DISPOSED", "error", "income", "asset", "已处置资产仍登记收益", ("P09", "P14"))
def income_on_disposed(ctx: Ctx):
    """Ordinary income received after the day the asset became 已处置 or 已报废 (and by the as-of day), not
    reversed: received on the disposal day itself does not fire, the day after does."""
    c = AssetStatusChange
    gone = dict(_run(
        sa.select(c.asset_id, sa.func.min(c.changed_on)).join(Asset, Asset.id == c.asset_id)
        .where(c.county_code == ctx.county_code, c.changed_on <= ctx.as_of, c.to_status.in_(("disposed", "scrapped")),
               ctx.in_scope(Asset), *ctx.only_asset(c.asset_id)).group_by(c.asset_id)).all())
    if not gone:
        return
    # The disposed assets' own entries, found by asset (an index), not a pass over the whole ledger.
    e = IncomeEntry
    found: dict[int, list] = defaultdict(list)
    for asset_id, received_on, amount in _run(
            sa.select(e.asset_id, e.received_on, e.amount)
            .where(_among(e.asset_id, gone), live_income(ctx), e.received_on > min(gone.values()))).all():
        if received_on > gone[asset_id]:
            found[asset_id].append(amount)
    if not found:
        return
    rows = _run(sa.select(Asset.id, Asset.code, Asset.name, Asset.category, Asset.town_code,
                                        Asset.village_code, Asset.place_code).where(_among(Asset.id, found))).all()
    for row in rows:
        amounts = found[row.id]
        yield ctx.asset_flag("INCOME_ON_DISPOSED", row,
                             disposed_income_message(gone[row.id], len(amounts), sum(amounts, ZERO)))


def disposed_income_message(gone_on: date, n: int, amount: Decimal) -> str:
    return f"已于{fmt_date(gone_on)}处置或报废，此后仍登记收益{n}笔，共{yuan(amount)}"


@rule("INCOME_OVERDUE", "warning", "income", "asset", "合同收益应收未收", ("P09",))
def income_overdue(ctx: Ctx):
    """Income a fixed-return contract made due for a period over by the day (its last day before the day)
    that the ledger, counting what was received by the day, does not fully show (应收未收). One flag per
    asset with the periods and the amount outstanding. Only years from the county's start of records are
    judged: the first period year in its ledger (entries received by the day). A ledger begun in 2020 says
    nothing of a 2017 rent, so a contract of 2017 is judged from 2020; a county with no entry yet is judged
    from each contract's start."""
    contracts = _run(
        sa.select(ContractReturn.asset_id, ContractReturn.kind, ContractReturn.basis, ContractReturn.period,
                  ContractReturn.start_on, ContractReturn.end_on, ContractReturn.principal,
                  ContractReturn.annual_rate_percent, ContractReturn.amount)
        .where(ctx.in_scope(ContractReturn), ContractReturn.start_on <= ctx.as_of,
               *ctx.only_asset(ContractReturn.asset_id))).all()
    if not contracts:
        return
    ids = sa.select(ContractReturn.asset_id).where(ctx.in_scope(ContractReturn), ContractReturn.start_on <= ctx.as_of,
                                                   *ctx.only_asset(ContractReturn.asset_id))
    rows = _run(
        sa.select(IncomeEntry.asset_id, IncomeEntry.kind, IncomeEntry.period_year, IncomeEntry.period_month,
                  IncomeEntry.period_quarter, sa.func.sum(IncomeEntry.signed_amount))
        .where(IncomeEntry.county_code == ctx.county_code, IncomeEntry.asset_id.in_(ids),
               IncomeEntry.direction == "income", IncomeEntry.received_on <= ctx.as_of)
        .group_by(IncomeEntry.asset_id, IncomeEntry.kind, IncomeEntry.period_year, IncomeEntry.period_month,
                  IncomeEntry.period_quarter)).all()
    received: dict[tuple[int, int], dict] = defaultdict(dict)
    for asset_id, kind, year, month, quarter, amount in rows:
        received[(asset_id, year)][(kind, month, quarter)] = amount or ZERO
    by_asset = defaultdict(list)
    for c in contracts:
        by_asset[c.asset_id].append(c)
    start = records_start(ctx)
    overdue = {asset_id: overdue_lines(cs, received, ctx.as_of, start) for asset_id, cs in by_asset.items()}
    overdue = {k: v for k, v in overdue.items() if v}
    if not overdue:
        return
    assets = _run(
        sa.select(Asset.id, Asset.code, Asset.name, Asset.category, Asset.town_code, Asset.village_code,
                  Asset.place_code).where(Asset.id.in_(ids))).all()
    for row in assets:
        if row.id in overdue:
            yield ctx.asset_flag("INCOME_OVERDUE", row, overdue_message(overdue[row.id]))


def records_start(ctx: Ctx) -> int | None:
    """The county's start of records: the first period year of its ledger, counting the entries received
    by the day (None before the first)."""
    return _run(sa.select(sa.func.min(IncomeEntry.period_year))
                .where(IncomeEntry.county_code == ctx.county_code, IncomeEntry.received_on <= ctx.as_of)).scalar()


def overdue_lines(contracts, received: dict, as_of: date, first_year: int | None = None) -> list[tuple[str, Decimal]]:
    """(period label, outstanding) of every closed period with income due and not received: ``contracts``
    of one asset, ``received`` keyed by (asset, year) then (kind, month, quarter); years before
    ``first_year`` (the county's start of records) are not judged."""
    out = []
    years = sorted({y for c in contracts for y in range(max(c.start_on.year, first_year or 0),
                                                         min(c.end_on.year, as_of.year) + 1)})
    for year in years:
        dues = []
        for c in contracts:
            dues.extend(income_rules.contract_dues(
                kind=c.kind, basis=c.basis, period=c.period, start_on=c.start_on, end_on=c.end_on, year=year,
                principal=c.principal, annual_rate_percent=c.annual_rate_percent, amount=c.amount))
        if not dues:
            continue
        lines, _ = income_rules.match_received(dues, received.get((contracts[0].asset_id, year), {}))
        for ln in lines:
            if ln.period_end <= as_of and ln.outstanding > 0:
                label = f"{year}年{ln.month}月" if ln.month else f"{year}年第{ln.quarter}季度" if ln.quarter else f"{year}年"
                out.append((f"{label}{INCOME_KINDS.get(ln.kind, ln.kind)}", ln.outstanding))
    return out


def overdue_message(lines: list[tuple[str, Decimal]]) -> str:
    total = sum((v for _, v in lines), ZERO)
    first = lines[0][0]
    more = f"等{len(lines)}期" if len(lines) > 1 else ""
    return f"合同约定收益应收未收：{first}{more}，共{yuan(total)}"


@rule("SETTLEMENT_LATE", "error", "income", "village", "上年收益未按期清算公示", ("P34",))
def settlement_late(ctx: Ctx):
    """A village with ordinary income for year Y (ledger entries of its assets, or of assets it shares,
    received by the day) whose year Y is not settled AND published by Y + 1's deadline (31 March by default;
    the village's own settlement or its town's). Checked from the day after the deadline: Y is the latest
    year whose deadline has passed (on 31 March 2025 that is 2023, on 1 April 2025 it is 2024). A
    settlement done late keeps the flag, with its dates, for that year."""
    year, deadline = settlement_year(ctx.as_of, ctx.settings.settlement_deadline)
    villages = _villages_with_income(ctx, year)
    if not villages:
        return
    settled = _settlements(ctx, year)
    for code in sorted(villages):
        message = settlement_message(code, year, deadline, settled, ctx.as_of)
        if message:
            yield ctx.place_flag("SETTLEMENT_LATE", code, message, suffix=f":{year}")


def _villages_with_income(ctx: Ctx, year: int) -> set[str]:
    """Villages of the scope with ordinary income for ``year`` (the settlement year): the villages of the
    year's entries (the ledger pass), and those sharing an asset that earned (the county's shares)."""
    earning = ledger(ctx).earning
    codes = {v for villages in earning.values() for v in villages if v}
    s = AssetShare
    for asset_id, village in _run(
            sa.select(s.asset_id, s.village_code)
            .where(s.county_code == ctx.county_code, sa.or_(s.replaced_at.is_(None), s.replaced_at >= ctx.day_end),
                   sa.or_(s.from_year.is_(None), s.from_year <= year),
                   sa.or_(s.to_year.is_(None), s.to_year >= year))).all():
        if asset_id in earning:
            codes.add(village)
    valid = set(_scalars(_valid_places(ctx, "village")))
    return {c for c in codes if c.startswith(ctx.code)} & valid


def _settlements(ctx: Ctx, year: int) -> dict[str, tuple[date, date | None]]:
    rows = _run(
        sa.select(Settlement.place_code, Settlement.settled_on, Settlement.published_on)
        .where(Settlement.county_code == ctx.county_code, Settlement.year == year,
               Settlement.settled_on <= ctx.as_of)).all()
    return {p: (s, pub if pub is not None and pub <= ctx.as_of else None) for p, s, pub in rows}


def settlement_message(code: str, year: int, deadline: date, settled: dict, as_of: date) -> str | None:
    """None when the village (or its town) settled and published the year by the deadline."""
    candidates = [settled[c] for c in (code, town_of(code)) if c in settled]
    if any(s <= deadline and p is not None and p <= deadline for s, p in candidates):
        return None
    if not candidates:
        return f"{year}年度收益未在{fmt_date(deadline)}前清算，至今未清算"
    s, p = candidates[0]
    if p is None:
        return f"{year}年度收益于{fmt_date(s)}清算，未公示清算结果（应在{fmt_date(deadline)}前完成）"
    return f"{year}年度收益逾期清算公示：{fmt_date(s)}清算，{fmt_date(p)}公示（应在{fmt_date(deadline)}前）"


@rule("PV_INCOME_LOW", "info", "income", "village", "村级光伏收益低于5万元", ("P21",))
def pv_income_low(ctx: Ctx):
    """A village with a part in a PV station 运营中 on the day whose PV net income of the last closed year
    (its part, by the shares in force, of the stations' income less deductions received by the day) is
    below 50,000 yuan, the yearly gain seed 001 sets for a poor village (information)."""
    year = ctx.as_of.year - 1
    st = status_at(ctx)
    stations = dict(_run(
        sa.select(Asset.id, Asset.village_code)
        .where(Asset.county_code == ctx.county_code, Asset.subtype == PV_SUBTYPE, Asset.category == "operating",
               st.status == "in_operation")).all())
    if not stations:
        return
    ids = list(stations)
    net = ledger(ctx).pv_year_net
    s = AssetShare
    shares = defaultdict(list)
    for asset_id, village, weight in _run(
            sa.select(s.asset_id, s.village_code, s.weight)
            .where(s.county_code == ctx.county_code, s.asset_id.in_(_station_ids(ctx, st)),
                   sa.or_(s.replaced_at.is_(None), s.replaced_at >= ctx.day_end),
                   sa.or_(s.from_year.is_(None), s.from_year <= year),
                   sa.or_(s.to_year.is_(None), s.to_year >= year))).all():
        shares[asset_id].append(income_rules.Share(village, weight))
    totals = pv_village_totals(ids, stations, net, shares)
    valid = set(_scalars(_valid_places(ctx, "village")))
    for code in sorted(totals):
        if code in valid and totals[code] < PV_VILLAGE_TARGET:
            yield ctx.place_flag("PV_INCOME_LOW", code, pv_income_message(year, totals[code]), suffix=f":{year}")


def _station_ids(ctx: Ctx, st):
    return (sa.select(Asset.id)
            .where(Asset.county_code == ctx.county_code, Asset.subtype == PV_SUBTYPE, Asset.category == "operating",
                   st.status == "in_operation"))


def pv_village_totals(ids, stations: dict[int, str | None], net: dict[int, Decimal],
                      shares: dict[int, list]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for asset_id in ids:
        amount = net.get(asset_id, ZERO)
        if shares.get(asset_id):
            for village, part in income_rules.split_among(amount, shares[asset_id]).items():
                totals[village] += part
        elif stations[asset_id]:
            totals[stations[asset_id]] += amount
    return dict(totals)


def pv_income_message(year: int, amount: Decimal) -> str:
    return f"{year}年度光伏电站净收益{yuan(amount)}，低于村集体年增收5万元的目标"


# --- distribution plans (loaded once per evaluation, shared by the plan rules) ---------------------

@dataclass
class PlanFacts:
    id: int
    county_code: str
    town_code: str
    village_code: str
    year: int
    pv_net: Decimal
    steps: dict = field(default_factory=dict)  # kind → PlanStep row (done by the day)
    allocations: list = field(default_factory=list)  # dicts: purpose, amount, use, lines[...]
    objections: list = field(default_factory=list)  # (raised_on, answered_on)


def _plan_filter(ctx: Ctx):
    """The plans of the scope that exist on the day: a step done by then, or created by then."""
    p = DistributionPlan
    stepped = sa.select(PlanStep.id).where(PlanStep.plan_id == p.id, PlanStep.done_on <= ctx.as_of).exists()
    return sa.and_(ctx.in_scope(p), sa.or_(stepped, p.created_at < ctx.day_end))


def plans_at(ctx: Ctx) -> list[PlanFacts]:
    """The plans of the scope that exist on the day with their steps done by then, allocations (without
    household lines: the rules that need lines ask the database) and objections; four queries."""
    if "plans" in ctx.cache:
        return ctx.cache["plans"]
    p = DistributionPlan
    plan_filter = _plan_filter(ctx)
    plans = {row.id: PlanFacts(row.id, row.county_code, row.town_code, row.village_code, row.year, row.pv_net)
             for row in _run(
                 sa.select(p.id, p.county_code, p.town_code, p.village_code, p.year, p.pv_net).where(plan_filter)).all()}
    ids = sorted(plans)  # once, as a list: the filter above is not evaluated again per query
    if plans:
        s = PlanStep
        for step in _run(
                sa.select(s.plan_id, s.kind, s.done_on, s.members_due, s.members_present, s.members_in_favour,
                          s.notice_start_on, s.notice_end_on)
                .where(_among(s.plan_id, ids), s.done_on <= ctx.as_of)).all():
            plans[step.plan_id].steps[step.kind] = step
        for a in _run(sa.select(PlanAllocation.plan_id, PlanAllocation.purpose, PlanAllocation.amount,
                                              PlanAllocation.use)
                                    .where(_among(PlanAllocation.plan_id, ids))
                                    .order_by(PlanAllocation.plan_id, PlanAllocation.position)).all():
            plans[a.plan_id].allocations.append({"purpose": a.purpose, "amount": a.amount, "use": a.use, "lines": []})
        for o in _run(sa.select(PlanObjection.plan_id, PlanObjection.raised_on, PlanObjection.answered_on)
                                    .where(_among(PlanObjection.plan_id, ids), PlanObjection.raised_on <= ctx.as_of)
                                    .order_by(PlanObjection.id)).all():
            plans[o.plan_id].objections.append((o.raised_on, o.answered_on))
    out = sorted(plans.values(), key=lambda pf: (pf.village_code, pf.year, pf.id))
    ctx.cache["plans"] = out
    return out


def plan_ids(ctx: Ctx) -> list[int]:
    return sorted(plan.id for plan in plans_at(ctx))


def plan_flag(ctx: Ctx, rule_id: str, plan: PlanFacts, message: str) -> Flag:
    return Flag(rule_id=rule_id, key=f"plan:{plan.id}", severity=RULES[rule_id].severity,
                message=f"{ctx.place_name(plan.village_code)}{plan.year}年度收益分配方案{message}",
                county_code=plan.county_code, town_code=plan.town_code, village_code=plan.village_code,
                place_name=ctx.place_name(plan.village_code))


def notice_short_reasons(steps: dict, min_days: int) -> list[str]:
    """Why a paid plan's procedure falls short: steps missing before payment, a notice without dates or
    shorter than the county minimum (counted inclusive), payment before the notice was over."""
    if "payment" not in steps:
        return []
    reasons = []
    before = STEP_ORDER[:STEP_ORDER.index("payment")]
    missing = [STEPS[k] for k in before if k not in steps]
    if missing:
        reasons.append(f"缺少程序：{'、'.join(missing)}")
    notice = steps.get("notice")
    if notice is not None:
        start, end = notice.notice_start_on, notice.notice_end_on
        if start is None or end is None:
            reasons.append("公示未载明起止日期")
        else:
            days = inclusive_days(start, end)
            if days < min_days:
                reasons.append(f"公示{days}天，少于{min_days}天")
            if steps["payment"].done_on <= end:
                reasons.append(f"公示期{fmt_date(end)}未满即兑付")
    return reasons


@rule("NOTICE_SHORT", "error", "distribution", "plan", "分配方案程序不全或公示期不足", ("P20", "P17"))
def notice_short(ctx: Ctx):
    """A plan paid (兑付 done by the day) without every earlier step of the procedure (四议两公开, town review,
    notice, approval, county filing), or whose notice was shorter than the county minimum (10 days, both
    ends counted: 1 to 10 March is 10 days, 1 to 9 March fires), or paid before its notice was over."""
    for plan in plans_at(ctx):
        reasons = notice_short_reasons(plan.steps, ctx.settings.min_notice_days)
        if reasons:
            yield plan_flag(ctx, "NOTICE_SHORT", plan, "已兑付，但" + "；".join(reasons))


def quorum_reasons(steps: dict) -> list[str]:
    out = []
    for kind in MEETINGS:
        s = steps.get(kind)
        if s is not None and not quorum_ok(s.members_due, s.members_present, s.members_in_favour):
            out.append(f"{STEPS[kind]}应到{_n(s.members_due)}人、实到{_n(s.members_present)}人、"
                       f"赞成{_n(s.members_in_favour)}人")
    return out


def _n(v) -> str:
    return "—" if v is None else str(v)


@rule("QUORUM_MISSING", "error", "distribution", "plan", "会议未达法定人数或未获多数赞成", ("P17",))
def quorum_missing(ctx: Ctx):
    """A plan's 党员大会 or 村民代表会议 (done by the day) without two thirds of its members present or without
    more than half of those present in favour (30 due: 20 present is enough, 19 fires; 20 present: 11 in
    favour pass, 10 fire), or without its head counts."""
    for plan in plans_at(ctx):
        reasons = quorum_reasons(plan.steps)
        if reasons:
            yield plan_flag(ctx, "QUORUM_MISSING", plan, "：" + "；".join(reasons) + "，不符合法定人数或多数赞成要求")


def plan_texts(plan: PlanFacts) -> Iterable[str]:
    """The plan's texts a notice prints (its uses, names and reasons), from lines loaded (naive check)."""
    for a in plan.allocations:
        yield a["use"] or ""
        for li in a["lines"]:
            yield li["person_name"] or ""
            yield li["reason"] or ""


LEAK_LABELS = {"id_number": "身份证号", "bank_card": "银行卡号", "mobile": "手机号"}


@rule("PRIVACY_LEAK", "error", "distribution", "plan", "公示内容含未脱敏个人信息", ("P17",))
def privacy_leak(ctx: Ctx):
    """A plan whose notice texts (uses, names, reasons) hold an unmasked ID, bank card or mobile number:
    its notice cannot be published until they are removed."""
    ids = plan_ids(ctx)
    if not ids:
        return
    # Every pattern needs 11 digits in a row: the database hands over only such texts.
    long_run = "[0-9]{11}"
    a, li = PlanAllocation, PlanLine
    line_text = li.person_name + " " + sa.func.coalesce(li.reason, "")
    texts = sa.union_all(
        sa.select(a.plan_id, a.use.label("name"), sa.literal("").label("reason"))
        .where(_among(a.plan_id, ids), a.use.regexp_match(long_run)),
        sa.select(li.plan_id, li.person_name, li.reason).where(li.county_code == ctx.county_code, _among(li.plan_id, ids),
                                                               line_text.regexp_match(long_run)))
    kinds: dict[int, set[str]] = defaultdict(set)
    for plan_id, name, reason in _run(texts).all():
        for text in (name, reason):
            kinds[plan_id].update(k for k, _ in find_unmasked(text or ""))
    for plan in plans_at(ctx):
        if kinds.get(plan.id):
            yield plan_flag(ctx, "PRIVACY_LEAK", plan, privacy_message(kinds[plan.id]))


def privacy_message(kinds: set[str]) -> str:
    return f"的公示内容含未脱敏的{'、'.join(LEAK_LABELS[k] for k in sorted(kinds))}，不得公示"


def forbidden_hits(plan: PlanFacts, forbidden_uses: Iterable[str]) -> list[str]:

    hits = []
    for a in plan.allocations:
        hit = forbidden_match(a["use"], forbidden_uses)
        if hit:
            hits.append(f"“{PURPOSES[a['purpose']]}”用于“{a['use']}”（{hit}）")
    return hits


@rule("FORBIDDEN_USE", "error", "distribution", "plan", "收益用于禁止用途", ("P10", "P36"))
def forbidden_use(ctx: Ctx):
    """A plan allocation whose stated use names one of the county's forbidden uses (村委会基本支出, 津贴福利,
    偿还债务 …; spaces ignored)."""
    for plan in plans_at(ctx):
        hits = forbidden_hits(plan, ctx.settings.forbidden_uses)
        if hits:
            yield plan_flag(ctx, "FORBIDDEN_USE", plan, "将收益用于禁止用途：" + "；".join(hits))


def pv_shortfall(plan: PlanFacts, min_share: Decimal) -> tuple[Decimal, Decimal] | None:
    """A plan with allocations short of the PV minimum share (``distribution.rules.pv_shortfall``)."""
    if not plan.allocations:
        return None
    return dist_rules.pv_shortfall(plan.pv_net, min_share, plan.allocations)


@rule("PV_SHARE_LOW", "warning", "distribution", "plan", "光伏收益用于公益岗位和公益事业不足", ("P23",))
def pv_share_low(ctx: Ctx):
    """A plan with allocations whose 公益岗位 and 村级公益事业 together are below the county minimum share
    (80%) of the year's PV net income, rounded half-up to the fen: exactly the minimum does not fire."""
    share = ctx.settings.pv_public_min_share
    for plan in plans_at(ctx):
        gap = pv_shortfall(plan, share)
        if gap:
            yield plan_flag(ctx, "PV_SHARE_LOW", plan,
                            f"中光伏收益{yuan(plan.pv_net)}的{share * 100:.0f}%即{yuan(gap[0])}应用于公益岗位和村级公益事业，"
                            f"现仅安排{yuan(gap[1])}")


def _monitored(ctx: Ctx, h):
    """A monitored household (监测户) whose risk was not cleared by the day."""
    return sa.and_(h.status == "monitored",
                   sa.not_(sa.and_(h.is_risk_cleared.is_(True),
                                   sa.or_(h.risk_cleared_on.is_(None), h.risk_cleared_on <= ctx.as_of))))


def left_out(plan: PlanFacts, monitored: set[int]) -> list[int]:
    """Monitored households getting nothing from a plan that pays other households (pure; naive check)."""
    receiving = {li["household_id"] for a in plan.allocations for li in a["lines"]}
    if not receiving - monitored:
        return []
    return sorted(monitored - receiving)


def left_out_message(n: int) -> str:
    return f"中本村{n}户监测户未获得任何分配，而其他农户获得分配"


@rule("MONITORED_LEFT_OUT", "warning", "distribution", "plan", "监测户未获收益分配", ("P31", "P22"))
def monitored_left_out(ctx: Ctx):
    """A plan paying other households while monitored households of the village (监测户, risk not cleared
    by the day) get nothing from it."""
    p, h, li = DistributionPlan, Household, PlanLine
    ids = plan_ids(ctx)
    if not ids:
        return
    # Three grouped counts: monitored households per village, households paid per plan, and of those the
    # village's own monitored ones.
    monitored = dict(_run(
        sa.select(h.village_code, sa.func.count(h.id)).where(ctx.in_scope(h), _monitored(ctx, h))
        .group_by(h.village_code)).all())
    if not monitored:
        return
    paid = dict(_run(
        sa.select(li.plan_id, sa.func.count(sa.distinct(li.household_id)))
        .where(li.county_code == ctx.county_code, _among(li.plan_id, ids))
        .group_by(li.plan_id)).all())
    paid_monitored = dict(_run(
        sa.select(li.plan_id, sa.func.count(sa.distinct(li.household_id)))
        .join(p, p.id == li.plan_id).join(h, h.id == li.household_id)
        .where(li.county_code == ctx.county_code, _among(li.plan_id, ids), h.village_code == p.village_code,
               _monitored(ctx, h))
        .group_by(li.plan_id)).all())
    for plan in plans_at(ctx):
        got = paid_monitored.get(plan.id, 0)
        left = monitored.get(plan.village_code, 0) - got
        if paid.get(plan.id, 0) > got and left > 0:
            yield plan_flag(ctx, "MONITORED_LEFT_OUT", plan, left_out_message(left))


CASH_PURPOSES = ("relief", "awards")


def equal_cash(plan: PlanFacts, households: int) -> list[str]:
    """The cash purposes a plan pays in equal amounts to every household of the village (pure; naive check)."""
    out = []
    for a in plan.allocations:
        lines = a["lines"]
        if a["purpose"] not in CASH_PURPOSES or households < 2 or len(lines) < households:
            continue
        amounts = [li["amount"] for li in lines]
        if max(amounts) - min(amounts) <= Decimal("0.01"):
            out.append(PURPOSES[a["purpose"]])
    return out


def equal_cash_message(purposes: list[str]) -> str:
    return f"的“{'、'.join(purposes)}”按户平均发给全村农户，未区分农户类别"


@rule("EQUAL_CASH", "warning", "distribution", "plan", "现金简单平均发放", ("P36",))
def equal_cash_rule(ctx: Ctx):
    """A 扶贫济困 or 奖励补助 allocation paid in equal amounts (within a fen) to every household of the
    village (简单平均、一发了之), where income should go first to those in difficulty."""
    a, li = PlanAllocation, PlanLine
    rows = _run(
        sa.select(a.plan_id, a.purpose, sa.func.count(li.id).label("n"), sa.func.min(li.amount).label("lo"),
                  sa.func.max(li.amount).label("hi"))
        .join(li, sa.and_(li.allocation_id == a.id, li.county_code == ctx.county_code))
        .where(_among(a.plan_id, plan_ids(ctx)), a.purpose.in_(CASH_PURPOSES))
        .group_by(a.id, a.plan_id, a.purpose, a.position).order_by(a.plan_id, a.position)).all()
    if not rows:
        return
    households = dict(_run(
        sa.select(Household.village_code, sa.func.count(Household.id)).where(ctx.in_scope(Household))
        .group_by(Household.village_code)).all())
    villages = {plan.id: plan for plan in plans_at(ctx)}
    hits: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        n = households.get(villages[row.plan_id].village_code, 0)
        if n >= 2 and row.n >= n and row.hi - row.lo <= Decimal("0.01"):
            hits[row.plan_id].append(PURPOSES[row.purpose])
    for plan in plans_at(ctx):
        if hits.get(plan.id):
            yield plan_flag(ctx, "EQUAL_CASH", plan, equal_cash_message(hits[plan.id]))


def open_objections(plan: PlanFacts, as_of: date) -> int:
    notice = plan.steps.get("notice")
    if notice is None or notice.notice_end_on is None or notice.notice_end_on >= as_of:
        return 0
    return sum(1 for raised, answered in plan.objections if answered is None or answered > as_of)


@rule("OBJECTION_OPEN", "warning", "distribution", "plan", "公示异议未答复", ("P17",))
def objection_open(ctx: Ctx):
    """Objections raised by the day and not answered by it, on a plan whose notice ended before the day
    (ended yesterday fires, ending today does not)."""
    for plan in plans_at(ctx):
        n = open_objections(plan, ctx.as_of)
        if n:
            yield plan_flag(ctx, "OBJECTION_OPEN", plan, f"公示期已满，尚有{n}条异议未答复")


# --- oversight ---------------------------------------------------------------------------------------

@rule("AUDIT_MISSING", "warning", "oversight", "asset", "经营性资产缺少年度审计", ("P25",))
def audit_missing(ctx: Ctx):
    """An operating asset held on the day (已确权, 运营中, 闲置, 处置中) with no audit for the last closed year
    (the day's year − 1) dated by the day. A never-audited asset counts from its handover: handed over on or
    before 31 December of that year it needs the audit; handed over later, not yet."""
    year = audit_year(ctx.as_of)
    st = status_at(ctx)
    handed = first_reached(ctx, HANDED, "handed_on")
    audited = (sa.select(Audit.id).where(Audit.county_code == ctx.county_code, Audit.asset_id == Asset.id,
                                         Audit.year == year, Audit.audited_on <= ctx.as_of).exists())
    rows = _run(
        assets_at(ctx, st, handed.c.handed_on).join(handed, handed.c.asset_id == Asset.id)
        .where(Asset.category == "operating", st.status.in_(("handed_over", "in_operation", "idle", "disposing")),
               handed.c.handed_on <= date(year, 12, 31), ~audited)).all()
    for row in rows:
        yield ctx.asset_flag("AUDIT_MISSING", row, f"缺少{year}年度审计", suffix=f":{year}")


@rule("INSPECTION_MISSING", "warning", "oversight", "town", "乡镇上季度未开展督查检查", ("P16", "P27"))
def inspection_missing(ctx: Ctx):
    """A town existing on the day with no inspection on record, dated by the day, for the last closed
    quarter (on 30 June that is Q1, on 1 July Q2)."""
    if ctx.level == "village":
        return
    year, quarter = last_closed_quarter(ctx.as_of)
    done = (sa.select(Inspection.id).where(Inspection.county_code == ctx.county_code, Inspection.town_code == Place.code,
                                           Inspection.year == year, Inspection.quarter == quarter,
                                           Inspection.inspected_on <= ctx.as_of).exists())
    towns = _scalars(_valid_places(ctx, "town").where(~done).order_by(Place.code))
    for code in towns:
        yield ctx.place_flag("INSPECTION_MISSING", code, f"{year}年第{quarter}季度未开展督查检查",
                             suffix=f":{year}Q{quarter}")


def problem_status_at(events: list[tuple[date, int, str]], rectified_on, closed_on, as_of: date) -> str:
    """A problem's status on the day: its last event dated by then (by date, then id); a problem with no
    events at all (old data) reads its rectified/closed dates."""
    if events:
        dated = [e for e in events if e[0] <= as_of]
        return max(dated)[2] if dated else "pending"
    if closed_on is not None and closed_on <= as_of:
        return "closed"
    if rectified_on is not None and rectified_on <= as_of:
        return "rectified"
    return "pending"


@rule("RECTIFICATION_OVERDUE", "warning", "oversight", "problem", "问题整改逾期", ("P27", "P30"))
def rectification_overdue(ctx: Ctx):
    """A problem raised by the day, past its deadline (deadline yesterday fires, today does not) and not
    已整改 or 已销号 on the day."""
    problems = _run(
        sa.select(Problem.id, Problem.town_code, Problem.village_code, Problem.asset_id, Problem.description,
                  Problem.deadline, Problem.rectified_on, Problem.closed_on, Problem.responsible_unit)
        .where(ctx.in_scope(Problem), Problem.raised_on <= ctx.as_of, Problem.deadline < ctx.as_of)).all()
    if not problems:
        return
    ids = (sa.select(Problem.id).where(ctx.in_scope(Problem), Problem.raised_on <= ctx.as_of,
                                        Problem.deadline < ctx.as_of))
    events = defaultdict(list)
    for pid, on, eid, status in _run(
            sa.select(ProblemEvent.problem_id, ProblemEvent.happened_on, ProblemEvent.id, ProblemEvent.to_status)
            .where(ProblemEvent.problem_id.in_(ids))).all():
        events[pid].append((on, eid, status))
    for p in problems:
        status = problem_status_at(events.get(p.id, []), p.rectified_on, p.closed_on, ctx.as_of)
        if status not in DONE_PROBLEM:
            yield problem_flag(ctx, p, status)


def problem_flag(ctx: Ctx, p, status: str) -> Flag:

    place = p.village_code or p.town_code or ctx.county_code
    text = p.description if len(p.description) <= 40 else p.description[:40] + "…"
    return Flag(rule_id="RECTIFICATION_OVERDUE", key=f"problem:{p.id}", severity=RULES["RECTIFICATION_OVERDUE"].severity,
                message=f"{ctx.place_name(place)}问题“{text}”整改期限{fmt_date(p.deadline)}已过，"
                        f"仍为{PROBLEM_STATUSES[status]}（责任单位：{p.responsible_unit}）",
                county_code=ctx.county_code, town_code=p.town_code, village_code=p.village_code,
                asset_id=p.asset_id, place_name=ctx.place_name(place))


def missing_approvals(order: list[str] | None, approvals: list[tuple[str, str, date]], executed_on: date) -> list[str]:
    """Approvers of the frozen order (the default order when none was frozen) without an approval dated by
    the execution."""
    order = list(order or DEFAULT_DISPOSAL_ORDER)
    yes = {a for a, decision, on in approvals if decision == "approved" and on <= executed_on}
    return [a for a in order if a not in yes]


@rule("DISPOSAL_UNAPPROVED", "error", "oversight", "disposal", "资产处置未履行审批手续", ("P14",))
def disposal_unapproved(ctx: Ctx):
    """A disposal executed by the day without an approval, dated by its execution, from every approver of
    the county's order frozen on the request; or an asset 已处置/已报废 by the day with no disposal request
    executed by then at all (e.g. old data)."""
    r = DisposalRequest
    executed_by_then = (ctx.in_scope(r), r.executed_on.is_not(None), r.executed_on <= ctx.as_of,
                        *ctx.only_asset(r.asset_id))
    requests = _run(
        sa.select(r.id, r.asset_id, r.town_code, r.village_code, r.approval_order, r.executed_on)
        .where(*executed_by_then)).all()
    approvals = defaultdict(list)
    if requests:
        ids = sa.select(r.id).where(*executed_by_then)
        for rid, approver, decision, on in _run(
                sa.select(DisposalApproval.request_id, DisposalApproval.approver, DisposalApproval.decision,
                          DisposalApproval.decided_on).where(DisposalApproval.request_id.in_(ids))).all():
            approvals[rid].append((approver, decision, on))
    flagged = {}
    for req in requests:
        missing = missing_approvals(req.approval_order, approvals[req.id], req.executed_on)
        if missing:
            flagged[req.id] = (req, missing)
    assets = {}
    if flagged:
        ids = sa.select(r.asset_id).where(*executed_by_then)
        assets = {a.id: a for a in _run(
            sa.select(Asset.id, Asset.code, Asset.name, Asset.category, Asset.town_code, Asset.village_code,
                      Asset.place_code).where(Asset.id.in_(ids))).all()}
    for req, missing in sorted(flagged.values(), key=lambda rm: rm[0].id):
        a = assets[req.asset_id]
        yield Flag(rule_id="DISPOSAL_UNAPPROVED", key=f"disposal:{req.id}", severity="error",
                   message=f"{ctx.asset_label(a)}于{fmt_date(req.executed_on)}执行处置，缺少"
                           f"{'、'.join(APPROVERS.get(x, x) for x in missing)}的审批",
                   county_code=ctx.county_code, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
                   asset_code=a.code, asset_name=a.name, asset_category=a.category,
                   place_name=ctx.place_name(a.place_code))
    gone = first_reached(ctx, ("disposed", "scrapped"), "gone_on")
    executed = (sa.select(r.id).where(r.asset_id == Asset.id, r.executed_on.is_not(None),
                                      r.executed_on <= ctx.as_of).exists())
    rows = _run(
        sa.select(Asset.id, Asset.code, Asset.name, Asset.category, Asset.town_code, Asset.village_code,
                  Asset.place_code, gone.c.gone_on).join(gone, gone.c.asset_id == Asset.id)
        .where(ctx.in_scope(Asset), ~executed, *ctx.only_asset(Asset.id))).all()
    for row in rows:
        yield ctx.asset_flag("DISPOSAL_UNAPPROVED", row, f"于{fmt_date(row.gone_on)}已处置或报废，无处置申请和审批记录")


# --- lists: systems and archive ---------------------------------------------------------------------

@rule("SYSTEMS_MISSING", "warning", "lists", "village", "缺少五项管理制度", ("P26", "P08"))
def systems_missing(ctx: Ctx):
    """A town or village existing on the day that no regulation in force on the day covers for one of the
    five systems (市场化管理, 资产防风险, 资产收益分配, 资产折旧, 资产处置). A regulation applies to the places it
    names and everything under them, or else to its issuer's whole tree; it is in force from its
    effective day until the day before it is repealed."""
    in_force = sa.and_(Regulation.county_code == ctx.county_code, Regulation.effective_on <= ctx.as_of,
                       sa.or_(Regulation.repealed_on.is_(None), Regulation.repealed_on > ctx.as_of),
                       Regulation.category.in_(list(FIVE_SYSTEMS)))
    named = sa.select(RegulationPlace.id).where(RegulationPlace.regulation_id == Regulation.id).exists()
    named_here = (sa.select(RegulationPlace.id)
                  .where(RegulationPlace.regulation_id == Regulation.id,
                         Place.code.startswith(RegulationPlace.place_code)).exists())
    applies = sa.or_(sa.and_(~named, Place.code.startswith(Regulation.issuer_code)), named_here)
    places = [code for code in _scalars(sa.union(_valid_places(ctx, "town"), _valid_places(ctx, "village")))
              if ctx.level != "village" or level_of(code) == "village"]
    covered: dict[str, set[str]] = defaultdict(set)
    for code, category in _run(
            sa.select(Place.code, Regulation.category).distinct().join(Regulation, applies)
            .where(Place.county_code == ctx.county_code, Place.code.startswith(ctx.code), Place.level != "county",
                   in_force)).all():
        covered[code].add(category)
    for code in sorted(places):
        missing = [label for k, label in FIVE_SYSTEMS.items() if k not in covered[code]]
        if missing:
            yield ctx.place_flag("SYSTEMS_MISSING", code, f"缺少{'、'.join(missing)}制度")


@rule("ARCHIVE_INCOMPLETE", "warning", "lists", "asset", "资产档案不全", ("P05",))
def archive_incomplete(ctx: Ctx):
    """An asset lacking a document kind the county requires for its status on the day (and its category,
    or any category), filed at any level by the day."""
    st = status_at(ctx)
    rd = RequiredDocument
    filed = (sa.select(ArchiveDocument.id)
             .where(ArchiveDocument.county_code == ctx.county_code, ArchiveDocument.asset_id == Asset.id,
                    ArchiveDocument.kind == rd.kind, ArchiveDocument.filed_on <= ctx.as_of).exists())
    rows = _run(
        assets_at(ctx, st, rd.kind).join(rd, sa.and_(rd.county_code == ctx.county_code, rd.status == st.status,
                                                     sa.or_(rd.category.is_(None), rd.category == Asset.category)))
        .where(~filed)).all()
    by_asset = defaultdict(list)
    for row in rows:
        by_asset[row.id].append(row)
    for group in by_asset.values():
        kinds = sorted({r.kind for r in group}, key=lambda k: list(DOCUMENT_KINDS).index(k))
        yield ctx.asset_flag("ARCHIVE_INCOMPLETE", group[0], archive_message(kinds))


def archive_message(kinds: list[str]) -> str:
    return f"档案不全，缺{'、'.join(DOCUMENT_KINDS[k] for k in kinds)}"


# Display order of the catalogue: by category as listed, then as registered.
ORDER = [rid for cat in CATEGORIES for rid, r in RULES.items() if r.category == cat]
# The rules whose every flag concerns one asset (``Flag.asset_id``), decided from that asset's rows alone: the
# asset rules, and DISPOSAL_UNAPPROVED (keyed by the asset's disposal request, or by the asset when it has none).
# What one asset's evaluation (``Ctx.asset_id``, its page) runs.
ONE_ASSET_RULES = tuple(rid for rid in ORDER if RULES[rid].subject == "asset" or rid == "DISPOSAL_UNAPPROVED")
