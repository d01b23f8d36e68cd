"""Export jobs over the API: lifecycle and progress, failure, who may request and download what, bad input,
and the RQ worker when Redis is reachable."""

from __future__ import annotations

import hashlib
import socket
import uuid

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.exports import jobs, ledger, services
from assetreg.exports.models import ExportJob
from assetreg.extensions import db

from . import test_exports_support as support
from .test_exports_support import COUNTY, read_book, run_export

gw = support.gw  # the fixture


def _job(job_id: int) -> ExportJob:
    db.session.expire_all()
    return db.session.get(ExportJob, job_id)


def _hold_jobs(monkeypatch):
    """Requests commit their job but nothing runs it (to look at queued jobs, or run them by hand)."""
    monkeypatch.setattr(jobs, "submit", lambda app, job_id: None)


def test_lifecycle_queued_running_done_with_progress(gw, monkeypatch):
    _hold_jobs(monkeypatch)
    r = gw.auditor.post("/api/v1/exports/ledger", json={"scope": COUNTY, "years": "2020-2025"})
    assert r.status_code == 202 and r.headers["Location"] == f"/api/v1/exports/{r.json['id']}"
    body = r.json
    assert body["status"] == "queued" and body["progress"] == 0 and body["download_url"] is None
    assert body["scope"] == COUNTY and (body["year_from"], body["year_to"]) == (2020, 2025)
    assert body["personal_data"] == "unmasked"
    job_id = body["id"]
    assert gw.auditor.get(f"/api/v1/exports/{job_id}/download").status_code == 409  # not ready

    seen = []  # (status, progress) as another connection sees them while the rows go out
    real = services.build_export

    def spying(actor, scope, out, *, kind, conn, progress=None):
        def step(done):
            progress(done)
            with db.engine.connect() as c:
                seen.append(tuple(c.execute(sa.select(ExportJob.status, ExportJob.progress)
                                            .where(ExportJob.id == job_id)).one()))
        return real(actor, scope, out, kind=kind, conn=conn, progress=step)

    monkeypatch.setattr(services, "build_export", spying)
    monkeypatch.setattr(ledger, "CHUNK", 500)
    with support.current_app_context():
        jobs.run_job(job_id)
    assert seen and {s for s, _ in seen} == {"running"}
    progress = [p for _, p in seen]
    assert progress == sorted(progress) and progress[-1] > progress[0] and max(progress) < 100

    done = gw.auditor.get(f"/api/v1/exports/{job_id}").json
    assert done["status"] == "done" and done["progress"] == 100
    assert done["rows_written"] == done["total_rows"] > 1000
    assert done["started_at"] and done["finished_at"] and done["error"] is None
    assert done["download_url"] == f"/api/v1/exports/{job_id}/download"
    r = gw.auditor.get(done["download_url"])
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in r.headers["Content-Disposition"] and r.headers["Cache-Control"] == "no-store"
    assert hashlib.sha256(r.data).hexdigest() == done["file_sha256"]
    r.close()
    # the request, and its completion, are on the record
    actions = db.session.scalars(sa.select(ChangeLogEntry.action).where(
        ChangeLogEntry.entity == "export_job", ChangeLogEntry.entity_id == str(job_id))).all()
    assert sorted(actions) == ["complete", "request"]
    assert jobs.run_job(job_id).status == "done"  # running a finished job again does nothing


def test_in_process_worker_runs_the_job_after_the_commit(gw):
    job = run_export(gw.fin_a, scope=gw.town_a, years="2024")
    assert job["progress"] == 100 and job["personal_data"] == "masked"
    book = read_book(support.download(gw.fin_a, job))
    assert len(book["资产"]) > 0


