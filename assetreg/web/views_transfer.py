"""Pages that move data out and in: the auditor's ledger export as a background job with its progress
(/exports, /exports/<id>), and the Excel/CSV import with its dry-run report shown before the commit
(/imports). Views are thin: form → the area's schema → one service → commit → redirect; refusals come
back as inline errors and write nothing."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from ..core.access import require_write, sees_unmasked
from ..core.errors import NotFound
from ..core.time import today_local
from ..exports import schemas as export_schemas
from ..exports import services as export_services
from ..exports.models import JOB_STATUSES
from ..extensions import db
from ..imports import schemas as import_schemas
from ..imports import services as import_services
from ..imports import staging
from ..imports.templates import KINDS as IMPORT_KINDS
from .forms import FormInvalid, load, load_form
from .views_registry import commit_or_invalid, place_options

bp = Blueprint("transfer_pages", __name__)

MAX_SHOWN_ERRORS = 1000  # the page lists this many errors; the error workbook has them all
MAX_SHOWN_ROWS = 500
POLL_SECONDS = 2  # the job page asks for its status this often (JS) or reloads (no JS) a little slower


# --- exports -------------------------------------------------------------------------------------

def _exports_page(values=None, errors=None, message=None, status=200):
    jobs = export_services.list_jobs(current_user)
    year = today_local().year
    html = render_template("transfer/exports.html", jobs=jobs, values=values or {"scope": current_user.scope_code,
                           "years": f"{year - 4}-{year}", "kind": "ledger"},
                           errors=errors or {}, message=message, places=place_options(current_user),
                           kinds=export_services.KINDS, statuses=JOB_STATUSES,
                           unmasked=sees_unmasked(current_user))
    db.session.commit()  # jobs whose worker died were just marked failed by the listing
    return html, status


@bp.route("/exports", methods=["GET", "POST"])
def exports():
    if request.method == "GET":
        return _exports_page()
    try:
        data = load_form(export_schemas.ExportPageRequest(), request.form)
        try:
            job = commit_or_invalid(lambda: export_services.request_export(current_user, **data))
        except NotFound as exc:  # a place outside the user's scope: said on the form, nothing written
            db.session.rollback()
            raise FormInvalid({"scope": [exc.message]}, exc.message) from None
    except FormInvalid as exc:
        return _exports_page(values=request.form, errors=exc.errors, message=exc.message, status=422)
    flash(f"已提交导出任务（{export_services.KINDS[job.kind]}），完成后可在本页下载", "success")
    return redirect(url_for("transfer_pages.export_job", job_id=job.id))


def _job_status(job) -> dict:
    out = export_schemas.ExportJob().dump(job)
    out["finished"] = job.status in ("done", "failed")
    out["download_url"] = url_for("transfer_pages.export_download", job_id=job.id) if job.status == "done" else None
    return out


@bp.route("/exports/<int:job_id>")
def export_job(job_id):
    from ..users.models import User

    job = export_services.get_job(current_user, job_id)
    owner = db.session.get(User, job.user_id)
    return render_template("transfer/export_job.html", job=job, owner=owner, status=_job_status(job),
                           running=job.status in ("queued", "running"), kinds=export_services.KINDS,
                           statuses=JOB_STATUSES, poll_seconds=POLL_SECONDS,
                           file_name=export_services.download_name(job))


@bp.route("/exports/<int:job_id>/status.json")
def export_status(job_id):
    resp = jsonify(_job_status(export_services.get_job(current_user, job_id)))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/exports/<int:job_id>/download")
def export_download(job_id):
    path, name, mimetype, job = export_services.job_file(current_user, job_id)
    resp = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name, max_age=0,
                     etag=job.file_sha256)
    resp.headers["Cache-Control"] = "no-store"  # may hold personal data
    return resp


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
    return redirect(url_for("transfer_pages.imports", kind=data["kind"]))


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
