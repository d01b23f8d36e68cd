"""Totals per asset, village and town against hand computation; shares; fixed-return dues; year-end
settlement (年度清算, basis: P34): frozen figures, the locked year, adjustments shown the next year."""

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.core import time as clock
from assetreg.extensions import db
from assetreg.income.models import AssetShare, IncomeEntry, Settlement
from assetreg.income.services import (
    asset_year_totals,
    settled_village_net,
    settlement_for,
    town_year_income,
    village_year_income,
)

D = Decimal


def post(client, asset_id, **over):
    body = dict(direction="income", kind="electricity", period_year=2024, received_on="2025-01-10",
                amount="1000.00", voucher_no="记-0001")
    body.update(over)
    r = client.post(f"/api/v1/assets/{asset_id}/income", json=body)
    return r


def ok(r, status=201):
    assert r.status_code == status, r.json
    return r.json


def counts():
    db.session.expire_all()
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m))
                 for m in (IncomeEntry, Settlement, AssetShare, ChangeLogEntry))


def build_2024(world, f):
    """Town A in 2024 (the figures every test below checks by hand):

    P1  A1's own PV station: electricity 12,000.00 + tariff subsidy 8,000.50 (arrived 2025) − maintenance
        1,500.25; insurance 300.00 posted and reversed; disposal 5,000.00 apart; 999.99 belongs to 2023.
        gross 20,000.50, costs 1,500.25, net 18,500.25, disposal 5,000.00
    S   a town-level joint PV station shared by capacity A1 60 kW : A2 40.5 kW: electricity 10,500.01 −
        site rent 500.00 = net 10,000.01 → A1 5,970.16, A2 4,029.85 (gross 6,268.66 / 4,231.35)
    Q   A2's own workshop: rent 3,000.00
    T   a town-level cold store without shares: operating income 1,000.00 (no village's)
    """
    fin = world.fin_a
    p1 = f.asset(place_code=world.village_a1, name="桃源村光伏电站")
    s = f.asset(place_code=world.town_a, managing_level="town", name="城关镇联村光伏电站")
    q = f.asset(place_code=world.village_a2, subtype="扶贫车间", name="柳林村扶贫车间")
    t = f.asset(place_code=world.town_a, managing_level="town", subtype="冷库仓储", name="城关镇冷库")
    ok(fin.put(f"/api/v1/assets/{s.id}/shares", json={"shares": [
        {"village_code": world.village_a1, "weight": "60", "basis": "装机容量(kW)"},
        {"village_code": world.village_a2, "weight": "40.5", "basis": "装机容量(kW)"}]}), 200)
    ok(post(fin, p1.id, amount="12000.00", period_month=3))
    ok(post(fin, p1.id, kind="tariff_subsidy", amount="8000.50", received_on="2025-02-10"))
    ok(post(fin, p1.id, direction="deduction", kind="maintenance", amount="1500.25", period_quarter=2))
    ins = ok(post(fin, p1.id, direction="deduction", kind="insurance", amount="300.00"))
    ok(fin.post(f"/api/v1/income/{ins['id']}/reversal", json={"reason": "保险费应由运维方承担"}))
    ok(post(fin, p1.id, kind="disposal", amount="5000.00"))
    ok(post(fin, p1.id, period_year=2023, amount="999.99", received_on="2024-01-05"))
    ok(post(fin, s.id, amount="10500.01", period_quarter=2))
    ok(post(fin, s.id, direction="deduction", kind="site_rent", amount="500.00"))
    ok(post(fin, q.id, kind="rent", amount="3000.00"))
    ok(post(fin, t.id, kind="operating", amount="1000.00"))
    return p1, s, q, t


