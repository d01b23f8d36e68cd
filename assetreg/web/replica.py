"""Which reads go to the streaming replica (``DATABASE_REPLICA_URL``), and when they may.

The read-only heavy endpoints named in ``REPLICA_ENDPOINTS`` (lists, flags, homes, the asset lists) read
from the replica when the request is a GET or HEAD, the replica answers, is in recovery, streams from the
primary and is no more than ``REPLICA_MAX_LAG_SECONDS`` behind, and the user has not written in the last
``REPLICA_STICKY_SECONDS`` (read-your-writes: a user's reads go to the primary for that long after any
unsafe request of theirs). Everything else (every write, every unsafe method, the sign-in lookup, the
other endpoints) uses the primary. Export jobs read from the replica once it has replayed everything the
primary had when the job started (``read_engine``). The routing itself is SQLAlchemy's: the request's
session is marked and ``extensions.RoutingSession.get_bind`` answers the replica's engine.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app, g, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import READS_FROM_REPLICA, REPLICA_BIND, db
from .health import _first_line

log = logging.getLogger(__name__)

# The read-only heavy endpoints (GET/HEAD only) that may read from the replica. Not here on purpose: an
# asset's own page and API (its ETag feeds an If-Match write), the export job pages (listing them marks
# dead jobs failed: a write), and anything a user reads to write next.
REPLICA_ENDPOINTS = frozenset({
    # 四个清单: pages, workbook, API
    "lists_pages.index", "lists_pages.show", "lists_pages.export",
    "lists.asset_list", "lists.responsibility_list", "lists.regulation_list", "lists.archive_list",
    # flags: page, workbook, an asset's flags, API
    "flags_pages.index", "flags_pages.export", "flags_pages.asset_flags",
    "flags.list_flags", "flags.summary",
    # homes and dashboards
    "pages.home", "pages.home_flags",
    # the asset lists
    "registry.assets", "assets.list_assets",
})
READ_METHODS = frozenset({"GET", "HEAD"})
SAFE_METHODS = READ_METHODS | {"OPTIONS"}

# How often a process asks the replica how far behind it is (between asks, the last answer stands), and
# how long a replica found down is left alone before it is asked again.
CHECK_EVERY_SECONDS = 1.0
DOWN_RECHECK_SECONDS = 5.0
STICKY_KEY = "assetreg:replica-sticky:{user_id}"
REDIS_TIMEOUT_SECONDS = 0.5

# One statement: in recovery (a standby, not a promoted copy), a WAL receiver running (streaming from the
# primary: without it the replica falls behind silently), and the replay lag in seconds: 0 when everything
# received is replayed, else the time since the last replayed commit was made on the primary.
_LAG_SQL = sa.text("""
    SELECT pg_is_in_recovery() AS in_recovery,
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver) AS streaming,
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
                ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END AS lag
""")


@dataclass(frozen=True)
class ReplicaHealth:
    reachable: bool
    in_recovery: bool = False
    streaming: bool = False
    lag_seconds: float | None = None
    checked_at: float = 0.0  # time.monotonic()

    def usable(self, max_lag: float) -> bool:
        return (self.reachable and self.in_recovery and self.streaming and self.lag_seconds is not None
                and self.lag_seconds <= max_lag)

    def why_not(self, max_lag: float) -> str | None:
        """Why reads do not go there (Chinese, for /readyz), or None when they may."""
        if not self.reachable:
            return "无法连接只读副本，读取由主库承担"
        if not self.in_recovery:
            return "只读副本不处于恢复（备库）状态，读取由主库承担"
        if not self.streaming:
            return "只读副本未从主库接收日志，读取由主库承担"
        if self.lag_seconds is None or self.lag_seconds > max_lag:
            return f"只读副本落后超过{max_lag:g}秒，读取由主库承担"
        return None


def configured() -> bool:
    return REPLICA_BIND in db.engines


def replica_engine() -> sa.Engine:
    return db.engines[REPLICA_BIND]


def _state() -> dict:
    """This process's knowledge of the replica for the current app (health, sticky marks, Redis)."""
    ext = current_app.extensions
    state = ext.get("assetreg_replica")
    if state is None:
        state = ext.setdefault("assetreg_replica", {"lock": threading.Lock(), "health": None, "marks": {},
                                                    "redis": None})
    return state


