"""The demo county's years (assetreg/demo/yearly.py): the ledger reconciles to the fen with every
settlement, shared stations split exactly, plans stay within what is available with lines adding up,
plans in every status of the procedure, the deliberate problems, idempotency and determinism.

The demo is loaded once for the module, with the clock frozen at 2025-06-30 (services refuse future
dates), in a transaction rolled back at the end (tests/db_support.py ``shared_transaction``); each test
runs in a SAVEPOINT of it. The determinism test empties the tables the yearly stage writes and runs
that stage again on the same registry.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.changelog.models import ChangeLogEntry
from assetreg.core import time as clock
from assetreg.demo.loader import AS_OF, COUNTY_CODE, load_demo
from assetreg.demo.yearly import PROBLEM_LABELS, load_yearly, scan_yearly
from assetreg.distribution import rules as dist_rules
from assetreg.distribution.models import (
    LINE_PURPOSES,
    STATUSES,
    STEP_ORDER,
    STEP_STATUS,
    DistributionPlan,
    DistributionPolicy,
    JobAttendance,
    PlanAllocation,
    PlanLine,
    PlanObjection,
    PlanStep,
    PublicJob,
)
from assetreg.extensions import db
from assetreg.households.models import Household, HouseholdMember
from assetreg.income import rules as income_rules
from assetreg.income.models import (
    AssetShare,
    ContractReturn,
    IncomeEntry,
    Settlement,
    SettlementAdjustment,
    SettlementPart,
)
from assetreg.income.services import dues_for
from assetreg.places.models import Place

from .db_support import delete_all, shared_transaction

SEED = 20240607
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# What the yearly stage writes (emptied and rewritten by the determinism test).
YEARLY_TABLES = {m.__tablename__ for m in (
    IncomeEntry, AssetShare, ContractReturn, Settlement, SettlementPart, SettlementAdjustment, DistributionPolicy,
    DistributionPlan, PlanAllocation, PlanLine, PlanStep, PlanObjection, PublicJob, JobAttendance)}


def _wipe(only: set[str] | None = None):
    db.session.remove()
    delete_all(db.session.connection(), only)  # the ledger's append-only guards lifted meanwhile
    db.session.commit()


def _table_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in db.metadata.sorted_tables}


def _signed(e: IncomeEntry) -> Decimal:
    return income_rules.signed_effect(e.direction, e.amount, e.reverses_id is not None)


def _yearly_digest() -> str:
    """A fingerprint of everything the yearly stage decides, by natural keys (ids differ between runs)."""
    s = db.session
    code = dict(s.execute(sa.select(Asset.id, Asset.code)).all())
    number = dict(s.execute(sa.select(Household.id, Household.number)).all())
    h = hashlib.sha256()

    def add(*rows):
        for row in rows:
            h.update(repr(row).encode())

    entries = s.scalars(sa.select(IncomeEntry).order_by(IncomeEntry.id)).all()
    position = {e.id: i for i, e in enumerate(entries)}
    add(*[(code[e.asset_id], e.direction, e.kind, e.period_year, e.period_month, e.period_quarter, e.received_on,
           e.amount, e.payer, e.voucher_no, e.note, position.get(e.reverses_id), e.reason, e.is_adjustment,
           e.adjustment_on) for e in entries])
    add(*sorted((code[r.asset_id], r.village_code, r.weight, r.basis) for r in s.scalars(sa.select(AssetShare))))
    add(*sorted((code[c.asset_id], c.kind, c.basis, c.principal, c.annual_rate_percent, c.amount, c.period,
                 c.start_on, c.end_on) for c in s.scalars(sa.select(ContractReturn))))
    add(*sorted((st.place_code, st.year, st.gross, st.costs, st.net, st.disposal, st.adjustments_net, st.settled_on,
                 st.published_on) for st in s.scalars(sa.select(Settlement))))
    jobs = {j.id: (j.village_code, j.post, number[j.household_id], j.person_name, j.monthly_wage, j.term_from,
                   j.term_to, j.pay_cycle) for j in s.scalars(sa.select(PublicJob))}
    add(*sorted(jobs.values()))
    add(*sorted((jobs[a.job_id], a.year, a.month, a.days_worked, a.attended)
                for a in s.scalars(sa.select(JobAttendance))))
    for p in s.scalars(sa.select(DistributionPlan).order_by(DistributionPlan.village_code, DistributionPlan.year)):
        add((p.village_code, p.year, p.status, p.settled_net, p.pv_net, p.carry_over, p.available))
        for a in p.allocations:
            add((a.purpose, a.amount, a.use), *[(number[li.household_id], li.person_name, li.amount, li.reason,
                                                 li.months, li.monthly_wage, jobs.get(li.job_id)) for li in a.lines])
        add(*[(st.kind, st.done_on, st.minutes, st.members_due, st.members_present, st.members_in_favour,
               st.notice_start_on, st.notice_end_on, st.payment_method) for st in p.steps])
        add(*[(o.raised_on, o.raised_by, o.content, o.answer, o.answered_on) for o in p.objections])
    return h.hexdigest()


@pytest.fixture(scope="module")
def demo(app):
    with app.app_context(), shared_transaction():
        clock.freeze(datetime(2025, 6, 30, 4, 0, tzinfo=UTC))
        try:
            result = load_demo(SEED, oversight=False)  # this stage alone (oversight.py: tests/test_demo.py)
            db.session.commit()
            yield SimpleNamespace(result=result, digest=_yearly_digest())
        finally:
            clock.freeze(None)


# --- the ledger and the settlements -------------------------------------------------------------

def test_every_village_year_reconciles_to_the_fen(demo):
    """Each settlement line is its asset's entries (net of reversals) as the settlement saw them; the
    village's part of a shared asset is its largest-remainder split; the parts add up to the settled net."""
    shares = defaultdict(list)
    for r in db.session.scalars(sa.select(AssetShare).where(AssetShare.replaced_at.is_(None))):
        shares[r.asset_id].append(income_rules.Share(r.village_code, r.weight))
    entries = defaultdict(list)
    for e in db.session.scalars(sa.select(IncomeEntry)):
        entries[(e.asset_id, e.period_year)].append(e)
    settlements = db.session.scalars(sa.select(Settlement).where(Settlement.level == "village")).all()
    assert len(settlements) >= 100
    for st in settlements:
        total = gross = ZERO
        for line in st.lines:
            seen = [e for e in entries[(line["asset_id"], st.year)] if e.id <= st.last_entry_id]
            net = sum((_signed(e) for e in seen if e.kind != "disposal"), ZERO)
            income = sum((_signed(e) for e in seen if e.direction == "income" and e.kind != "disposal"), ZERO)
            assert Decimal(line["net"]) == net and Decimal(line["gross"]) == income, (st.place_code, st.year, line)
            if line["is_shared"]:
                part = income_rules.split_among(net, shares[line["asset_id"]])[st.village_code]
            else:
                part = net
            assert Decimal(line["part"]) == part
            total += part
            gross += Decimal(line["gross_part"])
        assert total == st.net and gross == st.gross and st.gross - st.costs == st.net
        # nothing of the village's own assets is left out of the settlement
        own = {a for (a, y) in entries if y == st.year} & set(db.session.scalars(sa.select(Asset.id).where(
            Asset.village_code == st.village_code, Asset.id.not_in(list(shares)))))
        assert own <= {line["asset_id"] for line in st.lines}