def test_asset_village_and_town_totals_by_hand(world, f, today):
    p1, s, q, t = build_2024(world, f)
    assert asset_year_totals(world.county, p1.id, 2024) == {
        "gross": D("20000.50"), "costs": D("1500.25"), "net": D("18500.25"), "disposal": D("5000.00")}
    assert asset_year_totals(world.county, p1.id, 2023)["net"] == D("999.99")
    assert asset_year_totals(world.county, s.id, 2024)["net"] == D("10000.01")

    a1 = village_year_income(world.county, world.village_a1, 2024)
    assert [(ln["asset_id"], ln["net"], ln["part"]) for ln in a1["lines"]] == [
        (p1.id, D("18500.25"), D("18500.25")), (s.id, D("10000.01"), D("5970.16"))]
    shared = a1["lines"][1]
    assert (shared["share_weight"], shared["share_total"], shared["gross_part"], shared["costs_part"]) == (
        D("60"), D("100.5"), D("6268.67"), D("298.51"))
    assert (a1["gross"], a1["costs"], a1["net"], a1["disposal"]) == (
        D("26269.17"), D("1798.76"), D("24470.41"), D("5000.00"))
    a2 = village_year_income(world.county, world.village_a2, 2024)
    assert a2["net"] == D("7029.85") and a2["gross"] == D("7231.34") and a2["costs"] == D("201.49")
    assert village_year_income(world.county, world.village_b1, 2024)["lines"] == []

    town = town_year_income(world.county, world.town_a, 2024)
    assert (town["gross"], town["costs"], town["net"], town["disposal"]) == (
        D("34500.51"), D("2000.25"), D("32500.26"), D("5000.00"))
    parts = {p["village_code"]: p["net"] for p in town["parts"]}
    assert parts == {None: D("1000.00"), world.village_a1: D("24470.41"), world.village_a2: D("7029.85")}
    assert sum(parts.values()) == town["net"]  # the parts add up to the whole, to the fen

    r = world.vc_a1.get(f"/api/v1/villages/{world.village_a1}/income?year=2024")
    assert r.status_code == 200
    body = r.json
    assert (body["net"], body["gross"], body["costs"], body["village_name"]) == (
        "24470.41", "26269.17", "1798.76", "桃源村")
    assert body["lines"][1]["part"] == "5970.16" and body["settlement"] is None
    summary = world.auditor_a.get(f"/api/v1/assets/{s.id}/income-summary?year=2024").json
    assert summary["split"] == [
        {"village_code": world.village_a1, "share_weight": "60.0000", "part": "5970.16"},
        {"village_code": world.village_a2, "share_weight": "40.5000", "part": "4029.85"}]
    t_summary = world.fin_a.get(f"/api/v1/assets/{t.id}/income-summary?year=2024").json
    assert t_summary["net"] == "1000.00" and t_summary["split"] == []


def test_village_income_queries_do_not_grow_with_assets(world, f, today, count_queries):
    def measure():
        db.session.expire_all()
        with count_queries() as c:
            village_year_income(world.county, world.village_a1, 2024)
        return c.count

    shared = f.asset(place_code=world.town_a, managing_level="town")
    ok(world.fin_a.put(f"/api/v1/assets/{shared.id}/shares", json={"shares": [
        {"village_code": world.village_a1, "weight": "1"}, {"village_code": world.village_a2, "weight": "2"}]}), 200)
    ok(post(world.fin_a, shared.id))
    ok(post(world.fin_a, f.asset().id))
    few = measure()
    for _ in range(6):
        a = f.asset()
        ok(post(world.fin_a, a.id))
        ok(post(world.fin_a, a.id, direction="deduction", kind="tax", amount="10.00"))
    assert measure() == few <= 3


