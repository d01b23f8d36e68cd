"""The archive (档案): uploads typed by content and size-limited, stored by SHA-256; downloads within
scope; documents per asset or place and level; the county's required kinds (basis: P05)."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
import xlsxwriter

from assetreg.changelog.models import ChangeLogEntry
from assetreg.core.files import StoredFile
from assetreg.extensions import db
from assetreg.lists.models import ArchiveDocument, RequiredDocument

from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_B1

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40 + b"\xff\xd9"


def ooxml(main: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    f'package/2006/content-types"><Override PartName="/main.xml" ContentType="{main}"/></Types>')
        zf.writestr("main.xml", "<x/>")
    return buf.getvalue()


DOCX = ooxml("application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")
PPTX = ooxml("application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")


def real_xlsx() -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.add_worksheet().write(0, 0, "资产")
    wb.close()
    return buf.getvalue()


def ole(stream_name: str) -> bytes:
    """A compound file header and one directory sector whose second entry names ``stream_name``."""
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    root = "Root Entry".encode("utf-16-le").ljust(64, b"\x00") + struct.pack("<H", 22) + b"\x00" * 62
    name = stream_name.encode("utf-16-le") + b"\x00\x00"
    entry = name.ljust(64, b"\x00") + struct.pack("<H", len(name)) + b"\x00" * 62
    return header + root + entry + b"\x00" * 256


GOOD = [("a.pdf", PDF, "application/pdf"), ("scan.png", PNG, "image/png"), ("photo.jpg", JPEG, "image/jpeg"),
        ("合同.docx", DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("台账.xlsx", real_xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("old.doc", ole("WordDocument"), "application/msword"),
        ("old.xls", ole("Workbook"), "application/vnd.ms-excel")]
FORGED = [("notes.pdf", b"just some text, not a pdf", "application/pdf"),
          ("page.png", b"<html><script>alert(1)</script></html>", "image/png"),
          ("slides.docx", PPTX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
          ("nocontent.xlsx", b"PK\x03\x04" + b"\x00" * 100, "application/zip"),
          ("other.doc", ole("PowerPoint Document"), "application/msword"),
          ("run.exe.pdf", b"MZ\x90\x00" + b"\x00" * 200, "application/pdf"),
          ("empty.pdf", b"", "application/pdf")]


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    """Uploads go to a temporary directory, never into the repository's instance/."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


def files_on_disk(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def upload(client, name, data, content_type="application/octet-stream", field="file"):
    """A multipart body built by hand, so the test client keeps it in memory (no temporary file that
    a refused, unread request would leave open)."""
    from urllib.parse import quote

    boundary = "----assetreg-test-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{quote(name)}"; '
            f"filename*=UTF-8''{quote(name)}\r\nContent-Type: {content_type}\r\n\r\n").encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post("/api/v1/files", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def download(client, fid):
    """GET a file and read it through, so the served file is closed."""
    r = client.get(f"/api/v1/files/{fid}")
    r.get_data()
    r.close()
    return r


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- uploads ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, content_type", GOOD)
def test_good_upload_keeps_hash_size_and_type(world, store, name, data, content_type):
    r = upload(world.vc_a1, name, data, "text/plain")  # the client's type is ignored
    assert r.status_code == 201, r.json
    sha = hashlib.sha256(data).hexdigest()
    assert (r.json["sha256"], r.json["size"], r.json["content_type"]) == (sha, len(data), content_type)
    row = db.session.get(StoredFile, r.json["id"])
    assert row.storage_path == f"{COUNTY}/{sha[:2]}/{sha}"
    on_disk = store / COUNTY / sha[:2] / sha
    assert on_disk.read_bytes() == data
    assert files_on_disk(store) == [on_disk]  # no temporary file left behind
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "stored_file")).one()
    assert log.actor_name == "vc_a1"


@pytest.mark.parametrize("name, data, content_type", FORGED)
def test_forged_type_is_refused_and_nothing_stored(world, store, name, data, content_type):
    r = upload(world.fin_a, name, data, content_type)
    assert r.status_code == 422, r.json
    assert set(r.json["error"]) == {"code", "message", "fields"} and "file" in r.json["error"]["fields"]
    assert count(StoredFile) == 0 and files_on_disk(store) == []


