"""Running export jobs: an in-process thread by default, an RQ worker on Redis when ``REDIS_URL`` is set.

Either way ``run_job`` does the work in its own app context and session, reads through a connection of
its own (one consistent snapshot: REPEATABLE READ, READ ONLY on PostgreSQL, on the streaming replica when
``DATABASE_REPLICA_URL`` is set and it has caught up; a deferred transaction in WAL mode on SQLite,
core/sqlite.py) and records progress as it
goes, so ``GET /api/v1/exports/<id>`` can show it.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import sqlalchemy as sa
from flask import current_app

from ..changelog.services import record_change, snapshot
from ..core import sqlite
from ..core.access import sees_unmasked
from ..core.errors import Conflict, DomainError, NotFound, RuleViolation
from ..core.time import now_utc
from ..extensions import db
from ..users.models import User
from ..web import replica
from . import services
from .models import ExportJob

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "assetreg-exports"
_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


WORKER_ENTRY = "assetreg.worker.rq_run"  # the RQ entry point (it builds the app: composition layer)


def redis_url() -> str | None:
    return current_app.config.get("REDIS_URL") or os.environ.get("REDIS_URL") or None


def queue_name() -> str:
    return current_app.config.get("EXPORT_QUEUE", DEFAULT_QUEUE)


# --- submitting --------------------------------------------------------------------------------

def submit_after_commit(job_id: int) -> None:
    """Start the job once the transaction that created it has committed (a worker must see the row)."""
    app = current_app._get_current_object()
    session = db.session()

    def _go(_session):
        submit(app, job_id)

    sa.event.listen(session, "after_commit", _go, once=True)


def submit(app, job_id: int) -> None:
    url = app.config.get("REDIS_URL") or os.environ.get("REDIS_URL")
    if url:
        try:
            _enqueue(app, job_id, url)
            return
        except Exception:  # Redis down: the job must not sit queued for ever
            log.exception("export job %s: could not enqueue on %s", job_id, url)
            with app.app_context(), db.engine.begin() as conn:
                conn.execute(sa.update(ExportJob.__table__).where(ExportJob.__table__.c.id == job_id).values(
                    status="failed", error="任务队列不可用，请稍后重试", finished_at=now_utc()))
            return
    thread = threading.Thread(target=_thread_main, args=(app, job_id), name=f"export-job-{job_id}", daemon=True)
    with _threads_lock:
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
    thread.start()


def _enqueue(app, job_id: int, url: str) -> None:
    from redis import Redis  # noqa: PLC0415 - only with REDIS_URL: the in-process worker never loads redis
    from rq import Queue  # noqa: PLC0415 - as above

    queue = Queue(app.config.get("EXPORT_QUEUE", DEFAULT_QUEUE), connection=Redis.from_url(url))
    queue.enqueue(WORKER_ENTRY, job_id, job_timeout=app.config.get("EXPORT_JOB_TIMEOUT", 3600), result_ttl=86400,
                  failure_ttl=7 * 86400, description=f"assetreg export job {job_id}")


def _thread_main(app, job_id: int) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def wait_for_workers(timeout: float = 120) -> None:
    """Join the in-process workers (tests, and a clean shutdown)."""
    deadline = time.monotonic() + timeout
    with _threads_lock:
        threads = list(_threads)
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))


# --- running -----------------------------------------------------------------------------------

class _Progress:
    """Progress and the heartbeat, written as the rows go out: at most every ``every`` seconds (and on
    every 10%), and at least every ``HEARTBEAT_SECONDS`` while steps keep coming, so a job whose beat
    stops for ``EXPORT_HEARTBEAT_MINUTES`` has lost its worker (``services.fail_stale_jobs``). Each time in
    a short transaction of its own, so the read snapshot stays (SQLite in WAL mode too: the reader does not
    hold the writers back, nor they it)."""

    HEARTBEAT_SECONDS = 20

    def __init__(self, job_id: int, total: int, every: float = 0.5):
        self.job_id, self.total, self.every = job_id, total, every
        self.last_pct, self.last_at = -1, time.monotonic()

    def save(self, **values) -> None:
        table = ExportJob.__table__
        with db.engine.begin() as conn:
            conn.execute(sa.update(table).where(table.c.id == self.job_id).values(heartbeat_at=now_utc(), **values))
        self.last_at = time.monotonic()

    def update(self, done: int) -> None:
        pct = min(99, done * 100 // self.total) if self.total else 99
        since = time.monotonic() - self.last_at
        if pct != self.last_pct and (since >= self.every or pct - self.last_pct >= 10):
            self.save(progress=pct, rows_written=done)
            self.last_pct = pct
        elif since >= self.HEARTBEAT_SECONDS:
            self.save()


def read_connection() -> sa.Connection:
    """The job's reading connection: on PostgreSQL the streaming replica when one is configured and has
    replayed every write committed before now (web/replica.py ``read_engine``), else the primary."""
    conn = replica.read_engine().connect()
    if conn.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    else:
        with sqlite.reads_only():  # a snapshot (WAL) without the write lock: postings go on meanwhile
            conn.begin()
    return conn


def run_job(job_id: int) -> ExportJob | None:
    """Run a queued job to the end: queued → running → done (file, SHA-256, rows) or failed (error)."""
    with sqlite.writes():  # read the job and mark it running in one write transaction (SQLite: waits its turn)
        job = db.session.get(ExportJob, job_id)
        if job is None or job.status != "queued":
            return job
        services.fail_stale_jobs(job.county_code)  # a worker starts: jobs whose worker died are failed
        if job.status != "queued":  # this one too (queued too long): it stays failed
            db.session.commit()
            return job
        job.status, job.started_at, job.progress = "running", now_utc(), 0
        job.heartbeat_at = job.started_at
        db.session.commit()
    rel = services.new_file_path(job)
    out = services.export_root() / rel
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with sqlite.reads_only():  # until the outcome is known the job only reads: no write lock held (SQLite)
            user = db.session.get(User, job.user_id)
            if user is None or not user.is_active:
                raise NotFound("导出任务的用户已停用")
            params = job.params
            # The user's scope is checked again now: it may have changed since the request.
            scope = services.resolve_scope(user, params["scope"], params["year_from"], params["year_to"])
            with read_connection() as conn:
                total = services.plan_total_rows(conn, user, scope)
                progress = _Progress(job_id, total)
                progress.save(total_rows=total)
                outcome = services.build_export(user, scope, out, kind=job.kind, conn=conn,
                                                progress=progress.update)
            db.session.commit()  # ends the reading; the outcome is written in a transaction of its own
        with sqlite.writes():
            job = db.session.get(ExportJob, job_id)
            job.status, job.progress, job.finished_at = "done", 100, now_utc()
            job.rows_written = job.total_rows = outcome.rows_written
            job.file_path, job.file_sha256 = rel, outcome.sha256
            record_change(None, entity="export_job", entity_id=job.id, action="complete",
                          county_code=job.county_code,
                          after={"status": "done", "rows_written": job.rows_written, "file_sha256": job.file_sha256})
            db.session.commit()
        return job
    except Exception as exc:
        db.session.rollback()  # the file was never published (services.build_export)
        if isinstance(exc, DomainError):
            message = exc.message
        else:
            log.exception("export job %s failed", job_id)
            # no exception text reaches a client: the log has the details
            message = f"导出失败：内部错误（{type(exc).__name__}），请联系系统管理员"
        with sqlite.writes():
            job = db.session.get(ExportJob, job_id)
            job.status, job.error, job.finished_at = "failed", message[:2000], now_utc()
            record_change(None, entity="export_job", entity_id=job.id, action="fail", county_code=job.county_code,
                          after={"status": "failed", "error": job.error})
            db.session.commit()
        return job


def request_export(user, *, kind: str, scope: str, years: str) -> ExportJob:
    """Queue an export job (202); the worker starts once the caller has committed."""
    if kind not in services.KINDS:
        raise RuleViolation("未知的导出类型", {"kind": [f"应为 {', '.join(services.KINDS)} 之一"]})
    year_from, year_to = services.parse_years(years)
    sc = services.resolve_scope(user, scope, year_from, year_to)
    active = db.session.scalar(sa.select(sa.func.count()).select_from(ExportJob).where(
        ExportJob.user_id == user.id, ExportJob.status.in_(("queued", "running"))))
    if active >= services.ACTIVE_JOBS_PER_USER:
        raise Conflict("您已有导出任务正在进行，请等待完成后再试", {"status": [f"同时最多{services.ACTIVE_JOBS_PER_USER}个任务"]},
                       code="too_many_jobs")
    job = ExportJob(county_code=user.county_code, user_id=user.id, kind=kind, status="queued", progress=0,
                    rows_written=0, created_at=now_utc(),
                    params={"scope": sc.code, "year_from": year_from, "year_to": year_to,
                            "unmasked": sees_unmasked(user), "role": user.role})
    db.session.add(job)
    db.session.flush()
    # Exports of personal data are themselves on the record (who, when, what scope).
    record_change(user, entity="export_job", entity_id=job.id, action="request", county_code=job.county_code,
                  town_code=sc.town_code, village_code=sc.village_code, after=snapshot(job))
    submit_after_commit(job.id)
    return job
