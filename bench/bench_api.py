"""Benchmark: the hot JSON API requests of a generated county, in-process, where the time goes.

Not part of the unit suite. Runs standalone against the database in ``DATABASE_URL`` (meant for
PostgreSQL; never the shared ``test`` database)::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/h_api \\
        .venv/bin/python bench/bench_api.py --county 439901 -n 100 [--profile DIR] [--sql] [--json F]

The county must have been generated (``flask generate --counties 1 --seed 7``). Adds a county admin
and the first town's finance officer with a bearer token each (once), then sends each row's request
``-n`` times through the Flask test client (the whole stack: the token lookup, the query-argument
schema, the service, the JSON dump; no network, no server). Per row: CPU ms per request (this
process's ``time.process_time``, which includes the database driver but not the database server),
wall ms per request (median and p99), and the SQL statements per request.

``--profile DIR`` writes one pyinstrument HTML profile per row (and prints its text summary);
``--sql`` prints each statement of one request of each row with its count.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (name, role, path). "{town}" and "{asset}" are filled from the data.
ROWS = [
    ("town asset list", "finance_officer", "/api/v1/assets?town_code={town}&per_page=50"),
    ("county list, operating by value", "county_admin",
     "/api/v1/assets?category=operating&sort=-original_value&per_page=50"),
    ("asset detail", "finance_officer", "/api/v1/assets/{asset}"),
    ("资产清单 API, town", "county_admin", "/api/v1/lists/assets?scope={town}&per_page=50"),
    ("资产清单 API, county", "county_admin", "/api/v1/lists/assets?per_page=50"),
]


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", default="439901")
    ap.add_argument("-n", "--requests", type=int, default=100, help="requests per row (after 3 warm-ups)")
    ap.add_argument("--only", help="run only the rows whose name contains this text")
    ap.add_argument("--profile", metavar="DIR", help="write a pyinstrument profile per row into DIR")
    ap.add_argument("--sql", action="store_true", help="print the statements of one request per row")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url or url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "test":
        print("DATABASE_URL is required, and not the shared 'test' database", file=sys.stderr)
        return 2

    import sqlalchemy as sa

    from assetreg import create_app
    from assetreg.assets.models import Asset
    from assetreg.core.time import freeze
    from assetreg.extensions import db
    from assetreg.places.models import Place
    from assetreg.users.models import User
    from assetreg.users.services import create_user, issue_token, revoke_tokens

    app = create_app()
    seen: list[str] = []
    tokens = {}
    with app.app_context():
        if db.session.scalar(sa.select(sa.func.count()).select_from(Asset)
                             .where(Asset.county_code == args.county)) == 0:
            print(f"county {args.county} is not generated: run flask generate first", file=sys.stderr)
            return 2
        town = db.session.scalar(sa.select(Place.code).where(Place.county_code == args.county, Place.level == "town")
                                 .order_by(Place.code))
        fill = {"town": town,
                "asset": db.session.scalar(sa.select(Asset.id).where(Asset.town_code == town).order_by(Asset.id))}
        for role, scope in {"county_admin": args.county, "finance_officer": town}.items():
            name = f"benchapi_{role}_{args.county}"
            user = db.session.scalar(sa.select(User).where(User.username == name))
            if user is None:
                user = create_user(username=name, password="bench-pass-1", role=role, scope_code=scope)
            revoke_tokens(user, name="bench_api")  # the last run's
            tokens[role] = issue_token(user, name="bench_api")
        db.session.commit()

        @sa.event.listens_for(db.engine, "before_cursor_execute")
        def _record(_conn, _cursor, statement, *_a):
            seen.append(statement)

    freeze(datetime(2025, 6, 30, 4, tzinfo=UTC))  # the generated data runs to mid-2025
    client = app.test_client()
    results = []
    for name, role, path in ROWS:
        if args.only and args.only not in name:
            continue
        path = path.format(**fill)
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        for _ in range(3):
            r = client.get(path, headers=headers)
            assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])
        seen.clear()
        client.get(path, headers=headers)
        statements = list(seen)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler
            profiler = Profiler(interval=0.0005)
            profiler.start()
        walls, cpu0 = [], time.process_time()
        for _ in range(args.requests):
            t = time.perf_counter()
            r = client.get(path, headers=headers)
            walls.append(time.perf_counter() - t)
        cpu = time.process_time() - cpu0
        if profiler:
            profiler.stop()
            out = Path(args.profile)
            out.mkdir(parents=True, exist_ok=True)
            slug = "".join(c if c.isalnum() else "_" for c in name.encode("ascii", "ignore").decode()).strip("_")
            (out / f"{slug or 'row'}.html").write_text(profiler.output_html())
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        row = {"name": name, "path": path, "bytes": len(r.data), "statements": len(statements),
               "cpu_ms": round(cpu * 1000 / args.requests, 2),
               "wall_median_ms": round(statistics.median(walls) * 1000, 2),
               "wall_p99_ms": round(_p99(walls) * 1000, 2)}
        results.append(row)
        print(f"{name:34} cpu {row['cpu_ms']:7.2f} ms/req  wall p50 {row['wall_median_ms']:7.2f} "
              f"p99 {row['wall_p99_ms']:7.2f} ms  {row['statements']:2d} SQL  {row['bytes'] // 1024:4d} KB",
              flush=True)
        if args.sql:
            for statement, count in Counter(" ".join(s.split()) for s in statements).items():
                print(f"    {count:3d} × {statement[:300]}")
    print(f"load {os.getloadavg()[0]:.1f}; {args.requests} requests per row")
    if args.json:
        Path(args.json).write_text(json.dumps({"county": args.county, "rows": results}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
