"""Benchmark: the task-level targets of issue 12 for one generated county.

Not part of the unit suite. Runs standalone against the database in ``DATABASE_URL`` (meant for
PostgreSQL; never the shared ``test`` database)::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/h_tasks \\
        .venv/bin/python bench/bench_tasks.py --county 439901 --json /tmp/tasks.json

It migrates the database and generates the county unless it is there already (``flask generate``
code, as bench/bench_export.py does), then measures, each ``--rounds`` times (median reported):

* ``lists`` — the four lists workbook (四张清单: 资产清单, 责任清单, 制度清单, 三级档案清单) of the county,
  ``lists.xlsx.build_workbook`` as the county admin (what ``flask lists`` and the lists API call);
  target < 5 s; rows = the rows of the four lists;
* ``import dry run`` and ``import commit`` — a 20,000-row asset workbook (the import template's data
  sheet and headers, new asset codes in the county's existing villages) through
  ``imports.services.run_import`` with full validation, first as a dry run, then for real; the written
  rows are flushed (every insert, trigger and hash-chain step done) and the transaction then rolled back
  so that every round imports into the same county; target < 15 s each;
* ``plan save`` — a plan with 500 household lines saved through ``distribution.services.set_allocations``
  (the service the plan page and ``PUT /api/v1/plans/{id}/allocations`` call), for the village with
  the most households: its 2024 plan is removed inside the transaction and created again
  (``create_plan``, timed apart), then the allocations with 500 lines are saved; rolled back after each
  round; target < 1 s.

Wall seconds and this process's CPU seconds (the database server's CPU is not in it) are printed with
rows/second, the target and met/missed; ``--json FILE`` keeps the figures.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import sys
import time
from decimal import Decimal
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMPORT_ROWS = 20_000
PLAN_LINES = 500
TARGETS = {"lists": 5.0, "import_dry_run": 15.0, "import_commit": 15.0, "plan_save": 1.0}


def _app():
    from assetreg import create_app

    return create_app()


def _user(username: str, role: str, scope_code: str, display: str):
    import sqlalchemy as sa

    from assetreg.extensions import db
    from assetreg.users.models import User
    from assetreg.users.services import create_user

    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        user = create_user(username=username, password="bench-password-1", role=role, scope_code=scope_code,
                           display_name=display)
        db.session.commit()
    return user


def prepare(county: str, scale: float, seed: int) -> dict:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from assetreg.extensions import db
    from assetreg.generator import generate as gen

    info: dict = {"dialect": db.engine.dialect.name, "generated": False}
    if db.engine.url.database in ("test", "bench1", "prov"):
        sys.exit("refusing to run on a shared database: give DATABASE_URL a database of your own")
    upgrade()
    if not gen.county_exists(county):
        started = time.perf_counter()
        result = gen.generate_county(county, seed=seed, scale=scale)
        db.session.commit()
        if info["dialect"] == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in gen.TABLES:
                    conn.execute(sa.text(f"ANALYZE {table}"))
        info.update(generated=True, generate_seconds=round(time.perf_counter() - started, 1))
        print(result.report(), flush=True)
    return info


def _timed(fn) -> tuple[float, float, object]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def _summary(name: str, runs: list[tuple[float, float]], rows: int) -> dict:
    wall = statistics.median(w for w, _ in runs)
    cpu = statistics.median(c for _, c in runs)
    target = TARGETS.get(name)
    return {"task": name, "rows": rows, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "rows_per_s": round(rows / wall) if wall else None, "runs_wall_s": [round(w, 3) for w, _ in runs],
            "runs_cpu_s": [round(c, 3) for _, c in runs], "target_s": target,
            "met": None if target is None else wall < target}


# --- the four lists workbook -------------------------------------------------------------------------

def bench_lists(admin, county: str, rounds: int) -> dict:
    from assetreg.extensions import db
    from assetreg.lists import services as lists_services
    from assetreg.lists import xlsx

    runs, size = [], 0
    for _ in range(rounds):
        wall, cpu, (_scope, data) = _timed(lambda: xlsx.build_workbook(admin, scope=county))
        db.session.rollback()
        runs.append((wall, cpu))
        size = len(data)
    rows = 0
    for kind in xlsx.SHEETS:
        out = lists_services.build_list(admin, kind, scope=county, per_page=None)
        rows += sum(len(v) for k, v in out.items() if isinstance(v, list) and k != "columns")
    db.session.rollback()
    return {**_summary("lists", runs, rows), "bytes": size}


# --- the 20,000-row asset import --------------------------------------------------------------------

def import_workbook(county: str, tag: str, n: int = IMPORT_ROWS) -> bytes:
    """A valid asset workbook of ``n`` rows: the import template's data sheet (its title and headers) with
    new codes ``BT<tag>-NNNNN`` spread over the county's current villages."""
    import sqlalchemy as sa
    import xlsxwriter

    from assetreg.extensions import db
    from assetreg.imports.templates import KINDS
    from assetreg.places.models import Place

    kind = KINDS["assets"]
    villages = list(db.session.scalars(sa.select(Place.code).where(
        Place.county_code == county, Place.level == "village", Place.valid_to.is_(None)).order_by(Place.code)))
    subtypes = [("经营性", "光伏电站", "运营中", "座"), ("经营性", "扶贫车间", "运营中", "间"),
                ("公益性", "道路", "使用中", "条"), ("公益性", "饮水工程", "使用中", "处")]
    headers = [c.header for c in kind.columns]
    at = {c.field: j for j, c in enumerate(kind.columns)}
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"constant_memory": True})
    ws = wb.add_worksheet(kind.title)
    ws.write_row(0, 0, headers)
    for i in range(n):
        category, subtype, status, unit = subtypes[i % len(subtypes)]
        village = villages[i % len(villages)]
        year = 2016 + i % 8
        value = Decimal(10_000 + (i * 7919) % 990_000) + Decimal(i % 100) / 100
        fiscal = (value * Decimal("0.8")).quantize(Decimal("0.01"))
        row = [""] * len(headers)
        row[at["code"]] = f"BT{tag}-{i:05d}"
        row[at["name"]] = f"基准{subtype}{i:05d}"
        row[at["category"]] = category
        row[at["subtype"]] = subtype
        row[at["place_code"]] = village
        row[at["managing_level"]] = "村"
        row[at["project_name"]] = f"{year}年{subtype}项目"
        row[at["project_year"]] = str(year)
        row[at["completed_on"]] = f"{year}-06-30"
        row[at["original_value"]] = f"{value:.2f}"
        row[at["funding_fiscal_link"]] = f"{fiscal:.2f}"
        row[at["funding_other"]] = f"{value - fiscal:.2f}"
        row[at["quantity"]] = "1"
        row[at["unit"]] = unit
        row[at["useful_life_years"]] = "20"
        row[at["status"]] = status
        row[at["status_on"]] = f"{year}-09-01"
        ws.write_row(i + 1, 0, row)
    wb.close()
    return buf.getvalue()


