"""Oversight schemas per use: settings, audits, inspections, problems with events and evidence, disposals."""

import marshmallow as ma
from marshmallow import fields, validate

from ..core.fields import Choice, Int, Matches, MoneyField, PageQuery, Text, page_schema
from .models import (
    APPROVERS,
    AUDIT_CONCLUSIONS,
    DISPOSAL_GROUNDS,
    DISPOSAL_METHODS,
    DISPOSAL_STATUSES,
    PROBLEM_SOURCES,
    PROBLEM_STATUSES,
)

ID = {"min_value": 1, "max_value": 2**31 - 1}
YEAR = {"min_value": 2000, "max_value": 2100}


def _query_int(lo: int, hi: int, **kw):
    return fields.Integer(validate=validate.Range(min=lo, max=hi), **kw)  # query strings: not strict


# --- settings -----------------------------------------------------------------------------------

class SettingsIn(ma.Schema):
    no_income_years = Int(1, 20, required=True, metadata={"description": "NO_INCOME after N years (basis: P09)"})
    settlement_deadline_month = Int(1, 12, required=True, metadata={"description": "年度清算 deadline (basis: P34)"})
    settlement_deadline_day = Int(1, 31, required=True)
    handover_deadline_month = Int(1, 12, required=True, metadata={"description": "确权移交 deadline (basis: P24)"})
    handover_deadline_day = Int(1, 31, required=True)
    contract_warning_days = Int(0, 730, required=True, metadata={"description": "CONTRACT_EXPIRED warning window"})
    risk_assessment_max_days = Int(1, 3650, required=True, metadata={"description": "basis: P32"})
    disposal_approval_order = fields.List(Choice(APPROVERS), required=True,
                                          validate=validate.Length(min=1, max=len(APPROVERS)),
                                          metadata={"description": "approvers in order, no duplicates (basis: P14)"})
    version = Int(0, metadata={"description": "the version read (0 = defaults, never saved)"})


class Settings(ma.Schema):
    county_code = fields.String()
    no_income_years = fields.Integer()
    settlement_deadline_month = fields.Integer()
    settlement_deadline_day = fields.Integer()
    handover_deadline_month = fields.Integer()
    handover_deadline_day = fields.Integer()
    contract_warning_days = fields.Integer()
    risk_assessment_max_days = fields.Integer()
    disposal_approval_order = fields.List(fields.String())
    disposal_approval_labels = fields.Function(lambda s: [APPROVERS.get(a, a) for a in s.disposal_approval_order])
    is_default = fields.Boolean(metadata={"description": "true: the defaults apply, nothing saved yet"})
    version = fields.Integer()
    updated_at = fields.DateTime(allow_none=True)


# --- audits and inspections ---------------------------------------------------------------------

class AuditCreate(ma.Schema):
    asset_id = Int(required=True, **ID)
    year = Int(required=True, **YEAR)
    auditor = Text(200, required=True, metadata={"description": "审计单位/人员"})
    audited_on = fields.Date(required=True)
    conclusion = Choice(AUDIT_CONCLUSIONS, required=True)
    findings = Text(4000, allow_none=True, min_len=0)
    report_document_id = Int(allow_none=True, **ID, metadata={"description": "archive document (审计报告) of the asset"})


