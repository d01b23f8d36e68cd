"""Oversight pages: the rectification ledger (/problems, 整改台账) and its workbook, a problem's page with its
history, evidence and the status steps the user's role may take; audits and inspections; disposals with
their approvals in the county's order. Views are thin: form → the API's schema → one service → commit →
redirect; a refusal re-renders the page with inline errors (422) and writes nothing."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..assets import services as asset_services
from ..assets.models import Asset
from ..core.access import in_scope, level_of, may_write
from ..core.errors import Forbidden, NotFound
from ..core.files import StoredFile
from ..core.time import today_local
from ..extensions import db
from ..flags.rules import RULES
from ..lists.models import ArchiveDocument
from ..oversight import rules, schemas, services, xlsx
from ..oversight.models import (
    APPROVERS,
    AUDIT_CONCLUSIONS,
    DISPOSAL_GROUNDS,
    DISPOSAL_METHODS,
    DISPOSAL_STATUSES,
    PROBLEM_SOURCES,
    PROBLEM_STATUSES,
)
from ..places.services import place_options
from ..users.models import User
from ..web.forms import FormInvalid, commit_or_invalid, load_form, load_query
from ..web.ui import place_name, place_names

bp = Blueprint("oversight_pages", __name__, template_folder="templates")
# Ids in paths are INTEGER keys: a larger number matches no route (404), it never reaches the database.
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MAX_ID = 2**31 - 1


# --- helpers -------------------------------------------------------------------------------------

def _role_in(roles) -> bool:
    return current_user.role in roles


def _mine(obj) -> bool:
    """The record lies in the user's scope (what every write checks again in the service)."""
    return in_scope(current_user, obj.county_code, obj.town_code, obj.village_code)


def _int_arg(name: str) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 10 and int(raw) <= _MAX_ID:
        return int(raw)
    return None


def _place_filters() -> tuple[list[tuple[str, str]], list[tuple[str, list[tuple[str, str]]]]]:
    """Towns [(code, name)] and villages grouped by town for the filter selects of the user's scope."""
    groups = place_options(current_user)
    towns = [(code, glabel) for glabel, opts in groups for code, _ in opts if level_of(code) == "town"]
    villages = [(glabel, [(c, n) for c, n in opts if level_of(c) == "village"]) for glabel, opts in groups]
    return towns, [(g, v) for g, v in villages if v]


def _load_with_asset(schema, form) -> dict:
    """The form's asset code (what people know) → the schema's asset_id, then the schema; an unknown code
    is an inline error at the code, shown together with the schema's own errors."""
    raw = form.to_dict()
    code = (raw.pop("asset_code", "") or "").strip()[:64]
    raw["asset_id"], unknown = "", None
    if code:
        found = db.session.scalar(asset_services.visible_assets(current_user).where(Asset.code == code)
                                  .with_only_columns(Asset.id))
        if found is None:
            unknown = ["本辖区内未找到该编号的资产"]
        else:
            raw["asset_id"] = str(found)
    try:
        data = load_form(schema, raw)
    except FormInvalid as exc:
        errors = _asset_errors(exc.errors)
        if unknown:
            errors["asset_code"] = unknown
        raise FormInvalid(errors, exc.message) from None
    if unknown:
        raise FormInvalid({"asset_code": unknown})
    return data


def _asset_errors(errors: dict) -> dict:
    out: dict = {}
    for key, whys in errors.items():
        out.setdefault("asset_code" if key == "asset_id" else key, []).extend(whys)
    return out


def _asset_code_of(asset_id: int | None) -> str:
    if asset_id is None:
        return ""
    return asset_services.get_asset(current_user, asset_id).code


def _user_names(ids) -> dict[int, str]:

    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(ids))).all())


def same_query(endpoint: str, **values) -> str:
    """``endpoint``'s URL with the current page's query string (an export with the list's filters)."""

    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("page", "per_page") and v != ""]
    return url_for(endpoint, **values) + ("?" + urlencode(args) if args else "")


def _xlsx(data: bytes, name: str) -> Response:
    return Response(data, mimetype=XLSX_TYPE, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "Cache-Control": "no-store"})


# --- the rectification ledger (整改台账) --------------------------------------------------------------

