"""Migrations and models agree, and the schema goes down to empty and back up on this database."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from assetreg.core.partitions import include_object_for
from assetreg.extensions import db


def _render_item(type_, obj, autogen_context):
    return False


def test_models_and_migrations_do_not_drift(app):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": include_object_for(conn.dialect.name)})
        diffs = compare_metadata(ctx, db.metadata)
    assert diffs == []


@pytest.mark.committed  # drops and recreates the schema (its own connections)
def test_downgrade_to_empty_and_upgrade_again(app):
    downgrade(revision="base")
    names = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert names == set()
    upgrade()
    names = set(sa.inspect(db.engine).get_table_names())
    assert {"assets", "asset_rights", "households", "change_log"} <= names
