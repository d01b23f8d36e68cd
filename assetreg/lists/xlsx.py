"""The four lists as one workbook: a cover sheet, then one sheet per list (basis: P05).

Row builders are pure functions of the lists the services build; the workbook goes through the one
xlsxwriter wrapper (core/spreadsheets.py), so formulas are never interpreted from user text.
"""

from __future__ import annotations

from datetime import date, datetime

from ..core.access import ROLES
from ..core.spreadsheets import Workbook
from ..core.time import LOCAL_TZ, now_utc, today_local
from . import services
from .models import LEVELS

SHEETS = {"assets": "资产清单", "responsibility": "责任清单", "regulations": "制度清单", "archive": "三级档案清单"}


def cn_date(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else ""


def cn_datetime(at: datetime) -> str:
    local = at.astimezone(LOCAL_TZ)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def exporter_label(user) -> str:
    role = ROLES.get(getattr(user, "role", ""), "")
    return f"{user.display_name}（{user.username}，{role}）"


# --- row builders (pure) ------------------------------------------------------------------------

ASSET_COLUMNS = [("序号", 6, "int"), ("资产编号", 16, "text"), ("资产名称", 26, "text"), ("类别", 8, "text"),
                 ("子类", 12, "text"), ("所在乡镇", 12, "text"), ("所在村", 12, "text"), ("管理层级", 8, "text"),
                 ("原值（元）", 16, "money"), ("账面价值（元）", 16, "money"), ("状态", 8, "text"),
                 ("所有权人", 22, "text"), ("经营权人", 22, "text"), ("收益权人", 22, "text")]


def asset_rows(data: dict) -> list[list]:
    return [[i, r["code"], r["name"], r["category_label"], r["subtype"], r["town_name"] or "县本级",
             r["village_name"] or "", r["managing_level_label"], r["original_value"], r["book_value"],
             r["status_label"], r["ownership_holder"], r["operation_holder"], r["income_holder"]]
            for i, r in enumerate(data["items"], 1)]


RESPONSIBILITY_COLUMNS = [("序号", 6, "int"), ("资产编号", 16, "text"), ("资产名称", 26, "text"), ("类别", 8, "text"),
                          ("所在地", 12, "text"), ("状态", 8, "text"), ("所有权人", 20, "text"),
                          ("经营权人", 20, "text"), ("收益权人", 20, "text"), ("处置权人", 20, "text"),
                          ("监督权人", 20, "text"), ("管护主体", 20, "text"), ("管护责任人", 10, "text"),
                          ("运营主体", 20, "text"), ("经营方式", 10, "text"), ("合同编号", 16, "text"),
                          ("监管部门", 20, "text"), ("缺少的权利", 16, "text")]


def responsibility_rows(data: dict) -> list[list]:
    return [[i, r["code"], r["name"], r["category_label"], r["place_name"], r["status_label"],
             r["ownership_holder"], r["operation_holder"], r["income_holder"], r["disposal_holder"],
             r["supervision_holder"], r["custodian_unit"], r["custodian_person"], r["operator"],
             r["operation_mode"], r["contract_no"], r["supervising_department"], "、".join(r["rights_missing"])]
            for i, r in enumerate(data["items"], 1)]


REGULATION_COLUMNS = [("序号", 6, "int"), ("制度名称", 36, "text"), ("文号", 20, "text"), ("层级", 8, "text"),
                      ("发文单位", 14, "text"), ("类别", 12, "text"), ("涉及资产子类", 16, "text"),
                      ("施行日期", 14, "date"), ("适用范围", 24, "text")]
COVERAGE_COLUMNS = [("序号", 6, "int"), ("区划代码", 16, "text"), ("名称", 26, "text"), ("层级", 8, "text"),
                    ("所属乡镇", 12, "text"), ("缺少的制度", 36, "text"), ("缺少项数", 8, "int")]


def regulation_rows(data: dict) -> list[list]:
    return [[i, r["title"], r["doc_number"], r["level_label"], r["issuer_name"], r["category_label"],
             "、".join(r["subtypes"]), r["effective_on"], r["applies_to_label"]]
            for i, r in enumerate(data["items"], 1)]


def coverage_rows(data: dict) -> list[list]:
    return [[i, c["code"], c["name"], c["level_label"], c["town_name"] or "", "、".join(c["missing_labels"]) or "无",
             len(c["missing"])] for i, c in enumerate(data["coverage"], 1)]


ARCHIVE_COLUMNS = [("序号", 6, "int"), ("资产编号", 16, "text"), ("资产名称", 24, "text"), ("类别", 8, "text"),
                   ("所在地", 12, "text"), ("状态", 8, "text"), ("县级档案", 30, "text"), ("乡镇级档案", 30, "text"),
                   ("村级档案", 30, "text"), ("已归档份数", 8, "int"), ("应备档案", 24, "text"),
                   ("缺少档案", 24, "text"), ("缺少份数", 8, "int")]
PLACE_DOC_COLUMNS = [("序号", 6, "int"), ("区划", 16, "text"), ("档案层级", 24, "text"), ("类别", 8, "text"),
                     ("档案号", 12, "text"), ("标题", 12, "text"), ("归档日期", 12, "date")]


def doc_line(d: dict) -> str:
    return f"{d['archive_no']} {d['kind_label']}《{d['title']}》"


def archive_rows(data: dict) -> list[list]:
    out = []
    for i, r in enumerate(data["items"], 1):
        by_level = {lv: "\n".join(doc_line(d) for d in r["documents"] if d["level"] == lv) for lv in LEVELS}
        out.append([i, r["code"], r["name"], r["category_label"], r["place_name"], r["status_label"],
                    by_level["county"], by_level["town"], by_level["village"], len(r["documents"]),
                    "、".join(r["required_labels"]), "、".join(r["missing_labels"]), len(r["missing"])])
    return out


def place_doc_rows(data: dict) -> list[list]:
    return [[i, d["place_name"], d["level_label"], d["kind_label"], d["archive_no"], d["title"], d["filed_on"]]
            for i, d in enumerate(data["place_documents"], 1)]


# --- the workbook -------------------------------------------------------------------------------

def _table(wb: Workbook, ws, row: int, columns, rows, *, freeze: bool = False, widths: bool = True) -> int:
    row = wb.write_header(ws, row, [c[0] for c in columns], [c[1] for c in columns] if widths else None,
                          freeze=freeze)
    kinds = [c[2] for c in columns]
    for values in rows:
        row = wb.write_cells(ws, row, values, kinds)
    return row


def _total(wb: Workbook, ws, row: int, columns, values: dict) -> int:
    """A totals row: label in the second column, the given values by column index, the rest blank."""
    cells = [values.get(i) for i in range(len(columns))]
    kinds = ["money" if c[2] == "money" else "text" for c in columns]
    for i, v in values.items():
        if isinstance(v, int) and kinds[i] != "money":
            kinds[i] = "int"
    return wb.write_cells(ws, row, cells, kinds, total=True)


def _section(wb: Workbook, ws, row: int, title: str, width: int) -> int:
    ws.merge_range(row, 0, row, width - 1, title, wb.formats["total_label"])
    return row + 1


def _cover(wb: Workbook, user, scope: dict, as_of: date, at: datetime) -> None:
    ws = wb.sheet("封面")
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 48)
    ws.merge_range(0, 0, 0, 1, f"{scope['name']}扶贫项目资产四张清单", wb.formats["title"])
    ws.set_row(0, 32)
    lines = [
        ("范围", f"{scope['name']}（{scope['level_label']}）"),
        ("区划代码", scope["code"]),
        ("截止日期", cn_date(as_of)),
        ("导出人", exporter_label(user)),
        ("导出时间", f"{cn_datetime(at)}（北京时间）"),
        ("包含清单", "、".join(SHEETS.values())),
        ("说明", "依据：建立资产、责任、制度、县乡村三级档案四张清单。账面价值按截止日期直线法折旧计算；"
                 "权利人、管护与运营为当前登记；制度为截止日期有效的制度；档案为截止日期前归档的资料。"),
    ]
    for i, (label, value) in enumerate(lines, 2):
        ws.write_string(i, 0, label, wb.formats["total_label"])
        ws.write_string(i, 1, value, wb.formats["text"])
    ws.set_row(len(lines) + 1, 60)