def test_a_village_year_with_a_shared_station_and_a_reversal(demo):
    """At least one settled village year holds its own station (with a corrected voucher), a share of
    another village's station and a completed plan: the figures the closing note reports."""
    reversed_ids = set(db.session.scalars(sa.select(IncomeEntry.reverses_id).where(IncomeEntry.reverses_id.is_not(None))))
    found = []
    for st in db.session.scalars(sa.select(Settlement).where(Settlement.level == "village")):
        shared = [ln for ln in st.lines if ln["is_shared"]]
        own = [ln for ln in st.lines if not ln["is_shared"]]
        with_reversal = db.session.scalar(sa.select(sa.func.count()).where(
            IncomeEntry.village_code == st.village_code, IncomeEntry.period_year == st.year,
            IncomeEntry.id.in_(reversed_ids)))
        plan = db.session.scalar(sa.select(DistributionPlan).where(DistributionPlan.village_code == st.village_code,
                                                                   DistributionPlan.year == st.year))
        if shared and own and with_reversal and plan is not None and plan.status == "completed":
            found.append((st, plan))
    assert found
    st, plan = found[0]
    assert plan.settled_net == st.net and plan.available == st.net + plan.carry_over
    assert plan.allocated == plan.available  # carry-over takes what is left


def test_shared_stations_split_their_net_exactly(demo):
    shares = defaultdict(list)
    for r in db.session.scalars(sa.select(AssetShare).where(AssetShare.replaced_at.is_(None))):
        shares[r.asset_id].append(r)
    assert 1 <= len(shares) <= 3
    parts = defaultdict(dict)  # (asset, year) -> village -> part
    seen_up_to = defaultdict(set)  # (asset, year) -> the last entry id each settlement saw
    for st in db.session.scalars(sa.select(Settlement).where(Settlement.level == "village")):
        for line in st.lines:
            if line["is_shared"]:
                parts[(line["asset_id"], st.year)][st.village_code] = Decimal(line["part"])
                seen_up_to[(line["asset_id"], st.year)].add(st.last_entry_id)
    for asset_id, rows in shares.items():
        asset = db.session.get(Asset, asset_id)
        assert asset.subtype == "光伏电站" and 2 <= len(rows) <= 3
        assert asset.village_code in {r.village_code for r in rows}
        assert sum(r.weight for r in rows) == asset.quantity  # by capacity: the kW add up to the station
        assert all(r.village_code[:9] == asset.town_code and "千瓦" in r.basis for r in rows)
        for year in range(2020, 2024):  # every sharing village settled these years
            seen = parts[(asset_id, year)]
            assert set(seen) == {r.village_code for r in rows}
            # Each settlement saw the same entries of the station (a later adjustment is none of them).
            last = seen_up_to[(asset_id, year)]
            entries = db.session.scalars(sa.select(IncomeEntry).where(
                IncomeEntry.asset_id == asset_id, IncomeEntry.period_year == year)).all()
            assert len({sum(1 for e in entries if e.id <= i) for i in last}) == 1
            net = sum((_signed(e) for e in entries if e.kind != "disposal" and e.id <= min(last)), ZERO)
            assert sum(seen.values()) == net > 0