def test_shares_replace_the_whole_set_and_keep_history(world, f, today):
    s = f.asset(place_code=world.town_a, managing_level="town")
    url = f"/api/v1/assets/{s.id}/shares"
    ok(world.fin_a.put(url, json={"shares": [{"village_code": world.village_a1, "weight": "1"},
                                             {"village_code": world.village_a2, "weight": "1"}]}), 200)
    r = ok(world.fin_a.put(url, json={"from_year": 2025, "shares": [
        {"village_code": world.village_a1, "weight": "3"}, {"village_code": world.village_b1, "weight": "1"}]}), 200)
    assert [(x["village_code"], x["weight"], x["from_year"], x["to_year"]) for x in r] == [
        (world.village_a1, "1.0000", None, 2024), (world.village_a2, "1.0000", None, 2024),
        (world.village_a1, "3.0000", 2025, None), (world.village_b1, "1.0000", 2025, None)]
    history = ok(world.auditor.get(url + "?include_replaced=true"), 200)
    assert len(history) == 6 and sum(1 for x in history if x["replaced_at"]) == 2
    ok(post(world.fin_a, s.id, amount="100.00"))
    ok(post(world.fin_a, s.id, period_year=2025, received_on="2025-05-01", amount="100.00"))
    assert village_year_income(world.county, world.village_a2, 2024)["net"] == D("50.00")
    assert village_year_income(world.county, world.village_a2, 2025)["net"] == D("0.00")
    assert village_year_income(world.county, world.village_b1, 2025)["net"] == D("25.00")
    assert village_year_income(world.county, world.village_a1, 2025)["net"] == D("75.00")
    # from 2026 on no shares: a town asset then belongs to no village
    ok(world.fin_a.put(url, json={"from_year": 2026, "shares": []}), 200)
    assert ok(world.auditor.get(url), 200)[-1]["to_year"] == 2025
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "asset_shares")).all()
    assert len(log) == 3
    # refusals name the field and change nothing
    before = counts()
    for body, field in [
        ({"shares": [{"village_code": world.village_a1, "weight": "1"}] * 2}, "shares"),
        ({"shares": [{"village_code": "431299100299", "weight": "1"}]}, "shares"),
        ({"shares": [{"village_code": world.town_a, "weight": "1"}]}, "shares"),
        ({"shares": [{"village_code": world.village_a1, "weight": "0"}]}, "shares"),
        ({"shares": [{"village_code": world.village_a1, "weight": "1.00001"}]}, "shares"),
        ({}, "shares"),
    ]:
        r = world.fin_a.put(url, json=body)
        assert r.status_code == 422 and field in r.json["error"]["fields"], (body, r.json)
    assert counts() == before