@bp.route("/problems")
def problems():
    args, query_errors = load_query(schemas.ProblemQuery(), request.args)
    result = services.list_problems(current_user, **args)
    filters = {k: v for k, v in args.items() if k not in ("page", "per_page")}
    towns, villages = _place_filters()
    return render_template("oversight/problems.html", result=result, args=args, query_errors=query_errors,
                           counts=services.count_problems(current_user, **filters), towns=towns, villages=villages,
                           statuses=PROBLEM_STATUSES, sources=PROBLEM_SOURCES, today=today_local(),
                           export_url=same_query("oversight_pages.problems_export"),
                           can_create=may_write(current_user, "problems.raise"))


@bp.route("/problems/export.xlsx")
def problems_export():
    args, _ = load_query(schemas.ProblemQuery(), request.args)  # the page's filters; paging ignored
    args.pop("page", None), args.pop("per_page", None)
    items = services.all_problems(current_user, **args)
    today = today_local()
    title = f"{place_name(current_user.scope_code)}扶贫项目资产问题整改台账"
    return _xlsx(xlsx.build(items, title=title, today=today, names=place_names()), f"{title}（{today.isoformat()}）.xlsx")


def _transitions(p) -> list[str]:
    """The steps the user's role may take from the problem's status (the service checks them again)."""
    if not _mine(p):
        return []
    return [to for (frm, to), roles in rules.TRANSITION_ROLES.items() if frm == p.status and _role_in(roles)]


def _flag_rules() -> dict:

    return RULES


def _evidence_rows(p) -> list[dict]:

    doc_ids = [e.document_id for e in p.evidence if e.document_id is not None]
    docs = {}
    if doc_ids:
        docs = {d.id: (d, f) for d, f in db.session.execute(
            sa.select(ArchiveDocument, StoredFile).outerjoin(StoredFile, StoredFile.id == ArchiveDocument.file_id)
            .where(ArchiveDocument.id.in_(doc_ids)))}
    return [{"e": e, "doc": docs.get(e.document_id, (None, None))[0], "file": docs.get(e.document_id, (None, None))[1]}
            for e in p.evidence]


def _problem_page(problem_id: int, *, form: str | None = None, values=None, errors=None, message=None,
                  status: int = 200):
    p = services.get_problem(current_user, problem_id)
    today = today_local()
    names = _user_names([e.actor_id for e in p.events] + [e.recorded_by_id for e in p.evidence] + [p.created_by_id])
    evidence_count = len(p.evidence)
    defaults = {"on": today.isoformat(), "filed_on": today.isoformat(), "title": f"问题{p.id}整改材料",
                "archive_no": f"ZG-{p.id}-{evidence_count + 1}"}
    return render_template(
        "oversight/problem.html", p=p, names=names, evidence=_evidence_rows(p), transitions=_transitions(p),
        can_evidence=_mine(p) and may_write(current_user, "problems.respond") and p.status != "closed",
        form=form, values={**defaults, **(values or {})}, errors=errors or {}, message=message, today=today,
        statuses=PROBLEM_STATUSES, sources=PROBLEM_SOURCES, flag_rules=_flag_rules()), status


@bp.route("/problems/<int(max=2147483647):problem_id>")
def problem(problem_id):
    return _problem_page(problem_id)


@bp.route("/problems/<int(max=2147483647):problem_id>/transition", methods=["POST"])
def problem_transition(problem_id):
    try:
        data = load_form(schemas.ProblemTransitionIn(), request.form)
        p = commit_or_invalid(lambda: services.transition_problem(current_user, problem_id, data))
    except FormInvalid as exc:
        return _problem_page(problem_id, form="transition:" + request.form.get("to_status", ""),
                             values=request.form.to_dict(), errors=exc.errors, message=exc.message, status=422)
    flash(f"问题状态已变更为“{PROBLEM_STATUSES[p.status]}”", "success")
    return redirect(url_for("oversight_pages.problem", problem_id=problem_id) + "#history")


@bp.route("/problems/<int(max=2147483647):problem_id>/evidence", methods=["POST"])
def problem_evidence(problem_id):
    upload = request.files.get("file")
    try:
        if upload is not None and upload.filename:
            data = load_form(schemas.EvidenceUploadIn(), request.form)
            commit_or_invalid(lambda: services.add_evidence_file(
                current_user, problem_id, app=current_app, stream=upload.stream, filename=upload.filename, data=data))
        else:
            data = load_form(schemas.EvidenceIn(), {"note": request.form.get("note", "")})
            try:
                commit_or_invalid(lambda: services.add_evidence(current_user, problem_id, data))
            except FormInvalid as exc:
                errors = dict(exc.errors)
                if "document_id" in errors:  # neither a file nor a note
                    errors["file"] = ["请选择文件，或填写整改说明"]
                    del errors["document_id"]
                raise FormInvalid(errors, exc.message) from None
    except FormInvalid as exc:
        return _problem_page(problem_id, form="evidence", values=request.form.to_dict(), errors=exc.errors,
                             message=exc.message, status=422)
    flash("整改材料已上传" if upload is not None and upload.filename else "整改说明已记录", "success")
    return redirect(url_for("oversight_pages.problem", problem_id=problem_id) + "#evidence")


