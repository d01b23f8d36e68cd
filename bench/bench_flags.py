"""Benchmark: the flags of a large generated county, set-based engine against the naive per-asset evaluation.

Not part of the unit suite. Runs standalone against the database in ``DATABASE_URL`` (meant for
PostgreSQL; never the shared ``test`` database)::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/flags_bench \\
        .venv/bin/python bench/bench_flags.py --county 439901 --seed 7 --scale 1

It migrates the database, generates the county unless it is there already (``flask generate`` code:
≈20,000 assets, 300 villages, monthly income January 2020 – May 2025), then in the same run:

* ``engine`` — ``flags.engine.evaluate(county, as_of)``: a few queries per rule; ``--runs`` times (the
  first run cold), reporting the best and the median;
* ``naive`` — ``tests/flags_naive.py`` ``evaluate_naive`` (the test oracle): every asset, village, town, plan and problem read with its
  own queries and judged in Python (once; minutes);

and checks both give exactly the same flags. Targets: engine under 2 s, at least 20× faster than naive.
Wall time includes the database's share; ``cpu`` is this process only. ``--json FILE`` keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _timed(fn):
    wall, cpu = time.perf_counter(), _cpu_s()
    out = fn()
    return out, time.perf_counter() - wall, _cpu_s() - cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--county", default="439901")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--as-of", default="2025-06-30")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-naive", action="store_true", help="engine only (no comparison)")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print("DATABASE_URL is required (a PostgreSQL database of your own)", file=sys.stderr)
        return 2
    if url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] == "test":
        print("refusing the shared 'test' database", file=sys.stderr)
        return 2
    as_of = date.fromisoformat(args.as_of)

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from assetreg import create_app
    from assetreg.assets.models import Asset
    from assetreg.extensions import db
    from assetreg.flags import engine
    from assetreg.generator import generate as gen
    from assetreg.income.models import IncomeEntry
    from assetreg.places.models import Place
    from tests import flags_naive as naive

    app = create_app()
    with app.app_context():
        upgrade()
        if not gen.county_exists(args.county):
            first = int(args.county[-2:])
            print(f"generating {args.county} (seed {args.seed}, scale {args.scale}) …", flush=True)
            _, secs, _ = _timed(lambda: gen.generate(counties=1, seed=args.seed, scale=args.scale, first=first))
            db.session.commit()
            if db.engine.dialect.name == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    for table in gen.TABLES:
                        conn.execute(sa.text(f"ANALYZE {table}"))
            print(f"  generated in {secs:.0f} s", flush=True)
        size = {
            "assets": db.session.scalar(sa.select(sa.func.count()).select_from(Asset)
                                        .where(Asset.county_code == args.county)),
            "villages": db.session.scalar(sa.select(sa.func.count()).select_from(Place)
                                          .where(Place.county_code == args.county, Place.level == "village")),
            "income_entries": db.session.scalar(sa.select(sa.func.count()).select_from(IncomeEntry)
                                                .where(IncomeEntry.county_code == args.county)),
        }
        db.session.rollback()
        print(f"county {args.county} on {db.engine.dialect.name}: {size['assets']:,} assets, "
              f"{size['villages']} villages, {size['income_entries']:,} ledger entries; as of {as_of}", flush=True)

        walls, cpus, flags = [], [], None
        for i in range(args.runs):
            flags, wall, cpu = _timed(lambda: engine.evaluate(args.county, as_of))
            db.session.rollback()  # each run in its own transaction, like a request
            walls.append(wall)
            cpus.append(cpu)
            print(f"  engine run {i + 1}: {wall:.3f} s (cpu {cpu:.3f} s), {len(flags):,} flags", flush=True)
        result = {"county": args.county, "as_of": as_of.isoformat(), "database": db.engine.dialect.name, **size,
                  "flags": len(flags), "by_rule": dict(Counter(f.rule_id for f in flags).most_common()),
                  "engine_first_s": round(walls[0], 3), "engine_best_s": round(min(walls), 3),
                  "engine_median_s": round(statistics.median(walls), 3),
                  "engine_cpu_median_s": round(statistics.median(cpus), 3),
                  "load_average": os.getloadavg()[0]}
        print(f"engine: best {min(walls):.3f} s, median {statistics.median(walls):.3f} s, first {walls[0]:.3f} s")
        if not args.skip_naive:
            print("naive evaluation (every object with its own queries) …", flush=True)
            slow, wall, cpu = _timed(lambda: naive.evaluate_naive(args.county, as_of))
            db.session.rollback()
            same = [f.identity() for f in slow] == [f.identity() for f in flags]
            result.update(naive_s=round(wall, 3), naive_cpu_s=round(cpu, 3), same_flags=same,
                          speedup_vs_median=round(wall / statistics.median(walls), 1),
                          speedup_vs_best=round(wall / min(walls), 1))
            print(f"naive: {wall:.1f} s (cpu {cpu:.1f} s); same flags: {same}")
            print(f"speed-up: {wall / statistics.median(walls):.0f}× (median), {wall / min(walls):.0f}× (best)")
        print("flags by rule: " + ", ".join(f"{k} {v}" for k, v in result["by_rule"].items()))
        ok = result["engine_median_s"] < 2 and (args.skip_naive or (result["same_flags"]
                                                                    and result["speedup_vs_median"] >= 20))
        result["targets_met"] = ok
        print(f"targets (engine < 2 s, ≥ 20× naive, same flags): {'met' if ok else 'NOT met'}; "
              f"load average {result['load_average']:.1f}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
