"""Who may see and write what: the one place for scopes, place levels and the role table.

A place code says its level by its length (统计用区划代码: county 6 digits, town 9, village 12, a child's
code starting with its parent's). A user holds one role and one scope, a place code. Every query is
limited with ``Scope.where``; every write is checked with ``require_write`` against ``WRITERS``.
Nothing here reads the database: callers that need the place itself look it up after ``scope_for``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from .errors import Forbidden, NotFound, RuleViolation

# --- place levels ----------------------------------------------------------------------------------

LEVEL_LENGTHS = {"county": 6, "town": 9, "village": 12}
LEVEL_OF_LENGTH = {n: level for level, n in LEVEL_LENGTHS.items()}
LEVEL_RANK = {"county": 0, "town": 1, "village": 2}  # higher is narrower
LEVEL_LABELS = {"county": "县", "town": "乡镇", "village": "村"}
PLACE_CODE_PATTERN = r"^(\d{6}|\d{9}|\d{12})$"
PLACE_CODE_MESSAGE = "应为6位县、9位乡镇或12位村的区划代码"
TOWN_CODE_PATTERN = r"^\d{9}$"
_PLACE_CODE_RE = re.compile(PLACE_CODE_PATTERN, re.ASCII)


def is_place_code(code) -> bool:
    """A well-formed county, town or village code (ASCII digits of length 6, 9 or 12)."""
    return isinstance(code, str) and _PLACE_CODE_RE.fullmatch(code) is not None


def level_of(code: str) -> str:
    """``county``, ``town`` or ``village`` for a well-formed code (KeyError otherwise)."""
    return LEVEL_OF_LENGTH[len(code)]


def county_of(code: str) -> str:
    """The county code of a place code (its first 6 digits)."""
    return code[:LEVEL_LENGTHS["county"]]


def town_of(code: str) -> str:
    """The town code of a town's or village's code (its first 9 digits)."""
    return code[:LEVEL_LENGTHS["town"]]


def ancestors(code: str) -> list[str]:
    """The county, town and village codes down to ``code`` itself: ``431299100201`` → three codes."""
    return [code[:n] for n in LEVEL_LENGTHS.values() if len(code) >= n]


@dataclass(frozen=True)
class Scope:
    """A county, town or village: the part of the registry a query or a write may touch."""

    code: str

    def __post_init__(self):
        if not is_place_code(self.code):
            raise ValueError(f"not a place code: {self.code!r}")

    @classmethod
    def of(cls, user) -> Scope:
        return cls(user.scope_code)

    @property
    def level(self) -> str:
        return level_of(self.code)

    @property
    def county_code(self) -> str:
        return self.code[:6]

    @property
    def town_code(self) -> str | None:
        return self.code[:9] if len(self.code) >= 9 else None

    @property
    def village_code(self) -> str | None:
        return self.code if len(self.code) == 12 else None

    def contains(self, code: str | None) -> bool:
        """``code`` is this place or lies inside it."""
        return bool(code) and code.startswith(self.code)

    def holds(self, county_code: str | None, town_code: str | None = None, village_code: str | None = None) -> bool:
        """A record with these county/town/village codes belongs to this scope."""
        column = {"county": county_code, "town": town_code, "village": village_code}[self.level]
        return column == self.code

    def where(self, model) -> sa.ColumnElement[bool]:
        """Rows of ``model`` (a table with county_code, town_code and village_code columns; only the
        ones the level needs) inside the scope. Led by the county code, as every index is."""
        if self.level == "county":
            return model.county_code == self.code
        column = model.town_code if self.level == "town" else model.village_code
        return sa.and_(model.county_code == self.county_code, column == self.code)


def scope_for(user, requested_code: str | None = None, *, field: str = "scope") -> Scope:
    """The scope a request works in: the user's own, or a place inside it. A malformed code is 422; a
    code outside the user's scope is not found (404), as if it did not exist."""
    own = Scope.of(user)
    if requested_code is None or requested_code == "":
        return own
    if not is_place_code(requested_code):
        raise RuleViolation("区划代码有误", {field: [PLACE_CODE_MESSAGE]})
    if not own.contains(requested_code):
        raise NotFound("未找到该区划或超出您的管辖范围", {field: ["不在您的管辖范围内或不存在"]})
    return Scope(requested_code)


def scope_clause(model, user) -> sa.ColumnElement[bool]:
    """SQL condition limiting ``model`` rows to the user's county, town or village."""
    return Scope.of(user).where(model)


def in_scope(user, county_code: str | None, town_code: str | None = None, village_code: str | None = None) -> bool:
    return Scope.of(user).holds(county_code, town_code, village_code)


# --- roles and what each may write -----------------------------------------------------------------

ROLES = {
    "county_admin": "县级管理员",
    "finance_officer": "乡镇财政所",
    "village_committee": "村委会",
    "auditor": "审计/纪检",
}
# Which scope levels each role may hold (DOMAIN.md, users table).
ROLE_LEVELS = {
    "county_admin": {"county"},
    "finance_officer": {"town"},
    "village_committee": {"village"},
    "auditor": {"county", "town"},
}
# Who reads everything in the county's scope including the change log (DOMAIN.md roles).
OVERSEERS = frozenset({"auditor", "county_admin"})
# Who sees personal data unmasked in exports (DOMAIN.md §7): auditors only.
UNMASKED_READERS = frozenset({"auditor"})

