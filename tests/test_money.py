"""core.money: exact splits (largest remainder) and Chinese capital numerals (大写)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assetreg.core.money import split_largest_remainder, to_chinese_capital, to_fen
from assetreg.core.types import Money

cents = st.integers(min_value=-10**13, max_value=10**13).map(lambda n: Decimal(n) / 100)
weights = st.lists(st.one_of(st.integers(min_value=0, max_value=10**6),
                             st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False)),
                   min_size=1, max_size=40).filter(lambda ws: sum(Decimal(w) for w in ws) > 0)


@settings(max_examples=300, deadline=None)
@given(total=cents, ws=weights)
def test_split_adds_up_exactly_and_is_fair(total, ws):
    parts = split_largest_remainder(total, ws)
    assert sum(parts) == total
    assert all(p == p.quantize(Decimal("0.01")) for p in parts)
    wsum = sum(Decimal(w) for w in ws)
    for p, w in zip(parts, ws, strict=True):
        exact = total * Decimal(w) / wsum
        assert abs(p - exact) < Decimal("0.01")  # each part within one fen of its exact share
        if Decimal(w) == 0:
            assert p == 0


def test_split_known_cases():
    assert split_largest_remainder(Decimal("100.00"), [1, 1, 1]) == [Decimal("33.34"), Decimal("33.33"),
                                                                     Decimal("33.33")]
    assert split_largest_remainder(Decimal("10000.00"), [Decimal("60.5"), Decimal("39.5")]) == [
        Decimal("6050.00"), Decimal("3950.00")]
    assert split_largest_remainder(Decimal("-0.05"), [1, 1]) == [Decimal("-0.03"), Decimal("-0.02")]
    with pytest.raises(ValueError):
        split_largest_remainder(Decimal("1.00"), [0, 0])
    with pytest.raises(ValueError):
        split_largest_remainder(Decimal("1.001"), [1])


@pytest.mark.parametrize("amount, text", [
    ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("0.05", "伍分"),
    ("0.50", "伍角整"),
    ("1.05", "壹元零伍分"),
    ("10", "壹拾元整"),
    ("1004.00", "壹仟零肆元整"),
    ("10001", "壹万零壹元整"),
    ("100010000", "壹亿零壹万元整"),
    ("100000000", "壹亿元整"),
    ("203000.40", "贰拾万零叁仟元肆角整"),  # 万位为0: 零 may be written (both forms are legal)
    ("1030.00", "壹仟零叁拾元整"),
    ("0", "零元整"),
])
def test_chinese_capital(amount, text):
    assert to_chinese_capital(Decimal(amount)) == text


def test_money_column_refuses_float_and_extra_places():
    t = Money()
    assert t.process_bind_param(Decimal("12.34"), None) == 1234
    assert t.process_result_value(1234, None) == Decimal("12.34")
    with pytest.raises(TypeError):
        t.process_bind_param(12.34, None)
    with pytest.raises(ValueError):
        t.process_bind_param(Decimal("12.345"), None)
    assert to_fen(Decimal("-0.01")) == -1
