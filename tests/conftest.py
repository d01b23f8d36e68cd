"""Test setup: the schema is built once, by running the migrations (upgrade at start, downgrade at the
end, so both directions are exercised on whichever database DATABASE_URL names; SQLite by default).

Every test starts from empty tables and runs inside a transaction that is rolled back at its end; the
app's ``commit()``/``rollback()`` act on SAVEPOINTs within it (tests/db_support.py). A test whose data
must really be committed, because another connection has to see it (worker threads, a live server,
concurrent writers, a second session, the migrations themselves), is marked ``@pytest.mark.committed``
or uses the ``committed_db`` fixture: it commits for real and the tables are emptied after it.
A module that loads a large data set once (the demo county, a generated county) does so in a
``shared_transaction`` and its tests run in SAVEPOINTs of it."""

from __future__ import annotations

import os
from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from assetreg import create_app
from assetreg.core import datacache
from assetreg.core import time as clock
from assetreg.extensions import db

from . import db_support
from .factories import Factory


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "committed: the test commits for real (other connections must see its data); "
                   "the tables are emptied after it instead of rolling back its transaction")


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret-key",
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast in tests; production keeps scrypt
        "LOGIN_RATE_LIMIT": "100000 per minute",  # the suite logs in often from one address (limit: test_login_lockout)
        "RATELIMIT_STORAGE_URI": "memory://",
    })
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:  # tests own this database: start from nothing
                conn.execute(sa.text("DROP SCHEMA public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        upgrade()
        yield app
        db.session.remove()
        downgrade(revision="base")
        for engine in db.engines.values():  # closed now, not whenever the app happens to be collected
            engine.dispose()


@pytest.fixture
def committed_db():
    """Asked for (by a test or a fixture) instead of ``@pytest.mark.committed``: the same thing."""


def _committed(request) -> bool:
    return request.node.get_closest_marker("committed") is not None or "committed_db" in request.fixturenames


@pytest.fixture(autouse=True)
def _database(request, app):
    frozen = clock._frozen  # a module sharing its data may keep the clock set for all its tests
    with app.app_context():
        datacache.clear()  # nothing kept from another test's (rolled-back) data
        try:
            if _committed(request):
                assert db_support.shared() is None, "a committed test in a module that shares its data"
                try:
                    with db_support.committed_test_session():
                        yield
                finally:
                    db.session.rollback()
                    db.session.remove()
                    with db.engine.begin() as conn:  # the ledger is append-only in the DB: guards lifted
                        db_support.delete_all(conn)
            elif (outer := db_support.shared()) is not None:
                with outer.savepoint():
                    yield
            else:
                outer = db_support.OuterTransaction()
                try:
                    yield
                finally:
                    outer.close()
        finally:
            clock.freeze(frozen)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def f(app) -> Factory:
    """Factories with valid defaults: ``f.asset(**overrides)``, ``f.household(...)``, users, tokens."""
    return Factory()


@pytest.fixture
def world(f):
    """One county with two towns, three villages, a user and token for each role."""
    return f.world()


@pytest.fixture
def today():
    clock.freeze(clock.datetime(2025, 6, 30, 4, 0, tzinfo=clock.timezone.utc))
    return date(2025, 6, 30)


SAVEPOINT_STATEMENTS = ("SAVEPOINT ", "RELEASE SAVEPOINT ", "ROLLBACK TO SAVEPOINT ")


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith(SAVEPOINT_STATEMENTS):  # the test transaction's, not the app's
            self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """Count SQL statements sent while the returned counter is active (``with count_queries() as c``);
    the SAVEPOINTs of the test transaction are not counted (the app's own transaction statements never
    were: the drivers begin and commit without a statement)."""
    from contextlib import contextmanager

    @contextmanager
    def _count():
        counter = QueryCounter()
        # In a test transaction every session uses its one connection, made before the listener: an
        # engine's listeners reach only the connections made after them.
        target = db_support.current_connection() or db.engine
        sa.event.listen(target, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            sa.event.remove(target, "before_cursor_execute", counter)

    return _count
