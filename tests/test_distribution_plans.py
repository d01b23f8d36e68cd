"""Distribution plans through the API: available figure, allocations and lines, fill helpers, warnings,
county policy, scope for each role, optimistic locking, no half-writes, the CLI."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assetreg.changelog.models import ChangeLogEntry
from assetreg.distribution.models import DistributionPlan, PlanAllocation, PlanLine
from assetreg.extensions import db

from .distribution_support import counts, households, line, new_plan, put_allocations, run_to, settle

D = Decimal


@pytest.fixture
def a1(world, f, today):
    """桃源村 2024: PV 10,000.00 + workshop rent 6,000.00 − costs 1,000.00, settled; five households."""
    settle(f, world, world.village_a1, pv="10000.00", other="6000.00", costs="1000.00")
    hs = households(f, world.village_a1, "monitored", "formerly_poor", "formerly_poor", "ordinary", "ordinary")
    return hs


def plan_of(world, **over):
    return new_plan(world.vc_a1, world.village_a1, **over)


# --- creating: what is available -------------------------------------------------------------------

def test_available_is_the_settled_net_plus_carry_over(world, a1):
    p = plan_of(world, carry_over="1234.56")
    assert p["settled_net"] == "15000.00" and p["pv_net"] == "10000.00"
    assert p["carry_over"] == "1234.56" and p["available"] == "16234.56" and p["unallocated"] == "16234.56"
    assert p["status"] == "draft" and p["next_step"] == "proposal" and p["is_editable"] is True
    assert p["settlement_id"] is not None
    row = db.session.get(DistributionPlan, p["id"])
    assert row.available == D("16234.56") and row.settled_net == D("15000.00")
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "distribution_plan")).all()
    assert [(e.action, e.village_code, e.actor_name) for e in log] == [("create", world.village_a1, "vc_a1")]


def test_patch_carry_over_refreshes_available(world, a1):
    p = plan_of(world)
    r = world.vc_a1.patch(f"/api/v1/plans/{p['id']}", json={"carry_over": "500.00", "version": p["version"]})
    assert r.status_code == 200, r.json
    assert r.json["available"] == "15500.00" and r.json["version"] == p["version"] + 1
    r = world.vc_a1.patch(f"/api/v1/plans/{p['id']}", json={"note": "x", "version": p["version"]})
    assert r.status_code == 409 and r.json["error"]["code"] == "version_conflict"
    # Lowering the carry-over below what is already allocated is refused.
    assert put_allocations(world.vc_a1, p["id"], [{"purpose": "public_works", "amount": "15500.00"}]).status_code == 200
    r = world.vc_a1.patch(f"/api/v1/plans/{p['id']}", json={"carry_over": "0.00"})
    assert r.status_code == 422 and "carry_over" in r.json["error"]["fields"]
    assert db.session.get(DistributionPlan, p["id"]).carry_over == D("500.00")


def test_a_plan_needs_a_settled_year(world, f, today):
    households(f, world.village_a2, "ordinary")
    r = world.vc_a2.post("/api/v1/plans", json={"village_code": world.village_a2, "year": 2024})
    assert r.status_code == 422 and r.json["error"]["code"] == "year_not_settled"
    assert counts()["distribution_plans"] == 0
    r = world.vc_a2.post("/api/v1/plans", json={"village_code": world.village_a2, "year": 2025})
    assert r.status_code == 422 and "year" in r.json["error"]["fields"]


def test_a_town_settlement_gives_the_village_its_part(world, f, today):
    from assetreg.income.services import settle_year

    settle(f, world, world.village_a2, year=2023, other="100.00")  # another year: not this one
    f.asset(place_code=world.village_a2, subtype="光伏电站")
    settle_year(None, place_code=world.town_a, year=2024, settled_on=__import__("datetime").date(2025, 3, 20))
    db.session.commit()
    p = new_plan(world.vc_a2, world.village_a2)
    assert p["settled_net"] == "0.00" and p["available"] == "0.00"


def test_one_plan_per_village_and_year(world, a1):
    plan_of(world)
    r = world.vc_a1.post("/api/v1/plans", json={"village_code": world.village_a1, "year": 2024})
    assert r.status_code == 409 and r.json["error"]["code"] == "duplicate_plan"


def test_carry_over_defaults_to_last_years_approved_carry(world, f, a1, today):
    settle(f, world, world.village_a1, year=2023, other="3000.00")
    old = new_plan(world.vc_a1, world.village_a1, year=2023)
    hs = a1
    r = put_allocations(world.vc_a1, old["id"], [
        {"purpose": "relief", "amount": "2000.00", "lines": [line(hs[0], "2000.00")]},
        {"purpose": "carry", "amount": "1000.00"}])
    assert r.status_code == 200, r.json
    run_to(world, old["id"], "approval")
    p = plan_of(world)
    assert p["carry_over"] == "1000.00" and p["available"] == "16000.00"


# --- allocations ---------------------------------------------------------------------------------

def test_put_allocations_replaces_the_whole_set(world, a1):
    hs = a1
    p = plan_of(world)
    first = [{"purpose": "public_works", "amount": "8000.00", "use": "村组道路维修"},
             {"purpose": "relief", "amount": "3000.00",
              "lines": [line(hs[0], "2000.00", reason="因病"), line(hs[1], "1000.00", person_name="另一人")]}]
    r = put_allocations(world.vc_a1, p["id"], first, version=p["version"])
    assert r.status_code == 200, r.json
    body = r.json
    assert body["allocated"] == "11000.00" and body["unallocated"] == "4000.00"
    relief = body["allocations"][1]
    assert relief["purpose_label"] == "扶贫济困" and relief["lines_total"] == "3000.00"
    assert [(x["person_name"], x["amount"], x["reason"]) for x in relief["lines"]] == [
        (hs[0].head_name, "2000.00", "因病"), ("另一人", "1000.00", None)]
    assert relief["lines"][0]["household_number"] == hs[0].number
    assert r.headers["ETag"] == f'"{body["version"]}"' and body["version"] == p["version"] + 1

    second = [{"purpose": "public_jobs", "amount": "9000.00", "lines": [line(hs[2], "9000.00")]},
              {"purpose": "carry", "amount": "6000.00"}]
    r = put_allocations(world.vc_a1, p["id"], second, version=body["version"])
    assert r.status_code == 200, r.json
    assert [a["purpose"] for a in r.json["allocations"]] == ["public_jobs", "carry"]
    assert r.json["unallocated"] == "0.00"
    assert counts()["plan_allocations"] == 2 and counts()["plan_lines"] == 1
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.action == "set_allocations")
                             .order_by(ChangeLogEntry.id)).all()
    assert len(log) == 2 and log[1].before["allocations"][1]["lines"][0][2] == "2000.00"


def _refused(world, p, allocations):
    before = counts()
    r = put_allocations(world.vc_a1, p["id"], allocations)
    assert r.status_code == 422, r.json
    assert counts() == before  # nothing half-written
    return r.json["error"]


@pytest.fixture
def drafted(world, a1):
    """A plan with one relief allocation already in place (so a refusal must leave it untouched)."""
    p = plan_of(world)
    r = put_allocations(world.vc_a1, p["id"], [{"purpose": "relief", "amount": "100.00",
                                                 "lines": [line(a1[0], "100.00")]}])
    assert r.status_code == 200
    return r.json


def test_allocations_exceeding_available_are_refused_naming_the_allocation(world, a1, drafted):
    err = _refused(world, drafted, [{"purpose": "public_works", "amount": "10000.00"},
                                    {"purpose": "reinvestment", "amount": "4000.00"},
                                    {"purpose": "carry", "amount": "1000.01"}])
    assert list(err["fields"]) == ["allocations.2.amount"]
    assert "15000.01" in err["fields"]["allocations.2.amount"][0]
    assert [(a.purpose, a.amount) for a in db.session.scalars(sa.select(PlanAllocation))] == [("relief", D("100.00"))]


def test_lines_not_adding_up_are_refused_naming_the_allocation(world, a1, drafted):
    hs = a1
    err = _refused(world, drafted, [{"purpose": "public_works", "amount": "1000.00"},
                                    {"purpose": "awards", "amount": "500.00",
                                     "lines": [line(hs[0], "200.00"), line(hs[1], "299.99")]}])
    assert list(err["fields"]) == ["allocations.1.lines"]
    assert "499.99" in err["fields"]["allocations.1.lines"][0]


@pytest.mark.parametrize("lines, field", [
    ([("h0", "0.00")], "allocations.0.lines.0.amount"),
    ([("h0", "100.00"), ("h0", "0.01")], "allocations.0.lines.1.household_id"),
    ([("other", "100.01")], "allocations.0.lines.0.household_id"),
])
def test_bad_lines_are_refused_naming_the_line(world, a1, drafted, f, lines, field):
    stranger = f.household(world.village_b1)
    ids = {"h0": a1[0].id, "other": stranger.id}
    err = _refused(world, drafted, [{"purpose": "relief", "amount": "100.01",
                                     "lines": [{"household_id": ids[h], "amount": a} for h, a in lines]}])
    assert field in err["fields"], err


def test_a_forbidden_use_is_refused(world, a1, drafted):
    err = _refused(world, drafted, [{"purpose": "public_works", "amount": "1000.00", "use": "偿还村级债务"},
                                    {"purpose": "operation_maintenance", "amount": "100.00",
                                     "use": "村干部津贴福利"}])
    assert err["code"] == "FORBIDDEN_USE"
    assert err["fields"] == {"allocations.1.use": ["“津贴福利”属于禁止的收益用途"]}  # 偿还村级债务 ≠ 偿还债务


def test_the_countys_own_forbidden_uses_apply(world, a1, drafted):
    r = world.admin.put("/api/v1/policy", json={"pv_public_min_share": "0.80", "forbidden_uses": ["债务"],
                                                "min_notice_days": 10, "complaint_phone": "12317"})
    assert r.status_code == 200, r.json
    err = _refused(world, drafted, [{"purpose": "public_works", "amount": "1000.00", "use": "偿还村级债务"}])
    assert err["code"] == "FORBIDDEN_USE" and list(err["fields"]) == ["allocations.0.use"]


def test_lines_only_on_household_purposes(world, a1, drafted):
    err = _refused(world, drafted, [{"purpose": "public_works", "amount": "100.00",
                                     "lines": [line(a1[0], "100.00")]}])
    assert list(err["fields"]) == ["allocations.0.lines"]


@pytest.mark.parametrize("body", [
    {"allocations": [{"purpose": "bonus", "amount": "1.00"}]},
    {"allocations": [{"purpose": "relief", "amount": 1.5}]},
    {"allocations": [{"purpose": "relief", "amount": "1.001"}]},
    {"allocations": [{"purpose": "relief", "amount": "-1.00"}]},
    {"allocations": [{"purpose": "relief", "amount": "1.00", "lines": [{"household_id": "x", "amount": "1.00"}]}]},
    {"allocations": [{"purpose": "relief", "amount": "1.00", "lines": [{"household_id": 2**40, "amount": "1.00"}]}]},
    {"allocations": [{"purpose": "relief", "amount": "1.00", "use": "x" * 201}]},
    {"allocations": [{"purpose": "relief", "amount": "1.00", "extra": 1}]},
    {"allocations": [{"purpose": "relief", "amount": "1"}] * 8},
    {"allocations": "relief"},
    {},
])
def test_malformed_allocations_are_422_never_500(world, a1, drafted, body):
    before = counts()
    r = world.vc_a1.put(f"/api/v1/plans/{drafted['id']}/allocations", json=body)
    assert r.status_code == 422, (body, r.status_code, r.json)
    assert r.json["error"]["fields"]
    assert counts() == before


def test_stale_version_loses(world, a1, drafted):
    r = put_allocations(world.vc_a1, drafted["id"], [], version=drafted["version"] - 1)
    assert r.status_code == 409 and r.json["error"]["code"] == "version_conflict"
    r = world.vc_a1.put(f"/api/v1/plans/{drafted['id']}/allocations", json={"allocations": []},
                        headers={"If-Match": f'"{drafted["version"]}"'})
    assert r.status_code == 200 and r.json["allocations"] == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_plan_totals_are_exact_to_the_fen(world, a1, data):
    """Any allocations that fit: stored, read back and summed exactly; any that do not: refused whole."""
    p = db.session.scalar(sa.select(DistributionPlan))
    p = world.vc_a1.get(f"/api/v1/plans/{p.id}").json if p else plan_of(world)
    purposes = data.draw(st.lists(st.sampled_from(["operation_maintenance", "public_works", "relief", "awards",
                                                   "carry"]), unique=True, min_size=1, max_size=5))
    allocations = []
    for purpose in purposes:
        fen = data.draw(st.integers(min_value=1, max_value=800_000))
        amount = D(fen) / 100
        entry = {"purpose": purpose, "amount": f"{amount:.2f}"}
        if purpose in ("relief", "awards"):
            n = data.draw(st.integers(min_value=1, max_value=min(5, fen)))
            weights = data.draw(st.lists(st.integers(1, 1000), min_size=n, max_size=n))
            from assetreg.core.money import split_largest_remainder

            parts = split_largest_remainder(amount, weights)
            if all(x > 0 for x in parts):
                entry["lines"] = [line(h, f"{x:.2f}") for h, x in zip(a1, parts, strict=False)]
        allocations.append(entry)
    total = sum(D(a["amount"]) for a in allocations)
    r = put_allocations(world.vc_a1, p["id"], allocations)
    if total > D("15000.00"):
        assert r.status_code == 422 and any(k.endswith(".amount") for k in r.json["error"]["fields"])
        return
    assert r.status_code == 200, r.json
    body = world.auditor.get(f"/api/v1/plans/{p['id']}").json
    assert D(body["allocated"]) == total
    assert D(body["allocated"]) + D(body["unallocated"]) == D(body["available"])
    for a in body["allocations"]:
        if a["lines"]:
            assert sum(D(x["amount"]) for x in a["lines"]) == D(a["amount"]) == D(a["lines_total"])
    db.session.expire_all()
    stored = db.session.scalars(sa.select(PlanLine.amount)).all()
    assert sum(stored, D(0)) == sum((D(x["amount"]) for a in body["allocations"] for x in a["lines"]), D(0))


# --- fill helpers --------------------------------------------------------------------------------

def fill(client, plan, **body):
    return client.post(f"/api/v1/plans/{plan['id']}/fill", json=body)


def test_fill_preview_writes_nothing_and_apply_replaces_the_lines(world, a1, drafted):
    hs = a1
    put_allocations(world.vc_a1, drafted["id"], [{"purpose": "relief", "amount": "1000.00"}])
    before = counts()
    r = fill(world.vc_a1, drafted, purpose="relief", method="equal", household_ids=[hs[0].id, hs[1].id, hs[3].id])
    assert r.status_code == 200, r.json
    assert r.json["applied"] is False and r.json["fits"] is True
    assert [x["amount"] for x in r.json["lines"]] == ["333.34", "333.33", "333.33"]
    assert counts() == before
    assert world.auditor.post(f"/api/v1/plans/{drafted['id']}/fill", json={"purpose": "relief",
                                                                           "method": "equal"}).status_code == 200
    r = fill(world.vc_a1, drafted, purpose="relief", method="weights", apply=True)  # by members: all 1 → equal
    assert r.status_code == 200 and r.json["applied"] is True
    plan = world.vc_a1.get(f"/api/v1/plans/{drafted['id']}").json
    relief = plan["allocations"][0]
    assert len(relief["lines"]) == 5 and relief["lines_total"] == "1000.00"
    assert relief["lines"][0]["reason"] == "按家庭人口分配（1人）"
    assert world.auditor.post(f"/api/v1/plans/{drafted['id']}/fill",
                              json={"purpose": "relief", "method": "equal", "apply": True}).status_code == 403


def test_fill_by_members_and_by_given_weights(world, f, a1, drafted):
    big = households(f, world.village_a1, "monitored", members=4)[0]
    put_allocations(world.vc_a1, drafted["id"], [{"purpose": "awards", "amount": "100.00"}])
    r = fill(world.vc_a1, drafted, purpose="awards", method="weights", household_ids=[a1[0].id, big.id])
    assert [(x["household_id"], x["amount"]) for x in r.json["lines"]] == [(a1[0].id, "20.00"), (big.id, "80.00")]
    r = fill(world.vc_a1, drafted, purpose="awards", method="weights", apply=True,
             weights=[{"household_id": a1[1].id, "weight": "1"}, {"household_id": a1[2].id, "weight": "2"},
                      {"household_id": a1[3].id, "weight": "0"}])
    assert r.status_code == 200, r.json
    assert [(x["household_id"], x["amount"]) for x in r.json["lines"]] == [(a1[1].id, "33.33"), (a1[2].id, "66.67")]
    assert r.json["lines"][1]["reason"] == "按权重分配（2）"
    stranger = f.household(world.village_b1)
    r = fill(world.vc_a1, drafted, purpose="awards", method="weights",
             weights=[{"household_id": stranger.id, "weight": "1"}])
    assert r.status_code == 422 and "weights.0" in r.json["error"]["fields"]


def test_fill_by_tier_table_scaled_or_set(world, a1, drafted):
    tiers = [{"status": "monitored", "amount": "1500.00"}, {"status": "formerly_poor", "amount": "1000.00"}]
    put_allocations(world.vc_a1, drafted["id"], [{"purpose": "relief", "amount": "3000.00"}])
    r = fill(world.vc_a1, drafted, purpose="relief", method="tier", tiers=tiers)
    assert r.status_code == 200, r.json
    assert r.json["table_total"] == "3500.00" and r.json["total"] == "3000.00" and r.json["fits"]
    assert [x["amount"] for x in r.json["lines"]] == ["1285.72", "857.14", "857.14"]
    assert sorted(r.json["unmatched"]) == sorted([a1[3].id, a1[4].id])
    r = fill(world.vc_a1, drafted, purpose="relief", method="tier", tiers=tiers, set_amount=True, apply=True)
    assert r.status_code == 200, r.json
    assert r.json["allocation_amount"] == "3500.00" and [x["amount"] for x in r.json["lines"]] == [
        "1500.00", "1000.00", "1000.00"]
    plan = world.vc_a1.get(f"/api/v1/plans/{drafted['id']}").json
    assert plan["allocations"][0]["amount"] == "3500.00" and plan["allocated"] == "3500.00"
    # The table's total may not push the plan past what is available.
    r = fill(world.vc_a1, drafted, purpose="relief", method="tier", set_amount=True, apply=True,
             tiers=[{"amount": "5000.00"}])
    assert r.status_code == 422 and "allocations.0.amount" in r.json["error"]["fields"]


@pytest.mark.parametrize("body, field", [
    ({"purpose": "public_works", "method": "equal"}, "purpose"),
    ({"purpose": "relief", "method": "magic"}, "method"),
    ({"purpose": "awards", "method": "equal"}, "purpose"),  # no such allocation yet
    ({"purpose": "relief", "method": "tier"}, "tiers"),
    ({"purpose": "relief", "method": "tier", "tiers": [{"min_size": 5, "max_size": 2, "amount": "1.00"}]},
     "tiers.0.max_size"),
    ({"purpose": "relief", "method": "equal", "set_amount": True}, "set_amount"),
    ({"purpose": "relief", "method": "equal", "household_ids": [99999]}, "household_ids.0"),
    ({"purpose": "relief", "method": "equal", "household_ids": []}, "household_ids"),
    ({"purpose": "relief", "method": "equal", "statuses": ["rich"]}, "statuses"),
    ({"purpose": "relief", "method": "equal", "tiers": [{"amount": "1.00"}]}, "tiers"),
    ({"purpose": "relief", "method": "jobs", "household_ids": [1]}, "household_ids"),
    ({"purpose": "relief", "method": "tier", "tiers": [{"amount": "1.00"}], "weights": [
        {"household_id": 1, "weight": "1"}]}, "weights"),
])
def test_bad_fill_requests(world, a1, drafted, body, field):
    before = counts()
    r = fill(world.vc_a1, drafted, apply=True, **body)
    assert r.status_code == 422, r.json
    assert any(k.startswith(field) for k in r.json["error"]["fields"]), r.json
    assert counts() == before


def test_fill_refuses_amounts_too_small_for_everyone(world, a1, drafted):
    put_allocations(world.vc_a1, drafted["id"], [{"purpose": "relief", "amount": "0.04"}])
    r = fill(world.vc_a1, drafted, purpose="relief", method="equal")
    assert r.status_code == 422 and "purpose" in r.json["error"]["fields"]


# --- warnings ------------------------------------------------------------------------------------

def codes(plan):
    return sorted(w["code"] for w in plan["warnings"])


def test_equal_cash_to_every_household_is_warned(world, a1, drafted):
    put_allocations(world.vc_a1, drafted["id"], [{"purpose": "public_works", "amount": "8000.00"},
                                                 {"purpose": "awards", "amount": "1000.00"}])
    r = fill(world.vc_a1, drafted, purpose="awards", method="equal", apply=True)
    assert r.status_code == 200
    plan = world.vc_a1.get(f"/api/v1/plans/{drafted['id']}").json
    assert codes(plan) == ["EQUAL_CASH"]
    w = plan["warnings"][0]
    assert w["field"] == "allocations.1" and "一发了之" in w["message"]


def test_monitored_households_left_out_is_warned(world, a1, drafted):
    monitored, poor = a1[0], a1[1]
    r = put_allocations(world.vc_a1, drafted["id"], [{"purpose": "public_works", "amount": "8000.00"},
                                                     {"purpose": "relief", "amount": "500.00",
                                                      "lines": [line(poor, "500.00")]}])
    assert codes(r.json) == ["MONITORED_LEFT_OUT"] and r.json["warnings"][0]["basis"] == "P31"
    r = put_allocations(world.vc_a1, drafted["id"], [{"purpose": "public_works", "amount": "8000.00"},
                                                     {"purpose": "relief", "amount": "500.00",
                                                      "lines": [line(poor, "300.00"), line(monitored, "200.00")]}])
    assert codes(r.json) == []


def test_pv_share_low_is_a_warning_not_a_refusal(world, a1, drafted):
    r = put_allocations(world.vc_a1, drafted["id"], [{"purpose": "public_works", "amount": "7999.99"},
                                                     {"purpose": "reinvestment", "amount": "5000.00"}])
    assert r.status_code == 200 and codes(r.json) == ["PV_SHARE_LOW"]
    assert "8000.00" in r.json["warnings"][0]["message"]
    world.admin.put("/api/v1/policy", json={"pv_public_min_share": "0.50", "forbidden_uses": [],
                                            "min_notice_days": 10, "complaint_phone": "12317"})
    assert codes(world.vc_a1.get(f"/api/v1/plans/{drafted['id']}").json) == []


# --- county policy -------------------------------------------------------------------------------

def test_policy_defaults_and_county_admin_sets_it(world, today):
    r = world.vc_a1.get("/api/v1/policy")
    assert r.status_code == 200
    assert r.json["is_default"] is True and r.json["min_notice_days"] == 10
    assert r.json["pv_public_min_share"] == "0.8000" and r.json["complaint_phone"] == "12317"
    assert "修建楼堂馆所" in r.json["forbidden_uses"]
    body = {"pv_public_min_share": "0.85", "forbidden_uses": ["津贴 福利", "津贴福利", "偿还债务"],
            "min_notice_days": 15, "complaint_phone": "0745-7221234"}
    for c in (world.fin_a, world.vc_a1, world.auditor):
        assert c.put("/api/v1/policy", json=body).status_code == 403
    r = world.admin.put("/api/v1/policy", json=body)
    assert r.status_code == 200, r.json
    assert r.json["forbidden_uses"] == ["津贴福利", "偿还债务"] and r.json["is_default"] is False
    assert world.auditor.get("/api/v1/policy").json["min_notice_days"] == 15
    r = world.admin.put("/api/v1/policy", json={**body, "min_notice_days": 9})
    assert r.status_code == 422 and "min_notice_days" in r.json["error"]["fields"]
    r = world.admin.put("/api/v1/policy", json={**body, "pv_public_min_share": "1.01"})
    assert r.status_code == 422
    r = world.admin.put("/api/v1/policy", json={**body, "version": 0})
    assert r.status_code == 409
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "distribution_policy")).all()
    assert len(log) == 1 and log[0].after["min_notice_days"] == 15


# --- scope ---------------------------------------------------------------------------------------

def test_scope_of_reads(world, a1, drafted):
    pid = drafted["id"]
    for c in (world.vc_a1, world.fin_a, world.admin, world.auditor, world.auditor_a):
        assert c.get(f"/api/v1/plans/{pid}").status_code == 200
        assert [p["id"] for p in c.get("/api/v1/plans").json["items"]] == [pid]
    for c in (world.vc_b1, world.vc_a2, world.fin_b):
        r = c.get(f"/api/v1/plans/{pid}")
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
        assert c.get("/api/v1/plans").json["items"] == []
        assert c.get(f"/api/v1/plans/{pid}/steps").status_code == 404
    items = world.admin.get(f"/api/v1/plans?village_code={world.village_a1}&year=2024&status=draft").json
    assert items["total"] == 1 and items["items"][0]["village_name"] == "桃源村"
    assert world.admin.get("/api/v1/plans?year=2023").json["total"] == 0


def test_scope_of_writes(world, f, a1, drafted):
    settle(f, world, world.village_a2)
    r = world.vc_a1.post("/api/v1/plans", json={"village_code": world.village_a2, "year": 2024})
    assert r.status_code == 403 and r.json["error"]["code"] == "out_of_scope"
    for c, code in ((world.admin, "role_forbidden"), (world.fin_a, "role_forbidden"),
                    (world.auditor, "role_forbidden")):
        r = c.post("/api/v1/plans", json={"village_code": world.village_a2, "year": 2024})
        assert r.status_code == 403 and r.json["error"]["code"] == code
    pid = drafted["id"]
    writes = [("PUT", f"/api/v1/plans/{pid}/allocations", {"allocations": []}),
              ("PATCH", f"/api/v1/plans/{pid}", {"note": "x"}),
              ("POST", f"/api/v1/plans/{pid}/fill", {"purpose": "relief", "method": "equal", "apply": True}),
              ("POST", f"/api/v1/plans/{pid}/steps", {"kind": "proposal", "done_on": "2025-04-01", "minutes": "x"})]
    for c in (world.vc_b1, world.vc_a2, world.fin_b, world.auditor, world.auditor_a, world.admin, world.fin_a):
        for method, url, body in writes:
            r = c.open(method, url, json=body)
            assert r.status_code == 403, (c.user.username, method, url, r.status_code)
    assert world.vc_a1.get(f"/api/v1/plans/{pid}").json["version"] == drafted["version"]
    assert world.vc_b1.put("/api/v1/plans/999999/allocations", json={"allocations": []}).status_code == 404


def test_malformed_requests_never_500(world, a1, drafted):
    pid = drafted["id"]
    urls = ["/api/v1/plans", f"/api/v1/plans/{pid}", f"/api/v1/plans/{pid}/allocations", f"/api/v1/plans/{pid}/fill",
            f"/api/v1/plans/{pid}/steps", f"/api/v1/plans/{pid}/objections", f"/api/v1/plans/{pid}/objections/1/answer",
            "/api/v1/jobs", "/api/v1/jobs/1/attendance", "/api/v1/policy"]
    for url in urls:
        for method in ("POST", "PUT", "PATCH"):
            for raw in (b"{", b"[]", b"null", b'{"year": 1e400}', b'{"amount": NaN}', b"{\"x\": \"\\ud800\"}"):
                r = world.vc_a1.open(method, url, data=raw, headers={"Content-Type": "application/json"})
                assert r.status_code < 500, (method, url, raw, r.status_code)
    for q in ("year=abc", "year=99999999999", "status=nope", "village_code=" + "1" * 50, "page=0"):
        assert world.vc_a1.get("/api/v1/plans?" + q).status_code == 422


# --- the command line ----------------------------------------------------------------------------

def test_cli_plans_show(world, a1, drafted, runner):
    put_allocations(world.vc_a1, drafted["id"], [{"purpose": "public_works", "amount": "8000.00", "use": "道路"},
                                                 {"purpose": "relief", "amount": "1234.56",
                                                  "lines": [line(a1[0], "1000.00"), line(a1[1], "234.56")]}])
    result = runner.invoke(args=["plans", "show", "--village", world.village_a1, "--year", "2024"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "桃源村（431299100201）2024年度收益分配方案" in out and "草拟中" in out
    assert "1. 村级公益事业 [public_works]  （道路）" in out and "8,000.00" in out
    assert a1[0].number in out and "1,000.00" in out and "到户合计 2 户       1,234.56" in out
    assert "分配合计       9,234.56（玖仟贰佰叁拾肆元伍角陆分）" in out
    assert "未分配         5,765.44" in out
    result = runner.invoke(args=["plans", "show", "--village", world.village_b1, "--year", "2024"])
    assert result.exit_code != 0 and "没有" in result.output


def test_reading_a_plan_costs_the_same_whatever_its_size(world, f, a1, drafted, count_queries):
    def cost():
        with count_queries() as c:
            assert world.auditor.get(f"/api/v1/plans/{drafted['id']}").status_code == 200
        return c.count

    small = cost()
    more = households(f, world.village_a1, *["ordinary"] * 30)
    r = put_allocations(world.vc_a1, drafted["id"], [
        {"purpose": "relief", "amount": "3000.00", "lines": [line(h, "100.00") for h in more]},
        {"purpose": "awards", "amount": "500.00", "lines": [line(h, "100.00") for h in a1]}])
    assert r.status_code == 200, r.json
    assert cost() == small


def test_services_run_without_a_user_for_the_command_line_and_the_demo(world, a1):
    """``user`` None: no scope or role, logged as "system" (what the demo loader uses)."""
    from datetime import date as d

    from assetreg.distribution import services

    plan = services.create_plan(None, {"village_code": world.village_a1, "year": 2024})
    services.set_allocations(None, plan.id, [{"purpose": "public_works", "amount": D("8000.00")},
                                             {"purpose": "relief", "amount": D("100.00"),
                                              "lines": [{"household_id": a1[0].id, "amount": D("100.00")}]}])
    services.record_step(None, plan.id, {"kind": "proposal", "done_on": d(2025, 4, 1), "minutes": "提议"})
    db.session.commit()
    body = world.auditor.get(f"/api/v1/plans/{plan.id}").json
    assert body["status"] == "proposed" and body["allocated"] == "8100.00" and body["steps"][0]["actor_id"] is None
    actors = set(db.session.scalars(sa.select(ChangeLogEntry.actor_name).where(
        ChangeLogEntry.entity == "distribution_plan")))
    assert actors == {"system"}


@pytest.mark.committed  # requests in threads, each on a connection of its own
def test_concurrent_writers_of_one_plan(world, a1, drafted, app):
    """Two committees' clerks send the same version at once: one wins, the other gets 409 (PostgreSQL,
    where the writers really run side by side)."""
    import threading

    if db.engine.dialect.name != "postgresql":
        pytest.skip("needs concurrent connections")
    results = []

    def put(amount):
        r = put_allocations(world.vc_a1, drafted["id"], [{"purpose": "public_works", "amount": amount}],
                            version=drafted["version"])
        results.append((r.status_code, amount))

    threads = [threading.Thread(target=put, args=(a,)) for a in ("1000.00", "2000.00")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in results) == [200, 409]
    winner = next(a for code, a in results if code == 200)
    db.session.expire_all()
    assert [(a.purpose, str(a.amount)) for a in db.session.scalars(sa.select(PlanAllocation))] == [
        ("public_works", winner)]
