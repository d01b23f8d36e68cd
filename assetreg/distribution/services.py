"""Distribution plans (收益分配方案) through the 四议两公开 procedure, objections, public-welfare jobs and
the county's distribution policy. Services take the acting user first and never commit; ``user`` None is
the command line or the demo loader (no scope or role check, logged as "system")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified

from ..assets.models import Asset
from ..changelog.services import record_change, snapshot
from ..core.access import WRITERS, require_write, scope_clause, sees_unmasked
from ..core.errors import Conflict, Forbidden, NotFound, RuleViolation
from ..core.money import ZERO
from ..core.time import now_utc, today_local
from ..extensions import db
from ..households.models import Household, HouseholdMember
from ..income.services import settled_village
from ..places.models import Place
from . import rules
from .models import (
    DEFAULT_COMPLAINT_PHONE,
    DEFAULT_FORBIDDEN_USES,
    DEFAULT_MIN_NOTICE_DAYS,
    DEFAULT_PV_PUBLIC_MIN_SHARE,
    EDITABLE_STATUSES,
    MEETINGS,
    PURPOSES,
    STATUSES,
    STEP_STATUS,
    STEPS,
    DistributionPlan,
    DistributionPolicy,
    JobAttendance,
    PlanAllocation,
    PlanLine,
    PlanObjection,
    PlanStep,
    PublicJob,
)

PV_SUBTYPE = "光伏电站"
# Who does what (DOMAIN.md roles): the village committee drafts, runs its steps and keeps the jobs;
# the town's finance officer reviews; the county admin files. Objections reach all three.
# Steps whose minutes (会议记录/提议/审核意见) are required; the others may carry a note.
MINUTES_REQUIRED = ("proposal", "consultation", "party_meeting", "representatives_meeting", "town_review")
# Plans from which the next year's carry-over is taken: approved or later.
CARRY_FROM = ("approved", "filed", "paid", "completed")


def step_writers(kind: str) -> frozenset[str]:
    """Who takes a procedure step: the town reviews, the county files, the village does the rest."""
    return WRITERS.get(f"distribution.{kind}", WRITERS["distribution.draft"])


def _require(user, roles: frozenset[str], *, county_code: str, town_code: str | None, village_code: str | None) -> None:
    """The area's write check (403 outside scope or for a role that may not write), then the action's own
    roles. ``user`` None is the command line or the demo loader: no scope, no role."""
    if user is None:
        return
    require_write(user, "distribution", county_code=county_code, town_code=town_code, village_code=village_code)
    if user.role not in roles:
        raise Forbidden("当前角色无权执行此操作", code="role_forbidden")


def _uid(user) -> int | None:
    return getattr(user, "id", None)


def _in_county(column, user):
    return column == user.county_code if user is not None else sa.true()


# --- county policy (basis: P10, P20, P23) -------------------------------------------------------

def policy_for(county_code: str) -> DistributionPolicy:
    """The county's saved settings, or the defaults of the seeds' era (a transient, unsaved row)."""
    row = db.session.scalar(sa.select(DistributionPolicy).where(DistributionPolicy.county_code == county_code))
    if row is None:
        row = DistributionPolicy(county_code=county_code, pv_public_min_share=DEFAULT_PV_PUBLIC_MIN_SHARE,
                                 forbidden_uses=list(DEFAULT_FORBIDDEN_USES),
                                 min_notice_days=DEFAULT_MIN_NOTICE_DAYS, complaint_phone=DEFAULT_COMPLAINT_PHONE,
                                 version=0)
        row.is_default = True
    else:
        row.is_default = False
    return row


def get_policy(user) -> DistributionPolicy:
    return policy_for(user.county_code)


def set_policy(user, data: dict) -> DistributionPolicy:
    require_write(user, "policy", county_code=user.county_code, town_code=None, village_code=None)
    uses = []
    for i, phrase in enumerate(data["forbidden_uses"]):
        phrase = "".join(phrase.split())
        if not phrase:
            raise RuleViolation("禁止用途不能为空", {f"forbidden_uses.{i}": ["不能为空"]})
        if phrase not in uses:
            uses.append(phrase)
    row = db.session.scalar(sa.select(DistributionPolicy).where(DistributionPolicy.county_code == user.county_code))
    version = data.get("version")
    if row is not None and version is not None and version != row.version:
        raise Conflict("县级分配设置已被他人修改，请刷新后重试", {"version": [f"当前版本为 {row.version}"]},
                       code="version_conflict")
    before = snapshot(row) if row is not None else None
    if row is None:
        row = DistributionPolicy(county_code=user.county_code)
        db.session.add(row)
    row.pv_public_min_share = data["pv_public_min_share"]
    row.forbidden_uses = uses
    row.min_notice_days = data["min_notice_days"]
    row.complaint_phone = data["complaint_phone"].strip()
    row.updated_by_id = user.id
    row.updated_at = now_utc()
    db.session.flush()
    record_change(user, entity="distribution_policy", entity_id=user.county_code, action="set",
                  county_code=user.county_code, before=before, after=snapshot(row))
    row.is_default = False
    return row


# --- the settled figures a plan starts from -------------------------------------------------------

def settled_figures(county_code: str, village_code: str, year: int) -> dict | None:
    """The village's settled net income of ``year`` (its own settlement, else its part in its town's),
    the part of it from PV stations, and the settlement it comes from; None while the year is not settled.
    """

    settled = settled_village(county_code, village_code, year)
    if settled is None:
        return None
    settlement = settled["settlement"]
    parts: dict[int, Decimal] = {}
    for line in settlement.lines or []:
        if settlement.level == "village":
            part = line.get("part")
        else:
            part = next((p.get("part") for p in line.get("parts") or [] if p.get("village_code") == village_code), None)
        if part is not None and line.get("asset_id") is not None:
            parts[int(line["asset_id"])] = parts.get(int(line["asset_id"]), ZERO) + Decimal(str(part))
    pv_ids = set(db.session.scalars(sa.select(Asset.id).where(Asset.id.in_(list(parts)), Asset.subtype == PV_SUBTYPE))) \
        if parts else set()
    pv_net = sum((p for aid, p in parts.items() if aid in pv_ids), ZERO)
    return {"settlement_id": settlement.id, "net": settled["net"], "pv_net": max(pv_net, ZERO)}


def available_amount(settled_net: Decimal, carry_over: Decimal) -> Decimal:
    """可分配收益 = the village's settled net income of the year + carry-over (DOMAIN.md §6)."""
    return settled_net + carry_over


