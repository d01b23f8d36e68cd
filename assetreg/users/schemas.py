import marshmallow as ma
from marshmallow import fields

from .models import ROLES


class Me(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    role_label = fields.Function(lambda u: ROLES[u.role])
    scope_code = fields.String()
    scope_level = fields.String()
    county_code = fields.String()
