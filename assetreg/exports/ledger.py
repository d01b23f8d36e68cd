"""The auditor's ledger (审计台账导出): sheet definitions, pure row builders and the streaming writer.

Every sheet is one SELECT streamed in chunks (a server-side cursor on PostgreSQL, ``yield_per``
everywhere), each row turned into cells by a pure builder and written at once into an xlsxwriter
workbook in ``constant_memory`` mode (and, for the pack, a CSV file): no result list is ever held, so
memory stays flat however many rows. Money is read as integer fen and handed on as ``Decimal``.
Personal data (ID and card numbers, mobiles) is unmasked only when the reader is an auditor
(DOMAIN.md §1, §7; basis: P17).
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from ..assets.models import CATEGORIES, FUNDING_SOURCES, MANAGING_LEVELS, Asset, AssetFunding
from ..assets.models import STATUSES as ASSET_STATUSES
from ..changelog.models import ChangeLogEntry
from ..core.access import Scope, level_of
from ..core.spreadsheets import Workbook, csv_cell
from ..core.time import LOCAL_TZ
from ..core.validators import mask_card_number, mask_id_number, mask_mobile, mask_personal_text
from ..custody.models import OPERATION_MODES, RISK_RATINGS, AssetCustody, AssetOperation
from ..distribution.models import LINE_PURPOSES, PURPOSES, DistributionPlan, PlanAllocation, PlanLine, PlanStep
from ..distribution.models import STATUSES as PLAN_STATUSES
from ..households.models import Household, HouseholdMember
from ..income import rules as income_rules
from ..income.models import DEDUCTION_KINDS, DIRECTIONS, INCOME_KINDS, IncomeEntry, Settlement, ledger_sums
from ..oversight.models import AUDIT_CONCLUSIONS, PROBLEM_SOURCES, PROBLEM_STATUSES, Audit, Problem
from ..places.models import Place
from ..rights.models import HOLDER_KINDS, RIGHT_KINDS, AssetRight

CHUNK = 2_000
ZERO = Decimal("0.00")
LEVEL_LABELS = {"village": "村", "town": "乡镇"}


# --- scope and context -------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportScope(Scope):
    """A county, town or village (``core.access.Scope``) and an inclusive range of years."""

    year_from: int = 0
    year_to: int = 0

    @property
    def years(self) -> str:
        return str(self.year_from) if self.year_from == self.year_to else f"{self.year_from}-{self.year_to}"

    def local_bounds(self) -> tuple[datetime, datetime]:
        """The years as UTC instants (local calendar years, Asia/Shanghai)."""
        lo = datetime(self.year_from, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
        hi = datetime(self.year_to + 1, 1, 1, tzinfo=LOCAL_TZ).astimezone(UTC)
        return lo, hi


@dataclass(frozen=True)
class Ctx:
    """What the row builders need besides the row: whether to unmask, place names, the date."""

    unmask: bool
    place_names: Mapping[str, str] = field(default_factory=dict)
    today: date = date(2000, 1, 1)

    def place(self, code: str | None) -> str:
        if not code:
            return ""
        return self.place_names.get(code, code)


# --- cell helpers (pure) -----------------------------------------------------------------------

def yuan(fen: int | None) -> Decimal | None:
    """Integer fen from the database → Decimal yuan with two places."""
    if fen is None:
        return None
    return Decimal(int(fen)).scaleb(-2)


def id_number(value: str | None, ctx: Ctx) -> str | None:
    return value if ctx.unmask or not value else mask_id_number(value)


def card_number(value: str | None, ctx: Ctx) -> str | None:
    return value if ctx.unmask or not value else mask_card_number(value)


def mobile(value: str | None, ctx: Ctx) -> str | None:
    return value if ctx.unmask or not value else mask_mobile(value)


_PERSONAL_KEYS = {"head_id_number": mask_id_number, "id_number": mask_id_number, "bank_card": mask_card_number,
                  "phone": mask_mobile}


def mask_json(value: Any) -> Any:
    """A change-log snapshot with its personal data masked: by key, then any number left in text."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            masker = _PERSONAL_KEYS.get(k)
            out[k] = masker(v) if masker and isinstance(v, str) else mask_json(v)
        return out
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    if isinstance(value, str):
        return mask_personal_text(value)
    return value


def local_time(value: datetime | None) -> datetime | None:
    """Aware UTC → naive Beijing time, the wall clock a reader of the workbook expects."""
    if value is None:
        return None
    return value.astimezone(LOCAL_TZ).replace(tzinfo=None)


def _yes(flag: bool | None) -> str:
    return "是" if flag else "否"


# --- columns and sheets ------------------------------------------------------------------------

@dataclass(frozen=True)
class Col:
    header: str
    width: float = 12
    kind: str = "text"  # text | money | int | date | datetime
    code: bool = False  # an identifier (asset code, household number, voucher …): never personal, never masked


def _cols(*spec) -> tuple[Col, ...]:
    return tuple(Col(*s) for s in spec)


def mask_cells(values: tuple, columns: tuple[Col, ...], ctx: Ctx) -> tuple:
    """A built row as a masked reader gets it: every text cell but an identifier goes through the privacy
    scan (``core.validators.mask_personal_text``), so an ID, card or mobile number typed into a reason,
    a note or a name comes out masked; auditors get the row as it is (DOMAIN.md §1, §7)."""
    return _mask_at(values, free_text(columns, ctx))


