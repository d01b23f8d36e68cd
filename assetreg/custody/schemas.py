"""Custody and operation schemas: a record in, a record out, and the current-plus-history view."""

import marshmallow as ma
from marshmallow import fields

from ..core.fields import Choice, MoneyField, Text
from .models import OPERATION_MODES, RISK_RATINGS


class CustodyCreate(ma.Schema):
    custodian_unit = Text(200, required=True, metadata={"description": "管护主体"})
    responsible_person = Text(64, required=True, metadata={"description": "管护责任人"})
    phone = Text(20, allow_none=True, metadata={"description": "mobile or landline; masked on output"})
    standard = Text(500, allow_none=True, metadata={"description": "管护标准"})
    annual_fund = MoneyField(allow_none=True, metadata={"description": "管护经费 per year"})
    fund_source = Text(100, allow_none=True)
    term_from = fields.Date(allow_none=True)
    term_to = fields.Date(allow_none=True)


class Custody(ma.Schema):
    id = fields.Integer()
    asset_id = fields.Integer()
    custodian_unit = fields.String()
    responsible_person = fields.String()
    # Personal data: masked for every role but the auditor (set by the service).
    phone = fields.String(attribute="shown_phone", allow_none=True)
    standard = fields.String(allow_none=True)
    annual_fund = MoneyField(allow_none=True)
    fund_source = fields.String(allow_none=True)
    term_from = fields.Date(allow_none=True)
    term_to = fields.Date(allow_none=True)
    is_current = fields.Function(lambda c: c.replaced_at is None)
    replaced_at = fields.DateTime(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class CustodyView(ma.Schema):
    current = fields.Nested(Custody, allow_none=True)
    history = fields.List(fields.Nested(Custody))


class OperationCreate(ma.Schema):
    mode = Choice(OPERATION_MODES, required=True)
    operator_name = Text(200, required=True)
    operator_credit_code = Text(18, allow_none=True, metadata={"description": "required unless self_run"})
    contract_no = Text(100, allow_none=True, metadata={"description": "required unless self_run"})
    term_from = fields.Date(allow_none=True)
    term_to = fields.Date(allow_none=True)
    agreed_annual_income = MoneyField(allow_none=True)
    guaranteed_minimum = MoneyField(allow_none=True, metadata={"description": "保底收益 per year"})
    risk_rating = Choice(RISK_RATINGS, allow_none=True)
    risk_assessed_on = fields.Date(allow_none=True)


class Operation(ma.Schema):
    id = fields.Integer()
    asset_id = fields.Integer()
    mode = fields.String()
    mode_label = fields.Function(lambda o: OPERATION_MODES[o.mode])
    operator_name = fields.String()
    operator_credit_code = fields.String(allow_none=True)
    contract_no = fields.String(allow_none=True)
    term_from = fields.Date(allow_none=True)
    term_to = fields.Date(allow_none=True)
    agreed_annual_income = MoneyField(allow_none=True)
    guaranteed_minimum = MoneyField(allow_none=True)
    risk_rating = fields.String(allow_none=True)
    risk_rating_label = fields.Function(lambda o: RISK_RATINGS.get(o.risk_rating) if o.risk_rating else None)
    risk_assessed_on = fields.Date(allow_none=True)
    is_current = fields.Function(lambda o: o.replaced_at is None)
    replaced_at = fields.DateTime(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class OperationView(ma.Schema):
    current = fields.Nested(Operation, allow_none=True)
    history = fields.List(fields.Nested(Operation))