def test_income_is_realistic_and_dated_in_the_past(demo):
    entries = db.session.scalars(sa.select(IncomeEntry)).all()
    assert len(entries) >= 1500
    assert all(e.received_on <= AS_OF and e.amount > 0 and e.amount == e.amount.quantize(CENT) for e in entries)
    kinds = Counter((e.direction, e.kind) for e in entries)
    for k in (("income", "electricity"), ("income", "tariff_subsidy"), ("income", "rent"), ("income", "dividend"),
              ("deduction", "maintenance"), ("deduction", "insurance"), ("deduction", "custody")):
        assert kinds[k] > 0, k
    # electricity monthly, at 0.39 yuan/kWh, ~1,100 kWh per kW a year; the subsidy arrives the next year
    capacity = dict(db.session.execute(sa.select(Asset.id, Asset.quantity).where(Asset.subtype == "光伏电站")).all())
    yearly = defaultdict(Decimal)
    for e in entries:
        if e.kind == "electricity" and e.reverses_id is None:
            assert e.period_month is not None and (e.received_on.year, e.received_on.month) > (e.period_year, e.period_month)
            yearly[(e.asset_id, e.period_year)] += e.amount
        if e.kind == "tariff_subsidy":
            assert e.period_month is None and e.received_on.year == e.period_year + 1
    full = [(a, y) for (a, y) in yearly if 2020 <= y <= 2024 and db.session.scalar(sa.select(sa.func.count()).where(
        IncomeEntry.asset_id == a, IncomeEntry.period_year == y, IncomeEntry.kind == "electricity",
        IncomeEntry.reverses_id.is_(None))) == 12]
    assert len(full) >= 40
    for a, y in full:
        kwh_per_kw = yearly[(a, y)] / Decimal("0.39") / capacity[a]
        assert 950 <= kwh_per_kw <= 1250, (a, y, kwh_per_kw)
    assert {e.period_year for e in entries} == {2020, 2021, 2022, 2023, 2024, 2025}
    assert max((e.period_month or 0) for e in entries if e.period_year == 2025) == 5


