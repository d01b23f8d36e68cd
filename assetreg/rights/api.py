"""/api/v1/assets/<id>/rights"""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("rights", __name__, "", "五权确权 (rights)")


@blp.route("/assets/<int:asset_id>/rights")
@blp.arguments(schemas.RightsQuery, location="query")
@blp.response(200, schemas.RightsSummary)
def get_rights(args, asset_id):
    return services.rights_summary(current_user, asset_id, **args)


@blp.route("/assets/<int:asset_id>/rights", methods=["POST"])
@blp.arguments(schemas.RightCreate)
@blp.response(201, schemas.Right)
def record_right(data, asset_id):
    right = services.record_right(current_user, asset_id, data)
    db.session.commit()
    return right


@blp.route("/assets/<int:asset_id>/rights/batch", methods=["POST"])
@blp.arguments(schemas.RightBatch)
@blp.response(201, schemas.Right(many=True))
def record_rights(data, asset_id):
    rights = services.record_rights(current_user, asset_id, data["rights"])
    db.session.commit()
    return rights