class Audit(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    asset_id = fields.Integer()
    asset_code = fields.String(allow_none=True)
    asset_name = fields.String(allow_none=True)
    year = fields.Integer()
    auditor = fields.String()
    audited_on = fields.Date()
    conclusion = fields.String()
    conclusion_label = fields.Function(lambda a: AUDIT_CONCLUSIONS[a.conclusion])
    findings = fields.String(allow_none=True)
    report_document_id = fields.Integer(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class AuditQuery(PageQuery):
    year = _query_int(2000, 2100)
    town_code = Text(9)
    village_code = Text(12)
    asset_id = _query_int(1, 2**31 - 1)


AuditPage = page_schema(Audit, "AuditPage")


class InspectionCreate(ma.Schema):
    town_code = Text(9, required=True)
    year = Int(required=True, **YEAR)
    quarter = Int(1, 4, required=True)
    inspected_on = fields.Date(required=True)
    inspector = Text(200, required=True, metadata={"description": "督查检查单位/人员"})
    conclusion = Text(1000, allow_none=True, min_len=0)
    findings = Text(4000, allow_none=True, min_len=0)
    report_document_id = Int(allow_none=True, **ID, metadata={"description": "archive document of the town"})


class Inspection(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String()
    year = fields.Integer()
    quarter = fields.Integer()
    inspected_on = fields.Date()
    inspector = fields.String()
    conclusion = fields.String(allow_none=True)
    findings = fields.String(allow_none=True)
    report_document_id = fields.Integer(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class InspectionQuery(PageQuery):
    year = _query_int(2000, 2100)
    quarter = _query_int(1, 4)
    town_code = Text(9)


InspectionPage = page_schema(Inspection, "InspectionPage")


# --- problems -------------------------------------------------------------------------------------

class ProblemCreate(ma.Schema):
    source = Choice(PROBLEM_SOURCES, required=True)
    audit_id = Int(allow_none=True, **ID)
    inspection_id = Int(allow_none=True, **ID)
    flag_rule = fields.String(allow_none=True, validate=Matches(r"^[A-Z][A-Z0-9_]{1,39}$"),
                              metadata={"description": "rule id, e.g. CUSTODY_MISSING"})
    flag_key = fields.String(allow_none=True, validate=[validate.Length(max=80), Matches(
                                 r"^[a-z_]{1,20}:[0-9A-Za-z_.-]{1,59}(:[0-9A-Za-z_.-]{1,20})?$")],
                             metadata={"description": "what the flag is about, e.g. asset:12, town:431299100, "
                                                      "asset:12:2024 (a flag of one year or quarter)"})
    asset_id = Int(allow_none=True, **ID)
    place_code = Text(12, allow_none=True, metadata={"description": "village, town or county code (or asset_id)"})
    description = Text(2000, required=True, metadata={"description": "问题清单: the problem"})
    task = Text(2000, allow_none=True, metadata={"description": "任务清单: what must be done"})
    responsible_unit = Text(200, required=True, metadata={"description": "责任清单: unit"})
    responsible_person = Text(64, required=True, metadata={"description": "责任清单: person"})
    raised_on = fields.Date(required=True)
    deadline = fields.Date(required=True)


class ProblemEvent(ma.Schema):
    id = fields.Integer()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    to_status_label = fields.Function(lambda e: PROBLEM_STATUSES[e.to_status])
    happened_on = fields.Date()
    note = fields.String(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class Evidence(ma.Schema):
    id = fields.Integer()
    problem_id = fields.Integer()
    document_id = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class ProblemSummary(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    asset_id = fields.Integer(allow_none=True)
    asset_code = fields.String(allow_none=True)
    asset_name = fields.String(allow_none=True)
    source = fields.String()
    source_label = fields.Function(lambda p: PROBLEM_SOURCES[p.source])
    audit_id = fields.Integer(allow_none=True)
    inspection_id = fields.Integer(allow_none=True)
    flag_rule = fields.String(allow_none=True)
    flag_key = fields.String(allow_none=True)
    description = fields.String()
    task = fields.String(allow_none=True)
    responsible_unit = fields.String()
    responsible_person = fields.String()
    raised_on = fields.Date()
    deadline = fields.Date()
    status = fields.String()
    status_label = fields.Function(lambda p: PROBLEM_STATUSES[p.status])
    rectified_on = fields.Date(allow_none=True)
    closed_on = fields.Date(allow_none=True)
    is_overdue = fields.Boolean(metadata={"description": "past the deadline and not rectified, today"})
    version = fields.Integer()
    created_at = fields.DateTime()


class Problem(ProblemSummary):
    events = fields.List(fields.Nested(ProblemEvent))
    evidence = fields.List(fields.Nested(Evidence))


class ProblemQuery(PageQuery):
    status = Choice(PROBLEM_STATUSES)
    source = Choice(PROBLEM_SOURCES)
    town_code = Text(9)
    village_code = Text(12)
    asset_id = _query_int(1, 2**31 - 1)
    overdue = fields.Boolean(metadata={"description": "true: only overdue as of as_of; false: only the others"})
    as_of = fields.Date(metadata={"description": "the day for overdue (default today)"})


ProblemPage = page_schema(ProblemSummary, "ProblemPage")


class ProblemTransitionIn(ma.Schema):
    to_status = Choice(PROBLEM_STATUSES, required=True)
    on = fields.Date(required=True)
    note = Text(2000, allow_none=True)
    version = Int(1, metadata={"description": "the version read"})


class EvidenceIn(ma.Schema):
    document_id = Int(allow_none=True, **ID, metadata={"description": "archive document (整改材料) of the place"})
    note = Text(1000, allow_none=True)


class EvidenceUploadIn(ma.Schema):
    """The page's evidence form: the file itself comes apart (multipart), these describe its archive entry."""

    archive_no = Text(60, required=True, metadata={"description": "档案号, unique per county and level"})
    title = Text(200, required=True)
    filed_on = fields.Date(required=True)
    note = Text(1000, allow_none=True)


# --- disposals ------------------------------------------------------------------------------------

class DisposalCreate(ma.Schema):
    asset_id = Int(required=True, **ID)
    grounds = Choice(DISPOSAL_GROUNDS, required=True)
    method = Choice(DISPOSAL_METHODS, required=True)
    reason = Text(2000, allow_none=True)
    requested_on = fields.Date(required=True)


class ValuationIn(ma.Schema):
    valuation = MoneyField(required=True)
    valuer = Text(200, required=True)
    valued_on = fields.Date(required=True)
    version = Int(1)


class VillageDecisionIn(ma.Schema):
    decided_on = fields.Date(required=True, metadata={"description": "村民代表会议决议 date (四议两公开)"})
    minutes = Text(2000, required=True)
    version = Int(1)


class ApprovalIn(ma.Schema):
    seq = Int(1, 20, required=True)
    approver = Choice(APPROVERS, required=True)
    decision = Choice(["approved", "rejected"], required=True)
    decided_on = fields.Date(required=True)
    document = Text(200, allow_none=True, metadata={"description": "批复文号"})
    note = Text(1000, allow_none=True)
    version = Int(1)


class ExecutionIn(ma.Schema):
    executed_on = fields.Date(required=True)
    proceeds = MoneyField(required=True, metadata={"description": "处置收入, \"0.00\" when none"})
    payer = Text(200, allow_none=True)
    voucher_no = Text(64, allow_none=True)
    version = Int(1)


class CancelIn(ma.Schema):
    on = fields.Date(required=True)
    reason = Text(500, required=True)
    version = Int(1)


class LegacyDisposalIn(ma.Schema):
    asset_id = Int(required=True, **ID)
    grounds = Choice(DISPOSAL_GROUNDS, required=True)
    method = Choice(DISPOSAL_METHODS, required=True)
    reason = Text(2000, allow_none=True)
    requested_on = fields.Date(allow_none=True, metadata={"description": "default: executed_on"})
    valuation = MoneyField(allow_none=True)
    valuer = Text(200, allow_none=True)
    valued_on = fields.Date(allow_none=True)
    village_decided_on = fields.Date(allow_none=True)
    village_decision = Text(2000, allow_none=True)
    executed_on = fields.Date(required=True)
    proceeds = MoneyField(allow_none=True)
    payer = Text(200, allow_none=True)
    voucher_no = Text(64, allow_none=True)


class Approval(ma.Schema):
    id = fields.Integer()
    seq = fields.Integer()
    approver = fields.String()
    approver_label = fields.Function(lambda a: APPROVERS.get(a.approver, a.approver))
    decision = fields.String()
    decided_on = fields.Date()
    document = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    actor_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class NextApproval(ma.Schema):
    seq = fields.Integer()
    approver = fields.String()
    approver_label = fields.String()


class Disposal(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    asset_id = fields.Integer()
    asset_code = fields.String(allow_none=True)
    asset_name = fields.String(allow_none=True)
    grounds = fields.String()
    grounds_label = fields.Function(lambda r: DISPOSAL_GROUNDS[r.grounds])
    method = fields.String()
    method_label = fields.Function(lambda r: DISPOSAL_METHODS[r.method])
    reason = fields.String(allow_none=True)
    requested_on = fields.Date()
    valuation = MoneyField(allow_none=True)
    valuer = fields.String(allow_none=True)
    valued_on = fields.Date(allow_none=True)
    village_decided_on = fields.Date(allow_none=True)
    village_decision = fields.String(allow_none=True)
    approval_order = fields.List(fields.String())
    approvals = fields.List(fields.Nested(Approval))
    next_approval = fields.Nested(NextApproval, allow_none=True)
    status = fields.String()
    status_label = fields.Function(lambda r: DISPOSAL_STATUSES[r.status])
    executed_on = fields.Date(allow_none=True)
    proceeds = MoneyField(allow_none=True)
    income_entry_id = fields.Integer(allow_none=True)
    is_legacy = fields.Boolean(metadata={"description": "executed without its approvals (imported old data)"})
    version = fields.Integer()
    created_at = fields.DateTime()


class DisposalQuery(PageQuery):
    status = Choice(DISPOSAL_STATUSES)
    asset_id = _query_int(1, 2**31 - 1)
    town_code = Text(9)
    village_code = Text(12)


DisposalPage = page_schema(Disposal, "DisposalPage")
