"""``flask generate``: write large deterministic counties for benchmarks. Parse, call, commit, print."""

from __future__ import annotations

import click
import sqlalchemy as sa

from ..extensions import db
from . import generate as gen


@click.command("generate")
@click.option("--counties", type=click.IntRange(1, 99), default=1, show_default=True,
              help="how many counties (codes 439901, 439902, …)")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=1, show_default=True, help="random seed")
@click.option("--scale", type=click.FloatRange(0.001, 10), default=1.0, show_default=True,
              help="size factor: 1 is ≈20 towns, 300 villages, 120,000 households, 20,000 assets; "
                   "0.01 makes a small county for tests")
@click.option("--first", type=click.IntRange(1, 99), default=1, show_default=True,
              help="number of the first county (4399NN)")
def generate_cmd(counties, seed, scale, first):
    """Generate large, realistic, deterministic counties for benchmarks (生成压测用的大县数据).

    Each county: places, households with members, assets with fundings and status history, the five
    rights, custody and operation contracts, monthly income Jan 2020 – May 2025, settlements and
    distribution plans 2020–2024 with household lines and steps, audits, inspections and problems.
    Written by bulk paths (PostgreSQL COPY; elsewhere Core executemany) and committed once per county.
    No change-log rows are written for generated data. A county already present is left as it is.
    """
    try:
        codes = gen.county_codes(counties, first)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc

    def done(result: gen.CountyResult) -> None:
        db.session.commit()
        click.echo(result.report())

    click.echo(f"生成 generating {', '.join(codes)} (seed {seed}, scale {scale}) …")
    results = gen.generate(counties=counties, seed=seed, scale=scale, first=first, on_county=done)
    if db.engine.dialect.name == "postgresql" and any(r.created for r in results):
        # Fresh statistics, so the planner knows the tables are now large.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in gen.TABLES:
                conn.execute(sa.text(f"ANALYZE {table}"))
