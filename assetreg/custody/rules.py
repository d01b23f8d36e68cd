"""Pure checks of custody (管护) and operation (经营) records; field name → reasons, empty when fine."""

from __future__ import annotations

import re
from datetime import date

from ..core.validators import is_valid_credit_code

# Mobile: 11 digits starting 13–19. Landline: area code 0xx/0xxx, 7–8 digits, optional extension.
_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")


def phone_error(phone: str | None) -> str | None:
    if phone is None or _MOBILE_RE.match(phone) or _LANDLINE_RE.match(phone):
        return None
    return "应为11位手机号或带区号的固定电话（如 0731-12345678）"


def term_error(term_from: date | None, term_to: date | None) -> str | None:
    if term_from is not None and term_to is not None and term_to < term_from:
        return "期限截止日不能早于起始日"
    return None


def custody_errors(data: dict) -> dict[str, list[str]]:
    """Custody: person reachable, term in order (basis: P12, P13)."""
    errors: dict[str, list[str]] = {}
    why = phone_error(data.get("phone"))
    if why:
        errors["phone"] = [why]
    why = term_error(data.get("term_from"), data.get("term_to"))
    if why:
        errors["term_to"] = [why]
    return errors


def operation_errors(data: dict, *, category: str, today: date) -> dict[str, list[str]]:
    """Operation: only operating assets; contracts for every mode but self-run (basis: P07);
    a risk rating comes with the date of its assessment (basis: P32)."""
    if category != "operating":
        return {"mode": ["只有经营性资产可以登记经营信息"]}
    errors: dict[str, list[str]] = {}
    contracted = data["mode"] != "self_run"
    code = data.get("operator_credit_code")
    if code and not is_valid_credit_code(code):
        errors["operator_credit_code"] = ["统一社会信用代码无效（应为18位，校验位须正确）"]
    elif not code and contracted:
        errors["operator_credit_code"] = ["非自主经营须填写经营主体的统一社会信用代码"]
    if contracted and not data.get("contract_no"):
        errors["contract_no"] = ["非自主经营须填写合同编号"]
    why = term_error(data.get("term_from"), data.get("term_to"))
    if why:
        errors["term_to"] = [why]
    rating, assessed_on = data.get("risk_rating"), data.get("risk_assessed_on")
    if rating and not assessed_on:
        errors["risk_assessed_on"] = ["填写风险等级时须填写风险评估日期"]
    elif assessed_on and not rating:
        errors["risk_rating"] = ["填写风险评估日期时须填写风险等级"]
    elif assessed_on and assessed_on > today:
        errors["risk_assessed_on"] = ["风险评估日期不能晚于今天"]
    return errors