def probe() -> ReplicaHealth:
    """Ask the replica now (one statement; a replica down answers within the connect timeout)."""
    now = time.monotonic()
    try:
        with replica_engine().connect() as conn:
            row = conn.execute(_LAG_SQL).one()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("replica unreachable: %s", _first_line(getattr(exc, "orig", None) or exc))
        return ReplicaHealth(reachable=False, checked_at=now)
    lag = None if row.lag is None else max(0.0, float(row.lag))
    return ReplicaHealth(True, bool(row.in_recovery), bool(row.streaming), lag, now)


def health(*, fresh: bool = False) -> ReplicaHealth:
    """The replica's health as this process last saw it (asked again every ``CHECK_EVERY_SECONDS``, or
    ``DOWN_RECHECK_SECONDS`` once found down); ``fresh`` asks now."""
    state = _state()
    known: ReplicaHealth | None = state["health"]
    if not fresh and known is not None:
        age = time.monotonic() - known.checked_at
        if age < (CHECK_EVERY_SECONDS if known.reachable else DOWN_RECHECK_SECONDS):
            return known
    with state["lock"]:  # one ask at a time per process; the others take its answer
        known = state["health"]
        if not fresh and known is not None and time.monotonic() - known.checked_at < CHECK_EVERY_SECONDS:
            return known
        state["health"] = known = probe()
    return known


def _set_down() -> None:
    _state()["health"] = ReplicaHealth(reachable=False, checked_at=time.monotonic())


def max_lag() -> float:
    return float(current_app.config["REPLICA_MAX_LAG_SECONDS"])


# --- read-your-writes -----------------------------------------------------------------------------

def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    state = _state()
    if state["redis"] is None:
        from redis import Redis  # noqa: PLC0415 - only with REDIS_URL: without it the app never loads redis

        state["redis"] = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                        socket_timeout=REDIS_TIMEOUT_SECONDS)
    return state["redis"]


def mark_wrote(user_id: int) -> None:
    """The user has just written: their reads go to the primary for ``REPLICA_STICKY_SECONDS``. Kept in
    Redis when ``REDIS_URL`` is set (every process and machine sees it), else in this process."""
    seconds = float(current_app.config["REPLICA_STICKY_SECONDS"])
    if seconds <= 0:
        return
    client = _redis()
    if client is not None:
        from redis.exceptions import RedisError  # noqa: PLC0415 - as above

        try:
            client.set(STICKY_KEY.format(user_id=user_id), 1, px=max(1, int(seconds * 1000)))
            return
        except (RedisError, OSError) as exc:
            log.warning("replica: cannot keep the read-your-writes mark in Redis: %s", _first_line(exc))
    marks = _state()["marks"]
    now = time.monotonic()
    if len(marks) > 10_000:
        for uid in [uid for uid, until in marks.items() if until <= now]:
            marks.pop(uid, None)
    marks[user_id] = now + seconds


def wrote_recently(user_id: int) -> bool:
    """Whether the user wrote within ``REPLICA_STICKY_SECONDS`` (Redis unreachable: assume so, the primary
    answers correctly either way)."""
    until = _state()["marks"].get(user_id)
    if until is not None and until > time.monotonic():
        return True
    client = _redis()
    if client is None:
        return False
    from redis.exceptions import RedisError  # noqa: PLC0415 - as above

    try:
        return bool(client.exists(STICKY_KEY.format(user_id=user_id)))
    except (RedisError, OSError) as exc:
        log.warning("replica: cannot read the read-your-writes mark from Redis: %s", _first_line(exc))
        return True


# --- routing a request ----------------------------------------------------------------------------

def route_of_request() -> str:
    """Where this request reads: ``replica``, or ``primary`` (and why, for the tests and the log)."""
    return g.get("db_route", "primary")


