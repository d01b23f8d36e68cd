import marshmallow as ma
from marshmallow import fields

from ..core.access import ROLES
from ..core.fields import Choice, Matches, PageQuery, Text


class Me(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    role_label = fields.Function(lambda u: ROLES[u.role])
    scope_code = fields.String()
    scope_level = fields.String()
    county_code = fields.String()


class UserCreate(ma.Schema):
    """A county admin adds a user (the users page)."""

    username = fields.String(required=True, validate=Matches(
        r"^[A-Za-z0-9_.\-]{3,64}$", error="应为3至64位字母、数字或 _ . -"))
    display_name = Text(64, allow_none=True)
    role = Choice(ROLES, required=True)
    scope_code = Text(12, required=True)
    password = Text(200, required=True, min_len=8)


class PasswordReset(ma.Schema):
    password = Text(200, required=True, min_len=8)


class UserQuery(PageQuery):
    role = Choice(ROLES)
    q = Text(64)
