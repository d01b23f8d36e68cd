"""Pure rules of distribution: plan checks, fill helpers exact to the fen, procedure checks, warnings.

Everything here works on plain values (dicts, dataclasses, Decimal, date) and is testable without a
database. Errors are returned as ``{"field.path": ["why"]}`` dicts for the service to raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..core.money import ZERO, is_exact_cents, round_half_up, split_largest_remainder
from ..households.models import LABOUR, STATUSES
from .models import LINE_PURPOSES, MEETINGS, PURPOSES, PV_PUBLIC_PURPOSES, STEP_ORDER, STEPS

# --- plan content ------------------------------------------------------------------------------


def amount_error(value: Decimal) -> str | None:
    """Amounts in a plan are positive and exact to the fen."""
    if value is None or value <= 0:
        return "金额应大于0"
    if not is_exact_cents(value):
        return "最多两位小数"
    return None


def forbidden_match(use: str | None, forbidden_uses: Iterable[str]) -> str | None:
    """The forbidden use (basis: P10) that the free-text ``use`` names, if any (plain substring match,
    spaces ignored), e.g. "发放村干部津贴福利" names "津贴福利"."""
    if not use:
        return None
    text = "".join(use.split())
    for phrase in forbidden_uses:
        key = "".join((phrase or "").split())
        if key and key in text:
            return phrase
    return None


def forbidden_use_errors(allocations: Sequence[dict], forbidden_uses: Iterable[str]) -> dict:
    forbidden_uses = list(forbidden_uses)
    errors = {}
    for i, a in enumerate(allocations):
        hit = forbidden_match(a.get("use"), forbidden_uses)
        if hit:
            errors[f"allocations.{i}.use"] = [f"“{hit}”属于禁止的收益用途"]
    return errors


def allocation_errors(allocations: Sequence[dict], available: Decimal, village_household_ids: set[int],
                      village_jobs: dict[int, int] | None = None) -> dict:
    """Check a whole set of allocations (each ``{purpose, amount, use, lines: [{household_id, amount}]}``).

    Lines are only for 公益岗位/扶贫济困/奖励补助; when an allocation has lines they add up exactly to it
    (an allocation without lines yet is a draft, completed before the town review); a household appears
    once per allocation and belongs to the plan's village; a line giving months and monthly wage is
    their product; a line naming a job names one of the village's jobs held by that household
    (``village_jobs``: job id → household id); the allocations never exceed ``available``.
    Errors name the allocation and line by position, e.g. ``allocations.2.lines.5.amount``.
    """
    errors: dict[str, list[str]] = {}

    def add(key: str, why: str) -> None:
        errors.setdefault(key, []).append(why)

    seen_purposes: set[str] = set()
    running = ZERO
    exceeded = False
    for i, a in enumerate(allocations):
        at = f"allocations.{i}"
        purpose = a["purpose"]
        if purpose in seen_purposes:
            add(f"{at}.purpose", f"“{PURPOSES[purpose]}”重复，每种用途只能有一项")
        seen_purposes.add(purpose)
        why = amount_error(a["amount"])
        if why:
            add(f"{at}.amount", why)
            continue
        lines = a.get("lines") or []
        if lines and purpose not in LINE_PURPOSES:
            add(f"{at}.lines", f"“{PURPOSES[purpose]}”不分配到户，不能有到户明细")
        seen_households: dict[int, int] = {}
        total = ZERO
        for j, line in enumerate(lines):
            lat = f"{at}.lines.{j}"
            why = amount_error(line["amount"])
            if why:
                add(f"{lat}.amount", why)
            else:
                total += line["amount"]
            months, wage = line.get("months"), line.get("monthly_wage")
            if (months is None) != (wage is None):
                add(f"{lat}.months", "月数与月工资应同时填写")
            elif months is not None and not why and wage * months != line["amount"]:
                add(f"{lat}.amount", f"应为 {months}个月×{wage:.2f}元 = {wage * months:.2f} 元")
            hid = line["household_id"]
            job_id = line.get("job_id")
            if job_id is not None and (village_jobs or {}).get(job_id) != hid:
                add(f"{lat}.job_id", "未找到该农户在本村的公益岗位")
            if hid not in village_household_ids:
                add(f"{lat}.household_id", "未找到本村的该农户")
            if hid in seen_households:
                add(f"{lat}.household_id", f"与第{seen_households[hid] + 1}行重复，同一农户在一项用途中只能出现一次")
            else:
                seen_households[hid] = j
        if lines and not any(k.startswith(f"{at}.lines.") for k in errors) and total != a["amount"]:
            add(f"{at}.lines", f"到户明细合计 {total:.2f} 元，与该项分配额 {a['amount']:.2f} 元不符")
        running += a["amount"]
        if running > available and not exceeded:
            exceeded = True
            add(f"{at}.amount", f"分配合计 {running:.2f} 元，超出可分配收益 {available:.2f} 元")
    return errors


def missing_lines(allocations: Sequence[dict]) -> dict:
    """Before the town review every 公益岗位/扶贫济困/奖励补助 allocation is spelled out to households."""
    return {f"allocations.{i}.lines": [f"“{PURPOSES[a['purpose']]}”尚未分配到户"]
            for i, a in enumerate(allocations) if a["purpose"] in LINE_PURPOSES and not a.get("lines")}


# --- fill helpers (every one exact to the fen: the parts add up to the whole) --------------------


def split_equal(total: Decimal, n: int) -> list[Decimal]:
    """``total`` in ``n`` parts differing by at most one fen (largest remainder, earlier parts first)."""
    if n <= 0:
        raise ValueError("no households")
    return split_largest_remainder(total, [1] * n)


def split_by_weights(total: Decimal, weights: Sequence[Decimal | int]) -> list[Decimal]:
    """``total`` in proportion to ``weights`` (e.g. member counts), to the fen, adding up exactly."""
    return split_largest_remainder(total, weights)


LABOUR_RANK = {"none": 0, "weak": 1, "half": 2, "full": 3}


def household_labour(member_labours: Iterable[str]) -> str:
    """A household's labour capacity is its strongest member's (无劳动力 only if nobody can work)."""
    best = "none"
    for labour in member_labours:
        if LABOUR_RANK.get(labour, 0) > LABOUR_RANK[best]:
            best = labour
    return best


@dataclass(frozen=True)
class HouseholdFacts:
    household_id: int
    person_name: str
    status: str  # formerly_poor / monitored / ordinary
    size: int  # members
    labour: str  # full / half / weak / none (household_labour)


@dataclass(frozen=True)
class Tier:
    """One row of a tier table: conditions (None = any) → amount per household."""

    amount: Decimal
    status: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    labour: str | None = None

    def matches(self, h: HouseholdFacts) -> bool:
        return ((self.status is None or self.status == h.status)
                and (self.min_size is None or h.size >= self.min_size)
                and (self.max_size is None or h.size <= self.max_size)
                and (self.labour is None or self.labour == h.labour))

    def label(self) -> str:

        parts = []
        if self.status:
            parts.append(STATUSES.get(self.status, self.status))
        if self.min_size is not None or self.max_size is not None:
            lo, hi = self.min_size, self.max_size
            parts.append(f"{lo}-{hi}人" if lo is not None and hi is not None
                         else f"{lo}人以上" if lo is not None else f"{hi}人以下")
        if self.labour:
            parts.append(LABOUR.get(self.labour, self.labour))
        return "·".join(parts) or "所有农户"


def tier_errors(tiers: Sequence[Tier]) -> dict:
    errors = {}
    for i, t in enumerate(tiers):
        if t.amount is None or t.amount < 0 or not is_exact_cents(t.amount):
            errors[f"tiers.{i}.amount"] = ["金额应不小于0且最多两位小数"]
        if t.min_size is not None and t.max_size is not None and t.min_size > t.max_size:
            errors[f"tiers.{i}.max_size"] = ["不能小于 min_size"]
    return errors


@dataclass(frozen=True)
class TierFill:
    lines: list[dict]  # {household_id, person_name, amount, reason, tier}
    table_total: Decimal  # what the table's amounts add up to before any scaling
    unmatched: list[int]  # households no tier row applies to (they get nothing)


def fill_by_tiers(households: Sequence[HouseholdFacts], tiers: Sequence[Tier], total: Decimal | None) -> TierFill:
    """Tier table fill. Each household gets the amount of the first row it matches (none: no line).

    ``total`` None: the table's amounts as they stand (the caller sets the allocation to their sum).
    ``total`` given: the table's amounts are the proportions and ``total`` is split by them to the fen
    (largest remainder), so the lines add up exactly to the allocation whether the table asked for more
    or less than it — the table says who gets how much relative to whom; the allocation says how much
    there is. Rows with amount 0 exclude the households they match.
    """
    matched: list[tuple[HouseholdFacts, int, Tier]] = []
    unmatched: list[int] = []
    for h in households:
        hit = next(((i, t) for i, t in enumerate(tiers) if t.matches(h)), None)
        if hit is None:
            unmatched.append(h.household_id)
        elif hit[1].amount > 0:
            matched.append((h, hit[0], hit[1]))
    table_total = sum((t.amount for _, _, t in matched), ZERO)
    if not matched:
        return TierFill([], ZERO, unmatched)
    if total is None:
        amounts = [t.amount for _, _, t in matched]
    else:
        amounts = split_largest_remainder(total, [t.amount for _, _, t in matched])
    lines = [{"household_id": h.household_id, "person_name": h.person_name, "amount": amount,
              "reason": f"按档次：{t.label()}（标准 {t.amount:.2f} 元）", "tier": i}
             for (h, i, t), amount in zip(matched, amounts, strict=True)]
    return TierFill(lines, table_total, unmatched)


@dataclass(frozen=True)
class JobFacts:
    job_id: int
    household_id: int
    person_name: str
    post: str
    monthly_wage: Decimal
    months: int  # months attended in the plan year within the job's term


def wage_lines(jobs: Sequence[JobFacts]) -> list[dict]:
    """公益岗位 lines: months attended × monthly wage, exact (no rounding). A household holding several
    jobs gets one line (a household appears once per allocation) with the jobs listed in the reason."""
    by_household: dict[int, list[JobFacts]] = {}
    for j in jobs:
        if j.months > 0:
            by_household.setdefault(j.household_id, []).append(j)
    lines = []
    for hid, js in by_household.items():
        amount = sum((j.monthly_wage * j.months for j in js), ZERO)
        reason = "；".join(f"{j.post} {j.months}个月×{j.monthly_wage:.2f}元" for j in js)
        one = len(js) == 1
        lines.append({"household_id": hid, "person_name": "、".join(dict.fromkeys(j.person_name for j in js)),
                      "amount": amount, "reason": reason[:200], "months": js[0].months if one else None,
                      "monthly_wage": js[0].monthly_wage if one else None, "job_id": js[0].job_id if one else None})
    return lines


def months_in_term(year: int, term_from: date, term_to: date | None) -> set[int]:
    """The months of ``year`` a job's term covers (any day of the month inside the term)."""
    months = set()
    for m in range(1, 13):
        first = date(year, m, 1)
        last = date(year + (m == 12), m % 12 + 1, 1)
        if term_from < last and (term_to is None or term_to >= first):
            months.add(m)
    return months