def _carry_allocation(plan: DistributionPlan | None) -> Decimal | None:
    return next((a.amount for a in plan.allocations if a.purpose == "carry"), None) if plan is not None else None


def carry_over_for(county_code: str, village_code: str, year: int, *, settled_net: Decimal | None = None,
                   plans: dict[int, DistributionPlan] | None = None) -> dict:
    """结转 of a village's year, the one place it is worked out: ``carry_in`` (上年结转, what the year starts
    with: its plan's figure once there is a plan, else last year's 结转 allocation once that plan is approved,
    else nothing) and its ``source``; ``carry_next`` (结转下年: the year's own 结转 allocation, None without
    one); ``available`` (可分配收益: the plan's frozen figure, else the settled net + ``carry_in``; None while
    the year is not settled, ``settled_net`` None). ``plans``: the village's plans by year (this year's and
    last year's are used) when the caller has them; else they are read here."""
    if plans is None:
        plans = {p.year: p for p in db.session.scalars(
            sa.select(DistributionPlan).where(DistributionPlan.county_code == county_code,
                                              DistributionPlan.village_code == village_code,
                                              DistributionPlan.year.in_((year - 1, year)))
            .options(selectinload(DistributionPlan.allocations)))}
    plan, previous = plans.get(year), plans.get(year - 1)
    carried = _carry_allocation(previous)
    if plan is not None:
        carry_in, source = plan.carry_over, "本年度分配方案"
    elif carried is None:
        carry_in, source = ZERO, "无上年结转"
    elif previous.status in CARRY_FROM:
        carry_in, source = carried, "上年度方案的结转"
    else:
        carry_in, source = ZERO, "上年度方案尚未批准，暂不结转"
    if plan is not None:
        available = plan.available
    else:
        available = available_amount(settled_net, carry_in) if settled_net is not None else None
    return {"carry_in": carry_in, "source": source, "carry_next": _carry_allocation(plan), "available": available}


def _not_settled(year: int) -> RuleViolation:
    return RuleViolation(f"{year}年度收益尚未清算，不能制定或批准分配方案",
                         {"year": ["该村该年度尚未完成年度清算"]}, code="year_not_settled")


def _refresh(plan: DistributionPlan) -> None:
    """Re-freeze the settled figures and ``available`` (only while the plan is editable)."""
    figures = settled_figures(plan.county_code, plan.village_code, plan.year)
    if figures is None:
        raise _not_settled(plan.year)
    available = available_amount(figures["net"], plan.carry_over)
    if (plan.settled_net, plan.pv_net, plan.settlement_id, plan.available) != (
            figures["net"], figures["pv_net"], figures["settlement_id"], available):
        plan.settled_net = figures["net"]
        plan.pv_net = figures["pv_net"]
        plan.settlement_id = figures["settlement_id"]
        plan.available = available
        plan.available_at = now_utc()


# --- reading plans -------------------------------------------------------------------------------

def visible_plans(user):
    if user is None:
        return sa.select(DistributionPlan)
    return sa.select(DistributionPlan).where(DistributionPlan.county_code == user.county_code,
                                             scope_clause(DistributionPlan, user))


def _full(county_code: str | None):
    """A plan with everything: its lines read from the county's partition (core/partitions.py) when the
    county is known (a user's; a worker acting for nobody reads them wherever they are)."""
    lines = PlanAllocation.lines if county_code is None else PlanAllocation.lines_in(county_code)
    return (selectinload(DistributionPlan.allocations).selectinload(lines),
            selectinload(DistributionPlan.steps), selectinload(DistributionPlan.objections))


def _village_names(codes) -> dict[str, str]:
    codes = sorted(set(codes))
    if not codes:
        return {}
    return dict(db.session.execute(sa.select(Place.code, Place.name).where(Place.code.in_(codes))).all())


def list_plans(user, *, village_code=None, town_code=None, year=None, status=None, page=1, per_page=50) -> dict:
    q = visible_plans(user)
    if village_code:
        q = q.where(DistributionPlan.village_code == village_code)
    if town_code:
        q = q.where(DistributionPlan.town_code == town_code)
    if year:
        q = q.where(DistributionPlan.year == year)
    if status:
        q = q.where(DistributionPlan.status == status)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.order_by(None).subquery()))
    items = list(db.session.scalars(
        q.options(selectinload(DistributionPlan.allocations))
        .order_by(DistributionPlan.year.desc(), DistributionPlan.village_code, DistributionPlan.id)
        .limit(per_page).offset((page - 1) * per_page)))
    names = _village_names(p.village_code for p in items)
    for p in items:
        p.village_name = names.get(p.village_code)
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def _loaded(plan: DistributionPlan | None) -> bool:
    """Whether a plan of the session already holds what ``_full`` loads (allocations with their lines,
    steps, objections). An eager load does not overwrite a loaded collection anyway: running it again
    for such a plan (each step of a procedure recorded in one transaction) only re-reads every line."""
    if plan is None:
        return False
    state = sa.inspect(plan)
    if state.expired or state.unloaded & {"allocations", "steps", "objections"}:
        return False
    return not any("lines" in sa.inspect(a).unloaded for a in plan.allocations)


def _load(user, plan_id: int, *, lock: bool = False) -> DistributionPlan | None:
    q = visible_plans(user).where(DistributionPlan.id == plan_id)
    if lock:
        # Writers of one plan queue up (PostgreSQL; SQLite has one writer anyway): each then sees the
        # plan as the previous one left it, and a stale ``version`` loses with 409.
        q = q.with_for_update(of=DistributionPlan)
    held = db.session.identity_map.get(db.session.identity_key(DistributionPlan, plan_id))
    county = user.county_code if user is not None else None
    return db.session.scalar(q if _loaded(held) else q.options(*_full(county)))


def get_plan(user, plan_id: int) -> DistributionPlan:
    """A plan the user may see, with its warnings; another scope's plan is simply not found (404)."""
    plan = _load(user, plan_id)
    if plan is None:
        raise NotFound("未找到该分配方案")
    return annotate(plan, user)


