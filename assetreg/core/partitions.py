"""The large tables partitioned by county code on PostgreSQL (issue 12 item 5b): the one list of them.

On PostgreSQL ``income_entries``, ``plan_lines``, ``change_log`` and ``household_members`` are
declaratively partitioned, ``PARTITION BY HASH (county_code)`` into ``PARTITIONS`` partitions named
``<table>_p00`` … (migration 0008_partitions carries its own copy of this list: a migration never imports
the app; tests/test_partitions.py checks they agree). A partitioned table's primary key and unique keys
include the partition key, so on PostgreSQL the key is (id, county_code) and a foreign key to such a table
is (…_id, county_code). SQLite has no partitions and keeps the single-column keys: the model declares
each of the two variants with ``ddl_if(dialect=…)`` (``on_postgresql`` / ``on_sqlite``), and the
model-vs-database comparison (migrations/env.py, tests/test_migrations.py) takes ``include_object_for``
so that it compares only the variant of the database at hand and ignores the partitions themselves.

Every query on these tables names the county (``county_code = …``), so the planner reads one partition.
"""

from __future__ import annotations

from collections.abc import Callable

PARTITIONED = ("income_entries", "plan_lines", "change_log", "household_members")
PARTITIONS = 16


def partition_names(table: str) -> list[str]:
    return [f"{table}_p{i:02d}" for i in range(PARTITIONS)]


PARTITION_TABLES = frozenset(name for t in PARTITIONED for name in partition_names(t))


def on_postgresql(item):
    """A constraint or index that exists on PostgreSQL only (a key including county_code)."""
    return item.ddl_if(dialect="postgresql")


def on_sqlite(item):
    """A constraint or index that exists on SQLite only (the single-column key PostgreSQL replaces)."""
    return item.ddl_if(dialect="sqlite")


def include_object_for(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for a database of ``dialect``: leave out the partitions and the clones
    of the foreign keys referring to them (the database has them, the models do not) and the model's
    constraints declared for the other dialect."""

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        if type_ == "table" and name in PARTITION_TABLES:
            return False
        if type_ == "foreign_key_constraint" and reflected and obj.referred_table.name in PARTITION_TABLES:
            return False  # a foreign key to a partitioned table has a clone per partition it refers to
        condition = getattr(obj, "_ddl_if", None)
        if not reflected and condition is not None and condition.dialect is not None:
            wanted = condition.dialect
            return dialect == wanted if isinstance(wanted, str) else dialect in wanted
        return True

    return include_object
