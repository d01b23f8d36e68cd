"""/api/v1/me — who the token belongs to."""

from flask_login import current_user

from ..web.api import api_blueprint
from . import schemas

blp = api_blueprint("users", __name__, "/me", "当前用户 (current user)")


@blp.route("")
@blp.response(200, schemas.Me)
def me():
    return current_user._get_current_object()