# --- procedure (四议两公开, basis: P17, P20) ---------------------------------------------------


def next_step(done: Sequence[str]) -> str | None:
    """The one step that may be recorded next, or None when the procedure is complete."""
    return STEP_ORDER[len(done)] if len(done) < len(STEP_ORDER) else None


def meeting_count_errors(due: int | None, present: int | None, in_favour: int | None) -> dict:
    """The head counts a meeting records: all three given and consistent (due ≥ present ≥ in favour)."""
    errors = {name: ["会议须填写应到、实到和赞成人数"]
              for name, value in (("members_due", due), ("members_present", present),
                                  ("members_in_favour", in_favour)) if value is None}
    if errors:
        return errors
    if due < 1:
        return {"members_due": ["应到人数应大于0"]}
    if present > due:
        return {"members_present": ["实到人数不能多于应到人数"]}
    if in_favour > present:
        return {"members_in_favour": ["赞成人数不能多于实到人数"]}
    return {}


def quorum_errors(due: int, present: int, in_favour: int) -> dict:
    """A meeting needs at least two thirds of its members present and more than half of those present
    in favour (basis: P17). 30 due: 20 present is enough, 19 is not; 20 present: 11 in favour pass, 10 fail."""
    errors = {}
    if present * 3 < due * 2:
        errors["members_present"] = [f"实到 {present} 人，不足应到 {due} 人的三分之二"]
    if in_favour * 2 <= present:
        errors["members_in_favour"] = [f"赞成 {in_favour} 人，未超过实到 {present} 人的半数"]
    return errors


