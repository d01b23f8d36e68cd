"""Distribution plan pages: the scoped list with its filters, the new-plan form, the plan page, the editor
(allocations, household lines, fill helpers) through the services with inline errors and nothing written on
refusal, scope and roles, CSRF, bounded queries, odd input, and the live totals of static/plan_editor.js."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from assetreg.distribution.models import DistributionPlan, PlanAllocation, PlanLine
from assetreg.extensions import db

from .distribution_support import counts, households, line, new_plan, put_allocations, run_to, settle
from .factories import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .web_support import PASSWORD, client, csrf_token, login, text

D = Decimal
JS = Path(__file__).resolve().parent.parent / "assetreg" / "web" / "static" / "plan_editor.js"


def error_of(html: str, name: str) -> str | None:
    """The inline error under input ``name`` (its id is f-<name with dots as dashes>-error)."""
    m = re.search(rf'id="f-{re.escape(name.replace(".", "-"))}-error">([^<]*)<', html)
    return m.group(1) if m else None


def value_of(html: str, name: str) -> str | None:
    m = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    return m.group(1) if m else None


@pytest.fixture
def a1(world, f, today):
    """桃源村 2024 settled: PV 10,000.00 + rent 6,000.00 − costs 1,000.00 = 15,000.00; five households."""
    settle(f, world, VILLAGE_A1, pv="10000.00", other="6000.00", costs="1000.00")
    return households(f, VILLAGE_A1, "monitored", "formerly_poor", "formerly_poor", "ordinary", "ordinary")


@pytest.fixture
def plan(world, a1):
    return new_plan(world.vc_a1, VILLAGE_A1)


def alloc_form(plan_id, version, **amounts) -> dict:
    form = {"version": str(version)}
    for purpose, amount in amounts.items():
        form[f"alloc.{purpose}.amount"] = amount
    return form


def version_of(plan_id) -> int:
    db.session.expire_all()
    return db.session.get(DistributionPlan, plan_id).version


def lines_of(plan_id, purpose) -> list[tuple[int, Decimal]]:
    db.session.expire_all()
    return [(li.household_id, li.amount) for li in db.session.scalars(
        sa.select(PlanLine).join(PlanAllocation, PlanLine.allocation_id == PlanAllocation.id)
        .where(PlanAllocation.plan_id == plan_id, PlanAllocation.purpose == purpose).order_by(PlanLine.position))]


# --- the list --------------------------------------------------------------------------------------

@pytest.fixture
def three_plans(world, f, a1):
    settle(f, world, VILLAGE_A2, other="2000.00")
    settle(f, world, VILLAGE_B1, other="3000.00")
    return {VILLAGE_A1: new_plan(world.vc_a1, VILLAGE_A1), VILLAGE_A2: new_plan(world.vc_a2, VILLAGE_A2),
            VILLAGE_B1: new_plan(world.vc_b1, VILLAGE_B1)}


def plan_links(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'href="/plans/(\d+)"', html)}


def test_list_is_scoped_to_the_user(app, world, three_plans):
    ids = {v: p["id"] for v, p in three_plans.items()}
    assert plan_links(text(login(app, "vc_a1").get("/plans"))) == {ids[VILLAGE_A1]}
    assert plan_links(text(login(app, "fin_a").get("/plans"))) == {ids[VILLAGE_A1], ids[VILLAGE_A2]}
    assert plan_links(text(login(app, "fin_b").get("/plans"))) == {ids[VILLAGE_B1]}
    html = text(login(app, "admin").get("/plans"))
    assert plan_links(html) == set(ids.values())
    assert "草拟中" in html and "draft" not in re.sub(r"<[^>]+>", "", html)  # the state in Chinese
    assert "桃源村" in html and "石门村" in html and "15,000.00" in html


def test_list_filters_and_pages(app, world, f, three_plans):
    ids = {v: p["id"] for v, p in three_plans.items()}
    c = login(app, "fin_a")
    assert plan_links(text(c.get(f"/plans?village_code={VILLAGE_A2}"))) == {ids[VILLAGE_A2]}
    assert plan_links(text(c.get("/plans?year=2023"))) == set()
    assert plan_links(text(c.get("/plans?year=2024&status=draft"))) == {ids[VILLAGE_A1], ids[VILLAGE_A2]}
    assert plan_links(text(c.get("/plans?status=approved"))) == set()
    admin = login(app, "admin")
    assert plan_links(text(admin.get(f"/plans?town_code={world.town_b}"))) == {ids[VILLAGE_B1]}
    html = text(admin.get("/plans?per_page=2&page=2"))
    assert "共 3 条，第 2 / 2 页" in html and len(plan_links(html)) == 1
    # The village user never sees another village, whatever the filter asks for.
    assert plan_links(text(login(app, "vc_a1").get(f"/plans?village_code={VILLAGE_B1}"))) == set()


def test_new_plan_button_only_for_drafters(app, world, a1):
    assert 'href="/plans/new"' in text(login(app, "vc_a1").get("/plans"))
    for who in ("fin_a", "auditor", "admin"):
        assert 'href="/plans/new"' not in text(login(app, who).get("/plans")), who
        assert login(app, who).get("/plans/new").status_code == 403, who
    assert 'href="/plans"' in text(login(app, "vc_a1").get("/"))  # the navigation entry is live


# --- creating --------------------------------------------------------------------------------------

def test_create_plan_through_the_form(app, world, a1):
    c = login(app, "vc_a1")
    html = text(c.get("/plans/new"))
    assert 'value="2024"' in html and f'<option value="{VILLAGE_A1}" selected' in html
    r = c.post("/plans/new", data={"village_code": VILLAGE_A1, "year": "2024", "carry_over": "1,234.56"})
    assert r.status_code == 302
    p = db.session.scalar(sa.select(DistributionPlan))
    assert r.headers["Location"] == f"/plans/{p.id}"
    assert (p.carry_over, p.available, p.created_by_id) == (D("1234.56"), D("16234.56"), world.users["vc_a1"].id)
    html = text(c.get(f"/plans/{p.id}"))
    assert "桃源村2024年度收益分配方案" in html and "已创建" in html


@pytest.mark.parametrize("change, field, message", [
    ({"year": ""}, "year", "不能为空"),
    ({"year": "二〇二四"}, "year", "应为整数"),
    ({"year": "2025"}, "year", "应早于 2025"),
    ({"year": "2023"}, "year", "尚未完成年度清算"),
    ({"village_code": ""}, "village_code", "不能为空"),
    ({"carry_over": "1.234"}, "carry_over", "最多两位小数"),
    ({"carry_over": "-5"}, "carry_over", "金额应在"),
])
def test_bad_new_plan_form_writes_nothing(app, world, a1, change, field, message):
    before = counts()
    r = login(app, "vc_a1").post("/plans/new", data={"village_code": VILLAGE_A1, "year": "2024", **change})
    assert r.status_code == 422
    assert message in (error_of(text(r), field) or ""), error_of(text(r), field)
    assert counts() == before


def test_create_refused_out_of_scope_and_duplicate(app, world, f, a1):
    settle(f, world, VILLAGE_B1, other="100.00")
    before = counts()
    assert login(app, "vc_a1").post("/plans/new", data={"village_code": VILLAGE_B1, "year": "2024"}).status_code == 403
    assert counts() == before
    new_plan(world.vc_a1, VILLAGE_A1)
    r = login(app, "vc_a1").post("/plans/new", data={"village_code": VILLAGE_A1, "year": "2024"})
    assert r.status_code == 422 and "每村每年只能有一个分配方案" in error_of(text(r), "year")


# --- the plan page ---------------------------------------------------------------------------------

def test_plan_page_shows_figures_lines_warnings_and_links(app, world, a1, plan):
    monitored, poor = a1[0], a1[1]
    r = put_allocations(world.vc_a1, plan["id"], [
        {"purpose": "public_works", "amount": "5000.00", "use": "村组道路维修"},
        {"purpose": "relief", "amount": "1500.00", "lines": [line(poor, "1500.00", reason="因病")]}])
    assert r.status_code == 200, r.json
    for who in ("vc_a1", "fin_a", "auditor"):
        html = text(login(app, who).get(f"/plans/{plan['id']}"))
        for part in ("可分配收益", "15,000.00", "清算净收益", "上年结转", "其中光伏收益", "10,000.00", "草拟中",
                     "村组道路维修", "6,500.00", "8,500.00", poor.number, "1,500.00", "因病",
                     "光伏收益用于公益比例不足", "监测户未获分配"):
            assert part in html, (who, part)
        assert f'href="/plans/{plan["id"]}/notice"' in html
        if app.url_map.bind("x").test(f"/plans/{plan['id']}/procedure"):
            assert f'href="/plans/{plan["id"]}/procedure"' in html
        editing = who == "vc_a1"
        assert ("保存分配项" in html) is editing and ("自动填充到户明细" in html) is editing, who
        assert ("plan_editor.js" in html) is editing
        assert ("修改上年结转/备注" in html) is editing and (f'action="/plans/{plan["id"]}/header' in html) is editing
    html = text(login(app, "vc_a1").get(f"/plans/{plan['id']}"))
    assert value_of(html, "alloc.public_works.amount") == "5000.00"
    assert value_of(html, "relief.0.household") == poor.number and value_of(html, "relief.0.amount") == "1500.00"
    assert 'data-available-fen="1500000"' in html and 'data-lines-fen="150000"' in html
    assert f'<option value="{monitored.number}"' in html  # the household list offered to the inputs


def test_locked_plan_is_read_only(app, world, a1, plan):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [
        {"purpose": "public_works", "amount": "12000.00"},
        {"purpose": "relief", "amount": "3000.00", "lines": [line(hs[0], "2000.00"), line(hs[1], "1000.00")]}])
    run_to(world, plan["id"], "town_review")
    c = login(app, "vc_a1")
    html = text(c.get(f"/plans/{plan['id']}"))
    assert "乡镇已审核" in html and "保存分配项" not in html and "分配内容不能再修改" in html
    assert hs[0].number in html and "2,000.00" in html
    before = counts()
    r = c.post(f"/plans/{plan['id']}/allocations", data=alloc_form(plan["id"], version_of(plan["id"]),
                                                                     public_works="1.00"))
    assert r.status_code == 422 and "乡镇审核" in text(r)
    assert counts() == before


# --- allocations -----------------------------------------------------------------------------------

def test_save_allocations(app, world, a1, plan):
    c = login(app, "vc_a1")
    form = alloc_form(plan["id"], plan["version"], public_works="8,000.00", relief="3000", carry="1000.5")
    form["alloc.public_works.use"] = "村组道路维修"
    r = c.post(f"/plans/{plan['id']}/allocations", data=form)
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/plans/{plan['id']}#allocations")
    db.session.expire_all()
    rows = db.session.scalars(sa.select(PlanAllocation).where(PlanAllocation.plan_id == plan["id"])
                              .order_by(PlanAllocation.position)).all()
    assert [(a.purpose, a.amount, a.use) for a in rows] == [
        ("public_works", D("8000.00"), "村组道路维修"), ("relief", D("3000.00"), None), ("carry", D("1000.50"), None)]
    html = text(c.get(f"/plans/{plan['id']}"))
    assert "分配项已保存" in html and "12,000.50" in html


def test_saving_allocations_keeps_the_lines_of_the_purposes_kept(app, world, a1, plan):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [
        {"purpose": "relief", "amount": "300.00", "lines": [line(hs[0], "200.00"), line(hs[1], "100.00")]}])
    c = login(app, "vc_a1")
    form = alloc_form(plan["id"], version_of(plan["id"]), relief="300.00", public_works="9000")
    form["alloc.relief.use"] = "大病救助"
    assert c.post(f"/plans/{plan['id']}/allocations", data=form).status_code == 302
    assert lines_of(plan["id"], "relief") == [(hs[0].id, D("200.00")), (hs[1].id, D("100.00"))]


@pytest.mark.parametrize("change, field, message", [
    ({"alloc.public_works.amount": "12000.00", "alloc.relief.amount": "3000.01"}, "alloc.relief.amount",
     "超出可分配收益"),
    ({"alloc.relief.amount": "12.345"}, "alloc.relief.amount", "最多两位小数"),
    ({"alloc.relief.amount": "abc"}, "alloc.relief.amount", "应为金额"),
    ({"alloc.relief.amount": "0"}, "alloc.relief.amount", "金额应大于0"),
    ({"alloc.public_works.use": "发放村干部津贴福利"}, "alloc.public_works.use", "禁止的收益用途"),
    ({"alloc.awards.amount": "400.00"}, "alloc.awards.amount", "与该项分配额"),  # its lines add up to 500.00
    ({"version": "1"}, None, "已被他人修改"),
])
def test_bad_allocations_are_refused_whole(app, world, a1, plan, change, field, message):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [
        {"purpose": "public_works", "amount": "1000.00"},
        {"purpose": "awards", "amount": "500.00", "lines": [line(hs[0], "500.00")]}])
    before = counts()
    form = {**alloc_form(plan["id"], version_of(plan["id"]), public_works="1000.00", awards="500.00",
                         relief="100.00"), **change}
    r = login(app, "vc_a1").post(f"/plans/{plan['id']}/allocations", data=form)
    assert r.status_code == 422
    html = text(r)
    if field:
        assert message in (error_of(html, field) or ""), (error_of(html, field), html[html.find("form-errors"):][:800])
    assert message in html[html.find('class="form-errors"'):]  # the summary names it too
    assert value_of(html, "alloc.relief.amount") == form["alloc.relief.amount"]  # what was typed stays
    assert counts() == before


# --- household lines -------------------------------------------------------------------------------

def lines_form(version, purpose, amount, rows) -> dict:
    form = {"version": str(version), f"{purpose}.amount": amount}
    for k, row in enumerate(rows):
        for key, value in row.items():
            form[f"{purpose}.{k}.{key}"] = value
    return form


def test_save_household_lines(app, world, a1, plan):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "relief", "amount": "1000.00"}])
    c = login(app, "vc_a1")
    form = lines_form(version_of(plan["id"]), "relief", "1,200.00", [
        {"household": hs[0].number, "amount": "700.00", "reason": "因病"},
        {"household": hs[1].number, "amount": "500", "person_name": "代领人"},
        {"household": "", "amount": ""},  # a blank row is not a line
        {"household": hs[2].number, "amount": "99.00", "drop": "y"},  # ticked 删除
    ])
    r = c.post(f"/plans/{plan['id']}/lines/relief", data=form)
    assert r.status_code == 302 and r.headers["Location"].endswith("#lines-relief")
    assert lines_of(plan["id"], "relief") == [(hs[0].id, D("700.00")), (hs[1].id, D("500.00"))]
    db.session.expire_all()
    a = db.session.scalar(sa.select(PlanAllocation).where(PlanAllocation.plan_id == plan["id"]))
    assert a.amount == D("1200.00")  # the allocation amount saved with its lines
    assert [(li.person_name, li.reason) for li in a.lines] == [(hs[0].head_name, "因病"), ("代领人", None)]
    html = text(c.get(f"/plans/{plan['id']}"))
    assert "到户明细已保存（2户）" in html


def test_public_job_lines_months_times_wage(app, world, a1, plan):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "public_jobs", "amount": "4800.00"}])
    c = login(app, "vc_a1")
    rows = [{"household": hs[0].number, "amount": "4800.00", "months": "6", "monthly_wage": "800"}]
    r = c.post(f"/plans/{plan['id']}/lines/public_jobs", data=lines_form(version_of(plan["id"]), "public_jobs",
                                                                          "4800.00", rows))
    assert r.status_code == 302
    db.session.expire_all()
    li = db.session.scalar(sa.select(PlanLine))
    assert (li.months, li.monthly_wage, li.amount) == (6, D("800.00"), D("4800.00"))
    html = text(c.get(f"/plans/{plan['id']}"))
    assert value_of(html, "public_jobs.0.months") == "6" and value_of(html, "public_jobs.0.monthly_wage") == "800.00"


def test_bad_household_lines_name_the_line_and_write_nothing(app, world, f, a1, plan):
    hs = a1
    stranger = f.household(VILLAGE_B1)
    put_allocations(world.vc_a1, plan["id"], [
        {"purpose": "public_works", "amount": "1000.00"},
        {"purpose": "relief", "amount": "1000.00", "lines": [line(hs[0], "1000.00")]}])
    c = login(app, "vc_a1")
    v = version_of(plan["id"])
    before = counts()
    cases = [
        ([{"household": hs[0].number, "amount": "600.00"}, {"household": hs[1].number, "amount": "300.00"}],
         "relief.total", "到户明细合计 900.00 元，与该项分配额 1000.00 元不符"),
        ([{"household": hs[0].number, "amount": "600.00"}, {"household": "H-NOPE", "amount": "400.00"}],
         "relief.1.household", "未找到本村的该户编号"),
        ([{"household": hs[0].number, "amount": "600.00"}, {"household": stranger.number, "amount": "400.00"}],
         "relief.1.household", "未找到本村的该户编号"),
        ([{"household": hs[0].number, "amount": "600.00"}, {"household": hs[0].number, "amount": "400.00"}],
         "relief.1.household", "与第1行重复"),
        ([{"household": hs[0].number, "amount": "abc"}, {"household": hs[1].number, "amount": "400.00"}],
         "relief.0.amount", "应为金额"),
        ([{"household": hs[0].number, "amount": "600.001"}, {"household": hs[1].number, "amount": "400.00"}],
         "relief.0.amount", "最多两位小数"),
        ([{"household": "", "amount": "1000.00"}], "relief.0.household", "必填"),
    ]
    for rows, field, message in cases:
        r = c.post(f"/plans/{plan['id']}/lines/relief", data=lines_form(v, "relief", "1000.00", rows))
        assert r.status_code == 422, (rows, r.status_code)
        html = text(r)
        assert message in (error_of(html, field) or ""), (field, error_of(html, field))
        k = field.split(".")[1]
        if k.isdigit():
            assert f"第{int(k) + 1}行" in html[html.find('class="form-errors"'):]  # the summary names the line
        assert value_of(html, "relief.0.household") == rows[0]["household"]  # what was typed stays
    # The allocation amount beyond what is available, and months × wage that is not the amount.
    r = c.post(f"/plans/{plan['id']}/lines/relief", data=lines_form(v, "relief", "14500.00", [
        {"household": hs[0].number, "amount": "14500.00"}]))
    assert r.status_code == 422 and "超出可分配收益" in error_of(text(r), "relief.amount")
    r = c.post(f"/plans/{plan['id']}/lines/relief", data=lines_form(v, "relief", "1000.00", [
        {"household": hs[0].number, "amount": "1000.00", "months": "3", "monthly_wage": "300.00"}]))
    assert r.status_code == 422 and "3个月×300.00元 = 900.00 元" in error_of(text(r), "relief.0.amount")
    r = c.post(f"/plans/{plan['id']}/lines/relief", data=lines_form(v, "relief", "", [
        {"household": hs[0].number, "amount": "1000.00"}]))
    assert r.status_code == 422 and "请填写该项分配额" in error_of(text(r), "relief.amount")
    assert counts() == before
    assert lines_of(plan["id"], "relief") == [(hs[0].id, D("1000.00"))]


# --- fill helpers ----------------------------------------------------------------------------------

def test_fill_preview_then_apply_adds_up_exactly(app, world, a1, plan):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "relief", "amount": "1000.00"}])
    c = login(app, "vc_a1")
    before = counts()
    form = {"version": str(version_of(plan["id"])), "purpose": "relief", "method": "equal",
            "status.formerly_poor": "y", "status.monitored": "y", "action": "preview"}
    r = c.post(f"/plans/{plan['id']}/fill", data=form)
    assert r.status_code == 200
    html = text(r)
    assert "预览：扶贫济困" in html and "333.34" in html and "333.33" in html and "合计与分配额一致" in html
    assert counts() == before  # a preview writes nothing
    assert 'name="status.monitored" value="y" checked' in html  # the form keeps what was chosen
    r = c.post(f"/plans/{plan['id']}/fill", data={**form, "action": "apply"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#lines-relief")
    got = lines_of(plan["id"], "relief")
    assert [hid for hid, _ in got] == [hs[0].id, hs[1].id, hs[2].id]
    assert sum(amount for _, amount in got) == D("1000.00")
    assert sorted(amount for _, amount in got) == [D("333.33"), D("333.33"), D("333.34")]
    assert "已按“按户平均”为“扶贫济困”分配到 3 户，合计 1,000.00 元" in text(c.get(f"/plans/{plan['id']}"))


def test_fill_by_tier_table_and_by_weights(app, world, a1, plan):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "relief", "amount": "3000.00"},
                                              {"purpose": "awards", "amount": "100.00"}])
    c = login(app, "vc_a1")
    tiers = {"tiers.0.status": "monitored", "tiers.0.amount": "1500", "tiers.1.status": "formerly_poor",
             "tiers.1.amount": "1000.00", "tiers.2.amount": ""}
    r = c.post(f"/plans/{plan['id']}/fill", data={"version": str(version_of(plan["id"])), "purpose": "relief",
                                                  "method": "tier", "action": "apply", **tiers})
    assert r.status_code == 302, error_of(text(r), "tiers")
    got = lines_of(plan["id"], "relief")
    assert [a for _, a in got] == [D("1285.72"), D("857.14"), D("857.14")] and sum(a for _, a in got) == D("3000.00")
    weights = f"{hs[1].number} 1\n\n{hs[2].number}，2\n{hs[3].number}:0\n"
    r = c.post(f"/plans/{plan['id']}/fill", data={"version": str(version_of(plan["id"])), "purpose": "awards",
                                                  "method": "weights", "weights": weights, "action": "apply"})
    assert r.status_code == 302
    assert lines_of(plan["id"], "awards") == [(hs[1].id, D("33.33")), (hs[2].id, D("66.67"))]


def test_fill_public_jobs_by_months_attended_times_wage(app, world, a1, plan):
    hs = a1
    for h, wage, months in ((hs[0], "800.00", 6), (hs[1], "650.50", 3)):
        r = world.vc_a1.post("/api/v1/jobs", json={
            "village_code": VILLAGE_A1, "post": "道路维护员", "household_id": h.id, "person_name": h.head_name,
            "monthly_wage": wage, "term_from": "2024-01-01", "term_to": "2024-12-31", "pay_cycle": "quarter"})
        assert r.status_code == 201, r.json
        entries = [{"year": 2024, "month": m, "days_worked": 20} for m in range(1, months + 1)]
        assert world.vc_a1.post(f"/api/v1/jobs/{r.json['id']}/attendance", json={"entries": entries}).status_code == 200
    c = login(app, "vc_a1")
    r = c.post(f"/plans/{plan['id']}/fill", data={"version": str(version_of(plan["id"])), "purpose": "public_jobs",
                                                  "method": "jobs", "set_amount": "y", "action": "apply"})
    assert r.status_code == 302, text(r)[text(r).find("form-errors"):][:500]
    assert lines_of(plan["id"], "public_jobs") == [(hs[0].id, D("4800.00")), (hs[1].id, D("1951.50"))]
    db.session.expire_all()
    a = db.session.scalar(sa.select(PlanAllocation).where(PlanAllocation.purpose == "public_jobs"))
    assert a.amount == D("6751.50") == a.lines_total  # the allocation is the wages, exactly
    html = text(c.get(f"/plans/{plan['id']}"))
    assert value_of(html, "public_jobs.1.months") == "3" and value_of(html, "public_jobs.1.monthly_wage") == "650.50"
    assert value_of(html, "public_jobs.0.job_id") == str(a.lines[0].job_id)
    # Saved back through the lines form unchanged, the job lines keep their months, wage and job.
    form = {k: v for k, v in re.findall(r'name="(public_jobs\.[^"]+)" value="([^"]*)"', html) if not k.endswith(".drop")}
    r = c.post(f"/plans/{plan['id']}/lines/public_jobs", data={**form, "version": str(version_of(plan["id"]))})
    assert r.status_code == 302
    db.session.expire_all()
    a = db.session.scalar(sa.select(PlanAllocation).where(PlanAllocation.purpose == "public_jobs"))
    assert [(li.months, li.monthly_wage, li.job_id is not None) for li in a.lines] == [
        (6, D("800.00"), True), (3, D("650.50"), True)]


@pytest.mark.parametrize("change, field, message", [
    ({"method": "tier"}, "tiers", "请填写档次表"),
    ({"method": "tier", "tiers.0.amount": "1.234"}, "tiers.0.amount", "最多两位小数"),
    ({"method": "tier", "tiers.1.min_size": "5", "tiers.1.max_size": "2", "tiers.1.amount": "1"},
     "tiers.0.max_size", "不能小于"),  # the blank first row is dropped: the second row is the first sent
    ({"method": "magic"}, "method", "请从列表中选择"),
    ({"purpose": "awards"}, None, "方案中还没有“奖励补助”分配项"),
    ({"method": "equal", "set_amount": "y"}, None, "按平均或权重分配时分配额即为该项金额"),
    ({"method": "weights", "weights": "H-NOPE 1"}, "weights", "第1行：未找到本村的户编号 H-NOPE"),
    ({"method": "weights", "weights": "\nnonsense"}, "weights", "第2行：格式应为"),
])
def test_bad_fill_requests_write_nothing(app, world, a1, plan, change, field, message):
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "relief", "amount": "1000.00"}])
    before = counts()
    form = {"version": str(version_of(plan["id"])), "purpose": "relief", "method": "equal", "action": "apply",
            **change}
    r = login(app, "vc_a1").post(f"/plans/{plan['id']}/fill", data=form)
    assert r.status_code == 422
    html = text(r)
    if field:
        assert message in (error_of(html, field) or ""), (field, error_of(html, field))
    assert message in html[html.find('class="form-errors"'):]
    assert counts() == before


# --- scope and roles -------------------------------------------------------------------------------

def test_other_village_gets_404_and_cannot_post(app, world, a1, plan):
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "relief", "amount": "100.00",
                                               "lines": [line(hs[0], "100.00")]}])
    before = counts()
    v = str(version_of(plan["id"]))
    for who in ("vc_b1", "vc_a2", "fin_b"):
        c = login(app, who)
        r = c.get(f"/plans/{plan['id']}")
        assert r.status_code == 404 and "未找到该分配方案" in text(r) and "桃源村" not in text(r), who
        posts = [
            (f"/plans/{plan['id']}/allocations", {"version": v, "alloc.relief.amount": "100.00"}),
            (f"/plans/{plan['id']}/lines/relief", lines_form(v, "relief", "100.00",
                                                             [{"household": hs[1].number, "amount": "100.00"}])),
            (f"/plans/{plan['id']}/fill", {"version": v, "purpose": "relief", "method": "equal", "action": "apply"}),
            (f"/plans/{plan['id']}/fill", {"version": v, "purpose": "relief", "method": "equal", "action": "preview"}),
            (f"/plans/{plan['id']}/header", {"version": v, "carry_over": "500.00", "note": "改"}),
        ]
        for url, data in posts:
            r = c.post(url, data=data)
            assert r.status_code in (403, 404), (who, url, r.status_code)
            assert hs[0].number not in text(r)
    # Readers in scope who may not draft: the page, but no writes.
    for who in ("fin_a", "auditor", "auditor_a", "admin"):
        c = login(app, who)
        assert c.get(f"/plans/{plan['id']}").status_code == 200
        r = c.post(f"/plans/{plan['id']}/allocations", data={"version": v, "alloc.relief.amount": "100.00"})
        assert r.status_code == 403, who
        for action in ("apply", "preview"):
            r = c.post(f"/plans/{plan['id']}/fill", data={"version": v, "purpose": "relief", "method": "equal",
                                                          "action": action})
            assert r.status_code == 403, (who, action)
        r = c.post(f"/plans/{plan['id']}/lines/relief", data=lines_form(v, "relief", "100.00", [
            {"household": hs[1].number, "amount": "100.00"}]))
        assert r.status_code == 403, who
        r = c.post(f"/plans/{plan['id']}/header", data={"version": v, "carry_over": "500.00", "note": "改"})
        assert r.status_code == 403, who
    assert counts() == before


def test_csrf_is_required_on_the_plan_forms(app, world, a1, plan, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    c = client(app)
    token = csrf_token(text(c.get("/login")))
    assert c.post("/login", data={"username": "vc_a1", "password": PASSWORD, "csrf_token": token}).status_code == 302
    before = counts()
    form = alloc_form(plan["id"], plan["version"], public_works="100.00")
    url = f"/plans/{plan['id']}/allocations"
    assert c.post(url, data=form).status_code == 400
    assert c.post(url, data={**form, "csrf_token": "forged"}).status_code == 400
    assert c.post("/plans/new", data={"village_code": VILLAGE_A1, "year": "2023"}).status_code == 400
    assert c.post(f"/plans/{plan['id']}/fill", data={"purpose": "relief", "method": "equal"}).status_code == 400
    assert c.post(f"/plans/{plan['id']}/lines/relief", data={"relief.amount": "1"}).status_code == 400
    header = {"version": str(plan["version"]), "carry_over": "100.00", "note": ""}
    assert c.post(f"/plans/{plan['id']}/header", data=header).status_code == 400
    assert c.post(f"/plans/{plan['id']}/header", data={**header, "csrf_token": "forged"}).status_code == 400
    assert counts() == before
    html = text(c.get(f"/plans/{plan['id']}"))
    assert html.count('name="csrf_token"') == 4  # carry-over/note, allocations, fill (no lines form yet), logout
    token = csrf_token(html)
    assert c.post(url, data={**form, "csrf_token": token}).status_code == 302
    assert counts()["plan_allocations"] == before["plan_allocations"] + 1
    r = c.post(f"/plans/{plan['id']}/header", data={**header, "version": str(version_of(plan["id"])),
                                                    "csrf_token": token})
    assert r.status_code == 302 and db.session.get(DistributionPlan, plan["id"]).carry_over == D("100.00")


# --- bounded queries -------------------------------------------------------------------------------

def test_list_and_plan_page_queries_are_bounded(app, world, f, today, count_queries):
    """The same number of statements for 1 plan or 6, and for 2 household lines or 24."""
    from assetreg.distribution import rules, services

    hs = households(f, VILLAGE_A1, *(["formerly_poor"] * 24))

    def measure(years, n_lines):
        for year in years:
            settle(f, world, VILLAGE_A1, year=year, other="9000.00")
            new_plan(world.vc_a1, VILLAGE_A1, year=year)
        p = db.session.scalar(sa.select(DistributionPlan).where(DistributionPlan.year == 2024))
        amounts = rules.split_equal(D("9000.00"), n_lines)
        services.set_allocations(None, p.id, [{"purpose": "relief", "amount": D("9000.00"), "lines": [
            {"household_id": h.id, "amount": a} for h, a in zip(hs, amounts, strict=False)]}])
        db.session.commit()
        c = login(app, "vc_a1")
        with count_queries() as listing:
            r = c.get("/plans")
        n_plans = db.session.scalar(sa.select(sa.func.count()).select_from(DistributionPlan))
        assert r.status_code == 200 and len(plan_links(text(r))) == n_plans
        with count_queries() as plan_page:
            r = c.get(f"/plans/{p.id}")
        assert r.status_code == 200 and text(r).count("<tr data-line>") == n_lines + 2
        return listing.count, plan_page.count

    small = measure([2024], 2)
    large = measure([2019, 2020, 2021, 2022, 2023], 24)
    assert small == large
    assert large[0] <= 10 and large[1] <= 16


# --- odd input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("qs", [
    "page=abc", "page=0", "page=99999999999", "per_page=100000", "year=abc", "year=99999", "status=<script>",
    "status=%00", "village_code=%F0%9F%98%80", "town_code=1234567890123", "unknown=1", "page=2&page=3",
    "per_page=-5", "year=" + "9" * 40,
])
def test_odd_query_strings_never_fail(app, world, a1, plan, qs):
    assert login(app, "fin_a").get(f"/plans?{qs}").status_code == 200


def test_bad_ids_and_bodies_never_fail(app, world, a1, plan):
    c = login(app, "vc_a1")
    for url in ("/plans/0", "/plans/99999999", "/plans/99999999999999999999", "/plans/abc", "/plans/-1",
                f"/plans/{plan['id']}/lines/relief", f"/plans/{plan['id']}/header"):
        assert c.get(url).status_code in (404, 405), url
    for url in ("/plans/99999999/allocations", "/plans/99999999/fill", "/plans/99999999/lines/relief",
                "/plans/99999999/header", "/plans/99999999999999999999/header",
                f"/plans/{plan['id']}/lines/carry", f"/plans/{plan['id']}/lines/%00"):
        assert c.post(url, data={"version": "1"}).status_code == 404, url
    before = counts()
    odd = [
        ("allocations", {"version": "abc", "alloc.relief.amount": "1e5", "alloc.nonsense.amount": "1"}),
        ("allocations", {"version": "9" * 30, "alloc.relief.amount": "9" * 30}),
        ("allocations", {"alloc.relief.amount": "１００", "alloc.relief.use": "x" * 5000}),
        ("lines/relief", {"relief.amount": "NaN", "relief.0.household": "x" * 500, "relief.0.amount": "Infinity",
                          "relief.0.months": "99", "relief.0.job_id": "abc", "relief.x.amount": "1"}),
        ("lines/awards", {"awards.amount": "1", "awards.99999.household": "x", "awards.99999.amount": "1",
                          "awards.1.months": "1", "awards.1.monthly_wage": "-1", "awards.1.household": "y"}),
        ("fill", {"purpose": "", "method": "", "action": "apply", "version": "-3"}),
        ("fill", {"purpose": "relief", "method": "tier", "tiers.0.min_size": "abc", "tiers.0.amount": "x",
                  "tiers.0.status": "rich", "tiers.0.labour": "strong", "action": "preview"}),
        ("fill", {"purpose": "relief", "method": "weights", "weights": "a b c d\n" * 3, "action": "preview"}),
        ("header", {}),
        ("header", {"version": "9" * 30, "carry_over": "9" * 30}),
        ("header", {"version": "-3", "carry_over": "1e5", "note": "x" * 5000}),
        ("header", {"carry_over": "１００", "note": "ok"}),
        ("header", {"carry_over": "NaN", "version": "abc", "unknown": "1"}),
        ("header", {"carry_over": "Infinity"}),
        ("header", {"carry_over": "-0.01"}),
    ]
    for path, data in odd:
        r = c.post(f"/plans/{plan['id']}/{path}", data=data)
        assert r.status_code == 422, (path, data, r.status_code)
    assert c.post("/plans/new", data={"village_code": "x" * 300, "year": "9" * 30}).status_code == 422
    assert counts() == before
    # A NUL character: PostgreSQL refuses it in text (422 page, nothing written); SQLite stores it.
    r = c.post(f"/plans/{plan['id']}/allocations", data={"version": str(plan["version"]),
                                                         "alloc.relief.amount": "1.00", "alloc.relief.use": "a\x00b"})
    assert r.status_code in (302, 422)
    r = c.post(f"/plans/{plan['id']}/header", data={"version": str(version_of(plan["id"])), "carry_over": "1.00",
                                                    "note": "a\x00b"})
    assert r.status_code in (302, 422)


# --- the live totals (static/plan_editor.js) -------------------------------------------------------

@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_live_totals_parse_amounts_as_integer_fen():
    script = f"""
