"""/api/v1/exports: request the auditor's ledger or pack (202, a job), follow the job, download the file."""

from flask import send_file
from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import jobs, schemas, services

blp = api_blueprint("exports", __name__, "/exports", "审计台账导出 (auditor's ledger export)")


@blp.route("/ledger", methods=["POST"])
@blp.arguments(schemas.ExportRequest)
@blp.response(202, schemas.ExportJob)
def request_ledger(data):
    job = jobs.request_export(current_user, kind="ledger", **data)
    db.session.commit()
    return job, 202, {"Location": f"/api/v1/exports/{job.id}"}


@blp.route("/pack", methods=["POST"])
@blp.arguments(schemas.ExportRequest)
@blp.response(202, schemas.ExportJob)
def request_pack(data):
    job = jobs.request_export(current_user, kind="pack", **data)
    db.session.commit()
    return job, 202, {"Location": f"/api/v1/exports/{job.id}"}


@blp.route("/<int:job_id>")
@blp.response(200, schemas.ExportJob)
def get_job(job_id):
    job = services.get_job(current_user, job_id)
    db.session.commit()  # a job whose worker died was just marked failed
    return job


@blp.route("/<int:job_id>/download")
@blp.doc(responses={"200": {"description": "the workbook (xlsx) or the pack (zip)"}})
def download(job_id):
    path, name, mimetype, job = services.job_file(current_user, job_id)
    db.session.commit()
    resp = send_file(path, mimetype=mimetype, as_attachment=True, download_name=name, max_age=0,
                     etag=job.file_sha256)
    resp.headers["Cache-Control"] = "no-store"  # may hold personal data
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
