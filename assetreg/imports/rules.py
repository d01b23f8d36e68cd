"""Pure row validation for imports: cell parsers (text in, value or a Chinese reason out) and the
checks of one asset, household or income row against plain facts the service looked up."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from ..assets import rules as asset_rules
from ..assets.models import CATEGORIES, FUNDING_SOURCES, SUBTYPES
from ..assets.models import STATUSES as ASSET_STATUSES
from ..core.money import MAX_AMOUNT, is_exact_cents
from ..households.models import LABOUR, MONITOR_TYPES
from ..income import rules as income_rules
from ..income.models import KINDS as LEDGER_KINDS
from . import templates as t

_INITIAL_LABELS = "、".join(ASSET_STATUSES[k] for k in ASSET_STATUSES if k in asset_rules.INITIAL_STATUSES)

_PLAIN = re.compile(r"[+-]?\d{1,16}(\.\d+)?", re.ASCII)
_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", re.ASCII)
_DATE_PATTERNS = (
    re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]00:00(?::00(?:\.0+)?)?)?", re.ASCII),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?"),
    re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII),
)
_QUARTERS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_QUARTER_RE = re.compile(r"(?:第)?([一二三四1-4])(?:季度|季)?|Q([1-4])", re.IGNORECASE)
_LOSSY = "Excel 把该单元格存成了数字，只保留15位有效数字，末几位已丢失；请把该列设为“文本”格式后重新填写"


class CellError(ValueError):
    """A cell that cannot be read as what its column needs; the message is for the user."""


# --- cell parsers ----------------------------------------------------------------------------

def money(text: str, *, positive: bool = False) -> Decimal:
    """Yuan with at most two decimals from text (an Excel number arrives as its text): no floats,
    no exponents; thousands separators and a leading ¥ are tolerated."""
    s = text.strip().removeprefix("¥").removeprefix("￥").strip()
    if _GROUPED.fullmatch(s):
        s = s.replace(",", "")
    if not _PLAIN.fullmatch(s):
        raise CellError("应为金额（数字，最多两位小数），例如 12345.67")
    try:
        d = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise CellError("应为金额") from None
    if not is_exact_cents(d):
        raise CellError("金额最多两位小数")
    if d < 0:
        raise CellError("金额不能为负数")
    if positive and d == 0:
        raise CellError("金额应大于零")
    if d > MAX_AMOUNT:
        raise CellError("金额超出允许范围")
    return d.quantize(Decimal("0.01"))


def decimal(text: str, places: int, *, max_value: int = 10**12) -> Decimal:
    s = text.strip()
    if _GROUPED.fullmatch(s):
        s = s.replace(",", "")
    if not _PLAIN.fullmatch(s):
        raise CellError("应为数字")
    d = Decimal(s)
    if d != d.quantize(Decimal(1).scaleb(-places)):
        raise CellError(f"最多{places}位小数")
    if d < 0 or d > max_value:
        raise CellError(f"应在 0 至 {max_value} 之间")
    return d.normalize() if d == d.to_integral_value() else d


def integer(text: str, lo: int, hi: int) -> int:
    s = text.strip()
    if re.fullmatch(r"[+-]?\d{1,9}(\.0+)?", s, re.ASCII) is None:
        raise CellError(f"应为 {lo} 至 {hi} 的整数")
    n = int(Decimal(s))
    if not lo <= n <= hi:
        raise CellError(f"应为 {lo} 至 {hi} 的整数")
    return n


def parse_date(text: str) -> date:
    s = text.strip()
    for pattern in _DATE_PATTERNS:
        m = pattern.fullmatch(s)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                raise CellError("日期不存在") from None
    raise CellError("应为日期，例如 2024-06-30 或 2024年6月30日")


def choice(text: str, values: dict[str, str], allowed: str) -> str:
    key = text.strip()
    code = values.get(key) or values.get(key.lower())
    if code is None:
        raise CellError(f"应为 {allowed} 之一")
    return code


def yes_no(text: str) -> bool:
    s = text.strip().lower()
    if s in t.YES:
        return True
    if s in t.NO:
        return False
    raise CellError("应为“是”或“否”")


def quarter(text: str) -> int:
    m = _QUARTER_RE.fullmatch(text.strip())
    if m is None:
        raise CellError("应为 1 至 4（或 第一季度 等）")
    return _QUARTERS[(m.group(1) or m.group(2))]


# --- a row -----------------------------------------------------------------------------------

@dataclass
class Row:
    """One data row: its Excel row number, the cell text per field, and the fields whose cell was
    an Excel number too long to be exact (an ID number typed without text format)."""

    number: int
    cells: dict[str, str]
    lossy: set[str] = field(default_factory=set)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field, why)

    def text(self, name: str) -> str:
        """The cell's text, trimmed ("" for a blank cell or a column the file does not have)."""
        return self.cells.get(name, "").strip()

    def error(self, name: str, why: str) -> None:
        self.errors.append((name, why))


