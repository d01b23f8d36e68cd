"""Pure rules of the asset registry: the status machine and straight-line depreciation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..core.money import ZERO, round_half_up

# The legal transitions of DOMAIN.md §2: 在建 → 待移交 → 已确权 → 运营中/使用中 → 闲置 → 处置中 → 已处置/已报废.
# A disposal may be called off (处置中 → 闲置); an idle asset may return to use; a disaster can
# send an asset under construction or just handed over straight to disposal.
TRANSITIONS: dict[str, set[str]] = {
    "under_construction": {"completed", "disposing"},
    "completed": {"handed_over", "disposing"},
    "handed_over": {"in_operation", "in_use", "idle", "disposing"},
    "in_operation": {"idle", "disposing"},
    "in_use": {"idle", "disposing"},
    "idle": {"in_operation", "in_use", "disposing"},
    "disposing": {"disposed", "scrapped", "idle"},
    "disposed": set(),
    "scrapped": set(),
}
INITIAL_STATUSES = {"under_construction", "completed", "handed_over", "in_operation", "in_use", "idle"}
# "In service" is 运营中 for operating assets, 使用中 for public-welfare and household ones.
# Statuses of an asset handed over and still held: its five rights must be complete (basis: P03).
HELD = ("handed_over", "in_operation", "in_use", "idle", "disposing")
IN_SERVICE = {"operating": "in_operation", "public_welfare": "in_use", "household": "in_use"}


def transition_error(category: str, current: str, target: str) -> str | None:
    if target not in TRANSITIONS.get(current, set()):
        return f"不允许从“{current}”变更为“{target}”"
    if target in ("in_operation", "in_use") and target != IN_SERVICE[category]:
        return f"该类资产投入使用的状态应为“{IN_SERVICE[category]}”"
    return None


@dataclass(frozen=True)
class Depreciation:
    """Book value of an asset at a date (basis: P19, seed 002 item 19 资产折旧制度)."""

    as_of: date
    original_value: Decimal
    months_elapsed: int
    total_months: int
    accumulated: Decimal
    book_value: Decimal
    residual_value: Decimal


def months_between(start: date, as_of: date) -> int:
    """Whole months of depreciation: it begins the month after the asset enters service."""
    months = (as_of.year - start.year) * 12 + (as_of.month - start.month)
    return max(months, 0)


def depreciate(original_value: Decimal, *, in_service_on: date | None, useful_life_years: int | None,
               residual_rate: Decimal, as_of: date) -> Depreciation:
    """Straight line: (original − residual) × months elapsed / (life × 12), rounded half-up to the fen.

    Computed from the start each time (never month by month), so no rounding drift builds up; the
    last month lands exactly on the residual value.
    """
    residual_value = round_half_up(original_value * residual_rate)
    if in_service_on is None or not useful_life_years:
        return Depreciation(as_of, original_value, 0, (useful_life_years or 0) * 12, ZERO,
                            original_value, residual_value)
    total = useful_life_years * 12
    elapsed = min(months_between(in_service_on, as_of), total)
    depreciable = original_value - residual_value
    accumulated = round_half_up(depreciable * elapsed / total)
    return Depreciation(as_of, original_value, elapsed, total, accumulated,
                        original_value - accumulated, residual_value)


def funding_error(original_value: Decimal, amounts: list[Decimal]) -> str | None:
    total = sum(amounts, ZERO)
    if total != original_value:
        return f"资金来源合计 {total:.2f} 元，与原值 {original_value:.2f} 元不符"
    return None