def notice_days(start: date, end: date) -> int:
    """Days of a notice, counted inclusive: 1 to 10 March is 10 days."""
    return (end - start).days + 1


def notice_errors(start: date | None, end: date | None, min_days: int) -> dict:
    if start is None or end is None:
        return {name: ["公示须填写起止日期"] for name, v in (("notice_start_on", start), ("notice_end_on", end))
                if v is None}
    if end < start:
        return {"notice_end_on": ["结束日期不能早于开始日期"]}
    days = notice_days(start, end)
    if days < min_days:
        return {"notice_end_on": [f"公示期 {days} 天，少于县定最短 {min_days} 天"]}
    return {}


def notice_over(end: date, today: date) -> bool:
    """The notice has run its full term only once its last day is over: approval from end + 1 day."""
    return today > end


# --- warnings (not refusals) -------------------------------------------------------------------


def warning(code: str, message: str, basis: str | None = None, field: str | None = None) -> dict:
    return {"code": code, "message": message, "basis": basis, "field": field}


def pv_required(pv_net: Decimal, min_share: Decimal) -> Decimal:
    """The least a year's PV income must give to 公益岗位 and 村级公益事业 (basis: P23)."""
    if pv_net <= 0:
        return ZERO
    return round_half_up(pv_net * min_share)