def free_text(columns: tuple[Col, ...], ctx: Ctx) -> tuple[int, ...]:
    """The positions ``mask_cells`` masks (none for an auditor)."""
    return () if ctx.unmask else tuple(i for i, c in enumerate(columns) if c.kind == "text" and not c.code)


def _mask_at(values: tuple, positions: tuple[int, ...]) -> tuple:
    if not positions:
        return values
    out = list(values)
    for i in positions:
        if isinstance(out[i], str):
            out[i] = mask_personal_text(out[i])
    return tuple(out)


@dataclass(frozen=True)
class Sheet:
    key: str
    title: str
    columns: tuple[Col, ...]
    query: Callable[[ExportScope], sa.Select]
    build: Callable[[Any, Ctx], tuple]
    readers: frozenset[str] | None = None  # roles that get this sheet (None: every role)

    @property
    def csv_name(self) -> str:
        return f"{self.title}.csv"


def _fen(column) -> sa.ColumnElement[int]:
    """A money column as its stored integer fen (no per-value Decimal conversion in the driver)."""
    return sa.type_coerce(column, sa.BigInteger)


# 资产 -----------------------------------------------------------------------------------------
_FUNDING_ORDER = list(FUNDING_SOURCES)


def assets_query(scope: ExportScope) -> sa.Select:
    f = AssetFunding
    funds = (sa.select(f.asset_id, *[sa.func.sum(sa.case((f.source == s, _fen(f.amount)))).label(s)
                                     for s in _FUNDING_ORDER],
                       sa.func.sum(_fen(f.amount)).label("funding_total"))
             .where(f.county_code == scope.county_code).group_by(f.asset_id).subquery())
    return (sa.select(Asset.code, Asset.name, Asset.category, Asset.subtype, Asset.town_code, Asset.village_code,
                      Asset.place_code, Asset.managing_level, Household.number.label("household_number"),
                      Household.head_name, Asset.project_name, Asset.project_year, Asset.project_approval_no,
                      Asset.completed_on, sa.type_coerce(Asset.quantity, sa.BigInteger).label("quantity_milli"),
                      Asset.unit, _fen(Asset.original_value).label("original_value"),
                      *[funds.c[s] for s in _FUNDING_ORDER], funds.c.funding_total, Asset.useful_life_years,
                      Asset.status, Asset.status_on, Asset.note)
            .outerjoin(funds, funds.c.asset_id == Asset.id)
            .outerjoin(Household, Household.id == Asset.household_id)
            .where(scope.where(Asset))
            .order_by(Asset.code))


ASSET_COLUMNS = _cols(
    ("资产编号", 22, "text", True), ("资产名称", 30), ("类别", 8), ("子类", 12), ("乡镇", 12), ("村", 12), ("管理层级", 8),
    ("到户农户编号", 18, "text", True), ("户主", 8), ("项目名称", 26), ("项目年度", 8, "int"), ("立项批复文号", 20, "text", True),
    ("竣工日期", 11, "date"), ("数量", 9, "text", True), ("单位", 6), ("原值（元）", 15, "money"),
    *[(f"{label}（元）", 14, "money") for label in FUNDING_SOURCES.values()],
    ("资金来源合计（元）", 15, "money"), ("折旧年限", 8, "int"), ("状态", 8), ("状态日期", 11, "date"),
    ("备注", 20))


def _quantity(milli: int | None) -> str | None:
    if milli is None:
        return None
    return format(Decimal(int(milli)).scaleb(-3).normalize(), "f")


def asset_row(r, ctx: Ctx) -> tuple:
    place = r.place_code
    return (r.code, r.name, CATEGORIES.get(r.category, r.category), r.subtype,
            ctx.place(r.town_code) if r.town_code else ("县级" if level_of(place) == "county" else ""),
            ctx.place(r.village_code), MANAGING_LEVELS.get(r.managing_level, r.managing_level),
            r.household_number, r.head_name, r.project_name, r.project_year, r.project_approval_no,
            r.completed_on, _quantity(r.quantity_milli), r.unit, yuan(r.original_value),
            *[yuan(getattr(r, s)) for s in _FUNDING_ORDER], yuan(r.funding_total) or ZERO, r.useful_life_years,
            ASSET_STATUSES.get(r.status, r.status), r.status_on, r.note)


# 五权 -----------------------------------------------------------------------------------------
def rights_query(scope: ExportScope) -> sa.Select:
    return (sa.select(Asset.code, Asset.name, AssetRight.kind, AssetRight.holder_kind, AssetRight.holder_name,
                      AssetRight.credit_code, Household.number.label("household_number"), AssetRight.basis_document,
                      AssetRight.effective_on, AssetRight.ended_on)
            .join(Asset, Asset.id == AssetRight.asset_id)
            .outerjoin(Household, Household.id == AssetRight.household_id)
            .where(AssetRight.county_code == scope.county_code, scope.where(Asset))
            .order_by(Asset.code, AssetRight.id))


