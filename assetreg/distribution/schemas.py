"""Distribution schemas per use: policy, plans (create, update, query, output), allocations with lines,
fill requests and results, procedure steps, objections, public-welfare jobs and attendance."""

import marshmallow as ma
from marshmallow import fields, validate

from ..core.fields import Choice, DecimalString, Int, MoneyField, PageQuery, PersonalText, Text, page_schema
from ..households.models import LABOUR
from ..households.models import STATUSES as HOUSEHOLD_STATUSES
from .models import JOB_POSTS, LINE_PURPOSES, PAY_CYCLES, PURPOSES, STATUSES, STEPS

MAX_LINES = 5000  # household lines per allocation: far beyond any village
ID = {"min_value": 1, "max_value": 2**31 - 1}


# --- policy ------------------------------------------------------------------------------------

class DistributionPolicyIn(ma.Schema):
    pv_public_min_share = DecimalString(4, min_value=0, max_value=1, required=True, metadata={
        "description": "minimum share of PV income to 公益岗位 + 村级公益事业 (basis: P23), e.g. \"0.80\""})
    forbidden_uses = fields.List(Text(50), required=True, validate=validate.Length(max=50),
                                 metadata={"description": "uses refused in an allocation's text (basis: P10)"})
    min_notice_days = Int(min_value=10, max_value=90, required=True,
                          metadata={"description": "minimum notice days, at least 10 (basis: P20)"})
    complaint_phone = Text(32, required=True, metadata={"description": "监督举报电话, e.g. 12317"})
    version = Int(min_value=0, metadata={"description": "the version read (0 = defaults, never saved)"})


class DistributionPolicy(ma.Schema):
    county_code = fields.String()
    pv_public_min_share = DecimalString(4, max_value=1)
    forbidden_uses = fields.List(fields.String())
    min_notice_days = fields.Integer()
    complaint_phone = fields.String()
    is_default = fields.Boolean(metadata={"description": "true: the defaults apply, nothing saved yet"})
    version = fields.Integer()
    updated_at = fields.DateTime(allow_none=True)


# --- plans -------------------------------------------------------------------------------------

class PlanCreate(ma.Schema):
    village_code = Text(12, required=True)
    year = Int(min_value=2000, max_value=2100, required=True)
    carry_over = MoneyField(allow_none=True, metadata={
        "description": "上年结转; default: the 结转 allocation of last year's approved plan, else 0"})
    note = Text(1000, allow_none=True, min_len=0)


class PlanUpdate(ma.Schema):
    version = Int(min_value=1, metadata={"description": "the version read; or send If-Match"})
    carry_over = MoneyField()
    note = Text(1000, allow_none=True, min_len=0)


class PlanQuery(PageQuery):
    village_code = Text(12)
    town_code = Text(9)
    year = fields.Integer(validate=validate.Range(min=2000, max=2100))  # query strings: not strict
    status = Choice(STATUSES)


class PlanLineIn(ma.Schema):
    household_id = Int(required=True, **ID)
    person_name = Text(64, allow_none=True, metadata={"description": "default: the household head"})
    amount = MoneyField(required=True)
    reason = Text(200, allow_none=True, min_len=0, metadata={"example": "6个月×800.00元"})
    months = Int(min_value=1, max_value=12, allow_none=True)
    monthly_wage = MoneyField(allow_none=True)
    job_id = Int(allow_none=True, **ID)


class PlanAllocationIn(ma.Schema):
    purpose = Choice(PURPOSES, required=True)
    amount = MoneyField(required=True)
    use = Text(200, allow_none=True, min_len=0, metadata={"description": "what it pays for, e.g. 村组道路维修"})
    note = Text(500, allow_none=True, min_len=0)
    lines = fields.List(fields.Nested(PlanLineIn), load_default=list, validate=validate.Length(max=MAX_LINES),
                        metadata={"description": "household lines, for public_jobs, relief and awards only"})


class PlanAllocationsIn(ma.Schema):
    version = Int(min_value=1, metadata={"description": "the plan version read; or send If-Match"})
    allocations = fields.List(fields.Nested(PlanAllocationIn), required=True,
                              validate=validate.Length(max=len(PURPOSES)))


class PlanLine(ma.Schema):
    id = fields.Integer()
    household_id = fields.Integer()
    household_number = fields.String(allow_none=True)
    person_name = fields.String()
    amount = MoneyField()
    reason = PersonalText(allow_none=True)
    months = fields.Integer(allow_none=True)
    monthly_wage = MoneyField(allow_none=True)
    job_id = fields.Integer(allow_none=True)


