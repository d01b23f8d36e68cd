"""A killed export leaves nothing behind (issue 11 item 8): kill -9 the export command, or the web process
running an export job, part-way, and look. Nothing at the ``--out`` path (the previous complete file is
untouched), no temporary file or folder holding ID, card or mobile numbers, no database row changed but
the job's own, and the job reads as failed once its heartbeat is older than the window.

The export is held part-way by the test-only knob ``ASSETREG_EXPORT_TEST_PAUSE_AT`` (exports/services.py
``_test_pause``), which says on stderr where it stopped; the test kills it there."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from assetreg.core import time as clock
from assetreg.exports import ledger
from assetreg.exports.models import ExportJob
from assetreg.extensions import db

from . import test_exports_support as support
from .test_exports_support import COUNTY, FULL_ID

gw = support.gw  # the fixture

ROOT = Path(__file__).resolve().parent.parent
CARD = re.compile(r"(?<![0-9*])62[0-9]{14,17}(?![0-9])")
MOBILE = re.compile(r"(?<![0-9*])1[3-9][0-9]{9}(?![0-9])")
PAUSE = re.compile(r"\[export-test-pause\] (rows|archive) (\S+)")
PREVIOUS = b"the previous complete export\n"


# --- helpers -------------------------------------------------------------------------------------

def _env(tmp: Path, pause_at: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLASK_DEBUG", "FLASK_APP")}
    env.update(DATABASE_URL=db.engine.url.render_as_string(hide_password=False), SECRET_KEY="test-secret-key",
               EXPORT_DIR=str(tmp / "exports"), TMPDIR=str(tmp / "systmp"), PYTHONUNBUFFERED="1",
               PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    env.pop("ASSETREG_EXPORT_TEST_PAUSE_AT", None)
    if pause_at:
        env["ASSETREG_EXPORT_TEST_PAUSE_AT"] = pause_at
    (tmp / "systmp").mkdir(exist_ok=True)
    return env


def _flask(*args, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


_pumps: dict[int, threading.Thread] = {}


def _lines(proc: subprocess.Popen) -> queue.Queue:
    """The process's stderr, line by line, read in a thread."""
    q: queue.Queue = queue.Queue()

    def pump():
        try:
            for line in proc.stderr:
                q.put(line)
        except (ValueError, OSError):  # closed
            pass
        q.put(None)

    _pumps[proc.pid] = threading.Thread(target=pump, daemon=True)
    _pumps[proc.pid].start()
    return q


def _wait_for_pause(lines: queue.Queue, stage: str, at_least: int = 0, timeout: float = 240) -> str:
    """Wait until the export says it is held at ``stage`` (with ``rows``: at least that many written)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            pytest.fail("the export ended before it reached the stage:\n" + "".join(seen[-40:]))
        seen.append(line)
        m = PAUSE.search(line)
        if m and m.group(1) == stage and (stage != "rows" or int(m.group(2)) >= at_least):
            return line
    pytest.fail("the export never reached the stage:\n" + "".join(seen[-40:]))


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    pump = _pumps.pop(proc.pid, None)
    if pump is not None:
        pump.join(10)  # the pipe is at its end once the process is gone
    proc.stderr.close()


def _personal_data(*roots: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """Files under ``roots`` holding an unmasked ID, card or mobile number (zip members read too)."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if not path.is_file() or path in skip:
                continue
            texts = [path.read_bytes().decode("utf-8", "ignore")]
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as zf:
                    texts += [zf.read(n).decode("utf-8", "ignore") for n in zf.namelist()]
            for name, pattern in (("ID", FULL_ID), ("card", CARD), ("mobile", MOBILE)):
                if any(pattern.search(t) for t in texts):
                    found.append(f"{path.relative_to(root.parent)}: {name}")
    return found


def _leftovers(*roots: Path) -> list[str]:
    return [str(p) for root in roots if root.exists() for p in sorted(root.rglob("*"))]


def _snapshot() -> dict[str, dict]:
    """Every row of every table, by primary key (the generated county is small)."""
    out = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            out[table.name] = {tuple(r._mapping[k] for k in pk): tuple(r)
                               for r in conn.execute(sa.select(table))}
    return out


