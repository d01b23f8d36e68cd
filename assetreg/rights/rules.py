"""Pure rules of the five rights: completeness, the checks of one record, and advisory notes.

Nothing here reads the database; services pass plain facts (objects with ``kind``, ``holder_kind``
and ``household_id`` attributes — an ``AssetRight`` or anything shaped like it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ..core.validators import is_valid_credit_code
from .models import CREDIT_CODE_REQUIRED, FIVE_RIGHTS, HOLDER_KINDS, RIGHT_KINDS

# basis: P06 — operating assets go as far as possible to the village collective or the people who earn.
OPERATING_TARGET_HOLDERS = {"village_collective", "household"}
OPERATING_KEY_RIGHTS = ("ownership", "income")


def missing_rights(current_kinds: Iterable[str]) -> list[str]:
    """The five rights without a current holder, in their canonical order (basis: P03)."""
    held = set(current_kinds)
    return [k for k in FIVE_RIGHTS if k not in held]


def is_complete(current_kinds: Iterable[str]) -> bool:
    """确权 complete: all five rights have a current holder. Derived, never stored (basis: P03)."""
    return not missing_rights(current_kinds)


def credit_code_error(holder_kind: str, credit_code: str | None) -> str | None:
    """Organisations must give a credit code; any code given must pass the GB 32100 check."""
    if not credit_code:
        if holder_kind in CREDIT_CODE_REQUIRED:
            return f"“{HOLDER_KINDS[holder_kind]}”须填写统一社会信用代码"
        return None
    if not is_valid_credit_code(credit_code):
        return "统一社会信用代码无效（应为18位，校验位须正确）"
    return None


def effective_on_error(effective_on: date, *, today: date, current_effective_on: date | None) -> str | None:
    """A holder takes effect no later than today and not before the holder it replaces."""
    if effective_on > today:
        return "生效日期不能晚于今天"
    if current_effective_on is not None and effective_on < current_effective_on:
        return f"不能早于现持有人的生效日期 {current_effective_on.isoformat()}"
    return None


@dataclass(frozen=True)
class Note:
    """A warning shown beside the rights; never a refusal."""

    code: str
    basis: str
    kind: str | None
    message: str


def rights_notes(*, category: str, household_id: int | None, current: Iterable) -> list[Note]:
    """Advisory notes on the current holders of an asset's rights (P04, P06, P11)."""
    notes: list[Note] = []
    current = sorted(current, key=lambda r: list(RIGHT_KINDS).index(r.kind))
    for r in current:
        label = RIGHT_KINDS[r.kind]
        holder = HOLDER_KINDS.get(r.holder_kind, r.holder_kind)
        if category == "operating" and r.kind in OPERATING_KEY_RIGHTS \
                and r.holder_kind not in OPERATING_TARGET_HOLDERS:
            notes.append(Note("operating_right_not_local", "P06", r.kind,
                              f"经营性资产的{label}应最大限度确权到村集体经济组织或获得收益的农户"
                              f"（现为{holder}）"))
        if r.holder_kind == "county_department":
            notes.append(Note("county_held_right", "P04", r.kind, f"{label}由县直部门持有：权属尽量下沉乡镇"))
        if category == "household" and (r.holder_kind != "household" or r.household_id != household_id):
            notes.append(Note("household_right_elsewhere", "P11", r.kind,
                              f"到户类资产的各项权利应确权到该农户（{label}现为{holder}）"))
    return notes
