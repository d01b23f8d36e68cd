"""Oversight settings, annual audits (basis: P25), quarterly inspections (basis: P16, P27) and problems to
rectification — 三单一账 (basis: P27, P30): lifecycles, refusals that write nothing, scope and roles."""

from __future__ import annotations

from datetime import date

import pytest

from assetreg.oversight import rules
from assetreg.oversight.models import DEFAULT_DISPOSAL_ORDER, Problem
from assetreg.oversight.services import overdue_problems, settings_for

from .oversight_support import counts, doc, log_entries, logs

SETTINGS = {"no_income_years": 3, "settlement_deadline_month": 4, "settlement_deadline_day": 30,
            "handover_deadline_month": 3, "handover_deadline_day": 31, "contract_warning_days": 60,
            "risk_assessment_max_days": 180,
            "disposal_approval_order": ["town_government", "county_finance"]}


def audit_payload(asset, **over):
    data = {"asset_id": asset.id, "year": 2024, "auditor": "青溪县审计局", "audited_on": "2025-03-20",
            "conclusion": "basic_pass", "findings": "2024年电费收入未及时入账"}
    data.update(over)
    return data


def problem_payload(**over):
    data = {"source": "complaint", "place_code": "431299100201", "description": "群众反映光伏电站围栏破损",
            "task": "修复围栏并建立巡查记录", "responsible_unit": "桃源村村委会", "responsible_person": "张三",
            "raised_on": "2025-04-01", "deadline": "2025-05-31"}
    data.update(over)
    return data


@pytest.fixture
def pv(f, world):
    return f.asset(name="桃源村光伏电站")


@pytest.fixture
def audit(world, pv, today):
    r = world.auditor.post("/api/v1/audits", json=audit_payload(pv))
    assert r.status_code == 201, r.json
    return r.json


# --- settings -----------------------------------------------------------------------------------

def test_settings_defaults_until_saved_then_the_saved_row(world, today):
    body = world.fin_a.get("/api/v1/oversight/settings").json
    assert body["is_default"] is True and body["version"] == 0
    assert body["no_income_years"] == 2 and body["contract_warning_days"] == 90
    assert (body["settlement_deadline_month"], body["settlement_deadline_day"]) == (3, 31)
    assert body["disposal_approval_order"] == DEFAULT_DISPOSAL_ORDER
    assert body["disposal_approval_labels"] == ["乡镇人民政府", "县乡村振兴局", "县财政局"]
    assert settings_for("431299").is_default is True

    r = world.admin.put("/api/v1/oversight/settings", json={**SETTINGS, "version": 0})
    assert r.status_code == 200, r.json
    assert r.json["is_default"] is False and r.json["version"] == 1
    assert r.json["disposal_approval_order"] == ["town_government", "county_finance"]
    saved = settings_for("431299")
    assert saved.is_default is False and saved.no_income_years == 3 and saved.risk_assessment_max_days == 180
    assert world.auditor.get("/api/v1/oversight/settings").json["settlement_deadline_month"] == 4

    r = world.admin.put("/api/v1/oversight/settings", json={**SETTINGS, "no_income_years": 4, "version": 1})
    assert r.status_code == 200 and r.json["version"] == 2
    entries = log_entries("oversight_settings")
    assert [e.action for e in entries] == ["set", "set"]
    assert entries[1].before == {"no_income_years": 3, "version": 1}
    assert entries[1].after == {"no_income_years": 4, "version": 2}


