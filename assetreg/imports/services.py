"""Import asset ledgers, households and income from XLSX/CSV (basis: P01 摸清资产底数): read the
upload (format by content), map the Chinese headers, check every row against set-based lookups,
report every error with its Excel row and column, and write through the domain services,
all or nothing. Services never commit: the edge commits a clean import and rolls back the rest."""

from __future__ import annotations

import codecs
import csv
import hashlib
import html
import io
import logging
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pandas as pd
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..assets.models import Asset
from ..assets.services import create_assets
from ..changelog.services import record_change
from ..core.access import Scope, in_scope, require_write, town_of
from ..core.errors import DomainError, NotFound
from ..core.spreadsheets import Workbook
from ..core.time import today_local
from ..core.validators import mask_card_number, mask_id_number, mask_mobile, mask_personal_text
from ..extensions import db
from ..households import services as hs
from ..households.models import Household
from ..households.services import create_household
from ..income.models import AssetShare, IncomeEntry, Settlement
from ..income.rules import share_year_applies
from ..income.services import post_entry
from ..places.models import Place
from . import rules
from . import templates as t

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # IMPORT_MAX_BYTES
DEFAULT_MAX_ROWS = 50_000  # IMPORT_MAX_ROWS
MAX_COLUMNS = 200
MAX_CELLS = 3_000_000  # rows × columns of the used range an XLSX may have
MAX_UNZIPPED = 200 * 1024 * 1024  # an XLSX that inflates beyond this is refused (zip bomb)
HEADER_SEARCH_ROWS = 10  # a title row or two above the header is common in town ledgers
MAX_COMMENTS = 10_000  # the error workbook marks at most this many cells with a comment
_CHUNK = 500

# Which area's writers may import each kind (users.services.WRITERS).
AREAS = {"assets": "assets", "households": "households", "income": "income"}
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EXTENSIONS = {".xlsx": "xlsx", ".xlsm": "xlsx", ".xls": "xls", ".csv": "csv", ".txt": "csv"}  # names only refuse
_FORMAT_LABELS = {"xlsx": "Excel 工作簿（.xlsx）", "xls": "Excel 97-2003 工作簿（.xls）", "csv": "CSV 文本"}


class BadUpload(DomainError):
    status = 400
    code = "bad_file"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


def get_kind(name: str) -> t.Kind:
    kind = t.KINDS.get(name)
    if kind is None:
        raise NotFound("未知的导入类型", {"kind": [f"应为 {'、'.join(t.KINDS)} 之一"]})
    return kind


def check_importer(user, kind: t.Kind) -> None:
    """Role first (403 before the file is read): auditors never import; each kind needs its area's role."""
    require_write(user, "imports")
    require_write(user, AREAS[kind.name])


def _config(name: str, default: int) -> int:

    return int(current_app.config.get(name, default))


