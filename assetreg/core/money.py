"""Money is Decimal yuan with two places; integer fen in the database. Rounding lives here only."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# Largest amount the registry accepts for one figure: one trillion yuan, far beyond any county.
MAX_AMOUNT = Decimal("1000000000000.00")


def to_decimal(value) -> Decimal:
    """Parse a money value (str, int or Decimal; never float) into Decimal, refusing NaN/inf."""
    if isinstance(value, float):
        raise TypeError("money must not be float")
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise ValueError("not a finite number")
    return d


def round_half_up(value: Decimal, quantum: Decimal = CENT) -> Decimal:
    """The one rounding mode for money (四舍五入 to the fen)."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def is_exact_cents(value: Decimal) -> bool:
    try:
        return value == value.quantize(CENT)
    except InvalidOperation:  # too many digits to quantize: certainly not a money amount
        return False


def to_fen(value: Decimal) -> int:
    if not is_exact_cents(value):
        raise ValueError(f"{value} has more than two decimal places")
    return int(value * 100)


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(CENT)


def split_largest_remainder(total: Decimal, weights: Sequence[Decimal | int]) -> list[Decimal]:
    """Split ``total`` into parts proportional to ``weights``, each to the fen, summing exactly.

    Hamilton's method: floor every share in fen, then hand the leftover fen one by one to the
    largest remainders (ties to the earlier weight, so the result is deterministic).
    """
    if not weights:
        raise ValueError("no weights")
    ws = [Decimal(w) for w in weights]
    if any(w < 0 for w in ws):
        raise ValueError("negative weight")
    wsum = sum(ws)
    if wsum == 0:
        raise ValueError("weights sum to zero")
    total_fen = to_fen(total)
    sign = -1 if total_fen < 0 else 1
    total_fen = abs(total_fen)
    floors, remainders = [], []
    for w in ws:
        exact = Decimal(total_fen) * w / wsum
        f = int(exact)  # exact >= 0, so int() floors
        floors.append(f)
        remainders.append(exact - f)
    left = total_fen - sum(floors)
    order = sorted(range(len(ws)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        floors[i] += 1
    return [from_fen(sign * f) for f in floors]


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ["", "拾", "佰", "仟"]
_SECTIONS = ["", "万", "亿", "万亿"]


def _integer_to_chinese(n: int) -> str:
    digits = str(n)
    size = len(digits)
    out: list[str] = []
    pending_zero = False
    for i, ch in enumerate(digits):
        pos = size - 1 - i
        d = int(ch)
        if d == 0:
            pending_zero = True
        else:
            if pending_zero:
                out.append("零")
                pending_zero = False
            out.append(_DIGITS[d] + _UNITS[pos % 4])
        if pos % 4 == 0 and pos > 0 and int(digits[max(0, i - 3): i + 1]):
            out.append(_SECTIONS[pos // 4])
    return "".join(out)


def to_chinese_capital(amount) -> str:
    """Chinese capital numerals for money (大写), e.g. 12345.67 → 壹万贰仟叁佰肆拾伍元陆角柒分."""
    amount = round_half_up(to_decimal(amount))
    if amount < 0:
        return "负" + to_chinese_capital(-amount)
    yuan, cents = divmod(to_fen(amount), 100)
    jiao, fen = divmod(cents, 10)
    if yuan == 0 and cents == 0:
        return "零元整"
    out = _integer_to_chinese(yuan) + "元" if yuan else ""
    if cents == 0:
        return out + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif yuan:
        out += "零"
    return out + (_DIGITS[fen] + "分" if fen else "整")
