import marshmallow as ma
from marshmallow import fields

from ..core.fields import PageQuery, Text, page_schema


class ChangeQuery(PageQuery):
    entity = Text(40)
    entity_id = Text(40)
    since = fields.AwareDateTime(default_timezone=None)
    until = fields.AwareDateTime(default_timezone=None)


class Change(ma.Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    actor_name = fields.String()
    entity = fields.String()
    entity_id = fields.String()
    action = fields.String()
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


ChangePage = page_schema(Change, "ChangePage")