def _plan_for_write(user, plan_id: int, roles: set[str]) -> DistributionPlan:
    plan = _load(user, plan_id, lock=True)
    if plan is None:
        if db.session.scalar(sa.select(DistributionPlan.id).where(DistributionPlan.id == plan_id)) is not None:
            raise Forbidden("超出您的管辖范围", code="out_of_scope")
        raise NotFound("未找到该分配方案")
    _require(user, roles, county_code=plan.county_code, town_code=plan.town_code, village_code=plan.village_code)
    return plan


def _check_version(plan: DistributionPlan, version: int | None) -> None:
    if version is not None and version != plan.version:
        raise Conflict("该分配方案已被他人修改，请刷新后重试", {"version": [f"当前版本为 {plan.version}"]},
                       code="version_conflict")


def _check_editable(plan: DistributionPlan) -> None:
    if plan.status not in EDITABLE_STATUSES:
        raise Conflict("方案已提交乡镇审核，分配内容不能再修改", {"status": [f"当前状态：{STATUSES.get(plan.status, plan.status)}"]},
                       code="plan_locked")


def _alloc_dicts(plan: DistributionPlan) -> list[dict]:
    return [{"purpose": a.purpose, "amount": a.amount, "use": a.use,
             "lines": [{"household_id": li.household_id, "amount": li.amount, "months": li.months,
                        "monthly_wage": li.monthly_wage, "job_id": li.job_id} for li in a.lines]}
            for a in plan.allocations]


def plan_warnings(plan: DistributionPlan) -> list[dict]:
    """Warnings returned with a plan (not refusals): PV share low (P23), equal cash to every household
    (简单平均, P10), monitored households left out while others get money (P31)."""
    policy = policy_for(plan.county_code)
    allocations = _alloc_dicts(plan)
    out = []
    pv = rules.pv_share_warning(plan.pv_net, policy.pv_public_min_share, allocations)
    if pv:
        out.append(pv)
    rows = db.session.execute(sa.select(Household.id, Household.status, Household.is_risk_cleared).where(
        Household.county_code == plan.county_code, Household.village_code == plan.village_code)).all()
    out.extend(rules.equal_cash_warnings(allocations, len(rows)))
    monitored = {hid for hid, status, cleared in rows if status == "monitored" and not cleared}
    left_out = rules.monitored_left_out_warning(allocations, monitored)
    if left_out:
        out.append(left_out)
    return out


def annotate(plan: DistributionPlan, user) -> DistributionPlan:
    """Derived figures for the output: village name, next step, notice period, warnings, household numbers;
    free text (a line's reason, an allocation's use and note, the plan's note, steps' minutes, objections)
    unmasked for auditors only (the output schemas mask unless told otherwise)."""
    plan.village_name = _village_names([plan.village_code]).get(plan.village_code)
    plan.next_step = rules.next_step([s.kind for s in plan.steps])
    notice = plan.step("notice")
    plan.notice_start_on = notice.notice_start_on if notice else None
    plan.notice_end_on = notice.notice_end_on if notice else None
    plan.open_objections = sum(1 for o in plan.objections if o.is_open)
    plan.is_editable = plan.status in EDITABLE_STATUSES
    plan.warnings = plan_warnings(plan)
    ids = {li.household_id for a in plan.allocations for li in a.lines}
    numbers = dict(db.session.execute(sa.select(Household.id, Household.number).where(
        Household.id.in_(sorted(ids)))).all()) if ids else {}
    reveal = sees_unmasked(user)
    plan.reveal_personal = reveal
    for child in (*plan.steps, *plan.objections):
        child.reveal_personal = reveal
    for a in plan.allocations:
        a.reveal_personal = reveal
        for li in a.lines:
            li.household_number = numbers.get(li.household_id)
            li.reveal_personal = reveal
    # Hold the annotated children: the view commits (expiring the plan) before dumping it, and the reload
    # must find these same objects in the identity map rather than fresh ones without the annotations.
    plan._annotated = [(a, list(a.lines)) for a in plan.allocations]
    return plan


# --- writing plans -------------------------------------------------------------------------------

def _snapshot(plan: DistributionPlan) -> dict:
    return snapshot(plan, exclude=("created_at", "updated_at"))


def _log(user, plan: DistributionPlan, action: str, before: dict | None, after: dict | None) -> None:
    record_change(user, entity="distribution_plan", entity_id=plan.id, action=action,
                  county_code=plan.county_code, town_code=plan.town_code, village_code=plan.village_code,
                  before=before, after=after)


def _touch(plan: DistributionPlan) -> None:
    """An edit of the plan's children is an edit of the plan: bump its version (optimistic locking),
    even when the clock shows the same instant."""
    plan.updated_at = now_utc()
    flag_modified(plan, "updated_at")


def create_plan(user, data: dict) -> DistributionPlan:
    village = db.session.scalar(sa.select(Place).where(Place.code == data["village_code"], Place.level == "village",
                                                       _in_county(Place.county_code, user)))
    if village is None:
        raise RuleViolation("村无效", {"village_code": ["未找到本县的该村"]})
    _require(user, WRITERS["distribution.draft"], county_code=village.county_code, town_code=village.town_code,
             village_code=village.code)
    if village.valid_to is not None:
        raise RuleViolation("该村已撤销", {"village_code": [f"已撤销，承继区划为 {village.successor_code}"]})
    year = data["year"]
    if year >= today_local().year:
        raise RuleViolation("年度尚未结束，不能制定分配方案", {"year": [f"应早于 {today_local().year}"]})
    if db.session.scalar(sa.select(DistributionPlan.id).where(
            DistributionPlan.county_code == village.county_code, DistributionPlan.village_code == village.code,
            DistributionPlan.year == year)) is not None:
        raise Conflict(f"{village.name}{year}年度已有分配方案", {"year": ["每村每年只能有一个分配方案"]},
                       code="duplicate_plan")
    figures = settled_figures(village.county_code, village.code, year)
    if figures is None:
        raise _not_settled(year)
    carry_over = data.get("carry_over")
    if carry_over is None:  # last year's 结转 once that plan is approved
        carry_over = carry_over_for(village.county_code, village.code, year)["carry_in"]
    plan = DistributionPlan(
        county_code=village.county_code, town_code=village.town_code, village_code=village.code, year=year,
        settlement_id=figures["settlement_id"], settled_net=figures["net"], pv_net=figures["pv_net"],
        carry_over=carry_over, available=available_amount(figures["net"], carry_over), available_at=now_utc(),
        status="draft", note=data.get("note"), created_by_id=_uid(user),
    )
    db.session.add(plan)
    db.session.flush()
    _log(user, plan, "create", None, _snapshot(plan))
    return get_plan(user, plan.id)


