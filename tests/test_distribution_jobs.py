"""Public-welfare jobs (公益岗位): holders, priority warning, attendance, and the 公益岗位 lines they fill
(months attended in the plan year × monthly wage)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.distribution.models import JobAttendance
from assetreg.extensions import db

from .distribution_support import counts, households, new_plan, put_allocations, settle


@pytest.fixture
def village(world, f, today):
    """桃源村: a monitored household with weak labour, a formerly poor one, an ordinary one of two."""
    monitored = households(f, world.village_a1, "monitored", labour="weak")[0]
    poor = households(f, world.village_a1, "formerly_poor")[0]
    ordinary = households(f, world.village_a1, "ordinary", members=2)[0]
    return monitored, poor, ordinary


def job(h, person=None, **over):
    body = {"village_code": h.village_code, "post": "道路维护员", "household_id": h.id,
            "person_name": person or h.head_name, "monthly_wage": "800.00", "term_from": "2024-01-01",
            "term_to": "2024-12-31", "pay_cycle": "quarter"}
    body.update(over)
    return body


def attend(client, job_id, *entries):
    return client.post(f"/api/v1/jobs/{job_id}/attendance", json={"entries": list(entries)})


def test_create_a_job_and_its_priority_warning(world, village):
    monitored, poor, ordinary = village
    r = world.vc_a1.post("/api/v1/jobs", json=job(poor))
    assert r.status_code == 201, r.json
    assert r.json["pay_cycle_label"] == "按季度" and r.json["monthly_wage"] == "800.00"
    assert r.json["warnings"] == [] and r.json["household_number"] == poor.number
    # An ordinary household's full-labour member while a monitored household holds no job: warned (P36).
    r = world.vc_a1.post("/api/v1/jobs", json=job(ordinary, post="保洁员", monthly_wage="600.00"))
    assert r.status_code == 201
    [w] = r.json["warnings"]
    assert w["code"] == "JOB_PRIORITY" and w["basis"] == "P36" and "1 户" in w["message"]
    r = world.vc_a1.post("/api/v1/jobs", json=job(monitored, post="护林防火员"))
    assert r.status_code == 201 and r.json["warnings"] == []
    # Now every priority household holds a job: no warning any more.
    jobs = world.vc_a1.get("/api/v1/jobs").json
    assert jobs["total"] == 3 and all(j["warnings"] == [] for j in jobs["items"])
    log = db.session.scalars(sa.select(ChangeLogEntry.action).where(ChangeLogEntry.entity == "public_job")).all()
    assert log == ["create"] * 3


@pytest.mark.parametrize("over, field", [
    ({"person_name": "路人甲"}, "person_name"),
    ({"term_to": "2023-12-31"}, "term_to"),
    ({"monthly_wage": "0.00"}, "monthly_wage"),
    ({"monthly_wage": 800.5}, "monthly_wage"),
    ({"pay_cycle": "week"}, "pay_cycle"),
    ({"post": "x" * 41}, "post"),
    ({"household_id": "1"}, "household_id"),
    ({"village_code": "431299100299"}, "village_code"),
])
def test_bad_jobs_are_refused(world, village, over, field):
    before = counts()
    r = world.vc_a1.post("/api/v1/jobs", json=job(village[1], **over))
    assert r.status_code == 422 and field in r.json["error"]["fields"], r.json
    assert counts() == before


def test_job_holder_must_live_in_the_village_and_hold_one_job_at_a_time(world, f, village):
    stranger = f.household(world.village_a2)
    r = world.vc_a1.post("/api/v1/jobs", json={**job(stranger), "village_code": world.village_a1})
    assert r.status_code == 422 and "household_id" in r.json["error"]["fields"]
    assert world.vc_a1.post("/api/v1/jobs", json=job(village[1])).status_code == 201
    r = world.vc_a1.post("/api/v1/jobs", json=job(village[1], post="保洁员", term_from="2024-06-01", term_to=None))
    assert r.status_code == 409 and r.json["error"]["code"] == "duplicate_job"
    assert world.vc_a1.post("/api/v1/jobs", json=job(village[1], term_from="2025-01-01", term_to=None)).status_code == 201


def test_job_scope(world, village):
    body = job(village[1])
    for c, code in ((world.vc_a2, "out_of_scope"), (world.admin, "role_forbidden"), (world.fin_a, "role_forbidden"),
                    (world.auditor, "role_forbidden")):
        r = c.post("/api/v1/jobs", json=body)
        assert r.status_code == 403 and r.json["error"]["code"] == code
    jid = world.vc_a1.post("/api/v1/jobs", json=body).json["id"]
    for c in (world.vc_a1, world.fin_a, world.admin, world.auditor, world.auditor_a):
        assert c.get(f"/api/v1/jobs/{jid}").status_code == 200
    for c in (world.vc_b1, world.vc_a2, world.fin_b):
        assert c.get(f"/api/v1/jobs/{jid}").status_code == 404
        assert c.get("/api/v1/jobs").json["total"] == 0
        assert attend(c, jid, {"year": 2024, "month": 1, "attended": True}).status_code == 403
    assert attend(world.auditor, jid, {"year": 2024, "month": 1, "attended": True}).status_code == 403
    assert world.admin.get("/api/v1/jobs?year=2024").json["total"] == 1
    assert world.admin.get("/api/v1/jobs?year=2023").json["total"] == 0
    assert world.admin.get(f"/api/v1/jobs?village_code={world.village_a2}").json["total"] == 0


def test_attendance_is_recorded_per_month_and_replaced(world, village):
    jid = world.vc_a1.post("/api/v1/jobs", json=job(village[1])).json["id"]
    r = attend(world.vc_a1, jid, {"year": 2024, "month": 1, "days_worked": 22},
               {"year": 2024, "month": 2, "days_worked": 0}, {"year": 2024, "month": 3, "attended": True})
    assert r.status_code == 200, r.json
    assert [(a["month"], a["days_worked"], a["attended"]) for a in r.json["attendance"]] == [
        (1, 22, True), (2, 0, False), (3, None, True)]
    assert r.json["months_attended"] == 2
    r = attend(world.vc_a1, jid, {"year": 2024, "month": 2, "days_worked": 20})
    assert r.status_code == 200 and r.json["months_attended"] == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobAttendance)) == 3
    entry = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.action == "attendance")
                               .order_by(ChangeLogEntry.id)).all()[-1]
    assert entry.before == {"2024-02": [0, False]} and entry.after == {"2024-02": [20, True]}


@pytest.mark.parametrize("entries, field", [
    ([{"year": 2023, "month": 12, "attended": True}], "entries.0.month"),   # before the term
    ([{"year": 2025, "month": 1, "attended": True}], "entries.0.month"),    # after the term
    ([{"year": 2024, "month": 2, "days_worked": 30}], "entries.0.days_worked"),
    ([{"year": 2024, "month": 4}], "entries.0.attended"),
    ([{"year": 2024, "month": 4, "attended": True}, {"year": 2024, "month": 4, "attended": False}], "entries.1.month"),
    ([{"year": 2024, "month": 13, "attended": True}], "entries"),
    ([], "entries"),
])
def test_bad_attendance_is_refused(world, village, entries, field):
    jid = world.vc_a1.post("/api/v1/jobs", json=job(village[1])).json["id"]
    before = counts()
    r = attend(world.vc_a1, jid, *entries) if entries else world.vc_a1.post(
        f"/api/v1/jobs/{jid}/attendance", json={"entries": []})
    assert r.status_code == 422 and any(k.startswith(field) for k in r.json["error"]["fields"]), r.json
    assert counts() == before


def test_attendance_in_the_future_is_refused(world, village):
    jid = world.vc_a1.post("/api/v1/jobs", json=job(village[1], term_from="2025-01-01", term_to=None)).json["id"]
    r = attend(world.vc_a1, jid, {"year": 2025, "month": 7, "attended": True})  # today is 2025-06-30
    assert r.status_code == 422 and "entries.0.month" in r.json["error"]["fields"]
    assert attend(world.vc_a1, jid, {"year": 2025, "month": 6, "attended": True}).status_code == 200


# --- the 公益岗位 allocation filled from the jobs ----------------------------------------------------

@pytest.fixture
def staffed(world, f, village):
    """Three jobs in 2024 with attendance; the ordinary household holds two (husband and wife)."""
    monitored, poor, ordinary = village
    settle(f, world, world.village_a1, pv="20000.00")
    ids = []
    for body in (job(poor), job(ordinary, post="保洁员", monthly_wage="600.00", term_from="2024-03-15"),
                 job(ordinary, ordinary.members[1].name, post="光伏电站管护员", monthly_wage="500.50"),
                 job(monitored, post="护林防火员", term_from="2025-01-01", term_to=None)):  # not in 2024
        r = world.vc_a1.post("/api/v1/jobs", json=body)
        assert r.status_code == 201, r.json
        ids.append(r.json["id"])
    months = lambda ms: [{"year": 2024, "month": m, "attended": True} for m in ms]  # noqa: E731
    assert attend(world.vc_a1, ids[0], *months(range(1, 7))).status_code == 200          # 6 months
    assert attend(world.vc_a1, ids[1], *months(range(3, 13))).status_code == 200         # 10 months
    assert attend(world.vc_a1, ids[2], *months([1, 2]),
                  {"year": 2024, "month": 3, "days_worked": 0}).status_code == 200      # 2 months
    assert attend(world.vc_a1, ids[3], *[{"year": 2025, "month": 1, "attended": True}]).status_code == 200
    return ids


def test_jobs_fill_months_times_wage(world, village, staffed):
    monitored, poor, ordinary = village
    p = new_plan(world.vc_a1, world.village_a1)
    put_allocations(world.vc_a1, p["id"], [{"purpose": "public_jobs", "amount": "11801.00"}])
    r = world.vc_a1.post(f"/api/v1/plans/{p['id']}/fill", json={"purpose": "public_jobs", "method": "jobs"})
    assert r.status_code == 200, r.json
    lines = {x["household_id"]: x for x in r.json["lines"]}
    assert set(lines) == {poor.id, ordinary.id}  # the monitored household's job starts in 2025
    assert lines[poor.id]["amount"] == "4800.00" and lines[poor.id]["reason"] == "道路维护员 6个月×800.00元"
    assert (lines[poor.id]["months"], lines[poor.id]["monthly_wage"], lines[poor.id]["job_id"]) == (6, "800.00", staffed[0])
    # One line for the household holding two jobs (a household appears once per allocation).
    both = lines[ordinary.id]
    assert both["amount"] == "7001.00" and both["months"] is None and both["job_id"] is None
    assert both["reason"] == "保洁员 10个月×600.00元；光伏电站管护员 2个月×500.50元"
    assert both["person_name"] == f"{ordinary.head_name}、{ordinary.members[1].name}"
    assert r.json["total"] == "11801.00" and r.json["fits"] is True
    r = world.vc_a1.post(f"/api/v1/plans/{p['id']}/fill", json={"purpose": "public_jobs", "method": "jobs",
                                                                "apply": True})
    assert r.status_code == 200 and r.json["applied"]
    plan = world.vc_a1.get(f"/api/v1/plans/{p['id']}").json
    assert plan["allocations"][0]["lines_total"] == "11801.00"
    assert [w["code"] for w in plan["warnings"]] == ["PV_SHARE_LOW", "MONITORED_LEFT_OUT"]


def test_jobs_fill_must_match_the_allocation_or_set_it(world, village, staffed):
    p = new_plan(world.vc_a1, world.village_a1)
    put_allocations(world.vc_a1, p["id"], [{"purpose": "public_works", "amount": "5000.00"},
                                           {"purpose": "public_jobs", "amount": "10000.00"}])
    before = counts()
    r = world.vc_a1.post(f"/api/v1/plans/{p['id']}/fill", json={"purpose": "public_jobs", "method": "jobs",
                                                                "apply": True})
    assert r.status_code == 422 and list(r.json["error"]["fields"]) == ["allocations.1.lines"]
    assert "11801.00" in r.json["error"]["fields"]["allocations.1.lines"][0]  # wages are never scaled
    assert counts() == before
    r = world.vc_a1.post(f"/api/v1/plans/{p['id']}/fill", json={"purpose": "public_jobs", "method": "jobs",
                                                                "apply": True, "set_amount": True})
    assert r.status_code == 200 and r.json["allocation_amount"] == "11801.00"
    plan = world.vc_a1.get(f"/api/v1/plans/{p['id']}").json
    assert plan["allocated"] == "16801.00" and "PV_SHARE_LOW" not in [w["code"] for w in plan["warnings"]]


def test_jobs_fill_can_create_the_allocation(world, village, staffed):
    p = new_plan(world.vc_a1, world.village_a1)
    r = world.vc_a1.post(f"/api/v1/plans/{p['id']}/fill", json={"purpose": "public_jobs", "method": "jobs",
                                                                "apply": True, "set_amount": True})
    assert r.status_code == 200, r.json
    plan = world.vc_a1.get(f"/api/v1/plans/{p['id']}").json
    assert [(a["purpose"], a["amount"], len(a["lines"])) for a in plan["allocations"]] == [
        ("public_jobs", "11801.00", 2)]


def test_lines_naming_a_job_must_name_the_households_job(world, village, staffed):
    monitored, poor, ordinary = village
    p = new_plan(world.vc_a1, world.village_a1)
    bad = {"household_id": ordinary.id, "amount": "4800.00", "months": 6, "monthly_wage": "800.00",
           "job_id": staffed[0]}
    r = put_allocations(world.vc_a1, p["id"], [{"purpose": "public_jobs", "amount": "4800.00", "lines": [bad]}])
    assert r.status_code == 422 and list(r.json["error"]["fields"]) == ["allocations.0.lines.0.job_id"]
    good = {**bad, "household_id": poor.id, "amount": "4000.00"}
    r = put_allocations(world.vc_a1, p["id"], [{"purpose": "public_jobs", "amount": "4000.00", "lines": [good]}])
    assert r.status_code == 422 and r.json["error"]["fields"] == {
        "allocations.0.lines.0.amount": ["应为 6个月×800.00元 = 4800.00 元"]}
