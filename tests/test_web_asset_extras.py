"""The asset page's archive and flag slots: documents with their files and the required kinds missing for the
asset's status (the county's settings), the upload form (one transaction, inline errors and nothing written on
refusal, scope, CSRF), the flags firing today for this asset only (loaded as a fragment), bounded queries."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.core.files import StoredFile
from assetreg.extensions import db
from assetreg.flags import engine
from assetreg.flags import services as flag_services
from assetreg.flags.rules import ONE_ASSET_RULES
from assetreg.lists import services as lists_services
from assetreg.lists.models import DOCUMENT_KINDS, ArchiveDocument, RequiredDocument

from .factories import COUNTY, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .test_archive import PDF, PNG, files_on_disk
from .test_flags_rules import D, give_custody, give_operation, give_rights, make_asset, post_income, save
from .test_flags_scenario import build_every_rule
from .test_web_oversight import multipart
from .test_web_pages import count, error_of
from .web_support import PASSWORD, client, csrf_token, login, text


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    """Uploads go to a temporary directory, never into the repository's instance/."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


# Required kinds of the county: (status, category or None, kind).
REQUIRED = [
    ("in_operation", None, "project_approval"),
    ("in_operation", None, "acceptance"),
    ("in_operation", "operating", "operation_contract"),
    ("in_operation", "public_welfare", "custody_agreement"),  # another category: not this asset's
    ("in_use", None, "handover"),  # another status: not this asset's
    ("in_operation", "operating", "audit_report"),
]


def require(world) -> None:
    lists_services.set_required(world.users["admin"], [{"status": s, "category": c, "kind": k} for s, c, k in REQUIRED])
    db.session.commit()


def expected_missing(status: str, category: str, filed: set[str]) -> list[str]:
    """The labels of the kinds the county requires for the status and category that are not filed, in the
    archive's order: worked out here from REQUIRED, not with the service's rules."""
    wanted = {k for s, c, k in REQUIRED if s == status and c in (None, category)}
    return [label for k, label in DOCUMENT_KINDS.items() if k in wanted and k not in filed]


def file_document(world, asset, kind: str, archive_no: str, *, content: bytes | None = None, level="village",
                  filed_on=date(2025, 3, 1), who="admin", name="扫描件.pdf"):
    import io

    from flask import current_app

    user = world.users[who]
    data = {"asset_id": asset.id, "place_code": None, "level": level, "kind": kind, "archive_no": archive_no,
            "title": f"{DOCUMENT_KINDS[kind]}（{archive_no}）", "filed_on": filed_on}
    if content is None:
        doc = lists_services.create_document(user, data)
    else:
        doc = lists_services.file_document_with_upload(user, current_app, data, stream=io.BytesIO(content),
                                                       filename=name)
    db.session.commit()
    return doc


FORM = {"kind": "acceptance", "archive_no": "TY-2025-007", "title": "光伏电站竣工验收报告", "level": "village",
        "filed_on": "2025-06-01"}


def post_upload(c, asset_id, fields=None, file=("验收报告.pdf", PDF)):
    return c.post(f"/assets/{asset_id}/documents", **multipart({**FORM, **(fields or {})}, file))


def written() -> tuple[int, int, int]:
    return count(ArchiveDocument), count(StoredFile), count(ChangeLogEntry)


# --- documents ------------------------------------------------------------------------------------

