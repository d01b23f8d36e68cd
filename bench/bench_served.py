"""Benchmark: the app served as in production (gunicorn) under load, against a bare floor page.

Not part of the unit suite. Runs standalone against the PostgreSQL database in ``DATABASE_URL`` (one of
your own; never the shared ``test`` one)::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/served_bench \\
        .venv/bin/python bench/bench_served.py --county 439901 --duration 15 --json /tmp/served.json

1. Migrates the database and generates the county unless it is there (``flask generate`` code), then
   makes (or keeps) one user per role it needs — ``bench_finance_officer_<county>`` (the county's first
   town), ``bench_county_admin_<county>``, ``bench_auditor_<county>`` — with the users area's own
   services, and a fresh bearer token named ``bench`` for each (the previous one revoked).
2. Starts the app under gunicorn itself (``gunicorn.conf.py`` and ``wsgi:app``, as ``scripts/serve.sh``
   does; ``WEB_CONCURRENCY=2``, a free loopback port) and the floor ``bench/floor_app.py`` (plain Flask
   and one Core select of the same 50 assets of a town) under gunicorn with the same settings; waits
   for each one's ``/healthz``.
3. Loads each row with wrk (``/usr/bin/wrk``; loopback only): the API rows and the floor with 2
   threads and 8 connections for ``--duration`` seconds (``bench/wrk_report.lua`` sends the token and
   prints req/s, p50/p99 and the non-2xx count as JSON); the pages (logged in through the login form,
   the session cookie sent) one request at a time (1 thread, 1 connection): their figure is how long a
   request takes, not how many fit in a second (a slow page longer, for five requests at least). Each
   row is warmed by one request first (its status must be 200; its time is kept as ``first_ms``: the
   cold request). Last, five times: a write in the county (an asset's note, through the API), then one
   timed request of the county's flags page.
4. Prints the issue's table (request | req/s | p50 | p99 | vs the floor) with each target of issue 12
   beside its figure (met/missed), writes everything to ``--json``, and exits 1 when a target is missed
   (``--no-fail``: 0). ``--baseline`` names an earlier run's JSON (one county loaded) to hold each row
   within 1.5× of it (20 counties loaded). Both servers are stopped in every case (their process
   groups). The load average before and after is recorded: figures taken above 1.0 are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "wrk_report.lua"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
PASSWORD = "bench-pass-1"  # the same as bench_pages.py, whose users have the same names
TOKEN_NAME = "bench"
WORKERS = 2
THREADS, CONNECTIONS = 2, 8
BUSY_LOAD = 1.0
BASELINE_FACTOR = 1.5
REFUSED_DATABASES = {"test", "bench1", "prov"}  # shared ones

# The rows, in the issue's order. "auth": whose credentials; "kind": floor, api (token, loaded with 8
# connections) or page (session cookie, one connection). {town} and {asset} come from the data.
ROWS = [
    {"key": "floor", "label": "bare Flask + Core, 50 assets of a town", "kind": "floor", "auth": None,
     "path": "/assets?town_code={town}&per_page=50"},
    {"key": "assets_town", "label": "GET /api/v1/assets?town_code=…&per_page=50 (finance officer)", "kind": "api",
     "auth": "finance_officer", "path": "/api/v1/assets?town_code={town}&per_page=50"},
    {"key": "assets_county",
     "label": "GET /api/v1/assets?category=operating&sort=-original_value&per_page=50 (county admin)",
     "kind": "api", "auth": "county_admin",
     "path": "/api/v1/assets?category=operating&sort=-original_value&per_page=50"},
    {"key": "asset_detail", "label": "GET /api/v1/assets/{id} (finance officer)", "kind": "api",
     "auth": "finance_officer", "path": "/api/v1/assets/{asset}"},
    {"key": "lists_assets", "label": "GET /api/v1/lists/assets?scope=<town>&per_page=50 (county admin)",
     "kind": "api", "auth": "county_admin", "path": "/api/v1/lists/assets?scope={town}&per_page=50"},
    {"key": "home_county_admin", "label": "page / (county admin's home)", "kind": "page", "auth": "county_admin",
     "path": "/"},
    {"key": "home_auditor", "label": "page / (auditor's home)", "kind": "page", "auth": "auditor", "path": "/"},
    {"key": "flags_finance_officer", "label": "page /flags (finance officer: one town)", "kind": "page",
     "auth": "finance_officer", "path": "/flags"},
    {"key": "flags_county_admin", "label": "page /flags (county admin: the county)", "kind": "page",
     "auth": "county_admin", "path": "/flags"},
    {"key": "flags_after_write", "label": "page /flags (county admin) right after a write in the county",
     "kind": "after_write", "auth": "county_admin", "path": "/flags"},
    # The floor again at the end: on a shared machine the speed moves during a run; the ratios are to the
    # mean of both floor runs, and their difference is reported (``floor_drift``).
    {"key": "floor_end", "label": "bare Flask + Core again, at the end", "kind": "floor", "auth": None,
     "path": "/assets?town_code={town}&per_page=50"},
]
AFTER_WRITE_ROUNDS = 5
PAGE_SAMPLES, PAGE_MAX_SECONDS = 5, 120

# Issue 12's targets. API rows against the floor (req/s ratio at least, p99 at most this many times the
# floor's); pages by their median (p50) served one at a time: a warm flags page (nothing changed since
# the previous request) under 150 ms, every home under 100 ms; the flags page right after a write (an
# asset's note changed through the API) under 1 s every time. Every row: no non-2xx, no socket errors.
TARGETS = {
    "assets_town": {"min_ratio": 0.6, "max_p99_vs_floor": 2.0},
    "assets_county": {"min_ratio": 0.6, "max_p99_vs_floor": 2.0},
    "asset_detail": {"min_ratio": 0.8},
    "lists_assets": {"min_ratio": 0.4},
    "home_county_admin": {"max_p50_ms": 100},
    "home_auditor": {"max_p50_ms": 100},
    "flags_finance_officer": {"max_p50_ms": 150},
    "flags_county_admin": {"max_p50_ms": 150},
    "flags_after_write": {"max_ms": 1000},
}


# --- pure parts (tests/test_bench_served.py) -----------------------------------------------------

def parse_wrk(output: str) -> dict:
    """The figures of one wrk run from its output (the ``WRK_JSON`` line of ``wrk_report.lua``): req/s,
    p50/p90/p99/max/mean in ms, requests, non-2xx answers and socket errors (connect, read, write,
    timeout). Raises ValueError when the line is missing (wrk failed before its summary)."""
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line[len("WRK_JSON "):])
            break
    else:
        raise ValueError("no WRK_JSON line in the wrk output: " + output.strip()[-500:])
    errors = raw["errors"]
    seconds = raw["duration_us"] / 1e6

    def ms(name: str) -> float | None:  # no request finished: no latency (wrk would say 0)
        return round(raw["latency_us"][name] / 1000, 2) if raw["requests"] else None

    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 3),
        "req_per_s": round(raw["requests"] / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": ms("p50"),
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "max_ms": ms("max"),
        "mean_ms": ms("mean"),
        "non2xx": raw["non2xx"],
        "first_non2xx_status": raw["first_non2xx_status"] or None,
        "socket_errors": sum(errors[k] for k in ("connect", "read", "write", "timeout")),
        "errors": errors,
        "bytes": raw["bytes"],
    }


def timed(milliseconds: list[float], statuses: list[int]) -> dict:
    """The figures of requests timed one by one (the same keys as ``parse_wrk``'s): median, the worst."""
    times = sorted(milliseconds)
    n = len(times)
    bad = [s for s in statuses if not 200 <= s <= 299]
    median = None if not n else (times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2)
    return {"requests": n, "seconds": round(sum(times) / 1000, 3), "req_per_s": None,
            "p50_ms": None if median is None else round(median, 2), "p90_ms": None,
            "p99_ms": round(times[-1], 2) if n else None, "max_ms": round(times[-1], 2) if n else None,
            "mean_ms": round(sum(times) / n, 2) if n else None, "times_ms": [round(t, 2) for t in milliseconds],
            "non2xx": len(bad), "first_non2xx_status": bad[0] if bad else None, "socket_errors": 0}


def page_duration(duration: int, first_ms: float, samples: int = PAGE_SAMPLES, cap: int = PAGE_MAX_SECONDS) -> int:
    """Seconds to time a page one request at a time: ``duration``, or long enough for ``samples``
    requests as slow as the warm-up one (a page slower than the duration would give no figure), at most
    ``cap``."""
    return max(duration, min(cap, int(samples * first_ms / 1000) + 1))


def floor_reference(rows: list[dict]) -> dict | None:
    """The floor the rows are compared with: the mean req/s and p99 of the floor runs (first and last),
    and ``drift``, the last run's req/s over the first's (1.0: the machine kept its speed)."""
    floors = [r for r in rows if r.get("kind") == "floor" and r.get("req_per_s") and r.get("p99_ms")]
    if not floors:
        return None
    return {"req_per_s": sum(r["req_per_s"] for r in floors) / len(floors),
            "p99_ms": sum(r["p99_ms"] for r in floors) / len(floors),
            "drift": round(floors[-1]["req_per_s"] / floors[0]["req_per_s"], 2)}


def with_floor(rows: list[dict]) -> list[dict]:
    """Each loaded row's req/s and p99 as a ratio to the floor's (``floor_reference``: ``vs_floor``,
    ``p99_vs_floor``); none for the pages, timed one request at a time (not under the same load)."""
    floor = floor_reference(rows)
    out = []
    for row in rows:
        row = dict(row)
        if row.get("kind") not in ("floor", "api"):
            row["vs_floor"] = row["p99_vs_floor"] = None
            out.append(row)
            continue
        ok = floor is not None and floor.get("req_per_s") and row.get("req_per_s") is not None
        row["vs_floor"] = round(row["req_per_s"] / floor["req_per_s"], 2) if ok else None
        ok_p99 = floor is not None and floor.get("p99_ms") and row.get("p99_ms") is not None
        row["p99_vs_floor"] = round(row["p99_ms"] / floor["p99_ms"], 2) if ok_p99 else None
        out.append(row)
    return out


def judge(row: dict, target: dict | None, baseline: dict | None = None) -> list[dict]:
    """The checks of one row (each {"target": text, "figure": text, "met": bool}): its issue-12 target,
    clean answers (no non-2xx, no socket errors, some requests at all) and, given the same row of a
    baseline run, req/s no lower and p50 no higher than ``BASELINE_FACTOR`` times its figures."""
    checks = []

    def check(text: str, figure: str, met: bool) -> None:
        checks.append({"target": text, "figure": figure, "met": bool(met)})

    check("every answer 2xx, no socket errors",
          f"{row.get('requests', 0)} requests, {row.get('non2xx', 0)} non-2xx, {row.get('socket_errors', 0)} errors",
          row.get("requests", 0) > 0 and row.get("non2xx", 0) == 0 and row.get("socket_errors", 0) == 0)
    target = target or {}
    if "min_ratio" in target:
        ratio = row.get("vs_floor")
        check(f"req/s ≥ {target['min_ratio']}× the floor", "—" if ratio is None else f"{ratio}×",
              ratio is not None and ratio >= target["min_ratio"])
    if "max_p99_vs_floor" in target:
        ratio = row.get("p99_vs_floor")
        check(f"p99 ≤ {target['max_p99_vs_floor']}× the floor's", "—" if ratio is None else f"{ratio}×",
              ratio is not None and ratio <= target["max_p99_vs_floor"])
    if "max_p50_ms" in target:
        p50 = row.get("p50_ms")
        check(f"p50 < {target['max_p50_ms']} ms", fmt_ms(p50),
              p50 is not None and p50 < target["max_p50_ms"])
    if "max_ms" in target:
        worst = row.get("max_ms")
        check(f"every request < {target['max_ms']:,} ms", f"worst {fmt_ms(worst)}",
              worst is not None and worst < target["max_ms"])
    if baseline:
        if baseline.get("req_per_s"):
            ratio = (row.get("req_per_s") or 0) / baseline["req_per_s"]
            check(f"req/s ≥ baseline/{BASELINE_FACTOR}", f"{ratio:.2f}× baseline ({baseline['req_per_s']:g})",
                  ratio * BASELINE_FACTOR >= 1)
        if baseline.get("p50_ms"):
            ratio = (row.get("p50_ms") or float("inf")) / baseline["p50_ms"]
            check(f"p50 ≤ {BASELINE_FACTOR}× baseline", f"{ratio:.2f}× baseline ({baseline['p50_ms']:g} ms)",
                  ratio <= BASELINE_FACTOR)
    return checks


def load_warning(before: tuple[float, ...], after: tuple[float, ...], limit: float = BUSY_LOAD) -> str | None:
    """A warning when the 1-minute load average before or after the run was above ``limit``."""
    worst = max(before[0], after[0])
    if worst <= limit:
        return None
    return (f"警告 warning: load average {before[0]:.2f} before, {after[0]:.2f} after (> {limit}): the machine "
            "was busy; these figures are not comparable with a quiet run")


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def table(rows: list[dict]) -> str:
    """The issue's table in Markdown, each row's checks beside it."""
    lines = ["| request | req/s | p50 | p99 | vs the floor | target | met |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        checks = row.get("checks", [])
        shown = [c for c in checks if not c["target"].startswith("every answer") or not c["met"]]
        target = "; ".join(f"{c['target']}: {c['figure']}" for c in shown) or "—"
        met = "—" if not checks else ("met" if all(c["met"] for c in checks) else "MISSED")
        vs = "—" if row.get("vs_floor") is None else f"{row['vs_floor']:.2f}"
        rps = "—" if row.get("req_per_s") is None else f"{row['req_per_s']:,.{0 if row['req_per_s'] >= 10 else 1}f}"
        lines.append(f"| {row['label']} | {rps} | {fmt_ms(row.get('p50_ms'))} | {fmt_ms(row.get('p99_ms'))} "
                     f"| {vs} | {target} | {met} |")
    return "\n".join(lines)


def server_settings(conf: Path, workers: int = WORKERS) -> dict:
    """The settings of the project's gunicorn.conf.py the floor is served with too (workers as given)."""
    saved = os.environ.get("WEB_CONCURRENCY")
    os.environ["WEB_CONCURRENCY"] = str(workers)
    try:
        ns = runpy.run_path(str(conf))
    finally:
        if saved is None:
            os.environ.pop("WEB_CONCURRENCY", None)
        else:
            os.environ["WEB_CONCURRENCY"] = saved
    return {"workers": ns["workers"], "worker_class": ns["worker_class"], "timeout": ns["timeout"],
            "graceful_timeout": ns["graceful_timeout"], "keepalive": ns["keepalive"],
            "preload_app": ns["preload_app"], "worker_tmp_dir": ns.get("worker_tmp_dir")}


def floor_command(settings: dict, port: int) -> list[str]:
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(settings["workers"]),
           "--worker-class", settings["worker_class"], "--timeout", str(settings["timeout"]),
           "--graceful-timeout", str(settings["graceful_timeout"]), "--keep-alive", str(settings["keepalive"]),
           "--bind", f"127.0.0.1:{port}"]
    if settings["preload_app"]:
        cmd.append("--preload")
    if settings["worker_tmp_dir"]:
        cmd += ["--worker-tmp-dir", settings["worker_tmp_dir"]]
    return cmd + ["floor_app:app"]


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    if not m:
        raise ValueError("no csrf_token in the login form")
    return m.group(1)


# --- the database: county, users, tokens -----------------------------------------------------------

def database_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]


