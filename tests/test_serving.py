"""Production serving (issue 12 item 1): the health endpoints, the request log line with its request id, the
proxy setting, the gunicorn configuration, scripts/serve.sh, docs/DEPLOY.md, and a real gunicorn serving
the app from a temporary SQLite database."""

from __future__ import annotations

import json
import logging
import os
import re
import runpy
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import flask
import pytest
import sqlalchemy as sa

from assetreg.extensions import db
from assetreg.web.requestlog import register_request_log

from .factories import id_number
from .web_support import login

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve.sh"
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
REQUEST_LOG = "assetreg.request"
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def _free_port() -> int:
    """A port nothing listens on (bound, then released): unreachable until someone takes it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == REQUEST_LOG]


def _failing(body: dict) -> list[str]:
    return [c["name"] for c in body["checks"] if not c["ok"]]


# --- /healthz and /readyz ---------------------------------------------------------------------------

def test_healthz_is_public_and_asks_no_database(client, count_queries):
    with count_queries() as c:
        r = client.get("/healthz")
    assert r.status_code == 200 and r.is_json and r.json == {"status": "ok"}
    assert c.count == 0  # the process answers; the database is readyz's business
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # the shared security headers still apply
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_lists_each_check(app, client):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.is_json, r.get_data(as_text=True)
    assert r.json["status"] == "ready"
    checks = {c["name"]: c for c in r.json["checks"]}
    assert list(checks) == ["database", "migrations", "redis"]
    assert checks["database"]["ok"] and checks["migrations"]["ok"]
    assert checks["redis"] == {"name": "redis", "ok": True, "detail": "未配置（REDIS_URL 未设置）"}
    assert r.headers["Cache-Control"] == "no-store"
    # public, and the login page's neighbours still need a login
    assert client.get("/assets").status_code == 302


def test_readyz_503_when_the_database_is_behind_the_code(client):
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0003_distribution'"))
    db.session.commit()  # a SAVEPOINT of the test's transaction: rolled back after the test
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json["status"] == "not ready"
    assert _failing(r.json) == ["migrations"]
    assert r.headers["Retry-After"]


@pytest.mark.committed  # the app's own session must ask the engine swapped in, not the test's connection
def test_readyz_503_when_the_database_is_unreachable(app, client, monkeypatch, tmp_path):
    closed = _free_port()
    urls = [f"sqlite:///{tmp_path / 'no-such-dir' / 'assetreg.db'}",
            f"postgresql+psycopg://assetreg_app:s3cret-pw@127.0.0.1:{closed}/assetreg"]
    for url in urls:
        unreachable = sa.create_engine(url)
        monkeypatch.setitem(db.engines, None, unreachable)  # the app pointed at a database that is not there
        try:
            with app.app_context():  # a context of its own, as a served request has: its session asks the engine
                r = client.get("/readyz")
                db.session.remove()
        finally:
            db.session.remove()
            unreachable.dispose()
        assert r.status_code == 503, url
        assert _failing(r.json) == ["database", "migrations"], url
        text = r.get_data(as_text=True)
        for secret in ("s3cret-pw", "assetreg_app", str(closed), "no-such-dir", "sqlite", "psycopg"):
            assert secret not in text, (url, secret)  # no URL, path or driver text reaches the caller


def test_readyz_503_when_redis_is_configured_but_unreachable(app, client, monkeypatch):
    port = _free_port()
    monkeypatch.setitem(app.config, "REDIS_URL", f"redis://:r3dis-pw@127.0.0.1:{port}/0")
    started = time.perf_counter()
    r = client.get("/readyz")
    assert time.perf_counter() - started < 5
    assert r.status_code == 503 and _failing(r.json) == ["redis"]
    assert "r3dis-pw" not in r.get_data(as_text=True) and str(port) not in r.get_data(as_text=True)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_readyz_ready_with_a_reachable_redis(app, client, monkeypatch, tmp_path):
    port = _free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        monkeypatch.setitem(app.config, "REDIS_URL", f"redis://127.0.0.1:{port}/0")
        deadline = time.monotonic() + 5
        while (r := client.get("/readyz")).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert r.status_code == 200, r.json
        assert {c["name"]: c["ok"] for c in r.json["checks"]} == {"database": True, "migrations": True,
                                                                    "redis": True}
    finally:
        server.terminate()
        server.wait(5)


# --- the request log line ---------------------------------------------------------------------------

def test_one_log_line_per_request_with_its_fields(app, world, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOG)
    who = world.users["fin_a"]
    browser = login(app, "fin_a")
    caplog.clear()
    secret_id = id_number(4711)
    r = browser.get(f"/households?q={secret_id}&town_code={world.town_a}&q2=张三丰",
                    headers={"X-Request-ID": "req-2024.abc_1:X"})
    assert r.status_code == 200
    assert r.headers["X-Request-ID"] == "req-2024.abc_1:X"  # echoed
    (line,) = _log_lines(caplog)
    assert line.levelno == logging.INFO
    assert (line.request_id, line.method, line.path, line.status) == ("req-2024.abc_1:X", "GET", "/households",
                                                                      200)
    assert isinstance(line.duration_ms, float) and 0 <= line.duration_ms < 60_000
    assert (line.user_id, line.username) == (who.id, "fin_a")
    message = line.getMessage()
    assert message.startswith("request_id=req-2024.abc_1:X method=GET path=/households status=200 duration_ms=")
    assert message.endswith(f" user_id={who.id} username=fin_a")
    for personal in (secret_id, "张三丰", "q=", world.town_a, "?"):  # the query string stays out of the log
        assert personal not in message


def test_anonymous_requests_errors_and_refused_logins_are_logged_without_personal_data(app, world, client,
                                                                                        caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOG)
    client.get("/assets")  # not logged in: redirected
    client.get("/no-such-page")
    client.get("/api/v1/assets", headers={"Authorization": "Bearer not-a-token"})
    wrong = id_number(99)
    client.post("/login", data={"username": wrong, "password": "pw-" + wrong})
    lines = _log_lines(caplog)
    assert [(r.method, r.path, r.status) for r in lines] == [
        ("GET", "/assets", 302), ("GET", "/no-such-page", 404), ("GET", "/api/v1/assets", 401),
        ("POST", "/login", 401)]
    assert all(r.user_id is None and r.username is None for r in lines)
    assert all(REQUEST_ID.match(r.request_id) for r in lines)  # made up when none came in
    assert len({r.request_id for r in lines}) == 4
    assert not any(wrong in r.getMessage() or "not-a-token" in r.getMessage() for r in lines)
    assert lines[0].getMessage().endswith(" user_id=- username=-")


def test_bearer_token_requests_name_their_user(world, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOG)
    r = world.admin.get(f"/api/v1/households?village_code={world.village_a1}")
    assert r.status_code == 200
    (line,) = _log_lines(caplog)
    assert (line.path, line.user_id, line.username) == ("/api/v1/households", world.users["admin"].id, "admin")


@pytest.mark.parametrize("incoming", ["", "has space", "new\nline", "x" * 65, "ünïcode", "a;b", "<script>"])
def test_an_insane_request_id_is_replaced(client, caplog, incoming):
    caplog.set_level(logging.INFO, logger=REQUEST_LOG)
    # straight into the WSGI environ: the test client's headers refuse a line break, a raw request may not
    r = client.get("/healthz", environ_base={"HTTP_X_REQUEST_ID": incoming.encode("utf-8").decode("latin-1")})
    made = r.headers["X-Request-ID"]
    assert REQUEST_ID.match(made), made
    (line,) = _log_lines(caplog)
    assert line.request_id == made


def test_the_logged_path_cannot_forge_a_line(client, caplog):
    caplog.set_level(logging.INFO, logger=REQUEST_LOG)
    client.get("/no-such%0Apage%20status=200%E5%86%9C")
    (line,) = _log_lines(caplog)
    message = line.getMessage()
    assert "\n" not in message and " status=200 " not in message.split(" status=")[0]
    assert "path=/no-such%0Apage%20status=200%E5%86%9C " in message


# --- behind a reverse proxy ------------------------------------------------------------------------

@pytest.mark.parametrize(("hops", "expected"), [(0, "10.0.0.5"), (1, "203.0.113.9"), (2, "198.51.100.7")])
def test_proxy_fix_trusts_as_many_proxies_as_configured(hops, expected):
    bare = flask.Flask(__name__)  # the setting as create_app passes it on (a second app would be heavier)
    bare.config["PROXY_FIX_X_FOR"] = hops
    register_request_log(bare)
    bare.add_url_rule("/addr", "addr", lambda: flask.request.remote_addr)
    r = bare.test_client().get("/addr", headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"},
                               environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert r.get_data(as_text=True) == expected


def test_proxy_fix_setting_reaches_the_app(app):
    assert app.config["PROXY_FIX_X_FOR"] == 0  # off unless configured: the peer is the client
    with pytest.raises(RuntimeError, match="PROXY_FIX_X_FOR"):
        bare = flask.Flask(__name__)
        bare.config["PROXY_FIX_X_FOR"] = -1
        register_request_log(bare)


# --- gunicorn configuration, scripts/serve.sh, docs/DEPLOY.md ----------------------------------------

def _conf(monkeypatch, **env) -> dict:
    for key in ("WEB_CONCURRENCY", "BIND", "PORT", "GUNICORN_TIMEOUT", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(GUNICORN_CONF))


def test_gunicorn_workers_from_the_cores_or_web_concurrency(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    conf = _conf(monkeypatch)
    assert conf["workers"] == min(2 * cores + 1, conf["MAX_WORKERS"]) and conf["MAX_WORKERS"] <= 16
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["accesslog"] is None  # the app's own line instead
    assert conf["control_socket_disable"] is True  # no shared control socket under $HOME
    assert conf["timeout"] >= 30 and conf["graceful_timeout"] >= 10
    conf = _conf(monkeypatch, WEB_CONCURRENCY="3", BIND="0.0.0.0:9000", GUNICORN_TIMEOUT="120")
    assert (conf["workers"], conf["bind"], conf["timeout"]) == (3, ["0.0.0.0:9000"], 120)
    assert _conf(monkeypatch, PORT="8123")["bind"] == ["127.0.0.1:8123"]
    with pytest.raises(RuntimeError, match="WEB_CONCURRENCY"):
        _conf(monkeypatch, WEB_CONCURRENCY="many")


def test_serve_script_is_valid_bash_and_never_the_development_server():
    subprocess.run(["bash", "-n", str(SERVE)], check=True)
    code = "\n".join(line for line in SERVE.read_text().splitlines() if not line.lstrip().startswith("#"))
    assert "gunicorn" in code and "db upgrade" in code
    assert not re.search(r"flask\b.*\brun\b|app\.run\(", code)
    assert code.index("db upgrade") < code.index("gunicorn")


# Settings read by files outside assetreg/ that DEPLOY.md must still name (gunicorn's, the scripts').
_SETTING = re.compile(r"""(?:os\.environ\.get\(|os\.environ\[|_env_int\(|getenv\()\s*["']([A-Z][A-Z0-9_]+)["']""")


def test_deploy_doc_names_every_setting_the_app_reads():
    sources = [*sorted((ROOT / "assetreg").rglob("*.py")), ROOT / "wsgi.py", GUNICORN_CONF]
    names = {m.group(1) for path in sources for m in _SETTING.finditer(path.read_text(encoding="utf-8"))}
    for script in (SERVE, ROOT / "scripts" / "worker.sh"):
        text = script.read_text()
        local = set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)=", text, re.M))  # the script's own variables
        names |= set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", text)) - local
    assert {"DATABASE_URL", "SECRET_KEY", "REDIS_URL", "PROXY_FIX_X_FOR", "WEB_CONCURRENCY"} <= names
    doc = (ROOT / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", doc, re.M))
    assert sorted(names - documented) == []


# --- a real gunicorn --------------------------------------------------------------------------------

def _get(url: str, headers: dict | None = None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # loopback only
            return resp.status, dict(resp.headers), resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read().decode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.committed  # a server in other processes; nothing of the test's database is involved
def test_gunicorn_serves_the_app_from_a_migrated_sqlite_database(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "REDIS_URL"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}", SECRET_KEY="serve-test-key", BIND=f"127.0.0.1:{port}",
               WEB_CONCURRENCY="2", SERVE_SKIP_INSTALL="1", UPLOAD_DIR=str(tmp_path / "uploads"),
               EXPORT_DIR=str(tmp_path / "exports"), PYTHONDONTWRITEBYTECODE="1")
    out = open(tmp_path / "serve.out", "wb")  # closed below, after the server stopped
    started = time.monotonic()
    proc = subprocess.Popen(["bash", str(SERVE)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            assert proc.poll() is None, (tmp_path / "serve.out").read_text()
            try:
                status, _, body = _get(base + "/healthz")
                break
            except OSError:
                assert time.monotonic() - started < 30, (tmp_path / "serve.out").read_text()
                time.sleep(0.2)
        assert status == 200 and json.loads(body) == {"status": "ok"}
        status, _, body = _get(base + "/readyz")
        assert status == 200 and json.loads(body)["status"] == "ready", body  # migrated by serve.sh
        status, headers, body = _get(base + "/login?next=/assets", {"X-Request-ID": "served-1"})
        assert status == 200 and 'name="password"' in body
        assert headers["X-Request-ID"] == "served-1" and "script-src 'self'" in headers["Content-Security-Policy"]
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirected:
            opener.open(base + "/assets", timeout=5)
        redirected.value.close()
        assert redirected.value.code == 302 and redirected.value.headers["Location"].startswith("/login?next=")
        assert "werkzeug" not in headers.get("Server", "").lower()  # not the development server
    finally:
        proc.send_signal(signal.SIGTERM)  # serve.sh exec'd gunicorn: this is its master
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        out.close()
    log = (tmp_path / "serve.out").read_text()
    assert proc.returncode == 0, log
    assert "request_id=served-1 method=GET path=/login status=200 duration_ms=" in log
    assert "next=" not in log  # no query string in the log
    assert "Starting gunicorn" in log and log.count("Booting worker") == 2
    assert "development server" not in log.lower()