@pytest.mark.parametrize("who, over, status", [
    ("fin_a", {}, 403),
    ("auditor", {}, 403),
    ("vc_a1", {}, 403),
    ("admin", {"disposal_approval_order": ["town_government", "town_government"]}, 422),
    ("admin", {"disposal_approval_order": []}, 422),
    ("admin", {"disposal_approval_order": ["county_mayor"]}, 422),
    ("admin", {"disposal_approval_order": "town_government"}, 422),
    ("admin", {"settlement_deadline_month": 2, "settlement_deadline_day": 29}, 422),
    ("admin", {"handover_deadline_month": 4, "handover_deadline_day": 31}, 422),
    ("admin", {"no_income_years": 0}, 422),
    ("admin", {"contract_warning_days": "90"}, 422),
    ("admin", {"version": 3}, 409),
    ("admin", {"extra": 1}, 422),
])
def test_settings_refusals_write_nothing(world, today, who, over, status):
    before = counts()
    r = getattr(world, who).put("/api/v1/oversight/settings", json={**SETTINGS, **over})
    assert r.status_code == status, r.json
    assert "error" in r.json
    assert counts() == before


# --- audits -------------------------------------------------------------------------------------

def test_audit_recorded_read_in_scope_and_logged(world, pv, today):
    report = doc(asset=pv, kind="audit_report")
    r = world.auditor.post("/api/v1/audits", json=audit_payload(pv, report_document_id=report.id))
    assert r.status_code == 201, r.json
    body = r.json
    assert body["asset_code"] == pv.code and body["conclusion_label"] == "基本合格"
    assert body["village_code"] == "431299100201" and body["report_document_id"] == report.id
    r2 = world.admin.post("/api/v1/audits", json=audit_payload(pv, year=2023, audited_on="2024-02-01",
                                                               conclusion="pass", findings=None))
    assert r2.status_code == 201, r2.json

    assert [a["year"] for a in world.vc_a1.get("/api/v1/audits").json["items"]] == [2024, 2023]
    assert world.fin_a.get("/api/v1/audits?year=2023").json["total"] == 1
    assert world.auditor_a.get(f"/api/v1/audits?asset_id={pv.id}&village_code=431299100201").json["total"] == 2
    assert world.vc_b1.get("/api/v1/audits").json["total"] == 0
    assert world.fin_b.get(f"/api/v1/audits/{body['id']}").status_code == 404
    assert world.vc_a1.get(f"/api/v1/audits/{body['id']}").json["findings"] == "2024年电费收入未及时入账"
    assert logs("audit") == [(str(body["id"]), "create"), (str(r2.json["id"]), "create")]


def test_audit_refusals_write_nothing(world, f, pv, today):
    road = f.asset(category="public_welfare", subtype="道路")
    town_b_pv = f.asset(place_code="431299101201")
    building = f.asset(status="under_construction", status_on=date(2025, 1, 1))
    other_doc = doc(asset=road, kind="audit_report")
    world.auditor.post("/api/v1/audits", json=audit_payload(pv))
    before = counts()
    cases = [
        (world.auditor, audit_payload(road), 422, "not_operating"),        # public welfare: no annual audit
        (world.auditor, audit_payload(building), 422, "not_operating"),
        (world.auditor, audit_payload(pv), 409, "duplicate_audit"),         # one per asset and year
        (world.admin, audit_payload(pv), 409, "duplicate_audit"),
        (world.auditor, audit_payload(pv, year=2025, audited_on="2025-07-01"), 422, "rule_violation"),  # future
        (world.auditor, audit_payload(pv, year=2026, audited_on="2025-06-01"), 422, "rule_violation"),
        (world.auditor, audit_payload(pv, year=2022, report_document_id=other_doc.id), 422, "rule_violation"),
        (world.auditor, audit_payload(pv, year=2022, report_document_id=999999), 422, "rule_violation"),
        (world.auditor, audit_payload(pv, year=2022, asset_id=999999), 422, "rule_violation"),
        (world.auditor, audit_payload(pv, year=2022, conclusion="good"), 422, "validation_error"),
        (world.fin_a, audit_payload(pv, year=2022), 403, "role_forbidden"),  # finance officers read only here
        (world.vc_a1, audit_payload(pv, year=2022), 403, "role_forbidden"),
        (world.auditor_a, audit_payload(town_b_pv), 403, "out_of_scope"),   # a town auditor: its town only
    ]
    for client, payload, status, code in cases:
        r = client.post("/api/v1/audits", json=payload)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), (payload, r.json)
    assert counts() == before


