"""Shares split an asset's net income exactly: the village parts add up to the whole, to the fen,
for any amount (negative net included) and any positive weights (hypothesis)."""

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from assetreg.core.money import CENT
from assetreg.income import rules

amounts = st.integers(min_value=-10**13, max_value=10**13).map(lambda fen: Decimal(fen) / 100)
weights = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1000000"), places=4,
                      allow_nan=False, allow_infinity=False)
share_sets = st.lists(weights, min_size=1, max_size=12).map(
    lambda ws: [rules.Share(f"4312991002{i:02d}", w) for i, w in enumerate(ws)])


@settings(max_examples=500, deadline=None)
@given(amounts, share_sets)
def test_parts_add_up_exactly_and_stay_within_a_fen(total, shares):
    parts = rules.split_among(total, shares)
    assert set(parts) == {s.village_code for s in shares}
    assert sum(parts.values(), Decimal(0)) == total
    wsum = sum(s.weight for s in shares)
    for s in shares:
        part = parts[s.village_code]
        assert part == part.quantize(CENT)
        assert abs(part - total * s.weight / wsum) < CENT  # never more than a fen from the exact share
        if total >= 0:
            assert part >= 0
        else:
            assert part <= 0


@settings(max_examples=200, deadline=None)
@given(amounts, share_sets, st.randoms(use_true_random=False))
def test_the_split_does_not_depend_on_the_order_shares_come_in(total, shares, rnd):
    shuffled = list(shares)
    rnd.shuffle(shuffled)
    assert rules.split_among(total, shuffled) == rules.split_among(total, shares)


@settings(max_examples=200, deadline=None)
@given(amounts, amounts, share_sets)
def test_costs_part_is_gross_part_less_net_part_so_each_village_balances(gross, costs, shares):
    net = gross - costs
    g = rules.split_among(gross, shares)
    n = rules.split_among(net, shares)
    village_costs = {v: g[v] - n[v] for v in g}
    assert sum(village_costs.values(), Decimal(0)) == costs


def test_known_splits():
    three = [rules.Share("431299100201", Decimal(1)), rules.Share("431299100202", Decimal(1)),
             rules.Share("431299101201", Decimal(1))]
    assert list(rules.split_among(Decimal("100.00"), three).values()) == [
        Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    assert list(rules.split_among(Decimal("-100.00"), three).values()) == [
        Decimal("-33.34"), Decimal("-33.33"), Decimal("-33.33")]
    by_kw = [rules.Share("431299100201", Decimal("60")), rules.Share("431299100202", Decimal("40.5"))]
    # 1000001 fen × 60/100.5 = 597015.52…, × 40.5/100.5 = 402985.47…: the spare fen goes to the .52
    parts = rules.split_among(Decimal("10000.01"), by_kw)
    assert parts == {"431299100201": Decimal("5970.16"), "431299100202": Decimal("4029.85")}
