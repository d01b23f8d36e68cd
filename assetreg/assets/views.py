"""Registry pages: the asset list and page, the asset forms (create, edit, status, rights, custody,
operation, income); households are in views_households. Views are thin: form → the API's schema →
one service → commit → redirect; refusals come back as inline field errors and write nothing."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..assets import schemas as asset_schemas
from ..assets import services as asset_services
from ..assets.models import CATEGORIES, FUNDING_SOURCES, STATUSES, SUBTYPES, Asset
from ..assets.rules import INITIAL_STATUSES, TRANSITIONS, transition_error
from ..core.access import may_edit, may_write, require_write
from ..core.time import today_local
from ..custody import schemas as custody_schemas
from ..custody import services as custody_services
from ..income import services as income_services
from ..income.schemas import IncomeEntryCreate
from ..places.services import place_options
from ..rights import services as rights_services
from ..rights.models import RIGHT_KINDS
from ..rights.schemas import RightBatch, RightCreate
from ..web.filters import iso_date, money
from ..web.forms import FormInvalid, coerce, commit_or_invalid, load, load_form, load_query

bp = Blueprint("registry", __name__, template_folder="templates")


# --- helpers -------------------------------------------------------------------------------------

def subtype_groups() -> list[tuple[str, list[tuple[str, str]]]]:

    return [(CATEGORIES[c], [(s, s) for s in subs]) for c, subs in SUBTYPES.items()]


# --- asset list ----------------------------------------------------------------------------------

@bp.route("/assets")
def assets():
    args, query_errors = load_query(asset_schemas.AssetQuery(), request.args)
    result = asset_services.list_assets(current_user, **args)
    return render_template("registry/assets.html", result=result, args=args, query_errors=query_errors,
                           places=place_options(current_user), subtypes=subtype_groups(),
                           can_create=may_write(current_user, "assets"))


# --- asset page ----------------------------------------------------------------------------------

@bp.route("/assets/<int:asset_id>")
def asset(asset_id):

    a = asset_services.get_asset(current_user, asset_id)
    today = today_local()
    return render_template(
        "registry/asset.html", a=a,
        rights=rights_services.rights_summary(current_user, asset_id, history=True),
        custody=custody_services.custody_view(current_user, asset_id),
        operation=custody_services.operation_view(current_user, asset_id) if a.category == "operating" else None,
        changes=asset_services.list_status_changes(current_user, asset_id),
        book=asset_services.book_value(current_user, asset_id, today), today=today,
        income_years=income_services.income_by_year(a.county_code, asset_id=a.id)[::-1],  # newest first
        entries=income_services.list_entries(current_user, asset_id, per_page=20),
        can_write=may_edit(current_user, "assets", a), can_income=may_edit(current_user, "income", a) and a.category != "household",
        next_statuses=[s for s in TRANSITIONS[a.status] if transition_error(a.category, a.status, s) is None],
    )


# --- asset create / edit -------------------------------------------------------------------------

def _fundings_from(form) -> tuple[list[dict], dict[int, str]]:
    """The funding inputs (one amount per source) → the schema's list, and index → input name."""
    lines, names = [], {}
    for source in FUNDING_SOURCES:
        amount = (form.get(f"funding.{source}") or "").strip()
        if amount:
            names[len(lines)] = f"funding.{source}"
            lines.append({"source": source, "amount": amount.replace(",", "").replace("，", "")})
    return lines, names


def _asset_errors(errors: dict, names: dict[int, str]) -> dict:
    """Put ``fundings.N.amount`` errors next to the input of source N."""
    out: dict = {}
    for key, whys in errors.items():
        parts = key.split(".")
        if parts[0] == "fundings" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) in names:
            key = names[int(parts[1])]
        out.setdefault(key, []).extend(whys)
    return out


def _load_asset_form(schema, form) -> dict:
    raw = {k: v for k, v in form.items() if not k.startswith("funding.")}
    lines, names = _fundings_from(form)
    data = coerce(schema, raw)
    data["fundings"] = lines
    try:
        return load(schema, data)
    except FormInvalid as exc:
        errors = _asset_errors(exc.errors, names)
        if not lines:
            errors["fundings"] = ["请至少填写一项资金来源的金额"]
        raise FormInvalid(errors) from None


