"""Registry pages: lists with the API's filters, the asset page, forms through the API's schemas with
inline errors (and nothing written on refusal), scope, masking, bounded queries, odd query strings."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db

from .factories import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, credit_code
from .web_support import login, text


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def error_of(html: str, name: str) -> str | None:
    """The inline error shown under input ``name`` (its id is f-<name with dots as dashes>-error)."""
    m = re.search(rf'id="f-{re.escape(name.replace(".", "-"))}-error">([^<]*)<', html)
    return m.group(1) if m else None


ASSET_FORM = {
    "code": "ZC-WEB-1", "name": "网页登记的光伏电站", "category": "operating", "subtype": "光伏电站",
    "place_code": VILLAGE_A1, "managing_level": "village", "status": "in_operation", "status_on": "2025-03-01",
    "completed_on": "2024-12-31", "original_value": "1,234.50", "funding.fiscal_link": "1,000.00",
    "funding.donation": "234.50", "project_year": "2024", "useful_life_years": "20",
}


# --- home ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["admin", "fin_a", "vc_a1", "auditor", "auditor_a"])
def test_home_for_every_role(app, world, f, today, who):
    f.asset(place_code=VILLAGE_A1)
    f.asset(place_code=VILLAGE_B1, category="public_welfare", subtype="道路")
    f.household(VILLAGE_A1)
    r = login(app, who).get("/")
    assert r.status_code == 200
    html = text(r)
    assert "工作台" in html and "<svg" in html
    assert 'href="/assets?category=operating&amp;status=in_operation"' in html  # each number links to its list
    assert 'href="/households?status=formerly_poor"' in html


def test_home_counts_are_scoped(app, world, f, today):
    f.asset(place_code=VILLAGE_A1)
    f.asset(place_code=VILLAGE_B1, category="public_welfare", subtype="道路")  # in use, no custody
    admin = text(login(app, "admin").get("/"))
    village = text(login(app, "vc_a1").get("/"))
    stat = r'<span class="stat-value">(\d+)</span>(?:</a>)?\s*<span class="stat-label">{}'
    assert re.search(stat.format("资产总数"), admin).group(1) == "2"
    assert re.search(stat.format("资产总数"), village).group(1) == "1"
    assert re.search(stat.format("公益性资产缺管护"), admin).group(1) == "1"
    assert re.search(stat.format("公益性资产缺管护"), village).group(1) == "0"


# --- asset list ----------------------------------------------------------------------------------

def test_asset_list_filters_sort_and_pages_like_the_api(app, world, f, today):
    for i in range(7):
        f.asset(name=f"光伏{i}", original_value=f"{1000 + i}.00")
    f.asset(name="道路", category="public_welfare", subtype="道路", place_code=VILLAGE_A2)
    c = login(app, "fin_a")
    html = text(c.get("/assets?category=public_welfare"))
    assert "道路" in html and "光伏0" not in html
    html = text(c.get("/assets?sort=-original_value&per_page=3&page=2&category=operating"))
    names = re.findall(r'>(光伏\d)</a>', html)
    assert names == ["光伏3", "光伏2", "光伏1"]
    assert "共 7 条，第 2 / 3 页" in html
    assert 'href="/assets?sort=-original_value&amp;per_page=3&amp;page=3&amp;category=operating"' in html
    api = world.fin_a.get("/api/v1/assets?sort=-original_value&per_page=3&page=2&category=operating").json
    assert [a["name"] for a in api["items"]] == names  # the same service, the same answer
    assert "1,006.00" in text(c.get("/assets?q=光伏6"))


@pytest.mark.parametrize("qs", [
    "page=abc", "page=0", "page=99999999999", "per_page=100000", "sort=drop%20table", "category=<script>",
    "status=%00", "q=" + "x" * 500, "town_code=1234567890123", "village_code=%F0%9F%98%80", "unknown=1",
    "page=2&page=3", "q=%25_%5C", "per_page=-5&sort=-", "subtype=" + "子" * 100,
])
def test_odd_query_strings_never_fail(app, world, f, qs):
    f.asset()
    c = login(app, "admin")
    for path in ("/assets", "/households", "/changes", "/admin/users"):
        r = c.get(f"{path}?{qs}")
        assert r.status_code == 200, (path, qs)


def test_asset_list_queries_are_bounded(app, world, f, count_queries):
    def page_queries(n):
        for _ in range(n - count(Asset)):
            f.asset()
        c = login(app, "admin")
        with count_queries() as counter:
            r = c.get("/assets?per_page=100")
        assert r.status_code == 200
        assert len(re.findall(r'<a href="/assets/\d+">ZC', text(r))) == n
        return counter.count

    five = page_queries(5)
    fifty = page_queries(50)
    assert five == fifty
    assert fifty <= 10


# --- asset page and scope ------------------------------------------------------------------------

def test_asset_page_shows_everything(app, world, f, today):
    from assetreg.income.services import post_entry

    a = f.asset(original_value="120000.00", useful_life_years=10)
    post_entry(world.users["admin"], a.id, {"direction": "income", "kind": "rent", "period_year": 2024,
                                             "received_on": date(2025, 1, 10), "amount": Decimal("12345.60")})
    db.session.commit()
    html = text(login(app, "auditor").get(f"/assets/{a.id}"))
    for part in ("基本信息", "资金来源", "账面价值", "五权", "管护", "经营", "收益（按所属年度）", "状态历史",
                 "120,000.00", "12,345.60", "2020年6月30日", "档案资料"):
        assert part in html, part
    assert "编辑" not in html  # auditors never write


def test_village_user_gets_404_for_another_villages_asset(app, world, f):
    other = f.asset(place_code=VILLAGE_B1, name="石门村资产")
    c = login(app, "vc_a1")
    for url in (f"/assets/{other.id}", f"/assets/{other.id}/edit", f"/assets/{other.id}/rights"):
        r = c.get(url)
        assert r.status_code in (403, 404), url
        assert "石门村资产" not in text(r)
    r = c.get(f"/assets/{other.id}")
    assert r.status_code == 404 and "未找到该资产" in text(r)
    assert c.get("/assets/99999999").status_code == 404
    assert c.get("/no-such-page").status_code == 404


def test_writes_need_the_role(app, world, f):
    a = f.asset()
    assert login(app, "auditor").get("/assets/new").status_code == 403
    assert login(app, "vc_a1").get(f"/assets/{a.id}/edit").status_code == 403
    r = login(app, "vc_a1").post(f"/assets/{a.id}/edit", data={"name": "改名"})
    assert r.status_code == 403 and "无权" in text(r)
    db.session.expire_all()
    assert db.session.get(Asset, a.id).name != "改名"


# --- forms ---------------------------------------------------------------------------------------

def test_create_asset_through_the_form(app, world, today):
    r = login(app, "fin_a").post("/assets/new", data=ASSET_FORM)
    assert r.status_code == 302
    a = db.session.scalar(sa.select(Asset).where(Asset.code == "ZC-WEB-1"))
    assert r.headers["Location"] == f"/assets/{a.id}"
    assert a.original_value == Decimal("1234.50") and a.project_year == 2024 and a.useful_life_years == 20
    assert {f.source: f.amount for f in a.fundings} == {"fiscal_link": Decimal("1000.00"), "donation": Decimal("234.50")}


@pytest.mark.parametrize("change, field, message", [
    ({"code": ""}, "code", "不能为空"),
    ({"category": ""}, "category", "请选择"),
    ({"original_value": "12.345"}, "original_value", "最多两位小数"),
    ({"original_value": "abc"}, "original_value", "应为金额"),
    ({"project_year": "二〇二四"}, "project_year", "应为整数"),
    ({"completed_on": "2024-13-45"}, "completed_on", "应为日期"),
    ({"name": "名" * 201}, "name", "最多200个字符"),
    ({"funding.donation": "-1"}, "funding.donation", "金额应在"),
    ({"funding.donation": "300.00"}, "fundings", "资金来源合计"),  # a domain rule, shown in place too
    ({"subtype": "道路"}, "subtype", "应为 光伏电站"),
    ({"status_on": "2030-01-01"}, "status_on", "将来"),
    ({"place_code": VILLAGE_B1}, None, None),  # outside the town: forbidden
])
def test_bad_asset_form_shows_inline_errors_and_writes_nothing(app, world, today, change, field, message):
    before = (count(Asset), count(ChangeLogEntry))
    r = login(app, "fin_a").post("/assets/new", data={**ASSET_FORM, **change})
    if field is None:
        assert r.status_code == 403
    else:
        assert r.status_code == 422
        html = text(r)
        assert message in (error_of(html, field) or ""), error_of(html, field)
        assert 'value="网页登记的光伏电站"' in html or field == "name"  # what was typed stays
    assert (count(Asset), count(ChangeLogEntry)) == before


def test_duplicate_code_is_shown_at_the_code(app, world, f, today):
    f.asset(code="ZC-WEB-1")
    r = login(app, "fin_a").post("/assets/new", data=ASSET_FORM)
    assert r.status_code == 422 and "本县已有相同编号" in error_of(text(r), "code")


def test_edit_asset_and_stale_version(app, world, f, today):
    a = f.asset(original_value="1000.00")
    c = login(app, "fin_a")
    form = re.findall(r'name="([^"]+)" value="([^"]*)"', text(c.get(f"/assets/{a.id}/edit")))
    values = {k: v for k, v in form if k != "csrf_token"}
    assert values["version"] == "1" and values["funding.fiscal_link"] == "1000.00"
    stale = {**values, "name": "新名称", "version": "7"}
    r = c.post(f"/assets/{a.id}/edit", data=stale)
    assert r.status_code == 422 and "已被他人修改" in text(r)
    r = c.post(f"/assets/{a.id}/edit", data={**values, "name": "新名称", "original_value": "1500",
                                              "funding.fiscal_link": "1000", "funding.other": "500"})
    assert r.status_code == 302
    db.session.expire_all()
    a = db.session.get(Asset, a.id)
    assert a.name == "新名称" and a.original_value == Decimal("1500.00") and a.version == 2


def test_status_form(app, world, f, today):
    a = f.asset()  # in operation
    c = login(app, "fin_a")
    html = text(c.get(f"/assets/{a.id}/status"))
    assert 'value="idle"' in html and 'value="completed"' not in html  # only legal transitions offered
    r = c.post(f"/assets/{a.id}/status", data={"to_status": "completed", "changed_on": "2025-06-01", "version": "1"})
    assert r.status_code == 422 and "不允许" in error_of(text(r), "to_status")
    r = c.post(f"/assets/{a.id}/status", data={"to_status": "idle", "changed_on": "2025-06-01", "version": "1",
                                               "reason": "设备检修"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Asset, a.id).status == "idle"


def test_rights_form_all_or_nothing(app, world, f, today):
    from assetreg.rights.models import AssetRight

    a = f.asset()
    c = login(app, "fin_a")
    good = credit_code()
    rows = {}
    for kind in ("ownership", "operation", "income", "disposal", "supervision"):
        rows.update({f"rights.{kind}.holder_kind": "village_collective", f"rights.{kind}.holder_name": "桃源村经联社",
                     f"rights.{kind}.credit_code": good})
    bad = {**rows, "rights.income.credit_code": "91350100M000100Y4A", "effective_on_all": "2025-06-01"}
    r = c.post(f"/assets/{a.id}/rights", data=bad)
    assert r.status_code == 422
    assert "统一社会信用代码" in error_of(text(r), "rights.income.credit_code")
    assert count(AssetRight) == 0
    r = c.post(f"/assets/{a.id}/rights", data={**rows, "effective_on_all": ""})
    assert r.status_code == 422 and error_of(text(r), "rights.ownership.effective_on")
    r = c.post(f"/assets/{a.id}/rights", data={**rows, "effective_on_all": "2025-06-01"})
    assert r.status_code == 302
    assert count(AssetRight) == 5
    assert "五权完整" in text(c.get(f"/assets/{a.id}"))


def test_custody_and_operation_forms(app, world, f, today):
    from assetreg.custody.models import AssetCustody, AssetOperation

    a = f.asset()
    c = login(app, "fin_a")
    r = c.post(f"/assets/{a.id}/custody", data={"custodian_unit": "村委会", "responsible_person": "王五",
                                                "phone": "12345"})
    assert r.status_code == 422 and "手机号" in error_of(text(r), "phone")
    assert count(AssetCustody) == 0
    r = c.post(f"/assets/{a.id}/custody", data={"custodian_unit": "村委会", "responsible_person": "王五",
                                                "phone": "13900001111", "annual_fund": "3,000", "term_from": ""})
    assert r.status_code == 302 and count(AssetCustody) == 1
    r = c.post(f"/assets/{a.id}/operation", data={"mode": "lease", "operator_name": "某公司"})
    assert r.status_code == 422 and error_of(text(r), "contract_no")
    r = c.post(f"/assets/{a.id}/operation", data={"mode": "lease", "operator_name": "某公司",
                                                  "operator_credit_code": credit_code(), "contract_no": "HT-1",
                                                  "guaranteed_minimum": "50000"})
    assert r.status_code == 302 and count(AssetOperation) == 1
    assert "50,000.00" in text(c.get(f"/assets/{a.id}"))


def test_income_form(app, world, f, today):
    from assetreg.income.models import IncomeEntry

    a = f.asset()
    c = login(app, "fin_a")
    base = {"kind": "income:electricity", "amount": "8,888.88", "received_on": "2025-06-01", "period_year": "2025",
            "period_month": "5"}
    r = c.post(f"/assets/{a.id}/income", data={**base, "kind": "income:site_rent"})
    assert r.status_code == 422 and error_of(text(r), "kind")
    r = c.post(f"/assets/{a.id}/income", data={**base, "amount": "0"})
    assert r.status_code == 422 and "大于零" in error_of(text(r), "amount")
    r = c.post(f"/assets/{a.id}/income", data={**base, "period_quarter": "2"})
    assert r.status_code == 422
    assert count(IncomeEntry) == 0
    r = c.post(f"/assets/{a.id}/income", data=base)
    assert r.status_code == 302
    e = db.session.scalar(sa.select(IncomeEntry))
    assert (e.direction, e.kind, e.amount, e.period_month) == ("income", "electricity", Decimal("8888.88"), 5)
    assert login(app, "vc_a1").get(f"/assets/{a.id}/income").status_code == 403


# --- households ----------------------------------------------------------------------------------

def test_households_are_masked_except_for_auditors(app, world, f):
    h = f.household(VILLAGE_A1, phone="13812345678")
    f.household(VILLAGE_B1)
    village = text(login(app, "vc_a1").get("/households"))
    assert h.head_id_number not in village and h.head_id_number[:6] + "********" + h.head_id_number[-4:] in village
    assert "138****5678" in village and "13812345678" not in village
    assert len(re.findall(r'href="/households/\d+"', village)) == 2  # one household: number and name link
    page = text(login(app, "vc_a1").get(f"/households/{h.id}"))
    assert h.head_id_number not in page and "脱敏" in page
    auditor = text(login(app, "auditor").get(f"/households/{h.id}"))
    assert h.head_id_number in auditor
    assert login(app, "vc_b1").get(f"/households/{h.id}").status_code == 404


# --- users and change log ------------------------------------------------------------------------

def test_county_admin_manages_users(app, world):
    from assetreg.users.models import User

    c = login(app, "admin")
    assert "vc_b1" in text(c.get("/admin/users"))
    bad = c.post("/admin/users/new", data={"username": "x", "role": "village_committee", "scope_code": world.town_a,
                                           "password": "short"})
    assert bad.status_code == 422
    assert error_of(text(bad), "username") and error_of(text(bad), "password")
    bad = c.post("/admin/users/new", data={"username": "cun_a1", "role": "village_committee",
                                           "scope_code": world.town_a, "password": "long-enough-1"})
    assert bad.status_code == 422 and "范围" in error_of(text(bad), "scope_code")
    assert "long-enough-1" not in text(bad)  # a password is never echoed
    ok = c.post("/admin/users/new", data={"username": "cun_a1", "display_name": "桃源村文书", "role": "village_committee",
                                          "scope_code": world.village_a1, "password": "long-enough-1"})
    assert ok.status_code == 302
    new = db.session.scalar(sa.select(User).where(User.username == "cun_a1"))
    assert new.scope_code == world.village_a1
    assert login(app, "cun_a1", "long-enough-1").last.status_code == 302

    assert c.post(f"/admin/users/{new.id}/password", data={"password": "new-password-2"}).status_code == 302
    assert login(app, "cun_a1", "new-password-2").last.status_code == 302
    assert c.post(f"/admin/users/{new.id}/deactivate").status_code == 302
    assert login(app, "cun_a1", "new-password-2").last.status_code == 401
    r = c.post(f"/admin/users/{world.users['admin'].id}/deactivate", follow_redirects=True)
    assert "不能停用自己的账户" in text(r)
    actions = db.session.scalars(sa.select(ChangeLogEntry.action).where(ChangeLogEntry.entity == "user")).all()
    assert {"create", "reset_password", "deactivate"} <= set(actions)
    assert not any("hash" in str(e.after) for e in db.session.scalars(sa.select(ChangeLogEntry)))
    for who in ("fin_a", "vc_a1", "auditor"):
        assert login(app, who).get("/admin/users").status_code == 403


def test_change_log_page(app, world, f, today):
    a = f.asset()
    html = text(login(app, "auditor").get("/changes?entity=asset"))
    assert f'href="/assets/{a.id}"' in html and "新增" in html
    assert "2025年6月30日" in html
    assert login(app, "fin_a").get("/changes").status_code == 403
    html = text(login(app, "auditor").get("/changes?to=2020-01-01"))
    assert "没有符合条件的记录" in html
    assert login(app, "auditor").get("/changes?from=not-a-date").status_code == 200


def test_home_and_asset_page_queries_are_bounded(app, world, f, today, count_queries):
    """The number of queries does not grow with the data: 2 assets or 12, 1 ledger entry or 12."""
    from assetreg.income.services import post_entry

    def measure(n):
        while count(Asset) < n:
            a = f.asset(place_code=VILLAGE_A1 if count(Asset) % 2 else VILLAGE_B1)
            for month in range(1, 13 if n > 2 else 2):
                post_entry(world.users["admin"], a.id, {"direction": "income", "kind": "rent", "period_year": 2024,
                                                         "period_month": month, "received_on": date(2025, 1, 10),
                                                         "amount": Decimal("100.00")})
            db.session.commit()
        c = login(app, "admin")
        last = db.session.scalar(sa.select(sa.func.max(Asset.id)))
        with count_queries() as home:
            assert c.get("/").status_code == 200
        with count_queries() as page:
            assert c.get(f"/assets/{last}").status_code == 200
        return home.count, page.count

    small, large = measure(2), measure(12)
    assert small == large
    assert large[1] <= 40


def test_home_flag_figures_come_as_a_fragment(app, world, f, today):
    f.asset(place_code=VILLAGE_B1, category="public_welfare", subtype="道路")  # in use without custody
    c = login(app, "admin")
    assert 'data-fragment="/home/flags"' in text(c.get("/"))
    r = c.get("/home/flags")
    assert r.status_code == 200 and "<html" not in text(r)
    assert 'href="/flags?rule=CUSTODY_MISSING"' in text(r)
    assert client_without_login(app).get("/home/flags").status_code == 302


def client_without_login(app):
    from .web_support import client

    return client(app)


def test_select_macro_with_no_options_renders_an_empty_select(app):
    """A scope with no villages yet (a new county) gives the village filter no groups: an empty select, not a 500."""
    with app.test_request_context():
        macros = app.jinja_env.get_template("macros.html").module
        html = str(macros.select("village_code", "村", blank="全部", groups=[]))
    assert '<option value="">全部</option>' in html and "<optgroup" not in html
