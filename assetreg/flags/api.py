"""/api/v1/flags: the flags of a scope as of a day, dashboard counts, the rule catalogue, acknowledgements."""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("flags", __name__, "/flags", "预警 (flags)")


@blp.route("")
@blp.arguments(schemas.FlagQuery, location="query")
@blp.response(200, schemas.FlagPage)
def list_flags(args):
    return services.list_flags(current_user, **args)


@blp.route("/summary")
@blp.arguments(schemas.FlagFilters, location="query")
@blp.response(200, schemas.FlagSummary)
def summary(args):
    return services.summary(current_user, **args)


@blp.route("/rules")
@blp.response(200, schemas.RuleOut(many=True))
def rules():
    return services.catalogue()


@blp.route("/acknowledgements", methods=["POST"])
@blp.arguments(schemas.AcknowledgementIn)
@blp.response(201, schemas.Acknowledgement)
def acknowledge(data):
    ack = services.acknowledge(current_user, **data)
    db.session.commit()
    return ack