# --- inspections --------------------------------------------------------------------------------

def test_inspection_per_town_and_quarter(world, today):
    report = doc(town_code="431299100", kind="inspection_report", level="town")
    payload = {"town_code": "431299100", "year": 2025, "quarter": 2, "inspected_on": "2025-06-20",
               "inspector": "县乡村振兴局督查组", "conclusion": "基本规范", "findings": "两处公益性资产管护不到位",
               "report_document_id": report.id}
    r = world.auditor_a.post("/api/v1/inspections", json=payload)
    assert r.status_code == 201, r.json
    assert r.json["quarter"] == 2 and r.json["town_code"] == "431299100"
    before = counts()
    for client, over, status in [
        (world.auditor, {}, 409),                                             # one per town and quarter
        (world.auditor_a, {"town_code": "431299101", "report_document_id": None}, 403),
        (world.fin_a, {"quarter": 1}, 403),
        (world.vc_a1, {"quarter": 1}, 403),
        (world.admin, {"quarter": 3, "inspected_on": "2025-06-30"}, 422),    # before the quarter begins
        (world.admin, {"quarter": 1, "inspected_on": "2025-07-02"}, 422),    # in the future
        (world.admin, {"quarter": 1, "town_code": "431299100201"}, 422),     # a village is not a town
        (world.admin, {"quarter": 1, "town_code": "431299101"}, 422),        # the document is town A's
        (world.admin, {"quarter": 5}, 422),
    ]:
        r = client.post("/api/v1/inspections", json={**payload, **over})
        assert r.status_code == status, (over, r.json)
    assert counts() == before
    r = world.admin.post("/api/v1/inspections", json={**payload, "quarter": 1, "inspected_on": "2025-04-03"})
    assert r.status_code == 201  # Q1's inspection done early in Q2
    assert [i["quarter"] for i in world.auditor.get("/api/v1/inspections?year=2025").json["items"]] == [2, 1]
    assert world.fin_a.get("/api/v1/inspections").json["total"] == 2
    assert world.fin_b.get("/api/v1/inspections").json["total"] == 0
    assert world.vc_a1.get("/api/v1/inspections").json["total"] == 0  # a town record lies above a village
    assert world.fin_b.get(f"/api/v1/inspections/{r.json['id']}").status_code == 404
    assert world.auditor_a.get(f"/api/v1/inspections/{r.json['id']}").status_code == 200
    assert len(logs("inspection")) == 2


# --- problems: the whole ledger -----------------------------------------------------------------------

