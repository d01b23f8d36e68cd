"""Every connection the app makes runs with the settings the database needs (issue 11 item 2): on SQLite
WAL, foreign keys enforced and a busy timeout; writers take the write lock up front and readers never do
(assetreg/core/sqlite.py); on both databases a row pointing at a missing record is refused."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from assetreg import create_app
from assetreg.assets.models import Asset, AssetStatusChange
from assetreg.core import sqlite
from assetreg.extensions import db


def _pragmas(conn) -> tuple:
    return tuple(conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in ("journal_mode", "foreign_keys",
                                                                         "busy_timeout"))


def _skip_unless_sqlite():
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's connection settings")


def test_every_connection_runs_wal_with_foreign_keys_and_a_busy_timeout(app):
    _skip_unless_sqlite()
    expected = ("wal", 1, 5000)
    assert _pragmas(db.session.connection()) == expected  # the test's own (the app's session)
    assert app.config["SQLITE_BUSY_TIMEOUT_MS"] == 5000
    with sqlite.reads_only(), db.engine.connect() as conn:  # a fresh one from the pool (a request, a command)
        assert _pragmas(conn) == expected
    seen, engine = [], db.engine

    def worker():  # a background job's thread: a connection of its own
        with sqlite.reads_only(), engine.connect() as conn:
            seen.append(_pragmas(conn))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [expected]


def test_an_app_built_from_scratch_has_the_settings_too(app, monkeypatch):
    """The CLI (``flask --app wsgi``) and the RQ worker build their own app: same settings, and the busy
    timeout comes from the environment."""
    _skip_unless_sqlite()
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT_MS", "1234")
    other = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "x"})
    with other.app_context():
        with sqlite.reads_only(), db.engine.connect() as conn:
            assert _pragmas(conn) == ("wal", 1, 1234)
        db.engine.dispose()


@pytest.mark.committed
def test_reads_do_not_take_the_write_lock_and_writes_take_it_up_front(app, world, f, today):
    """A GET begins a plain (deferred) transaction, so a long report never holds back a posting; a POST
    begins with the write lock (``BEGIN IMMEDIATE``), so what it read cannot change before it writes."""
    _skip_unless_sqlite()
    asset = f.asset()
    begun: list[str] = []

    def spy(conn, cursor, statement, *args):
        if statement.startswith("BEGIN"):
            begun.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", spy)
    try:
        assert world.fin_a.get(f"/api/v1/assets/{asset.id}/income").status_code == 200
        reads, begun[:] = list(begun), []
        body = {"direction": "income", "kind": "electricity", "amount": "10.00", "period_year": 2025,
                "period_month": 5, "received_on": "2025-06-01"}
        assert world.fin_a.post(f"/api/v1/assets/{asset.id}/income", json=body).status_code == 201
        writes = list(begun)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", spy)
    assert reads and set(reads) == {"BEGIN"}
    assert writes and set(writes) == {"BEGIN IMMEDIATE"}


@pytest.mark.committed
def test_a_lock_held_longer_than_the_busy_timeout_is_503_and_reads_go_on(app, world, f, today):
    """Another connection holds the write lock past the busy timeout: the posting waits that long, then
    answers 503 with Retry-After (nothing written); a request that only reads is served meanwhile."""
    _skip_unless_sqlite()
    asset = f.asset()
    short = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING")},
                        "SQLITE_BUSY_TIMEOUT_MS": 300})
    http = short.test_client()
    auth = {"Authorization": f"Bearer {world.fin_a.token}"}
    body = {"direction": "income", "kind": "electricity", "amount": "10.00", "period_year": 2025,
            "period_month": 5, "received_on": "2025-06-01"}
    assets = Asset.__table__
    holder = db.engine.connect()
    try:
        holder.execute(sa.update(assets).where(assets.c.id == asset.id).values(name="改名中"))  # the lock
        started = time.monotonic()
        r = http.post(f"/api/v1/assets/{asset.id}/income", json=body, headers=auth)
        waited = time.monotonic() - started
        assert r.status_code == 503 and r.headers["Retry-After"] == "2", r.json
        assert r.json["error"]["code"] == "busy" and "稍后重试" in r.json["error"]["message"]
        assert waited >= 0.3
        assert http.get(f"/api/v1/assets/{asset.id}", headers=auth).json["name"] == asset.name
    finally:
        holder.rollback()
        holder.close()
        with short.app_context():
            db.engine.dispose()
    assert world.fin_a.get(f"/api/v1/assets/{asset.id}/income").json["total"] == 0


def test_the_database_refuses_a_status_change_of_a_missing_asset(world, f, today):
    """Below the app: the foreign key holds on both databases."""
    f.asset()
    db.session.add(AssetStatusChange(county_code=world.county, asset_id=99999999, from_status="in_operation",
                                     to_status="idle", changed_on=date(2025, 6, 1)))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_api_refuses_a_status_change_of_a_missing_asset(world, today):
    r = world.admin.post("/api/v1/assets/99999999/transitions",
                         json={"to_status": "idle", "changed_on": "2025-06-01"})
    assert r.status_code == 404 and r.json["error"]["message"] == "未找到该资产"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AssetStatusChange)) == 0
