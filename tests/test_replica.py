"""The streaming replica (web/replica.py, ``extensions.RoutingSession``): the heavy GETs read there, writes
never do, a user's own writes are read back from the primary for ``REPLICA_STICKY_SECONDS``, a replica down
or too far behind leaves the primary to answer, and an export job reads there once it has caught up.

PostgreSQL only, with a real streaming replica of the test database: ``TEST_PG_REPLICA_URL`` names the same
database on the replica (``scripts/pg_replica.sh start``; ``.ci/run`` does it). The proof that a read came
from the replica is the data: with the replica's replay paused, a row committed on the primary is missing
from what a routed GET answers, and present in what the primary answers. Every test commits for real (the
replica only ever sees committed data); the tables are emptied after each (tests/conftest.py)."""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from assetreg import create_app
from assetreg.exports import jobs
from assetreg.extensions import READS_FROM_REPLICA, REPLICA_BIND, db
from assetreg.places.models import Place
from assetreg.web import replica

from .test_assets import asset_payload

REPLICA_URL = os.environ.get("TEST_PG_REPLICA_URL", "")
if REPLICA_URL.startswith("postgresql://"):
    REPLICA_URL = "postgresql+psycopg://" + REPLICA_URL[len("postgresql://"):]

pytestmark = [
    pytest.mark.skipif(not REPLICA_URL, reason="TEST_PG_REPLICA_URL not set (scripts/pg_replica.sh start)"),
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                       reason="the replica is a PostgreSQL streaming replica"),
    pytest.mark.committed,
]

CATCH_UP_SECONDS = 120  # the machine may be busy: the replica replays other databases' writes too


@pytest.fixture
def make_app(app):
    """An app like the suite's, on the same primary, with the replica configured as given."""
    made = []

    def _make(replica_url: str = REPLICA_URL, *, sticky: float = 3600, max_lag: float = 3600):
        new = create_app({
            "TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": "test-secret-key", "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "LOGIN_RATE_LIMIT": "100000 per minute",
            "RATELIMIT_STORAGE_URI": "memory://", "REDIS_URL": None,
            "DATABASE_REPLICA_URL": replica_url, "REPLICA_STICKY_SECONDS": sticky,
            "REPLICA_MAX_LAG_SECONDS": max_lag,
        })
        made.append(new)
        return new

    yield _make
    for each in made:
        with each.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture
def rapp(make_app):
    """The app with the real replica, its lag bound out of the way (the machine is shared and busy)."""
    ra = make_app()
    with ra.app_context():
        with replica.replica_engine().connect() as conn:
            in_recovery, name, system = conn.execute(sa.text(
                "SELECT pg_is_in_recovery(), current_database(), system_identifier FROM pg_control_system()")).one()
        with db.engine.connect() as conn:
            p_name, p_system = conn.execute(sa.text(
                "SELECT current_database(), system_identifier FROM pg_control_system()")).one()
        assert in_recovery, "TEST_PG_REPLICA_URL is not a standby"
        assert (name, system) == (p_name, p_system), "TEST_PG_REPLICA_URL is not a replica of DATABASE_URL's database"
        yield ra


def caught_up() -> None:
    assert replica.wait_for_replay(replica.primary_lsn(), timeout=CATCH_UP_SECONDS), "the replica did not catch up"


@contextmanager
def replay_paused():
    """The replica stops applying WAL (it still receives it): what the primary commits meanwhile is not there."""
    with replica.replica_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("SELECT pg_wal_replay_pause()"))
        try:
            for _ in range(200):
                if conn.execute(sa.text("SELECT pg_get_wal_replay_pause_state()")).scalar() == "paused":
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the replica's replay did not pause")
            yield
        finally:
            conn.execute(sa.text("SELECT pg_wal_replay_resume()"))


@contextmanager
def statements_on(engine):
    """The statements sent over ``engine``'s connections while the block runs."""
    seen: list[str] = []

    def _count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", _count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", _count)


def codes(response) -> set[str]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return {a["code"] for a in response.json["items"]}