def pv_shortfall(pv_net: Decimal, min_share: Decimal, allocations: Sequence[dict]) -> tuple[Decimal, Decimal] | None:
    """The 80% PV rule (basis: P23), the one place it is computed: (required, allocated) when the plan's
    公益岗位 and 村级公益事业 together fall short of ``min_share`` of the year's PV net income (rounded
    half-up to the fen; exactly the minimum is enough), else None."""
    required = pv_required(pv_net, min_share)
    if required <= 0:
        return None
    public = sum((a["amount"] for a in allocations if a["purpose"] in PV_PUBLIC_PURPOSES), ZERO)
    return (required, public) if public < required else None


def pv_share_warning(pv_net: Decimal, min_share: Decimal, allocations: Sequence[dict]) -> dict | None:
    gap = pv_shortfall(pv_net, min_share, allocations)
    if gap is None:
        return None
    required, public = gap
    return warning("PV_SHARE_LOW",
                   f"光伏收益 {pv_net:.2f} 元的 {min_share * 100:.0f}% 即 {required:.2f} 元应用于公益岗位和村级公益事业，"
                   f"现仅安排 {public:.2f} 元", "P23", "allocations")


CASH_PURPOSES = ("relief", "awards")


def equal_cash_warnings(allocations: Sequence[dict], village_households: int) -> list[dict]:
    """简单平均/一发了之: a cash allocation spread equally (to the fen) over every household of the village,
    where income should go first to those in difficulty (basis: P36)."""
    out = []
    for i, a in enumerate(allocations):
        lines = a.get("lines") or []
        if a["purpose"] not in CASH_PURPOSES or village_households < 2 or len(lines) < village_households:
            continue
        amounts = [li["amount"] for li in lines]
        if max(amounts) - min(amounts) <= Decimal("0.01"):
            out.append(warning("EQUAL_CASH",
                               f"“{PURPOSES[a['purpose']]}”按户平均发给全村 {len(lines)} 户，未区分农户类别"
                               "（简单平均、一发了之）", "P36", f"allocations.{i}"))
    return out


def monitored_left_out_warning(allocations: Sequence[dict], monitored_ids: set[int]) -> dict | None:
    """Monitored households (监测户, risk not cleared) get nothing while other households get money
    (basis: P31)."""
    receiving = {li["household_id"] for a in allocations for li in (a.get("lines") or [])}
    if not receiving - monitored_ids:
        return None
    left_out = sorted(monitored_ids - receiving)
    if not left_out:
        return None
    return warning("MONITORED_LEFT_OUT",
                   f"本村 {len(left_out)} 户监测户未获得任何收益分配，而其他农户获得分配", "P31", "allocations")


def job_priority_warning(holder: HouseholdFacts, holder_labour: str, priority_free: int) -> dict | None:
    """公益岗位 go first to 脱贫户/监测户 and weak or half labour (basis: P29, P36): warn when an 一般户
    member with full labour holds one while such households hold none."""
    if holder.status != "ordinary" or holder_labour != "full" or priority_free <= 0:
        return None
    return warning("JOB_PRIORITY",
                   f"岗位由一般户中有劳动力者担任，而本村尚有 {priority_free} 户脱贫户、监测户或弱/半劳动力户未安排岗位",
                   "P36", "household_id")


def step_label(kind: str) -> str:
    return STEPS[kind]


def is_meeting(kind: str) -> bool:
    return kind in MEETINGS