def test_documents_section_lists_documents_and_the_missing_required_kinds(app, world, f, today, store):
    require(world)
    a = f.asset(place_code=VILLAGE_A1)  # operating, in operation
    approval = file_document(world, a, "project_approval", "TY-2019-001", content=PDF, level="county",
                             filed_on=date(2019, 5, 6))
    file_document(world, a, "other", "TY-2020-002")  # no file
    other = f.asset(place_code=VILLAGE_A1)
    file_document(world, other, "acceptance", "TY-2020-003")  # another asset's document
    html = text(login(app, "vc_a1").get(f"/assets/{a.id}"))
    section = html[html.index('id="documents"'):html.index('id="flags"')]
    missing = expected_missing("in_operation", "operating", {"project_approval", "other"})
    assert missing == ["验收报告", "经营合同", "审计报告"]
    assert f"尚缺必备档案：{'、'.join(missing)}" in section
    for part in ("立项批复", "TY-2019-001", "立项批复（TY-2019-001）", "县级", "2019年5月6日", "TY-2020-002", "村级"):
        assert part in section, part
    assert "TY-2020-003" not in section
    assert f'href="/api/v1/files/{approval.file_id}">下载 扫描件.pdf</a>' in section
    assert f"{len(PDF)} 字节" in section
    # The link downloads the stored file for a user of the asset's village.
    r = login(app, "vc_a1").get(f"/api/v1/files/{approval.file_id}")
    assert r.status_code == 200 and r.data == PDF
    r.close()
    # Once every required kind is filed, the section says so.
    for kind, no in (("acceptance", "TY-4"), ("operation_contract", "TY-5"), ("audit_report", "TY-6")):
        file_document(world, a, kind, no)
    html = text(login(app, "vc_a1").get(f"/assets/{a.id}"))
    assert "尚缺必备档案" not in html and "已齐全" in html


def test_a_public_welfare_asset_in_use_needs_its_own_kinds(app, world, f, today):
    require(world)
    road = f.asset(category="public_welfare", subtype="道路", place_code=VILLAGE_A2)  # in use
    html = text(login(app, "fin_a").get(f"/assets/{road.id}"))
    assert f"尚缺必备档案：{'、'.join(expected_missing('in_use', 'public_welfare', set()))}" in html
    assert expected_missing("in_use", "public_welfare", set()) == ["移交书"]


def test_the_upload_form_is_offered_to_writers_with_their_levels(app, world, f, today):
    a = f.asset(place_code=VILLAGE_A1)
    level_options = r'<select id="f-level" name="level"[^>]*>(.*?)</select>'
    html = text(login(app, "vc_a1").get(f"/assets/{a.id}"))
    assert 'enctype="multipart/form-data"' in html and f'action="/assets/{a.id}/documents"' in html
    assert re.findall(r'value="(\w+)"', re.search(level_options, html, re.S).group(1)) == ["village"]
    html = text(login(app, "fin_a").get(f"/assets/{a.id}"))
    assert re.findall(r'value="(\w+)"', re.search(level_options, html, re.S).group(1)) == ["town", "village"]
    html = text(login(app, "admin").get(f"/assets/{a.id}"))
    assert re.findall(r'value="(\w+)"', re.search(level_options, html, re.S).group(1)) == ["county", "town", "village"]
    html = text(login(app, "auditor").get(f"/assets/{a.id}"))
    assert "档案资料" in html and "上传档案资料" not in html and 'name="archive_no"' not in html
    assert login(app, "auditor").get(f"/assets/{a.id}/documents").status_code == 403


