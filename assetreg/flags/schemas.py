"""Flag schemas: the query (filters and paging), a flag, the dashboard counts, acknowledgements, the rules."""

import marshmallow as ma
from marshmallow import fields, validate

from ..assets.models import CATEGORIES as ASSET_CATEGORIES
from ..core.access import TOWN_CODE_PATTERN
from ..core.fields import Choice, Matches, PageQuery, Text, page_schema
from .rules import CATEGORIES, RULES, SEVERITIES, SUBJECTS

_CODE = {"validate": Matches(r"^\d{6}(\d{3}(\d{3})?)?$", error="应为6、9或12位区划代码")}


class FlagFilters(ma.Schema):
    scope = fields.String(validate=validate.And(validate.Length(max=12), _CODE["validate"]),
                          metadata={"description": "county, town or village code (default: your scope)"})
    as_of = fields.Date(metadata={"description": "evaluate as of this day (default: today)"})
    rule = Choice(sorted(RULES))
    severity = Choice(SEVERITIES)
    town_code = fields.String(validate=Matches(TOWN_CODE_PATTERN, error="应为9位乡镇代码"))
    village_code = fields.String(validate=Matches(r"^\d{12}$", error="应为12位村代码"))
    category = Choice(CATEGORIES, metadata={"description": "rule category"})
    asset_category = Choice(ASSET_CATEGORIES)
    acknowledged = fields.Boolean()


class FlagQuery(FlagFilters, PageQuery):
    pass


class Flag(ma.Schema):
    rule_id = fields.String()
    title = fields.Function(lambda f: f.rule.title)
    key = fields.String()
    severity = fields.String()
    severity_label = fields.Function(lambda f: SEVERITIES[f.severity])
    category = fields.Function(lambda f: f.rule.category)
    category_label = fields.Function(lambda f: CATEGORIES[f.rule.category])
    basis = fields.Function(lambda f: list(f.rule.basis))
    message = fields.String()
    subject = fields.String(metadata={"description": "what the key names: asset, plan, town, village, problem, disposal"})
    subject_label = fields.Function(lambda f: SUBJECTS.get(f.subject))
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    place_name = fields.String(allow_none=True)
    asset_id = fields.Integer(allow_none=True)
    asset_code = fields.String(allow_none=True)
    asset_name = fields.String(allow_none=True)
    asset_category = fields.String(allow_none=True)
    acknowledged = fields.Boolean()
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    ack_reason = fields.String(allow_none=True)
    problem_id = fields.Integer(allow_none=True)


class FlagScope(ma.Schema):
    code = fields.String()
    level = fields.String()
    name = fields.String()


_FlagPageBase = page_schema(Flag, "FlagPageBase")


class FlagPage(_FlagPageBase):
    as_of = fields.Date()
    scope = fields.Nested(FlagScope)


class RuleCount(ma.Schema):
    rule_id = fields.String()
    title = fields.String()
    severity = fields.String()
    category = fields.String()
    category_label = fields.String()
    basis = fields.List(fields.String())
    count = fields.Integer()
    acknowledged = fields.Integer()


class PlaceCount(ma.Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    count = fields.Integer()
    error = fields.Integer()
    warning = fields.Integer()
    info = fields.Integer()


class FlagSummary(ma.Schema):
    as_of = fields.Date()
    scope = fields.Nested(FlagScope)
    total = fields.Integer()
    acknowledged = fields.Integer()
    by_severity = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_category = fields.Dict(keys=fields.String(), values=fields.Integer())
    by_rule = fields.List(fields.Nested(RuleCount))
    by_place = fields.List(fields.Nested(PlaceCount))


class AcknowledgementIn(ma.Schema):
    rule_id = Choice(sorted(RULES), required=True)
    flag_key = Text(80, required=True, metadata={"example": "asset:123"})
    reason = Text(1000, required=True, metadata={"description": "why the flag is accepted for now (确认理由)"})


class Acknowledgement(ma.Schema):
    id = fields.Integer()
    rule_id = fields.String()
    flag_key = fields.String()
    reason = fields.String()
    acknowledged_by_id = fields.Integer(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = fields.DateTime()


class RuleOut(ma.Schema):
    id = fields.String()
    severity = fields.String()
    severities = fields.List(fields.String())
    category = fields.String()
    category_label = fields.String()
    subject = fields.String()
    subject_label = fields.Function(lambda r: SUBJECTS.get(r["subject"]))
    title = fields.String()
    basis = fields.List(fields.String())
    doc = fields.String()
