"""What every page shares: navigation, place names, HTML error pages, security headers.

Other areas add pages by extending ``base.html`` (see the comment at its top) and using the macros in
``macros.html``; a page path listed in ``NAV`` appears in the navigation as soon as it is routable.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, g, render_template, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException, InternalServerError

from ..core.errors import DomainError
from ..extensions import db

log = logging.getLogger(__name__)

# (label, path, roles that see it or None for all). Paths not (yet) routable are left out.
NAV: list[tuple[str, str, set[str] | None]] = [
    ("首页", "/", None),
    ("资产", "/assets", None),
    ("农户", "/households", None),
    ("收益分配", "/plans", None),
    ("结算", "/settlements", None),
    ("四张清单", "/lists", None),
    ("预警", "/flags", None),
    ("问题整改", "/problems", None),
    ("导入", "/imports", {"county_admin", "finance_officer", "village_committee"}),
    ("导出", "/exports", None),
    ("操作日志", "/changes", {"auditor", "county_admin"}),
    ("用户管理", "/admin/users", {"county_admin"}),
]

HTTP_MESSAGES = {
    400: "请求无效",
    401: "请先登录",
    403: "您无权访问此页面",
    404: "未找到该页面或记录",
    405: "不支持的请求方式",
    409: "与已有记录冲突",
    413: "上传的文件太大",
    422: "输入有误",
    500: "服务器内部错误",
}


def _routable(app: Flask, path: str) -> bool:
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except HTTPException as exc:
        if exc.code is not None and exc.code < 400:  # a redirect (e.g. to a trailing slash) counts
            return True
        return False
    return True


def has_page(path: str) -> bool:
    """Whether a GET of ``path`` reaches a view (pages other areas add appear when they exist)."""
    from flask import current_app

    cache = current_app.extensions.setdefault("assetreg_routable", {})
    if path not in cache:
        cache[path] = _routable(current_app, path)
    return cache[path]


def nav_items() -> list[dict]:
    if not current_user.is_authenticated:
        return []
    out = []
    for label, path, roles in NAV:
        if roles is not None and current_user.role not in roles:
            continue
        if has_page(path):
            active = request.path == "/" if path == "/" else (request.path == path or request.path.startswith(path + "/"))
            out.append({"label": label, "path": path, "active": active})
    return out


def place_names() -> dict[str, str]:
    """Code → name of every place in the user's county: one query per request, on first use."""
    if "place_names" not in g:
        from ..places.models import Place

        names: dict[str, str] = {}
        if current_user.is_authenticated:
            names = dict(db.session.execute(sa.select(Place.code, Place.name)
                                            .where(Place.county_code == current_user.county_code)).all())
        g.place_names = names
    return g.place_names


def place_name(code: str | None, blank: str = "") -> str:
    if not code:
        return blank
    return place_names().get(code, code)


def query_with(**changes) -> str:
    """The current query string ("?a=1&b=2", or "") with some arguments changed (``None`` removes one);
    empty ones dropped."""
    from urllib.parse import urlencode

    args = {k: v for k, v in request.args.items() if v != ""}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return "?" + urlencode(args) if args else ""


def url_with(**changes) -> str:
    """The current URL with some query arguments changed (see ``query_with``)."""
    return request.path + query_with(**changes)


def wants_html() -> bool:
    """A person in a browser: not the JSON API, and not a bearer-token client fetching a file endpoint
    (those keep the JSON error shape)."""
    if request.path.startswith("/api/"):
        return False
    return request.headers.get("Authorization", "")[:7].lower() != "bearer "


def render_error(status: int, message: str | None = None, detail: str | None = None):
    return render_template("error.html", status=status, message=message or HTTP_MESSAGES.get(status, "出错了"),
                           detail=detail), status


def _wrap_handlers(app: Flask) -> None:
    """Pages get HTML error pages; the JSON handlers (web/errors.py, the Api) keep /api/… as they are."""
    from flask_wtf.csrf import CSRFError
    from sqlalchemy.exc import IntegrityError, StatementError
    from sqlalchemy.orm.exc import StaleDataError

    spec = app.error_handler_spec[None]

    def original(code, exc_class):
        return spec.get(code, {}).get(exc_class)

    json_domain = original(None, DomainError)
    json_http = original(None, HTTPException)
    json_stale = original(None, StaleDataError)
    json_integrity = original(None, IntegrityError)
    json_statement = original(None, StatementError)
    json_500 = original(500, InternalServerError)

    def domain(exc: DomainError):
        if not wants_html():
            return json_domain(exc)
        db.session.rollback()
        return render_error(exc.status, exc.message)

    def http(exc: HTTPException):
        if not wants_html():
            return json_http(exc)
        if exc.code is None or exc.code < 400:
            return exc
        return render_error(exc.code)

    def stale(exc):
        if not wants_html():
            return json_stale(exc)
        db.session.rollback()
        return render_error(409, "该记录已被他人修改，请返回刷新后重试")

    def integrity(exc):
        if not wants_html():
            return json_integrity(exc)
        db.session.rollback()
        log.info("integrity error on %s: %s", request.path, getattr(exc, "orig", exc))
        return render_error(409, "与已有记录冲突（重复或引用无效）")

    def statement(exc):
        if not wants_html():
            return json_statement(exc)
        db.session.rollback()
        return render_error(422, "数据超出允许范围")

    def csrf_error(exc):
        return render_error(400, "表单已过期或来源无效，请返回刷新页面后重试")

    def internal(exc):
        if not wants_html():
            return json_500(exc)
        db.session.rollback()
        return render_error(500)

    app.register_error_handler(DomainError, domain)
    app.register_error_handler(HTTPException, http)
    app.register_error_handler(StaleDataError, stale)
    app.register_error_handler(IntegrityError, integrity)
    app.register_error_handler(StatementError, statement)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(500, internal)


def register_ui(app: Flask) -> None:
    """Filters, template globals and HTML error pages. Call after every blueprint is registered."""
    from .filters import register_filters

    register_filters(app)
    app.jinja_env.globals.update(nav_items=nav_items, place_name=place_name, url_with=url_with,
                                  has_page=has_page)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    _wrap_handlers(app)

    @app.after_request
    def _security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if wants_html() and resp.mimetype == "text/html":
            resp.headers.setdefault("Cache-Control", "no-store")  # pages hold personal data
        return resp

