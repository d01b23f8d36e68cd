"""Benchmark: the large tables partitioned by county code (issue 12 item 5b, migration 0008_partitions).

Not part of the unit suite. Runs standalone against the PostgreSQL database in ``DATABASE_URL`` (a database
of your own; never the shared ``test`` one), with generated counties in it::

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/h_part FLASK_APP=wsgi.py \\
        .venv/bin/flask db upgrade && … .venv/bin/flask generate --counties 3 --seed 7 --scale 0.3
    DATABASE_URL=… .venv/bin/python bench/explain_partitions.py --county 439902 --json /tmp/partitions.json

1. Migrates to head and, unless the county has some already, writes ``--log-rows`` change-log rows per
   county through the app's own chained writer (the generator writes none), so the log page has rows.
2. Goes down to 0007_chain (the tables plain again; timed) and EXPLAINs (ANALYZE, BUFFERS) the statements
   the app sends for the county: ``income_by_year`` of the county, a plan's allocation lines (the
   plan page's batch load), the change log's first page (``list_changes`` as the county admin) and a
   household's members. Each statement is captured from the service as it runs, then explained with
   its own parameters.
3. Goes up to 0008_partitions (timed: rows copied per second) and EXPLAINs the same statements again.

Prints the figures and writes them and the plans to ``--json``; ``--markdown`` writes the plans as a
Markdown fragment (docs/perf/partitions.md is made from it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TABLES = ("income_entries", "plan_lines", "change_log", "household_members")
_PART = re.compile(r"\b(" + "|".join(TABLES) + r")(_p\d\d)?\b")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--county", default="439902")
    p.add_argument("--log-rows", type=int, default=20000, help="change-log rows per county written if none")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    return p.parse_args()


class Capture:
    """The statements (with their parameters) sent while in force that read a large table."""

    def __init__(self, engine):
        self.engine = engine
        self.seen: list[tuple[str, object]] = []

    def __enter__(self):
        import sqlalchemy as sa

        sa.event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc):
        import sqlalchemy as sa

        sa.event.remove(self.engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and _PART.search(statement):
            self.seen.append((statement, parameters))


def _write_log(county: str, rows: int) -> int:
    """``rows`` change-log entries of ``county`` written as the app writes them (chained, one flush)."""
    import sqlalchemy as sa

    from assetreg.changelog.models import ChangeLogEntry
    from assetreg.extensions import db
    from assetreg.places.models import Place

    if db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry)
                         .where(ChangeLogEntry.county_code == county)):
        return 0
    villages = list(db.session.scalars(sa.select(Place.code).where(Place.county_code == county,
                                                                   Place.level == "village").order_by(Place.code)))
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(rows):
        v = villages[i % len(villages)]
        db.session.add(ChangeLogEntry(
            county_code=county, town_code=v[:9], village_code=v, actor_id=None, actor_name="bench",
            at=start + timedelta(minutes=7 * i), entity="asset", entity_id=str(i), action="update",
            before={"status": "in_use"}, after={"status": "idle"}))
    db.session.commit()
    return rows


def _statements(county: str) -> dict[str, list[tuple[str, object]]]:
    """The statements the app sends for each measured read of ``county``."""
    import sqlalchemy as sa
    from sqlalchemy.orm import selectinload

    from assetreg.changelog.services import list_changes
    from assetreg.distribution.models import DistributionPlan, PlanAllocation
    from assetreg.extensions import db
    from assetreg.households.models import Household
    from assetreg.income.services import income_by_year
    from assetreg.users.models import User

    out = {}
    with Capture(db.engine) as c:
        income_by_year(county, place_code=county)
    out["income_by_year (county)"] = c.seen
    db.session.expunge_all()
    plan_id = db.session.scalar(sa.select(DistributionPlan.id).where(DistributionPlan.county_code == county)
                                .order_by(DistributionPlan.year.desc(), DistributionPlan.id))
    db.session.expunge_all()
    with Capture(db.engine) as c:
        db.session.scalar(sa.select(DistributionPlan).where(DistributionPlan.id == plan_id,
                                                            DistributionPlan.county_code == county)
                          .options(selectinload(DistributionPlan.allocations)
                                   .selectinload(PlanAllocation.lines_in(county))))
    out["a plan's allocation lines"] = c.seen
    admin = User(username="bench", role="county_admin", scope_code=county, county_code=county)
    with Capture(db.engine) as c:
        list_changes(admin, page=1, per_page=50)
    out["change log, first page"] = c.seen
    db.session.expunge_all()
    household_id = db.session.scalar(sa.select(Household.id).where(Household.county_code == county)
                                     .order_by(Household.id.desc()))
    db.session.expunge_all()
    with Capture(db.engine) as c:
        db.session.scalar(sa.select(Household).where(Household.id == household_id, Household.county_code == county)
                          .options(selectinload(Household.members_in(county))))
    out["a household's members"] = c.seen
    db.session.rollback()
    return out


def _explain(statements: dict[str, list[tuple[str, object]]]) -> dict[str, list[dict]]:
    from assetreg.extensions import db

    out: dict[str, list[dict]] = {}
    with db.engine.connect() as conn:
        for name, seen in statements.items():
            out[name] = []
            for statement, params in seen:
                for _ in range(2):  # the second run, caches warm, is the one kept
                    lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement,
                                                                params or {})]
                text = "\n".join(lines)
                execution = float(re.search(r"Execution Time: ([\d.]+) ms", text).group(1))
                planning = float(re.search(r"Planning Time: ([\d.]+) ms", text).group(1))
                relations = sorted(set(re.findall(r" on (\w+)", text)) & _relations(text))
                out[name].append({"sql": statement, "plan": text, "execution_ms": execution,
                                  "planning_ms": planning, "relations": relations})
            conn.rollback()
    return out


def _relations(text: str) -> set[str]:
    return {m.group(0) for m in _PART.finditer(text)}


def _counts() -> dict[str, int]:
    import sqlalchemy as sa

    from assetreg.extensions import db

    with db.engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in TABLES}


def main() -> int:
    args = parse()
    if not os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        print("DATABASE_URL must name a PostgreSQL database of your own", file=sys.stderr)
        return 2
    import sqlalchemy as sa
    from flask_migrate import downgrade, upgrade

    from assetreg import create_app
    from assetreg.extensions import db
    from assetreg.places.models import Place

    app = create_app()
    report: dict = {"county": args.county, "at": datetime.now(UTC).isoformat(timespec="seconds")}
    with app.app_context():
        upgrade()
        counties = list(db.session.scalars(sa.select(Place.code).where(Place.level == "county").order_by(Place.code)))
        t = time.perf_counter()
        written = sum(_write_log(c, args.log_rows) for c in counties)
        if written:
            print(f"change log: {written:,} rows written in {time.perf_counter() - t:.1f} s", flush=True)
        rows = _counts()
        report["counties"], report["rows"] = counties, rows
        db.session.remove()  # no transaction of this session may hold a lock while the migrations run
        print(f"counties {', '.join(counties)}; rows {rows}", flush=True)

        t = time.perf_counter()
        downgrade(revision="0007_chain")
        report["downgrade_s"] = round(time.perf_counter() - t, 2)
        print(f"downgrade to plain tables: {report['downgrade_s']} s", flush=True)
        before = _explain(_statements(args.county))

        t = time.perf_counter()
        upgrade(revision="0008_partitions")
        seconds = time.perf_counter() - t
        total = sum(rows.values())
        report["upgrade_s"] = round(seconds, 2)
        report["upgrade_rows_per_s"] = round(total / seconds)
        print(f"upgrade to partitioned tables: {seconds:.2f} s for {total:,} rows ({total / seconds:,.0f} rows/s)",
              flush=True)
        after = _explain(_statements(args.county))
        db.session.remove()

    report["queries"] = {}
    for name in before:
        b, a = before[name], after[name]
        report["queries"][name] = {"before": b, "after": a}
        for i, (x, y) in enumerate(zip(b, a, strict=True)):
            print(f"{name} #{i + 1}: {x['execution_ms']:.2f} ms on {', '.join(x['relations'])} → "
                  f"{y['execution_ms']:.2f} ms on {', '.join(y['relations'])}")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    if args.markdown:
        out = []
        for name, q in report["queries"].items():
            for i, (x, y) in enumerate(zip(q["before"], q["after"], strict=True)):
                out.append(f"### {name} (statement {i + 1})\n\n```sql\n{y['sql']}\n```\n")
                out.append(f"Plain table (0007_chain):\n\n```\n{x['plan']}\n```\n")
                out.append(f"Partitioned (0008_partitions):\n\n```\n{y['plan']}\n```\n")
        args.markdown.write_text("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
