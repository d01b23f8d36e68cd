"""Regulations (制度): who records them at which level, validation, in force as of a date, repeal,
reading scope and the change log (basis: P08, P26)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.core.access import level_of
from assetreg.extensions import db
from assetreg.lists import rules
from assetreg.lists.models import Regulation, RegulationPlace

from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1


def body(issuer, **over):
    data = {"title": "光伏扶贫电站收益分配管理办法", "doc_number": "青政办发〔2021〕8号", "issuer_code": issuer,
            "category": "distribution", "effective_on": "2021-03-01"}
    data.update(over)
    return data


def count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize("client, issuer, status", [
    ("admin", COUNTY, 201), ("admin", TOWN_B, 201), ("admin", VILLAGE_B1, 201),
    ("fin_a", TOWN_A, 201), ("fin_a", VILLAGE_A2, 201), ("fin_a", COUNTY, 403), ("fin_a", TOWN_B, 403),
    ("fin_a", VILLAGE_B1, 403),
    ("vc_a1", VILLAGE_A1, 201), ("vc_a1", TOWN_A, 403), ("vc_a1", VILLAGE_A2, 403), ("vc_a1", COUNTY, 403),
    ("auditor", COUNTY, 403), ("auditor_a", TOWN_A, 403),
])
def test_who_records_rules_at_which_level(world, client, issuer, status):
    r = getattr(world, client).post("/api/v1/regulations", json=body(issuer))
    assert r.status_code == status, r.json
    assert count(Regulation) == (1 if status == 201 else 0)
    if status == 201:
        assert r.json["level"] == level_of(issuer) and r.json["place_codes"] == []
        log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "regulation")).one()
        assert log.action == "create" and log.actor_name == client and log.after["title"] == body(issuer)["title"]


def test_subtypes_places_and_validation(world):
    r = world.admin.post("/api/v1/regulations", json=body(COUNTY, subtypes=["光伏电站", "扶贫车间", "光伏电站"],
                                                          place_codes=[TOWN_A, VILLAGE_B1], level="county"))
    assert r.status_code == 201, r.json
    assert r.json["subtypes"] == ["光伏电站", "扶贫车间"] and r.json["place_codes"] == [TOWN_A, VILLAGE_B1]
    assert r.json["is_five_system"] is True and r.json["category_label"] == "资产收益分配"
    assert count(RegulationPlace) == 2
    cases = [
        (world.admin, body(COUNTY, level="town"), "level"),
        (world.fin_a, body(TOWN_A, place_codes=[VILLAGE_B1]), "place_codes"),  # outside the issuer's tree
        (world.fin_a, body(TOWN_A, place_codes=["431299100299"]), "place_codes"),  # no such village
        (world.admin, body(COUNTY, subtypes=["核电站"]), "subtypes"),
        (world.admin, body(COUNTY, repealed_on="2021-02-28"), "repealed_on"),
        (world.admin, body(COUNTY, category="tax"), "category"),
        (world.admin, body(COUNTY, title=""), "title"),
        (world.admin, body(COUNTY, title="x" * 201), "title"),
        (world.admin, body(COUNTY, effective_on="2021-02-30"), "effective_on"),
        (world.admin, body(COUNTY, issuer_code="abc"), "issuer_code"),
        (world.admin, body("999999"), "issuer_code"),
        (world.admin, body(COUNTY, place_codes="431299100"), "place_codes"),
        (world.admin, body(COUNTY, subtypes=["x"] * 31), "subtypes"),
        (world.admin, body(COUNTY, file_id=12345), "file_id"),
        (world.admin, body(COUNTY, unknown=1), "unknown"),
    ]
    for client, data, field in cases:
        r = client.post("/api/v1/regulations", json=data)
        assert r.status_code == 422, (data, r.json)
        assert field in r.json["error"]["fields"], (field, r.json)
    assert count(Regulation) == 1


def test_in_force_and_repeal(world):
    rid = world.fin_a.post("/api/v1/regulations", json=body(TOWN_A)).json["id"]
    r = world.fin_a.get("/api/v1/regulations?in_force_on=2021-02-28")
    assert r.json["total"] == 0
    assert world.fin_a.get("/api/v1/regulations?in_force_on=2021-03-01").json["total"] == 1
    for client in [world.fin_b, world.vc_a1, world.auditor]:
        assert client.post(f"/api/v1/regulations/{rid}/repeal", json={"repealed_on": "2024-01-01"}).status_code in (
            403, 404)
    r = world.fin_a.post(f"/api/v1/regulations/{rid}/repeal", json={"repealed_on": "2020-12-31"})
    assert r.status_code == 422
    r = world.fin_a.post(f"/api/v1/regulations/{rid}/repeal", json={"repealed_on": "2024-01-01"})
    assert r.status_code == 200 and r.json["repealed_on"] == "2024-01-01"
    assert world.fin_a.post(f"/api/v1/regulations/{rid}/repeal", json={"repealed_on": "2024-02-01"}).status_code == 409
    # Repealed on a day: in force the day before, not that day.
    assert world.admin.get("/api/v1/regulations?in_force_on=2023-12-31").json["total"] == 1
    assert world.admin.get("/api/v1/regulations?in_force_on=2024-01-01").json["total"] == 0
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.action == "repeal")).one()
    assert log.before == {"repealed_on": None} and log.after == {"repealed_on": "2024-01-01"}
    assert world.admin.post("/api/v1/regulations/999/repeal", json={"repealed_on": "2024-01-01"}).status_code == 404


def test_reading_scope(world):
    ids = {issuer: world.admin.post("/api/v1/regulations", json=body(issuer)).json["id"]
           for issuer in [COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2]}
    seen = {u: {r["issuer_code"] for r in getattr(world, u).get("/api/v1/regulations").json["items"]}
            for u in ["admin", "auditor", "fin_a", "auditor_a", "vc_a1", "vc_b1"]}
    assert seen["admin"] == seen["auditor"] == {COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2}
    assert seen["fin_a"] == seen["auditor_a"] == {COUNTY, TOWN_A, VILLAGE_A1, VILLAGE_A2}
    assert seen["vc_a1"] == {COUNTY, TOWN_A, VILLAGE_A1}  # its own and the places above it
    assert seen["vc_b1"] == {COUNTY, TOWN_B}
    assert world.vc_a1.get(f"/api/v1/regulations/{ids[VILLAGE_A2]}").status_code == 404
    assert world.vc_a1.get(f"/api/v1/regulations/{ids[TOWN_A]}").status_code == 200
    r = world.admin.get(f"/api/v1/regulations?level=town&issuer_code={TOWN_B}")
    assert [x["id"] for x in r.json["items"]] == [ids[TOWN_B]]
    for q in ["level=x", "category=x", "in_force_on=x", "issuer_code=1", "page=0", "per_page=501"]:
        assert world.admin.get(f"/api/v1/regulations?{q}").status_code == 422


@pytest.mark.parametrize("targets, place, applies", [
    ([COUNTY], VILLAGE_A1, True), ([TOWN_A], VILLAGE_A1, True), ([TOWN_A], VILLAGE_B1, False),
    ([VILLAGE_A1], TOWN_A, False), ([VILLAGE_A2, VILLAGE_B1], VILLAGE_B1, True),
])
def test_applies_to(targets, place, applies):
    assert rules.applies_to(targets, place) is applies


def test_missing_systems_rule():
    facts = [("market", [COUNTY]), ("risk", [TOWN_A]), ("distribution", [VILLAGE_A1]), ("custody", [COUNTY])]
    assert rules.missing_systems(VILLAGE_A1, facts) == ["depreciation", "disposal"]
    assert rules.missing_systems(TOWN_A, facts) == ["distribution", "depreciation", "disposal"]
    assert rules.missing_systems(VILLAGE_B1, facts) == ["risk", "distribution", "depreciation", "disposal"]
    assert rules.missing_systems(VILLAGE_B1, []) == list(rules.FIVE_SYSTEMS)
