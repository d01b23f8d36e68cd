"""Test setup: the schema is built by running the migrations (upgrade at start, downgrade at the
end, so both directions are exercised on whichever database DATABASE_URL names; SQLite by default).
Every test starts from empty tables."""

from __future__ import annotations

import os
from datetime import date

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from assetreg import create_app
from assetreg.core import time as clock
from assetreg.extensions import db
from assetreg.income.guard import guards_lifted

from .factories import Factory


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


@pytest.fixture(autouse=True)
def _clean_tables(app):
    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as conn, guards_lifted(conn):  # the ledger is append-only in the DB
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        clock.freeze(None)


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


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """Count SQL statements sent while the returned counter is active (``with count_queries() as c``)."""
    from contextlib import contextmanager

    @contextmanager
    def _count():
        counter = QueryCounter()
        sa.event.listen(db.engine, "before_cursor_execute", counter)
        try:
            yield counter
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", counter)

    return _count
