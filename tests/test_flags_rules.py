"""One test per flag rule (DOMAIN.md §11 and POLICY.md): the least case that fires it, the nearest case
that does not (the boundary), and that the as-of day is respected (what happened later does not change
an earlier day's list). Facts are written straight into the tables, dated as the case needs, the way an
import of old data would; the helpers below are shared with tests/test_flags_naive.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset, AssetStatusChange
from assetreg.custody.models import AssetCustody, AssetOperation
from assetreg.distribution.models import (
    STEP_ORDER,
    DistributionPlan,
    DistributionPolicy,
    PlanAllocation,
    PlanLine,
    PlanObjection,
    PlanStep,
)
from assetreg.extensions import db
from assetreg.flags import engine
from assetreg.flags.rules import RULES
from assetreg.income.models import AssetShare, ContractReturn, IncomeEntry, Settlement
from assetreg.lists.models import ArchiveDocument, Regulation, RegulationPlace, RequiredDocument
from assetreg.oversight.models import (
    Audit,
    DisposalApproval,
    DisposalRequest,
    Inspection,
    OversightSettings,
    Problem,
    ProblemEvent,
)
from assetreg.rights.models import FIVE_RIGHTS, AssetRight

from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1

D = date(2025, 6, 30)
DAY = timedelta(days=1)


# --- helpers (shared with test_flags_naive.py) -----------------------------------------------------

def fired(rule: str, as_of: date = D, scope: str = COUNTY) -> dict:
    """The flags of one rule: key → flag."""
    return {f.key: f for f in engine.evaluate(scope, as_of, rule_ids=[rule])}


def save(*rows):
    db.session.add_all(rows)
    db.session.commit()
    return rows[0] if len(rows) == 1 else rows


def make_asset(f, path, *, category="operating", subtype=None, place=VILLAGE_A1, completed_on=date(2019, 12, 1),
               name=None):
    """An asset registered in ``path[0]`` (status, day), then moved along the rest of ``path`` (each change
    dated and the asset's status kept in step, as change_status does)."""
    subtype = subtype or {"operating": "光伏电站", "public_welfare": "道路"}[category]
    status, on = path[0]
    over = {"name": name} if name else {}
    a = f.asset(category=category, subtype=subtype, place_code=place, status=status, status_on=on,
                completed_on=completed_on, managing_level="village" if len(place) == 12 else "town", **over)
    for status, on in path[1:]:
        move(a, status, on)
    return a


def move(a: Asset, status: str, on: date) -> None:
    a = db.session.get(Asset, a.id)
    db.session.add(AssetStatusChange(county_code=a.county_code, asset_id=a.id, from_status=a.status,
                                     to_status=status, changed_on=on))
    a.status, a.status_on = status, on
    db.session.commit()


def give_rights(a: Asset, kinds=tuple(FIVE_RIGHTS), *, on=date(2020, 1, 1), holder_kind="village_collective",
                ended_on=None):
    for kind in kinds:
        db.session.add(AssetRight(county_code=a.county_code, asset_id=a.id, kind=kind, holder_kind=holder_kind,
                                  holder_name="桃源村股份经济合作社", effective_on=on, ended_on=ended_on))
    db.session.commit()


def give_custody(a: Asset, **over) -> AssetCustody:
    data = dict(county_code=a.county_code, asset_id=a.id, custodian_unit="桃源村村民委员会", responsible_person="李四",
                annual_fund=Decimal("12000.00"), fund_source="村集体收益", term_from=date(2020, 1, 1),
                term_to=date(2030, 12, 31))
    data.update(over)
    return save(AssetCustody(**data))


def give_operation(a: Asset, **over) -> AssetOperation:
    data = dict(county_code=a.county_code, asset_id=a.id, mode="lease", operator_name="青溪绿源农业有限公司",
                contract_no="QX-2020-001", term_from=date(2020, 1, 1), term_to=date(2030, 12, 31),
                risk_rating="low", risk_assessed_on=date(2025, 1, 10))
    data.update(over)
    return save(AssetOperation(**data))


def post_income(a: Asset, amount: str, received_on: date, *, year=None, kind="rent", direction="income",
                month=None, quarter=None, reverses: IncomeEntry | None = None) -> IncomeEntry:
    return save(IncomeEntry(
        county_code=a.county_code, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
        direction=direction, kind=kind, period_year=year or received_on.year, period_month=month,
        period_quarter=quarter, received_on=received_on, amount=Decimal(amount),
        reverses_id=reverses.id if reverses else None, reason="冲销" if reverses else None))


def settle(place: str, year: int, settled_on: date, published_on: date | None):
    level = "village" if len(place) == 12 else "town"
    return save(Settlement(county_code=place[:6], town_code=place[:9], village_code=place if level == "village" else None,
                           place_code=place, level=level, year=year, gross=Decimal("0"), costs=Decimal("0"),
                           net=Decimal("0"), disposal=Decimal("0"), adjustments_net=Decimal("0"), last_entry_id=0,
                           lines=[], settled_on=settled_on, due_on=date(year + 1, 3, 31), published_on=published_on))


def make_plan(village=VILLAGE_A1, year=2024, *, pv_net="0", steps=(), allocations=(), created=None,
              status="draft") -> DistributionPlan:
    """A plan with ``steps`` [(kind, day, extra)] and ``allocations`` [(purpose, amount, use, lines)] where
    lines are [(household, amount, reason)]."""
    p = save(DistributionPlan(county_code=village[:6], town_code=village[:9], village_code=village, year=year,
                              settled_net=Decimal("100000.00"), pv_net=Decimal(pv_net), carry_over=Decimal("0"),
                              available=Decimal("100000.00"), status=status,
                              created_at=created or datetime(year + 1, 4, 1, tzinfo=UTC)))
    for i, (kind, on, extra) in enumerate(steps, start=1):
        db.session.add(PlanStep(county_code=p.county_code, plan_id=p.id, seq=i, kind=kind, done_on=on, **extra))
    for i, (purpose, amount, use, lines) in enumerate(allocations, start=1):
        a = PlanAllocation(county_code=p.county_code, plan_id=p.id, position=i, purpose=purpose,
                           amount=Decimal(amount), use=use)
        db.session.add(a)
        db.session.flush()
        for j, (h, amt, reason) in enumerate(lines, start=1):
            db.session.add(PlanLine(county_code=p.county_code, plan_id=p.id, allocation_id=a.id, position=j,
                                    household_id=h.id, person_name=h.head_name, amount=Decimal(amt), reason=reason))
    db.session.commit()
    return p


MEETING = {"members_due": 30, "members_present": 25, "members_in_favour": 20}


def full_steps(start: date, *, notice_days=10, meeting=MEETING, skip=(), upto="result_published"):
    """Every step of the procedure from ``start``, one a day, the notice ``notice_days`` long (inclusive)."""
    out, on = [], start
    for kind in STEP_ORDER[:STEP_ORDER.index(upto) + 1]:
        if kind in skip:
            continue
        extra = {}
        if kind in ("party_meeting", "representatives_meeting"):
            extra = dict(meeting)
        if kind == "notice":
            extra = {"notice_start_on": on, "notice_end_on": on + timedelta(days=notice_days - 1)}
            out.append((kind, on, extra))
            on = on + timedelta(days=notice_days)
            continue
        if kind == "payment":
            extra = {"payment_method": "一卡通"}
        out.append((kind, on, extra))
        on += DAY
    return out


# --- rights and handover ---------------------------------------------------------------------------

def test_rights_incomplete_fires_for_a_missing_right_and_respects_the_day(f, world, today):
    a = make_asset(f, [("handed_over", date(2020, 1, 1)), ("in_operation", date(2020, 3, 1))])
    give_rights(a, [k for k in FIVE_RIGHTS if k != "disposal"])
    flag = fired("RIGHTS_INCOMPLETE")[f"asset:{a.id}"]
    assert flag.severity == "error" and "缺处置权" in flag.message and a.code in flag.message
    assert flag.rule.basis == ("P03",)
    give_rights(a, ["disposal"], on=date(2025, 3, 1))  # recorded later, effective 1 March
    assert f"asset:{a.id}" in fired("RIGHTS_INCOMPLETE", date(2025, 2, 28))
    assert fired("RIGHTS_INCOMPLETE", date(2025, 3, 1)) == {}


def test_rights_incomplete_not_before_handover_and_a_right_ended_that_day_is_not_in_force(f, world, today):
    building = make_asset(f, [("under_construction", date(2024, 1, 1))])
    assert f"asset:{building.id}" not in fired("RIGHTS_INCOMPLETE")
    a = make_asset(f, [("handed_over", date(2020, 1, 1))])
    give_rights(a, [k for k in FIVE_RIGHTS if k != "income"])
    give_rights(a, ["income"], ended_on=D)  # ended on the day: not in force that day
    assert f"asset:{a.id}" in fired("RIGHTS_INCOMPLETE")
    assert f"asset:{a.id}" not in fired("RIGHTS_INCOMPLETE", D - DAY)


def test_rights_at_county_is_information(f, world, today):
    a = make_asset(f, [("in_operation", date(2020, 3, 1))])
    b = make_asset(f, [("in_operation", date(2020, 3, 1))])
    give_rights(a, ["ownership"], holder_kind="county_department")
    give_rights(b, ["ownership"], holder_kind="village_collective")
    flags = fired("RIGHTS_AT_COUNTY")
    assert set(flags) == {f"asset:{a.id}"} and flags[f"asset:{a.id}"].severity == "info"
    assert "所有权由县直部门持有" in flags[f"asset:{a.id}"].message


def test_rights_not_local_only_for_operating_assets(f, world, today):
    shop = make_asset(f, [("in_operation", date(2020, 3, 1))], subtype="扶贫车间")
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    ok = make_asset(f, [("in_operation", date(2020, 3, 1))])
    give_rights(shop, ["income"], holder_kind="town_government")
    give_rights(road, ["ownership", "income"], holder_kind="town_government")
    give_rights(ok, ["ownership", "income"], holder_kind="village_collective")
    flags = fired("RIGHTS_NOT_LOCAL")
    assert set(flags) == {f"asset:{shop.id}"} and "收益权" in flags[f"asset:{shop.id}"].message


def test_handover_late_from_the_day_after_31_march(f, world, today):
    a = make_asset(f, [("under_construction", date(2023, 5, 1)), ("completed", date(2024, 6, 30))],
                   completed_on=date(2024, 6, 30))
    assert fired("HANDOVER_LATE", date(2025, 3, 31)) == {}
    flag = fired("HANDOVER_LATE", date(2025, 4, 1))[f"asset:{a.id}"]
    assert "2025年3月31日前" in flag.message and flag.severity == "warning"
    move(a, "handed_over", date(2025, 5, 1))
    assert f"asset:{a.id}" in fired("HANDOVER_LATE", date(2025, 4, 30))  # the later handover changes nothing then
    assert fired("HANDOVER_LATE", date(2025, 5, 1)) == {}


def test_handover_deadline_is_a_county_setting(f, world, today):
    a = make_asset(f, [("completed", date(2024, 6, 30))], completed_on=date(2024, 6, 30))
    save(OversightSettings(county_code=COUNTY, handover_deadline_month=6, handover_deadline_day=30))
    assert fired("HANDOVER_LATE", date(2025, 6, 30)) == {}
    assert f"asset:{a.id}" in fired("HANDOVER_LATE", date(2025, 7, 1))


# --- custody and operation -----------------------------------------------------------------------------

def test_custody_missing_for_public_welfare_in_use(f, world, today):
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    idle = make_asset(f, [("in_use", date(2020, 3, 1)), ("idle", date(2024, 1, 1))], category="public_welfare")
    flag = fired("CUSTODY_MISSING")[f"asset:{road.id}"]
    assert flag.severity == "error" and "未明确管护主体" in flag.message and flag.rule.basis == ("P12", "P28")
    assert f"asset:{idle.id}" not in fired("CUSTODY_MISSING")
    give_custody(road, term_from=date(2025, 3, 1))
    assert f"asset:{road.id}" in fired("CUSTODY_MISSING", date(2025, 2, 28))
    assert f"asset:{road.id}" not in fired("CUSTODY_MISSING", date(2025, 3, 1))


def test_custody_missing_when_the_person_is_blank(f, world, today):
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    give_custody(road, responsible_person="  ")
    assert "管护责任人为空" in fired("CUSTODY_MISSING")[f"asset:{road.id}"].message


def test_custody_expired_yesterday_fires_today_does_not(f, world, today):
    ended_yesterday = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    ends_today = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    give_custody(ended_yesterday, term_to=D - DAY)
    give_custody(ends_today, term_to=D)
    flags = fired("CUSTODY_EXPIRED")
    assert set(flags) == {f"asset:{ended_yesterday.id}"}
    assert "2025年6月29日届满" in flags[f"asset:{ended_yesterday.id}"].message


def test_custody_expired_without_fund_and_a_later_renewal_keeps_the_past(f, world, today):
    no_fund = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    give_custody(no_fund, annual_fund=None)
    assert "未落实管护经费" in fired("CUSTODY_EXPIRED")[f"asset:{no_fund.id}"].message
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    give_custody(road, term_to=date(2024, 12, 31), replaced_at=datetime(2025, 5, 10, 2, tzinfo=UTC))
    give_custody(road, term_from=date(2025, 1, 1), term_to=date(2029, 12, 31))  # renewal recorded 10 May
    assert f"asset:{road.id}" in fired("CUSTODY_EXPIRED", date(2025, 3, 1))
    assert f"asset:{road.id}" in fired("CUSTODY_EXPIRED", date(2025, 5, 9))
    assert f"asset:{road.id}" not in fired("CUSTODY_EXPIRED", date(2025, 5, 10))  # a list shows the end of its day


def test_contract_expired_error_warning_and_quiet(f, world, today):
    cases = {"none": None, "yesterday": D - DAY, "today": D, "in_90": D + timedelta(days=90),
             "in_91": D + timedelta(days=91)}
    assets = {}
    for name, term_to in cases.items():
        a = make_asset(f, [("in_operation", date(2020, 3, 1))], subtype="扶贫车间")
        if term_to is not None:
            give_operation(a, term_to=term_to)
        assets[name] = a
    idle = make_asset(f, [("in_operation", date(2020, 3, 1)), ("idle", date(2024, 1, 1))])
    flags = fired("CONTRACT_EXPIRED")
    sev = {name: flags[f"asset:{a.id}"].severity for name, a in assets.items() if f"asset:{a.id}" in flags}
    assert sev == {"none": "error", "yesterday": "error", "today": "warning", "in_90": "warning"}
    assert f"asset:{idle.id}" not in flags
    assert "剩0天" in flags[f"asset:{assets['today'].id}"].message


def test_contract_expired_respects_the_day_and_the_county_window(f, world, today):
    a = make_asset(f, [("in_operation", date(2020, 3, 1))])
    give_operation(a, term_to=date(2024, 12, 31), replaced_at=datetime(2025, 2, 1, tzinfo=UTC))
    give_operation(a, term_from=date(2025, 1, 1), term_to=date(2027, 12, 31))
    assert fired("CONTRACT_EXPIRED", date(2025, 1, 20))[f"asset:{a.id}"].severity == "error"
    assert f"asset:{a.id}" not in fired("CONTRACT_EXPIRED", date(2025, 2, 2))
    save(OversightSettings(county_code=COUNTY, contract_warning_days=1100))
    assert fired("CONTRACT_EXPIRED", date(2025, 2, 2))[f"asset:{a.id}"].severity == "warning"


def test_risk_assessment_365_days_is_fine_366_fires(f, world, today):
    fresh = make_asset(f, [("in_operation", date(2020, 3, 1))])
    stale = make_asset(f, [("in_operation", date(2020, 3, 1))])
    never = make_asset(f, [("in_operation", date(2020, 3, 1))])
    give_operation(fresh, risk_assessed_on=D - timedelta(days=365))
    give_operation(stale, risk_assessed_on=D - timedelta(days=366))
    give_operation(never, risk_rating=None, risk_assessed_on=None)
    flags = fired("RISK_ASSESSMENT_MISSING")
    assert set(flags) == {f"asset:{stale.id}", f"asset:{never.id}"}
    assert flags[f"asset:{never.id}"].rule.basis == ("P32",)
    assert f"asset:{fresh.id}" in fired("RISK_ASSESSMENT_MISSING", D + DAY)


# --- income ---------------------------------------------------------------------------------------------

def test_no_income_for_two_years(f, world, today):
    last_on_cutoff = make_asset(f, [("in_operation", date(2020, 3, 1))])
    day_after = make_asset(f, [("in_operation", date(2020, 3, 1))])
    young = make_asset(f, [("in_operation", date(2024, 1, 1))])
    post_income(last_on_cutoff, "500.00", date(2023, 6, 30))
    post_income(day_after, "500.00", date(2023, 7, 1))
    flags = fired("NO_INCOME")
    assert set(flags) == {f"asset:{last_on_cutoff.id}"}
    assert "自2023年6月30日以来已2年无收益" in flags[f"asset:{last_on_cutoff.id}"].message
    assert f"asset:{young.id}" not in flags


def test_no_income_reversals_and_later_entries(f, world, today):
    a = make_asset(f, [("in_operation", date(2020, 3, 1))])
    e = post_income(a, "800.00", date(2024, 5, 1))
    assert fired("NO_INCOME") == {}
    post_income(a, "800.00", date(2025, 7, 2), reverses=e)  # reversed after the day
    assert fired("NO_INCOME") == {}
    assert f"asset:{a.id}" in fired("NO_INCOME", date(2025, 7, 2))
    b = make_asset(f, [("in_operation", date(2020, 3, 1))])
    post_income(b, "300.00", date(2025, 7, 5))  # received after the day
    assert f"asset:{b.id}" in fired("NO_INCOME")
    c = make_asset(f, [("in_operation", date(2020, 3, 1))])
    post_income(c, "300.00", date(2023, 1, 1))
    assert f"asset:{c.id}" in fired("NO_INCOME")
    save(OversightSettings(county_code=COUNTY, no_income_years=3))  # the county's N: three years back
    assert set(fired("NO_INCOME")) == {f"asset:{b.id}"}


def test_income_on_disposed_the_day_after(f, world, today):
    a = make_asset(f, [("in_operation", date(2020, 3, 1)), ("idle", date(2024, 6, 1)),
                       ("disposing", date(2024, 8, 1)), ("disposed", date(2024, 10, 1))])
    post_income(a, "900.00", date(2024, 10, 1))
    post_income(a, "5000.00", date(2024, 10, 2), kind="disposal")
    assert fired("INCOME_ON_DISPOSED") == {}
    post_income(a, "300.00", date(2024, 10, 2))
    flag = fired("INCOME_ON_DISPOSED")[f"asset:{a.id}"]
    assert flag.severity == "error" and "共300.00元" in flag.message
    assert fired("INCOME_ON_DISPOSED", date(2024, 10, 1)) == {}


def test_income_overdue_for_a_closed_period(f, world, today):
    a = make_asset(f, [("in_operation", date(2020, 3, 1))])
    save(ContractReturn(county_code=COUNTY, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
                        contract_no="HT-1", payer="承租人", kind="rent", basis="fixed", amount=Decimal("10000.00"),
                        period="year", start_on=date(2023, 1, 1), end_on=date(2027, 12, 31)))
    post_income(a, "10000.00", date(2023, 12, 20), year=2023)
    assert fired("INCOME_OVERDUE", date(2024, 12, 31)) == {}  # 2024 not over until its last day has passed
    flag = fired("INCOME_OVERDUE", date(2025, 1, 1))[f"asset:{a.id}"]
    assert "2024年租金" in flag.message and "10,000.00元" in flag.message
    post_income(a, "10000.00", date(2025, 7, 15), year=2024)  # paid after the day
    assert f"asset:{a.id}" in fired("INCOME_OVERDUE", D)
    assert fired("INCOME_OVERDUE", date(2025, 7, 15)) == {}


def test_income_overdue_judged_from_the_countys_start_of_records(f, world, today):
    """A contract older than the county's ledger: the years before its first period year are outside the
    records (not 应收未收); from that year on they are judged. With no entry at all, every year is."""
    a = make_asset(f, [("in_operation", date(2017, 3, 1))])
    save(ContractReturn(county_code=COUNTY, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
                        contract_no="HT-2017", payer="承租人", kind="rent", basis="fixed", amount=Decimal("10000.00"),
                        period="year", start_on=date(2017, 1, 1), end_on=date(2027, 12, 31)))
    flag = fired("INCOME_OVERDUE", date(2020, 1, 1))[f"asset:{a.id}"]  # nothing recorded yet: 2017-2019
    assert "2017年租金等3期" in flag.message and "30,000.00元" in flag.message
    other = make_asset(f, [("in_operation", date(2019, 3, 1))], place=VILLAGE_B1, subtype="扶贫车间")
    post_income(other, "500.00", date(2020, 2, 10), year=2020)  # the county's ledger starts with 2020
    for year in (2020, 2021, 2022, 2023, 2024):
        post_income(a, "10000.00", date(year, 12, 20), year=year)
    assert fired("INCOME_OVERDUE", date(2020, 2, 9))[f"asset:{a.id}"].message == flag.message
    assert fired("INCOME_OVERDUE", date(2020, 2, 10)) == {}  # 2017-2019 lie before the records
    assert fired("INCOME_OVERDUE") == {}
    post_income(other, "300.00", date(2020, 1, 20), year=2019)  # a 2019 entry: 2019 is in the records now
    flag = fired("INCOME_OVERDUE")[f"asset:{a.id}"]
    assert "2019年租金" in flag.message and "等" not in flag.message and "10,000.00元" in flag.message
    from . import flags_naive as naive

    for day in (date(2020, 1, 19), date(2020, 1, 20), date(2020, 2, 10), D):  # the naive evaluation agrees
        slow = [x.identity() for x in naive.evaluate_naive(COUNTY, day) if x.rule_id == "INCOME_OVERDUE"]
        assert [x.identity() for x in fired("INCOME_OVERDUE", day).values()] == slow, day


def test_settlement_late_after_31_march(f, world, today):
    a1 = make_asset(f, [("in_operation", date(2020, 3, 1))], place=VILLAGE_A1)
    a2 = make_asset(f, [("in_operation", date(2020, 3, 1))], place=VILLAGE_A2)
    b1 = make_asset(f, [("in_operation", date(2020, 3, 1))], place=VILLAGE_B1)
    for a in (a1, a2, b1):
        post_income(a, "1000.00", date(2024, 12, 20))
    settle(VILLAGE_A1, 2024, date(2025, 3, 20), date(2025, 3, 25))  # on time
    settle(VILLAGE_A2, 2024, date(2025, 3, 20), date(2025, 4, 2))  # published late
    assert fired("SETTLEMENT_LATE", date(2025, 3, 31)) == {}
    flags = fired("SETTLEMENT_LATE", date(2025, 4, 1))
    assert set(flags) == {f"village:{VILLAGE_A2}:2024", f"village:{VILLAGE_B1}:2024"}
    assert "未公示清算结果" in flags[f"village:{VILLAGE_A2}:2024"].message
    assert "至今未清算" in flags[f"village:{VILLAGE_B1}:2024"].message
    assert "逾期清算公示" in fired("SETTLEMENT_LATE", date(2025, 4, 2))[f"village:{VILLAGE_A2}:2024"].message
    settle(TOWN_B, 2024, date(2025, 3, 30), date(2025, 3, 31))  # the town settles for its villages
    assert f"village:{VILLAGE_B1}:2024" not in fired("SETTLEMENT_LATE", date(2025, 4, 1))


def test_settlement_late_counts_shared_income(f, world, today):
    station = make_asset(f, [("in_operation", date(2020, 3, 1))], place=TOWN_A)
    save(AssetShare(county_code=COUNTY, asset_id=station.id, village_code=VILLAGE_A2, weight=Decimal("1")))
    post_income(station, "1000.00", date(2024, 12, 20))
    assert set(fired("SETTLEMENT_LATE")) == {f"village:{VILLAGE_A2}:2024"}


def test_pv_income_low_is_information(f, world, today):
    low = make_asset(f, [("in_operation", date(2020, 3, 1))], place=VILLAGE_A1)
    enough = make_asset(f, [("in_operation", date(2020, 3, 1))], place=VILLAGE_A2)
    post_income(low, "49999.99", date(2024, 12, 20))
    post_income(enough, "50000.00", date(2024, 12, 20))
    flags = fired("PV_INCOME_LOW")
    assert set(flags) == {f"village:{VILLAGE_A1}:2024"} and flags[f"village:{VILLAGE_A1}:2024"].severity == "info"


# --- distribution plans ------------------------------------------------------------------------------------

def test_notice_short_nine_days_fires_ten_do_not(f, world, today):
    ten = make_plan(VILLAGE_A1, steps=full_steps(date(2025, 4, 1), notice_days=10))
    nine = make_plan(VILLAGE_A2, steps=full_steps(date(2025, 4, 1), notice_days=9))
    flags = fired("NOTICE_SHORT")
    assert set(flags) == {f"plan:{nine.id}"} and "公示9天，少于10天" in flags[f"plan:{nine.id}"].message
    assert f"plan:{ten.id}" not in flags
    save(DistributionPolicy(county_code=COUNTY, pv_public_min_share=Decimal("0.8"), forbidden_uses=[],
                            min_notice_days=11, complaint_phone="12317"))
    assert f"plan:{ten.id}" in fired("NOTICE_SHORT")


def test_notice_short_for_a_missing_step_and_only_once_paid(f, world, today):
    steps = full_steps(date(2025, 4, 1), skip=("county_filing",))
    p = make_plan(steps=steps)
    paid_on = next(on for kind, on, _ in steps if kind == "payment")
    assert "缺少程序：县级备案" in fired("NOTICE_SHORT")[f"plan:{p.id}"].message
    assert fired("NOTICE_SHORT", paid_on - DAY) == {}


def test_quorum_two_thirds_present_and_a_majority(f, world, today):
    ok = make_plan(VILLAGE_A1, steps=full_steps(date(2025, 4, 1), upto="representatives_meeting",
                                                meeting={"members_due": 30, "members_present": 20,
                                                         "members_in_favour": 11}))
    short = make_plan(VILLAGE_A2, steps=full_steps(date(2025, 4, 1), upto="representatives_meeting",
                                                   meeting={"members_due": 30, "members_present": 19,
                                                            "members_in_favour": 19}))
    split = make_plan(VILLAGE_B1, steps=full_steps(date(2025, 4, 1), upto="representatives_meeting",
                                                   meeting={"members_due": 30, "members_present": 20,
                                                            "members_in_favour": 10}))
    flags = fired("QUORUM_MISSING")
    assert set(flags) == {f"plan:{short.id}", f"plan:{split.id}"}
    assert "实到19人" in flags[f"plan:{short.id}"].message and f"plan:{ok.id}" not in flags
    assert fired("QUORUM_MISSING", date(2025, 4, 2)) == {}  # the meetings come on 3 and 4 April


def test_privacy_leak_in_a_plan_text(f, world, today):
    h = f.household(VILLAGE_A1)
    leak = make_plan(VILLAGE_A1, allocations=[("relief", "100.00", None, [(h, "100.00", f"身份证{h.head_id_number}")])])
    masked = make_plan(VILLAGE_A2, allocations=[("relief", "100.00", None, [(h, "100.00", "联系电话138****5678")])])
    card = make_plan(VILLAGE_B1, allocations=[("public_works", "100.00", "转账至6222021234567890123", [])])
    flags = fired("PRIVACY_LEAK")
    assert set(flags) == {f"plan:{leak.id}", f"plan:{card.id}"}
    assert "身份证号" in flags[f"plan:{leak.id}"].message and "银行卡号" in flags[f"plan:{card.id}"].message
    assert f"plan:{masked.id}" not in flags


def test_forbidden_use(f, world, today):
    bad = make_plan(VILLAGE_A1, allocations=[("public_works", "100.00", "发放村干部津贴 福利", [])])
    good = make_plan(VILLAGE_A2, allocations=[("public_works", "100.00", "村组道路维修", [])])
    flags = fired("FORBIDDEN_USE")
    assert set(flags) == {f"plan:{bad.id}"} and "津贴福利" in flags[f"plan:{bad.id}"].message
    assert f"plan:{good.id}" not in flags


def test_pv_share_low_at_the_fen(f, world, today):
    enough = make_plan(VILLAGE_A1, pv_net="10000.00", allocations=[("public_jobs", "5000.00", None, []),
                                                                   ("public_works", "3000.00", None, [])])
    short = make_plan(VILLAGE_A2, pv_net="10000.00", allocations=[("public_jobs", "7999.99", None, []),
                                                                  ("relief", "2000.01", None, [])])
    flags = fired("PV_SHARE_LOW")
    assert set(flags) == {f"plan:{short.id}"} and "即8,000.00元" in flags[f"plan:{short.id}"].message
    assert f"plan:{enough.id}" not in flags


def test_monitored_left_out(f, world, today):
    mon = f.household(VILLAGE_A1, status="monitored", monitor_type="unstable")
    poor = f.household(VILLAGE_A1, status="formerly_poor")
    left = make_plan(VILLAGE_A1, 2023, allocations=[("relief", "500.00", None, [(poor, "500.00", "帮扶")])])
    both = make_plan(VILLAGE_A1, 2024, allocations=[("relief", "500.00", None, [(poor, "250.00", "帮扶"),
                                                                               (mon, "250.00", "帮扶")])])
    flags = fired("MONITORED_LEFT_OUT")
    assert set(flags) == {f"plan:{left.id}"} and "1户监测户" in flags[f"plan:{left.id}"].message
    assert f"plan:{both.id}" not in flags
    mon.is_risk_cleared, mon.risk_cleared_on = True, date(2025, 5, 1)
    db.session.commit()
    assert f"plan:{left.id}" in fired("MONITORED_LEFT_OUT", date(2025, 4, 30))
    assert fired("MONITORED_LEFT_OUT", date(2025, 5, 1)) == {}


def test_equal_cash_to_every_household(f, world, today):
    hs = [f.household(VILLAGE_A1) for _ in range(3)]
    equal = make_plan(VILLAGE_A1, 2023, allocations=[("awards", "300.01", None, [(h, a, "奖励") for h, a in
                                                                                 zip(hs, ["100.01", "100.00", "100.00"], strict=True)])])
    graded = make_plan(VILLAGE_A1, 2024, allocations=[("awards", "300.00", None, [(h, a, "奖励") for h, a in
                                                                                  zip(hs, ["150.00", "100.00", "50.00"], strict=True)])])
    flags = fired("EQUAL_CASH")
    assert set(flags) == {f"plan:{equal.id}"} and "奖励补助" in flags[f"plan:{equal.id}"].message
    assert f"plan:{graded.id}" not in flags


def test_objection_open_after_the_notice(f, world, today):
    steps = full_steps(date(2025, 6, 1), upto="notice")  # notice 8–17 June (the earlier steps one a day)
    p = make_plan(steps=steps, status="in_notice")
    end = steps[-1][2]["notice_end_on"]
    save(PlanObjection(county_code=COUNTY, plan_id=p.id, raised_on=end - DAY, content="分配不公"))
    assert fired("OBJECTION_OPEN", end) == {}
    assert "1条异议未答复" in fired("OBJECTION_OPEN", end + DAY)[f"plan:{p.id}"].message
    o = db.session.scalars(sa.select(PlanObjection)).one()
    o.answer, o.answered_on = "已核实并答复", end + 2 * DAY
    db.session.commit()
    assert f"plan:{p.id}" in fired("OBJECTION_OPEN", end + DAY)
    assert fired("OBJECTION_OPEN", end + 2 * DAY) == {}


def test_a_plan_made_later_is_not_on_an_earlier_list(f, world, today):
    make_plan(allocations=[("public_works", "100.00", "发放津贴福利", [])], created=datetime(2025, 5, 1, tzinfo=UTC))
    assert fired("FORBIDDEN_USE", date(2025, 4, 30)) == {}
    assert len(fired("FORBIDDEN_USE", date(2025, 5, 1))) == 1


# --- oversight ----------------------------------------------------------------------------------------------

def test_audit_missing_counts_from_handover(f, world, today):
    old = make_asset(f, [("handed_over", date(2024, 12, 31)), ("in_operation", date(2025, 1, 10))])
    new = make_asset(f, [("handed_over", date(2025, 1, 1))])
    road = make_asset(f, [("in_use", date(2020, 1, 1))], category="public_welfare")
    flags = fired("AUDIT_MISSING")
    assert set(flags) == {f"asset:{old.id}:2024"} and "缺少2024年度审计" in flags[f"asset:{old.id}:2024"].message
    assert f"asset:{new.id}:2024" not in flags and not any(str(road.id) in k for k in flags)
    save(Audit(county_code=COUNTY, town_code=old.town_code, village_code=old.village_code, asset_id=old.id,
               year=2024, auditor="青溪县审计局", audited_on=date(2025, 5, 1), conclusion="pass"))
    assert f"asset:{old.id}:2024" in fired("AUDIT_MISSING", date(2025, 4, 30))
    assert fired("AUDIT_MISSING") == {}


def test_inspection_missing_for_the_last_closed_quarter(f, world, today):
    save(Inspection(county_code=COUNTY, town_code=TOWN_A, year=2025, quarter=1, inspected_on=date(2025, 3, 28),
                    inspector="县乡村振兴局督查组"))
    assert set(fired("INSPECTION_MISSING")) == {f"town:{TOWN_B}:2025Q1"}
    assert set(fired("INSPECTION_MISSING", date(2025, 7, 1))) == {f"town:{TOWN_A}:2025Q2", f"town:{TOWN_B}:2025Q2"}
    assert set(fired("INSPECTION_MISSING", date(2025, 3, 31))) == {f"town:{TOWN_A}:2024Q4", f"town:{TOWN_B}:2024Q4"}
    assert fired("INSPECTION_MISSING", scope=VILLAGE_A1) == {}


def _problem(deadline: date, events=(), **over) -> Problem:
    p = save(Problem(county_code=COUNTY, town_code=TOWN_A, village_code=VILLAGE_A1, source="complaint",
                     description="公益岗位人员未按时到岗", responsible_unit="桃源村村民委员会", responsible_person="王五",
                     raised_on=date(2025, 5, 1), deadline=deadline, status=events[-1][0] if events else "pending",
                     **over))
    for status, on in [("pending", date(2025, 5, 1)), *events]:
        db.session.add(ProblemEvent(county_code=COUNTY, problem_id=p.id, to_status=status, happened_on=on))
    db.session.commit()
    return p


def test_rectification_overdue(f, world, today):
    late = _problem(D - DAY)
    due_today = _problem(D)
    done = _problem(D - DAY, [("in_progress", date(2025, 6, 1)), ("rectified", D - 2 * DAY)])
    done_later = _problem(D - DAY, [("in_progress", date(2025, 6, 1)), ("rectified", D + DAY)])
    flags = fired("RECTIFICATION_OVERDUE")
    assert set(flags) == {f"problem:{late.id}", f"problem:{done_later.id}"}
    assert "仍为整改中" in flags[f"problem:{done_later.id}"].message and f"problem:{due_today.id}" not in flags
    assert f"problem:{done.id}" not in flags
    assert f"problem:{done_later.id}" not in fired("RECTIFICATION_OVERDUE", D + DAY)


def test_rectification_overdue_of_old_data_without_events(f, world, today):
    p = save(Problem(county_code=COUNTY, town_code=TOWN_A, village_code=None, source="audit",
                     description="台账不全", responsible_unit="城关镇财政所", responsible_person="赵六",
                     raised_on=date(2024, 1, 1), deadline=date(2024, 3, 1), status="rectified",
                     rectified_on=date(2024, 5, 1)))
    assert f"problem:{p.id}" in fired("RECTIFICATION_OVERDUE", date(2024, 4, 30))
    assert fired("RECTIFICATION_OVERDUE", date(2024, 5, 1)) == {}


def _disposal(a: Asset, executed_on: date, approvals) -> DisposalRequest:
    r = save(DisposalRequest(county_code=COUNTY, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
                             grounds="disaster", method="scrap", requested_on=executed_on - timedelta(days=60),
                             approval_order=["town_government", "county_rural_revitalisation", "county_finance"],
                             status="executed", executed_on=executed_on))
    for i, (approver, on) in enumerate(approvals, start=1):
        db.session.add(DisposalApproval(county_code=COUNTY, request_id=r.id, seq=i, approver=approver,
                                        decision="approved", decided_on=on))
    db.session.commit()
    return r


def test_disposal_unapproved(f, world, today):
    path = [("in_operation", date(2020, 3, 1)), ("disposing", date(2024, 3, 1)), ("scrapped", date(2024, 6, 1))]
    full = make_asset(f, path)
    partial = make_asset(f, path)
    late = make_asset(f, path)
    bare = make_asset(f, path)
    on = date(2024, 5, 1)
    _disposal(full, date(2024, 6, 1), [("town_government", on), ("county_rural_revitalisation", on),
                                       ("county_finance", on)])
    r2 = _disposal(partial, date(2024, 6, 1), [("town_government", on), ("county_rural_revitalisation", on)])
    r3 = _disposal(late, date(2024, 6, 1), [("town_government", on), ("county_rural_revitalisation", on),
                                            ("county_finance", date(2024, 6, 2))])
    flags = fired("DISPOSAL_UNAPPROVED")
    assert set(flags) == {f"disposal:{r2.id}", f"disposal:{r3.id}", f"asset:{bare.id}"}
    assert "缺少县财政局的审批" in flags[f"disposal:{r2.id}"].message
    assert "无处置申请和审批记录" in flags[f"asset:{bare.id}"].message
    assert fired("DISPOSAL_UNAPPROVED", date(2024, 5, 31)) == {}


# --- lists ---------------------------------------------------------------------------------------------------

def _regulation(issuer: str, categories, *, effective=date(2021, 1, 1), repealed=None, places=()):
    for category in categories:
        r = save(Regulation(county_code=COUNTY, town_code=issuer[:9] if len(issuer) > 6 else None,
                            village_code=issuer if len(issuer) == 12 else None, issuer_code=issuer,
                            level={6: "county", 9: "town", 12: "village"}[len(issuer)], title=f"{category}管理办法",
                            category=category, effective_on=effective, repealed_on=repealed))
        for p in places:
            db.session.add(RegulationPlace(county_code=COUNTY, regulation_id=r.id, place_code=p))
        db.session.commit()


def test_systems_missing_by_place(f, world, today):
    _regulation(COUNTY, ["market", "risk", "distribution", "depreciation"])
    _regulation(TOWN_A, ["disposal"])
    _regulation(COUNTY, ["disposal"], places=[VILLAGE_B1])
    flags = fired("SYSTEMS_MISSING")
    assert set(flags) == {f"town:{TOWN_B}"} and "缺少资产处置制度" in flags[f"town:{TOWN_B}"].message
    _regulation(TOWN_A, ["market"], effective=date(2020, 1, 1), repealed=D)  # repealed that day: not in force
    assert set(fired("SYSTEMS_MISSING", date(2020, 6, 1))) == {f"town:{TOWN_A}", f"village:{VILLAGE_A1}",
                                                               f"village:{VILLAGE_A2}", f"town:{TOWN_B}",
                                                               f"village:{VILLAGE_B1}"}
    assert set(fired("SYSTEMS_MISSING", scope=VILLAGE_A1)) == set()


def test_archive_incomplete_for_the_status(f, world, today):
    a = make_asset(f, [("in_operation", date(2020, 3, 1))])
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    save(RequiredDocument(county_code=COUNTY, status="in_operation", category="operating", kind="operation_contract"),
         RequiredDocument(county_code=COUNTY, status="in_operation", category=None, kind="handover"))
    flags = fired("ARCHIVE_INCOMPLETE")
    assert set(flags) == {f"asset:{a.id}"} and "缺移交书、经营合同" in flags[f"asset:{a.id}"].message
    for kind, on in (("handover", date(2020, 3, 1)), ("operation_contract", D + DAY)):
        save(ArchiveDocument(county_code=COUNTY, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
                             level="village", kind=kind, archive_no=f"TY-{kind}", title=kind, filed_on=on))
    assert "缺经营合同" in fired("ARCHIVE_INCOMPLETE")[f"asset:{a.id}"].message
    assert fired("ARCHIVE_INCOMPLETE", D + DAY) == {}
    assert not any(str(road.id) in k for k in flags)


# --- the catalogue ------------------------------------------------------------------------------------------

def test_every_rule_of_domain_section_11_is_in_the_catalogue():
    table = ["CUSTODY_MISSING", "CUSTODY_EXPIRED", "AUDIT_MISSING", "RIGHTS_INCOMPLETE", "HANDOVER_LATE",
             "SETTLEMENT_LATE", "NO_INCOME", "NOTICE_SHORT", "DISPOSAL_UNAPPROVED", "CONTRACT_EXPIRED",
             "INCOME_OVERDUE", "INCOME_ON_DISPOSED", "ARCHIVE_INCOMPLETE", "SYSTEMS_MISSING", "PRIVACY_LEAK",
             "FORBIDDEN_USE", "PV_SHARE_LOW", "QUORUM_MISSING", "RECTIFICATION_OVERDUE", "INSPECTION_MISSING"]
    assert set(table) <= set(RULES)
    for r in RULES.values():
        assert r.severity in ("error", "warning", "info") and r.basis and r.title and r.doc
        assert all(b.startswith("P") and len(b) == 3 for b in r.basis)


@pytest.mark.parametrize("scope", [COUNTY, TOWN_A, VILLAGE_A1])
def test_an_empty_county_has_only_place_flags(world, scope, today):
    rules = {f.rule_id for f in engine.evaluate(scope, D)}
    assert rules <= {"SYSTEMS_MISSING", "INSPECTION_MISSING"}