def bench_import(admin, county: str, rounds: int) -> list[dict]:
    from assetreg.extensions import db
    from assetreg.imports import services as imports

    tag = time.strftime("%H%M%S")
    content = import_workbook(county, tag)
    out = []
    for dry_run in (True, False):
        runs = []
        for _ in range(rounds):
            def run(dry_run=dry_run):
                report, _sheet = imports.run_import(admin, "assets", content, "资产台账.xlsx", dry_run=dry_run)
                if not report.ok:
                    raise SystemExit(f"the benchmark workbook is not valid: {report.errors[:5]}")
                if not dry_run:
                    if not report.committed or report.created != IMPORT_ROWS:
                        raise SystemExit(f"the import did not write every row: {report.counts}")
                    db.session.flush()
                elif report.to_create != IMPORT_ROWS:
                    raise SystemExit(f"the dry run does not create every row: {report.counts}")
                return report

            wall, cpu, _ = _timed(run)
            db.session.rollback()
            runs.append((wall, cpu))
        out.append({**_summary("import_dry_run" if dry_run else "import_commit", runs, IMPORT_ROWS),
                    "bytes": len(content)})
    return out


# --- a plan with 500 household lines ------------------------------------------------------------------

def _plan_village(county: str) -> tuple[str, str]:
    import sqlalchemy as sa

    from assetreg.extensions import db
    from assetreg.households.models import Household

    code, _n = db.session.execute(sa.select(Household.village_code, sa.func.count()).where(
        Household.county_code == county).group_by(Household.village_code)
        .order_by(sa.func.count().desc(), Household.village_code).limit(1)).one()
    return code, f"bench_vc_{code}"