def test_problem_from_audit_through_rectification_to_closing(world, pv, audit, today):
    evidence_doc = doc(asset=pv, kind="rectification_evidence")
    r = world.auditor.post("/api/v1/problems", json=problem_payload(
        source="audit", audit_id=audit["id"], place_code=None, description=audit["findings"],
        responsible_unit="城关镇财政所", raised_on="2025-03-25", deadline="2025-06-30"))
    assert r.status_code == 201, r.json
    p = r.json
    assert p["asset_id"] == pv.id and p["village_code"] == "431299100201" and p["status"] == "pending"
    assert p["source_label"] == "审计" and p["status_label"] == "待整改" and p["is_overdue"] is False
    assert [(e["from_status"], e["to_status"], e["happened_on"]) for e in p["events"]] == [
        (None, "pending", "2025-03-25")]
    pid, url = p["id"], f"/api/v1/problems/{p['id']}"

    r = world.vc_a1.post(url + "/transitions", json={"to_status": "in_progress", "on": "2025-04-02",
                                                     "note": "已安排专人整改", "version": p["version"]})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "in_progress"

    before = counts()
    r = world.vc_a1.post(url + "/transitions", json={"to_status": "rectified", "on": "2025-05-10"})
    assert r.status_code == 422 and r.json["error"]["code"] == "evidence_required"
    assert counts() == before

    r = world.vc_a1.post(url + "/evidence", json={"document_id": evidence_doc.id, "note": "入账凭证及说明"})
    assert r.status_code == 201, r.json
    r = world.fin_a.post(url + "/transitions", json={"to_status": "rectified", "on": "2025-05-10"})
    assert r.status_code == 200 and r.json["rectified_on"] == "2025-05-10"

    before = counts()
    r = world.fin_a.post(url + "/transitions", json={"to_status": "closed", "on": "2025-06-01"})
    assert r.status_code == 403 and r.json["error"]["code"] == "role_forbidden"  # only the reviewers close
    r = world.vc_a1.post(url + "/transitions", json={"to_status": "closed", "on": "2025-06-01"})
    assert r.status_code == 403
    assert counts() == before

    r = world.auditor_a.post(url + "/transitions", json={"to_status": "closed", "on": "2025-06-01", "note": "销号"})
    assert r.status_code == 200, r.json
    body = world.vc_a1.get(url).json
    assert body["status"] == "closed" and body["closed_on"] == "2025-06-01" and body["status_label"] == "已销号"
    assert [(e["from_status"], e["to_status"], e["happened_on"]) for e in body["events"]] == [
        (None, "pending", "2025-03-25"), ("pending", "in_progress", "2025-04-02"),
        ("in_progress", "rectified", "2025-05-10"), ("rectified", "closed", "2025-06-01")]
    assert [e["document_id"] for e in body["evidence"]] == [evidence_doc.id]
    assert logs("problem") == [(str(pid), "create")] + [(str(pid), "transition")] * 3
    assert logs("problem_evidence") == [(str(body["evidence"][0]["id"]), "create")]
    assert log_entries("problem")[-1].after["status"] == "closed"

    before = counts()
    for client, to in [(world.auditor, "in_progress"), (world.admin, "closed"), (world.vc_a1, "in_progress")]:
        r = client.post(url + "/transitions", json={"to_status": to, "on": "2025-06-10", "note": "x"})
        assert r.status_code in (403, 409), r.json  # closed is final
    assert world.vc_a1.post(url + "/evidence", json={"note": "补充"}).status_code == 409
    assert counts() == before


def test_transitions_only_forward_in_order_and_dated(world, today):
    p = world.fin_a.post("/api/v1/problems", json=problem_payload()).json
    url = f"/api/v1/problems/{p['id']}"
    before = counts()
    for client, data, status, code in [
        (world.vc_a1, {"to_status": "rectified", "on": "2025-04-05"}, 409, "out_of_order"),  # skips 整改中
        (world.admin, {"to_status": "closed", "on": "2025-04-05"}, 409, "out_of_order"),
        (world.vc_a1, {"to_status": "pending", "on": "2025-04-05"}, 409, "out_of_order"),
        (world.auditor, {"to_status": "in_progress", "on": "2025-04-05"}, 403, "role_forbidden"),
        (world.vc_a1, {"to_status": "in_progress", "on": "2025-03-31"}, 422, "rule_violation"),  # before raised
        (world.vc_a1, {"to_status": "in_progress", "on": "2025-07-01"}, 422, "rule_violation"),  # future
        (world.vc_a1, {"to_status": "in_progress", "on": "2025-04-05", "version": 9}, 409, "version_conflict"),
        (world.vc_a1, {"to_status": "done", "on": "2025-04-05"}, 422, "validation_error"),
        (world.vc_a2, {"to_status": "in_progress", "on": "2025-04-05"}, 403, "out_of_scope"),
        (world.fin_b, {"to_status": "in_progress", "on": "2025-04-05"}, 403, "out_of_scope"),
    ]:
        r = client.post(url + "/transitions", json=data)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), (data, r.json)
    assert world.vc_b1.post("/api/v1/problems/999999/transitions",
                            json={"to_status": "in_progress", "on": "2025-04-05"}).status_code == 404
    assert counts() == before