class _Reader:
    """Reads fields of a row, collecting every error instead of stopping at the first."""

    def __init__(self, row: Row, kind: t.Kind, present: set[str]):
        self.row, self.kind, self.present = row, kind, present

    def get(self, name: str, parse=None, *, required: bool = False, default=None):
        row = self.row
        raw = row.text(name)
        if not raw:
            # A required column missing from the file is reported once, on the header row.
            if required and name in self.present:
                row.error(name, "必填项不能为空")
            return default
        if name in row.lossy:
            row.error(name, _LOSSY)
            return default
        col = self.kind.column(name)
        if col.max_len and len(raw) > col.max_len:
            row.error(name, f"不能超过{col.max_len}个字符")
            return default
        if parse is None:
            return raw
        try:
            return parse(raw)
        except CellError as exc:
            row.error(name, str(exc))
            return default


# --- assets ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlaceFact:
    code: str
    level: str
    county_code: str
    town_code: str | None
    is_withdrawn: bool
    successor_code: str | None

    @property
    def codes(self) -> dict:
        return {"county_code": self.county_code,
                "town_code": self.code if self.level == "town" else self.town_code,
                "village_code": self.code if self.level == "village" else None}


@dataclass(frozen=True)
class HouseholdFact:
    id: int
    number: str
    county_code: str
    town_code: str
    village_code: str


@dataclass
class Facts:
    """What the rows are checked against, looked up by the service in a few set-based queries."""

    county_code: str
    today: date
    in_scope: object  # callable(county, town, village) -> bool
    places: dict[str, PlaceFact] = field(default_factory=dict)
    households: dict[str, HouseholdFact] = field(default_factory=dict)  # by number


def place_error(place: PlaceFact | None, *, village_only: bool = False) -> str | None:
    if place is None or (village_only and place.level != "village"):
        return "未找到本县的该村" if village_only else "未找到本县的该区划代码"
    if place.is_withdrawn:
        return f"该区划已撤销，承继区划为 {place.successor_code}" if place.successor_code else "该区划已撤销"
    return None


def check_asset_row(row: Row, facts: Facts, present: set[str]) -> dict | None:  # noqa: C901 - one check per column of the asset ledger, reported cell by cell
    """Parse and check one asset row; returns the data ``create_asset`` takes (plus the household
    number), or None when the row has errors (they are on ``row.errors``)."""
    r = _Reader(row, t.KINDS["assets"], present)
    data: dict = {
        "code": r.get("code", required=True),
        "name": r.get("name", required=True),
        "category": r.get("category", lambda s: choice(s, t.CATEGORY_VALUES, "经营性、公益性、到户类"), required=True),
        "subtype": r.get("subtype", required=True),
        "place_code": r.get("place_code", required=True),
        "managing_level": r.get("managing_level", lambda s: choice(s, t.MANAGING_LEVEL_VALUES, "县、乡、村、户"),
                                required=True),
        "project_name": r.get("project_name"),
        "project_year": r.get("project_year", lambda s: integer(s, 1949, 2100)),
        "project_approval_no": r.get("project_approval_no"),
        "completed_on": r.get("completed_on", parse_date),
        "original_value": r.get("original_value", money, required=True),
        "quantity": r.get("quantity", lambda s: decimal(s, 3)),
        "unit": r.get("unit"),
        "useful_life_years": r.get("useful_life_years", lambda s: integer(s, 1, 100)),
        "status": r.get("status", lambda s: choice(s, t.ASSET_STATUS_VALUES, _INITIAL_LABELS)),
        "status_on": r.get("status_on", parse_date),
        "note": r.get("note"),
    }
    household_number = r.get("household_number")
    fundings = []
    for source in FUNDING_SOURCES:
        amount = r.get(f"funding_{source}", money)
        if amount is not None:
            fundings.append({"source": source, "amount": amount})
    data["fundings"] = fundings
    category = data["category"]

    if category and data["subtype"] and data["subtype"] not in SUBTYPES[category]:
        row.error("subtype", f"{CATEGORIES[category]}资产的子类应为 {'、'.join(SUBTYPES[category])} 之一")
    filled = sum(1 for s in FUNDING_SOURCES if row.text(f"funding_{s}"))
    if not filled:
        row.error("funding_fiscal_link", "至少填写一项资金来源")
    elif data["original_value"] is not None and len(fundings) == filled:
        # basis: P01 — the funding breakdown adds up to the original value exactly, to the fen.
        why = asset_rules.funding_error(data["original_value"], [f["amount"] for f in fundings])
        if why:
            row.error("original_value", why)
    status = data["status"] or "under_construction"
    if status not in asset_rules.INITIAL_STATUSES:
        row.error("status", f"导入登记的状态只能为 {_INITIAL_LABELS} 之一")
    elif category and status in ("in_operation", "in_use") and status != asset_rules.IN_SERVICE[category]:
        row.error("status", f"{CATEGORIES[category]}资产投入使用的状态应为“{ASSET_STATUSES[asset_rules.IN_SERVICE[category]]}”")
    data["status"] = status
    status_on = data["status_on"] or data["completed_on"] or facts.today
    if status_on > facts.today:
        row.error("status_on" if data["status_on"] else "completed_on",
                  "状态日期不能晚于今天" if data["status_on"] else "竣工日期晚于今天，须另填不晚于今天的状态日期")

    place = None
    if data["place_code"]:
        place = facts.places.get(data["place_code"])
        why = place_error(place)
        if why:
            row.error("place_code", why)
            place = None
        elif not facts.in_scope(**place.codes):
            row.error("place_code", "超出您的管辖范围")
            place = None
    household = None
    if category == "household":
        # basis: P11 — household assets are held and run by the household itself.
        if data["managing_level"] and data["managing_level"] != "household":
            row.error("managing_level", "到户类资产的管理层级应为“户”")
        if not household_number:
            if "household_number" not in row.lossy:
                row.error("household_number", "到户类资产须填写农户户编号")
        else:
            household = facts.households.get(household_number)
            if household is None:
                row.error("household_number", "未找到本县该户编号的农户")
            elif place is not None and place.level == "village" and household.village_code != place.code:
                row.error("household_number", "该农户不在资产所在村")
    elif household_number:
        row.error("household_number", "只有到户类资产填写农户户编号")
    if row.errors:
        return None
    data["household_id"] = household.id if household else None
    data["household_number"] = household_number
    return data


