"""Place schemas: input validated at the edge, rules in services."""

import marshmallow as ma
from marshmallow import fields

from ..core.fields import Choice, Text
from .models import LEVELS


class PlaceCreate(ma.Schema):
    code = Text(12, required=True)
    name = Text(64, required=True)
    level = Choice(LEVELS, required=True)
    parent_code = Text(12, allow_none=True)
    valid_from = fields.Date(allow_none=True)
    phone = Text(32, allow_none=True)


class PlaceWithdraw(ma.Schema):
    successor_code = Text(12, required=True)
    effective_on = fields.Date(required=True)
    reason = Text(200, allow_none=True)
    document = Text(200, allow_none=True)


class Place(ma.Schema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    level_label = fields.Function(lambda p: LEVELS[p.level])
    parent_code = fields.String(allow_none=True)
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    valid_from = fields.Date(allow_none=True)
    valid_to = fields.Date(allow_none=True)
    successor_code = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class PlaceQuery(ma.Schema):
    level = Choice(LEVELS)
    parent_code = Text(12)
    include_withdrawn = fields.Boolean(load_default=False)


class Succession(ma.Schema):
    old_code = fields.String()
    new_code = fields.String()
    effective_on = fields.Date()
    reason = fields.String(allow_none=True)
    moved_assets = fields.Integer()
    moved_households = fields.Integer()