RIGHT_COLUMNS = _cols(("资产编号", 22, "text", True), ("资产名称", 30), ("权利", 8), ("持有人类型", 14), ("持有人", 30),
                      ("统一社会信用代码", 21, "text", True), ("农户编号", 18, "text", True), ("依据文件", 20), ("生效日期", 11, "date"),
                      ("终止日期", 11, "date"), ("状态", 6))


def right_row(r, ctx: Ctx) -> tuple:
    return (r.code, r.name, RIGHT_KINDS.get(r.kind, r.kind), HOLDER_KINDS.get(r.holder_kind, r.holder_kind),
            r.holder_name, r.credit_code, r.household_number, r.basis_document, r.effective_on, r.ended_on,
            "历史" if r.ended_on else "现行")


# 管护 -----------------------------------------------------------------------------------------
def custody_query(scope: ExportScope) -> sa.Select:
    c = AssetCustody
    return (sa.select(Asset.code, Asset.name, c.custodian_unit, c.responsible_person, c.phone, c.standard,
                      _fen(c.annual_fund).label("annual_fund"), c.fund_source, c.term_from, c.term_to, c.replaced_at)
            .join(Asset, Asset.id == c.asset_id)
            .where(c.county_code == scope.county_code, scope.where(Asset))
            .order_by(Asset.code, c.id))


CUSTODY_COLUMNS = _cols(("资产编号", 22, "text", True), ("资产名称", 30), ("管护主体", 24), ("管护责任人", 10), ("联系电话", 14),
                        ("管护标准", 40), ("年度管护经费（元）", 15, "money"), ("经费来源", 16),
                        ("期限起", 11, "date"), ("期限止", 11, "date"), ("状态", 8))


def custody_row(r, ctx: Ctx) -> tuple:
    return (r.code, r.name, r.custodian_unit, r.responsible_person, mobile(r.phone, ctx), r.standard,
            yuan(r.annual_fund), r.fund_source, r.term_from, r.term_to, "已替换" if r.replaced_at else "现行")


# 经营 -----------------------------------------------------------------------------------------
def operations_query(scope: ExportScope) -> sa.Select:
    o = AssetOperation
    return (sa.select(Asset.code, Asset.name, o.mode, o.operator_name, o.operator_credit_code, o.contract_no,
                      o.term_from, o.term_to, _fen(o.agreed_annual_income).label("agreed"),
                      _fen(o.guaranteed_minimum).label("guaranteed"), o.risk_rating, o.risk_assessed_on,
                      o.replaced_at)
            .join(Asset, Asset.id == o.asset_id)
            .where(o.county_code == scope.county_code, scope.where(Asset))
            .order_by(Asset.code, o.id))


OPERATION_COLUMNS = _cols(("资产编号", 22, "text", True), ("资产名称", 30), ("经营方式", 10), ("经营主体", 30),
                          ("统一社会信用代码", 21, "text", True), ("合同编号", 20, "text", True), ("期限起", 11, "date"), ("期限止", 11, "date"),
                          ("约定年收益（元）", 15, "money"), ("保底收益（元）", 15, "money"), ("风险等级", 8),
                          ("风险评估日期", 12, "date"), ("状态", 8))


def operation_row(r, ctx: Ctx) -> tuple:
    return (r.code, r.name, OPERATION_MODES.get(r.mode, r.mode), r.operator_name, r.operator_credit_code,
            r.contract_no, r.term_from, r.term_to, yuan(r.agreed), yuan(r.guaranteed),
            RISK_RATINGS.get(r.risk_rating, r.risk_rating), r.risk_assessed_on, "已替换" if r.replaced_at else "现行")


# 收益明细 ---------------------------------------------------------------------------------------
def income_query(scope: ExportScope) -> sa.Select:
    e = IncomeEntry
    return (sa.select(e.id, Asset.code, Asset.name, e.town_code, e.village_code, e.direction, e.kind,
                      e.period_year, e.period_month, e.period_quarter, e.received_on, _fen(e.amount).label("amount"),
                      e.payer, e.voucher_no, e.reverses_id, e.reason, e.is_adjustment, e.adjustment_on, e.note)
            .join(Asset, Asset.id == e.asset_id)
            .where(scope.where(e), e.period_year.between(scope.year_from, scope.year_to))
            .order_by(e.id))


INCOME_COLUMNS = _cols(("流水号", 10, "int"), ("资产编号", 22, "text", True), ("资产名称", 30), ("乡镇", 12), ("村", 12),
                       ("收支", 6), ("类别", 12), ("所属年度", 8, "int"), ("所属月份", 8, "int"),
                       ("所属季度", 8, "int"), ("到账日期", 11, "date"), ("登记金额（元）", 14, "money"),
                       ("收入（元）", 14, "money"), ("扣除（元）", 14, "money"), ("处置收入（元）", 14, "money"),
                       ("付款方/收款方", 28), ("凭证号", 16, "text", True), ("冲销原流水号", 12, "int"), ("冲销原因", 24),
                       ("以前年度调整", 8), ("调整日期", 11, "date"), ("备注", 20))
INCOME_YEAR, INCOME_GROSS, INCOME_COSTS, INCOME_DISPOSAL = 7, 12, 13, 14


