"""Disposal (处置, DOMAIN.md §9; basis: P14): request → valuation → village decision → approvals in the
county's order → execution with the proceeds in the income ledger as 处置收入; rejection, withdrawal,
legacy import (what DISPOSAL_UNAPPROVED fires on), scope and roles; refusals write nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset, AssetStatusChange
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry
from assetreg.oversight.models import DisposalRequest
from assetreg.oversight.services import unapproved_disposals_select

from .oversight_support import counts, log_entries, logs

ORDER = ["town_government", "county_rural_revitalisation", "county_finance"]


def request_payload(asset, **over):
    data = {"asset_id": asset.id, "grounds": "idle_inefficient", "method": "auction",
            "reason": "冷库闲置两年，转产无望", "requested_on": "2025-03-01"}
    data.update(over)
    return data


@pytest.fixture
def store(f, world):
    """An idle cold store of village A1, the usual candidate for disposal."""
    return f.asset(name="桃源村冷库", subtype="冷库仓储", status="idle", status_on=date(2024, 5, 1))


def approve(world, url, seq, approver, on, decision="approved", who=None, note=None):
    who = who or (world.fin_a if approver == "town_government" else world.admin)
    return who.post(url + "/approvals", json={"seq": seq, "approver": approver, "decision": decision,
                                              "decided_on": on, "document": f"批复{seq}号", "note": note})


def up_to_village_decision(world, store):
    r = world.fin_a.post("/api/v1/disposals", json=request_payload(store))
    assert r.status_code == 201, r.json
    url = f"/api/v1/disposals/{r.json['id']}"
    r = world.fin_a.post(url + "/valuation", json={"valuation": "86000.00", "valuer": "青溪资产评估事务所",
                                                   "valued_on": "2025-03-15"})
    assert r.status_code == 200, r.json
    r = world.vc_a1.post(url + "/village-decision", json={"decided_on": "2025-04-02",
                                                          "minutes": "村民代表会议应到25人实到22人，21人同意拍卖"})
    assert r.status_code == 200, r.json
    return url, r.json


def status_of(asset_id):
    db.session.expire_all()
    return db.session.get(Asset, asset_id).status


def statuses(asset_id):
    db.session.expire_all()
    return [(c.from_status, c.to_status, c.changed_on) for c in db.session.scalars(
        sa.select(AssetStatusChange).where(AssetStatusChange.asset_id == asset_id).order_by(AssetStatusChange.id))]


def test_disposal_end_to_end_with_proceeds_in_the_ledger(world, store, today):
    r = world.fin_a.post("/api/v1/disposals", json=request_payload(store))
    assert r.status_code == 201, r.json
    body = r.json
    assert body["status"] == "requested" and body["approval_order"] == ORDER  # the county's order, frozen
    assert body["next_approval"]["approver"] == "town_government" and body["is_legacy"] is False
    assert body["grounds_label"] == "闲置低效需转产" and body["method_label"] == "拍卖"
    assert status_of(store.id) == "disposing"  # 处置中 from the request on
    url = f"/api/v1/disposals/{body['id']}"

    assert world.fin_a.post(url + "/valuation", json={"valuation": "86000.00", "valuer": "青溪资产评估事务所",
                                                      "valued_on": "2025-03-15"}).json["status"] == "valued"
    r = world.vc_a1.post(url + "/village-decision", json={"decided_on": "2025-04-02", "minutes": "同意拍卖"})
    assert r.json["status"] == "village_decided" and r.json["village_decided_on"] == "2025-04-02"
    r = approve(world, url, 1, "town_government", "2025-04-10")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "approving" and r.json["next_approval"]["seq"] == 2
    assert approve(world, url, 2, "county_rural_revitalisation", "2025-04-20").json["status"] == "approving"
    r = approve(world, url, 3, "county_finance", "2025-04-28")
    assert r.json["status"] == "approved" and r.json["next_approval"] is None
    assert [(a["seq"], a["approver_label"]) for a in r.json["approvals"]] == [
        (1, "乡镇人民政府"), (2, "县乡村振兴局"), (3, "县财政局")]

    r = world.fin_a.post(url + "/execution", json={"executed_on": "2025-05-18", "proceeds": "91234.56",
                                                   "payer": "青溪冷链物流有限公司", "voucher_no": "记-2025-0518"})
    assert r.status_code == 200, r.json
    done = r.json
    assert done["status"] == "executed" and done["proceeds"] == "91234.56" and done["is_legacy"] is False

    # the proceeds are in the ledger as 处置收入, exactly
    entry = db.session.get(IncomeEntry, done["income_entry_id"])
    assert (entry.direction, entry.kind, entry.amount, entry.period_year, entry.received_on) == (
        "income", "disposal", Decimal("91234.56"), 2025, date(2025, 5, 18))
    ledger = world.auditor.get(f"/api/v1/assets/{store.id}/income?kind=disposal")
    assert ledger.status_code == 200, ledger.json
    assert [e["amount"] for e in ledger.json["items"]] == ["91234.56"]

    # the asset stays in the registry, disposed, with its whole history
    asset = world.vc_a1.get(f"/api/v1/assets/{store.id}").json
    assert asset["status"] == "disposed" and asset["status_label"] == "已处置"
    assert statuses(store.id) == [(None, "idle", date(2024, 5, 1)), ("idle", "disposing", date(2025, 3, 1)),
                                  ("disposing", "disposed", date(2025, 5, 18))]
    assert [c["to_status"] for c in world.auditor.get(f"/api/v1/assets/{store.id}/transitions").json] == [
        "idle", "disposing", "disposed"]
    rid = str(done["id"])
    assert logs("disposal_request") == [(rid, a) for a in ("create", "valuation", "village_decision", "approval",
                                                           "approval", "approval", "execute")]
    assert db.session.scalars(unapproved_disposals_select("431299", date(2025, 6, 30))).all() == []


def test_scrap_without_proceeds_leaves_the_asset_scrapped_and_the_ledger_alone(world, f, today):
    road = f.asset(category="public_welfare", subtype="道路", status="in_use", status_on=date(2021, 1, 1))
    r = world.admin.post("/api/v1/disposals", json=request_payload(road, grounds="disaster", method="scrap"))
    assert r.status_code == 201, r.json
    url = f"/api/v1/disposals/{r.json['id']}"
    world.admin.post(url + "/valuation", json={"valuation": "0", "valuer": "县交通局", "valued_on": "2025-03-02"})
    world.vc_a1.post(url + "/village-decision", json={"decided_on": "2025-03-10", "minutes": "同意报废"})
    for seq, approver in enumerate(ORDER, 1):
        assert approve(world, url, seq, approver, "2025-03-20").status_code == 200
    r = world.admin.post(url + "/execution", json={"executed_on": "2025-04-01", "proceeds": "0.00"})
    assert r.status_code == 200 and r.json["income_entry_id"] is None
    assert status_of(road.id) == "scrapped"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncomeEntry)) == 0


def test_out_of_order_steps_are_refused_and_write_nothing(world, f, store, today):
    r = world.fin_a.post("/api/v1/disposals", json=request_payload(store))
    url = f"/api/v1/disposals/{r.json['id']}"
    before = counts()
    checks = [
        (world.vc_a1, "/village-decision", {"decided_on": "2025-03-05", "minutes": "m"}, 409),  # not valued yet
        (world.admin, "/approvals", {"seq": 1, "approver": "town_government", "decision": "approved",
                                     "decided_on": "2025-03-05"}, 409),
        (world.fin_a, "/execution", {"executed_on": "2025-03-05", "proceeds": "1.00"}, 409),
        (world.fin_a, "/valuation", {"valuation": "1.00", "valuer": "v", "valued_on": "2025-02-01"}, 422),  # before
        (world.fin_a, "/valuation", {"valuation": "1.00", "valuer": "v", "valued_on": "2025-07-01"}, 422),  # future
        (world.fin_a, "/valuation", {"valuation": 1.5, "valuer": "v", "valued_on": "2025-03-05"}, 422),  # float
        (world.fin_a, "/valuation", {"valuation": "1.00", "valuer": "v", "valued_on": "2025-03-05",
                                     "version": 7}, 409),
        (world.vc_a1, "/valuation", {"valuation": "1.00", "valuer": "v", "valued_on": "2025-03-05"}, 403),
        (world.auditor, "/valuation", {"valuation": "1.00", "valuer": "v", "valued_on": "2025-03-05"}, 403),
        (world.fin_b, "/valuation", {"valuation": "1.00", "valuer": "v", "valued_on": "2025-03-05"}, 403),
    ]
    for client, path, data, status in checks:
        r = client.post(url + path, json=data)
        assert r.status_code == status, (path, data, r.json)
    assert counts() == before

    url, _ = up_to_village_decision(world, f.asset(subtype="冷库仓储", status="idle", status_on=date(2024, 5, 1)))
    before = counts()
    for who, seq, approver, status, code in [
        (world.admin, 2, "county_rural_revitalisation", 409, "out_of_order"),   # the town comes first
        (world.admin, 1, "county_finance", 409, "out_of_order"),
        (world.admin, 1, "county_agriculture", 409, "out_of_order"),            # not in the order at all
        (world.fin_a, 1, "county_rural_revitalisation", 403, "role_forbidden"),  # a county bureau's step
        (world.vc_a1, 1, "town_government", 403, "role_forbidden"),
        (world.fin_b, 1, "town_government", 403, "out_of_scope"),
    ]:
        r = approve(world, url, seq, approver, "2025-04-10", who=who)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), (seq, approver, r.json)
    r = approve(world, url, 1, "town_government", "2025-04-01")                 # before the village decision
    assert r.status_code == 422
    r = world.fin_a.post(url + "/execution", json={"executed_on": "2025-05-01", "proceeds": "10.00"})
    assert (r.status_code, r.json["error"]["code"]) == (409, "not_approved")    # execution before approvals
    assert approve(world, url, 1, "town_government", "2025-04-10").status_code == 200
    r = world.fin_a.post(url + "/execution", json={"executed_on": "2025-05-01", "proceeds": "10.00"})
    assert r.status_code == 409                                                 # one of three is not enough
    assert counts()["disposal_approvals"] == before["disposal_approvals"] + 1
    assert counts()["income_entries"] == 0


def test_rejection_ends_the_request_and_returns_the_asset_to_idle(world, store, today):
    url, _ = up_to_village_decision(world, store)
    assert approve(world, url, 1, "town_government", "2025-04-10").status_code == 200
    before = counts()
    r = approve(world, url, 2, "county_rural_revitalisation", "2025-04-15", decision="rejected")
    assert r.status_code == 422 and "note" in r.json["error"]["fields"]        # a rejection says why
    assert counts() == before
    r = approve(world, url, 2, "county_rural_revitalisation", "2025-04-15", decision="rejected",
                note="评估价偏低，重新评估后再报")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "rejected" and r.json["next_approval"] is None
    assert status_of(store.id) == "idle"
    assert statuses(store.id)[-1] == ("disposing", "idle", date(2025, 4, 15))
    before = counts()
    assert approve(world, url, 3, "county_finance", "2025-04-20").status_code == 409
    assert world.fin_a.post(url + "/execution", json={"executed_on": "2025-05-01", "proceeds": "1.00"}).status_code == 409
    assert world.fin_a.post(url + "/cancel", json={"on": "2025-05-01", "reason": "x"}).status_code == 409
    assert counts() == before
    # a new request may start over
    assert world.fin_a.post("/api/v1/disposals", json=request_payload(store, requested_on="2025-05-02")).status_code == 201


def test_town_rejection_by_the_finance_officer_also_returns_the_asset(world, store, today):
    url, _ = up_to_village_decision(world, store)
    r = approve(world, url, 1, "town_government", "2025-04-10", decision="rejected", note="镇政府不同意")
    assert r.status_code == 200 and r.json["status"] == "rejected"
    assert status_of(store.id) == "idle"


def test_withdrawal_returns_the_asset_to_idle(world, store, today):
    r = world.fin_a.post("/api/v1/disposals", json=request_payload(store))
    url = f"/api/v1/disposals/{r.json['id']}"
    assert world.vc_a1.post(url + "/cancel", json={"on": "2025-03-05", "reason": "村里改用作仓储"}).status_code == 403
    r = world.fin_a.post(url + "/cancel", json={"on": "2025-03-05", "reason": "村里改用作仓储"})
    assert r.status_code == 200 and r.json["status"] == "cancelled" and r.json["status_label"] == "已撤回"
    assert status_of(store.id) == "idle"
    assert logs("disposal_request")[-1] == (str(r.json["id"]), "cancel")


def test_request_refusals_write_nothing(world, f, store, today):
    hh = f.household()
    cow = f.asset(category="household", subtype="牲畜", managing_level="household", household_id=hh.id)
    gone = f.asset(status="idle", status_on=date(2024, 1, 1))
    world.fin_a.post("/api/v1/disposals", json=request_payload(gone))
    b_store = f.asset(place_code="431299101201", status="idle", status_on=date(2024, 1, 1))
    before = counts()
    for client, payload, status in [
        (world.fin_a, request_payload(gone, requested_on="2025-03-02"), 409),   # already an open request
        (world.fin_a, request_payload(cow), 422),                               # the household disposes itself
        (world.fin_a, request_payload(store, requested_on="2024-04-30"), 422),  # before the last status change
        (world.fin_a, request_payload(store, requested_on="2025-07-01"), 422),  # future
        (world.fin_a, request_payload(store, method="sell"), 422),
        (world.fin_a, request_payload(store, asset_id=999999), 422),
        (world.fin_a, request_payload(b_store), 403),                           # another town's asset
        (world.vc_a1, request_payload(store), 403),
        (world.auditor, request_payload(store), 403),                          # auditors read
        (world.admin, {**request_payload(store), "status": "approved"}, 422),
    ]:
        r = client.post("/api/v1/disposals", json=payload)
        assert r.status_code == status, (payload, r.json)
    assert counts() == before


def test_asset_already_disposed_cannot_be_disposed_again(world, f, today):
    a = f.asset(status="idle", status_on=date(2024, 1, 1))
    r = world.admin.post("/api/v1/disposals/legacy", json={
        "asset_id": a.id, "grounds": "end_of_life", "method": "transfer", "executed_on": "2024-06-01"})
    assert r.status_code == 201, r.json
    before = counts()
    r = world.fin_a.post("/api/v1/disposals", json=request_payload(a))
    assert r.status_code == 422 and r.json["error"]["code"] == "illegal_transition"
    assert counts() == before


def test_approval_order_is_frozen_when_requested(world, store, f, today):
    url, _ = up_to_village_decision(world, store)
    r = world.admin.put("/api/v1/oversight/settings", json={
        "no_income_years": 2, "settlement_deadline_month": 3, "settlement_deadline_day": 31,
        "handover_deadline_month": 3, "handover_deadline_day": 31, "contract_warning_days": 90,
        "risk_assessment_max_days": 365, "disposal_approval_order": ["county_government"]})
    assert r.status_code == 200
    assert world.admin.get(url).json["approval_order"] == ORDER
    other = f.asset(subtype="冷库仓储", status="idle", status_on=date(2024, 5, 1))
    assert world.fin_a.post("/api/v1/disposals", json=request_payload(other)).json["approval_order"] == [
        "county_government"]


def test_town_level_asset_goes_from_valuation_to_approvals(world, f, today):
    hall = f.asset(place_code="431299100", managing_level="town", status="idle", status_on=date(2024, 1, 1))
    r = world.fin_a.post("/api/v1/disposals", json=request_payload(hall))
    url = f"/api/v1/disposals/{r.json['id']}"
    world.fin_a.post(url + "/valuation", json={"valuation": "5000.00", "valuer": "v", "valued_on": "2025-03-02"})
    r = world.admin.post(url + "/village-decision", json={"decided_on": "2025-03-03", "minutes": "m"})
    assert r.status_code == 422  # no village, no 四议两公开 on it
    assert approve(world, url, 1, "town_government", "2025-03-04").json["status"] == "approving"
    assert world.vc_a1.get(url).status_code == 404  # a town-level request lies above the village


def test_legacy_import_is_marked_and_fires_unapproved(world, f, today):
    a = f.asset(status="in_operation", status_on=date(2020, 9, 1))
    payload = {"asset_id": a.id, "grounds": "planning", "method": "transfer", "reason": "2022年规划调整拆除",
               "requested_on": "2022-03-01", "executed_on": "2022-05-01", "proceeds": "12000.00",
               "payer": "县城投公司"}
    before = counts()
    for client, over, status in [
        (world.fin_a, {}, 403),                                     # county admin only
        (world.auditor, {}, 403),
        (world.admin, {"requested_on": "2022-06-01"}, 422),         # requested after executed
        (world.admin, {"executed_on": "2025-07-01"}, 422),
        (world.admin, {"requested_on": "2020-01-01"}, 422),         # before the asset's last status change
        (world.admin, {"valued_on": "2023-01-01"}, 422),
        (world.admin, {"proceeds": "-1.00"}, 422),
    ]:
        r = client.post("/api/v1/disposals/legacy", json={**payload, **over})
        assert r.status_code == status, (over, r.json)
    assert counts() == before

    r = world.admin.post("/api/v1/disposals/legacy", json=payload)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["is_legacy"] is True and body["status"] == "executed" and body["approvals"] == []
    assert body["approval_order"] == ORDER and body["next_approval"] is None
    assert status_of(a.id) == "disposed"
    entry = db.session.get(IncomeEntry, body["income_entry_id"])
    assert (entry.kind, entry.amount, entry.period_year) == ("disposal", Decimal("12000.00"), 2022)
    assert statuses(a.id)[-2:] == [("in_operation", "disposing", date(2022, 3, 1)),
                                   ("disposing", "disposed", date(2022, 5, 1))]
    entry_log = log_entries("disposal_request")[-1]
    assert entry_log.action == "legacy_import" and entry_log.after["is_legacy"] is True
    assert world.auditor.get(f"/api/v1/disposals/{body['id']}").json["is_legacy"] is True

    def unapproved(as_of):
        return [r.id for r in db.session.scalars(unapproved_disposals_select("431299", as_of))]

    assert unapproved(date(2022, 5, 1)) == [body["id"]]
    assert unapproved(date(2022, 4, 30)) == []  # not executed yet on that day


def test_disposals_read_in_scope(world, f, store, today):
    world.fin_a.post("/api/v1/disposals", json=request_payload(store))
    b = f.asset(place_code="431299101201", status="idle", status_on=date(2024, 1, 1))
    rb = world.fin_b.post("/api/v1/disposals", json=request_payload(b))
    assert rb.status_code == 201
    assert world.auditor.get("/api/v1/disposals").json["total"] == 2
    assert world.auditor_a.get("/api/v1/disposals").json["total"] == 1
    assert world.vc_a1.get("/api/v1/disposals").json["total"] == 1
    assert world.vc_a2.get("/api/v1/disposals").json["total"] == 0
    assert world.vc_a1.get(f"/api/v1/disposals/{rb.json['id']}").status_code == 404
    assert world.vc_b1.get(f"/api/v1/disposals/{rb.json['id']}").json["asset_code"] == b.code
    assert world.admin.get("/api/v1/disposals?status=requested&town_code=431299101").json["total"] == 1
    assert world.admin.get(f"/api/v1/disposals?asset_id={store.id}").json["total"] == 1
    assert world.admin.get("/api/v1/disposals?status=nope").status_code == 422
    before = counts()
    r = world.vc_a1.post(f"/api/v1/disposals/{rb.json['id']}/village-decision",
                         json={"decided_on": "2025-03-05", "minutes": "m"})
    assert r.status_code == 403 and r.json["error"]["code"] == "out_of_scope"
    assert world.fin_a.post("/api/v1/disposals/999999/valuation",
                            json={"valuation": "1.00", "valuer": "v", "valued_on": "2025-03-05"}).status_code == 404
    assert counts() == before


@pytest.mark.parametrize("path, field", [
    ("", "asset_id"), ("/valuation", "valuation"), ("/village-decision", "minutes"), ("/approvals", "seq"),
    ("/execution", "proceeds"), ("/cancel", "on"), ("legacy", "executed_on"),
])
def test_malformed_input_never_500(world, store, today, path, field):
    r = world.fin_a.post("/api/v1/disposals", json=request_payload(store))
    base = "/api/v1/disposals" + (f"/{r.json['id']}{path}" if path not in ("", "legacy") else
                                  ("/legacy" if path == "legacy" else ""))
    for bad in [None, True, -1, 10**30, 1.5, "", "x" * 100_000, "\x00", [], {}, "2020-02-30", "NaN", "1e400"]:
        for who in (world.admin, world.fin_a, world.vc_a1):
            resp = who.post(base, json={field: bad})
            assert resp.status_code in (400, 403, 404, 409, 422), (base, field, repr(bad)[:30], resp.status_code)
    resp = world.admin.post(base, data=b"{", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DisposalRequest)) == 1