def update_plan(user, plan_id: int, data: dict, *, if_match: int | None = None) -> DistributionPlan:
    """Change the carry-over or the note, while the plan is editable; the available figure is refreshed."""
    plan = _plan_for_write(user, plan_id, WRITERS["distribution.draft"])
    _check_version(plan, data.pop("version", None) or if_match)
    _check_editable(plan)
    before = _snapshot(plan)
    _refresh(plan)  # first: its queries would otherwise flush the edit below on their own
    if "carry_over" in data:
        plan.carry_over = data["carry_over"]
    if "note" in data:
        plan.note = data["note"]
    plan.available = available_amount(plan.settled_net, plan.carry_over)
    if plan.allocated > plan.available:
        raise RuleViolation("现有分配合计超出可分配收益", {"carry_over": [
            f"可分配收益将为 {plan.available:.2f} 元，少于已分配的 {plan.allocated:.2f} 元"]})
    _touch(plan)
    db.session.flush()
    _log(user, plan, "update", before, _snapshot(plan))
    return annotate(plan, user)


def _village_households(plan: DistributionPlan, ids) -> dict[int, str]:
    """Of ``ids``, those of the plan's village, with the head's name."""
    ids = sorted({i for i in ids if isinstance(i, int)})
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(Household.id, Household.head_name).where(
        Household.id.in_(ids), Household.county_code == plan.county_code,
        Household.village_code == plan.village_code)).all())


def _village_jobs(plan: DistributionPlan, ids) -> dict[int, int]:
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(PublicJob.id, PublicJob.household_id).where(
        PublicJob.id.in_(ids), PublicJob.county_code == plan.county_code,
        PublicJob.village_code == plan.village_code)).all())


def _validate(plan: DistributionPlan, allocations: list[dict]) -> dict[int, str]:
    """Refuse a set of allocations against the county's forbidden uses and the plan rules; return the
    head names of the households the lines name."""
    forbidden = rules.forbidden_use_errors(allocations, policy_for(plan.county_code).forbidden_uses)
    if forbidden:
        # basis: P10 — income goes to the uses the seeds allow, never to these.
        raise RuleViolation("收益用途属于禁止范围", forbidden, code="FORBIDDEN_USE")
    lines = [li for a in allocations for li in a.get("lines") or []]
    heads = _village_households(plan, [li["household_id"] for li in lines])
    jobs = _village_jobs(plan, [li.get("job_id") for li in lines])
    errors = rules.allocation_errors(allocations, plan.available, set(heads), jobs)
    if errors:
        raise RuleViolation("分配方案有误，请检查标出的分配项和到户明细", errors)
    return heads


def _build(plan: DistributionPlan, position: int, a: dict, heads: dict[int, str]) -> PlanAllocation:
    alloc = PlanAllocation(county_code=plan.county_code, position=position, purpose=a["purpose"],
                           amount=a["amount"], use=a.get("use"), note=a.get("note"))
    alloc.lines = [_line(plan, j, li, heads) for j, li in enumerate(a.get("lines") or [])]
    return alloc


def _line(plan: DistributionPlan, position: int, li: dict, heads: dict[int, str]) -> PlanLine:
    return PlanLine(county_code=plan.county_code, plan_id=plan.id, position=position,
                    household_id=li["household_id"],
                    person_name=(li.get("person_name") or "").strip() or heads[li["household_id"]],
                    amount=li["amount"], reason=li.get("reason"), months=li.get("months"),
                    monthly_wage=li.get("monthly_wage"), job_id=li.get("job_id"))


def _log_allocations(plan: DistributionPlan) -> dict:
    return {"allocations": [
        {"purpose": a.purpose, "amount": str(a.amount), "use": a.use,
         "lines": [[li.household_id, li.person_name, str(li.amount)] for li in a.lines]}
        for a in plan.allocations]}


def set_allocations(user, plan_id: int, allocations: list[dict], *, version: int | None = None) -> DistributionPlan:
    """Replace the whole set of allocations and lines, all or nothing."""
    plan = _plan_for_write(user, plan_id, WRITERS["distribution.draft"])
    _check_version(plan, version)
    _check_editable(plan)
    _refresh(plan)
    heads = _validate(plan, allocations)
    before = _log_allocations(plan)
    plan.allocations.clear()
    db.session.flush()  # the old rows leave before the new ones meet the unique keys
    plan.allocations.extend(_build(plan, i, a, heads) for i, a in enumerate(allocations))
    _touch(plan)
    db.session.flush()
    _log(user, plan, "set_allocations", before, _log_allocations(plan))
    return annotate(plan, user)


# --- fill helpers ----------------------------------------------------------------------------------

def _fill_households(plan: DistributionPlan, data: dict, ids: list[int] | None,
                     ids_field: str = "household_ids") -> list[rules.HouseholdFacts]:
    """The households a fill covers: ``ids`` (each must be of the plan's village) or the whole village,
    narrowed to ``statuses`` when given; in household-number order."""
    q = sa.select(Household).where(Household.county_code == plan.county_code,
                                   Household.village_code == plan.village_code)
    if ids is not None:
        q = q.where(Household.id.in_(sorted(set(ids))))
    rows = list(db.session.scalars(q.options(selectinload(Household.members_in(plan.county_code)))
                                   .order_by(Household.number, Household.id)))
    if ids is not None:
        known = {h.id for h in rows}
        missing = {f"{ids_field}.{i}": ["未找到本村的该农户"] for i, hid in enumerate(ids) if hid not in known}
        if missing:
            raise RuleViolation("农户不属于本村", missing)
    statuses = data.get("statuses")
    return [rules.HouseholdFacts(h.id, h.head_name, h.status, len(h.members),
                                 rules.household_labour(m.labour for m in h.members))
            for h in rows if not statuses or h.status in statuses]


