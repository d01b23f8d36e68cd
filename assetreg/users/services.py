"""Users, tokens and the scope rules every query and write goes through."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash

from ..changelog.services import record_change, snapshot
from ..core.access import ROLE_LEVELS, ROLES, county_of, require_write
from ..core.errors import NotFound, RuleViolation
from ..core.time import now_utc
from ..extensions import db
from ..places.models import Place
from .models import ApiToken, LoginFailure, User


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash(password: str) -> str:

    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def create_user(*, username: str, password: str, role: str, scope_code: str,
                display_name: str | None = None) -> User:

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
        county_code=county_of(scope_code),
    )
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """A new password; every session the user had ends with the old one."""
    user.password_hash = _hash(password)
    end_sessions(user)


def end_sessions(user: User) -> None:
    """End every session of ``user``, wherever its cookie is (log-out, a new password, a lock, deactivation):
    the user's session generation moves on in one atomic statement, and a session of an older generation
    no longer loads its user (``user_by_session``). API tokens are not sessions: they are revoked apart."""
    db.session.execute(sa.update(User).where(User.id == user.id).values(session_epoch=User.session_epoch + 1),
                       execution_options={"synchronize_session": False})
    db.session.expire(user, ["session_epoch"])


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def issue_token(user: User, name: str = "api") -> str:
    """Create a token and return it in clear, once; only its hash is kept."""
    token = "ar_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, name=name, token_hash=hash_token(token)))
    db.session.flush()
    return token


def user_by_id(user_id: int) -> User | None:
    """The user with this id, or None (ids beyond an INTEGER cannot exist)."""
    return db.session.get(User, user_id) if 0 < user_id < 2**31 else None


def user_by_session(session_id: str) -> User | None:
    """The user a session's id (``User.get_id``: ``"<id>.<generation>"``) still signs in: active, and the
    session of its current generation; None for anything else (an ended session, a malformed id)."""
    uid, dot, epoch = str(session_id).partition(".")
    if not dot or not (uid.isascii() and uid.isdigit()) or not (epoch.isascii() and epoch.isdigit()) \
            or len(uid) > 12 or len(epoch) > 12:
        return None
    user = user_by_id(int(uid))
    if user is None or not user.is_active or (user.session_epoch or 0) != int(epoch):
        return None
    return user


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


# --- sign-in and lock-out -------------------------------------------------------------------------

_DUMMY_HASH: dict[str, str] = {}


def _dummy_check(password: str) -> None:
    """Spend the time a real check costs, so timing does not tell whether a username exists."""

    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    if method not in _DUMMY_HASH:
        _DUMMY_HASH[method] = generate_password_hash(secrets.token_hex(8), method=method)
    check_password_hash(_DUMMY_HASH[method], password)


def authenticate(username: str, password: str, *, address: str = "unknown", max_failures: int = 5,
                 lock_minutes: int = 15, account_lock_addresses: int = 10) -> User | None:
    """The user these credentials sign in, or None. The caller shows one message for every refusal, so
    it never tells whether the username exists.

    Lock-out, designed so that no one outside can lock an account (the admin's included) from one place:

    - wrong passwords are counted per account AND address (``LoginFailure``; an IPv6 /64 is one address),
      each by one atomic upsert (``failures = failures + 1 … RETURNING``), so concurrent guesses cannot
      slip past the count; ``max_failures`` in a row lock that address out of that account for
      ``lock_minutes`` (even the right password is refused from there), and a lock is logged once;
    - the same user signing in from another address is not affected;
    - the whole account locks (for ``lock_minutes``, ending every session) only when
      ``account_lock_addresses`` different addresses are locked out of it at once: a spread attack, which
      one address cannot mount; the admin can lift any lock (``unlock_user``);
    - besides, the login page limits posts per address (``LOGIN_RATE_LIMIT``, ``web/auth.py``).
    """
    user = db.session.scalar(sa.select(User).where(User.username == username))
    now = now_utc()
    if user is None:
        _dummy_check(password)
        return None
    if user.locked_until is not None and user.locked_until > now:
        _dummy_check(password)
        return None
    row = db.session.scalar(sa.select(LoginFailure).where(LoginFailure.user_id == user.id,
                                                          LoginFailure.address == address))
    if row is not None and row.locked_until is not None and row.locked_until > now:
        _dummy_check(password)
        return None
    if verify_password(user, password):
        if not user.is_active:
            return None
        db.session.execute(sa.delete(LoginFailure).where(LoginFailure.user_id == user.id,
                                                         LoginFailure.address == address))
        user.failed_logins = 0
        user.locked_until = None
        return user
    if _count_failure(user, address, now) >= max_failures:
        until = now + timedelta(minutes=lock_minutes)
        # The row is ours until commit (the upsert locked it): of concurrent requests past the threshold,
        # the first sets the lock and logs it; the others find it set.
        newly = db.session.execute(
            sa.update(LoginFailure)
            .where(LoginFailure.user_id == user.id, LoginFailure.address == address,
                   sa.or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now))
            .values(locked_until=until), execution_options={"synchronize_session": False}).rowcount
        if not newly:
            return None
        record_change(None, entity="user", entity_id=user.id, action="lock", county_code=user.county_code,
                      after={"username": user.username, "address": address, "locked_until": until.isoformat(),
                             "reason": f"连续{max_failures}次密码错误"})
        _lock_account_if_spread(user, now, until, account_lock_addresses)
    return None


def _count_failure(user: User, address: str, now) -> int:
    """One more wrong password for (user, address), atomically; a lock that has run out starts a fresh
    count. Then the account-wide tally, whose row lock (PostgreSQL) also serialises the account-wide
    decision after it. Returns the (user, address) count."""
    t = LoginFailure.__table__
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    expired = t.c.locked_until <= now
    stmt = insert(t).values(user_id=user.id, address=address, failures=1, last_failed_at=now)
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.user_id, t.c.address],
        set_={"failures": sa.case((expired, 1), else_=t.c.failures + 1),
              "locked_until": sa.case((expired, sa.null()), else_=t.c.locked_until),
              "last_failed_at": now},
    ).returning(t.c.failures)
    failures = db.session.execute(stmt).scalar_one()
    db.session.execute(sa.update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1),
                       execution_options={"synchronize_session": False})
    db.session.expire(user, ["failed_logins", "locked_until"])
    return failures


def _lock_account_if_spread(user: User, now, until, account_lock_addresses: int) -> None:
    locked = db.session.scalar(sa.select(sa.func.count()).select_from(LoginFailure)
                               .where(LoginFailure.user_id == user.id, LoginFailure.locked_until > now))
    if locked < account_lock_addresses or (user.locked_until is not None and user.locked_until > now):
        return
    user.locked_until = until
    end_sessions(user)
    record_change(None, entity="user", entity_id=user.id, action="lock_account", county_code=user.county_code,
                  after={"username": user.username, "locked_until": until.isoformat(),
                         "reason": f"{locked}个地址同时因密码错误被锁定"})


def address_locks(user_ids, now) -> dict[int, int]:
    """For the admin's list: how many addresses are locked out of each of these accounts now."""
    rows = db.session.execute(sa.select(LoginFailure.user_id, sa.func.count())
                              .where(LoginFailure.user_id.in_(list(user_ids)), LoginFailure.locked_until > now)
                              .group_by(LoginFailure.user_id))
    return {uid: n for uid, n in rows}


def _clear_locks(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.user_id == user.id))


