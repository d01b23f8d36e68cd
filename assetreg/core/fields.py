"""Shared marshmallow building blocks: money and other decimals as strings, bounded text, whole-string
patterns, pagination, error shape, and ``OutSchema`` (a faster dump for output-only schemas). What a field
documents (OpenAPI) is what it checks."""

from __future__ import annotations

import re
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import ensure_text_type
from marshmallow.utils import get_value as _ma_get_value
from marshmallow.utils import missing as _missing

from .money import MAX_AMOUNT, is_exact_cents, to_decimal
from .validators import mask_personal_text

_PLAIN_AMOUNT = re.compile(r"-?\d{1,16}(\.\d+)?", re.ASCII)  # digits and a point: no exponents, no commas


class PersonalText(fields.String):
    """Free text that may hold personal data typed in by a user (a reason, a use, a note): sent through the
    privacy scan (``validators.mask_personal_text``) unless the service marked the object it belongs to
    ``reveal_personal`` (only for auditors): masked is the default, so any other use is safe."""

    def _serialize(self, value, attr, obj, **kwargs):
        text = super()._serialize(value, attr, obj, **kwargs)
        reveal = obj.get("reveal_personal", False) if isinstance(obj, dict) else getattr(obj, "reveal_personal", False)
        return text if reveal else mask_personal_text(text)


def decimal_pattern(places: int, *, signed: bool) -> str:
    """The documented form of a decimal sent as a string: an optional minus (``signed``), digits, and at
    most ``places`` decimals after a point. An ECMA regex, as OpenAPI reads them."""
    return ("^-?" if signed else "^") + rf"[0-9]{{1,16}}(\.[0-9]{{1,{places}}})?$"  # [0-9]: ASCII in any dialect


class Matches(validate.Regexp):
    """The whole string matches ``pattern`` (written ``^…$``, documented as it is: OpenAPI reads ECMA
    regexes). Checked with ``fullmatch`` and ASCII classes so that Python agrees with the document: its
    ``$`` would also match before a final newline, and its ``\\d`` any Unicode digit."""

    def __init__(self, pattern: str, *, error: str | None = None):
        if not (pattern.startswith("^") and pattern.endswith("$")):
            raise ValueError(f"a whole-string pattern is written ^…$: {pattern!r}")
        super().__init__(pattern, flags=re.ASCII, error=error)

    def __call__(self, value: str) -> str:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ma.ValidationError(self._format_error(value))
        return value


class MoneyField(fields.Field):
    """Yuan with at most two decimals. Accepts a string or an integer; never a float. Dumps a string
    ("1234.56"). Documented as a string with ``decimal_pattern(2)``, a sign allowed: a field that refuses
    negatives says so when it loads (an output amount such as a net may be negative)."""

    default_error_messages = {
        "invalid": "应为金额，例如 \"1234.56\"",
        "places": "最多两位小数",
        "range": "金额应在 0 至 1000000000000 之间",
        "float": "金额请用字符串传递，例如 \"1234.56\"",
    }

    def __init__(self, *, allow_negative: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.allow_negative = allow_negative
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("format", "decimal")
        self.metadata.setdefault("pattern", decimal_pattern(2, signed=True))
        self.metadata.setdefault("example", "1234.56")

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return f"{Decimal(value):.2f}"

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float):
            # JSON numbers with a fraction arrive as float: refuse them rather than guess.
            raise self.make_error("float")
        if not isinstance(value, (str, int)) or (isinstance(value, str) and not _PLAIN_AMOUNT.fullmatch(value.strip())):
            raise self.make_error("invalid")
        try:
            d = to_decimal(value)
        except (TypeError, ValueError):
            raise self.make_error("invalid") from None
        lo = -MAX_AMOUNT if self.allow_negative else Decimal(0)
        if d < lo or d > MAX_AMOUNT:
            raise self.make_error("range")
        if not is_exact_cents(d):
            raise self.make_error("places")
        return d.quantize(Decimal("0.01"))


class DecimalString(fields.Decimal):
    """A bounded decimal that is not money (quantities, rates, shares, weights), dumped as a string
    ("60.0000"), documented as one (``decimal_pattern``). The one field for such a value, in and out:
    marshmallow's own ``Decimal`` would document a JSON number (tests/test_openapi.py checks).

    Extra decimal places are refused, not silently rounded."""

    default_error_messages = {
        "invalid": "应为数字，例如 \"12.5\"",
        "too_large": "数值过大",
        "special": "应为数字，例如 \"12.5\"",
    }

    def __init__(self, places: int, min_value=0, max_value=10**12, **kwargs):
        super().__init__(as_string=True, allow_nan=False, **kwargs)
        self.max_places = places
        self.min_value, self.max_value = Decimal(min_value), Decimal(max_value)
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("format", "decimal")
        self.metadata.setdefault("pattern", decimal_pattern(places, signed=self.min_value < 0))
        self.metadata.setdefault("description", f"decimal string, {min_value} to {max_value}, at most {places} places")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or (isinstance(value, str) and len(value) > 30):
            raise self.make_error("invalid")
        if isinstance(value, float):
            value = repr(value)
        d = super()._deserialize(value, attr, data, **kwargs)
        if d is not None:
            if abs(d) > Decimal(10) ** 15:
                raise self.make_error("too_large")
            if d != d.quantize(Decimal(1).scaleb(-self.max_places)):
                raise ma.ValidationError(f"最多{self.max_places}位小数")
            if not self.min_value <= d <= self.max_value:
                raise ma.ValidationError(f"应在 {self.min_value} 至 {self.max_value} 之间")
        return d


