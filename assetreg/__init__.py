"""assetreg: registry and income ledger of poverty-alleviation project assets (扶贫项目资产)."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from .config import build_config
from .extensions import csrf, db, migrate


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(build_config(app.instance_path))
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    # Path ids beyond a BIGINT would overflow the driver: such URLs simply do not match (404).
    app.url_map.converters["int"] = BoundedInt
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True, compare_type=True)
    csrf.init_app(app)

    from . import models  # noqa: F401  (every table registered before migrations look)
    from .web.api import api
    from .web.auth import register_auth
    from .web.errors import register_error_handlers

    register_auth(app)
    api.init_app(app)
    for bp in _api_blueprints():
        api.register_blueprint(bp)
        csrf.exempt(bp)  # bearer-token API: no cookies trusted, so no CSRF surface
    register_error_handlers(app)

    from .flags.views import bp as flags_pages
    from .lists.views import bp as lists_pages
    from .notices.api import files as notice_files
    from .web.pages import bp as pages_bp
    from .web.views_admin import bp as admin_pages
    from .web.views_households import bp as household_pages
    from .web.views_income import bp as income_pages
    from .web.views_oversight import bp as oversight_pages
    from .web.views_plans import bp as plans_pages
    from .web.views_procedure import bp as procedure_pages
    from .web.views_registry import bp as registry_pages
    from .web.views_transfer import bp as transfer_pages

    app.register_blueprint(pages_bp)
    app.register_blueprint(registry_pages)
    app.register_blueprint(household_pages)
    app.register_blueprint(admin_pages)
    app.register_blueprint(notice_files)
    app.register_blueprint(flags_pages)
    app.register_blueprint(transfer_pages)
    app.register_blueprint(procedure_pages)
    app.register_blueprint(income_pages)
    app.register_blueprint(plans_pages)
    app.register_blueprint(oversight_pages)

    from .web.ui import register_ui

    register_ui(app)  # filters, template globals, HTML error pages for every page blueprint
    app.register_blueprint(lists_pages)

    from .cli import register_cli

    register_cli(app)
    return app


class BoundedInt(IntegerConverter):
    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _api_blueprints():
    from .assets.api import blp as assets
    from .changelog.api import blp as changes
    from .custody.api import blp as custody
    from .distribution.api import blp as distribution
    from .exports.api import blp as exports
    from .flags.api import blp as flags
    from .households.api import blp as households
    from .imports.api import blp as imports
    from .income.api import blp as income
    from .lists.api import blp as lists
    from .notices.api import blp as notices
    from .oversight.api import blp as oversight
    from .places.api import blp as places
    from .rights.api import blp as rights
    from .users.api import blp as users

    return [places, households, assets, rights, custody, income, distribution, notices, changes, users, oversight, imports, lists, flags, exports]
