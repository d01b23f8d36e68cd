"""Custody (管护) and operation (经营): history, term order, contracts, risk, phone masking, scope."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.custody import rules
from assetreg.custody.models import AssetCustody, AssetOperation
from assetreg.extensions import db

from .factories import credit_code

MOBILE = "13812345678"


def custody(**over):
    data = {"custodian_unit": "桃源村股份经济合作社", "responsible_person": "李四", "phone": MOBILE,
            "standard": "每月巡查一次，汛期每周一次", "annual_fund": "12000.00", "fund_source": "村集体收益",
            "term_from": "2024-01-01", "term_to": "2026-12-31"}
    data.update(over)
    return data


def operation(**over):
    data = {"mode": "lease", "operator_name": "青溪绿源农业有限公司", "operator_credit_code": credit_code(registry="91"),
            "contract_no": "QX-2024-017", "term_from": "2024-01-01", "term_to": "2028-12-31",
            "agreed_annual_income": "85000.00", "guaranteed_minimum": "60000.00",
            "risk_rating": "medium", "risk_assessed_on": "2025-03-15"}
    data.update(over)
    return data


def rows(model, asset_id):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(model).where(model.asset_id == asset_id).order_by(model.id)))


def logs(entity):
    return db.session.execute(sa.select(ChangeLogEntry.entity_id, ChangeLogEntry.action)
                              .where(ChangeLogEntry.entity == entity).order_by(ChangeLogEntry.id)).all()


@pytest.fixture
def road(f, world):
    return f.asset(category="public_welfare", subtype="道路", status="in_use")


# --- custody ------------------------------------------------------------------------------------

def test_custody_history_is_kept(world, road, today):
    r1 = world.fin_a.post(f"/api/v1/assets/{road.id}/custody", json=custody())
    assert r1.status_code == 201, r1.json
    assert r1.json["annual_fund"] == "12000.00" and r1.json["is_current"] is True
    r2 = world.admin.post(f"/api/v1/assets/{road.id}/custody",
                          json=custody(custodian_unit="城关镇农业综合服务中心", responsible_person="王五",
                                       phone="0731-88886666", annual_fund="15000.50"))
    assert r2.status_code == 201, r2.json

    old, new = rows(AssetCustody, road.id)
    assert old.id == r1.json["id"] and new.id == r2.json["id"]
    assert old.replaced_at is not None and new.replaced_at is None
    assert old.custodian_unit == "桃源村股份经济合作社" and old.phone == MOBILE  # untouched otherwise

    body = world.vc_a1.get(f"/api/v1/assets/{road.id}/custody").json
    assert body["current"]["id"] == new.id
    assert body["current"]["annual_fund"] == "15000.50"
    assert [x["id"] for x in body["history"]] == [old.id, new.id]
    assert body["history"][0]["is_current"] is False and body["history"][0]["replaced_at"]
    assert logs("asset_custody") == [(str(old.id), "create"), (str(old.id), "replace"), (str(new.id), "create")]


def test_no_custody_yet(world, road, today):
    body = world.vc_a1.get(f"/api/v1/assets/{road.id}/custody").json
    assert body == {"current": None, "history": []}


@pytest.mark.parametrize("payload, field", [
    (custody(term_from="2025-01-01", term_to="2024-12-31"), "term_to"),
    (custody(phone="12345"), "phone"),
    (custody(phone="1381234567a"), "phone"),
    (custody(responsible_person="  "), "responsible_person"),
    (custody(annual_fund=12000.5), "annual_fund"),
    (custody(annual_fund="-1.00"), "annual_fund"),
    (custody(annual_fund="1.001"), "annual_fund"),
    (custody(custodian_unit="单" * 201), "custodian_unit"),
    (custody(term_to="not a date"), "term_to"),
    ({**custody(), "replaced_at": None}, "replaced_at"),
    ({k: v for k, v in custody().items() if k != "custodian_unit"}, "custodian_unit"),
])
def test_bad_custody_is_refused_and_nothing_written(world, road, today, payload, field):
    r = world.fin_a.post(f"/api/v1/assets/{road.id}/custody", json=payload)
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"]
    assert rows(AssetCustody, road.id) == []
    assert logs("asset_custody") == []


def test_custody_with_minimal_fields_and_landline(world, road, today):
    r = world.fin_a.post(f"/api/v1/assets/{road.id}/custody",
                         json={"custodian_unit": "桃源村村委会", "responsible_person": "赵六", "phone": "073188886666"})
    assert r.status_code == 201, r.json
    assert r.json["annual_fund"] is None and r.json["term_to"] is None


def test_phone_is_masked_except_for_auditors(world, road, today):
    r = world.fin_a.post(f"/api/v1/assets/{road.id}/custody", json=custody())
    assert r.json["phone"] == "138****5678"  # the writer's own echo is masked too
    for client in (world.vc_a1, world.fin_a, world.admin):
        body = client.get(f"/api/v1/assets/{road.id}/custody").json
        assert body["current"]["phone"] == "138****5678"
        assert body["history"][0]["phone"] == "138****5678"
    for client in (world.auditor, world.auditor_a):
        assert client.get(f"/api/v1/assets/{road.id}/custody").json["current"]["phone"] == MOBILE
    world.fin_a.post(f"/api/v1/assets/{road.id}/custody", json=custody(phone="0731-88886666"))
    assert world.vc_a1.get(f"/api/v1/assets/{road.id}/custody").json["current"]["phone"] == "****-****6666"
    assert rows(AssetCustody, road.id)[-1].phone == "0731-88886666"  # stored whole


def test_custody_scope(world, road, today):
    assert world.vc_b1.get(f"/api/v1/assets/{road.id}/custody").status_code == 404
    assert world.fin_b.get(f"/api/v1/assets/{road.id}/custody").status_code == 404
    for client in (world.fin_b, world.auditor, world.vc_a1):
        assert client.post(f"/api/v1/assets/{road.id}/custody", json=custody()).status_code == 403
    assert world.fin_a.post("/api/v1/assets/999999/custody", json=custody()).status_code == 404
    assert rows(AssetCustody, road.id) == []


def test_custody_malformed_json(world, road, today):
    r = world.fin_a.post(f"/api/v1/assets/{road.id}/custody", data="{oops",
                         headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert world.fin_a.post(f"/api/v1/assets/{road.id}/custody", json=[custody()]).status_code == 422


# --- operation ----------------------------------------------------------------------------------

def test_operation_history_is_kept(world, f, today):
    a = f.asset()
    r1 = world.fin_a.post(f"/api/v1/assets/{a.id}/operation", json=operation())
    assert r1.status_code == 201, r1.json
    assert r1.json["guaranteed_minimum"] == "60000.00" and r1.json["mode_label"] == "承包租赁"
    r2 = world.fin_a.post(f"/api/v1/assets/{a.id}/operation",
                          json={"mode": "self_run", "operator_name": "桃源村股份经济合作社"})
    assert r2.status_code == 201, r2.json
    old, new = rows(AssetOperation, a.id)
    assert old.replaced_at is not None and new.replaced_at is None
    assert old.mode == "lease" and old.contract_no == "QX-2024-017"
    body = world.vc_a1.get(f"/api/v1/assets/{a.id}/operation").json
    assert body["current"]["id"] == new.id and body["current"]["contract_no"] is None
    assert [x["id"] for x in body["history"]] == [old.id, new.id]
    assert logs("asset_operation") == [(str(old.id), "create"), (str(old.id), "replace"), (str(new.id), "create")]


def test_operation_on_public_welfare_asset_is_refused(world, road, today):
    r = world.fin_a.post(f"/api/v1/assets/{road.id}/operation", json=operation())
    assert r.status_code == 422
    assert "mode" in r.json["error"]["fields"]
    assert rows(AssetOperation, road.id) == []


@pytest.mark.parametrize("over, field", [
    ({"contract_no": None}, "contract_no"),
    ({"contract_no": "   "}, "contract_no"),
    ({"operator_credit_code": None}, "operator_credit_code"),
    ({"risk_assessed_on": None}, "risk_assessed_on"),
    ({"risk_rating": None}, "risk_rating"),
    ({"risk_assessed_on": "2025-07-01"}, "risk_assessed_on"),
    ({"risk_rating": "extreme"}, "risk_rating"),
    ({"mode": "sold"}, "mode"),
    ({"term_from": "2029-01-01"}, "term_to"),
    ({"guaranteed_minimum": 60000.0}, "guaranteed_minimum"),
    ({"agreed_annual_income": "abc"}, "agreed_annual_income"),
    ({"operator_name": "名" * 5000}, "operator_name"),
    ({"contract_no": 17}, "contract_no"),
    ({"replaced_at": None}, "replaced_at"),
])
def test_bad_operation_is_refused_and_nothing_written(world, f, today, over, field):
    a = f.asset()
    r = world.fin_a.post(f"/api/v1/assets/{a.id}/operation", json=operation(**over))
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"]
    assert rows(AssetOperation, a.id) == []
    assert logs("asset_operation") == []


def test_operator_credit_code_with_a_wrong_character_is_refused(world, f, today):
    a = f.asset()
    code = credit_code(registry="91")
    wrong = code[:17] + ("1" if code[17] != "1" else "2")
    for mode in ("lease", "self_run"):  # validated whenever given
        r = world.fin_a.post(f"/api/v1/assets/{a.id}/operation", json=operation(mode=mode, operator_credit_code=wrong))
        assert r.status_code == 422
        assert list(r.json["error"]["fields"]) == ["operator_credit_code"]
    assert rows(AssetOperation, a.id) == []


def test_self_run_needs_no_contract(world, f, today):
    a = f.asset()
    r = world.fin_a.post(f"/api/v1/assets/{a.id}/operation",
                         json={"mode": "self_run", "operator_name": "桃源村股份经济合作社",
                               "agreed_annual_income": "30000", "risk_rating": "low", "risk_assessed_on": "2025-06-30"})
    assert r.status_code == 201, r.json
    assert r.json["agreed_annual_income"] == "30000.00" and r.json["risk_rating_label"] == "低"


def test_operation_scope(world, f, today):
    a = f.asset()
    assert world.vc_b1.get(f"/api/v1/assets/{a.id}/operation").status_code == 404
    assert world.vc_a1.get(f"/api/v1/assets/{a.id}/operation").status_code == 200
    for client in (world.fin_b, world.auditor, world.auditor_a, world.vc_a1):
        assert client.post(f"/api/v1/assets/{a.id}/operation", json=operation()).status_code == 403
    assert rows(AssetOperation, a.id) == []


# --- pure rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("phone, ok", [
    ("13812345678", True), ("19912345678", True), ("12812345678", False), ("1381234567", False),
    ("0731-8888666", True), ("0731-88886666", True), ("010-12345678", True), ("01012345678", True),
    ("0731-88886666-123", True), ("731-88886666", False), ("0731 88886666", False), (None, True),
])
def test_phone_rule_table(phone, ok):
    assert (rules.phone_error(phone) is None) is ok


@pytest.mark.parametrize("data, expected", [
    ({"mode": "self_run"}, set()),
    ({"mode": "entrusted"}, {"operator_credit_code", "contract_no"}),
    ({"mode": "joint_stock", "operator_credit_code": "bad", "contract_no": "C1"}, {"operator_credit_code"}),
    ({"mode": "self_run", "risk_rating": "low"}, {"risk_assessed_on"}),
    ({"mode": "self_run", "risk_assessed_on": date(2025, 1, 1)}, {"risk_rating"}),
    ({"mode": "self_run", "risk_rating": "low", "risk_assessed_on": date(2025, 7, 1)}, {"risk_assessed_on"}),
    ({"mode": "self_run", "term_from": date(2025, 1, 2), "term_to": date(2025, 1, 1)}, {"term_to"}),
    ({"mode": "self_run", "term_from": date(2025, 1, 1), "term_to": date(2025, 1, 1)}, set()),
])
def test_operation_rule_table(data, expected):
    assert set(rules.operation_errors(data, category="operating", today=date(2025, 6, 30))) == expected


def test_operation_rule_refuses_other_categories():
    for category in ("public_welfare", "household"):
        assert set(rules.operation_errors({"mode": "self_run"}, category=category, today=date(2025, 6, 30))) == {"mode"}