def test_dues_of_a_fixed_return_contract_show_what_is_outstanding(world, f, today, runner):
    a = f.asset(code="ZC-GF-001")
    c = ok(world.fin_a.post(f"/api/v1/assets/{a.id}/returns", json={
        "contract_no": "青资经字〔2024〕第001号", "payer": "青溪县光伏运维有限公司", "kind": "dividend",
        "basis": "rate", "principal": "200000.00", "annual_rate_percent": "6", "period": "quarter",
        "start_on": "2024-01-01", "end_on": "2028-12-31"}))
    assert c["basis_label"] == "本金×年收益率" and c["principal"] == "200000.00"
    for q in (1, 2, 4):
        ok(post(world.fin_a, a.id, kind="dividend", amount="3000.00", period_quarter=q))
    r = ok(world.vc_a1.get(f"/api/v1/assets/{a.id}/dues?year=2024"), 200)
    assert [(ln["period_label"], ln["due"], ln["received"], ln["outstanding"], ln["is_overdue"])
            for ln in r["lines"]] == [
        ("2024年第1季度", "3000.00", "3000.00", "0.00", False),
        ("2024年第2季度", "3000.00", "3000.00", "0.00", False),
        ("2024年第3季度", "3000.00", "0.00", "3000.00", True),
        ("2024年第4季度", "3000.00", "3000.00", "0.00", False)]
    assert (r["due_total"], r["received_total"], r["outstanding_total"]) == ("12000.00", "9000.00", "3000.00")
    # 2025 as of 30 June: Q1 is over and unpaid (overdue); Q2 ends today, so it is not overdue yet
    r = ok(world.fin_a.get(f"/api/v1/assets/{a.id}/dues?year=2025"), 200)
    assert [(ln["is_closed"], ln["is_overdue"]) for ln in r["lines"]] == [
        (True, True), (False, False), (False, False), (False, False)]

    # a lump-sum rent of 100,000.00 for 2024–2026, spread by months
    b = f.asset(code="ZC-CJ-002", subtype="扶贫车间")
    ok(world.fin_a.post(f"/api/v1/assets/{b.id}/returns", json={
        "kind": "rent", "basis": "lump_sum", "amount": "100000.00", "start_on": "2024-01-01",
        "end_on": "2026-12-31"}))
    dues = [ok(world.fin_a.get(f"/api/v1/assets/{b.id}/dues?year={y}"), 200)["due_total"] for y in (2024, 2025, 2026)]
    assert dues == ["33333.34", "33333.33", "33333.33"]
    ok(post(world.fin_a, b.id, kind="rent", amount="33333.34"))
    assert ok(world.fin_a.get(f"/api/v1/assets/{b.id}/dues?year=2024"), 200)["outstanding_total"] == "0.00"

    result = runner.invoke(args=["income", "dues", "--asset", "ZC-GF-001", "--year", "2024"])
    assert result.exit_code == 0, result.output
    assert "2024年第3季度" in result.output and "逾期未收" in result.output
    assert "12000.00" in result.output and "9000.00" in result.output and "3000.00" in result.output
    assert runner.invoke(args=["income", "dues", "--asset", "NOPE", "--year", "2024"]).exit_code != 0

    before = counts()
    for body, field in [
        ({"kind": "rent", "basis": "rate", "principal": "1000.00", "period": "year", "start_on": "2024-01-01",
          "end_on": "2024-12-31"}, "annual_rate_percent"),
        ({"kind": "rent", "basis": "fixed", "amount": "10.00", "start_on": "2024-01-01", "end_on": "2024-12-31"},
         "period"),
        ({"kind": "rent", "basis": "fixed", "amount": "10.00", "period": "month", "start_on": "2024-01-01",
          "end_on": "2023-12-31"}, "end_on"),
        ({"kind": "disposal", "basis": "fixed", "amount": "10.00", "period": "month", "start_on": "2024-01-01",
          "end_on": "2024-12-31"}, "kind"),
        ({"kind": "rent", "basis": "lump_sum", "amount": "10.00", "principal": "5.00", "start_on": "2024-01-01",
          "end_on": "2024-12-31"}, "principal"),
        ({"kind": "rent", "basis": "rate", "principal": "1000.00", "annual_rate_percent": "101", "period": "year",
          "start_on": "2024-01-01", "end_on": "2024-12-31"}, "annual_rate_percent"),
    ]:
        r = world.fin_a.post(f"/api/v1/assets/{a.id}/returns", json=body)
        assert r.status_code == 422 and field in r.json["error"]["fields"], (body, r.json)
    assert counts() == before


