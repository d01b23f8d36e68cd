"""Helpers shared by the tests/test_distribution_*.py files: a settled village year, households, plans."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from assetreg.distribution.models import (
    DistributionPlan,
    JobAttendance,
    PlanAllocation,
    PlanLine,
    PlanObjection,
    PlanStep,
    PublicJob,
)
from assetreg.extensions import db

TABLES = (DistributionPlan, PlanAllocation, PlanLine, PlanStep, PlanObjection, PublicJob, JobAttendance)


def counts() -> dict:
    """Row counts of every distribution table (and the change log): to prove nothing was half-written."""
    from assetreg.changelog.models import ChangeLogEntry

    db.session.expire_all()
    out = {m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in TABLES}
    out["change_log"] = db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry))
    return out


def settle(f, world, village: str, year: int = 2024, *, pv: str = "0", other: str = "0", costs: str = "0",
           settled_on: date = date(2025, 3, 15)):
    """Give ``village`` a PV station earning ``pv`` and a workshop earning ``other`` (less ``costs``) in
    ``year``, and settle the year. Returns the settlement."""
    from assetreg.income.services import post_entry, settle_year
    from assetreg.users.models import User

    admin = db.session.scalar(sa.select(User).where(User.role == "county_admin"))
    if Decimal(pv):
        station = f.asset(place_code=village, subtype="光伏电站")
        post_entry(admin, station.id, {"direction": "income", "kind": "electricity", "period_year": year,
                                       "received_on": date(year, 12, 20), "amount": Decimal(pv)})
    if Decimal(other) or Decimal(costs):
        shop = f.asset(place_code=village, subtype="扶贫车间")
        if Decimal(other):
            post_entry(admin, shop.id, {"direction": "income", "kind": "rent", "period_year": year,
                                        "received_on": date(year, 12, 20), "amount": Decimal(other)})
        if Decimal(costs):
            post_entry(admin, shop.id, {"direction": "deduction", "kind": "maintenance", "period_year": year,
                                        "received_on": date(year, 12, 20), "amount": Decimal(costs)})
    s = settle_year(None, place_code=village, year=year, settled_on=settled_on)
    db.session.commit()
    return s


def households(f, village: str, *statuses: str, members: int = 1, labour: str = "full") -> list:
    """Households of ``village``, one per status given ("monitored" gets a monitor type)."""
    from assetreg.households.models import HouseholdMember

    out = []
    for status in statuses:
        h = f.household(village, status=status, monitor_type="unstable" if status == "monitored" else None)
        h.members[0].labour = labour
        for k in range(members - 1):
            h.members.append(HouseholdMember(county_code=h.county_code, name=f"{h.head_name}家{k}", relation="子女",
                                             labour=labour))
        db.session.commit()
        out.append(h)
    return out


def new_plan(client, village: str, year: int = 2024, **over):
    r = client.post("/api/v1/plans", json={"village_code": village, "year": year, **over})
    assert r.status_code == 201, r.json
    return r.json


def put_allocations(client, plan_id: int, allocations: list[dict], **extra):
    return client.put(f"/api/v1/plans/{plan_id}/allocations", json={"allocations": allocations, **extra})


def line(h, amount: str, **over) -> dict:
    return {"household_id": h.id, "amount": amount, **over}


MEETING = {"members_due": 30, "members_present": 25, "members_in_favour": 20}


def village_steps(start: date = date(2025, 4, 1)) -> list[dict]:
    """The five village steps before the town review, a day apart."""
    from datetime import timedelta

    kinds = ["proposal", "consultation", "party_meeting", "representatives_meeting", "resolution_published"]
    out = []
    for i, kind in enumerate(kinds):
        step = {"kind": kind, "done_on": (start + timedelta(days=i)).isoformat(), "minutes": f"{kind} 记录"}
        if kind in ("party_meeting", "representatives_meeting"):
            step.update(MEETING)
        out.append(step)
    return out


def run_to(world, plan_id: int, kind: str, *, notice=("2025-05-01", "2025-05-10")):
    """Record every step not yet done up to and including ``kind`` with valid data, each by its proper role."""
    steps = village_steps() + [
        {"kind": "town_review", "done_on": "2025-04-20", "minutes": "经审核，同意公示"},
        {"kind": "notice", "notice_start_on": notice[0], "notice_end_on": notice[1], "minutes": "村务公开栏"},
        {"kind": "approval", "done_on": "2025-05-20", "minutes": "公示期满无异议"},
        {"kind": "county_filing", "done_on": "2025-05-25", "minutes": "已备案"},
        {"kind": "payment", "done_on": "2025-06-01", "payment_method": "一卡通"},
        {"kind": "result_published", "done_on": "2025-06-10", "minutes": "结果已公开"},
    ]
    who = {"town_review": world.fin_a, "county_filing": world.admin}
    done = {s["kind"] for s in world.auditor.get(f"/api/v1/plans/{plan_id}/steps").json}
    for step in [s for s in steps if s["kind"] not in done]:
        r = who.get(step["kind"], world.vc_a1).post(f"/api/v1/plans/{plan_id}/steps", json=step)
        assert r.status_code == 201, (step["kind"], r.json)
        if step["kind"] == kind:
            return r.json
    raise AssertionError(kind)
