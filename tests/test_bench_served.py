"""bench/bench_served.py without its servers: the wrk output it reads, the ratios to the floor, the
targets it judges, the settings the floor is served with; and bench/floor_app.py answers the same rows
and columns as the API list it is the floor of."""

from __future__ import annotations

import importlib.util
import json
import sys
from contextlib import nullcontext
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from assetreg.extensions import db

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bs = _load("bench_served")
floor_app = _load("floor_app")


def wrk_output(requests=3000, duration_us=15_000_000, p50=12_200, p90=15_000, p99=19_700, mx=40_000,
               mean=12_500.5, non2xx=0, first_bad=0, timeout=0, status=0, read=0) -> str:
    """What wrk prints with bench/wrk_report.lua: its own summary, then the WRK_JSON line."""
    line = {"requests": requests, "duration_us": duration_us, "bytes": 123456, "req_per_s": requests / 15,
            "latency_us": {"p50": p50, "p90": p90, "p99": p99, "max": mx, "mean": mean},
            "non2xx": non2xx, "first_non2xx_status": first_bad,
            "errors": {"connect": 0, "read": read, "write": 0, "status": status, "timeout": timeout}}
    return ("Running 15s test @ http://127.0.0.1:40000/assets?town_code=439901100&per_page=50\n"
            "  2 threads and 8 connections\n"
            f"  {requests} requests in 15.00s, 120.56KB read\n"
            f"Requests/sec:    {requests / 15:.2f}\n"
            "WRK_JSON " + json.dumps(line) + "\n")


def test_parse_wrk_reads_the_json_line_in_milliseconds():
    fig = bs.parse_wrk(wrk_output())
    assert fig["requests"] == 3000
    assert fig["seconds"] == 15.0
    assert fig["req_per_s"] == 200.0
    assert (fig["p50_ms"], fig["p90_ms"], fig["p99_ms"], fig["max_ms"]) == (12.2, 15.0, 19.7, 40.0)
    assert fig["mean_ms"] == 12.5
    assert fig["non2xx"] == 0 and fig["socket_errors"] == 0 and fig["first_non2xx_status"] is None


def test_parse_wrk_counts_bad_answers_and_socket_errors():
    fig = bs.parse_wrk(wrk_output(non2xx=7, first_bad=302, timeout=2, read=1, status=0))
    assert fig["non2xx"] == 7
    assert fig["first_non2xx_status"] == 302
    assert fig["socket_errors"] == 3


def test_parse_wrk_without_a_finished_request_has_no_latency():
    fig = bs.parse_wrk(wrk_output(requests=0, p50=0, p90=0, p99=0, mx=0, mean=0))
    assert fig["req_per_s"] == 0.0
    assert fig["p50_ms"] is None and fig["p99_ms"] is None
    checks = bs.judge(fig | {"key": "flags_county_admin"}, bs.TARGETS["flags_county_admin"])
    assert [c["met"] for c in checks] == [False, False]  # nothing answered: neither clean nor fast


def test_parse_wrk_without_its_line_says_so():
    with pytest.raises(ValueError, match="no WRK_JSON"):
        bs.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_the_lua_script_prints_every_figure_parse_wrk_reads():
    lua = (BENCH / "wrk_report.lua").read_text()
    assert "WRK_JSON " in lua
    for key in ("requests", "duration_us", "latency_us", "p50", "p90", "p99", "max", "mean", "non2xx",
                "first_non2xx_status", "connect", "read", "write", "status", "timeout"):
        assert f'"{key}"' in lua, key
    assert "WRK_AUTHORIZATION" in lua and "WRK_COOKIE" in lua


def _rows():
    return [
        {"key": "floor", "kind": "floor", "req_per_s": 600.0, "p50_ms": 12.0, "p99_ms": 20.0, "requests": 9000},
        {"key": "assets_town", "kind": "api", "req_per_s": 390.0, "p50_ms": 20.0, "p99_ms": 39.0, "requests": 5850},
        {"key": "assets_county", "kind": "api", "req_per_s": 400.0, "p50_ms": 20.0, "p99_ms": 41.0,
         "requests": 6000},
        {"key": "asset_detail", "kind": "api", "req_per_s": 474.0, "p50_ms": 16.0, "p99_ms": 20.0, "requests": 7110},
        {"key": "lists_assets", "kind": "api", "req_per_s": 246.0, "p50_ms": 30.0, "p99_ms": 50.0, "requests": 3690},
        {"key": "flags_county_admin", "kind": "page", "req_per_s": 8.0, "p50_ms": 120.0, "p99_ms": 180.0,
         "requests": 120},
        {"key": "home_auditor", "kind": "page", "req_per_s": 5.0, "p50_ms": 150.0, "p99_ms": 200.0, "requests": 75},
    ]


