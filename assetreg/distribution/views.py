"""Distribution plan pages (收益分配方案): the list, the new-plan form, and the plan page with its editor —
carry-over and note, allocations, household lines per purpose and the fill helpers — all posting to
distribution/services.py.
A refusal re-renders the page with the typed values and errors naming the row (HTTP 422), writing nothing;
live totals in the browser come from static/plan_editor.js.

The 四议两公开 steps, objections and the notice preview are ``procedure_bp`` below."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core.access import ROLES, WRITERS, in_scope, may_write, may_write_here, require_write
from ..core.errors import Conflict, Forbidden, NotFound, RuleViolation
from ..core.money import to_fen
from ..core.time import today_local
from ..distribution import schemas, services
from ..distribution import schemas as dist_schemas
from ..distribution import services as dist_services
from ..distribution.models import LINE_PURPOSES, MEETINGS, PURPOSES, STATUSES, STEPS, DistributionPlan, PlanObjection
from ..extensions import db
from ..households.models import LABOUR, Household
from ..households.models import STATUSES as HOUSEHOLD_STATUSES
from ..notices import services as notice_services
from ..places.services import list_places
from ..web.filters import cn_date, money
from ..web.forms import FormInvalid, coerce, commit_or_invalid, load, load_form, load_query

bp = Blueprint("plans_pages", __name__, template_folder="templates")

FILL_METHODS = {"equal": "按户平均", "weights": "按家庭人口或自定义权重", "tier": "按档次表",
                "jobs": "按出勤月数×月工资（公益岗位）"}
WARNING_LABELS = {"PV_SHARE_LOW": "光伏收益用于公益比例不足", "EQUAL_CASH": "简单平均、一发了之",
                  "MONITORED_LEFT_OUT": "监测户未获分配"}
LINE_FIELDS = ("household", "person_name", "amount", "reason", "months", "monthly_wage", "job_id", "drop")
LINE_LABELS = {"household": "户编号", "household_id": "户编号", "person_name": "领取人", "amount": "金额",
               "reason": "事由", "months": "月数", "monthly_wage": "月工资", "job_id": "公益岗位"}
ALLOC_LABELS = {"amount": "金额", "use": "具体用途", "note": "备注", "purpose": "用途", "lines": "到户明细"}
TIER_FIELDS = ("status", "min_size", "max_size", "labour", "amount")
TIER_LABELS = {"status": "农户类别", "min_size": "人口下限", "max_size": "人口上限", "labour": "劳动能力",
               "amount": "每户金额"}
TIER_ROWS = 5
MAX_ROWS = schemas.MAX_LINES


# --- helpers -------------------------------------------------------------------------------------

def _may_draft(plan) -> bool:
    """The village committee of the plan's village drafts it (WRITERS["distribution.draft"] within WRITERS)."""
    return (may_write(current_user, "distribution.draft")
            and may_write_here(current_user, "distribution", plan.county_code, plan.town_code, plan.village_code))


def _require_drafter(plan) -> None:
    """403 before any form is read, for a role or scope that may not edit the plan (the service checks again)."""
    require_write(current_user, "distribution", county_code=plan.county_code, town_code=plan.town_code,
                  village_code=plan.village_code)
    if current_user.role not in WRITERS["distribution.draft"]:
        raise Forbidden("当前角色无权执行此操作", code="role_forbidden")


def _refused(fn):
    """A read-only service call (a fill preview): a domain refusal becomes form errors."""
    try:
        return fn()
    except (RuleViolation, Conflict) as exc:
        db.session.rollback()
        raise FormInvalid.from_domain(exc) from None


def _village_households(plan) -> list:
    """The plan's village households (id, number, head, status), for the household inputs: one query."""
    return db.session.execute(
        sa.select(Household.id, Household.number, Household.head_name, Household.status)
        .where(Household.county_code == plan.county_code, Household.village_code == plan.village_code)
        .order_by(Household.number, Household.id)).all()


def _money(value) -> str:
    return "" if value is None else f"{value:.2f}"