def test_oversize_is_refused_with_413_and_nothing_stored(world, store, app, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 1000)
    r = upload(world.fin_a, "big.pdf", PDF + b"0" * 1000)
    assert r.status_code == 413
    assert r.json["error"]["code"] == "too_large" and "file" in r.json["error"]["fields"]
    # A body far over the limit is refused before it is read at all.
    r = upload(world.fin_a, "huge.pdf", PDF + b"0" * (2 * 1024 * 1024))
    assert r.status_code == 413 and r.json["error"]["code"] == "too_large"
    assert count(StoredFile) == 0 and files_on_disk(store) == []
    r = upload(world.fin_a, "fits.pdf", PDF + b"0" * (1000 - len(PDF)))
    assert r.status_code == 201


def test_default_limit_is_20_mb_above_flask_16_mb(world, store, app, monkeypatch):
    monkeypatch.delitem(app.config, "UPLOAD_MAX_BYTES", raising=False)
    data = PDF + b"0" * (17 * 1024 * 1024)
    r = upload(world.fin_a, "scan.pdf", data)
    assert r.status_code == 201, r.json
    assert r.json["size"] == len(data)
    r = upload(world.fin_a, "too-big.pdf", PDF + b"0" * (20 * 1024 * 1024))
    assert r.status_code == 413
    assert count(StoredFile) == 1


def test_name_never_reaches_the_path(world, store):
    r = upload(world.admin, "../../../etc/passwd\x00.pdf", PDF)
    assert r.status_code == 201
    name = r.json["original_name"]
    assert name.endswith(".pdf") and not any(ch in name for ch in "/\\\x00")
    r = upload(world.admin, "report.docx", PDF)  # the extension follows the content
    assert r.json["original_name"] == "report.pdf"
    r = upload(world.admin, "", PDF)
    assert r.status_code in (201, 422)
    assert all(p.is_relative_to(store) for p in files_on_disk(store))
    # The same content twice: two records, one file.
    assert len(files_on_disk(store)) == 1


@pytest.mark.parametrize("given, kind, shown", [
    ("../../../etc/passwd\x00.pdf", "pdf", "passwd.pdf"), ("C:\\Users\\x\\合同.DOCX", "docx", "合同.docx"),
    ("report.exe", "pdf", "report.exe.pdf"), ("", "png", "文件.png"), (None, "jpeg", "文件.jpg"),
    ("a\r\nContent-Type: x.pdf", "pdf", "aContent-Type x.pdf"), ("x" * 500 + ".xlsx", "xlsx", "x" * 195 + ".xlsx"),
    ("...", "pdf", "文件.pdf"), ("资产.jpeg", "jpeg", "资产.jpg"),
])
def test_display_name_is_safe(given, kind, shown):
    from assetreg.core.storage import safe_display_name

    assert safe_display_name(given, kind) == shown


def test_upload_roles_and_bad_requests(world, store, client):
    assert upload(world.auditor, "a.pdf", PDF).status_code == 403
    assert world.admin.post("/api/v1/files", json={"file": "x"}).status_code == 422
    assert upload(world.admin, "a.pdf", PDF, field="other").status_code == 422
    r = world.admin.post("/api/v1/files", data=b"--x\r\nbroken", content_type="multipart/form-data; boundary=x")
    assert r.status_code < 500
    assert client.post("/api/v1/files", data={"file": (io.BytesIO(PDF), "a.pdf")}).status_code == 401
    assert count(StoredFile) == 0 and files_on_disk(store) == []


def test_download_within_scope(world, f, store):
    asset = f.asset()
    fid = upload(world.vc_a1, "验收报告.pdf", PDF).json["id"]
    # Before it is filed only its uploader sees it.
    assert download(world.vc_a1, fid).status_code == 200
    assert download(world.fin_a, fid).status_code == 404
    r = world.vc_a1.post("/api/v1/archive/documents", json={
        "asset_id": asset.id, "level": "village", "kind": "acceptance", "archive_no": "村-1", "title": "验收报告",
        "filed_on": "2021-01-05", "file_id": fid})
    assert r.status_code == 201, r.json
    for c in [world.vc_a1, world.fin_a, world.admin, world.auditor, world.auditor_a]:
        r = download(c, fid)
        assert r.status_code == 200 and r.data == PDF
        assert r.mimetype == "application/pdf"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Disposition"].startswith("attachment")
        assert "filename*=UTF-8''%E9%AA%8C%E6%94%B6%E6%8A%A5%E5%91%8A.pdf" in r.headers["Content-Disposition"]
    for c in [world.vc_b1, world.fin_b, world.vc_a2]:
        assert download(c, fid).status_code == 404
    assert download(world.admin, 999999).status_code == 404


