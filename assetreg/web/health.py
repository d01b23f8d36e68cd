"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database reachable, its schema at the
migrations' head, Redis reachable when ``REDIS_URL`` is set; the read replica, when ``DATABASE_REPLICA_URL``
is set, is reported with its lag but never required: without it the primary serves its reads). Public, for load balancers and orchestrators:
they name each check and whether it passed, never a URL, a path, a revision or an error's text (those go
to the log)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

# A probe must answer before the prober gives up: Redis gets this long to connect and to answer.
REDIS_TIMEOUT_SECONDS = 1.0
RETRY_AFTER_SECONDS = 5


def _no_store(resp, status: int = 200):
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/healthz")
def healthz():
    return _no_store(jsonify(status="ok"))


@bp.get("/readyz")
def readyz():
    checks = []
    db_ok, revisions = _database()
    checks.append({"name": "database", "ok": db_ok, "detail": "可连接" if db_ok else "无法连接数据库"})
    if revisions is None:
        checks.append({"name": "migrations", "ok": False, "detail": "数据库不可用，无法核对"})
    else:
        at_head = revisions == _script_heads()
        if not at_head:
            log.warning("readyz: database at %s, the code's migrations at %s", sorted(revisions),
                        sorted(_script_heads()))
        checks.append({"name": "migrations", "ok": at_head,
                       "detail": "已是最新" if at_head else "数据库结构不是最新版本，请先运行 flask db upgrade"})
    checks.append(_redis())
    from .replica import readiness_check  # noqa: PLC0415 - replica.py uses this module's _first_line

    if (replica := readiness_check()) is not None:
        checks.append(replica)
    ready = all(c["ok"] for c in checks if c.get("required", True))
    resp = _no_store(jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503)
    if not ready:
        resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp


def _database() -> tuple[bool, set[str] | None]:
    """Whether a statement runs, and the revisions the database is at (None when it cannot be asked)."""
    try:
        conn = db.session.connection()
        conn.exec_driver_sql("SELECT 1")
        revisions = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        log.warning("readyz: database unreachable: %s", _first_line(getattr(exc, "orig", None) or exc))
        return False, None
    finally:
        db.session.rollback()  # a probe writes nothing and holds no transaction open
    return True, revisions


def _script_heads() -> set[str]:
    """The head revisions of the migrations that came with this code (read once per process)."""
    ext = current_app.extensions
    if "assetreg_migration_heads" not in ext:
        script = ScriptDirectory(str(Path(ext["migrate"].directory)))
        ext["assetreg_migration_heads"] = set(script.get_heads())
    return ext["assetreg_migration_heads"]


def _redis() -> dict:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return {"name": "redis", "ok": True, "detail": "未配置（REDIS_URL 未设置）"}
    from redis import Redis  # noqa: PLC0415 - only with REDIS_URL: without it the app never loads redis
    from redis.exceptions import RedisError  # noqa: PLC0415 - as above

    try:
        client = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                socket_timeout=REDIS_TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
    except (RedisError, OSError, ValueError) as exc:
        log.warning("readyz: Redis unreachable: %s", _first_line(exc))
        return {"name": "redis", "ok": False, "detail": "无法连接 Redis"}
    return {"name": "redis", "ok": True, "detail": "可连接"}


def _first_line(exc: BaseException) -> str:
    """For the server's log: the error's kind and first line (drivers name host and port, never a password)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def register_health(app: Flask) -> None:
    app.register_blueprint(bp)