def test_reversals_and_adjustments(demo):
    reversals = db.session.scalars(sa.select(IncomeEntry).where(IncomeEntry.reverses_id.is_not(None))).all()
    assert 3 <= len(reversals) <= 6
    for r in reversals:
        original = db.session.get(IncomeEntry, r.reverses_id)
        assert r.reason and ("冲销" in r.reason)
        assert (r.asset_id, r.kind, r.amount, r.period_year, r.period_month) == (
            original.asset_id, original.kind, original.amount, original.period_year, original.period_month)
        assert original.received_on <= r.received_on
    adjustments = db.session.scalars(sa.select(IncomeEntry).where(IncomeEntry.is_adjustment.is_(True))).all()
    assert adjustments
    for adj in adjustments:  # a late subsidy for a settled year: listed by the next year's settlements
        listed = db.session.scalars(sa.select(SettlementAdjustment).where(SettlementAdjustment.entry_id == adj.id)).all()
        assert listed and {a.settlement.year for a in listed} == {adj.period_year + 1}
        assert all(a.settlement.adjustments_net == a.part for a in listed if a.settlement.level == "village")


def test_settlements_on_time_and_the_late_ones(demo):
    villages = set(db.session.scalars(sa.select(Place.code).where(Place.level == "village")))
    rows = db.session.scalars(sa.select(Settlement).where(Settlement.level == "village")).all()
    by_year = defaultdict(dict)
    for st in rows:
        by_year[st.year][st.village_code] = st
    for year in range(2020, 2024):
        assert set(by_year[year]) == villages
        assert all(st.settled_on <= st.published_on <= date(year + 1, 3, 31) for st in by_year[year].values())
    late = [st for st in by_year[2024].values() if st.is_late]
    missing = villages - set(by_year[2024])
    assert len(missing) == 3 and len(late) == 3 and len(by_year[2024]) == len(villages) - 3
    expected = sorted([f"{c} 2024 未清算" for c in missing] + [f"{st.village_code} 2024 逾期" for st in late])
    assert demo.result.placed["SETTLEMENT_LATE"] == expected
    towns = db.session.scalars(sa.select(Settlement).where(Settlement.level == "town")).all()
    for st in towns:  # a town's parts add up to its settled totals
        assert sum((p.net for p in st.parts), Decimal("0.00")) == st.net


def test_contracts_and_what_is_overdue(demo):
    contracts = db.session.scalars(sa.select(ContractReturn)).all()
    assert {c.basis for c in contracts} == {"rate", "fixed"} and {c.kind for c in contracts} == {"rent", "dividend"}
    overdue = []
    for asset_id in sorted({c.asset_id for c in contracts}):
        for year in range(2020, 2026):
            for line in dues_for(COUNTY_CODE, asset_id, year, today=AS_OF)["lines"]:
                if line["is_closed"]:
                    assert line["received"] >= line["due"] or line["is_overdue"]
                if line["is_overdue"]:
                    overdue.append((asset_id, year, line["outstanding"] == line["due"]))
    assert len(overdue) == 2 and all(whole for _, _, whole in overdue)  # one period each, nothing received
    assert any(db.session.get(Asset, a).subtype == "入股资产" for a, _, _ in overdue)