def _route() -> None:
    if request.method not in READ_METHODS or request.endpoint not in REPLICA_ENDPOINTS:
        return
    if not current_user.is_authenticated:
        return  # answered 401 / sent to the login page already (web/auth.py); nothing to read
    if wrote_recently(current_user.id):
        g.db_route = "primary:sticky"
        return
    known = health()
    if not known.usable(max_lag()):
        g.db_route = "primary:behind" if known.reachable else "primary:down"
        return
    session = db.session()
    try:
        # Take the replica's connection now (pool_pre_ping tests it): a replica gone since the last ask
        # sends this request to the primary instead of failing it.
        session.connection(bind_arguments={"bind": replica_engine()})
    except (SQLAlchemyError, OSError) as exc:
        log.warning("replica unreachable: %s", _first_line(getattr(exc, "orig", None) or exc))
        _set_down()
        g.db_route = "primary:down"
        return
    session.info[READS_FROM_REPLICA] = True
    g.db_replica_session = session
    g.db_route = "replica"


def _remember_write(response):
    if request.method not in SAFE_METHODS and current_user.is_authenticated:
        mark_wrote(current_user.id)
    return response


def _unroute(_exc) -> None:
    session = g.pop("db_replica_session", None)
    if session is not None:
        session.info.pop(READS_FROM_REPLICA, None)


def register_replica(app: Flask) -> None:
    """Route the named endpoints' reads (after web/auth.py has found the user, on the primary). Nothing
    is registered without ``DATABASE_REPLICA_URL``."""
    if not app.config.get("DATABASE_REPLICA_URL"):
        return
    sticky, lag = float(app.config["REPLICA_STICKY_SECONDS"]), float(app.config["REPLICA_MAX_LAG_SECONDS"])
    if sticky < lag:
        # A user's read after the window reaches a replica up to ``lag`` behind: it must have their write.
        raise RuntimeError(f"REPLICA_STICKY_SECONDS ({sticky:g}) must be at least REPLICA_MAX_LAG_SECONDS ({lag:g}): "
                           "otherwise a user could read from a replica that has not replayed their own write")
    app.before_request(_route)
    app.after_request(_remember_write)
    app.teardown_request(_unroute)


# --- export jobs and other background reads -------------------------------------------------------

def primary_lsn() -> str:
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar_one()


def wait_for_replay(lsn: str, timeout: float) -> bool:
    """Wait (polling) until the replica has replayed the primary's WAL up to ``lsn``; False after ``timeout``
    seconds or when the replica does not answer."""
    deadline = time.monotonic() + timeout
    query = sa.text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)")
    try:
        with replica_engine().connect() as conn:
            while True:
                if conn.execute(query, {"lsn": lsn}).scalar():
                    return True
                conn.rollback()
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.02)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("replica unreachable: %s", _first_line(getattr(exc, "orig", None) or exc))
        _set_down()
        return False


def read_engine() -> sa.Engine:
    """The engine a background read (an export job) uses: the replica once it has replayed everything the
    primary had at this moment (so the job sees every write committed before it started), waiting at most
    ``REPLICA_MAX_LAG_SECONDS``; otherwise, or without a replica, the primary."""
    if not configured():
        return db.engine
    if not health().usable(max_lag()):
        return db.engine
    if wait_for_replay(primary_lsn(), timeout=max_lag()):
        return replica_engine()
    log.info("replica: not caught up within %ss, the export reads from the primary", max_lag())
    return db.engine


def readiness_check() -> dict | None:
    """``/readyz``'s entry for the replica (None without one): reachable, lag; never required (a replica
    down only sends its reads to the primary)."""
    if not current_app.config.get("DATABASE_REPLICA_URL"):
        return None
    known = health(fresh=True)
    why = known.why_not(max_lag())
    lag = None if known.lag_seconds is None else round(known.lag_seconds, 3)
    return {"name": "replica", "ok": why is None, "required": False, "lag_seconds": lag,
            "detail": why or "可连接，延迟在允许范围内"}
