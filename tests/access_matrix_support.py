"""The objects the access matrix (tests/test_access_matrix.py) fills URL parameters and bodies with.

``Site``: one village with one of everything a URL can name (asset, household, entry, settlement, plan,
objection, public job, audit, inspection, problem, disposal, document, file, regulation, export job,
staged import). The matrix builds the site every caller may touch (village A1 of the test world) and the
one the caller may not (its "out" site): village A2 for a village committee, village B1 of the other town
for the town-level roles, village 431298100201 of a neighbouring county for the county-level roles.

Every site's objects carry a marker (``Site.marker``) in their names and codes; no answer to a caller may
ever contain the marker of its out site (a leak even when the status looks right).
"""

from __future__ import annotations

import hashlib
import io
import itertools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import SimpleNamespace

from assetreg.core.time import now_utc
from assetreg.extensions import db

from .factories import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, Client, Factory, id_number
from .imports_support import ASSET_HEADERS, table, xlsx
from .imports_support import asset as asset_row

OTHER_COUNTY, OTHER_TOWN, OTHER_VILLAGE = "431298", "431298100", "431298100201"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_n = itertools.count(1)


def pdf_upload(tag: str = "") -> dict:
    """A fresh multipart body with a small PDF (a stream is consumed by one request)."""
    return {"file": (io.BytesIO(PDF + tag.encode()), f"matrix{tag}.pdf")}


def ok(r, *codes):
    assert r.status_code in (codes or (200, 201, 202)), (r.status_code, r.get_json(silent=True))
    return r.get_json(silent=True)


@dataclass
class Site:
    """One village's objects (ids), all made through the API or the services as users make them."""

    village: str
    town: str
    county: str
    sibling: str  # another village of the same county (a successor for a withdrawal)
    marker: str
    admin: Client  # the county admin of the site's county
    committee: Client  # the site's village committee
    peer: Client  # a user whose own things (export jobs, staged imports) lie in this site's scope
    ids: dict = field(default_factory=dict)

    def __getattr__(self, name):
        ids = self.__dict__.get("ids", {})
        if name in ids:
            return ids[name]
        raise AttributeError(name)


def other_county(f: Factory, world) -> SimpleNamespace:
    """A neighbouring county with one town and one village, its admin and its village committee."""
    f.place(OTHER_COUNTY, "邻县", "county")
    f.place(OTHER_TOWN, "邻镇", "town", OTHER_COUNTY)
    f.place(OTHER_VILLAGE, "邻村", "village", OTHER_TOWN)
    out = SimpleNamespace(users={})
    for name, role, scope in (("admin_x", "county_admin", OTHER_COUNTY),
                              ("vc_x", "village_committee", OTHER_VILLAGE)):
        user, token = f.user(name, role, scope)
        out.users[name] = user
        setattr(out, name, Client(world.http, token, user))
    return out


