"""/api/v1/imports: the published templates and the upload (dry run or commit, all or nothing)."""

from urllib.parse import quote

from flask import Response
from flask_login import current_user

from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("imports", __name__, "/imports", "资产台账、农户、收益的Excel/CSV导入 (imports)")


def _download(content: bytes, filename: str, mimetype: str, status: int = 200) -> Response:
    return Response(content, status=status, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store",
    })


@blp.route("/templates")
@blp.response(200, schemas.Template(many=True))
def list_templates():
    """The published column maps of every kind (headers, variants, meaning, required, allowed values)."""
    return services.describe_templates()


@blp.route("/templates/<kind>.xlsx")
@blp.response(200, content_type=services.XLSX_MIME)
def template_xlsx(kind):
    """The template as XLSX: the data sheet with the Chinese headers and a 填写说明 sheet."""
    k = services.get_kind(kind)
    return _download(services.template_xlsx(k), f"{k.title}导入模板.xlsx", services.XLSX_MIME)


@blp.route("/templates/<kind>.csv")
@blp.response(200, content_type="text/csv")
def template_csv(kind):
    """The template's header row as CSV (UTF-8 with BOM)."""
    k = services.get_kind(kind)
    return _download(services.template_csv(k), f"{k.title}导入模板.csv", "text/csv; charset=utf-8")


@blp.route("/<kind>", methods=["POST"])
@blp.arguments(schemas.ImportQuery, location="query")
@blp.arguments(schemas.ImportFile, location="files")
@blp.response(200, schemas.ImportReport)
@blp.alt_response(422, schema=schemas.ImportReport, description="commit refused: the report, nothing written")
def run_import(query, upload, kind):
    """Check (``dry_run=true``, the default) or import (``dry_run=false``) an uploaded XLSX/CSV.

    Every error of the file comes back with its Excel row (header = row 1), column, value and reason.
    A commit writes all rows in one transaction or nothing (422 with the same report). Re-importing
    the same file changes nothing: existing identical records count as unchanged. ``format=xlsx``
    returns the uploaded rows instead, bad cells filled red with a comment, and a 错误说明 column."""
    storage = upload["file"]
    content = storage.stream.read(services.max_upload_bytes() + 1)
    report, sheet = services.run_import(current_user, kind, content, storage.filename, dry_run=query["dry_run"])
    if report.committed:
        db.session.commit()
    else:
        db.session.rollback()
    status = 422 if report.error else 200
    if query["format"] == "xlsx":
        return _download(services.report_xlsx(sheet, report), f"{report.kind_label}导入检查结果.xlsx",
                         services.XLSX_MIME, status)
    return report, status
