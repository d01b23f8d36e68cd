"""Who may export what (scope, roles, masking), export jobs and their files, and the auditor's pack.

Any role may export its own scope; personal data comes unmasked only to auditors. A job's file is
served to the job's owner, and to an auditor or county admin whose scope covers the job's scope —
never an auditor's unmasked file to a county admin.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from ..changelog.services import record_change
from ..core import storage
from ..core.access import ROLES, Scope, ancestors, sees_everything, sees_unmasked
from ..core.errors import Conflict, DomainError, NotFound, RuleViolation
from ..core.time import LOCAL_TZ, now_utc, today_local
from ..distribution.models import DistributionPlan
from ..extensions import db
from ..notices import services as notices
from ..places.services import scoped_place
from ..users.models import User
from . import ledger
from .models import JOB_STATUSES, ExportJob

KINDS = {"ledger": "审计台账", "pack": "审计资料包"}
MAX_YEARS = 30
ACTIVE_JOBS_PER_USER = 3
# Plans whose notice was actually published: the pack carries their notices (DOMAIN.md §7).
NOTICED = ("in_notice", "approved", "filed", "paid", "completed")
_YEARS_RE = re.compile(r"(\d{4})(?:-(\d{4}))?", re.ASCII)
MIMETYPES = {"ledger": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "pack": "application/zip"}
SUFFIX = {"ledger": ".xlsx", "pack": ".zip"}


def parse_years(text: str) -> tuple[int, int]:
    """``"2021-2025"`` or ``"2023"`` → (from, to); 422 when malformed or out of range."""
    m = _YEARS_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise RuleViolation("年度范围格式有误", {"years": ["应为 2021-2025 或 2023 这样的年度或年度范围"]})
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (2000 <= lo <= 2100 and 2000 <= hi <= 2100):
        raise RuleViolation("年度超出范围", {"years": ["年度应在 2000 至 2100 之间"]})
    if lo > hi:
        raise RuleViolation("年度范围有误", {"years": ["起始年度不能晚于结束年度"]})
    if hi - lo + 1 > MAX_YEARS:
        raise RuleViolation("年度范围过大", {"years": [f"一次最多导出{MAX_YEARS}个年度"]})
    return lo, hi


def resolve_scope(user, code: str, year_from: int, year_to: int) -> ledger.ExportScope:
    """The export's scope: a place of the user's county inside the user's own scope (else 404)."""
    place = scoped_place(user, code)
    return ledger.ExportScope(place.code, year_from, year_to)


# --- jobs --------------------------------------------------------------------------------------

def _may_see(user, job: ExportJob) -> bool:
    if job.county_code != user.county_code:
        return False
    if job.user_id == user.id:
        return True
    if not sees_everything(user):
        return False
    if job.params.get("unmasked") and not sees_unmasked(user):
        return False  # an auditor's unmasked file never reaches another role
    return Scope.of(user).contains(str(job.params.get("scope", "")))


def get_job(user, job_id: int) -> ExportJob:
    # ids are INTEGER: a larger one cannot exist (and must not reach the database as an overflow)
    job = db.session.get(ExportJob, job_id) if 0 < job_id < 2**31 else None
    if job is None or not _may_see(user, job):
        raise NotFound("未找到该导出任务")
    if job.status in ("queued", "running") and fail_stale_jobs(job.county_code, job_id=job.id):
        db.session.refresh(job)  # its worker is gone: failed now (the caller commits)
    return job


STALE_ERROR = "导出任务超时或执行进程已中断，请重新导出"
DEAD_ERROR = "导出进程已中断，请重新导出"
DEFAULT_STALE_MINUTES = 90  # EXPORT_STALE_MINUTES: a job queued this long was never picked up
DEFAULT_HEARTBEAT_MINUTES = 5  # EXPORT_HEARTBEAT_MINUTES: a running job silent this long lost its worker


def stale_after() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("EXPORT_STALE_MINUTES") or DEFAULT_STALE_MINUTES))


def heartbeat_window() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("EXPORT_HEARTBEAT_MINUTES") or DEFAULT_HEARTBEAT_MINUTES))


