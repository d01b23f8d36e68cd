"""Pages of the four lists (/lists, /lists/<kind>) and the combined workbook (/lists/export.xlsx); the asset
page's archive slot (documents_of_asset) and its upload form (/assets/<id>/documents)."""

from __future__ import annotations

from urllib.parse import quote

import marshmallow as ma
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..assets.services import get_asset
from ..core import storage
from ..core.access import LEVEL_RANK, Scope, level_of, may_write_here, require_write
from ..core.errors import RuleViolation
from ..core.time import today_local
from ..extensions import db
from ..places.services import list_places
from ..web.forms import FormInvalid, commit_or_invalid, load_form
from . import rules, schemas, services, xlsx
from .models import DOCUMENT_KINDS, LEVELS

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


# --- the asset page's archive slot (registry/asset.html includes lists/asset_documents.html) -------------

_DOCUMENT_FIELDS = ("kind", "archive_no", "title", "level", "filed_on")


def _may_file(a) -> bool:
    return may_write_here(current_user, "lists", a.county_code, a.town_code, a.village_code)


def _levels_for(a) -> dict[str, str]:
    """The archives a document of the asset may go to: its place's level or above (the county keeps copies
    of a village's files), and none above the user's own level (as the service checks)."""
    place_level = level_of(a.place_code)
    own = LEVEL_RANK[Scope.of(current_user).level]
    return {lv: label for lv, label in LEVELS.items()
            if rules.level_allowed(lv, place_level) and LEVEL_RANK[lv] >= own}


def _upload_limit_bytes() -> int:
    """What a page upload may weigh: the store's limit, and the request body limit the CSRF check reads under."""
    body = current_app.config.get("MAX_CONTENT_LENGTH")
    return min(storage.max_bytes(current_app), body) if body else storage.max_bytes(current_app)


def size_label(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} 字节"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _document_defaults(a, missing: list[str]) -> dict:
    levels = list(_levels_for(a))
    return {"kind": missing[0] if missing else "", "level": levels[-1] if levels else "",
            "filed_on": today_local().isoformat()}


def _upload_context(a) -> dict:
    return {"kinds": DOCUMENT_KINDS, "levels": _levels_for(a), "limit_label": size_label(_upload_limit_bytes()),
            "accept": ",".join(sorted(storage.EXTENSIONS))}


@bp.app_template_global()
def documents_of_asset(a) -> dict:
    """The asset's documents and missing required kinds, and the upload form when the user may file: two
    queries whatever the number of documents."""
    data = services.asset_archive(current_user, a)
    data["can_upload"] = _may_file(a)
    data["size_label"] = size_label
    if data["can_upload"]:
        data.update(_upload_context(a), values=_document_defaults(a, data["missing"]))
    return data


def _document_form(a, *, values: dict, errors: dict | None = None, message: str | None = None, status: int = 200):
    return render_template("lists/asset_document_form.html", a=a, values=values, errors=errors or {},
                           message=message, **_upload_context(a)), status


def _load_document(a, raw: dict, upload) -> dict:
    """The form through the API's DocumentCreate (the asset fixed by the URL), and a file required: every
    field's error at once."""

    errors: dict = {}
    data = None
    try:
        data = load_form(schemas.DocumentCreate(), {**raw, "asset_id": str(a.id)})
    except FormInvalid as exc:
        errors = dict(exc.errors)
    if upload is None or not upload.filename:
        errors["file"] = ["请选择要上传的文件"]
    if errors:
        raise FormInvalid(errors)
    return data


@bp.route("/assets/<int:asset_id>/documents", methods=["GET", "POST"])
@login_required
def asset_document(asset_id):
    """File a document with its file in the asset's archive. A refusal (bad field, forged type, too large)
    re-renders the form with the errors inline (422) and writes nothing; out of scope: 404 to read, 403 to
    write."""

    a = get_asset(current_user, asset_id, for_update=request.method == "POST")
    require_write(current_user, "lists", county_code=a.county_code, town_code=a.town_code,
                  village_code=a.village_code)
    if request.method == "GET":
        return _document_form(a, values=_document_defaults(a, services.asset_archive(current_user, a)["missing"]))
    raw = {k: request.form.get(k, "") for k in _DOCUMENT_FIELDS}
    upload = request.files.get("file")
    try:
        data = _load_document(a, raw, upload)
        try:
            doc = commit_or_invalid(lambda: services.file_document_with_upload(
                current_user, current_app, data, stream=upload.stream, filename=upload.filename))
        except storage.TooLarge as exc:
            db.session.rollback()
            raise FormInvalid.from_domain(exc) from None
    except FormInvalid as exc:
        return _document_form(a, values=raw, errors=exc.errors, message=exc.message, status=422)
    flash(f"已归档“{doc.title}”（{DOCUMENT_KINDS[doc.kind]}，档案号 {doc.archive_no}）", "success")
    return redirect(url_for("registry.asset", asset_id=a.id) + "#documents")
