"""Asset schemas per use: create, update, output, query; transitions; depreciation."""

import marshmallow as ma
from marshmallow import fields, validate

from ..core.fields import Choice, DecimalString, Int, MoneyField, OutSchema, PageQuery, Text, page_schema
from .models import CATEGORIES, FUNDING_SOURCES, MANAGING_LEVELS, STATUSES


class FundingIn(ma.Schema):
    source = Choice(FUNDING_SOURCES, required=True)
    amount = MoneyField(required=True)


class FundingOut(OutSchema):
    source = fields.String()
    source_label = fields.Function(lambda f: FUNDING_SOURCES[f.source])
    amount = MoneyField()


class AssetCreate(ma.Schema):
    code = Text(40, required=True)
    name = Text(200, required=True)
    category = Choice(CATEGORIES, required=True)
    subtype = Text(40, required=True)
    place_code = Text(12, required=True, metadata={"description": "where it stands: village, town or county code"})
    managing_level = Choice(MANAGING_LEVELS, required=True)
    household_id = Int(min_value=1, allow_none=True)
    project_name = Text(200, allow_none=True)
    project_year = Int(min_value=1949, max_value=2100, allow_none=True)
    project_approval_no = Text(100, allow_none=True)
    completed_on = fields.Date(allow_none=True)
    original_value = MoneyField(required=True)
    fundings = fields.List(fields.Nested(FundingIn), required=True,
                           validate=validate.Length(min=1, max=len(FUNDING_SOURCES)))
    quantity = DecimalString(3, allow_none=True)
    unit = Text(20, allow_none=True)
    useful_life_years = Int(min_value=1, max_value=100, allow_none=True)
    status = Choice(["under_construction", "completed", "handed_over", "in_operation", "in_use", "idle"],
                    load_default="under_construction")
    status_on = fields.Date(allow_none=True)
    note = Text(1000, allow_none=True, min_len=0)


class AssetUpdate(ma.Schema):
    version = Int(min_value=1, metadata={"description": "the version read; or send If-Match"})
    name = Text(200)
    subtype = Text(40)
    place_code = Text(12)
    project_name = Text(200, allow_none=True)
    project_year = Int(min_value=1949, max_value=2100, allow_none=True)
    project_approval_no = Text(100, allow_none=True)
    completed_on = fields.Date(allow_none=True)
    original_value = MoneyField()
    fundings = fields.List(fields.Nested(FundingIn), validate=validate.Length(min=1, max=len(FUNDING_SOURCES)))
    quantity = DecimalString(3, allow_none=True)
    unit = Text(20, allow_none=True)
    useful_life_years = Int(min_value=1, max_value=100, allow_none=True)
    note = Text(1000, allow_none=True, min_len=0)


class Asset(OutSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    category = fields.String()
    category_label = fields.Function(lambda a: CATEGORIES[a.category])
    subtype = fields.String()
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    place_code = fields.String()
    managing_level = fields.String()
    household_id = fields.Integer(allow_none=True)
    project_name = fields.String(allow_none=True)
    project_year = fields.Integer(allow_none=True)
    project_approval_no = fields.String(allow_none=True)
    completed_on = fields.Date(allow_none=True)
    original_value = MoneyField()
    fundings = fields.List(fields.Nested(FundingOut))
    quantity = DecimalString(3, allow_none=True)
    unit = fields.String(allow_none=True)
    useful_life_years = fields.Integer(allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda a: STATUSES[a.status])
    status_on = fields.Date(allow_none=True)
    is_rights_complete = fields.Boolean()
    note = fields.String(allow_none=True)
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


SORTS = ["code", "-code", "name", "-name", "original_value", "-original_value", "completed_on",
         "-completed_on", "status", "-status", "updated_at", "-updated_at"]


class AssetQuery(PageQuery):
    town_code = Text(9)
    village_code = Text(12)
    category = Choice(CATEGORIES)
    status = Choice(STATUSES)
    subtype = Text(40)
    q = Text(100, metadata={"description": "text in code or name"})
    sort = Choice(SORTS, load_default="code")


AssetPage = page_schema(Asset, "AssetPage")


class TransitionCreate(ma.Schema):
    to_status = Choice(STATUSES, required=True)
    changed_on = fields.Date(required=True)
    reason = Text(500, allow_none=True)
    document = Text(200, allow_none=True)
    version = Int(min_value=1)


class StatusChange(OutSchema):
    id = fields.Integer()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    to_status_label = fields.Function(lambda c: STATUSES[c.to_status])
    changed_on = fields.Date()
    reason = fields.String(allow_none=True)
    document = fields.String(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class BookValueQuery(ma.Schema):
    as_of = fields.Date(required=True)


class BookValue(OutSchema):
    as_of = fields.Date()
    original_value = MoneyField()
    months_elapsed = fields.Integer()
    total_months = fields.Integer()
    accumulated = MoneyField()
    book_value = MoneyField()
    residual_value = MoneyField()


class DepreciationPolicyIn(ma.Schema):
    subtype = Text(40, required=True)
    useful_life_years = Int(min_value=1, max_value=100, required=True)
    residual_rate = DecimalString(4, min_value=0, max_value="0.9999", required=True)


class DepreciationPolicy(OutSchema):
    subtype = fields.String()
    useful_life_years = fields.Integer()
    residual_rate = DecimalString(4, max_value="0.9999")