def max_upload_bytes() -> int:
    return _config("IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES)


# --- reading ---------------------------------------------------------------------------------

@dataclass
class Sheet:
    """The uploaded table as text: ``grid[0]`` is Excel row 1. ``lossy`` holds (row, col) of numeric
    cells too long for Excel to keep exactly (an 18-digit ID number typed as a number)."""

    format: str
    name: str | None
    grid: list[list[str]]
    lossy: set[tuple[int, int]] = field(default_factory=set)
    encoding: str | None = None


def read_upload(content: bytes, filename: str | None, kind: t.Kind) -> Sheet:
    """Read an upload as a grid of strings. The format is sniffed from the bytes; the file name only
    ever causes a refusal (a text file named .xlsx), never the choice of parser."""
    if len(content) > max_upload_bytes():
        raise TooLarge(f"文件超过 {max_upload_bytes() / (1024 * 1024):g} MB 的上限，请分批导入")
    if not content.strip():
        raise BadUpload("文件为空", {"file": ["文件没有内容"]})
    fmt = _sniff(content)
    if fmt is None:
        raise BadUpload("不是可识别的表格文件", {"file": ["请上传 .xlsx 或 CSV（UTF-8 或 GBK 编码）文件"]})
    if fmt == "xls":
        # Old binary workbooks (and encrypted .xlsx, which are the same container) are refused: their
        # size cannot be checked before the reader allocates every cell of the used range.
        raise BadUpload("不支持 Excel 97-2003（.xls）或加密的工作簿", {"file": ["请用 Excel 打开后另存为 .xlsx（不设密码）再导入"]})
    claimed = _EXTENSIONS.get(_suffix(filename))
    if claimed and claimed != fmt and {claimed, fmt} != {"xlsx", "xls"}:
        raise BadUpload("文件内容与扩展名不符", {"file": [
            f"文件名是{_FORMAT_LABELS[claimed]}，内容却是{_FORMAT_LABELS[fmt]}；"
            "请用 Excel 打开后另存为 .xlsx 或 CSV 再导入"]})
    sheet = _read_csv(content) if fmt == "csv" else _read_excel(content, kind)
    if len(sheet.grid) > _config("IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS) + HEADER_SEARCH_ROWS:
        raise TooLarge(f"行数超过 {_config('IMPORT_MAX_ROWS', DEFAULT_MAX_ROWS)} 行的上限，请分批导入")
    return sheet


def _suffix(filename: str | None) -> str:
    name = (filename or "").strip().lower()
    return name[name.rfind("."):] if "." in name else ""


def _sniff(content: bytes) -> str | None:
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as zf:
                infos = zf.infolist()
                names = {i.filename for i in infos}
                total = sum(i.file_size for i in infos)
        except (zipfile.BadZipFile, ValueError, OSError):
            return None
        if total > MAX_UNZIPPED or len(infos) > 10_000:
            raise TooLarge("Excel 文件解压后过大，请分批导入")
        return "xlsx" if "xl/workbook.xml" in names else None
    if content.startswith(_OLE_MAGIC):
        return "xls"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "csv"
    head = content[:65536]
    if b"\x00" in head:
        return None
    text = _decode(head, partial=True)
    if text is None or any(ord(c) < 32 and c not in "\t\r\n\f" for c in text):
        return None
    return "csv"


def _decode(content: bytes, *, partial: bool = False) -> str | None:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK, which Excel in
    China writes by default). ``partial``: the bytes may end inside a character."""
    if content.startswith(codecs.BOM_UTF8):
        candidates = [("utf-8", content[3:])]
    elif content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = [("utf-16", content)]
    else:
        candidates = [("utf-8", content), ("gb18030", content)]
    for encoding, data in candidates:
        try:
            if partial:
                return codecs.getincrementaldecoder(encoding)().decode(data, final=False)
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _encoding_of(content: bytes) -> str:
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _read_csv(content: bytes) -> Sheet:
    text = _decode(content)
    if text is None:
        raise BadUpload("无法识别文件编码", {"file": ["请另存为 UTF-8 或 GBK 编码的 CSV 文件"]})
    first = next((line for line in text.splitlines() if line.strip()), "")
    sep = max([",", "\t", ";"], key=first.count) if first else ","
    if first.count(sep) == 0:
        sep = ","
    try:
        df = pd.read_csv(io.StringIO(text), header=None, dtype=str, keep_default_na=False, na_filter=False,
                         skip_blank_lines=False, sep=sep, engine="c", quoting=csv.QUOTE_MINIMAL)
    except pd.errors.EmptyDataError:
        raise BadUpload("文件为空", {"file": ["文件没有内容"]}) from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        m = re.search(r"in line (\d+)", str(exc))
        where = f"第{m.group(1)}行的字段数多于表头" if m else "无法按 CSV 解析"
        raise BadUpload("CSV 格式错误", {"file": [where]}) from None
    if df.shape[1] > MAX_COLUMNS:
        raise BadUpload("列数过多", {"file": [f"最多 {MAX_COLUMNS} 列"]})
    grid = [[("" if v is None else str(v)) for v in row] for row in df.itertuples(index=False, name=None)]
    return Sheet("csv", None, grid, encoding=_encoding_of(content))


def _read_excel(content: bytes, kind: t.Kind) -> Sheet:
    try:
        book = pd.ExcelFile(io.BytesIO(content), engine="calamine")
        names = list(book.sheet_names)
        if not names:
            raise BadUpload("工作簿中没有工作表", {"file": ["没有工作表"]})
        name = kind.title if kind.title in names else next((n for n in names if n != t.INSTRUCTIONS_SHEET), names[0])
        _check_extent(content, name)
        # dtype=object: each cell keeps its Excel type so we turn it into text ourselves (numbers
        # as Excel shows them, dates as dates); pandas never does float arithmetic on them.
        df = pd.read_excel(book, sheet_name=name, header=None, dtype=object)
    except DomainError:
        raise
    except Exception:  # the reader fails in many ways on a damaged or encrypted file; none is a 500
        log.info("unreadable workbook upload", exc_info=True)
        raise BadUpload("无法读取该 Excel 文件", {"file": ["文件可能已损坏或加密；请用 Excel 打开后另存为 .xlsx 再导入"]}) from None
    if df.shape[1] > MAX_COLUMNS:
        raise BadUpload("列数过多", {"file": [f"最多 {MAX_COLUMNS} 列"]})
    if df.shape[0] > _config("IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS) + HEADER_SEARCH_ROWS:
        raise TooLarge(f"行数超过 {_config('IMPORT_MAX_ROWS', DEFAULT_MAX_ROWS)} 行的上限，请分批导入")
    grid: list[list[str]] = []
    lossy: set[tuple[int, int]] = set()
    for i, values in enumerate(df.to_numpy(dtype=object).tolist()):
        out = []
        for j, v in enumerate(values):
            if type(v) is str:  # the common case, first
                out.append(v)
                continue
            text, is_lossy = cell_text(v)
            if is_lossy:
                lossy.add((i, j))
            out.append(text)
        grid.append(out)
    return Sheet("xlsx", name, grid, lossy)


_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")
_REL_TAG = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>")
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]{1,3})([0-9]{1,7})\"")
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\b")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\b[^>]*?\br=\"([0-9]{1,7})\"")


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _attr(tag: bytes, name: bytes) -> str | None:
    m = re.search(rb"(?:^|\s)" + name + rb"=\"([^\"]*)\"", tag)
    return m.group(1).decode("utf-8", "replace") if m else None


def _check_extent(content: bytes, name: str) -> None:
    """Refuse a worksheet whose used range is too large before the reader allocates it: the reader
    keeps every cell between the first and the last, so one cell at XFD1048576 would cost gigabytes.
    Scans the sheet's XML for cell references and rows, in chunks."""
    max_rows = _config("IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS) + HEADER_SEARCH_ROWS
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        tag = next((tag for tag in _SHEET_TAG.findall(zf.read("xl/workbook.xml"))
                    if html.unescape(_attr(tag, b"name") or "") == name), b"")
        rid = _attr(tag, rb"(?:\w+:)?id")
        rels = zf.read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in zf.namelist() else b""
        target = next((_attr(tag, b"Target") for tag in _REL_TAG.findall(rels) if _attr(tag, b"Id") == rid), None)
        if target is None:
            return  # the reader will fail on it (a 400), no range to allocate
        path = target.lstrip("/") if target.startswith("/") else "xl/" + target
        if path not in zf.namelist():
            return
        top_row = top_col = rows = 0
        tail = b""
        with zf.open(path) as fh:
            while chunk := fh.read(1 << 20):
                data = tail + chunk
                found = _CELL_REF.findall(data)
                if found:
                    top_row = max(top_row, max(int(r) for _, r in found))
                    top_col = max(top_col, max(_column_number(c) for c in {c for c, _ in found}))
                top_row = max(top_row, max(map(int, _ROW_REF.findall(data)), default=0))
                rows += len(_ROW_TAG.findall(data)) - len(_ROW_TAG.findall(tail))
                tail = data[-256:]
                if top_row > max_rows or rows > max_rows:
                    raise TooLarge(f"行数超过 {max_rows - HEADER_SEARCH_ROWS} 行的上限，请分批导入")
                if top_col > MAX_COLUMNS:
                    raise BadUpload("列数过多", {"file": [f"最多 {MAX_COLUMNS} 列（有内容的单元格在第 {top_col} 列）"]})
                if top_row * top_col > MAX_CELLS:
                    raise TooLarge("表格过大，请分批导入")


def cell_text(v) -> tuple[str, bool]:
    """An Excel cell as the text its user sees. Numbers keep Excel's 15 significant digits (so a
    computed 0.1+0.2 reads "0.3", and 1234.5 reads "1234.5"); integers of 16 digits or more cannot be
    exact in Excel and are flagged lossy; dates read as YYYY-MM-DD."""
    if v is None or v is pd.NaT:
        return "", False
    if isinstance(v, bool):
        return ("TRUE" if v else "FALSE"), False
    if isinstance(v, int):
        return str(v), abs(v) >= 10**15
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            return "", False
        if v.is_integer():
            return str(int(v)), abs(v) >= 1e15
        return format(v, ".15g"), False
    if isinstance(v, datetime):  # includes pandas Timestamp
        return (v.date().isoformat() if v.time() == time(0) else v.strftime("%Y-%m-%d %H:%M:%S")), False
    if isinstance(v, date):
        return v.isoformat(), False
    if isinstance(v, (time, timedelta)):
        return str(v), False
    return str(v), False


# --- the report ------------------------------------------------------------------------------

# The report (JSON, page, XLSX) repeats what was uploaded: personal numbers come back masked, as in every
# output but the auditor's export. A personal column by its own mask; a code column (division code, 户编号,
# asset code, voucher: the template's text columns) as it is, being no one's personal data and often as
# long as a card number; any other cell (free text, numbers, unknown columns) by the privacy scan.
_PERSONAL_FIELDS = {"head_id_number": mask_id_number, "member_id_number": mask_id_number, "phone": mask_mobile,
                    "bank_card": mask_card_number}
_CODE_FIELDS = {c.field for k in t.KINDS.values() for c in k.columns if c.text} - set(_PERSONAL_FIELDS)


def shown_value(field_name: str | None, value: str | None) -> str | None:
    """An uploaded cell as the report may repeat it."""
    if not value or field_name in _CODE_FIELDS:
        return value
    mask = _PERSONAL_FIELDS.get(field_name or "")
    if mask and any(c.isdigit() for c in value):  # a number typed into the column, however malformed
        return mask(value)
    return mask_personal_text(value)


@dataclass
class ReportError:
    row: int  # as Excel shows it: the header is row 1, the first data row 2
    column: str  # the header as in the file (or as published when the column is missing)
    field: str | None
    value: str | None
    message: str
    col_index: int | None = None  # position in the file, for the error workbook

    def __post_init__(self):
        self.value = shown_value(self.field, self.value)
        self.message = mask_personal_text(self.message)


@dataclass
class RowResult:
    row: int
    key: str | None
    action: str  # create | unchanged | error


@dataclass
class Report:
    kind: str
    kind_label: str
    dry_run: bool
    file_format: str
    sheet: str | None = None
    encoding: str | None = None
    header_row: int = 1
    columns: dict[str, str] = field(default_factory=dict)  # header in the file → field
    unknown_columns: list[str] = field(default_factory=list)
    errors: list[ReportError] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    records: int = 0
    to_create: int = 0
    unchanged: int = 0
    created: int = 0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def counts(self) -> dict:
        return {
            "rows": len(self.rows),
            "records": self.records,
            "to_create": self.to_create,
            "unchanged": self.unchanged,
            "created": self.created,
            "errors": len(self.errors),
            "rows_with_errors": len({e.row for e in self.errors}),
        }

    @property
    def error(self) -> dict | None:
        """The house error shape, present when a commit was refused."""
        if self.dry_run or self.committed or self.ok:
            return None
        return {"code": "import_rejected", "message": "导入文件有错误，未写入任何数据；请按错误清单修改后重新导入",
                "fields": {}}


@dataclass
class _Layout:
    header_idx: int
    by_col: dict[int, str]  # column index → field
    col_of: dict[str, int]  # field → column index
    headers: dict[str, str]  # field → header text in the file

    @property
    def present(self) -> set[str]:
        return set(self.col_of)


def _map_header(kind: t.Kind, sheet: Sheet, report: Report) -> _Layout:
    index = t.header_index(kind)
    best = None
    for i, row in enumerate(sheet.grid[:HEADER_SEARCH_ROWS]):
        hits = sum(1 for cell in row if t.normalise_header(cell) in index)
        if hits >= 2 or (hits and len(kind.columns) == 1):
            best = i
            break
    if best is None:
        raise BadUpload("未识别到表头", {"file": [f"未找到“{kind.title}”模板的列名；请使用导入模板，表头放在第1行"]})
    layout = _Layout(best, {}, {}, {})
    row_no = best + 1
    for j, cell in enumerate(sheet.grid[best]):
        header = str(cell).strip()
        if not header:
            continue
        name = index.get(t.normalise_header(header))
        if name is None:
            if len(report.unknown_columns) < 50:
                report.unknown_columns.append(header[:60])
            continue
        if name in layout.col_of:
            report.errors.append(ReportError(row_no, header, name, header,
                                             f"与“{layout.headers[name]}”列是同一项，请删除其中一列", j))
            continue
        layout.by_col[j], layout.col_of[name], layout.headers[name] = name, j, header
        report.columns[header] = name
    for col in kind.columns:
        if col.must_have and col.field not in layout.col_of:
            report.errors.append(ReportError(row_no, col.header, col.field, None, "缺少必填列"))
    report.header_row = row_no
    return layout


def _rows(sheet: Sheet, layout: _Layout) -> list[rules.Row]:
    """The data rows below the header; wholly blank rows are skipped (their numbers stay reserved)."""
    out = []
    for i in range(layout.header_idx + 1, len(sheet.grid)):
        values = sheet.grid[i]
        cells = {name: (values[j] if j < len(values) else "") for j, name in layout.by_col.items()}
        if not any(v.strip() for v in cells.values()):
            continue
        lossy = {name for j, name in layout.by_col.items() if (i, j) in sheet.lossy} if sheet.lossy else set()
        out.append(rules.Row(i + 1, cells, lossy))
    return out


def _collect(report: Report, kind: t.Kind, layout: _Layout, rows: Iterable[rules.Row]) -> None:
    for row in rows:
        for name, why in row.errors:
            j = layout.col_of.get(name)
            header = layout.headers.get(name) or kind.column(name).header
            value = row.cells.get(name)
            report.errors.append(ReportError(row.number, header, name, (value or "")[:200] or None, why, j))


# --- validation and writing ------------------------------------------------------------------

@dataclass
class _Record:
    rows: list[rules.Row]
    key: str
    data: dict | None = None
    action: str = "create"


def run_import(user, kind_name: str, content: bytes, filename: str | None, *, dry_run: bool) -> tuple[Report, Sheet]:
    """Check an upload and, unless ``dry_run`` or anything is wrong, write every record through the
    domain services. The caller commits when ``report.committed`` and rolls back otherwise."""
    kind = get_kind(kind_name)
    check_importer(user, kind)
    sheet = read_upload(content, filename, kind)
    report = Report(kind.name, kind.title, dry_run, sheet.format, sheet.name, sheet.encoding)
    layout = _map_header(kind, sheet, report)
    rows = _rows(sheet, layout)
    if len(rows) > _config("IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS):
        raise TooLarge(f"行数超过 {_config('IMPORT_MAX_ROWS', DEFAULT_MAX_ROWS)} 行的上限，请分批导入")
    facts = rules.Facts(county_code=user.county_code, today=today_local(),
                        in_scope=lambda county_code, town_code, village_code:
                        in_scope(user, county_code, town_code, village_code))
    records = {"assets": _check_assets, "households": _check_households, "income": _check_income}[kind.name](
        user, facts, rows, layout.present)
    _collect(report, kind, layout, rows)
    bad_rows = {e.row for e in report.errors}
    for rec in records:
        if rec.data is None or any(r.number in bad_rows for r in rec.rows):
            rec.action = "error"
    report.records = len(records)
    report.to_create = sum(1 for r in records if r.action == "create")
    report.unchanged = sum(1 for r in records if r.action == "unchanged")
    row_results = {r.number: RowResult(r.number, rec.key, rec.action) for rec in records for r in rec.rows}
    report.rows = [row_results[r.number] for r in rows]
    report.errors.sort(key=lambda e: (e.row, e.col_index if e.col_index is not None else 10**6))
    if not dry_run and report.ok:
        _write(user, kind, records, report, layout)
        if report.created:
            _log_import(user, report, content, filename)
    return report, sheet


def _write(user, kind: t.Kind, records: list[_Record], report: Report, layout: _Layout) -> None:
    """Every new record through its domain service, in row order; the first refusal stops the import
    (validation should have caught it: this is the safety net for races and rules it does not know).
    Assets go through ``create_assets`` together: its checks item by item, one insert for them all."""
    if kind.name == "assets":
        _write_assets(user, kind, [rec for rec in records if rec.action == "create"], report, layout)
        return
    for rec in records:
        if rec.action != "create":
            continue
        try:
            if kind.name == "households":
                create_household(user, rec.data)
            else:
                data = {k: v for k, v in rec.data.items() if k not in ("asset_id", "asset_code")}
                post_entry(user, rec.data["asset_id"], data)
        except DomainError as exc:
            _service_error(report, kind, layout, rec, exc.message, exc.fields)
            return
        except IntegrityError:
            log.info("import hit a database constraint on row %s", rec.rows[0].number)
            _service_error(report, kind, layout, rec, "与已有记录冲突（可能有人同时登记了相同的记录）", {})
            return
        report.created += 1
    report.committed = True


def _write_assets(user, kind: t.Kind, records: list[_Record], report: Report, layout: _Layout) -> None:
    items = [{k: v for k, v in rec.data.items() if k != "household_number"} for rec in records]
    try:
        create_assets(user, items)
    except DomainError as exc:
        _service_error(report, kind, layout, records[getattr(exc, "item", 0)], exc.message, exc.fields)
        return
    except IntegrityError:
        log.info("import hit a database constraint in a batch of %s assets", len(records))
        _service_error(report, kind, layout, records[0], "与已有记录冲突（可能有人同时登记了相同的记录）", {})
        return
    report.created = len(records)
    report.committed = True


def _log_import(user, report: Report, content: bytes, filename: str | None) -> None:
    """One change-log entry for the batch, besides each record's own: which file (by SHA-256) created
    what, so an auditor can trace a record back to the spreadsheet it came from."""


    own = Scope.of(user)
    scope = {"town_code": own.town_code, "village_code": own.village_code}
    digest = hashlib.sha256(content).hexdigest()
    record_change(user, entity="import", entity_id=digest[:16], action="commit", county_code=user.county_code,
                  after={"kind": report.kind, "file_name": (filename or "")[:200], "sha256": digest,
                         "file_format": report.file_format, "rows": len(report.rows), "created": report.created,
                         "unchanged": report.unchanged}, **scope)


_SERVICE_FIELDS = {"fundings": "original_value", "household_id": "household_number", "asset_id": "asset_code",
                   "name": "member_name", "id_number": "member_id_number"}


def _service_error(report, kind, layout, rec: _Record, message: str, fields: dict) -> None:
    key_field = kind.columns[0].field if kind.name != "households" else "number"
    for key, whys in (fields or {key_field: [message]}).items():
        row, name = _locate(kind, rec, key)
        for why in whys if isinstance(whys, list) else [whys]:
            row.error(name, str(why))
    _collect(report, kind, layout, rec.rows)
    numbers = {r.number for r in rec.rows}
    for result in report.rows:
        if result.row in numbers:
            result.action = "error"
    report.created = 0


def _locate(kind: t.Kind, rec: _Record, key: str) -> tuple[rules.Row, str]:
    """The row and import field a service's field key points at (``members.2.id_number`` → the
    third member's row, 成员身份证号)."""
    parts = key.split(".")
    if parts[0] == "members" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(rec.rows):
        return rec.rows[int(parts[1])], _SERVICE_FIELDS.get(parts[2], parts[2])
    if parts[0] == "members":
        return rec.rows[0], "relation"
    name = key if kind.has(key) else _SERVICE_FIELDS.get(key)
    if kind.name == "households" and key == "name":
        name = "head_name"
    if name is None or not kind.has(name):
        name = "number" if kind.name == "households" else kind.columns[0].field
    return rec.rows[0], name


def _chunks(values: Iterable, size: int = _CHUNK):
    values = sorted(set(values))
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _places(county_code: str) -> dict[str, rules.PlaceFact]:

    rows = db.session.execute(sa.select(Place.code, Place.level, Place.county_code, Place.town_code,
                                        Place.valid_to, Place.successor_code)
                              .where(Place.county_code == county_code))
    return {r.code: rules.PlaceFact(r.code, r.level, r.county_code, r.town_code, r.valid_to is not None,
                                    r.successor_code) for r in rows}


def _duplicates(records: list[_Record], field_name: str, label: str) -> list[_Record]:
    """Later records repeating an earlier one's key are errors; returns the first of each."""
    first: dict[str, _Record] = {}
    for rec in records:
        if rec.key in first:
            rec.rows[0].error(field_name, f"与第{first[rec.key].rows[0].number}行的{label}重复")
            rec.data = None
        else:
            first[rec.key] = rec
    return list(first.values())


# --- assets ----------------------------------------------------------------------------------

def _check_assets(user, facts: rules.Facts, rows: list[rules.Row], present: set[str]) -> list[_Record]:

    facts.places = _places(user.county_code)
    numbers = {r.text("household_number") for r in rows if r.text("household_number")}
    for chunk in _chunks(numbers):
        for h in db.session.execute(sa.select(Household.id, Household.number, Household.county_code,
                                              Household.town_code, Household.village_code)
                                    .where(Household.county_code == user.county_code, Household.number.in_(chunk))):
            facts.households[h.number] = rules.HouseholdFact(h.id, h.number, h.county_code, h.town_code,
                                                             h.village_code)
    records = []
    for row in rows:
        data = rules.check_asset_row(row, facts, present)
        records.append(_Record([row], row.text("code") or f"#{row.number}", data))
    keyed = [r for r in records if r.rows[0].text("code")]
    _duplicates(keyed, "code", "资产编号")
    codes = [r.key for r in keyed if r.data is not None]
    existing: dict[str, Asset] = {}
    for chunk in _chunks(codes):
        for a in db.session.scalars(sa.select(Asset).where(Asset.county_code == user.county_code,
                                                           Asset.code.in_(chunk))
                                    .options(selectinload(Asset.fundings))):
            existing[a.code] = a
    for rec in records:
        a = existing.get(rec.key) if rec.data is not None else None
        if a is None:
            continue
        row = rec.rows[0]
        if not facts.in_scope(a.county_code, a.town_code, a.village_code):
            row.error("code", "本县已有该编号的资产（不在您的管辖范围内）")
            continue
        stored = {k: getattr(a, k) for k in ("name", "category", "subtype", "place_code", "managing_level",
                                             "household_id", "project_name", "project_year",
                                             "project_approval_no", "completed_on", "original_value", "quantity",
                                             "unit", "useful_life_years", "status", "status_on", "note")}
        stored["fundings"] = {f.source: f.amount for f in a.fundings}
        diffs = rules.asset_differences(rec.data, stored)
        if diffs:
            row.error("code", f"已存在且内容不同：{'、'.join(diffs)}")
        else:
            rec.action = "unchanged"
    return records


# --- households ------------------------------------------------------------------------------

def _check_households(user, facts: rules.Facts, rows: list[rules.Row], present: set[str]) -> list[_Record]:

    facts.places = _places(user.county_code)
    groups: dict[str, list[rules.Row]] = {}
    records = []
    for row in rows:
        number = row.text("number")
        if not number:
            if "number" in present:  # a missing column is reported once, on the header row
                row.error("number", "必填项不能为空")
            records.append(_Record([row], f"#{row.number}"))
            continue
        if len(number) > 40:
            row.error("number", "不能超过40个字符")
            records.append(_Record([row], f"#{row.number}"))
            continue
        groups.setdefault(number, []).append(row)
    for number, group in groups.items():
        parsed = [rules.read_household_fields(r, present) for r in group]
        members = [rules.read_member(r, present) for r in group]
        merged, source = rules.merge_household(group, parsed, present)
        for m in members:
            if m["relation"] == hs.HEAD_RELATION and m["id_number"] is None:
                m["id_number"] = merged["head_id_number"]  # the head's own row may leave it blank
        state = {"number": number, **merged, "members": members}
        _domain_checks(hs, state, group, source)
        village_row = source.get("village_code", group[0])
        if merged["village_code"]:
            place = facts.places.get(merged["village_code"])
            why = rules.place_error(place, village_only=True)
            if why:
                village_row.error("village_code", why)
            elif not facts.in_scope(place.county_code, place.town_code, place.code):
                village_row.error("village_code", "超出您的管辖范围")
        state["village_code"] = merged["village_code"]
        records.append(_Record(group, number, state))
    by_number = {r.key: r for r in records if r.data is not None}
    for chunk in _chunks(by_number):
        for h in db.session.scalars(sa.select(Household).where(Household.county_code == user.county_code,
                                                               Household.number.in_(chunk))
                                    .options(selectinload(Household.members_in(user.county_code)))):
            rec = by_number[h.number]
            if not facts.in_scope(h.county_code, h.town_code, h.village_code):
                rec.rows[0].error("number", "本县已有该户编号的农户（不在您的管辖范围内）")
                continue
            stored = {k: getattr(h, k) for k in rules.HOUSEHOLD_FIELDS}
            stored["members"] = [{"name": m.name, "relation": m.relation, "id_number": m.id_number,
                                  "labour": m.labour} for m in h.members]
            diffs = rules.household_differences(rec.data, stored)
            if diffs:
                rec.rows[0].error("number", f"已存在且内容不同：{'、'.join(diffs)}")
            else:
                rec.action = "unchanged"
    return sorted(records, key=lambda r: r.rows[0].number)


def _domain_checks(hs, state: dict, group: list[rules.Row], source: dict[str, rules.Row]) -> None:
    """The households area's own checks (ID check digits, phone, card, monitoring rules, one head),
    mapped back to rows and columns; a cell already in error is not reported twice."""
    errors = {}
    for part in (hs._field_errors(state, state.keys()), hs._rule_errors(state)):
        for key, whys in part.items():
            errors.setdefault(key, []).extend(whys)
    for key, whys in errors.items():
        parts = key.split(".")
        if parts[0] == "members" and len(parts) == 3:
            row = group[int(parts[1])]
            name = {"name": "member_name", "relation": "relation", "id_number": "member_id_number"}[parts[2]]
            if name == "member_id_number" and not row.text(name) and row.text("relation") == hs.HEAD_RELATION:
                name = "head_id_number"  # the head's blank cell took the head's ID number
                row = source.get(name, group[0])
        elif parts[0] == "members":
            row, name = group[0], "relation"
        else:
            name = key
            row = source.get(name, group[0])
        if any(f == name for f, _ in row.errors):
            continue
        for why in whys:
            row.error(name, why)


# --- income ----------------------------------------------------------------------------------

def _check_income(user, facts: rules.Facts, rows: list[rules.Row], present: set[str]) -> list[_Record]:  # noqa: C901 - one check per column of the income sheet, reported cell by cell

    assets: dict[str, rules.AssetFact] = {}
    for chunk in _chunks(r.text("asset_code") for r in rows if r.text("asset_code")):
        for a in db.session.execute(sa.select(Asset.id, Asset.code, Asset.category, Asset.county_code,
                                              Asset.town_code, Asset.village_code)
                                    .where(Asset.county_code == user.county_code, Asset.code.in_(chunk))):
            assets[a.code] = rules.AssetFact(a.id, a.code, a.category, a.county_code, a.town_code, a.village_code)
    records = []
    for row in rows:
        data = rules.check_income_row(row, facts, present, assets)
        key = "|".join(str(v) for v in rules.income_key(data)) if data else f"#{row.number}"
        records.append(_Record([row], key, data))
    unique = _duplicates([r for r in records if r.data is not None], "voucher_no",
                         "记录（资产、所属期间、类别、凭证号、金额均相同）")
    if not unique:
        return records
    ids = {r.data["asset_id"] for r in unique}
    years = {r.data["period_year"] for r in unique}
    existing: dict[tuple, dict] = {}
    for chunk in _chunks(ids):
        for e in db.session.scalars(sa.select(IncomeEntry).where(
                IncomeEntry.county_code == user.county_code, IncomeEntry.asset_id.in_(chunk),
                IncomeEntry.period_year.in_(sorted(years)), IncomeEntry.reverses_id.is_(None))):
            key = (e.asset_id, e.direction, e.kind, e.period_year, e.period_month, e.period_quarter, e.voucher_no,
                   e.amount)
            existing.setdefault(key, {"received_on": e.received_on, "payer": e.payer, "note": e.note})
    settled = set(db.session.execute(sa.select(Settlement.place_code, Settlement.year).where(
        Settlement.county_code == user.county_code, Settlement.year.in_(sorted(years)))).all())
    shares: dict[int, list] = {}
    if settled:
        for chunk in _chunks(ids):
            for s in db.session.execute(sa.select(AssetShare.asset_id, AssetShare.village_code, AssetShare.from_year,
                                                  AssetShare.to_year).where(
                    AssetShare.county_code == user.county_code, AssetShare.asset_id.in_(chunk),
                    AssetShare.replaced_at.is_(None))):
                shares.setdefault(s.asset_id, []).append(s)
    by_id = {a.id: a for a in assets.values()}
    for rec in unique:
        row, data = rec.rows[0], rec.data
        stored = existing.get(rules.income_key(data))
        if stored is not None:
            diffs = rules.income_differences(data, stored)
            if diffs:
                row.error("voucher_no", f"已存在且内容不同：{'、'.join(diffs)}")
            else:
                rec.action = "unchanged"
            continue
        # basis: P34 — a settled year takes no new entries; corrections are dated adjustments.
        asset, year = by_id[data["asset_id"]], data["period_year"]
        places = {c for c in (asset.village_code, asset.town_code) if c}
        for s in shares.get(asset.id, ()):
            if share_year_applies(s.from_year, s.to_year, year):
                places.update((s.village_code, town_of(s.village_code)))
        hit = sorted(p for p in places if (p, year) in settled)
        if hit:
            row.error("period_year", f"{year}年度已清算（{'、'.join(hit)}），不能导入；请在系统中以调整记录登记")
    return records


# --- files: the error workbook and the templates ---------------------------------------------

def report_xlsx(sheet: Sheet, report: Report) -> bytes:
    """The uploaded rows as they were (personal numbers masked: ``shown_value``), bad cells filled red with a
    comment saying why, an extra “错误说明” column per row, and a sheet listing every error."""
    wb = Workbook()
    bad = wb.book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006", "border": 1})
    note = wb.book.add_format({"font_color": "#9C0006", "text_wrap": True})
    ws = wb.sheet(sheet.name or report.kind_label)
    width = max((len(r) for r in sheet.grid), default=0)
    by_cell: dict[tuple[int, int], list[str]] = {}
    by_row: dict[int, list[str]] = {}
    for e in report.errors:
        if e.col_index is not None:
            by_cell.setdefault((e.row - 1, e.col_index), []).append(e.message)
        by_row.setdefault(e.row - 1, []).append(f"{e.column}：{e.message}")
    header = sheet.grid[report.header_row - 1] if 0 < report.header_row <= len(sheet.grid) else []
    field_at = {j: report.columns.get(str(h).strip()) for j, h in enumerate(header)}
    for i, values in enumerate(sheet.grid):
        for j, v in enumerate(values):
            if i != report.header_row - 1:
                v = shown_value(field_at.get(j), v)
            whys = by_cell.get((i, j))
            if whys:
                ws.write_string(i, j, v, bad)
            elif v:
                ws.write_string(i, j, v)
        if i == report.header_row - 1:
            ws.write_string(i, width, "错误说明", wb.formats["header"])
        elif i in by_row:
            ws.write_string(i, width, "；".join(by_row[i]), note)
    for i in sorted(set(by_row) - set(range(len(sheet.grid)))):  # errors beyond the grid (none expected)
        ws.write_string(i, width, "；".join(by_row[i]), note)
    comments = 0
    for (i, j), whys in by_cell.items():
        if comments >= MAX_COMMENTS:
            break
        ws.write_comment(i, j, "\n".join(whys), {"author": "导入检查", "x_scale": 2, "y_scale": 1.5})
        comments += 1
    ws.freeze_panes(report.header_row, 0)
    ws.set_column(0, max(width - 1, 0), 14)
    ws.set_column(width, width, 60)

    ls = wb.sheet("错误清单")
    c = report.counts
    ls.write_string(0, 0, f"{report.kind_label}导入检查：共 {c['rows']} 行，{c['records']} 条记录；新增 {c['to_create']}，"
                          f"未变 {c['unchanged']}；错误 {c['errors']} 处（{c['rows_with_errors']} 行）", wb.formats["plain"])
    ls.write_row(1, 0, ["行号", "列名", "单元格内容", "错误原因"], wb.formats["header"])
    for n, e in enumerate(report.errors, start=2):
        ls.write_number(n, 0, e.row, wb.formats["center"])
        ls.write_string(n, 1, e.column, wb.formats["text"])
        ls.write_string(n, 2, e.value or "", wb.formats["text"])
        ls.write_string(n, 3, e.message, wb.formats["text"])
    ls.set_column(0, 0, 8)
    ls.set_column(1, 2, 20)
    ls.set_column(3, 3, 60)
    ls.freeze_panes(2, 0)
    return wb.close()


def template_xlsx(kind: t.Kind) -> bytes:
    """The published template: a data sheet with the Chinese headers (drop-downs for the fixed values,
    text format for codes and ID numbers) and a 填写说明 sheet describing every column."""
    wb = Workbook()
    text_fmt = wb.book.add_format({"num_format": "@"})
    required_fmt = wb.book.add_format({"font_name": "SimSun", "bold": True, "bg_color": "#FCE4D6", "border": 1,
                                       "align": "center", "valign": "vcenter", "text_wrap": True})
    ws = wb.sheet(kind.title)
    for j, col in enumerate(kind.columns):
        ws.write_string(0, j, col.header, required_fmt if col.required is not False else wb.formats["header"])
        ws.set_column(j, j, col.width, text_fmt if col.text else None)
        ws.write_comment(0, j, f"{col.meaning}（{col.required_label}）\n允许：{col.allowed}"[:1000],
                         {"author": "填写说明", "x_scale": 2.5, "y_scale": 2})
        if col.choices and len(",".join(col.choices)) <= 255:
            ws.data_validation(1, j, 10_000, j, {"validate": "list", "source": list(col.choices),
                                                 "error_type": "warning", "error_message": f"应为：{col.allowed}"[:255]})
    ws.freeze_panes(1, 0)
    ws.set_row(0, 30)

    doc = wb.sheet(t.INSTRUCTIONS_SHEET)
    doc.write_string(0, 0, f"{kind.title}导入模板 填写说明", wb.formats["title"])
    r = 1
    for line in kind.layout + ("表头在第1行，数据从第2行起；请勿修改列名（可删除不用的选填列，列的顺序不限）。",
                               "金额以元为单位，最多两位小数；日期写作 2024-06-30 或 2024年6月30日。",
                               "先“试导入”检查，全部无误后再正式导入；有任何一行出错时，整个文件都不会写入。"):
        doc.write_string(r, 0, line, wb.formats["plain"])
        r += 1
    r += 1
    doc.write_row(r, 0, ["列名", "含义", "是否必填", "允许的值", "示例", "也可识别的列名"], wb.formats["header"])
    for col in kind.columns:
        r += 1
        doc.write_row(r, 0, [col.header, col.meaning, col.required_label, col.allowed, col.example,
                             "、".join(col.aliases)], wb.formats["text"])
    doc.set_column(0, 0, 20)
    doc.set_column(1, 1, 40)
    doc.set_column(2, 2, 14)
    doc.set_column(3, 3, 60)
    doc.set_column(4, 5, 24)
    return wb.close()


def template_csv(kind: t.Kind) -> bytes:
    """The template's header row as CSV, UTF-8 with a BOM so Excel opens it with the right encoding."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([c.header for c in kind.columns])
    return codecs.BOM_UTF8 + buf.getvalue().encode("utf-8")


def describe_templates() -> list[dict]:
    """The published column maps, for the API and the import page."""
    return [{"kind": k.name, "title": k.title, "layout": list(k.layout),
             "columns": [{"field": c.field, "header": c.header, "aliases": list(c.aliases), "meaning": c.meaning,
                          "required": c.required_label, "allowed": c.allowed, "example": c.example}
                         for c in k.columns]} for k in t.KINDS.values()]

