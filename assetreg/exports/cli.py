"""``flask export-ledger`` (the auditor's ledger or pack in the foreground, with a progress bar) and
``flask export-worker`` (an RQ worker for export jobs). Parse, call services, commit, print."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from ..changelog.services import record_change
from ..core.access import SystemActor, county_of, sees_unmasked
from ..core.errors import DomainError
from ..extensions import db
from ..users.models import User
from . import jobs, services


def _fail(exc: DomainError) -> click.ClickException:
    db.session.rollback()
    detail = "; ".join(f"{k}: {'、'.join(map(str, v))}" for k, v in exc.fields.items())
    return click.ClickException(exc.message + (f"（{detail}）" if detail else ""))


@click.command("export-ledger")
@click.option("--scope", "scope_code", required=True, help="county, town or village division code")
@click.option("--years", required=True, help="a year or a range, e.g. 2021-2025")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="file to write (.xlsx; with --pack a .zip)")
@click.option("--pack", is_flag=True, help="the auditor's pack: workbook, CSV, notices and manifest in a zip")
@click.option("--user", "username", default=None,
              help="export as this user (scope and masking of its role; only auditors get personal data "
                   "unmasked). Without it: the whole county, masked")
def export_ledger_cmd(scope_code, years, out, pack, username):
    """Export the auditor's ledger workbook (审计台账) of a scope and years, with a progress bar."""
    try:
        year_from, year_to = services.parse_years(years)
        if username:
            actor = db.session.scalar(sa.select(User).where(User.username == username))
            if actor is None or not actor.is_active:
                raise click.ClickException(f"用户 {username} 不存在或已停用")
        else:
            actor = SystemActor(county_code=county_of(scope_code))
        scope = services.resolve_scope(actor, scope_code, year_from, year_to)
        kind = "pack" if pack else "ledger"
        with jobs.read_connection() as conn:
            total = services.plan_total_rows(conn, actor, scope)
            with click.progressbar(length=max(total, 1), label=f"导出 {scope.code} {scope.years}",
                                   show_pos=True, show_percent=True) as bar:
                def step(done: int) -> None:
                    bar.update(done - bar.pos)

                outcome = services.build_export(actor, scope, out, kind=kind, conn=conn, progress=step)
        record_change(actor if username else None, entity="export", entity_id=scope.code, action=f"export_{kind}",
                      county_code=scope.county_code, town_code=scope.town_code, village_code=scope.village_code,
                      after={"years": scope.years, "file": out.name, "sha256": outcome.sha256,
                             "rows": outcome.rows_written, "unmasked": sees_unmasked(actor)})
        db.session.commit()
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"已写入 {out}（{outcome.rows_written:,} 行，SHA-256 {outcome.sha256}）")
    for key, n in outcome.rows.items():
        click.echo(f"  {key:<12}{n:>12,}")
    if outcome.manifest is not None:
        bad = [c for c in outcome.manifest["checks"] if not c["ok"]]
        click.echo("勾稽核对全部相符 all checks tie out" if not bad else f"勾稽核对不符 {len(bad)} 项: "
                   + "; ".join(c["check"] for c in bad))


@click.command("export-worker")
@click.option("--burst", is_flag=True, help="stop when the queue is empty")
def export_worker_cmd(burst):
    """Run an RQ worker for export jobs (needs REDIS_URL)."""
    failed = services.fail_stale_jobs(None)  # a worker starts: jobs whose worker died are failed
    services.sweep_scratch()
    db.session.commit()
    if failed:
        click.echo(f"已将{len(failed)}个执行进程已中断的导出任务标记为失败")
    url = jobs.redis_url()
    if not url:
        raise click.ClickException("未设置 REDIS_URL，导出任务在应用进程内运行，无需单独的工作进程")
    from redis import Redis  # noqa: PLC0415 - only with REDIS_URL: the in-process worker never loads redis
    from rq import Worker  # noqa: PLC0415 - as above

    Worker([jobs.queue_name()], connection=Redis.from_url(url)).work(burst=burst)
