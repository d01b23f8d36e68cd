"""``flask policy``: POLICY.md's clauses P01–P36, each with what implements it and the tests that cover it;
the copy kept in the package matches the shared file. The last tests cover the registry clauses no other
test names (P01, P02, P18, P29, P33, P35)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.assets.models import CATEGORIES
from assetreg.changelog.models import ChangeLogEntry
from assetreg.custody.models import AssetCustody
from assetreg.distribution.models import JOB_POSTS
from assetreg.extensions import db
from assetreg.flags import policy
from assetreg.flags.policy_clauses import CLAUSES
from assetreg.rights.models import FIVE_RIGHTS

from .factories import COUNTY, VILLAGE_A1, credit_code
from .test_flags_rules import give_rights, make_asset

IDS = [f"P{n:02d}" for n in range(1, 37)]


def test_policy_prints_every_clause_with_its_implementation_and_tests(runner):
    out = runner.invoke(args=["policy"])
    assert out.exit_code == 0, out.output
    for cid in IDS:
        assert f"\n{cid}  [" in out.output, cid
    assert "P12  [000 §二(四)]  公益性资产要明确管护主体，落实管理责任" in out.output
    assert "预警规则 rules: CUSTODY_MISSING" in out.output
    assert "共 36 条，已实现且有测试 36 条" in out.output


def test_policy_check_and_json(runner):
    assert runner.invoke(args=["policy", "--check"]).exit_code == 0
    out = runner.invoke(args=["policy", "--format", "json"])
    data = json.loads(out.output)
    by = {c["id"]: c for c in data["clauses"]}
    assert list(by) == IDS
    assert by["P34"]["rules"] == ["SETTLEMENT_LATE"]
    assert any(x.startswith("assetreg/flags/rules.py:") for x in by["P34"]["code"])
    assert "tests/test_flags_rules.py::test_settlement_late_after_31_march" in by["P34"]["tests"]


def test_every_clause_has_an_implementation_and_a_test():
    clauses, _ = policy.clause_table()
    assert [c.id for c in clauses] == IDS
    missing = {c.id: (c.rules or c.code, c.tests) for c in clauses if not c.complete}
    assert not missing


def test_the_copy_is_the_shared_table_and_serves_without_it(tmp_path):
    if policy.SHARED_POLICY.is_file():
        assert policy.parse_policy(policy.SHARED_POLICY.read_text(encoding="utf-8")) == CLAUSES
    rows, source = policy.load_clauses(tmp_path / "no-such" / "POLICY.md")
    assert rows == CLAUSES and source == "assetreg/flags/policy_clauses.py"
    assert [r[0] for r in rows] == IDS


def test_basis_comments_are_found():
    code = policy.scan_code()
    assert any(loc.startswith("assetreg/custody/rules.py:") for loc in code["P12"])
    found = policy.scan_tests({"P12", "CUSTODY_MISSING"})
    assert "tests/test_flags_rules.py::test_custody_missing_for_public_welfare_in_use" in found["CUSTODY_MISSING"]


# --- clauses that only registry features carry ----------------------------------------------------------

def test_p01_asset_list_totals_count_every_asset(world, f, today):
    """P01: the asset list counts every asset and totals its original value (摸清资产底数)."""
    values = ["100000.00", "250000.50", "30000.25"]
    for v in values:
        f.asset(original_value=v)
    r = world.admin.get("/api/v1/lists/assets")
    assert r.status_code == 200, r.json
    assert r.json["total"] == 3
    assert sum(Decimal(i["original_value"]) for i in r.json["items"]) == sum(Decimal(v) for v in values)


def test_p02_operating_public_welfare_and_household_categories(world, f, today):
    """P02: assets are classed as operating, public-welfare or household assets."""
    assert list(CATEGORIES) == ["operating", "public_welfare", "household"]
    road = f.asset(category="public_welfare", subtype="道路")
    assert world.admin.get(f"/api/v1/assets/{road.id}").json["category_label"] == "公益性"


def test_p18_auditors_read_the_change_log_of_acknowledgements(world, f, today):
    """P18: every acknowledgement is in the change log, which auditors read and village committees do not."""
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    r = world.fin_a.post("/api/v1/flags/acknowledgements",
                         json={"rule_id": "CUSTODY_MISSING", "flag_key": f"asset:{road.id}", "reason": "正在补签"})
    assert r.status_code == 201
    log = world.auditor.get("/api/v1/changes?entity=flag_acknowledgement")
    assert log.status_code == 200 and log.json["total"] == 1
    assert log.json["items"][0]["actor_name"] == "fin_a"
    assert world.vc_a1.get("/api/v1/changes").status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry)
                             .where(ChangeLogEntry.entity == "flag_acknowledgement")) == 1


def test_p29_public_welfare_jobs_include_the_pv_station_keeper(world, f, today):
    """P29: public-welfare jobs include the PV station keeper (光伏电站管护员)."""
    assert "光伏电站管护员" in JOB_POSTS
    h = f.household(VILLAGE_A1)
    r = world.vc_a1.post("/api/v1/jobs", json={
        "village_code": VILLAGE_A1, "post": "光伏电站管护员", "household_id": h.id, "person_name": h.head_name,
        "monthly_wage": "600.00", "term_from": "2024-01-01", "term_to": "2024-12-31", "pay_cycle": "quarter"})
    assert r.status_code == 201, r.json
    assert r.json["post"] == "光伏电站管护员"


@pytest.fixture
def road_with_owner(world, f, today):
    road = make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare")
    give_rights(road, tuple(FIVE_RIGHTS))
    db.session.add(AssetCustody(county_code=COUNTY, asset_id=road.id, custodian_unit="桃源村股份经济合作社",
                                responsible_person="李四", annual_fund=Decimal("5000.00"), term_from=date(2020, 1, 1),
                                term_to=date(2030, 12, 31)))
    db.session.commit()
    return road


def test_p33_custody_follows_ownership_in_the_responsibility_list(world, road_with_owner):
    """P33: the responsibility list shows the owner and the custodian side by side."""
    r = world.admin.get(f"/api/v1/lists/responsibility?scope={VILLAGE_A1}")
    assert r.status_code == 200, r.json
    row = next(i for i in r.json["items"] if i["id"] == road_with_owner.id)
    assert row["ownership_holder"] == "桃源村股份经济合作社" == row["custodian_unit"]


def test_p35_county_company_runs_a_county_asset_by_entrustment(world, f, today):
    """P35: a county-level operating asset entrusted (委托经营) to a county company."""
    station = f.asset(place_code=COUNTY, managing_level="county", name="青溪县集中式光伏扶贫电站")
    r = world.admin.post(f"/api/v1/assets/{station.id}/operation", json={
        "mode": "entrusted", "operator_name": "青溪县乡村振兴投资开发有限公司",
        "operator_credit_code": credit_code(registry="91"), "contract_no": "QX-WT-2024-01",
        "term_from": "2024-01-01", "term_to": "2028-12-31"})
    assert r.status_code == 201, r.json
    rows = world.admin.get("/api/v1/lists/responsibility").json["items"]
    row = next(i for i in rows if i["id"] == station.id)
    assert row["operation_mode"] == "委托经营" and row["operator"] == "青溪县乡村振兴投资开发有限公司"