def test_reviewer_rejects_a_rectification_back_to_in_progress(world, today):
    p = world.admin.post("/api/v1/problems", json=problem_payload()).json
    url = f"/api/v1/problems/{p['id']}/transitions"
    assert world.vc_a1.post(url, json={"to_status": "in_progress", "on": "2025-04-02"}).status_code == 200
    assert world.vc_a1.post(url.replace("transitions", "evidence"), json={"note": "照片已上传"}).status_code == 201
    assert world.vc_a1.post(url, json={"to_status": "rectified", "on": "2025-04-20"}).status_code == 200
    before = counts()
    assert world.vc_a1.post(url, json={"to_status": "in_progress", "on": "2025-04-21", "note": "再改"}).status_code == 403
    r = world.auditor.post(url, json={"to_status": "in_progress", "on": "2025-04-21"})
    assert r.status_code == 422 and "note" in r.json["error"]["fields"]  # a rejection says why
    assert counts() == before
    r = world.auditor.post(url, json={"to_status": "in_progress", "on": "2025-04-21", "note": "围栏仍未修复"})
    assert r.status_code == 200, r.json
    assert r.json["status"] == "in_progress" and r.json["rectified_on"] is None
    assert r.json["events"][-1]["note"] == "围栏仍未修复"
    assert logs("problem")[-1] == (str(p["id"]), "reject")
    # the evidence stays; the village rectifies again and the county closes
    assert world.vc_a1.post(url, json={"to_status": "rectified", "on": "2025-05-02"}).status_code == 200
    assert world.admin.post(url, json={"to_status": "closed", "on": "2025-05-03"}).status_code == 200


def test_problem_sources_and_where_they_put_the_problem(world, f, pv, today):
    insp = world.auditor.post("/api/v1/inspections", json={
        "town_code": "431299100", "year": 2025, "quarter": 1, "inspected_on": "2025-03-28",
        "inspector": "县督查组"}).json
    r = world.auditor.post("/api/v1/problems", json=problem_payload(
        source="inspection", inspection_id=insp["id"], place_code="431299100202", raised_on="2025-03-28"))
    assert r.status_code == 201 and r.json["village_code"] == "431299100202" and r.json["inspection_id"] == insp["id"]
    r = world.auditor.post("/api/v1/problems", json=problem_payload(
        source="inspection", inspection_id=insp["id"], place_code=None, raised_on="2025-03-29"))
    assert r.status_code == 201 and r.json["town_code"] == "431299100" and r.json["village_code"] is None

    r = world.admin.post("/api/v1/problems", json=problem_payload(
        source="flag", flag_rule="CONTRACT_EXPIRED", flag_key=f"asset:{pv.id}", place_code=None))
    assert r.status_code == 201, r.json
    assert r.json["asset_id"] == pv.id and r.json["village_code"] == "431299100201"
    r = world.admin.post("/api/v1/problems", json=problem_payload(
        source="flag", flag_rule="INSPECTION_MISSING", flag_key="town:431299101", place_code=None))
    assert r.status_code == 201 and r.json["town_code"] == "431299101" and r.json["village_code"] is None

    before = counts()
    for client, over, status in [
        (world.admin, {"source": "flag", "flag_rule": "CONTRACT_EXPIRED", "flag_key": f"asset:{pv.id}",
                       "place_code": None}, 409),                            # an open problem for this flag
        (world.admin, {"source": "flag", "flag_rule": "PV_SHARE_LOW", "flag_key": "plan:7",
                       "place_code": None}, 422),                            # the key names no place
        (world.admin, {"source": "flag", "flag_rule": "bad rule", "flag_key": "plan:7"}, 422),
        (world.admin, {"source": "flag", "flag_rule": "X_Y", "flag_key": "asset:999999", "place_code": None}, 422),
        (world.admin, {"source": "audit"}, 422),                              # audit_id missing
        (world.admin, {"source": "complaint", "audit_id": 1}, 422),           # not the complaint's
        (world.admin, {"place_code": None}, 422),                             # a complaint needs a place
        (world.admin, {"place_code": "431288100201"}, 422),                   # another county
        (world.admin, {"asset_id": pv.id}, 422),                              # asset or place, not both
        (world.admin, {"deadline": "2025-03-31"}, 422),                       # before raised
        (world.admin, {"raised_on": "2025-07-01", "deadline": "2025-08-01"}, 422),
        (world.admin, {"source": "inspection", "inspection_id": insp["id"], "place_code": "431299101201"}, 422),
        (world.admin, {"source": "inspection", "inspection_id": insp["id"], "raised_on": "2025-03-01"}, 422),
        (world.admin, {"responsible_person": "x" * 65}, 422),
        (world.vc_a1, {}, 403),                                               # village committees rectify, not raise
        (world.fin_a, {"place_code": "431299101201"}, 403),
        (world.auditor_a, {"source": "inspection", "inspection_id": 999999}, 422),
    ]:
        r = client.post("/api/v1/problems", json=problem_payload(**over))
        assert r.status_code == status, (over, r.json)
    assert counts() == before


