"""Who is calling, and from where: a session login (pages) or ``Authorization: Bearer <token>`` (API).

Every endpoint needs a login except the login page and static files. A session ends after
``SESSION_IDLE_MINUTES`` without a request, ``SESSION_MAX_HOURS`` after its login however active, and
at once everywhere when the user's session generation moves on (log-out, new password, lock: the users
area's ``end_sessions``). An unsafe API request signed in by the session cookie must carry the page's
CSRF token (``X-CSRFToken``); a bearer token needs none, and wins over a cookie. Times come from
``core.time.now_utc``, so tests can move the clock. ``limiter`` caps login posts per address."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_login import current_user, login_user, logout_user

from ..core.time import now_utc
from ..extensions import csrf, login_manager
from .api import error_response

PUBLIC_ENDPOINTS = {"pages.login", "pages.static", "static", "health.healthz", "health.readyz"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def address_key(remote_addr: str | None) -> str:
    """The address a client is counted by (rate limit, lock-out): an IPv4 address as it is, an IPv6
    address by its /64 (one subscriber's network: its 2^64 addresses are one caller)."""
    try:
        ip = ipaddress.ip_address((remote_addr or "").strip())
    except ValueError:
        return "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address() -> str:
    """The calling address of this request. Behind a reverse proxy, wrap the app in werkzeug's
    ``ProxyFix`` so that ``remote_addr`` is the client's, not the proxy's."""
    return address_key(request.remote_addr)


# Storage: RATELIMIT_STORAGE_URI (memory://, or REDIS_URL when set: config.py); the limit: LOGIN_RATE_LIMIT.
limiter = Limiter(key_func=client_address, key_prefix="assetreg")


def login_rate_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def safe_next(target: str | None) -> str | None:
    """A redirect target only when it stays on this site: a plain absolute path, nothing else."""
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if any(c in target for c in "\\\r\n\t\x00") or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def current_path() -> str | None:
    """Where to come back after logging in: the page asked for (GET only; a form post is not replayed)."""
    if request.method != "GET":
        return None
    return safe_next(request.full_path.rstrip("?"))


def start_session(user) -> None:
    """Log in on a fresh session (no fixation: whatever the old session held is dropped)."""

    session.clear()
    login_user(user)
    session.permanent = True
    session["seen"] = session["since"] = now_utc().timestamp()


def _has_bearer(req) -> bool:
    return req.headers.get("Authorization", "")[:7].lower() == "bearer "


def _session_ended(app: Flask) -> str | None:
    """Why the session of this request has ended (idle too long, or older than its absolute lifetime),
    or None while it lives; a living session's idle window moves on."""
    now = now_utc().timestamp()
    seen, since = session.get("seen"), session.get("since")
    idle = app.config.get("SESSION_IDLE_MINUTES", 30) * 60
    hours = app.config.get("SESSION_MAX_HOURS", 12)
    if not isinstance(seen, (int, float)) or not isinstance(since, (int, float)) or now - seen > idle:
        return f"登录已超时（{idle // 60}分钟无操作），请重新登录"
    if now - since > hours * 3600:
        return f"登录已超过{hours}小时，请重新登录"
    session["seen"] = now
    session.permanent = True
    return None


def _csrf_for_cookie_writes(app: Flask) -> None:
    """An unsafe API request signed in by the session cookie must carry the page's CSRF token (the
    cookie rides along on any site's request; the token cannot): ``CSRFError`` otherwise, a 400 JSON
    answer (``web/errors.py``). A bearer token is never sent by a browser on its own: no check."""
    if request.method in SAFE_METHODS or g.get("auth_by_token") or not app.config.get("WTF_CSRF_ENABLED", True):
        return
    csrf.protect()


def register_auth(app: Flask, *, user_by_session: Callable[[str], object | None],
                  user_by_token: Callable[[str], object | None]) -> None:
    """Sessions, bearer tokens and the login rate limit. The users area says who a session's id or a
    token is (``user_by_session``, ``user_by_token``): this module knows no table."""
    login_manager.init_app(app)
    limiter.init_app(app)

    @login_manager.user_loader
    def _load_user(session_id: str):
        if request.path.startswith("/api/") and _has_bearer(request):
            return None  # an explicit token decides (below), not a cookie the browser added
        user = user_by_session(session_id)
        return user if user is not None and user.is_active else None

    @login_manager.request_loader
    def _load_from_header(req):
        header = req.headers.get("Authorization", "")
        if _has_bearer(req) and 0 < len(header) < 200:
            user = user_by_token(header[7:].strip())
            g.auth_by_token = user is not None
            return user
        return None

    login_manager.login_view = "pages.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "info"

    @app.before_request
    def _session_timeout():
        if "_user_id" not in session:
            return None
        why = _session_ended(app)
        if why is None:
            return None
        logout_user()
        session.clear()
        if request.path.startswith("/api/"):
            return error_response(401, why, code="session_expired")
        flash(why, "info")
        return redirect(url_for("pages.login", next=current_path()))

    @app.before_request
    def _requires_login():
        if request.path.startswith("/api/"):
            if not current_user.is_authenticated:
                return error_response(401, "需要登录或有效的API令牌", code="unauthorized")
            _csrf_for_cookie_writes(app)
            return None
        if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
            return None  # unknown URLs get their 404; the login page and CSS are open
        if not current_user.is_authenticated:
            flash(login_manager.login_message, "info")
            return redirect(url_for("pages.login", next=current_path()))
        return None
