"""Lock-out that cannot be raced, and that no one outside can turn against an account (issue 11 item 6).

Wrong passwords are counted atomically per account and address; ``LOGIN_MAX_FAILURES`` of them lock that
address out of that account; the whole account locks only when ``LOGIN_ACCOUNT_LOCK_ADDRESSES``
addresses are locked out of it at once; and ``LOGIN_RATE_LIMIT`` caps login posts per address (429)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.core import time as clock
from assetreg.extensions import db
from assetreg.users.models import User

from .web_support import PASSWORD, client, login, text

T0 = datetime(2025, 6, 30, 2, 0, tzinfo=UTC)


def _user(name: str) -> User:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == name))


def _post_login(app, username, password, address):
    c = client(app)
    c.environ_base["REMOTE_ADDR"] = address
    return c.post("/login", data={"username": username, "password": password})


@pytest.fixture
def users(f):
    """Committed users (the threads' own connections must see them)."""
    f.place("431299", "青溪县", "county")
    f.user("admin", "county_admin", "431299")
    f.user("fin", "county_admin", "431299")
    return "admin"


@pytest.mark.committed  # 30 requests in threads, each on its own connection
def test_thirty_wrong_passwords_at_once_then_the_right_one_is_refused(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")  # the lock-out is tested here
    attacker = "203.0.113.7"
    n = 30
    barrier = threading.Barrier(n)
    statuses: list[int] = []

    def wrong(i):
        barrier.wait()
        statuses.append(_post_login(app, "admin", f"wrong-{i}", attacker).status_code)

    threads = [threading.Thread(target=wrong, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [401] * n  # every one answered as a refusal (none lost to a busy database)
    time.sleep(1)
    r = _post_login(app, "admin", PASSWORD, attacker)
    assert r.status_code == 401, "the right password got in although the address was locked"
    assert "锁定" in text(r)
    # The lock holds one address out of one account: the admin, at the office, still signs in.
    assert _post_login(app, "admin", PASSWORD, "192.0.2.10").status_code == 302
    assert _user("admin").locked_until is None
    locks = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "user",
                                                               ChangeLogEntry.action == "lock")).all()
    assert len(locks) == 1 and locks[0].after["address"] == attacker  # one lock, logged once


@pytest.mark.committed
def test_concurrent_wrong_passwords_from_many_addresses_lock_the_account(app, users, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "1000 per minute")
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_LOCK_ADDRESSES", 3)
    attackers = [f"203.0.113.{i}" for i in range(1, 4)]
    per = app.config["LOGIN_MAX_FAILURES"] * 2
    barrier = threading.Barrier(len(attackers) * per)
    statuses: list[int] = []

    def wrong(address, i):
        barrier.wait()
        statuses.append(_post_login(app, "fin", f"wrong-{i}", address).status_code)

    threads = [threading.Thread(target=wrong, args=(a, i)) for a in attackers for i in range(per)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) == {401}
    u = _user("fin")
    assert u.locked_until is not None  # the whole account is locked now
    assert _post_login(app, "fin", PASSWORD, "192.0.2.10").status_code == 401  # from anywhere
    accounts = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.action == "lock_account")).all()
    assert len(accounts) == 1


def test_one_address_can_never_lock_the_account(app, world):
    """An outsider guessing for hours from one address locks only that address, round after round."""
    attacker = "198.51.100.66"
    t = T0
    for _ in range(12):  # 12 rounds of 5 = 60 wrong passwords, more than any account-wide count
        clock.freeze(t)
        for i in range(app.config["LOGIN_MAX_FAILURES"]):
            assert login(app, "admin", f"wrong-{i}", address=attacker).last.status_code == 401
        assert login(app, "admin", PASSWORD, address=attacker).last.status_code == 401  # locked, even right
        assert login(app, "admin", PASSWORD, address="192.0.2.10").last.status_code == 302  # admin gets in
        t += timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"], seconds=1)
    assert _user("admin").locked_until is None


def test_another_address_signs_in_until_the_account_wide_threshold(app, world, monkeypatch):
    clock.freeze(T0)
    threshold = app.config["LOGIN_ACCOUNT_LOCK_ADDRESSES"]
    assert threshold >= 3  # much higher than one address can reach
    attackers = [f"198.51.100.{i}" for i in range(1, threshold + 1)]
    for n, address in enumerate(attackers, start=1):
        for i in range(app.config["LOGIN_MAX_FAILURES"]):
            login(app, "fin_a", f"wrong-{i}", address=address)
        if n < threshold:
            assert _user("fin_a").locked_until is None
            assert login(app, "fin_a", address="192.0.2.10").last.status_code == 302
            # the right password from the office does not clear the outsiders' counts
    assert _user("fin_a").locked_until == T0 + timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"])
    r = login(app, "fin_a", address="192.0.2.10").last
    assert r.status_code == 401 and "锁定" in text(r)
    # The admin lifts it (and with it every address lock).
    from assetreg.users.services import unlock_user

    unlock_user(world.users["admin"], world.users["fin_a"].id)
    db.session.commit()
    assert login(app, "fin_a", address=attackers[0]).last.status_code == 302


def test_ipv6_addresses_count_by_their_64_prefix():
    from assetreg.web.auth import address_key

    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key(None) == address_key("") == address_key("not an address") == "unknown"


def test_the_limiter_answers_429_in_chinese(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    address = "198.51.100.201"
    for i in range(3):
        assert login(app, "fin_b", f"wrong-{i}", address=address).last.status_code == 401
    r = login(app, "fin_b", PASSWORD, address=address).last
    assert r.status_code == 429
    assert "登录尝试过于频繁" in text(r)
    assert int(r.headers["Retry-After"]) > 0
    assert login(app, "fin_b", address="198.51.100.202").last.status_code == 302  # per address
    c = client(app)
    c.environ_base["REMOTE_ADDR"] = address
    assert c.get("/login").status_code == 200  # only the login posts are limited
    # The same IPv6 /64 is one address for the limiter.
    for i in range(3):
        login(app, "fin_b", f"wrong-{i}", address=f"2001:db8:9:9::{i + 1}")
    assert login(app, "fin_b", address="2001:db8:9:9::ff").last.status_code == 429


def test_the_limiter_storage_follows_redis_url(tmp_path, monkeypatch):
    from assetreg.config import build_config

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("LOGIN_RATE_LIMIT", raising=False)
    cfg = build_config(str(tmp_path))
    assert cfg["RATELIMIT_STORAGE_URI"] == "memory://"
    assert cfg["LOGIN_RATE_LIMIT"] == "10 per minute;100 per hour"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("LOGIN_RATE_LIMIT", "5 per minute")
    cfg = build_config(str(tmp_path))
    assert cfg["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"
    assert cfg["LOGIN_RATE_LIMIT"] == "5 per minute"


def test_the_admin_sees_and_lifts_an_address_lock(app, world):
    clock.freeze(T0)
    for i in range(app.config["LOGIN_MAX_FAILURES"]):
        login(app, "vc_b1", f"wrong-{i}", address="198.51.100.77")
    admin = login(app, "admin", address="192.0.2.10")
    page = text(admin.get("/admin/users"))
    assert "1个地址被锁定" in page and "解除锁定" in page
    assert admin.post(f"/admin/users/{world.users['vc_b1'].id}/unlock").status_code == 302
    assert "个地址被锁定" not in text(admin.get("/admin/users"))
    assert login(app, "vc_b1", address="198.51.100.77").last.status_code == 302
