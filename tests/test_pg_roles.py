"""Production on PostgreSQL (issue 11 item 9 d): scripts/pg_roles.sql makes an owner role that runs the
migrations and an app role that writes rows but cannot alter tables or lift the append-only triggers.

The script runs inside the test's transaction (roles, ownership and grants are transactional in
PostgreSQL, so all of it is rolled back); ``SET ROLE`` then makes the connection's privilege checks those
of the role, as a connection logged in as it would have."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from assetreg.changelog.services import record_change
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry
from assetreg.income.services import post_entry

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "pg_roles.sql"


@pytest.fixture
def pg(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL roles")
    return db.session.connection()


def _refused(conn, sql: str) -> str:
    nested = conn.begin_nested()
    try:
        conn.execute(sa.text(sql))
    except sa.exc.DBAPIError as exc:
        nested.rollback()
        return str(exc.orig)
    nested.rollback()
    raise AssertionError(f"the app role could run: {sql}")


def test_the_app_role_writes_rows_but_cannot_lift_the_guards(pg, world, f, today):
    a = f.asset()
    admin = world.users["admin"]
    entry = post_entry(admin, a.id, {"direction": "income", "kind": "electricity", "period_year": 2024,
                                     "received_on": date(2024, 5, 1), "amount": Decimal("10.00")})
    db.session.flush()
    conn = db.session.connection()
    cursor = conn.connection.driver_connection.cursor()  # the whole file, as psql -f would send it
    cursor.execute(SCRIPT.read_text(encoding="utf-8"))
    cursor.execute(SCRIPT.read_text(encoding="utf-8"))  # idempotent
    cursor.close()
    owners = set(conn.scalars(sa.text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")))
    assert owners == {"assetreg_owner"}

    conn.execute(sa.text("SET ROLE assetreg_app"))
    assert conn.scalar(sa.text("SELECT current_user")) == "assetreg_app"
    log_id = conn.scalar(sa.text("SELECT max(id) FROM change_log"))
    for sql, why in [
        ("ALTER TABLE income_entries DISABLE TRIGGER income_entries_append_only", "must be owner"),
        ("ALTER TABLE change_log DISABLE TRIGGER USER", "must be owner"),
        ("ALTER TABLE income_entries DISABLE TRIGGER ALL", "must be owner"),
        ("DROP TRIGGER income_entries_append_only ON income_entries", "must be owner"),
        ("DROP TRIGGER change_log_append_only ON change_log", "must be owner"),
        ("ALTER TABLE income_entries ADD COLUMN x int", "must be owner"),
        ("DROP FUNCTION assetreg_append_only() CASCADE", "must be owner"),
        ("SET session_replication_role = replica", "permission denied"),
        ("TRUNCATE income_entries CASCADE", "permission denied"),
        ("TRUNCATE change_log", "permission denied"),
        ("CREATE TABLE shadow (id int)", "permission denied"),
        (f"UPDATE income_entries SET amount = 1 WHERE id = {entry.id}", "append-only"),
        (f"DELETE FROM income_entries WHERE id = {entry.id}", "append-only"),
        (f"UPDATE change_log SET actor_name = 'x' WHERE id = {log_id}", "append-only"),
        (f"DELETE FROM change_log WHERE id = {log_id}", "append-only"),
    ]:
        assert why in _refused(conn, sql), sql

    # and it writes what the app writes: a ledger entry, its change-log row, the chain heads
    posted = post_entry(admin, a.id, {"direction": "income", "kind": "electricity", "period_year": 2024,
                                      "received_on": date(2024, 6, 1), "amount": Decimal("20.00")})
    record_change(admin, entity="test", entity_id=1, action="create", county_code=world.county)
    db.session.flush()
    assert conn.scalar(sa.text("SELECT current_user")) == "assetreg_app"
    assert db.session.get(IncomeEntry, posted.id).chain_seq == entry.chain_seq + 1
    conn.execute(sa.text("RESET ROLE"))
    # the owner, by contrast, may (migration 0005 does, to chain the rows already there)
    conn.execute(sa.text("SET ROLE assetreg_owner"))
    nested = conn.begin_nested()
    conn.execute(sa.text("ALTER TABLE income_entries DISABLE TRIGGER income_entries_append_only"))
    nested.rollback()
    conn.execute(sa.text("RESET ROLE"))
