"""The demo scope the list tests share (no tests here): assets in every kind of place, rights with
history, custody and operation, rules at three levels (one repealed, one not yet in force, one naming
a village), required kinds and documents at three levels. Plus the independent computations the tests
compare the lists with: plain queries and per-asset services, no code shared with lists/services.py."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa

from assetreg.assets.models import Asset, DepreciationPolicy
from assetreg.custody.models import AssetCustody, AssetOperation
from assetreg.extensions import db
from assetreg.lists.models import ArchiveDocument, Regulation, RegulationPlace, RequiredDocument
from assetreg.places.models import Place
from assetreg.rights.models import AssetRight

from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, credit_code

AS_OF = date(2025, 6, 30)
FIVE = ["market", "risk", "distribution", "depreciation", "disposal"]


def right(asset, kind, name, holder_kind="village_collective", effective_on=date(2021, 1, 1), ended_on=None):
    db.session.add(AssetRight(county_code=COUNTY, asset_id=asset.id, kind=kind, holder_kind=holder_kind,
                              holder_name=name, credit_code=credit_code(), effective_on=effective_on,
                              ended_on=ended_on))


def build(world, f) -> SimpleNamespace:
    """Build the scenario; the clock must already be frozen at 2025-06-30 (the ``today`` fixture)."""
    db.session.add_all([
        DepreciationPolicy(county_code=COUNTY, subtype="光伏电站", useful_life_years=20, residual_rate=Decimal("0.05")),
        DepreciationPolicy(county_code=COUNTY, subtype="道路", useful_life_years=10, residual_rate=Decimal("0")),
    ])
    db.session.commit()
    s = SimpleNamespace()
    s.pv = f.asset(code="QX-PV-01", name="桃源村光伏电站", original_value="1200000.00")
    s.road = f.asset(code="QX-RD-01", name="桃源村通组路", category="public_welfare", subtype="道路",
                     original_value="350000.55", completed_on=date(2021, 3, 15), status_on=date(2021, 4, 1))
    s.workshop = f.asset(code="QX-WS-01", name="柳林村扶贫车间", subtype="扶贫车间", place_code=VILLAGE_A2,
                         original_value="800000.00", useful_life_years=15, completed_on=date(2019, 12, 1),
                         status_on=date(2020, 1, 1))
    s.cold = f.asset(code="QX-CS-01", name="城关镇冷库", subtype="冷库仓储", place_code=TOWN_A, managing_level="town",
                     original_value="500000.01", completed_on=None, status="under_construction",
                     status_on=date(2025, 1, 1))
    s.water = f.asset(code="QX-WT-01", name="石门村饮水工程", category="public_welfare", subtype="饮水工程",
                      place_code=VILLAGE_B1, original_value="99999.99", completed_on=date(2018, 5, 1),
                      status_on=date(2018, 6, 1))
    s.county_road = f.asset(code="QX-RD-00", name="县道连接线", category="public_welfare", subtype="道路",
                            place_code=COUNTY, managing_level="county", original_value="2000000.00",
                            completed_on=date(2017, 1, 1), status_on=date(2017, 2, 1))
    h = f.household(VILLAGE_A1, head_name="张三")
    s.cattle = f.asset(code="QX-HH-01", name="能繁母牛", category="household", subtype="牲畜",
                       managing_level="household", household_id=h.id, original_value="12000.00",
                       completed_on=date(2022, 4, 1), status_on=date(2022, 4, 1))

    # Rights: the PV station has all five (and an ended ownership record that must not show).
    right(s.pv, "ownership", "旧权利人", effective_on=date(2020, 7, 1), ended_on=date(2021, 1, 1))
    for kind in ["ownership", "operation", "income", "disposal"]:
        right(s.pv, kind, "桃源村股份经济合作社")
    right(s.pv, "supervision", "青溪县乡村振兴局", holder_kind="county_department")
    right(s.road, "ownership", "桃源村股份经济合作社")
    right(s.road, "supervision", "青溪县交通运输局", holder_kind="county_department")
    db.session.add_all([
        AssetCustody(county_code=COUNTY, asset_id=s.road.id, custodian_unit="桃源村村委会", responsible_person="李四",
                     replaced_at=None),
        AssetCustody(county_code=COUNTY, asset_id=s.water.id, custodian_unit="旧管护单位", responsible_person="王五",
                     replaced_at=datetime(2024, 1, 1, tzinfo=UTC)),
        AssetOperation(county_code=COUNTY, asset_id=s.pv.id, mode="lease", operator_name="青溪新能源有限公司",
                       contract_no="HT-2021-01"),
    ])
    db.session.commit()

    # Rules at three levels, through the API by the role each level belongs to.
    def reg(client, issuer, category, effective_on, **over):
        body = {"title": f"{issuer}{category}管理办法", "doc_number": f"青政〔{effective_on[:4]}〕{len(issuer)}号",
                "issuer_code": issuer, "category": category, "effective_on": effective_on, **over}
        r = client.post("/api/v1/regulations", json=body)
        assert r.status_code == 201, r.json
        return r.json

    s.regs = [
        reg(world.admin, COUNTY, "market", "2021-01-01", subtypes=["光伏电站", "扶贫车间"]),
        reg(world.admin, COUNTY, "risk", "2021-01-01", repealed_on="2024-01-01"),
        reg(world.fin_a, TOWN_A, "distribution", "2022-01-01"),
        reg(world.vc_a1, VILLAGE_A1, "depreciation", "2023-01-01"),
        reg(world.admin, COUNTY, "disposal", "2022-06-01", place_codes=[VILLAGE_B1]),
        reg(world.admin, COUNTY, "custody", "2021-01-01"),
        reg(world.fin_b, TOWN_B, "risk", "2025-07-01"),
    ]
    r = world.admin.put("/api/v1/archive/required", json={"items": [
        {"status": "in_operation", "kind": "project_approval"},
        {"status": "in_operation", "kind": "acceptance"},
        {"status": "in_operation", "kind": "operation_contract"},
        {"status": "in_use", "category": "public_welfare", "kind": "custody_agreement"},
        {"status": "in_use", "kind": "acceptance"},
        {"status": "under_construction", "kind": "project_approval"},
    ]})
    assert r.status_code == 200, r.json

    def doc(client, level, kind, no, filed_on, **target):
        r = client.post("/api/v1/archive/documents", json={"level": level, "kind": kind, "archive_no": no,
                                                           "title": f"{kind}{no}", "filed_on": filed_on, **target})
        assert r.status_code == 201, r.json
        return r.json

    s.docs = [
        doc(world.admin, "county", "project_approval", "县-2020-001", "2020-03-01", asset_id=s.pv.id),
        doc(world.vc_a1, "village", "acceptance", "村-2020-001", "2020-08-01", asset_id=s.pv.id),
        doc(world.fin_a, "town", "operation_contract", "镇-2025-007", "2025-05-01", asset_id=s.pv.id),
        doc(world.fin_a, "town", "custody_agreement", "镇-2021-003", "2021-05-01", asset_id=s.road.id),
        doc(world.admin, "county", "acceptance", "县-2017-009", "2017-02-01", asset_id=s.county_road.id),
        doc(world.vc_a1, "village", "distribution_plan", "村-2024-002", "2024-12-20", place_code=VILLAGE_A1),
        doc(world.fin_b, "town", "acceptance", "镇-2018-001", "2018-06-01", asset_id=s.water.id),
    ]
    db.session.expire_all()
    return s


# --- independent computations (plain queries; per-asset services) --------------------------------

def in_scope(code_of, scope: str) -> bool:
    return code_of.startswith(scope)


def assets_in(scope: str) -> list[Asset]:
    """Assets whose own codes put them inside ``scope`` (compared as strings, not via SQL filters)."""
    out = []
    for a in db.session.scalars(sa.select(Asset).order_by(Asset.code)):
        deepest = a.village_code or a.town_code or a.county_code
        if deepest.startswith(scope):
            out.append(a)
    return out


def expected_asset_totals(user, scope: str, as_of: date) -> dict:
    from assetreg.assets.services import book_value

    total = {"count": 0, "original": Decimal(0), "book": Decimal(0)}
    by_cat, by_town, by_village = (defaultdict(lambda: [0, Decimal(0), Decimal(0)]) for _ in range(3))
    books = {}
    for a in assets_in(scope):
        bv = book_value(user, a.id, as_of).book_value
        books[a.code] = bv
        for bucket, key in [(by_cat, a.category), (by_town, a.town_code), (by_village, (a.town_code, a.village_code))]:
            bucket[key][0] += 1
            bucket[key][1] += a.original_value
            bucket[key][2] += bv
        total["count"] += 1
        total["original"] += a.original_value
        total["book"] += bv
    return {"total": total, "by_category": dict(by_cat), "by_town": dict(by_town), "by_village": dict(by_village),
            "books": books}


def expected_holders(asset_id: int) -> dict:
    rows = db.session.scalars(sa.select(AssetRight).where(AssetRight.asset_id == asset_id)).all()
    return {r.kind: r.holder_name for r in rows if r.ended_on is None}


def expected_missing_systems(scope: str, as_of: date) -> dict[str, list[str]]:
    """Per town and village in scope, the five systems no rule in force applies to: straight from the
    regulation and regulation-place tables."""
    regs = db.session.scalars(sa.select(Regulation)).all()
    named = defaultdict(list)
    for rp in db.session.scalars(sa.select(RegulationPlace)):
        named[rp.regulation_id].append(rp.place_code)
    out = {}
    for p in db.session.scalars(sa.select(Place).where(Place.level != "county").order_by(Place.code)):
        if not p.code.startswith(scope):
            continue
        covered = set()
        for r in regs:
            if not (r.effective_on <= as_of and (r.repealed_on is None or r.repealed_on > as_of)):
                continue
            roots = named[r.id] or [r.issuer_code]
            if any(p.code.startswith(root) for root in roots):
                covered.add(r.category)
        out[p.code] = [s for s in FIVE if s not in covered]
    return out


def expected_missing_documents(scope: str, as_of: date) -> dict[str, list[str]]:
    reqs = db.session.scalars(sa.select(RequiredDocument)).all()
    docs = db.session.scalars(sa.select(ArchiveDocument)).all()
    out = {}
    for a in assets_in(scope):
        required = {r.kind for r in reqs if r.status == a.status and r.category in (None, a.category)}
        filed = {d.kind for d in docs if d.asset_id == a.id and d.filed_on <= as_of}
        out[a.code] = sorted(required - filed)
    return out


def fetch_all(client, kind: str, scope: str, as_of: date = AS_OF, per_page: int = 2) -> tuple[list, dict]:
    """Page through a list and return (all rows, the last response body)."""
    rows, page = [], 1
    while True:
        r = client.get(f"/api/v1/lists/{kind}?scope={scope}&as_of={as_of}&page={page}&per_page={per_page}")
        assert r.status_code == 200, r.json
        rows += r.json["items"]
        if page * per_page >= r.json["total"]:
            return rows, r.json
        page += 1


def tomorrow(d: date) -> date:
    return d + timedelta(days=1)
