"""/api/v1/oversight/settings, /api/v1/audits, /api/v1/inspections, /api/v1/problems, /api/v1/disposals"""

from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("oversight", __name__, "", "审计、督查检查、问题整改（三单一账）与资产处置 (oversight)")


# --- settings ---------------------------------------------------------------------------------------

@blp.route("/oversight/settings")
@blp.response(200, schemas.Settings)
def get_settings():
    return services.get_settings(current_user)


@blp.route("/oversight/settings", methods=["PUT"])
@blp.arguments(schemas.SettingsIn)
@blp.response(200, schemas.Settings)
def set_settings(data):
    row = services.set_settings(current_user, data)
    db.session.commit()
    return row


# --- audits and inspections --------------------------------------------------------------------------

@blp.route("/audits")
@blp.arguments(schemas.AuditQuery, location="query")
@blp.response(200, schemas.AuditPage)
def list_audits(args):
    return services.list_audits(current_user, **args)


@blp.route("/audits", methods=["POST"])
@blp.arguments(schemas.AuditCreate)
@blp.response(201, schemas.Audit)
def create_audit(data):
    audit = services.create_audit(current_user, data)
    db.session.commit()
    return audit


@blp.route("/audits/<int:audit_id>")
@blp.response(200, schemas.Audit)
def get_audit(audit_id):
    return services.get_audit(current_user, audit_id)


@blp.route("/inspections")
@blp.arguments(schemas.InspectionQuery, location="query")
@blp.response(200, schemas.InspectionPage)
def list_inspections(args):
    return services.list_inspections(current_user, **args)


@blp.route("/inspections", methods=["POST"])
@blp.arguments(schemas.InspectionCreate)
@blp.response(201, schemas.Inspection)
def create_inspection(data):
    row = services.create_inspection(current_user, data)
    db.session.commit()
    return row


@blp.route("/inspections/<int:inspection_id>")
@blp.response(200, schemas.Inspection)
def get_inspection(inspection_id):
    return services.get_inspection(current_user, inspection_id)


# --- problems ----------------------------------------------------------------------------------------

@blp.route("/problems")
@blp.arguments(schemas.ProblemQuery, location="query")
@blp.response(200, schemas.ProblemPage)
def list_problems(args):
    return services.list_problems(current_user, **args)


@blp.route("/problems", methods=["POST"])
@blp.arguments(schemas.ProblemCreate)
@blp.response(201, schemas.Problem)
def create_problem(data):
    problem = services.create_problem(current_user, data)
    db.session.commit()
    return problem


@blp.route("/problems/<int:problem_id>")
@blp.response(200, schemas.Problem)
def get_problem(problem_id):
    return services.get_problem(current_user, problem_id)


@blp.route("/problems/<int:problem_id>/transitions", methods=["POST"])
@blp.arguments(schemas.ProblemTransitionIn)
@blp.response(200, schemas.Problem)
def transition_problem(data, problem_id):
    problem = services.transition_problem(current_user, problem_id, data)
    db.session.commit()
    return problem


@blp.route("/problems/<int:problem_id>/evidence", methods=["POST"])
@blp.arguments(schemas.EvidenceIn)
@blp.response(201, schemas.Evidence)
def add_evidence(data, problem_id):
    row = services.add_evidence(current_user, problem_id, data)
    db.session.commit()
    return row


# --- disposals ---------------------------------------------------------------------------------------

@blp.route("/disposals")
@blp.arguments(schemas.DisposalQuery, location="query")
@blp.response(200, schemas.DisposalPage)
def list_disposals(args):
    return services.list_disposals(current_user, **args)


@blp.route("/disposals", methods=["POST"])
@blp.arguments(schemas.DisposalCreate)
@blp.response(201, schemas.Disposal)
def create_disposal(data):
    req = services.create_disposal(current_user, data)
    db.session.commit()
    return req


@blp.route("/disposals/legacy", methods=["POST"])
@blp.arguments(schemas.LegacyDisposalIn)
@blp.response(201, schemas.Disposal)
def import_legacy_disposal(data):
    req = services.import_legacy_disposal(current_user, data)
    db.session.commit()
    return req


@blp.route("/disposals/<int:request_id>")
@blp.response(200, schemas.Disposal)
def get_disposal(request_id):
    return services.get_disposal(current_user, request_id)


@blp.route("/disposals/<int:request_id>/valuation", methods=["POST"])
@blp.arguments(schemas.ValuationIn)
@blp.response(200, schemas.Disposal)
def record_valuation(data, request_id):
    req = services.record_valuation(current_user, request_id, data)
    db.session.commit()
    return req


@blp.route("/disposals/<int:request_id>/village-decision", methods=["POST"])
@blp.arguments(schemas.VillageDecisionIn)
@blp.response(200, schemas.Disposal)
def record_village_decision(data, request_id):
    req = services.record_village_decision(current_user, request_id, data)
    db.session.commit()
    return req


@blp.route("/disposals/<int:request_id>/approvals", methods=["POST"])
@blp.arguments(schemas.ApprovalIn)
@blp.response(200, schemas.Disposal)
def record_approval(data, request_id):
    req = services.record_approval(current_user, request_id, data)
    db.session.commit()
    return req


@blp.route("/disposals/<int:request_id>/execution", methods=["POST"])
@blp.arguments(schemas.ExecutionIn)
@blp.response(200, schemas.Disposal)
def execute_disposal(data, request_id):
    req = services.execute_disposal(current_user, request_id, data)
    db.session.commit()
    return req


@blp.route("/disposals/<int:request_id>/cancel", methods=["POST"])
@blp.arguments(schemas.CancelIn)
@blp.response(200, schemas.Disposal)
def cancel_disposal(data, request_id):
    req = services.cancel_disposal(current_user, request_id, data)
    db.session.commit()
    return req
