"""Flags through the API, the page, the XLSX and the CLI: filters and paging, dashboard counts, the rule
catalogue, acknowledgements (roles, scope, refusals leave nothing behind), and no 500 on odd input."""

from __future__ import annotations

import io
import json
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.oversight.models import FlagAcknowledgement

from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .test_flags_rules import give_custody, give_rights, make_asset


@pytest.fixture
def flagged(f, world, today):
    """Roads without custody in A1, A2 and B1 (CUSTODY_MISSING), a county-held workshop in A1 (info);
    the towns lack inspections and the places the five systems."""
    roads = {v: make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare", place=v,
                           name=f"{v[-3:]}号道路") for v in (VILLAGE_A1, VILLAGE_A2, VILLAGE_B1)}
    shop = make_asset(f, [("in_operation", date(2020, 3, 1))], subtype="扶贫车间", place=VILLAGE_A1)
    give_rights(shop, holder_kind="county_department")
    return roads, shop


def keys(r, rule=None):
    assert r.status_code == 200, r.json
    return {i["key"] for i in r.json["items"] if rule is None or i["rule_id"] == rule}


def acks() -> tuple[int, int]:
    db.session.expire_all()
    return (db.session.scalar(sa.select(sa.func.count()).select_from(FlagAcknowledgement)),
            db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry)
                              .where(ChangeLogEntry.entity == "flag_acknowledgement")))


# --- reading ------------------------------------------------------------------------------------------

def test_list_flags_for_the_county(world, flagged):
    roads, shop = flagged
    r = world.admin.get("/api/v1/flags?rule=CUSTODY_MISSING")
    assert keys(r) == {f"asset:{a.id}" for a in roads.values()}
    body = r.json
    assert body["as_of"] == "2025-06-30" and body["scope"] == {"code": COUNTY, "level": "county", "name": "青溪县"}
    item = next(i for i in body["items"] if i["key"] == f"asset:{roads[VILLAGE_A1].id}")
    assert item["severity"] == "error" and item["severity_label"] == "严重" and item["basis"] == ["P12", "P28"]
    assert item["title"] == "公益性资产未明确管护主体" and item["category"] == "custody"
    assert item["village_code"] == VILLAGE_A1 and item["town_code"] == TOWN_A and item["place_name"] == "桃源村"
    assert "桃源村“201号道路”" in item["message"] and item["acknowledged"] is False
    assert item["asset_code"] == roads[VILLAGE_A1].code and item["asset_category"] == "public_welfare"


def test_filters_and_paging(world, flagged):
    roads, shop = flagged
    c = world.admin
    # custody and operation: the road (no custodian) and the workshop (no contract)
    assert keys(c.get(f"/api/v1/flags?village_code={VILLAGE_A1}&category=custody")) == {f"asset:{roads[VILLAGE_A1].id}",
                                                                                         f"asset:{shop.id}"}
    assert keys(c.get("/api/v1/flags?severity=info")) == {f"asset:{shop.id}"}
    assert keys(c.get(f"/api/v1/flags?town_code={TOWN_B}&rule=CUSTODY_MISSING")) == {f"asset:{roads[VILLAGE_B1].id}"}
    assert keys(c.get("/api/v1/flags?asset_category=operating")) == {f"asset:{shop.id}", f"asset:{shop.id}:2024"}
    everything = c.get("/api/v1/flags?per_page=500").json
    pages = [c.get(f"/api/v1/flags?per_page=3&page={n}").json for n in (1, 2, 3, 4)]
    assert all(p["total"] == everything["total"] for p in pages)
    assert [i["key"] for p in pages for i in p["items"]] == [i["key"] for i in everything["items"]][:12]
    severities = [i["severity"] for i in everything["items"]]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)  # most severe first
    assert keys(c.get("/api/v1/flags?rule=CUSTODY_MISSING&as_of=2020-02-29")) == set()  # roads opened in March


