"""Malformed uploads never give a 500: not a spreadsheet, empty, a forged extension, a damaged
workbook, oversize, no file part, an unknown kind; and the pure parsers, table-driven."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.extensions import db
from assetreg.imports import rules
from assetreg.imports.services import cell_text
from assetreg.imports.templates import KINDS, header_index, normalise_header

from .imports_support import ASSET_HEADERS, asset, csv_bytes, table, upload, xlsx

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(("content", "filename", "status", "why"), [
    (b"", "a.xlsx", 400, "文件为空"),
    (b"  \r\n ", "a.csv", 400, "文件为空"),
    (PNG, "photo.png", 400, "不是可识别的表格文件"),
    (PNG, "ledger.csv", 400, "不是可识别的表格文件"),
    ("资产编号,资产名称\nA,B\n".encode(), "ledger.xlsx", 400, "文件内容与扩展名不符"),  # a text file named .xlsx
    (b"PK\x03\x04" + b"\x00" * 100, "ledger.xlsx", 400, "不是可识别的表格文件"),  # a broken zip
    (_zip({"word/document.xml": b"<x/>"}), "ledger.xlsx", 400, "不是可识别的表格文件"),  # a zip, not a workbook
    (_zip({"xl/workbook.xml": b"<not a workbook", "[Content_Types].xml": b"?"}), "a.xlsx", 400, "无法读取该 Excel 文件"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.xls", 400, "不支持 Excel 97-2003（.xls）或加密的工作簿"),
    ("天地玄黄,宇宙洪荒\n日月盈昃,辰宿列张\n".encode(), "poem.csv", 400, "未识别到表头"),
    (b"\x80\x81\xfe\xff not any encoding", "a.csv", 400, "不是可识别的表格文件"),
    (b"\xff\xfe" + "不是表格".encode("utf-16-le"), "a.csv", 400, "未识别到表头"),
    ("资产编号,资产名称\nA,B,C,D\n".encode(), "a.csv", 400, "CSV 格式错误"),
])
def test_malformed_uploads_are_refused(world, today, content, filename, status, why):
    r = upload(world.fin_a, "assets", content, filename)
    assert r.status_code == status, r.json
    assert r.json["error"]["message"] == why
    r = upload(world.fin_a, "assets", content, filename, dry_run=False)
    assert r.status_code == status


def test_format_is_sniffed_not_taken_from_the_name(world, today):
    content = xlsx(table(ASSET_HEADERS, [asset("ZC-X1")]))
    for name in ("ledger", "ledger.dat", "", "ledger.xls"):  # no extension, an unknown one, the older Excel name
        r = upload(world.fin_a, "assets", content, name)
        assert r.status_code == 200 and r.json["file_format"] == "xlsx", (name, r.json)
    r = upload(world.fin_a, "assets", csv_bytes(table(ASSET_HEADERS, [asset("ZC-X1")])), "ledger.xlsx")
    assert r.status_code == 400  # CSV content claiming to be a workbook
    tsv = "\n".join("\t".join(r) for r in table(ASSET_HEADERS, [asset("ZC-X1")])).encode("utf-16")
    r = upload(world.fin_a, "assets", tsv, "unicode.txt")  # Excel's "Unicode text": UTF-16, tab-separated
    assert r.status_code == 200 and r.json["errors"] == [] and r.json["encoding"] == "utf-16", r.json


def test_oversize_and_too_many_rows(world, today, app, monkeypatch):
    content = xlsx(table(ASSET_HEADERS, [asset(f"ZC-{i}") for i in range(30)]))
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", len(content) - 1)
    r = upload(world.fin_a, "assets", content)
    assert r.status_code == 413 and r.json["error"]["code"] == "too_large"
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 10 * 1024 * 1024)
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 10)
    r = upload(world.fin_a, "assets", content)
    assert r.status_code == 413
    r = upload(world.fin_a, "assets", csv_bytes(table(ASSET_HEADERS, [asset(f"ZC-{i}") for i in range(30)])), "a.csv")
    assert r.status_code == 413
    # beyond the app-wide request limit the server refuses before reading (413, JSON)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    r = upload(world.fin_a, "assets", content)
    assert r.status_code == 413 and "error" in r.json
    assert db.session.scalar(sa.select(sa.func.count(Asset.id))) == 0


def _sparse(cells: list[tuple[int, int]]) -> bytes:
    """A tiny workbook whose used range is huge: the headers, and one cell far away."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf)
    ws = wb.add_worksheet("资产台账")
    ws.write_row(0, 0, ASSET_HEADERS)
    for row, col in cells:
        ws.write_string(row, col, "x")
    wb.close()
    return buf.getvalue()


