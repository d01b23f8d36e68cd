"""``flask verify [--scope CODE]``: parse, call the service, print; exit 1 on any difference."""

from __future__ import annotations

import click

from ..core.access import county_of
from .rules import TABLES
from .services import counties, verify


@click.command("verify")
@click.option("--scope", "scope", default=None, help="县、乡镇或村代码（默认：全部县）")
def verify_cmd(scope):
    """核验：重算每条哈希链、每个年度清算及其分村部分、每个分配方案的合计，逐条列出差异。"""
    if scope is not None and (not scope.isdigit() or len(scope) not in (6, 9, 12)):
        raise click.BadParameter("应为6位县、9位乡镇或12位村代码", param_hint="--scope")
    codes = [county_of(scope)] if scope else counties()
    place = scope if scope and len(scope) > 6 else None
    found = 0
    for code in codes:
        result = verify(code, place_code=place)
        for d in result.differences:
            click.echo(str(d))
        found += len(result.differences)
        checked = "，".join(f"{TABLES.get(t, t)} {n:,} 行" for t, n in sorted(result.checked.items()))
        heads = "；".join(f"{TABLES.get(c, c)}链头 第 {seq} 行 {h}" for c, (seq, h) in sorted(result.heads.items()))
        click.echo(f"县 {code}：已核验 {checked or '无数据'}。{heads}")
        click.echo(f"县 {code}：{'未发现差异' if result.ok else f'发现 {len(result.differences)} 处差异'}")
    if found:
        raise click.exceptions.Exit(1)
