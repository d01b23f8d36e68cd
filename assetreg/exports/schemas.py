"""Export requests in, export jobs out."""

import marshmallow as ma
from marshmallow import fields, validate

from ..core.access import PLACE_CODE_MESSAGE, PLACE_CODE_PATTERN
from ..core.fields import Choice, Matches
from .models import JOB_STATUSES
from .services import KINDS


class ExportRequest(ma.Schema):
    # bounded strings (max 12 and 9 characters), their shape checked here, their values in services
    scope = fields.String(required=True, metadata={"example": "431299100"}, validate=[
        validate.Length(max=12), Matches(PLACE_CODE_PATTERN, error=PLACE_CODE_MESSAGE)])
    years = fields.String(required=True, metadata={"example": "2021-2025"}, validate=[
        validate.Length(max=9), Matches(r"^\d{4}(-\d{4})?$", error="应为 2021-2025 或 2023 这样的年度或年度范围")])


class ExportPageRequest(ExportRequest):
    """The export page's form: the API's request, and which file (the workbook or the auditor's pack)."""

    kind = Choice(KINDS, required=True)


class ExportJob(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(KINDS)})
    kind_label = fields.Function(lambda j: KINDS.get(j.kind, j.kind))
    status = fields.String(metadata={"enum": list(JOB_STATUSES)})
    status_label = fields.Function(lambda j: JOB_STATUSES.get(j.status, j.status))
    scope = fields.Function(lambda j: j.params.get("scope"))
    year_from = fields.Function(lambda j: j.params.get("year_from"))
    year_to = fields.Function(lambda j: j.params.get("year_to"))
    personal_data = fields.Function(lambda j: "unmasked" if j.params.get("unmasked") else "masked")
    progress = fields.Integer()
    rows_written = fields.Integer()
    total_rows = fields.Integer(allow_none=True)
    file_sha256 = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    download_url = fields.Function(lambda j: f"/api/v1/exports/{j.id}/download" if j.status == "done" else None)