def _rows(form, prefix: str, fields: tuple[str, ...]) -> list[dict]:
    """Inputs ``<prefix>.<n>.<field>`` → one dict per row, in row order (numbered rows, any gaps)."""
    pattern = re.compile(rf"{re.escape(prefix)}\.(\d{{1,5}})\.([a-z_]+)")
    by_index: dict[int, dict] = {}
    for key, value in form.items():
        m = pattern.fullmatch(key)
        if m and m.group(2) in fields:
            by_index.setdefault(int(m.group(1)), {})[m.group(2)] = (value or "").strip()
    if len(by_index) > MAX_ROWS:  # far beyond any village: refused outright (422 page), not re-rendered
        raise RuleViolation(f"最多 {MAX_ROWS} 行", {prefix: [f"最多 {MAX_ROWS} 行"]})
    return [{f: by_index[i].get(f, "") for f in fields} for i in sorted(by_index)]


def _summary(errors: dict, describe) -> list[str]:
    """Every error as one readable sentence (``describe(key)`` names the row and field)."""
    return [f"{describe(k)}：{'；'.join(v)}" if describe(k) else "；".join(v) for k, v in errors.items()]


# --- list and create -----------------------------------------------------------------------------

@bp.route("/plans")
def plans():

    args, query_errors = load_query(schemas.PlanQuery(), request.args)
    result = services.list_plans(current_user, **args)
    places = list_places(current_user)
    return render_template(
        "plans/list.html", result=result, args=args, query_errors=query_errors,
        towns=[(p.code, p.name) for p in places if p.level == "town"],
        villages=[(p.code, p.name) for p in places if p.level == "village"],
        can_create=may_write(current_user, "distribution.draft") and may_write(current_user, "distribution"))


def _new_form(values=None, errors=None, message=None, status=200):

    villages = [(p.code, p.name) for p in list_places(current_user, level="village")]
    return render_template("plans/new.html", values=values or {}, errors=errors or {}, message=message,
                           villages=villages), status


@bp.route("/plans/new", methods=["GET", "POST"])
def plan_new():
    require_write(current_user, "distribution")
    if current_user.role not in WRITERS["distribution.draft"]:
        raise Forbidden("只有村委会可以制定分配方案", code="role_forbidden")
    if request.method == "GET":
        values = {"year": today_local().year - 1}
        if current_user.scope_level == "village":
            values["village_code"] = current_user.scope_code
        return _new_form(values)
    try:
        data = load_form(schemas.PlanCreate(), request.form)
        plan = commit_or_invalid(lambda: services.create_plan(current_user, data))
    except FormInvalid as exc:
        return _new_form(request.form, exc.errors, exc.message, 422)
    flash(f"{plan.village_name or ''}{plan.year}年度分配方案已创建", "success")
    return redirect(url_for("plans_pages.plan", plan_id=plan.id))


# --- the plan page -------------------------------------------------------------------------------

def _alloc_values(plan) -> dict:
    values = {"version": plan.version}
    for a in plan.allocations:
        values.update({f"alloc.{a.purpose}.amount": _money(a.amount), f"alloc.{a.purpose}.use": a.use or "",
                       f"alloc.{a.purpose}.note": a.note or ""})
    return values


def _line_rows(allocation, heads: dict[int, str]) -> list[dict]:
    """A saved allocation's lines as form rows. The head's name is left blank (it is the default), so that
    a row given another household pays that household's head, not the previous one's."""
    return [{"household": li.household_number or "",
             "person_name": "" if li.person_name == heads.get(li.household_id) else li.person_name,
             "amount": _money(li.amount),
             "reason": li.reason or "", "months": "" if li.months is None else str(li.months),
             "monthly_wage": _money(li.monthly_wage), "job_id": "" if li.job_id is None else str(li.job_id),
             "drop": ""} for li in allocation.lines]


def _blank_rows(rows: list[dict], extra: int) -> list[dict]:
    return rows + [dict.fromkeys(LINE_FIELDS, "") for _ in range(extra)]


def _tier_rows(rows: list[dict]) -> list[dict]:
    return rows + [dict.fromkeys(TIER_FIELDS, "") for _ in range(max(0, TIER_ROWS - len(rows)))]


