"""``flask users …``: create users and issue API tokens."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from ..core.access import ROLES
from ..core.errors import DomainError
from ..extensions import db
from . import services
from .models import User

users_cli = AppGroup("users", help="管理用户与API令牌 (users and API tokens)")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@click.option("--scope", "scope_code", required=True, help="county/town/village division code")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", "display_name", default=None)
@click.option("--token/--no-token", default=True, help="also issue an API token and print it")
def create(username, role, scope_code, password, display_name, token):
    """Create a user (and print an API token once)."""
    try:
        user = services.create_user(username=username, password=password, role=role,
                                    scope_code=scope_code, display_name=display_name)
        clear = services.issue_token(user, "cli") if token else None
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc.message}: {exc.fields}") from exc
    click.echo(f"created {user.username} ({role} @ {scope_code})")
    if clear:
        click.echo(f"token: {clear}")


@users_cli.command("token")
@click.argument("username")
@click.option("--name", default="cli")
def token(username, name):
    """Issue a new API token for an existing user."""


    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException("no such user")
    clear = services.issue_token(user, name)
    db.session.commit()
    click.echo(f"token: {clear}")
