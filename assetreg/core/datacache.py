"""Figures kept between requests, per county and per version of its data (``chained.county_version``): a
write anywhere in the county makes the next read compute afresh, a write elsewhere changes nothing.

Every service write records a change-log row, which moves the county's version. As a net under writes that
log nothing (test factories; a service that forgot), each flush of a row of the county's data, and the
commit after it, also renews the county's write mark, which is part of the key: within the process with
SimpleCache, across processes with Redis.

Flask-Caching: in the process (SimpleCache) by default, in Redis when ``REDIS_URL`` is set (so that the
server's processes share one copy); ``DATA_CACHE_SECONDS`` is how long an entry lives at most (0: nothing is
kept). Values are pickled: plain rows, dicts, dataclasses, Decimals.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from itertools import chain
from typing import TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from flask_caching import Cache
from sqlalchemy.orm import Session

from ..extensions import db
from .chained import county_version

log = logging.getLogger(__name__)
T = TypeVar("T")

cache = Cache()
KEY_PREFIX = "assetreg:kept:"
# Tables with a county code whose rows no kept figure reads, written on reads too (sign-ins, sessions, the
# export jobs' heartbeats): their writes leave the county's kept figures alone.
UNKEPT_TABLES = frozenset({"users", "api_tokens", "login_failures", "export_jobs"})
_WRITTEN = "assetreg.datacache.written"  # Session.info: counties this transaction has written rows of


def init_app(app: Flask) -> None:
    """Configure the cache from the app's settings (``DATA_CACHE_SECONDS``, ``REDIS_URL``)."""
    seconds = app.config.get("DATA_CACHE_SECONDS", 0)
    config = {"CACHE_TYPE": "NullCache", "CACHE_NO_NULL_WARNING": True}
    if seconds > 0:
        config = {"CACHE_DEFAULT_TIMEOUT": seconds, "CACHE_KEY_PREFIX": KEY_PREFIX, "CACHE_THRESHOLD": 2000}
        if app.config.get("REDIS_URL"):
            config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=app.config["REDIS_URL"])
        else:
            config.update(CACHE_TYPE="SimpleCache")
    cache.init_app(app, config=config)


def _enabled() -> bool:
    return has_app_context() and current_app.config.get("DATA_CACHE_SECONDS", 0) > 0


def _mark(county_code: str) -> str:
    return _key("written", county_code, ())


def _renew_marks(counties: Iterable[str]) -> None:
    for county in counties:
        try:
            cache.set(_mark(county), uuid.uuid4().hex, timeout=current_app.config["DATA_CACHE_SECONDS"])
        except Exception:  # noqa: BLE001
            log.warning("data cache unavailable (mark %s)", county, exc_info=True)


@sa.event.listens_for(Session, "after_flush")
def _note_writes(session: Session, _flush_context) -> None:
    if not _enabled():
        return
    counties = {o.county_code for o in chain(session.new, session.dirty, session.deleted)
                if getattr(o, "__tablename__", None) not in UNKEPT_TABLES
                and isinstance(getattr(o, "county_code", None), str)}
    if counties:
        session.info.setdefault(_WRITTEN, set()).update(counties)
        _renew_marks(counties)  # now (a read in this transaction), and again at the commit (everyone's)


@sa.event.listens_for(Session, "after_commit")
def _renew_after_commit(session: Session) -> None:
    counties = session.info.pop(_WRITTEN, None)
    if counties and _enabled():
        _renew_marks(counties)  # a reader between the flush and the commit may have kept the old data


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_writes(session: Session, transaction) -> None:
    """Committed (after ``_renew_after_commit``) or rolled back: the transaction's writes are no longer
    pending; a SAVEPOINT released counts as a commit (the tests' requests commit so)."""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_WRITTEN, None)


def writes_pending(session: Session) -> bool:
    """This transaction has written rows of a county (or is about to): what it reads is not yet everyone's."""
    return bool(session.info.get(_WRITTEN)) or any(
        getattr(o, "__tablename__", None) not in UNKEPT_TABLES for o in chain(session.new, session.dirty, session.deleted))


def _key(kind: str, county_code: str, parts: Iterable) -> str:
    return ":".join([kind, county_code, *(str(p) for p in parts)])


def kept(kind: str, county_code: str, parts: Iterable, compute: Callable[[], T], *,
         chains: tuple[str, ...] | None = None) -> T:
    """``compute()``, kept under (kind, county, parts) with the county's data version. ``parts`` must name
    everything else the value depends on (a scope, a day). A transaction that has written computes afresh
    and keeps nothing (what it sees is not yet everyone's); a cache that fails (Redis down) only costs time.

    ``chains``: a value read only from chained tables (the ledger) is versioned by those chains' heads alone
    (``county_version``), so that writes elsewhere in the county leave it kept."""
    seconds = current_app.config.get("DATA_CACHE_SECONDS", 0)
    if seconds <= 0 or writes_pending(db.session):
        return compute()
    heads = county_version(county_code, chains)
    # One entry per (kind, county, parts), holding the version it was computed at: a write replaces the
    # county's entries rather than adding beside them (a county's flags are megabytes).
    key = _key(kind, county_code, parts)
    try:
        version = heads if chains is not None else f"{heads}.{cache.get(_mark(county_code)) or 0}"
        hit = cache.get(key)
    except Exception:  # noqa: BLE001 — the cache is an optimisation: without it, compute
        log.warning("data cache unavailable (get %s)", kind, exc_info=True)
        return compute()
    if hit is not None and hit[0] == version:
        return hit[1]
    value = compute()
    try:
        cache.set(key, (version, value), timeout=seconds)
    except Exception:  # noqa: BLE001
        log.warning("data cache unavailable (set %s)", kind, exc_info=True)
    return value


def clear() -> None:
    """Forget everything kept (tests; after restoring a backup)."""
    cache.clear()
