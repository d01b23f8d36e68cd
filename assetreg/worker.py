"""The RQ worker's entry point for export jobs (``rq worker`` with ``REDIS_URL``): it builds the app,
so it sits with the app factory at the top of the layers."""

from __future__ import annotations

import os

from flask import current_app, has_app_context

from . import create_app
from .exports.jobs import run_job
from .extensions import db

_PID = os.getpid()


def rq_run(job_id: int) -> str:
    """Run one export job inside the worker's app if it has one, else a fresh app from the environment."""
    app = current_app._get_current_object() if has_app_context() else create_app()
    with app.app_context():
        if os.getpid() != _PID:
            db.engine.dispose(close=False)  # a forked work horse must not share the parent's connections
        try:
            job = run_job(job_id)
        finally:
            db.session.remove()
        return job.status if job is not None else "missing"
