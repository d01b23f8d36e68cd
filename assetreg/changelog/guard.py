"""The database guards that keep the change log append-only, below the ORM (issue 11 item 9).

Migration 0005 carries its own copy of these statements (a migration never imports the app); the
PostgreSQL trigger function ``assetreg_append_only()`` is the ledger's (income/guard.py, migration 0002).
``tests/test_income_ledger.py`` checks that the copies agree with what the database holds. Nothing in the
application lifts the guards; the tests' clean-up does (tests/db_support.py).
"""

from __future__ import annotations

SQLITE_TRIGGERS: dict[str, str] = {
    "change_log_no_update": "CREATE TRIGGER change_log_no_update BEFORE UPDATE ON change_log "
                            "BEGIN SELECT RAISE(ABORT, 'change_log is append-only'); END",
    "change_log_no_delete": "CREATE TRIGGER change_log_no_delete BEFORE DELETE ON change_log "
                            "BEGIN SELECT RAISE(ABORT, 'change_log is append-only'); END",
}
PG_TRIGGERS: dict[str, str] = {
    "change_log_append_only": "CREATE TRIGGER change_log_append_only BEFORE UPDATE OR DELETE ON change_log "
                              "FOR EACH ROW EXECUTE FUNCTION assetreg_append_only()",
    "change_log_no_truncate": "CREATE TRIGGER change_log_no_truncate BEFORE TRUNCATE ON change_log "
                              "FOR EACH STATEMENT EXECUTE FUNCTION assetreg_append_only()",
}