def asset_differences(data: dict, existing: dict) -> list[str]:
    """Fields (as their Chinese headers) in which an imported asset row differs from the stored one.

    ``existing`` holds the stored values under the same keys (fundings as {source: amount})."""
    kind = t.KINDS["assets"]
    out = []
    for key in ("name", "category", "subtype", "place_code", "managing_level", "household_id", "project_name",
                "project_year", "project_approval_no", "completed_on", "original_value", "quantity", "unit",
                "useful_life_years", "status", "note"):
        if data.get(key) != existing.get(key):
            out.append("农户户编号" if key == "household_id" else kind.column(key).header)
    if data.get("status_on") and data["status_on"] != existing.get("status_on"):
        out.append(kind.column("status_on").header)
    wanted = {f["source"]: f["amount"] for f in data["fundings"] if f["amount"]}
    stored = {s: a for s, a in existing.get("fundings", {}).items() if a}
    out.extend(kind.column(f"funding_{s}").header for s in FUNDING_SOURCES if wanted.get(s) != stored.get(s))
    return out


# --- households ------------------------------------------------------------------------------

HOUSEHOLD_FIELDS = ("village_code", "head_name", "head_id_number", "phone", "status", "monitor_type",
                    "is_risk_cleared", "risk_cleared_on", "bank_card")


def read_household_fields(row: Row, present: set[str]) -> dict:
    """The household-level cells of a row, parsed (blank cells are None)."""
    r = _Reader(row, t.KINDS["households"], present)
    return {
        "village_code": r.get("village_code"),
        "head_name": r.get("head_name"),
        "head_id_number": (r.get("head_id_number") or "").upper() or None,
        "phone": r.get("phone"),
        "status": r.get("status", lambda s: choice(s, t.HOUSEHOLD_STATUS_VALUES, "脱贫户、监测户、一般户")),
        "monitor_type": r.get("monitor_type", lambda s: choice(s, t.MONITOR_TYPE_VALUES,
                                                              "、".join(MONITOR_TYPES.values()))),
        "is_risk_cleared": r.get("is_risk_cleared", yes_no),
        "risk_cleared_on": r.get("risk_cleared_on", parse_date),
        "bank_card": re.sub(r"\s+", "", r.get("bank_card") or "") or None,
    }


