"""The database guards that keep the ledger and settlements append-only, below the ORM.

Migration 0002 carries its own copy of these statements (a migration never imports the app);
``tests/test_income_ledger.py`` checks that the two copies agree with what the database holds.
Nothing in the application lifts the guards; the tests' clean-up does (tests/db_support.py).
"""

from __future__ import annotations

# Columns of a settlement frozen once written; only ``published_on`` may be set, once.
SETTLEMENT_FROZEN = (
    "id, county_code, town_code, village_code, place_code, level, year, gross, costs, net, disposal, "
    "adjustments_net, last_entry_id, lines, settled_on, due_on, note, settled_by_id, created_at"
)
_APPEND_ONLY = ("income_entries", "settlement_parts", "settlement_adjustments")


def _sqlite_raise(table: str) -> str:
    return f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"


SQLITE_TRIGGERS: dict[str, str] = {}
for _t in _APPEND_ONLY:
    SQLITE_TRIGGERS[f"{_t}_no_update"] = f"CREATE TRIGGER {_t}_no_update BEFORE UPDATE ON {_t} " + _sqlite_raise(_t)
    SQLITE_TRIGGERS[f"{_t}_no_delete"] = f"CREATE TRIGGER {_t}_no_delete BEFORE DELETE ON {_t} " + _sqlite_raise(_t)
SQLITE_TRIGGERS["settlements_frozen"] = (
    f"CREATE TRIGGER settlements_frozen BEFORE UPDATE OF {SETTLEMENT_FROZEN} ON settlements "
    + _sqlite_raise("settlements")
)
SQLITE_TRIGGERS["settlements_published_once"] = (
    "CREATE TRIGGER settlements_published_once BEFORE UPDATE OF published_on ON settlements "
    "WHEN OLD.published_on IS NOT NULL " + _sqlite_raise("settlements")
)
SQLITE_TRIGGERS["settlements_no_delete"] = (
    "CREATE TRIGGER settlements_no_delete BEFORE DELETE ON settlements " + _sqlite_raise("settlements")
)

PG_FUNCTION = """CREATE OR REPLACE FUNCTION assetreg_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END;
$$"""
PG_TRIGGERS: dict[str, str] = {}
for _t in _APPEND_ONLY:
    PG_TRIGGERS[f"{_t}_append_only"] = (
        f"CREATE TRIGGER {_t}_append_only BEFORE UPDATE OR DELETE ON {_t} "
        "FOR EACH ROW EXECUTE FUNCTION assetreg_append_only()"
    )
    PG_TRIGGERS[f"{_t}_no_truncate"] = (
        f"CREATE TRIGGER {_t}_no_truncate BEFORE TRUNCATE ON {_t} "
        "FOR EACH STATEMENT EXECUTE FUNCTION assetreg_append_only()"
    )
PG_TRIGGERS["settlements_frozen"] = (
    f"CREATE TRIGGER settlements_frozen BEFORE UPDATE OF {SETTLEMENT_FROZEN} OR DELETE ON settlements "
    "FOR EACH ROW EXECUTE FUNCTION assetreg_append_only()"
)
PG_TRIGGERS["settlements_published_once"] = (
    "CREATE TRIGGER settlements_published_once BEFORE UPDATE OF published_on ON settlements "
    "FOR EACH ROW WHEN (OLD.published_on IS NOT NULL) EXECUTE FUNCTION assetreg_append_only()"
)
PG_TRIGGERS["settlements_no_truncate"] = (
    "CREATE TRIGGER settlements_no_truncate BEFORE TRUNCATE ON settlements "
    "FOR EACH STATEMENT EXECUTE FUNCTION assetreg_append_only()"
)

