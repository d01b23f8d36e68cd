"""Extension singletons, bound to the app in ``create_app``; the database session that can read from a
streaming replica (``DATABASE_REPLICA_URL``: which requests do is web/replica.py's business)."""

from __future__ import annotations

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The Flask-SQLAlchemy bind key of the replica's engine (``db.engines[REPLICA_BIND]``) and the session
# ``info`` key that sends a session's statements there.
REPLICA_BIND = "replica"
READS_FROM_REPLICA = "assetreg_reads_from_replica"
# A replica that does not answer within this many seconds counts as down (its reads go to the primary).
REPLICA_CONNECT_TIMEOUT_SECONDS = 2


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RoutingSession(Session):
    """SQLAlchemy's own routing (``Session.get_bind``, "Custom Vertical Partitioning"): a session marked
    ``info[READS_FROM_REPLICA]`` sends every statement to the replica's engine, its flushes too, so a write
    attempted there fails loudly (a hot standby runs read-only transactions: "cannot execute INSERT in a
    read-only transaction") instead of landing anywhere; every other session uses the primary."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and self.info.get(READS_FROM_REPLICA):
            return self._db.engines[REPLICA_BIND]
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


class AssetregSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy with the replica as a second bind when ``DATABASE_REPLICA_URL`` is set (no model
    is bound to it: only a routed session reads there)."""

    def init_app(self, app) -> None:
        url = app.config.get("DATABASE_REPLICA_URL")
        if url:
            primary = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
            if not (primary.startswith("postgresql") and str(url).startswith("postgresql")):
                raise RuntimeError("DATABASE_REPLICA_URL needs PostgreSQL for both DATABASE_URL and the replica "
                                   "(a streaming replica of the primary)")
            binds = dict(app.config.get("SQLALCHEMY_BINDS") or {})
            binds[REPLICA_BIND] = {"url": url, "pool_pre_ping": True,
                                   "connect_args": {"connect_timeout": REPLICA_CONNECT_TIMEOUT_SECONDS}}
            app.config["SQLALCHEMY_BINDS"] = binds
        super().init_app(app)


db = AssetregSQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