def _asset_form(a=None, values=None, errors=None, message=None, status=200):
    return render_template("registry/asset_form.html", a=a, values=values or {}, errors=errors or {},
                           message=message, places=place_options(current_user), subtypes=subtype_groups(),
                           initial_statuses=[s for s in STATUSES if s in INITIAL_STATUSES]), status


@bp.route("/assets/new", methods=["GET", "POST"])
def asset_new():

    require_write(current_user, "assets")  # auditors and village committees get 403 before the form
    if request.method == "GET":
        return _asset_form(values={"status": "under_construction", "managing_level": "village"})
    try:
        data = _load_asset_form(asset_schemas.AssetCreate(), request.form)
        created = commit_or_invalid(lambda: asset_services.create_asset(current_user, data))
    except FormInvalid as exc:
        return _asset_form(values=request.form, errors=_asset_errors(exc.errors, {}), message=exc.message, status=422)
    flash(f"资产“{created.name}”已登记", "success")
    return redirect(url_for("registry.asset", asset_id=created.id))


def _edit_values(a: Asset) -> dict:

    values = {k: getattr(a, k) for k in ("name", "subtype", "place_code", "project_name", "project_year",
                                         "project_approval_no", "useful_life_years", "unit", "note", "version")}
    values.update(completed_on=iso_date(a.completed_on), original_value=f"{a.original_value:.2f}",
                  quantity="" if a.quantity is None else f"{a.quantity.normalize():f}")
    for f in a.fundings:
        values[f"funding.{f.source}"] = f"{f.amount:.2f}"
    return {k: ("" if v is None else v) for k, v in values.items()}


@bp.route("/assets/<int:asset_id>/edit", methods=["GET", "POST"])
def asset_edit(asset_id):
    a = asset_services.get_asset_for_write(current_user, asset_id)
    if request.method == "GET":
        return _asset_form(a, values=_edit_values(a))
    form = request.form.to_dict()
    if a.category == "household":
        form.pop("place_code", None)  # a household asset stands where its household lives
    try:
        data = _load_asset_form(asset_schemas.AssetUpdate(), form)
        commit_or_invalid(lambda: asset_services.update_asset(current_user, asset_id, data))
    except FormInvalid as exc:
        return _asset_form(a, values=form, errors=exc.errors, message=exc.message, status=422)
    flash("资产信息已保存", "success")
    return redirect(url_for("registry.asset", asset_id=asset_id))


# --- status, rights, custody, operation, income ----------------------------------------------------

def _subform(template: str, a, *, values=None, errors=None, message=None, status=200, **extra):
    return render_template(template, a=a, values=values or {}, errors=errors or {}, message=message,
                           today=today_local(), **extra), status


@bp.route("/assets/<int:asset_id>/status", methods=["GET", "POST"])
def asset_status(asset_id):
    a = asset_services.get_asset_for_write(current_user, asset_id)
    options = [s for s in TRANSITIONS[a.status] if transition_error(a.category, a.status, s) is None]
    if request.method == "GET":
        return _subform("registry/status_form.html", a, options=options,
                        values={"version": a.version, "changed_on": today_local().isoformat()})
    try:
        data = load_form(asset_schemas.TransitionCreate(), request.form)
        commit_or_invalid(lambda: asset_services.change_status(current_user, asset_id, **data))
    except FormInvalid as exc:
        return _subform("registry/status_form.html", a, options=options, values=request.form, errors=exc.errors,
                        message=exc.message, status=422)
    flash("状态已变更", "success")
    return redirect(url_for("registry.asset", asset_id=asset_id) + "#status")


def _rights_rows(form) -> tuple[list[dict], list[str]]:
    """One row of inputs per kind (``rights.<kind>.<field>``); rows left blank are not sent."""

    schema = RightCreate()
    shared_on = (form.get("effective_on_all") or "").strip()
    rows, kinds = [], []
    for kind in RIGHT_KINDS:
        raw = {f: form.get(f"rights.{kind}.{f}", "") for f in
               ("holder_kind", "holder_name", "credit_code", "household_id", "basis_document", "effective_on")}
        if not any(v.strip() for k, v in raw.items() if k != "effective_on"):
            continue
        if not raw["effective_on"].strip():
            raw["effective_on"] = shared_on
        row = coerce(schema, raw)
        row["kind"] = kind
        rows.append(row)
        kinds.append(kind)
    return rows, kinds


