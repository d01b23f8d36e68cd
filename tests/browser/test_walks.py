"""Each role's main tasks in a real browser (headless chromium at 1366×768), with screenshots saved
under tests/artifacts/ for a person to look at."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.extensions import db

from ..factories import TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, credit_code
from .conftest import log_in

# The app runs in a live server (its own threads and connections): the data must really be committed.
pytestmark = pytest.mark.committed


def _some_data(f, world):
    """A handful of assets in both towns and a ledger over several years, so the dashboard has figures."""
    from assetreg.income.services import post_entry

    admin = world.users["admin"]
    pv = f.asset(name="桃源村光伏电站", original_value="1200000.00", place_code=VILLAGE_A1)
    f.asset(name="柳林村扶贫车间", subtype="扶贫车间", original_value="860000.00", place_code=VILLAGE_A2)
    f.asset(name="石门村通组道路", category="public_welfare", subtype="道路", original_value="350000.00",
            place_code=VILLAGE_B1)
    f.asset(name="白石乡冷库", subtype="冷库仓储", original_value="640000.00", place_code=TOWN_B,
            managing_level="town", status="under_construction")
    for year, amount in ((2021, "61000.00"), (2022, "72500.50"), (2023, "80210.00"), (2024, "93000.00")):
        post_entry(admin, pv.id, {"direction": "income", "kind": "electricity", "period_year": year,
                                  "received_on": date(year + 1, 1, 15), "amount": Decimal(amount)})
    db.session.commit()
    return pv


def test_finance_officer_registers_asset_with_rights_custody_and_income(today, page, world, f):
    _some_data(f, world)
    page.goto("/")
    assert "/login" in page.url  # every page needs a login
    page.shot("01_login")
    log_in(page, "fin_a")
    assert page.get_by_role("heading", level=1).inner_text().endswith("工作台")
    page.shot("02_home_finance_officer", full_page=True)

    page.get_by_role("link", name="登记资产").first.click()
    page.get_by_role("button", name="登记").click()  # nothing filled in: refused, with inline errors
    assert page.locator(".form-errors").is_visible()
    assert page.locator("#f-code-error").inner_text() == "不能为空"
    page.shot("03_asset_form_errors", full_page=True)

    page.get_by_label("资产编号").fill("ZC-2025-101")
    page.get_by_label("类别").select_option("operating")
    page.get_by_label("资产名称").fill("桃源村二期光伏电站")
    page.get_by_label("子类").select_option("光伏电站")
    page.get_by_label("所在地").select_option(VILLAGE_A1)
    page.get_by_label("管理层级").select_option("village")
    page.get_by_label("登记时状态").select_option("handed_over")
    page.get_by_label("状态日期").fill("2025-05-20")
    page.get_by_label("竣工日期").fill("2025-04-30")
    page.get_by_label("原值（元）").fill("1,234,567.80")
    page.get_by_label("财政衔接资金（元）").fill("1000000")
    page.get_by_label("东西部协作（元）").fill("234567.80")
    page.get_by_role("button", name="登记").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("桃源村二期光伏电站")
    assert "1,234,567.80" in page.locator("#basic").inner_text()
    assert "2025年4月30日" in page.locator("#basic").inner_text()

    page.locator("#rights").get_by_role("link", name="登记权利").click()
    code = credit_code()
    for kind in ("ownership", "operation", "income", "disposal", "supervision"):
        page.locator(f"[name='rights.{kind}.holder_kind']").select_option("village_collective")
        page.locator(f"[name='rights.{kind}.holder_name']").fill("桃源村股份经济合作联合社")
        page.locator(f"[name='rights.{kind}.credit_code']").fill(code)
        page.locator(f"[name='rights.{kind}.basis_document']").fill("城关镇确权书〔2025〕3号")
    page.shot("04_rights_form", full_page=True)
    page.get_by_role("button", name="保存权利登记").click()
    assert "五权完整" in page.get_by_role("heading", level=1).inner_text()

    page.locator("#custody").get_by_role("link", name="登记管护").click()
    page.get_by_label("管护主体").fill("桃源村村民委员会")
    page.get_by_label("管护责任人").fill("李建国")
    page.get_by_label("联系电话").fill("13812345678")
    page.get_by_label("管护经费（元/年）").fill("6000")
    page.get_by_role("button", name="保存管护信息").click()
    custody = page.locator("#custody").inner_text()
    assert "李建国" in custody and "138****5678" in custody  # the phone is shown masked

    page.get_by_role("link", name="记录收益").first.click()
    page.get_by_label("收支类别").select_option("income:electricity")
    page.get_by_label("金额（元）").fill("12345.67")
    page.get_by_label("收付日期").fill("2025-06-15")
    page.get_by_label("所属年度").fill("2025")
    page.get_by_label("所属月份").select_option("5")
    page.get_by_label("凭证号").fill("记-2025-0615")
    page.get_by_role("button", name="记录").click()
    assert "12,345.67" in page.locator("#income").inner_text()
    page.shot("05_asset_page", full_page=True)
    page.shot("05b_asset_page_viewport")

    page.get_by_role("link", name="资产", exact=True).click()
    assert page.get_by_role("link", name="ZC-2025-101").is_visible()
    page.shot("06_asset_list")

    # Everything the browser did went through the services: the database holds it.
    from assetreg.assets.models import Asset
    from assetreg.income.models import IncomeEntry

    asset = db.session.scalar(sa.select(Asset).where(Asset.code == "ZC-2025-101"))
    assert asset.original_value == Decimal("1234567.80")
    assert db.session.scalar(sa.select(IncomeEntry.amount).where(IncomeEntry.asset_id == asset.id)) == Decimal("12345.67")

    page.get_by_role("button", name="退出").click()
    assert "/login" in page.url and page.get_by_text("您已退出登录").is_visible()
    page.goto(f"/assets/{asset.id}")
    assert "/login" in page.url  # the session is gone


def test_village_user_cannot_open_another_villages_asset(today, page, world, f):
    other = f.asset(name="石门村光伏电站", place_code=VILLAGE_B1)
    own = f.asset(name="桃源村光伏电站", place_code=VILLAGE_A1)
    log_in(page, "vc_a1")
    page.goto(f"/assets/{own.id}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("桃源村光伏电站")
    response = page.goto(f"/assets/{other.id}")
    assert response.status == 404
    assert "石门村" not in page.content()
    assert page.get_by_role("heading", level=1).inner_text() == "未找到该资产"
    page.shot("07_village_user_404")
    page.goto("/assets")
    assert page.get_by_role("link", name="桃源村光伏电站").is_visible()
    assert page.get_by_text("石门村光伏电站").count() == 0


def test_auditor_reads_the_change_log(today, page, world, f):
    _some_data(f, world)
    log_in(page, "auditor")
    page.locator("[data-fragment][data-loaded]").wait_for()
    page.shot("08_home_auditor", full_page=True)
    page.get_by_role("link", name="操作日志").click()
    assert page.get_by_role("heading", level=1).inner_text() == "操作日志"
    rows = page.locator("table.data tbody tr")
    assert rows.count() >= 5
    assert "admin" in rows.first.inner_text()
    page.get_by_label("对象类型").select_option("income_entry")
    page.get_by_role("button", name="查询").click()
    assert "entity=income_entry" in page.url
    assert page.locator("table.data tbody tr").count() == 4
    page.shot("09_change_log")
    assert page.get_by_role("link", name="登记资产").count() == 0  # auditors never write
    page.get_by_role("button", name="退出").click()
    assert "/login" in page.url


def test_county_admin_home_and_users(today, page, world, f):
    _some_data(f, world)
    h = f.household(VILLAGE_A1, phone="13912345678")
    f.household(VILLAGE_B1)
    log_in(page, "admin")
    page.locator("[data-fragment][data-loaded='1']").wait_for()  # the flag figures arrive after the page
    assert page.get_by_role("link", name="公益性资产未明确管护主体").is_visible()
    page.shot("10_home_county_admin", full_page=True)
    charts = page.locator("figure.chart svg")
    assert charts.count() >= 2  # assets by town, income by year (and flags by town)
    page.get_by_role("link", name="用户管理").click()
    assert page.get_by_role("row").filter(has_text="vc_b1").first.is_visible()
    page.shot("11_users")
    page.get_by_role("link", name="农户", exact=True).first.click()
    assert page.get_by_role("link", name=h.head_name).is_visible()
    assert h.head_id_number not in page.content()  # the county admin sees ID numbers masked
    assert "139****5678" in page.content()
    page.shot("12_households")
