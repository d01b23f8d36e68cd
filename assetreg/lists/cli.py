"""``flask lists --scope CODE --as-of DATE --out FILE.xlsx [--as USERNAME]``: the four lists workbook."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from ..core.access import SystemActor, county_of, is_place_code
from ..core.errors import DomainError
from ..extensions import db
from ..users.models import User
from . import xlsx


@click.command("lists", help="导出四张清单（资产、责任、制度、三级档案）为 Excel")
@click.option("--scope", "scope_code", required=True, help="county, town or village division code")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="as-of date, YYYY-MM-DD (default: today, Asia/Shanghai)")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True,
              help="the .xlsx file to write")
@click.option("--as", "username", default=None,
              help="export as this user (its scope applies and it is named on the cover); default: the system")
def lists_cmd(scope_code, as_of, out, username):

    if username:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None or not user.is_active:
            raise click.ClickException(f"用户 {username} 不存在或已停用")
    else:
        if not is_place_code(scope_code):
            raise click.ClickException("范围应为6、9或12位区划代码")
        user = SystemActor(county_code=county_of(scope_code))
    try:
        scope, data = xlsx.build_workbook(user, scope=scope_code, as_of=as_of.date() if as_of else None)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.rollback()  # read only: nothing to keep
    out.write_bytes(data)
    click.echo(f"已导出 {scope['name']}（{scope['code']}）四张清单：{out}（{len(data):,} 字节）")