def test_file_of_a_regulation_is_readable_where_the_rule_applies(world, store):
    fid = upload(world.admin, "办法.pdf", PDF).json["id"]
    r = world.admin.post("/api/v1/regulations", json={"title": "资产处置办法", "issuer_code": COUNTY,
                                                      "category": "disposal", "effective_on": "2022-01-01",
                                                      "file_id": fid})
    assert r.status_code == 201, r.json
    assert download(world.vc_b1, fid).status_code == 200
    # Someone else's unfiled upload cannot be attached.
    other = upload(world.fin_b, "x.pdf", PDF + b"1").json["id"]
    r = world.fin_a.post("/api/v1/regulations", json={"title": "办法", "issuer_code": TOWN_A, "category": "risk",
                                                      "effective_on": "2022-01-01", "file_id": other})
    assert r.status_code == 422 and "file_id" in r.json["error"]["fields"]


# --- documents ----------------------------------------------------------------------------------

def doc(client, **over):
    body = {"level": "village", "kind": "acceptance", "archive_no": "村-2021-001", "title": "竣工验收报告",
            "filed_on": "2021-01-05", **over}
    return client.post("/api/v1/archive/documents", json=body)


def test_document_roles_levels_and_scope(world, f, today):
    a1 = f.asset()
    b1 = f.asset(place_code=VILLAGE_B1)
    county_asset = f.asset(category="public_welfare", subtype="道路", place_code=COUNTY, managing_level="county")
    cases = [
        (world.vc_a1, dict(asset_id=a1.id, level="village"), 201),
        (world.vc_a1, dict(asset_id=a1.id, level="town", archive_no="x1"), 403),  # a village keeps only its own
        (world.vc_a1, dict(asset_id=b1.id, archive_no="x2"), 403),  # another village's asset
        (world.fin_a, dict(asset_id=a1.id, level="town", archive_no="镇-1"), 201),
        (world.fin_a, dict(asset_id=a1.id, level="county", archive_no="x3"), 403),
        (world.fin_a, dict(asset_id=b1.id, level="town", archive_no="x4"), 403),
        (world.admin, dict(asset_id=a1.id, level="county", archive_no="县-1"), 201),
        (world.admin, dict(asset_id=county_asset.id, level="village", archive_no="x5"), 422),  # below its place
        (world.auditor, dict(asset_id=a1.id, archive_no="x6"), 403),
        (world.admin, dict(place_code=VILLAGE_A1, level="county", kind="distribution_plan", archive_no="县-2"), 201),
        (world.vc_a1, dict(place_code=VILLAGE_A1, kind="notice", archive_no="村-公示-1"), 201),
        (world.vc_a1, dict(place_code=TOWN_A, level="town", archive_no="x7"), 403),
        (world.admin, dict(asset_id=a1.id, place_code=VILLAGE_A1, archive_no="x8"), 422),
        (world.admin, dict(archive_no="x9"), 422),
        (world.admin, dict(asset_id=999999, archive_no="x10"), 422),
        (world.admin, dict(asset_id=a1.id, filed_on="2025-07-01", archive_no="x11"), 422),  # future date
        (world.admin, dict(asset_id=a1.id, kind="photo", archive_no="x12"), 422),
    ]
    for client, over, status in cases:
        r = doc(client, **over)
        assert r.status_code == status, (client.user.username, over, r.json)
    assert count(ArchiveDocument) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry)
                             .where(ChangeLogEntry.entity == "archive_document")) == 5
    # Archive numbers are unique per county and level.
    r = doc(world.vc_a1, asset_id=a1.id)
    assert r.status_code == 409 and "archive_no" in r.json["error"]["fields"]
    assert doc(world.fin_a, asset_id=a1.id, level="town", archive_no="村-2021-001").status_code == 201
    # Reading: within scope only.
    first = db.session.scalars(sa.select(ArchiveDocument).order_by(ArchiveDocument.id)).first()
    assert world.vc_a1.get(f"/api/v1/archive/documents/{first.id}").status_code == 200
    assert world.vc_b1.get(f"/api/v1/archive/documents/{first.id}").status_code == 404
    assert world.vc_b1.get("/api/v1/archive/documents").json["total"] == 0
    r = world.auditor_a.get(f"/api/v1/archive/documents?asset_id={a1.id}&level=town")
    assert r.status_code == 200 and [d["archive_no"] for d in r.json["items"]] == ["村-2021-001", "镇-1"]


