"""Export and import pages: an export requested on the page runs (in-process worker), shows its progress
and downloads; scope is enforced on requests and downloads; stale jobs are failed when listing. An import's
dry run shows every error in the page and writes nothing; the fixed file commits the stored upload, and
committing or importing again changes nothing; forged files are refused; CSRF; bounded queries; odd ids."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.changelog.models import ChangeLogEntry
from assetreg.core.time import now_utc
from assetreg.exports import jobs
from assetreg.exports import services as export_services
from assetreg.exports.models import ExportJob
from assetreg.extensions import db
from assetreg.households.models import Household

from .factories import COUNTY, TOWN_A, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .imports_support import ASSET_HEADERS, HOUSEHOLD_HEADERS, asset, cell_ref, filled_cells, head, table, xlsx
from .test_imports import EXPECTED_BAD, _bad_rows
from .web_support import csrf_token, login, text


@pytest.fixture
def xfer(app, monkeypatch, tmp_path, world, today):
    """The world, with export files and staged uploads under tmp, and the in-process export worker."""
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.delitem(app.config, "REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    yield world
    jobs.wait_for_workers()


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def job_id_of(response) -> int:
    m = re.fullmatch(r"/exports/(\d+)", response.headers["Location"])
    assert m, response.headers["Location"]
    return int(m.group(1))


def error_of(html: str, name: str) -> str | None:
    m = re.search(rf'id="f-{re.escape(name)}-error">([^<]*)<', html)
    return m.group(1) if m else None


def hold_jobs(monkeypatch):
    """Requests commit their job but no worker runs it (to look at a queued job)."""
    monkeypatch.setattr(jobs, "submit", lambda app, job_id: None)


# --- exports -------------------------------------------------------------------------------------

@pytest.mark.committed  # the export job runs in a worker thread, on a connection of its own
def test_export_requested_on_the_page_runs_shows_progress_and_downloads(app, xfer, f):
    f.asset(place_code=VILLAGE_A1, name="桃源光伏")
    f.asset(place_code=VILLAGE_B1, name="石门光伏")
    c = login(app, "auditor")
    page = text(c.get("/exports"))
    assert "申请导出" in page and 'name="scope"' in page and "暂无导出任务" in page
    assert "不脱敏" in page  # an auditor's export keeps personal data

    r = c.post("/exports", data={"scope": COUNTY, "years": "2024-2025", "kind": "ledger"})
    assert r.status_code == 302
    job_id = job_id_of(r)
    jobs.wait_for_workers()

    html = text(c.get(f"/exports/{job_id}"))
    assert "已完成" in html and 'value="100"' in html
    assert f'href="/exports/{job_id}/download"' in html
    assert "未脱敏" in html and 'http-equiv="refresh"' not in html  # finished: no more refreshing
    status = c.get(f"/exports/{job_id}/status.json").json
    assert status["status"] == "done" and status["progress"] == 100 and status["finished"] is True
    assert status["download_url"] == f"/exports/{job_id}/download" and status["personal_data"] == "unmasked"

    r = c.get(f"/exports/{job_id}/download")
    try:
        assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
        assert r.headers["Cache-Control"] == "no-store" and "attachment" in r.headers["Content-Disposition"]
        book = pd.read_excel(io.BytesIO(r.data), sheet_name=None, engine="calamine", dtype=object)
    finally:
        r.close()
    names = " ".join(str(v) for df in book.values() for v in df.to_numpy().ravel())
    assert "桃源光伏" in names and "石门光伏" in names

    listing = text(c.get("/exports"))
    assert f'href="/exports/{job_id}"' in listing and "已完成" in listing


@pytest.mark.committed  # the export job runs in a worker thread, on a connection of its own
def test_town_officer_gets_the_pack_masked(app, xfer, f):
    f.asset(place_code=VILLAGE_A1, name="桃源光伏")
    c = login(app, "fin_a")
    assert "已脱敏" in text(c.get("/exports"))
    r = c.post("/exports", data={"scope": TOWN_A, "years": "2025", "kind": "pack"})
    assert r.status_code == 302
    job_id = job_id_of(r)
    jobs.wait_for_workers()
    r = c.get(f"/exports/{job_id}/download")
    try:
        assert r.status_code == 200 and r.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(r.data)) as zf:
            import json

            manifest = json.loads(zf.read("manifest.json"))
    finally:
        r.close()
    assert manifest["personal_data"] == "masked" and manifest["scope"] == TOWN_A
    assert db.session.get(ExportJob, job_id).params["unmasked"] is False


def test_job_page_refreshes_itself_while_running(app, xfer, monkeypatch):
    hold_jobs(monkeypatch)
    c = login(app, "vc_a1")
    r = c.post("/exports", data={"scope": VILLAGE_A1, "years": "2025", "kind": "ledger"})
    job_id = job_id_of(r)
    html = text(c.get(f"/exports/{job_id}"))
    assert "排队中" in html
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', html)  # without JS
    assert "transfer.js" in html and f'data-status-url="/exports/{job_id}/status.json"' in html  # with JS
    assert f'id="job-reload" href="/exports/{job_id}"' in html
    status = c.get(f"/exports/{job_id}/status.json").json
    assert (status["status"], status["finished"], status["download_url"]) == ("queued", False, None)
    assert c.get(f"/exports/{job_id}/download").status_code == 409  # not ready yet
    r = c.get("/static/web/transfer.js")
    assert r.status_code == 200 and "data-status-url" in r.get_data(as_text=True)
    r.close()


def test_village_user_stays_in_the_village(app, xfer, monkeypatch):
    hold_jobs(monkeypatch)
    vc = login(app, "vc_a1")
    page = text(vc.get("/exports"))
    assert f'value="{VILLAGE_A1}"' in page and f'value="{VILLAGE_A2}"' not in page and f'value="{COUNTY}"' not in page
    for scope in (VILLAGE_A2, TOWN_A, COUNTY, VILLAGE_B1, "431299100299"):
        r = vc.post("/exports", data={"scope": scope, "years": "2025", "kind": "ledger"})
        assert r.status_code == 422, scope
        assert "超出您的管辖范围" in error_of(text(r), "scope")
    assert count(ExportJob) == 0

    other = login(app, "vc_a2")
    mine = job_id_of(other.post("/exports", data={"scope": VILLAGE_A2, "years": "2025", "kind": "ledger"}))
    town = job_id_of(login(app, "fin_a").post(
        "/exports", data={"scope": TOWN_A, "years": "2025", "kind": "ledger"}))
    for job_id in (mine, town):
        for path in (f"/exports/{job_id}", f"/exports/{job_id}/status.json", f"/exports/{job_id}/download"):
            assert vc.get(path).status_code == 404, path
    assert f"/exports/{mine}" not in text(vc.get("/exports"))
    # a county admin sees the others' (masked) jobs in the list; the village committee does not
    admin_list = text(login(app, "admin").get("/exports"))
    assert f'href="/exports/{mine}"' in admin_list and f'href="/exports/{town}"' in admin_list


def test_export_form_errors_write_nothing(app, xfer):
    c = login(app, "fin_a")
    cases = [({"scope": TOWN_A, "years": "2025-2021", "kind": "ledger"}, "years", "起始年度不能晚于结束年度"),
             ({"scope": TOWN_A, "years": "twenty", "kind": "ledger"}, "years", "2021-2025"),
             ({"scope": TOWN_A, "years": "2025", "kind": "evil"}, "kind", "请从列表中选择"),
             ({"scope": "x" * 40, "years": "2025", "kind": "ledger"}, "scope", ""),
             ({"years": "2025", "kind": "ledger"}, "scope", "")]
    for form, field, why in cases:
        r = c.post("/exports", data=form)
        assert r.status_code == 422, form
        assert why in (error_of(text(r), field) or "_missing_"), (form, text(r)[:3000])
    assert count(ExportJob) == 0


def test_stale_jobs_are_failed_when_listing(app, xfer, monkeypatch):
    user = xfer.users["fin_a"]
    now = now_utc()

    def job(status, **times):
        j = ExportJob(county_code=COUNTY, user_id=user.id, kind="ledger", status=status, progress=40,
                      rows_written=0, params={"scope": TOWN_A, "year_from": 2025, "year_to": 2025, "unmasked": False,
                                              "role": "finance_officer"}, **times)
        db.session.add(j)
        db.session.flush()
        return j.id

    dead = job("running", created_at=now - timedelta(hours=3), started_at=now - timedelta(hours=2))
    busy = job("running", created_at=now - timedelta(minutes=20), started_at=now - timedelta(minutes=10),
               heartbeat_at=now - timedelta(minutes=3))  # still beating
    lost = job("queued", created_at=now - timedelta(hours=5))
    waiting = job("queued", created_at=now - timedelta(minutes=5))
    done = job("done", created_at=now - timedelta(days=3), started_at=now - timedelta(days=3),
               finished_at=now - timedelta(days=3))
    db.session.commit()

    html = text(login(app, "fin_a").get("/exports"))
    db.session.expire_all()
    status = {i: db.session.get(ExportJob, i).status for i in (dead, busy, lost, waiting, done)}
    assert status == {dead: "failed", busy: "running", lost: "failed", waiting: "queued", done: "done"}
    assert db.session.get(ExportJob, dead).error == export_services.DEAD_ERROR == "导出进程已中断，请重新导出"
    assert db.session.get(ExportJob, lost).error == export_services.STALE_ERROR
    assert db.session.get(ExportJob, dead).finished_at == now
    assert html.count("失败") >= 2
    failed_logged = db.session.scalars(sa.select(ChangeLogEntry.entity_id).where(
        ChangeLogEntry.entity == "export_job", ChangeLogEntry.action == "fail")).all()
    assert sorted(failed_logged) == sorted([str(dead), str(lost)])

    # the limits are configurable (EXPORT_HEARTBEAT_MINUTES for running jobs, EXPORT_STALE_MINUTES for
    # queued ones), and the service can be asked directly
    monkeypatch.setitem(app.config, "EXPORT_HEARTBEAT_MINUTES", 2)
    assert export_services.fail_stale_jobs(COUNTY) == [busy]
    assert export_services.fail_stale_jobs(COUNTY, older_than=timedelta(minutes=1)) == [waiting]
    assert export_services.fail_stale_jobs("431300") == []  # another county's jobs are left alone
    db.session.commit()


def test_export_list_queries_are_bounded(app, xfer, monkeypatch, count_queries):
    hold_jobs(monkeypatch)
    user = xfer.users["auditor"]

    def page_queries(n):
        for _ in range(n - count(ExportJob)):
            db.session.add(ExportJob(county_code=COUNTY, user_id=user.id, kind="ledger", status="done", progress=100,
                                     rows_written=10, created_at=now_utc(),
                                     params={"scope": COUNTY, "year_from": 2025, "year_to": 2025, "unmasked": True,
                                             "role": "auditor"}))
        db.session.commit()
        c = login(app, "auditor")
        with count_queries() as counter:
            r = c.get("/exports")
        assert r.status_code == 200
        assert len(re.findall(r'<a href="/exports/\d+">查看</a>', text(r))) == n
        return counter.count

    three = page_queries(3)
    fifteen = page_queries(15)
    assert three == fifteen and fifteen <= 10


@pytest.mark.parametrize("path", [
    "/exports/0", "/exports/-1", "/exports/abc", "/exports/99999999999999999999", "/exports/2147483648",
    "/exports/9223372036854775807/status.json", "/exports/12345/download", "/exports/1.5",
    "/imports/report.xlsx", "/imports/report.xlsx?kind=assets&upload=zz", "/imports/report.xlsx?kind=evil&upload=" + "a" * 64,
    "/imports/report.xlsx?kind=assets&upload=" + "a" * 64, "/imports/report.xlsx?kind=assets&upload=%00",
])
def test_bad_ids_are_404_never_500(app, xfer, path):
    r = login(app, "fin_a").get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert "未找到" in text(r) or "不存在" in text(r)


# --- imports -------------------------------------------------------------------------------------

def post_file(c, content: bytes, filename: str = "台账.xlsx", kind: str = "assets", **extra):
    return c.post("/imports", data={"kind": kind, "file": (io.BytesIO(content), filename), **extra},
                  content_type="multipart/form-data")


def error_table(html: str) -> set[tuple[int, str]]:
    m = re.search(r'<table class="data" id="import-errors">(.*?)</table>', html, re.S)
    assert m, "no error table"
    return {(int(row), col) for row, col in
            re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td>', m.group(1))}


def hidden(html: str, name: str) -> str:
    m = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert m, f"no hidden {name}"
    return m.group(1)


def db_counts():
    return count(Asset), count(ChangeLogEntry), count(Household)


def test_import_page_offers_the_templates(app, xfer):
    c = login(app, "fin_a")
    html = text(c.get("/imports"))
    for kind in ("assets", "households", "income"):
        assert f'href="/api/v1/imports/templates/{kind}.xlsx"' in html
        assert f'href="/api/v1/imports/templates/{kind}.csv"' in html
    assert 'enctype="multipart/form-data"' in html and 'for="f-file"' in html and 'for="f-kind"' in html
    r = c.get("/api/v1/imports/templates/assets.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert 'value="income" selected' in text(c.get("/imports?kind=income"))
    assert login(app, "auditor").get("/imports").status_code == 403  # auditors never import


def test_dry_run_shows_every_error_in_the_page_and_writes_nothing(app, xfer):
    content = xlsx(table(ASSET_HEADERS, _bad_rows()))
    before = db_counts()
    c = login(app, "fin_a")
    r = post_file(c, content)
    assert r.status_code == 200
    html = text(r)
    assert error_table(html) == EXPECTED_BAD
    assert "431299100299" in html and "与第2行的资产编号重复" in html and "日期不存在" in html
    assert "确认导入" not in html and 'name="upload"' not in html  # no commit for a dirty file
    assert db_counts() == before

    link = re.search(r'href="(/imports/report\.xlsx\?kind=assets&amp;upload=[0-9a-f]{64})"', html)
    assert link
    r = c.get(link.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    marked = filled_cells(r.data)
    for row, column in EXPECTED_BAD:
        assert cell_ref(row, ASSET_HEADERS.index(column)) in marked, (row, column)
    assert db_counts() == before


def test_fixed_file_commits_and_again_changes_nothing(app, xfer):
    rows = [asset(f"ZC-{i:03d}") for i in range(1, 6)]
    rows[1].update({"所在区划代码": VILLAGE_A2})
    content = xlsx(table(ASSET_HEADERS, rows))
    c = login(app, "fin_a")
    html = text(post_file(c, content))
    assert "检查通过" in html and "将新增 5 条" in html and 'id="import-commit"' in html
    assert hidden(html, "kind") == "assets"
    upload = hidden(html, "upload")
    assert re.fullmatch(r"[0-9a-f]{64}", upload)
    assert count(Asset) == 0  # the dry run wrote nothing

    r = c.post("/imports/commit", data={"kind": "assets", "upload": upload})
    assert r.status_code == 302 and r.headers["Location"] == "/imports?kind=assets"
    done = text(c.get(r.headers["Location"]))
    assert "新增 5 条" in done and "未变 0 条" in done
    assert set(db.session.scalars(sa.select(Asset.code))) == {f"ZC-{i:03d}" for i in range(1, 6)}
    assert db.session.scalar(sa.select(Asset.village_code).where(Asset.code == "ZC-002")) == VILLAGE_A2
    after = db_counts()

    r = c.post("/imports/commit", data={"kind": "assets", "upload": upload})  # the same form again
    assert r.status_code == 302
    assert "新增 0 条，未变 5 条" in text(c.get(r.headers["Location"]))
    assert db_counts() == after

    html = text(post_file(c, content, filename="again.xlsx"))  # importing the file again
    assert "将新增 0 条，5 条已存在且内容相同" in html
    assert html.count('<span class="badge">未变</span>') == 5 and "badge ok" not in html
    assert db_counts() == after


def test_commit_checks_again_and_writes_all_or_nothing(app, xfer, f):
    content = xlsx(table(ASSET_HEADERS, [asset("ZC-001"), asset("ZC-002")]))
    c = login(app, "fin_a")
    upload = hidden(text(post_file(c, content)), "upload")
    f.asset(code="ZC-002", name="别人先登记的资产")  # registered meanwhile, with other content
    before = db_counts()
    r = c.post("/imports/commit", data={"kind": "assets", "upload": upload})
    assert r.status_code == 422
    html = text(r)
    assert "导入未完成，未写入任何数据" in html and (3, "资产编号") in error_table(html)
    assert db_counts() == before and count(Asset, Asset.code == "ZC-001") == 0


def test_commit_is_the_users_own_upload_and_scope(app, xfer):
    rows = [head("H-1", "张三", 1, village=VILLAGE_A1)]
    content = xlsx(table(HOUSEHOLD_HEADERS, rows), sheet="农户")
    upload = hidden(text(post_file(login(app, "vc_a1"), content, kind="households")), "upload")
    before = db_counts()
    # another user cannot commit it (the kept file is per user), nor a village out of scope
    r = login(app, "vc_a2").post("/imports/commit", data={"kind": "households", "upload": upload})
    assert r.status_code == 422 and "已过期或不存在" in text(r)
    r = post_file(login(app, "vc_a2"), content, kind="households")
    assert r.status_code == 200 and "超出您的管辖范围" in text(r) and "确认导入" not in text(r)
    # a village committee may not import assets at all (403), nor an auditor commit anything
    assert post_file(login(app, "vc_a1"), xlsx(table(ASSET_HEADERS, [asset()]))).status_code == 403
    assert login(app, "auditor").post(
        "/imports/commit", data={"kind": "households", "upload": upload}).status_code == 403
    assert db_counts() == before
    r = login(app, "vc_a1").post("/imports/commit", data={"kind": "households", "upload": upload})
    assert r.status_code == 302 and count(Household) == 1


@pytest.mark.parametrize("content,filename,why", [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "台账.xlsx", "不是可识别的表格文件"),
    ("资产编号,资产名称\nZC-1,光伏\n".encode(), "台账.xlsx", "文件内容与扩展名不符"),
    (b"%PDF-1.4\n" + b"\x00\x01" * 40, "台账.csv", "不是可识别的表格文件"),
    (b"PK\x03\x04" + b"\x00" * 60, "台账.xlsx", "不是可识别的表格文件"),
    (b"", "台账.xlsx", "文件为空"),
])
def test_forged_or_empty_files_are_refused_with_a_form_error(app, xfer, tmp_path, content, filename, why):
    before = db_counts()
    r = post_file(login(app, "fin_a"), content, filename)
    assert r.status_code == 422
    assert why in (error_of(text(r), "file") or "")
    assert db_counts() == before
    kept = tmp_path / "uploads" / "imports"
    assert not kept.exists() or not any(p.is_file() for p in kept.rglob("*"))  # a refused file is not kept


def test_oversize_and_missing_inputs(app, xfer, monkeypatch):
    c = login(app, "fin_a")
    content = xlsx(table(ASSET_HEADERS, [asset()]))
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", len(content) - 1)
    r = post_file(c, content)
    assert r.status_code == 422 and "上限" in error_of(text(r), "file")
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 10 * 1024 * 1024)
    r = c.post("/imports", data={"kind": "assets"}, content_type="multipart/form-data")
    assert r.status_code == 422 and error_of(text(r), "file") == "请选择要导入的文件"
    r = post_file(c, content, kind="")
    assert r.status_code == 422 and error_of(text(r), "kind") == "请选择"
    r = post_file(c, content, kind="<script>")
    assert r.status_code == 422 and "<script>" not in text(r).split("<main")[1].replace("&lt;script&gt;", "")
    for form in ({}, {"kind": "assets"}, {"kind": "assets", "upload": "../../etc/passwd"},
                 {"kind": "evil", "upload": "a" * 64}, {"kind": "assets", "upload": "a" * 64}):
        r = c.post("/imports/commit", data=form)
        assert r.status_code == 422, form
    assert count(Asset) == 0


def test_dry_run_queries_are_bounded(app, xfer, count_queries):
    c = login(app, "fin_a")

    def queries(n):
        content = xlsx(table(ASSET_HEADERS, [asset(f"ZC-{i:03d}") for i in range(n)]))
        with count_queries() as counter:
            r = post_file(c, content)
        assert r.status_code == 200 and f"将新增 {n} 条" in text(r)
        return counter.count

    assert queries(3) == queries(40) <= 12
    with count_queries() as counter:
        assert c.get("/imports").status_code == 200
    assert counter.count <= 5


# --- CSRF ----------------------------------------------------------------------------------------

@pytest.fixture
def csrf_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)


def test_csrf_on_every_transfer_form(app, xfer, monkeypatch, csrf_on):
    hold_jobs(monkeypatch)
    c = login_with_token(app, "fin_a")  # with CSRF on, the login form needs its token too
    export = {"scope": TOWN_A, "years": "2025", "kind": "ledger"}
    assert c.post("/exports", data=export).status_code == 400
    assert c.post("/exports", data={**export, "csrf_token": "forged"}).status_code == 400
    assert count(ExportJob) == 0
    token = csrf_token(text(c.get("/exports")))
    assert c.post("/exports", data={**export, "csrf_token": token}).status_code == 302

    content = xlsx(table(ASSET_HEADERS, [asset("ZC-001")]))
    assert post_file(c, content).status_code == 400
    token = csrf_token(text(c.get("/imports")))
    html = text(post_file(c, content, csrf_token=token))
    upload = hidden(html, "upload")
    assert c.post("/imports/commit", data={"kind": "assets", "upload": upload}).status_code == 400
    assert count(Asset) == 0
    r = c.post("/imports/commit", data={"kind": "assets", "upload": upload, "csrf_token": csrf_token(html)})
    assert r.status_code == 302 and count(Asset) == 1


def login_with_token(app, username):
    from .web_support import PASSWORD, client

    c = client(app)
    token = csrf_token(text(c.get("/login")))
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    return c
