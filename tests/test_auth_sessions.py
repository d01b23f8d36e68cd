"""Sessions that really end (issue 11 item 4): a session cookie captured before a log-out, a password
change or a lock-out is refused afterwards, server-side, for every session of that user; and a session
ends after ``SESSION_MAX_HOURS`` from its login however active it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from assetreg.core import time as clock
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry

from .web_support import PASSWORD, client, login, text

T0 = datetime(2025, 6, 30, 2, 0, tzinfo=UTC)

INCOME = dict(direction="income", kind="electricity", period_year=2025, period_month=3, received_on="2025-04-10",
              amount="1000.00", payer="国网湖南省电力有限公司", voucher_no="记-0001")


def replay(app, session_client):
    """Another browser holding a copy of ``session_client``'s session cookie (what a thief captured)."""
    thief = client(app)
    thief.set_cookie("session", session_client.get_cookie("session").value)
    return thief


def income_count() -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(IncomeEntry))


def assert_session_refused(thief, asset_id):
    r = thief.get("/api/v1/me")
    assert r.status_code == 401, r.json
    assert r.json["error"]["message"]  # the JSON error shape, in Chinese
    before = income_count()
    r = thief.post(f"/api/v1/assets/{asset_id}/income", json={**INCOME, "voucher_no": "记-9999"})
    assert r.status_code == 401
    assert income_count() == before
    assert thief.get("/").status_code == 302  # the pages send it to the login


def test_logout_ends_the_captured_cookie_and_every_other_session(app, world, f, today):
    a = f.asset()
    c = login(app, "fin_a")
    other = login(app, "fin_a")  # the same user in a second browser
    thief = replay(app, c)
    assert thief.get("/api/v1/me").json["username"] == "fin_a"  # the copy works while the session lives
    r = thief.post(f"/api/v1/assets/{a.id}/income", json=INCOME)
    assert r.status_code == 201, r.json

    assert c.post("/logout").status_code == 302
    assert_session_refused(thief, a.id)
    assert other.get("/api/v1/me").status_code == 401  # log-out ends every session of the user
    assert world.fin_a.get("/api/v1/me").status_code == 200  # API tokens are not sessions
    again = login(app, "fin_a")
    assert again.get("/api/v1/me").status_code == 200  # and a new login works


def test_password_change_ends_every_session(app, world, f, today):
    a = f.asset()
    c = login(app, "fin_a")
    thief = replay(app, c)
    admin = login(app, "admin")
    r = admin.post(f"/admin/users/{world.users['fin_a'].id}/password", data={"password": "a-new-pass-2"})
    assert r.status_code == 302
    assert_session_refused(thief, a.id)
    assert c.get("/api/v1/me").status_code == 401
    assert admin.get("/api/v1/me").status_code == 200  # the admin's own session goes on
    assert login(app, "fin_a", "a-new-pass-2").last.status_code == 302


def test_account_lock_out_ends_every_session(app, world, f, today, monkeypatch):
    """An account-wide lock (wrong passwords from enough addresses) ends the sessions the user had."""
    monkeypatch.setitem(app.config, "LOGIN_ACCOUNT_LOCK_ADDRESSES", 2)
    a = f.asset()
    c = login(app, "fin_a", address="10.0.0.1")
    thief = replay(app, c)
    for address in ("198.51.100.1", "198.51.100.2"):
        for i in range(app.config["LOGIN_MAX_FAILURES"]):
            assert login(app, "fin_a", f"wrong-{i}", address=address).last.status_code == 401
    assert_session_refused(thief, a.id)
    assert c.get("/api/v1/me").status_code == 401


def test_deactivate_then_reactivate_does_not_revive_old_sessions(app, world):
    from assetreg.users.services import set_user_active

    c = login(app, "vc_a2")
    set_user_active(world.users["admin"], world.users["vc_a2"].id, False)
    db.session.commit()
    set_user_active(world.users["admin"], world.users["vc_a2"].id, True)
    db.session.commit()
    assert c.get("/api/v1/me").status_code == 401
    assert login(app, "vc_a2").get("/api/v1/me").status_code == 200


def test_a_replayed_cookie_keeps_its_own_idle_window(app, world):
    """The copy of a cookie idles out on its own, even while the user works on in a newer session."""
    clock.freeze(T0)
    c = login(app, "vc_a1")
    thief = replay(app, c)
    for minutes in (20, 40, 60):
        clock.freeze(T0 + timedelta(minutes=minutes))
        assert c.get("/api/v1/me").status_code == 200
    r = thief.get("/api/v1/me")
    assert r.status_code == 401 and r.json["error"]["code"] == "session_expired"


def test_absolute_lifetime_however_active(app, world):
    clock.freeze(T0)
    c = login(app, "vc_a1")
    hours = app.config.get("SESSION_MAX_HOURS", 12)
    assert hours == 12  # the default
    t = T0
    while t + timedelta(minutes=29) < T0 + timedelta(hours=hours):
        t += timedelta(minutes=29)
        clock.freeze(t)
        assert c.get("/api/v1/me").status_code == 200, t  # active every 29 minutes: the idle window slides
    clock.freeze(T0 + timedelta(hours=hours, minutes=1))
    r = c.get("/api/v1/me")
    assert r.status_code == 401 and r.json["error"]["code"] == "session_expired"
    assert "12小时" in r.json["error"]["message"]
    assert c.get("/api/v1/me").status_code == 401  # the session is gone, not just this request


def test_absolute_lifetime_on_a_page(app, world):
    clock.freeze(T0)
    c = login(app, "vc_a1")
    for step in range(1, 12 * 60 // 25 + 1):
        clock.freeze(T0 + timedelta(minutes=25 * step))
        assert c.get("/").status_code == 200
    clock.freeze(T0 + timedelta(hours=12, seconds=1))
    r = c.get("/assets")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    assert "12小时" in text(c.get("/login"))


@pytest.mark.parametrize("forged", ["1", "abc", "1.x", "99999999999.0", ".", ""])
def test_odd_session_ids_are_anonymous(app, world, forged):
    c = client(app)
    with c.session_transaction() as s:
        s["_user_id"] = forged
        s["_fresh"] = True
        s["seen"] = clock.now_utc().timestamp()
    assert c.get("/api/v1/me").status_code == 401


def test_logout_of_an_ended_session_is_harmless(app, world):
    """Log-out of a session that has already ended is harmless (no 500)."""
    c = login(app, "fin_a")
    thief = replay(app, c)
    c.post("/logout")
    r = thief.post("/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert login(app, "fin_a", PASSWORD).last.status_code == 302
