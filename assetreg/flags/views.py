"""The flag page (/flags, login required) with an acknowledge form per flag (/flags/acknowledge) and its XLSX
(/flags/export.xlsx), loading the API's schemas."""

from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..assets.models import CATEGORIES as ASSET_CATEGORIES
from ..assets.services import get_asset
from ..core.access import may_write
from ..core.errors import RuleViolation
from ..core.time import today_local
from ..extensions import db
from ..web.forms import FormInvalid, commit_or_invalid, load_form
from ..web.ui import query_with
from . import schemas, services, xlsx
from .policy_clauses import CLAUSES
from .rules import CATEGORIES, RULES, SEVERITIES

bp = Blueprint("flags_pages", __name__, template_folder="templates")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _args(schema: ma.Schema) -> dict:
    """Query arguments through the API's schema (a bad value: 422, never 500)."""
    try:
        return schema.load(request.args.to_dict())
    except ma.ValidationError as exc:
        raise RuleViolation("输入有误，请检查标出的字段", exc.messages) from None


def _query(**changes) -> str:
    """The current query string with some arguments changed (None removes one)."""

    return query_with(**changes)


def _index(*, ack: tuple[str, str] | None = None, ack_errors: dict | None = None, ack_message: str | None = None,
           ack_reason: str = "", status: int = 200):
    args = _args(schemas.FlagQuery())
    page, per_page = args.pop("page"), args.pop("per_page")
    if "per_page" not in request.args:
        per_page = 100
    ctx, flags = services.flags_for(current_user, **args)
    shown = flags[(page - 1) * per_page: page * per_page]
    counts = {s: sum(1 for f in flags if f.severity == s) for s in SEVERITIES}
    return render_template(
        "flags/index.html", flags=shown, total=len(flags), page=page, per_page=per_page,
        pages=max(1, -(-len(flags) // per_page)), counts=counts, ctx=ctx, args=args, rules=RULES,
        severities=SEVERITIES, categories=CATEGORIES, asset_categories=ASSET_CATEGORIES, names=ctx.names,
        # Acknowledgements are of flags firing today (the service checks it); raising a problem needs the role.
        can_acknowledge=ctx.as_of == today_local(), can_raise=may_write(current_user, "problems.raise"),
        query=_query(), page_url=lambda n: url_for("flags_pages.index") + _query(page=n),
        export_url=url_for("flags_pages.export") + _query(page=None, per_page=None),
        ack=ack, ack_errors=ack_errors or {}, ack_message=ack_message, ack_reason=ack_reason), status


@bp.route("/flags")
@login_required
def index():
    return _index()


@bp.route("/flags/acknowledge", methods=["POST"])
@login_required
def acknowledge():
    """Acknowledge one flag with a reason (it stays listed, marked); back to the same list. The query string
    carries the list's filters, so a refused reason re-renders that list with the error at the flag."""

    key = (request.form.get("rule_id", ""), request.form.get("flag_key", ""))
    try:
        data = load_form(schemas.AcknowledgementIn(), request.form)
        commit_or_invalid(lambda: services.acknowledge(current_user, **data))
    except FormInvalid as exc:
        db.session.rollback()
        return _index(ack=key, ack_errors=exc.errors, ack_message=exc.message,
                      ack_reason=request.form.get("reason", "")[:1000], status=422)
    flash(f"已确认预警：{RULES[data['rule_id']].title}（{data['flag_key']}）", "success")
    return redirect(url_for("flags_pages.index") + _query())


@bp.route("/flags/export.xlsx")
@login_required
def export():
    args = _args(schemas.FlagQuery())  # the page's own query (its paging is ignored: the file has every flag)
    args.pop("page"), args.pop("per_page")
    ctx, flags = services.flags_for(current_user, **args)
    title = f"{ctx.place_name(ctx.code)}扶贫项目资产预警清单"
    data = xlsx.build(flags, title=title, as_of=ctx.as_of, names=ctx.names)
    name = quote(f"{title}（{ctx.as_of.isoformat()}）.xlsx")
    return Response(data, mimetype=XLSX_TYPE, headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}",
                                                       "Cache-Control": "no-store"})


# --- the asset page's slot (registry/asset.html includes flags/asset_flags.html) ------------------------

def _clauses() -> dict[str, tuple[str, str]]:

    return {cid: (f"seed {seed}", text) for cid, seed, text, _ in CLAUSES}


@bp.route("/assets/<int:asset_id>/flags")
@login_required
def asset_flags(asset_id):
    """The asset page's flags as an HTML fragment (an asset out of scope: 404)."""

    return render_template("flags/_asset_flags.html", a=get_asset(current_user, asset_id))


@bp.app_template_global()
def flags_of_asset(a) -> dict:
    """The flags firing today for the asset, with each rule's basis clauses and the link to the flag list of
    that rule at the asset's place."""
    ctx, flags = services.flags_of_asset(a)
    place = ({"village_code": a.village_code} if a.village_code else {"town_code": a.town_code} if a.town_code
             else {})
    return {"as_of": ctx.as_of, "flags": flags, "rules": RULES, "severities": SEVERITIES, "clauses": _clauses(),
            "list_url": lambda rule_id: url_for("flags_pages.index", rule=rule_id, **place)}