const e = require({json.dumps(str(JS))});
const out = {{
  a: e.parseFen("1234.56"), b: e.parseFen("1,234.5"), c: e.parseFen(" 0.1 "), d: e.parseFen("0.2"),
  blank: e.parseFen(""), bad: [e.parseFen("12.345"), e.parseFen("abc"), e.parseFen("-1"), e.parseFen("1e5"),
                               e.parseFen("99999999999999999")].map(Number.isNaN),
  sum: e.addFen(e.parseFen("0.1"), e.parseFen("0.2")),
  big: e.parseFen("1000000000000.00"),
  fmt: [e.formatFen(123456), e.formatFen(5), e.formatFen(0), e.formatFen(-150), e.formatFen(100000000000000)],
}};
console.log(JSON.stringify(out));
"""
    r = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, check=True)
    out = json.loads(r.stdout)
    assert (out["a"], out["b"], out["c"], out["d"], out["blank"]) == (123456, 123450, 10, 20, None)
    assert out["bad"] == [True, True, True, True, True]
    assert out["sum"] == 30  # 0.1 + 0.2 is exactly 0.30 yuan
    assert out["big"] == 100000000000000
    assert out["fmt"] == ["1,234.56", "0.05", "0.00", "-1.50", "1,000,000,000,000.00"]


# --- carry-over and note (/plans/<id>/header) ------------------------------------------------------

def plan_row(plan_id) -> tuple:
    db.session.expire_all()
    p = db.session.get(DistributionPlan, plan_id)
    return p.carry_over, p.note, p.available, p.version


def test_change_carry_over_and_note(app, world, a1, plan):
    from assetreg.changelog.models import ChangeLogEntry

    c = login(app, "vc_a1")
    html = text(c.get(f"/plans/{plan['id']}"))
    assert "修改上年结转/备注" in html and value_of(html, "carry_over") == "0.00"
    v = version_of(plan["id"])
    before = counts()
    r = c.post(f"/plans/{plan['id']}/header", data={"version": str(v), "carry_over": "1,234.56",
                                                    "note": "含2023年度结余"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/plans/{plan['id']}#summary")
    assert plan_row(plan["id"]) == (D("1234.56"), "含2023年度结余", D("16234.56"), v + 1)
    assert counts()["change_log"] == before["change_log"] + 1
    entry = db.session.scalars(sa.select(ChangeLogEntry).order_by(ChangeLogEntry.id.desc())).first()
    assert (entry.entity, entry.entity_id, entry.action, entry.actor_id) == (
        "distribution_plan", str(plan["id"]), "update", world.users["vc_a1"].id)
    assert D(str(entry.before["carry_over"])) == D("0") and D(str(entry.after["carry_over"])) == D("1234.56")
    assert entry.after["note"] == "含2023年度结余"
    html = text(c.get(f"/plans/{plan['id']}"))
    assert "上年结转和备注已保存，可分配收益为 16,234.56 元" in html
    assert "可分配收益 = 清算净收益 15,000.00 元 + 上年结转 1,234.56 元 = 16,234.56 元" in html
    assert 'data-available-fen="1623456"' in html  # the allocations editor checks against the new figure
    assert value_of(html, "carry_over") == "1234.56" and "含2023年度结余</textarea>" in html
    # A blank note clears it; the carry-over back to nothing.
    r = c.post(f"/plans/{plan['id']}/header", data={"version": str(v + 1), "carry_over": "0", "note": "  "})
    assert r.status_code == 302
    assert plan_row(plan["id"]) == (D("0.00"), None, D("15000.00"), v + 2)


@pytest.mark.parametrize("change, field, message", [
    ({"carry_over": "abc"}, "carry_over", "应为金额"),
    ({"carry_over": "-5.00"}, "carry_over", "金额应在"),
    ({"carry_over": "1.234"}, "carry_over", "最多两位小数"),
    ({"carry_over": ""}, "carry_over", "不能为空"),
    ({"carry_over": "1e3"}, "carry_over", "应为金额"),
    ({"note": "备" * 1001}, "note", "1000"),
    # 15,000.00 settled + 999.99 is less than the 15,500.00 already allocated
    ({"carry_over": "499.99"}, "carry_over", "少于已分配的 15500.00 元"),
    ({"version": "abc"}, None, "应为整数"),
])
def test_bad_carry_over_or_note_is_refused_inline(app, world, a1, change, field, message):
    plan = new_plan(world.vc_a1, VILLAGE_A1, carry_over="1000.00", note="原备注")
    assert put_allocations(world.vc_a1, plan["id"], [{"purpose": "public_works", "amount": "15500.00"}]).status_code == 200
    row = plan_row(plan["id"])
    before = counts()
    form = {"version": str(row[3]), "carry_over": "2000.00", "note": "新备注", **change}
    r = login(app, "vc_a1").post(f"/plans/{plan['id']}/header", data=form)
    assert r.status_code == 422
    html = text(r)
    if field:
        assert message in (error_of(html, field) or ""), (field, error_of(html, field))
    assert message in html[html.find('class="form-errors"'):]  # the summary says it too
    assert '<details id="header" open>' in html
    assert value_of(html, "carry_over") == form["carry_over"]  # what was typed stays
    assert counts() == before and plan_row(plan["id"]) == row
    assert "16,000.00" in html  # the figures shown are still the saved ones


def test_stale_version_is_a_conflict(app, world, a1, plan):
    v = version_of(plan["id"])
    r = world.vc_a1.patch(f"/api/v1/plans/{plan['id']}", json={"version": v, "note": "他人先改"})
    assert r.status_code == 200, r.json
    row = plan_row(plan["id"])
    before = counts()
    r = login(app, "vc_a1").post(f"/plans/{plan['id']}/header", data={"version": str(v), "carry_over": "800.00",
                                                                     "note": "我的修改"})
    assert r.status_code == 409
    html = text(r)
    box = html[html.find('class="form-errors"'):]
    assert "该分配方案已被他人修改，请刷新后重试" in box and f"版本：当前版本为 {v + 1}" in box
    assert value_of(html, "carry_over") == "800.00" and "我的修改</textarea>" in html
    assert counts() == before and plan_row(plan["id"]) == row


def test_locked_plan_refuses_carry_over_changes(app, world, a1, plan):
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "public_works", "amount": "15000.00"}])
    run_to(world, plan["id"], "town_review")
    c = login(app, "vc_a1")
    assert "修改上年结转/备注" not in text(c.get(f"/plans/{plan['id']}"))
    row = plan_row(plan["id"])
    before = counts()
    r = c.post(f"/plans/{plan['id']}/header", data={"version": str(row[3]), "carry_over": "100.00", "note": "x"})
    assert r.status_code == 422
    html = text(r)
    assert "方案已提交乡镇审核，分配内容不能再修改" in html[html.find('class="form-errors"'):]
    assert "town_reviewed" not in html and "修改上年结转/备注" not in html
    assert counts() == before and plan_row(plan["id"]) == row


def test_only_the_drafting_village_may_change_carry_over(app, world, a1, plan):
    row = plan_row(plan["id"])
    before = counts()
    form = {"version": str(row[3]), "carry_over": "500.00", "note": "改"}
    for who in ("fin_a", "auditor", "auditor_a", "admin"):
        c = login(app, who)
        assert "修改上年结转/备注" not in text(c.get(f"/plans/{plan['id']}")), who
        assert c.post(f"/plans/{plan['id']}/header", data=form).status_code == 403, who
    for who in ("vc_b1", "vc_a2", "fin_b"):
        r = login(app, who).post(f"/plans/{plan['id']}/header", data=form)
        assert r.status_code == 404 and "桃源村" not in text(r), who
    assert counts() == before and plan_row(plan["id"]) == row
