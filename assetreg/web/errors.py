"""One error handler for every failure: JSON (``{"error": …}``) under /api and for bearer-token clients,
an HTML error page for a person in a browser. Each handler rolls the request back first, so nothing
is half-written; internals never leak."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from ..core.errors import DomainError
from ..extensions import db
from .api import api, error_response

log = logging.getLogger(__name__)

HTTP_MESSAGES = {
    400: "请求无效",
    401: "请先登录",
    403: "您无权访问此页面",
    404: "未找到该页面或记录",
    405: "不支持的请求方式",
    409: "与已有记录冲突",
    429: "请求过于频繁，请稍后再试",
    503: "系统繁忙，请稍后重试",
    413: "上传的文件太大",
    422: "输入有误",
    500: "服务器内部错误",
}


def wants_html() -> bool:
    """A person in a browser: not the JSON API, and not a bearer-token client fetching a file endpoint
    (those keep the JSON error shape)."""
    if request.path.startswith("/api/"):
        return False
    return request.headers.get("Authorization", "")[:7].lower() != "bearer "


def render_error(status: int, message: str | None = None, detail: str | None = None):
    return render_template("error.html", status=status, message=message or HTTP_MESSAGES.get(status, "出错了"),
                           detail=detail), status


def _answer(status: int, message: str, *, code: str | None = None, fields: dict | None = None,
            page_message: str | None = None):
    db.session.rollback()
    if wants_html():
        return render_error(status, page_message or message)
    return error_response(status, message, fields, code)


# PostgreSQL's "try again" states: serialization failure, deadlock, lock not available, statement timeout.
_RETRY_SQLSTATES = {"40001", "40P01", "55P03", "57014"}
RETRY_AFTER_SECONDS = 2


def is_busy(exc: StatementError) -> bool:
    """The database was busy (a lock, a serialization failure), not given bad data: the client may retry."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    text = str(orig).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "database is busy" in text)


def register_error_handlers(app: Flask) -> None:
    """Call after ``api.init_app``: the HTTP handler here takes over the Api's and calls it for JSON."""

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        return _answer(exc.status, exc.message, code=exc.code, fields=exc.fields)

    @app.errorhandler(StaleDataError)
    def _stale(exc):
        return _answer(409, "该记录已被他人修改，请刷新后重试", code="version_conflict",
                       page_message="该记录已被他人修改，请返回刷新后重试")

    @app.errorhandler(IntegrityError)
    def _integrity(exc):
        log.info("integrity error on %s: %s", request.path, getattr(exc, "orig", exc))
        return _answer(409, "与已有记录冲突（重复或引用无效）", code="integrity_conflict")

    @app.errorhandler(StatementError)
    def _statement(exc):
        if is_busy(exc):  # nothing was written; the same request may well succeed in a moment
            log.info("database busy on %s: %s", request.path, getattr(exc, "orig", exc))
            resp = _answer(503, "系统繁忙（数据正被其他操作占用），请稍后重试", code="busy")
            resp = app.make_response(resp)
            resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return resp
        # A value the database refuses (overflow and the like) that validation did not catch.
        log.warning("statement error on %s: %s", request.path, exc)
        return _answer(422, "数据超出允许范围", code="invalid_value")

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        if request.path.startswith("/api/"):  # a write with the session cookie (web/auth.py)
            return _answer(400, "缺少有效的CSRF令牌：用登录会话调用API的写操作须带请求头 X-CSRFToken"
                                "（页面中 meta csrf-token 的值），或改用API令牌（Authorization: Bearer）",
                           code="csrf_failed")
        return _answer(400, "表单已过期或来源无效，请返回刷新页面后重试", code="csrf_failed")

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded):
        message = "登录尝试过于频繁，请稍后再试" if request.endpoint == "pages.login" else HTTP_MESSAGES[429]
        return _answer(429, message, code="rate_limited")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if not wants_html():
            return api.handle_http_exception(exc)
        if exc.code is None or exc.code < 400:
            return exc
        return render_error(exc.code)

    @app.errorhandler(500)
    def _internal(exc):
        db.session.rollback()
        if wants_html():
            return render_error(500)
        return error_response(500, "服务器内部错误")
