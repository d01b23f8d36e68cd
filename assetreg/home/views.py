"""The way in: login, logout and each role's home dashboard (Chinese UI). Every page needs login
(enforced for all endpoints in ``web/auth.py``); each area's own pages live in its ``views.py``. This
blueprint also serves the shared static files of ``web/static``."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user

from ..extensions import db
from ..users.services import authenticate, end_sessions
from ..web import STATIC_DIR
from ..web.auth import client_address, limiter, login_rate_limit, safe_next, start_session
from . import services as dashboard

bp = Blueprint("pages", __name__, template_folder="templates", static_folder=STATIC_DIR,
               static_url_path="/static/web")

# One message for every refused login: it never tells whether the username exists (basis: lock-out rule).
LOGIN_REFUSED = "登录失败：用户名或密码错误，或该账户因连续{n}次输错密码已被锁定{m}分钟，请稍后再试。"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_rate_limit, methods=["POST"])
def login():

    nxt = safe_next(request.args.get("next"))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(nxt or url_for("pages.home"))
    error = None
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        if not username or not password:
            error = "请输入用户名和密码"
        elif len(username) > 64 or len(password) > 200:
            error = LOGIN_REFUSED.format(n=current_app.config["LOGIN_MAX_FAILURES"],
                                         m=current_app.config["LOGIN_LOCK_MINUTES"])
        else:
            cfg = current_app.config
            user = authenticate(username, password, address=client_address(),
                                max_failures=cfg["LOGIN_MAX_FAILURES"], lock_minutes=cfg["LOGIN_LOCK_MINUTES"],
                                account_lock_addresses=cfg["LOGIN_ACCOUNT_LOCK_ADDRESSES"])
            db.session.commit()  # the failure count and lock are kept whatever the outcome
            if user is not None:
                start_session(user)
                return redirect(nxt or url_for("pages.home"))
            error = LOGIN_REFUSED.format(n=current_app.config["LOGIN_MAX_FAILURES"],
                                         m=current_app.config["LOGIN_LOCK_MINUTES"])
    status = 200 if error is None else 401
    return render_template("login.html", error=error, username=username[:64]), status


@bp.route("/logout", methods=["POST"])
def logout():
    """Log out: every session of the user ends, here and in any other browser holding a copy of it."""
    if current_user.is_authenticated:
        end_sessions(current_user._get_current_object())
        db.session.commit()
    logout_user()
    session.clear()
    flash("您已退出登录", "success")
    return redirect(url_for("pages.login"))


@bp.route("/")
@login_required
def home():

    return render_template("home.html", d=dashboard.build(current_user))


@bp.route("/home/flags")
def home_flags():
    """The flag figures of the home page, as an HTML fragment loaded after the page (the flag rules
    are evaluated over the whole scope, which takes longer than the rest of the dashboard)."""

    return render_template("_home_flags.html", flags=dashboard.flags(current_user))
