"""Who may export what (scope, roles, masking), export jobs and their files, and the auditor's pack.

Any role may export its own scope; personal data comes unmasked only to auditors. A job's file is
served to the job's owner, and to an auditor or county admin whose scope covers the job's scope —
never an auditor's unmasked file to a county admin.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from ..changelog.services import record_change
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
    return job


STALE_ERROR = "导出任务超时或执行进程已中断，请重新导出"
DEFAULT_STALE_MINUTES = 90  # EXPORT_STALE_MINUTES


def stale_after() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("EXPORT_STALE_MINUTES") or DEFAULT_STALE_MINUTES))


def fail_stale_jobs(county_code: str, *, older_than: timedelta | None = None) -> list[int]:
    """Mark as failed the county's jobs whose worker is gone: running since longer than ``older_than``
    (``EXPORT_STALE_MINUTES``; the RQ timeout kills a job without a word), or queued that long and never
    picked up (an in-process worker dies with its process). Returns their ids; the caller commits.
    A worker that was only slow may still finish such a job later, and then it shows as done."""
    cutoff = now_utc() - (older_than if older_than is not None else stale_after())
    stuck = sa.or_(sa.and_(ExportJob.status == "running", ExportJob.started_at < cutoff),
                   sa.and_(ExportJob.status == "queued", ExportJob.created_at < cutoff))
    ids = list(db.session.scalars(sa.select(ExportJob.id).where(ExportJob.county_code == county_code, stuck)))
    if not ids:
        return []
    now = now_utc()
    # guarded by the same condition: a job that finished meanwhile keeps its outcome
    db.session.execute(sa.update(ExportJob).where(ExportJob.id.in_(ids), stuck)
                       .values(status="failed", error=STALE_ERROR, finished_at=now)
                       .execution_options(synchronize_session="fetch"))
    for job_id in ids:
        record_change(None, entity="export_job", entity_id=job_id, action="fail", county_code=county_code,
                      after={"status": "failed", "error": STALE_ERROR})
    return ids


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
    """Write the workbook (``ledger``) or the zip (``pack``) to ``out``, reading through ``conn``."""
    names = ledger.place_names(conn, scope.county_code)
    ctx = ledger.Ctx(unmask=sees_unmasked(actor), place_names=names, today=today_local())
    sheets = ledger.sheets_for(actor.role)
    about = _about(actor, scope, names)
    if kind == "ledger":
        result = ledger.write_ledger(conn, scope, out, ctx=ctx, sheets=sheets, about=about, progress=progress)
        return ExportOutcome(out, sha256_of(out), result.rows, result.rows_written)
    work = Path(tempfile.mkdtemp(prefix="assetreg-pack-"))
    try:
        csv_dir = work / "csv"
        csv_dir.mkdir()
        book = work / "审计台账.xlsx"
        result = ledger.write_ledger(conn, scope, book, ctx=ctx, sheets=sheets, about=about, csv_dir=csv_dir,
                                     progress=progress)
        exported = result.totals.as_dict()
        database = ledger.database_totals(conn, scope)
        notices, skipped = _write_notices(actor, scope, work / "notices")
        files = [book, *sorted(csv_dir.iterdir()), *notices]
        manifest = {
            "title": "扶贫项目资产审计资料包",
            "scope": scope.code, "years": {"from": scope.year_from, "to": scope.year_to},
            "exported_by": {"username": actor.username, "role": actor.role},
            "exported_at": now_utc().isoformat(),
            "personal_data": "unmasked" if sees_unmasked(actor) else "masked",
            "rows": result.rows,
            "files": [{"name": f.relative_to(work).as_posix(), "sha256": sha256_of(f), "bytes": f.stat().st_size}
                      for f in files],
            "totals": exported,
            "checks": ledger.tie_out(exported, database),
            "notices_skipped": skipped,
        }
        manifest["all_checks_ok"] = all(c["ok"] for c in manifest["checks"])
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                # the workbook is already compressed; deflating it again only costs time
                zf.write(f, f.relative_to(work).as_posix(),
                         compress_type=zipfile.ZIP_STORED if f.suffix == ".xlsx" else zipfile.ZIP_DEFLATED)
            zf.write(work / "manifest.json", "manifest.json")
        return ExportOutcome(out, sha256_of(out), result.rows, result.rows_written, manifest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_notices(actor, scope: ledger.ExportScope, folder: Path) -> tuple[list[Path], list[dict]]:
    """The published notices of the plans in scope as printable HTML; a notice the privacy scan refuses
    is left out and listed (basis: P17)."""

    folder.mkdir()
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
        path = folder / f"{year}_{village_code}_公示.html"
        path.write_text(html, encoding="utf-8")
        files.append(path)
    return files, skipped
