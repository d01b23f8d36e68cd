"""The large tables are partitioned by county code on PostgreSQL (issue 12 item 5b, migration 0008_partitions):
they are partitioned, their append-only guards refuse on the parent and on each partition, the foreign keys
to the ledger hold with the county, and every query the app sends on them reads one partition (pruning)."""

import importlib.util
import json
import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from assetreg.core import partitions
from assetreg.extensions import db

from . import db_support
from .distribution_support import households, line, new_plan, put_allocations, settle

MIGRATION = Path(__file__).resolve().parents[1] / "migrations" / "versions" / "0008_partitions.py"


@pytest.fixture(autouse=True)
def _postgresql_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no partitions")


def _migration():
    spec = importlib.util.spec_from_file_location("m0008", MIGRATION)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _partitions_of(table: str) -> list[str]:
    return sorted(db.session.scalars(sa.text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:t AS regclass)"), {"t": table}))


def test_the_large_tables_are_hash_partitioned_by_county(app):
    mig = _migration()
    assert tuple(mig.TABLES) == partitions.PARTITIONED and mig.PARTITIONS == partitions.PARTITIONS
    for table in partitions.PARTITIONED:
        key = db.session.execute(sa.text(
            "SELECT p.partstrat, pg_get_partkeydef(p.partrelid) FROM pg_partitioned_table p "
            "WHERE p.partrelid = CAST(:t AS regclass)"), {"t": table}).one()
        assert key == ("h", "HASH (county_code)"), table
        assert _partitions_of(table) == partitions.partition_names(table)
        pk = db.session.scalar(sa.text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype = 'p'"), {"t": table})
        assert pk == "PRIMARY KEY (id, county_code)", table
    # the id sequences are kept and still owned by the tables
    for table in partitions.PARTITIONED:
        assert db.session.scalar(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}) == \
            f"public.{table}_id_seq"


def _post(client, asset_id, **over):
    body = dict(direction="income", kind="electricity", period_year=2024, period_month=3,
                received_on="2024-04-10", amount="1000.00", payer="国网湖南省电力有限公司")
    body.update(over)
    r = client.post(f"/api/v1/assets/{asset_id}/income", json=body)
    assert r.status_code == 201, r.json
    return r.json


def _refused(sql: str) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text(sql))
    db.session.rollback()


def _partition_of(table: str, row_id: int) -> str:
    return db.session.scalar(sa.text(f"SELECT tableoid::regclass::text FROM {table} WHERE id = :id"), {"id": row_id})


def test_the_guards_refuse_on_the_parent_and_on_each_partition(world, f, today):
    a = f.asset()
    entry_id = _post(world.fin_a, a.id)["id"]
    log_id = db.session.scalar(sa.text("SELECT max(id) FROM change_log"))
    empty = next(p for p in partitions.partition_names("change_log") if p != _partition_of("change_log", log_id))
    _refused(f"TRUNCATE {empty}")  # refused by the partition's own guard (nothing refers to the change log)
    for table, row_id in (("income_entries", entry_id), ("change_log", log_id)):
        part = _partition_of(table, row_id)
        assert part in partitions.partition_names(table)
        for target in (table, part):
            _refused(f"UPDATE {target} SET county_code = county_code WHERE id = {row_id}")
            _refused(f"DELETE FROM {target} WHERE id = {row_id}")
            _refused(f"TRUNCATE {target} CASCADE")
        # every partition carries the guards: UPDATE/DELETE cloned from the parent, TRUNCATE its own
        for name in partitions.partition_names(table):
            guards = set(db.session.scalars(sa.text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal"), {"t": name}))
            assert guards == {f"{table}_append_only", f"{table}_no_truncate"}, name
        assert db.session.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE id = {row_id}")) == 1


def test_the_foreign_keys_to_the_ledger_carry_the_county(world, f, today):
    a = f.asset()
    entry_id = _post(world.fin_a, a.id)["id"]
    copy = ("INSERT INTO income_entries (county_code, town_code, village_code, asset_id, direction, kind, "
            "period_year, period_month, received_on, amount, reverses_id, reason, is_adjustment, recorded_at, "
            "chain_seq, prev_hash, row_hash) SELECT {county}, town_code, village_code, asset_id, direction, kind, "
            "period_year, period_month, received_on, amount, id, 'x', false, recorded_at, 999, '', '' "
            "FROM income_entries WHERE id = :id")
    with pytest.raises(sa.exc.IntegrityError, match="fk_income_entries_reverses_id_income_entries"):
        db.session.execute(sa.text(copy.format(county="'439999'")), {"id": entry_id})  # another county
    db.session.rollback()
    db.session.execute(sa.text(copy.format(county="county_code")), {"id": entry_id})  # its own county
    db.session.rollback()
    fks = dict(db.session.execute(sa.text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 "
        "AND confrelid = CAST('income_entries' AS regclass)")).all())
    assert fks == {
        "fk_income_entries_reverses_id_income_entries":
            "FOREIGN KEY (reverses_id, county_code) REFERENCES income_entries(id, county_code)",
        "fk_settlement_adjustments_entry_id_income_entries":
            "FOREIGN KEY (entry_id, county_code) REFERENCES income_entries(id, county_code)",
    }


# --- every query on a partitioned table reads one partition ----------------------------------------------

_TABLES = re.compile(r"\b(" + "|".join(partitions.PARTITIONED) + r")\b")


class Recorder:
    """The statements sent on the test's connection that read (or change) a partitioned table."""

    def __init__(self):
        self.seen: list[tuple[str, object]] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip().split(None, 1)[0].upper()
        if head in ("SELECT", "UPDATE", "DELETE", "WITH") and _TABLES.search(statement) and not executemany:
            if not _BY_ID.search(statement):
                self.seen.append((statement, parameters))


# The ORM's own load of one row by its identity (the id: the mapped key stays the id on both databases, so
# ``session.get`` keeps working) after a commit expired it: one probe of each partition's primary-key index,
# not a scan. The only statements allowed to name no county; docs/perf/partitions.md.
_BY_ID = re.compile(r"\nWHERE (" + "|".join(partitions.PARTITIONED) + r")\.id = %\(pk_1\)s::\w+$")


def _relations(plan) -> list[str]:
    out = []
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            out.append(plan["Relation Name"])
        for v in plan.values():
            out += _relations(v)
    elif isinstance(plan, list):
        for v in plan:
            out += _relations(v)
    return out


def scanned_partitions(conn, statement: str, parameters) -> dict[str, set[str]]:
    """Partitioned table → the partitions the plan of ``statement`` reads (after pruning at planning)."""
    raw = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters or {}).scalar()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    out: dict[str, set[str]] = {}
    for rel in _relations(plan):
        parent = rel.rsplit("_p", 1)[0]
        if parent in partitions.PARTITIONED and rel in partitions.PARTITION_TABLES:
            out.setdefault(parent, set()).add(rel)
    return out


