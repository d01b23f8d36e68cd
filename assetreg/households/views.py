"""Household pages (农户): the list, the household page, and the create and edit forms with their member
rows. Personal numbers (ID, bank card, phone) are shown masked to everyone but auditors, the edit form
included: it shows the masked value and keeps the stored one when the input is left blank."""

from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..assets import services as asset_services
from ..assets.models import Asset
from ..core.access import level_of, may_edit, may_write, require_write
from ..core.validators import mask_card_number, mask_id_number, mask_mobile
from ..extensions import db
from ..households import schemas as hh_schemas
from ..households import services as hh_services
from ..households.schemas import MAX_MEMBERS
from ..places.services import place_options
from ..web.filters import iso_date
from ..web.forms import FormInvalid, coerce, commit_or_invalid, load, load_query
from ..web.ui import place_name

bp = Blueprint("household_pages", __name__, template_folder="templates")

TOP_FIELDS = ("village_code", "number", "head_name", "head_id_number", "phone", "status", "monitor_type",
              "is_risk_cleared", "risk_cleared_on", "bank_card")
MEMBER_FIELDS = ("name", "relation", "id_number", "labour")
# Personal numbers an edit form never pre-fills for a user who may not read them in full.
SECRETS = {"head_id_number": mask_id_number, "phone": mask_mobile, "bank_card": mask_card_number}
CLEARABLE = ("phone", "bank_card")  # optional secrets: a checkbox clears them, since blank means "keep"
_ROW_KEY = re.compile(r"members\.(\d{1,3})\.(name|relation|id_number|labour|id|remove)", re.ASCII)
MAX_ROWS = MAX_MEMBERS + 10  # rows a (forged) form may carry; more are ignored
NEW_ROWS = 4  # blank member rows on a new form
EXTRA_ROWS = 2  # blank rows after the members on an edit form, and per "增加成员行"
RELATIONS = ("户主", "配偶", "子女", "儿媳", "女婿", "孙子女", "父母", "祖父母", "兄弟姐妹", "其他")


# --- list and page -------------------------------------------------------------------------------

@bp.route("/households")
def households():
    args, query_errors = load_query(hh_schemas.HouseholdQuery(), request.args)
    result = hh_services.list_households(current_user, **args)
    # Dumped through the API's output schema: personal numbers come out masked unless the role may see them.
    rows = hh_schemas.Household(many=True).dump(result["items"])
    return render_template("households/list.html", result=result, rows=rows, args=args,
                           query_errors=query_errors, places=place_options(current_user),
                           can_create=may_write(current_user, "households"))


@bp.route("/households/<int:household_id>")
def household(household_id):
    h = hh_services.get_household(current_user, household_id)
    assets_of = list(db.session.scalars(
        asset_services.visible_assets(current_user).where(Asset.household_id == h.id).order_by(Asset.code)
        .limit(200)))
    return render_template("households/page.html", h=hh_schemas.Household().dump(h), assets=assets_of,
                           cleared_on=h.risk_cleared_on, can_edit=may_edit(current_user, "households", h))


# --- forms: helpers ------------------------------------------------------------------------------