def test_upload_files_the_document_with_its_file_in_one_go(app, world, f, today, store):
    require(world)
    a = f.asset(place_code=VILLAGE_A1)
    before = written()
    c = login(app, "vc_a1")
    form = text(c.get(f"/assets/{a.id}/documents"))  # the form on its own page: today, the first missing kind
    assert 'value="2025-06-30"' in form and '<option value="project_approval" selected>' in form
    r = post_upload(c, a.id)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/assets/{a.id}#documents")
    doc = db.session.scalar(sa.select(ArchiveDocument).where(ArchiveDocument.archive_no == "TY-2025-007"))
    assert (doc.asset_id, doc.kind, doc.level, doc.title, doc.filed_on) == (
        a.id, "acceptance", "village", "光伏电站竣工验收报告", date(2025, 6, 1))
    assert (doc.county_code, doc.town_code, doc.village_code) == (a.county_code, a.town_code, a.village_code)
    stored = db.session.get(StoredFile, doc.file_id)
    digest = hashlib.sha256(PDF).hexdigest()
    assert (stored.sha256, stored.size, stored.content_type, stored.original_name) == (
        digest, len(PDF), "application/pdf", "验收报告.pdf")
    assert [p.name for p in files_on_disk(store)] == [digest]
    assert (store / stored.storage_path).read_bytes() == PDF
    assert written() == (before[0] + 1, before[1] + 1, before[2] + 2)
    logged = {(e.entity, e.action) for e in db.session.scalars(
        sa.select(ChangeLogEntry).where(ChangeLogEntry.entity.in_(("archive_document", "stored_file"))))}
    assert logged == {("archive_document", "create"), ("stored_file", "upload")}
    html = text(c.get(f"/assets/{a.id}"))
    assert "已归档“光伏电站竣工验收报告”" in html  # the flash
    assert "TY-2025-007" in html and f'/api/v1/files/{stored.id}"' in html
    assert "验收报告" not in html[html.index("尚缺必备档案"):html.index("</p>", html.index("尚缺必备档案"))]
    # A finance officer files an image in the town's archive of the same asset.
    r = post_upload(login(app, "fin_a"), a.id, {"archive_no": "CG-2025-1", "level": "town", "kind": "other"},
                    file=("照片.png", PNG))
    assert r.status_code == 302
    assert db.session.scalar(sa.select(ArchiveDocument.level).where(ArchiveDocument.archive_no == "CG-2025-1")) == "town"


@pytest.mark.parametrize("fields, file, field, why", [
    ({}, ("验收报告.pdf", b"just some text, not a pdf"), "file", "只接受"),  # a forged type
    ({}, ("page.png", b"<html><script>alert(1)</script></html>"), "file", "只接受"),
    ({}, ("空.pdf", b""), "file", "非空"),
    ({}, None, "file", "请选择要上传的文件"),
    ({"title": ""}, ("a.pdf", PDF), "title", "不能为空"),
    ({"title": "长" * 201}, ("a.pdf", PDF), "title", "最多200个字符"),
    ({"kind": "bribe"}, ("a.pdf", PDF), "kind", "请从列表中选择"),
    ({"filed_on": "2025-13-01"}, ("a.pdf", PDF), "filed_on", "应为日期"),
    ({"filed_on": "2025-07-01"}, ("a.pdf", PDF), "filed_on", "不能是将来的日期"),
    ({"archive_no": "TY-DUP"}, ("a.pdf", PDF), "archive_no", "已有该档案号"),
])
def test_a_refused_upload_shows_inline_errors_and_writes_nothing(app, world, f, today, store, fields, file, field,
                                                                   why):
    a = f.asset(place_code=VILLAGE_A1)
    file_document(world, a, "other", "TY-DUP")  # the archive number taken
    before = written()
    r = post_upload(login(app, "vc_a1"), a.id, fields, file=file)
    assert r.status_code == 422
    html = text(r)
    assert why in (error_of(html, field) or ""), (field, error_of(html, field))
    assert "上传档案资料" in html and 'enctype="multipart/form-data"' in html
    if field != "archive_no":
        assert 'value="TY-2025-007"' in html  # what was typed stays
    assert written() == before
    assert files_on_disk(store) == []


def test_an_oversize_upload_is_an_inline_error(app, world, f, today, store, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 1000)
    a = f.asset(place_code=VILLAGE_A1)
    before = written()
    r = post_upload(login(app, "fin_a"), a.id, file=("big.pdf", PDF + b"0" * 2000))
    assert r.status_code == 422 and "不能超过 1000 字节" in error_of(text(r), "file")
    assert written() == before and files_on_disk(store) == []