def _plan_page(plan_id: int, *, status: int = 200, alloc_form=None, lines_form=None, fill_form=None,
               preview=None, header_form=None):
    """The plan page. ``header_form``/``alloc_form``/``lines_form``/``fill_form`` carry a refused form's values
    and errors (``lines_form`` also its purpose) so it comes back as typed; ``preview`` is a fill preview."""
    plan = services.get_plan(current_user, plan_id)
    households = _village_households(plan)
    by_id = {h.id: h for h in households}
    can_edit = plan.is_editable and _may_draft(plan)
    allocations = {a.purpose: a for a in plan.allocations}
    # Rows of the allocation table: the plan's own order, then the purposes it has not used yet.
    order = [a.purpose for a in plan.allocations] + [p for p in PURPOSES if p not in allocations]
    lines_forms = {}
    for a in plan.allocations:
        if a.purpose not in LINE_PURPOSES:
            continue
        if lines_form is not None and lines_form["purpose"] == a.purpose:
            lines_forms[a.purpose] = {**lines_form, "rows": _blank_rows(lines_form["rows"], 2)}
        else:
            rows = _line_rows(a, {h.id: h.head_name for h in households})
            lines_forms[a.purpose] = {"values": {"version": plan.version, f"{a.purpose}.amount": _money(a.amount)},
                                      "rows": _blank_rows(rows, 2 if rows else 5), "errors": {}, "summary": [],
                                      "message": None}
    if fill_form is None:
        first = next((a.purpose for a in plan.allocations if a.purpose in LINE_PURPOSES), "relief")
        fill_form = {"values": {"version": plan.version, "purpose": first, "method": "equal"}, "tiers": [],
                     "errors": {}, "summary": [], "message": None}
    fill_form = {**fill_form, "tiers": _tier_rows(fill_form["tiers"])}
    if alloc_form is None:
        alloc_form = {"values": _alloc_values(plan), "errors": {}, "summary": [], "message": None}
    if header_form is None:
        header_form = {"values": {"version": plan.version, "carry_over": _money(plan.carry_over),
                                  "note": plan.note or ""}, "errors": {}, "summary": [], "message": None}
    lines_fen = {a.purpose: to_fen(a.lines_total) for a in plan.allocations if a.lines}
    return render_template(
        "plans/plan.html", plan=plan, can_edit=can_edit, order=order, allocations=allocations,
        households=households, by_id=by_id, header_form=header_form, alloc_form=alloc_form, lines_forms=lines_forms, fill_form=fill_form,
        preview=preview, lines_fen=lines_fen, available_fen=to_fen(plan.available),
        line_purposes=LINE_PURPOSES, purposes=PURPOSES, statuses=STATUSES, steps=STEPS, fill_methods=FILL_METHODS,
        warning_labels=WARNING_LABELS, household_statuses=HOUSEHOLD_STATUSES, labour=LABOUR,
        tier_labels=TIER_LABELS), status


@bp.route("/plans/<int:plan_id>")
def plan(plan_id):
    return _plan_page(plan_id)


# --- carry-over and note -------------------------------------------------------------------------

HEADER_LABELS = {"carry_over": "上年结转", "note": "备注", "version": "版本"}


@bp.route("/plans/<int:plan_id>/header", methods=["POST"])
def plan_header(plan_id):
    """Change the plan's carry-over (上年结转) and note (备注) through the API's PlanUpdate; the available
    figure follows. A stale version comes back with 409, any other refusal with 422, nothing written."""
    plan = services.get_plan(current_user, plan_id)
    _require_drafter(plan)
    form = request.form
    raw = {"carry_over": form.get("carry_over", ""), "note": form.get("note", "")}
    if (form.get("version") or "").strip():  # none sent: no version check, as in the other plan forms
        raw["version"] = form["version"]
    try:
        data = load_form(schemas.PlanUpdate(), raw)
        updated = commit_or_invalid(lambda: services.update_plan(current_user, plan_id, data))
    except FormInvalid as exc:
        db.session.rollback()
        status = exc.status
        # A locked plan: the message says so and the form is gone; its raw status code is not for the page.
        errors = {k: v for k, v in exc.errors.items() if k != "status"}
        return _plan_page(plan_id, status=status, header_form={
            "values": form, "errors": errors, "message": exc.message,
            "summary": _summary(errors, lambda key: HEADER_LABELS.get(key, ""))})

    flash(f"上年结转和备注已保存，可分配收益为 {money(updated.available)} 元", "success")
    return redirect(url_for("plans_pages.plan", plan_id=plan_id) + "#summary")


