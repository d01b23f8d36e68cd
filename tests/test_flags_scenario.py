"""A county where every flag rule fires at least once (one small case per rule, built with the helpers of
tests/test_flags_rules.py), and where the set-based engine and the naive evaluation agree on every day
and scope, acknowledgements included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from assetreg.distribution.models import PlanObjection
from assetreg.extensions import db
from assetreg.flags import engine
from assetreg.flags.rules import RULES
from assetreg.income.models import ContractReturn
from assetreg.lists.models import RequiredDocument
from assetreg.oversight.models import Inspection

from . import flags_naive as naive
from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .test_flags_rules import (
    D,
    _disposal,
    _problem,
    _regulation,
    full_steps,
    give_custody,
    give_operation,
    give_rights,
    make_asset,
    make_plan,
    post_income,
    save,
)


def build_every_rule(f) -> None:
    """One case for each rule of the catalogue, spread over the county's towns and villages."""
    held = [("handed_over", date(2020, 1, 1)), ("in_operation", date(2020, 3, 1))]
    make_asset(f, held, name="无五权的光伏电站")  # RIGHTS_INCOMPLETE, CONTRACT_EXPIRED, NO_INCOME, AUDIT_MISSING
    county_held = make_asset(f, held, place=VILLAGE_B1, subtype="扶贫车间")
    give_rights(county_held, holder_kind="county_department")  # RIGHTS_AT_COUNTY, RIGHTS_NOT_LOCAL
    give_operation(county_held, risk_assessed_on=date(2023, 1, 1))  # RISK_ASSESSMENT_MISSING
    make_asset(f, [("completed", date(2023, 11, 1))], completed_on=date(2023, 11, 1), place=VILLAGE_A2)  # HANDOVER
    make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")  # CUSTODY_MISSING
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare", place=VILLAGE_A2)
    give_custody(road, term_to=D - timedelta(days=1))  # CUSTODY_EXPIRED
    gone = make_asset(f, [("in_operation", date(2020, 3, 1)), ("disposing", date(2024, 3, 1)),
                          ("disposed", date(2024, 6, 1))], place=VILLAGE_B1)
    post_income(gone, "400.00", date(2024, 7, 1))  # INCOME_ON_DISPOSED, DISPOSAL_UNAPPROVED (no request)
    scrapped = make_asset(f, [("in_operation", date(2020, 3, 1)), ("disposing", date(2024, 3, 1)),
                              ("scrapped", date(2024, 6, 1))], place=VILLAGE_A2)
    _disposal(scrapped, date(2024, 6, 1), [("town_government", date(2024, 5, 1))])  # DISPOSAL_UNAPPROVED
    leased = make_asset(f, held, subtype="冷库仓储", place=VILLAGE_A2)
    save(ContractReturn(county_code=COUNTY, town_code=leased.town_code, village_code=leased.village_code,
                        asset_id=leased.id, kind="rent", basis="fixed", amount=Decimal("8000.00"), period="year",
                        start_on=date(2024, 1, 1), end_on=date(2028, 12, 31)))  # INCOME_OVERDUE
    pv = make_asset(f, held, place=VILLAGE_A1)
    post_income(pv, "20000.00", date(2024, 12, 20))  # PV_INCOME_LOW, SETTLEMENT_LATE
    hs = [f.household(VILLAGE_A1, status="monitored", monitor_type="marginal"), f.household(VILLAGE_A1),
          f.household(VILLAGE_A1)]
    make_plan(VILLAGE_A1, 2020, steps=full_steps(date(2021, 4, 1), notice_days=7))  # NOTICE_SHORT
    make_plan(VILLAGE_A1, 2021, steps=full_steps(date(2022, 4, 1), upto="party_meeting",
                                                 meeting={"members_due": 40, "members_present": 20,
                                                          "members_in_favour": 20}))  # QUORUM_MISSING
    make_plan(VILLAGE_A1, 2022, pv_net="30000.00", allocations=[
        ("public_jobs", "1000.00", None, [(hs[1], "1000.00", f"电话{'13812345678'}")]),  # PRIVACY_LEAK
        ("public_works", "2000.00", "弥补亏损", []),  # FORBIDDEN_USE; PV_SHARE_LOW
        ("awards", "300.00", None, [(h, "100.00", "奖励") for h in hs]),  # EQUAL_CASH
    ])
    make_plan(VILLAGE_A1, 2023, allocations=[("relief", "500.00", None, [(hs[2], "500.00", "帮扶")])])  # MONITORED
    steps = full_steps(date(2025, 5, 1), upto="notice")
    p = make_plan(VILLAGE_A2, 2024, steps=steps, status="in_notice")
    save(PlanObjection(county_code=COUNTY, plan_id=p.id, raised_on=date(2025, 5, 9), content="异议"))  # OBJECTION
    save(Inspection(county_code=COUNTY, town_code=TOWN_A, year=2025, quarter=1, inspected_on=date(2025, 3, 20),
                    inspector="督查组"))  # INSPECTION_MISSING for town B only
    _problem(D - timedelta(days=3))  # RECTIFICATION_OVERDUE
    _regulation(COUNTY, ["market", "risk", "distribution", "depreciation", "disposal"], places=[TOWN_A])
    save(RequiredDocument(county_code=COUNTY, status="in_operation", category="operating", kind="handover"))


