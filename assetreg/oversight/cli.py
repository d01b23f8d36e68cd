"""``flask oversight …``: print the rectification ledger's overdue problems as of a date."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..core.time import today_local
from .models import PROBLEM_SOURCES, PROBLEM_STATUSES
from .services import overdue_problems

oversight_cli = AppGroup("oversight", help="审计、督查检查、问题整改与处置 (oversight)")


@oversight_cli.command("overdue")
@click.option("--county", "county_code", required=True, help="6-digit county code")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="the day (default today)")
def overdue(county_code, as_of):
    """Problems past their deadline and not rectified as of a day (RECTIFICATION_OVERDUE; basis: P27)."""

    day = as_of.date() if as_of else today_local()
    rows = overdue_problems(county_code, day)
    click.echo(f"{county_code} 截至 {day} 逾期未整改的问题：{len(rows)} 个")
    for p in rows:
        place = p.village_code or p.town_code or p.county_code
        days = (day - p.deadline).days
        click.echo(f"  #{p.id:<6} {place:<12} 期限 {p.deadline}（逾期{days}天） {PROBLEM_STATUSES[p.status_as_of]:<4}"
                   f" {PROBLEM_SOURCES[p.source]:<4} {p.responsible_unit}/{p.responsible_person}  {p.description[:40]}")