def _changed(before: dict, after: dict) -> dict[str, dict[str, int]]:
    """Per table: rows added, changed, deleted (tables without a change left out)."""
    diff = {}
    for name in before:
        b, a = before[name], after[name]
        counts = {"added": len(a.keys() - b.keys()), "deleted": len(b.keys() - a.keys()),
                  "changed": sum(1 for k in a.keys() & b.keys() if a[k] != b[k])}
        if any(counts.values()):
            diff[name] = counts
    return diff


def _rows_through_lines(user) -> int:
    """Rows written once the 到户明细 sheet (ID, card and mobile numbers) is done."""
    from assetreg.exports import services

    scope = services.resolve_scope(user, COUNTY, 2020, 2025)
    sheets = ledger.sheets_for(user.role)
    with db.engine.connect() as conn:
        counts = ledger.count_rows(conn, sheets, scope)
    keys = [s.key for s in sheets]
    return sum(counts[k] for k in keys[: keys.index("lines") + 1])


def _report(label: str, figures: dict) -> None:
    print(f"\n[rows changed] {label}: {json.dumps(figures, ensure_ascii=False, sort_keys=True)}")


# --- the export command ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind,stage", [("ledger", "rows"), ("pack", "rows"), ("pack", "archive")])
def test_a_killed_export_command_leaves_nothing_behind(gw, tmp_path, kind, stage):
    through_lines = _rows_through_lines(gw.auditor.user)
    env = _env(tmp_path, f"rows {through_lines}" if stage == "rows" else stage)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / ("pack.zip" if kind == "pack" else "ledger.xlsx")
    out.write_bytes(PREVIOUS)  # the last complete export, which a failed one must not spoil
    before = _snapshot()

    args = ["export-ledger", "--scope", COUNTY, "--years", "2020-2025", "--out", str(out),
            "--user", gw.auditor.user.username] + (["--pack"] if kind == "pack" else [])
    proc = _flask(*args, env=env)
    try:
        _wait_for_pause(_lines(proc), stage, through_lines)
    finally:
        _kill(proc)

    assert out.read_bytes() == PREVIOUS, "the --out file was touched by the killed export"
    assert sorted(p.name for p in out_dir.iterdir()) == [out.name], "a partial file next to --out"
    roots = (tmp_path / "systmp", tmp_path / "exports", out_dir)
    assert _personal_data(*roots, skip=(out,)) == []
    assert _leftovers(tmp_path / "systmp") == []  # nothing in the system's temporary folder at all
    changed = _changed(before, _snapshot())
    _report(f"kill -9 of export-ledger ({kind}, at {stage})", changed)
    assert changed == {}

    # the next start cleans up whatever a killed export could not (its private scratch folder)
    again = _flask("export-ledger", "--scope", gw.village_a, "--years", "2024", "--out", str(tmp_path / "next.xlsx"),
                   env=_env(tmp_path))
    _, stderr = again.communicate(timeout=240)
    assert again.returncode == 0, stderr[-2000:]
    assert _leftovers(tmp_path / "systmp") == []
    assert _leftovers(tmp_path / "exports") == [str(tmp_path / "exports" / "tmp")]  # the scratch root, empty
    assert _personal_data(*roots, skip=(out,)) == []


