"""Users, tokens and the scope rules every query and write goes through."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.errors import Forbidden, RuleViolation
from ..core.time import now_utc
from ..extensions import db
from .models import ROLE_LEVELS, ROLES, ApiToken, User

# Which roles may write which area (DOMAIN.md roles table). Auditors write nothing here.
WRITERS = {
    "places": {"county_admin"},
    "settings": {"county_admin"},
    "users": {"county_admin"},
    "households": {"county_admin", "finance_officer", "village_committee"},
    "assets": {"county_admin", "finance_officer"},
    "income": {"county_admin", "finance_officer"},
    "distribution": {"county_admin", "finance_officer", "village_committee"},  # per action: distribution/services.py
    "policy": {"county_admin"},
}


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash(password: str) -> str:
    from flask import current_app

    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def create_user(*, username: str, password: str, role: str, scope_code: str,
                display_name: str | None = None) -> User:
    from ..places.models import Place

    if role not in ROLES:
        raise RuleViolation("未知角色", {"role": [f"应为 {', '.join(ROLES)} 之一"]})
    place = db.session.scalar(sa.select(Place).where(Place.code == scope_code))
    if place is None:
        raise RuleViolation("范围不存在", {"scope_code": ["未找到该区划"]})
    if place.level not in ROLE_LEVELS[role]:
        raise RuleViolation("角色与范围层级不符", {"scope_code": [f"{role} 的范围应为 {'/'.join(ROLE_LEVELS[role])}"]})
    if len(password) < 8:
        raise RuleViolation("密码太短", {"password": ["至少8位"]})
    if db.session.scalar(sa.select(User.id).where(User.username == username)):
        raise RuleViolation("用户名已存在", {"username": ["已存在"]})
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=_hash(password),
        role=role,
        scope_code=scope_code,
        county_code=scope_code[:6],
    )
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = _hash(password)


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def issue_token(user: User, name: str = "api") -> str:
    """Create a token and return it in clear, once; only its hash is kept."""
    token = "ar_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, name=name, token_hash=hash_token(token)))
    db.session.flush()
    return token


def user_for_token(token: str) -> User | None:
    row = db.session.execute(
        sa.select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.is_active:
        return None
    return row


def revoke_tokens(user: User, name: str | None = None) -> None:
    q = sa.update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if name:
        q = q.where(ApiToken.name == name)
    db.session.execute(q.values(revoked_at=now_utc()))


# --- scope ------------------------------------------------------------------------------------

def scope_clause(model, user: User):
    """SQL condition limiting ``model`` rows to the user's county, town or village."""
    level = user.scope_level
    column = {"county": model.county_code, "town": model.town_code, "village": model.village_code}[level]
    return column == user.scope_code


def in_scope(user: User, county_code: str | None, town_code: str | None, village_code: str | None) -> bool:
    level = user.scope_level
    return {"county": county_code, "town": town_code, "village": village_code}[level] == user.scope_code


def require_write(user: User, area: str, *, county_code: str | None = None,
                  town_code: str | None = None, village_code: str | None = None) -> None:
    """Refuse (403) a write by a role that may not write ``area`` or outside the user's scope."""
    if user.role not in WRITERS[area]:
        raise Forbidden("当前角色无权执行此操作", code="role_forbidden")
    if county_code is not None and not in_scope(user, county_code, town_code, village_code):
        raise Forbidden("超出您的管辖范围", code="out_of_scope")