def _assets_sheet(wb: Workbook, data: dict) -> None:
    ws = wb.sheet(SHEETS["assets"])
    t = data["totals"]
    row = _table(wb, ws, 0, ASSET_COLUMNS, asset_rows(data), freeze=True)
    row = _total(wb, ws, row, ASSET_COLUMNS, {1: "合计", 2: f"共{t['count']}项", 8: t["original_value"],
                                               9: t["book_value"]})
    sums = [("项数", 0, "int"), ("原值（元）", 0, "money"), ("账面价值（元）", 0, "money")]
    sections = [
        ("按类别合计", [("类别", 0, "text")], [([g["category_label"]], g) for g in t["by_category"]]),
        ("按乡镇合计", [("乡镇", 0, "text")], [([g["town_name"]], g) for g in t["by_town"]]),
        ("按村合计", [("乡镇", 0, "text"), ("村", 0, "text")],
         [([g["town_name"], g["village_name"]], g) for g in t["by_village"]]),
    ]
    for title, key_columns, groups in sections:
        columns = [("序号", 0, "int"), *key_columns, *sums]
        body = [[i, *keys, g["count"], g["original_value"], g["book_value"]] for i, (keys, g) in enumerate(groups, 1)]
        n = len(columns)
        row = _section(wb, ws, row + 1, title, n)
        row = _table(wb, ws, row, columns, body, widths=False)
        row = _total(wb, ws, row, columns, {1: "合计", n - 3: t["count"], n - 2: t["original_value"],
                                             n - 1: t["book_value"]})