def income_row(r, ctx: Ctx) -> tuple:
    """收入/扣除/处置收入 are the entry's signed amount in its column (``income.rules``, the twin of the SQL
    ``IncomeEntry.signed_amount``; a reversal counts negative), so each column sums to the year's gross,
    costs and disposal income exactly as the settlement computes them."""
    amount = yuan(r.amount)
    signed = income_rules.signed_effect(r.direction, amount, r.reverses_id is not None)
    gross, costs, disposal = income_rules.ledger_columns(r.direction, r.kind, signed)
    kind = (DEDUCTION_KINDS if r.direction == "deduction" else INCOME_KINDS).get(r.kind, r.kind)
    return (r.id, r.code, r.name, ctx.place(r.town_code), ctx.place(r.village_code),
            DIRECTIONS.get(r.direction, r.direction), kind, r.period_year, r.period_month, r.period_quarter,
            r.received_on, amount, gross, costs, disposal, r.payer, r.voucher_no, r.reverses_id, r.reason,
            "是" if r.is_adjustment else None, r.adjustment_on, r.note)


# 年度清算 ---------------------------------------------------------------------------------------
def settlements_query(scope: ExportScope) -> sa.Select:
    s = Settlement
    return (sa.select(s.level, s.place_code, s.town_code, s.village_code, s.year, _fen(s.gross).label("gross"),
                      _fen(s.costs).label("costs"), _fen(s.net).label("net"), _fen(s.disposal).label("disposal"),
                      _fen(s.adjustments_net).label("adjustments_net"), s.settled_on, s.due_on, s.published_on,
                      s.note)
            .where(scope.where(s), s.year.between(scope.year_from, scope.year_to))
            .order_by(s.year, s.place_code))


SETTLEMENT_COLUMNS = _cols(("清算层级", 8), ("乡镇", 12), ("村", 12), ("年度", 6, "int"), ("收入（元）", 15, "money"),
                           ("成本（元）", 15, "money"), ("净收益（元）", 15, "money"), ("处置收入（元）", 14, "money"),
                           ("以前年度调整（元）", 15, "money"), ("清算日期", 11, "date"), ("应公示截止", 11, "date"),
                           ("公示日期", 11, "date"), ("是否逾期", 8), ("备注", 20))
SETTLEMENT_YEAR, SETTLEMENT_NET = 3, 6


def settlement_row(r, ctx: Ctx) -> tuple:
    published = r.published_on
    late = r.settled_on > r.due_on or (published or ctx.today) > r.due_on  # basis: P34
    return (LEVEL_LABELS.get(r.level, r.level), ctx.place(r.town_code), ctx.place(r.village_code), r.year,
            yuan(r.gross), yuan(r.costs), yuan(r.net), yuan(r.disposal), yuan(r.adjustments_net), r.settled_on,
            r.due_on, published, _yes(late), r.note)


# 分配方案 ---------------------------------------------------------------------------------------
_PURPOSE_ORDER = list(PURPOSES)


def plans_query(scope: ExportScope) -> sa.Select:
    a, p = PlanAllocation, DistributionPlan
    allocs = (sa.select(a.plan_id, *[sa.func.sum(sa.case((a.purpose == k, _fen(a.amount)))).label(k)
                                     for k in _PURPOSE_ORDER],
                        sa.func.sum(_fen(a.amount)).label("allocated"))
              .where(a.county_code == scope.county_code).group_by(a.plan_id).subquery())
    lines = (sa.select(PlanLine.plan_id, sa.func.count().label("line_count"),
                       sa.func.sum(_fen(PlanLine.amount)).label("lines_total"))
             .where(PlanLine.county_code == scope.county_code).group_by(PlanLine.plan_id).subquery())
    notice = aliased(PlanStep)
    approval = aliased(PlanStep)
    payment = aliased(PlanStep)
    return (sa.select(p.id, p.town_code, p.village_code, p.year, p.status, _fen(p.settled_net).label("settled_net"),
                      _fen(p.pv_net).label("pv_net"), _fen(p.carry_over).label("carry_over"),
                      _fen(p.available).label("available"), *[allocs.c[k] for k in _PURPOSE_ORDER],
                      allocs.c.allocated, lines.c.line_count, lines.c.lines_total, notice.notice_start_on,
                      notice.notice_end_on, approval.done_on.label("approved_on"), payment.done_on.label("paid_on"),
                      payment.payment_method)
            .outerjoin(allocs, allocs.c.plan_id == p.id)
            .outerjoin(lines, lines.c.plan_id == p.id)
            .outerjoin(notice, sa.and_(notice.plan_id == p.id, notice.kind == "notice"))
            .outerjoin(approval, sa.and_(approval.plan_id == p.id, approval.kind == "approval"))
            .outerjoin(payment, sa.and_(payment.plan_id == p.id, payment.kind == "payment"))
            .where(scope.where(p), p.year.between(scope.year_from, scope.year_to))
            .order_by(p.year, p.village_code))


PLAN_COLUMNS = _cols(("方案编号", 9, "int"), ("乡镇", 12), ("村", 12), ("年度", 6, "int"), ("状态", 14),
                     ("已清算净收益（元）", 15, "money"), ("其中光伏（元）", 14, "money"),
                     ("上年结转（元）", 14, "money"), ("可分配收益（元）", 15, "money"),
                     *[(f"{label}（元）", 14, "money") for label in PURPOSES.values()],
                     ("分配合计（元）", 15, "money"), ("未分配（元）", 14, "money"), ("到户笔数", 8, "int"),
                     ("到户合计（元）", 14, "money"), ("公示开始", 11, "date"), ("公示结束", 11, "date"),
                     ("批准实施日期", 12, "date"), ("兑付日期", 11, "date"), ("兑付方式", 10))