def test_settlement_freezes_locks_and_shows_later_adjustments(world, f, today, runner):
    p1, s, q, t = build_2024(world, f)
    r = world.fin_a.post("/api/v1/settlements", json={"place_code": world.village_a1, "year": 2024,
                                                     "settled_on": "2025-03-15", "published_on": "2025-03-20"})
    st = ok(r)
    assert (st["gross"], st["costs"], st["net"], st["disposal"]) == ("26269.17", "1798.76", "24470.41", "5000.00")
    assert st["due_on"] == "2025-03-31" and st["is_late"] is False and st["level"] == "village"
    assert [ln["part"] for ln in st["lines"]] == ["18500.25", "5970.16"] and st["adjustments"] == []
    assert settlement_for(world.county, world.village_a1, 2024).net == D("24470.41")
    assert settled_village_net(world.county, world.village_a1, 2024) == D("24470.41")
    assert settled_village_net(world.county, world.village_a2, 2024) is None

    # settled twice: refused
    r = world.admin.post("/api/v1/settlements", json={"place_code": world.village_a1, "year": 2024,
                                                     "settled_on": "2025-03-16"})
    assert r.status_code == 409 and r.json["error"]["code"] == "already_settled"

    # the year is locked for A1's asset and for the asset A1 shares; A2's own asset is not
    before = counts()
    for asset in (p1, s):
        r = post(world.fin_a, asset.id, amount="50.00")
        assert r.status_code == 409 and r.json["error"]["code"] == "year_settled", r.json
        assert "period_year" in r.json["error"]["fields"]
    entry_2024 = db.session.scalar(sa.select(IncomeEntry.id).where(IncomeEntry.asset_id == p1.id,
                                                                   IncomeEntry.amount == D("12000.00")))
    r = world.fin_a.post(f"/api/v1/income/{entry_2024}/reversal", json={"reason": "金额有误"})
    assert r.status_code == 409 and r.json["error"]["code"] == "year_settled"
    r = post(world.fin_a, p1.id, amount="50.00", is_adjustment=True, adjustment_on="2025-03-01")
    assert r.status_code == 422 and "adjustment_on" in r.json["error"]["fields"]  # before the settlement
    assert counts() == before
    ok(post(world.fin_a, q.id, kind="rent", amount="10.00"))  # A2 is not settled
    ok(post(world.fin_a, p1.id, period_year=2025, received_on="2025-04-01", amount="1000.00"))

    # dated adjustments go in, and leave the frozen figures alone
    adj1 = ok(post(world.fin_a, p1.id, amount="200.00", is_adjustment=True, adjustment_on="2025-05-01",
                   note="2024年12月电费补记"))
    adj2 = ok(post(world.fin_a, s.id, direction="deduction", kind="maintenance", amount="100.50",
                   is_adjustment=True, adjustment_on="2025-05-02"))
    adj3 = ok(world.fin_a.post(f"/api/v1/income/{entry_2024}/reversal", json={
        "reason": "电费金额有误，冲销后重记", "is_adjustment": True, "adjustment_on": "2025-05-03"}))
    adj4 = ok(post(world.fin_a, p1.id, amount="11000.00", period_month=3, is_adjustment=True,
                   adjustment_on="2025-05-03"))
    assert db.session.get(Settlement, st["id"]).net == D("24470.41")
    assert village_year_income(world.county, world.village_a1, 2024)["net"] == D("23610.41")

    # the 2025 settlement (after the year ends) lists those adjustments with A1's part of each
    clock.freeze(datetime(2026, 3, 20, 2, 0, tzinfo=UTC))
    st25 = ok(world.fin_a.post("/api/v1/settlements", json={"place_code": world.village_a1, "year": 2025,
                                                           "settled_on": "2026-03-20"}))
    assert st25["net"] == "1000.00"
    got = [(a["entry_id"], a["effect"], a["part"], a["kind"]) for a in st25["adjustments"]]
    assert got == [(adj1["id"], "200.00", "200.00", "electricity"),
                   (adj2["id"], "-100.50", "-60.00", "maintenance"),
                   (adj3["id"], "-12000.00", "-12000.00", "electricity"),
                   (adj4["id"], "11000.00", "11000.00", "electricity")]
    assert st25["adjustments_net"] == "-860.00"
    assert st25["adjustments"][2]["reverses_id"] == entry_2024
    assert st25["adjustments"][0]["adjustment_on"] == "2025-05-01"

    # one more adjustment to 2024 after that: the 2026 settlement lists only it
    clock.freeze(datetime(2026, 3, 26, 2, 0, tzinfo=UTC))
    adj5 = ok(post(world.fin_a, p1.id, direction="deduction", kind="tax", amount="12.34", is_adjustment=True,
                   adjustment_on="2026-03-25"))
    clock.freeze(datetime(2027, 2, 1, 2, 0, tzinfo=UTC))
    result = runner.invoke(args=["income", "settle", "--place", world.village_a1, "--year", "2026",
                                 "--on", "2027-02-01"])
    assert result.exit_code == 0, result.output
    assert "以前年度调整 1 笔，合计 -12.34 元" in result.output
    st26 = settlement_for(world.county, world.village_a1, 2026)
    assert [a.entry_id for a in st26.adjustments] == [adj5["id"]] and st26.settled_by_id is None
    again = runner.invoke(args=["income", "settle", "--place", world.village_a1, "--year", "2026",
                                "--on", "2027-02-01"])
    assert again.exit_code != 0 and "不能重复清算" in again.output

    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "settlement")).all()
    assert len(log) == 3


