"""Benchmark: the main pages of a large generated county, per role, through the whole Flask stack.

Not part of the unit suite. Runs standalone against the database in ``DATABASE_URL`` (meant for
PostgreSQL; never the shared ``test`` database)::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/pages_bench \\
        .venv/bin/python bench/bench_pages.py --county 439901 --seed 7 --runs 5

It migrates the database, generates the county unless it is there (``flask generate`` code: ≈20,000
assets, 300 villages, 120,000 households, five years of monthly income), adds one user per role
(county admin, the first town's finance officer, the first village's committee, a county auditor),
logs each in through the login form and requests its pages ``--runs`` times with the test client
(templates rendered, sessions, CSRF, the real queries; no network). Reports per page the median and
worst wall time and the number of SQL statements. Target: every page's median under 1 s at county
scale, and the statement count independent of the county's size (it is the same figure the unit
tests hold constant with a handful of rows).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-pass-1"

# (role, user name, pages). "{asset}" / "{plan}" / "{household}" / "{village}" are filled from the data.
PAGES = {
    "county_admin": ["/", "/assets", "/assets?category=operating&status=in_operation&sort=-original_value",
                     "/assets?q=光伏&page=20", "/assets/{asset}", "/households", "/plans", "/settlements",
                     "/lists", "/flags", "/problems", "/changes", "/admin/users"],
    "finance_officer": ["/", "/assets", "/assets/{asset}", "/households?q=张", "/plans", "/flags",
                        "/villages/{village}/years/2024"],
    "village_committee": ["/", "/assets", "/plans", "/plans/{plan}", "/plans/{plan}/procedure",
                          "/plans/{plan}/notice-preview", "/households", "/households/{household}"],
    "auditor": ["/", "/assets", "/changes", "/exports", "/lists", "/flags"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", default="439901")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url or url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "test":
        print("DATABASE_URL is required, and not the shared 'test' database", file=sys.stderr)
        return 2

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from assetreg import create_app
    from assetreg.assets.models import Asset
    from assetreg.core.time import freeze
    from assetreg.distribution.models import DistributionPlan
    from assetreg.extensions import db
    from assetreg.generator import generate as gen
    from assetreg.households.models import Household
    from assetreg.places.models import Place
    from assetreg.users.models import User
    from assetreg.users.services import create_user

    app = create_app({"WTF_CSRF_ENABLED": False})  # the test client posts the login form without a page
    statements = {"n": 0}
    with app.app_context():
        upgrade()
        if not gen.county_exists(args.county):
            print(f"generating {args.county} (seed {args.seed}, scale {args.scale}) …", flush=True)
            t = time.perf_counter()
            gen.generate(counties=1, seed=args.seed, scale=args.scale, first=int(args.county[-2:]))
            db.session.commit()
            if db.engine.dialect.name == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    for table in gen.TABLES:
                        conn.execute(sa.text(f"ANALYZE {table}"))
            print(f"  generated in {time.perf_counter() - t:.0f} s", flush=True)
        town = db.session.scalar(sa.select(Place.code).where(Place.county_code == args.county, Place.level == "town")
                                 .order_by(Place.code))
        plan = db.session.scalar(sa.select(DistributionPlan).where(DistributionPlan.county_code == args.county)
                                 .order_by(DistributionPlan.year.desc(), DistributionPlan.id))
        village = plan.village_code
        fill = {"asset": db.session.scalar(sa.select(Asset.id).where(Asset.town_code == town).order_by(Asset.id)),
                "plan": plan.id, "village": village,
                "household": db.session.scalar(sa.select(Household.id).where(Household.village_code == village)
                                               .order_by(Household.id))}
        scopes = {"county_admin": args.county, "finance_officer": town, "village_committee": village,
                  "auditor": args.county}
        for role, scope in scopes.items():
            name = f"bench_{role}_{args.county}"
            if db.session.scalar(sa.select(User.id).where(User.username == name)) is None:
                create_user(username=name, password=PASSWORD, role=role, scope_code=scope)
        db.session.commit()
        assets = db.session.scalar(sa.select(sa.func.count()).select_from(Asset).where(Asset.county_code == args.county))
        print(f"county {args.county} on {db.engine.dialect.name}: {assets:,} assets; town {town}, village {village}")

        @sa.event.listens_for(db.engine, "before_cursor_execute")
        def _count(*_a, **_k):
            statements["n"] += 1

    rows = []
    freeze(datetime(2025, 6, 30, 4, tzinfo=UTC))  # the generated data runs to mid-2025
    for role, pages in PAGES.items():
        client = app.test_client()
        r = client.post("/login", data={"username": f"bench_{role}_{args.county}", "password": PASSWORD})
        assert r.status_code == 302, (role, r.status_code)
        for path in pages:
            path = path.format(**fill)
            times, counts, status = [], [], None
            for _ in range(args.runs):
                statements["n"] = 0
                t = time.perf_counter()
                r = client.get(path)
                times.append(time.perf_counter() - t)
                counts.append(statements["n"])
                status = r.status_code
            row = {"role": role, "path": path, "status": status, "median_ms": round(statistics.median(times) * 1000),
                   "worst_ms": round(max(times) * 1000), "statements": max(counts), "bytes": len(r.data)}
            rows.append(row)
            print(f"{role:18} {path:70} {status} median {row['median_ms']:5d} ms  worst {row['worst_ms']:5d} ms  "
                  f"{row['statements']:3d} SQL  {row['bytes'] // 1024:4d} KB", flush=True)
    slow = [r for r in rows if r["median_ms"] >= 1000 or r["status"] != 200]
    print(f"pages: {len(rows)}; median of medians {statistics.median(r['median_ms'] for r in rows)} ms; "
          f"slowest {max(rows, key=lambda r: r['median_ms'])['path']} "
          f"({max(r['median_ms'] for r in rows)} ms); target (every median < 1 s, all 200): "
          f"{'met' if not slow else 'NOT met: ' + ', '.join(r['path'] for r in slow)}; load {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"county": args.county, "rows": rows}, ensure_ascii=False, indent=2))
    return 0 if not slow else 1


if __name__ == "__main__":
    sys.exit(main())
