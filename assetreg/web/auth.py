"""Who is calling: a session login (pages) or ``Authorization: Bearer <token>`` (API).

Every endpoint needs a login except the login page and static files; a session ends after
``SESSION_IDLE_MINUTES`` without a request (checked against ``core.time.now_utc``, so tests can move
the clock)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..core.time import now_utc
from ..extensions import login_manager
from .api import error_response

PUBLIC_ENDPOINTS = {"pages.login", "pages.static", "static", "health.healthz", "health.readyz"}


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
    session["seen"] = now_utc().timestamp()


def register_auth(app: Flask, *, user_by_id: Callable[[int], object | None],
                  user_by_token: Callable[[str], object | None]) -> None:
    """Sessions and bearer tokens. The users area says who an id or a token is (``user_by_id``,
    ``user_by_token``): this module knows no table."""
    login_manager.init_app(app)

    @login_manager.user_loader
    def _load_user(user_id: str):
        try:
            user = user_by_id(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and user.is_active else None

    @login_manager.request_loader
    def _load_from_header(req):
        header = req.headers.get("Authorization", "")
        if header[:7].lower() == "bearer " and 0 < len(header) < 200:
            return user_by_token(header[7:].strip())
        return None

    login_manager.login_view = "pages.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "info"

    @app.before_request
    def _idle_timeout():
        if "_user_id" not in session:
            return None
        now = now_utc().timestamp()
        seen = session.get("seen")
        limit = app.config.get("SESSION_IDLE_MINUTES", 30) * 60
        if not isinstance(seen, (int, float)) or now - seen > limit:
            logout_user()
            session.clear()
            if request.path.startswith("/api/"):
                return error_response(401, "登录已超时，请重新登录", code="session_expired")
            flash(f"登录已超时（{limit // 60}分钟无操作），请重新登录", "info")
            return redirect(url_for("pages.login", next=current_path()))
        session["seen"] = now
        session.permanent = True
        return None

    @app.before_request
    def _requires_login():
        if request.path.startswith("/api/"):
            if not current_user.is_authenticated:
                return error_response(401, "需要登录或有效的API令牌", code="unauthorized")
            return None
        if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
            return None  # unknown URLs get their 404; the login page and CSS are open
        if not current_user.is_authenticated:
            flash(login_manager.login_message, "info")
            return redirect(url_for("pages.login", next=current_path()))
        return None
