"""Income pages: a village's year (figures computed here independently from the entries created, and
equal to the income service's), the settlements list with the settle form (409 on a second settle
shown as a form error) and the publish form, scope (404 to read, 403 to write), odd paths, bounded
queries."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.income.models import Settlement

from .factories import COUNTY, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .web_support import login, text

YEAR = 2024


def error_of(html: str, name: str) -> str | None:
    m = re.search(rf'id="f-{re.escape(name.replace(".", "-"))}-error">([^<]*)<', html)
    return m.group(1) if m else None


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def fen(amount: str) -> int:
    return int(Decimal(amount) * 100)


def yuan(fen_amount: int) -> str:
    """12345678 fen → "123,456.78", as the pages print money."""
    return f"{Decimal(fen_amount) / 100:,.2f}"


def hamilton(total: int, weights: list[int]) -> list[int]:
    """Largest-remainder split of ``total`` fen (written here again, independently of core.money)."""
    w = sum(weights)
    floors = [total * x // w for x in weights]
    rest = [total * x % w for x in weights]
    for i in sorted(range(len(weights)), key=lambda i: (-rest[i], i))[: total - sum(floors)]:
        floors[i] += 1
    return floors


def post(admin, asset, direction, kind, amount, year=YEAR, **over):
    from assetreg.income.services import post_entry

    return post_entry(admin, asset.id, {"direction": direction, "kind": kind, "period_year": year,
                                        "received_on": date(2025, 1, 15), "amount": Decimal(amount), **over})


@pytest.fixture
def seeded(world, f, today):
    """Village A1's 2024: its own PV station (income, a subsidy, a deduction, disposal income, a reversed
    entry, an entry of 2023), a station shared with A2 by capacity 2:1, and an asset of A2 alone."""
    from assetreg.income.services import replace_shares, reverse_entry

    admin = world.users["admin"]
    own = f.asset(place_code=VILLAGE_A1, name="桃源村光伏电站")
    joint = f.asset(place_code=VILLAGE_A1, name="联建光伏电站")
    a2 = f.asset(place_code=VILLAGE_A2, name="柳林村车间", subtype="扶贫车间")
    replace_shares(admin, joint.id, shares=[{"village_code": VILLAGE_A1, "weight": Decimal("200")},
                                            {"village_code": VILLAGE_A2, "weight": Decimal("100")}])
    post(admin, own, "income", "electricity", "12345.67", period_month=12)
    post(admin, own, "income", "tariff_subsidy", "2000.00")
    post(admin, own, "deduction", "maintenance", "345.67")
    post(admin, own, "income", "disposal", "5000.00")
    wrong = post(admin, own, "income", "rent", "999.99")
    reverse_entry(admin, wrong.id, {"reason": "重复录入"})
    post(admin, own, "income", "electricity", "777.77", year=YEAR - 1)
    post(admin, joint, "income", "electricity", "1000.00")
    post(admin, joint, "deduction", "custody", "100.01")
    post(admin, a2, "income", "rent", "4000.00")
    db.session.commit()

    # Computed here from the entries above, not by the income service.
    joint_costs, joint_net = fen("100.01"), fen("1000.00") - fen("100.01")
    # the net and (the net being positive) the costs are split; the gross part is their sum
    a1_net_part = hamilton(joint_net, [200, 100])[0]  # village codes in order: A1 before A2
    a1_gross_part = a1_net_part + hamilton(joint_costs, [200, 100])[0]
    own_gross = fen("12345.67") + fen("2000.00") + fen("999.99") - fen("999.99")
    own_costs = fen("345.67")
    expected = {
        "gross": own_gross + a1_gross_part,
        "costs": own_costs + (a1_gross_part - a1_net_part),
        "net": own_gross - own_costs + a1_net_part,
        "disposal": fen("5000.00"),
        "joint": (a1_gross_part, a1_gross_part - a1_net_part, a1_net_part),
        "a2_net": fen("4000.00") + hamilton(joint_net, [200, 100])[1],
    }
    return {"own": own, "joint": joint, "a2": a2, "expected": expected}


def test_village_year_figures_equal_the_service_and_the_entries(app, world, seeded):
    from assetreg.income.services import village_year_income

    e = seeded["expected"]
    # The split by hand: net 899.99 × 2/3 = 599.993… → 599.99 (A2 takes the leftover fen), costs 100.01 × 2/3 =
    # 66.673… → 66.67, so gross 666.66 (599.99 + 66.67).
    assert e["joint"] == (66666, 6667, 59999) and e["net"] == 1459999
    service = village_year_income(COUNTY, VILLAGE_A1, YEAR)
    assert [fen(str(service[k])) for k in ("gross", "costs", "net", "disposal")] == \
        [e["gross"], e["costs"], e["net"], e["disposal"]]

    r = login(app, "vc_a1").get(f"/villages/{VILLAGE_A1}/years/{YEAR}")
    assert r.status_code == 200
    html = text(r)
    assert "桃源村" in html and "村级年度收益" in html
    foot = re.search(r"<tfoot><tr><td colspan=\"6\">本村合计</td>(.*?)</tr></tfoot>", html, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]+)</td>', foot) == [
        yuan(e["gross"]), yuan(e["costs"]), yuan(e["net"]), yuan(e["disposal"])]
    joint_row = re.search(r"联建光伏电站</td>(.*?)</tr>", html, re.S).group(1)
    assert "200 / 300" in joint_row
    assert [yuan(x) for x in e["joint"]] == ["666.66", "66.67", "599.99"]
    for figure in ("1,000.00", "100.01", "899.99", "666.66", "66.67", "599.99"):
        assert figure in joint_row, figure
    assert "777.77" not in html and ">4,000.00<" not in html and "柳林村车间" not in html  # other year, other village
    assert "尚未清算" in html and "该年度尚未制定分配方案" in html

    a2 = text(login(app, "fin_a").get(f"/villages/{VILLAGE_A2}/years/{YEAR}"))
    assert f"<td class=\"num\">{yuan(e['a2_net'])}</td>" in a2  # 4,000.00 + 300.00 of the joint station


def test_settle_then_409_then_publish(app, world, seeded, today):
    from assetreg.income.services import settled_village_net

    c = login(app, "fin_a")
    html = text(c.get("/settlements"))
    assert 'name="settle.place_code"' in html and "城关镇（乡镇，含各村）" in html and "石门村" not in html
    form = {"settle.place_code": VILLAGE_A1, "settle.year": str(YEAR), "settle.settled_on": "2025-03-20"}
    r = c.post("/settlements", data=form)
    assert r.status_code == 302
    s = db.session.scalar(sa.select(Settlement))
    assert (s.place_code, s.year, s.level, s.published_on) == (VILLAGE_A1, YEAR, "village", None)
    assert fen(str(s.net)) == seeded["expected"]["net"] == fen(str(settled_village_net(COUNTY, VILLAGE_A1, YEAR)))
    assert db.session.scalar(sa.select(ChangeLogEntry.action).where(ChangeLogEntry.entity == "settlement")) == "settle"

    before = (count(Settlement), count(ChangeLogEntry))
    r = c.post("/settlements", data=form)  # the service's 409, shown at the form
    assert r.status_code == 422
    assert "桃源村2024年度已清算，不能重复清算" in text(r) and "该年度已清算" in error_of(text(r), "settle.year")
    assert f'value="{VILLAGE_A1}" selected' in text(r)  # what was chosen stays
    assert (count(Settlement), count(ChangeLogEntry)) == before

    listing = text(c.get("/settlements"))
    assert f'href="/villages/{VILLAGE_A1}/years/{YEAR}">桃源村</a>' in listing
    assert yuan(seeded["expected"]["net"]) in listing and "2025年3月20日" in listing
    name = f"s{s.id}.published_on"
    assert f'name="{name}"' in listing

    r = c.post(f"/settlements/{s.id}/publish", data={name: "2025-03-19"})
    assert r.status_code == 422 and "应不早于清算日期" in error_of(text(r), name)
    r = c.post(f"/settlements/{s.id}/publish", data={name: "2025-03-25"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Settlement, s.id).published_on == date(2025, 3, 25)
    listing = text(c.get("/settlements"))
    assert "已公示" in listing and f'name="{name}"' not in listing
    r = c.post(f"/settlements/{s.id}/publish", data={name: "2025-03-26"})
    assert r.status_code == 422 and "该清算结果已公示" in text(r)
    assert db.session.get(Settlement, s.id).published_on == date(2025, 3, 25)

    page = text(login(app, "vc_a1").get(f"/villages/{VILLAGE_A1}/years/{YEAR}"))
    assert "已清算" in page and "已公示" in page and "2025年3月25日" in page
    assert "逾期" not in page  # settled and published by 31 March
    assert "清算后台账有调整" not in page
    # A settled year takes only dated adjustments: the page keeps the settled figures and says how far the
    # ledger has moved since.
    post(world.users["admin"], seeded["own"], "income", "electricity", "10.00", is_adjustment=True,
         adjustment_on=date(2025, 4, 1))
    db.session.commit()
    page = text(login(app, "vc_a1").get(f"/villages/{VILLAGE_A1}/years/{YEAR}"))
    assert "当前台账净收益与清算数相差 10.00 元" in page
    assert f"<dt>清算净收益</dt><dd>{yuan(seeded['expected']['net'])} 元</dd>" in page
    assert f"<dt>净收益</dt><dd>{yuan(seeded['expected']['net'] + 1000)} 元</dd>" in page


@pytest.mark.parametrize("change, field, words", [
    ({"settle.year": "abc"}, "settle.year", "应为整数"),
    ({"settle.year": "2025"}, "settle.year", "应早于 2025"),
    ({"settle.year": "1999"}, "settle.year", "应在 2000 至 2100 之间"),
    ({"settle.place_code": ""}, "settle.place_code", "不能为空"),
    ({"settle.settled_on": "2026-01-01"}, "settle.settled_on", "不能是将来的日期"),
    ({"settle.settled_on": "2024-12-31"}, "settle.settled_on", "应不早于 2025-01-01"),
    ({"settle.published_on": "2025-03-01"}, "settle.published_on", "应不早于清算日期"),
    ({"settle.place_code": "431299999999"}, "settle.place_code", "未找到该村或乡镇"),
])
def test_bad_settle_form_inline_and_nothing_written(app, world, seeded, change, field, words):
    form = {"settle.place_code": VILLAGE_A1, "settle.year": str(YEAR), "settle.settled_on": "2025-03-20", **change}
    before = (count(Settlement), count(ChangeLogEntry))
    r = login(app, "fin_a").post("/settlements", data=form)
    assert r.status_code == 422
    assert words in (error_of(text(r), field) or ""), error_of(text(r), field)
    assert (count(Settlement), count(ChangeLogEntry)) == before


def test_town_settlement_and_the_village_part(app, world, seeded):
    r = login(app, "fin_a").post("/settlements", data={"settle.place_code": world.town_a, "settle.year": str(YEAR),
                                                       "settle.settled_on": "2025-03-10",
                                                       "settle.published_on": "2025-03-12"})
    assert r.status_code == 302
    page = text(login(app, "vc_a1").get(f"/villages/{VILLAGE_A1}/years/{YEAR}"))
    assert "随乡镇（城关镇）一并清算" in page and "已公示" in page
    settled = re.search(r"<dt>清算净收益</dt><dd>([^<]+)</dd>", page).group(1)
    assert settled == yuan(seeded["expected"]["net"]) + " 元"


def test_plan_and_carry_over_on_the_village_year(app, world, seeded, today):
    from .distribution_support import new_plan

    login(app, "fin_a").post("/settlements", data={"settle.place_code": VILLAGE_A1, "settle.year": str(YEAR),
                                                   "settle.settled_on": "2025-03-20"})
    p = new_plan(world.vc_a1, VILLAGE_A1, carry_over="100.00")
    html = text(login(app, "vc_a1").get(f"/villages/{VILLAGE_A1}/years/{YEAR}"))
    assert f'href="/plans/{p["id"]}"' in html and "草拟中" in html
    assert f'href="/plans/{p["id"]}/procedure"' in html and f'href="/plans/{p["id"]}/notice-preview"' in html
    assert "<dt>上年结转</dt><dd>100.00 元</dd>" in html
    assert f"<dt>可分配收益</dt><dd>{yuan(seeded['expected']['net'] + 10000)} 元</dd>" in html


def test_scope_crossing(app, world, seeded):
    c = login(app, "fin_a")
    c.post("/settlements", data={"settle.place_code": VILLAGE_A1, "settle.year": str(YEAR),
                                 "settle.settled_on": "2025-03-20"})
    s = db.session.scalar(sa.select(Settlement))
    for who in ("vc_b1", "vc_a2", "fin_b"):
        r = login(app, who).get(f"/villages/{VILLAGE_A1}/years/{YEAR}")
        assert r.status_code == 404 and "联建光伏电站" not in text(r), who
    assert login(app, "auditor_a").get(f"/villages/{VILLAGE_A1}/years/{YEAR}").status_code == 200
    assert login(app, "vc_b1").get(f"/villages/{VILLAGE_B1}/years/{YEAR}").status_code == 200
    listing = text(login(app, "vc_b1").get("/settlements"))
    assert "桃源村" not in listing and "登记公示" not in listing and 'name="settle.place_code"' not in listing
    assert "没有符合条件的清算记录" in listing
    assert "桃源村" in text(login(app, "vc_a1").get("/settlements"))

    before = (count(Settlement), count(ChangeLogEntry))
    form = {"settle.place_code": VILLAGE_A2, "settle.year": str(YEAR), "settle.settled_on": "2025-03-20"}
    for who in ("fin_b", "vc_a1", "auditor", "vc_b1"):
        r = login(app, who).post("/settlements", data=form)
        assert r.status_code == 403, who
        r = login(app, who).post(f"/settlements/{s.id}/publish", data={f"s{s.id}.published_on": "2025-03-25"})
        assert r.status_code == 403, who
    assert (count(Settlement), count(ChangeLogEntry)) == before
    db.session.expire_all()
    assert db.session.get(Settlement, s.id).published_on is None


@pytest.mark.parametrize("path, status", [
    ("/villages/xyz/years/99999", 404),
    (f"/villages/{VILLAGE_A1}/years/1999", 404),
    (f"/villages/{VILLAGE_A1}/years/2101", 404),
    (f"/villages/{VILLAGE_A1}/years/abc", 404),
    (f"/villages/{VILLAGE_A1}/years/99999999999999999999999", 404),
    (f"/villages/{VILLAGE_A1}0/years/2024", 404),
    ("/villages/%F0%9F%98%80/years/2024", 404),
    ("/villages/431299100/years/2024", 404),  # a town is not a village
    ("/villages/year?village_code=&for_year=x", 302),
    (f"/villages/year?village_code={VILLAGE_A1}&for_year=2024", 302),
    ("/settlements?year=abc&level=x&page=0&per_page=-1&place_code=" + "9" * 40, 200),
    ("/settlements?new_place=<script>&new_year=abc", 200),
])
def test_odd_paths_never_fail(app, world, seeded, path, status):
    r = login(app, "admin").get(path)
    assert r.status_code == status, path
    assert "<script>" not in text(r)


def test_no_500_on_bad_posts(app, world, seeded):
    c = login(app, "admin")
    assert c.post("/settlements/99999999/publish", data={}).status_code == 404
    assert c.post("/settlements/99999999999999999999999/publish", data={}).status_code == 404
    assert c.post("/settlements", data={"settle.year": "9" * 40, "settle.note": "x" * 600}).status_code == 422
    assert c.get("/settlements/1/publish").status_code == 405


def test_nav_has_the_settlements_entry(app, world):
    html = text(login(app, "vc_a1").get("/"))
    assert '<a href="/settlements">结算</a>' in html


def test_income_pages_queries_are_bounded(app, world, f, today, count_queries):
    from assetreg.income.services import post_entry, settle_year

    admin = world.users["admin"]

    made = []

    def measure(n: int):
        while len(made) < n:  # each asset: an entry in YEAR, and one more settlement (its own year)
            k = len(made) + 1
            a = f.asset(place_code=VILLAGE_A1 if k % 2 else VILLAGE_A2)
            post_entry(admin, a.id, {"direction": "income", "kind": "rent", "period_year": YEAR,
                                     "received_on": date(2025, 1, 10), "amount": Decimal("100.00")})
            settle_year(None, place_code=a.village_code, year=2000 + k, settled_on=date(2025, 3, 1))
            db.session.commit()
            made.append(a)
        c = login(app, "admin")
        with count_queries() as year_page:
            r = c.get(f"/villages/{VILLAGE_A1}/years/{YEAR}")
        assert r.status_code == 200 and text(r).count('<a href="/assets/') == (n + 1) // 2
        with count_queries() as listing:
            r = c.get("/settlements")
        assert r.status_code == 200 and text(r).count("登记公示</button>") == n
        return year_page.count, listing.count

    small, large = measure(2), measure(12)
    assert small == large
    assert large[0] <= 20 and large[1] <= 15