# --- allocations ---------------------------------------------------------------------------------

def _existing_lines(allocation) -> list[dict]:
    """An allocation's lines as the schema's input, to send back unchanged with a new set of allocations."""
    return [{"household_id": li.household_id, "person_name": li.person_name, "amount": _money(li.amount),
             "reason": li.reason, "months": li.months, "monthly_wage": _money(li.monthly_wage) or None,
             "job_id": li.job_id} for li in allocation.lines]


def _existing_allocation(a) -> dict:
    return {"purpose": a.purpose, "amount": _money(a.amount), "use": a.use, "note": a.note,
            "lines": _existing_lines(a)}


def _load_allocations(version, allocations: list[dict], extra_errors: dict | None = None) -> list[dict]:
    """The whole set through the API's schema (PlanAllocationsIn); errors keyed ``allocations.<i>.…``."""
    data = {"allocations": allocations}
    if version is not None:
        data["version"] = version
    errors = dict(extra_errors or {})
    try:
        loaded = load(schemas.PlanAllocationsIn(), data)
    except FormInvalid as exc:
        for key, whys in exc.errors.items():
            errors.setdefault(key, whys)
    if errors:
        raise FormInvalid(errors)
    return loaded


def _version(form):
    raw = (form.get("version") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else (raw or None)


def _alloc_key(key: str, sent: list[str]) -> str:
    """``allocations.2.use`` → ``alloc.<purpose>.use`` (the input of that row); line errors go to the amount."""
    parts = key.split(".")
    if parts[0] == "allocations" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(sent):
        field = parts[2] if len(parts) > 2 else "amount"
        if field not in ("amount", "use", "note"):
            field = "amount"
        return f"alloc.{sent[int(parts[1])]}.{field}"
    return key


@bp.route("/plans/<int:plan_id>/allocations", methods=["POST"])
def plan_allocations(plan_id):
    """Save the allocation table: every purpose with an amount; a blank amount drops that purpose (and its
    household lines). Lines of the purposes kept go back unchanged, so they must still add up."""
    plan = services.get_plan(current_user, plan_id)
    _require_drafter(plan)
    existing = {a.purpose: a for a in plan.allocations}
    order = [a.purpose for a in plan.allocations] + [p for p in PURPOSES if p not in existing]
    form = request.form
    sent, allocations = [], []
    for p in order:
        amount = (form.get(f"alloc.{p}.amount") or "").strip()
        if not amount:
            continue
        row = coerce(schemas.PlanAllocationIn(), {"purpose": p, "amount": amount,
                                                  "use": form.get(f"alloc.{p}.use", ""),
                                                  "note": form.get(f"alloc.{p}.note", "")})
        row["lines"] = _existing_lines(existing[p]) if p in existing else []
        allocations.append(row)
        sent.append(p)
    try:
        data = _load_allocations(_version(form), allocations)
        commit_or_invalid(lambda: services.set_allocations(current_user, plan_id, data["allocations"],
                                                           version=data.get("version")))
    except FormInvalid as exc:
        errors: dict[str, list[str]] = {}
        for key, whys in exc.errors.items():
            errors.setdefault(_alloc_key(key, sent), []).extend(whys)

        def describe(key):
            parts = key.split(".")
            if parts[0] == "alloc" and len(parts) == 3:
                return f"“{PURPOSES.get(parts[1], parts[1])}” {ALLOC_LABELS.get(parts[2], parts[2])}"
            return {"version": "版本", "allocations": "分配项"}.get(key, "")

        db.session.rollback()
        return _plan_page(plan_id, status=422, alloc_form={"values": form, "errors": errors, "message": exc.message,
                                                           "summary": _summary(errors, describe)})
    flash("分配项已保存", "success")
    return redirect(url_for("plans_pages.plan", plan_id=plan_id) + "#allocations")


# --- household lines ------------------------------------------------------------------------------

def _lines_key(key: str, index: int, purpose: str, sent: list[str]) -> str:
    """Service/schema keys → the inputs of the lines form of ``purpose`` (allocation ``index``)."""
    parts = key.split(".")
    if parts[0] != "allocations" or len(parts) < 2 or not parts[1].isdigit():
        return key
    i = int(parts[1])
    if i != index:
        return _alloc_key(key, sent)
    rest = parts[2:]
    if not rest or rest[0] in ("amount", "purpose"):
        return f"{purpose}.amount"
    if rest[0] == "lines" and len(rest) > 1 and rest[1].isdigit():
        field = rest[2] if len(rest) > 2 else "household"
        field = "household" if field == "household_id" else field
        return f"{purpose}.{rest[1]}.{field if field in LINE_FIELDS else 'household'}"
    if rest[0] == "lines":
        return f"{purpose}.total"
    return f"{purpose}.{rest[0]}"


@bp.route("/plans/<int:plan_id>/lines/<purpose>", methods=["POST"])
def plan_lines(plan_id, purpose):  # noqa: C901 - form parsing of a whole editable table, row by row, with inline errors
    """Save one purpose's allocation amount and household lines (the household given by its number); the
    other allocations go back unchanged. Rows with neither household nor amount, or ticked 删除, are left out."""
    if purpose not in LINE_PURPOSES:
        abort(404)
    plan = services.get_plan(current_user, plan_id)
    _require_drafter(plan)
    form = request.form
    numbers = {h.number: h.id for h in _village_households(plan)}
    rows = [r for r in _rows(form, purpose, LINE_FIELDS) if r["drop"] != "y" and (r["household"] or r["amount"])]
    for r in rows:
        r["drop"] = ""
    pre_errors: dict[str, list[str]] = {}
    lines = []
    for k, r in enumerate(rows):
        raw = {f: r[f] for f in ("person_name", "amount", "reason", "months", "monthly_wage", "job_id")}
        line = coerce(schemas.PlanLineIn(), raw)
        if r["household"]:
            if r["household"] in numbers:
                line["household_id"] = numbers[r["household"]]
            else:
                pre_errors[f"allocations.0.lines.{k}.household_id"] = ["未找到本村的该户编号"]
        lines.append(line)
    existing = list(plan.allocations)
    index = next((i for i, a in enumerate(existing) if a.purpose == purpose), None)
    if index is None:  # the page offers a lines form only under an allocation
        raise RuleViolation(f"方案中还没有“{PURPOSES[purpose]}”分配项，请先在分配项中设置其金额",
                            {"purpose": ["请先设置该项分配额"]})
    allocations = [_existing_allocation(a) for a in existing]
    amount = coerce(schemas.PlanAllocationIn(), {"amount": (form.get(f"{purpose}.amount") or "").strip()})["amount"]
    if amount == "":
        pre_errors["allocations.0.amount"] = ["请填写该项分配额"]
    allocations[index] = {"purpose": purpose, "amount": amount, "use": existing[index].use,
                          "note": existing[index].note, "lines": lines}
    sent = [a["purpose"] for a in allocations]
    pre_errors = {k.replace("allocations.0.", f"allocations.{index}.", 1): v for k, v in pre_errors.items()}
    try:
        data = _load_allocations(_version(form), allocations, pre_errors)
        commit_or_invalid(lambda: services.set_allocations(current_user, plan_id, data["allocations"],
                                                           version=data.get("version")))
    except FormInvalid as exc:
        errors: dict[str, list[str]] = {}
        for key, whys in exc.errors.items():
            for why in whys:
                bucket = errors.setdefault(_lines_key(key, index, purpose, sent), [])
                if why not in bucket:
                    bucket.append(why)

        def describe(key):
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == purpose and parts[1].isdigit():
                return f"第{int(parts[1]) + 1}行 {LINE_LABELS.get(parts[2], parts[2])}"
            if key == f"{purpose}.amount":
                return f"“{PURPOSES[purpose]}”分配额"
            if key == f"{purpose}.total":
                return "到户合计"
            if parts[0] == "alloc" and len(parts) == 3:
                return f"“{PURPOSES.get(parts[1], parts[1])}” {ALLOC_LABELS.get(parts[2], parts[2])}"
            return {"version": "版本"}.get(key, "")

        db.session.rollback()
        values = {"version": form.get("version", ""), f"{purpose}.amount": form.get(f"{purpose}.amount", "")}
        return _plan_page(plan_id, status=422, lines_form={
            "purpose": purpose, "values": values, "rows": rows, "errors": errors, "message": exc.message,
            "summary": _summary(errors, describe)})
    flash(f"“{PURPOSES[purpose]}”到户明细已保存（{len(rows)}户）", "success")
    return redirect(url_for("plans_pages.plan", plan_id=plan_id) + f"#lines-{purpose}")


# --- fill helpers --------------------------------------------------------------------------------

_WEIGHT_LINE = re.compile(r"\s*(\S+?)\s*[\s,，:：=]\s*(\S+)\s*")


def _load_fill(form, numbers: dict[str, int]) -> tuple[dict, list[dict], dict[int, int]]:
    """The fill form → PlanFillIn input. Returns the data, the tier rows as typed, and for each weight sent
    the line of the weights box it came from (to name the line in an error)."""
    schema = schemas.PlanFillIn()
    raw = {k: (form.get(k) or "").strip() for k in ("purpose", "method", "reason")}
    data = coerce(schema, raw)
    version = _version(form)
    if version is not None:
        data["version"] = version
    data["set_amount"] = form.get("set_amount") == "y"
    statuses = [s for s in HOUSEHOLD_STATUSES if form.get(f"status.{s}") == "y"]
    if statuses:
        data["statuses"] = statuses
    tier_rows = [r for r in _rows(form, "tiers", TIER_FIELDS) if any(r.values())]
    errors: dict[str, list[str]] = {}
    weight_lines: dict[int, int] = {}
    if raw["method"] == "tier" and tier_rows:  # none at all: the service says the table is missing
        data["tiers"] = [coerce(schemas.FillTierIn(), dict(r)) for r in tier_rows]
    if raw["method"] == "weights" and (form.get("weights") or "").strip():
        weights = []
        for n, text in enumerate((form.get("weights") or "").splitlines(), start=1):
            if not text.strip():
                continue
            m = _WEIGHT_LINE.fullmatch(text)
            if m is None:
                errors.setdefault("weights", []).append(f"第{n}行：格式应为“户编号 权重”")
            elif m.group(1) not in numbers:
                errors.setdefault("weights", []).append(f"第{n}行：未找到本村的户编号 {m.group(1)[:40]}")
            else:
                weight_lines[len(weights)] = n
                weights.append({"household_id": numbers[m.group(1)], "weight": m.group(2)})
        if len(weights) > MAX_ROWS:
            errors.setdefault("weights", []).append(f"最多 {MAX_ROWS} 行")
        if weights:
            data["weights"] = weights
    try:
        loaded = load(schema, data)
    except FormInvalid as exc:
        errors.update(_fill_errors(exc.errors, weight_lines))
        raise FormInvalid(errors) from None
    if errors:
        raise FormInvalid(errors)
    return loaded, tier_rows, weight_lines


def _fill_errors(errors: dict, weight_lines: dict[int, int]) -> dict:
    """``weights.3.weight`` → the weights box, naming its line; other keys are the form's own names."""
    out: dict[str, list[str]] = {}
    for key, whys in errors.items():
        parts = key.split(".")
        if parts[0] == "weights" and len(parts) > 1 and parts[1].isdigit():
            n = weight_lines.get(int(parts[1]), int(parts[1]) + 1)
            out.setdefault("weights", []).extend(f"第{n}行：{w}" for w in whys)
        elif parts[0] == "statuses":
            out.setdefault("statuses", []).extend(whys)
        else:
            out.setdefault(key, []).extend(whys)
    return out


def _describe_fill(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "tiers" and len(parts) == 3 and parts[1].isdigit():
        return f"档次表第{int(parts[1]) + 1}行 {TIER_LABELS.get(parts[2], parts[2])}"
    return {"purpose": "用途", "method": "分配方式", "set_amount": "分配额改为合计", "statuses": "农户类别",
            "weights": "自定义权重", "household_ids": "农户", "reason": "事由", "tiers": "档次表",
            "version": "版本"}.get(key, "")


@bp.route("/plans/<int:plan_id>/fill", methods=["POST"])
def plan_fill(plan_id):
    """Preview (button 预览) or apply (button 应用) one of the fill helpers to a purpose's household lines."""
    plan = services.get_plan(current_user, plan_id)
    _require_drafter(plan)  # the fill form is the drafter's (the API also previews for readers)
    apply = request.form.get("action") == "apply"
    numbers = {h.number: h.id for h in _village_households(plan)}
    form = request.form
    tier_rows = [r for r in _rows(form, "tiers", TIER_FIELDS) if any(r.values())]
    try:
        data, tier_rows, weight_lines = _load_fill(form, numbers)
        data["apply"] = apply
        try:
            if apply:
                result = commit_or_invalid(lambda: services.fill(current_user, plan_id, data))
            else:
                result = _refused(lambda: services.fill(current_user, plan_id, data))
        except FormInvalid as exc:
            raise FormInvalid(_fill_errors(exc.errors, weight_lines), exc.message) from None
    except FormInvalid as exc:
        errors = exc.errors
        db.session.rollback()
        return _plan_page(plan_id, status=422, fill_form={
            "values": form, "tiers": tier_rows, "errors": errors, "message": exc.message,
            "summary": _summary(errors, _describe_fill)})
    if apply:

        flash(f"已按“{FILL_METHODS[data['method']]}”为“{PURPOSES[data['purpose']]}”分配到 {len(result['lines'])} 户，"
              f"合计 {money(result['total'])} 元", "success")
        return redirect(url_for("plans_pages.plan", plan_id=plan_id) + f"#lines-{data['purpose']}")
    return _plan_page(plan_id, fill_form={"values": form, "tiers": tier_rows, "errors": {}, "summary": [],
                                          "message": None}, preview=result)


# --- the 四议两公开 procedure, objections, notice preview ------------------------------------------

procedure_bp = Blueprint("procedure_pages", __name__, template_folder="templates")

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


@procedure_bp.route("/plans/<int:plan_id>/procedure")
def procedure(plan_id):
    return _page(plan_id)


def _refusal(exc: FormInvalid) -> FormInvalid:
    """Say open objections in words rather than as bare ids."""
    errors = dict(exc.errors)
    if "objections" in errors:
        errors["objections"] = [f"未答复的异议编号：{'、'.join(errors['objections'])}"]
    return FormInvalid(errors, exc.message)


@procedure_bp.route("/plans/<int:plan_id>/procedure/steps", methods=["POST"])
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


@procedure_bp.route("/plans/<int:plan_id>/procedure/objections", methods=["POST"])
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


@procedure_bp.route("/plans/<int:plan_id>/procedure/objections/<int:objection_id>/answer", methods=["POST"])
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

@procedure_bp.route("/plans/<int:plan_id>/notice-preview")
def notice_preview(plan_id):
    """The notice as it will print (personal data masked by the notices service), inside the layout, with
    the print view and the workbook one click away. A notice the privacy scan refuses is not shown."""

    try:
        notice = notice_services.build_notice(current_user, plan_id)
    except RuleViolation as exc:
        return render_template("procedure/notice_preview.html", n=None, plan_id=plan_id, refused=exc), 422
    return render_template("procedure/notice_preview.html", n=notice, plan_id=plan_id, refused=None)
