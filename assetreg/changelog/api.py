"""/api/v1/changes — the change log, for auditors."""

from flask_login import current_user

from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("changes", __name__, "/changes", "操作日志 (change log)")


@blp.route("")
@blp.arguments(schemas.ChangeQuery, location="query")
@blp.response(200, schemas.ChangePage)
def list_changes(args):
    return services.list_changes(current_user, **args)
