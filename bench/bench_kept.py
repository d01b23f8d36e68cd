"""Benchmark: the kept flags and homes (core/datacache.py) of a generated county, through the whole Flask stack.

Not part of the unit suite. Runs standalone against the database in ``DATABASE_URL`` (meant for
PostgreSQL; never the shared ``test`` database), on a county ``flask generate`` made (it generates none)::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/h_cache \\
        .venv/bin/python bench/bench_kept.py --county 439901 --runs 5

Users as bench/bench_pages.py makes them (one per role; made here if missing). Per page, with the test
client (login, templates, the real queries, no network), as of 2025-06-30:

* ``cold`` — the kept data forgotten first (a new process, or the entry expired);
* ``warm`` — the median of ``--runs`` requests with nothing written in between;
* ``after write`` — a custody record saved through the custody service (logged, committed) just before
  the request, so the county's data version has moved: the median of ``--runs`` such pairs.

Pages: ``/flags`` of the county admin and of a town's finance officer, each role's home ``/`` and the
home's flag fragment ``/home/flags``. ``--explain SCOPE`` instead times each flag rule over the scope (the
rules run directly, nothing kept) and prints EXPLAIN (ANALYZE, BUFFERS) of each statement slower than
``--over`` ms (docs/perf/flags_county_led.md was written from it). Targets (issue 12): /flags under 150 ms when nothing changed, under
1 s right after a write; every home under 100 ms. ``DATA_CACHE_SECONDS=0`` gives the figures without
keeping (every request cold). ``--json FILE`` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-pass-1"
PAGES = [("county_admin", "/flags"), ("finance_officer", "/flags"), ("county_admin", "/"), ("auditor", "/"),
         ("finance_officer", "/"), ("village_committee", "/"), ("county_admin", "/home/flags"),
         ("finance_officer", "/home/flags")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", default="439901")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--explain", metavar="SCOPE", help="per flag rule over SCOPE: time, statements and plans")
    ap.add_argument("--over", type=float, default=20.0, help="--explain: plans of statements slower than this (ms)")
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url or url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "test":
        print("DATABASE_URL is required, and not the shared 'test' database", file=sys.stderr)
        return 2

    import sqlalchemy as sa

    from assetreg import create_app
    from assetreg.assets.models import Asset
    from assetreg.core import datacache
    from assetreg.core.time import freeze
    from assetreg.custody.services import record_custody
    from assetreg.distribution.models import DistributionPlan
    from assetreg.extensions import db
    from assetreg.places.models import Place
    from assetreg.users.models import User
    from assetreg.users.services import create_user

    if args.explain:
        return explain(args.explain, args.over)
    app = create_app({"WTF_CSRF_ENABLED": False})
    seconds = app.config["DATA_CACHE_SECONDS"]
    freeze(datetime(2025, 6, 30, 4, tzinfo=UTC))  # the generated data runs to mid-2025
    with app.app_context():
        county = db.session.scalar(sa.select(Place.code).where(Place.code == args.county))
        if county is None:
            print(f"county {args.county} is not in the database: flask generate first", file=sys.stderr)
            return 2
        town = db.session.scalar(sa.select(Place.code).where(Place.county_code == args.county, Place.level == "town")
                                 .order_by(Place.code))
        village = db.session.scalar(sa.select(DistributionPlan.village_code)
                                    .where(DistributionPlan.county_code == args.county)
                                    .order_by(DistributionPlan.year.desc(), DistributionPlan.id))
        scopes = {"county_admin": args.county, "finance_officer": town, "village_committee": village,
                  "auditor": args.county}
        for role, scope in scopes.items():
            name = f"bench_{role}_{args.county}"
            if db.session.scalar(sa.select(User.id).where(User.username == name)) is None:
                create_user(username=name, password=PASSWORD, role=role, scope_code=scope)
        db.session.commit()
        road = db.session.scalar(sa.select(Asset.id).where(Asset.county_code == args.county,
                                                           Asset.category == "public_welfare",
                                                           Asset.status == "in_use").order_by(Asset.id))
        print(f"county {args.county} on {db.engine.dialect.name}: town {town}, village {village}; "
              f"DATA_CACHE_SECONDS={seconds}, cache {type(datacache.cache.cache).__name__}", flush=True)

    clients = {}
    for role in scopes:
        c = app.test_client()
        r = c.post("/login", data={"username": f"bench_{role}_{args.county}", "password": PASSWORD})
        assert r.status_code == 302, (role, r.status_code)
        clients[role] = c

    writes = {"n": 0}

    def write() -> None:
        """A logged write in the county, as a request makes it: a custody record, committed."""
        writes["n"] += 1
        with app.app_context():
            admin = db.session.scalar(sa.select(User).where(User.username == f"bench_county_admin_{args.county}"))
            record_custody(admin, road, {"custodian_unit": "压测管护单位", "responsible_person": f"压测{writes['n']}",
                                         "annual_fund": Decimal("1000.00"), "term_from": date(2020, 1, 1),
                                         "term_to": date(2030, 12, 31)})
            db.session.commit()

    def timed(role: str, path: str) -> float:
        t = time.perf_counter()
        r = clients[role].get(path)
        ms = (time.perf_counter() - t) * 1000
        assert r.status_code == 200, (role, path, r.status_code)
        return ms

    rows = []
    for role, path in PAGES:
        with app.app_context():
            datacache.clear()
        cold = timed(role, path)
        warm = statistics.median(timed(role, path) for _ in range(args.runs))
        after = []
        for _ in range(args.runs):
            write()
            after.append(timed(role, path))
        row = {"role": role, "path": path, "cold_ms": round(cold, 1), "warm_ms": round(warm, 1),
               "after_write_ms": round(statistics.median(after), 1)}
        rows.append(row)
        print(f"{role:18} {path:12} cold {cold:7.1f} ms  warm {warm:7.1f} ms  after a write "
              f"{row['after_write_ms']:7.1f} ms", flush=True)
    flags_warm = max(r["warm_ms"] for r in rows if r["path"] == "/flags")
    flags_after = max(r["after_write_ms"] for r in rows if r["path"] == "/flags")
    homes = max(r["warm_ms"] for r in rows if r["path"] == "/")
    print(f"targets: /flags warm {flags_warm:.0f} ms (< 150: {'met' if flags_warm < 150 else 'NOT met'}), "
          f"after a write {flags_after:.0f} ms (< 1000: {'met' if flags_after < 1000 else 'NOT met'}); "
          f"homes warm ≤ {homes:.0f} ms (< 100: {'met' if homes < 100 else 'NOT met'}); "
          f"load {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"county": args.county, "data_cache_seconds": seconds, "rows": rows},
                                              ensure_ascii=False, indent=2))
    return 0


def explain(scope: str, over_ms: float) -> int:
    """Each rule's time and statements over ``scope`` as of 2025-06-30, with the plans of the slow ones."""
    import sqlalchemy as sa

    from assetreg import create_app
    from assetreg.extensions import db
    from assetreg.flags import engine
    from assetreg.flags.rules import ORDER, RULES

    app = create_app({"DATA_CACHE_SECONDS": 0})
    seen: list[tuple[str, object, float]] = []
    with app.app_context():
        @sa.event.listens_for(db.engine, "before_cursor_execute")
        def _start(conn, cursor, statement, parameters, context, executemany):
            context.bench_t0 = time.perf_counter()

        @sa.event.listens_for(db.engine, "after_cursor_execute")
        def _end(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement, parameters, (time.perf_counter() - context.bench_t0) * 1000))

        ctx = engine.build_context(scope, date(2025, 6, 30))
        for rid in ORDER:
            seen.clear()
            t = time.perf_counter()
            n = len(list(RULES[rid].evaluate(ctx)))
            ms = (time.perf_counter() - t) * 1000
            statements = list(seen)
            print(f"{rid:26} {ms:8.1f} ms  {n:5d} flags  {len(statements)} SQL  "
                  f"slowest {max((s[2] for s in statements), default=0):.1f} ms", flush=True)
            for statement, parameters, sms in statements:
                if sms >= over_ms:
                    cursor = db.session.connection().connection.dbapi_connection.cursor()
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                    plan = "\n".join(r[0] for r in cursor.fetchall())
                    print(f"--- {rid} {sms:.1f} ms\n{statement}\n{plan}\n", flush=True)
        db.session.rollback()
    return 0


if __name__ == "__main__":
    sys.exit(main())
