"""The four lists (basis: P05) as JSON and pages: each matches an independent computation from the
database; scope, paging, bad input and the query count."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from assetreg.lists.models import DOCUMENT_KINDS, FIVE_SYSTEMS

from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .test_lists_scenario import (
    AS_OF,
    assets_in,
    build,
    expected_asset_totals,
    expected_holders,
    expected_missing_documents,
    expected_missing_systems,
    fetch_all,
)

KINDS = ["assets", "responsibility", "regulations", "archive"]


@pytest.fixture
def s(world, f, today):
    return build(world, f)


def D(v):
    return Decimal(v)


# --- 资产清单 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scope, client", [(COUNTY, "admin"), (TOWN_A, "fin_a"), (VILLAGE_A1, "vc_a1"),
                                           (TOWN_B, "auditor"), (VILLAGE_A2, "auditor_a")])
def test_asset_list_matches_independent_totals(world, s, scope, client):
    c = getattr(world, client)
    rows, body = fetch_all(c, "assets", scope)
    exp = expected_asset_totals(c.user, scope, AS_OF)
    assert [r["code"] for r in rows] == [a.code for a in assets_in(scope)]
    assert {r["code"]: D(r["book_value"]) for r in rows} == exp["books"]
    t = body["totals"]
    assert (t["count"], D(t["original_value"]), D(t["book_value"])) == (
        exp["total"]["count"], exp["total"]["original"], exp["total"]["book"])
    assert {g["category"]: [g["count"], D(g["original_value"]), D(g["book_value"])] for g in t["by_category"]} \
        == exp["by_category"]
    assert {g["town_code"]: [g["count"], D(g["original_value"]), D(g["book_value"])] for g in t["by_town"]} \
        == exp["by_town"]
    assert {(g["town_code"], g["village_code"]): [g["count"], D(g["original_value"]), D(g["book_value"])]
            for g in t["by_village"]} == exp["by_village"]
    # The parts add up to the whole, to the fen.
    assert sum(D(g["book_value"]) for g in t["by_village"]) == D(t["book_value"])
    for r in rows:
        held = expected_holders(r["id"])
        assert (r["ownership_holder"], r["operation_holder"], r["income_holder"]) == (
            held.get("ownership"), held.get("operation"), held.get("income"))


def test_asset_list_values_by_hand(world, s):
    rows, body = fetch_all(world.admin, "assets", COUNTY, per_page=50)
    by = {r["code"]: r for r in rows}
    # 1,200,000 PV, life 20 y, residual 5%: 60 of 240 months → 1,140,000 × 60/240 written off.
    assert by["QX-PV-01"]["book_value"] == "915000.00"
    assert by["QX-CS-01"]["book_value"] == "500000.01"  # not completed: no depreciation
    assert by["QX-PV-01"]["ownership_holder"] == "桃源村股份经济合作社"  # the ended record is not shown
    assert by["QX-HH-01"]["income_holder"] == "张三"
    assert by["QX-RD-00"]["town_name"] is None and by["QX-CS-01"]["village_name"] is None
    assert body["totals"]["original_value"] == "4962000.55"
    assert {g["town_name"] for g in body["totals"]["by_town"]} == {"县本级", "城关镇", "白石乡"}
    assert {g["village_name"] for g in body["totals"]["by_village"]} >= {"县本级", "乡镇本级", "桃源村"}


def test_asset_list_pages_are_slices_of_the_whole_list_with_its_totals(world, s):
    """A page builds only its own rows, yet every page carries the totals of the whole scope."""
    from assetreg.lists.services import asset_list

    whole = asset_list(world.admin.user, scope=COUNTY, as_of=AS_OF, per_page=None)
    assert whole["total"] == len(whole["items"]) == whole["totals"]["count"] > 3
    assert sum(r["book_value"] for r in whole["items"]) == whole["totals"]["book_value"]
    for page in (1, 2, 3):
        body = world.admin.get(f"/api/v1/lists/assets?scope={COUNTY}&as_of={AS_OF}&page={page}&per_page=3").json
        assert [r["code"] for r in body["items"]] == [r["code"] for r in whole["items"][(page - 1) * 3:page * 3]]
        assert body["total"] == whole["total"]
        assert body["totals"]["book_value"] == f"{whole['totals']['book_value']:.2f}"
        assert body["totals"]["by_village"] == [{**g, "original_value": f"{g['original_value']:.2f}",
                                                 "book_value": f"{g['book_value']:.2f}"}
                                                for g in whole["totals"]["by_village"]]


def test_book_value_follows_the_as_of_date(world, s):
    early, _ = fetch_all(world.admin, "assets", COUNTY, as_of=date(2020, 6, 30), per_page=50)
    later, _ = fetch_all(world.admin, "assets", COUNTY, as_of=date(2025, 6, 30), per_page=50)
    pv = [r for r in early if r["code"] == "QX-PV-01"][0]
    assert pv["book_value"] == "1200000.00"
    assert D([r for r in later if r["code"] == "QX-PV-01"][0]["book_value"]) < D("1200000.00")


# --- 责任清单 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scope", [COUNTY, TOWN_A, VILLAGE_B1])
def test_responsibility_list_matches_the_database(world, s, scope):
    rows, body = fetch_all(world.admin, "responsibility", scope)
    assert [r["code"] for r in rows] == [a.code for a in assets_in(scope)]
    complete = 0
    for r in rows:
        held = expected_holders(r["id"])
        for kind in ["ownership", "operation", "income", "disposal", "supervision"]:
            assert r[f"{kind}_holder"] == held.get(kind)
        assert r["supervising_department"] == held.get("supervision")  # basis: P15
        complete += len({"ownership", "operation", "income", "disposal", "supervision"} & set(held)) == 5
    assert body["totals"]["rights_complete"] == complete


def test_responsibility_list_custody_and_operation(world, s):
    rows, body = fetch_all(world.admin, "responsibility", COUNTY, per_page=50)
    by = {r["code"]: r for r in rows}
    assert (by["QX-RD-01"]["custodian_unit"], by["QX-RD-01"]["custodian_person"]) == ("桃源村村委会", "李四")
    assert by["QX-WT-01"]["custodian_unit"] is None  # only a replaced record: no current custodian
    assert (by["QX-PV-01"]["operator"], by["QX-PV-01"]["operation_mode"]) == ("青溪新能源有限公司", "承包租赁")
    assert by["QX-PV-01"]["supervising_department"] == "青溪县乡村振兴局"
    assert by["QX-RD-01"]["rights_missing"] == ["经营权", "收益权", "处置权"]
    assert body["totals"] == {"count": 7, "rights_complete": 2, "with_custodian": 1, "with_operator": 1}


# --- 制度清单 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("scope, as_of", [(COUNTY, AS_OF), (TOWN_A, AS_OF), (VILLAGE_B1, AS_OF),
                                          (COUNTY, date(2023, 6, 30)), (COUNTY, date(2025, 7, 1))])
def test_missing_systems_match_the_database(world, s, scope, as_of):
    _, body = fetch_all(world.admin, "regulations", scope, as_of=as_of)
    assert {c["code"]: c["missing"] for c in body["coverage"]} == expected_missing_systems(scope, as_of)
    assert body["totals"]["places_lacking"] == sum(1 for c in body["coverage"] if c["missing"])


def test_missing_systems_by_hand(world, s):
    _, body = fetch_all(world.admin, "regulations", COUNTY)
    got = {c["code"]: c["missing"] for c in body["coverage"]}
    assert got == {
        TOWN_A: ["risk", "depreciation", "disposal"],
        VILLAGE_A1: ["risk", "disposal"],  # its own depreciation rule, the town's distribution rule
        VILLAGE_A2: ["risk", "depreciation", "disposal"],
        TOWN_B: ["risk", "distribution", "depreciation", "disposal"],  # its risk rule starts tomorrow
        VILLAGE_B1: ["risk", "distribution", "depreciation"],  # the county's disposal rule names it
    }
    labels = {c["code"]: c["missing_labels"] for c in body["coverage"]}
    assert labels[VILLAGE_A1] == [FIVE_SYSTEMS["risk"], FIVE_SYSTEMS["disposal"]]


def test_rules_in_force_by_level_and_scope(world, s):
    rows, body = fetch_all(world.admin, "regulations", COUNTY, per_page=50)
    # In force on 2025-06-30: not the repealed county risk rule, not town B's rule of 2025-07-01.
    assert [(r["level"], r["category"]) for r in rows] == [
        ("county", "market"), ("county", "custody"), ("county", "disposal"), ("town", "distribution"),
        ("village", "depreciation")]
    assert body["totals"]["by_level"] == {"county": 3, "town": 1, "village": 1}
    market = rows[0]
    assert market["subtypes"] == ["光伏电站", "扶贫车间"] and market["issuer_name"] == "青溪县"
    assert market["effective_on"] == "2021-01-01" and market["doc_number"].startswith("青政")
    # A village's list: the county's rules that reach it, its town's, its own — not the other town's.
    rows, _ = fetch_all(world.vc_a1, "regulations", VILLAGE_A1, per_page=50)
    assert [(r["level"], r["category"]) for r in rows] == [
        ("county", "market"), ("county", "custody"), ("town", "distribution"), ("village", "depreciation")]
    rows, _ = fetch_all(world.vc_b1, "regulations", VILLAGE_B1, per_page=50)
    assert ("county", "disposal") in [(r["level"], r["category"]) for r in rows]
    rows, _ = fetch_all(world.admin, "regulations", COUNTY, as_of=date(2023, 6, 30), per_page=50)
    assert ("county", "risk") in [(r["level"], r["category"]) for r in rows]


# --- 三级档案清单 --------------------------------------------------------------------------------

@pytest.mark.parametrize("scope, as_of", [(COUNTY, AS_OF), (TOWN_A, AS_OF), (VILLAGE_A1, date(2025, 4, 30)),
                                          (TOWN_B, AS_OF)])
def test_missing_documents_match_the_database(world, s, scope, as_of):
    rows, body = fetch_all(world.admin, "archive", scope, as_of=as_of)
    expected = expected_missing_documents(scope, as_of)
    assert {r["code"]: sorted(r["missing"]) for r in rows} == expected
    assert body["totals"]["assets_missing"] == sum(1 for v in expected.values() if v)
    assert body["totals"]["missing_documents"] == sum(len(v) for v in expected.values())


def test_archive_list_by_hand(world, s):
    rows, body = fetch_all(world.admin, "archive", COUNTY, per_page=50)
    by = {r["code"]: r for r in rows}
    pv = by["QX-PV-01"]
    assert [(d["level"], d["archive_no"], d["kind"]) for d in pv["documents"]] == [
        ("county", "县-2020-001", "project_approval"), ("town", "镇-2025-007", "operation_contract"),
        ("village", "村-2020-001", "acceptance")]
    assert pv["missing"] == []
    assert by["QX-RD-01"]["missing"] == ["acceptance"]  # in use: acceptance for all, custody for public welfare
    assert by["QX-CS-01"]["missing_labels"] == [DOCUMENT_KINDS["project_approval"]]
    assert by["QX-WS-01"]["missing"] == ["project_approval", "acceptance", "operation_contract"]
    assert body["totals"]["documents"] == 6
    assert body["totals"]["documents_by_level"] == {"county": 2, "town": 3, "village": 1}
    assert [d["archive_no"] for d in body["place_documents"]] == ["村-2024-002"]
    # As of before the contract was filed, it is missing.
    rows, _ = fetch_all(world.admin, "archive", VILLAGE_A1, as_of=date(2025, 4, 30), per_page=50)
    assert {r["code"]: r["missing"] for r in rows}["QX-PV-01"] == ["operation_contract"]


# --- scope, paging and bad input -----------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_scope_outside_own_is_not_found(world, s, kind):
    for client, scope in [(world.vc_a1, TOWN_A), (world.vc_a1, VILLAGE_A2), (world.fin_a, TOWN_B),
                          (world.fin_a, VILLAGE_B1), (world.fin_a, COUNTY), (world.auditor_a, COUNTY),
                          (world.admin, "999999"), (world.admin, "431299999"), (world.admin, "110101")]:
        r = client.get(f"/api/v1/lists/{kind}?scope={scope}")
        assert r.status_code == 404, (kind, client.user.username, scope, r.status_code)
        assert r.json["error"]["code"] == "not_found"
        r = client.get(f"/lists/{kind}?scope={scope}")
        assert r.status_code == 404
    r = world.vc_a1.get(f"/api/v1/lists/{kind}")  # default: the user's own scope
    assert r.status_code == 200 and r.json["scope"]["code"] == VILLAGE_A1


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_query_never_500(world, s, kind):
    bad = ["scope=abc", "scope=" + "9" * 5000, "scope=", "as_of=2025-02-30", "as_of=x", "page=0", "page=-1",
           "per_page=100000", "per_page=x", "page=99999999999999999999", "scope=%00", "scope=４３１２９９",
           "as_of=99999-01-01"]
    for q in bad:
        for url in [f"/api/v1/lists/{kind}?{q}", f"/lists/{kind}?{q}", f"/lists/export.xlsx?{q}"]:
            r = world.admin.get(url)
            assert 400 <= r.status_code < 500, (url, r.status_code)
    r = world.admin.get(f"/api/v1/lists/{kind}?page=999")
    assert r.status_code == 200 and r.json["items"] == []


def test_lists_need_login(client):
    assert client.get("/api/v1/lists/assets").status_code == 401
    r = client.get("/lists/assets")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/lists/export.xlsx").status_code == 302


@pytest.mark.parametrize("kind", KINDS)
def test_query_count_is_constant(world, f, today, count_queries, kind):
    from .test_lists_scenario import right

    def add(n):
        for _ in range(n):
            a = f.asset()
            right(a, "ownership", "某合作社")
        from assetreg.extensions import db

        db.session.commit()

    add(3)
    with count_queries() as few:
        assert world.admin.get(f"/api/v1/lists/{kind}?per_page=500").status_code == 200
    with count_queries() as few_page:
        assert world.admin.get(f"/lists/{kind}").status_code == 200
    add(12)
    with count_queries() as many:
        assert world.admin.get(f"/api/v1/lists/{kind}?per_page=500").status_code == 200
    with count_queries() as many_page:
        assert world.admin.get(f"/lists/{kind}").status_code == 200
    assert many.count == few.count, many.statements
    assert many_page.count == few_page.count
    assert few.count <= 12


# --- pages --------------------------------------------------------------------------------------

def test_pages_show_the_lists(world, s):
    r = world.admin.get(f"/lists/assets?scope={TOWN_A}&as_of=2025-06-30")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "资产清单" in html and "QX-PV-01" in html and "915,000.00" in html
    assert "QX-WT-01" not in html  # other town
    html = world.vc_a1.get("/lists/responsibility").get_data(as_text=True)
    assert "青溪县乡村振兴局" in html and "李四" in html
    html = world.admin.get("/lists/regulations").get_data(as_text=True)
    assert "资产防风险" in html and "石门村" in html
    html = world.admin.get("/lists/archive").get_data(as_text=True)
    assert "县-2020-001" in html and "村-2024-002" in html
    html = world.auditor.get("/lists").get_data(as_text=True)
    assert "/lists/export.xlsx" in html and "三级档案清单" in html
