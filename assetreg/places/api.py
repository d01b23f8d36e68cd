"""/api/v1/places"""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("places", __name__, "/places", "区划：县、乡镇、村 (places)")


@blp.route("")
@blp.arguments(schemas.PlaceQuery, location="query")
@blp.response(200, schemas.Place(many=True))
def list_places(args):
    return services.list_places(current_user, **args)


@blp.route("", methods=["POST"])
@blp.arguments(schemas.PlaceCreate)
@blp.response(201, schemas.Place)
def create_place(data):
    place = services.create_place(current_user, **data)
    db.session.commit()
    return place


@blp.route("/<string:code>")
@blp.response(200, schemas.Place)
def get_place(code):
    return services.get_place(current_user, code)


@blp.route("/<string:code>/withdraw", methods=["POST"])
@blp.arguments(schemas.PlaceWithdraw)
@blp.response(200, schemas.Succession)
def withdraw_place(data, code):
    rec = services.withdraw_place(current_user, code, **data)
    db.session.commit()
    return rec
