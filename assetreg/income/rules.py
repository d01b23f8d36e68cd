"""Pure rules of the income ledger: signed effects, splits, fixed-return dues, lump-sum spreads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..core.money import ZERO, round_half_up, split_largest_remainder

QUARTER_MONTHS = {q: (3 * q - 2, 3 * q - 1, 3 * q) for q in (1, 2, 3, 4)}
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def settlement_due_on(year: int) -> date:
    """Each year's income is settled and published by 31 March of the next year (basis: P34)."""
    return date(year + 1, 3, 31)


def signed_effect(direction: str, amount: Decimal, is_reversal: bool) -> Decimal:
    """What an entry adds to its asset's net: income +, deduction −, a reversal the opposite.

    The pure twin of ``IncomeEntry.signed_amount`` (the SQL expression every ledger sum uses)."""
    sign = 1 if direction == "income" else -1
    return amount * (-sign if is_reversal else sign)


def ledger_columns(direction: str, kind: str, signed: Decimal) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """(gross, costs, disposal): where an entry's signed amount counts, the other two None. Ordinary income
    counts in gross, a deduction in costs (positive, a reversed one negative), 处置收入 apart in disposal.
    The pure twin of ``income.models.ledger_sums``."""
    if direction == "deduction":
        return None, -signed, None
    if kind == "disposal":
        return None, None, signed
    return signed, None, None


def period_error(period_month: int | None, period_quarter: int | None) -> dict | None:
    if period_month is not None and period_quarter is not None:
        why = ["月份与季度只能填写其一"]
        return {"period_month": why, "period_quarter": why}
    return None


# --- shares ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Share:
    village_code: str
    weight: Decimal


def split_among(total: Decimal, shares: Sequence[Share]) -> dict[str, Decimal]:
    """Each village's part of ``total`` by its weight, to the fen, the parts adding up exactly.

    The order is fixed (village code) so that every caller computing one village's part of the same
    asset gets the same figure as a caller computing all parts at once.
    """
    ordered = sorted(shares, key=lambda s: s.village_code)
    parts = split_largest_remainder(total, [s.weight for s in ordered])
    return {s.village_code: p for s, p in zip(ordered, parts, strict=True)}


@dataclass(frozen=True)
class Part:
    """A village's part of a shared asset's year: net = gross − costs."""

    gross: Decimal
    costs: Decimal
    net: Decimal
    disposal: Decimal


def split_figures(gross: Decimal, costs: Decimal, disposal: Decimal, shares: Sequence[Share]) -> dict[str, Part]:
    """Each village's gross, costs, net and disposal of a shared asset's year: every column adds up exactly
    to the asset's, and none is negative where the asset's is not.

    The net is split as everywhere (``split_among``: the village pages, the PV rule, the adjustments).
    Of gross and costs, the one on the net's side is split too and the other follows (gross = net + costs
    while the net is not negative, costs = gross − net when it is): the column that follows is then never
    below zero. Splitting gross and net apart could give a village costs of −0.01 (gross 0.86, costs 0.01,
    weights 1:3:5: gross part 0.09, net part 0.10).
    """
    net = gross - costs
    nets = split_among(net, shares)
    disposals = split_among(disposal, shares)
    if net >= 0:
        cost_parts = split_among(costs, shares)
        return {v: Part(nets[v] + cost_parts[v], cost_parts[v], nets[v], disposals[v]) for v in nets}
    gross_parts = split_among(gross, shares)
    return {v: Part(gross_parts[v], gross_parts[v] - nets[v], nets[v], disposals[v]) for v in nets}


def share_year_applies(from_year: int | None, to_year: int | None, year: int) -> bool:
    return (from_year is None or from_year <= year) and (to_year is None or to_year >= year)


# --- fixed returns and lump sums -------------------------------------------------------------

def months_in_force(start_on: date, end_on: date) -> list[tuple[int, int]]:
    """Calendar months a contract covers: those whose first day falls in its term.

    A term from 15 July 2024 to 14 July 2027 covers August 2024 … July 2027: 36 months, as agreed.
    """
    first = (start_on.year, start_on.month) if start_on.day == 1 else _next_month(start_on.year, start_on.month)
    last = (end_on.year, end_on.month)
    out = []
    y, m = first
    while (y, m) <= last:
        out.append((y, m))
        y, m = _next_month(y, m)
    return out


def _next_month(y: int, m: int) -> tuple[int, int]:
    return (y + 1, 1) if m == 12 else (y, m + 1)