def bench_plan(vc, village: str, year: int, rounds: int) -> list[dict]:
    import sqlalchemy as sa

    from assetreg.distribution import services as dist
    from assetreg.distribution.models import DistributionPlan
    from assetreg.extensions import db
    from assetreg.households.models import Household

    households = list(db.session.scalars(sa.select(Household.id).where(
        Household.county_code == vc.county_code, Household.village_code == village).order_by(Household.id)
        .limit(PLAN_LINES)))
    if len(households) < PLAN_LINES:
        raise SystemExit(f"village {village} has only {len(households)} households")
    create_runs, save_runs = [], []
    for _ in range(rounds):
        # Inside the transaction rolled back below: the village's plan of the year goes (its children
        # cascade) so that the plan is created and saved anew each round.
        db.session.execute(sa.delete(DistributionPlan).where(
            DistributionPlan.county_code == vc.county_code, DistributionPlan.village_code == village,
            DistributionPlan.year == year))
        wall, cpu, plan = _timed(lambda: dist.create_plan(vc, {"village_code": village, "year": year,
                                                               "note": "基准测试方案"}))
        create_runs.append((wall, cpu))
        each = (plan.available * Decimal("0.5") / PLAN_LINES).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
        if each <= 0:
            raise SystemExit(f"the plan of {village} {year} has nothing to distribute ({plan.available})")
        allocations = [{"purpose": "relief", "amount": each * PLAN_LINES, "use": "扶贫济困（基准测试）",
                        "lines": [{"household_id": h, "amount": each, "reason": "困难户帮扶"} for h in households]}]
        version = plan.version
        wall, cpu, saved = _timed(partial(dist.set_allocations, vc, plan.id, allocations, version=version))
        if sum(len(a.lines) for a in saved.allocations) != PLAN_LINES:
            raise SystemExit("the plan was not saved with every line")
        save_runs.append((wall, cpu))
        db.session.rollback()
    return [_summary("plan_create", create_runs, 1), _summary("plan_save", save_runs, PLAN_LINES)]


def _print(results: list[dict]) -> None:
    print(f"\n{'task':<16}{'rows':>8}{'wall s':>9}{'cpu s':>8}{'rows/s':>9}{'target':>9}  result")
    for r in results:
        target = f"< {r['target_s']:g} s" if r["target_s"] is not None else ""
        met = "" if r["met"] is None else ("met" if r["met"] else "MISSED")
        print(f"{r['task']:<16}{r['rows']:>8,}{r['wall_s']:>9.2f}{r['cpu_s']:>8.2f}{r['rows_per_s'] or 0:>9,}"
              f"{target:>9}  {met}   runs {r['runs_wall_s']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--county", default="439901", help="generated county code (4399NN)")
    ap.add_argument("--scale", type=float, default=1.0, help="scale when the county must be generated")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", choices=["lists", "import", "plan"], action="append",
                    help="measure only these (repeatable); default: all three")
    ap.add_argument("--json", dest="json_path", default=None, help="write the figures to this file")
    args = ap.parse_args()
    app = _app()
    with app.app_context():
        from assetreg.extensions import db

        info = prepare(args.county, args.scale, args.seed)
        admin = _user(f"bench_admin_{args.county}", "county_admin", args.county, f"{args.county} 县管理员（基准测试）")
        only = set(args.only or ["lists", "import", "plan"])
        results: list[dict] = []
        if "lists" in only:
            results.append(bench_lists(admin, args.county, args.rounds))
            print(f"lists: {results[-1]}", flush=True)
        if "import" in only:
            results.extend(bench_import(admin, args.county, args.rounds))
            print(f"import: {results[-2:]}", flush=True)
        if "plan" in only:
            village, name = _plan_village(args.county)
            vc = _user(name, "village_committee", village, f"{village} 村委会（基准测试）")
            results.extend(bench_plan(vc, village, 2024, args.rounds))
        db.session.rollback()
    _print(results)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps({
            "database": info["dialect"], "county": args.county, "rounds": args.rounds, "prepare": info,
            "results": results}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
