"""Household schemas per use: create, update, output (personal data masked), query."""

import marshmallow as ma
from marshmallow import fields, validate

from ..core.fields import Choice, Int, PageQuery, Text, page_schema
from ..core.validators import mask_card_number, mask_id_number, mask_mobile
from .models import LABOUR, MONITOR_TYPES, STATUSES

MAX_MEMBERS = 30


class _BlankIsNone(ma.Schema):
    """HTML forms send "" for an empty optional input; it means "none", not a too-short value."""

    BLANK_IS_NONE: tuple[str, ...] = ()

    @ma.pre_load
    def _blank_to_none(self, data, **kwargs):
        if isinstance(data, dict):
            data = dict(data)  # never mutate the caller's dict
            for key in self.BLANK_IS_NONE:
                if isinstance(data.get(key), str) and not data[key].strip():
                    data[key] = None
        return data


class HouseholdMemberIn(_BlankIsNone):
    BLANK_IS_NONE = ("id_number",)

    name = Text(64, required=True)
    relation = Text(20, required=True, metadata={"description": "与户主关系：户主、配偶、子女 …"})
    id_number = Text(18, allow_none=True, metadata={"description": "居民身份证号 (GB 11643)"})
    labour = Choice(LABOUR, required=True)


_OPTIONAL = ("phone", "bank_card", "monitor_type", "risk_cleared_on")


class HouseholdCreate(_BlankIsNone):
    BLANK_IS_NONE = _OPTIONAL

    village_code = Text(12, required=True)
    number = Text(40, required=True, metadata={"description": "户编号 (national monitoring system), opaque"})
    head_name = Text(64, required=True)
    head_id_number = Text(18, required=True, metadata={"description": "居民身份证号 (GB 11643)"})
    phone = Text(20, allow_none=True)
    status = Choice(STATUSES, required=True)
    monitor_type = Choice(MONITOR_TYPES, allow_none=True, metadata={"description": "required iff status is monitored"})
    is_risk_cleared = fields.Boolean(load_default=False)
    risk_cleared_on = fields.Date(allow_none=True)
    bank_card = Text(32, allow_none=True, metadata={"description": "一卡通 card number, 12–19 digits"})
    members = fields.List(fields.Nested(HouseholdMemberIn), required=True,
                          validate=validate.Length(min=1, max=MAX_MEMBERS))


class HouseholdUpdate(_BlankIsNone):
    BLANK_IS_NONE = _OPTIONAL

    version = Int(min_value=1, metadata={"description": "the version read; or send If-Match"})
    village_code = Text(12)
    number = Text(40)
    head_name = Text(64)
    head_id_number = Text(18)
    phone = Text(20, allow_none=True)
    status = Choice(STATUSES)
    monitor_type = Choice(MONITOR_TYPES, allow_none=True)
    is_risk_cleared = fields.Boolean()
    risk_cleared_on = fields.Date(allow_none=True)
    bank_card = Text(32, allow_none=True)
    members = fields.List(fields.Nested(HouseholdMemberIn), validate=validate.Length(min=1, max=MAX_MEMBERS),
                          metadata={"description": "when given, replaces the whole list"})


class HouseholdMember(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    relation = fields.String()
    id_number = fields.String(allow_none=True)
    labour = fields.String()
    labour_label = fields.Function(lambda m: LABOUR[m.labour])


class Household(ma.Schema):
    """Output. ID, card and phone numbers are masked unless the service marked the object
    ``reveal_personal`` (only for auditors): masked is the default, so any other use is safe."""

    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String()
    village_code = fields.String()
    number = fields.String()
    head_name = fields.String()
    head_id_number = fields.String()
    phone = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda h: STATUSES[h.status])
    monitor_type = fields.String(allow_none=True)
    monitor_type_label = fields.Function(lambda h: MONITOR_TYPES.get(h.monitor_type) if h.monitor_type else None)
    is_risk_cleared = fields.Boolean()
    risk_cleared_on = fields.Date(allow_none=True)
    bank_card = fields.String(allow_none=True)
    members = fields.List(fields.Nested(HouseholdMember))
    member_count = fields.Function(lambda h: len(h.members))
    is_masked = fields.Function(lambda h: not getattr(h, "reveal_personal", False))
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()

    @ma.post_dump(pass_original=True)
    def _mask_personal_data(self, data, original, **kwargs):
        if getattr(original, "reveal_personal", False):
            return data
        for key, mask in (("head_id_number", mask_id_number), ("bank_card", mask_card_number),
                          ("phone", mask_mobile)):
            if key in data:
                data[key] = mask(data[key])
        for m in data.get("members") or ():
            if "id_number" in m:
                m["id_number"] = mask_id_number(m["id_number"])
        return data


class HouseholdQuery(PageQuery):
    village_code = Text(12)
    town_code = Text(9)
    status = Choice(STATUSES)
    monitor_type = Choice(MONITOR_TYPES)
    q = Text(64, metadata={"description": "text in the head's name or the household number"})


HouseholdPage = page_schema(Household, "HouseholdPage")