@pytest.fixture
def every_rule(f, world, today):
    build_every_rule(f)
    return world


def test_every_rule_fires_in_the_scenario(every_rule):
    fired = {f.rule_id for f in engine.evaluate(COUNTY, D)}
    assert fired == set(RULES), set(RULES) - fired


@pytest.mark.parametrize("scope", [COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1])
@pytest.mark.parametrize("day", [D, date(2025, 4, 1), date(2025, 3, 31), date(2024, 6, 30), date(2022, 4, 5)])
def test_engine_equals_naive_in_the_scenario(every_rule, scope, day):
    fast = engine.evaluate(scope, day)
    slow = naive.evaluate_naive(scope, day)
    assert [f.identity() for f in fast] == [f.identity() for f in slow]


def test_a_fix_after_the_day_leaves_that_days_list_alone(every_rule):
    day = date(2025, 4, 10)
    before = [f.identity() for f in engine.evaluate(COUNTY, day)]
    assert {"INSPECTION_MISSING", "CUSTODY_MISSING"} <= {f[0] for f in before}
    build_every_rule_fixes()
    assert [f.identity() for f in engine.evaluate(COUNTY, day)] == before
    now = {f.rule_id for f in engine.evaluate(COUNTY, D)}
    assert not now & {"INSPECTION_MISSING", "RECTIFICATION_OVERDUE", "CUSTODY_EXPIRED"}


def build_every_rule_fixes() -> None:
    """Repairs dated after 31 March 2025: a custody renewed, inspections done, a problem rectified."""
    import sqlalchemy as sa

    from assetreg.custody.models import AssetCustody
    from assetreg.oversight.models import Problem, ProblemEvent

    for c in db.session.scalars(sa.select(AssetCustody)):
        c.replaced_at = datetime(2025, 6, 1, tzinfo=UTC)
        db.session.add(AssetCustody(county_code=c.county_code, asset_id=c.asset_id, custodian_unit=c.custodian_unit,
                                    responsible_person=c.responsible_person, annual_fund=Decimal("1000.00"),
                                    term_from=date(2025, 6, 1), term_to=date(2030, 12, 31)))
    save(Inspection(county_code=COUNTY, town_code=TOWN_B, year=2025, quarter=1, inspected_on=date(2025, 4, 20),
                    inspector="督查组"))
    for p in db.session.scalars(sa.select(Problem)):
        db.session.add(ProblemEvent(county_code=COUNTY, problem_id=p.id, to_status="rectified",
                                    happened_on=date(2025, 6, 2)))
    db.session.commit()