def test_problem_scope_for_reading_and_writing(world, f, today):
    p = world.fin_a.post("/api/v1/problems", json=problem_payload()).json
    county_level = world.admin.post("/api/v1/problems", json=problem_payload(place_code="431299")).json
    url = f"/api/v1/problems/{p['id']}"
    assert world.vc_b1.get(url).status_code == 404                 # another village's problem is not there
    assert world.vc_a2.get(url).status_code == 404
    assert world.fin_b.get(url).status_code == 404
    assert world.vc_a1.get(url).status_code == 200
    assert world.auditor_a.get(url).status_code == 200
    assert world.vc_b1.get("/api/v1/problems").json["total"] == 0
    assert [x["id"] for x in world.fin_a.get("/api/v1/problems").json["items"]] == [p["id"]]
    assert world.auditor_a.get(f"/api/v1/problems/{county_level['id']}").status_code == 404
    assert world.auditor.get("/api/v1/problems").json["total"] == 2
    before = counts()
    assert world.vc_b1.post(url + "/evidence", json={"note": "x"}).status_code == 403
    assert world.auditor.post(url + "/evidence", json={"note": "x"}).status_code == 403  # auditors review only
    assert world.vc_a1.post(url + "/evidence", json={}).status_code == 422
    assert world.vc_a1.post(url + "/evidence", json={"document_id": 999999}).status_code == 422
    other = doc(village_code="431299100202", town_code="431299100", kind="rectification_evidence")
    assert world.vc_a1.post(url + "/evidence", json={"document_id": other.id}).status_code == 422
    # a county-level problem is the county's to move
    r = world.fin_a.post(f"/api/v1/problems/{county_level['id']}/transitions",
                         json={"to_status": "in_progress", "on": "2025-04-02"})
    assert r.status_code == 403
    assert counts() == before


def test_list_filters(world, f, pv, audit, today):
    world.auditor.post("/api/v1/problems", json=problem_payload(source="audit", audit_id=audit["id"], place_code=None))
    world.fin_a.post("/api/v1/problems", json=problem_payload(place_code="431299100202"))
    world.fin_b.post("/api/v1/problems", json=problem_payload(place_code="431299101201"))
    q = world.admin.get
    assert q("/api/v1/problems?source=audit").json["total"] == 1
    assert q(f"/api/v1/problems?asset_id={pv.id}").json["total"] == 1
    assert q("/api/v1/problems?town_code=431299100").json["total"] == 2
    assert q("/api/v1/problems?village_code=431299101201").json["total"] == 1
    assert q("/api/v1/problems?status=pending&per_page=2").json["total"] == 3
    assert len(q("/api/v1/problems?status=pending&per_page=2").json["items"]) == 2
    assert q("/api/v1/problems?status=closed").json["total"] == 0
    for bad in ["status=done", "overdue=maybe", "as_of=2025-02-30", "asset_id=0", "per_page=501", "town_code=" + "1" * 20]:
        r = q("/api/v1/problems?" + bad)
        assert r.status_code == 422, bad


# --- overdue (RECTIFICATION_OVERDUE; basis: P27) ---------------------------------------------------