@pytest.mark.parametrize(("cells", "status"), [
    ([(1048575, 16383)], 413),  # XFD1048576: 17 billion cells if the reader allocated the range
    ([(1, 16383)], 400),  # too many columns
    ([(1048575, 0)], 413),
    ([(19999, 180)], 413),  # 20,000 × 181 cells
    ([(60000, 0), (2, 0)], 413),
])
def test_sparse_workbooks_are_refused_before_reading(world, today, cells, status):
    content = _sparse(cells)
    assert len(content) < 20_000
    r = upload(world.fin_a, "assets", content)
    assert r.status_code == status, r.json


def test_request_shape_errors(world, today):
    r = world.fin_a.post("/api/v1/imports/assets?dry_run=true", data={}, content_type="multipart/form-data")
    assert r.status_code == 422 and "file" in r.json["error"]["fields"]
    r = world.fin_a.post("/api/v1/imports/assets", data={"file": "just text"}, content_type="multipart/form-data")
    assert r.status_code == 422
    r = world.fin_a.post("/api/v1/imports/assets", json={"file": "x"})
    assert r.status_code == 422
    r = upload(world.fin_a, "nothing", b"x")
    assert r.status_code == 404
    r = world.fin_a.post("/api/v1/imports/assets?dry_run=maybe&format=pdf",
                         data={"file": (io.BytesIO(b"x"), "a.csv")}, content_type="multipart/form-data")
    assert r.status_code == 422 and set(r.json["error"]["fields"]) == {"dry_run", "format"}


def test_formula_text_is_never_a_formula_in_the_report(world, today):
    rows = table(ASSET_HEADERS, [asset("=HYPERLINK(\"http://x\")", **{"原值（元）": "=1+1"})])
    r = upload(world.fin_a, "assets", xlsx(rows), fmt="xlsx")
    with zipfile.ZipFile(io.BytesIO(r.data)) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet


# --- pure parsers ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("1234.5", Decimal("1234.50")), ("1234.56", Decimal("1234.56")), ("0", Decimal("0.00")),
    ("12,345.67", Decimal("12345.67")), ("¥ 100", Decimal("100.00")), ("  8 ", Decimal("8.00")),
    ("1000000000000", Decimal("1000000000000.00")),
])
def test_money_parses(text, expected):
    assert rules.money(text) == expected


@pytest.mark.parametrize(("text", "why"), [
    ("1.005", "金额最多两位小数"), ("1e3", "应为金额"), ("NaN", "应为金额"), ("1,23", "应为金额"),
    ("-1", "金额不能为负数"), ("1000000000000.01", "金额超出允许范围"), ("五十", "应为金额"), ("1.2.3", "应为金额"),
    ("0.30000000000000004", "金额最多两位小数"),
])
def test_money_refuses(text, why):
    with pytest.raises(rules.CellError, match=why):
        rules.money(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-06-30", date(2024, 6, 30)), ("2024/6/3", date(2024, 6, 3)), ("2024.06.30", date(2024, 6, 30)),
    ("2024年6月30日", date(2024, 6, 30)), ("2024年6月30", date(2024, 6, 30)), ("20240630", date(2024, 6, 30)),
    ("2024-06-30 00:00:00", date(2024, 6, 30)),
])
def test_dates_parse(text, expected):
    assert rules.parse_date(text) == expected


@pytest.mark.parametrize("text", ["2024-02-30", "30/06/2024", "yesterday", "2024-06-30 12:00:00", "45473"])
def test_dates_refused(text):
    with pytest.raises(rules.CellError):
        rules.parse_date(text)


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("第二季度", 2), ("三季度", 3), ("4季", 4), ("Q1", 1)])
def test_quarters(text, expected):
    assert rules.quarter(text) == expected


@pytest.mark.parametrize(("value", "text", "lossy"), [
    (1234.5, "1234.5", False), (0.1 + 0.2, "0.3", False), (100000.0, "100000", False), (100000, "100000", False),
    (431299197005173215, "431299197005173215", True), (4.312991970051732e17, "431299197005173184", True),
    (datetime(2020, 6, 30), "2020-06-30", False), (date(2020, 6, 30), "2020-06-30", False),
    (True, "TRUE", False), (None, "", False), (float("nan"), "", False), ("  文本 ", "  文本 ", False),
])
def test_cell_text(value, text, lossy):
    assert cell_text(value) == (text, lossy)


def test_headers_normalise_and_never_collide():
    assert normalise_header(" 原值（元） *") == "原值"
    assert normalise_header("银行卡号（一卡通）") == "银行卡号"
    assert normalise_header("ＡＢ 资产 编号") == "AB资产编号"
    for kind in KINDS.values():
        meaning: dict[str, set[str]] = {}
        for c in kind.columns:
            for n in (c.header, *c.aliases):
                meaning.setdefault(normalise_header(n), set()).add(c.field)
        assert {n: f for n, f in meaning.items() if len(f) > 1} == {}, kind.name  # a header means one column
        assert set(header_index(kind).values()) == {c.field for c in kind.columns}
