"""Users with one role and one scope (a county, town or village code), their API tokens, and the count of
wrong passwords per account and address (the lock-out: ``users/services.py`` ``authenticate``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.access import level_of
from ..core.time import now_utc
from ..core.types import UTCDateTime
from ..extensions import db


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(sa.String(6), index=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[str] = mapped_column(sa.String(32))
    scope_code: Mapped[str] = mapped_column(sa.String(12))
    is_active_flag: Mapped[bool] = mapped_column("is_active", sa.Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)  # wrong passwords since the last sign-in, any address
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the account-wide lock
    # The generation of the user's sessions: a session remembers the one it began in, and is valid only while
    # it is still the user's (log-out, a password change, an account lock or deactivation move it on).
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    __table_args__ = (
        sa.CheckConstraint(
            "role in ('county_admin','finance_officer','village_committee','auditor')", name="role"
        ),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.is_active_flag)

    def get_id(self) -> str:
        """Flask-Login's "alternative token": the id and the session generation, ``"12.3"``; a session
        holding an older generation no longer loads its user (``services.user_by_session``)."""
        return f"{self.id}.{self.session_epoch or 0}"

    @property
    def scope_level(self) -> str:
        return level_of(self.scope_code)

    @property
    def is_read_only(self) -> bool:
        return self.role == "auditor"

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}@{self.scope_code}>"


class ApiToken(db.Model):
    """A bearer token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")


class LoginFailure(db.Model):
    """Wrong passwords for one account from one address (an IPv4 address or an IPv6 /64) since the last
    sign-in from there, and the lock they caused; counted by one atomic statement each."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    address: Mapped[str] = mapped_column(sa.String(64))
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    __table_args__ = (sa.UniqueConstraint("user_id", "address"),)
