"""/api/v1/files, /api/v1/regulations, /api/v1/archive/…, /api/v1/lists/<kind>"""

from __future__ import annotations

import functools

from flask import current_app, request, send_file
from flask_login import current_user

from ..core import storage
from ..core.errors import NotFound
from ..extensions import db
from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("lists", __name__, "", "制度、档案与四张清单 (regulations, archive, lists)")

_MULTIPART_SLACK = 1024 * 1024  # room for the multipart envelope around a file at the limit


def _upload_limit(view):
    """Uploads may be larger than the app-wide body limit: raise it for this request only, so a body
    over ``UPLOAD_MAX_BYTES`` is refused (413) before it is read, and the service counts the rest."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request.max_content_length = storage.max_bytes(current_app) + _MULTIPART_SLACK
        return view(*args, **kwargs)

    return wrapper


# --- files --------------------------------------------------------------------------------------

@blp.route("/files", methods=["POST"])
@_upload_limit
@blp.arguments(schemas.UploadIn, location="files")
@blp.response(201, schemas.StoredFile)
def upload_file(files):
    upload = files["file"]
    row = services.upload_file(current_user, current_app, upload.stream, upload.filename)
    db.session.commit()
    return row


@blp.route("/files/<int:file_id>")
@blp.doc(responses={"200": {"description": "the file, with its stored content type"}})
def download_file(file_id):
    row = services.get_file(current_user, file_id)
    try:
        path = storage.absolute_path(current_app, row.storage_path)
    except ValueError:
        raise NotFound("未找到该文件") from None
    if not path.is_file():
        raise NotFound("文件已不在存储中", code="file_missing")
    resp = send_file(path, mimetype=row.content_type, as_attachment=True,
                     download_name=row.original_name or f"file-{row.id}", max_age=0, etag=row.sha256)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "sandbox"
    return resp


# --- regulations --------------------------------------------------------------------------------

@blp.route("/regulations")
@blp.arguments(schemas.RegulationQuery, location="query")
@blp.response(200, schemas.RegulationPage)
def list_regulations(args):
    return services.list_regulations(current_user, **args)


@blp.route("/regulations", methods=["POST"])
@blp.arguments(schemas.RegulationCreate)
@blp.response(201, schemas.Regulation)
def create_regulation(data):
    reg = services.create_regulation(current_user, data)
    db.session.commit()
    return reg


@blp.route("/regulations/<int:regulation_id>")
@blp.response(200, schemas.Regulation)
def get_regulation(regulation_id):
    return services.get_regulation(current_user, regulation_id)


@blp.route("/regulations/<int:regulation_id>/repeal", methods=["POST"])
@blp.arguments(schemas.RegulationRepeal)
@blp.response(200, schemas.Regulation)
def repeal_regulation(data, regulation_id):
    reg = services.repeal_regulation(current_user, regulation_id, **data)
    db.session.commit()
    return reg


# --- archive ------------------------------------------------------------------------------------

@blp.route("/archive/documents")
@blp.arguments(schemas.DocumentQuery, location="query")
@blp.response(200, schemas.DocumentPage)
def list_documents(args):
    return services.list_documents(current_user, **args)


@blp.route("/archive/documents", methods=["POST"])
@blp.arguments(schemas.DocumentCreate)
@blp.response(201, schemas.Document)
def create_document(data):
    doc = services.create_document(current_user, data)
    db.session.commit()
    return doc


@blp.route("/archive/documents/<int:document_id>")
@blp.response(200, schemas.Document)
def get_document(document_id):
    return services.get_document(current_user, document_id)


@blp.route("/archive/required")
@blp.response(200, schemas.RequiredList)
def list_required():
    return {"items": services.list_required(current_user)}


@blp.route("/archive/required", methods=["PUT"])
@blp.arguments(schemas.RequiredSet)
@blp.response(200, schemas.RequiredList)
def set_required(data):
    items = services.set_required(current_user, data["items"])
    db.session.commit()
    return {"items": items}


# --- the four lists -----------------------------------------------------------------------------

@blp.route("/lists/assets")
@blp.arguments(schemas.ListQuery, location="query")
@blp.response(200, schemas.AssetList)
def asset_list(args):
    return services.asset_list(current_user, **args)


@blp.route("/lists/responsibility")
@blp.arguments(schemas.ListQuery, location="query")
@blp.response(200, schemas.ResponsibilityList)
def responsibility_list(args):
    return services.responsibility_list(current_user, **args)


@blp.route("/lists/regulations")
@blp.arguments(schemas.ListQuery, location="query")
@blp.response(200, schemas.RegulationList)
def regulation_list(args):
    return services.regulation_list(current_user, **args)


@blp.route("/lists/archive")
@blp.arguments(schemas.ListQuery, location="query")
@blp.response(200, schemas.ArchiveList)
def archive_list(args):
    return services.archive_list(current_user, **args)
