"""Income ledger schemas per use: entries, reversals, shares, contracts, dues, totals, settlements."""

import marshmallow as ma
from marshmallow import fields, validate

from ..core.fields import Choice, DecimalString, Int, MoneyField, PageQuery, Text, page_schema
from .models import (
    ALL_KINDS,
    CONTRACT_KINDS,
    DIRECTIONS,
    KINDS,
    RETURN_BASES,
    RETURN_PERIODS,
    SETTLEMENT_LEVELS,
)


def Year(**kw):
    return Int(min_value=2000, max_value=2100, **kw)


def QueryYear(**kw):
    """A year in a query string (arrives as text, so not strict)."""
    return fields.Integer(validate=validate.Range(min=2000, max=2100), **kw)


def _kind_label(obj) -> str:
    return KINDS[obj.direction][obj.kind]


class IncomeEntryCreate(ma.Schema):
    direction = Choice(DIRECTIONS, required=True, metadata={"description": "income 收入 / deduction 扣除"})
    kind = Choice(ALL_KINDS, required=True, metadata={"description": "收入：electricity 电费收入, "
                  "tariff_subsidy 电价补贴, rent 租金, dividend 保底收益/分红, operating 经营收入, other 其他, "
                  "disposal 处置收入；扣除：site_rent 场地租金, maintenance 运维费, custody 管护费, "
                  "insurance 保险, tax 税费, other 其他"})
    period_year = Year(required=True)
    period_month = Int(min_value=1, max_value=12, allow_none=True)
    period_quarter = Int(min_value=1, max_value=4, allow_none=True)
    received_on = fields.Date(required=True, metadata={"description": "收付日期"})
    amount = MoneyField(required=True, metadata={"description": "正数；方向由 direction 决定"})
    payer = Text(200, allow_none=True)
    voucher_no = Text(64, allow_none=True, metadata={"description": "凭证号"})
    note = Text(500, allow_none=True, min_len=0)
    is_adjustment = fields.Boolean(load_default=False, metadata={"description": "已清算年度的调整"})
    adjustment_on = fields.Date(allow_none=True)


class IncomeReversalCreate(ma.Schema):
    reason = Text(500, required=True, metadata={"description": "冲销原因"})
    reversed_on = fields.Date(allow_none=True, metadata={"description": "冲销日期，默认今天"})
    voucher_no = Text(64, allow_none=True)
    note = Text(500, allow_none=True, min_len=0)
    is_adjustment = fields.Boolean(load_default=False)
    adjustment_on = fields.Date(allow_none=True)


