"""Oversight pages: the rectification ledger (/problems) with filters, counts, scope and its workbook; a
problem's status steps by role (销号 only by an auditor or the county), evidence upload typed by content;
problems from complaints, audits, inspections and flags (and the flag page's acknowledge form); audits,
inspections and disposals through their forms; bounded queries and no 500 on odd input."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.changelog.models import ChangeLogEntry
from assetreg.core.files import StoredFile
from assetreg.extensions import db
from assetreg.lists.models import ArchiveDocument
from assetreg.oversight import services
from assetreg.oversight.models import (
    Audit,
    DisposalApproval,
    DisposalRequest,
    FlagAcknowledgement,
    Inspection,
    Problem,
    ProblemEvent,
    ProblemEvidence,
)

from .factories import TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .test_flags_rules import make_asset
from .web_support import login, text

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def rows() -> tuple:
    """Everything a problem page write may touch (a refusal leaves all of it unchanged)."""
    return tuple(count(m) for m in (Problem, ProblemEvent, ProblemEvidence, ArchiveDocument, StoredFile,
                                    FlagAcknowledgement, ChangeLogEntry))


def error_of(html: str, name: str) -> str | None:
    m = re.search(rf'id="f-{re.escape(name.replace(".", "-"))}-error">([^<]*)<', html)
    return m.group(1) if m else None


def users(world, name):
    return world.users[name]


def raise_problem(world, *, who="admin", place=VILLAGE_A1, asset=None, raised_on="2025-04-01",
                  deadline="2025-05-31", description="群众反映光伏电站围栏破损", **over):
    data = {"source": "complaint", "description": description, "task": "修复围栏", "responsible_unit": "桃源村村委会",
            "responsible_person": "张三", "raised_on": date.fromisoformat(raised_on),
            "deadline": date.fromisoformat(deadline)}
    if asset is not None:
        data["asset_id"] = asset.id
    else:
        data["place_code"] = place
    data.update(over)
    p = services.create_problem(users(world, who), data)
    db.session.commit()
    return p


def move(world, p, *steps, who="admin"):
    for to, on in steps:
        if to == "rectified":
            services.add_evidence(users(world, who), p.id, {"note": "已整改，附照片"})
        services.transition_problem(users(world, who), p.id, {"to_status": to, "on": date.fromisoformat(on)})
        db.session.commit()
    return p


def multipart(fields: dict, file: tuple[str, bytes] | None = None):
    """A multipart body built by hand (kept in memory: no temporary file left open by a refused request)."""
    boundary = "----assetreg-web-oversight"
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    if file is not None:
        name, data = file
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture
def store(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


@pytest.fixture
def ledger(world, f, today):
    """Problems in A1 (one overdue and pending, one from an asset, in progress), A2 (closed) and B1 (pending)."""
    pv = f.asset(name="桃源村光伏电站", code="ZC-PV-A1")
    late = raise_problem(world, description="A1围栏破损逾期")
    on_asset = move(world, raise_problem(world, asset=pv, description="A1电站收益未入账", deadline="2025-12-31"),
                    ("in_progress", "2025-04-10"))
    closed = move(world, raise_problem(world, place=VILLAGE_A2, description="A2公示不全"),
                  ("in_progress", "2025-04-05"), ("rectified", "2025-04-20"), ("closed", "2025-05-01"))
    other = raise_problem(world, place=VILLAGE_B1, description="B1管护缺失", deadline="2025-09-30")
    return {"late": late, "on_asset": on_asset, "closed": closed, "other": other, "pv": pv}


def listed(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'href="/problems/(\d+)">#', html)}


# --- the ledger --------------------------------------------------------------------------------------------

def test_ledger_filters_counts_and_overdue(app, world, ledger):
    c = login(app, "admin")
    r = c.get("/problems")
    assert r.status_code == 200
    html = text(r)
    assert listed(html) == {p.id for p in (ledger["late"], ledger["on_asset"], ledger["closed"], ledger["other"])}
    assert "全部 4" in html and "待整改 2" in html and "整改中 1" in html and "已销号 1" in html
    assert "逾期未整改 1" in html
    late_row = re.search(rf'<tr class="overdue">\s*<td class="nowrap"><a href="/problems/{ledger["late"].id}">', html)
    assert late_row and html.count('class="overdue"') == 1  # the overdue one stands out
    assert "2025年5月31日" in html and "ZC-PV-A1" in html
    assert listed(text(c.get("/problems?status=pending"))) == {ledger["late"].id, ledger["other"].id}
    assert listed(text(c.get("/problems?overdue=y"))) == {ledger["late"].id}
    assert listed(text(c.get(f"/problems?town_code={TOWN_B}"))) == {ledger["other"].id}
    assert listed(text(c.get(f"/problems?village_code={VILLAGE_A2}"))) == {ledger["closed"].id}
    assert listed(text(c.get("/problems?source=audit"))) == set()
    by_town = text(c.get(f"/problems?town_code={TOWN_A}"))
    assert "全部 3" in by_town and "待整改 1" in by_town  # the counts follow the other filters
    paged = text(c.get("/problems?per_page=20&page=1&status=pending"))
    assert "共 2 条，第 1 / 1 页" in paged
    assert 'href="/problems/export.xlsx?per_page' not in paged  # the export keeps filters, not paging
    assert 'href="/problems/export.xlsx?status=pending"' in paged


def test_ledger_scope_of_a_village(app, world, ledger):
    c = login(app, "vc_a1")
    html = text(c.get("/problems"))
    assert listed(html) == {ledger["late"].id, ledger["on_asset"].id}
    assert "全部 2" in html and "登记问题</a>" not in html  # a village committee does not raise problems
    assert listed(text(c.get(f"/problems?village_code={VILLAGE_B1}"))) == set()
    b = login(app, "vc_b1")
    r = b.get(f"/problems/{ledger['late'].id}")
    assert r.status_code == 404 and "A1围栏破损逾期" not in text(r)
    before = rows()
    r = b.post(f"/problems/{ledger['late'].id}/transition", data={"to_status": "in_progress", "on": "2025-06-01"})
    assert r.status_code == 403
    r = b.post(f"/problems/{ledger['late'].id}/evidence", data={"note": "越权提交"})
    assert r.status_code == 403
    assert rows() == before
    assert b.get("/problems/new").status_code == 403


def test_ledger_workbook(app, world, ledger):
    r = login(app, "fin_a").get("/problems/export.xlsx?status=pending&page=3")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in r.headers["Content-Disposition"]
    book = pd.read_excel(io.BytesIO(r.data), header=None, engine="calamine", dtype=object, sheet_name=None)
    sheet = book["整改台账"]
    assert sheet.iloc[0, 0] == "城关镇扶贫项目资产问题整改台账"
    assert "共1条" in sheet.iloc[1, 0] and "逾期未整改1条" in sheet.iloc[1, 0]
    assert list(sheet.iloc[2, :3]) == ["序号", "问题编号", "来源"]
    data = sheet.iloc[3:]
    assert list(data[1]) == [ledger["late"].id] and list(data[16]) == ["逾期"]  # town A only, pending only
    counts = book["按状态统计"]
    assert list(counts.iloc[1]) == ["待整改", 1]


# --- a problem's page: steps, evidence ------------------------------------------------------------------

def test_transitions_by_role(app, world, ledger):
    p = ledger["late"]
    fin = login(app, "fin_a")
    html = text(fin.get(f"/problems/{p.id}"))
    assert "整改台账（状态变更记录）" in html and "登记问题" in html and "桃源村村委会" in html
    assert 'value="in_progress"' in html and 'value="closed"' not in html
    r = fin.post(f"/problems/{p.id}/transition", data={"to_status": "in_progress", "on": "2025-06-01", "version": "1"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/problems/{p.id}#history")
    before = rows()
    r = fin.post(f"/problems/{p.id}/transition", data={"to_status": "rectified", "on": "2025-06-02", "version": "2"})
    assert r.status_code == 422 and "请先上传整改材料" in text(r)  # shown at the status select
    assert "整改材料" in (error_of(text(r), "to_status") or "")
    r = fin.post(f"/problems/{p.id}/transition", data={"to_status": "closed", "on": "2025-06-02", "version": "2"})
    assert r.status_code == 403  # 销号 is a reviewer's step, whatever the status
    r = fin.post(f"/problems/{p.id}/transition", data={"to_status": "in_progress", "on": "2025-05-01", "version": "2"})
    assert r.status_code == 422  # not a legal step
    r = fin.post(f"/problems/{p.id}/transition", data={"to_status": "rectified", "on": "不是日期", "version": "2"})
    assert r.status_code == 422 and "应为日期" in (error_of(text(r), "on") or "")
    assert rows() == before
    assert fin.post(f"/problems/{p.id}/evidence", data={"note": "已修复围栏，附照片"}).status_code == 302
    r = fin.post(f"/problems/{p.id}/transition", data={"to_status": "rectified", "on": "2025-06-20", "version": "2"})
    assert r.status_code == 302
    # A finance officer cannot close (销号): refused with 403, nothing written.
    html = text(fin.get(f"/problems/{p.id}"))
    assert 'value="closed"' not in html and "已修复围栏" in html
    before = rows()
    r = fin.post(f"/problems/{p.id}/transition", data={"to_status": "closed", "on": "2025-06-25", "version": "3"})
    assert r.status_code == 403 and "无权" in text(r)
    assert rows() == before
    aud = login(app, "auditor")
    html = text(aud.get(f"/problems/{p.id}"))
    assert 'value="closed"' in html and "驳回" in html
    r = aud.post(f"/problems/{p.id}/transition", data={"to_status": "in_progress", "on": "2025-06-25", "version": "3"})
    assert r.status_code == 422 and "驳回" in text(r)  # rejecting needs a note
    r = aud.post(f"/problems/{p.id}/transition", data={"to_status": "closed", "on": "2025-06-25", "version": "3",
                                                       "note": "复核通过，同意销号"})
    assert r.status_code == 302
    db.session.expire_all()
    p = db.session.get(Problem, p.id)
    assert p.status == "closed" and p.closed_on == date(2025, 6, 25)
    assert [e.to_status for e in p.events] == ["pending", "in_progress", "rectified", "closed"]
    html = text(aud.get(f"/problems/{p.id}"))
    assert "复核通过，同意销号" in html and "变更状态" not in html and "上传整改材料" not in html
    assert "auditor" in html and "fin_a" in html  # who did each step


def test_stale_version_is_an_inline_error(app, world, ledger):
    p = ledger["late"]
    before = rows()
    r = login(app, "fin_a").post(f"/problems/{p.id}/transition",
                                 data={"to_status": "in_progress", "on": "2025-06-01", "version": "9"})
    assert r.status_code == 422 and "已被他人修改" in text(r)
    assert rows() == before


def test_evidence_upload_and_forged_type(app, world, ledger, store):
    p = ledger["late"]
    c = login(app, "vc_a1")
    html = text(c.get(f"/problems/{p.id}"))
    assert 'enctype="multipart/form-data"' in html and f'value="ZG-{p.id}-1"' in html
    form = {"archive_no": f"ZG-{p.id}-1", "title": "围栏修复照片", "filed_on": "2025-06-28", "note": "围栏已修复"}
    before = rows()
    r = c.post(f"/problems/{p.id}/evidence", **multipart(form, ("photos.pdf", b"MZ\x90\x00not a pdf at all")))
    assert r.status_code == 422
    assert "只接受" in (error_of(text(r), "file") or "")
    assert 'value="围栏修复照片"' in text(r)  # what was typed stays
    assert rows() == before
    assert not [x for x in store.rglob("*") if x.is_file()]  # nothing kept on disk either
    r = c.post(f"/problems/{p.id}/evidence", **multipart(form, ("整改照片.pdf", PDF)))
    assert r.status_code == 302 and r.headers["Location"].endswith("#evidence")
    doc = db.session.scalars(sa.select(ArchiveDocument)).one()
    assert (doc.kind, doc.level, doc.village_code, doc.archive_no) == ("rectification_evidence", "village", VILLAGE_A1,
                                                                      f"ZG-{p.id}-1")
    ev = db.session.scalars(sa.select(ProblemEvidence).where(ProblemEvidence.problem_id == p.id)).one()
    assert ev.document_id == doc.id and ev.note == "围栏已修复"
    stored = db.session.get(StoredFile, doc.file_id)
    assert stored.content_type == "application/pdf" and stored.original_name == "整改照片.pdf"
    html = text(c.get(f"/problems/{p.id}"))
    assert "围栏修复照片" in html and f'href="/api/v1/files/{stored.id}"' in html
    download = c.get(f"/api/v1/files/{stored.id}")
    assert download.get_data() == PDF
    download.close()  # the served file is closed
    before = rows()
    r = c.post(f"/problems/{p.id}/evidence", **multipart(form, ("again.pdf", PDF)))  # same archive number
    assert r.status_code == 422 and "档案号已存在" in text(r)
    r = c.post(f"/problems/{p.id}/evidence", data={"note": ""})
    assert r.status_code == 422 and "请选择文件" in (error_of(text(r), "file") or "")
    assert login(app, "auditor").post(f"/problems/{p.id}/evidence", data={"note": "审计补充"}).status_code == 403
    assert rows() == before


# --- raising problems --------------------------------------------------------------------------------------

PROBLEM_FORM = {"source": "complaint", "asset_code": "", "place_code": VILLAGE_A1, "description": "群众反映道路积水",
                "task": "疏通排水沟", "responsible_unit": "桃源村村委会", "responsible_person": "王五",
                "raised_on": "2025-06-20", "deadline": "2025-07-31"}


def test_raise_a_problem_from_a_complaint(app, world, f, today):
    pv = f.asset(code="ZC-PV-9", place_code=VILLAGE_A2)
    c = login(app, "fin_a")
    html = text(c.get(f"/problems/new?asset_id={pv.id}"))
    assert 'value="ZC-PV-9"' in html and "群众投诉" in html and 'value="2025-06-30"' in html
    r = c.post("/problems/new", data={**PROBLEM_FORM, "asset_code": "ZC-PV-9", "place_code": ""})
    assert r.status_code == 302
    p = db.session.scalars(sa.select(Problem)).one()
    assert r.headers["Location"] == f"/problems/{p.id}"
    assert (p.asset_id, p.village_code, p.source, p.deadline) == (pv.id, VILLAGE_A2, "complaint", date(2025, 7, 31))
    assert [e for e in db.session.scalars(sa.select(ChangeLogEntry.entity)) if e == "problem"] == ["problem"]


@pytest.mark.parametrize("change, field, message", [
    ({"description": ""}, "description", "不能为空"),
    ({"deadline": "2025-06-01"}, "deadline", "不能早于"),
    ({"raised_on": "2030-01-01", "deadline": "2030-02-01"}, "raised_on", "将来"),
    ({"asset_code": "NO-SUCH"}, "asset_code", "未找到"),
    ({"responsible_person": "人" * 65}, "responsible_person", "最多64个字符"),
    ({"place_code": VILLAGE_B1}, None, None),  # outside the town: 403
])
def test_bad_problem_form(app, world, today, change, field, message):
    before = rows()
    r = login(app, "fin_a").post("/problems/new", data={**PROBLEM_FORM, **change})
    if field is None:
        assert r.status_code == 403
    else:
        assert r.status_code == 422
        assert message in (error_of(text(r), field) or ""), error_of(text(r), field)
        assert "疏通排水沟" in text(r)
    assert rows() == before


def test_village_and_unknown_roles_cannot_raise(app, world, today):
    for who in ("vc_a1", "vc_b1"):
        c = login(app, who)
        assert c.get("/problems/new").status_code == 403
        assert c.post("/problems/new", data=PROBLEM_FORM).status_code == 403
    assert count(Problem) == 0


# --- flags page: acknowledge, to problem, base layout ---------------------------------------------------

@pytest.fixture
def roads(f, world, today):
    """Roads in use without custody (CUSTODY_MISSING) in A1 and B1; the towns lack inspections."""
    return {v: make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare", place=v,
                          name=f"{v[-3:]}号道路") for v in (VILLAGE_A1, VILLAGE_B1)}


def test_flag_page_acknowledge_form(app, world, roads):
    road = roads[VILLAGE_A1]
    key = f"asset:{road.id}"
    c = login(app, "vc_a1")
    html = text(c.get("/flags?rule=CUSTODY_MISSING"))
    assert 'aria-label="主导航"' in html  # the shared layout
    assert "确认预警" in html and f'name="flag_key" value="{key}"' in html
    assert 'action="/flags/acknowledge?rule=CUSTODY_MISSING"' in html
    assert "转为问题" not in html  # a village committee does not raise problems
    r = c.post("/flags/acknowledge?rule=CUSTODY_MISSING", data={"rule_id": "CUSTODY_MISSING", "flag_key": key,
                                                                "reason": "   "})
    assert r.status_code == 422 and "不能为空" in text(r) and "aria-invalid" in text(r)
    assert count(FlagAcknowledgement) == 0
    other = f"asset:{roads[VILLAGE_B1].id}"
    r = c.post("/flags/acknowledge", data={"rule_id": "CUSTODY_MISSING", "flag_key": other, "reason": "越权"})
    assert r.status_code == 403 and count(FlagAcknowledgement) == 0
    r = c.post("/flags/acknowledge?rule=CUSTODY_MISSING", data={"rule_id": "CUSTODY_MISSING", "flag_key": key,
                                                                "reason": "管护协议正在签订"})
    assert r.status_code == 302 and r.headers["Location"] == "/flags?rule=CUSTODY_MISSING"
    ack = db.session.scalars(sa.select(FlagAcknowledgement)).one()
    assert ack.reason == "管护协议正在签订"
    html = text(c.get("/flags?rule=CUSTODY_MISSING"))
    assert "已确认" in html and "管护协议正在签订" in html
    assert html.count('name="flag_key"') == 0  # the one flag of the village is acknowledged: no form left
    earlier = text(c.get("/flags?rule=CUSTODY_MISSING&as_of=2025-01-31"))
    assert "<summary>确认预警</summary>" not in earlier and "评估日期设为今天" in earlier  # only today's flags are acknowledged
    r = c.post("/flags/acknowledge", data={"rule_id": "CUSTODY_MISSING", "flag_key": key, "reason": "再次"})
    assert r.status_code == 422 and "已确认" in text(r)
    assert count(FlagAcknowledgement) == 1


def test_flag_to_problem(app, world, roads):
    road = roads[VILLAGE_A1]
    c = login(app, "fin_a")
    html = text(c.get("/flags?rule=CUSTODY_MISSING"))
    link = re.search(r'href="(/problems/new\?[^"]+)">转为问题', html).group(1).replace("&amp;", "&")
    assert "source=flag" in link and f"flag_key=asset:{road.id}&" in link
    form_html = text(c.get(link))
    assert 'name="flag_rule" value="CUSTODY_MISSING"' in form_html and road.code in form_html
    values = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', form_html))
    values.update(responsible_unit="桃源村村委会", responsible_person="李四",
                  description=re.search(r'name="description"[^>]*>([^<]*)<', form_html).group(1))
    values.pop("csrf_token", None)
    r = c.post("/problems/new", data=values)
    assert r.status_code == 302, text(r)
    p = db.session.scalars(sa.select(Problem)).one()
    assert (p.source, p.flag_rule, p.flag_key, p.asset_id) == ("flag", "CUSTODY_MISSING", f"asset:{road.id}", road.id)
    html = text(c.get("/flags?rule=CUSTODY_MISSING"))
    assert f'href="/problems/{p.id}">整改问题 #{p.id}' in html
    # an overdue problem's flag leads to that problem, not to a new one
    p.deadline, p.raised_on = date(2025, 6, 1), date(2025, 5, 1)
    db.session.commit()
    html = text(c.get("/flags?rule=RECTIFICATION_OVERDUE"))
    assert f'href="/problems/{p.id}">查看问题 #{p.id}' in html and "转为问题" not in html
    # A town's flag of one quarter (a key with a period) becomes a problem of the town.
    admin = login(app, "admin")
    html = text(admin.get(f"/flags?rule=INSPECTION_MISSING&town_code={TOWN_A}"))
    link = re.search(r'href="(/problems/new\?[^"]+)">转为问题', html).group(1).replace("&amp;", "&")
    values = dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', text(admin.get(link))))
    values.pop("csrf_token", None)
    assert values["flag_key"].startswith(f"town:{TOWN_A}:")
    values.update(description="城关镇上季度未开展督查检查", responsible_unit="城关镇人民政府", responsible_person="赵六")
    r = admin.post("/problems/new", data=values)
    assert r.status_code == 302, text(r)
    town_problem = db.session.scalars(sa.select(Problem).where(Problem.flag_rule == "INSPECTION_MISSING")).one()
    assert (town_problem.town_code, town_problem.village_code) == (TOWN_A, None)


def test_lists_pages_use_the_shared_layout(app, world, f, today):
    f.asset()
    c = login(app, "fin_a")
    for url in ("/lists", "/lists/assets", "/lists/responsibility", "/lists/regulations", "/lists/archive"):
        r = c.get(url)
        assert r.status_code == 200, url
        html = text(r)
        assert 'aria-label="主导航"' in html and "导出Excel" in html and "/lists/export.xlsx?scope=431299100" in html
    r = c.get("/lists/export.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert not Path(app.root_path, "lists", "templates", "lists", "_layout.html").exists()
    assert not Path(app.root_path, "flags", "templates", "flags", "_layout.html").exists()


# --- audits and inspections ---------------------------------------------------------------------------------

AUDIT_FORM = {"asset_code": "ZC-AUD-1", "year": "2024", "auditor": "青溪县审计局", "audited_on": "2025-03-20",
              "conclusion": "basic_pass", "findings": "2024年电费收入未及时入账"}


def test_audit_create_detail_and_problem(app, world, f, today):
    pv = f.asset(code="ZC-AUD-1", name="桃源村光伏电站")
    c = login(app, "auditor")
    assert 'value="ZC-AUD-1"' in text(c.get(f"/audits/new?asset_id={pv.id}"))
    r = c.post("/audits/new", data=AUDIT_FORM)
    assert r.status_code == 302
    audit = db.session.scalars(sa.select(Audit)).one()
    assert r.headers["Location"] == f"/audits/{audit.id}"
    assert (audit.asset_id, audit.year, audit.conclusion) == (pv.id, 2024, "basic_pass")
    html = text(c.get(f"/audits/{audit.id}"))
    assert "基本合格" in html and "2025年3月20日" in html and "据审计发现登记问题" in html
    html = text(c.get("/audits"))
    assert "ZC-AUD-1" in html and "2024年度" in html
    # findings → a problem of the audited asset
    form_html = text(c.get(f"/problems/new?source=audit&audit_id={audit.id}"))
    assert "2024年电费收入未及时入账" in form_html and 'name="audit_id" value' in form_html
    r = c.post("/problems/new", data={"source": "audit", "audit_id": str(audit.id), "description": "电费收入未及时入账",
                                      "responsible_unit": "城关镇财政所", "responsible_person": "钱七",
                                      "raised_on": "2025-03-25", "deadline": "2025-04-30"})
    assert r.status_code == 302, text(r)
    p = db.session.scalars(sa.select(Problem)).one()
    assert (p.source, p.audit_id, p.asset_id) == ("audit", audit.id, pv.id)
    assert f'href="/problems/{p.id}">#{p.id}' in text(c.get(f"/audits/{audit.id}"))
    r = c.post("/problems/new", data={"source": "audit", "audit_id": str(audit.id), "description": "x",
                                      "responsible_unit": "y", "responsible_person": "z",
                                      "raised_on": "2025-03-01", "deadline": "2025-04-30"})
    assert r.status_code == 422 and "不能早于" in (error_of(text(r), "raised_on") or "")
    assert "桃源村光伏电站" in text(r)  # the audit is shown again


@pytest.mark.parametrize("who, change, status, field, message", [
    ("auditor", {"audited_on": "2030-01-01"}, 422, "audited_on", "将来"),
    ("auditor", {"asset_code": "NO-SUCH"}, 422, "asset_code", "未找到"),
    ("auditor", {"asset_code": ""}, 422, "asset_code", "不能为空"),
    ("auditor", {"asset_code": "ZC-ROAD"}, 422, "asset_code", "不是经营性资产"),
    ("auditor", {"conclusion": "great"}, 422, "conclusion", "请从列表中选择"),
    ("auditor", {"year": "2026"}, 422, "year", "不能晚于"),
    ("auditor", {"year": "二〇二四"}, 422, "year", "应为整数"),
    ("auditor_a", {"asset_code": "ZC-B1"}, 422, "asset_code", "未找到"),  # another town's asset is not found
    ("fin_a", {}, 403, None, None),
    ("vc_a1", {}, 403, None, None),
])
def test_bad_audit_form(app, world, f, today, who, change, status, field, message):
    f.asset(code="ZC-AUD-1")
    f.asset(code="ZC-ROAD", category="public_welfare", subtype="道路")
    f.asset(code="ZC-B1", place_code=VILLAGE_B1)
    before = (count(Audit), count(ChangeLogEntry))
    r = login(app, who).post("/audits/new", data={**AUDIT_FORM, **change})
    assert r.status_code == status
    if field:
        assert message in (error_of(text(r), field) or ""), error_of(text(r), field)
    assert (count(Audit), count(ChangeLogEntry)) == before


def test_duplicate_audit_is_shown_at_the_year(app, world, f, today):
    f.asset(code="ZC-AUD-1")
    c = login(app, "auditor_a")
    assert c.post("/audits/new", data=AUDIT_FORM).status_code == 302
    r = c.post("/audits/new", data=AUDIT_FORM)
    assert r.status_code == 422 and "每年只记一次" in (error_of(text(r), "year") or "")
    assert count(Audit) == 1


INSPECTION_FORM = {"town_code": TOWN_A, "year": "2025", "quarter": "2", "inspected_on": "2025-06-20",
                   "inspector": "县纪委监委第二监督检查室", "conclusion": "基本规范", "findings": "桃源村收益公示不及时"}


def test_inspection_create_scope_and_problem(app, world, today):
    c = login(app, "auditor_a")
    html = text(c.get("/inspections/new"))
    assert 'value="2"' in html and "城关镇" in html and "白石乡" not in html
    r = c.post("/inspections/new", data=INSPECTION_FORM)
    assert r.status_code == 302
    row = db.session.scalars(sa.select(Inspection)).one()
    assert r.headers["Location"] == f"/inspections/{row.id}"
    html = text(c.get(f"/inspections/{row.id}"))
    assert "城关镇2025年第2季度督查检查" in html and "桃源村收益公示不及时" in html
    r = c.post("/inspections/new", data=INSPECTION_FORM)
    assert r.status_code == 422 and "每季度只记一次" in (error_of(text(r), "quarter") or "")
    for data, status in [({**INSPECTION_FORM, "town_code": TOWN_B}, 403),
                         ({**INSPECTION_FORM, "quarter": "5"}, 422),
                         ({**INSPECTION_FORM, "quarter": "1", "inspected_on": "2024-12-31"}, 422),
                         ({**INSPECTION_FORM, "inspector": ""}, 422)]:
        assert c.post("/inspections/new", data=data).status_code == status, data
    assert count(Inspection) == 1
    # findings → a problem in one of the town's villages
    r = c.post("/problems/new", data={"source": "inspection", "inspection_id": str(row.id), "place_code": VILLAGE_A1,
                                      "description": "收益公示不及时", "responsible_unit": "桃源村村委会",
                                      "responsible_person": "孙八", "raised_on": "2025-06-21", "deadline": "2025-07-21"})
    assert r.status_code == 302, text(r)
    p = db.session.scalars(sa.select(Problem)).one()
    assert (p.source, p.inspection_id, p.village_code) == ("inspection", row.id, VILLAGE_A1)
    # a village committee sees no town inspections, and gets 404 on one by URL
    v = login(app, "vc_a1")
    assert "没有督查检查记录" in text(v.get("/inspections"))
    assert v.get(f"/inspections/{row.id}").status_code == 404
    assert login(app, "fin_b").get(f"/inspections/{row.id}").status_code == 404
    assert login(app, "fin_a").post("/inspections/new", data=INSPECTION_FORM).status_code == 403


# --- disposals --------------------------------------------------------------------------------------------------

def test_disposal_through_its_approvals(app, world, f, today):
    a = f.asset(code="ZC-OLD-1", name="旧扶贫车间", subtype="扶贫车间")
    fin = login(app, "fin_a")
    assert 'value="ZC-OLD-1"' in text(fin.get(f"/disposals/new?asset_id={a.id}"))
    r = fin.post("/disposals/new", data={"asset_code": "ZC-OLD-1", "grounds": "end_of_life", "method": "auction",
                                         "reason": "车间老化", "requested_on": "2025-06-01"})
    assert r.status_code == 302
    d = db.session.scalars(sa.select(DisposalRequest)).one()
    url = f"/disposals/{d.id}"
    html = text(fin.get(url))
    steps = re.findall(r"第(\d)步审批 · ([^：]+)：", html)
    assert steps == [("1", "乡镇人民政府"), ("2", "县乡村振兴局"), ("3", "县财政局")]  # the county's order
    assert "登记评估" in html and "撤回申请" in html
    assert fin.post(f"{url}/valuation", data={"valuation": "12,000.50", "valuer": "青溪评估所", "valued_on": "2025-06-05",
                                              "version": str(d.version)}).status_code == 302
    assert "当前步骤不由您办理" in text(fin.get(url))  # the village decides next
    vc = login(app, "vc_a1")
    assert vc.post(f"{url}/village-decision", data={"decided_on": "2025-06-10", "minutes": "村民代表会议同意拍卖",
                                                    "version": "2"}).status_code == 302
    r = fin.post(f"{url}/approval", data={"seq": "2", "approver": "county_rural_revitalisation",
                                          "decision": "approved", "decided_on": "2025-06-12", "version": "3"})
    assert r.status_code == 403  # the county's step, and out of order: refused
    r = login(app, "admin").post(f"{url}/approval", data={
        "seq": "2", "approver": "county_rural_revitalisation", "decision": "approved", "decided_on": "2025-06-12",
        "version": "3"})
    assert r.status_code == 422 and "下一步应为第1步" in text(r)  # the county's order holds
    assert count(DisposalApproval) == 0
    r = fin.post(f"{url}/approval", data={"seq": "1", "approver": "town_government", "decision": "rejected",
                                          "decided_on": "2025-06-12", "version": "3"})
    assert r.status_code == 422 and "否决时必填" in (error_of(text(r), "note") or "")
    assert fin.post(f"{url}/approval", data={"seq": "1", "approver": "town_government", "decision": "approved",
                                             "decided_on": "2025-06-12", "document": "城政批〔2025〕3号",
                                             "version": "3"}).status_code == 302
    r = fin.post(f"{url}/approval", data={"seq": "2", "approver": "county_rural_revitalisation",
                                          "decision": "approved", "decided_on": "2025-06-13", "version": "4"})
    assert r.status_code == 403  # the county's steps are the county's
    admin = login(app, "admin")
    for seq, approver, on in [("2", "county_rural_revitalisation", "2025-06-14"), ("3", "county_finance", "2025-06-15")]:
        page = text(admin.get(url))
        assert f'name="seq" value="{seq}"' in page and f'name="approver" value="{approver}"' in page  # the next one
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        r = admin.post(f"{url}/approval", data={"seq": seq, "approver": approver, "decision": "approved",
                                                "decided_on": on, "version": version})
        assert r.status_code == 302, text(r)
    version = re.search(r'name="version" value="(\d+)"', text(fin.get(url))).group(1)
    r = fin.post(f"{url}/execution", data={"executed_on": "2025-06-20", "proceeds": "12.345", "version": version})
    assert r.status_code == 422 and "最多两位小数" in (error_of(text(r), "proceeds") or "")
    r = fin.post(f"{url}/execution", data={"executed_on": "2025-06-20", "proceeds": "13,500.00", "payer": "某公司",
                                           "voucher_no": "PZ-1", "version": version})
    assert r.status_code == 302
    db.session.expire_all()
    d = db.session.get(DisposalRequest, d.id)
    assert d.status == "executed" and d.proceeds == Decimal("13500.00") and d.valuation == Decimal("12000.50")
    assert db.session.get(Asset, a.id).status == "disposed"
    html = text(fin.get(url))
    assert "13,500.00" in html and "城政批〔2025〕3号" in html and "本申请已执行" in html
    assert "ZC-OLD-1" in text(fin.get("/disposals?status=executed"))
    asset_html = text(fin.get(f"/assets/{a.id}"))
    assert f'href="/disposals/{d.id}"' in asset_html  # the asset page links its disposals
    assert login(app, "vc_b1").get(url).status_code == 404
    assert login(app, "vc_b1").post(f"{url}/cancel", data={"on": "2025-06-21", "reason": "x"}).status_code == 403
    assert login(app, "auditor").get("/disposals/new").status_code == 403


# --- the asset page, bounded queries, odd input --------------------------------------------------------------

def test_asset_page_shows_its_problems(app, world, ledger):
    html = text(login(app, "fin_a").get(f"/assets/{ledger['pv'].id}"))
    assert "问题整改与处置" in html and f'href="/problems/{ledger["on_asset"].id}"' in html
    assert "登记问题" in html and "申请处置" in html
    html = text(login(app, "auditor").get(f"/assets/{ledger['pv'].id}"))
    assert "登记年度审计" in html and "申请处置" not in html


@pytest.mark.parametrize("url", ["/problems?per_page=100", "/audits?per_page=100", "/disposals?per_page=100",
                                 "/inspections?per_page=100"])
def test_list_queries_are_bounded(app, world, f, today, count_queries, url):
    admin = users(world, "admin")

    def grow(n):
        for i in range(n):
            a = f.asset(code=f"ZC-Q-{count(Asset)}", subtype="扶贫车间")
            raise_problem(world, asset=a, description=f"问题{i}")
            services.create_audit(admin, {"asset_id": a.id, "year": 2024, "auditor": "审计局",
                                          "audited_on": date(2025, 3, 1), "conclusion": "pass"})
            services.create_disposal(users(world, "fin_a"), {"asset_id": a.id, "grounds": "other", "method": "scrap",
                                                             "requested_on": date(2025, 6, 1)})
        db.session.commit()

    def queries():
        c = login(app, "admin")
        with count_queries() as counter:
            r = c.get(url)
        assert r.status_code == 200
        return counter.count

    grow(2)
    for town in (TOWN_A, TOWN_B):
        services.create_inspection(admin, {"town_code": town, "year": 2025, "quarter": 1,
                                           "inspected_on": date(2025, 3, 10), "inspector": "纪委"})
    db.session.commit()
    few = queries()
    grow(25)
    for quarter in (2, 3, 4):
        services.create_inspection(admin, {"town_code": TOWN_A, "year": 2024, "quarter": quarter,
                                           "inspected_on": date(2024, 3 * quarter, 10), "inspector": "纪委"})
    db.session.commit()
    assert queries() == few and few <= 10


def test_problem_page_queries_are_bounded(app, world, ledger, count_queries):
    from .oversight_support import doc

    p = ledger["on_asset"]

    def queries():
        c = login(app, "admin")
        with count_queries() as counter:
            r = c.get(f"/problems/{p.id}")
        assert r.status_code == 200
        return counter.count, text(r).count("档案号 ")

    def add(n):
        for i in range(n):
            d = doc(asset=ledger["pv"], kind="rectification_evidence")
            services.add_evidence(users(world, "fin_a" if i % 2 else "vc_a1"), p.id, {"document_id": d.id,
                                                                                    "note": f"材料{i}"})
        db.session.commit()

    add(1)
    one, shown = queries()
    assert shown == 1
    add(6)
    assert queries() == (one, 7) and one <= 10


@pytest.mark.parametrize("qs", [
    "page=abc", "page=0", "page=99999999999", "per_page=100000", "status=<script>", "source=%00",
    "town_code=1234567890123", "village_code=%F0%9F%98%80", "overdue=maybe", "as_of=2025-02-30", "asset_id=-1",
    "asset_id=99999999999999999999", "year=abc", "quarter=9", "unknown=1", "page=2&page=3", "_method=DELETE",
])
def test_odd_query_strings_never_fail(app, world, ledger, qs):
    c = login(app, "admin")
    for path in ("/problems", "/audits", "/inspections", "/disposals", "/problems/export.xlsx"):
        r = c.get(f"{path}?{qs}")
        assert r.status_code == 200, (path, qs)


@pytest.mark.parametrize("url", [
    "/problems/0", "/problems/999999", f"/problems/{2**63 - 1}", f"/problems/{2**63}", "/problems/abc",
    "/audits/0", f"/audits/{2**63 - 1}", "/inspections/999999", "/disposals/999999", "/disposals/-1",
    "/problems/new?source=audit&audit_id=abc", "/problems/new?source=audit", f"/problems/new?source=inspection&inspection_id={2**40}",
    "/problems/new?asset_id=999999", "/audits/new?asset_id=999999", "/disposals/new?asset_id=abc",
])
def test_bad_ids_are_404(app, world, ledger, url):
    r = login(app, "admin").get(url)
    if url == "/disposals/new?asset_id=abc":
        assert r.status_code == 200  # an unreadable prefill is simply left out
    else:
        assert r.status_code == 404, url
        assert "未找到" in text(r)


@pytest.mark.parametrize("path, data", [
    ("/problems/{id}/transition", {"to_status": "done", "on": "2025-06-01"}),
    ("/problems/{id}/transition", {"to_status": "in_progress", "on": "2025-06-01", "version": "0"}),
    ("/problems/{id}/transition", {"to_status": "in_progress", "on": "2025-06-01", "version": "x" * 50}),
    ("/problems/{id}/transition", {"to_status": "in_progress", "on": "2025-06-01", "extra": "1"}),
    ("/problems/{id}/transition", {}),
    ("/problems/{id}/evidence", {"note": "x" * 1001}),
    ("/problems/new", {"source": "flag", "flag_rule": "bad rule", "flag_key": "asset:1:2:3:4"}),
    ("/problems/new", {"source": "audit", "audit_id": "99999999999999999999"}),
    ("/problems/new", {**PROBLEM_FORM, "place_code": "9" * 13}),
    ("/audits/new", {"asset_code": "x" * 500}),
    ("/inspections/new", {"town_code": "<b>", "year": "1e3"}),
    ("/disposals/new", {"asset_code": "ZC-PV-A1", "grounds": "x", "method": "y", "requested_on": "0000-00-00"}),
])
def test_bad_posts_are_422_and_write_nothing(app, world, ledger, path, data):
    before = rows() + (count(Audit), count(Inspection), count(DisposalRequest))
    r = login(app, "admin").post(path.format(id=ledger["late"].id), data=data)
    assert r.status_code == 422, (path, data, r.status_code)
    assert "输入有误" in text(r) or "field-error" in text(r)
    assert rows() + (count(Audit), count(Inspection), count(DisposalRequest)) == before


def test_pages_need_login(client, world):
    for url in ("/problems", "/problems/1", "/problems/new", "/audits", "/inspections", "/disposals",
                "/problems/export.xlsx"):
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.headers["Location"], url
    r = client.post("/problems/1/transition", data={"to_status": "closed"})
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert count(ProblemEvent) == 0


def test_counties_do_not_mix(app, world, ledger, f):
    f.place("431298", "邻县", "county")
    f.user("other_admin", "county_admin", "431298")
    c = login(app, "other_admin")
    assert listed(text(c.get("/problems"))) == set()
    assert c.get(f"/problems/{ledger['late'].id}").status_code == 404
    assert c.get("/problems/export.xlsx").status_code == 200
