"""``flask backup --out FILE`` and ``flask restore FILE --yes``. Parse, call the service, print."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.errors import DomainError
from ..extensions import db
from . import services


def _fail(exc: DomainError) -> click.ClickException:
    detail = "; ".join(f"备份文件: {'、'.join(map(str, v))}" if k == services.FILE else f"{k}: {'、'.join(map(str, v))}"
                       for k, v in exc.fields.items())
    return click.ClickException(exc.message + (f"（{detail}）" if detail else ""))


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the backup file to write (SQLite)")
def backup_cmd(out):
    """Back up the database (SQLite: the online backup API, safe while the app runs)."""
    if not services.is_sqlite():
        click.echo("PostgreSQL 数据库请用 pg_dump 备份（密码以 *** 代替，运行时请提供，例如用 PGPASSWORD 或 ~/.pgpass）：")
        click.echo("  " + services.pg_dump_command(db.engine.url, out))
        return
    try:
        info = services.backup_sqlite(out)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"已备份到 {info.path}（{info.bytes:,} 字节，{info.tables} 张表，迁移版本 {info.revision}）")


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="confirm: the current database is overwritten")
def restore_cmd(file, yes):
    """Restore the database from a backup (SQLite: checked first, then copied in with the backup API)."""
    if not services.is_sqlite():
        click.echo("PostgreSQL 数据库请用 pg_restore（pg_dump --format=custom 的备份）或 psql（纯 SQL 备份）恢复，"
                   "恢复前请停止应用（密码以 *** 代替）：")
        for command in services.pg_restore_commands(db.engine.url, file):
            click.echo("  " + command)
        return
    try:
        info = services.check_sqlite_file(file)
        if not yes:
            raise click.ClickException(f"恢复将覆盖当前数据库的全部数据（备份文件 {file}，迁移版本 {info.revision}），"
                                       "确认请加 --yes")
        info = services.restore_sqlite(file)
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"已恢复自 {file}（迁移版本 {info.revision}）")
    if not info.is_head:
        click.echo("该备份的迁移版本早于当前代码，请运行 flask --app wsgi db upgrade")
