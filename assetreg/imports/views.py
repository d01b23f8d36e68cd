"""Import pages: the Excel/CSV import with its dry-run report shown before the commit (/imports).
Views are thin: upload → one service → the report; the commit re-validates the staged upload."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core.access import require_write
from ..core.errors import NotFound
from ..extensions import db
from ..imports import schemas as import_schemas
from ..imports import services as import_services
from ..imports import staging
from ..imports.templates import KINDS as IMPORT_KINDS
from ..web.forms import FormInvalid, load, load_form

bp = Blueprint("import_pages", __name__, template_folder="templates")

MAX_SHOWN_ERRORS = 1000  # the page lists this many errors; the error workbook has them all
MAX_SHOWN_ROWS = 500


# --- imports -------------------------------------------------------------------------------------

def _imports_page(values=None, errors=None, message=None, status=200):
    return render_template("transfer/imports.html", values=values or {}, errors=errors or {}, message=message,
                           kinds=IMPORT_KINDS, templates=import_services.describe_templates(),
                           max_mb=import_services.max_upload_bytes() / (1024 * 1024)), status


def _report_page(report, kind: str, upload: str, status=200):
    return render_template("transfer/import_report.html", report=report, kind=IMPORT_KINDS[kind], upload=upload,
                           errors_shown=report.errors[:MAX_SHOWN_ERRORS], rows_shown=report.rows[:MAX_SHOWN_ROWS],
                           max_errors=MAX_SHOWN_ERRORS, max_rows=MAX_SHOWN_ROWS), status


def _file_errors(exc) -> FormInvalid:
    """A refused file (type, size, unreadable, no header) as an error under the file input."""
    errors = FormInvalid.from_domain(exc).errors
    whys = [w for v in errors.values() for w in v] or [exc.message]
    return FormInvalid({"file": [exc.message] + [w for w in whys if w != exc.message]}, exc.message)


@bp.route("/imports", methods=["GET", "POST"])
def imports():
    require_write(current_user, "imports")  # auditors never import: 403 before the form
    if request.method == "GET":
        kind = request.args.get("kind")
        return _imports_page(values={"kind": kind if kind in IMPORT_KINDS else ""})
    try:
        errors: dict[str, list[str]] = {}
        try:
            data = load_form(import_schemas.ImportPageCheck(), request.form)
        except FormInvalid as exc:
            errors.update(exc.errors)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors["file"] = ["请选择要导入的文件"]
        if errors:
            raise FormInvalid(errors)
        content = upload.stream.read(import_services.max_upload_bytes() + 1)
        try:
            report, _sheet, token = staging.check_upload(current_user, data["kind"], content, upload.filename)
        except (import_services.BadUpload, import_services.TooLarge) as exc:
            raise _file_errors(exc) from None
        finally:
            db.session.rollback()  # a dry run writes nothing
    except FormInvalid as exc:
        return _imports_page(values=request.form, errors=exc.errors, message=exc.message, status=422)
    return _report_page(report, data["kind"], token)


@bp.route("/imports/commit", methods=["POST"])
def import_commit():
    try:
        data = load_form(import_schemas.ImportStaged(), request.form)
        report = staging.commit_upload(current_user, data["kind"], data["upload"])
    except FormInvalid as exc:
        db.session.rollback()
        return _imports_page(values=request.form, errors=exc.errors, message=exc.message, status=422)
    except (NotFound, import_services.BadUpload, import_services.TooLarge) as exc:  # kept file gone or refused
        db.session.rollback()
        return _imports_page(values=request.form, errors={"file": [exc.message]}, message=exc.message, status=422)
    if not report.committed:  # rows became wrong since the dry run (e.g. someone registered them): nothing written
        db.session.rollback()
        return _report_page(report, data["kind"], data["upload"], status=422)
    db.session.commit()
    c = report.counts
    flash(f"{report.kind_label}导入完成：共 {c['records']} 条记录，新增 {c['created']} 条，"
          f"未变 {c['unchanged']} 条（已有且内容相同的记录不重复写入）", "success")
    return redirect(url_for("import_pages.imports", kind=data["kind"]))


@bp.route("/imports/report.xlsx")
def import_report_xlsx():
    try:
        data = load(import_schemas.ImportStaged(), request.args.to_dict())
    except FormInvalid:
        raise NotFound("未找到该导入文件") from None
    content, report = staging.report_workbook(current_user, data["kind"], data["upload"])
    db.session.rollback()
    name = quote(f"{report.kind_label}导入检查结果.xlsx")
    return Response(content, mimetype=import_services.XLSX_MIME, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}", "Cache-Control": "no-store"})