def test_document_bad_input_never_500(world, f):
    a1 = f.asset()
    for field, bad in [("level", "province"), ("archive_no", "x" * 61), ("title", ""), ("filed_on", "2021-02-30"),
                       ("asset_id", "1"), ("asset_id", 10**30), ("place_code", "abc"), ("file_id", -1),
                       ("kind", None), ("archive_no", None)]:
        r = doc(world.admin, **{"asset_id": a1.id, field: bad})
        assert r.status_code == 422, (field, bad, r.json)
    for q in ["asset_id=x", "place_code=" + "1" * 50, "level=x", "page=0", "kind=x"]:
        assert world.admin.get(f"/api/v1/archive/documents?{q}").status_code == 422
    assert count(ArchiveDocument) == 0


# --- required kinds -----------------------------------------------------------------------------

def test_required_kinds_set_by_the_county_admin(world):
    body = {"items": [{"status": "in_operation", "kind": "operation_contract"},
                      {"status": "in_operation", "kind": "operation_contract"},
                      {"status": "in_use", "category": "public_welfare", "kind": "custody_agreement"}]}
    for c in [world.fin_a, world.vc_a1, world.auditor]:
        assert c.put("/api/v1/archive/required", json=body).status_code == 403
    assert count(RequiredDocument) == 0
    r = world.admin.put("/api/v1/archive/required", json=body)
    assert r.status_code == 200, r.json
    assert [(i["status"], i["category"], i["kind"]) for i in r.json["items"]] == [
        ("in_operation", None, "operation_contract"), ("in_use", "public_welfare", "custody_agreement")]
    assert world.vc_b1.get("/api/v1/archive/required").json == r.json  # everyone in the county reads it
    # Replacing keeps what stays, drops what went.
    r = world.admin.put("/api/v1/archive/required", json={"items": [
        {"status": "in_operation", "kind": "operation_contract"}, {"status": "idle", "kind": "audit_report"}]})
    assert [(i["status"], i["kind"]) for i in r.json["items"]] == [("idle", "audit_report"),
                                                                  ("in_operation", "operation_contract")]
    assert count(RequiredDocument) == 2
    logs = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "required_documents")).all()
    assert len(logs) == 2 and logs[0].actor_name == "admin"
    for bad in [{"items": [{"status": "flying", "kind": "acceptance"}]}, {"items": [{"status": "idle"}]},
                {"items": [{"status": "idle", "kind": "acceptance", "category": "x"}]}, {"items": "all"},
                {"items": [{}] * 501}, {}]:
        assert world.admin.put("/api/v1/archive/required", json=bad).status_code == 422, bad
    assert count(RequiredDocument) == 2
    assert world.admin.put("/api/v1/archive/required", json={"items": []}).json == {"items": []}


def test_other_county_cannot_see_anything(world, f, store):
    f.place("431298", "邻县", "county")
    f.place("431298100", "邻镇", "town", "431298")
    _, token = f.user("other_admin", "county_admin", "431298")
    from .factories import Client

    other = Client(world.http, token)
    fid = upload(world.admin, "a.pdf", PDF).json["id"]
    assert download(other, fid).status_code == 404
    assert other.get(f"/api/v1/lists/assets?scope={COUNTY}").status_code == 404
    assert doc(other, place_code=VILLAGE_A1, level="county").status_code == 422
    r = other.post("/api/v1/regulations", json={"title": "x", "issuer_code": TOWN_B, "category": "risk",
                                                "effective_on": "2022-01-01"})
    assert r.status_code == 422
