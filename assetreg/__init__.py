"""assetreg: registry and income ledger of poverty-alleviation project assets (扶贫项目资产)."""

from __future__ import annotations

from flask import Flask, g, request
from werkzeug.routing import IntegerConverter

from .config import build_config
from .extensions import csrf, db, migrate


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, template_folder="web/templates")
    app.config.update(build_config(app.instance_path))
    if config:
        app.config.update(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    # Path ids beyond a BIGINT would overflow the driver: such URLs simply do not match (404).
    app.url_map.converters["int"] = BoundedInt
    db.init_app(app)
    _sqlite_transactions(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    from .core import datacache

    datacache.init_app(app)  # figures kept per county data version (core/datacache.py)

    from . import models  # noqa: F401  (every table registered before migrations look)
    from .users.services import user_by_session, user_for_token
    from .web.api import api
    from .web.auth import register_auth
    from .web.errors import register_error_handlers

    register_auth(app, user_by_session=user_by_session, user_by_token=user_for_token)
    api.init_app(app)
    for bp in _api_blueprints():
        api.register_blueprint(bp)
        csrf.exempt(bp)  # bearer-token API: no cookies trusted, so no CSRF surface
    register_error_handlers(app)

    for bp in _page_blueprints():
        app.register_blueprint(bp)
    from .places.services import place_names_of
    from .web.ui import register_ui

    register_ui(app, label_tables=_label_tables(), place_names_of=place_names_of)
    from .web.health import register_health
    from .web.requestlog import register_request_log

    register_health(app)  # /healthz, /readyz (public: web/auth.py PUBLIC_ENDPOINTS)
    from .web.replica import register_replica

    register_replica(app)  # after web/auth.py: the user is found on the primary, then the view may read the replica
    register_request_log(app)

    from .cli import register_cli

    register_cli(app)
    return app


def _sqlite_transactions(app: Flask) -> None:
    """SQLite (core/sqlite.py): WAL, foreign keys and the busy timeout on every connection; writers take the
    write lock up front, and a request that cannot write (GET, HEAD, OPTIONS) declares it only reads, before
    any other handler runs a query."""
    from .core import sqlite

    with app.app_context():
        sqlite.configure(db.engine, busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"])

    @app.before_request
    def _declare_reads_only():
        g.sqlite_reads_only = sqlite.declare_reads_only(request.method in ("GET", "HEAD", "OPTIONS"))

    @app.teardown_request
    def _undeclare(_exc):
        token = g.pop("sqlite_reads_only", None)
        if token is not None:
            sqlite.undeclare(token)


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


def _page_blueprints():
    """Each area's pages (``<area>/views.py``, templates beside them), home first."""
    from .assets.views import bp as registry
    from .changelog.views import bp as changelog
    from .distribution.views import bp as plans
    from .distribution.views import procedure_bp as procedure
    from .exports.views import bp as exports
    from .flags.views import bp as flags
    from .home.views import bp as home
    from .households.views import bp as households
    from .imports.views import bp as imports
    from .income.views import bp as income
    from .lists.views import bp as lists
    from .notices.api import files as notice_files
    from .oversight.views import bp as oversight
    from .users.views import bp as users

    return [home, registry, households, users, changelog, notice_files, flags, imports, exports, procedure, income,
            plans, oversight, lists]


def _label_tables() -> dict[str, dict[str, str]]:
    """Every code → Chinese label table the pages show, by name (``value|label('asset_status')``)."""
    from .assets.models import CATEGORIES, FUNDING_SOURCES, MANAGING_LEVELS, STATUSES
    from .core.access import ROLES
    from .custody.models import OPERATION_MODES, RISK_RATINGS
    from .distribution.models import PURPOSES
    from .distribution.models import STATUSES as PLAN_STATUSES
    from .households.models import LABOUR, MONITOR_TYPES
    from .households.models import STATUSES as HOUSEHOLD_STATUSES
    from .income.models import DEDUCTION_KINDS, DIRECTIONS, INCOME_KINDS
    from .oversight.models import PROBLEM_SOURCES, PROBLEM_STATUSES
    from .places.models import LEVELS
    from .rights.models import HOLDER_KINDS, RIGHT_KINDS

    return {
        "asset_status": STATUSES, "category": CATEGORIES, "funding_source": FUNDING_SOURCES,
        "managing_level": MANAGING_LEVELS, "right_kind": RIGHT_KINDS, "holder_kind": HOLDER_KINDS,
        "operation_mode": OPERATION_MODES, "risk_rating": RISK_RATINGS, "household_status": HOUSEHOLD_STATUSES,
        "monitor_type": MONITOR_TYPES, "labour": LABOUR, "direction": DIRECTIONS, "income_kind": INCOME_KINDS,
        "deduction_kind": DEDUCTION_KINDS, "plan_status": PLAN_STATUSES, "purpose": PURPOSES, "role": ROLES,
        "place_level": LEVELS, "problem_status": PROBLEM_STATUSES, "problem_source": PROBLEM_SOURCES,
    }