def _new_problem_context() -> dict:
    """What the form starts from: a complaint, or an audit / inspection / flag named in the query."""
    source = request.args.get("source")
    values = {"raised_on": today_local().isoformat(), "deadline": (today_local() + timedelta(days=30)).isoformat()}
    ctx: dict = {"audit": None, "inspection": None}
    if source == "audit":
        ctx["audit"] = services.get_audit(current_user, _int_arg("audit_id") or 0)
        values.update(source="audit", audit_id=ctx["audit"].id, description=ctx["audit"].findings or "")
    elif source == "inspection":
        ctx["inspection"] = services.get_inspection(current_user, _int_arg("inspection_id") or 0)
        values.update(source="inspection", inspection_id=ctx["inspection"].id,
                      description=ctx["inspection"].findings or "")
    elif source == "flag":
        values.update(source="flag", flag_rule=(request.args.get("flag_rule") or "")[:40],
                      flag_key=(request.args.get("flag_key") or "")[:80],
                      description=(request.args.get("description") or "")[:2000])
    else:
        values["source"] = "complaint"
    asset_id = _int_arg("asset_id")
    if asset_id is not None and source != "audit":
        values["asset_code"] = _asset_code_of(asset_id)
    place = (request.args.get("place_code") or "")[:12]
    if place and source != "audit":
        values["place_code"] = place
    ctx["values"] = values
    return ctx


def _problem_form(ctx: dict, *, values=None, errors=None, message=None, status=200):

    return render_template("oversight/problem_form.html", values=values or ctx["values"], errors=errors or {},
                           message=message, audit=ctx["audit"], inspection=ctx["inspection"], rules=RULES,
                           places=place_options(current_user), sources=PROBLEM_SOURCES), status


def _refs_from_form(form) -> dict:
    """On a refused post, show the audit or inspection the form was raised from again."""
    ctx = {"audit": None, "inspection": None, "values": {}}
    for key, getter in (("audit", services.get_audit), ("inspection", services.get_inspection)):
        raw = (form.get(f"{key}_id") or "").strip()
        if raw.isascii() and raw.isdigit() and int(raw) <= _MAX_ID:
            try:
                ctx[key] = getter(current_user, int(raw))
            except NotFound:
                pass
    return ctx


@bp.route("/problems/new", methods=["GET", "POST"])
def problem_new():
    if not may_write(current_user, "problems.raise"):
        raise Forbidden("当前角色无权登记问题", code="role_forbidden")
    if request.method == "GET":
        return _problem_form(_new_problem_context())
    try:
        data = _load_with_asset(schemas.ProblemCreate(), request.form)
        created = commit_or_invalid(lambda: services.create_problem(current_user, data))
    except FormInvalid as exc:
        return _problem_form(_refs_from_form(request.form), values=request.form.to_dict(),
                             errors=_asset_errors(exc.errors), message=exc.message, status=422)
    flash(f"问题已登记（编号{created.id}），整改期限{created.deadline.year}年{created.deadline.month}月"
          f"{created.deadline.day}日", "success")
    return redirect(url_for("oversight_pages.problem", problem_id=created.id))


# --- audits (年度审计) -----------------------------------------------------------------------------

@bp.route("/audits")
def audits():
    args, query_errors = load_query(schemas.AuditQuery(), request.args)
    result = services.list_audits(current_user, **args)
    towns, villages = _place_filters()
    return render_template("oversight/audits.html", result=result, args=args, query_errors=query_errors,
                           towns=towns, villages=villages, conclusions=AUDIT_CONCLUSIONS,
                           can_create=may_write(current_user, "oversight.audit"))


@bp.route("/audits/<int(max=2147483647):audit_id>")
def audit(audit_id):
    a = services.get_audit(current_user, audit_id)
    problems_of = services.list_problems(current_user, audit_id=a.id, per_page=100)
    return render_template("oversight/audit.html", a=a, problems=problems_of, conclusions=AUDIT_CONCLUSIONS,
                           names=_user_names([a.recorded_by_id]), statuses=PROBLEM_STATUSES,
                           can_raise=may_write(current_user, "problems.raise") and _mine(a))


