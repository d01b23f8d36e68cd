"""Property tests on every money path (issue 11): the books balance to the fen for any valid input, and for
any invalid input nothing is written. Each property is named after the rule it proves.

Pure functions (core.money, distribution.rules, income.rules, assets.rules) take plain ``@given``. The
service-level properties run against the test database: each example inside its own SAVEPOINT
(``clean_example``), so every example starts from the same data and leaves nothing behind; their
examples are few (``SERVICE``) so that the file stays well under a minute. Both profiles are
derandomized, so CI sees the same examples every run. The function-scoped fixtures (``world`` and the
assets built once per test) are shared on purpose by every example of a test: each example's own writes
are rolled back with its SAVEPOINT, so the health check about them is suppressed knowingly.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from assetreg.assets import rules as asset_rules
from assetreg.assets.models import Asset, AssetFunding
from assetreg.assets.services import book_value, create_asset, set_policy
from assetreg.changelog.models import ChangeLogEntry
from assetreg.core.errors import DomainError
from assetreg.core.money import CENT, ZERO, split_largest_remainder
from assetreg.distribution import rules as dist_rules
from assetreg.distribution import services as dist
from assetreg.distribution.models import DistributionPlan, PlanAllocation, PlanLine
from assetreg.extensions import db
from assetreg.income import rules as income_rules
from assetreg.income import services as income
from assetreg.income.models import AssetShare, ContractReturn, IncomeEntry, Settlement, SettlementPart

from . import db_support
from .distribution_support import households, settle

D = Decimal
PURE = settings(max_examples=100, deadline=None, derandomize=True, database=None)
# No shrinking at service level: a failing example there is reported as drawn (shrinking one through the
# database can take minutes, more than CI allows).
SERVICE = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                   phases=[Phase.explicit, Phase.reuse, Phase.generate],
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

fen = st.integers(min_value=0, max_value=10**11)  # up to a billion yuan
signed_fen = st.integers(min_value=-(10**11), max_value=10**11)
cents = fen.map(lambda n: D(n).scaleb(-2).quantize(CENT))
signed_cents = signed_fen.map(lambda n: D(n).scaleb(-2).quantize(CENT))
positive_cents = st.integers(min_value=1, max_value=10**9).map(lambda n: D(n).scaleb(-2).quantize(CENT))
weight = st.one_of(st.integers(min_value=0, max_value=10**6),
                   st.integers(min_value=0, max_value=10**8).map(lambda n: D(n).scaleb(-4)))
weights = st.lists(weight, min_size=1, max_size=40).filter(lambda ws: sum(D(w) for w in ws) > 0)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31))


def total(values) -> Decimal:
    return sum(values, ZERO)


# --- core.money: the largest-remainder split ---------------------------------------------------------

@PURE
@given(whole=signed_cents, ws=weights)
def test_split_parts_add_up_to_the_whole_each_within_a_fen_of_its_share(whole, ws):
    parts = split_largest_remainder(whole, ws)
    wsum = sum(D(w) for w in ws)
    assert len(parts) == len(ws) and total(parts) == whole
    for part, w in zip(parts, ws, strict=True):
        assert part == part.quantize(CENT)
        assert abs(part - whole * D(w) / wsum) < CENT
        assert part == 0 or (part > 0) == (whole > 0)  # no part of the other sign
        if D(w) == 0:
            assert part == 0
    assert split_largest_remainder(whole, ws) == parts  # deterministic


@PURE
@given(whole=cents, ws=weights, k=st.integers(min_value=2, max_value=1000))
def test_split_is_the_same_for_proportional_weights(whole, ws, k):
    assert split_largest_remainder(whole, [D(w) * k for w in ws]) == split_largest_remainder(whole, ws)


@PURE
@given(whole=signed_cents, ws=weights, bad=st.sampled_from(["negative", "zero", "empty", "sub_fen"]))
def test_split_refuses_what_cannot_be_split_exactly(whole, ws, bad):
    if bad == "negative":
        ws = [*ws, -1]
    elif bad == "zero":
        ws = [0] * len(ws)
    elif bad == "empty":
        ws = []
    else:
        whole = whole + D("0.001")
    with pytest.raises(ValueError):
        split_largest_remainder(whole, ws)


# --- distribution: the fill helpers ------------------------------------------------------------------

@PURE
@given(whole=cents, n=st.integers(min_value=1, max_value=500))
def test_equal_fill_parts_add_up_and_differ_by_at_most_a_fen(whole, n):
    parts = dist_rules.split_equal(whole, n)
    assert len(parts) == n and total(parts) == whole
    assert max(parts) - min(parts) <= CENT and min(parts) >= 0
    assert parts == sorted(parts, reverse=True)  # the leftover fen go to the earlier households


@PURE
@given(whole=cents, ws=weights)
def test_weighted_fill_parts_add_up_and_follow_the_weights(whole, ws):
    parts = dist_rules.split_by_weights(whole, ws)
    assert total(parts) == whole and min(parts) >= 0
    for (pa, wa), (pb, wb) in zip(zip(parts, ws, strict=True), list(zip(parts, ws, strict=True))[1:], strict=False):
        if D(wa) > D(wb):
            assert pa >= pb  # a larger weight never gets less


statuses = st.sampled_from(["formerly_poor", "monitored", "ordinary"])
labours = st.sampled_from(["full", "half", "weak", "none"])
household_facts = st.lists(
    st.tuples(statuses, st.integers(min_value=1, max_value=9), labours), min_size=0, max_size=40,
).map(lambda hs: [dist_rules.HouseholdFacts(i + 1, f"户主{i + 1}", s, n, lab) for i, (s, n, lab) in enumerate(hs)])
tier = st.builds(dist_rules.Tier, amount=st.integers(min_value=0, max_value=10**6).map(lambda n: D(n).scaleb(-2)),
                 status=st.none() | statuses, min_size=st.none() | st.integers(1, 5),
                 max_size=st.none() | st.integers(5, 9), labour=st.none() | labours)
tiers = st.lists(tier, min_size=1, max_size=6)


@PURE
@given(hs=household_facts, table=tiers, whole=st.none() | cents)
def test_tier_fill_lines_add_up_to_the_allocation_and_every_household_is_accounted_for(hs, table, whole):
    assert not dist_rules.tier_errors(table) or any(t.min_size and t.max_size and t.min_size > t.max_size
                                                    for t in table)
    fill = dist_rules.fill_by_tiers(hs, table, whole)
    amounts = [li["amount"] for li in fill.lines]
    assert all(a >= 0 for a in amounts)
    assert fill.table_total == total(table[li["tier"]].amount for li in fill.lines)
    if whole is None:
        assert all(li["amount"] == table[li["tier"]].amount for li in fill.lines)
    elif fill.lines:
        assert total(amounts) == whole
    # each household: one line, unmatched, or matched by a row of amount 0 (excluded) — never two of these
    lined = [li["household_id"] for li in fill.lines]
    assert len(set(lined)) == len(lined) and not set(lined) & set(fill.unmatched)
    for h in hs:
        first = next((t for t in table if t.matches(h)), None)
        assert (h.household_id in fill.unmatched) == (first is None)
        assert (h.household_id in lined) == (first is not None and first.amount > 0)


jobs = st.lists(st.tuples(st.integers(1, 8), st.integers(0, 12),
                          st.integers(0, 500_000).map(lambda n: D(n).scaleb(-2))), max_size=30).map(
    lambda js: [dist_rules.JobFacts(i + 1, h, f"户主{h}", "保洁员", wage, months)
                for i, (h, months, wage) in enumerate(js)])


@PURE
@given(js=jobs)
def test_wage_lines_are_months_times_wage_exactly_one_line_per_household(js):
    lines = dist_rules.wage_lines(js)
    assert len({li["household_id"] for li in lines}) == len(lines)
    assert total(li["amount"] for li in lines) == total(j.monthly_wage * j.months for j in js)
    for li in lines:
        assert li["amount"] == total(j.monthly_wage * j.months for j in js if j.household_id == li["household_id"])
        if li["months"] is not None:
            assert li["monthly_wage"] * li["months"] == li["amount"]


# --- income: shares, lump sums, dues, the ledger's columns ------------------------------------------

villages = st.lists(st.integers(min_value=1, max_value=999), min_size=1, max_size=12, unique=True)


@PURE
@given(whole=signed_cents, vs=villages, data=st.data())
def test_village_parts_of_a_shared_asset_add_up_whatever_the_order_they_come_in(whole, vs, data):
    ws = data.draw(st.lists(weight, min_size=len(vs), max_size=len(vs)).filter(lambda w: sum(D(x) for x in w) > 0))
    shares = [income_rules.Share(f"431299100{v:03d}", D(w)) for v, w in zip(vs, ws, strict=True)]
    parts = income_rules.split_among(whole, shares)
    assert set(parts) == {s.village_code for s in shares} and total(parts.values()) == whole
    assert income_rules.split_among(whole, data.draw(st.permutations(shares))) == parts
    one = shares[0].village_code
    # the part a village computes alone (the village page) is the part computed with all (the town's)
    assert income_rules.split_among(whole, list(reversed(shares)))[one] == parts[one]


@PURE
@given(gross=cents, costs=cents, disposal=cents, vs=villages, data=st.data())
def test_a_villages_part_of_a_shared_asset_has_no_negative_column_and_the_parts_add_up(gross, costs, disposal, vs,
                                                                                       data):
    ws = data.draw(st.lists(weight, min_size=len(vs), max_size=len(vs)).filter(lambda w: sum(D(x) for x in w) > 0))
    shares = [income_rules.Share(f"431299100{v:03d}", D(w)) for v, w in zip(vs, ws, strict=True)]
    parts = income_rules.split_figures(gross, costs, disposal, shares)
    assert set(parts) == {s.village_code for s in shares}
    net = gross - costs
    assert total(p.gross for p in parts.values()) == gross and total(p.costs for p in parts.values()) == costs
    assert total(p.net for p in parts.values()) == net and total(p.disposal for p in parts.values()) == disposal
    by_net = income_rules.split_among(net, shares)
    for v, p in parts.items():
        assert p.gross >= 0 and p.costs >= 0 and p.disposal >= 0  # a village never gets negative costs
        assert p.net == p.gross - p.costs == by_net[v]  # its net is the split of the net, as everywhere


def test_the_shared_asset_that_gave_a_village_negative_costs():
    """Found by the property above: gross 0.86, costs 0.01, weights 1:3:5. Splitting gross and net apart
    gave the first village gross 0.09 and net 0.10, so costs −0.01."""
    shares = [income_rules.Share("431299100201", D(1)), income_rules.Share("431299100202", D(3)),
              income_rules.Share("431299100203", D(5))]
    parts = income_rules.split_figures(D("0.86"), D("0.01"), ZERO, shares)
    assert [(p.gross, p.costs, p.net) for p in parts.values()] == [
        (D("0.10"), D("0.00"), D("0.10")), (D("0.28"), D("0.00"), D("0.28")), (D("0.48"), D("0.01"), D("0.47"))]


@PURE
@given(amount=positive_cents, start=days, length=st.integers(min_value=0, max_value=20 * 366))
def test_a_lump_sum_spread_over_years_adds_up_to_the_sum(amount, start, length):
    end = start + timedelta(days=length)
    spread = income_rules.spread_lump_sum(amount, start, end)
    assert total(spread.values()) == amount and all(v >= 0 for v in spread.values())
    assert list(spread) == sorted(spread) and set(spread) <= set(range(start.year, end.year + 2))


periods = st.sampled_from(["month", "quarter", "year"])


@PURE
@given(start=days, length=st.integers(min_value=0, max_value=6 * 366), period=periods,
       amount=positive_cents, principal=positive_cents,
       rate=st.integers(min_value=1, max_value=2000).map(lambda n: D(n).scaleb(-2)))
def test_contract_dues_add_up_over_the_term(start, length, period, amount, principal, rate):
    end = start + timedelta(days=length)
    months = income_rules.months_in_force(start, end)
    years = range(start.year, end.year + 1)
    size = income_rules.PERIOD_MONTHS[period]

    lump = [d for y in years for d in income_rules.contract_dues(kind="rent", basis="lump_sum", period="year",
                                                                 start_on=start, end_on=end, year=y, amount=amount)]
    assert total(d.amount for d in lump) == (amount if months else ZERO) or not months
    assert sum(d.months for d in lump) == len(months)

    fixed = [d for y in years for d in income_rules.contract_dues(kind="rent", basis="fixed", period=period,
                                                                  start_on=start, end_on=end, year=y, amount=amount)]
    assert sum(d.months for d in fixed) == len(months)
    for d in fixed:
        assert 0 < d.months <= size and d.amount >= 0
        if d.months == size:
            assert d.amount == amount  # a full period is the agreed amount, exactly
        assert abs(d.amount - amount * d.months / size) <= D("0.005")

    by_rate = [d for y in years for d in income_rules.contract_dues(
        kind="dividend", basis="rate", period=period, start_on=start, end_on=end, year=y, principal=principal,
        annual_rate_percent=rate)]
    for d in by_rate:
        assert d.amount == (principal * rate * d.months / 1200).quantize(CENT, rounding="ROUND_HALF_UP")
    exact = principal * rate * len(months) / 1200
    assert abs(total(d.amount for d in by_rate) - exact) <= D("0.005") * len(by_rate)


due_keys = st.sampled_from([("rent", m, None) for m in (1, 2, 6, 12)] + [("rent", None, q) for q in (1, 2, 4)]
                           + [("rent", None, None), ("dividend", None, None), ("dividend", 3, None)])


@PURE
@given(dues=st.lists(st.tuples(due_keys, cents), max_size=12),
       received=st.dictionaries(due_keys, signed_cents, max_size=10))
def test_what_was_received_is_matched_once_or_left_unmatched_never_lost(dues, received):
    ds = [income_rules.Due(k[0], 2024, k[1], k[2], 1, amount) for k, amount in dues]
    lines, unmatched = income_rules.match_received(ds, received)
    kinds = {d.kind for d in ds}
    assert total(li.due for li in lines) == total(d.amount for d in ds)
    assert total(li.received for li in lines) + total(unmatched.values()) == \
        total(v for k, v in received.items() if k[0] in kinds)
    assert all(li.outstanding >= 0 and li.outstanding == max(li.due - li.received, ZERO) for li in lines)


entries = st.lists(st.tuples(st.sampled_from(["income", "deduction"]), st.sampled_from(["rent", "disposal"]),
                             positive_cents, st.booleans()), max_size=30)


@PURE
@given(es=entries)
def test_the_ledger_columns_add_up_to_the_net_and_a_reversal_nets_its_entry_out(es):
    gross = costs = disposal = net = ZERO
    for direction, kind, amount, reversed_ in es:
        for is_reversal in ((False, True) if reversed_ else (False,)):
            signed = income_rules.signed_effect(direction, amount, is_reversal)
            g, c, d = income_rules.ledger_columns(direction, kind, signed)
            assert [g, c, d].count(None) == 2
            gross, costs, disposal = gross + (g or ZERO), costs + (c or ZERO), disposal + (d or ZERO)
            net += signed
    assert gross - costs + disposal == net
    assert costs >= 0 and gross >= 0 and disposal >= 0  # reversals never take a column below zero


# --- assets: depreciation ----------------------------------------------------------------------------

@PURE
@given(original=cents, life=st.integers(min_value=1, max_value=50),
       rate=st.integers(min_value=0, max_value=10_000).map(lambda n: D(n).scaleb(-4)),
       start=days, first=days, second=days)
def test_depreciation_never_exceeds_the_original_value_less_the_residual(original, life, rate, start, first, second):
    a, b = sorted((first, second))
    da = asset_rules.depreciate(original, in_service_on=start, useful_life_years=life, residual_rate=rate, as_of=a)
    db_ = asset_rules.depreciate(original, in_service_on=start, useful_life_years=life, residual_rate=rate, as_of=b)
    for d in (da, db_):
        assert ZERO <= d.accumulated <= original - d.residual_value
        assert d.book_value == original - d.accumulated and d.book_value >= d.residual_value
        assert d.accumulated == d.accumulated.quantize(CENT)
    assert da.accumulated <= db_.accumulated  # book value never rises with time
    end = asset_rules.depreciate(original, in_service_on=start, useful_life_years=life, residual_rate=rate,
                                 as_of=date(start.year + life + 1, 1, 1))
    assert end.book_value == end.residual_value  # the last month lands exactly on the residual


# --- service level: each example in its own SAVEPOINT ------------------------------------------------

@contextmanager
def clean_example():
    """A SAVEPOINT for one hypothesis example, rolled back at its end, with a fresh ``db.session``."""
    outer = db_support.shared() or db_support._active[-1]
    # The test's own session (the fixtures' objects load through it) begins its SAVEPOINT here, outside the
    # example's: begun inside, it would outlive the example's SAVEPOINT and break its rollback.
    db.session.connection()
    with outer.savepoint():
        yield


def row_counts(*models) -> dict:
    db.session.flush()
    return {m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (*models, ChangeLogEntry)}


@pytest.fixture
def shop(world, f, today):
    """Two assets of 桃源村 (one its own, one shared with 柳林村 when a test says so) and one of 柳林村."""
    own = f.asset(place_code=world.village_a1, subtype="光伏电站")
    shared = f.asset(place_code=world.village_a1, subtype="扶贫车间")
    other = f.asset(place_code=world.village_a2, subtype="光伏电站")
    return own.id, shared.id, other.id


ledger_entry = st.tuples(st.integers(0, 2), st.sampled_from(["income", "deduction"]),
                         st.sampled_from(["rent", "electricity", "disposal"]),
                         st.integers(min_value=1, max_value=10**8).map(lambda n: D(n).scaleb(-2)), st.booleans())
KIND = {("income", "rent"): "rent", ("income", "electricity"): "electricity", ("income", "disposal"): "disposal",
        ("deduction", "rent"): "maintenance", ("deduction", "electricity"): "insurance",
        ("deduction", "disposal"): "tax"}


@SERVICE
@given(es=st.lists(ledger_entry, min_size=1, max_size=12),
       ws=st.tuples(st.integers(1, 100), st.integers(0, 100)))
def test_a_settlement_is_the_sum_of_its_ledger_and_a_towns_parts_add_up_to_it(world, shop, es, ws):
    admin = world.users["admin"]
    assets = dict(zip(range(3), shop, strict=True))
    with clean_example():
        shares = [{"village_code": world.village_a1, "weight": D(ws[0])}]
        if ws[1]:
            shares.append({"village_code": world.village_a2, "weight": D(ws[1])})
        income.replace_shares(admin, assets[1], shares=shares)
        sums = {i: [ZERO, ZERO, ZERO] for i in assets}  # gross, costs, disposal of each asset in 2024
        for which, direction, kind, amount, reverse in es:
            e = income.post_entry(admin, assets[which], {"direction": direction, "kind": KIND[(direction, kind)],
                                                         "period_year": 2024, "received_on": date(2024, 12, 1),
                                                         "amount": amount})
            if reverse:
                income.reverse_entry(admin, e.id, {"reason": "录入错误", "reversed_on": date(2025, 1, 5)})
                continue
            g, c, d = income_rules.ledger_columns(direction, KIND[(direction, kind)],
                                                  income_rules.signed_effect(direction, amount, False))
            s = sums[which]
            s[0], s[1], s[2] = s[0] + (g or ZERO), s[1] + (c or ZERO), s[2] + (d or ZERO)

        # what the pure rules say each village's year is
        share_set = [income_rules.Share(s["village_code"], s["weight"]) for s in shares]
        expected = {world.village_a1: [ZERO, ZERO, ZERO], world.village_a2: [ZERO, ZERO, ZERO]}
        for i, (g, c, d) in sums.items():
            if i == 1:
                gp, np_, dp = (income_rules.split_among(x, share_set) for x in (g, g - c, d))
                for v in gp:
                    expected[v][0] += gp[v]
                    expected[v][1] += gp[v] - np_[v]
                    expected[v][2] += dp[v]
            else:
                v = world.village_a1 if i == 0 else world.village_a2
                expected[v] = [expected[v][0] + g, expected[v][1] + c, expected[v][2] + d]

        settled = {}
        for v in (world.village_a1, world.village_a2):
            st_ = income.settle_year(admin, place_code=v, year=2024, settled_on=date(2025, 3, 1))
            settled[v] = st_
            g, c, d = expected[v]
            assert (st_.gross, st_.costs, st_.net, st_.disposal) == (g, c, g - c, d), v
            assert st_.net == st_.gross - st_.costs
        town = income.settle_year(admin, place_code=world.town_a, year=2024, settled_on=date(2025, 3, 2))
        g = total(s[0] for s in sums.values())
        c = total(s[1] for s in sums.values())
        d = total(s[2] for s in sums.values())
        assert (town.gross, town.costs, town.net, town.disposal) == (g, c, g - c, d)
        parts = db.session.scalars(sa.select(SettlementPart).where(SettlementPart.settlement_id == town.id)).all()
        assert total(p.gross for p in parts) == town.gross and total(p.costs for p in parts) == town.costs
        assert total(p.net for p in parts) == town.net and total(p.disposal for p in parts) == town.disposal
        for p in parts:  # each village's part in the town's settlement is its own settlement's figure
            mine = settled[p.village_code]
            assert (p.gross, p.costs, p.net, p.disposal) == (mine.gross, mine.costs, mine.net, mine.disposal)


bad_entry = st.sampled_from(["zero", "negative", "month_and_quarter", "future", "kind"])


@SERVICE
@given(bad=bad_entry, amount=positive_cents, year=st.integers(2020, 2024))
def test_an_invalid_ledger_entry_writes_nothing(world, shop, bad, amount, year):
    admin = world.users["admin"]
    with clean_example():
        data = {"direction": "income", "kind": "rent", "period_year": year, "received_on": date(year, 12, 1),
                "amount": amount}
        if bad == "zero":
            data["amount"] = ZERO
        elif bad == "negative":
            data["amount"] = -amount
        elif bad == "month_and_quarter":
            data.update(period_month=1, period_quarter=1)
        elif bad == "future":
            data["received_on"] = date(2025, 7, 1)
        else:
            data["kind"] = "maintenance"  # a deduction's kind on an income
        before = row_counts(IncomeEntry)
        with pytest.raises(DomainError):
            income.post_entry(admin, shop[0], data)
        db.session.rollback()
        assert row_counts(IncomeEntry) == before


@SERVICE
@given(ws=st.lists(st.sampled_from(["0", "-1", "1", "2.5"]), min_size=1, max_size=3),
       bad=st.sampled_from(["duplicate", "unknown_village", "settled"]))
def test_an_invalid_share_set_writes_nothing(world, shop, ws, bad):
    admin = world.users["admin"]
    with clean_example():
        shares = [{"village_code": world.village_a1, "weight": D(w)} for w in ws[:1]]
        if bad == "duplicate":
            shares.append({"village_code": world.village_a1, "weight": D("1")})
        elif bad == "unknown_village":
            shares.append({"village_code": "431299100299", "weight": D("1")})
        else:
            income.settle_year(admin, place_code=world.village_a1, year=2024, settled_on=date(2025, 3, 1))
            db.session.commit()  # the request before: what the refused one rolls back to
        before = row_counts(AssetShare, Settlement)
        with pytest.raises(DomainError):
            income.replace_shares(admin, shop[1], shares=shares, from_year=2024)
        db.session.rollback()
        assert row_counts(AssetShare, Settlement) == before


contract = st.fixed_dictionaries({
    "basis": st.sampled_from(["rate", "fixed", "lump_sum"]), "period": st.none() | periods,
    "start": st.dates(min_value=date(2020, 1, 1), max_value=date(2024, 12, 31)),
    "length": st.integers(min_value=-40, max_value=4 * 366),
    "amount": st.none() | positive_cents, "principal": st.none() | positive_cents,
    "rate": st.none() | st.integers(1, 2000).map(lambda n: D(n).scaleb(-2)),
})


@SERVICE
@given(c=contract)
def test_a_contract_is_written_only_when_valid_and_its_dues_are_the_pure_rules(world, shop, c):
    admin = world.users["admin"]
    with clean_example():
        data = {"kind": "rent", "basis": c["basis"], "period": c["period"], "start_on": c["start"],
                "end_on": c["start"] + timedelta(days=c["length"]), "amount": c["amount"],
                "principal": c["principal"], "annual_rate_percent": c["rate"]}
        valid = c["length"] >= 0 and (
            (c["basis"] == "rate" and c["principal"] and c["rate"] and c["amount"] is None and c["period"])
            or (c["basis"] != "rate" and c["amount"] and c["principal"] is None and c["rate"] is None
                and (c["period"] if c["basis"] == "fixed" else c["period"] in (None, "year"))))
        before = row_counts(ContractReturn)
        if not valid:
            with pytest.raises(DomainError):
                income.create_contract(admin, shop[0], data)
            db.session.rollback()
            assert row_counts(ContractReturn) == before
            return
        income.create_contract(admin, shop[0], data)
        for year in range(c["start"].year, data["end_on"].year + 1):
            got = income.dues_for(admin.county_code, shop[0], year)
            pure = income_rules.contract_dues(kind="rent", basis=c["basis"], period=c["period"] or "year",
                                              start_on=c["start"], end_on=data["end_on"], year=year,
                                              principal=c["principal"], annual_rate_percent=c["rate"],
                                              amount=c["amount"])
            assert got["due_total"] == total(d.amount for d in pure), year


@SERVICE
@given(original=positive_cents, split=st.lists(st.integers(1, 100), min_size=1, max_size=4),
       off=st.sampled_from([ZERO, CENT, -CENT, D("100.00")]), life=st.integers(1, 40),
       rate=st.integers(0, 10_000).map(lambda n: D(n).scaleb(-4)), as_of=days)
def test_an_asset_is_written_only_when_its_funding_adds_up_and_its_book_value_never_goes_below_residual(
        world, today, original, split, off, life, rate, as_of):
    admin = world.users["admin"]
    sources = ["fiscal_link", "integrated", "east_west", "paired", "donation"]
    with clean_example():
        amounts = split_largest_remainder(original, split)
        amounts[0] += off
        assume(amounts[0] >= 0)
        data = dict(code="ZC-PROP", name="测试资产", category="operating", subtype="冷库仓储",
                    place_code=world.village_a1, managing_level="village", original_value=original,
                    fundings=[{"source": s, "amount": a} for s, a in zip(sources, amounts, strict=False)],
                    completed_on=date(2020, 6, 30), status="in_operation", status_on=date(2020, 9, 1))
        before = row_counts(Asset, AssetFunding)
        if off:
            with pytest.raises(DomainError):
                create_asset(admin, data)
            db.session.rollback()
            assert row_counts(Asset, AssetFunding) == before
            return
        asset = create_asset(admin, data)
        assert total(fu.amount for fu in asset.fundings) == asset.original_value == original
        set_policy(admin, subtype="冷库仓储", useful_life_years=life, residual_rate=rate)
        d = book_value(admin, asset.id, as_of)
        assert ZERO <= d.accumulated <= original - d.residual_value and d.book_value >= d.residual_value


# --- distribution plans: totals equal their lines; an invalid set writes nothing ----------------------

@pytest.fixture
def a1_plan(world, f, today):
    settle(f, world, world.village_a1, pv="10000.00", other="6000.00", costs="1000.00")  # net 15,000.00
    hs = households(f, world.village_a1, "monitored", "formerly_poor", "formerly_poor", "ordinary", "ordinary",
                    members=2)
    plan = dist.create_plan(world.users["vc_a1"], {"village_code": world.village_a1, "year": 2024})
    db.session.commit()
    return plan.id, [h.id for h in hs]


line_purposes = st.sampled_from(["relief", "awards"])
other_purposes = st.sampled_from(["operation_maintenance", "public_works", "carry"])


@SERVICE
@given(data=st.data())
def test_a_plans_totals_are_its_lines_and_an_invalid_set_writes_nothing(world, a1_plan, data):
    plan_id, hids = a1_plan
    vc = world.users["vc_a1"]
    with clean_example():
        allocations = []
        for purpose in data.draw(st.lists(st.one_of(line_purposes, other_purposes), unique=True, min_size=1,
                                          max_size=4)):
            amount = data.draw(st.integers(1, 900_000).map(lambda n: D(n).scaleb(-2)))
            a = {"purpose": purpose, "amount": amount, "use": None}
            if purpose in ("relief", "awards"):
                who = data.draw(st.lists(st.sampled_from(hids), unique=True, min_size=1, max_size=len(hids)))
                parts = split_largest_remainder(amount, data.draw(
                    st.lists(st.integers(1, 50), min_size=len(who), max_size=len(who))))
                nudge = data.draw(st.sampled_from([ZERO, ZERO, CENT, -CENT]))
                parts[-1] += nudge
                a["lines"] = [{"household_id": h, "amount": p, "reason": None} for h, p in zip(who, parts, strict=True)]
            allocations.append(a)
        wanted = total(a["amount"] for a in allocations)
        bad_lines = any(total(li["amount"] for li in a.get("lines", [])) != a["amount"] or
                        any(li["amount"] <= 0 for li in a.get("lines", [])) for a in allocations if a.get("lines"))
        before = row_counts(DistributionPlan, PlanAllocation, PlanLine)
        if wanted > D("15000.00") or bad_lines:
            with pytest.raises(DomainError):
                dist.set_allocations(vc, plan_id, allocations)
            db.session.rollback()
            assert row_counts(DistributionPlan, PlanAllocation, PlanLine) == before
            return
        plan = dist.set_allocations(vc, plan_id, allocations)
        db.session.expire_all()
        plan = db.session.get(DistributionPlan, plan_id)
        assert plan.allocated == wanted and plan.allocated + plan.unallocated == plan.available
        stored_lines = db.session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan_id)).all()
        for a in plan.allocations:
            if a.lines:
                assert total(li.amount for li in a.lines) == a.amount == a.lines_total
        assert total(li.amount for li in stored_lines) == total(
            a["amount"] for a in allocations if a.get("lines"))


@SERVICE
@given(method=st.sampled_from(["equal", "weights", "tier"]), amount=st.integers(1, 1_500_000),
       tier_amounts=st.lists(st.integers(0, 100_000), min_size=1, max_size=3), set_amount=st.booleans())
def test_a_fill_applied_adds_up_to_its_allocation_or_writes_nothing(world, a1_plan, method, amount, tier_amounts,
                                                                      set_amount):
    plan_id, _hids = a1_plan
    vc = world.users["vc_a1"]
    set_amount = set_amount and method == "tier"
    amount = D(amount).scaleb(-2)
    with clean_example():
        dist.set_allocations(vc, plan_id, [{"purpose": "relief", "amount": amount, "use": None}])
        db.session.commit()  # the request before: what a refused fill rolls back to
        request = {"purpose": "relief", "method": method, "apply": True, "set_amount": set_amount}
        if method == "tier":
            statuses_ = [None, "monitored", "formerly_poor"]
            request["tiers"] = [{"status": s, "min_size": None, "max_size": None, "labour": None,
                                 "amount": D(a).scaleb(-2)} for s, a in zip(statuses_[::-1], tier_amounts, strict=False)]
        before = row_counts(DistributionPlan, PlanAllocation, PlanLine)
        try:
            result = dist.fill(vc, plan_id, request)
        except DomainError:
            db.session.rollback()
            assert row_counts(DistributionPlan, PlanAllocation, PlanLine) == before
            return
        db.session.expire_all()
        alloc = db.session.scalar(sa.select(PlanAllocation).where(PlanAllocation.plan_id == plan_id,
                                                                  PlanAllocation.purpose == "relief"))
        assert result["applied"] and result["fits"]
        assert total(li.amount for li in alloc.lines) == alloc.amount == D(result["allocation_amount"])
        assert all(li.amount > 0 for li in alloc.lines)
        if not set_amount:
            assert alloc.amount == amount
