"""Places (division codes, withdrawal with succession) and the change log read by auditors (basis: P18)."""

from datetime import UTC, datetime

import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.core import time as clock
from assetreg.extensions import db
from assetreg.places.models import Place, PlaceSuccession


def test_division_codes_are_checked(world):
    post = lambda **kw: world.admin.post("/api/v1/places", json=kw)  # noqa: E731
    assert post(code="431299100203", name="新村", level="village", parent_code="431299100").status_code == 201
    r = post(code="431299101204", name="错村", level="village", parent_code="431299100")
    assert r.status_code == 422 and "code" in r.json["error"]["fields"]  # does not start with its parent
    r = post(code="43129910020", name="短村", level="village", parent_code="431299100")
    assert r.status_code == 422 and "code" in r.json["error"]["fields"]
    r = post(code="431299100000", name="零村", level="village", parent_code="431299100")
    assert r.status_code == 422
    r = post(code="431299103", name="新乡", level="town", parent_code="431299100201")
    assert r.status_code == 422 and "parent_code" in r.json["error"]["fields"]
    r = post(code="431299100201", name="重复", level="village", parent_code="431299100")
    assert r.status_code == 422 and "code" in r.json["error"]["fields"]
    assert world.fin_a.post("/api/v1/places", json=dict(code="431299100209", name="x", level="village",
                                                         parent_code="431299100")).status_code == 403


def test_places_visible_by_scope(world):
    codes = lambda c: {p["code"] for p in c.get("/api/v1/places").json}  # noqa: E731
    assert len(codes(world.admin)) == 6
    assert codes(world.vc_a1) == {"431299", "431299100", "431299100201"}
    assert "431299101201" not in codes(world.fin_a)
    assert world.vc_a1.get("/api/v1/places/431299101201").status_code == 404


def test_withdrawn_village_moves_assets_and_households_by_a_dated_record(world, f):
    h = f.household(world.village_a2)
    a = f.asset(place_code=world.village_a2)
    r = world.admin.post(f"/api/v1/places/{world.village_a2}/withdraw",
                         json={"successor_code": world.village_a1, "effective_on": "2024-01-01",
                               "reason": "村级建制调整，柳林村并入桃源村"})
    assert r.status_code == 200, r.json
    assert r.json["moved_assets"] == 1 and r.json["moved_households"] == 1
    db.session.expire_all()
    assert db.session.get(Asset, a.id).village_code == world.village_a1
    old = db.session.scalar(sa.select(Place).where(Place.code == world.village_a2))
    assert old.valid_to.isoformat() == "2024-01-01" and old.successor_code == world.village_a1  # kept, not deleted
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PlaceSuccession)) == 1
    assert h.id in [x["id"] for x in world.vc_a1.get("/api/v1/households").json["items"]]
    # A withdrawn village takes no new assets.
    r = world.fin_a.post("/api/v1/assets", json={
        "code": "N-1", "name": "新资产", "category": "operating", "subtype": "光伏电站",
        "place_code": world.village_a2, "managing_level": "village", "original_value": "1.00",
        "fundings": [{"source": "other", "amount": "1.00"}]})
    assert r.status_code == 422 and "place_code" in r.json["error"]["fields"]


def test_change_log_for_auditors_filtered_by_entity_and_time(world, f):
    clock.freeze(datetime(2025, 1, 10, tzinfo=UTC))
    a = f.asset(actor=world.users["fin_a"], place_code=world.village_a1)
    clock.freeze(datetime(2025, 3, 10, tzinfo=UTC))
    world.fin_a.patch(f"/api/v1/assets/{a.id}", json={"name": "改后的名称"})
    f.asset(place_code=world.village_b1)
    r = world.auditor.get(f"/api/v1/changes?entity=asset&entity_id={a.id}")
    assert r.status_code == 200
    items = r.json["items"]
    assert [i["action"] for i in items] == ["update", "create"]  # newest first
    assert items[0]["before"]["name"] != items[0]["after"]["name"] == "改后的名称"
    assert items[0]["actor_name"] == "fin_a"
    r = world.auditor.get("/api/v1/changes?entity=asset&since=2025-02-01T00:00:00%2B08:00")
    assert r.json["total"] == 2
    assert [i["action"] for i in r.json["items"]] == ["create", "update"]  # same instant: newest id first
    # A town auditor sees its town only; village committees and finance officers cannot read the log.
    town_items = world.auditor_a.get("/api/v1/changes?entity=asset").json["items"]
    assert {i["town_code"] for i in town_items} == {world.town_a}
    assert world.vc_a1.get("/api/v1/changes").status_code == 403
    assert world.fin_a.get("/api/v1/changes").status_code == 403
    assert world.auditor.get("/api/v1/changes?since=yesterday").status_code == 422


def test_withdrawal_passes_income_shares_to_the_successor(world, f):
    from assetreg.income.models import AssetShare

    a = f.asset(place_code=world.village_a1)
    r = world.fin_a.put(f"/api/v1/assets/{a.id}/shares", json={"shares": [
        {"village_code": world.village_a1, "weight": "60"}, {"village_code": world.village_a2, "weight": "40"}]})
    assert r.status_code == 200, r.json
    r = world.admin.post(f"/api/v1/places/{world.village_a2}/withdraw",
                         json={"successor_code": world.village_a1, "effective_on": "2024-01-01"})
    assert r.status_code == 200
    rows = db.session.scalars(sa.select(AssetShare).order_by(AssetShare.id)).all()
    current = [(s.village_code, str(s.weight)) for s in rows if s.replaced_at is None]
    assert sorted(current) == [(world.village_a1, "40.0000"), (world.village_a1, "60.0000")]
    assert any(s.village_code == world.village_a2 and s.replaced_at is not None for s in rows)  # history kept


def test_change_log_keeps_personal_numbers_masked(world, f):
    from assetreg.changelog.models import ChangeLogEntry

    a = f.asset(category="public_welfare", subtype="道路")
    r = world.fin_a.post(f"/api/v1/assets/{a.id}/custody", json={
        "custodian_unit": "桃源村村民委员会", "responsible_person": "李四", "phone": "13812345678"})
    assert r.status_code == 201, r.json
    entry = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "asset_custody")).one()
    assert entry.after["phone"] == "138****5678"