def read_member(row: Row, present: set[str]) -> dict:
    r = _Reader(row, t.KINDS["households"], present)
    return {
        "name": r.get("member_name", required=True),
        "relation": r.get("relation", required=True),
        "id_number": (r.get("member_id_number") or "").upper() or None,
        "labour": r.get("labour", lambda s: choice(s, t.LABOUR_VALUES, "、".join(LABOUR.values())), required=True),
    }


def merge_household(rows: list[Row], parsed: list[dict], present: set[str]) -> tuple[dict, dict[str, Row]]:
    """One household's fields from its rows. Each is taken from the first row that fills it (normally
    the household's first row); a row filling it differently is an error. Returns the fields and, per
    field, the row it came from (where a later error on that field is reported)."""
    merged: dict = dict.fromkeys(HOUSEHOLD_FIELDS)
    source: dict[str, Row] = {}
    for row, values in zip(rows, parsed, strict=True):
        for key, value in values.items():
            if value is None:
                continue
            if merged[key] is None:
                merged[key], source[key] = value, row
            elif value != merged[key]:
                row.error(key, f"与本户第{source[key].number}行的内容不一致")
    first = rows[0]
    for key in ("village_code", "head_name", "head_id_number", "status"):
        if merged[key] is None and key in present and not any(r.text(key) for r in rows):
            first.error(key, "每户须在一行中填写此项")
    merged["is_risk_cleared"] = bool(merged["is_risk_cleared"])
    return merged, source


def household_differences(state: dict, existing: dict) -> list[str]:
    kind = t.KINDS["households"]
    out = [kind.column(k).header for k in HOUSEHOLD_FIELDS if state.get(k) != existing.get(k)]

    def members(ms):
        return sorted((m["name"], m["relation"], m["id_number"] or "", m["labour"]) for m in ms)

    if members(state["members"]) != members(existing["members"]):
        out.append("家庭成员")
    return out


# --- income ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AssetFact:
    id: int
    code: str
    category: str
    county_code: str
    town_code: str | None
    village_code: str | None


def check_income_row(row: Row, facts: Facts, present: set[str], assets: dict[str, AssetFact]) -> dict | None:
    """Parse and check one ledger row; returns the data ``post_entry`` takes plus ``asset_id``."""
    r = _Reader(row, t.KINDS["income"], present)
    code = r.get("asset_code", required=True)
    direction = r.get("direction", lambda s: choice(s, t.DIRECTION_VALUES, "收入、支出"), required=True)
    kind_text = r.get("kind", required=True)
    data = {
        "period_year": r.get("period_year", lambda s: integer(s, 2000, 2100), required=True),
        "period_month": r.get("period_month", lambda s: integer(s, 1, 12)),
        "period_quarter": r.get("period_quarter", quarter),
        "received_on": r.get("received_on", parse_date, required=True),
        "amount": r.get("amount", lambda s: money(s, positive=True), required=True),
        "payer": r.get("payer"),
        "voucher_no": r.get("voucher_no", required=True),
        "note": r.get("note"),
    }
    kind = None
    if direction and kind_text:
        kind = t.KIND_VALUES[direction].get(kind_text)
        if kind is None:
            labels = "、".join(LEDGER_KINDS[direction].values())
            row.error("kind", f"{'收入' if direction == 'income' else '支出'}的类别应为 {labels} 之一")
    why = income_rules.period_error(data["period_month"], data["period_quarter"])
    if why:
        row.error("period_quarter", "所属月份与所属季度只能填写其一")
    if data["received_on"] and data["received_on"] > facts.today:
        row.error("received_on", "收付日期不能晚于今天")
    asset = None
    if code:
        asset = assets.get(code)
        if asset is None:
            row.error("asset_code", "未找到本县该编号的资产")
        elif not facts.in_scope(asset.county_code, asset.town_code, asset.village_code):
            row.error("asset_code", "超出您的管辖范围")
            asset = None
        elif asset.category == "household":
            # basis: P11 — a household asset's income is the household's, not the collective's.
            row.error("asset_code", "到户类资产的收益归农户所有，不记入村集体收益台账")
            asset = None
    if row.errors:
        return None
    data.update(direction=direction, kind=kind, asset_id=asset.id, asset_code=asset.code)
    return data


def income_key(data: dict) -> tuple:
    """The natural key of a ledger line: asset, period, kind, voucher number and amount."""
    return (data["asset_id"], data["direction"], data["kind"], data["period_year"], data["period_month"],
            data["period_quarter"], data["voucher_no"], data["amount"])


def income_differences(data: dict, existing: dict) -> list[str]:
    kind = t.KINDS["income"]
    return [kind.column(k).header for k in ("received_on", "payer", "note") if data.get(k) != existing.get(k)]