def test_ratios_to_the_floor_for_loaded_rows_only():
    rows = {r["key"]: r for r in bs.with_floor(_rows())}
    assert rows["floor"]["vs_floor"] == 1.0
    assert rows["assets_town"]["vs_floor"] == 0.65
    assert rows["assets_town"]["p99_vs_floor"] == 1.95
    assert rows["assets_county"]["p99_vs_floor"] == 2.05
    assert rows["asset_detail"]["vs_floor"] == 0.79
    assert rows["lists_assets"]["vs_floor"] == 0.41
    assert rows["flags_county_admin"]["vs_floor"] is None  # a page is timed one request at a time
    assert bs.with_floor([r for r in _rows() if r["key"] != "floor"])[0]["vs_floor"] is None


def test_the_floor_is_the_mean_of_its_first_and_last_runs():
    rows = _rows() + [{"key": "floor_end", "kind": "floor", "req_per_s": 400.0, "p50_ms": 15.0, "p99_ms": 30.0,
                       "requests": 6000}]
    ref = bs.floor_reference(rows)
    assert ref == {"req_per_s": 500.0, "p99_ms": 25.0, "drift": 0.67}
    by_key = {r["key"]: r for r in bs.with_floor(rows)}
    assert by_key["assets_town"]["vs_floor"] == 0.78 and by_key["assets_town"]["p99_vs_floor"] == 1.56
    assert by_key["floor"]["vs_floor"] == 1.2 and by_key["floor_end"]["vs_floor"] == 0.8
    assert bs.floor_reference([r for r in rows if r["kind"] != "floor"]) is None


def test_targets_of_the_issue_met_and_missed():
    rows = {r["key"]: r for r in bs.with_floor(_rows())}

    def verdict(key):
        return {c["target"]: c["met"] for c in bs.judge(rows[key], bs.TARGETS.get(key))}

    assert verdict("assets_town") == {"every answer 2xx, no socket errors": True, "req/s ≥ 0.6× the floor": True,
                                      "p99 ≤ 2.0× the floor's": True}
    assert verdict("assets_county")["p99 ≤ 2.0× the floor's"] is False  # 2.05× the floor's p99
    assert verdict("asset_detail")["req/s ≥ 0.8× the floor"] is False  # 0.79
    assert verdict("lists_assets")["req/s ≥ 0.4× the floor"] is True
    assert verdict("flags_county_admin")["p50 < 150 ms"] is True
    assert verdict("home_auditor")["p50 < 100 ms"] is False
    assert list(verdict("floor")) == ["every answer 2xx, no socket errors"]
    rows["floor"]["non2xx"] = 3
    assert verdict("floor") == {"every answer 2xx, no socket errors": False}


def test_every_row_but_the_floor_has_a_target():
    assert {r["key"] for r in bs.ROWS if r["kind"] != "floor"} == set(bs.TARGETS)
    assert [r["kind"] for r in bs.ROWS][0] == [r["kind"] for r in bs.ROWS][-1] == "floor"  # first and last


def test_against_a_baseline_each_figure_within_one_and_a_half_times():
    row = {"key": "flags_county_admin", "kind": "page", "req_per_s": 6.0, "p50_ms": 160.0, "requests": 90}
    checks = {c["target"]: c["met"] for c in bs.judge(row, None, {"req_per_s": 8.0, "p50_ms": 120.0})}
    assert checks == {"every answer 2xx, no socket errors": True, "req/s ≥ baseline/1.5": True,
                      "p50 ≤ 1.5× baseline": True}
    slower = {c["target"]: c["met"] for c in bs.judge(row | {"req_per_s": 5.0, "p50_ms": 181.0}, None,
                                                        {"req_per_s": 8.0, "p50_ms": 120.0})}
    assert slower["req/s ≥ baseline/1.5"] is False and slower["p50 ≤ 1.5× baseline"] is False


def test_requests_timed_one_by_one_and_the_after_write_target():
    fig = bs.timed([420.0, 910.5, 380.25, 1200.0, 500.0], [200, 200, 200, 200, 200])
    assert fig["requests"] == 5 and fig["req_per_s"] is None
    assert fig["p50_ms"] == 500.0 and fig["max_ms"] == fig["p99_ms"] == 1200.0
    assert fig["non2xx"] == 0 and fig["times_ms"][1] == 910.5
    assert bs.timed([10.0, 30.0], [200, 302])["p50_ms"] == 20.0
    assert bs.timed([10.0, 30.0], [200, 302])["non2xx"] == 1
    row = fig | {"key": "flags_after_write", "kind": "after_write"}
    checks = {c["target"]: c for c in bs.judge(row, bs.TARGETS["flags_after_write"])}
    assert checks["every request < 1,000 ms"]["met"] is False
    assert checks["every request < 1,000 ms"]["figure"] == "worst 1,200 ms"
    fast = bs.timed([420.0, 910.5, 380.25], [200] * 3) | {"key": "flags_after_write"}
    assert all(c["met"] for c in bs.judge(fast, bs.TARGETS["flags_after_write"]))
    assert bs.with_floor(_rows() + [row])[-1]["vs_floor"] is None


def test_a_slow_page_is_timed_long_enough_for_a_few_requests():
    assert bs.page_duration(15, 80.0) == 15
    assert bs.page_duration(15, 5200.0) == 27  # five requests as slow as the warm-up one
    assert bs.page_duration(15, 60_000.0) == bs.PAGE_MAX_SECONDS


