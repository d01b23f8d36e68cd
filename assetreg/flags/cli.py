"""``flask flags`` (the flags of a scope as of a day: table, JSON or XLSX) and ``flask policy`` (the clause
table with what implements and what tests each clause)."""

from __future__ import annotations

import json
import sys
from datetime import date

import click

from ..core.errors import DomainError
from ..core.time import today_local
from . import engine, schemas, services, xlsx
from .policy import clause_table
from .rules import RULES, SEVERITIES


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("应为日期，例如 2025-03-31") from None


@click.command("flags")
@click.option("--scope", "scope_code", required=True, help="county, town or village code")
@click.option("--as-of", "as_of", callback=_date, help="evaluate as of this day, YYYY-MM-DD (default: today)")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "xlsx"]), default="table", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), help="write to this file")
@click.option("--rule", "rule_id", default=None, help="only this rule")
@click.option("--severity", type=click.Choice(["error", "warning", "info"]), default=None)
def flags_cli(scope_code, as_of, fmt, out, rule_id, severity):
    """预警清单：列出范围内在某日触发的预警 (flags of a scope as of a day)."""

    if rule_id is not None and rule_id not in RULES:
        raise click.BadParameter(f"未知规则；应为 {', '.join(RULES)} 之一", param_hint="--rule")
    if fmt == "xlsx" and not out:
        raise click.UsageError("--format xlsx 需要 --out 文件名")
    as_of = as_of or today_local()
    try:
        ctx = engine.build_context(scope_code, as_of)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    flags = engine.evaluate_context(ctx, rule_ids=[rule_id] if rule_id else None)
    if severity:
        flags = [f for f in flags if f.severity == severity]
    services.annotate(flags, ctx)
    title = f"{ctx.place_name(ctx.code)}扶贫项目资产预警清单"
    if fmt == "xlsx":
        xlsx.build(flags, title=title, as_of=as_of, names=ctx.names, target=out)
        click.echo(f"已写入 {out}：{len(flags)} 条预警")
        return
    if fmt == "json":
        text = json.dumps({"scope": ctx.code, "as_of": as_of.isoformat(), "total": len(flags),
                           "items": schemas.Flag(many=True).dump(flags)}, ensure_ascii=False, indent=2, default=str)
    else:
        lines = [f"{title}（{ctx.code}）评估日期 {as_of.isoformat()}：共 {len(flags)} 条"]
        for s, label in SEVERITIES.items():
            n = sum(1 for f in flags if f.severity == s)
            if n:
                lines.append(f"  {label} {n}")
        lines.append("")
        for f in flags:
            ack = "  [已确认]" if f.acknowledged else ""
            lines.append(f"{SEVERITIES[f.severity]}  {f.rule_id:<24} {f.key:<28} {f.message}{ack}")
        text = "\n".join(lines)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        click.echo(f"已写入 {out}：{len(flags)} 条预警")
    else:
        click.echo(text)


@click.command("policy")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--check", is_flag=True, help="exit 1 when a clause lacks an implementation or a test")
def policy_cli(fmt, check):
    """政策条款对照表：每条条款的实现与测试 (POLICY.md clauses, what implements and tests each)."""

    clauses, source = clause_table()
    if fmt == "json":
        click.echo(json.dumps({"source": source, "clauses": [
            {"id": c.id, "seed": c.seed, "clause": c.text, "carried_by": c.carried_by, "rules": c.rules,
             "code": c.code, "tests": c.tests} for c in clauses]}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"条款来源 source: {source}")
        for c in clauses:
            click.echo("")
            click.echo(f"{c.id}  [{c.seed}]  {c.text}")
            click.echo(f"    承载 carried by: {c.carried_by}")
            click.echo(f"    预警规则 rules: {'、'.join(c.rules) or '—'}")
            click.echo(f"    代码 code: {_short(c.code)}")
            click.echo(f"    测试 tests: {_short(c.tests)}")
        done = sum(1 for c in clauses if c.complete)
        click.echo("")
        click.echo(f"共 {len(clauses)} 条，已实现且有测试 {done} 条")
    missing = [c.id for c in clauses if not c.complete]
    if check and missing:
        click.echo(f"缺少实现或测试的条款：{'、'.join(missing)}", err=True)
        sys.exit(1)


def _short(items: list[str], limit: int = 6) -> str:
    if not items:
        return "—"
    shown = "；".join(items[:limit])
    return shown + (f"；等共{len(items)}处" if len(items) > limit else "")