def plan_row(r, ctx: Ctx) -> tuple:
    allocated = yuan(r.allocated) or ZERO
    available = yuan(r.available)
    return (r.id, ctx.place(r.town_code), ctx.place(r.village_code), r.year, PLAN_STATUSES.get(r.status, r.status),
            yuan(r.settled_net), yuan(r.pv_net), yuan(r.carry_over), available,
            *[yuan(getattr(r, k)) for k in _PURPOSE_ORDER], allocated, available - allocated, r.line_count or 0,
            yuan(r.lines_total) or ZERO, r.notice_start_on, r.notice_end_on, r.approved_on, r.paid_on,
            r.payment_method)


# 到户明细 ---------------------------------------------------------------------------------------
def lines_query(scope: ExportScope) -> sa.Select:
    li, p, a, h = PlanLine, DistributionPlan, PlanAllocation, Household
    member_id = (sa.select(HouseholdMember.id_number)
                 .where(HouseholdMember.county_code == li.county_code, HouseholdMember.household_id == li.household_id,
                        HouseholdMember.name == li.person_name,
                        HouseholdMember.id_number.is_not(None))
                 .order_by(HouseholdMember.id).limit(1).scalar_subquery())
    person_id = sa.func.coalesce(member_id, sa.case((h.head_name == li.person_name, h.head_id_number)))
    return (sa.select(p.town_code, p.village_code, p.year, p.id.label("plan_id"), a.purpose, li.position,
                      h.number, h.head_name, li.person_name, person_id.label("id_number"), h.bank_card, h.phone,
                      _fen(li.amount).label("amount"), li.months, _fen(li.monthly_wage).label("monthly_wage"),
                      li.reason)
            .join(p, p.id == li.plan_id)
            .join(a, a.id == li.allocation_id)
            .join(h, h.id == li.household_id)
            .where(li.county_code == scope.county_code, scope.where(p),
                   p.year.between(scope.year_from, scope.year_to))
            .order_by(p.year, p.village_code, a.position, li.position))


LINE_COLUMNS = _cols(("乡镇", 12), ("村", 12), ("年度", 6, "int"), ("方案编号", 9, "int"), ("用途", 12),
                     ("序号", 6, "int"), ("农户编号", 18, "text", True), ("户主", 8), ("领取人", 8), ("身份证号", 21),
                     ("一卡通账号", 22), ("联系电话", 14), ("金额（元）", 13, "money"), ("月数", 6, "int"),
                     ("月标准（元）", 12, "money"), ("事由", 30))
LINE_PURPOSE, LINE_AMOUNT = 4, 12


def line_row(r, ctx: Ctx) -> tuple:
    return (ctx.place(r.town_code), ctx.place(r.village_code), r.year, r.plan_id, PURPOSES.get(r.purpose, r.purpose),
            r.position, r.number, r.head_name, r.person_name, id_number(r.id_number, ctx),
            card_number(r.bank_card, ctx), mobile(r.phone, ctx), yuan(r.amount), r.months, yuan(r.monthly_wage),
            r.reason)


# 审计 -----------------------------------------------------------------------------------------
def audits_query(scope: ExportScope) -> sa.Select:
    return (sa.select(Asset.code, Asset.name, Audit.town_code, Audit.village_code, Audit.year, Audit.auditor,
                      Audit.audited_on, Audit.conclusion, Audit.findings)
            .join(Asset, Asset.id == Audit.asset_id)
            .where(scope.where(Audit), Audit.year.between(scope.year_from, scope.year_to))
            .order_by(Audit.year, Asset.code))


AUDIT_COLUMNS = _cols(("资产编号", 22, "text", True), ("资产名称", 30), ("乡镇", 12), ("村", 12), ("审计年度", 8, "int"),
                      ("审计单位", 24), ("审计日期", 11, "date"), ("审计结论", 10), ("审计发现", 40))


def audit_row(r, ctx: Ctx) -> tuple:
    return (r.code, r.name, ctx.place(r.town_code), ctx.place(r.village_code), r.year, r.auditor, r.audited_on,
            AUDIT_CONCLUSIONS.get(r.conclusion, r.conclusion), r.findings)


# 问题整改 ---------------------------------------------------------------------------------------
def problems_query(scope: ExportScope) -> sa.Select:
    pr = Problem
    lo, hi = date(scope.year_from, 1, 1), date(scope.year_to, 12, 31)
    return (sa.select(pr.id, pr.source, Asset.code, Asset.name, pr.town_code, pr.village_code, pr.description,
                      pr.task, pr.responsible_unit, pr.responsible_person, pr.raised_on, pr.deadline, pr.status,
                      pr.rectified_on, pr.closed_on)
            .outerjoin(Asset, Asset.id == pr.asset_id)
            .where(scope.where(pr), pr.raised_on.between(lo, hi))
            .order_by(pr.raised_on, pr.id))


