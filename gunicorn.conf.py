"""gunicorn's settings for assetreg in production (``scripts/serve.sh`` runs
``gunicorn --config gunicorn.conf.py wsgi:app``). Each can be set from the environment; docs/DEPLOY.md
lists them. gunicorn's own access log is off: the app logs one line per request (web/requestlog.py)."""

from __future__ import annotations

import os

# Sync workers, each serving one request at a time with its own database pool: 2 × cores + 1 keeps the
# cores busy while some wait on the database; beyond this many the database's connections run short first.
MAX_WORKERS = 8


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (a container's limit)
    except AttributeError:
        return os.cpu_count() or 1


workers = _env_int("WEB_CONCURRENCY", min(2 * _cores() + 1, MAX_WORKERS))
worker_class = "sync"
# Loopback by default: a reverse proxy on the same machine terminates TLS and forwards.
bind = [os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT') or 8000}"]
timeout = _env_int("GUNICORN_TIMEOUT", 60)  # a worker silent this long (a stuck request) is restarted
graceful_timeout = 30  # on SIGTERM/SIGHUP, requests in flight get this long to finish
keepalive = 5  # seconds a proxy's idle keep-alive connection is held

# The app is imported once in the master and forked: workers start at once, share its memory, and the
# instance secret key (when SECRET_KEY is unset) is made by one process, not raced by each worker.
preload_app = True
proc_name = "assetreg"
control_socket_disable = True  # gunicorn 25+'s control socket lives under $HOME: one per machine, not per app
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"  # the workers' heartbeat files: memory, not a disk that may stall

accesslog = None
errorlog = "-"
LOG_LEVEL = (os.environ.get("LOG_LEVEL") or "info").upper()
loglevel = LOG_LEVEL.lower()
# The app's lines (the request log "assetreg.request", its warnings) on stdout; gunicorn's own on stderr.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
                               "datefmt": "%Y-%m-%dT%H:%M:%S%z"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stdout"},
        "stderr": {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        # Any logconfig_dict turns gunicorn's access log on: it is silenced here instead (the app's line,
        # unlike it, leaves out the query string and the client address, and names the user).
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "assetreg": {"handlers": ["stdout"], "level": LOG_LEVEL, "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}


def post_fork(server, worker):
    """A forked worker must not share a database connection the master may have opened (pools are per
    process; ``close=False`` leaves the master's own connections alone)."""
    from assetreg.extensions import db  # noqa: PLC0415 - the app is loaded by now (preload_app)

    app = server.app.wsgi()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