class IncomeEntry(ma.Schema):
    id = fields.Integer()
    asset_id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    direction = fields.String()
    direction_label = fields.Function(lambda e: DIRECTIONS[e.direction])
    kind = fields.String()
    kind_label = fields.Function(_kind_label)
    period_year = fields.Integer()
    period_month = fields.Integer(allow_none=True)
    period_quarter = fields.Integer(allow_none=True)
    received_on = fields.Date()
    amount = MoneyField()
    payer = fields.String(allow_none=True)
    voucher_no = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    reverses_id = fields.Integer(allow_none=True)
    reversed_by_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    is_adjustment = fields.Boolean()
    adjustment_on = fields.Date(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class IncomeEntryQuery(PageQuery):
    year = QueryYear()
    direction = Choice(DIRECTIONS)
    kind = Choice(ALL_KINDS)


IncomeEntryPage = page_schema(IncomeEntry, "IncomeEntryPage")


class IncomeYearQuery(ma.Schema):
    year = QueryYear(required=True)


# --- shares ----------------------------------------------------------------------------------

class AssetShareIn(ma.Schema):
    village_code = Text(12, required=True)
    weight = DecimalString(4, min_value="0.0001", max_value=10**9, required=True,
                           metadata={"description": "正数权重：百分比或比例，如装机容量(kW)"})
    basis = Text(200, allow_none=True, metadata={"description": "依据，如“按装机容量”"})


class AssetSharesPut(ma.Schema):
    from_year = Year(allow_none=True, metadata={"description": "自该年起生效；不填则适用于所有年度"})
    shares = fields.List(fields.Nested(AssetShareIn), required=True, validate=validate.Length(max=100))


class AssetShare(ma.Schema):
    id = fields.Integer()
    asset_id = fields.Integer()
    village_code = fields.String()
    weight = DecimalString(4, min_value="0.0001", max_value=10**9)
    basis = fields.String(allow_none=True)
    from_year = fields.Integer(allow_none=True)
    to_year = fields.Integer(allow_none=True)
    replaced_at = fields.DateTime(allow_none=True)
    recorded_at = fields.DateTime()


class AssetShareQuery(ma.Schema):
    include_replaced = fields.Boolean(load_default=False)


# --- fixed returns and dues ------------------------------------------------------------------

class ContractReturnCreate(ma.Schema):
    contract_no = Text(100, allow_none=True)
    payer = Text(200, allow_none=True)
    kind = Choice(CONTRACT_KINDS, required=True)
    basis = Choice(RETURN_BASES, required=True,
                   metadata={"description": "rate 本金×年收益率, fixed 每期固定金额, lump_sum 一次性收取多年"})
    principal = MoneyField(allow_none=True)
    annual_rate_percent = DecimalString(4, min_value=0, max_value=100, allow_none=True,
                                        metadata={"description": "年收益率（%），如 6 表示 6%"})
    amount = MoneyField(allow_none=True, metadata={"description": "fixed：每期金额；lump_sum：总额"})
    period = Choice(RETURN_PERIODS, allow_none=True)
    start_on = fields.Date(required=True)
    end_on = fields.Date(required=True)
    note = Text(500, allow_none=True, min_len=0)


class ContractReturn(ma.Schema):
    id = fields.Integer()
    asset_id = fields.Integer()
    contract_no = fields.String(allow_none=True)
    payer = fields.String(allow_none=True)
    kind = fields.String()
    kind_label = fields.Function(lambda c: CONTRACT_KINDS[c.kind])
    basis = fields.String()
    basis_label = fields.Function(lambda c: RETURN_BASES[c.basis])
    principal = MoneyField(allow_none=True)
    annual_rate_percent = DecimalString(4, max_value=100, allow_none=True)
    amount = MoneyField(allow_none=True)
    period = fields.String()
    start_on = fields.Date()
    end_on = fields.Date()
    note = fields.String(allow_none=True)
    recorded_at = fields.DateTime()


class IncomeDueLine(ma.Schema):
    kind = fields.String()
    kind_label = fields.String()
    period_year = fields.Integer()
    period_month = fields.Integer(allow_none=True)
    period_quarter = fields.Integer(allow_none=True)
    period_label = fields.String()
    due = MoneyField()
    received = MoneyField()
    outstanding = MoneyField()
    is_closed = fields.Boolean()
    is_overdue = fields.Boolean()


class IncomeKindAmount(ma.Schema):
    kind = fields.String()
    kind_label = fields.String()
    amount = MoneyField()


class IncomeDues(ma.Schema):
    asset_id = fields.Integer()
    asset_code = fields.String()
    year = fields.Integer()
    lines = fields.List(fields.Nested(IncomeDueLine))
    due_total = MoneyField()
    received_total = MoneyField()
    outstanding_total = MoneyField()
    unmatched = fields.List(fields.Nested(IncomeKindAmount), metadata={"description": "已收但未对应到应收期间的金额"})


# --- totals ----------------------------------------------------------------------------------

class IncomeByKind(IncomeKindAmount):
    direction = fields.String()


class IncomeSplitPart(ma.Schema):
    village_code = fields.String()
    share_weight = DecimalString(4)
    part = MoneyField()


class AssetIncomeSummary(ma.Schema):
    asset_id = fields.Integer()
    asset_code = fields.String()
    year = fields.Integer()
    gross = MoneyField()
    costs = MoneyField()
    net = MoneyField()
    disposal = MoneyField()
    by_kind = fields.List(fields.Nested(IncomeByKind))
    split = fields.List(fields.Nested(IncomeSplitPart))
    is_settled = fields.Boolean()


class VillageIncomeLine(ma.Schema):
    asset_id = fields.Integer()
    asset_code = fields.String()
    asset_name = fields.String()
    gross = MoneyField()
    costs = MoneyField()
    net = MoneyField()
    disposal = MoneyField()
    is_shared = fields.Boolean()
    share_weight = DecimalString(4)
    share_total = DecimalString(4)
    part = MoneyField()
    gross_part = MoneyField()
    costs_part = MoneyField()
    disposal_part = MoneyField()


class SettlementBrief(ma.Schema):
    id = fields.Integer()
    settled_on = fields.Date()
    published_on = fields.Date(allow_none=True)
    net = MoneyField()


class VillageIncome(ma.Schema):
    village_code = fields.String()
    village_name = fields.String()
    year = fields.Integer()
    lines = fields.List(fields.Nested(VillageIncomeLine))
    gross = MoneyField()
    costs = MoneyField()
    net = MoneyField()
    disposal = MoneyField()
    settlement = fields.Nested(SettlementBrief, allow_none=True)


# --- settlements -----------------------------------------------------------------------------

class SettlementCreate(ma.Schema):
    place_code = Text(12, required=True, metadata={"description": "村或乡镇代码"})
    year = Year(required=True)
    settled_on = fields.Date(required=True)
    published_on = fields.Date(allow_none=True, metadata={"description": "清算结果公示日期"})
    note = Text(500, allow_none=True, min_len=0)


class SettlementPublication(ma.Schema):
    published_on = fields.Date(required=True)


class SettlementPart(ma.Schema):
    village_code = fields.String(allow_none=True, metadata={"description": "空：乡镇自有，不归任何村"})
    gross = MoneyField()
    costs = MoneyField()
    net = MoneyField()
    disposal = MoneyField()


class SettlementAdjustment(ma.Schema):
    entry_id = fields.Integer()
    asset_id = fields.Integer()
    period_year = fields.Integer()
    is_disposal = fields.Boolean()
    effect = MoneyField()
    part = MoneyField()
    direction = fields.String(attribute="entry.direction")
    kind = fields.String(attribute="entry.kind")
    reverses_id = fields.Integer(attribute="entry.reverses_id", allow_none=True)
    adjustment_on = fields.Date(attribute="entry.adjustment_on")
    reason = fields.String(attribute="entry.reason", allow_none=True)
    note = fields.String(attribute="entry.note", allow_none=True)


class Settlement(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String()
    village_code = fields.String(allow_none=True)
    place_code = fields.String()
    level = fields.String()
    level_label = fields.Function(lambda s: SETTLEMENT_LEVELS[s.level])
    year = fields.Integer()
    gross = MoneyField()
    costs = MoneyField()
    net = MoneyField()
    disposal = MoneyField()
    adjustments_net = MoneyField()
    settled_on = fields.Date()
    due_on = fields.Date()
    published_on = fields.Date(allow_none=True)
    is_late = fields.Boolean()
    note = fields.String(allow_none=True)
    settled_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class SettlementDetail(Settlement):
    lines = fields.List(fields.Dict())
    parts = fields.List(fields.Nested(SettlementPart))
    adjustments = fields.List(fields.Nested(SettlementAdjustment))


class SettlementQuery(PageQuery):
    year = QueryYear()
    place_code = Text(12)
    level = Choice(SETTLEMENT_LEVELS)


SettlementPage = page_schema(Settlement, "SettlementPage")