def Text(max_len: int, *, required: bool = False, allow_none: bool = False, min_len: int = 1, **kw):
    """A string with a length limit (huge strings are refused with 422, never stored)."""
    return fields.String(required=required, allow_none=allow_none,
                         validate=validate.Length(min=min_len, max=max_len), **kw)


def Choice(choices: dict | list, *, required: bool = False, allow_none: bool = False, **kw):
    values = list(choices)
    metadata = {"enum": values, **kw.pop("metadata", {})}
    return fields.String(required=required, allow_none=allow_none, validate=validate.OneOf(values),
                         metadata=metadata, **kw)


def Int(min_value: int = 0, max_value: int = 2**31 - 1, **kw):
    return fields.Integer(strict=True, validate=validate.Range(min=min_value, max=max_value), **kw)


class PageQuery(ma.Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**6))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


def _money_out(value):
    return None if value is None else f"{Decimal(value):.2f}"


def _text_out(value):
    return None if value is None else (value if type(value) is str else ensure_text_type(value))


def _int_out(value):
    return None if value is None else (value if type(value) is int else int(value))


class OutSchema(ma.Schema):
    """An output-only schema whose ``dump`` gives exactly marshmallow's result, faster: each field's
    reading and conversion is worked out once per schema instance (a plan), then applied to every row.

    Plain strings, integers, ISO dates and times, money and nested ``OutSchema`` rows are converted
    inline; any other field (``Function``, ``PersonalText``, ``DecimalString`` …) through its own
    ``_serialize``, so it keeps its behaviour. A schema with dump hooks, or a field with a
    ``dump_default``, takes marshmallow's own path. The fields, so the OpenAPI document, are untouched;
    tests/test_out_schema.py compares both paths."""

    def _dump_plan(self):
        plan = self.__dict__.get("_out_plan")
        if plan is None:
            plan = self.__dict__["_out_plan"] = self._make_plan()
        return plan

    def _make_plan(self):
        if self._hooks[PRE_DUMP] or self._hooks[POST_DUMP] or type(self).get_attribute is not ma.Schema.get_attribute:
            return False
        plan = []
        for attr, field in self.dump_fields.items():
            key = field.data_key if field.data_key is not None else attr
            if not field._CHECK_ATTRIBUTE:  # Function, Method: computed from the whole object
                plan.append((key, None, field, attr, False))
                continue
            if field.dump_default is not _missing:
                return False
            name = field.attribute if field.attribute is not None else attr
            plan.append((key, name, _converter(field), attr, "." in name))
        return plan

    def _serialize(self, obj, *, many: bool = False):
        plan = self._dump_plan()
        if plan is False:
            return super()._serialize(obj, many=many)
        if many and obj is not None:
            return [self._dump_one(plan, each) for each in obj]
        return self._dump_one(plan, obj)

    @staticmethod
    def _dump_one(plan, obj) -> dict:
        # Read as marshmallow's accessor does (a dict by key, an object by attribute, ``missing`` when
        # absent, anything else through the accessor itself), deciding which once per row.
        by_key = type(obj) is dict
        by_attribute = not by_key and not hasattr(obj, "__getitem__")
        out = {}
        for key, name, convert, attr, dotted in plan:
            if name is None:
                out[key] = convert._serialize(None, attr, obj)
                continue
            if dotted:
                value = _ma_get_value(obj, name)
            elif by_key:
                value = obj.get(name, _missing)
            elif by_attribute:
                value = getattr(obj, name, _missing)
            else:
                value = _ma_get_value(obj, name)
            if value is _missing:
                continue
            out[key] = convert(value) if type(convert) is not tuple else convert[0]._serialize(value, attr, obj)
        return out


def _converter(field: fields.Field):
    """The conversion of one field's value: a plain function where it is known to equal the field's
    ``_serialize``, else ``(field,)`` (call the field itself)."""
    kind = type(field)
    if kind is MoneyField:
        return _money_out
    if kind is fields.String:
        return _text_out
    if kind is fields.Integer and not field.as_string:
        return _int_out
    if kind in (fields.Date, fields.DateTime) and (field.format or field.DEFAULT_FORMAT) in ("iso", "iso8601"):
        iso = kind.SERIALIZATION_FUNCS[field.format or field.DEFAULT_FORMAT]
        return lambda value: None if value is None else iso(value)
    if kind is fields.Nested and _plain_out(field.schema) and not (field.schema.many or field.many):
        nested = field.schema
        return lambda value: None if value is None else nested._serialize(value)
    if kind is fields.List and type(field.inner) is fields.Nested and _plain_out(field.inner.schema) \
            and not (field.inner.schema.many or field.inner.many):
        nested = field.inner.schema
        return lambda value: None if value is None else nested._serialize(value, many=True)
    return (field,)


def _plain_out(schema) -> bool:
    """An ``OutSchema`` without dump hooks: dumping it is its ``_serialize`` alone."""
    return isinstance(schema, OutSchema) and not (schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP])


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """The envelope every list endpoint returns: items and the paging figures."""
    base = OutSchema if issubclass(item_schema, OutSchema) else ma.Schema
    return type(name, (base,), {
        "items": fields.List(fields.Nested(item_schema)),
        "page": fields.Integer(),
        "per_page": fields.Integer(),
        "total": fields.Integer(),
    })


class ErrorBody(ma.Schema):
    code = fields.String()
    message = fields.String()
    fields_ = fields.Dict(data_key="fields")


class ErrorSchema(ma.Schema):
    error = fields.Nested(ErrorBody)
