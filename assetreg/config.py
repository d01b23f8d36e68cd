"""Configuration: defaults, then the environment. The secret key is never hard-coded."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _secret_key(instance_path: Path) -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _psycopg(url: str) -> str:
    """Accept the common postgres:// spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _database_url(instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return _psycopg(url)
    instance_path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{instance_path / 'assetreg.db'}"


def _env_int(name: str, default: int) -> int:
    """An integer setting from the environment; a malformed value stops the start (fail fast)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from None


def build_config(instance_path: str) -> dict:
    ip = Path(instance_path)
    return {
        "SECRET_KEY": _secret_key(ip),
        "SQLALCHEMY_DATABASE_URI": _database_url(ip),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # A streaming replica of the PostgreSQL primary for the read-only heavy pages (web/replica.py); "": none.
        "DATABASE_REPLICA_URL": _psycopg(os.environ.get("DATABASE_REPLICA_URL", "").strip()),
        # After a user's write, their reads go to the primary this long (read-your-writes; at least the lag below).
        "REPLICA_STICKY_SECONDS": _env_int("REPLICA_STICKY_SECONDS", 10),
        # A replica further behind than this is skipped: its reads go to the primary.
        "REPLICA_MAX_LAG_SECONDS": _env_int("REPLICA_MAX_LAG_SECONDS", 5),
        # SQLite: how long a statement waits for another writer's lock before "database is locked" (503).
        "SQLITE_BUSY_TIMEOUT_MS": _env_int("SQLITE_BUSY_TIMEOUT_MS", 5000),
        "JSON_AS_ASCII": False,
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # Reverse proxies in front of the app whose X-Forwarded-For is trusted (web/requestlog.py); 0: none.
        "PROXY_FIX_X_FOR": _env_int("PROXY_FIX_X_FOR", 0),
        # flask-smorest / OpenAPI
        "API_TITLE": "assetreg 扶贫项目资产登记与收益台账",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}
            },
            "security": [{"bearerAuth": []}],
        },
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 30 * 60,
        # Behind HTTPS set SESSION_COOKIE_SECURE=1 so the session cookie never travels in clear.
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "") == "1",
        "SESSION_IDLE_MINUTES": 30,  # a session ends after this long without a request
        "SESSION_MAX_HOURS": _env_int("SESSION_MAX_HOURS", 12),  # and this long after its login, however active
        # Lock-out (users/services.py authenticate): wrong passwords in a row from one address before that
        # address is locked out of the account; addresses locked out at once before the whole account locks.
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCK_MINUTES": 15,
        "LOGIN_ACCOUNT_LOCK_ADDRESSES": _env_int("LOGIN_ACCOUNT_LOCK_ADDRESSES", 10),
        # Login posts per address (Flask-Limiter, web/auth.py): in memory, or in Redis when REDIS_URL is set
        # (needed with several server processes, so that they share the count).
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT") or "10 per minute;100 per hour",
        "RATELIMIT_STORAGE_URI": os.environ.get("REDIS_URL") or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,  # Retry-After on a 429
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,  # Redis down: count in memory rather than fail logins
        "DEMO_SEED": 20251231,
        # Uploaded documents (lists/storage.py) and staged import files (imports/staging.py).
        "UPLOAD_DIR": os.environ.get("UPLOAD_DIR") or str(ip / "uploads"),
        "UPLOAD_MAX_BYTES": _env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024),
        # Imports (imports/services.py): the largest file and the most data rows one import takes.
        "IMPORT_MAX_BYTES": _env_int("IMPORT_MAX_BYTES", 10 * 1024 * 1024),
        "IMPORT_MAX_ROWS": _env_int("IMPORT_MAX_ROWS", 50_000),
        "IMPORT_STAGING_HOURS": _env_int("IMPORT_STAGING_HOURS", 24),  # a checked upload waits this long to be committed
        # Export jobs (exports/): files, the RQ queue when REDIS_URL is set (else an in-process worker),
        # the RQ job timeout, and when a job still queued or running counts as dead (its worker gone).
        # Figures kept per county until its next write (core/datacache.py: flags, homes): at most this many
        # seconds; in Redis when REDIS_URL is set, else in each process. 0: nothing is kept.
        "DATA_CACHE_SECONDS": _env_int("DATA_CACHE_SECONDS", 600),
        "EXPORT_DIR": os.environ.get("EXPORT_DIR") or str(ip / "exports"),
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "EXPORT_QUEUE": os.environ.get("EXPORT_QUEUE") or "assetreg-exports",
        "EXPORT_JOB_TIMEOUT": _env_int("EXPORT_JOB_TIMEOUT", 3600),
        "EXPORT_STALE_MINUTES": _env_int("EXPORT_STALE_MINUTES", 90),  # queued and never picked up
        "EXPORT_HEARTBEAT_MINUTES": _env_int("EXPORT_HEARTBEAT_MINUTES", 5),  # running, its heartbeat stopped
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD") or "scrypt",
    }
