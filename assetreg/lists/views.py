"""Pages of the four lists (/lists, /lists/<kind>) and the combined workbook (/lists/export.xlsx)."""

from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Blueprint, Response, render_template, request
from flask_login import current_user, login_required

from ..core.errors import RuleViolation
from ..core.time import today_local
from . import schemas, services, xlsx

bp = Blueprint("lists_pages", __name__, template_folder="templates")

_KINDS = "any(assets, responsibility, regulations, archive)"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _args(schema: ma.Schema) -> dict:
    """Query arguments through the same schema as the API (one bad value: 422, never 500)."""
    try:
        return schema.load(request.args.to_dict())
    except ma.ValidationError as exc:
        raise RuleViolation("输入有误，请检查标出的字段", exc.messages) from None


def _render(template: str, **context) -> str:
    return render_template(template, kinds=services.LIST_KINDS, fmt_money=_money,
                           fmt_date=xlsx.cn_date, scope_choices=_scope_choices(), **context)


def _scope_choices() -> list[tuple[str, str]]:
    """The places the user may list, county first, each town followed by its villages (one query)."""
    from ..places.services import list_places

    places = [p for p in list_places(current_user) if p.level in ("county", "town", "village")]
    towns = sorted((p for p in places if p.level == "town"), key=lambda p: p.code)
    out = [(p.code, f"{p.name}（全县）") for p in places if p.level == "county"]
    for town in towns:
        out.append((town.code, f"{town.name}（全乡镇）"))
        out += [(p.code, f"　{p.name}") for p in sorted(places, key=lambda p: p.code)
                if p.level == "village" and p.town_code == town.code]
    if not towns:  # a village user: their village only
        out += [(p.code, p.name) for p in places if p.level == "village"]
    return out


def _money(value) -> str:
    return "" if value is None else f"{value:,.2f}"


@bp.route("/lists")
@login_required
def index():
    args = _args(schemas.ExportQuery())
    scope = services.resolve_scope(current_user, args.get("scope"))
    return _render("lists/index.html", kind=None, scope=services.scope_out(scope),
                   as_of=args.get("as_of") or today_local())


@bp.route(f"/lists/<{_KINDS}:kind>")
@login_required
def show(kind):
    args = _args(schemas.ListQuery())
    if "per_page" not in request.args:
        args["per_page"] = 100
    data = services.build_list(current_user, kind, **args)
    return _render(f"lists/{kind}.html", kind=kind, data=data, scope=data["scope"], as_of=data["as_of"])


@bp.route("/lists/export.xlsx")
@login_required
def export():
    args = _args(schemas.ExportQuery())
    scope, data = xlsx.build_workbook(current_user, **args)
    name = quote(xlsx.filename(scope, args.get("as_of") or today_local()))
    return Response(data, mimetype=XLSX_TYPE,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}",
                             "Cache-Control": "no-store"})