def prepare(county: str, seed: int, scale: float) -> dict:
    """Migrate, generate the county when missing, make the users and their tokens; the town, an asset
    of it and the credentials."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from assetreg import create_app
    from assetreg.assets.models import Asset
    from assetreg.extensions import db
    from assetreg.generator import generate as gen
    from assetreg.places.models import Place
    from assetreg.users.models import User
    from assetreg.users.services import create_user, issue_token, revoke_tokens, set_password, verify_password

    app = create_app()
    info: dict = {"generated": False}
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            sys.exit("bench_served measures the production setting: DATABASE_URL must be PostgreSQL")
        upgrade()
        if not gen.county_exists(county):
            print(f"generating {county} (seed {seed}, scale {scale}) …", flush=True)
            started = time.perf_counter()
            result = gen.generate_county(county, seed=seed, scale=scale)
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for name in gen.TABLES:
                    conn.execute(sa.text(f"ANALYZE {name}"))
            info.update(generated=True, generate_seconds=round(time.perf_counter() - started, 1), counts=result.counts)
            print(result.report(), flush=True)
        town = db.session.scalar(sa.select(Place.code).where(Place.county_code == county, Place.level == "town")
                                 .order_by(Place.code))
        if town is None:
            sys.exit(f"county {county} has no town")
        asset = db.session.scalar(sa.select(Asset.id).where(Asset.town_code == town).order_by(Asset.id))
        scopes = {"finance_officer": town, "county_admin": county, "auditor": county}
        users, tokens = {}, {}
        for role, scope in scopes.items():
            name = f"bench_{role}_{county}"
            user = db.session.scalar(sa.select(User).where(User.username == name))
            if user is None:
                user = create_user(username=name, password=PASSWORD, role=role, scope_code=scope,
                                   display_name=f"{name}（基准测试）")
            elif not verify_password(user, PASSWORD):
                set_password(user, PASSWORD)
            if user.role != role or user.scope_code != scope or not user.is_active_flag:
                sys.exit(f"user {name} exists with another role or scope, or inactive: remove it first")
            revoke_tokens(user, TOKEN_NAME)
            tokens[role] = issue_token(user, TOKEN_NAME)
            users[role] = name
        db.session.commit()
        info["assets"] = db.session.scalar(sa.select(sa.func.count()).select_from(Asset)
                                           .where(Asset.county_code == county))
        info["counties_loaded"] = db.session.scalar(sa.select(sa.func.count()).select_from(Place)
                                                    .where(Place.level == "county"))
        db.session.remove()
        db.engine.dispose()
    info.update(town=town, asset=asset, users=users, tokens=tokens)
    return info


# --- servers -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a server and every process of its group (its own: ``start_new_session``): TERM, then KILL
    after 20 s, and a KILL of whatever of the group outlived its master."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@contextmanager
def served(name: str, cmd: list[str], cwd: Path, env: dict, log: Path, base: str):
    """A server in a process group of its own, up once its /healthz answers 200; stopped on leaving."""
    import requests

    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n" + log.read_text()[-2000:])
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer /healthz in 90 s:\n" + log.read_text()[-2000:])
            time.sleep(0.3)
        print(f"{name} up at {base} (pid {proc.pid})", flush=True)
        yield proc
    finally:
        stop(proc)


def login_cookie(base: str, username: str) -> str:
    """Log in through the login form (CSRF token included) and return the Cookie header of the session."""
    import requests

    with requests.Session() as s:
        form = s.get(base + "/login", timeout=30)
        form.raise_for_status()
        r = s.post(base + "/login", data={"username": username, "password": PASSWORD,
                                          "csrf_token": csrf_from(form.text)}, allow_redirects=False, timeout=30)
        if r.status_code != 302:
            raise RuntimeError(f"login of {username} answered {r.status_code}")
        return "; ".join(f"{c.name}={c.value}" for c in s.cookies)


def run_wrk(url: str, *, threads: int, connections: int, duration: int, authorization: str | None = None,
            cookie: str | None = None) -> dict:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("loopback only")
    env = dict(os.environ, WRK_AUTHORIZATION=authorization or "", WRK_COOKIE=cookie or "")
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "60s", "-s", str(LUA), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return parse_wrk(proc.stdout)


def after_writes(base: str, token: str, cookie: str, asset: int, rounds: int = AFTER_WRITE_ROUNDS) -> dict:
    """``rounds`` times: change the note of an asset of the county through the API (a write in the county,
    as a user makes one), then time one request of the county's flags page."""
    import requests

    times, statuses = [], []
    for i in range(rounds):
        w = requests.patch(f"{base}/api/v1/assets/{asset}", json={"note": f"基准测试写入 {i + 1}（bench_served）"},
                           headers={"Authorization": "Bearer " + token}, timeout=60)
        if w.status_code != 200:
            raise RuntimeError(f"the write before the flags page answered {w.status_code}: {w.text[:300]}")
        started = time.perf_counter()
        r = requests.get(base + "/flags", headers={"Cookie": cookie}, allow_redirects=False, timeout=120)
        times.append((time.perf_counter() - started) * 1000)
        statuses.append(r.status_code)
    return timed(times, statuses)