# --- jobs and plans ------------------------------------------------------------------------------

def test_public_welfare_jobs(demo):
    jobs = db.session.scalars(sa.select(PublicJob)).all()
    villages = {j.village_code for j in jobs}
    assert len(villages) >= 15
    assert {"道路维护员", "保洁员", "护林防火员", "光伏电站管护员"} <= {j.post for j in jobs}
    for j in jobs:
        h = db.session.get(Household, j.household_id)
        assert h.village_code == j.village_code and h.status in ("formerly_poor", "monitored")
        member = db.session.scalar(sa.select(HouseholdMember).where(HouseholdMember.household_id == h.id,
                                                                    HouseholdMember.name == j.person_name))
        assert member is not None and member.labour != "none"
        assert Decimal(300) <= j.monthly_wage <= Decimal(1000)
        months = [(a.year, a.month) for a in j.attendance]
        assert months and max(months) <= (2025, 5)
        assert all(a.month in dist_rules.months_in_term(a.year, j.term_from, j.term_to) for a in j.attendance)
        assert sum(1 for a in j.attendance if a.attended) >= len(months) * 0.8


def test_plans_stay_within_what_is_available_and_lines_add_up(demo):
    plans = db.session.scalars(sa.select(DistributionPlan)).all()
    assert len(plans) >= 80
    for p in plans:
        st = db.session.scalar(sa.select(Settlement).where(Settlement.place_code == p.village_code,
                                                           Settlement.year == p.year))
        assert st is not None and p.settled_net == st.net and p.settlement_id == st.id
        assert p.available == p.settled_net + p.carry_over and p.allocated <= p.available
        for a in p.allocations:
            if a.purpose not in LINE_PURPOSES:
                assert not a.lines
            elif p.status != "draft":
                assert a.lines and sum((li.amount for li in a.lines), Decimal("0.00")) == a.amount, (p.id, a.purpose)
            for li in a.lines:
                assert li.amount > 0 and li.amount == li.amount.quantize(CENT)
                if li.months is not None:
                    assert li.monthly_wage * li.months == li.amount and li.job_id is not None
        # carry-over: last year's 结转 once that plan was approved
        prev = db.session.scalar(sa.select(DistributionPlan).where(DistributionPlan.village_code == p.village_code,
                                                                   DistributionPlan.year == p.year - 1))
        carry = next((a.amount for a in prev.allocations if a.purpose == "carry"), Decimal("0.00")) \
            if prev is not None and prev.status in ("approved", "filed", "paid", "completed") else Decimal("0.00")
        assert p.carry_over == carry
    assert sum(1 for p in plans if p.carry_over > 0) >= 20
    purposes = Counter(a.purpose for p in plans for a in p.allocations)
    assert purposes["public_jobs"] >= 40 and purposes["relief"] >= 60 and purposes["awards"] >= 30