def _job_facts(plan: DistributionPlan) -> list[rules.JobFacts]:
    year = plan.year
    jobs = list(db.session.scalars(
        sa.select(PublicJob).where(PublicJob.county_code == plan.county_code, PublicJob.village_code == plan.village_code,
                                   PublicJob.term_from <= date(year, 12, 31),
                                   sa.or_(PublicJob.term_to.is_(None), PublicJob.term_to >= date(year, 1, 1)))
        .options(selectinload(PublicJob.attendance)).order_by(PublicJob.id)))
    hh_numbers = dict(db.session.execute(sa.select(Household.id, Household.number).where(
        Household.id.in_(sorted({j.household_id for j in jobs})))).all()) if jobs else {}
    jobs.sort(key=lambda j: (hh_numbers.get(j.household_id, ""), j.id))
    out = []
    for j in jobs:
        term = rules.months_in_term(year, j.term_from, j.term_to)
        months = sum(1 for a in j.attendance if a.year == year and a.month in term and a.attended)
        out.append(rules.JobFacts(j.id, j.household_id, j.person_name, j.post, j.monthly_wage, months))
    return out


def fill(user, plan_id: int, data: dict) -> dict:  # noqa: C901 - one branch per fill helper (equal, weights, tiers, wage) and its checks
    """Compute a 公益岗位/扶贫济困/奖励补助 allocation's lines with one of the helpers; with ``apply`` replace
    the allocation's lines (and, with ``set_amount``, its amount) — checked like a PUT of the whole set.

    equal: the allocation split equally; weights: by members or given weights; tier: by a tier table
    (amounts as proportions, see ``rules.fill_by_tiers``; with ``set_amount`` the table's own amounts and
    the allocation becomes their total); jobs: months attended in the plan year × monthly wage (never
    scaled: the allocation must equal the wages, or ``set_amount`` makes it so).
    """
    apply = data.get("apply", False)
    plan = _plan_for_write(user, plan_id, WRITERS["distribution.draft"]) if apply else get_plan(user, plan_id)
    if apply:
        _check_version(plan, data.get("version"))
        _check_editable(plan)
        _refresh(plan)
    purpose, method, set_amount = data["purpose"], data["method"], data.get("set_amount", False)
    index = next((i for i, a in enumerate(plan.allocations) if a.purpose == purpose), None)
    alloc = plan.allocations[index] if index is not None else None
    if set_amount and method in ("equal", "weights"):
        raise RuleViolation("按平均或权重分配时分配额即为该项金额", {"set_amount": ["仅适用于 tier 和 jobs"]})
    if alloc is None and not set_amount:
        raise RuleViolation(f"方案中还没有“{PURPOSES[purpose]}”分配项", {"purpose": ["请先设置该项分配额，或使用 set_amount"]})
    unused = {"tiers": method != "tier", "weights": method != "weights",
              "household_ids": method == "jobs" or bool(data.get("weights")), "statuses": method == "jobs"}
    unused = {k: ["该分配方式不使用此项"] for k, not_used in unused.items() if not_used and data.get(k)}
    if unused:
        raise RuleViolation("填充参数与分配方式不符", unused)
    total = None if set_amount else alloc.amount
    reason = data.get("reason")
    table_total, unmatched = None, []
    if method == "jobs":
        lines = rules.wage_lines(_job_facts(plan))
    elif method == "tier":
        tiers = [rules.Tier(**t) for t in data.get("tiers") or []]
        errors = rules.tier_errors(tiers) or ({} if tiers else {"tiers": ["请填写档次表"]})
        if errors:
            raise RuleViolation("档次表有误", errors)
        result = rules.fill_by_tiers(_fill_households(plan, data, data.get("household_ids")), tiers, total)
        lines, table_total, unmatched = result.lines, result.table_total, result.unmatched
    else:
        weights_in = data.get("weights")
        if method == "weights" and weights_in:
            ids = [w["household_id"] for w in weights_in]
            if len(set(ids)) != len(ids):
                raise RuleViolation("权重中农户重复", {"weights": ["同一农户只能出现一次"]})
            by_id = {h.household_id: h for h in _fill_households(plan, data, ids, "weights")}
            households = [by_id[i] for i in ids if i in by_id]
            weights = [w["weight"] for w in weights_in if w["household_id"] in by_id]
        else:
            households = _fill_households(plan, data, data.get("household_ids"))
            weights = [h.size for h in households] if method == "weights" else [1] * len(households)
        pairs = [(h, w) for h, w in zip(households, weights, strict=True) if w > 0]
        if not pairs:
            raise RuleViolation("没有可分配的农户", {"household_ids": ["没有符合条件的农户"]})
        amounts = rules.split_by_weights(total, [w for _, w in pairs])
        if method == "equal":
            default = "按户平均分配"
        else:
            default = "按家庭人口分配（{w}人）" if not weights_in else "按权重分配（{w}）"
        lines = [{"household_id": h.household_id, "person_name": h.person_name, "amount": amt,
                  "reason": default.format(w=format(w.normalize(), "f") if isinstance(w, Decimal) else w)}
                 for (h, w), amt in zip(pairs, amounts, strict=True)]
    if reason:
        for li in lines:
            li["reason"] = reason
    if any(li["amount"] <= 0 for li in lines):
        raise RuleViolation("分配额太小，不足以使每户至少得到0.01元", {"purpose": ["请增加分配额或减少农户"]})
    lines_total = sum((li["amount"] for li in lines), ZERO)
    amount = lines_total if set_amount else alloc.amount
    result = {"purpose": purpose, "method": method, "applied": False, "allocation_amount": amount,
              "total": lines_total, "fits": lines_total == amount and bool(lines), "table_total": table_total,
              "unmatched": unmatched, "lines": lines, "plan_version": plan.version}
    if not apply:
        return result
    if not lines:
        raise RuleViolation("没有可分配的农户", {"purpose": ["没有得到任何分配的农户"]})
    allocations = _alloc_dicts(plan)
    wanted = {"purpose": purpose, "amount": amount, "use": alloc.use if alloc else None, "lines": lines}
    if alloc is None:
        index = len(allocations)
        allocations.append(wanted)
    else:
        allocations[index] = wanted
    heads = _validate(plan, allocations)
    before = _log_allocations(plan)
    if alloc is None:
        alloc = PlanAllocation(county_code=plan.county_code, position=max((a.position for a in plan.allocations),
                                                                           default=-1) + 1,
                               purpose=purpose, amount=amount)
        plan.allocations.append(alloc)
    else:
        alloc.lines.clear()
        alloc.amount = amount
        db.session.flush()
    alloc.lines.extend(_line(plan, j, li, heads) for j, li in enumerate(lines))
    _touch(plan)
    db.session.flush()
    _log(user, plan, f"fill:{method}", before, _log_allocations(plan))
    result.update(applied=True, plan_version=plan.version)
    return result