def _audit_form(values=None, errors=None, message=None, status=200):
    return render_template("oversight/audit_form.html", values=values or {}, errors=errors or {}, message=message,
                           conclusions=AUDIT_CONCLUSIONS), status


@bp.route("/audits/new", methods=["GET", "POST"])
def audit_new():
    if not may_write(current_user, "oversight.audit"):
        raise Forbidden("只有审计人员或县级管理员可以登记年度审计", code="role_forbidden")
    if request.method == "GET":
        today = today_local()
        return _audit_form({"asset_code": _asset_code_of(_int_arg("asset_id")), "year": today.year - 1,
                            "audited_on": today.isoformat()})
    try:
        data = _load_with_asset(schemas.AuditCreate(), request.form)
        created = commit_or_invalid(lambda: services.create_audit(current_user, data))
    except FormInvalid as exc:
        return _audit_form(request.form.to_dict(), _asset_errors(exc.errors), exc.message, 422)
    flash(f"已登记{created.asset_name}{created.year}年度审计", "success")
    return redirect(url_for("oversight_pages.audit", audit_id=created.id))


# --- inspections (督查检查) -------------------------------------------------------------------------

def _town_options() -> list[tuple[str, str]]:
    return _place_filters()[0]


@bp.route("/inspections")
def inspections():
    args, query_errors = load_query(schemas.InspectionQuery(), request.args)
    result = services.list_inspections(current_user, **args)
    return render_template("oversight/inspections.html", result=result, args=args, query_errors=query_errors,
                           towns=_town_options(), can_create=may_write(current_user, "oversight.audit"))


@bp.route("/inspections/<int(max=2147483647):inspection_id>")
def inspection(inspection_id):
    row = services.get_inspection(current_user, inspection_id)
    problems_of = services.list_problems(current_user, inspection_id=row.id, per_page=100)
    return render_template("oversight/inspection.html", i=row, problems=problems_of, statuses=PROBLEM_STATUSES,
                           names=_user_names([row.recorded_by_id]),
                           can_raise=may_write(current_user, "problems.raise") and in_scope(current_user, row.county_code,
                                                                                 row.town_code, None))


def _inspection_form(values=None, errors=None, message=None, status=200):
    return render_template("oversight/inspection_form.html", values=values or {}, errors=errors or {},
                           message=message, towns=_town_options()), status


@bp.route("/inspections/new", methods=["GET", "POST"])
def inspection_new():
    if not may_write(current_user, "oversight.audit"):
        raise Forbidden("只有审计人员或县级管理员可以登记督查检查", code="role_forbidden")
    if request.method == "GET":
        today = today_local()
        return _inspection_form({"year": today.year, "quarter": rules.quarter_of(today),
                                 "inspected_on": today.isoformat()})
    try:
        data = load_form(schemas.InspectionCreate(), request.form)
        created = commit_or_invalid(lambda: services.create_inspection(current_user, data))
    except FormInvalid as exc:
        return _inspection_form(request.form.to_dict(), exc.errors, exc.message, 422)
    flash(f"已登记{place_name(created.town_code)}{created.year}年第{created.quarter}季度督查检查", "success")
    return redirect(url_for("oversight_pages.inspection", inspection_id=created.id))


# --- disposals (处置) -----------------------------------------------------------------------------

@bp.route("/disposals")
def disposals():
    args, query_errors = load_query(schemas.DisposalQuery(), request.args)
    result = services.list_disposals(current_user, **args)
    towns, villages = _place_filters()
    return render_template("oversight/disposals.html", result=result, args=args, query_errors=query_errors,
                           towns=towns, villages=villages, statuses=DISPOSAL_STATUSES, grounds=DISPOSAL_GROUNDS,
                           methods=DISPOSAL_METHODS, can_create=may_write(current_user, "disposals.request"))


def _disposal_steps(d) -> list[str]:
    """The step forms the user may fill now (the service checks role, scope, order and dates again)."""
    if d.status in rules.FINAL_STATUSES or not _mine(d):
        return []
    steps = []
    if d.status == "requested" and may_write(current_user, "disposals.request"):
        steps.append("valuation")
    if d.status == "valued" and d.village_code is not None and may_write(current_user, "disposals.decide"):
        steps.append("village-decision")
    nxt = d.next_approval
    if nxt and rules.ready_for_approval(d.status, d.village_code is not None) \
            and _role_in(rules.approval_roles(nxt["approver"])):
        steps.append("approval")
    if d.status == "approved" and may_write(current_user, "disposals.request"):
        steps.append("execution")
    if d.status in rules.OPEN_STATUSES and may_write(current_user, "disposals.request"):
        steps.append("cancel")
    return steps


