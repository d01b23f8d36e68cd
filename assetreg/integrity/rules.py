"""Pure comparisons of ``verify``: a chain walked row by row, stored figures against recomputed ones, a
plan's totals against its lines. Each difference names the table, the row and what differs, in Chinese."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from ..core.chain import GENESIS

TABLES = {
    "income_entries": "收益明细",
    "change_log": "操作日志",
    "chain_heads": "链头",
    "settlements": "年度清算",
    "settlement_parts": "清算分村部分",
    "distribution_plans": "分配方案",
    "plan_allocations": "分配项",
    "plan_lines": "到户明细",
}
FIGURES = {"gross": "毛收入", "costs": "扣除", "net": "净收益", "disposal": "处置收入"}
LINE_FIGURES = {**FIGURES, "part": "本村部分", "gross_part": "本村毛收入部分", "disposal_part": "本村处置收入部分",
                "share_weight": "份额", "share_total": "份额合计"}


@dataclass(frozen=True)
class Difference:
    table: str
    row_id: int | str
    what: str

    def __str__(self) -> str:
        return f"{TABLES.get(self.table, self.table)}（{self.table} #{self.row_id}）：{self.what}"


@dataclass(frozen=True)
class ChainRow:
    id: int
    seq: int
    prev_hash: str
    stored_hash: str
    computed_hash: str


def chain_differences(table: str, rows: Iterable[ChainRow], head: tuple[int, str] | None,
                      county_code: str) -> list[Difference]:
    """Walk one county's chain in position order: positions 1, 2, 3 … without a gap, each row's
    ``prev_hash`` the stored hash of the row before, each stored hash the one its content gives, and the
    head at the last row. An edited row breaks its own hash; a deleted row leaves a gap and a broken link
    at the row after it; rows cut off the end leave the head ahead of the chain."""
    out = []
    expected, prev = 1, GENESIS
    for r in rows:
        why = []
        if r.seq != expected:
            why.append(f"链序号应为 {expected}，实为 {r.seq}" + ("（其前有行被删除）" if r.seq > expected else ""))
        if r.prev_hash != prev:
            why.append("记录的前一行哈希与前一行不符（链在此断开）")
        if r.computed_hash != r.stored_hash:
            why.append("内容与其哈希不符（该行在应用之外被改动）")
        if why:
            out.append(Difference(table, r.id, "；".join(why)))
        expected, prev = r.seq + 1, r.stored_hash
    last = (expected - 1, prev)
    if (head or (0, GENESIS)) != last:
        seq, h = head or (0, GENESIS)
        out.append(Difference("chain_heads", f"{county_code}/{table}",
                              f"链头记为第 {seq} 行（{h[:12]}…），链实际止于第 {last[0]} 行（{last[1][:12]}…）"))
    return out


def _num(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def figure_differences(stored: Mapping, computed: Mapping, labels: Mapping[str, str] = FIGURES,
                       where: str = "") -> list[str]:
    """Each figure of ``labels`` that ``stored`` and ``computed`` disagree on, as 'X 记为 a，应为 b'."""
    out = []
    for key, label in labels.items():
        if key not in computed and key not in stored:
            continue
        a, b = _num(stored.get(key)), _num(computed.get(key))
        if a != b:
            out.append(f"{where}{label}记为 {a}，按收益明细应为 {b}")
    return out


def line_differences(stored_lines: list[dict], computed_lines: list[dict]) -> list[str]:
    """A settlement's frozen lines (one per asset) against the lines the ledger gives."""
    stored = {int(ln["asset_id"]): ln for ln in stored_lines or []}
    computed = {int(ln["asset_id"]): ln for ln in computed_lines or []}
    out = []
    for asset_id in sorted(stored.keys() | computed.keys()):
        s, c = stored.get(asset_id), computed.get(asset_id)
        code = (s or c).get("asset_code") or asset_id
        if s is None:
            out.append(f"缺少资产 {code} 的明细行")
        elif c is None:
            out.append(f"资产 {code} 的明细行在收益明细中没有来源")
        else:
            labels = {k: v for k, v in LINE_FIGURES.items() if k in s or k in c}
            out.extend(figure_differences(s, c, labels, where=f"资产 {code} 的"))
            for p in _part_differences(s.get("parts"), c.get("parts")):
                out.append(f"资产 {code} 的{p}")
    return out


def _part_differences(stored, computed) -> list[str]:
    if stored is None and computed is None:
        return []
    s = {p.get("village_code"): _num(p.get("part")) for p in stored or []}
    c = {p.get("village_code"): _num(p.get("part")) for p in computed or []}
    return [f"{v or '乡镇自有'}部分记为 {s.get(v)}，应为 {c.get(v)}" for v in sorted(s.keys() | c.keys(), key=lambda k: k or "")
            if s.get(v) != c.get(v)]


@dataclass(frozen=True)
class LineFacts:
    id: int
    amount: Decimal
    months: int | None
    monthly_wage: Decimal | None


def allocation_differences(allocation_id: int, amount: Decimal, lines: list[LineFacts]) -> list[Difference]:
    """A wage line is its months × monthly wage; the lines of an allocation add up to it. A line that is
    wrong by itself is named; otherwise a sum that does not match names the allocation (which of its
    rows moved cannot be told)."""
    out = [Difference("plan_lines", li.id, f"金额记为 {li.amount}，应为 {li.months}个月×{li.monthly_wage} = "
                                           f"{li.monthly_wage * li.months}")
           for li in lines if li.months is not None and li.monthly_wage is not None
           and li.monthly_wage * li.months != li.amount]
    total = sum((li.amount for li in lines), Decimal("0.00"))
    if not out and lines and total != amount:
        out.append(Difference("plan_allocations", allocation_id, f"到户明细合计 {total}，与分配额 {amount} 不符"))
    return out


def plan_differences(plan_id: int, *, available: Decimal, settled_net: Decimal, carry_over: Decimal,
                     settlement_net: Decimal | None, allocated: Decimal) -> list[Difference]:
    """可分配收益 = the settled net (as its settlement has it) + 上年结转; the allocations stay within it."""
    why = []
    if settlement_net is not None and settled_net != settlement_net:
        why.append(f"清算净收益记为 {settled_net}，所据清算为 {settlement_net}")
    if available != settled_net + carry_over:
        why.append(f"可分配收益记为 {available}，应为清算净收益 {settled_net} + 上年结转 {carry_over} = "
                   f"{settled_net + carry_over}")
    if allocated > available:
        why.append(f"分配合计 {allocated} 超出可分配收益 {available}")
    return [Difference("distribution_plans", plan_id, "；".join(why))] if why else []
