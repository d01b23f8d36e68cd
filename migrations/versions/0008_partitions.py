"""the large tables partitioned by county code on PostgreSQL (HASH, 16 partitions)

Revision ID: 0008_partitions
Revises: 0007_chain
Create Date: 2026-12-03 00:30:00

PostgreSQL: income_entries, plan_lines, change_log and household_members become
``PARTITION BY HASH (county_code)`` with 16 partitions ``<table>_p00`` … ``<table>_p15`` (the list is
assetreg/core/partitions.py; this file keeps its own copy, a migration never imports the app). Each table
is renamed, a partitioned one made LIKE it (columns, defaults, NOT NULL and CHECK constraints), the rows
copied (INSERT … SELECT), the old one dropped; then the keys, indexes, foreign keys and the append-only
guards are made on the partitioned parent. The primary key becomes (id, county_code) and the one unique
key without the county (a reversal's ``reverses_id``) becomes (reverses_id, county_code); the foreign keys
to the ledger (a reversal's, a settlement adjustment's) become (…_id, county_code). The id sequences are
kept (re-owned by the new table). Row triggers made on the parent are cloned to every partition; the
TRUNCATE guard is a statement trigger, which PostgreSQL does not clone, so each partition gets its own.

SQLite has no partitions: nothing changes there (the models declare both variants, core/partitions.py).
"""
from alembic import op

revision = '0008_partitions'
down_revision = '0007_chain'
branch_labels = None
depends_on = None

PARTITIONS = 16
GUARD = "EXECUTE FUNCTION assetreg_append_only()"  # the function of migration 0002 (income/guard.py)

# table → what is made on it after the copy: unique keys, indexes (name, columns, unique), foreign keys
# (name, columns, referred, on delete), whether it is append-only (the guards of 0002/0007).
# ``unique``: the single-column unique key (before) → the one with the county (after).
TABLES = {
    "income_entries": {
        "unique": ("uq_income_entries_reverses_id", "reverses_id",
                   "uq_income_entries_reverses_id_county_code", "reverses_id, county_code"),
        "indexes": [("ix_income_entries_county_asset_year", "county_code, asset_id, period_year", False),
                    ("ix_income_entries_county_village_year", "county_code, village_code, period_year", False),
                    ("ix_income_entries_county_town_year", "county_code, town_code, period_year", False),
                    ("uq_income_entries_county_chain_seq", "county_code, chain_seq", True)],
        "fks": [("fk_income_entries_asset_id_assets", "asset_id", "assets(id)", None),
                ("fk_income_entries_recorded_by_id_users", "recorded_by_id", "users(id)", None)],
        "guarded": True,
    },
    "plan_lines": {
        "unique": None,
        "constraints": [("uq_plan_lines_county_code_allocation_id_household_id",
                         "UNIQUE (county_code, allocation_id, household_id)")],
        "indexes": [("ix_plan_lines_household_id", "household_id", False),
                    ("ix_plan_lines_plan_id", "plan_id", False)],
        "fks": [("fk_plan_lines_allocation_id_plan_allocations", "allocation_id", "plan_allocations(id)", "CASCADE"),
                ("fk_plan_lines_household_id_households", "household_id", "households(id)", None),
                ("fk_plan_lines_job_id_public_jobs", "job_id", "public_jobs(id)", None),
                ("fk_plan_lines_plan_id_distribution_plans", "plan_id", "distribution_plans(id)", "CASCADE")],
        "guarded": False,
    },
    "change_log": {
        "unique": None,
        "indexes": [("ix_change_log_county_at", "county_code, at", False),
                    ("ix_change_log_county_entity", "county_code, entity, entity_id", False),
                    ("uq_change_log_county_chain_seq", "county_code, chain_seq", True)],
        "fks": [("fk_change_log_actor_id_users", "actor_id", "users(id)", None)],
        "guarded": True,
    },
    "household_members": {
        "unique": None,
        "indexes": [("ix_household_members_household_id", "household_id", False)],
        "fks": [("fk_household_members_household_id_households", "household_id", "households(id)", "CASCADE")],
        "guarded": False,
    },
}
# Foreign keys to a partitioned table: (table, name, column) → the ledger's id (and county, partitioned).
REFERRING = [("income_entries", "fk_income_entries_reverses_id_income_entries", "reverses_id"),
             ("settlement_adjustments", "fk_settlement_adjustments_entry_id_income_entries", "entry_id")]


def partition_names(table):
    return [f"{table}_p{i:02d}" for i in range(PARTITIONS)]


def _guards(table, partitions):
    """The append-only guards of ``table`` (income/guard.py, changelog/guard.py): UPDATE/DELETE per row
    (cloned to the partitions by PostgreSQL), TRUNCATE per statement on the table and each partition."""
    op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW {GUARD}")
    for name in [table, *partitions]:
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {name} FOR EACH STATEMENT {GUARD}")


def _rebuild(table, spec, partitioned):
    """``table`` made again (partitioned or plain) with its rows, keys, indexes, foreign keys and guards."""
    old = f"{table}_old"
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY NONE")
    how = " PARTITION BY HASH (county_code)" if partitioned else ""
    op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){how}")
    partitions = partition_names(table) if partitioned else []
    for i, name in enumerate(partitions):
        op.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {i})")
    op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")  # its indexes, keys, foreign keys and triggers with it
    key = "id, county_code" if partitioned else "id"
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
    if spec["unique"]:
        plain_name, plain_cols, county_name, county_cols = spec["unique"]
        name, cols = (county_name, county_cols) if partitioned else (plain_name, plain_cols)
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({cols})")
    for name, ddl in spec.get("constraints", []):
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {ddl}")
    for name, cols, unique in spec["indexes"]:
        op.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {table} ({cols})")
    for name, cols, referred, on_delete in spec["fks"]:
        tail = f" ON DELETE {on_delete}" if on_delete else ""
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({cols}) REFERENCES {referred}{tail}")
    op.execute(f"ALTER SEQUENCE {table}_id_seq OWNED BY {table}.id")
    if spec["guarded"]:
        _guards(table, partitions)
    op.execute(f"ANALYZE {table}")


def _referring(partitioned):
    for table, name, column in REFERRING:
        cols, ref = (f"{column}, county_code", "id, county_code") if partitioned else (column, "id")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({cols}) REFERENCES income_entries ({ref})")


def _drop_referring():
    for table, name, _column in REFERRING:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _drop_referring()
    for table, spec in TABLES.items():
        _rebuild(table, spec, partitioned=True)
    _referring(partitioned=True)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _drop_referring()
    for table, spec in TABLES.items():
        _rebuild(table, spec, partitioned=False)
    _referring(partitioned=False)

