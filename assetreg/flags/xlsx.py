"""The flag list as an XLSX (one sheet of flags, one of counts by rule) through core.spreadsheets."""

from __future__ import annotations

from collections import Counter
from datetime import date

from ..core.spreadsheets import Workbook
from .rules import CATEGORIES, RULES, SEVERITIES, Flag

HEADERS = ["序号", "级别", "规则", "预警事项", "类别", "乡镇", "村", "资产编号", "资产名称", "预警说明", "依据条款",
           "已确认", "确认人", "确认理由", "预警标识"]
WIDTHS = [6, 6, 22, 22, 10, 12, 12, 14, 22, 60, 10, 8, 10, 30, 24]


def row_for(i: int, f: Flag, names: dict[str, str]) -> list:
    """One flag as the cells of its row (pure)."""
    r = RULES[f.rule_id]
    return [i, SEVERITIES[f.severity], f.rule_id, r.title, CATEGORIES[r.category],
            names.get(f.town_code, "") if f.town_code else "", names.get(f.village_code, "") if f.village_code else "",
            f.asset_code or "", f.asset_name or "", f.message, "、".join(r.basis), "是" if f.acknowledged else "",
            f.acknowledged_by or "", f.ack_reason or "", f.key]


def build(flags: list[Flag], *, title: str, as_of: date, names: dict[str, str], target=None) -> bytes | None:
    wb = Workbook(target)
    fm = wb.formats
    ws = wb.sheet("预警清单")
    ws.merge_range(0, 0, 0, len(HEADERS) - 1, title, fm["title"])
    ws.set_row(0, 28)
    ws.merge_range(1, 0, 1, len(HEADERS) - 1, f"评估日期：{as_of.year}年{as_of.month}月{as_of.day}日　共{len(flags)}条",
                   fm["plain"])
    for col, (h, w) in enumerate(zip(HEADERS, WIDTHS, strict=True)):
        ws.set_column(col, col, w)
        ws.write(2, col, h, fm["header"])
    for i, f in enumerate(flags, start=1):
        for col, value in enumerate(row_for(i, f, names)):
            if isinstance(value, int):
                ws.write_number(2 + i, col, value, fm["center"])
            else:
                ws.write_string(2 + i, col, value, fm["text"])
    ws.freeze_panes(3, 0)
    ws.autofilter(2, 0, 2 + len(flags), len(HEADERS) - 1)
    counts = Counter(f.rule_id for f in flags)
    sheet = wb.sheet("按规则统计")
    for col, (h, w) in enumerate(zip(["规则", "预警事项", "级别", "依据条款", "条数"], [22, 28, 8, 12, 8], strict=True)):
        sheet.set_column(col, col, w)
        sheet.write(0, col, h, fm["header"])
    row = 1
    for rid, r in RULES.items():
        if counts[rid]:
            for col, value in enumerate([rid, r.title, SEVERITIES[r.severity], "、".join(r.basis)]):
                sheet.write_string(row, col, value, fm["text"])
            sheet.write_number(row, 4, counts[rid], fm["center"])
            row += 1
    sheet.write_string(row, 0, "合计", fm["total_label"])
    sheet.write_number(row, 4, len(flags), fm["center"])
    return wb.close()

