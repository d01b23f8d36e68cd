"""SQLite connections: the settings every connection runs with, and when a transaction takes the write lock.

Every connection (requests, CLI commands, workers, tests, migrations): ``journal_mode=WAL`` (readers and
the one writer do not block each other), ``foreign_keys=ON``, and ``busy_timeout`` (``SQLITE_BUSY_TIMEOUT_MS``;
past it the statement fails "database is locked", which the web answers 503 with Retry-After).

pysqlite's own transaction handling is switched off: it sends BEGIN only before the first INSERT/UPDATE, so
a transaction's reads ran outside it and "is the year settled?" and the insert were not atomic (issue 11:
entries landed in a settled year). The ``begin`` event sends BEGIN itself, as in SQLAlchemy's pysqlite
recipe (Serializable isolation / Savepoints / Transactional DDL):

- ``BEGIN IMMEDIATE`` for a request that may write (POST, PUT, PATCH, DELETE: ``assetreg.create_app``
  declares it before any handler queries): the write lock is taken up front, so writers serialise (they
  wait up to the busy timeout) and what the request read cannot change before it writes.
- a plain deferred ``BEGIN`` everywhere else (GET/HEAD/OPTIONS requests, commands, workers, tests): a
  consistent snapshot, no lock until the first write. A long report page never holds back a posting, and a
  worker or command that reads at length holds no lock. Such a transaction that writes after another writer
  committed fails "database is locked" (SQLite refuses to write from a stale snapshot), so it can never
  write on what it read having changed: it fails safe, and the web answers 503 with Retry-After.

PostgreSQL is left alone (its own locks: the settlement's ``LOCK TABLE … IN SHARE MODE``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

import sqlalchemy as sa

DEFAULT_BUSY_TIMEOUT_MS = 5000

_reads_only: ContextVar[bool] = ContextVar("sqlite_reads_only", default=True)


def declare_reads_only(flag: bool = True) -> Token:
    """From here on (in this thread or task) transactions begin deferred, or (False) take the write lock up
    front; ``Token`` undoes it (``undeclare``). A web request sets it before its first query and undoes it
    when it ends."""
    return _reads_only.set(flag)


def undeclare(token: Token) -> None:
    _reads_only.reset(token)


@contextmanager
def reads_only() -> Iterator[None]:
    """Transactions begun inside the block take no write lock (SQLite); they must not write."""
    token = declare_reads_only()
    try:
        yield
    finally:
        undeclare(token)


@contextmanager
def writes() -> Iterator[None]:
    """Transactions begun inside the block take the write lock up front (SQLite): for a worker or command
    that reads and then writes, so it waits its turn (busy timeout) instead of failing on a stale snapshot."""
    token = declare_reads_only(False)
    try:
        yield
    finally:
        undeclare(token)


def configure(engine: sa.Engine, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
    """Install the settings and the BEGIN on ``engine`` if it is SQLite (once per engine)."""
    if engine.dialect.name != "sqlite" or sa.event.contains(engine, "begin", _begin):
        return
    timeout = int(busy_timeout_ms)

    def on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # pysqlite sends no BEGIN or COMMIT of its own
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout}")
            cursor.execute("PRAGMA journal_mode = WAL")  # kept in the file; an in-memory database says 'memory'
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "begin", _begin)


def _begin(conn: sa.Connection) -> None:
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return
    dbapi = conn.connection.driver_connection
    if dbapi.isolation_level is not None:  # put back by SQLAlchemy's isolation-level reset after AUTOCOMMIT
        dbapi.isolation_level = None
    conn.exec_driver_sql("BEGIN" if _reads_only.get() else "BEGIN IMMEDIATE")


@contextmanager
def foreign_keys_off(conn: sa.Connection) -> Iterator[None]:
    """For the migrations: SQLite's batch operations recreate tables (copy, drop, rename), which enforced
    foreign keys would refuse or cascade. The switch works only outside a transaction, so it is flipped on
    the driver's connection before the migrations begin theirs, and back on after. Call
    ``check_foreign_keys`` before the migrations commit. No-op on other databases."""
    if conn.dialect.name != "sqlite":
        yield
        return
    assert not conn.in_transaction(), "foreign keys can be switched only outside a transaction"
    dbapi = conn.connection.driver_connection
    dbapi.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    except BaseException:
        if conn.in_transaction():
            conn.rollback()
        raise
    finally:
        if conn.in_transaction():  # the migrations' transaction is over; what is left only read
            conn.commit()
        dbapi.execute("PRAGMA foreign_keys = ON")


def check_foreign_keys(conn: sa.Connection) -> None:
    """Raise if any row points at a missing one (``PRAGMA foreign_key_check``; SQLite only)."""
    if conn.dialect.name != "sqlite":
        return
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        shown = "; ".join(f"{table} rowid {rowid} → {parent}" for table, rowid, parent, _fk in broken[:20])
        raise RuntimeError(f"{len(broken)} rows point at missing rows: {shown}")
