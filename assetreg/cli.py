"""Flask commands: parse, call services, commit, print."""

from __future__ import annotations

import click
from flask import Flask, current_app

from .backup.cli import backup_cmd, restore_cmd
from .demo.loader import load_demo
from .distribution.cli import plans_cli
from .exports.cli import export_ledger_cmd, export_worker_cmd
from .extensions import db
from .flags.cli import flags_cli, policy_cli
from .generator.cli import generate_cmd
from .imports.cli import import_cmd
from .income.cli import income_cli
from .integrity.cli import verify_cmd
from .lists.cli import lists_cmd
from .oversight.cli import oversight_cli
from .users.cli import users_cli


def register_cli(app: Flask) -> None:

    app.cli.add_command(users_cli)
    app.cli.add_command(income_cli)
    app.cli.add_command(plans_cli)
    app.cli.add_command(flags_cli)
    app.cli.add_command(policy_cli)
    app.cli.add_command(import_cmd)
    app.cli.add_command(generate_cmd)
    app.cli.add_command(export_ledger_cmd)
    app.cli.add_command(export_worker_cmd)
    app.cli.add_command(lists_cmd)
    app.cli.add_command(oversight_cli)
    app.cli.add_command(backup_cmd)
    app.cli.add_command(restore_cmd)
    app.cli.add_command(verify_cmd)

    @app.cli.command("demo")
    @click.option("--seed", default=None, type=int, help="random seed (default: the configured one)")
    def demo(seed):
        """Load the demo county (示例县); running it again changes nothing but the demo tokens."""


        result = load_demo(seed if seed is not None else current_app.config["DEMO_SEED"])
        db.session.commit()
        click.echo(result.report())