# --- users managed by the county admin ------------------------------------------------------------

def _user_snapshot(user: User) -> dict:

    return snapshot(user, exclude=("password_hash", "session_epoch"))


def _require_admin(actor) -> None:
    require_write(actor, "users", county_code=actor.county_code, town_code=None, village_code=None)


def list_users(actor, *, role=None, q=None, page=1, per_page=50) -> dict:
    """Users of the admin's county (any state), by username."""
    _require_admin(actor)
    query = sa.select(User).where(User.county_code == actor.county_code)
    if role:
        query = query.where(User.role == role)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(sa.or_(User.username.like(like, escape="\\"), User.display_name.like(like, escape="\\")))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = list(db.session.scalars(query.order_by(User.username).limit(per_page).offset((page - 1) * per_page)))
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def get_user(actor, user_id: int) -> User:

    _require_admin(actor)
    user = db.session.get(User, user_id)
    if user is None or user.county_code != actor.county_code:
        raise NotFound("未找到该用户")
    return user


def add_user(actor, data: dict) -> User:
    """A county admin creates a user of its own county with a role and a scope (logged, no hash in the log)."""

    _require_admin(actor)
    if not data["scope_code"].startswith(actor.county_code):
        raise RuleViolation("范围不在本县", {"scope_code": ["只能选择本县的区划"]})
    user = create_user(username=data["username"], password=data["password"], role=data["role"],
                       scope_code=data["scope_code"], display_name=data.get("display_name"))
    record_change(actor, entity="user", entity_id=user.id, action="create", county_code=user.county_code,
                  after=_user_snapshot(user))
    return user


def set_user_active(actor, user_id: int, active: bool) -> User:
    """Deactivate (停用) or reactivate a user; a deactivated user's tokens are revoked, its sessions end."""

    user = get_user(actor, user_id)
    if user.id == actor.id and not active:
        raise RuleViolation("不能停用自己的账户", {"user": ["不能停用自己"]})
    before = _user_snapshot(user)
    user.is_active_flag = active
    if not active:
        revoke_tokens(user)
        end_sessions(user)  # so that reactivating does not bring the old sessions back
    db.session.flush()
    record_change(actor, entity="user", entity_id=user.id, action="activate" if active else "deactivate",
                  county_code=user.county_code, before=before, after=_user_snapshot(user))
    return user


def reset_password(actor, user_id: int, password: str) -> User:
    """Set a new password chosen by the admin, end the user's sessions and lift any lock-out."""

    user = get_user(actor, user_id)
    if len(password) < 8:
        raise RuleViolation("密码太短", {"password": ["至少8位"]})
    before = _user_snapshot(user)
    set_password(user, password)
    _clear_locks(user)
    db.session.flush()
    after = _user_snapshot(user)
    after["password"] = "（已重置）"
    record_change(actor, entity="user", entity_id=user.id, action="reset_password", county_code=user.county_code,
                  before=before, after=after)
    return user


def unlock_user(actor, user_id: int) -> User:
    """Lift a lock-out before it runs out, the account's and every address's (the admin has checked who
    is asking)."""

    user = get_user(actor, user_id)
    before = _user_snapshot(user)
    _clear_locks(user)
    db.session.flush()
    record_change(actor, entity="user", entity_id=user.id, action="unlock", county_code=user.county_code,
                  before=before, after=_user_snapshot(user))
    return user
