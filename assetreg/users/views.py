"""The county admin's pages: users, roles and scopes (用户管理), passwords and lock-outs."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..core.time import now_utc
from ..places.services import list_places
from ..users import schemas as user_schemas
from ..users import services as user_services
from ..web.forms import FormInvalid, commit_or_invalid, load_form, load_query

bp = Blueprint("admin", __name__, template_folder="templates")


# --- users -----------------------------------------------------------------------------------------

def _scope_options():

    places = list_places(current_user)
    return [(p.code, f"{p.name}（{ {'county': '县', 'town': '乡镇', 'village': '村'}[p.level] }，{p.code}）")
            for p in places]


@bp.route("/admin/users")
def users():
    args, query_errors = load_query(user_schemas.UserQuery(), request.args)
    result = user_services.list_users(current_user, **args)
    now = now_utc()
    held = user_services.address_locks([u.id for u in result["items"]], now)
    return render_template("admin/users.html", result=result, args=args, query_errors=query_errors,
                           now=now, address_locks=held)


@bp.route("/admin/users/new", methods=["GET", "POST"])
def user_new():
    user_services._require_admin(current_user)
    if request.method == "GET":
        return render_template("admin/user_form.html", values={}, errors={}, message=None, scopes=_scope_options())
    try:
        data = load_form(user_schemas.UserCreate(), request.form)
        user = commit_or_invalid(lambda: user_services.add_user(current_user, data))
    except FormInvalid as exc:
        values = {k: v for k, v in request.form.items() if k != "password"}  # never echo a password
        return render_template("admin/user_form.html", values=values, errors=exc.errors, message=exc.message,
                               scopes=_scope_options()), 422
    flash(f"用户 {user.username} 已创建", "success")
    return redirect(url_for("admin.users"))


@bp.route("/admin/users/<int:user_id>/<any(activate, deactivate, unlock):action>", methods=["POST"])
def user_action(user_id, action):
    try:
        if action == "unlock":
            user = commit_or_invalid(lambda: user_services.unlock_user(current_user, user_id))
            flash(f"用户 {user.username} 已解除锁定", "success")
        else:
            user = commit_or_invalid(lambda: user_services.set_user_active(current_user, user_id, action == "activate"))
            flash(f"用户 {user.username} 已{'启用' if action == 'activate' else '停用'}", "success")
    except FormInvalid as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.users"))


@bp.route("/admin/users/<int:user_id>/password", methods=["GET", "POST"])
def user_password(user_id):
    user = user_services.get_user(current_user, user_id)
    if request.method == "GET":
        return render_template("admin/password_form.html", user=user, errors={}, message=None)
    try:
        data = load_form(user_schemas.PasswordReset(), request.form)
        commit_or_invalid(lambda: user_services.reset_password(current_user, user_id, data["password"]))
    except FormInvalid as exc:
        return render_template("admin/password_form.html", user=user, errors=exc.errors, message=exc.message), 422
    flash(f"用户 {user.username} 的密码已重置", "success")
    return redirect(url_for("admin.users"))


# --- change log ------------------------------------------------------------------------------------
