"""Checked uploads waiting for their commit (the import page): the dry run keeps the file's bytes under
``<UPLOAD_DIR>/imports/<county>/<user id>/<sha256>``, so the commit and the error workbook use exactly the
file that was checked, named by its hash. The commit re-checks role, scope and every row, all or nothing.
Services never commit: the edge commits a clean import and rolls back the rest."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

from flask import current_app

from ..core.errors import NotFound
from ..core.storage import upload_dir
from . import services

DEFAULT_HOURS = 24  # IMPORT_STAGING_HOURS
_HASH = re.compile(r"[0-9a-f]{64}", re.ASCII)
EXPIRED = "上传的文件已过期或不存在，请重新上传"


def _hours() -> int:
    return int(current_app.config.get("IMPORT_STAGING_HOURS") or DEFAULT_HOURS)


def _folder(user) -> Path:
    if not re.fullmatch(r"\d{6}", str(user.county_code)) or not isinstance(user.id, int):
        raise ValueError("a staged import belongs to a real user of a county")
    return upload_dir(current_app) / "imports" / user.county_code / str(user.id)


def _prune(folder: Path) -> None:
    """Drop this user's staged files older than ``IMPORT_STAGING_HOURS``."""
    limit = time.time() - _hours() * 3600
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime < limit:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def _stage(user, content: bytes, filename: str | None) -> str:
    digest = hashlib.sha256(content).hexdigest()
    folder = _folder(user)
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder)
    for name, data in ((digest, content),
                       (f"{digest}.json", json.dumps({"file_name": (filename or "")[:200]}).encode("utf-8"))):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".staging-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.chmod(tmp, 0o640)
            os.replace(tmp, folder / name)  # whole or not at all: a reader never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest


def _staged(user, digest: str) -> tuple[bytes, str | None]:
    if not isinstance(digest, str) or not _HASH.fullmatch(digest):
        raise NotFound(EXPIRED, {"upload": [EXPIRED]})
    path = _folder(user) / digest
    try:
        if path.stat().st_mtime < time.time() - _hours() * 3600:
            raise NotFound(EXPIRED, {"upload": [EXPIRED]})
        content = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(EXPIRED, {"upload": [EXPIRED]}) from None
    if hashlib.sha256(content).hexdigest() != digest:  # damaged on disk: never import other bytes
        raise NotFound(EXPIRED, {"upload": [EXPIRED]})
    try:
        meta = json.loads((path.parent / f"{digest}.json").read_text(encoding="utf-8"))
        filename = meta.get("file_name") if isinstance(meta, dict) else None
    except (OSError, ValueError):
        filename = None
    return content, filename if isinstance(filename, str) else None


def check_upload(user, kind: str, content: bytes, filename: str | None):
    """The dry run of an uploaded file; a readable file is kept for its commit and its error workbook.
    Returns (report, sheet, upload id). Role, size and type are checked before anything is kept."""
    report, sheet = services.run_import(user, kind, content, filename, dry_run=True)
    return report, sheet, _stage(user, content, filename)


def commit_upload(user, kind: str, digest: str):
    """Import a kept upload: role, scope and every row checked again; all rows or none. Returns the
    report; the caller commits when ``report.committed`` and rolls back otherwise."""
    services.check_importer(user, services.get_kind(kind))
    content, filename = _staged(user, digest)
    report, _sheet = services.run_import(user, kind, content, filename, dry_run=False)
    return report


def report_workbook(user, kind: str, digest: str) -> tuple[bytes, services.Report]:
    """The kept upload checked again, as the workbook with its errors marked."""
    services.check_importer(user, services.get_kind(kind))
    content, filename = _staged(user, digest)
    report, sheet = services.run_import(user, kind, content, filename, dry_run=True)
    return services.report_xlsx(sheet, report), report
