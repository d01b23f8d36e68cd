"""Income pages: a village's year (村级年度收益: income by asset including its parts of shared assets,
deductions, net, the settlement and carry-over, the year's plan) and the settlements list (年度清算) with
the forms to settle a village's or town's year and to publish a settlement. Views are thin: form → the
API's schema → one income service → commit → redirect; refusals come back inline and write nothing."""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core.access import in_scope, level_of, may_write, require_write
from ..core.errors import NotFound
from ..core.time import today_local
from ..distribution.services import carry_over_for, list_plans
from ..extensions import db
from ..income import schemas as income_schemas
from ..income import services as income_services
from ..income.models import Settlement
from ..places.services import list_places
from ..web.filters import money
from ..web.forms import FormInvalid, commit_or_invalid, load_form, load_query
from ..web.ui import place_name

bp = Blueprint("income_pages", __name__, template_folder="templates")

YEAR_MIN, YEAR_MAX = 2000, 2100  # the income schemas' Year range
# The settle form's inputs carry the prefix "settle." (the filter form above it has year and place_code too).
SETTLE = "settle."


def _back(path: str) -> str:
    """``path`` with the current query arguments (the list's filters survive a form post)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if v != "" and k not in ("new_place", "new_year")]
    return path + ("?" + urlencode(args) if args else "")


# --- a village's year ------------------------------------------------------------------------------

@bp.route("/villages/<code>/years/<int:year>")
def village_year(code, year):

    if not YEAR_MIN <= year <= YEAR_MAX or len(code) > 12:
        raise NotFound("未找到该村该年度的收益")
    village = income_services.village_income(current_user, code, year)  # 404 outside the user's scope
    settled = village["settled"]
    plans = {p.year: p for p in list_plans(current_user, village_code=code, year=None, per_page=200)["items"]
             if p.year in (year, year - 1)}
    carry = carry_over_for(village["county_code"], code, year, plans=plans,
                           settled_net=settled["net"] if settled is not None else None)
    return render_template(
        "income/village_year.html", v=village, year=year, settled=settled, plan=plans.get(year), carry=carry,
        available=carry["available"], drift=village["drift"], can_settle=may_write(current_user, "income"),
        shared=[ln for ln in village["lines"] if ln["is_shared"]])


@bp.route("/villages/year")
def village_year_jump():
    """The small "查看村级年度收益" form on the settlements page (a GET form cannot build a path)."""
    code = (request.args.get("village_code") or "").strip()
    year = (request.args.get("for_year") or "").strip()
    if not code or not year.isdigit() or not YEAR_MIN <= int(year) <= YEAR_MAX:
        flash("请选择村并填写年度（2000—2100）", "error")
        return redirect(url_for(".settlements"))
    return redirect(url_for(".village_year", code=code, year=int(year)))


# --- settlements -----------------------------------------------------------------------------------

def _place_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """Towns and villages in the user's scope, grouped by town: what a settlement or a village year is of."""

    places = list_places(current_user)
    groups = []
    for town in (p for p in places if p.level == "town"):
        opts = [(town.code, f"{town.name}（乡镇，含各村）")]
        opts += [(p.code, p.name) for p in places if p.level == "village" and p.town_code == town.code]
        groups.append((town.name, opts))
    if not groups:  # a village user: its own village only
        groups = [("本村", [(p.code, p.name) for p in places if p.level == "village"])]
    return groups


def _settlements_page(*, settle=None, publish=None, status=200):
    """The list; ``settle`` / ``publish`` = (values, errors, message[, settlement id]) of a refused form."""
    # new_place / new_year prefill the settle form (the village year page links here with them).
    query = {k: v for k, v in request.args.items() if k not in ("new_place", "new_year")}
    args, query_errors = load_query(income_schemas.SettlementQuery(), query)
    result = income_services.list_settlements(current_user, **args)
    can_settle = may_write(current_user, "income")
    groups = _place_groups()
    today = today_local()
    settle_values, settle_errors, settle_message = settle or (
        {SETTLE + "place_code": request.args.get("new_place", ""),
         SETTLE + "year": request.args.get("new_year") or today.year - 1, SETTLE + "settled_on": today.isoformat()},
        {}, None)
    publishable = {s.id for s in result["items"] if s.published_on is None and can_settle
                   and in_scope(current_user, s.county_code, s.town_code, s.village_code)}
    return render_template(
        "income/settlements.html", result=result, args=args, query_errors=query_errors, can_settle=can_settle,
        groups=groups, villages=[o for _, opts in groups for o in opts if level_of(o[0]) == "village"],
        settle_values=settle_values, settle_errors=settle_errors, settle_message=settle_message,
        publish=publish, publishable=publishable, today=today, qs=request.query_string.decode("utf-8", "replace"),
    ), status


@bp.route("/settlements")
def settlements():
    return _settlements_page()


@bp.route("/settlements", methods=["POST"])
def settle():
    require_write(current_user, "income")  # auditors and village committees: 403 before the form
    raw = {k[len(SETTLE):]: v for k, v in request.form.items() if k.startswith(SETTLE)}
    try:
        data = load_form(income_schemas.SettlementCreate(), raw)
        s = commit_or_invalid(lambda: income_services.settle_year(current_user, **data))
    except FormInvalid as exc:
        errors = {(SETTLE + k if k != "_form" else k): v for k, v in exc.errors.items()}
        return _settlements_page(settle=(request.form, errors, exc.message), status=422)
    flash(f"{place_name(s.place_code)}{s.year}年度已清算：收入 {money(s.gross)} 元，扣除 {money(s.costs)} 元，"
          f"净收益 {money(s.net)} 元", "success")
    return redirect(_back(url_for(".settlements")))


def _check_publish(settlement_id: int) -> None:
    """404 for a settlement not in the user's county, 403 outside the user's scope or role."""
    row = db.session.execute(sa.select(Settlement.county_code, Settlement.town_code, Settlement.village_code)
                             .where(Settlement.id == settlement_id,
                                    Settlement.county_code == current_user.county_code)).first()
    if row is None:
        raise NotFound("未找到该清算记录")
    require_write(current_user, "income", county_code=row.county_code, town_code=row.town_code,
                  village_code=row.village_code)


@bp.route("/settlements/<int:settlement_id>/publish", methods=["POST"])
def publish(settlement_id):
    _check_publish(settlement_id)
    # Each row has its own form; its input carries the prefix s<id>. (unique ids on the page).
    prefix = f"s{settlement_id}."
    raw = {k[len(prefix):]: v for k, v in request.form.items() if k.startswith(prefix)}
    try:
        data = load_form(income_schemas.SettlementPublication(), raw)
        s = commit_or_invalid(lambda: income_services.publish_settlement(current_user, settlement_id, **data))
    except FormInvalid as exc:
        errors = {(prefix + k if k != "_form" else k): v for k, v in exc.errors.items()}
        return _settlements_page(publish=(request.form, errors, exc.message, settlement_id), status=422)
    flash(f"{place_name(s.place_code)}{s.year}年度清算结果已登记公示", "success")
    return redirect(_back(url_for(".settlements")))