PROBLEM_COLUMNS = _cols(("问题编号", 9, "int"), ("来源", 8), ("资产编号", 22, "text", True), ("资产名称", 30), ("乡镇", 12),
                        ("村", 12), ("问题描述", 40), ("整改任务", 30), ("责任单位", 20), ("责任人", 8),
                        ("提出日期", 11, "date"), ("整改期限", 11, "date"), ("状态", 8),
                        ("整改完成日期", 12, "date"), ("销号日期", 11, "date"), ("是否逾期", 8))


def problem_row(r, ctx: Ctx) -> tuple:
    # basis: P30 — late if rectified after the deadline, or still open past it
    if r.status in ("rectified", "closed"):
        overdue = r.rectified_on is not None and r.rectified_on > r.deadline
    else:
        overdue = ctx.today > r.deadline
    return (r.id, PROBLEM_SOURCES.get(r.source, r.source), r.code, r.name, ctx.place(r.town_code),
            ctx.place(r.village_code), r.description, r.task, r.responsible_unit, r.responsible_person, r.raised_on,
            r.deadline, PROBLEM_STATUSES.get(r.status, r.status), r.rectified_on, r.closed_on, _yes(overdue))


# 操作日志 ---------------------------------------------------------------------------------------
def changes_query(scope: ExportScope) -> sa.Select:
    c = ChangeLogEntry
    lo, hi = scope.local_bounds()
    return (sa.select(c.id, c.at, c.actor_name, c.entity, c.entity_id, c.action, c.town_code, c.village_code,
                      c.before, c.after)
            .where(scope.where(c), c.at >= lo, c.at < hi)
            .order_by(c.at, c.id))


CHANGE_COLUMNS = _cols(("日志编号", 10, "int"), ("时间（北京时间）", 19, "datetime"), ("操作人", 12), ("对象", 14),
                       ("对象编号", 12), ("操作", 12), ("乡镇", 12), ("村", 12), ("变更前", 50), ("变更后", 50))


def _json_cell(value, ctx: Ctx) -> str | None:
    if value is None:
        return None
    if not ctx.unmask:
        value = mask_json(value)
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 32_000 else text[:32_000] + "…"  # a cell holds at most 32,767 characters


def change_row(r, ctx: Ctx) -> tuple:
    return (r.id, local_time(r.at), r.actor_name, r.entity, r.entity_id, r.action, ctx.place(r.town_code),
            ctx.place(r.village_code), _json_cell(r.before, ctx), _json_cell(r.after, ctx))


SHEETS: tuple[Sheet, ...] = (
    Sheet("assets", "资产", ASSET_COLUMNS, assets_query, asset_row),
    Sheet("rights", "五权", RIGHT_COLUMNS, rights_query, right_row),
    Sheet("custody", "管护", CUSTODY_COLUMNS, custody_query, custody_row),
    Sheet("operations", "经营", OPERATION_COLUMNS, operations_query, operation_row),
    Sheet("income", "收益明细", INCOME_COLUMNS, income_query, income_row),
    Sheet("settlements", "年度清算", SETTLEMENT_COLUMNS, settlements_query, settlement_row),
    Sheet("plans", "分配方案", PLAN_COLUMNS, plans_query, plan_row),
    Sheet("lines", "到户明细", LINE_COLUMNS, lines_query, line_row),
    Sheet("audits", "审计", AUDIT_COLUMNS, audits_query, audit_row),
    Sheet("problems", "问题整改", PROBLEM_COLUMNS, problems_query, problem_row),
    # The change log is read by auditors and county admins only (changelog.services.list_changes).
    Sheet("changes", "操作日志", CHANGE_COLUMNS, changes_query, change_row,
          readers=frozenset({"auditor", "county_admin"})),
)


def sheets_for(role: str) -> tuple[Sheet, ...]:
    return tuple(s for s in SHEETS if s.readers is None or role in s.readers)


# --- tie-out totals ----------------------------------------------------------------------------

class Totals:
    """The figures the pack's manifest ties out, summed from the rows as they are written."""

    def __init__(self):
        self.income: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])  # gross, costs, disposal
        self.settlements: dict[int, Decimal] = defaultdict(lambda: ZERO)
        self.lines: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.allocations: dict[str, Decimal] = defaultdict(lambda: ZERO)
        self.original_value = ZERO
        self.funding = ZERO

    def add(self, key: str, v: tuple) -> None:
        if key == "income":
            t = self.income[v[INCOME_YEAR]]
            if v[INCOME_GROSS] is not None:
                t[0] += v[INCOME_GROSS]
            elif v[INCOME_COSTS] is not None:
                t[1] += v[INCOME_COSTS]
            elif v[INCOME_DISPOSAL] is not None:
                t[2] += v[INCOME_DISPOSAL]
        elif key == "settlements":
            self.settlements[v[SETTLEMENT_YEAR]] += v[SETTLEMENT_NET]
        elif key == "lines":
            self.lines[v[LINE_PURPOSE]] += v[LINE_AMOUNT]
        elif key == "plans":
            base = 9  # first purpose column
            for i, purpose in enumerate(_PURPOSE_ORDER):
                if purpose in LINE_PURPOSES and v[base + i] is not None:
                    self.allocations[PURPOSES[purpose]] += v[base + i]
        elif key == "assets":
            self.original_value += v[15]
            self.funding += v[15 + len(_FUNDING_ORDER) + 1]

    def as_dict(self) -> dict:
        return {
            "income_by_year": {str(y): {"gross": str(g), "costs": str(c), "net": str(g - c), "disposal": str(d)}
                               for y, (g, c, d) in sorted(self.income.items())},
            "settlements_net_by_year": {str(y): str(n) for y, n in sorted(self.settlements.items())},
            "allocations_for_lines": {k: str(v) for k, v in sorted(self.allocations.items())},
            "lines_total": {k: str(v) for k, v in sorted(self.lines.items())},
            "assets_original_value": str(self.original_value),
            "assets_funding_total": str(self.funding),
        }


