"""Procedure pages of a plan: the 四议两公开 steps in order through the page's forms (each good and bad,
out of order refused inline, nothing written on refusal), objections recorded and answered, the notice
preview with masked IDs, scope (404 to read, 403 to write), odd ids, bounded queries."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from assetreg.distribution.models import PlanObjection, PlanStep
from assetreg.extensions import db

from .distribution_support import counts, households, line, new_plan, put_allocations, run_to, settle
from .web_support import login, text


def error_of(html: str, name: str) -> str | None:
    """The inline error shown under input ``name`` (its id is f-<name with dots as dashes>-error)."""
    m = re.search(rf'id="f-{re.escape(name.replace(".", "-"))}-error">([^<]*)<', html)
    return m.group(1) if m else None


def hidden(html: str, name: str) -> str | None:
    m = re.search(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', html)
    return m.group(1) if m else None


@pytest.fixture
def plan(world, f, today):
    settle(f, world, world.village_a1, pv="10000.00", other="5000.00")
    hs = households(f, world.village_a1, "monitored", "formerly_poor", "ordinary")
    p = new_plan(world.vc_a1, world.village_a1)
    r = put_allocations(world.vc_a1, p["id"], [
        {"purpose": "public_works", "amount": "9000.00", "use": "村组道路维修"},
        {"purpose": "relief", "amount": "3000.00", "lines": [line(hs[0], "2000.00", reason="监测户帮扶"),
                                                             line(hs[1], "1000.00", reason="临时困难")]},
        {"purpose": "carry", "amount": "3000.00"}])
    assert r.status_code == 200, r.json
    p = r.json
    p["households"] = hs
    return p


def url(p, tail: str = "") -> str:
    return f"/plans/{p['id']}/procedure{tail}"


def steps_done(p) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(PlanStep.kind).where(PlanStep.plan_id == p["id"]).order_by(PlanStep.seq)))


# Each step: who records it, a refused form (field, words of the error) and the accepted one.
WALK = [
    ("proposal", "vc_a1", {"done_on": "2025-04-01", "minutes": ""}, "minutes", "请填写会议记录",
     {"done_on": "2025-04-01", "minutes": "村党支部提议分配方案"}),
    ("consultation", "vc_a1", {"done_on": "2025-03-31", "minutes": "商议"}, "done_on", "不能早于上一步骤",
     {"done_on": "2025-04-02", "minutes": "两委会议商议通过"}),
    ("party_meeting", "vc_a1",
     {"done_on": "2025-04-03", "minutes": "审议", "members_due": "30", "members_present": "19", "members_in_favour": "15"},
     "members_present", "不足应到 30 人的三分之二",
     {"done_on": "2025-04-03", "minutes": "党员大会审议", "members_due": "30", "members_present": "25",
      "members_in_favour": "20"}),
    ("representatives_meeting", "vc_a1",
     {"done_on": "2025-04-04", "minutes": "决议", "members_due": "40", "members_present": "三十", "members_in_favour": "20"},
     "members_present", "应为整数",
     {"done_on": "2025-04-04", "minutes": "村民代表会议决议", "members_due": "40", "members_present": "36",
      "members_in_favour": "33"}),
    ("resolution_published", "vc_a1", {"done_on": "2030-01-01", "minutes": "公开"}, "done_on", "不能是将来的日期",
     {"done_on": "2025-04-05", "minutes": "村务公开栏公开决议"}),
    ("town_review", "fin_a", {"done_on": "2025-04-20", "minutes": "  "}, "minutes", "请填写会议记录或意见",
     {"done_on": "2025-04-20", "minutes": "经审核，同意公示", "document": "城财审〔2025〕3号"}),
    ("notice", "vc_a1", {"notice_start_on": "2025-05-01", "notice_end_on": "2025-05-05", "minutes": "公开栏"},
     "notice_end_on", "少于县定最短 10 天",
     {"notice_start_on": "2025-05-01", "notice_end_on": "2025-05-10", "minutes": "村务公开栏及微信群"}),
    ("approval", "vc_a1", {"done_on": "2025-05-08", "minutes": "批准"}, "done_on", "应晚于公示结束日期",
     {"done_on": "2025-05-20", "minutes": "公示期满，异议已答复，批准实施"}),
    ("county_filing", "admin", {"done_on": "", "minutes": "备案"}, "done_on", "不能为空",
     {"done_on": "2025-05-25", "minutes": "已备案"}),
    ("payment", "vc_a1", {"done_on": "2025-06-01", "payment_method": ""}, "payment_method", "请填写兑付方式",
     {"done_on": "2025-06-01", "payment_method": "一卡通", "minutes": "通过一卡通发放"}),
    ("result_published", "vc_a1", {"done_on": "2025-13-01", "minutes": "公开"}, "done_on", "应为日期",
     {"done_on": "2025-06-10", "minutes": "实施结果已在公开栏公开"}),
]


def test_every_step_through_its_form_good_and_bad(app, world, plan):
    clients = {who: login(app, who) for who in ("vc_a1", "fin_a", "admin")}
    for kind, who, bad, field, words, good in WALK:
        c = clients[who]
        page = text(c.get(url(plan)))
        assert hidden(page, "kind") == kind, kind  # the page offers exactly the step now due
        base = {"kind": kind, "version": hidden(page, "version")}
        before = counts()
        r = c.post(url(plan, "/steps"), data={**base, **bad})
        assert r.status_code == 422, kind
        assert words in (error_of(text(r), field) or ""), (kind, error_of(text(r), field))
        assert counts() == before, kind  # a refused step writes nothing
        if kind == "approval":
            _answer_round(c, plan)
            page = text(c.get(url(plan)))
            base["version"] = hidden(page, "version")
        r = c.post(url(plan, "/steps"), data={**base, **good})
        assert r.status_code == 302, (kind, text(r)[:2000])
        assert r.headers["Location"].endswith(url(plan) + "#steps")
        assert steps_done(plan)[-1] == kind
        if kind == "notice":
            _objection_round(c, plan)
    html = text(clients["vc_a1"].get(url(plan)))
    assert "程序已全部完成" in html and 'name="kind"' not in html
    for label in ("村党组织提议", "村两委会议商议", "党员大会审议", "村民代表会议决议", "决议公开", "乡镇审核", "公示",
                  "公示期满批准实施", "县级备案", "兑付", "实施结果公开"):
        assert label in html
    assert "2025年5月1日至2025年5月10日（共10天）" in html and "30 / 25 / 20" in html and "一卡通" in html
    assert html.index("村党组织提议") < html.index("党员大会审议") < html.index("县级备案")


def _objection_round(c, plan):
    """In the notice: a bad objection refused inline, a good one recorded."""
    html = text(c.get(url(plan)))
    assert 'action="' + url(plan, "/objections") + '"' in html
    before = counts()
    r = c.post(url(plan, "/objections"), data={"raised_on": "2025-04-01", "raised_by": "村民张三", "content": "金额有误"})
    assert r.status_code == 422 and "应在公示期内" in text(r)
    r = c.post(url(plan, "/objections"), data={"raised_on": "2025-05-03", "raised_by": "村民张三", "content": ""})
    assert r.status_code == 422 and "不能为空" in error_of(text(r), "content")
    assert counts() == before
    r = c.post(url(plan, "/objections"), data={"raised_on": "2025-05-03", "raised_by": "村民张三",
                                               "content": "我家应列入扶贫济困"})
    assert r.status_code == 302 and r.headers["Location"].endswith("#objections")
    html = text(c.get(url(plan)))
    assert "我家应列入扶贫济困" in html and "未答复" in html


def _answer_round(c, plan):
    """Approval refused while an objection is open (the message inline), then the answer form."""
    page = text(c.get(url(plan)))
    r = c.post(url(plan, "/steps"), data={"kind": "approval", "version": hidden(page, "version"),
                                          "done_on": "2025-05-20", "minutes": "批准"})
    assert r.status_code == 422
    assert "尚有 1 条异议未答复，不能批准" in text(r) and "未答复的异议编号" in text(r)
    o = db.session.scalar(sa.select(PlanObjection).where(PlanObjection.plan_id == plan["id"]))
    name = f"o{o.id}.answered_on"
    before = counts()
    r = c.post(url(plan, f"/objections/{o.id}/answer"), data={f"o{o.id}.answer": "已核实", name: "2025-05-02"})
    assert r.status_code == 422 and "不能早于" in error_of(text(r), name)
    r = c.post(url(plan, f"/objections/{o.id}/answer"), data={f"o{o.id}.answer": "", name: "2025-05-05"})
    assert r.status_code == 422 and error_of(text(r), f"o{o.id}.answer")
    assert counts() == before
    r = c.post(url(plan, f"/objections/{o.id}/answer"), data={f"o{o.id}.answer": "经核实，该户不符合条件，已当面答复",
                                                              name: "2025-05-05"})
    assert r.status_code == 302
    db.session.expire_all()
    o = db.session.get(PlanObjection, o.id)
    assert o.answer.startswith("经核实") and str(o.answered_on) == "2025-05-05"
    r = c.post(url(plan, f"/objections/{o.id}/answer"), data={f"o{o.id}.answer": "再答", name: "2025-05-06"})
    assert r.status_code == 422 and "该异议已答复" in text(r)


@pytest.mark.parametrize("kind, extra", [
    ("notice", {"notice_start_on": "2025-05-01", "notice_end_on": "2025-05-10"}),
    ("approval", {"done_on": "2025-05-20", "minutes": "批准"}),
    ("consultation", {"done_on": "2025-04-02", "minutes": "商议"}),
])
def test_out_of_order_step_is_refused_inline_and_nothing_written(app, world, plan, kind, extra):
    c = login(app, "vc_a1")
    version = hidden(text(c.get(url(plan))), "version")
    before = counts()
    r = c.post(url(plan, "/steps"), data={"kind": kind, "version": version, **extra})
    assert r.status_code == 422
    html = text(r)
    assert "程序步骤顺序不对：下一步应为“村党组织提议”" in html  # the service's words, in the page
    assert 'class="form-errors" role="alert"' in html
    assert hidden(html, "kind") == "proposal"  # the form offered again is for the step now due
    assert counts() == before and steps_done(plan) == []


def test_bad_inputs_never_fail(app, world, plan):
    c = login(app, "vc_a1")
    before = counts()
    for data in ({"kind": "bogus"}, {}, {"kind": "proposal", "version": "abc", "done_on": "x"},
                 {"kind": "party_meeting", "members_due": "9" * 30, "done_on": "2025-04-01"},
                 {"kind": "proposal", "done_on": "2025-04-01", "minutes": "记" * 5000},
                 {"kind": "proposal", "done_on": "2025-04-01", "minutes": "ok", "version": "99"}):
        r = c.post(url(plan, "/steps"), data=data)
        assert r.status_code == 422, data
    r = c.post(url(plan, "/steps"), data={"kind": "bogus"})
    assert "请从列表中选择" in text(r)
    r = c.post(url(plan, "/steps"), data={"kind": "proposal", "done_on": "2025-04-01", "minutes": "ok", "version": "99"})
    assert "已被他人修改" in text(r)
    assert counts() == before
    for path in ("/plans/99999999/procedure", "/plans/abc/procedure", "/plans/99999999999999999999999/procedure",
                 "/plans/0/notice-preview", "/plans/-1/procedure"):
        assert c.get(path).status_code == 404, path
    assert c.post("/plans/99999999/procedure/steps", data={"kind": "proposal"}).status_code == 404
    assert c.post(url(plan, "/objections/99999999/answer"), data={}).status_code == 404
    assert c.get(url(plan, "/steps")).status_code == 405


def test_step_of_another_role_shows_no_form_and_is_forbidden(app, world, plan):
    run_to(world, plan["id"], "resolution_published")
    vc = login(app, "vc_a1")
    html = text(vc.get(url(plan)))
    assert "下一步：乡镇审核" in html and "该步骤由乡镇财政所记录" in html and 'name="kind"' not in html
    before = counts()
    r = vc.post(url(plan, "/steps"), data={"kind": "town_review", "done_on": "2025-04-20", "minutes": "同意"})
    assert r.status_code == 403
    assert counts() == before
    assert hidden(text(login(app, "fin_a").get(url(plan))), "kind") == "town_review"


def test_scope_crossing(app, world, plan):
    run_to(world, plan["id"], "notice")
    world.vc_a1.post(f"/api/v1/plans/{plan['id']}/objections", json={"raised_on": "2025-05-02", "content": "异议"})
    o = db.session.scalar(sa.select(PlanObjection).where(PlanObjection.plan_id == plan["id"]))
    before = counts()
    for who in ("vc_b1", "vc_a2", "fin_b"):
        c = login(app, who)
        for path in (url(plan), f"/plans/{plan['id']}/notice-preview", f"/plans/{plan['id']}/notice"):
            r = c.get(path)
            assert r.status_code == 404, (who, path)
            assert "桃源村" not in text(r)
        assert c.post(url(plan, "/steps"), data={"kind": "approval", "done_on": "2025-05-20"}).status_code == 403
        assert c.post(url(plan, "/objections"), data={"raised_on": "2025-05-03", "content": "x"}).status_code == 403
        assert c.post(url(plan, f"/objections/{o.id}/answer"),
                      data={f"o{o.id}.answer": "x", f"o{o.id}.answered_on": "2025-05-04"}).status_code == 403
    auditor = login(app, "auditor")
    html = text(auditor.get(url(plan)))
    assert "异议" in html and "记录该步骤" not in html and "登记异议" not in html and "答复</button>" not in html
    assert auditor.post(url(plan, "/objections"), data={"raised_on": "2025-05-03", "content": "x"}).status_code == 403
    assert counts() == before


def test_notice_preview_masks_ids_and_links_print_and_excel(app, world, plan):
    run_to(world, plan["id"], "notice")
    c = login(app, "vc_a1")
    r = c.get(f"/plans/{plan['id']}/notice-preview")
    assert r.status_code == 200
    html = text(r)
    assert 'class="mainnav"' in html  # inside the app layout
    assert "桃源村2024年度扶贫项目资产收益分配公示" in html and "壹万伍仟元整" in html and "15,000.00" in html
    assert "2025年5月1日至2025年5月10日（共10天）" in html and "12317" in html
    for h in plan["households"][:2]:
        assert h.head_id_number[:6] + "********" + h.head_id_number[-4:] in html
    for h in plan["households"]:
        assert h.head_id_number not in html  # never the full ID
    assert re.search(rf'<a class="button" href="/plans/{plan["id"]}/notice" target="_blank"[^>]*>打印</a>', html)
    assert f'href="/plans/{plan["id"]}/notice.xlsx">下载Excel</a>' in html
    printed = text(c.get(f"/plans/{plan['id']}/notice"))
    assert "@page { size: A4" in printed and "mainnav" not in printed and ".toolbar { display: none; }" in printed
    assert c.get(f"/plans/{plan['id']}/notice.xlsx").status_code == 200


def test_notice_preview_refuses_unmasked_personal_data(app, world, f, today):
    settle(f, world, world.village_a1, other="1000.00")
    (h,) = households(f, world.village_a1, "monitored")
    p = new_plan(world.vc_a1, world.village_a1)
    put_allocations(world.vc_a1, p["id"], [{"purpose": "relief", "amount": "1000.00", "lines": [
        line(h, "1000.00", reason=f"身份证{h.head_id_number}")]}])
    r = login(app, "vc_a1").get(f"/plans/{p['id']}/notice-preview")
    assert r.status_code == 422
    html = text(r)
    assert "公示内容含未脱敏的个人信息，不予发布" in html and h.head_id_number not in html
    assert "下载Excel" not in html


def test_procedure_page_queries_are_bounded(app, world, plan, count_queries):
    run_to(world, plan["id"], "notice")

    def measure(objections: int) -> int:
        while db.session.scalar(sa.select(sa.func.count()).select_from(PlanObjection)) < objections:
            r = world.vc_a1.post(f"/api/v1/plans/{plan['id']}/objections",
                                 json={"raised_on": "2025-05-02", "raised_by": "村民", "content": "异议内容"})
            assert r.status_code == 201, r.json
        c = login(app, "vc_a1")
        with count_queries() as counter:
            r = c.get(url(plan))
        assert r.status_code == 200 and text(r).count("答复</button>") == objections
        with count_queries() as preview:
            assert c.get(f"/plans/{plan['id']}/notice-preview").status_code == 200
        return counter.count, preview.count

    one, six = measure(1), measure(6)
    assert one == six
    assert six[0] <= 25 and six[1] <= 15