def test_uploads_stay_in_scope(app, world, f, today, store):
    a = f.asset(place_code=VILLAGE_A1, name="桃源村光伏")
    before = written()
    r = post_upload(login(app, "vc_b1"), a.id)
    assert r.status_code in (403, 404) and "桃源村光伏" not in text(r)
    assert login(app, "vc_b1").get(f"/assets/{a.id}/documents").status_code == 404
    assert post_upload(login(app, "vc_a2"), a.id).status_code in (403, 404)
    assert post_upload(login(app, "fin_b"), a.id).status_code in (403, 404)
    assert post_upload(login(app, "auditor"), a.id).status_code == 403
    assert post_upload(login(app, "auditor_a"), a.id).status_code == 403
    # A village committee files in its village's archive only (a forged level is refused).
    assert post_upload(login(app, "vc_a1"), a.id, {"level": "county"}).status_code == 403
    assert post_upload(login(app, "vc_a1"), 99999999).status_code == 404
    assert login(app, "vc_a1").post("/assets/abc/documents").status_code == 404
    assert written() == before and files_on_disk(store) == []


def test_csrf_on_the_upload_form(app, world, f, today, store, monkeypatch):
    a = f.asset(place_code=VILLAGE_A1)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    c = client(app)
    token = csrf_token(text(c.get("/login")))
    assert c.post("/login", data={"username": "vc_a1", "password": PASSWORD, "csrf_token": token}).status_code == 302
    before = written()
    r = post_upload(c, a.id)
    assert r.status_code == 400 and "表单已过期" in text(r)
    assert post_upload(c, a.id, {"csrf_token": "forged"}).status_code == 400
    assert written() == before and files_on_disk(store) == []
    page = text(c.get(f"/assets/{a.id}"))
    form = page[page.index(f'action="/assets/{a.id}/documents"'):]
    token = csrf_token(form)
    assert post_upload(c, a.id, {"csrf_token": token}).status_code == 302
    assert written()[0] == before[0] + 1


# --- flags ----------------------------------------------------------------------------------------

def flags_html(c, asset_id: int) -> str:
    r = c.get(f"/assets/{asset_id}/flags")
    assert r.status_code == 200
    return text(r)


def test_the_flag_slot_shows_this_assets_flags_only(app, world, f, today):
    road = f.asset(category="public_welfare", subtype="道路", place_code=VILLAGE_A1, code="ZC-ROAD-1")
    other = f.asset(category="public_welfare", subtype="桥梁", place_code=VILLAGE_A1, code="ZC-BRIDGE-2")
    kept = f.asset(category="public_welfare", subtype="道路", place_code=VILLAGE_A1, code="ZC-ROAD-3")
    give_custody(kept)
    give_rights(kept)
    c = login(app, "vc_a1")
    page = text(c.get(f"/assets/{road.id}"))
    assert f'data-fragment="/assets/{road.id}/flags"' in page and "app.js" in page
    assert 'href="/flags?village_code=431299100201"' in page
    html = flags_html(c, road.id)
    assert "CUSTODY_MISSING" in html and "公益性资产未明确管护主体" in html and "ZC-ROAD-1" in html
    assert "ZC-BRIDGE-2" not in html  # the same rule fires for the other asset, not shown here
    assert 'href="/flags?rule=CUSTODY_MISSING&amp;village_code=431299100201"' in html
    assert "P12（seed 000 §二(四)）" in html and "公益性资产要明确管护主体" in html
    assert "严重" in html and "未确认" in html and "2025年6月30日" in html
    assert "ZC-ROAD-1" not in flags_html(c, other.id) and "ZC-BRIDGE-2" in flags_html(c, other.id)
    assert "今日该资产没有预警" in flags_html(c, kept.id)
    # Acknowledged: marked, with who and why.
    flag_services.acknowledge(world.users["fin_a"], rule_id="CUSTODY_MISSING", flag_key=f"asset:{road.id}",
                              reason="管护协议正在签订")
    db.session.commit()
    row = next(r for r in flags_html(c, road.id).split("<tr>") if "CUSTODY_MISSING</small>" in r)
    assert "已确认" in row and "fin_a" in row and "管护协议正在签订" in row and "未确认" not in row
    # Out of scope: not found.
    assert login(app, "vc_b1").get(f"/assets/{road.id}/flags").status_code == 404
    assert login(app, "vc_a1").get("/assets/99999999/flags").status_code == 404


