"""``flask plans …``: print a village's distribution plan with its allocations, lines and totals."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from sqlalchemy.orm import selectinload

from ..core.access import county_of
from ..core.money import to_chinese_capital
from ..extensions import db
from ..households.models import Household
from ..places.models import Place
from .models import PURPOSES, STATUSES, STEPS, DistributionPlan, PlanAllocation

plans_cli = AppGroup("plans", help="收益分配方案 (distribution plans)")


def _yuan(value) -> str:
    return f"{value:>14,.2f}"


@plans_cli.command("show")
@click.option("--village", "village_code", required=True, help="12-digit village code")
@click.option("--year", type=click.IntRange(2000, 2100), required=True)
def show(village_code, year):
    """Print the plan: figures, allocations with their household lines and totals, and the steps."""

    plan = db.session.scalar(
        sa.select(DistributionPlan).where(DistributionPlan.village_code == village_code, DistributionPlan.year == year)
        .options(selectinload(DistributionPlan.allocations).selectinload(PlanAllocation.lines_in(county_of(village_code))),
                 selectinload(DistributionPlan.steps)))
    if plan is None:
        raise click.ClickException(f"没有 {village_code} 的 {year} 年度分配方案")
    name = db.session.scalar(sa.select(Place.name).where(Place.code == village_code)) or village_code
    ids = {li.household_id for a in plan.allocations for li in a.lines}
    numbers = dict(db.session.execute(sa.select(Household.id, Household.number)
                                      .where(Household.id.in_(sorted(ids)))).all()) if ids else {}
    echo = click.echo
    echo(f"{name}（{village_code}）{year}年度收益分配方案  #{plan.id}  状态：{STATUSES[plan.status]}  版本 {plan.version}")
    echo(f"  已清算净收益 {_yuan(plan.settled_net)}   其中光伏 {_yuan(plan.pv_net)}")
    echo(f"  上年结转     {_yuan(plan.carry_over)}")
    echo(f"  可分配收益   {_yuan(plan.available)}")
    echo("")
    for i, a in enumerate(plan.allocations, 1):
        use = f"  （{a.use}）" if a.use else ""
        echo(f"{i}. {PURPOSES[a.purpose]} [{a.purpose}]{use}  {_yuan(a.amount)}")
        for j, li in enumerate(a.lines, 1):
            echo(f"     {j:>4}  {numbers.get(li.household_id, li.household_id)!s:<24} {li.person_name:<12}"
                 f" {_yuan(li.amount)}  {li.reason or ''}")
        if a.lines:
            echo(f"           到户合计 {len(a.lines)} 户 {_yuan(a.lines_total)}")
    allocated = plan.allocated
    echo("")
    echo(f"分配合计 {_yuan(allocated)}（{to_chinese_capital(allocated)}）")
    echo(f"未分配   {_yuan(plan.available - allocated)}")
    if plan.steps:
        echo("")
        echo("程序：")
        for s in plan.steps:
            extra = ""
            if s.members_due is not None:
                extra = f"  应到 {s.members_due} 实到 {s.members_present} 赞成 {s.members_in_favour}"
            if s.notice_start_on:
                extra = f"  公示 {s.notice_start_on} 至 {s.notice_end_on}"
            if s.payment_method:
                extra = f"  方式 {s.payment_method}"
            echo(f"  {s.seq:>2}. {s.done_on}  {STEPS[s.kind]}{extra}")
