"""Procedure pages of a distribution plan: the 四议两公开 steps in order with a form for the next one,
the objections (异议) with forms to record and answer them, and the notice (公示) preview inside the
layout. Views are thin: form → the API's schema → one distribution service → commit → redirect; a
refusal re-renders the page with the service's Chinese message inline and writes nothing."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core.access import ROLES, in_scope, may_write, require_write
from ..core.errors import NotFound, RuleViolation
from ..core.time import today_local
from ..distribution import schemas as dist_schemas
from ..distribution import services as dist_services
from ..distribution.models import MEETINGS, STEPS, DistributionPlan, PlanObjection
from ..extensions import db
from .filters import cn_date
from .forms import FormInvalid, load_form
from .views_registry import commit_or_invalid

bp = Blueprint("procedure_pages", __name__)

# What the minutes input is called at each step (the service requires it for MINUTES_REQUIRED).
MINUTES_LABELS = {
    "proposal": "提议内容",
    "consultation": "会议记录",
    "party_meeting": "会议记录",
    "representatives_meeting": "会议记录",
    "resolution_published": "公开方式及内容",
    "town_review": "审核意见",
    "notice": "公示地点及方式",
    "approval": "批准意见",
    "county_filing": "备案意见",
    "payment": "兑付说明",
    "result_published": "公开方式及内容",
}
STEP_FIELDS = ("done_on", "minutes", "document", "members_due", "members_present", "members_in_favour",
               "notice_start_on", "notice_end_on", "payment_method", "kind", "version")
OBJECTION_FIELDS = ("raised_on", "raised_by", "content")


def _step_roles(kind: str | None) -> set[str]:
    return dist_services.step_writers(kind) if kind else frozenset()


def _in_scope(plan) -> bool:
    return in_scope(current_user, plan.county_code, plan.town_code, plan.village_code)


def _check_write(plan_id: int) -> None:
    """Before reading a form: 404 for a plan that is not there, 403 for one outside the user's scope or a
    role that never writes plans (the service checks the step's own role again)."""
    row = db.session.execute(sa.select(DistributionPlan.county_code, DistributionPlan.town_code,
                                       DistributionPlan.village_code)
                             .where(DistributionPlan.id == plan_id,
                                    DistributionPlan.county_code == current_user.county_code)).first()
    if row is None:
        raise NotFound("未找到该分配方案")
    require_write(current_user, "distribution", county_code=row.county_code, town_code=row.town_code,
                  village_code=row.village_code)


def _step_defaults(plan, kind: str | None) -> dict:
    today = today_local()
    values = {"kind": kind or "", "version": plan.version, "done_on": today.isoformat()}
    if kind == "notice":
        days = dist_services.policy_for(plan.county_code).min_notice_days
        values.update(done_on="", notice_start_on=today.isoformat(),
                      notice_end_on=(today + timedelta(days=days - 1)).isoformat())
    return values


def _page(plan_id: int, *, form: str | None = None, values=None, errors=None, message=None, status=200):
    """The procedure page; ``form`` names the form whose ``values``/``errors``/``message`` are shown
    ("step", "objection" or "answer:<id>"); the other forms show their defaults."""
    plan = dist_services.get_plan(current_user, plan_id)
    kind = plan.next_step
    policy = dist_services.policy_for(plan.county_code)
    today = today_local()
    forms = {"step": {"values": _step_defaults(plan, kind), "errors": {}, "message": None},
             "objection": {"values": {"raised_on": today.isoformat()}, "errors": {}, "message": None}}
    for o in plan.objections:
        forms[f"answer:{o.id}"] = {"values": {f"o{o.id}.answered_on": today.isoformat()}, "errors": {},
                                   "message": None}
    if form is not None:
        values = dict(values or {})
        if form == "step":  # the form is for the step now due, at the plan's current version
            values.update(kind=kind or "", version=plan.version)
        forms[form] = {"values": values, "errors": errors or {}, "message": message}
    writable = _in_scope(plan)
    can_step = kind is not None and writable and current_user.role in _step_roles(kind)
    can_object = (writable and may_write(current_user, "distribution.objection"))
    steps = {s.kind: s for s in plan.steps}
    rows = [{"kind": k, "label": label, "step": steps.get(k), "is_next": k == kind,
             "who": "、".join(ROLES[r] for r in sorted(_step_roles(k)))} for k, label in STEPS.items()]
    return render_template(
        "procedure/procedure.html", plan=plan, rows=rows, kind=kind, forms=forms, can_step=can_step,
        can_object=can_object, in_notice=plan.status == "in_notice", min_notice_days=policy.min_notice_days,
        minutes_label=MINUTES_LABELS.get(kind, "记录"), minutes_required=kind in dist_services.MINUTES_REQUIRED,
        is_meeting=kind in MEETINGS, step_roles=_step_roles(kind), next_label=STEPS.get(kind),
    ), status


@bp.route("/plans/<int:plan_id>/procedure")
def procedure(plan_id):
    return _page(plan_id)


def _refusal(exc: FormInvalid) -> FormInvalid:
    """Say open objections in words rather than as bare ids."""
    errors = dict(exc.errors)
    if "objections" in errors:
        errors["objections"] = [f"未答复的异议编号：{'、'.join(errors['objections'])}"]
    return FormInvalid(errors, exc.message)


@bp.route("/plans/<int:plan_id>/procedure/steps", methods=["POST"])
def record_step(plan_id):
    _check_write(plan_id)
    raw = {k: v for k, v in request.form.items() if k in STEP_FIELDS}
    try:
        data = load_form(dist_schemas.PlanStepIn(), raw)
        step = commit_or_invalid(lambda: dist_services.record_step(current_user, plan_id, data))
    except FormInvalid as exc:
        exc = _refusal(exc)
        return _page(plan_id, form="step", values=request.form, errors=exc.errors, message=exc.message, status=422)
    flash(f"已记录“{STEPS[step.kind]}”（{cn_date(step.done_on)}）", "success")
    return redirect(url_for(".procedure", plan_id=plan_id) + "#steps")


@bp.route("/plans/<int:plan_id>/procedure/objections", methods=["POST"])
def record_objection(plan_id):
    _check_write(plan_id)
    raw = {k: v for k, v in request.form.items() if k in OBJECTION_FIELDS}
    try:
        data = load_form(dist_schemas.PlanObjectionIn(), raw)
        commit_or_invalid(lambda: dist_services.record_objection(current_user, plan_id, data))
    except FormInvalid as exc:
        return _page(plan_id, form="objection", values=request.form, errors=exc.errors, message=exc.message,
                     status=422)
    flash("异议已登记，答复前方案不能批准", "success")
    return redirect(url_for(".procedure", plan_id=plan_id) + "#objections")


@bp.route("/plans/<int:plan_id>/procedure/objections/<int:objection_id>/answer", methods=["POST"])
def answer_objection(plan_id, objection_id):
    _check_write(plan_id)
    if db.session.scalar(sa.select(PlanObjection.id).where(PlanObjection.id == objection_id,
                                                          PlanObjection.plan_id == plan_id)) is None:
        raise NotFound("未找到该异议")
    # Each open objection has its own answer form; its inputs carry the prefix o<id>. (unique ids on the page).
    prefix = f"o{objection_id}."
    raw = {k[len(prefix):]: v for k, v in request.form.items() if k.startswith(prefix)}
    try:
        data = load_form(dist_schemas.PlanObjectionAnswerIn(), raw)
        commit_or_invalid(lambda: dist_services.answer_objection(current_user, plan_id, objection_id, data))
    except FormInvalid as exc:
        errors = {(prefix + k if k != "_form" else k): v for k, v in exc.errors.items()}
        return _page(plan_id, form=f"answer:{objection_id}", values=request.form, errors=errors,
                     message=exc.message, status=422)
    flash("异议已答复", "success")
    return redirect(url_for(".procedure", plan_id=plan_id) + "#objections")


# --- notice preview ------------------------------------------------------------------------------

@bp.route("/plans/<int:plan_id>/notice-preview")
def notice_preview(plan_id):
    """The notice as it will print (personal data masked by the notices service), inside the layout, with
    the print view and the workbook one click away. A notice the privacy scan refuses is not shown."""
    from ..notices import services as notice_services

    try:
        notice = notice_services.build_notice(current_user, plan_id)
    except RuleViolation as exc:
        return render_template("procedure/notice_preview.html", n=None, plan_id=plan_id, refused=exc), 422
    return render_template("procedure/notice_preview.html", n=notice, plan_id=plan_id, refused=None)
