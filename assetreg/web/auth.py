"""Who is calling: a session login (pages) or ``Authorization: Bearer <token>`` (API)."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

from ..extensions import db, login_manager
from ..users.models import User
from ..users.services import user_for_token
from .api import error_response


@login_manager.user_loader
def _load_user(user_id: str):
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    return user if user is not None and user.is_active else None


@login_manager.request_loader
def _load_from_header(req):
    header = req.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and 0 < len(header) < 200:
        return user_for_token(header[7:].strip())
    return None


def register_auth(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "pages.login"
    login_manager.login_message = "请先登录"

    @app.before_request
    def _api_requires_login():
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            return error_response(401, "需要登录或有效的API令牌", code="unauthorized")
        return None