def _responsibility_sheet(wb: Workbook, data: dict) -> None:
    ws = wb.sheet(SHEETS["responsibility"])
    t = data["totals"]
    row = _table(wb, ws, 0, RESPONSIBILITY_COLUMNS, responsibility_rows(data), freeze=True)
    _total(wb, ws, row, RESPONSIBILITY_COLUMNS, {
        1: "合计", 2: f"共{t['count']}项",
        6: f"五权齐全{t['rights_complete']}项", 11: f"已落实管护{t['with_custodian']}项",
        13: f"已明确运营主体{t['with_operator']}项"})


def _regulations_sheet(wb: Workbook, data: dict) -> None:
    ws = wb.sheet(SHEETS["regulations"])
    t = data["totals"]
    row = _table(wb, ws, 0, REGULATION_COLUMNS, regulation_rows(data), freeze=True)
    row = _total(wb, ws, row, REGULATION_COLUMNS, {1: "合计", 2: f"共{t['count']}项", 3: "、".join(
        f"{LEVELS[lv]}{n}项" for lv, n in t["by_level"].items())})
    row = _section(wb, ws, row + 1, "各乡镇、村五项制度缺失情况（市场化管理、资产防风险、资产收益分配、资产折旧、资产处置）",
                   len(COVERAGE_COLUMNS))
    row = _table(wb, ws, row, COVERAGE_COLUMNS, coverage_rows(data), widths=False)
    _total(wb, ws, row, COVERAGE_COLUMNS, {1: "合计", 2: f"共{t['places']}个", 5: f"缺少制度的{t['places_lacking']}个",
                                           6: sum(len(c["missing"]) for c in data["coverage"])})


def _archive_sheet(wb: Workbook, data: dict) -> None:
    ws = wb.sheet(SHEETS["archive"])
    t = data["totals"]
    row = _table(wb, ws, 0, ARCHIVE_COLUMNS, archive_rows(data), freeze=True)
    row = _total(wb, ws, row, ARCHIVE_COLUMNS, {1: "合计", 2: f"共{t['count']}项", 9: t["documents"],
                                                 11: f"缺档资产{t['assets_missing']}项", 12: t["missing_documents"]})
    row = _section(wb, ws, row + 1, "区划档案（不属于单项资产的资料）", len(PLACE_DOC_COLUMNS))
    row = _table(wb, ws, row, PLACE_DOC_COLUMNS, place_doc_rows(data), widths=False)
    _total(wb, ws, row, PLACE_DOC_COLUMNS, {1: "合计", 2: f"共{t['place_documents']}份"})


def build_workbook(user, *, scope: str | None = None, as_of: date | None = None) -> tuple[dict, bytes]:
    """The combined workbook for a scope and date; returns (scope, bytes)."""
    as_of = as_of or today_local()
    lists = {kind: services.build_list(user, kind, scope=scope, as_of=as_of, per_page=None) for kind in SHEETS}
    first = lists["assets"]
    wb = Workbook()
    _cover(wb, user, first["scope"], first["as_of"], now_utc())
    _assets_sheet(wb, lists["assets"])
    _responsibility_sheet(wb, lists["responsibility"])
    _regulations_sheet(wb, lists["regulations"])
    _archive_sheet(wb, lists["archive"])
    return first["scope"], wb.close()


def filename(scope: dict, as_of: date) -> str:
    return f"四张清单_{scope['name']}_{as_of.isoformat()}.xlsx"