def test_every_query_of_a_county_reads_one_partition(world, f, today):
    """A county's income, settlements, plan, households, change log, verification and ledger export: every
    statement on a partitioned table names the county, and its plan reads one partition of it."""
    from assetreg.exports import ledger
    from assetreg.exports import services as exports
    from assetreg.flags.engine import evaluate
    from assetreg.income.services import income_by_year
    from assetreg.integrity.services import verify
    from assetreg.notices.services import build_notice

    recorder = Recorder()
    conn = db_support.current_connection()
    sa.event.listen(conn, "before_cursor_execute", recorder)
    try:
        a = f.asset()
        wrong = _post(world.fin_a, a.id, amount="77.77")
        assert world.fin_a.post(f"/api/v1/income/{wrong['id']}/reversal", json={"reason": "重复入账"}).status_code == 201
        assert world.fin_a.get(f"/api/v1/assets/{a.id}/income?year=2024").status_code == 200
        settle(f, world, world.village_a1, 2024, pv="20000.00", other="3000.00", costs="500.00",
               settled_on=date(2025, 3, 10))
        hs = households(f, world.village_a1, "formerly_poor", "monitored", members=2)
        plan = new_plan(world.vc_a1, world.village_a1)
        r = put_allocations(world.vc_a1, plan["id"], [
            {"purpose": "public_jobs", "amount": "9600.00",
             "lines": [line(hs[0], "4800.00", months=6, monthly_wage="800.00"),
                       line(hs[1], "4800.00", months=6, monthly_wage="800.00")]},
            {"purpose": "relief", "amount": "3000.00", "lines": [line(hs[1], "3000.00")]},
        ])
        assert r.status_code == 200, r.json
        db.session.commit()
        db.session.expire_all()
        assert world.vc_a1.get(f"/api/v1/plans/{plan['id']}").status_code == 200
        assert world.admin.get(f"/api/v1/households/{hs[0].id}").status_code == 200
        build_notice(world.users["vc_a1"], plan["id"])  # the 公示 reads the lines and the members' ID numbers
        assert world.admin.get("/api/v1/changes?per_page=20").status_code == 200
        for place in (world.county, world.town_a, world.village_a1):
            income_by_year(world.county, place_code=place)
        assert verify(world.county).differences == []
        evaluate(world.county, today)  # every flag rule, the ledger's and the plans' among them
        assert world.admin.get("/api/v1/flags?scope=" + world.county).status_code == 200
        scope = exports.resolve_scope(world.users["auditor"], world.county, 2020, 2025)
        for query in (ledger.income_query(scope), ledger.plans_query(scope)):
            db.session.execute(query).all()
    finally:
        sa.event.remove(conn, "before_cursor_execute", recorder)
    assert len(recorder.seen) > 20
    wide = []
    for statement, parameters in recorder.seen:
        with conn.begin_nested():
            scanned = scanned_partitions(conn, statement, parameters)
        wide += [(table, len(parts), statement) for table, parts in scanned.items() if len(parts) > 1]
    assert wide == [], "\n\n".join(f"{t} ({n} partitions): {s}" for t, n, s in wide)