def _disposal_page(request_id: int, *, form=None, values=None, errors=None, message=None, status=200):
    d = services.get_disposal(current_user, request_id)
    today = today_local().isoformat()
    defaults = {"valued_on": today, "decided_on": today, "executed_on": today, "on": today, "proceeds": "0.00"}
    return render_template("oversight/disposal.html", d=d, steps=_disposal_steps(d), approvers=APPROVERS,
                           statuses=DISPOSAL_STATUSES, grounds=DISPOSAL_GROUNDS, methods=DISPOSAL_METHODS, form=form, values={**defaults, **(values or {})},
                           errors=errors or {}, message=message), status


@bp.route("/disposals/<int(max=2147483647):request_id>")
def disposal(request_id):
    return _disposal_page(request_id)


_STEPS = {
    "valuation": (schemas.ValuationIn, services.record_valuation, "评估结果已登记"),
    "village-decision": (schemas.VillageDecisionIn, services.record_village_decision, "村级决议已登记"),
    "approval": (schemas.ApprovalIn, services.record_approval, "审批意见已登记"),
    "execution": (schemas.ExecutionIn, services.execute_disposal, "处置已执行，处置收入已入收益台账"),
    "cancel": (schemas.CancelIn, services.cancel_disposal, "处置申请已撤回，资产恢复为闲置"),
}


@bp.route("/disposals/<int(max=2147483647):request_id>/<any(valuation, 'village-decision', approval, execution, cancel):step>",
          methods=["POST"])
def disposal_step(request_id, step):
    schema, service, done = _STEPS[step]
    try:
        data = load_form(schema(), request.form)
        commit_or_invalid(lambda: service(current_user, request_id, data))
    except FormInvalid as exc:
        return _disposal_page(request_id, form=step, values=request.form.to_dict(), errors=exc.errors,
                              message=exc.message, status=422)
    flash(done, "success")
    return redirect(url_for("oversight_pages.disposal", request_id=request_id))


def _disposal_form(values=None, errors=None, message=None, status=200):
    return render_template("oversight/disposal_form.html", values=values or {}, errors=errors or {},
                           message=message, grounds=DISPOSAL_GROUNDS, methods=DISPOSAL_METHODS), status


@bp.route("/disposals/new", methods=["GET", "POST"])
def disposal_new():
    if not may_write(current_user, "disposals.request"):
        raise Forbidden("只有乡镇财政所或县级管理员可以申请处置", code="role_forbidden")
    if request.method == "GET":
        return _disposal_form({"asset_code": _asset_code_of(_int_arg("asset_id")),
                               "requested_on": today_local().isoformat()})
    try:
        data = _load_with_asset(schemas.DisposalCreate(), request.form)
        created = commit_or_invalid(lambda: services.create_disposal(current_user, data))
    except FormInvalid as exc:
        return _disposal_form(request.form.to_dict(), _asset_errors(exc.errors), exc.message, 422)
    flash(f"已提交“{created.asset_name}”的处置申请，资产状态为处置中", "success")
    return redirect(url_for("oversight_pages.disposal", request_id=created.id))


# --- the asset page's slot (registry/asset.html includes oversight/asset_problems.html) ---------------

@bp.app_template_global()
def oversight_of_asset(a) -> dict:
    """The asset's problems and disposals for its page, with the actions the user may start: a fixed
    handful of queries."""
    problems_of = services.list_problems(current_user, asset_id=a.id, per_page=20)
    disposals_of = services.list_disposals(current_user, asset_id=a.id, per_page=10)
    open_disposal = any(d.status in rules.OPEN_STATUSES for d in disposals_of["items"])
    return {
        "problems": problems_of, "disposals": disposals_of, "statuses": PROBLEM_STATUSES,
        "disposal_statuses": DISPOSAL_STATUSES,
        "can_raise": may_write(current_user, "problems.raise") and _mine(a),
        "can_audit": may_write(current_user, "oversight.audit") and _mine(a) and a.category == "operating"
        and a.status not in services.NOT_AUDITABLE,
        "can_dispose": may_write(current_user, "disposals.request") and _mine(a) and a.category != "household"
        and not open_disposal and a.status not in ("disposed", "scrapped", "disposing"),
    }