def fail_stale_jobs(county_code: str | None, *, older_than: timedelta | None = None,
                    job_id: int | None = None) -> list[int]:
    """Mark as failed the jobs whose worker is gone (of a county, or of all with ``None``; or the one
    ``job_id``): running with no heartbeat for ``EXPORT_HEARTBEAT_MINUTES`` (the worker was killed, or the
    RQ timeout stopped it without a word: "导出进程已中断，请重新导出"), or queued for longer than
    ``older_than`` (``EXPORT_STALE_MINUTES``) and never picked up (an in-process worker dies with its
    process). Returns their ids; the caller commits. Called whenever jobs are listed or read and when a
    worker starts. A worker that was only slow may still finish such a job later, and then it shows as done."""
    now = now_utc()
    beat = sa.func.coalesce(ExportJob.heartbeat_at, ExportJob.started_at, ExportJob.created_at)
    dead = sa.and_(ExportJob.status == "running", beat < now - heartbeat_window())
    lost = sa.and_(ExportJob.status == "queued",
                   ExportJob.created_at < now - (older_than if older_than is not None else stale_after()))
    which = [sa.or_(dead, lost)]
    if county_code is not None:
        which.append(ExportJob.county_code == county_code)
    if job_id is not None:
        which.append(ExportJob.id == job_id)
    found = db.session.execute(sa.select(ExportJob.id, ExportJob.county_code, ExportJob.status).where(*which)).all()
    for status, error in (("running", DEAD_ERROR), ("queued", STALE_ERROR)):
        ids = [i for i, _, s in found if s == status]
        if not ids:
            continue
        # guarded by the same condition: a job that finished meanwhile keeps its outcome
        db.session.execute(sa.update(ExportJob).where(ExportJob.id.in_(ids), *which)
                           .values(status="failed", error=error, finished_at=now)
                           .execution_options(synchronize_session="fetch"))
        for job_id_, county, s in found:
            if s == status:
                record_change(None, entity="export_job", entity_id=job_id_, action="fail", county_code=county,
                              after={"status": "failed", "error": error})
    return sorted(i for i, _, _ in found)


def list_jobs(user, *, limit: int = 20) -> list[tuple[ExportJob, str]]:
    """The recent jobs the user may see (own jobs; an auditor or county admin also the others in their
    scope), newest first, with who requested each. Stale jobs are failed first (the caller commits).
    Two statements however many jobs there are."""

    fail_stale_jobs(user.county_code)
    broad = sees_everything(user)
    q = (sa.select(ExportJob, User.display_name).join(User, User.id == ExportJob.user_id)
         .where(ExportJob.county_code == user.county_code).order_by(ExportJob.id.desc()))
    if not broad:
        q = q.where(ExportJob.user_id == user.id)
    # who may see a job depends on its JSON params: look at a bounded window of recent jobs
    rows = db.session.execute(q.limit(limit * 10 if broad else limit)).all()
    return [(job, name) for job, name in rows if _may_see(user, job)][:limit]


