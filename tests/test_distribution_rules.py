"""Pure distribution rules: fill helpers exact to the fen (hypothesis), plan checks, quorum, notice
days, warnings. No database."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetreg.distribution import rules
from assetreg.distribution.models import JOB_POSTS
from assetreg.distribution.rules import HouseholdFacts, JobFacts, Tier

D = Decimal
cents = st.integers(min_value=0, max_value=10**11).map(lambda c: D(c) / 100)
positive_cents = st.integers(min_value=1, max_value=10**11).map(lambda c: D(c) / 100)
weights = st.lists(st.integers(min_value=0, max_value=10**6).map(D) | st.decimals(
    min_value=0, max_value=10**4, places=4, allow_nan=False, allow_infinity=False), min_size=1, max_size=60)
statuses = st.sampled_from(["formerly_poor", "monitored", "ordinary"])
labours = st.sampled_from(["full", "half", "weak", "none"])


# --- exact totals (hypothesis) -------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(total=cents, n=st.integers(min_value=1, max_value=500))
def test_equal_split_adds_up_exactly_and_differs_by_at_most_a_fen(total, n):
    parts = rules.split_equal(total, n)
    assert len(parts) == n
    assert sum(parts) == total
    assert all(p == p.quantize(D("0.01")) and p >= 0 for p in parts)
    assert max(parts) - min(parts) <= D("0.01")


@settings(max_examples=300, deadline=None)
@given(total=cents, ws=weights)
def test_weighted_split_adds_up_exactly_and_is_proportional_to_the_fen(total, ws):
    if sum(ws) == 0:
        with pytest.raises(ValueError):
            rules.split_by_weights(total, ws)
        return
    parts = rules.split_by_weights(total, ws)
    assert sum(parts) == total
    for p, w in zip(parts, ws, strict=True):
        exact = total * w / sum(ws)
        assert abs(p - exact) < D("0.01")
        if w == 0:
            assert p == 0


tier_tables = st.lists(st.builds(Tier, amount=cents, status=st.none() | statuses,
                                 min_size=st.none() | st.integers(1, 5), max_size=st.none() | st.integers(3, 9),
                                 labour=st.none() | labours), min_size=1, max_size=8)
household_lists = st.lists(st.builds(HouseholdFacts, household_id=st.integers(1, 10**6), person_name=st.just("某"),
                                     status=statuses, size=st.integers(1, 10), labour=labours),
                           min_size=1, max_size=80, unique_by=lambda h: h.household_id)


@settings(max_examples=300, deadline=None)
@given(hs=household_lists, tiers=tier_tables, total=positive_cents)
def test_tier_fill_is_exact_scaled_or_not(hs, tiers, total):
    fixed = rules.fill_by_tiers(hs, tiers, None)
    scaled = rules.fill_by_tiers(hs, tiers, total)
    # Without a total: every matched household gets its row's amount; the table total is their sum.
    assert sum((li["amount"] for li in fixed.lines), D(0)) == fixed.table_total
    for li in fixed.lines:
        h = next(h for h in hs if h.household_id == li["household_id"])
        first = next(t for t in tiers if t.matches(h))
        assert li["amount"] == first.amount > 0
    # With a total: the same households, the allocation split exactly by the table's proportions.
    assert [li["household_id"] for li in scaled.lines] == [li["household_id"] for li in fixed.lines]
    if scaled.lines:
        assert sum(li["amount"] for li in scaled.lines) == total
        for li, lf in zip(scaled.lines, fixed.lines, strict=True):
            assert abs(li["amount"] - total * lf["amount"] / fixed.table_total) < D("0.01")
    matched = {li["household_id"] for li in fixed.lines}
    assert set(fixed.unmatched) | matched <= {h.household_id for h in hs}
    assert not set(fixed.unmatched) & matched


jobs = st.lists(st.builds(JobFacts, job_id=st.integers(1, 10**6), household_id=st.integers(1, 20),
                          person_name=st.sampled_from(["甲", "乙"]), post=st.sampled_from(JOB_POSTS),
                          monthly_wage=positive_cents.filter(lambda w: w < 100000), months=st.integers(0, 12)),
                max_size=40, unique_by=lambda j: j.job_id)


@settings(max_examples=300, deadline=None)
@given(js=jobs)
def test_wage_lines_are_months_times_wage_exactly_one_line_per_household(js):
    lines = rules.wage_lines(js)
    assert sum((li["amount"] for li in lines), D(0)) == sum((j.monthly_wage * j.months for j in js), D(0))
    ids = [li["household_id"] for li in lines]
    assert len(ids) == len(set(ids))
    for li in lines:
        mine = [j for j in js if j.household_id == li["household_id"] and j.months > 0]
        assert li["amount"] == sum(j.monthly_wage * j.months for j in mine)
        if li["months"] is not None:
            assert li["amount"] == li["monthly_wage"] * li["months"]


def test_wage_line_reason_reads_months_times_wage():
    [li] = rules.wage_lines([JobFacts(7, 1, "张三", "道路维护员", D("800.00"), 6)])
    assert li == {"household_id": 1, "person_name": "张三", "amount": D("4800.00"), "reason": "道路维护员 6个月×800.00元",
                  "months": 6, "monthly_wage": D("800.00"), "job_id": 7}


def test_tier_fill_examples():
    hs = [HouseholdFacts(1, "甲", "monitored", 4, "weak"), HouseholdFacts(2, "乙", "formerly_poor", 2, "full"),
          HouseholdFacts(3, "丙", "ordinary", 3, "full"), HouseholdFacts(4, "丁", "monitored", 1, "none")]
    table = [Tier(D("1500.00"), status="monitored", min_size=3), Tier(D("1000.00"), status="monitored"),
             Tier(D("600.00"), status="formerly_poor"), Tier(D("0.00"), status="ordinary")]
    fixed = rules.fill_by_tiers(hs, table, None)
    assert [(li["household_id"], li["amount"]) for li in fixed.lines] == [
        (1, D("1500.00")), (2, D("600.00")), (4, D("1000.00"))]  # ordinary: amount 0 → no line
    assert fixed.table_total == D("3100.00") and fixed.unmatched == []
    scaled = rules.fill_by_tiers(hs, table, D("1000.00"))
    assert [li["amount"] for li in scaled.lines] == [D("483.87"), D("193.55"), D("322.58")]
    assert sum(li["amount"] for li in scaled.lines) == D("1000.00")
    assert rules.fill_by_tiers(hs, [Tier(D("5.00"), status="ordinary")], None).unmatched == [1, 2, 4]
    assert "监测户·3人以上" in fixed.lines[0]["reason"]


@pytest.mark.parametrize("labours, expected", [
    ([], "none"), (["none"], "none"), (["weak", "none"], "weak"), (["half", "weak"], "half"),
    (["none", "full", "weak"], "full"),
])
def test_household_labour_is_the_strongest_members(labours, expected):
    assert rules.household_labour(labours) == expected


@pytest.mark.parametrize("year, term_from, term_to, months", [
    (2024, date(2024, 1, 1), None, set(range(1, 13))),
    (2024, date(2024, 3, 15), date(2024, 8, 2), {3, 4, 5, 6, 7, 8}),
    (2024, date(2023, 6, 1), date(2024, 2, 29), {1, 2}),
    (2024, date(2025, 1, 1), None, set()),
    (2024, date(2024, 12, 31), None, {12}),
])
def test_months_in_term(year, term_from, term_to, months):
    assert rules.months_in_term(year, term_from, term_to) == months


# --- plan checks ---------------------------------------------------------------------------------

def alloc(purpose, amount, lines=(), use=None):
    return {"purpose": purpose, "amount": D(amount), "use": use,
            "lines": [{"household_id": h, "amount": D(a)} for h, a in lines]}


VILLAGE = {1, 2, 3}


@pytest.mark.parametrize("allocations, expected", [
    ([alloc("public_works", "600"), alloc("relief", "400", [(1, "100"), (2, "300")])], set()),
    ([alloc("relief", "400")], set()),  # lines come later (a draft)
    ([alloc("public_works", "600"), alloc("carry", "400.01")], {"allocations.1.amount"}),
    ([alloc("public_works", "1000.01")], {"allocations.0.amount"}),
    ([alloc("relief", "400", [(1, "100"), (2, "299.99")])], {"allocations.0.lines"}),
    ([alloc("relief", "400", [(1, "100"), (1, "300")])], {"allocations.0.lines.1.household_id"}),
    ([alloc("relief", "400", [(1, "400"), (9, "0")])], {"allocations.0.lines.1.household_id",
                                                      "allocations.0.lines.1.amount"}),
    ([alloc("public_works", "400", [(1, "400")])], {"allocations.0.lines"}),
    ([alloc("relief", "0")], {"allocations.0.amount"}),
    ([alloc("relief", "1.005")], {"allocations.0.amount"}),
    ([alloc("relief", "100"), alloc("relief", "100")], {"allocations.1.purpose"}),
])
def test_allocation_errors_name_the_allocation_and_line(allocations, expected):
    assert set(rules.allocation_errors(allocations, D("1000.00"), VILLAGE)) == expected


def test_allocation_errors_months_wage_and_jobs():
    a = alloc("public_jobs", "4800", [(1, "4800")])
    a["lines"][0].update(months=6, monthly_wage=D("800.00"), job_id=5)
    assert rules.allocation_errors([a], D("9999"), VILLAGE, {5: 1}) == {}
    assert set(rules.allocation_errors([a], D("9999"), VILLAGE, {5: 2})) == {"allocations.0.lines.0.job_id"}
    a["lines"][0]["months"] = 5
    errors = rules.allocation_errors([a], D("9999"), VILLAGE, {5: 1})
    assert errors == {"allocations.0.lines.0.amount": ["应为 5个月×800.00元 = 4000.00 元"]}


@pytest.mark.parametrize("use, hit", [
    ("村组道路维修", None), ("发放村干部津贴福利", "津贴福利"), ("偿还 债务", "偿还债务"), (None, None), ("", None),
])
def test_forbidden_use_is_a_substring_match(use, hit):
    from assetreg.distribution.models import DEFAULT_FORBIDDEN_USES

    assert rules.forbidden_match(use, DEFAULT_FORBIDDEN_USES) == hit


def test_missing_lines_before_the_town_review():
    assert rules.missing_lines([alloc("public_works", "5"), alloc("awards", "5")]) == {
        "allocations.1.lines": ["“奖励补助”尚未分配到户"]}


# --- procedure -----------------------------------------------------------------------------------

@pytest.mark.parametrize("due, present, in_favour, fields", [
    (30, 20, 11, set()),             # exactly two thirds present; 11 of 20 is a majority
    (30, 19, 19, {"members_present"}),
    (30, 20, 10, {"members_in_favour"}),  # half is not a majority
    (30, 19, 9, {"members_present", "members_in_favour"}),
    (3, 2, 2, set()),
    (1, 1, 1, set()),
])
def test_quorum(due, present, in_favour, fields):
    assert set(rules.quorum_errors(due, present, in_favour)) == fields


@pytest.mark.parametrize("counts, field", [
    ((None, 5, 5), "members_due"), ((0, 0, 0), "members_due"), ((5, 6, 5), "members_present"),
    ((5, 5, 6), "members_in_favour"),
])
def test_meeting_counts_are_consistent(counts, field):
    assert field in rules.meeting_count_errors(*counts)


@pytest.mark.parametrize("start, end, min_days, ok", [
    (date(2025, 3, 1), date(2025, 3, 10), 10, True),   # 1 to 10 March is 10 days
    (date(2025, 3, 1), date(2025, 3, 9), 10, False),
    (date(2025, 2, 20), date(2025, 3, 1), 10, True),   # across the end of February
    (date(2025, 3, 1), date(2025, 3, 14), 15, False),
    (date(2025, 3, 10), date(2025, 3, 1), 1, False),
])
def test_notice_days_are_counted_inclusive(start, end, min_days, ok):
    assert (rules.notice_errors(start, end, min_days) == {}) is ok
    assert rules.notice_days(date(2025, 3, 1), date(2025, 3, 10)) == 10


def test_notice_is_over_only_after_its_last_day():
    assert not rules.notice_over(date(2025, 3, 10), date(2025, 3, 10))
    assert rules.notice_over(date(2025, 3, 10), date(2025, 3, 11))


def test_steps_come_in_one_order():
    assert rules.next_step([]) == "proposal"
    assert rules.next_step(["proposal", "consultation"]) == "party_meeting"
    from assetreg.distribution.models import STEP_ORDER

    assert rules.next_step(list(STEP_ORDER)) is None


# --- warnings ------------------------------------------------------------------------------------

def test_pv_share_warning():
    allocations = [alloc("public_jobs", "5000"), alloc("public_works", "2999.99"), alloc("relief", "2000")]
    w = rules.pv_share_warning(D("10000.00"), D("0.80"), allocations)
    assert w["code"] == "PV_SHARE_LOW" and w["basis"] == "P23" and "8000.00" in w["message"]
    allocations[1]["amount"] = D("3000.00")
    assert rules.pv_share_warning(D("10000.00"), D("0.80"), allocations) is None
    assert rules.pv_share_warning(D("0.00"), D("0.80"), []) is None


def test_equal_cash_warning_needs_every_household_and_equal_amounts():
    equal = alloc("relief", "300", [(1, "100"), (2, "100"), (3, "100")])
    assert [w["code"] for w in rules.equal_cash_warnings([equal], 3)] == ["EQUAL_CASH"]
    assert rules.equal_cash_warnings([alloc("relief", "300.01", [(1, "100.01"), (2, "100"), (3, "100")])], 3)
    assert rules.equal_cash_warnings([equal], 4) == []  # not every household
    assert rules.equal_cash_warnings([alloc("relief", "300", [(1, "150"), (2, "100"), (3, "50")])], 3) == []
    assert rules.equal_cash_warnings([alloc("public_jobs", "300", [(1, "100"), (2, "100"), (3, "100")])], 3) == []


def test_monitored_left_out_warning():
    paid = [alloc("relief", "200", [(1, "100"), (2, "100")])]
    w = rules.monitored_left_out_warning(paid, {3})
    assert w["code"] == "MONITORED_LEFT_OUT" and w["basis"] == "P31"
    assert rules.monitored_left_out_warning(paid, {2}) is None  # the monitored household gets its share
    assert rules.monitored_left_out_warning([alloc("relief", "100", [(3, "100")])], {3}) is None
    assert rules.monitored_left_out_warning([alloc("public_works", "100")], {3}) is None  # nobody gets cash


def test_job_priority_warning():
    ordinary = HouseholdFacts(1, "甲", "ordinary", 3, "full")
    assert rules.job_priority_warning(ordinary, "full", 2)["code"] == "JOB_PRIORITY"
    assert rules.job_priority_warning(ordinary, "full", 0) is None
    assert rules.job_priority_warning(ordinary, "weak", 2) is None
    assert rules.job_priority_warning(HouseholdFacts(1, "甲", "monitored", 3, "full"), "full", 2) is None