def test_overdue_as_of_a_date_is_reproducible(world, today):
    def raise_(deadline, raised="2025-04-01"):
        return world.admin.post("/api/v1/problems", json=problem_payload(raised_on=raised, deadline=deadline)).json

    late = raise_("2025-04-30")            # never rectified
    fixed_late = raise_("2025-04-30")      # rectified on 2025-05-20, after its deadline
    on_time = raise_("2025-05-31")         # rectified on 2025-05-20, before its deadline
    future = raise_("2025-12-31")          # not due yet
    later = raise_("2025-06-01", raised="2025-06-01")
    for p in (fixed_late, on_time):
        url = f"/api/v1/problems/{p['id']}"
        world.vc_a1.post(url + "/transitions", json={"to_status": "in_progress", "on": "2025-04-10"})
        world.vc_a1.post(url + "/evidence", json={"note": "已整改"})
        assert world.vc_a1.post(url + "/transitions", json={"to_status": "rectified", "on": "2025-05-20"}).status_code == 200

    def ids(as_of):
        return {p.id for p in overdue_problems("431299", as_of)}

    assert ids(date(2025, 4, 30)) == set()                              # due that day: not yet overdue
    assert ids(date(2025, 5, 1)) == {late["id"], fixed_late["id"]}
    assert ids(date(2025, 5, 20)) == {late["id"]}                       # rectified that day
    assert ids(date(2025, 6, 30)) == {late["id"], later["id"]}
    assert ids(date(2026, 1, 1)) == {late["id"], future["id"], later["id"]}
    assert {p.status_as_of for p in overdue_problems("431299", date(2025, 5, 1))} == {"pending", "in_progress"}
    assert overdue_problems("431298", date(2026, 1, 1)) == []

    r = world.auditor.get("/api/v1/problems?overdue=true&as_of=2025-05-01")
    assert {x["id"] for x in r.json["items"]} == {late["id"], fixed_late["id"]}
    r = world.auditor.get("/api/v1/problems?overdue=true")                 # as of today, 2025-06-30
    assert {x["id"] for x in r.json["items"]} == {late["id"], later["id"]}
    assert all(x["is_overdue"] for x in r.json["items"])
    r = world.auditor.get("/api/v1/problems?overdue=false")
    assert {x["id"] for x in r.json["items"]} == {fixed_late["id"], on_time["id"], future["id"]}
    assert not any(x["is_overdue"] for x in r.json["items"])
    assert world.vc_b1.get("/api/v1/problems?overdue=true").json["total"] == 0


# --- pure rules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("current, target, ok", [
    ("pending", "in_progress", True), ("in_progress", "rectified", True), ("rectified", "closed", True),
    ("rectified", "in_progress", True), ("pending", "rectified", False), ("pending", "closed", False),
    ("in_progress", "closed", False), ("in_progress", "pending", False), ("closed", "in_progress", False),
    ("closed", "rectified", False), ("rectified", "pending", False), ("pending", "pending", False),
])
def test_problem_transition_table(current, target, ok):
    assert (rules.problem_transition_error(current, target) is None) is ok


def test_small_rules():
    assert rules.quarter_of(date(2025, 6, 30)) == 2 and rules.quarter_start(2025, 4) == date(2025, 10, 1)
    assert rules.month_day_error(2, 28) is None and rules.month_day_error(2, 29) and rules.month_day_error(6, 31)
    assert rules.approval_order_error(["county_finance"]) is None
    assert rules.approval_order_error([]) and rules.approval_order_error(["x"])
    assert rules.is_overdue(date(2025, 1, 1), "in_progress", date(2025, 1, 2))
    assert not rules.is_overdue(date(2025, 1, 1), "in_progress", date(2025, 1, 1))
    assert not rules.is_overdue(date(2025, 1, 1), "rectified", date(2025, 2, 1))


