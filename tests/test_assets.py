"""Assets: registration, funding, status machine, depreciation, scope, optimistic locking (basis: P01, P02, P19)."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset, AssetStatusChange
from assetreg.assets.rules import TRANSITIONS, depreciate, transition_error
from assetreg.changelog.models import ChangeLogEntry
from assetreg.core import sqlite
from assetreg.extensions import db


def asset_payload(**over):
    data = {
        "code": "QX-2020-001", "name": "桃源村光伏电站", "category": "operating", "subtype": "光伏电站",
        "place_code": "431299100201", "managing_level": "village", "project_name": "2020年村级光伏扶贫电站",
        "project_year": 2020, "project_approval_no": "青扶发〔2020〕12号", "completed_on": "2020-06-30",
        "original_value": "1200000.00",
        "fundings": [{"source": "fiscal_link", "amount": "1000000.00"},
                     {"source": "east_west", "amount": "200000.00"}],
        "quantity": "300.000", "unit": "千瓦", "status": "in_operation", "status_on": "2020-09-01",
    }
    data.update(over)
    return data


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_finance_officer_registers_asset(world):
    r = world.fin_a.post("/api/v1/assets", json=asset_payload())
    assert r.status_code == 201, r.json
    body = r.json
    assert body["original_value"] == "1200000.00"
    assert body["town_code"] == "431299100" and body["village_code"] == "431299100201"
    assert {f["source"]: f["amount"] for f in body["fundings"]} == {"fiscal_link": "1000000.00",
                                                                  "east_west": "200000.00"}
    assert body["status"] == "in_operation" and body["is_rights_complete"] is False
    # Registration is logged with the actor and the initial status recorded.
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "asset")).one()
    assert log.actor_name == "fin_a" and log.action == "create" and log.after["code"] == "QX-2020-001"
    assert count(AssetStatusChange) == 1


def test_money_is_exact_on_the_database(world):
    r = world.fin_a.post("/api/v1/assets", json=asset_payload(
        original_value="0.03", fundings=[{"source": "fiscal_link", "amount": "0.01"},
                                         {"source": "donation", "amount": "0.02"}]))
    assert r.status_code == 201, r.json
    asset = db.session.get(Asset, r.json["id"])
    assert asset.original_value == Decimal("0.03")
    assert sum(f.amount for f in asset.fundings) == asset.original_value


@pytest.mark.parametrize("fundings, original", [
    ([{"source": "fiscal_link", "amount": "1000000.00"}], "1200000.00"),
    ([{"source": "fiscal_link", "amount": "600000.00"}, {"source": "other", "amount": "600000.01"}], "1200000.00"),
    ([{"source": "fiscal_link", "amount": "600000.00"}, {"source": "fiscal_link", "amount": "600000.00"}],
     "1200000.00"),
])
def test_funding_that_does_not_add_up_is_refused_and_nothing_written(world, fundings, original):
    before = (count(Asset), count(ChangeLogEntry))
    r = world.fin_a.post("/api/v1/assets", json=asset_payload(fundings=fundings, original_value=original))
    assert r.status_code == 422
    assert "fundings" in r.json["error"]["fields"]
    assert (count(Asset), count(ChangeLogEntry)) == before


@pytest.mark.parametrize("field, value", [
    ("original_value", 1200000.5), ("original_value", "12.345"), ("original_value", "-1.00"),
    ("original_value", "NaN"), ("original_value", "1e400"), ("category", "房屋"), ("subtype", "x" * 100000),
    ("project_year", "2020"), ("project_year", 10**20), ("completed_on", "2020-13-45"), ("place_code", None),
    ("quantity", "1.23456"), ("fundings", []), ("fundings", "all"),
])
def test_bad_fields_are_named(world, field, value):
    r = world.fin_a.post("/api/v1/assets", json=asset_payload(**{field: value}))
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"]
    assert count(Asset) == 0


def test_unknown_field_and_duplicate_code(world):
    r = world.fin_a.post("/api/v1/assets", json=asset_payload(colour="red"))
    assert r.status_code == 422 and "colour" in r.json["error"]["fields"]
    assert world.fin_a.post("/api/v1/assets", json=asset_payload()).status_code == 201
    r = world.fin_a.post("/api/v1/assets", json=asset_payload(name="另一个"))
    assert r.status_code == 409 and "code" in r.json["error"]["fields"]


def test_subtype_must_belong_to_category(world):
    r = world.fin_a.post("/api/v1/assets", json=asset_payload(subtype="道路"))
    assert r.status_code == 422 and "subtype" in r.json["error"]["fields"]


# --- status machine ---------------------------------------------------------------------------

def test_transition_table_is_closed():
    for src, targets in TRANSITIONS.items():
        assert targets <= set(TRANSITIONS), src
    assert TRANSITIONS["disposed"] == set() and TRANSITIONS["scrapped"] == set()


@pytest.mark.parametrize("category, current, target, ok", [
    ("operating", "under_construction", "completed", True),
    ("operating", "under_construction", "in_operation", False),
    ("operating", "completed", "handed_over", True),
    ("operating", "completed", "in_operation", False),
    ("operating", "handed_over", "in_operation", True),
    ("operating", "handed_over", "in_use", False),
    ("public_welfare", "handed_over", "in_use", True),
    ("public_welfare", "in_use", "idle", True),
    ("operating", "idle", "in_operation", True),
    ("operating", "in_operation", "disposing", True),
    ("operating", "disposing", "disposed", True),
    ("operating", "disposing", "scrapped", True),
    ("operating", "disposed", "in_operation", False),
    ("operating", "scrapped", "idle", False),
    ("operating", "in_operation", "under_construction", False),
])
def test_transition_rules(category, current, target, ok):
    assert (transition_error(category, current, target) is None) is ok


def test_status_transitions_through_the_api(world, f, today):
    a = f.asset(status="under_construction", status_on=date(2019, 3, 1), completed_on=None)
    url = f"/api/v1/assets/{a.id}/transitions"
    r = world.fin_a.post(url, json={"to_status": "in_operation", "changed_on": "2020-01-01"})
    assert r.status_code == 422 and r.json["error"]["code"] == "illegal_transition"
    assert world.fin_a.post(url, json={"to_status": "completed", "changed_on": "2019-12-20"}).status_code == 201
    r = world.fin_a.post(url, json={"to_status": "handed_over", "changed_on": "2019-12-01"})
    assert r.status_code == 422 and "changed_on" in r.json["error"]["fields"]  # before the last change
    r = world.fin_a.post(url, json={"to_status": "handed_over", "changed_on": "2026-01-01"})
    assert r.status_code == 422  # in the future
    assert world.fin_a.post(url, json={"to_status": "handed_over", "changed_on": "2020-03-01"}).status_code == 201
    history = world.vc_a1.get(url).json
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "under_construction"), ("under_construction", "completed"), ("completed", "handed_over")]
    asset = world.fin_a.get(f"/api/v1/assets/{a.id}").json
    assert asset["status"] == "handed_over" and asset["completed_on"] == "2019-12-20"
    logged = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.action == "status")).all()
    assert [e.after["status"] for e in logged] == ["completed", "handed_over"]


# --- depreciation (basis: P19) -----------------------------------------------------------------

def test_depreciation_known_case():
    # 1,200,000.00, 20 years, 5% residual, in service 2020-06-30: 1,140,000 over 240 months = 4,750.00/month.
    d = depreciate(Decimal("1200000.00"), in_service_on=date(2020, 6, 30), useful_life_years=20,
                   residual_rate=Decimal("0.05"), as_of=date(2025, 6, 30))
    assert d.months_elapsed == 60
    assert d.accumulated == Decimal("285000.00")
    assert d.book_value == Decimal("915000.00")
    end = depreciate(Decimal("1200000.00"), in_service_on=date(2020, 6, 30), useful_life_years=20,
                     residual_rate=Decimal("0.05"), as_of=date(2060, 1, 1))
    assert end.book_value == end.residual_value == Decimal("60000.00")
    before = depreciate(Decimal("1200000.00"), in_service_on=date(2020, 6, 30), useful_life_years=20,
                        residual_rate=Decimal("0.05"), as_of=date(2020, 6, 30))
    assert before.book_value == Decimal("1200000.00")


def test_depreciation_rounds_without_drift():
    # 10,000.00 over 3 years with no residual: 277.777… per month; each figure is rounded from the start.
    vals = [depreciate(Decimal("10000.00"), in_service_on=date(2024, 1, 15), useful_life_years=3,
                       residual_rate=Decimal("0"), as_of=date(2024 + m // 12, m % 12 + 1, 1)).accumulated
            for m in range(0, 40)]
    assert vals[1] == Decimal("277.78")
    assert vals[36] == Decimal("10000.00") and vals[39] == Decimal("10000.00")
    assert all(b >= a for a, b in zip(vals, vals[1:], strict=False))


def test_book_value_endpoint_uses_county_policy(world, f):
    r = world.admin.put("/api/v1/depreciation-policies",
                        json={"subtype": "光伏电站", "useful_life_years": 20, "residual_rate": "0.05"})
    assert r.status_code == 200, r.json
    assert world.fin_a.put("/api/v1/depreciation-policies",
                           json={"subtype": "光伏电站", "useful_life_years": 10, "residual_rate": "0"}).status_code == 403
    a = f.asset(original_value="1200000.00", completed_on=date(2020, 6, 30))
    r = world.vc_a1.get(f"/api/v1/assets/{a.id}/book-value?as_of=2025-06-30")
    assert r.status_code == 200
    assert r.json["book_value"] == "915000.00" and r.json["accumulated"] == "285000.00"
    assert world.vc_a1.get(f"/api/v1/assets/{a.id}/book-value").status_code == 422


# --- scope ---------------------------------------------------------------------------------------

def test_village_user_cannot_read_or_write_another_village(world, f):
    a1 = f.asset(place_code=world.village_a1)
    b1 = f.asset(place_code=world.village_b1)
    assert world.vc_a1.get(f"/api/v1/assets/{b1.id}").status_code == 404
    assert [x["id"] for x in world.vc_a1.get("/api/v1/assets").json["items"]] == [a1.id]
    assert world.vc_a1.patch(f"/api/v1/assets/{a1.id}", json={"name": "改名"}).status_code == 403
    assert world.fin_a.patch(f"/api/v1/assets/{b1.id}", json={"name": "改名"}).status_code == 403
    assert world.fin_a.post("/api/v1/assets", json=asset_payload(place_code=world.village_b1)).status_code == 403
    r = world.fin_a.post(f"/api/v1/assets/{b1.id}/transitions", json={"to_status": "idle", "changed_on": "2024-01-01"})
    assert r.status_code == 403
    assert world.fin_a.get(f"/api/v1/assets/{b1.id}/book-value?as_of=2024-01-01").status_code == 404
    assert db.session.get(Asset, b1.id).name == b1.name


def test_auditor_reads_everything_in_scope_and_writes_nothing(world, f):
    f.asset(place_code=world.village_a1)
    b1 = f.asset(place_code=world.village_b1)
    assert world.auditor.get("/api/v1/assets").json["total"] == 2
    assert world.auditor_a.get("/api/v1/assets").json["total"] == 1
    assert world.auditor_a.get(f"/api/v1/assets/{b1.id}").status_code == 404
    assert world.auditor.post("/api/v1/assets", json=asset_payload()).status_code == 403
    assert world.auditor.patch(f"/api/v1/assets/{b1.id}", json={"name": "x"}).status_code == 403
    assert count(Asset) == 2


def test_requests_without_token_are_refused(client, world):
    assert client.get("/api/v1/assets").status_code == 401
    r = client.get("/api/v1/assets", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"


# --- optimistic locking --------------------------------------------------------------------------

def test_two_concurrent_edits_one_loses_with_409(world, f):
    a = f.asset()
    v = world.fin_a.get(f"/api/v1/assets/{a.id}").json["version"]
    first = world.fin_a.patch(f"/api/v1/assets/{a.id}", json={"version": v, "name": "甲的修改"})
    second = world.admin.patch(f"/api/v1/assets/{a.id}", json={"version": v, "name": "乙的修改"})
    assert first.status_code == 200 and first.json["version"] == v + 1
    assert second.status_code == 409 and second.json["error"]["code"] == "version_conflict"
    assert world.fin_a.get(f"/api/v1/assets/{a.id}").json["name"] == "甲的修改"
    # If-Match works the same way.
    r = world.fin_a.patch(f"/api/v1/assets/{a.id}", json={"name": "丙"}, headers={"If-Match": f'"{v}"'})
    assert r.status_code == 409


@pytest.mark.committed  # two sessions on connections of their own
def test_race_at_the_database_is_caught_by_version_column(app, world, f):
    """Two sessions load the same row; the second flush finds the version moved and loses (409 path)."""
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.exc import StaleDataError

    a = f.asset()
    with Session(db.engine, expire_on_commit=False) as s1, Session(db.engine, expire_on_commit=False) as s2:
        with sqlite.reads_only():  # two reads, each its own transaction, as in two requests (GET the form)
            x1, x2 = s1.get(Asset, a.id), s2.get(Asset, a.id)
            s1.commit()
            s2.commit()
        x1.name = "一"
        s1.commit()
        x2.name = "二"
        with pytest.raises(StaleDataError):
            s2.commit()


def test_update_funding_together_with_value(world, f):
    a = f.asset(original_value="1000.00")
    url = f"/api/v1/assets/{a.id}"
    r = world.fin_a.patch(url, json={"original_value": "1500.00"})
    assert r.status_code == 422 and "fundings" in r.json["error"]["fields"]
    r = world.fin_a.patch(url, json={"original_value": "1500.00", "fundings": [
        {"source": "fiscal_link", "amount": "1000.00"}, {"source": "donation", "amount": "500.00"}]})
    assert r.status_code == 200 and r.json["original_value"] == "1500.00"
    entry = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.action == "update")).one()
    assert entry.before["original_value"] == "1000.00" and entry.after["original_value"] == "1500.00"


# --- list: filters, sort, pagination, constant queries ---------------------------------------------

def test_list_filters_sort_and_paginate(world, f):
    f.asset(code="A-1", name="桃源村光伏电站", place_code=world.village_a1, original_value="300.00")
    f.asset(code="A-2", name="柳林村道路", category="public_welfare", subtype="道路", status="in_use",
            place_code=world.village_a2, original_value="200.00")
    f.asset(code="B-1", name="石门村光伏电站", place_code=world.village_b1, original_value="100.00")
    get = lambda q: world.admin.get("/api/v1/assets?" + q).json  # noqa: E731
    assert [x["code"] for x in get("town_code=431299100")["items"]] == ["A-1", "A-2"]
    assert [x["code"] for x in get("category=public_welfare")["items"]] == ["A-2"]
    assert [x["code"] for x in get("status=in_operation")["items"]] == ["A-1", "B-1"]
    assert [x["code"] for x in get("subtype=光伏电站&village_code=431299101201")["items"]] == ["B-1"]
    assert [x["code"] for x in get("q=光伏")["items"]] == ["A-1", "B-1"]
    assert [x["code"] for x in get("q=%25")["items"]] == []  # LIKE wildcards are literal
    assert [x["code"] for x in get("sort=-original_value")["items"]] == ["A-1", "A-2", "B-1"]
    assert [x["code"] for x in get("sort=original_value")["items"]] == ["B-1", "A-2", "A-1"]
    page = get("per_page=2&page=2")
    assert page["total"] == 3 and [x["code"] for x in page["items"]] == ["B-1"]
    assert world.admin.get("/api/v1/assets?per_page=100000").status_code == 422
    assert world.admin.get("/api/v1/assets?sort=password").status_code == 422


def test_asset_list_runs_constant_number_of_queries(world, f, count_queries):
    for _ in range(3):
        f.asset()
    with count_queries() as small:
        assert len(world.fin_a.get("/api/v1/assets?per_page=500").json["items"]) == 3
    for _ in range(30):
        f.asset()
    with count_queries() as large:
        assert len(world.fin_a.get("/api/v1/assets?per_page=500").json["items"]) == 33
    assert small.count == large.count
    assert large.count <= 6


def test_book_value_sql_twin_agrees_with_the_rule_to_the_fen():
    """assets.services.book_value_fen_sql (the 资产清单 totals) computes what rules.depreciate does."""
    import random

    from assetreg.assets.services import book_value_fen_sql

    rng = random.Random(12)
    cases = [(120000000, date(2020, 6, 30), 20, 500, date(2025, 6, 30)),  # the known case: 915,000.00
             (1000000, date(2024, 1, 15), 3, 0, date(2024, 2, 1)),  # 277.78 a month, rounded half-up
             (99, date(2024, 5, 31), 1, 9999, date(2025, 7, 1)), (5, None, 10, 5000, date(2025, 1, 1)),
             (12345, date(2030, 1, 1), 5, 300, date(2025, 1, 1)), (777, date(2020, 1, 1), None, 100, date(2025, 1, 1)),
             (10**14, date(1950, 12, 31), 100, 9999, date(2100, 12, 31))]
    for _ in range(150):
        cases.append((rng.choice([0, 1, 3, rng.randrange(10**4), rng.randrange(10**9), rng.randrange(10**14)]),
                      date(rng.randrange(1990, 2030), rng.randrange(1, 13), rng.randrange(1, 29)),
                      rng.randrange(1, 60), rng.choice([0, 1, 500, rng.randrange(10000)]),
                      date(rng.randrange(2000, 2040), rng.randrange(1, 13), rng.randrange(1, 29))))
    for fen, on, life, rate, as_of in cases:
        expected = depreciate(Decimal(fen) / 100, in_service_on=on, useful_life_years=life,
                              residual_rate=Decimal(rate) / 10000, as_of=as_of).book_value
        got = db.session.scalar(sa.select(book_value_fen_sql(
            sa.literal(fen, sa.BigInteger), sa.literal(on, sa.Date),
            sa.literal(life, sa.Integer), sa.literal(rate, sa.BigInteger), as_of)))
        assert Decimal(int(got)) / 100 == expected, (fen, on, life, rate, as_of)


def test_list_total_rides_in_the_page_statement(world, f, count_queries):
    for n in range(5):
        f.asset(code=f"P-{n}")
    get = lambda q: world.admin.get("/api/v1/assets?" + q).json  # noqa: E731
    with count_queries() as full:
        assert get("per_page=2&page=1")["total"] == 5
    with count_queries() as last:
        page = get("per_page=2&page=3")
    assert page["total"] == 5 and [x["code"] for x in page["items"]] == ["P-4"]
    assert last.count == full.count  # the count is no statement of its own
    assert get("per_page=2&page=4") == {"items": [], "page": 4, "per_page": 2, "total": 5}  # past the end
    assert get("per_page=5&page=1")["total"] == 5
    assert get("per_page=2&page=2&q=P-")["total"] == 5 and get("q=nothing")["total"] == 0