def test_plans_in_every_status_with_the_procedure_in_order(demo):
    plans = db.session.scalars(sa.select(DistributionPlan)).all()
    assert {p.status for p in plans} == set(STATUSES)
    assert {p.year for p in plans} == {2020, 2021, 2022, 2023, 2024}
    for p in plans:
        kinds = [s.kind for s in p.steps]
        assert kinds == list(STEP_ORDER[:len(kinds)])
        assert p.status == (STEP_STATUS[kinds[-1]] if kinds else "draft")
        dates = [s.done_on for s in p.steps]
        assert dates == sorted(dates) and all(d <= AS_OF for d in dates)
        if dates:
            assert dates[0] > db.session.get(Settlement, p.settlement_id).settled_on
        for s in p.steps:
            if s.kind in ("party_meeting", "representatives_meeting"):
                assert dist_rules.quorum_errors(s.members_due, s.members_present, s.members_in_favour) == {}
            if s.kind == "notice":
                assert dist_rules.notice_days(s.notice_start_on, s.notice_end_on) >= 10
            if s.kind == "approval":
                assert s.done_on > p.step("notice").notice_end_on
                assert all(o.answered_on is not None and o.answered_on <= s.done_on for o in p.objections)
            if s.kind == "payment":
                assert s.payment_method in ("一卡通", "银行转账")
    by_year = Counter(p.year for p in plans if p.status == "completed")
    assert all(by_year[y] >= 10 for y in (2020, 2021, 2022, 2023))
    # a plan still in its notice on 30 June 2025, one of them with an objection nobody has answered
    in_notice = [p for p in plans if p.status == "in_notice"]
    assert all(p.step("notice").notice_start_on <= AS_OF <= p.step("notice").notice_end_on for p in in_notice)
    assert sum(1 for p in in_notice for o in p.objections if o.is_open) == 1
    assert any(o.answered_on for p in plans if p.status == "completed" for o in p.objections)


def test_the_deliberate_problems_are_there_and_nothing_else(demo):
    placed = demo.result.placed
    assert set(placed) == set(PROBLEM_LABELS)
    assert all(placed[k] for k in PROBLEM_LABELS), placed
    assert scan_yearly(COUNTY_CODE, AS_OF) == placed  # the clean plans raise no warning
    assert demo.result.yearly.problems == placed
    report = demo.result.report()
    for key, items in placed.items():
        assert f"{key:<18} " in report and f": {len(items)}  " in report
    assert "NOTICE_SHORT" in report and "公示中" in report


def test_every_write_is_in_the_change_log(demo):
    def logged(entity, *actions):
        q = sa.select(sa.func.count()).where(ChangeLogEntry.entity == entity)
        if actions:
            q = q.where(ChangeLogEntry.action.in_(actions))
        return db.session.scalar(q)

    def rows(model, *where):
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    assert logged("income_entry") == rows(IncomeEntry)
    assert logged("income_entry", "reverse") == rows(IncomeEntry, IncomeEntry.reverses_id.is_not(None))
    assert logged("settlement", "settle") == rows(Settlement)
    assert logged("contract_return") == rows(ContractReturn)
    assert logged("asset_shares") == db.session.scalar(sa.select(sa.func.count(sa.distinct(AssetShare.asset_id))))
    assert logged("distribution_plan", "create") == rows(DistributionPlan)
    assert logged("distribution_plan", *[f"step:{k}" for k in STEP_ORDER]) == rows(PlanStep)
    assert logged("public_job", "create") == rows(PublicJob)
    assert logged("plan_objection", "create") == rows(PlanObjection)
    assert logged("distribution_policy") == 1


# --- idempotency and determinism -----------------------------------------------------------------

def test_second_run_adds_nothing(demo):
    before = _table_counts()
    again = load_demo(SEED)
    db.session.commit()
    after = _table_counts()
    assert after.pop("api_tokens") == before.pop("api_tokens") + 4
    assert after == before
    assert not again.created and again.yearly.counts == demo.result.yearly.counts
    assert again.yearly.problems == demo.result.placed
    assert _yearly_digest() == demo.digest


def test_same_seed_gives_the_same_years(demo):
    """Run the yearly stage again on the same registry: the same ledger, settlements, jobs and plans."""
    _wipe(YEARLY_TABLES)
    clock.freeze(datetime(2025, 6, 30, 4, 0, tzinfo=UTC))
    placed = load_yearly(SEED, COUNTY_CODE, AS_OF)
    db.session.commit()
    assert placed == demo.result.placed
    assert _yearly_digest() == demo.digest