def village_options(user, keep: str | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """Live villages in the user's scope grouped by town; ``keep`` (the household's own village) stays
    selectable even when it no longer is one of them."""
    groups = [(label, [(c, n) for c, n in opts if level_of(c) == "village"]) for label, opts in place_options(user)]
    groups = [(label, opts) for label, opts in groups if opts]
    if keep and not any(c == keep for _, opts in groups for c, _ in opts):

        groups.append(("当前所在村", [(keep, place_name(keep))]))
    return groups


def _row_indices(form) -> list[int]:
    """The member rows a posted form carries (``members.<i>.<field>``), in order, at most MAX_ROWS."""
    found = {int(m.group(1)) for key in form if (m := _ROW_KEY.fullmatch(key))}
    return sorted(found)[:MAX_ROWS]


def _member_rows(form, kept: dict[int, object] | None) -> tuple[list[dict], list[int]]:
    """Member rows → the schema's list (blank new rows and rows marked 删除 left out), and the form row
    index of each item sent. ``kept``: the household's members by id, whose stored ID number a blank
    input keeps (None on a new household)."""
    sent, where = [], []
    schema = hh_schemas.HouseholdMemberIn()
    for i in _row_indices(form):
        if form.get(f"members.{i}.remove"):
            continue
        raw = {f: (form.get(f"members.{i}.{f}") or "").strip() for f in MEMBER_FIELDS}
        mid = str(form.get(f"members.{i}.id") or "").strip()
        member = kept.get(int(mid)) if kept is not None and mid.isdigit() and len(mid) < 12 else None
        if member is None and not any(raw.values()):
            continue
        if member is not None and not raw["id_number"]:
            raw["id_number"] = member.id_number or ""
        sent.append(coerce(schema, raw))
        where.append(i)
    return sent, where


def _place_errors(errors: dict, where: list[int], sent: list[dict] | None = None) -> dict:
    """Errors of item k of the sent members → the inputs of form row ``where[k]``; with ``sent`` (schema
    errors), an input left blank says so plainly."""
    out: dict = {}
    for key, whys in errors.items():
        parts = key.split(".")
        if parts[0] == "members" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(where):
            k = int(parts[1])
            field = parts[2] if len(parts) > 2 else None
            if sent is not None and field in MEMBER_FIELDS and sent[k].get(field) in ("", None):
                whys = ["请选择" if field == "labour" else "不能为空"]
            key = ".".join(["members", str(where[k]), *parts[2:]])
        out.setdefault(key, []).extend(whys)
    return out


def _load(schema, form, *, current=None) -> tuple[dict, list[int]]:
    """The posted form → the schema's input. With ``current`` (an edited household, for a user who may
    not read its personal numbers in full), blank ID, phone and card inputs keep the stored values."""
    raw = {k: form.get(k, "") for k in TOP_FIELDS if k != "is_risk_cleared"}
    if current is not None:
        for key in SECRETS:
            if not raw[key].strip() and not (key in CLEARABLE and form.get(f"clear_{key}")):
                raw[key] = getattr(current, key) or ""
    # An unticked checkbox is not posted at all; it means "no", not "unchanged".
    raw["is_risk_cleared"] = "y" if form.get("is_risk_cleared") else ""
    if "version" in schema.fields:
        raw["version"] = form.get("version", "")
    data = coerce(schema, raw)
    kept = {m.id: m for m in current.members} if current is not None else None
    sent, where = _member_rows(form, kept)
    data["members"] = sent
    if "version" in schema.fields and not isinstance(data.get("version"), int):
        raise FormInvalid({"version": ["缺少有效的版本号，请刷新页面后重试"]})
    try:
        return load(schema, data), where
    except FormInvalid as exc:
        errors = _place_errors(exc.errors, where, sent)
        if not sent:
            errors["members"] = ["请至少填写一名家庭成员（户主本人）"]
        if "village_code" in errors and not data.get("village_code"):
            errors["village_code"] = ["请选择"]  # a select, though the schema field is text
        raise FormInvalid(errors) from None


def _save(fn, where: list[int]):
    """One service call and one commit (``commit_or_invalid``); a refusal's field errors are named by the
    member rows the page shows, with 409 for a stale version and 422 for anything else."""
    try:
        return commit_or_invalid(fn)
    except FormInvalid as invalid:
        invalid.errors = _place_errors(invalid.errors, where)
        raise


def _rows(indices: list[int], form, members_by_id: dict, extra: int) -> list[dict]:
    """Rows for the template: each with its index, the member it edits and that member's masked ID."""
    rows = []
    for i in indices:
        mid = str(form.get(f"members.{i}.id") or "").strip()
        member = members_by_id.get(int(mid)) if mid.isdigit() and len(mid) < 12 else None
        rows.append({"i": i, "member_id": member.id if member else None,
                     "current_id": (mask_id_number(member.id_number) or "") if member else None})
    start = (max(indices) + 1) if indices else 0
    rows += [{"i": i, "member_id": None, "current_id": None} for i in range(start, start + extra)]
    return rows


def _form(h=None, *, values, rows, errors=None, message=None, status=200):
    reveal = hh_services.sees_personal_data(current_user)
    current = {}
    if h is not None and not reveal:
        current = {key: mask(getattr(h, key)) or "" for key, mask in SECRETS.items()}
    return render_template("households/form.html", h=h, values=values, rows=rows, errors=errors or {},
                           message=message, current=current, reveal=reveal, relations=RELATIONS,
                           villages=village_options(current_user, h.village_code if h else None)), status


def _rerender(h, form, *, errors=None, message=None, status=422, extra=0):
    """The form again with what was typed (never the stored numbers the user may not read)."""
    members_by_id = {m.id: m for m in h.members} if h is not None else {}
    return _form(h, values=form, rows=_rows(_row_indices(form), form, members_by_id, extra), errors=errors,
                 message=message, status=status)


# --- create --------------------------------------------------------------------------------------

@bp.route("/households/new", methods=["GET", "POST"])
def household_new():
    require_write(current_user, "households")  # auditors get 403 before the form
    if request.method == "GET":
        values = {"members.0.relation": "户主"}
        if current_user.scope_level == "village":
            values["village_code"] = current_user.scope_code
        return _form(values=values, rows=_rows([], {}, {}, NEW_ROWS))
    form = request.form
    if form.get("add_rows"):
        return _rerender(None, form, status=200, extra=EXTRA_ROWS)
    try:
        data, where = _load(hh_schemas.HouseholdCreate(), form)
        created = _save(lambda: hh_services.create_household(current_user, data), where)
    except FormInvalid as exc:
        return _rerender(None, form, errors=exc.errors, message=exc.message, status=exc.status)
    flash(f"农户“{created.head_name}”（{created.number}）已登记", "success")
    return redirect(url_for("household_pages.household", household_id=created.id))


# --- edit ----------------------------------------------------------------------------------------

def _household_for_write(household_id: int):
    """The household, if the user may change it: another scope's is 403, another county's 404."""
    require_write(current_user, "households")
    h = hh_services.get_household(current_user, household_id, for_update=True)
    require_write(current_user, "households", county_code=h.county_code, town_code=h.town_code,
                  village_code=h.village_code)
    return h


def _edit_values(h, reveal: bool) -> dict:

    values = {k: getattr(h, k) for k in TOP_FIELDS}
    values.update(version=h.version, risk_cleared_on=iso_date(h.risk_cleared_on) if h.risk_cleared_on else "")
    if not reveal:
        values.update({k: "" for k in SECRETS})
    for i, m in enumerate(h.members):
        values.update({f"members.{i}.id": m.id, f"members.{i}.name": m.name, f"members.{i}.relation": m.relation,
                       f"members.{i}.labour": m.labour,
                       f"members.{i}.id_number": (m.id_number or "") if reveal else ""})
    return {k: ("" if v is None else v) for k, v in values.items()}


@bp.route("/households/<int:household_id>/edit", methods=["GET", "POST"])
def household_edit(household_id):
    h = _household_for_write(household_id)
    reveal = hh_services.sees_personal_data(current_user)
    if request.method == "GET":
        values = _edit_values(h, reveal)
        members_by_id = {m.id: m for m in h.members}
        return _form(h, values=values, rows=_rows(list(range(len(h.members))), values, members_by_id, EXTRA_ROWS))
    form = request.form
    if form.get("add_rows"):
        return _rerender(h, form, status=200, extra=EXTRA_ROWS)
    try:
        data, where = _load(hh_schemas.HouseholdUpdate(), form, current=None if reveal else h)
        before = h.version
        saved = _save(lambda: hh_services.update_household(current_user, household_id, data), where)
    except FormInvalid as exc:
        return _rerender(h, form, errors=exc.errors, message=exc.message, status=exc.status)
    flash("农户信息已保存" if saved.version != before else "农户信息未作修改", "success")
    return redirect(url_for("household_pages.household", household_id=household_id))
