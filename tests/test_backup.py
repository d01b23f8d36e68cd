"""``flask backup`` and ``flask restore``: on SQLite a round trip through the online backup API gives back
every row and every ledger sum; a file that is not an assetreg database, or a restore without ``--yes``,
is refused in Chinese and changes nothing; on PostgreSQL both say which tool to use, password hidden."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from assetreg.backup import services as backup
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry, ledger_sums

from . import db_support
from . import test_exports_support as support

gw = support.gw  # the fixture: a generated county (ledger entries, change log), committed


def _sqlite(app) -> bool:
    return db.engine.dialect.name == "sqlite"


def _state() -> dict:
    """Every table's row count and the ledger's sums by county and year."""
    with db.engine.connect() as conn:
        counts = {t.name: conn.scalar(sa.select(sa.func.count()).select_from(t)) for t in db.metadata.sorted_tables}
        e = IncomeEntry
        sums = [tuple(map(str, r)) for r in conn.execute(
            sa.select(e.county_code, e.period_year, *ledger_sums(e)).group_by(e.county_code, e.period_year)
            .order_by(e.county_code, e.period_year))]
    return {"counts": counts, "ledger": sums}


def test_backup_and_restore_round_trip_on_sqlite(gw, app, runner, tmp_path):
    if not _sqlite(app):
        pytest.skip("SQLite's backup API; PostgreSQL uses pg_dump (test below)")
    saved = _state()
    assert saved["counts"]["income_entries"] > 1000 and saved["counts"]["change_log"] > 0 and saved["ledger"]
    r = runner.invoke(args=["verify"])
    assert r.exit_code == 0, r.output

    out = tmp_path / "backups" / "assetreg.db"
    r = runner.invoke(args=["backup", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "已备份" in r.output
    assert [p.name for p in out.parent.iterdir()] == ["assetreg.db"]  # no temporary file left beside it

    # the data changes afterwards: rows deleted, the ledger altered behind the app's back, names edited
    with db.engine.begin() as conn, db_support.guards_lifted(conn):
        conn.execute(sa.text("DELETE FROM change_log"))
        conn.execute(sa.text("UPDATE income_entries SET amount = amount + 100 WHERE id % 7 = 0"))
        conn.execute(sa.text("UPDATE assets SET name = name || '（改）'"))
    assert _state() != saved
    r = runner.invoke(args=["verify"])  # the tampering is seen: chains broken, settlements off their entries
    assert r.exit_code == 1 and "income_entries" in r.output and "change_log" in r.output, r.output

    r = runner.invoke(args=["restore", str(out)])  # no --yes: refused, nothing changed
    assert r.exit_code != 0 and "--yes" in r.output and "覆盖" in r.output
    assert _state() != saved

    r = runner.invoke(args=["restore", str(out), "--yes"])
    assert r.exit_code == 0, r.output
    assert "已恢复" in r.output
    assert _state() == saved
    with db.engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM assets WHERE name LIKE '%（改）'")) == 0
    r = runner.invoke(args=["verify"])  # the restored database checks out: every chain, settlement and plan
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("make,why", [
    (lambda p: p.write_text("id,name\n1,张三\n", encoding="utf-8"), "不是有效的数据库文件"),
    (lambda p: sqlite3.connect(p).executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);"),
     "不是本系统的数据库备份"),
    (lambda p: sqlite3.connect(p).executescript(
        "CREATE TABLE alembic_version (version_num VARCHAR(32)); INSERT INTO alembic_version VALUES ('9999_x');"),
     "迁移版本"),
])
def test_restore_refuses_what_is_not_an_assetreg_database(app, runner, tmp_path, make, why):
    if not _sqlite(app):
        pytest.skip("PostgreSQL: restore prints the pg_restore command")
    path = tmp_path / "backup.db"
    conn = make(path)
    if conn is not None and hasattr(conn, "commit"):
        conn.commit()
        conn.close()
    before = _state()
    r = runner.invoke(args=["restore", str(path), "--yes"])
    assert r.exit_code != 0 and why in r.output, r.output
    assert "备份文件" in r.output  # names the field: the file
    assert _state() == before
    r = runner.invoke(args=["restore", str(tmp_path / "missing.db"), "--yes"])
    assert r.exit_code != 0 and "不存在" in r.output


def test_on_postgresql_both_commands_say_which_tool_to_use(app, runner, tmp_path):
    if _sqlite(app):
        pytest.skip("PostgreSQL only")
    url = db.engine.url
    r = runner.invoke(args=["backup", "--out", str(tmp_path / "x.dump")])
    assert r.exit_code == 0, r.output
    assert "pg_dump" in r.output and str(tmp_path / "x.dump") in r.output and url.database in r.output
    assert not (tmp_path / "x.dump").exists()
    r = runner.invoke(args=["restore", str(tmp_path / "x.dump")])
    assert r.exit_code == 0 and "pg_restore" in r.output and "psql" in r.output, r.output


def test_the_postgresql_commands_hide_the_password():
    url = make_url("postgresql+psycopg://app:s3cr%40t@db.internal:5433/assetreg")
    dump = backup.pg_dump_command(url, "/srv/backup/a.dump")
    assert dump.startswith("pg_dump ") and "--format=custom" in dump and "/srv/backup/a.dump" in dump
    assert "s3cr" not in dump and "app:***@db.internal:5433/assetreg" in dump and "+psycopg" not in dump
    restore = backup.pg_restore_commands(url, "/srv/backup/a.dump")
    assert all("s3cr" not in c for c in restore)
    assert restore[0].startswith("pg_restore ") and restore[1].startswith("psql ")
