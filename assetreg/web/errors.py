"""Map domain errors and database conflicts to JSON (under /api) without leaking internals."""

from __future__ import annotations

import logging

from flask import Flask, request
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError

from ..core.errors import DomainError
from ..extensions import db
from .api import error_response

log = logging.getLogger(__name__)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        db.session.rollback()
        return error_response(exc.status, exc.message, exc.fields, exc.code)

    @app.errorhandler(StaleDataError)
    def _stale(exc):
        db.session.rollback()
        return error_response(409, "该记录已被他人修改，请刷新后重试", code="version_conflict")

    @app.errorhandler(IntegrityError)
    def _integrity(exc):
        db.session.rollback()
        log.info("integrity error on %s: %s", request.path, exc.orig)
        return error_response(409, "与已有记录冲突（重复或引用无效）", code="integrity_conflict")

    @app.errorhandler(StatementError)
    def _statement(exc):
        # A value the database refuses (overflow and the like) that validation did not catch.
        db.session.rollback()
        log.warning("statement error on %s: %s", request.path, exc)
        return error_response(422, "数据超出允许范围", code="invalid_value")

    @app.errorhandler(500)
    def _internal(exc):
        db.session.rollback()
        if request.path.startswith("/api/"):
            return error_response(500, "服务器内部错误")
        return "服务器内部错误", 500
