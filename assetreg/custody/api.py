"""/api/v1/assets/<id>/custody and /api/v1/assets/<id>/operation"""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("custody", __name__, "", "管护与经营 (custody, operation)")


@blp.route("/assets/<int:asset_id>/custody")
@blp.response(200, schemas.CustodyView)
def get_custody(asset_id):
    return services.custody_view(current_user, asset_id)


@blp.route("/assets/<int:asset_id>/custody", methods=["POST"])
@blp.arguments(schemas.CustodyCreate)
@blp.response(201, schemas.Custody)
def record_custody(data, asset_id):
    custody = services.record_custody(current_user, asset_id, data)
    db.session.commit()
    return custody


@blp.route("/assets/<int:asset_id>/operation")
@blp.response(200, schemas.OperationView)
def get_operation(asset_id):
    return services.operation_view(current_user, asset_id)


@blp.route("/assets/<int:asset_id>/operation", methods=["POST"])
@blp.arguments(schemas.OperationCreate)
@blp.response(201, schemas.Operation)
def record_operation(data, asset_id):
    operation = services.record_operation(current_user, asset_id, data)
    db.session.commit()
    return operation
