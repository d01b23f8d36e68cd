"""The flag page (/flags, login required) and its XLSX (/flags/export.xlsx), loading the API's query schema."""

from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user, login_required
from jinja2 import TemplateNotFound

from ..assets.models import CATEGORIES as ASSET_CATEGORIES
from ..core.errors import RuleViolation
from . import schemas, services, xlsx
from .rules import CATEGORIES, RULES, SEVERITIES

bp = Blueprint("flags_pages", __name__, template_folder="templates")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _layout() -> str:
    """The shared layout (web/templates/base.html) when it is in place, else a plain one of our own."""
    env = current_app.jinja_env
    if "nav_items" in env.globals:
        try:
            env.get_template("base.html")
            return "base.html"
        except TemplateNotFound:
            pass
    return "flags/_layout.html"


def _args(schema: ma.Schema) -> dict:
    """Query arguments through the API's schema (a bad value: 422, never 500)."""
    try:
        return schema.load(request.args.to_dict())
    except ma.ValidationError as exc:
        raise RuleViolation("输入有误，请检查标出的字段", exc.messages) from None


@bp.route("/flags")
@login_required
def index():
    args = _args(schemas.FlagQuery())
    page, per_page = args.pop("page"), args.pop("per_page")
    if "per_page" not in request.args:
        per_page = 100
    ctx, flags = services.flags_for(current_user, **args)
    shown = flags[(page - 1) * per_page: page * per_page]
    counts = {s: sum(1 for f in flags if f.severity == s) for s in SEVERITIES}
    return render_template("flags/index.html", layout=_layout(), flags=shown, total=len(flags), page=page,
                           per_page=per_page, pages=max(1, -(-len(flags) // per_page)), counts=counts, ctx=ctx,
                           args=args, rules=RULES, severities=SEVERITIES, categories=CATEGORIES,
                           asset_categories=ASSET_CATEGORIES, names=ctx.names)


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
