"""Helpers for the import tests: build XLSX/CSV uploads in memory and post them."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter

from assetreg.imports.templates import KINDS

from .factories import VILLAGE_A1, id_number

ASSET_HEADERS = [c.header for c in KINDS["assets"].columns]
HOUSEHOLD_HEADERS = [c.header for c in KINDS["households"].columns]
INCOME_HEADERS = [c.header for c in KINDS["income"].columns]


class Formula:
    """A formula cell with its cached result, as Excel saves it (e.g. =0.1+0.2 → 0.30000000000000004)."""

    def __init__(self, formula: str, value: float):
        self.formula, self.value = formula, value


def xlsx(rows: list[list], sheet: str = "资产台账", extra_sheets: dict[str, list[list]] | None = None) -> bytes:
    """A workbook with the rows written by type: str as text, numbers as numbers, dates as dates."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"strings_to_numbers": False, "strings_to_formulas": False})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, data in {sheet: rows, **(extra_sheets or {})}.items():
        ws = wb.add_worksheet(name)
        for i, row in enumerate(data):
            for j, v in enumerate(row):
                if v is None or v == "":
                    continue
                if isinstance(v, Formula):
                    ws.write_formula(i, j, v.formula, None, v.value)
                elif isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif isinstance(v, (int, float, Decimal)):
                    ws.write_number(i, j, float(v) if isinstance(v, Decimal) else v)
                elif isinstance(v, (date, datetime)):
                    ws.write_datetime(i, j, v if isinstance(v, datetime) else datetime(v.year, v.month, v.day),
                                      date_fmt)
                else:
                    ws.write_string(i, j, str(v))
    wb.close()
    return buf.getvalue()


def csv_bytes(rows: list[list], *, encoding: str = "utf-8-sig") -> bytes:
    import csv

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        w.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode(encoding)


def table(headers: list[str], records: list[dict]) -> list[list]:
    """Rows in the order of ``headers`` from dicts keyed by header."""
    unknown = {k for r in records for k in r} - set(headers)
    assert not unknown, unknown
    return [headers] + [[r.get(h, "") for h in headers] for r in records]


def asset(code: str = "ZC-001", **over) -> dict:
    row = {"资产编号": code, "资产名称": f"光伏电站{code}", "资产类别": "经营性", "资产子类": "光伏电站",
           "所在区划代码": VILLAGE_A1, "管理层级": "村", "项目名称": "2020年村级光伏扶贫项目", "项目年度": "2020",
           "竣工日期": "2020-06-30", "原值（元）": "500000.00", "财政衔接资金（元）": "300000.00",
           "东西部协作（元）": "200000.00", "数量": "1", "计量单位": "座", "使用年限（年）": "20",
           "资产状态": "运营中", "状态日期": "2020-09-01"}
    row.update(over)
    return row


def member(number: str, name: str, relation: str = "户主", **over) -> dict:
    row = {"户编号": number, "成员姓名": name, "与户主关系": relation, "劳动能力": "有劳动力"}
    row.update(over)
    return row


def head(number: str, name: str, seq: int, village: str = VILLAGE_A1, **over) -> dict:
    """A household's first row: the household fields and its head as a member."""
    row = {"村代码": village, "户编号": number, "户主姓名": name, "户主身份证号": id_number(seq),
           "联系电话": "13800000000", "农户类别": "脱贫户", **member(number, name)}
    row.update(over)
    return row


def income(asset_code: str, voucher: str, **over) -> dict:
    row = {"资产编号": asset_code, "收支方向": "收入", "收支类别": "电费收入", "所属年度": "2024", "所属月份": "6",
           "收付日期": "2024-07-15", "金额（元）": "3250.40", "对方单位": "国网青溪县供电公司", "凭证号": voucher}
    row.update(over)
    return row


def upload(client, kind: str, content: bytes, filename: str = "upload.xlsx", *, dry_run: bool = True,
           fmt: str | None = None):
    query = f"?dry_run={'true' if dry_run else 'false'}" + (f"&format={fmt}" if fmt else "")
    return client.post(f"/api/v1/imports/{kind}{query}", data={"file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data")


def errors_of(body: dict) -> set[tuple[int, str]]:
    return {(e["row"], e["column"]) for e in body["errors"]}


def comment_cells(workbook: bytes) -> dict[str, str]:
    """Cell reference → comment text of the first sheet (xlsxwriter writes xl/comments1.xml)."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as zf:
        names = [n for n in zf.namelist() if re.fullmatch(r"xl/comments\d+\.xml", n)]
        rels = zf.read("xl/worksheets/_rels/sheet1.xml.rels").decode() if \
            "xl/worksheets/_rels/sheet1.xml.rels" in zf.namelist() else ""
        target = next((n for n in names if n.rsplit("/", 1)[1] in rels), None)
        if target is None:
            return {}
        xml = zf.read(target).decode()
    out = {}
    for ref, body in re.findall(r'<comment ref="([A-Z]+\d+)"[^>]*>(.*?)</comment>', xml, re.S):
        out[ref] = "".join(re.findall(r"<t(?:\s[^>]*)?>(.*?)</t>", body, re.S))
    return out


def filled_cells(workbook: bytes, sheet: int = 1) -> set[str]:
    """References of cells on the given sheet whose style has a solid fill (the red error mark)."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as zf:
        styles = zf.read("xl/styles.xml").decode()
        xml = zf.read(f"xl/worksheets/sheet{sheet}.xml").decode()
    fills = re.findall(r"<fill>(.*?)</fill>", re.search(r"<fills[^>]*>(.*?)</fills>", styles, re.S).group(1), re.S)
    solid = {i for i, f in enumerate(fills) if 'patternType="solid"' in f}
    xfs = re.findall(r"<xf [^>]*?/?>", re.search(r"<cellXfs[^>]*>(.*?)</cellXfs>", styles, re.S).group(1))
    marked = {i for i, xf in enumerate(xfs) if int(re.search(r'fillId="(\d+)"', xf).group(1)) in solid}
    return {ref for ref, s in re.findall(r'<c r="([A-Z]+\d+)" s="(\d+)"', xml) if int(s) in marked}


def cell_ref(row: int, col: int) -> str:
    """Excel reference of a 1-based row and 0-based column."""
    letters = ""
    n = col + 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return f"{letters}{row}"