def test_scope_of_each_role(world, flagged):
    roads, _ = flagged
    assert keys(world.fin_a.get("/api/v1/flags?rule=CUSTODY_MISSING")) == {f"asset:{roads[v].id}"
                                                                            for v in (VILLAGE_A1, VILLAGE_A2)}
    assert keys(world.vc_a1.get("/api/v1/flags?rule=CUSTODY_MISSING")) == {f"asset:{roads[VILLAGE_A1].id}"}
    assert keys(world.auditor_a.get("/api/v1/flags?rule=CUSTODY_MISSING")) == {f"asset:{roads[v].id}"
                                                                                for v in (VILLAGE_A1, VILLAGE_A2)}
    assert keys(world.vc_a1.get("/api/v1/flags?rule=INSPECTION_MISSING")) == set()  # a town's flag
    for client, url in [(world.fin_a, f"/api/v1/flags?scope={TOWN_B}"),
                        (world.fin_a, f"/api/v1/flags?village_code={VILLAGE_B1}"),
                        (world.vc_a1, f"/api/v1/flags?scope={COUNTY}"),
                        (world.vc_a1, f"/api/v1/flags/summary?village_code={VILLAGE_A2}"),
                        (world.admin, f"/api/v1/flags?scope={TOWN_A}&village_code={VILLAGE_B1}"),
                        (world.admin, "/api/v1/flags?scope=439999")]:
        r = client.get(url)
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found", url


def test_summary_counts_per_rule_and_place(world, flagged):
    r = world.admin.get("/api/v1/flags/summary")
    assert r.status_code == 200
    s = r.json
    listed = world.admin.get("/api/v1/flags?per_page=500").json
    assert s["total"] == listed["total"] == sum(s["by_severity"].values()) == sum(s["by_category"].values())
    by_rule = {x["rule_id"]: x for x in s["by_rule"]}
    assert by_rule["CUSTODY_MISSING"]["count"] == 3 and by_rule["CUSTODY_MISSING"]["acknowledged"] == 0
    assert by_rule["INSPECTION_MISSING"]["count"] == 2 and by_rule["INSPECTION_MISSING"]["basis"] == ["P16", "P27"]
    places = {p["code"]: p for p in s["by_place"]}
    assert places[VILLAGE_A1]["name"] == "桃源村" and places[VILLAGE_A1]["level"] == "village"
    in_a1 = [i["severity"] for i in listed["items"] if i["village_code"] == VILLAGE_A1]
    assert [places[VILLAGE_A1][sev] for sev in ("error", "warning", "info")] == [
        in_a1.count(sev) for sev in ("error", "warning", "info")]
    assert places[VILLAGE_A1]["info"] == 2  # the county-held workshop: RIGHTS_AT_COUNTY, RIGHTS_NOT_LOCAL
    assert places[TOWN_A]["count"] == sum(1 for i in listed["items"] if i["town_code"] == TOWN_A)
    mine = world.vc_b1.get("/api/v1/flags/summary").json
    assert {p["code"] for p in mine["by_place"]} == {TOWN_B, VILLAGE_B1}


def test_rule_catalogue(world):
    r = world.auditor.get("/api/v1/flags/rules")
    assert r.status_code == 200
    rules = {x["id"]: x for x in r.json}
    assert rules["CONTRACT_EXPIRED"]["severities"] == ["error", "warning"]
    assert rules["SETTLEMENT_LATE"]["basis"] == ["P34"] and "31 March" in rules["SETTLEMENT_LATE"]["doc"]
    assert len(rules) >= 24


# --- acknowledgements ------------------------------------------------------------------------------------