def test_the_replica_is_a_standby_and_healthy(rapp, client):
    with rapp.app_context():
        known = replica.probe()
        assert known.reachable and known.in_recovery and known.streaming and known.lag_seconds is not None
        r = rapp.test_client().get("/readyz")
    assert r.status_code == 200, r.json
    check = {c["name"]: c for c in r.json["checks"]}["replica"]
    assert check["ok"] is True and check["required"] is False and isinstance(check["lag_seconds"], float)
    assert "5433" not in r.get_data(as_text=True) and "postgresql" not in r.get_data(as_text=True)
    # without a replica configured, /readyz has no replica entry (the suite's app)
    assert "replica" not in {c["name"] for c in client.get("/readyz").json["checks"]}


def test_a_routed_get_reads_from_the_replica(rapp, f):
    with rapp.app_context():
        w = f.world()
        f.asset(code="ON-BOTH")
        caught_up()
        assert codes(w.admin.get("/api/v1/assets")) == {"ON-BOTH"}
        with replay_paused():
            late = f.asset(code="ON-PRIMARY-ONLY")  # committed on the primary, not replayed
            with statements_on(replica.replica_engine()) as on_replica:
                listed = codes(w.admin.get("/api/v1/assets"))
            assert listed == {"ON-BOTH"}  # read on the replica: the new row is not there yet
            assert any("FROM assets" in s for s in on_replica)
            # an asset's own API is not routed: the primary has it
            r = w.admin.get(f"/api/v1/assets/{late.id}")
            assert r.status_code == 200 and r.json["code"] == "ON-PRIMARY-ONLY"
            # the pages too: the registry list and the home read there; they answer, and without the row
            page = w.admin.get("/assets")
            assert page.status_code == 200 and "ON-BOTH" in page.get_data(as_text=True)
            assert "ON-PRIMARY-ONLY" not in page.get_data(as_text=True)
            assert w.admin.get("/").status_code == 200
            assert w.admin.get("/api/v1/flags/summary").status_code == 200
            assert w.admin.get(f"/api/v1/lists/assets?scope={w.county}").status_code == 200
        caught_up()
        assert codes(w.admin.get("/api/v1/assets")) == {"ON-BOTH", "ON-PRIMARY-ONLY"}


def test_a_write_never_goes_to_the_replica(rapp, f):
    with rapp.app_context():
        w = f.world()
        caught_up()
        engine = replica.replica_engine()
        with statements_on(engine) as on_replica:
            # POST /api/v1/assets is the routed list's URL: the method decides, and it writes on the primary
            r = w.fin_a.post("/api/v1/assets", json=asset_payload(code="POSTED"))
        assert r.status_code == 201, r.json
        assert on_replica == []
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM assets WHERE code = 'POSTED'")).scalar() == 1

        # A session sent to the replica cannot write: the standby refuses, loudly.
        session = db.session()
        session.info[READS_FROM_REPLICA] = True
        try:
            session.add(Place(code="431299102", name="新镇", level="town", parent_code=w.county, county_code=w.county))
            with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
                session.flush()
        finally:
            session.rollback()
            session.info.pop(READS_FROM_REPLICA, None)
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM places WHERE code = '431299102'")).scalar() == 0


def test_a_users_own_writes_are_read_from_the_primary(rapp, f):
    with rapp.app_context():
        w = f.world()
        caught_up()
        with replay_paused():
            r = w.fin_a.post("/api/v1/assets", json=asset_payload(code="MINE"))
            assert r.status_code == 201, r.json
            # the writer reads their write back (the primary), within REPLICA_STICKY_SECONDS
            assert codes(w.fin_a.get("/api/v1/assets")) == {"MINE"}
            # another user reads from the replica, which has not replayed it yet
            assert codes(w.admin.get("/api/v1/assets")) == set()
        caught_up()
        assert codes(w.admin.get("/api/v1/assets")) == {"MINE"}