def test_town_settlement_splits_by_village_and_locks_the_town(world, f, today):
    p1, s, q, t = build_2024(world, f)
    st = ok(world.fin_a.post("/api/v1/settlements", json={"place_code": world.town_a, "year": 2024,
                                                         "settled_on": "2025-04-10"}))
    assert (st["level"], st["gross"], st["costs"], st["net"]) == ("town", "34500.51", "2000.25", "32500.26")
    assert st["is_late"] is True and st["published_on"] is None  # after 31 March, and not yet published
    assert {p["village_code"]: p["net"] for p in st["parts"]} == {
        None: "1000.00", world.village_a1: "24470.41", world.village_a2: "7029.85"}
    assert settled_village_net(world.county, world.village_a2, 2024) == D("7029.85")
    for asset in (p1, s, q, t):
        r = post(world.fin_a, asset.id, amount="1.00")
        assert r.status_code == 409 and r.json["error"]["code"] == "year_settled"
    b1 = f.asset(place_code=world.village_b1)
    ok(post(world.fin_b, b1.id))  # another town: not locked
    # a village of the settled town may still settle itself; the figures agree with the town's part
    st_a2 = ok(world.fin_a.post("/api/v1/settlements", json={"place_code": world.village_a2, "year": 2024,
                                                            "settled_on": "2025-04-11"}))
    assert st_a2["net"] == "7029.85"

    # publication (公示) of the result, once
    pub = ok(world.fin_a.post(f"/api/v1/settlements/{st['id']}/publication", json={"published_on": "2025-04-12"}),
             200)
    assert pub["published_on"] == "2025-04-12"
    r = world.fin_a.post(f"/api/v1/settlements/{st['id']}/publication", json={"published_on": "2025-04-13"})
    assert r.status_code == 409 and r.json["error"]["code"] == "already_published"
    assert world.fin_b.post(f"/api/v1/settlements/{st['id']}/publication",
                            json={"published_on": "2025-04-13"}).status_code == 403

    # who sees which settlement
    assert ok(world.auditor_a.get("/api/v1/settlements?year=2024"), 200)["total"] == 2
    assert ok(world.vc_a2.get("/api/v1/settlements"), 200)["total"] == 1
    assert ok(world.vc_a1.get("/api/v1/settlements"), 200)["total"] == 0
    assert ok(world.fin_b.get("/api/v1/settlements"), 200)["total"] == 0
    assert world.fin_b.get(f"/api/v1/settlements/{st['id']}").status_code == 404
    assert world.vc_a1.get(f"/api/v1/settlements/{st_a2['id']}").status_code == 404
    assert ok(world.vc_a2.get(f"/api/v1/settlements/{st_a2['id']}"), 200)["net"] == "7029.85"
    assert ok(world.auditor.get(f"/api/v1/settlements?level=town&place_code={world.town_a}"), 200)["total"] == 1


def test_settlement_refusals_name_the_field_and_write_nothing(world, f, today):
    a = f.asset()
    ok(post(world.fin_a, a.id))
    before = counts()
    for body, field in [
        ({"place_code": world.village_a1, "year": 2025, "settled_on": "2025-06-30"}, "year"),  # year not over
        ({"place_code": world.village_a1, "year": 2024, "settled_on": "2024-12-31"}, "settled_on"),
        ({"place_code": world.village_a1, "year": 2024, "settled_on": "2025-07-01"}, "settled_on"),
        ({"place_code": world.village_a1, "year": 2024, "settled_on": "2025-03-01", "published_on": "2025-02-01"},
         "published_on"),
        ({"place_code": world.county, "year": 2024, "settled_on": "2025-03-01"}, "place_code"),
        ({"place_code": "431299100299", "year": 2024, "settled_on": "2025-03-01"}, "place_code"),
        ({"place_code": world.village_a1, "year": "2024", "settled_on": "2025-03-01"}, "year"),
        ({"place_code": world.village_a1, "year": 2024}, "settled_on"),
    ]:
        r = world.fin_a.post("/api/v1/settlements", json=body)
        assert r.status_code == 422 and field in r.json["error"]["fields"], (body, r.json)
    assert counts() == before
