"""How the tests hold the database: each test inside a transaction that is rolled back at its end, the
app's session joined to it with SAVEPOINTs; a few tests (``@pytest.mark.committed``) commit for real and
have the tables emptied afterwards. Used by tests/conftest.py and the modules that load a large data set
once and share it (tests/test_demo.py, tests/test_demo_yearly.py, tests/test_flags_naive.py).

The pattern is SQLAlchemy's "Joining a Session into an External Transaction (such as for test suites)":
one connection, an outer transaction begun on it, and ``db.session`` replaced by a scoped session bound
to that connection with ``join_transaction_mode="create_savepoint"``, so the app's ``commit()`` and
``rollback()`` release or roll back a SAVEPOINT and never end the outer transaction. Every session made
while it is in force (the test's, each request's own app context, a CLI command's) uses that connection,
so all of them see what the others committed; nothing reaches another connection.

Sessions on one connection nest their SAVEPOINTs: the test's own session opens one on its first query
and keeps it until it commits or rolls back, and a request's session (its own app context) opens its
SAVEPOINT inside that one. Rolling the test's session back would then undo what the request committed,
which no other database would do. So when a session commits, the SAVEPOINTs other sessions hold open
below it are released and opened again under the same names (``_rebase``): what was committed stays, as
the app expects, and the other sessions carry on unaware (the statements go past SQLAlchemy's events).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import sqlalchemy as sa
from flask.globals import app_ctx

from assetreg.changelog.guard import SQLITE_TRIGGERS as LOG_SQLITE_TRIGGERS
from assetreg.core.sqlite import reads_only
from assetreg.extensions import RoutingSession, db
from assetreg.income.guard import SQLITE_TRIGGERS as LEDGER_SQLITE_TRIGGERS

SQLITE_TRIGGERS = {**LEDGER_SQLITE_TRIGGERS, **LOG_SQLITE_TRIGGERS}  # every append-only guard


class BoundSession(RoutingSession):
    """Flask-SQLAlchemy's session picks the app's engine in ``get_bind`` and ignores a ``bind`` given to
    the session (flask-sqlalchemy#1167): here the connection the session was made with wins (without
    one, the app's own routing: the primary, or the replica for a routed request)."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is not None:
            return bind
        if self.bind is None:
            return super().get_bind(mapper, clause, **kwargs)
        if isinstance(self.bind, sa.Engine):
            return self.bind
        if self.bind.info.get("outer_thread") != threading.get_ident():
            raise RuntimeError("a session in another thread (a worker, a live server) would share the test's "
                               "connection: mark the test @pytest.mark.committed")
        return self.bind


def _rebase(session) -> None:
    """After ``session`` committed: move the SAVEPOINTs of other sessions, still open below the one just
    released, above what it committed (release the lowest, then open them again, lowest first)."""
    conn = session.bind
    outer = conn.info.get("outer_transaction") if isinstance(conn, sa.Connection) else None
    if outer is None:
        return
    base = outer.bases[-1] if outer.bases else None
    chain = []
    t = conn._nested_transaction
    while t is not None and t is not base:
        chain.append(t)
        t = t._previous_nested
    if not chain or not all(t.is_active for t in chain):
        return
    chain.reverse()
    cursor = conn.connection.cursor()  # the DBAPI cursor: no events, so query counters do not see it
    try:
        cursor.execute(f"RELEASE SAVEPOINT {chain[0]._savepoint}")
        for t in chain:
            cursor.execute(f"SAVEPOINT {t._savepoint}")
    finally:
        cursor.close()


sa.event.listen(BoundSession, "after_commit", _rebase)


class OuterTransaction:
    """A connection with a transaction begun on it; ``db.session`` joins it while the object is in force.

    SQLite: the app's engine sends the BEGIN itself (assetreg/core/sqlite.py: pysqlite's own transaction
    handling, which would let a SAVEPOINT open a transaction of its own and its RELEASE commit for good, is
    off on every connection), so the outer transaction is a real one; it begins deferred, like a request that
    reads, and takes the write lock at the test's first write. SQLite's DDL is transactional too
    (the ledger guards can be dropped and are back after the rollback).
    """

    def __init__(self):
        self.conn = db.engine.connect()
        with reads_only():  # deferred, as before: the write lock comes with the test's first write
            self.trans = self.conn.begin()
        self.conn.info["outer_transaction"] = self
        self.conn.info["outer_thread"] = threading.get_ident()
        self.bases: list[sa.NestedTransaction] = []  # the SAVEPOINTs of ``savepoint()`` in force
        self._saved_session = db.session
        db.session = self.new_session()
        _active.append(self)

    def new_session(self):
        return db._make_scoped_session({"class_": BoundSession, "bind": self.conn,
                                        "join_transaction_mode": "create_savepoint"})

    @contextmanager
    def savepoint(self):
        """A SAVEPOINT rolled back when the block ends, and a fresh ``db.session`` inside it (each test in
        a module sharing loaded data). ``db.session`` is restored afterwards: the module's own session
        (and the objects it holds) stays as it was."""
        outer_session = db.session
        nested = self.conn.begin_nested()
        self.bases.append(nested)
        db.session = self.new_session()
        try:
            yield
        finally:
            db.session.remove()
            self.bases.remove(nested)
            if nested.is_active:
                nested.rollback()
            db.session = outer_session

    def close(self):
        _active.remove(self)
        db.session.remove()
        db.session = self._saved_session
        self.conn.info.pop("outer_transaction", None)
        self.conn.info.pop("outer_thread", None)
        try:
            if self.trans.is_active:
                self.trans.rollback()
        finally:
            self.conn.close()


class _TestContextSession(BoundSession):
    """A committed test's session: the test's own app context gets the ``bind`` given, every other context
    (a request, a worker) the app's engine as usual."""

    def __init__(self, db, *, bind, test_context, **kwargs):
        if app_ctx._get_current_object() is not test_context:
            bind = None
        super().__init__(db, bind=bind, **kwargs)


@contextmanager
def committed_test_session():
    """For a committed test (needs its app context): on SQLite the test's own session sends each statement
    by itself, as reads did under pysqlite's legacy mode. Every transaction of the app begins with the
    write lock unless it only reads (assetreg/core/sqlite.py), so a test session left in a transaction
    would hold the lock (or an old snapshot) while requests, servers and workers write. Requests and
    workers keep the app's own transactions. PostgreSQL: unchanged."""
    if db.engine.dialect.name != "sqlite":
        yield
        return
    saved = db.session
    db.session = db._make_scoped_session({
        "class_": _TestContextSession, "bind": db.engine.execution_options(isolation_level="AUTOCOMMIT"),
        "test_context": app_ctx._get_current_object()})
    try:
        yield
    finally:
        db.session.remove()
        db.session = saved


# The outer transactions in force (a test's own, or the one a module opened for its shared data) and
# which of them a module opened (``shared_transaction``).
_active: list[OuterTransaction] = []
_shared: list[OuterTransaction] = []


def current_connection() -> sa.Connection | None:
    """The connection every session uses now, if a test or module holds one."""
    return _active[-1].conn if _active else None


@contextmanager
def shared_transaction():
    """For a module-scoped fixture: an outer transaction that the module's data is loaded into (and
    committed, as far as the app can tell), rolled back when the module ends; each test of the module
    then runs in a SAVEPOINT of it (tests/conftest.py ``_database``). Needs an app context."""
    outer = OuterTransaction()
    _shared.append(outer)
    try:
        yield outer
    finally:
        _shared.remove(outer)
        outer.close()


def shared() -> OuterTransaction | None:
    return _shared[-1] if _shared else None


@contextmanager
def guards_lifted(conn: sa.Connection):
    """Within ``conn``'s transaction, let rows of the append-only tables (ledger, change log) be deleted (tests only:
    the committed-mode clean-up, and a test that empties the ledger to write it again).

    PostgreSQL: ``SET LOCAL session_replication_role = replica`` skips triggers, set back at the end of
    the block (and in any case at the end of the transaction). SQLite has no such switch: drop the
    triggers, then recreate them however the block ends.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        yield  # if the block fails, the transaction is rolled back, and the setting with it
        conn.execute(sa.text("SET LOCAL session_replication_role = origin"))
        return
    for name in SQLITE_TRIGGERS:
        conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
    try:
        yield
    finally:
        for ddl in SQLITE_TRIGGERS.values():
            conn.execute(sa.text(ddl))


def delete_all(conn: sa.Connection, only: set[str] | None = None) -> None:
    """Empty every table (or those named), children first, guards lifted, on ``conn``."""
    with guards_lifted(conn):
        for table in reversed(db.metadata.sorted_tables):
            if only is None or table.name in only:
                conn.execute(table.delete())