def test_a_failed_job_records_its_error(gw, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(ledger, "write_ledger", boom)
    r = gw.auditor.post("/api/v1/exports/ledger", json={"scope": COUNTY, "years": "2024"})
    assert r.status_code == 202
    jobs.wait_for_workers()
    job = gw.auditor.get(f"/api/v1/exports/{r.json['id']}").json
    assert job["status"] == "failed" and job["finished_at"] and job["download_url"] is None
    assert "内部错误" in job["error"] and "secret" not in job["error"]  # no exception text reaches a client
    assert gw.auditor.get(f"/api/v1/exports/{job['id']}/download").status_code == 409
    assert list((services.export_root() / COUNTY).glob(f"{job['id']}-*")) == []  # nothing half-written left


def test_a_job_whose_user_lost_the_scope_fails_cleanly(gw, monkeypatch):
    _hold_jobs(monkeypatch)
    r = gw.fin_a.post("/api/v1/exports/ledger", json={"scope": gw.town_a, "years": "2024"})
    user = db.session.get(type(gw.fin_a.user), gw.fin_a.user.id)
    user.scope_code = gw.town_b  # moved to the other town before the job ran
    db.session.commit()
    with support.current_app_context():
        jobs.run_job(r.json["id"])
    job = _job(r.json["id"])
    assert job.status == "failed" and "超出" in job.error and job.file_path is None


def test_scope_and_roles(gw, monkeypatch):
    _hold_jobs(monkeypatch)

    def post(client, scope, kind="ledger"):
        return client.post(f"/api/v1/exports/{kind}", json={"scope": scope, "years": "2021-2025"})

    # a town finance officer exports its own town, never the other town nor the whole county
    assert post(gw.fin_a, gw.town_a).status_code == 202
    before = db.session.scalar(sa.select(sa.func.count()).select_from(ExportJob))
    for scope in (gw.town_b, COUNTY, gw.town_b + "201"):
        r = post(gw.fin_a, scope)
        assert r.status_code == 404 and r.json["error"]["code"] == "not_found", scope
    assert post(gw.vc_a, gw.town_a).status_code == 404  # a village committee: its village only
    assert post(gw.vc_a, gw.village_a, "pack").status_code == 202
    assert post(gw.auditor_a, gw.town_b).status_code == 404  # a town auditor: its town only
    assert post(gw.admin, "431299").status_code == 404  # another county
    assert post(gw.admin, "439901999").status_code == 404  # no such town
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExportJob)) == before + 1

    # who sees a job and its file
    mine = post(gw.auditor, COUNTY).json  # unmasked
    admin_job = post(gw.admin, gw.town_b).json  # masked
    town_job = post(gw.fin_a, gw.town_a).json
    assert gw.auditor.get(f"/api/v1/exports/{mine['id']}").status_code == 200
    for client in (gw.admin, gw.fin_a, gw.auditor_a, gw.vc_a):  # an auditor's unmasked file stays with auditors
        assert client.get(f"/api/v1/exports/{mine['id']}").status_code == 404
        assert client.get(f"/api/v1/exports/{mine['id']}/download").status_code == 404
    assert gw.auditor.get(f"/api/v1/exports/{admin_job['id']}").status_code == 200  # auditor of its county
    assert gw.auditor_a.get(f"/api/v1/exports/{admin_job['id']}").status_code == 404  # town B is not its town
    assert gw.auditor_a.get(f"/api/v1/exports/{town_job['id']}").status_code == 200
    assert gw.admin.get(f"/api/v1/exports/{town_job['id']}").status_code == 200
    assert gw.fin_b.get(f"/api/v1/exports/{town_job['id']}").status_code == 404
    assert gw.fin_b.get(f"/api/v1/exports/{admin_job['id']}").status_code == 404  # not its own job


def test_a_downloaded_file_is_served_to_those_who_may_see_it(gw):
    job = run_export(gw.fin_a, scope=gw.town_a, years="2024")
    for client, status in ((gw.fin_a, 200), (gw.admin, 200), (gw.auditor, 200), (gw.auditor_a, 200),
                           (gw.fin_b, 404), (gw.vc_a, 404)):
        r = client.get(job["download_url"])
        assert r.status_code == status, client.user.username
        r.close()


