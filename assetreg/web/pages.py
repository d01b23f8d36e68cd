"""Server-rendered pages (Chinese UI). Every page needs login."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template_string, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

bp = Blueprint("pages", __name__)

_LOGIN = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录 · 扶贫项目资产管理</title></head>
<body style="font-family:sans-serif;max-width:360px;margin:80px auto">
<h1 style="font-size:20px">扶贫项目资产登记与收益台账</h1>
<form method="post">{{ form.csrf_token }}
<p><label for="username">用户名</label><br>{{ form.username(id="username") }}</p>
<p><label for="password">密码</label><br>{{ form.password(id="password") }}</p>
{% if error %}<p role="alert" style="color:#b00">{{ error }}</p>{% endif %}
<p><button type="submit">登录</button></p></form></body></html>"""

_HOME = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>首页 · 扶贫项目资产管理</title></head>
<body style="font-family:sans-serif;max-width:720px;margin:40px auto">
<p>{{ user.display_name }}（{{ role }}，范围 {{ user.scope_code }}）· <a href="{{ url_for('pages.logout') }}">退出</a></p>
<h1 style="font-size:20px">扶贫项目资产登记与收益台账</h1>
<p>接口文档：<a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p></body></html>"""


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired(), Length(max=200)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    import sqlalchemy as sa

    from ..extensions import db
    from ..users.models import User
    from ..users.services import verify_password

    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(User.username == form.username.data))
        if user is not None and user.is_active and verify_password(user, form.password.data):
            login_user(user)
            nxt = request.args.get("next", "")
            return redirect(nxt if nxt.startswith("/") and not nxt.startswith("//") else url_for("pages.home"))
        error = "用户名或密码错误"
    return render_template_string(_LOGIN, form=form, error=error)


@bp.route("/logout")
def logout():
    logout_user()
    return redirect(url_for("pages.login"))


@bp.route("/")
@login_required
def home():
    from ..users.models import ROLES

    return render_template_string(_HOME, user=current_user, role=ROLES[current_user.role])