def export_root() -> Path:
    configured = current_app.config.get("EXPORT_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "exports"


def job_file(user, job_id: int) -> tuple[Path, str, str, ExportJob]:
    """(absolute path, download name, mimetype, job) of a finished job's file."""
    job = get_job(user, job_id)
    if job.status != "done" or not job.file_path:
        raise Conflict("导出尚未完成", {"status": [JOB_STATUSES.get(job.status, job.status)]}, code="not_ready")
    root = export_root().resolve()
    path = (root / job.file_path).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("导出文件已不存在", code="file_missing")
    return path, download_name(job), MIMETYPES[job.kind], job


def download_name(job: ExportJob) -> str:
    p = job.params
    years = f"{p['year_from']}" if p["year_from"] == p["year_to"] else f"{p['year_from']}-{p['year_to']}"
    return f"{KINDS[job.kind]}_{p['scope']}_{years}{SUFFIX[job.kind]}"


def new_file_path(job: ExportJob) -> str:
    """Relative to the export root; the random part keeps names unguessable."""
    return f"{job.county_code}/{job.id}-{secrets.token_hex(8)}{SUFFIX[job.kind]}"


# --- building the files ------------------------------------------------------------------------

@dataclass
class ExportOutcome:
    path: Path
    sha256: str
    rows: dict[str, int]
    rows_written: int
    manifest: dict | None = None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan_total_rows(conn: sa.Connection, actor, scope: ledger.ExportScope) -> int:
    return sum(ledger.count_rows(conn, ledger.sheets_for(actor.role), scope).values())


def _about(actor, scope: ledger.ExportScope, place_names: dict) -> list[tuple[str, str]]:
    where = " / ".join(place_names.get(code, code) for code in ancestors(scope.code))
    return [("导出范围", f"{where}（{scope.code}）"), ("年度", scope.years),
            ("导出人", f"{actor.username}（{ROLES.get(actor.role, actor.role)}）"),
            ("导出时间", now_utc().astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S（北京时间）")),
            ("个人信息", "未脱敏（审计/纪检专用，注意保密）" if sees_unmasked(actor) else "已脱敏"),
            ("说明", "金额单位为元；收益明细中冲销记录的收入、扣除、处置收入以负数计，各列合计即年度收入、成本与处置收入。")]


def build_export(actor, scope: ledger.ExportScope, out: Path, *, kind: str, conn: sa.Connection,
                 progress: Callable[[int], None] | None = None) -> ExportOutcome:
    """Write the workbook (``ledger``) or the zip (``pack``) to ``out``, reading through ``conn``.

    ``out`` appears whole or not at all (``core.storage.whole_file``): a failed or killed export leaves
    the previous file in place and no partial one. The pack's CSV files, workbook and notices stream
    straight into the zip being written; nothing with personal data goes to a temporary folder. The only
    temporary files (xlsxwriter's, while it assembles the workbook) are in a private scratch folder
    removed on every exit path, and by the next start after a kill (``scratch_dir``)."""
    done = 0

    def step(rows: int) -> None:
        nonlocal done
        done = rows
        if progress is not None:
            progress(rows)
        _test_pause("rows", rows)

    names = ledger.place_names(conn, scope.county_code)
    ctx = ledger.Ctx(unmask=sees_unmasked(actor), place_names=names, today=today_local())
    sheets = ledger.sheets_for(actor.role)
    about = _about(actor, scope, names)
    with scratch_dir() as scratch, storage.whole_file(out) as fh:
        if kind == "ledger":
            result = ledger.write_ledger(conn, scope, fh, ctx=ctx, sheets=sheets, about=about, progress=step,
                                         tmpdir=str(scratch))
            _test_pause("archive")
            return ExportOutcome(out, _sha256_of_file(fh), result.rows, result.rows_written)
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            csv_files: list[_Member] = []

            def open_csv(name: str) -> _Member:
                csv_files.append(_Member(zf, f"csv/{name}"))
                return csv_files[-1]

            # the workbook is already compressed; deflating it again only costs time
            book = _Member(zf, "审计台账.xlsx", zipfile.ZIP_STORED)
            try:
                result = ledger.write_ledger(conn, scope, book, ctx=ctx, sheets=sheets, about=about,
                                             csv_files=open_csv, progress=step, tmpdir=str(scratch))
            finally:
                book.close()  # (on an error too: the zip cannot close with an entry open; the file is dropped)
            step(done)  # a heartbeat after the workbook's assembly
            _test_pause("archive")
            exported = result.totals.as_dict()
            database = ledger.database_totals(conn, scope)
            notices, skipped = _write_notices(actor, scope, zf)
            files = [book, *sorted(csv_files, key=lambda m: m.name), *notices]
            manifest = {
                "title": "扶贫项目资产审计资料包",
                "scope": scope.code, "years": {"from": scope.year_from, "to": scope.year_to},
                "exported_by": {"username": actor.username, "role": actor.role},
                "exported_at": now_utc().isoformat(),
                "personal_data": "unmasked" if sees_unmasked(actor) else "masked",
                "rows": result.rows,
                "files": [{"name": f.name, "sha256": f.sha256.hexdigest(), "bytes": f.size} for f in files],
                "totals": exported,
                "checks": ledger.tie_out(exported, database),
                "notices_skipped": skipped,
            }
            manifest["all_checks_ok"] = all(c["ok"] for c in manifest["checks"])
            zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
        return ExportOutcome(out, _sha256_of_file(fh), result.rows, result.rows_written, manifest)


def _sha256_of_file(fh) -> str:
    fh.flush()
    fh.seek(0)
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


class _Member(io.BufferedIOBase):
    """One entry of the zip being written, as a stream: hashed and counted as the bytes go by, and opened
    only on the first write (xlsxwriter writes its target in ``close()``; CSV sinks write at once)."""

    def __init__(self, zf: zipfile.ZipFile, name: str, compress_type: int = zipfile.ZIP_DEFLATED):
        super().__init__()
        self.zf, self.name, self.compress_type = zf, name, compress_type
        self.entry = None
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def _open(self):
        if self.entry is None:
            info = zipfile.ZipInfo(self.name, date_time=time.localtime()[:6])
            info.compress_type = self.compress_type
            self.entry = self.zf.open(info, "w", force_zip64=True)
        return self.entry

    def write(self, data) -> int:
        self._open().write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._open().close()
        super().close()


# --- scratch folders ---------------------------------------------------------------------------

def scratch_root() -> Path:
    return export_root() / "tmp"


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A private folder (mode 700, under ``<EXPORT_DIR>/tmp``) for the temporary files an export cannot
    avoid, removed when the export ends however it ends. It is locked (``flock``) while in use, so the
    next start (``sweep_scratch``: every export, every worker start) removes one a killed process left."""
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    sweep_scratch()
    fresh = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
    fd = os.open(fresh, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path = root / f"run-{secrets.token_hex(8)}"
        os.rename(fresh, path)  # only a locked folder carries the name the sweep looks at
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(fd)
        shutil.rmtree(fresh, ignore_errors=True)


def sweep_scratch() -> list[str]:
    """Remove the scratch folders of exports that are no longer running (nobody holds their lock), and
    unused new ones older than an hour. Returns their names."""
    root = scratch_root()
    removed = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.name.startswith(".new-"):
            if time.time() - entry.stat().st_mtime > 3600:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
            continue
        try:
            fd = os.open(entry, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a running export's
        else:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed


def _write_notices(actor, scope: ledger.ExportScope, zf: zipfile.ZipFile) -> tuple[list[_Member], list[dict]]:
    """The published notices of the plans in scope as printable HTML entries of the pack; a notice the
    privacy scan refuses is left out and listed (basis: P17)."""

    p = DistributionPlan
    plans = db.session.execute(
        sa.select(p.id, p.village_code, p.year).where(scope.where(p), p.year.between(scope.year_from, scope.year_to),
                                                      p.status.in_(NOTICED))
        .order_by(p.year, p.village_code)).all()
    files, skipped = [], []
    for plan_id, village_code, year in plans:
        try:
            html = notices.render_html(notices.build_notice(actor, plan_id))
        except DomainError as exc:
            skipped.append({"plan_id": plan_id, "village_code": village_code, "year": year, "reason": exc.message})
            continue
        member = _Member(zf, f"notices/{year}_{village_code}_公示.html")
        member.write(html.encode("utf-8"))
        member.close()
        files.append(member)
    return files, skipped

def _test_pause(stage: str, rows: int | None = None) -> None:
    """Tests only: with ``ASSETREG_EXPORT_TEST_PAUSE_AT`` set (``rows <n>`` or ``archive``) an export says each
    step on stderr (a chunk of rows written, an archive entry done) and holds at the first step that
    reaches the one named, so that a test can kill the process part-way."""
    at = os.environ.get("ASSETREG_EXPORT_TEST_PAUSE_AT")
    if not at:
        return
    print(f"[export-test-pause] {stage} {rows if rows is not None else '-'}", file=sys.stderr, flush=True)
    want, _, least = at.partition(" ")
    if stage == want and (rows is None or rows >= int(least or 0)):
        time.sleep(600)
