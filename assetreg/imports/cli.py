"""``flask import KIND FILE``: check or import a spreadsheet, print the report (row, column, value,
why) and the counts; exit non-zero when anything is wrong. Parse, call the service, commit, print."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from ..core.errors import DomainError
from ..extensions import db
from ..users.models import User
from . import services
from .templates import KINDS


def _actor(username: str | None):

    if username:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None or not user.is_active:
            raise click.ClickException(f"没有名为 {username} 的有效用户")
        return user
    admins = db.session.scalars(sa.select(User).where(User.role == "county_admin", User.is_active_flag.is_(True))
                                .limit(2)).all()
    if len(admins) != 1:
        raise click.ClickException("请用 --as 指定以哪个用户的身份导入（系统中不止一个或没有县级管理员）")
    return admins[0]


@click.command("import")
@click.argument("kind", type=click.Choice(list(KINDS)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="only check, write nothing (试导入)")
@click.option("--as", "username", default=None, help="import as this user (default: the only county admin)")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write the rows with the errors marked to this .xlsx")
def import_cmd(kind, file, dry_run, username, report_path):
    """Import assets (资产台账), households (农户) or income (收益) from an XLSX/CSV file, all or nothing."""
    user = _actor(username)
    limit = services.max_upload_bytes()
    with file.open("rb") as fh:
        content = fh.read(limit + 1)
    try:
        report, sheet = services.run_import(user, kind, content, file.name, dry_run=dry_run)
    except DomainError as exc:
        db.session.rollback()
        detail = "；".join(f"{'；'.join(map(str, v))}" for v in exc.fields.values())
        raise click.ClickException(exc.message + (f"：{detail}" if detail else "")) from exc
    if report.committed:
        db.session.commit()
    else:
        db.session.rollback()
    _print(report, file.name, user)
    if report_path:
        report_path.write_bytes(services.report_xlsx(sheet, report))
        click.echo(f"检查结果已写入 {report_path}")
    if not report.ok:
        raise SystemExit(1)


def _print(report, filename: str, user) -> None:
    echo = click.echo
    where = f"，工作表“{report.sheet}”" if report.sheet else (f"，编码 {report.encoding}" if report.encoding else "")
    echo(f"{report.kind_label}导入{'检查（试导入）' if report.dry_run else ''}：{filename}"
         f"（{report.file_format.upper()}{where}），操作人 {user.username}")
    if report.unknown_columns:
        echo(f"未识别的列（已忽略）：{'、'.join(report.unknown_columns)}")
    if report.errors:
        echo(f"{'行':>6}  {'列':<14}{'值':<24}原因")
        for e in report.errors:
            value = (e.value or "")[:22]
            echo(f"{e.row:>6}  {e.column:<14}{value:<24}{e.message}")
    c = report.counts
    echo(f"共 {c['rows']} 行，{c['records']} 条记录：新增 {c['to_create']}，未变 {c['unchanged']}，"
         f"错误 {c['errors']} 处（涉及 {c['rows_with_errors']} 行）")
    if report.committed:
        echo(f"已导入：新增 {c['created']} 条，未变 {c['unchanged']} 条")
    elif report.errors:
        echo("有错误，未写入任何数据")
    else:
        echo("检查通过（试导入未写入数据）")
