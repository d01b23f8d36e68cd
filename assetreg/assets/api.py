"""/api/v1/assets and /api/v1/depreciation-policies"""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint, if_match_version
from . import schemas, services

blp = api_blueprint("assets", __name__, "", "资产登记、状态与折旧 (assets)")


@blp.route("/assets")
@blp.arguments(schemas.AssetQuery, location="query")
@blp.response(200, schemas.AssetPage)
def list_assets(args):
    return services.list_assets(current_user, **args)


@blp.route("/assets", methods=["POST"])
@blp.arguments(schemas.AssetCreate)
@blp.response(201, schemas.Asset)
def create_asset(data):
    asset = services.create_asset(current_user, data)
    db.session.commit()
    return asset


@blp.route("/assets/<int:asset_id>")
@blp.response(200, schemas.Asset)
def get_asset(asset_id):
    asset = services.get_asset(current_user, asset_id)
    return asset, 200, {"ETag": f'"{asset.version}"'}


@blp.route("/assets/<int:asset_id>", methods=["PATCH"])
@blp.arguments(schemas.AssetUpdate)
@blp.response(200, schemas.Asset)
def update_asset(data, asset_id):
    asset = services.update_asset(current_user, asset_id, data, if_match=if_match_version())
    db.session.commit()
    return asset, 200, {"ETag": f'"{asset.version}"'}


@blp.route("/assets/<int:asset_id>/transitions")
@blp.response(200, schemas.StatusChange(many=True))
def list_transitions(asset_id):
    return services.list_status_changes(current_user, asset_id)


@blp.route("/assets/<int:asset_id>/transitions", methods=["POST"])
@blp.arguments(schemas.TransitionCreate)
@blp.response(201, schemas.StatusChange)
def create_transition(data, asset_id):
    data.setdefault("version", if_match_version())
    change = services.change_status(current_user, asset_id, **data)
    db.session.commit()
    return change


@blp.route("/assets/<int:asset_id>/book-value")
@blp.arguments(schemas.BookValueQuery, location="query")
@blp.response(200, schemas.BookValue)
def book_value(args, asset_id):
    return services.book_value(current_user, asset_id, args["as_of"])


@blp.route("/depreciation-policies")
@blp.response(200, schemas.DepreciationPolicy(many=True))
def list_policies():
    return services.list_policies(current_user)


@blp.route("/depreciation-policies", methods=["PUT"])
@blp.arguments(schemas.DepreciationPolicyIn)
@blp.response(200, schemas.DepreciationPolicy)
def set_policy(data):
    policy = services.set_policy(current_user, **data)
    db.session.commit()
    return policy
