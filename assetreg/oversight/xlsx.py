"""The rectification ledger (整改台账) as an XLSX: one sheet of problems, one of counts by status, through
core.spreadsheets (formulas never interpreted). Row builders are pure."""

from __future__ import annotations

from collections import Counter
from datetime import date

from ..core.spreadsheets import Workbook
from .models import PROBLEM_SOURCES, PROBLEM_STATUSES

COLUMNS = [("序号", 6, "int"), ("问题编号", 9, "int"), ("来源", 9, "text"), ("乡镇", 12, "text"), ("村", 12, "text"),
           ("资产编号", 16, "text"), ("资产名称", 22, "text"), ("问题描述", 40, "text"), ("整改任务", 30, "text"),
           ("责任单位", 18, "text"), ("责任人", 9, "text"), ("提出日期", 13, "date"), ("整改期限", 13, "date"),
           ("状态", 8, "text"), ("整改完成日期", 13, "date"), ("销号日期", 13, "date"), ("是否逾期", 8, "text")]


def row_for(i: int, p, names: dict[str, str]) -> list:
    """One problem as its cells (pure). ``p.is_overdue``: past the deadline and not rectified, today."""
    return [i, p.id, PROBLEM_SOURCES.get(p.source, p.source), names.get(p.town_code, "") if p.town_code else "",
            names.get(p.village_code, "") if p.village_code else "", getattr(p, "asset_code", None) or "",
            getattr(p, "asset_name", None) or "", p.description, p.task or "", p.responsible_unit,
            p.responsible_person, p.raised_on, p.deadline, PROBLEM_STATUSES.get(p.status, p.status), p.rectified_on,
            p.closed_on, "逾期" if p.is_overdue else ""]


def status_counts(problems) -> list[tuple[str, int]]:
    counts = Counter(p.status for p in problems)
    return [(label, counts[s]) for s, label in PROBLEM_STATUSES.items()]


def build(problems: list, *, title: str, today: date, names: dict[str, str], target=None) -> bytes | None:
    wb = Workbook(target)
    fm = wb.formats
    ws = wb.sheet("整改台账")
    last = len(COLUMNS) - 1
    ws.merge_range(0, 0, 0, last, title, fm["title"])
    ws.set_row(0, 28)
    overdue = sum(1 for p in problems if p.is_overdue)
    ws.merge_range(1, 0, 1, last, f"导出日期：{today.year}年{today.month}月{today.day}日　共{len(problems)}条，"
                                  f"其中逾期未整改{overdue}条", fm["plain"])
    row = wb.write_header(ws, 2, [c[0] for c in COLUMNS], [c[1] for c in COLUMNS], freeze=True)
    kinds = [c[2] for c in COLUMNS]
    for i, p in enumerate(problems, start=1):
        row = wb.write_cells(ws, row, row_for(i, p, names), kinds)
    ws.autofilter(2, 0, 2 + len(problems), last)
    sheet = wb.sheet("按状态统计")
    r = wb.write_header(sheet, 0, ["状态", "条数"], [12, 8])
    for label, n in status_counts(problems):
        r = wb.write_cells(sheet, r, [label, n], ["text", "int"])
    r = wb.write_cells(sheet, r, ["合计", len(problems)], ["text", "int"], total=True)
    wb.write_cells(sheet, r, ["其中逾期未整改", overdue], ["text", "int"])
    return wb.close()