@pytest.mark.parametrize("day", [D, date(2025, 3, 31), date(2024, 6, 30)])
def test_one_assets_evaluation_equals_the_villages_filtered(app, world, f, today, day):
    """Reading only the asset's rows gives exactly the flags the village-wide evaluation gives for it."""
    from assetreg.assets.models import Asset

    build_every_rule(f)
    everything = engine.evaluate(COUNTY, day)
    assert {fl.rule_id for fl in everything if fl.asset_id is not None} <= set(ONE_ASSET_RULES)
    seen = set()
    for a in db.session.scalars(sa.select(Asset).order_by(Asset.id)).all():
        scope = a.village_code or a.town_code or a.county_code
        wide = [fl.identity() for fl in engine.evaluate(scope, day) if fl.asset_id == a.id]
        _, narrow = flag_services.flags_of_asset(a, day)
        assert [fl.identity() for fl in narrow] == wide, a.name
        seen |= {fl.rule_id for fl in narrow}
    if day == D:  # every rule that can name an asset is met on the scenario's day
        assert seen == set(ONE_ASSET_RULES)


def test_one_assets_evaluation_leaves_the_village_rules_alone(app, world, f, today):
    a = make_asset(f, [("in_operation", date(2020, 3, 1))])
    post_income(a, "20000.00", date(2024, 12, 20))  # would be SETTLEMENT_LATE and PV_INCOME_LOW for the village
    ctx = engine.build_context(VILLAGE_A1, D, asset_id=a.id)
    assert {fl.rule_id for fl in engine.evaluate_context(ctx)} <= set(ONE_ASSET_RULES)
    assert {"SETTLEMENT_LATE", "PV_INCOME_LOW"} <= {fl.rule_id for fl in engine.evaluate(VILLAGE_A1, D)}


# --- bounded queries --------------------------------------------------------------------------------

def test_page_and_flag_fragment_queries_do_not_grow(app, world, f, today, store, count_queries):
    """One document and one flag (AUDIT_MISSING), or ten documents and five flags: the same statements."""
    save(RequiredDocument(county_code=COUNTY, status="in_operation", category="operating", kind="audit_report"))
    few = make_asset(f, [("in_operation", date(2020, 3, 1))])
    give_rights(few)
    give_operation(few)
    post_income(few, "1000.00", date(2025, 5, 1))
    file_document(world, few, "audit_report", "F-1", content=PDF)
    many = make_asset(f, [("in_operation", date(2020, 3, 1))])
    post_income(many, "1000.00", date(2022, 1, 1))  # a ledger on both pages; older than NO_INCOME's two years
    for i in range(10):
        file_document(world, many, "other", f"M-{i}", content=PDF + str(i).encode(), name=f"{i}.pdf")
    for _ in range(5):  # flags of other assets in the village change nothing
        make_asset(f, [("in_operation", date(2020, 3, 1))], place=VILLAGE_A1)
    f.asset(place_code=VILLAGE_B1)

    def measure(a):
        c = login(app, "fin_a")
        with count_queries() as page:
            html = text(c.get(f"/assets/{a.id}"))
        with count_queries() as frag:
            flags = flags_html(c, a.id)
        return page.count, frag.count, html.count("/api/v1/files/"), len(re.findall(r'<small class="muted">[A-Z_]+</small>', flags))

    few_page, few_frag, few_files, few_flags = measure(few)
    many_page, many_frag, many_files, many_flags = measure(many)
    assert (few_files, many_files) == (1, 10)
    assert few_flags == 1 and many_flags == 5  # NO_INCOME, RIGHTS_INCOMPLETE, CONTRACT_EXPIRED, AUDIT, ARCHIVE
    assert few_page == many_page and few_frag == many_frag
    assert few_frag <= 30
    assert few_page <= 40  # tests/test_web_pages.py holds the asset page to 40 statements


def test_the_placeholder_is_gone(app):
    from jinja2 import TemplateNotFound

    with pytest.raises(TemplateNotFound):
        app.jinja_env.get_template("registry/_slot_documents.html")