def database_totals(conn: sa.Connection, scope: ExportScope) -> dict:
    """The same figures computed by the database alone (grouped sums), for the tie-out checks."""
    e = IncomeEntry
    # the ledger's own sums of the signed amount (Decimal yuan; None where nothing of the kind)
    income = conn.execute(
        sa.select(e.period_year, *ledger_sums(e))
        .where(scope.where(e), e.period_year.between(scope.year_from, scope.year_to))
        .group_by(e.period_year)).all()
    s = Settlement
    settlements = conn.execute(sa.select(s.year, sa.func.sum(_fen(s.net)))
                               .where(scope.where(s), s.year.between(scope.year_from, scope.year_to))
                               .group_by(s.year)).all()
    p = DistributionPlan
    in_plans = sa.and_(scope.where(p), p.year.between(scope.year_from, scope.year_to))
    allocations = conn.execute(sa.select(PlanAllocation.purpose, sa.func.sum(_fen(PlanAllocation.amount)))
                               .join(p, p.id == PlanAllocation.plan_id)
                               .where(in_plans, PlanAllocation.purpose.in_(LINE_PURPOSES))
                               .group_by(PlanAllocation.purpose)).all()
    lines = conn.execute(sa.select(PlanAllocation.purpose, sa.func.sum(_fen(PlanLine.amount)))
                         .join(PlanAllocation, PlanAllocation.id == PlanLine.allocation_id)
                         .join(p, p.id == PlanLine.plan_id).where(PlanLine.county_code == scope.county_code, in_plans)
                         .group_by(PlanAllocation.purpose)).all()
    original = conn.execute(sa.select(sa.func.sum(_fen(Asset.original_value))).where(scope.where(Asset))).scalar()
    funding = conn.execute(sa.select(sa.func.sum(_fen(AssetFunding.amount)))
                           .join(Asset, Asset.id == AssetFunding.asset_id).where(scope.where(Asset))).scalar()
    return {
        "income_by_year": {str(y): {"gross": str(g or ZERO), "costs": str(c or ZERO),
                                    "net": str((g or ZERO) - (c or ZERO)), "disposal": str(d or ZERO)}
                           for y, g, c, d in sorted(income)},
        "settlements_net_by_year": {str(y): str(yuan(n or 0)) for y, n in sorted(settlements)},
        "allocations_for_lines": {PURPOSES[k]: str(yuan(v or 0)) for k, v in sorted(allocations)},
        "lines_total": {PURPOSES[k]: str(yuan(v or 0)) for k, v in sorted(lines)},
        "assets_original_value": str(yuan(original or 0)),
        "assets_funding_total": str(yuan(funding or 0)),
    }


def tie_out(exported: dict, database: dict) -> list[dict]:
    """The checks a reader of the pack can redo: exported = database, allocations = their lines, original
    values = their funding; each with both figures and whether they agree."""
    checks = []
    for key in ("income_by_year", "settlements_net_by_year", "allocations_for_lines", "lines_total",
                "assets_original_value", "assets_funding_total"):
        checks.append({"check": f"{key}: 导出数据 = 数据库", "exported": exported[key], "database": database[key],
                       "ok": exported[key] == database[key]})
    allocations, lines = exported["allocations_for_lines"], exported["lines_total"]
    for purpose in sorted(set(allocations) | set(lines)):
        a, b = allocations.get(purpose, "0.00"), lines.get(purpose, "0.00")
        checks.append({"check": f"{purpose}: 分配金额 = 到户明细合计", "exported": a, "database": b,
                       "ok": Decimal(a) == Decimal(b)})
    checks.append({"check": "资产原值合计 = 资金来源合计", "exported": exported["assets_original_value"],
                   "database": exported["assets_funding_total"],
                   "ok": Decimal(exported["assets_original_value"]) == Decimal(exported["assets_funding_total"])})
    return checks


# --- the streaming writer ----------------------------------------------------------------------

def stream_rows(conn: sa.Connection, stmt: sa.Select, chunk: int | None = None) -> Iterator:
    """Rows in chunks: a server-side cursor on PostgreSQL, the driver's own cursor on SQLite."""
    # The options go on the statement: ``Connection.execution_options`` would change the caller's connection
    # for good, and every later statement on it (a SAVEPOINT's rollback included) would open a cursor.
    result = conn.execute(stmt.execution_options(stream_results=True, yield_per=chunk or CHUNK))
    try:
        yield from result.partitions()
    finally:
        result.close()


def count_rows(conn: sa.Connection, sheets, scope: ExportScope) -> dict[str, int]:
    return {s.key: conn.execute(sa.select(sa.func.count()).select_from(s.query(scope).order_by(None).subquery()))
            .scalar_one() for s in sheets}


