"""/api/v1/households"""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint, if_match_version
from . import schemas, services

blp = api_blueprint("households", __name__, "/households", "农户与家庭成员 (households)")


@blp.route("")
@blp.arguments(schemas.HouseholdQuery, location="query")
@blp.response(200, schemas.HouseholdPage)
def list_households(args):
    return services.list_households(current_user, **args)


@blp.route("", methods=["POST"])
@blp.arguments(schemas.HouseholdCreate)
@blp.response(201, schemas.Household)
def create_household(data):
    household = services.create_household(current_user, data)
    db.session.commit()
    return household, 201, {"ETag": f'"{household.version}"'}


@blp.route("/<int:household_id>")
@blp.response(200, schemas.Household)
def get_household(household_id):
    household = services.get_household(current_user, household_id)
    return household, 200, {"ETag": f'"{household.version}"'}


@blp.route("/<int:household_id>", methods=["PATCH"])
@blp.arguments(schemas.HouseholdUpdate)
@blp.response(200, schemas.Household)
def update_household(data, household_id):
    household = services.update_household(current_user, household_id, data, if_match=if_match_version())
    db.session.commit()
    return household, 200, {"ETag": f'"{household.version}"'}