def test_the_sticky_window_ends(make_app, f):
    ra = make_app(sticky=2, max_lag=2)
    with ra.app_context():
        w = f.world()
        assert w.fin_a.post("/api/v1/assets", json=asset_payload(code="MINE")).status_code == 201
        engine = replica.replica_engine()
        with statements_on(engine) as on_replica:
            assert codes(w.fin_a.get("/api/v1/assets")) == {"MINE"}
        assert on_replica == []  # within the window: the primary
        time.sleep(2.1)
        for _ in range(10):  # the replica may be briefly further behind than 2 s on a busy machine
            caught_up()
            with statements_on(engine) as on_replica:
                assert codes(w.fin_a.get("/api/v1/assets")) == {"MINE"}
            if on_replica:
                break
            time.sleep(0.5)
        assert on_replica, "after the window the user's reads go to the replica again"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_replica_down_leaves_the_primary_to_answer(make_app, f, monkeypatch):
    down = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/assetreg")
    with down.app_context():
        w = f.world()
        f.asset(code="A1")
        started = time.perf_counter()
        assert codes(w.admin.get("/api/v1/assets")) == {"A1"}
        assert time.perf_counter() - started < 10
        assert replica.health().reachable is False
        r = down.test_client().get("/readyz")
        assert r.status_code == 200 and r.json["status"] == "ready"
        check = {c["name"]: c for c in r.json["checks"]}["replica"]
        assert check == {"name": "replica", "ok": False, "required": False, "lag_seconds": None,
                         "detail": "无法连接只读副本，读取由主库承担"}
        assert replica.read_engine() is db.engine  # an export reads from the primary


def test_a_replica_gone_since_the_last_check_still_answers(rapp, f, monkeypatch):
    with rapp.app_context():
        w = f.world()
        f.asset(code="A1")
        caught_up()
        assert replica.health(fresh=True).usable(3600)  # known healthy, for the next second
        gone = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/assetreg")
        monkeypatch.setitem(db.engines, REPLICA_BIND, gone)
        try:
            assert codes(w.admin.get("/api/v1/assets")) == {"A1"}  # the primary, not a 500
            assert replica.health().reachable is False
        finally:
            gone.dispose()


def test_a_replica_too_far_behind_is_skipped(make_app, f):
    ra = make_app(sticky=0.5, max_lag=0.5)
    with ra.app_context():
        w = f.world()
        caught_up()
        with replay_paused():
            f.asset(code="LATE")
            time.sleep(1.2)  # the replica's lag grows past 0.5 s (and the last answer expires)
            assert codes(w.admin.get("/api/v1/assets")) == {"LATE"}  # the primary
            assert replica.health().lag_seconds > 0.5
            r = ra.test_client().get("/readyz")
            assert r.status_code == 200
            assert {c["name"]: c for c in r.json["checks"]}["replica"]["ok"] is False
            # an export does not wait for a replica that cannot catch up: it reads from the primary
            started = time.perf_counter()
            assert replica.read_engine() is db.engine
            assert time.perf_counter() - started < 5


def test_an_export_job_reads_from_the_replica_once_it_has_caught_up(rapp, f, monkeypatch):
    with rapp.app_context():
        w = f.world()
        f.asset(code="A1")
        used = []
        real = replica.read_engine
        monkeypatch.setattr(replica, "read_engine", lambda: used.append(real()) or used[-1])
        r = w.auditor.post("/api/v1/exports/ledger", json={"scope": w.county, "years": "2024"})
        assert r.status_code == 202, r.json
        jobs.wait_for_workers()
        job = w.auditor.get(f"/api/v1/exports/{r.json['id']}").json
        assert job["status"] == "done", job
        assert used == [replica.replica_engine()]


def test_sticky_must_cover_the_lag(make_app):
    with pytest.raises(RuntimeError, match="REPLICA_STICKY_SECONDS"):
        make_app(sticky=1, max_lag=5)


def test_the_read_your_writes_mark_is_shared_through_redis(make_app):
    """With REDIS_URL, a write served by one process sends the user's reads to the primary in every other."""
    redis = pytest.importorskip("redis")
    url = os.environ.get("TEST_REPLICA_REDIS_URL", "redis://127.0.0.1:6379/4")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError):
        pytest.skip(f"no Redis at {url}")
    one, other = make_app(sticky=30, max_lag=5), make_app(sticky=30, max_lag=5)
    for each in (one, other):
        each.config["REDIS_URL"] = url
    user_id = 2_000_000_000 + os.getpid()  # no real user: a key of this test's own
    key = replica.STICKY_KEY.format(user_id=user_id)
    try:
        with one.app_context():
            assert not replica.wrote_recently(user_id)
            replica.mark_wrote(user_id)
            assert 0 < replica._redis().pttl(key) <= 30_000
        with other.app_context():
            assert replica.wrote_recently(user_id)  # another process: it learns it from Redis
            assert replica._state()["marks"] == {}
    finally:
        with one.app_context():
            replica._redis().delete(key)