def place_names(conn: sa.Connection, county_code: str) -> dict[str, str]:
    return dict(conn.execute(sa.select(Place.code, Place.name).where(Place.county_code == county_code)).all())


class _CsvSink:
    """A sheet as CSV, UTF-8 with BOM so Excel opens it; Decimal stays exact, dates ISO, and no text cell
    can run as a formula (``core.spreadsheets.csv_cell``). Written to a binary file object (the pack's
    zip entry), closed with the sink."""

    def __init__(self, binary, headers):
        self.fh = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(headers)

    def write(self, values: tuple) -> None:
        self.writer.writerow([csv_cell(v) for v in values])

    def close(self) -> None:
        self.fh.close()


@dataclass
class LedgerResult:
    rows: dict[str, int]
    totals: Totals
    sheets: list[Sheet]

    @property
    def rows_written(self) -> int:
        return sum(self.rows.values())


def write_ledger(conn: sa.Connection, scope: ExportScope, target, *, ctx: Ctx, sheets, about: list[tuple[str, str]],
                 csv_files: Callable[[str], BinaryIO] | None = None, progress: Callable[[int], None] | None = None,
                 chunk: int | None = None, tmpdir: str | None = None) -> LedgerResult:
    """Stream every sheet into ``target`` (a path or file object) and, with ``csv_files`` (which opens a
    binary file by name, e.g. a zip entry), into one CSV per sheet. ``progress`` gets the number of rows
    written so far after every chunk. ``tmpdir``: where xlsxwriter may keep its temporary files."""
    wb = Workbook(target, constant_memory=True, tmpdir=tmpdir)
    fmt = wb.formats
    cover = wb.sheet("说明")  # filled last (constant_memory writes each sheet's rows in order)
    totals = Totals()
    rows_by_sheet: dict[str, int] = {}
    done = 0
    kind_format = {"text": fmt["cell"], "money": fmt["money"], "int": fmt["int"], "date": fmt["iso_date"],
                   "datetime": fmt["iso_datetime"]}
    for sheet in sheets:
        ws = wb.sheet(sheet.title)
        for c, col in enumerate(sheet.columns):
            ws.set_column(c, c, col.width)
            ws.write_string(0, c, col.header, fmt["header"])
        ws.freeze_panes(1, 0)
        # one (write, format, convert) per column: typed writes, no dispatch on the value's type per cell
        writers = [(ws.write_string if col.kind == "text" else ws.write_number, kind_format[col.kind],
                    _CONVERT.get(col.kind)) for col in sheet.columns]
        sink = _CsvSink(csv_files(sheet.csv_name), [c.header for c in sheet.columns]) if csv_files else None
        build, tally = sheet.build, (sheet.key if sheet.key in _TALLIED else None)
        free = free_text(sheet.columns, ctx)
        r = 0
        try:
            for part in stream_rows(conn, sheet.query(scope), chunk):
                for row in part:
                    values = _mask_at(build(row, ctx), free)
                    r += 1
                    for c, v in enumerate(values):
                        if v is not None:
                            write, f, convert = writers[c]
                            write(r, c, v if convert is None else convert(v), f)
                    if sink is not None:
                        sink.write(values)
                    if tally is not None:
                        totals.add(tally, values)
                done += len(part)
                if progress is not None:
                    progress(done)
        finally:
            if sink is not None:
                sink.close()
        if r:
            ws.autofilter(0, 0, r, len(sheet.columns) - 1)
        rows_by_sheet[sheet.key] = r
    _write_cover(wb, cover, about, sheets, rows_by_sheet)
    wb.close()
    return LedgerResult(rows_by_sheet, totals, list(sheets))


_TALLIED = {"income", "settlements", "lines", "plans", "assets"}
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()


def excel_date(value: date) -> int:
    """A date as the serial number Excel stores (shown through the column's date format)."""
    return value.toordinal() - _EXCEL_EPOCH


def excel_datetime(value: datetime) -> float:
    return value.toordinal() - _EXCEL_EPOCH + (value.hour * 3600 + value.minute * 60 + value.second) / 86400


# Cells go to xlsxwriter as numbers: money as the double nearest its Decimal (what a cell holds anyway),
# dates as serial numbers with a date format (xlsxwriter's own date conversion costs more than the write).
_CONVERT = {"money": float, "date": excel_date, "datetime": excel_datetime}


def _write_cover(wb: Workbook, ws, about: list[tuple[str, str]], sheets, rows: dict[str, int]) -> None:
    f = wb.formats
    ws.set_column(0, 0, 18)
    ws.set_column(1, 1, 60)
    ws.write_string(0, 0, "扶贫项目资产审计台账", f["title"])
    r = 2
    for label, value in about:
        ws.write_string(r, 0, label, f["total_label"])
        ws.write_string(r, 1, value, f["cell"])
        r += 1
    r += 1
    ws.write_string(r, 0, "工作表", f["header"])
    ws.write_string(r, 1, "行数", f["header"])
    for sheet in sheets:
        r += 1
        ws.write_string(r, 0, sheet.title, f["cell"])
        ws.write_number(r, 1, rows.get(sheet.key, 0), f["int"])