def test_too_many_running_jobs_are_refused(gw, monkeypatch):
    _hold_jobs(monkeypatch)
    for _ in range(services.ACTIVE_JOBS_PER_USER):
        assert gw.auditor.post("/api/v1/exports/ledger", json={"scope": COUNTY, "years": "2024"}).status_code == 202
    r = gw.auditor.post("/api/v1/exports/pack", json={"scope": COUNTY, "years": "2024"})
    assert r.status_code == 409 and r.json["error"]["code"] == "too_many_jobs"


@pytest.mark.parametrize("body", [
    {"scope": "439901", "years": "2025-2021"},
    {"scope": "439901", "years": "1999"},
    {"scope": "439901", "years": "2000-2040"},
    {"scope": "439901", "years": "21-25"},
    {"scope": "439901", "years": 2024},
    {"scope": 439901, "years": "2024"},
    {"scope": "4399011", "years": "2024"},
    {"scope": "４３９９０１", "years": "2024"},
    {"scope": "439901" * 10_000, "years": "2024"},
    {"scope": "439901", "years": "2024", "unmask": True},
    {"scope": "439901"},
    {"years": "2024"},
    {"scope": None, "years": None},
    [],
    "439901",
])
def test_malformed_requests_are_refused_never_500(gw, body):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(ExportJob))
    for kind in ("ledger", "pack"):
        r = gw.auditor.post(f"/api/v1/exports/{kind}", json=body)
        assert r.status_code in (400, 422), (body, r.status_code, r.data[:300])
        assert "error" in r.json
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExportJob)) == before


def test_odd_requests_never_500(gw):
    c = gw.auditor
    assert c.post("/api/v1/exports/ledger", data="{not json", headers={"Content-Type": "application/json"}
                  ).status_code == 400
    assert c.get("/api/v1/exports/99999999999999").status_code == 404
    assert c.get(f"/api/v1/exports/{2**63}").status_code == 404
    assert c.get("/api/v1/exports/abc").status_code == 404
    assert c.get("/api/v1/exports/1/download").status_code == 404
    assert c.open("DELETE", "/api/v1/exports/ledger").status_code == 405
    from flask import current_app

    assert current_app.test_client().post("/api/v1/exports/ledger", json={"scope": COUNTY, "years": "2024"}
                                          ).status_code == 401


def test_openapi_lists_the_export_endpoints(gw):
    paths = gw.auditor.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/exports/ledger", "/api/v1/exports/pack", "/api/v1/exports/{job_id}",
                 "/api/v1/exports/{job_id}/download"):
        assert path in paths


def _redis_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return "redis://127.0.0.1:6379/0"
    except OSError:
        return None
    return None


def test_rq_worker_runs_the_job_when_redis_is_set(gw, app, monkeypatch):
    url = _redis_url()
    if url is None:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    from redis import Redis
    from rq import Queue, SimpleWorker

    name = f"assetreg-exports-test-{uuid.uuid4().hex[:8]}"  # a queue of this test's own
    monkeypatch.setitem(app.config, "REDIS_URL", url)
    monkeypatch.setitem(app.config, "EXPORT_QUEUE", name)
    redis = Redis.from_url(url)
    queue = Queue(name, connection=redis)
    try:
        r = gw.auditor.post("/api/v1/exports/pack", json={"scope": gw.town_a, "years": "2023-2024"})
        assert r.status_code == 202 and r.json["status"] == "queued"
        assert queue.count == 1
        assert not jobs._threads or not any(t.is_alive() for t in jobs._threads)  # no in-process thread
        assert gw.auditor.get(f"/api/v1/exports/{r.json['id']}").json["status"] == "queued"
        SimpleWorker([queue], connection=redis).work(burst=True)
        job = gw.auditor.get(f"/api/v1/exports/{r.json['id']}").json
        assert job["status"] == "done" and job["progress"] == 100, job
        content = support.download(gw.auditor, job)
        assert hashlib.sha256(content).hexdigest() == job["file_sha256"]
    finally:
        queue.empty()
        queue.delete(delete_jobs=True)
