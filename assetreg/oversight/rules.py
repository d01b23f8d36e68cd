"""Pure rules of oversight: the problem status machine (三单一账), the disposal procedure's order of steps
and approvals, quarter arithmetic and the checks on the county's settings. No database here."""

from __future__ import annotations

from datetime import date

from ..core.access import WRITERS
from .models import APPROVERS, PROBLEM_STATUSES

# --- problems (basis: P27, P30) -------------------------------------------------------------------

# 待整改 → 整改中 → 已整改 → 已销号, forward and in order. One step back: a reviewer (auditor or county
# admin) who does not accept the rectification sends 已整改 back to 整改中 (驳回) with a note, and the
# responsible unit carries on; a closed (已销号) problem is final.
PROBLEM_FORWARD = {"pending": "in_progress", "in_progress": "rectified", "rectified": "closed"}
PROBLEM_REJECT = ("rectified", "in_progress")
PROBLEM_TRANSITIONS = {(a, b) for a, b in PROBLEM_FORWARD.items()} | {PROBLEM_REJECT}
# A problem counts as dealt with (not overdue) once rectified, and stays so when closed.
DONE_STATUSES = ("rectified", "closed")

# Who moves a problem: the responsible town and village (in scope) do the work; only an auditor or the
# county closes it (销号) or rejects a rectification. The county admin may do every step.
TRANSITION_ROLES = {
    ("pending", "in_progress"): WRITERS["problems.respond"],
    ("in_progress", "rectified"): WRITERS["problems.respond"],
    ("rectified", "closed"): WRITERS["problems.review"],
    PROBLEM_REJECT: WRITERS["problems.review"],
}


def problem_transition_error(current: str, target: str) -> str | None:
    """Why ``current → target`` is not a legal step, or None."""
    if (current, target) in PROBLEM_TRANSITIONS:
        return None
    if current == "closed":
        return "问题已销号，不能再变更状态"
    nxt = PROBLEM_FORWARD.get(current)
    return (f"当前状态为“{PROBLEM_STATUSES[current]}”，下一步只能是“{PROBLEM_STATUSES[nxt]}”"
            + ("（或驳回至“整改中”）" if current == "rectified" else ""))


def is_overdue(deadline: date, status_as_of: str | None, as_of: date) -> bool:
    """Past its deadline and not (yet) rectified as of ``as_of`` (RECTIFICATION_OVERDUE; basis: P27)."""
    return status_as_of is not None and status_as_of not in DONE_STATUSES and deadline < as_of


# --- quarters (inspections, basis: P16, P27) --------------------------------------------------------

def quarter_of(d: date) -> int:
    return (d.month - 1) // 3 + 1


def quarter_start(year: int, quarter: int) -> date:
    return date(year, 3 * quarter - 2, 1)


# --- settings ---------------------------------------------------------------------------------------

def month_day_error(month: int, day: int) -> str | None:
    """A deadline is a day of every year (29 February is refused: it does not come every year)."""
    try:
        date(2001, month, day)
    except ValueError:
        return f"{month}月{day}日不是每年都有的日期"
    return None


def approval_order_error(order: list[str]) -> str | None:
    if not order:
        return "至少需要一个审批单位"
    unknown = [a for a in order if a not in APPROVERS]
    if unknown:
        return f"未知审批单位：{'、'.join(unknown)}；应为 {'、'.join(APPROVERS)} 之一"
    if len(set(order)) != len(order):
        return "审批单位不能重复"
    return None


# --- disposal (DOMAIN.md §9; basis: P14) ---------------------------------------------------------------

# The steps before the approvals, in order; an asset kept above village level (no village) has no
# 四议两公开 village decision, so its approvals follow the valuation directly.
OPEN_STATUSES = ("requested", "valued", "village_decided", "approving", "approved")
FINAL_STATUSES = ("executed", "rejected", "cancelled")
# Methods whose execution leaves the asset scrapped (已报废); the others leave it disposed (已处置).
SCRAP_METHODS = ("scrap", "loss")
# The town approval step is the town's (its finance office records it); county steps are the county's.
TOWN_APPROVER = "town_government"


def asset_status_after(method: str) -> str:
    return "scrapped" if method in SCRAP_METHODS else "disposed"


def ready_for_approval(status: str, has_village: bool) -> bool:
    if status in ("village_decided", "approving"):
        return True
    return status == "valued" and not has_village


def next_approval(order: list[str], decided: int) -> tuple[int, str] | None:
    """(seq, approver) of the approval due after ``decided`` approvals, or None when all are in."""
    if decided >= len(order):
        return None
    return decided + 1, order[decided]


def approval_roles(approver: str) -> set[str]:
    return {"finance_officer", "county_admin"} if approver == TOWN_APPROVER else {"county_admin"}


def is_fully_approved(order: list[str], decisions: list[str]) -> bool:
    """Every approver of the frozen order said yes (what DISPOSAL_UNAPPROVED checks an execution against)."""
    return len(decisions) == len(order) and all(d == "approved" for d in decisions)