# --- the procedure (四议两公开, basis: P17, P20) ---------------------------------------------------

def list_steps(user, plan_id: int) -> list[PlanStep]:
    return list(get_plan(user, plan_id).steps)


def record_step(user, plan_id: int, data: dict) -> PlanStep:  # noqa: C901 - each 四议两公开 step has its own check, in procedure order
    """Record the next step of the procedure: strictly in order, dated (not before the previous step, not
    in the future), with its own checks (quorum, town review, notice term, objections, payment)."""
    kind = data["kind"]
    plan = _plan_for_write(user, plan_id, step_writers(kind))
    _check_version(plan, data.get("version"))
    expected = rules.next_step([s.kind for s in plan.steps])
    if kind != expected:
        why = "方案的程序已全部完成" if expected is None else f"下一步应为“{STEPS[expected]}”"
        raise Conflict(f"程序步骤顺序不对：{why}", {"kind": [why]}, code="step_out_of_order")
    today = today_local()
    done_on = data.get("done_on")
    if kind == "notice":
        start = data.get("notice_start_on")
        if done_on is not None and start is not None and done_on != start:
            raise RuleViolation("公示日期即公示开始日期", {"done_on": ["应与 notice_start_on 相同或不填"]})
        done_on = start or done_on
        data["notice_start_on"] = done_on
    if done_on is None:
        raise RuleViolation("请填写步骤日期", {"notice_start_on" if kind == "notice" else "done_on": ["不能为空"]})
    previous = plan.steps[-1] if plan.steps else None
    errors: dict[str, list[str]] = {}
    if done_on > today:
        errors["done_on"] = ["不能是将来的日期"]
    elif previous is not None and done_on < previous.done_on:
        errors["done_on"] = [f"不能早于上一步骤“{STEPS[previous.kind]}”的日期 {previous.done_on}"]
    if kind in MINUTES_REQUIRED and not (data.get("minutes") or "").strip():
        errors["minutes"] = ["请填写会议记录或意见"]
    counts = (data.get("members_due"), data.get("members_present"), data.get("members_in_favour"))
    if kind in MEETINGS:
        errors.update(rules.meeting_count_errors(*counts))
    elif any(c is not None for c in counts):
        errors["members_due"] = ["仅党员大会和村民代表会议填写人数"]
    if kind != "notice" and (data.get("notice_start_on") or data.get("notice_end_on")):
        errors["notice_end_on"] = ["仅公示步骤填写公示期"]
    if kind != "payment" and data.get("payment_method"):
        errors["payment_method"] = ["仅兑付步骤填写兑付方式"]
    if kind == "payment" and not (data.get("payment_method") or "").strip():
        errors["payment_method"] = ["请填写兑付方式，例如 一卡通"]
    if errors:
        raise RuleViolation("步骤信息有误", errors)
    if kind in MEETINGS:
        quorum = rules.quorum_errors(*counts)
        if quorum:
            # basis: P17 — two thirds present, a majority of those present in favour.
            raise RuleViolation(f"{STEPS[kind]}未达到法定人数或未获半数以上赞成", quorum, code="QUORUM_MISSING")
    check = _STEP_CHECKS.get(kind)
    if check:
        check(plan, data, done_on, today)
    step = PlanStep(county_code=plan.county_code, plan_id=plan.id, seq=len(plan.steps) + 1, kind=kind,
                    done_on=done_on, minutes=data.get("minutes"), document=data.get("document"),
                    members_due=counts[0], members_present=counts[1], members_in_favour=counts[2],
                    notice_start_on=data.get("notice_start_on"), notice_end_on=data.get("notice_end_on"),
                    payment_method=data.get("payment_method"), actor_id=_uid(user), recorded_at=now_utc())
    plan.steps.append(step)
    before = {"status": plan.status}
    plan.status = STEP_STATUS[kind]
    _touch(plan)
    db.session.flush()
    _log(user, plan, f"step:{kind}", before, {"status": plan.status, **snapshot(step, exclude=("recorded_at",))})
    step.plan_status = plan.status
    step.plan_version = plan.version
    return step


def _check_town_review(plan: DistributionPlan, data: dict, done_on: date, today: date) -> None:
    """The town reviews a complete plan: figures refreshed one last time and frozen from here on."""
    if not plan.allocations:
        raise RuleViolation("方案还没有任何分配项", {"allocations": ["请先设置分配项"]})
    _refresh(plan)
    allocations = _alloc_dicts(plan)
    errors = rules.missing_lines(allocations)
    if errors:
        raise RuleViolation("方案尚未分配到户", errors)
    _validate(plan, allocations)


def _check_notice(plan: DistributionPlan, data: dict, done_on: date, today: date) -> None:
    min_days = policy_for(plan.county_code).min_notice_days
    errors = rules.notice_errors(data.get("notice_start_on"), data.get("notice_end_on"), min_days)
    if errors:
        raise RuleViolation(f"公示期不少于{min_days}天（首尾两天都计入）", errors, code="notice_too_short")


def _check_approval(plan: DistributionPlan, data: dict, done_on: date, today: date) -> None:
    notice = plan.step("notice")
    if not rules.notice_over(notice.notice_end_on, done_on):
        raise Conflict(f"公示期至 {notice.notice_end_on} 结束，期满后方可批准",
                       {"done_on": [f"应晚于公示结束日期 {notice.notice_end_on}"]}, code="notice_running")
    open_ids = [o.id for o in plan.objections if o.is_open]
    if open_ids:
        raise Conflict(f"尚有 {len(open_ids)} 条异议未答复，不能批准", {"objections": [str(i) for i in open_ids]},
                       code="objections_open")
    if settled_figures(plan.county_code, plan.village_code, plan.year) is None:
        raise _not_settled(plan.year)