def warm(url: str, headers: dict) -> tuple[int, float]:
    """One request before the load: its status and how long it took (ms)."""
    import requests

    started = time.perf_counter()
    r = requests.get(url, headers=headers, allow_redirects=False, timeout=120)
    return r.status_code, round((time.perf_counter() - started) * 1000, 1)


# --- main ----------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", default="439901")
    ap.add_argument("--duration", type=int, default=15, help="seconds of load per row (default 15)")
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--seed", type=int, default=7, help="generator seed when the county is generated")
    ap.add_argument("--scale", type=float, default=1.0, help="generator scale when the county is generated")
    ap.add_argument("--only", help="comma-separated row keys to run (the floor runs first and last always)")
    ap.add_argument("--baseline", help="an earlier run's JSON: every row within 1.5× of its figures")
    ap.add_argument("--no-fail", action="store_true", help="exit 0 even when a target is missed")
    args = ap.parse_args(argv)

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        print("DATABASE_URL must name a PostgreSQL database of your own", file=sys.stderr)
        return 2
    if database_name(url) in REFUSED_DATABASES:
        print(f"refusing the shared database {database_name(url)!r}: use one of your own", file=sys.stderr)
        return 2
    if not Path(WRK).exists():
        print("wrk is needed (Debian package wrk)", file=sys.stderr)
        return 2
    rows = [r for r in ROWS if not args.only or r["kind"] == "floor" or r["key"] in args.only.split(",")]
    baseline = {}
    if args.baseline:
        baseline = {r["key"]: r for r in json.loads(Path(args.baseline).read_text())["rows"]}

    # A TERM (a timeout, a kill of this process) unwinds like an exception: both servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    sys.path.insert(0, str(ROOT))
    info = prepare(args.county, args.seed, args.scale)
    print(f"county {args.county}: {info['assets']:,} assets, {info['counties_loaded']} counties in the database; "
          f"town {info['town']}, asset {info['asset']}", flush=True)
    fill = {"town": info["town"], "asset": info["asset"]}
    settings = server_settings(ROOT / "gunicorn.conf.py")
    app_port, floor_port = free_port(), free_port()
    app_base, floor_base = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{floor_port}"
    env = dict(os.environ, WEB_CONCURRENCY=str(WORKERS), BIND=f"127.0.0.1:{app_port}", PYTHONPATH=str(ROOT))
    env.pop("PORT", None)
    logs = Path(tempfile.mkdtemp(prefix="bench_served_"))
    results = []
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with ExitStack() as stack:
        stack.enter_context(served("app (gunicorn, gunicorn.conf.py)",
                                   [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"),
                                    "wsgi:app"], ROOT, env, logs / "app.log", app_base))
        stack.enter_context(served("floor (gunicorn, floor_app.py)", floor_command(settings, floor_port), BENCH,
                                   dict(os.environ), logs / "floor.log", floor_base))
        cookies = {}
        for row in rows:
            path = row["path"].format(**fill)
            base = floor_base if row["kind"] == "floor" else app_base
            authorization = cookie = None
            headers = {}
            if row["kind"] == "api":
                authorization = "Bearer " + info["tokens"][row["auth"]]
                headers["Authorization"] = authorization
            elif row["kind"] != "floor":  # a page: the session of a login through the form
                if row["auth"] not in cookies:
                    cookies[row["auth"]] = login_cookie(app_base, info["users"][row["auth"]])
                cookie = cookies[row["auth"]]
                headers["Cookie"] = cookie
            if row["kind"] == "after_write":
                threads = connections = first_ms = None
                figures = after_writes(app_base, info["tokens"][row["auth"]], cookie, info["asset"])
            else:
                status, first_ms = warm(base + path, headers)
                if status != 200:
                    raise RuntimeError(f"{row['key']}: {path} answered {status} before the load")
                loaded = row["kind"] in ("floor", "api")
                threads, connections = (THREADS, CONNECTIONS) if loaded else (1, 1)
                seconds = args.duration if loaded else page_duration(args.duration, first_ms)
                figures = run_wrk(base + path, threads=threads, connections=connections,
                                  duration=seconds, authorization=authorization, cookie=cookie)
            result = {"key": row["key"], "label": row["label"], "kind": row["kind"], "path": path,
                      "threads": threads, "connections": connections, "first_ms": first_ms, **figures}
            result["load_1m"] = round(os.getloadavg()[0], 2)
            results.append(result)
            rps = "—" if figures["req_per_s"] is None else f"{figures['req_per_s']:.1f}"
            print(f"{row['key']:22} {rps:>8} req/s  p50 {fmt_ms(figures['p50_ms']):>9}  "
                  f"p99 {fmt_ms(figures['p99_ms']):>9}  {figures['requests']} requests, "
                  f"non-2xx {figures['non2xx']}  first {fmt_ms(first_ms)}", flush=True)
    load_after = os.getloadavg()
    results = with_floor(results)
    for row in results:
        row["checks"] = judge(row, TARGETS.get(row["key"]), baseline.get(row["key"]))
    all_met = all(c["met"] for row in results for c in row["checks"])
    warning = load_warning(load_before, load_after)
    floor = floor_reference(results)

    print()
    print(f"served: gunicorn {settings['workers']} {settings['worker_class']} workers each (app and floor); wrk "
          f"{THREADS} threads, {CONNECTIONS} connections, {args.duration} s per API row; pages 1 connection")
    print(table(results))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if floor:
        print(f"floor: {floor['req_per_s']:.0f} req/s, p99 {fmt_ms(floor['p99_ms'])} (mean of its runs; last/first "
              f"req/s {floor['drift']:.2f}: {'steady' if 0.85 <= floor['drift'] <= 1.15 else 'the machine changed speed during the run'})")
    if warning:
        print(warning)
    print("targets: " + ("all met" if all_met else "MISSED: " + ", ".join(
        f"{r['key']} ({'; '.join(c['target'] + ' ' + c['figure'] for c in r['checks'] if not c['met'])})"
        for r in results if not all(c["met"] for c in r["checks"]))))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "county": args.county, "database": database_name(url), "started_at": started_at,
            "counties_loaded": info["counties_loaded"], "assets": info["assets"], "town": info["town"],
            "asset": info["asset"], "generated": info["generated"], "server": settings,
            "wrk": {"threads": THREADS, "connections": CONNECTIONS, "duration_s": args.duration,
                    "pages": {"threads": 1, "connections": 1}},
            "load_before": load_before, "load_after": load_after, "warning": warning,
            "baseline": args.baseline, "floor": floor, "rows": results, "all_met": all_met, "table": table(results),
            "logs": str(logs),
        }, ensure_ascii=False, indent=2))
    return 0 if all_met or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