def build_site(f: Factory, world, village: str) -> Site:
    from assetreg.distribution.models import DistributionPlan, PlanObjection
    from assetreg.income.services import settle_year
    from assetreg.users.models import User

    if village.startswith(OTHER_COUNTY):
        x = getattr(world, "other", None) or other_county(f, world)
        world.other = x
        admin, committee, peer, sibling = x.admin_x, x.vc_x, x.admin_x, VILLAGE_A1
    else:
        committee = {VILLAGE_A1: world.vc_a1, VILLAGE_A2: world.vc_a2, VILLAGE_B1: world.vc_b1}[village]
        peer = {VILLAGE_A1: world.fin_a, VILLAGE_A2: world.vc_a2, VILLAGE_B1: world.fin_b}[village]
        admin, sibling = world.admin, (VILLAGE_A2 if village == VILLAGE_A1 else VILLAGE_A1)
    marker = f"MK{village}"
    site = Site(village=village, town=village[:9], county=village[:6], sibling=sibling, marker=marker,
                admin=admin, committee=committee, peer=peer)
    ids = site.ids
    admin_user = db.session.get(User, admin.user.id)

    # Assets: an operating PV station in operation (most URLs), an idle store (a disposal on it).
    pv = f.asset(actor=admin_user, code=f"{marker}-PV", name=f"光伏电站{marker}", place_code=village)
    store = f.asset(actor=admin_user, code=f"{marker}-LK", name=f"冷库{marker}", subtype="冷库仓储", status="idle",
                    status_on=date(2024, 5, 1), place_code=village)
    ids.update(asset=pv.id, store=store.id, asset_code=pv.code)
    household = f.household(village, number=f"H{marker}", head_name=f"户主{marker}")
    ids.update(household=household.id, household_head=household.head_name)

    # Income of 2024 on the station, settled; a 2024 plan drafted on it; an objection to it.
    entry = ok(admin.post(f"/api/v1/assets/{pv.id}/income", json={
        "direction": "income", "kind": "electricity", "period_year": 2024, "period_month": 12,
        "received_on": "2024-12-20", "amount": "12000.00", "payer": "供电公司", "voucher_no": f"{marker}-V1"}))
    ids["entry"] = entry["id"]
    settlement = settle_year(None, place_code=village, year=2024, settled_on=date(2025, 3, 15))
    db.session.commit()
    ids["settlement"] = settlement.id
    plan = ok(committee.post("/api/v1/plans", json={"village_code": village, "year": 2024, "note": marker}))
    ids["plan"] = plan["id"]
    row = db.session.get(DistributionPlan, plan["id"])
    objection = PlanObjection(county_code=row.county_code, plan_id=row.id, raised_on=date(2025, 5, 2),
                              raised_by="村民", content=f"异议{marker}", recorded_at=now_utc())
    db.session.add(objection)
    db.session.commit()
    ids["objection"] = objection.id
    job = ok(committee.post("/api/v1/jobs", json={
        "village_code": village, "post": "保洁员", "household_id": household.id, "person_name": household.head_name,
        "monthly_wage": "500.00", "term_from": "2025-01-01", "note": marker}))
    ids["job"] = job["id"]

    # Oversight: an audit of the station, an inspection of the town, a problem, a disposal of the store.
    audit = ok(admin.post("/api/v1/audits", json={
        "asset_id": pv.id, "year": 2024, "auditor": "县审计局", "audited_on": "2025-03-20", "conclusion": "basic_pass",
        "findings": f"发现{marker}"}))
    ids["audit"] = audit["id"]
    inspection = ok(admin.post("/api/v1/inspections", json={
        "town_code": village[:9], "year": 2025 if village != VILLAGE_A2 else 2024, "quarter": 1, "inspected_on": "2025-03-25", "inspector": "县纪委",
        "findings": f"检查{marker}"}))
    ids["inspection"] = inspection["id"]
    problem = ok(admin.post("/api/v1/problems", json={
        "source": "complaint", "asset_id": pv.id, "description": f"围栏破损{marker}",
        "responsible_unit": "村委会", "responsible_person": "张三", "raised_on": "2025-04-01",
        "deadline": "2025-07-31"}))
    ids["problem"] = problem["id"]
    disposal = ok(admin.post("/api/v1/disposals", json={
        "asset_id": store.id, "grounds": "idle_inefficient", "method": "auction", "reason": f"闲置{marker}",
        "requested_on": "2025-03-01"}))
    ids["disposal"] = disposal["id"]

    # Archive: a stored file filed with a document of the station; a regulation of the village.
    stored = ok(admin.post("/api/v1/files", data=pdf_upload(marker), content_type="multipart/form-data"))
    ids["file"] = stored["id"]
    document = ok(admin.post("/api/v1/archive/documents", json={
        "asset_id": pv.id, "level": "village", "kind": "acceptance", "archive_no": f"{marker}-DA1",
        "title": f"验收报告{marker}", "filed_on": "2025-01-10", "file_id": stored["id"]}))
    ids["document"] = document["id"]
    regulation = ok(admin.post("/api/v1/regulations", json={
        "title": f"资产管护制度{marker}", "issuer_code": village, "category": "custody", "effective_on": "2024-01-01"}))
    ids["regulation"] = regulation["id"]

    # The peer's finished export job and staged import (theirs alone: nobody else may follow them).
    ids["export_job"] = export_job(peer.user, village)
    ids["staged"] = staged_import(peer.user, village, marker)
    return site


def export_job(user, scope: str) -> int:
    """A finished ledger export of ``user`` with its file on disk (as the worker leaves it)."""
    from flask import current_app

    from assetreg.exports.models import ExportJob
    from assetreg.users.models import User

    user = db.session.get(User, user.id)
    job = ExportJob(county_code=user.county_code, user_id=user.id, kind="ledger", status="done", progress=100,
                    rows_written=1, total_rows=1,
                    params={"scope": scope, "year_from": 2024, "year_to": 2024, "unmasked": user.role == "auditor",
                            "role": user.role},
                    created_at=now_utc(), finished_at=now_utc())
    db.session.add(job)
    db.session.flush()
    content = b"PK matrix export " + str(job.id).encode()
    rel = f"{user.county_code}/{job.id}-matrix.xlsx"
    path = Path(current_app.config["EXPORT_DIR"]) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    job.file_path, job.file_sha256 = rel, hashlib.sha256(content).hexdigest()
    db.session.commit()
    return job.id


def staged_import(user, village: str, tag: str) -> str:
    """An asset workbook ``user`` has checked on the import page (kept for its commit): its upload id."""
    from assetreg.imports import staging
    from assetreg.users.models import User

    user = db.session.get(User, user.id)
    content = xlsx(table(ASSET_HEADERS, [asset_row(f"IMP{village}-{tag}-{next(_n)}",
                                                   **{"所在区划代码": village})]))
    # kept as the page's dry run keeps it (for any role: the commit checks the role again)
    return staging._stage(user, content, "matrix.xlsx")


def import_workbook(village: str) -> bytes:
    """One asset row at ``village`` (its code carries no site marker: the report echoes it)."""
    return xlsx(table(ASSET_HEADERS, [asset_row(f"UP{village}-{next(_n)}", **{"所在区划代码": village})]))


def new_id_number() -> str:
    """A valid ID number (GB 11643 check digit) not used before in this run."""
    return id_number()