_ALL = frozenset(ROLES)
_RESPONSIBLE = frozenset({"finance_officer", "village_committee", "county_admin"})
_REVIEWERS = frozenset({"auditor", "county_admin"})

# Which roles may write which kind of record (DOMAIN.md roles table). An area's key is checked on every
# write of the area, together with the scope; an action's key ("area.action") narrows it further.
WRITERS: dict[str, frozenset[str]] = {
    "places": frozenset({"county_admin"}),
    "settings": frozenset({"county_admin"}),
    "users": frozenset({"county_admin"}),
    "policy": frozenset({"county_admin"}),
    "households": frozenset({"county_admin", "finance_officer", "village_committee"}),
    "assets": frozenset({"county_admin", "finance_officer"}),
    "income": frozenset({"county_admin", "finance_officer"}),
    "distribution": frozenset({"county_admin", "finance_officer", "village_committee"}),
    "distribution.draft": frozenset({"village_committee"}),  # plans, lines, jobs: the village drafts
    "distribution.town_review": frozenset({"finance_officer"}),
    "distribution.county_filing": frozenset({"county_admin"}),
    "distribution.objection": frozenset({"village_committee", "finance_officer", "county_admin"}),
    "oversight": frozenset({"county_admin", "auditor"}),  # audits and inspections: auditors record them
    "oversight.audit": _REVIEWERS,
    "problems": _ALL,
    "problems.raise": frozenset({"county_admin", "auditor", "finance_officer"}),
    "problems.respond": _RESPONSIBLE,  # 待整改 → 整改中 → 已整改, and evidence
    "problems.review": _REVIEWERS,  # 已整改 → 已销号, or back
    "disposals": frozenset({"county_admin", "finance_officer", "village_committee"}),
    "disposals.request": frozenset({"finance_officer", "county_admin"}),  # request, value, execute, cancel
    "disposals.decide": frozenset({"village_committee", "county_admin"}),  # the village's 四议两公开 resolution
    "disposals.legacy": frozenset({"county_admin"}),
    "imports": frozenset({"county_admin", "finance_officer", "village_committee"}),  # per kind: the area's write
    "lists": frozenset({"county_admin", "finance_officer", "village_committee"}),  # at the user's level or below
    "lists.required_documents": frozenset({"county_admin"}),
    "flags": _ALL,  # acknowledgements
}


def may_write(user, kind: str) -> bool:
    """The role may write records of ``kind`` somewhere (what a page needs to show a button)."""
    return getattr(user, "role", None) in WRITERS[kind]


def may_write_here(user, kind: str, county_code: str | None, town_code: str | None = None,
                   village_code: str | None = None) -> bool:
    """The role may write ``kind`` and the record lies in the user's scope."""
    return may_write(user, kind) and in_scope(user, county_code, town_code, village_code)


def may_edit(user, kind: str, record) -> bool:
    """The role may write ``kind`` and ``record`` (anything with county/town/village codes) is in scope."""
    return may_write_here(user, kind, record.county_code, record.town_code, record.village_code)


def require_role(user, kind: str) -> None:
    """Refuse (403) a role that may not write ``kind``. ``user`` None is the command line or a loader."""
    if user is not None and user.role not in WRITERS[kind]:
        raise Forbidden("当前角色无权执行此操作", code="role_forbidden")


def require_write(user, kind: str, *, county_code: str | None = None, town_code: str | None = None,
                  village_code: str | None = None) -> None:
    """Refuse (403) a write by a role that may not write ``kind`` or outside the user's scope."""
    if user is None:
        return
    require_role(user, kind)
    if county_code is not None and not in_scope(user, county_code, town_code, village_code):
        raise Forbidden("超出您的管辖范围", code="out_of_scope")


def require_level(user, level: str, labels: dict[str, str] | None = None) -> None:
    """A user files records at its own level or below: a village never files the county's records."""
    if LEVEL_RANK[level] < LEVEL_RANK[Scope.of(user).level]:
        raise Forbidden(f"无权登记{(labels or LEVEL_LABELS)[level]}的记录", code="level_forbidden")


def sees_everything(user) -> bool:
    """Auditors and county admins read the change log and every job of their scope."""
    return getattr(user, "role", None) in OVERSEERS


def sees_unmasked(user) -> bool:
    """Personal data unmasked only for auditors (审计/纪检); every other role gets it masked."""
    return getattr(user, "role", None) in UNMASKED_READERS


@dataclass
class SystemActor:
    """The actor of a command-line read without ``--as``: the county's own scope, read only."""

    county_code: str
    username: str = "system"
    display_name: str = "命令行（系统）"
    role: str = "county_admin"
    id: int | None = None

    @property
    def scope_code(self) -> str:
        return self.county_code

    @property
    def scope_level(self) -> str:
        return "county"
