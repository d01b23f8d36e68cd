"""The naive evaluation: every rule re-decided one object at a time (asset by asset, village by village, plan
by plan), each object read with its own queries and its facts judged in plain Python.

Slow by design. It is the independent check of the set-based engine (tests/test_flags_naive.py asserts
both give the same flags for a whole county) and the baseline of bench/bench_flags.py. It shares only the
pure date helpers and the message wording with ``rules``, never its SQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from assetreg.assets.models import Asset, AssetStatusChange
from assetreg.core.money import ZERO
from assetreg.custody.models import AssetCustody, AssetOperation
from assetreg.distribution.models import DistributionPlan, PlanAllocation, PlanLine, PlanObjection, PlanStep
from assetreg.extensions import db
from assetreg.flags import engine
from assetreg.flags import rules as R
from assetreg.flags.rules import Ctx, Flag, PlanFacts
from assetreg.households.models import Household
from assetreg.income import rules as income_rules
from assetreg.income.models import AssetShare, ContractReturn, IncomeEntry, Settlement
from assetreg.lists.models import FIVE_SYSTEMS, ArchiveDocument, Regulation, RegulationPlace, RequiredDocument
from assetreg.notices.rules import find_unmasked
from assetreg.oversight.models import (
    APPROVERS,
    Audit,
    DisposalApproval,
    DisposalRequest,
    Inspection,
    Problem,
    ProblemEvent,
)
from assetreg.places.models import Place
from assetreg.rights.models import FIVE_RIGHTS, AssetRight


def evaluate_naive(scope_code: str, as_of: date, settings: R.Settings | None = None) -> list[Flag]:
    ctx = engine.build_context(scope_code, as_of, settings)
    flags: list[Flag] = []
    required = [(r.status, r.category, r.kind) for r in db.session.scalars(
        sa.select(RequiredDocument).where(RequiredDocument.county_code == ctx.county_code))]
    for asset_id in _ids(Asset, ctx):
        flags.extend(_asset_flags(ctx, db.session.get(Asset, asset_id), required))
    for req_id in _ids(DisposalRequest, ctx):
        flags.extend(_disposal_flags(ctx, db.session.get(DisposalRequest, req_id)))
    for code in _places(ctx, "village"):
        flags.extend(_village_flags(ctx, code))
    for code in _places(ctx, "town"):
        flags.extend(_town_flags(ctx, code))
    for plan_id in _ids(DistributionPlan, ctx):
        flags.extend(_plan_flags(ctx, plan_id))
    for problem_id in _ids(Problem, ctx):
        flags.extend(_problem_flags(ctx, db.session.get(Problem, problem_id)))
    flags.sort(key=engine.sort_key)
    return flags


def _ids(model, ctx: Ctx) -> list[int]:
    return list(db.session.scalars(sa.select(model.id).where(ctx.in_scope(model)).order_by(model.id)))


def _places(ctx: Ctx, level: str) -> list[str]:
    out = []
    for p in db.session.scalars(sa.select(Place).where(Place.county_code == ctx.county_code, Place.level == level)
                                .order_by(Place.code)):
        if p.code.startswith(ctx.code) and (p.valid_from is None or p.valid_from <= ctx.as_of) \
                and (p.valid_to is None or p.valid_to > ctx.as_of):
            out.append(p.code)
    return out


# --- one asset -----------------------------------------------------------------------------------------

def _rows(model, asset_id: int) -> list:
    return list(db.session.scalars(sa.select(model).where(model.asset_id == asset_id).order_by(model.id)))


def _current(records: list, ctx: Ctx):
    """The custody/operation record current on the day: not replaced by its end, term begun by then; of
    several, the one replaced first."""
    live = [r for r in records if (r.replaced_at is None or r.replaced_at >= ctx.day_end)
            and (r.term_from is None or r.term_from <= ctx.as_of)]
    if not live:
        return None
    return min(live, key=lambda r: (r.replaced_at is None, r.replaced_at or ctx.day_end, -r.id))


def _live_income(entries: list[IncomeEntry], as_of: date) -> list[IncomeEntry]:
    reversed_ids = {e.reverses_id for e in entries if e.reverses_id is not None and e.received_on <= as_of}
    return [e for e in entries if e.direction == "income" and e.kind != "disposal" and e.reverses_id is None
            and e.received_on <= as_of and e.id not in reversed_ids]


def _asset_flags(ctx: Ctx, a: Asset, required) -> list[Flag]:  # noqa: C901 - the oracle spells out every rule per asset, on purpose
    d = ctx.as_of
    changes = [c for c in _rows(AssetStatusChange, a.id) if c.changed_on <= d]
    if not changes:
        return []  # registered later
    last = max(changes, key=lambda c: (c.changed_on, c.id))
    status, status_on = last.to_status, last.changed_on

    def first(statuses) -> date | None:
        days = [c.changed_on for c in changes if c.to_status in statuses]
        return min(days) if days else None

    rights = [r for r in _rows(AssetRight, a.id)
              if r.effective_on <= d and (r.ended_on is None or r.ended_on > d)]
    custody = _current(_rows(AssetCustody, a.id), ctx)
    operation = _current(_rows(AssetOperation, a.id), ctx)
    entries = _rows(IncomeEntry, a.id)
    live = _live_income(entries, d)
    out: list[Flag] = []
    add = out.append
    held = status in R.HELD

    if held:
        have = {r.kind for r in rights if r.kind in FIVE_RIGHTS}
        if len(have) < len(FIVE_RIGHTS):
            add(ctx.asset_flag("RIGHTS_INCOMPLETE", a, R.rights_incomplete_message(have)))
        county = {r.kind for r in rights if r.holder_kind == "county_department"}
        if county:
            add(ctx.asset_flag("RIGHTS_AT_COUNTY", a, R.county_message(R.right_labels(county))))
        if a.category == "operating":
            elsewhere = {r.kind for r in rights if r.kind in ("ownership", "income")
                         and r.holder_kind not in R.LOCAL_HOLDERS}
            if elsewhere:
                add(ctx.asset_flag("RIGHTS_NOT_LOCAL", a, R.not_local_message(R.right_labels(elsewhere))))

    if status == "completed":
        done_on = a.completed_on or status_on
        due = R.month_day(done_on.year + 1, ctx.settings.handover_deadline)
        if d > due:
            add(ctx.asset_flag("HANDOVER_LATE", a, R.handover_message(done_on, ctx.settings)))

    if a.category == "public_welfare" and status == "in_use":
        if custody is None or not (custody.custodian_unit or "").strip() or not (custody.responsible_person or "").strip():
            add(ctx.asset_flag("CUSTODY_MISSING", a, R.custody_missing_message(custody is not None)))
        if custody is not None and ((custody.term_to is not None and custody.term_to < d) or not custody.annual_fund):
            add(ctx.asset_flag("CUSTODY_EXPIRED", a, R.custody_expired_message(custody.term_to, custody.annual_fund, d)))

    if a.category == "operating" and status == "in_operation":
        horizon = d + timedelta(days=ctx.settings.contract_warning_days)
        if operation is None or (operation.term_to is not None and operation.term_to <= horizon):
            severity, message = R.contract_message(operation is not None, getattr(operation, "contract_no", None),
                                                   getattr(operation, "term_to", None), d)
            add(ctx.asset_flag("CONTRACT_EXPIRED", a, message, severity=severity))
        if operation is not None and (operation.term_to is None or operation.term_to >= d):
            assessed = operation.risk_assessed_on
            if assessed is None or assessed > d or (d - assessed).days > ctx.settings.risk_assessment_max_days:
                add(ctx.asset_flag("RISK_ASSESSMENT_MISSING", a, R.risk_message(assessed, ctx)))
        n = ctx.settings.no_income_years
        cutoff = R.years_before(d, n)
        since = first(("in_operation",))
        if since is not None and since <= cutoff and not any(e.received_on > cutoff for e in live):
            add(ctx.asset_flag("NO_INCOME", a, R.no_income_message(n, cutoff)))

    gone_on = first(("disposed", "scrapped"))
    if gone_on is not None:
        after = [e for e in live if e.received_on > gone_on]
        if after:
            add(ctx.asset_flag("INCOME_ON_DISPOSED", a, R.disposed_income_message(
                gone_on, len(after), sum((e.amount for e in after), ZERO))))

    contracts = [c for c in _rows(ContractReturn, a.id) if c.start_on <= d]
    if contracts:
        received: dict = defaultdict(lambda: defaultdict(lambda: ZERO))
        for e in entries:
            if e.direction == "income" and e.received_on <= d:
                received[(a.id, e.period_year)][(e.kind, e.period_month, e.period_quarter)] += e.signed_amount
        # The county's start of records: its ledger's first period year, entries received by the day.
        start = db.session.scalar(sa.select(IncomeEntry.period_year).where(
            IncomeEntry.county_code == a.county_code, IncomeEntry.received_on <= d)
            .order_by(IncomeEntry.period_year).limit(1))
        lines = R.overdue_lines(contracts, {k: dict(v) for k, v in received.items()}, d, start)
        if lines:
            add(ctx.asset_flag("INCOME_OVERDUE", a, R.overdue_message(lines)))

    if a.category == "operating" and status in ("handed_over", "in_operation", "idle", "disposing"):
        year = R.audit_year(d)
        handed = first(R.HANDED)
        audits = db.session.scalars(sa.select(Audit).where(Audit.asset_id == a.id)).all()
        if handed is not None and handed <= date(year, 12, 31) and not any(
                x.year == year and x.audited_on <= d for x in audits):
            add(ctx.asset_flag("AUDIT_MISSING", a, f"缺少{year}年度审计", suffix=f":{year}"))

    if gone_on is not None:
        executed = [r for r in _rows(DisposalRequest, a.id) if r.executed_on is not None and r.executed_on <= d]
        if not executed:
            add(ctx.asset_flag("DISPOSAL_UNAPPROVED", a, f"于{R.fmt_date(gone_on)}已处置或报废，无处置申请和审批记录"))

    kinds = {k for s, c, k in required if s == status and (c is None or c == a.category)}
    if kinds:
        filed = {doc.kind for doc in _rows(ArchiveDocument, a.id) if doc.filed_on <= d}
        missing = sorted(kinds - filed, key=lambda k: list(R.DOCUMENT_KINDS).index(k))
        if missing:
            add(ctx.asset_flag("ARCHIVE_INCOMPLETE", a, R.archive_message(missing)))
    return out


def _disposal_flags(ctx: Ctx, req: DisposalRequest) -> list[Flag]:
    if req.executed_on is None or req.executed_on > ctx.as_of:
        return []
    approvals = db.session.scalars(sa.select(DisposalApproval).where(DisposalApproval.request_id == req.id)).all()
    order = list(req.approval_order or R.DEFAULT_DISPOSAL_ORDER)
    missing = [x for x in order if not any(p.approver == x and p.decision == "approved"
                                           and p.decided_on <= req.executed_on for p in approvals)]
    if not missing:
        return []
    a = db.session.get(Asset, req.asset_id)
    return [Flag(rule_id="DISPOSAL_UNAPPROVED", key=f"disposal:{req.id}", severity="error",
                 message=f"{ctx.asset_label(a)}于{R.fmt_date(req.executed_on)}执行处置，缺少"
                         f"{'、'.join(APPROVERS.get(x, x) for x in missing)}的审批",
                 county_code=ctx.county_code, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
                 asset_code=a.code, asset_name=a.name, asset_category=a.category, place_name=ctx.place_name(a.place_code))]


# --- one village, one town ----------------------------------------------------------------------------

def _status_on(asset_id: int, d: date) -> str | None:
    changes = db.session.scalars(sa.select(AssetStatusChange).where(AssetStatusChange.asset_id == asset_id,
                                                                    AssetStatusChange.changed_on <= d)).all()
    return max(changes, key=lambda c: (c.changed_on, c.id)).to_status if changes else None


def _shares_of(ctx: Ctx, asset_id: int, year: int) -> list[AssetShare]:
    return [s for s in db.session.scalars(sa.select(AssetShare).where(AssetShare.asset_id == asset_id))
            if (s.replaced_at is None or s.replaced_at >= ctx.day_end)
            and (s.from_year is None or s.from_year <= year) and (s.to_year is None or s.to_year >= year)]


def _village_flags(ctx: Ctx, code: str) -> list[Flag]:
    d = ctx.as_of
    out = []
    year, deadline = R.settlement_year(d, ctx.settings.settlement_deadline)
    own = db.session.scalars(sa.select(IncomeEntry).where(IncomeEntry.village_code == code,
                                                          IncomeEntry.period_year == year)).all()
    earns = any(e in _live_income(_rows(IncomeEntry, e.asset_id), d) for e in own)
    if not earns:
        for share in db.session.scalars(sa.select(AssetShare).where(AssetShare.village_code == code)):
            if share in _shares_of(ctx, share.asset_id, year) and any(
                    e.period_year == year for e in _live_income(_rows(IncomeEntry, share.asset_id), d)):
                earns = True
                break
    if earns:
        settled = {}
        for place in (code, code[:9]):
            s = db.session.scalar(sa.select(Settlement).where(Settlement.place_code == place, Settlement.year == year))
            if s is not None and s.settled_on <= d:
                settled[place] = (s.settled_on, s.published_on if s.published_on and s.published_on <= d else None)
        message = R.settlement_message(code, year, deadline, settled, d)
        if message:
            out.append(ctx.place_flag("SETTLEMENT_LATE", code, message, suffix=f":{year}"))
    pv = _pv_total(ctx, code)
    if pv is not None and pv < R.PV_VILLAGE_TARGET:
        out.append(ctx.place_flag("PV_INCOME_LOW", code, R.pv_income_message(d.year - 1, pv), suffix=f":{d.year - 1}"))
    out.extend(_systems(ctx, code))
    return out


def _pv_total(ctx: Ctx, code: str) -> Decimal | None:
    """The village's part of last year's PV net income, or None when it has no part in a station in operation."""
    d, year = ctx.as_of, ctx.as_of.year - 1
    total, related = ZERO, False
    shared = sa.select(AssetShare.asset_id).where(AssetShare.village_code == code)
    stations = db.session.scalars(sa.select(Asset).where(
        Asset.county_code == ctx.county_code, Asset.subtype == R.PV_SUBTYPE, Asset.category == "operating",
        sa.or_(Asset.village_code == code, Asset.id.in_(shared))).order_by(Asset.id))
    for a in stations:
        if _status_on(a.id, d) != "in_operation":
            continue
        shares = _shares_of(ctx, a.id, year)
        mine = any(s.village_code == code for s in shares) if shares else a.village_code == code
        if not mine:
            continue
        related = True
        net = ZERO
        for e in _rows(IncomeEntry, a.id):
            if e.period_year == year and e.kind != "disposal" and e.received_on <= d:
                net += e.signed_amount
        if shares:
            net = income_rules.split_among(net, [income_rules.Share(s.village_code, s.weight) for s in shares])[code]
        total += net
    return total if related else None


def _systems(ctx: Ctx, code: str) -> list[Flag]:
    covered = set()
    for reg in db.session.scalars(sa.select(Regulation).where(Regulation.county_code == ctx.county_code)):
        if reg.category not in FIVE_SYSTEMS or reg.effective_on > ctx.as_of or (
                reg.repealed_on is not None and reg.repealed_on <= ctx.as_of):
            continue
        named = [p.place_code for p in db.session.scalars(
            sa.select(RegulationPlace).where(RegulationPlace.regulation_id == reg.id))]
        if any(code.startswith(t) for t in (named or [reg.issuer_code])):
            covered.add(reg.category)
    missing = [label for k, label in FIVE_SYSTEMS.items() if k not in covered]
    if missing:
        return [ctx.place_flag("SYSTEMS_MISSING", code, f"缺少{'、'.join(missing)}制度")]
    return []


def _town_flags(ctx: Ctx, code: str) -> list[Flag]:
    out = []
    year, quarter = R.last_closed_quarter(ctx.as_of)
    done = db.session.scalars(sa.select(Inspection).where(Inspection.town_code == code, Inspection.year == year,
                                                          Inspection.quarter == quarter)).all()
    if not any(i.inspected_on <= ctx.as_of for i in done):
        out.append(ctx.place_flag("INSPECTION_MISSING", code, f"{year}年第{quarter}季度未开展督查检查",
                                  suffix=f":{year}Q{quarter}"))
    out.extend(_systems(ctx, code))
    return out


# --- one plan, one problem ---------------------------------------------------------------------------

def _plan_flags(ctx: Ctx, plan_id: int) -> list[Flag]:
    d = ctx.as_of
    p = db.session.get(DistributionPlan, plan_id)
    steps = {s.kind: s for s in db.session.scalars(sa.select(PlanStep).where(PlanStep.plan_id == plan_id))
             if s.done_on <= d}
    if not steps and not p.created_at < ctx.day_end:
        return []
    plan = PlanFacts(p.id, p.county_code, p.town_code, p.village_code, p.year, p.pv_net, steps=steps)
    for a in db.session.scalars(sa.select(PlanAllocation).where(PlanAllocation.plan_id == plan_id)
                                .order_by(PlanAllocation.position)):
        lines = db.session.scalars(sa.select(PlanLine).where(PlanLine.allocation_id == a.id)
                                   .order_by(PlanLine.position)).all()
        plan.allocations.append({"purpose": a.purpose, "amount": a.amount, "use": a.use, "lines": [
            {"household_id": li.household_id, "person_name": li.person_name, "amount": li.amount,
             "reason": li.reason} for li in lines]})
    plan.objections = [(o.raised_on, o.answered_on) for o in db.session.scalars(
        sa.select(PlanObjection).where(PlanObjection.plan_id == plan_id).order_by(PlanObjection.id)) if o.raised_on <= d]
    households = db.session.scalars(sa.select(Household).where(Household.village_code == p.village_code)).all()
    monitored = {h.id for h in households if h.status == "monitored"
                 and not (h.is_risk_cleared and (h.risk_cleared_on is None or h.risk_cleared_on <= d))}
    out = []
    s = ctx.settings
    reasons = R.notice_short_reasons(steps, s.min_notice_days)
    if reasons:
        out.append(R.plan_flag(ctx, "NOTICE_SHORT", plan, "已兑付，但" + "；".join(reasons)))
    reasons = R.quorum_reasons(steps)
    if reasons:
        out.append(R.plan_flag(ctx, "QUORUM_MISSING", plan, "：" + "；".join(reasons) + "，不符合法定人数或多数赞成要求"))
    leaks = sorted({k for text in R.plan_texts(plan) for k, _ in find_unmasked(text)})
    if leaks:
        out.append(R.plan_flag(ctx, "PRIVACY_LEAK", plan, R.privacy_message(set(leaks))))
    hits = R.forbidden_hits(plan, s.forbidden_uses)
    if hits:
        out.append(R.plan_flag(ctx, "FORBIDDEN_USE", plan, "将收益用于禁止用途：" + "；".join(hits)))
    gap = R.pv_shortfall(plan, s.pv_public_min_share)
    if gap:
        out.append(R.plan_flag(ctx, "PV_SHARE_LOW", plan,
                               f"中光伏收益{R.yuan(plan.pv_net)}的{s.pv_public_min_share * 100:.0f}%即{R.yuan(gap[0])}"
                               f"应用于公益岗位和村级公益事业，现仅安排{R.yuan(gap[1])}"))
    missing = R.left_out(plan, monitored)
    if missing:
        out.append(R.plan_flag(ctx, "MONITORED_LEFT_OUT", plan, R.left_out_message(len(missing))))
    equal = R.equal_cash(plan, len(households))
    if equal:
        out.append(R.plan_flag(ctx, "EQUAL_CASH", plan, R.equal_cash_message(equal)))
    n = R.open_objections(plan, d)
    if n:
        out.append(R.plan_flag(ctx, "OBJECTION_OPEN", plan, f"公示期已满，尚有{n}条异议未答复"))
    return out


def _problem_flags(ctx: Ctx, p: Problem) -> list[Flag]:
    if p.raised_on > ctx.as_of or not p.deadline < ctx.as_of:
        return []
    events = [(e.happened_on, e.id, e.to_status) for e in db.session.scalars(
        sa.select(ProblemEvent).where(ProblemEvent.problem_id == p.id))]
    status = R.problem_status_at(events, p.rectified_on, p.closed_on, ctx.as_of)
    return [] if status in R.DONE_PROBLEM else [R.problem_flag(ctx, p, status)]
