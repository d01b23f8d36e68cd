"""Pure rules of the ledger: months in force, fixed-return dues, lump-sum spreads, matching receipts."""

from datetime import date
from decimal import Decimal

import pytest

from assetreg.income import rules

D = Decimal


@pytest.mark.parametrize("start, end, n, first, last", [
    (date(2024, 1, 1), date(2024, 12, 31), 12, (2024, 1), (2024, 12)),
    (date(2024, 7, 15), date(2027, 7, 14), 36, (2024, 8), (2027, 7)),
    (date(2024, 7, 1), date(2027, 6, 30), 36, (2024, 7), (2027, 6)),
    (date(2024, 3, 1), date(2024, 3, 1), 1, (2024, 3), (2024, 3)),
])
def test_months_in_force(start, end, n, first, last):
    months = rules.months_in_force(start, end)
    assert len(months) == n and months[0] == first and months[-1] == last


def test_rate_contract_quarterly_dues():
    # 200,000.00 × 6% a year, paid quarterly: 3,000.00 each quarter.
    dues = rules.contract_dues(kind="dividend", basis="rate", period="quarter", start_on=date(2024, 1, 1),
                               end_on=date(2028, 12, 31), year=2024, principal=D("200000.00"),
                               annual_rate_percent=D("6"))
    assert [(d.quarter, d.amount) for d in dues] == [(q, D("3000.00")) for q in (1, 2, 3, 4)]


def test_rate_contract_part_period_and_half_up_rounding():
    # 12,345.67 × 3.5% × 1/12 = 36.0082…; starting in March, Q1 has one month in force.
    dues = rules.contract_dues(kind="rent", basis="rate", period="quarter", start_on=date(2024, 3, 1),
                               end_on=date(2024, 12, 31), year=2024, principal=D("12345.67"),
                               annual_rate_percent=D("3.5"))
    assert [(d.quarter, d.months, d.amount) for d in dues] == [
        (1, 1, D("36.01")), (2, 3, D("108.02")), (3, 3, D("108.02")), (4, 3, D("108.02"))]
    # exactly half a fen rounds up: 1.00 × 3% × 6/12 = 0.015 → 0.02
    [d] = rules.contract_dues(kind="rent", basis="rate", period="year", start_on=date(2024, 1, 1),
                              end_on=date(2024, 6, 30), year=2024, principal=D("1.00"),
                              annual_rate_percent=D("3"))
    assert d.amount == D("0.02") and d.months == 6


def test_fixed_amount_monthly_and_outside_the_term():
    dues = rules.contract_dues(kind="rent", basis="fixed", period="month", start_on=date(2023, 11, 1),
                               end_on=date(2024, 2, 29), year=2024, amount=D("1500.00"))
    assert [(d.month, d.amount) for d in dues] == [(1, D("1500.00")), (2, D("1500.00"))]
    assert rules.contract_dues(kind="rent", basis="fixed", period="month", start_on=date(2023, 11, 1),
                               end_on=date(2024, 2, 29), year=2025, amount=D("1500.00")) == []
    # a part quarter is pro rata by months: 900.00 × 2/3
    dues = rules.contract_dues(kind="rent", basis="fixed", period="quarter", start_on=date(2024, 2, 1),
                               end_on=date(2024, 12, 31), year=2024, amount=D("900.00"))
    assert dues[0].amount == D("600.00") and dues[1].amount == D("900.00")


def test_lump_sum_spread_over_three_years_adds_up():
    spread = rules.spread_lump_sum(D("100000.00"), date(2024, 1, 1), date(2026, 12, 31))
    assert spread == {2024: D("33333.34"), 2025: D("33333.33"), 2026: D("33333.33")}
    # by months: July 2024 – June 2027 is 6 + 12 + 12 + 6 months
    spread = rules.spread_lump_sum(D("100000.00"), date(2024, 7, 1), date(2027, 6, 30))
    assert spread == {2024: D("16666.67"), 2025: D("33333.33"), 2026: D("33333.33"), 2027: D("16666.67")}
    assert sum(spread.values()) == D("100000.00")
    [due] = rules.contract_dues(kind="rent", basis="lump_sum", period="year", start_on=date(2024, 1, 1),
                                end_on=date(2026, 12, 31), year=2025, amount=D("100000.00"))
    assert due.amount == D("33333.33") and due.month is None and due.quarter is None


def test_matching_receipts_to_dues():
    dues = rules.contract_dues(kind="dividend", basis="rate", period="quarter", start_on=date(2024, 1, 1),
                               end_on=date(2028, 12, 31), year=2024, principal=D("200000.00"),
                               annual_rate_percent=D("6"))
    received = {("dividend", None, 1): D("3000.00"), ("dividend", 4, None): D("1000.00"),
                ("dividend", 5, None): D("2000.00"), ("dividend", None, 4): D("3000.00"),
                ("dividend", None, None): D("50.00"), ("rent", None, 3): D("9.99")}
    lines, unmatched = rules.match_received(dues, received)
    assert [(ln.quarter, ln.received, ln.outstanding) for ln in lines] == [
        (1, D("3000.00"), D("0.00")), (2, D("3000.00"), D("0.00")), (3, D("0.00"), D("3000.00")),
        (4, D("3000.00"), D("0.00"))]
    assert unmatched == {"dividend": D("50.00")}  # rent has no contract: not ours to report
    assert lines[0].period_end == date(2024, 4, 1)


def test_settlement_due_and_signed_effects():
    assert rules.settlement_due_on(2024) == date(2025, 3, 31)
    assert rules.signed_effect("income", D("5"), False) == D("5")
    assert rules.signed_effect("income", D("5"), True) == D("-5")
    assert rules.signed_effect("deduction", D("5"), False) == D("-5")
    assert rules.signed_effect("deduction", D("5"), True) == D("5")
    assert rules.period_error(3, 1) and rules.period_error(3, None) is None
