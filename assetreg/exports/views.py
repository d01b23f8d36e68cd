"""Export pages: the auditor's ledger export and pack as a background job with its progress (/exports,
/exports/<id>) and the download. Views are thin: form → the area's schema → one service → commit."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from ..core.access import sees_unmasked
from ..core.errors import NotFound
from ..core.time import today_local
from ..exports import jobs
from ..exports import schemas as export_schemas
from ..exports import services as export_services
from ..exports.models import JOB_STATUSES
from ..extensions import db
from ..places.services import place_options
from ..users.models import User
from ..web.forms import FormInvalid, commit_or_invalid, load_form

bp = Blueprint("export_pages", __name__, template_folder="templates")

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
            job = commit_or_invalid(lambda: jobs.request_export(current_user, **data))
        except NotFound as exc:  # a place outside the user's scope: said on the form, nothing written
            db.session.rollback()
            raise FormInvalid({"scope": [exc.message]}, exc.message) from None
    except FormInvalid as exc:
        return _exports_page(values=request.form, errors=exc.errors, message=exc.message, status=422)
    flash(f"已提交导出任务（{export_services.KINDS[job.kind]}），完成后可在本页下载", "success")
    return redirect(url_for("export_pages.export_job", job_id=job.id))


def _job_status(job) -> dict:
    out = export_schemas.ExportJob().dump(job)
    out["finished"] = job.status in ("done", "failed")
    out["download_url"] = url_for("export_pages.export_download", job_id=job.id) if job.status == "done" else None
    return out


@bp.route("/exports/<int:job_id>")
def export_job(job_id):

    job = export_services.get_job(current_user, job_id)
    db.session.commit()  # a job whose worker died was just marked failed
    owner = db.session.get(User, job.user_id)
    return render_template("transfer/export_job.html", job=job, owner=owner, status=_job_status(job),
                           running=job.status in ("queued", "running"), kinds=export_services.KINDS,
                           statuses=JOB_STATUSES, poll_seconds=POLL_SECONDS,
                           file_name=export_services.download_name(job))


@bp.route("/exports/<int:job_id>/status.json")
def export_status(job_id):
    job = export_services.get_job(current_user, job_id)
    db.session.commit()  # a job whose worker died was just marked failed
    resp = jsonify(_job_status(job))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/exports/<int:job_id>/download")
def export_download(job_id):
    path, name, mimetype, job = export_services.job_file(current_user, job_id)
    db.session.commit()
    resp = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name, max_age=0,
                     etag=job.file_sha256)
    resp.headers["Cache-Control"] = "no-store"  # may hold personal data
    return resp
