"""HTML forms through the API's marshmallow schemas (STYLE.md convention 6): flat form fields become
the schema's input, and schema or domain errors come back as ``{"field.path": ["中文原因"]}``."""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import fields, validate

from ..core.errors import Conflict, DomainError, RuleViolation
from ..core.fields import MoneyField
from ..extensions import db

_INT = re.compile(r"[+-]?\d{1,15}", re.ASCII)
_CJK = re.compile(r"[\u4e00-\u9fff]")

# marshmallow's English messages, said in Chinese (anything already Chinese passes through).
_MESSAGES = [
    (re.compile(r"Missing data for required field\."), lambda m: "必填"),
    (re.compile(r"Field may not be null\."), lambda m: "不能为空"),
    (re.compile(r"Unknown field\."), lambda m: "未知字段"),
    (re.compile(r"Not a valid integer\."), lambda m: "应为整数"),
    (re.compile(r"Not a valid date\."), lambda m: "应为日期，例如 2025-03-31"),
    (re.compile(r"Not a valid (datetime|date ?time)\."), lambda m: "应为日期时间"),
    (re.compile(r"Not a valid (number|decimal)\."), lambda m: "应为数字"),
    (re.compile(r"Not a valid boolean\."), lambda m: "应为是或否"),
    (re.compile(r"Not a valid (string|list|mapping)\.|Invalid input type\.|Invalid type\."), lambda m: "格式错误"),
    (re.compile(r"Special numeric values .*"), lambda m: "应为数字"),
    (re.compile(r"Shorter than minimum length (\d+)\."),
     lambda m: "不能为空" if m.group(1) == "1" else f"至少{m.group(1)}个字符"),
    (re.compile(r"Longer than maximum length (\d+)\."), lambda m: f"最多{m.group(1)}个字符"),
    (re.compile(r"Length must be between (\d+) and (\d+)\."),
     lambda m: f"最多{m.group(2)}个字符" if m.group(1) in ("0", "1") else f"长度应在{m.group(1)}至{m.group(2)}之间"),
    (re.compile(r"Must be one of: .*"), lambda m: "请从列表中选择"),
    (re.compile(r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\."),
     lambda m: f"应在 {m.group(1)} 至 {m.group(2)} 之间"),
    (re.compile(r"Must be greater than or equal to (\S+)\."), lambda m: f"不能小于 {m.group(1)}"),
    (re.compile(r"Must be less than or equal to (\S+)\."), lambda m: f"不能大于 {m.group(1)}"),
]


def chinese(message: str) -> str:
    if _CJK.search(message):
        return message
    for pattern, say in _MESSAGES:
        m = pattern.fullmatch(message.strip())
        if m:
            return say(m)
    return "输入有误"


def flatten(errors, prefix: str = "") -> dict[str, list[str]]:
    """Nested marshmallow/domain errors → {"fundings.0.amount": ["…"]}; ``_schema`` goes to the parent."""
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = prefix if key == "_schema" else (f"{prefix}.{key}" if prefix else str(key))
            for k, v in flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(errors, (list, tuple)):
        for item in errors:
            if isinstance(item, (dict, list, tuple)):
                for k, v in flatten(item, prefix).items():
                    out.setdefault(k, []).extend(v)
            else:
                out.setdefault(prefix or "_form", []).append(chinese(str(item)))
    else:
        out.setdefault(prefix or "_form", []).append(chinese(str(errors)))
    return out


class FormInvalid(Exception):
    """A form refused by its schema or by a domain rule: a message and field errors to show inline."""

    def __init__(self, errors: dict[str, list[str]], message: str = "输入有误，请检查标出的字段", status: int = 422):
        super().__init__(message)
        self.errors = errors
        self.message = message
        self.status = status  # 409 when the record changed since the form was read, else 422

    @classmethod
    def from_domain(cls, exc: DomainError) -> FormInvalid:
        return cls(flatten(exc.fields or {}), exc.message, 409 if exc.code == "version_conflict" else 422)


def coerce(schema: ma.Schema, raw: dict, *, skip=("csrf_token",)) -> dict:
    """Form strings → the values the schema expects: trimmed; blank → None for nullable fields;
    integers as int (the schemas are strict); money without thousands separators; checkboxes as bool."""
    out: dict = {}
    for key, value in raw.items():
        if key in skip:
            continue
        field = schema.fields.get(key)
        if isinstance(value, str):
            value = value.strip()
        if field is None:
            out[key] = value
            continue
        if isinstance(field, fields.Boolean):
            out[key] = value in ("y", "on", "1", "true", True)
            continue
        if value == "" and field.allow_none:
            out[key] = None
            continue
        if isinstance(field, fields.Integer) and isinstance(value, str) and _INT.fullmatch(value):
            value = int(value)
        elif isinstance(field, MoneyField) and isinstance(value, str):
            value = re.sub(r"[,，\s]", "", value)
        out[key] = value
    return out


def load(schema: ma.Schema, data: dict) -> dict:
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        errors = flatten(exc.messages)
        for key in errors:
            field = schema.fields.get(key)
            if field is not None and data.get(key) in ("", None):  # left blank: say so plainly
                choice = isinstance(field.validate, validate.OneOf) or any(
                    isinstance(v, validate.OneOf) for v in field.validators)
                errors[key] = ["请选择" if choice else "不能为空"]
        raise FormInvalid(errors) from None


def load_form(schema: ma.Schema, raw: dict, **kw) -> dict:
    """Coerce then load a flat form through ``schema``; raise ``FormInvalid`` with Chinese field errors."""
    return load(schema, coerce(schema, raw, **kw))


def load_query(schema: ma.Schema, args) -> tuple[dict, dict[str, list[str]]]:
    """Query arguments through a query schema. Bad arguments are dropped (and reported), never a 500:
    the list still shows, with the rest of the filters applied."""
    raw = {k: v for k, v in args.items() if v.strip() != ""}
    raw = coerce(schema, raw)
    try:
        return schema.load(raw), {}
    except ma.ValidationError as exc:
        errors = flatten(exc.messages)
        bad = {k.split(".")[0] for k in errors}
        good = {k: v for k, v in raw.items() if k not in bad}
        try:
            return schema.load(good), errors
        except ma.ValidationError:
            return schema.load({}), errors


def commit_or_invalid(fn):
    """The one commit of a page's write: run one service call and commit; a 422/409 domain refusal rolls
    back and becomes form errors (so nothing is half-written)."""
    try:
        result = fn()
        db.session.commit()
        return result
    except (RuleViolation, Conflict) as exc:
        db.session.rollback()
        raise FormInvalid.from_domain(exc) from None
