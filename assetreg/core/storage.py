"""Uploaded files on disk: streamed, size-limited, typed by their magic bytes, stored by SHA-256.

A file lives at ``<UPLOAD_DIR>/<county>/<sha256[:2]>/<sha256>``; the uploaded name is kept for display
only and never reaches the path. Nothing is written under the final path until every check passed.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..core.errors import DomainError, RuleViolation

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_CHUNK = 64 * 1024

# What we accept, by what the bytes say (never the name or the client's content type).
TYPES = {
    "pdf": ("application/pdf", ".pdf"),
    "png": ("image/png", ".png"),
    "jpeg": ("image/jpeg", ".jpg"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    "doc": ("application/msword", ".doc"),
    "xls": ("application/vnd.ms-excel", ".xls"),
}
EXTENSIONS = {ext for _, ext in TYPES.values()} | {".jpeg"}
_OOXML_MAIN = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_STREAMS = {"doc": ("WordDocument",), "xls": ("Workbook", "Book")}
_CONTENT_TYPES_MAX = 1024 * 1024  # a [Content_Types].xml is a few kB; more is a zip bomb or junk
_ALLOWED_LABEL = "PDF、PNG、JPEG、DOCX、XLSX、DOC、XLS"


class TooLarge(DomainError):
    """The upload is over the configured size limit (HTTP 413)."""

    status = 413
    code = "too_large"


def upload_dir(app) -> Path:
    return Path(app.config.get("UPLOAD_DIR") or Path(app.instance_path) / "uploads")


def max_bytes(app) -> int:
    return int(app.config.get("UPLOAD_MAX_BYTES") or DEFAULT_MAX_BYTES)


def relative_path(county_code: str, sha256: str) -> str:
    """The path under the upload dir, from the county and the hash only."""
    if not re.fullmatch(r"\d{6}", county_code) or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("bad county code or hash")
    return f"{county_code}/{sha256[:2]}/{sha256}"


def absolute_path(app, storage_path: str) -> Path:
    """Resolve a stored relative path, refusing anything that would leave the upload dir."""
    root = upload_dir(app).resolve()
    path = (root / storage_path).resolve()
    if root not in path.parents:
        raise ValueError("path outside the upload dir")
    return path


# --- type sniffing ------------------------------------------------------------------------------

def sniff(path: Path) -> str | None:
    """The kind of the file by its content (a key of ``TYPES``), or None when it is none we accept."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:4] == b"PK\x03\x04":
        return _sniff_ooxml(path)
    if head == _OLE_MAGIC:
        return _sniff_ole(path)
    return None


def _sniff_ooxml(path: Path) -> str | None:
    """A DOCX or XLSX is a zip whose [Content_Types].xml names the main part's type."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("[Content_Types].xml")
            if info.file_size > _CONTENT_TYPES_MAX:
                return None
            with zf.open(info) as fh:
                text = fh.read(_CONTENT_TYPES_MAX + 1).decode("utf-8", errors="replace")
    except (KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, OSError, RuntimeError,
            NotImplementedError, EOFError, ValueError):
        return None
    for kind, main in _OOXML_MAIN.items():
        if f'ContentType="{main}"' in text:
            return kind
    return None


def _sniff_ole(path: Path) -> str | None:
    """An OLE compound file (DOC/XLS): tell Word from Excel by the stream names in its directory
    (UTF-16LE entry names, each in its own 128-byte directory entry)."""
    wanted = {kind: [n.encode("utf-16-le") + b"\x00\x00" for n in names] for kind, names in _OLE_STREAMS.items()}
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            data = tail + chunk
            # Directory entries start on 128-byte boundaries; the name is the entry's first bytes.
            for kind, names in wanted.items():
                for name in names:
                    at = data.find(name)
                    while at != -1:
                        if (fh.tell() - len(data) + at) % 128 == 0:
                            return kind
                        at = data.find(name, at + 1)
            tail = data[-64:]
    return None


# --- saving -------------------------------------------------------------------------------------

def safe_display_name(name: str | None, kind: str) -> str:
    """A name fit for display and for Content-Disposition: no path, no control characters, the
    extension the content has (whatever extension the uploader gave)."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name)
                   if unicodedata.category(ch)[0] != "C" and ch not in '<>:"|?*')
    name = name.strip().strip(".") or "文件"
    stem, dot, ext = name.rpartition(".")
    if dot and "." + ext.lower() in EXTENSIONS:
        name = stem or "文件"
    ext = TYPES[kind][1]
    return name[: 200 - len(ext)] + ext


def receive(app, stream) -> tuple[Path, str, int, str]:
    """Copy an upload stream into a temporary file next to the store, hashing and counting as it goes.

    Returns (temporary path, sha256, size, kind). Refuses (and leaves nothing behind) an upload that
    is empty, too large (413) or of a type we do not accept (422)."""
    limit = max_bytes(app)
    root = upload_dir(app)
    tmp_dir = root / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"文件超过大小限制（{limit // (1024 * 1024) or 1} MB）",
                                   {"file": [f"不能超过 {limit} 字节"]})
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise RuleViolation("文件为空", {"file": ["请选择非空文件"]})
        kind = sniff(tmp)
        if kind is None:
            raise RuleViolation("文件类型不允许", {"file": [f"只接受 {_ALLOWED_LABEL} 文件（按文件内容识别）"]},
                                code="file_type")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest(), size, kind


def keep(app, tmp: Path, county_code: str, sha256: str) -> str:
    """Move a checked temporary file to its place (a file with the same hash is already there: the
    content is the same, so the temporary copy is dropped). Returns the relative storage path."""
    rel = relative_path(county_code, sha256)
    final = absolute_path(app, rel)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        tmp.unlink(missing_ok=True)
    else:
        os.chmod(tmp, 0o640)
        os.replace(tmp, final)
    return rel


# --- files written whole or not at all ----------------------------------------------------------

@contextmanager
def whole_file(path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Write ``path`` whole or not at all: the block writes to the file object it is given, and only when
    the block ends without an error does that file become ``path`` (an atomic rename in the same
    directory); an error, or a killed process, leaves ``path`` as it was.

    On Linux the bytes go to an unnamed file (``O_TMPFILE``) that the kernel frees if the process dies,
    so not even kill -9 leaves a partial file (which may hold personal data) behind; it gets a name only
    at the end. Elsewhere a hidden temporary name in the same directory, removed on every exit path."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    named: Path | None = None
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, mode)
        if not os.path.isdir("/proc/self/fd"):
            os.close(fd)
            raise OSError("no /proc to link an unnamed file")
    except (AttributeError, OSError):  # no O_TMPFILE on this system or file system
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")
        named = Path(name)
        os.fchmod(fd, mode)
    fh = os.fdopen(fd, "w+b")
    try:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
        if named is None:
            named = directory / f".{path.name}.{secrets.token_hex(6)}.part"
            dir_fd = os.open(directory, os.O_RDONLY)
            try:  # an unnamed file gets its name only now (linkat with AT_SYMLINK_FOLLOW: the dir fds ask for it)
                os.link(f"/proc/self/fd/{fd}", named.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd,
                        follow_symlinks=True)
            finally:
                os.close(dir_fd)
        os.replace(named, path)
        named = None
    finally:
        fh.close()
        if named is not None:
            named.unlink(missing_ok=True)