_STEP_CHECKS = {"town_review": _check_town_review, "notice": _check_notice, "approval": _check_approval}


# --- objections (异议, basis: P17) ------------------------------------------------------------------

def list_objections(user, plan_id: int) -> list[PlanObjection]:
    return list(get_plan(user, plan_id).objections)


def _log_objection(user, plan, objection, action, before=None):
    record_change(user, entity="plan_objection", entity_id=objection.id, action=action,
                  county_code=plan.county_code, town_code=plan.town_code, village_code=plan.village_code,
                  before=before, after=snapshot(objection, exclude=("recorded_at",)))


def record_objection(user, plan_id: int, data: dict) -> PlanObjection:
    plan = _plan_for_write(user, plan_id, WRITERS["distribution.objection"])
    if plan.status != "in_notice":
        raise Conflict("方案不在公示期，不能登记异议", {"status": [f"当前状态：{STATUSES.get(plan.status, plan.status)}"]}, code="not_in_notice")
    notice = plan.step("notice")
    raised_on = data["raised_on"]
    if raised_on > today_local():
        raise RuleViolation("异议日期不能晚于今天", {"raised_on": ["不能是将来的日期"]})
    if not notice.notice_start_on <= raised_on <= notice.notice_end_on:
        raise RuleViolation("异议应在公示期内提出",
                            {"raised_on": [f"公示期为 {notice.notice_start_on} 至 {notice.notice_end_on}"]})
    content = data["content"].strip()
    if not content:
        raise RuleViolation("异议内容不能为空", {"content": ["不能为空"]})
    objection = PlanObjection(county_code=plan.county_code, plan_id=plan.id, raised_on=raised_on,
                              raised_by=(data.get("raised_by") or "").strip() or None, content=content,
                              recorded_by_id=_uid(user), recorded_at=now_utc())
    plan.objections.append(objection)
    _touch(plan)
    db.session.flush()
    _log_objection(user, plan, objection, "create")
    return objection


def answer_objection(user, plan_id: int, objection_id: int, data: dict) -> PlanObjection:
    plan = _plan_for_write(user, plan_id, WRITERS["distribution.objection"])
    objection = next((o for o in plan.objections if o.id == objection_id), None)
    if objection is None:
        raise NotFound("未找到该异议")
    if not objection.is_open:
        raise Conflict("该异议已答复", {"answer": [f"已于 {objection.answered_on} 答复"]}, code="already_answered")
    answered_on = data["answered_on"]
    if answered_on > today_local():
        raise RuleViolation("答复日期不能晚于今天", {"answered_on": ["不能是将来的日期"]})
    if answered_on < objection.raised_on:
        raise RuleViolation("答复日期不能早于异议提出日期", {"answered_on": [f"不能早于 {objection.raised_on}"]})
    answer = data["answer"].strip()
    if not answer:
        raise RuleViolation("答复内容不能为空", {"answer": ["不能为空"]})
    before = snapshot(objection, exclude=("recorded_at",))
    objection.answer = answer
    objection.answered_on = answered_on
    objection.answered_by_id = _uid(user)
    _touch(plan)
    db.session.flush()
    _log_objection(user, plan, objection, "answer", before)
    return objection


# --- public-welfare jobs (公益岗位, basis: P29, P36) ---------------------------------------------------

def visible_jobs(user):
    if user is None:
        return sa.select(PublicJob)
    return sa.select(PublicJob).where(PublicJob.county_code == user.county_code, scope_clause(PublicJob, user))


def list_jobs(user, *, village_code=None, town_code=None, year=None, post=None, page=1, per_page=50) -> dict:
    q = visible_jobs(user)
    if village_code:
        q = q.where(PublicJob.village_code == village_code)
    if town_code:
        q = q.where(PublicJob.town_code == town_code)
    if post:
        q = q.where(PublicJob.post == post)
    if year:
        q = q.where(PublicJob.term_from <= date(year, 12, 31),
                    sa.or_(PublicJob.term_to.is_(None), PublicJob.term_to >= date(year, 1, 1)))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.order_by(None).subquery()))
    items = list(db.session.scalars(q.options(selectinload(PublicJob.attendance))
                                    .order_by(PublicJob.village_code, PublicJob.id)
                                    .limit(per_page).offset((page - 1) * per_page)))
    return {"items": _annotate_jobs(items), "page": page, "per_page": per_page, "total": total}


def get_job(user, job_id: int) -> PublicJob:
    job = db.session.scalar(visible_jobs(user).where(PublicJob.id == job_id)
                            .options(selectinload(PublicJob.attendance)))
    if job is None:
        raise NotFound("未找到该公益岗位")
    return _annotate_jobs([job])[0]


def _job_for_write(user, job_id: int) -> PublicJob:
    job = db.session.scalar(visible_jobs(user).where(PublicJob.id == job_id)
                            .options(selectinload(PublicJob.attendance)))
    if job is None:
        if db.session.scalar(sa.select(PublicJob.id).where(PublicJob.id == job_id)) is not None:
            raise Forbidden("超出您的管辖范围", code="out_of_scope")
        raise NotFound("未找到该公益岗位")
    _require(user, WRITERS["distribution.draft"], county_code=job.county_code, town_code=job.town_code, village_code=job.village_code)
    return job


def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (b_to is None or a_from <= b_to) and (a_to is None or b_from <= a_to)


