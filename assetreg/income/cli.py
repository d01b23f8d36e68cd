"""``flask income …``: settle a year, print an asset's dues. Parse, call a service, commit, print."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from ..assets.models import Asset
from ..core.errors import DomainError
from ..extensions import db
from . import services

income_cli = AppGroup("income", help="收益台账与年度清算 (income ledger and settlement)")


def _fail(exc: DomainError):
    db.session.rollback()
    detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    return click.ClickException(f"{exc.message}" + (f"（{detail}）" if detail else ""))


@income_cli.command("settle")
@click.option("--place", "place_code", required=True, help="village (12 digits) or town (9 digits) code")
@click.option("--year", type=click.IntRange(2000, 2100), required=True)
@click.option("--on", "settled_on", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="settlement date, YYYY-MM-DD")
@click.option("--published-on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="date the result was published (公示), YYYY-MM-DD")
def settle(place_code, year, settled_on, published_on):
    """Settle a village's or town's year (年度清算): freeze its totals and lock the year."""
    try:
        s = services.settle_year(None, place_code=place_code, year=year, settled_on=settled_on.date(),
                                 published_on=published_on.date() if published_on else None)
        db.session.commit()
    except DomainError as exc:
        raise _fail(exc) from exc
    click.echo(f"{s.place_code} {s.year}年度清算完成：收入 {s.gross:.2f} 元，成本 {s.costs:.2f} 元，"
               f"净收益 {s.net:.2f} 元，处置收入 {s.disposal:.2f} 元")
    if s.adjustments:
        click.echo(f"以前年度调整 {len(s.adjustments)} 笔，合计 {s.adjustments_net:.2f} 元")
    click.echo(f"公示期限：{s.due_on}" + (f"，已于 {s.published_on} 公示" if s.published_on else "，尚未公示"))


@income_cli.command("dues")
@click.option("--asset", "asset_code", required=True, help="asset code (资产编号)")
@click.option("--year", type=click.IntRange(2000, 2100), required=True)
@click.option("--county", "county_code", default=None, help="county code, when the asset code is not unique")
def dues(asset_code, year, county_code):
    """Print an asset's income due, received and outstanding (应收未收) per period of a year."""

    q = sa.select(Asset.id, Asset.county_code, Asset.name).where(Asset.code == asset_code)
    if county_code:
        q = q.where(Asset.county_code == county_code)
    rows = db.session.execute(q.limit(2)).all()
    if not rows:
        raise click.ClickException("未找到该资产")
    if len(rows) > 1:
        raise click.ClickException("多个县有相同编号的资产，请用 --county 指定")
    asset_id, county, name = rows[0]
    result = services.dues_for(county, asset_id, year)
    click.echo(f"{asset_code} {name} {year}年度应收情况")
    if not result["lines"]:
        click.echo("（无固定收益合同或本年度无应收）")
        return
    click.echo(f"{'期间':<14}{'类别':<10}{'应收':>14}{'已收':>14}{'未收':>14}  状态")
    for ln in result["lines"]:
        state = "已收清" if not ln["outstanding"] else ("逾期未收" if ln["is_overdue"] else "未到期")
        click.echo(f"{ln['period_label']:<14}{ln['kind_label']:<10}{ln['due']:>14.2f}{ln['received']:>14.2f}"
                   f"{ln['outstanding']:>14.2f}  {state}")
    click.echo(f"{'合计':<24}{result['due_total']:>14.2f}{result['received_total']:>14.2f}"
               f"{result['outstanding_total']:>14.2f}")
    for u in result["unmatched"]:
        click.echo(f"另有未对应期间的{u['kind_label']} {u['amount']:.2f} 元")
