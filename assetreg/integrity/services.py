"""``verify``: recompute every chain of a county from its rows, every settlement (and its split among
villages) from the ledger, and every plan's totals from its lines; list what differs. Reads only, never
writes: the command line (``flask verify``) or a page may call it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from ..core.chained import CHAINS, ChainHead
from ..core.money import ZERO
from ..distribution.models import DistributionPlan, PlanAllocation, PlanLine
from ..extensions import db
from ..income.models import Settlement, SettlementPart
from ..income.services import income_by_year
from ..places.models import Place
from . import rules
from .rules import Difference


@dataclass
class Verification:
    county_code: str
    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)  # chain → (last position, hash)

    @property
    def ok(self) -> bool:
        return not self.differences


def counties() -> list[str]:
    """Every county with places or chained rows."""
    codes = set(db.session.scalars(sa.select(Place.county_code).where(Place.level == "county")))
    codes.update(db.session.scalars(sa.select(ChainHead.county_code)))
    for model in CHAINS.values():
        codes.update(db.session.scalars(sa.select(model.county_code).distinct()))
    return sorted(codes)


def verify(county_code: str, *, place_code: str | None = None) -> Verification:
    """Check one county (its chains whole; settlements and plans under ``place_code`` when given)."""
    result = Verification(county_code)
    for chain in sorted(CHAINS):
        _check_chain(result, chain)
    _check_settlements(result, place_code)
    _check_plans(result, place_code)
    return result


def _under(column, place_code: str | None):
    return column.startswith(place_code) if place_code else sa.true()


def _check_chain(result: Verification, chain: str) -> None:
    model = CHAINS[chain]
    t = model.__table__
    cols = [t.c.id, t.c.chain_seq, t.c.prev_hash, t.c.row_hash, *(t.c[f] for f in model.__chain_fields__
                                                                   if f not in ("id",))]
    q = sa.select(*cols).where(t.c.county_code == result.county_code).order_by(t.c.chain_seq, t.c.id)
    rows = []
    for row in db.session.execute(q.execution_options(yield_per=2000)):
        rows.append(rules.ChainRow(row.id, row.chain_seq, row.prev_hash, row.row_hash,
                                   model.compute_hash_of(row, row.chain_seq, row.prev_hash)))
    head = db.session.execute(sa.select(ChainHead.seq, ChainHead.head_hash).where(
        ChainHead.county_code == result.county_code, ChainHead.chain == chain)).first()
    result.checked[chain] += len(rows)
    result.heads[chain] = (rows[-1].seq, rows[-1].stored_hash) if rows else (0, "")
    result.differences.extend(rules.chain_differences(chain, rows, tuple(head) if head else None,
                                                      result.county_code))


def _check_settlements(result: Verification, place_code: str | None) -> None:
    settlements = db.session.scalars(sa.select(Settlement).where(
        Settlement.county_code == result.county_code, _under(Settlement.place_code, place_code))
        .order_by(Settlement.id)).all()
    parts = defaultdict(list)
    for p in db.session.scalars(sa.select(SettlementPart).where(
            SettlementPart.county_code == result.county_code,
            SettlementPart.settlement_id.in_([s.id for s in settlements])).order_by(SettlementPart.id)):
        parts[p.settlement_id].append(p)
    for s in settlements:
        result.checked["settlements"] += 1
        (figures,) = income_by_year(s.county_code, place_code=s.place_code, years=[s.year], lines=True,
                                    through_entry_id=s.last_entry_id)
        stored = {k: getattr(s, k) for k in rules.FIGURES}
        why = rules.figure_differences(stored, figures)
        why += rules.line_differences(s.lines, figures.get("lines"))
        adjustments = sum((a.part for a in s.adjustments if not a.is_disposal), ZERO)
        if adjustments != s.adjustments_net:
            why.append(f"以前年度调整合计记为 {s.adjustments_net}，按所列调整应为 {adjustments}")
        if why:
            result.differences.append(Difference("settlements", s.id, "；".join(why)))
        if s.level == "town":
            _check_parts(result, s, parts[s.id], figures.get("parts") or [])


def _check_parts(result: Verification, s: Settlement, stored: list[SettlementPart], computed: list[dict]) -> None:
    """A town settlement's part per village against the split of the ledger by the shares' weights."""
    by_village = {p["village_code"]: p for p in computed}
    for p in stored:
        result.checked["settlement_parts"] += 1
        c = by_village.pop(p.village_code, None)
        if c is None:
            result.differences.append(Difference("settlement_parts", p.id, f"{p.village_code or '乡镇自有'}在收益明细中没有部分"))
            continue
        why = rules.figure_differences({k: getattr(p, k) for k in rules.FIGURES}, c)
        if why:
            result.differences.append(Difference("settlement_parts", p.id, "；".join(why)))
    for v in sorted(by_village, key=lambda k: k or ""):
        result.differences.append(Difference("settlements", s.id, f"缺少{v or '乡镇自有'}的分村部分"))


def _settlement_net(plan: DistributionPlan, settlements: dict[int, Settlement]) -> Decimal | None:
    s = settlements.get(plan.settlement_id) if plan.settlement_id else None
    if s is None:
        return None
    if s.level == "village":
        return s.net
    part = db.session.scalar(sa.select(SettlementPart.net).where(SettlementPart.settlement_id == s.id,
                                                                 SettlementPart.village_code == plan.village_code))
    return part if part is not None else ZERO


def _check_plans(result: Verification, place_code: str | None) -> None:
    plans = db.session.scalars(sa.select(DistributionPlan).where(
        DistributionPlan.county_code == result.county_code, _under(DistributionPlan.village_code, place_code))
        .order_by(DistributionPlan.id)).all()
    if not plans:
        return
    ids = [p.id for p in plans]
    allocations = defaultdict(list)
    for a in db.session.scalars(sa.select(PlanAllocation).where(PlanAllocation.plan_id.in_(ids))
                                .order_by(PlanAllocation.position)):
        allocations[a.plan_id].append(a)
    lines = defaultdict(list)
    for li in db.session.execute(sa.select(PlanLine.id, PlanLine.allocation_id, PlanLine.amount, PlanLine.months,
                                           PlanLine.monthly_wage)
                                 .where(PlanLine.county_code == result.county_code, PlanLine.plan_id.in_(ids))
                                 .order_by(PlanLine.position)):
        lines[li.allocation_id].append(rules.LineFacts(li.id, li.amount, li.months, li.monthly_wage))
    settlement_ids = {p.settlement_id for p in plans if p.settlement_id}
    settlements = {s.id: s for s in db.session.scalars(sa.select(Settlement).where(
        Settlement.id.in_(sorted(settlement_ids))))} if settlement_ids else {}
    for plan in plans:
        result.checked["distribution_plans"] += 1
        allocated = ZERO
        for a in allocations[plan.id]:
            result.checked["plan_allocations"] += 1
            result.checked["plan_lines"] += len(lines[a.id])
            allocated += a.amount
            result.differences.extend(rules.allocation_differences(a.id, a.amount, lines[a.id]))
        result.differences.extend(rules.plan_differences(
            plan.id, available=plan.available, settled_net=plan.settled_net, carry_over=plan.carry_over,
            settlement_net=_settlement_net(plan, settlements), allocated=allocated))
