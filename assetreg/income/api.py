"""/api/v1 income ledger: entries and reversals, shares, fixed returns and dues, totals, settlements."""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("income", __name__, "", "收益台账、村级份额与年度清算 (income ledger)")


@blp.route("/assets/<int:asset_id>/income")
@blp.arguments(schemas.IncomeEntryQuery, location="query")
@blp.response(200, schemas.IncomeEntryPage)
def list_entries(args, asset_id):
    return services.list_entries(current_user, asset_id, **args)


@blp.route("/assets/<int:asset_id>/income", methods=["POST"])
@blp.arguments(schemas.IncomeEntryCreate)
@blp.response(201, schemas.IncomeEntry)
def post_entry(data, asset_id):
    entry = services.post_entry(current_user, asset_id, data)
    db.session.commit()
    return entry


@blp.route("/income/<int:entry_id>/reversal", methods=["POST"])
@blp.arguments(schemas.IncomeReversalCreate)
@blp.response(201, schemas.IncomeEntry)
def reverse_entry(data, entry_id):
    entry = services.reverse_entry(current_user, entry_id, data)
    db.session.commit()
    return entry


@blp.route("/assets/<int:asset_id>/shares")
@blp.arguments(schemas.AssetShareQuery, location="query")
@blp.response(200, schemas.AssetShare(many=True))
def list_shares(args, asset_id):
    return services.list_shares(current_user, asset_id, **args)


@blp.route("/assets/<int:asset_id>/shares", methods=["PUT"])
@blp.arguments(schemas.AssetSharesPut)
@blp.response(200, schemas.AssetShare(many=True))
def replace_shares(data, asset_id):
    shares = services.replace_shares(current_user, asset_id, **data)
    db.session.commit()
    return shares


@blp.route("/assets/<int:asset_id>/returns")
@blp.response(200, schemas.ContractReturn(many=True))
def list_contracts(asset_id):
    return services.list_contracts(current_user, asset_id)


@blp.route("/assets/<int:asset_id>/returns", methods=["POST"])
@blp.arguments(schemas.ContractReturnCreate)
@blp.response(201, schemas.ContractReturn)
def create_contract(data, asset_id):
    contract = services.create_contract(current_user, asset_id, data)
    db.session.commit()
    return contract


@blp.route("/assets/<int:asset_id>/dues")
@blp.arguments(schemas.IncomeYearQuery, location="query")
@blp.response(200, schemas.IncomeDues)
def asset_dues(args, asset_id):
    return services.asset_dues(current_user, asset_id, args["year"])


@blp.route("/assets/<int:asset_id>/income-summary")
@blp.arguments(schemas.IncomeYearQuery, location="query")
@blp.response(200, schemas.AssetIncomeSummary)
def income_summary(args, asset_id):
    return services.income_summary(current_user, asset_id, args["year"])


@blp.route("/villages/<string:code>/income")
@blp.arguments(schemas.IncomeYearQuery, location="query")
@blp.response(200, schemas.VillageIncome)
def village_income(args, code):
    return services.village_income(current_user, code, args["year"])


@blp.route("/settlements")
@blp.arguments(schemas.SettlementQuery, location="query")
@blp.response(200, schemas.SettlementPage)
def list_settlements(args):
    return services.list_settlements(current_user, **args)


@blp.route("/settlements", methods=["POST"])
@blp.arguments(schemas.SettlementCreate)
@blp.response(201, schemas.SettlementDetail)
def settle_year(data):
    settlement = services.settle_year(current_user, **data)
    db.session.commit()
    return settlement


@blp.route("/settlements/<int:settlement_id>")
@blp.response(200, schemas.SettlementDetail)
def get_settlement(settlement_id):
    return services.get_settlement(current_user, settlement_id)


@blp.route("/settlements/<int:settlement_id>/publication", methods=["POST"])
@blp.arguments(schemas.SettlementPublication)
@blp.response(200, schemas.SettlementDetail)
def publish_settlement(data, settlement_id):
    settlement = services.publish_settlement(current_user, settlement_id, **data)
    db.session.commit()
    return settlement
