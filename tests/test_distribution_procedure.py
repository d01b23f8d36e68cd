"""The 四议两公开 procedure: steps strictly in order and dated, quorum, town review and county filing by
their roles, the notice's minimum term, objections, approval only after a full term with nothing open."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.core import time as clock
from assetreg.distribution.models import PlanStep
from assetreg.extensions import db

from .distribution_support import (
    MEETING,
    counts,
    households,
    line,
    new_plan,
    put_allocations,
    run_to,
    settle,
    village_steps,
)


@pytest.fixture
def plan(world, f, today):
    settle(f, world, world.village_a1, pv="10000.00", other="5000.00")
    hs = households(f, world.village_a1, "monitored", "formerly_poor", "ordinary")
    p = new_plan(world.vc_a1, world.village_a1)
    r = put_allocations(world.vc_a1, p["id"], [
        {"purpose": "public_works", "amount": "9000.00", "use": "村组道路维修"},
        {"purpose": "relief", "amount": "3000.00", "lines": [line(hs[0], "2000.00"), line(hs[1], "1000.00")]},
        {"purpose": "carry", "amount": "3000.00"}])
    assert r.status_code == 200, r.json
    return r.json


def step(client, plan, **body):
    return client.post(f"/api/v1/plans/{plan['id']}/steps", json=body)


def get(world, plan):
    return world.vc_a1.get(f"/api/v1/plans/{plan['id']}").json


def set_today(d: date):
    clock.freeze(datetime(d.year, d.month, d.day, 4, 0, tzinfo=UTC))


# --- the whole procedure -------------------------------------------------------------------------

def test_the_whole_procedure_in_order(world, plan):
    statuses = []
    for s in village_steps():
        r = step(world.vc_a1, plan, **s)
        assert r.status_code == 201, r.json
        statuses.append(r.json["plan_status"])
    assert statuses == ["proposed", "consulted", "party_reviewed", "resolved", "resolution_published"]
    run_to(world, plan["id"], "result_published")
    body = get(world, plan)
    assert body["status"] == "completed" and body["status_label"] == "结果已公开" and body["next_step"] is None
    assert [s["kind"] for s in body["steps"]] == [
        "proposal", "consultation", "party_meeting", "representatives_meeting", "resolution_published",
        "town_review", "notice", "approval", "county_filing", "payment", "result_published"]
    notice = body["steps"][6]
    assert (notice["notice_start_on"], notice["notice_end_on"], notice["notice_days"]) == ("2025-05-01", "2025-05-10", 10)
    assert body["steps"][9]["payment_method"] == "一卡通"
    assert body["steps"][5]["actor_id"] == world.fin_a.user.id and body["steps"][8]["actor_id"] == world.admin.user.id
    actions = db.session.scalars(sa.select(ChangeLogEntry.action).where(
        ChangeLogEntry.entity == "distribution_plan", ChangeLogEntry.action.like("step:%"))
        .order_by(ChangeLogEntry.id)).all()
    assert actions == [f"step:{s['kind']}" for s in body["steps"]]
    r = step(world.vc_a1, plan, kind="result_published", done_on="2025-06-20", minutes="again")
    assert r.status_code == 409 and r.json["error"]["code"] == "step_out_of_order"


def test_steps_out_of_order_are_409(world, plan):
    r = step(world.vc_a1, plan, kind="consultation", done_on="2025-04-01", minutes="x")
    assert r.status_code == 409 and r.json["error"]["code"] == "step_out_of_order"
    assert "村党组织提议" in r.json["error"]["message"]
    first = village_steps()[0]
    assert step(world.vc_a1, plan, **first).status_code == 201
    r = step(world.vc_a1, plan, **first)  # twice
    assert r.status_code == 409 and r.json["error"]["code"] == "step_out_of_order"
    r = step(world.vc_a1, plan, kind="notice", notice_start_on="2025-05-01", notice_end_on="2025-05-10")
    assert r.status_code == 409
    assert counts()["plan_steps"] == 1


@pytest.mark.parametrize("body, field", [
    ({"done_on": "2025-03-31"}, "done_on"),            # before the previous step (2025-04-01)
    ({"done_on": "2025-07-01"}, "done_on"),            # in the future (today is 2025-06-30)
    ({"done_on": None}, "done_on"),
    ({"minutes": "  "}, "minutes"),
    ({"members_due": 3, "members_present": 3, "members_in_favour": 3}, "members_due"),  # not a meeting
    ({"payment_method": "现金"}, "payment_method"),
    ({"notice_end_on": "2025-05-10"}, "notice_end_on"),
])
def test_step_dates_and_fields_are_checked(world, plan, body, field):
    assert step(world.vc_a1, plan, **village_steps()[0]).status_code == 201
    before = counts()
    r = step(world.vc_a1, plan, **{**village_steps()[1], **body})
    assert r.status_code == 422 and field in r.json["error"]["fields"], r.json
    assert counts() == before and get(world, plan)["status"] == "proposed"


@pytest.mark.parametrize("meeting", ["party_meeting", "representatives_meeting"])
@pytest.mark.parametrize("due, present, in_favour, field", [
    (30, 19, 19, "members_present"),    # fewer than two thirds present
    (30, 20, 10, "members_in_favour"),  # half of those present is not a majority
])
def test_quorum_missing_is_refused(world, plan, meeting, due, present, in_favour, field):
    steps = village_steps()
    index = [s["kind"] for s in steps].index(meeting)
    for s in steps[:index]:
        assert step(world.vc_a1, plan, **s).status_code == 201
    before = counts()
    r = step(world.vc_a1, plan, **{**steps[index], "members_due": due, "members_present": present,
                                   "members_in_favour": in_favour})
    assert r.status_code == 422, r.json
    assert r.json["error"]["code"] == "QUORUM_MISSING" and list(r.json["error"]["fields"]) == [field]
    assert counts() == before
    r = step(world.vc_a1, plan, **{**steps[index], "members_due": 30, "members_present": 20, "members_in_favour": 11})
    assert r.status_code == 201 and r.json["members_present"] == 20


@pytest.mark.parametrize("counts_, field", [((30, 31, 20), "members_present"), ((30, 25, 26), "members_in_favour"),
                                            ((None, 25, 20), "members_due")])
def test_meeting_counts_must_be_consistent(world, plan, counts_, field):
    steps = village_steps()
    for s in steps[:2]:
        step(world.vc_a1, plan, **s)
    due, present, favour = counts_
    r = step(world.vc_a1, plan, **{**steps[2], "members_due": due, "members_present": present,
                                   "members_in_favour": favour})
    assert r.status_code == 422 and field in r.json["error"]["fields"]


# --- roles ---------------------------------------------------------------------------------------

def test_each_step_by_its_role(world, plan):
    run_to(world, plan["id"], "resolution_published")
    review = {"kind": "town_review", "done_on": "2025-04-20", "minutes": "同意"}
    for c, code in ((world.vc_a1, "role_forbidden"), (world.admin, "role_forbidden"),
                    (world.fin_b, "out_of_scope"), (world.auditor, "role_forbidden"),
                    (world.auditor_a, "role_forbidden")):
        r = step(c, plan, **review)
        assert r.status_code == 403 and r.json["error"]["code"] == code, (c.user.username, r.json)
    assert step(world.vc_b1, plan, **review).status_code == 403
    assert step(world.fin_a, plan, **review).status_code == 201
    run_to_notice_end = {"kind": "notice", "notice_start_on": "2025-05-01", "notice_end_on": "2025-05-10"}
    assert step(world.fin_a, plan, **run_to_notice_end).status_code == 403  # the village publishes
    assert step(world.vc_a1, plan, **run_to_notice_end).status_code == 201
    assert step(world.vc_a1, plan, kind="approval", done_on="2025-05-11").status_code == 201
    filing = {"kind": "county_filing", "done_on": "2025-05-12"}
    for c in (world.vc_a1, world.fin_a, world.auditor):
        assert step(c, plan, **filing).status_code == 403
    assert step(world.admin, plan, **filing).status_code == 201


def test_plan_is_frozen_from_the_town_review(world, plan):
    run_to(world, plan["id"], "resolution_published")
    # Still editable before the town review (a draft in the sense of the brief).
    r = put_allocations(world.vc_a1, plan["id"], [{"purpose": "public_works", "amount": "9000.00"},
                                                  {"purpose": "carry", "amount": "6000.00"}])
    assert r.status_code == 200
    assert step(world.fin_a, plan, kind="town_review", done_on="2025-04-20", minutes="同意").status_code == 201
    before = counts()
    for method, url, body in [
        ("PUT", f"/api/v1/plans/{plan['id']}/allocations", {"allocations": []}),
        ("PATCH", f"/api/v1/plans/{plan['id']}", {"carry_over": "1.00"}),
        ("POST", f"/api/v1/plans/{plan['id']}/fill", {"purpose": "relief", "method": "equal", "apply": True}),
    ]:
        r = world.vc_a1.open(method, url, json=body)
        assert r.status_code == 409 and r.json["error"]["code"] == "plan_locked", (method, url, r.json)
    assert counts() == before
    assert get(world, plan)["is_editable"] is False


def test_town_review_needs_a_complete_plan(world, f, today):
    settle(f, world, world.village_a2, other="1000.00")
    households(f, world.village_a2, "formerly_poor")
    p = new_plan(world.vc_a2, world.village_a2)
    for s in village_steps():
        assert step(world.vc_a2, p, **s).status_code == 201
    review = {"kind": "town_review", "done_on": "2025-04-20", "minutes": "同意"}
    r = step(world.fin_a, p, **review)
    assert r.status_code == 422 and "allocations" in r.json["error"]["fields"]
    put_allocations(world.vc_a2, p["id"], [{"purpose": "awards", "amount": "500.00"}])
    r = step(world.fin_a, p, **review)
    assert r.status_code == 422 and r.json["error"]["fields"] == {"allocations.0.lines": ["“奖励补助”尚未分配到户"]}
    assert world.vc_a2.post(f"/api/v1/plans/{p['id']}/fill", json={"purpose": "awards", "method": "equal",
                                                                   "apply": True}).status_code == 200
    assert step(world.fin_a, p, **review).status_code == 201


# --- notice, objections, approval ----------------------------------------------------------------

def to_notice(world, plan):
    run_to(world, plan["id"], "town_review")


@pytest.mark.parametrize("start, end, ok", [
    ("2025-05-01", "2025-05-10", True),    # 10 days, counted inclusive
    ("2025-05-01", "2025-05-09", False),
    ("2025-04-19", "2025-05-10", False),   # starts before the town review (2025-04-20)
    ("2025-05-10", "2025-05-01", False),
    ("2025-07-01", "2025-07-10", False),   # starts in the future
])
def test_notice_minimum_term(world, plan, start, end, ok):
    to_notice(world, plan)
    before = counts()
    r = step(world.vc_a1, plan, kind="notice", notice_start_on=start, notice_end_on=end)
    assert (r.status_code == 201) is ok, r.json
    if not ok:
        assert r.status_code == 422 and counts() == before


def test_notice_minimum_follows_the_county(world, plan):
    world.admin.put("/api/v1/policy", json={"pv_public_min_share": "0.80", "forbidden_uses": [],
                                            "min_notice_days": 15, "complaint_phone": "12317"})
    to_notice(world, plan)
    r = step(world.vc_a1, plan, kind="notice", notice_start_on="2025-05-01", notice_end_on="2025-05-14")
    assert r.status_code == 422 and r.json["error"]["code"] == "notice_too_short"
    assert "14 天" in r.json["error"]["fields"]["notice_end_on"][0]
    r = step(world.vc_a1, plan, kind="notice", notice_start_on="2025-05-01", notice_end_on="2025-05-15",
             done_on="2025-05-01")
    assert r.status_code == 201 and r.json["done_on"] == "2025-05-01"


def test_approval_waits_for_the_full_term(world, plan):
    to_notice(world, plan)
    assert step(world.vc_a1, plan, kind="notice", notice_start_on="2025-06-21",
                notice_end_on="2025-06-30").status_code == 201
    # Today (2025-06-30) is the notice's last day: it has not run its full term yet.
    r = step(world.vc_a1, plan, kind="approval", done_on="2025-06-30")
    assert r.status_code == 409 and r.json["error"]["code"] == "notice_running"
    r = step(world.vc_a1, plan, kind="approval", done_on="2025-07-01")
    assert r.status_code == 422 and "done_on" in r.json["error"]["fields"]  # the future
    assert get(world, plan)["status"] == "in_notice"
    set_today(date(2025, 7, 1))
    r = step(world.vc_a1, plan, kind="approval", done_on="2025-07-01", minutes="公示期满无异议")
    assert r.status_code == 201 and r.json["plan_status"] == "approved"


def test_objections_must_be_answered_before_approval(world, plan):
    to_notice(world, plan)
    step(world.vc_a1, plan, kind="notice", notice_start_on="2025-06-01", notice_end_on="2025-06-10")
    url = f"/api/v1/plans/{plan['id']}/objections"
    r = world.vc_a1.post(url, json={"raised_on": "2025-06-03", "raised_by": "村民王某", "content": "我家应列入扶贫济困"})
    assert r.status_code == 201 and r.json["is_open"] is True
    oid = r.json["id"]
    # Objections reach the town and the county too.
    assert world.fin_a.post(url, json={"raised_on": "2025-06-10", "content": "电话反映"}).status_code == 201
    r = step(world.vc_a1, plan, kind="approval", done_on="2025-06-20")
    assert r.status_code == 409 and r.json["error"]["code"] == "objections_open"
    ids = [o["id"] for o in world.auditor.get(url).json]
    answer = {"answer": "经核实，该户已纳入监测，下年度调整", "answered_on": "2025-06-12"}
    assert world.vc_a1.post(f"{url}/{oid}/answer", json=answer).status_code == 200
    r = world.vc_a1.post(f"{url}/{oid}/answer", json=answer)
    assert r.status_code == 409 and r.json["error"]["code"] == "already_answered"
    assert step(world.vc_a1, plan, kind="approval", done_on="2025-06-20").status_code == 409
    r = world.admin.post(f"{url}/{ids[1]}/answer", json={**answer, "answered_on": "2025-06-11"})
    assert r.status_code == 200 and r.json["answered_by_id"] == world.admin.user.id
    assert get(world, plan)["open_objections"] == 0
    r = step(world.vc_a1, plan, kind="approval", done_on="2025-06-20")
    assert r.status_code == 201, r.json
    # After approval no new objection is taken (the notice is over).
    r = world.vc_a1.post(url, json={"raised_on": "2025-06-05", "content": "迟到的异议"})
    assert r.status_code == 409 and r.json["error"]["code"] == "not_in_notice"
    log = db.session.scalars(sa.select(ChangeLogEntry.action).where(ChangeLogEntry.entity == "plan_objection")
                             .order_by(ChangeLogEntry.id)).all()
    assert log == ["create", "create", "answer", "answer"]


def test_objection_checks(world, plan):
    url = f"/api/v1/plans/{plan['id']}/objections"
    r = world.vc_a1.post(url, json={"raised_on": "2025-04-01", "content": "太早"})
    assert r.status_code == 409 and r.json["error"]["code"] == "not_in_notice"
    to_notice(world, plan)
    step(world.vc_a1, plan, kind="notice", notice_start_on="2025-06-01", notice_end_on="2025-06-10")
    before = counts()
    for body, field in [({"raised_on": "2025-05-31", "content": "x"}, "raised_on"),
                        ({"raised_on": "2025-06-11", "content": "x"}, "raised_on"),
                        ({"raised_on": "2025-06-02", "content": "   "}, "content"),
                        ({"raised_on": "2025-06-02"}, "content"),
                        ({"raised_on": "2025-06-02", "content": "x" * 2001}, "content")]:
        r = world.vc_a1.post(url, json=body)
        assert r.status_code == 422 and field in r.json["error"]["fields"], (body, r.json)
    assert counts() == before
    for c in (world.vc_b1, world.fin_b, world.auditor, world.vc_a2):
        assert c.post(url, json={"raised_on": "2025-06-02", "content": "x"}).status_code == 403
    oid = world.vc_a1.post(url, json={"raised_on": "2025-06-05", "content": "x"}).json["id"]
    for body, field in [({"answer": "y", "answered_on": "2025-06-04"}, "answered_on"),
                        ({"answer": "y", "answered_on": "2025-07-01"}, "answered_on"),
                        ({"answer": "  ", "answered_on": "2025-06-06"}, "answer")]:
        r = world.vc_a1.post(f"{url}/{oid}/answer", json=body)
        assert r.status_code == 422 and field in r.json["error"]["fields"]
    assert world.vc_a1.post(f"{url}/999999/answer", json={"answer": "y", "answered_on": "2025-06-06"}).status_code == 404
    assert world.vc_b1.get(url).status_code == 404


def test_payment_needs_a_method(world, plan):
    run_to(world, plan["id"], "county_filing")
    r = step(world.vc_a1, plan, kind="payment", done_on="2025-06-01")
    assert r.status_code == 422 and "payment_method" in r.json["error"]["fields"]
    r = step(world.vc_a1, plan, kind="payment", done_on="2025-06-01", payment_method="一卡通")
    assert r.status_code == 201 and r.json["plan_status"] == "paid"


def test_steps_are_rows_in_order(world, plan):
    run_to(world, plan["id"], "notice")
    rows = db.session.execute(sa.select(PlanStep.seq, PlanStep.kind).order_by(PlanStep.seq)).all()
    assert [r.seq for r in rows] == list(range(1, 8)) and rows[-1].kind == "notice"
    assert world.auditor.get(f"/api/v1/plans/{plan['id']}/steps").json[2]["members_due"] == MEETING["members_due"]