class PlanAllocation(ma.Schema):
    id = fields.Integer()
    position = fields.Integer()
    purpose = fields.String()
    purpose_label = fields.Function(lambda a: PURPOSES[a.purpose])
    amount = MoneyField()
    use = PersonalText(allow_none=True)
    note = PersonalText(allow_none=True)
    lines_total = MoneyField()
    lines = fields.List(fields.Nested(PlanLine))


class PlanWarning(ma.Schema):
    code = fields.String()
    message = fields.String()
    basis = fields.String(allow_none=True)
    field = fields.String(allow_none=True)


class PlanStep(ma.Schema):
    id = fields.Integer()
    seq = fields.Integer()
    kind = fields.String()
    kind_label = fields.Function(lambda s: STEPS[s.kind])
    done_on = fields.Date()
    minutes = PersonalText(allow_none=True)
    document = fields.String(allow_none=True)
    members_due = fields.Integer(allow_none=True)
    members_present = fields.Integer(allow_none=True)
    members_in_favour = fields.Integer(allow_none=True)
    notice_start_on = fields.Date(allow_none=True)
    notice_end_on = fields.Date(allow_none=True)
    notice_days = fields.Function(lambda s: (s.notice_end_on - s.notice_start_on).days + 1
                                  if s.notice_start_on and s.notice_end_on else None)
    payment_method = fields.String(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class PlanStepRecorded(PlanStep):
    plan_status = fields.String()
    plan_version = fields.Integer()


class PlanSummary(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String()
    village_code = fields.String()
    village_name = fields.String(allow_none=True)
    year = fields.Integer()
    status = fields.String()
    status_label = fields.Function(lambda p: STATUSES[p.status])
    settled_net = MoneyField()
    carry_over = MoneyField()
    available = MoneyField()
    allocated = MoneyField()
    version = fields.Integer()
    updated_at = fields.DateTime()


class Plan(PlanSummary):
    settlement_id = fields.Integer(allow_none=True)
    pv_net = MoneyField(metadata={"description": "the part of settled_net from PV stations (basis: P23)"})
    unallocated = MoneyField(metadata={"description": "available − allocated"})
    available_at = fields.DateTime()
    note = PersonalText(allow_none=True)
    is_editable = fields.Boolean()
    next_step = fields.String(allow_none=True)
    next_step_label = fields.Function(lambda p: STEPS[p.next_step] if p.next_step else None)
    notice_start_on = fields.Date(allow_none=True)
    notice_end_on = fields.Date(allow_none=True)
    open_objections = fields.Integer()
    allocations = fields.List(fields.Nested(PlanAllocation))
    steps = fields.List(fields.Nested(PlanStep))
    warnings = fields.List(fields.Nested(PlanWarning))
    created_at = fields.DateTime()


PlanPage = page_schema(PlanSummary, "PlanPage")


# --- fill ----------------------------------------------------------------------------------------

class FillTierIn(ma.Schema):
    status = Choice(HOUSEHOLD_STATUSES, allow_none=True, load_default=None)
    min_size = Int(min_value=1, max_value=100, allow_none=True, load_default=None)
    max_size = Int(min_value=1, max_value=100, allow_none=True, load_default=None)
    labour = Choice(LABOUR, allow_none=True, load_default=None,
                    metadata={"description": "the household's strongest member's labour capacity"})
    amount = MoneyField(required=True, metadata={"description": "amount per household"})


class FillWeightIn(ma.Schema):
    household_id = Int(required=True, **ID)
    weight = DecimalString(4, min_value=0, max_value=10**6, required=True)


class PlanFillIn(ma.Schema):
    purpose = Choice(list(LINE_PURPOSES), required=True)
    method = Choice(["equal", "weights", "tier", "jobs"], required=True, metadata={"description": (
        "equal: split equally; weights: by members (default) or by `weights`; tier: by the `tiers` table; "
        "jobs: months attended in the plan year × monthly wage")})
    apply = fields.Boolean(load_default=False, metadata={"description": "false: preview only"})
    set_amount = fields.Boolean(load_default=False, metadata={"description": (
        "tier/jobs: set the allocation to the lines' total (tier amounts as they stand); otherwise tier "
        "amounts are scaled to the allocation and jobs must add up to it")})
    household_ids = fields.List(Int(**ID), validate=validate.Length(min=1, max=MAX_LINES),
                                metadata={"description": "default: every household of the village"})
    statuses = fields.List(Choice(HOUSEHOLD_STATUSES), validate=validate.Length(min=1, max=3))
    weights = fields.List(fields.Nested(FillWeightIn), validate=validate.Length(min=1, max=MAX_LINES))
    tiers = fields.List(fields.Nested(FillTierIn), validate=validate.Length(min=1, max=100),
                        metadata={"description": "first matching row wins; a household matching none gets nothing"})
    reason = Text(200, allow_none=True, metadata={"description": "reason written on every line (default per method)"})
    version = Int(min_value=1)


class PlanFillLine(ma.Schema):
    household_id = fields.Integer()
    person_name = fields.String()
    amount = MoneyField()
    reason = PersonalText(allow_none=True)
    months = fields.Integer(allow_none=True)
    monthly_wage = MoneyField(allow_none=True)
    job_id = fields.Integer(allow_none=True)
    tier = fields.Integer(allow_none=True)


class PlanFillResult(ma.Schema):
    purpose = fields.String()
    method = fields.String()
    applied = fields.Boolean()
    allocation_amount = MoneyField(allow_none=True)
    total = MoneyField()
    fits = fields.Boolean(metadata={"description": "the lines add up exactly to the allocation"})
    table_total = MoneyField(allow_none=True)
    unmatched = fields.List(fields.Integer())
    lines = fields.List(fields.Nested(PlanFillLine))
    plan_version = fields.Integer()


# --- steps and objections -------------------------------------------------------------------------

class PlanStepIn(ma.Schema):
    kind = Choice(STEPS, required=True)
    done_on = fields.Date(allow_none=True, metadata={"description": "required, except for notice (its start)"})
    minutes = Text(4000, allow_none=True, min_len=0, metadata={"description": "会议记录/意见"})
    document = Text(200, allow_none=True, min_len=0)
    members_due = Int(max_value=100000, allow_none=True)
    members_present = Int(max_value=100000, allow_none=True)
    members_in_favour = Int(max_value=100000, allow_none=True)
    notice_start_on = fields.Date(allow_none=True)
    notice_end_on = fields.Date(allow_none=True)
    payment_method = Text(40, allow_none=True, metadata={"example": "一卡通"})
    version = Int(min_value=1)


class PlanObjectionIn(ma.Schema):
    raised_on = fields.Date(required=True)
    raised_by = Text(64, allow_none=True, min_len=0)
    content = Text(2000, required=True)


class PlanObjectionAnswerIn(ma.Schema):
    answer = Text(2000, required=True)
    answered_on = fields.Date(required=True)


class PlanObjection(ma.Schema):
    id = fields.Integer()
    plan_id = fields.Integer()
    raised_on = fields.Date()
    raised_by = PersonalText(allow_none=True)
    content = PersonalText()
    is_open = fields.Boolean()
    answer = PersonalText(allow_none=True)
    answered_on = fields.Date(allow_none=True)
    answered_by_id = fields.Integer(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


# --- jobs ------------------------------------------------------------------------------------------

class PublicJobCreate(ma.Schema):
    village_code = Text(12, required=True)
    post = Text(40, required=True, metadata={"example": "道路维护员", "description": "e.g. " + "、".join(JOB_POSTS)})
    household_id = Int(required=True, **ID)
    person_name = Text(64, required=True, metadata={"description": "a member of the household"})
    monthly_wage = MoneyField(required=True)
    term_from = fields.Date(required=True)
    term_to = fields.Date(allow_none=True)
    pay_cycle = Choice(PAY_CYCLES, load_default="month")
    note = Text(500, allow_none=True, min_len=0)


class PublicJobQuery(PageQuery):
    village_code = Text(12)
    town_code = Text(9)
    year = fields.Integer(validate=validate.Range(min=2000, max=2100),
                          metadata={"description": "jobs whose term touches the year"})
    post = Text(40)


class JobAttendanceEntry(ma.Schema):
    year = Int(min_value=2000, max_value=2100, required=True)
    month = Int(min_value=1, max_value=12, required=True)
    days_worked = Int(max_value=31, allow_none=True)
    attended = fields.Boolean(allow_none=True, metadata={"description": "default: days_worked > 0"})


class JobAttendanceIn(ma.Schema):
    entries = fields.List(fields.Nested(JobAttendanceEntry), required=True, validate=validate.Length(min=1, max=36))


class JobAttendance(ma.Schema):
    year = fields.Integer()
    month = fields.Integer()
    days_worked = fields.Integer(allow_none=True)
    attended = fields.Boolean()


class PublicJob(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String()
    village_code = fields.String()
    post = fields.String()
    household_id = fields.Integer()
    household_number = fields.String(allow_none=True)
    person_name = fields.String()
    monthly_wage = MoneyField()
    term_from = fields.Date()
    term_to = fields.Date(allow_none=True)
    pay_cycle = fields.String()
    pay_cycle_label = fields.Function(lambda j: PAY_CYCLES[j.pay_cycle])
    note = fields.String(allow_none=True)
    months_attended = fields.Integer()
    attendance = fields.List(fields.Nested(JobAttendance))
    warnings = fields.List(fields.Nested(PlanWarning))
    version = fields.Integer()
    created_at = fields.DateTime()


PublicJobPage = page_schema(PublicJob, "PublicJobPage")