# --- an export job in the web process --------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(port: int, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _serve(port: int, env: dict, token: str) -> subprocess.Popen:
    proc = _flask("run", "--port", str(port), "--no-reload", "--no-debugger", env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if _http(port, "GET", "/api/v1/me", token)[0] == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            message = proc.stderr.read()[-3000:]
            proc.stderr.close()
            pytest.fail(message)
        time.sleep(0.3)
    _kill(proc)
    pytest.fail("the server did not start")


def _job(job_id: int) -> ExportJob:
    db.session.expire_all()
    return db.session.get(ExportJob, job_id)


def test_a_killed_worker_leaves_no_file_and_its_job_fails_after_the_heartbeat_window(gw, app, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    through_lines = _rows_through_lines(gw.auditor.user)
    env = _env(tmp_path, f"rows {through_lines}")
    port = _free_port()
    token = gw.auditor.token
    before = _snapshot()

    server = _serve(port, env, token)
    try:
        lines = _lines(server)
        status, body = _http(port, "POST", "/api/v1/exports/pack", token, {"scope": COUNTY, "years": "2020-2025"})
        assert status == 202, body
        job_id = body["id"]
        _wait_for_pause(lines, "rows", through_lines)
        killed_at = datetime.now(UTC)
    finally:
        _kill(server)

    job = _job(job_id)
    assert job.status == "running" and job.progress > 0  # as the dead process left it
    after_kill = _snapshot()
    changed = _changed(before, after_kill)
    _report("request + kill -9 of the web process running the job", changed)
    # the request's own rows (the job, its change-log entry and so the county's change-log chain head);
    # the kill itself wrote nothing else
    assert changed == {"export_jobs": {"added": 1, "changed": 0, "deleted": 0},
                       "change_log": {"added": 1, "changed": 0, "deleted": 0},
                       "chain_heads": {"added": 0, "changed": 1, "deleted": 0}}
    assert _leftovers(tmp_path / "exports" / COUNTY) == []  # no half-written job file
    assert _personal_data(tmp_path / "systmp", tmp_path / "exports") == []
    assert _leftovers(tmp_path / "systmp") == []

    # within the heartbeat window the job still reads as running (a live worker is not failed early) ...
    clock.freeze(killed_at + timedelta(seconds=30))
    assert gw.auditor.get(f"/api/v1/exports/{job_id}").json["status"] == "running"
    # ... after it, reading the job marks it failed, with the reason
    clock.freeze(killed_at + timedelta(minutes=int(app.config.get("EXPORT_HEARTBEAT_MINUTES") or 5), seconds=30))
    body = gw.auditor.get(f"/api/v1/exports/{job_id}").json
    assert body["status"] == "failed" and body["error"] == "导出进程已中断，请重新导出", body
    assert _job(job_id).status == "failed"  # committed, not only shown
    changed = _changed(after_kill, _snapshot())
    _report("job marked failed after the heartbeat window", changed)
    assert changed == {"export_jobs": {"added": 0, "changed": 1, "deleted": 0},
                       "change_log": {"added": 1, "changed": 0, "deleted": 0},
                       "chain_heads": {"added": 0, "changed": 1, "deleted": 0}}


# --- the pieces ------------------------------------------------------------------------------------

def test_whole_file_keeps_the_previous_file_on_error_and_leaves_nothing(tmp_path):
    from assetreg.core.storage import whole_file

    path = tmp_path / "out" / "file.zip"
    with whole_file(path) as fh:
        fh.write(b"complete")
    with pytest.raises(RuntimeError), whole_file(path) as fh:
        fh.write(b"half")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"complete" and [p.name for p in path.parent.iterdir()] == ["file.zip"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_the_next_start_sweeps_a_dead_exports_scratch_folder_never_a_live_one(app, tmp_path, monkeypatch):
    import fcntl

    from assetreg.exports import services

    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    root = services.scratch_root()
    dead = root / "run-dead"
    dead.mkdir(parents=True)
    (dead / "tmpabc").write_text("<c><is><t>439901198001010011</t></is></c>")  # as xlsxwriter left it
    with services.scratch_dir() as live:  # sweeps the dead one on its way in
        assert not dead.exists() and live.is_dir()
        (live / "x").write_text("busy")
        assert services.sweep_scratch() == [] and live.is_dir()  # locked: a running export's
        fd = os.open(live, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert list(root.iterdir()) == []  # removed on the way out


def test_a_worker_start_fails_the_jobs_whose_worker_died(app, world, runner, monkeypatch):
    from assetreg.core.time import now_utc
    from assetreg.exports import services

    monkeypatch.delitem(app.config, "REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    user = world.users["auditor"]
    now = now_utc()

    def job(status, **times):
        j = ExportJob(county_code=user.county_code, user_id=user.id, kind="pack", status=status, progress=98,
                      rows_written=10, params={"scope": user.county_code, "year_from": 2025, "year_to": 2025,
                                               "unmasked": True, "role": "auditor"}, created_at=now, **times)
        db.session.add(j)
        db.session.flush()
        return j.id

    dead = job("running", started_at=now - timedelta(minutes=30), heartbeat_at=now - timedelta(minutes=6))
    alive = job("running", started_at=now - timedelta(minutes=30), heartbeat_at=now - timedelta(minutes=1))
    db.session.commit()
    r = runner.invoke(args=["export-worker", "--burst"])
    assert "已将1个执行进程已中断的导出任务标记为失败" in r.output, r.output
    assert _job(dead).status == "failed" and _job(dead).error == services.DEAD_ERROR
    assert _job(alive).status == "running"