def test_acknowledge_keeps_the_flag_listed_until_the_data_changes(world, flagged, f):
    roads, _ = flagged
    road = roads[VILLAGE_A1]
    key = f"asset:{road.id}"
    r = world.fin_a.post("/api/v1/flags/acknowledgements",
                         json={"rule_id": "CUSTODY_MISSING", "flag_key": key, "reason": "管护协议正在签订，7月底前补录"})
    assert r.status_code == 201, r.json
    assert r.json["flag_key"] == key and r.json["acknowledged_by"] == "fin_a"
    assert acks() == (1, 1)
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "flag_acknowledgement")).one()
    assert log.actor_name == "fin_a" and log.village_code == VILLAGE_A1 and log.after["reason"].startswith("管护协议")
    item = next(i for i in world.admin.get("/api/v1/flags?rule=CUSTODY_MISSING").json["items"] if i["key"] == key)
    assert item["acknowledged"] is True and item["ack_reason"].startswith("管护协议") and item["acknowledged_by"] == "fin_a"
    assert keys(world.admin.get("/api/v1/flags?acknowledged=false&rule=CUSTODY_MISSING")) == {
        f"asset:{roads[v].id}" for v in (VILLAGE_A2, VILLAGE_B1)}
    earlier = world.admin.get("/api/v1/flags?rule=CUSTODY_MISSING&as_of=2025-06-29").json["items"]
    assert not next(i for i in earlier if i["key"] == key)["acknowledged"]  # acknowledged on the 30th
    s = world.admin.get("/api/v1/flags/summary").json
    assert next(x for x in s["by_rule"] if x["rule_id"] == "CUSTODY_MISSING")["acknowledged"] == 1 and s["acknowledged"] == 1
    give_custody(road)
    assert key not in keys(world.admin.get("/api/v1/flags?rule=CUSTODY_MISSING"))


def test_who_may_acknowledge(world, flagged):
    roads, _ = flagged
    body = lambda key, rule="CUSTODY_MISSING": {"rule_id": rule, "flag_key": key, "reason": "已知悉"}  # noqa: E731
    a1, b1 = f"asset:{roads[VILLAGE_A1].id}", f"asset:{roads[VILLAGE_B1].id}"
    refused = [(world.fin_b, body(a1), 403), (world.vc_a2, body(a1), 403), (world.auditor_a, body(b1), 403),
               (world.vc_a1, body(f"town:{TOWN_A}:2025Q1", "INSPECTION_MISSING"), 403)]
    for client, data, status in refused:
        r = client.post("/api/v1/flags/acknowledgements", json=data)
        assert r.status_code == status and r.json["error"]["code"] == "out_of_scope", (client.user, data, r.json)
    assert acks() == (0, 0)
    for client, data in [(world.vc_a1, body(a1)), (world.auditor_a, body(f"asset:{roads[VILLAGE_A2].id}")),
                         (world.admin, body(f"town:{TOWN_B}:2025Q1", "INSPECTION_MISSING")),
                         (world.fin_b, body(b1))]:
        r = client.post("/api/v1/flags/acknowledgements", json=data)
        assert r.status_code == 201, (client.user, r.json)
    assert acks() == (4, 4)
    again = world.admin.post("/api/v1/flags/acknowledgements", json=body(a1))
    assert again.status_code == 409 and again.json["error"]["code"] == "already_acknowledged"
    assert acks() == (4, 4)


@pytest.mark.parametrize("data,status,field", [
    ({"rule_id": "CUSTODY_EXPIRED", "flag_key": "ROAD", "reason": "x"}, 422, "flag_key"),  # not firing
    ({"rule_id": "NO_SUCH_RULE", "flag_key": "asset:1", "reason": "x"}, 422, "rule_id"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "asset:999999", "reason": "x"}, 404, "flag_key"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "asset:99999999999999999999", "reason": "x"}, 422, "flag_key"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "robot:1", "reason": "x"}, 422, "flag_key"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "town:4312991", "reason": "x"}, 404, "flag_key"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "ROAD", "reason": "   "}, 422, "reason"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "ROAD", "reason": "x" * 1001}, 422, "reason"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "ROAD"}, 422, "reason"),
    ({"rule_id": "CUSTODY_MISSING", "flag_key": "ROAD", "reason": "x", "extra": 1}, 422, "extra"),
])
def test_acknowledgement_refusals_leave_nothing(world, flagged, data, status, field):
    roads, _ = flagged
    data = {k: (f"asset:{roads[VILLAGE_A1].id}" if v == "ROAD" else v) for k, v in data.items()}
    r = world.admin.post("/api/v1/flags/acknowledgements", json=data)
    assert r.status_code == status, r.json
    assert field in r.json["error"]["fields"]
    assert acks() == (0, 0)


@pytest.mark.parametrize("query", ["as_of=notadate", "as_of=2020-02-30", "scope=abc", "scope=4312991",
                                   "rule=NOPE", "severity=fatal", "page=0", "per_page=100000", "town_code=12",
                                   "village_code=" + "9" * 40, "acknowledged=maybe", "category=x", "nonsense=1"])