def spread_lump_sum(amount: Decimal, start_on: date, end_on: date) -> dict[int, Decimal]:
    """A one-off sum covering several years, spread over the years by months covered (largest
    remainder, so the parts add up to the sum exactly)."""
    months = months_in_force(start_on, end_on)
    if not months:
        return {start_on.year: amount}
    per_year: dict[int, int] = {}
    for y, _m in months:
        per_year[y] = per_year.get(y, 0) + 1
    years = sorted(per_year)
    parts = split_largest_remainder(amount, [per_year[y] for y in years])
    return dict(zip(years, parts, strict=True))


@dataclass(frozen=True)
class Due:
    """The amount a contract makes due for one period of a year."""

    kind: str
    year: int
    month: int | None
    quarter: int | None
    months: int  # contract months inside the period
    amount: Decimal

    @property
    def key(self) -> tuple:
        return (self.kind, self.month, self.quarter)

    @property
    def period_end(self) -> date:
        last = self.month or (3 * self.quarter if self.quarter else 12)
        nxt = _next_month(self.year, last)
        return date(nxt[0], nxt[1], 1)  # exclusive


def contract_dues(*, kind: str, basis: str, period: str, start_on: date, end_on: date, year: int,
                  principal: Decimal | None = None, annual_rate_percent: Decimal | None = None,
                  amount: Decimal | None = None) -> list[Due]:
    """The income a contract makes due in ``year``, one line per period it covers.

    rate: principal × rate × months/12, rounded half-up to the fen (one rounding per period);
    fixed: the agreed amount per full period, pro rata by months for a part period;
    lump_sum: the year's part of the sum spread by months (one line for the year).
    """
    if basis == "lump_sum":
        part = spread_lump_sum(amount, start_on, end_on).get(year)
        if part is None:
            return []
        n = sum(1 for y, _ in months_in_force(start_on, end_on) if y == year)
        return [Due(kind, year, None, None, n, part)]
    covered = {m for y, m in months_in_force(start_on, end_on) if y == year}
    if not covered:
        return []
    size = PERIOD_MONTHS[period]
    out = []
    for start in range(1, 13, size):
        months = sum(1 for m in range(start, start + size) if m in covered)
        if not months:
            continue
        if basis == "rate":
            due = round_half_up(principal * annual_rate_percent * months / 1200)  # one division
        else:
            due = amount if months == size else round_half_up(amount * months / size)
        month = start if period == "month" else None
        quarter = (start + 2) // 3 if period == "quarter" else None
        out.append(Due(kind, year, month, quarter, months, due))
    return out


@dataclass
class DueLine:
    kind: str
    month: int | None
    quarter: int | None
    due: Decimal
    received: Decimal
    period_end: date

    @property
    def outstanding(self) -> Decimal:
        return max(self.due - self.received, ZERO)


def match_received(dues: Sequence[Due], received: dict[tuple[str, int | None, int | None], Decimal]
                   ) -> tuple[list[DueLine], dict[str, Decimal]]:
    """Set what was received (net, keyed by kind, month, quarter) against what was due.

    A monthly due takes that month's entries; a quarterly due that quarter's entries and its months'
    entries; a yearly due every entry of the kind in the year. Returns the lines (dues of the same
    kind and period summed) and, per kind, what was received but matched no line.
    """
    merged: dict[tuple, Due] = {}
    for d in dues:
        if d.key in merged:
            o = merged[d.key]
            merged[d.key] = Due(d.kind, d.year, d.month, d.quarter, max(o.months, d.months), o.amount + d.amount)
        else:
            merged[d.key] = d
    used: set[tuple] = set()
    lines = []
    # yearly lines last, so monthly and quarterly lines take their own entries first
    for key in sorted(merged, key=lambda k: (k[0], k[1] is None and k[2] is None, k[1] or 0, k[2] or 0)):
        d = merged[key]
        if d.month is not None:
            keys = [(d.kind, d.month, None)]
        elif d.quarter is not None:
            keys = [(d.kind, None, d.quarter)] + [(d.kind, m, None) for m in QUARTER_MONTHS[d.quarter]]
        else:
            keys = [k for k in received if k[0] == d.kind]
        got = sum((received.get(k, ZERO) for k in keys if k not in used), ZERO)
        used.update(keys)
        lines.append(DueLine(d.kind, d.month, d.quarter, d.amount, got, d.period_end))
    unmatched: dict[str, Decimal] = {}
    kinds = {d.kind for d in merged.values()}
    for k, v in received.items():
        if k[0] in kinds and k not in used and v:
            unmatched[k[0]] = unmatched.get(k[0], ZERO) + v
    return lines, unmatched