def _annotate_jobs(jobs: list[PublicJob]) -> list[PublicJob]:
    """Each job's warnings (JOB_PRIORITY: priority households holding no job during its term) and months
    attended; four queries whatever the number of jobs."""
    if not jobs:
        return jobs
    villages = sorted({j.village_code for j in jobs})
    county = jobs[0].county_code
    households = {h.id: h for h in db.session.scalars(
        sa.select(Household).where(Household.county_code == county,
                                   Household.id.in_(sorted({j.household_id for j in jobs})))
        .options(selectinload(Household.members_in(county))))}
    terms = db.session.execute(sa.select(PublicJob.village_code, PublicJob.household_id, PublicJob.term_from,
                                         PublicJob.term_to).where(PublicJob.county_code == county,
                                                                  PublicJob.village_code.in_(villages))).all()
    # The priority households of the villages (脱贫户/监测户, or a weak or half labourer), read as ids: not
    # every household of the village with its members as objects, on every job written or listed.
    weak = sa.exists().where(HouseholdMember.household_id == Household.id,
                             HouseholdMember.labour.in_(("weak", "half")))
    priority: dict[str, set[int]] = {}
    for hid, village in db.session.execute(sa.select(Household.id, Household.village_code).where(
            Household.county_code == county, Household.village_code.in_(villages),
            sa.or_(Household.status.in_(("formerly_poor", "monitored")), weak))):
        priority.setdefault(village, set()).add(hid)
    for j in jobs:
        h = households.get(j.household_id)
        j.warnings = []
        if h is not None:
            holders = {t.household_id for t in terms if t.village_code == j.village_code
                       and _overlaps(j.term_from, j.term_to, t.term_from, t.term_to)}
            free = len(priority.get(j.village_code, set()) - holders)
            member = next((m for m in h.members if m.name == j.person_name), None)
            facts = rules.HouseholdFacts(h.id, j.person_name, h.status, len(h.members),
                                         rules.household_labour(m.labour for m in h.members))
            w = rules.job_priority_warning(facts, member.labour if member else "full", free)
            if w:
                j.warnings.append(w)
        j.household_number = h.number if h is not None else None
        j.months_attended = sum(1 for a in j.attendance if a.attended)
    return jobs


def _log_job(user, job: PublicJob, action: str, before=None, after=None) -> None:
    record_change(user, entity="public_job", entity_id=job.id, action=action, county_code=job.county_code,
                  town_code=job.town_code, village_code=job.village_code, before=before,
                  after=after if after is not None else snapshot(job, exclude=("created_at", "updated_at")))


def create_job(user, data: dict) -> PublicJob:
    village = db.session.scalar(sa.select(Place).where(Place.code == data["village_code"], Place.level == "village",
                                                       _in_county(Place.county_code, user)))
    if village is None:
        raise RuleViolation("村无效", {"village_code": ["未找到本县的该村"]})
    _require(user, WRITERS["distribution.draft"], county_code=village.county_code, town_code=village.town_code,
             village_code=village.code)
    household = db.session.scalar(sa.select(Household).where(
        Household.id == data["household_id"], Household.county_code == village.county_code,
        Household.village_code == village.code).options(selectinload(Household.members_in(village.county_code))))
    if household is None:
        raise RuleViolation("农户无效", {"household_id": ["未找到本村的该农户"]})
    person = data["person_name"].strip()
    if person not in {m.name for m in household.members}:
        raise RuleViolation("岗位人员应为该户家庭成员", {"person_name": ["不是该户的家庭成员"]})
    post = data["post"].strip()
    if not post:
        raise RuleViolation("岗位名称不能为空", {"post": ["不能为空"]})
    term_from, term_to = data["term_from"], data.get("term_to")
    if term_to is not None and term_to < term_from:
        raise RuleViolation("聘期有误", {"term_to": ["不能早于 term_from"]})
    if data["monthly_wage"] <= 0:
        raise RuleViolation("月工资应大于0", {"monthly_wage": ["应大于0"]})
    overlap = db.session.scalar(sa.select(PublicJob.id).where(
        PublicJob.county_code == village.county_code, PublicJob.household_id == household.id,
        PublicJob.person_name == person,
        sa.or_(PublicJob.term_to.is_(None), PublicJob.term_to >= term_from),
        *([PublicJob.term_from <= term_to] if term_to is not None else [])))
    if overlap is not None:
        raise Conflict("该人员在同一期间已有公益岗位", {"person_name": [f"已有岗位 {overlap}"]}, code="duplicate_job")
    job = PublicJob(county_code=village.county_code, town_code=village.town_code, village_code=village.code,
                    post=post, household_id=household.id, person_name=person, monthly_wage=data["monthly_wage"],
                    term_from=term_from, term_to=term_to, pay_cycle=data.get("pay_cycle") or "month",
                    note=data.get("note"), created_by_id=_uid(user))
    db.session.add(job)
    db.session.flush()
    _log_job(user, job, "create")
    return get_job(user, job.id)


def record_attendance(user, job_id: int, entries: list[dict]) -> PublicJob:
    """Record months of attendance (days worked and/or attended); a month recorded again is replaced."""
    job = _job_for_write(user, job_id)
    today = today_local()
    errors: dict[str, list[str]] = {}
    seen = set()
    for i, e in enumerate(entries):
        year, month = e["year"], e["month"]
        if (year, month) in seen:
            errors[f"entries.{i}.month"] = ["同一月份重复"]
        seen.add((year, month))
        if date(year, month, 1) > today:
            errors[f"entries.{i}.month"] = ["不能登记将来月份的出勤"]
        elif month not in rules.months_in_term(year, job.term_from, job.term_to):
            errors[f"entries.{i}.month"] = ["不在岗位聘期内"]
        days = e.get("days_worked")
        if days is not None:
            last = (date(year + (month == 12), month % 12 + 1, 1) - date(year, month, 1)).days
            if days > last:
                errors[f"entries.{i}.days_worked"] = [f"该月只有 {last} 天"]
        if days is None and e.get("attended") is None:
            errors[f"entries.{i}.attended"] = ["请填写出勤天数或是否出勤"]
    if errors:
        raise RuleViolation("出勤记录有误", errors)
    existing = {(a.year, a.month): a for a in job.attendance}
    before = {f"{y}-{m:02d}": [a.days_worked, a.attended] for (y, m), a in existing.items()
              if (y, m) in seen}
    after = {}
    for e in entries:
        attended = e.get("attended")
        if attended is None:
            attended = e["days_worked"] > 0
        row = existing.get((e["year"], e["month"]))
        if row is None:
            row = JobAttendance(county_code=job.county_code, year=e["year"], month=e["month"])
            job.attendance.append(row)
        row.days_worked = e.get("days_worked")
        row.attended = attended
        row.recorded_by_id = _uid(user)
        row.recorded_at = now_utc()
        after[f"{e['year']}-{e['month']:02d}"] = [row.days_worked, row.attended]
    job.updated_at = now_utc()
    flag_modified(job, "updated_at")
    db.session.flush()
    _log_job(user, job, "attendance", before, after)
    job.attendance.sort(key=lambda a: (a.year, a.month))
    return _annotate_jobs([job])[0]