def _rights_errors(errors: dict, kinds: list[str]) -> dict:
    out: dict = {}
    for key, whys in errors.items():
        parts = key.split(".")
        if parts[0] == "rights" and len(parts) > 2 and parts[1].isdigit() and int(parts[1]) < len(kinds):
            key = f"rights.{kinds[int(parts[1])]}.{'.'.join(parts[2:])}"
        out.setdefault(key, []).extend(whys)
    return out


@bp.route("/assets/<int:asset_id>/rights", methods=["GET", "POST"])
def asset_rights(asset_id):

    a = asset_services.get_asset_for_write(current_user, asset_id)
    summary = rights_services.rights_summary(current_user, asset_id)
    current = {r.kind: r for r in summary["current"]}
    if request.method == "GET":
        return _subform("registry/rights_form.html", a, current=current,
                        values={"effective_on_all": today_local().isoformat()})
    rows, kinds = _rights_rows(request.form)
    try:
        if not rows:
            raise FormInvalid({"rights": ["请至少填写一项权利的持有人"]})
        try:
            data = load(RightBatch(), {"rights": rows})
        except FormInvalid as exc:
            raise FormInvalid(_rights_errors(exc.errors, kinds)) from None
        try:
            commit_or_invalid(lambda: rights_services.record_rights(current_user, asset_id, data["rights"]))
        except FormInvalid as exc:
            raise FormInvalid(_rights_errors(exc.errors, kinds), exc.message) from None
    except FormInvalid as exc:
        return _subform("registry/rights_form.html", a, current=current, values=request.form, errors=exc.errors,
                        message=exc.message, status=422)
    flash(f"已登记{len(rows)}项权利", "success")
    return redirect(url_for("registry.asset", asset_id=asset_id) + "#rights")


def _record_form(kind: str, asset_id: int):

    schema, service, template, done = {
        "custody": (custody_schemas.CustodyCreate(), custody_services.record_custody,
                    "registry/custody_form.html", "管护信息已登记"),
        "operation": (custody_schemas.OperationCreate(), custody_services.record_operation,
                      "registry/operation_form.html", "经营信息已登记"),
    }[kind]
    a = asset_services.get_asset_for_write(current_user, asset_id)
    view = (custody_services.custody_view if kind == "custody" else custody_services.operation_view)(current_user, asset_id)
    if request.method == "GET":
        return _subform(template, a, current=view["current"])
    try:
        data = load_form(schema, request.form)
        commit_or_invalid(lambda: service(current_user, asset_id, data))
    except FormInvalid as exc:
        return _subform(template, a, current=view["current"], values=request.form, errors=exc.errors,
                        message=exc.message, status=422)
    flash(done, "success")
    return redirect(url_for("registry.asset", asset_id=asset_id) + "#" + kind)


@bp.route("/assets/<int:asset_id>/custody", methods=["GET", "POST"])
def asset_custody(asset_id):
    return _record_form("custody", asset_id)


@bp.route("/assets/<int:asset_id>/operation", methods=["GET", "POST"])
def asset_operation(asset_id):
    return _record_form("operation", asset_id)


@bp.route("/assets/<int:asset_id>/income", methods=["GET", "POST"])
def asset_income(asset_id):

    a = asset_services.get_asset(current_user, asset_id, for_update=True)

    require_write(current_user, "income", county_code=a.county_code, town_code=a.town_code,
                  village_code=a.village_code)
    if request.method == "GET":
        today = today_local()
        return _subform("registry/income_form.html", a, values={"period_year": today.year,
                                                                "received_on": today.isoformat()})
    form = request.form.to_dict()
    direction, _, kind = (form.pop("kind", "") or "").partition(":")
    form["direction"], form["kind"] = direction, kind
    try:
        data = load_form(IncomeEntryCreate(), form)
        entry = commit_or_invalid(lambda: income_services.post_entry(current_user, asset_id, data))
    except FormInvalid as exc:
        errors = dict(exc.errors)
        for key in ("direction",):  # one select carries both: show its errors there
            if key in errors:
                errors.setdefault("kind", []).extend(errors.pop(key))
        return _subform("registry/income_form.html", a, values=request.form, errors=errors, message=exc.message,
                        status=422)

    flash(f"已记录{entry.period_year}年{'收入' if entry.direction == 'income' else '扣除'} {money(entry.amount)} 元",
          "success")
    return redirect(url_for("registry.asset", asset_id=asset_id) + "#income")