def test_service_without_user_is_the_system(world, pv, today):
    """The demo loader and the command line call the services with no user: logged as system."""
    from assetreg.extensions import db
    from assetreg.oversight.services import create_problem, transition_problem

    p = create_problem(None, {"source": "complaint", "asset_id": pv.id, "description": "d",
                              "responsible_unit": "u", "responsible_person": "p",
                              "raised_on": date(2025, 1, 2), "deadline": date(2025, 2, 1)})
    transition_problem(None, p.id, {"to_status": "in_progress", "on": date(2025, 1, 3)})
    db.session.commit()
    assert db.session.get(Problem, p.id).status == "in_progress"
    assert {e.actor_name for e in log_entries("problem")} == {"system"}


# --- malformed input --------------------------------------------------------------------------------

BAD = [None, True, -1, 10**30, 1.5, "", "x" * 100_000, "\x00", [], {}, "2020-02-30", "NaN", "1e400", "' OR 1=1 --"]


def test_malformed_input_never_500(world, pv, audit, today):
    p = world.admin.post("/api/v1/problems", json=problem_payload()).json
    targets = {
        "/api/v1/oversight/settings": ("PUT", list(SETTINGS) + ["version"]),
        "/api/v1/audits": ("POST", list(audit_payload(pv)) + ["report_document_id"]),
        "/api/v1/inspections": ("POST", ["town_code", "year", "quarter", "inspected_on", "inspector",
                                         "report_document_id"]),
        "/api/v1/problems": ("POST", list(problem_payload()) + ["audit_id", "inspection_id", "flag_rule",
                                                               "flag_key", "asset_id"]),
        f"/api/v1/problems/{p['id']}/transitions": ("POST", ["to_status", "on", "note", "version"]),
        f"/api/v1/problems/{p['id']}/evidence": ("POST", ["document_id", "note"]),
    }
    for url, (method, names) in targets.items():
        for name in names:
            for bad in BAD:
                for who in (world.admin, world.vc_a1, world.auditor):
                    r = who.open(method, url, json={name: bad})
                    assert r.status_code < 500, (url, name, repr(bad)[:30], r.status_code)
        r = world.admin.open(method, url, data=b"\xff\xfe", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
    for q in ["year=99999999999", "asset_id=x", "quarter=9", "page=-1", "overdue=1&as_of=x"]:
        for url in ("/api/v1/audits", "/api/v1/inspections", "/api/v1/problems", "/api/v1/disposals"):
            assert world.auditor.get(url + "?" + q).status_code in (200, 422)
    assert world.admin.get("/api/v1/problems/99999999999999999999").status_code == 404


def test_cli_prints_overdue_problems(world, runner, today):
    p = world.admin.post("/api/v1/problems", json=problem_payload(deadline="2025-04-30")).json
    world.admin.post("/api/v1/problems", json=problem_payload(deadline="2025-12-31"))
    r = runner.invoke(args=["oversight", "overdue", "--county", "431299", "--as-of", "2025-05-03"])
    assert r.exit_code == 0, r.output
    assert "逾期未整改的问题：1 个" in r.output and f"#{p['id']}" in r.output and "逾期3天" in r.output
    r = runner.invoke(args=["oversight", "overdue", "--county", "431299", "--as-of", "2025-13-01"])
    assert r.exit_code != 0


def test_lists_run_a_constant_number_of_queries(world, f, count_queries, today):
    def measure():
        with count_queries() as c:
            assert world.auditor.get("/api/v1/problems").status_code == 200
            assert world.auditor.get("/api/v1/audits").status_code == 200
            assert world.auditor.get("/api/v1/disposals").status_code == 200
        return c.count

    def add(n):
        for _ in range(n):
            a = f.asset(status="idle", status_on=date(2024, 1, 1))
            world.admin.post("/api/v1/problems", json=problem_payload(place_code=None, asset_id=a.id))
            world.auditor.post("/api/v1/audits", json=audit_payload(a))
            world.fin_a.post("/api/v1/disposals", json={"asset_id": a.id, "grounds": "other", "method": "transfer",
                                                        "requested_on": "2025-03-01"})

    add(2)
    small = measure()
    add(6)
    assert measure() == small