def test_malformed_queries_are_refused_not_500(world, flagged, query):
    paging = query.startswith(("page=", "per_page="))
    for url in (f"/api/v1/flags?{query}", f"/api/v1/flags/summary?{query}", f"/flags?{query}",
                f"/flags/export.xlsx?{query}"):
        r = world.admin.get(url)
        ignored = (query == "nonsense=1" and url.startswith("/api/")) or (paging and "summary" in url)
        if ignored:  # query arguments an endpoint does not know are ignored by the API (webargs), never a 500
            assert r.status_code == 200, url
        else:
            assert 400 <= r.status_code < 500, (url, r.status_code)


def test_login_is_required(client, world):
    assert client.get("/api/v1/flags").status_code == 401
    assert client.post("/api/v1/flags/acknowledgements", json={}).status_code == 401
    r = client.get("/flags")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert client.get("/flags/export.xlsx").status_code == 302


# --- page, XLSX, CLI ---------------------------------------------------------------------------------------

def test_page_lists_the_flags(world, flagged):
    roads, _ = flagged
    r = world.fin_a.get(f"/flags?rule=CUSTODY_MISSING&village_code={VILLAGE_A2}")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "预警" in html and "柳林村“202号道路”" in html and "桃源村“201号道路”" not in html
    assert "导出Excel" in html and "公益性资产未明确管护主体" in html
    assert world.fin_a.get(f"/flags?scope={TOWN_B}").status_code == 404


def test_xlsx_export(world, flagged):
    roads, _ = flagged
    r = world.admin.get("/flags/export.xlsx?severity=error&rule=CUSTODY_MISSING")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in r.headers["Content-Disposition"]
    df = pd.read_excel(io.BytesIO(r.data), header=None, engine="calamine", dtype=object, sheet_name=None)
    sheet = df["预警清单"]
    assert sheet.iloc[0, 0] == "青溪县扶贫项目资产预警清单" and "共3条" in sheet.iloc[1, 0]
    assert list(sheet.iloc[2, :4]) == ["序号", "级别", "规则", "预警事项"]
    rows = sheet.iloc[3:]
    assert set(rows[2]) == {"CUSTODY_MISSING"} and set(rows[1]) == {"严重"}
    assert {str(k) for k in rows[14]} == {f"asset:{a.id}" for a in roads.values()}
    counts = df["按规则统计"]
    assert counts.iloc[1, 0] == "CUSTODY_MISSING" and counts.iloc[1, 4] == 3


def test_cli_flags_table_json_and_xlsx(app, world, flagged, runner, tmp_path):
    roads, _ = flagged
    out = runner.invoke(args=["flags", "--scope", COUNTY, "--as-of", "2025-06-30"])
    assert out.exit_code == 0, out.output
    assert "青溪县扶贫项目资产预警清单（431299）评估日期 2025-06-30" in out.output
    assert "CUSTODY_MISSING" in out.output and f"asset:{roads[VILLAGE_A1].id}" in out.output
    out = runner.invoke(args=["flags", "--scope", VILLAGE_A1, "--as-of", "2025-06-30", "--format", "json",
                              "--rule", "CUSTODY_MISSING"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["total"] == 1 and data["items"][0]["key"] == f"asset:{roads[VILLAGE_A1].id}"
    target = tmp_path / "flags.xlsx"
    out = runner.invoke(args=["flags", "--scope", TOWN_A, "--format", "xlsx", "--out", str(target)])
    assert out.exit_code == 0 and target.stat().st_size > 3000, out.output
    sheet = pd.read_excel(target, header=None, engine="calamine", dtype=object)
    assert sheet.iloc[0, 0] == "城关镇扶贫项目资产预警清单"
    for args in (["flags", "--scope", "999999"], ["flags", "--scope", COUNTY, "--format", "xlsx"],
                 ["flags", "--scope", COUNTY, "--as-of", "2025-02-30"], ["flags", "--scope", COUNTY, "--rule", "X"]):
        bad = runner.invoke(args=args)
        assert bad.exit_code != 0 and "Traceback" not in bad.output, args