def test_table_prints_each_row_with_its_verdict():
    rows = bs.with_floor([r | {"label": r["key"]} for r in _rows()])
    for row in rows:
        row["checks"] = bs.judge(row, bs.TARGETS.get(row["key"]))
    lines = bs.table(rows).splitlines()
    assert lines[0] == "| request | req/s | p50 | p99 | vs the floor | target | met |"
    assert len(lines) == 2 + len(rows)
    floor, town, county = lines[2], lines[3], lines[4]
    assert floor.startswith("| floor | 600 | 12.0 ms | 20.0 ms | 1.00 | — | met |")
    assert "| 0.65 |" in town and town.endswith("| met |")
    assert county.endswith("| MISSED |") and "p99 ≤ 2.0× the floor's: 2.05×" in county
    assert "| 150 ms | 200 ms | — | p50 < 100 ms: 150 ms | MISSED |" in lines[-1]


def test_load_warning_only_on_a_busy_machine():
    assert bs.load_warning((0.4, 0.3, 0.2), (0.9, 0.5, 0.3)) is None
    warning = bs.load_warning((0.5, 0.3, 0.2), (2.5, 1.0, 0.5))
    assert "2.50" in warning and "not comparable" in warning


def test_the_floor_is_served_with_the_apps_gunicorn_settings():
    settings = bs.server_settings(BENCH.parent / "gunicorn.conf.py")
    assert settings["workers"] == 2 and settings["worker_class"] == "sync"
    cmd = bs.floor_command(settings, 40123)
    assert cmd[-1] == "floor_app:app"
    assert cmd[cmd.index("--workers") + 1] == "2"
    assert cmd[cmd.index("--bind") + 1] == "127.0.0.1:40123"
    assert cmd[cmd.index("--keep-alive") + 1] == str(settings["keepalive"])
    assert ("--preload" in cmd) == settings["preload_app"]


def test_loopback_only_and_no_shared_database(monkeypatch):
    with pytest.raises(ValueError, match="loopback"):
        bs.run_wrk("http://10.0.0.1:80/", threads=1, connections=1, duration=1)
    assert bs.database_name("postgresql+psycopg://postgres@127.0.0.1:5432/h_serve?sslmode=disable") == "h_serve"
    for url in ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgresql+psycopg://h/bench1",
                "postgresql+psycopg://h/prov", "sqlite:///x.db", ""):
        monkeypatch.setenv("DATABASE_URL", url)
        assert bs.main(["--duration", "1"]) == 2  # refused before anything is started


def test_csrf_token_from_the_login_form():
    html = '<form><input type="hidden" name="csrf_token" value="Ijk4.abc-_"><input name="username"></form>'
    assert bs.csrf_from(html) == "Ijk4.abc-_"
    with pytest.raises(ValueError):
        bs.csrf_from("<form></form>")


def test_floor_formats_money_quantities_and_dates_as_the_api_does():
    assert floor_app.scaled(12345678, 2) == "123456.78"
    assert floor_app.scaled(1500, 3) == "1.500"
    assert floor_app.scaled(None, 2) is None


def test_floor_columns_are_the_api_items_table_columns():
    from assetreg.assets.models import Asset
    from assetreg.assets.schemas import Asset as AssetSchema

    table_columns = {c.name for c in Asset.__table__.columns}
    assert set(floor_app.COLUMNS) == set(AssetSchema().fields) & table_columns


def _same(api_value, floor_value):
    if isinstance(api_value, str) and isinstance(floor_value, str) and "T" in api_value and ":" in api_value:
        a, b = datetime.fromisoformat(api_value), datetime.fromisoformat(floor_value)
        return a.replace(tzinfo=a.tzinfo or UTC) == b.replace(tzinfo=b.tzinfo or UTC)
    return api_value == floor_value


def test_floor_answers_the_same_rows_and_columns_as_the_api_list(world, f, monkeypatch):
    for i in range(3):
        f.asset(place_code=world.village_a1 if i % 2 else world.village_a2, quantity=Decimal("2.5"),
                unit="千瓦", completed_on=date(2021, 3, i + 1))
    f.asset(place_code=world.village_b1)  # another town's: in neither answer
    monkeypatch.setattr(floor_app, "engine", type("OnTheTestsConnection", (), {
        "connect": staticmethod(lambda: nullcontext(db.session.connection()))})())
    monkeypatch.setattr(floor_app, "_select", {})

    api = world.fin_a.get(f"/api/v1/assets?town_code={world.town_a}&per_page=50")
    assert api.status_code == 200
    floor = floor_app.app.test_client().get(f"/assets?town_code={world.town_a}&per_page=50")
    assert floor.status_code == 200
    api_items, floor_items = api.get_json()["items"], floor.get_json()["items"]
    assert len(api_items) == 3
    assert [i["id"] for i in floor_items] == [i["id"] for i in api_items]
    for a, b in zip(api_items, floor_items, strict=True):
        assert set(b) == set(floor_app.COLUMNS)
        different = {k: (a[k], b[k]) for k in floor_app.COLUMNS if not _same(a[k], b[k])}
        assert not different
    assert floor_app.app.test_client().get("/assets?town_code=x").status_code == 422
