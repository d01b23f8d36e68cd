"""tamper evidence: the change log append-only; hash chains per county over the ledger and the change log

Revision ID: 0007_chain
Revises: 0006_export_heartbeat
Create Date: 2026-12-02 16:00:00

The change log gets the ledger's guards (triggers refusing UPDATE and DELETE, TRUNCATE on PostgreSQL;
copied in assetreg/changelog/guard.py). income_entries and change_log get ``chain_seq``, ``prev_hash`` and
``row_hash`` and a unique (county_code, chain_seq); ``chain_heads`` keeps each chain's last position and
hash. Rows already there are chained here, county by county in id order, with this file's copy of
assetreg/core/chain.py (a migration never imports the app; tests/test_integrity.py checks they agree).
The columns are added NOT NULL with a placeholder default (SQLite cannot add NOT NULL without one, and a
table rebuild would lose the ledger's triggers); PostgreSQL drops the default afterwards.
"""
import hashlib
import json
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision = '0007_chain'
down_revision = '0006_export_heartbeat'
branch_labels = None
depends_on = None

GENESIS = "0" * 64

LOG_SQLITE_TRIGGERS = {
    "change_log_no_update": "CREATE TRIGGER change_log_no_update BEFORE UPDATE ON change_log "
                            "BEGIN SELECT RAISE(ABORT, 'change_log is append-only'); END",
    "change_log_no_delete": "CREATE TRIGGER change_log_no_delete BEFORE DELETE ON change_log "
                            "BEGIN SELECT RAISE(ABORT, 'change_log is append-only'); END",
}
LOG_PG_TRIGGERS = {
    "change_log_append_only": "CREATE TRIGGER change_log_append_only BEFORE UPDATE OR DELETE ON change_log "
                              "FOR EACH ROW EXECUTE FUNCTION assetreg_append_only()",
    "change_log_no_truncate": "CREATE TRIGGER change_log_no_truncate BEFORE TRUNCATE ON change_log "
                              "FOR EACH STATEMENT EXECUTE FUNCTION assetreg_append_only()",
}
# The ledger's UPDATE guard (migration 0002), lifted while the rows already there are chained.
LEDGER_SQLITE_NO_UPDATE = ("CREATE TRIGGER income_entries_no_update BEFORE UPDATE ON income_entries "
                           "BEGIN SELECT RAISE(ABORT, 'income_entries is append-only'); END")

# chain → (hashed fields in order, typed columns to read them with)
CHAINS = {
    "change_log": ("county_code", "town_code", "village_code", "actor_id", "actor_name", "at", "entity",
                   "entity_id", "action", "before", "after"),
    "income_entries": ("county_code", "town_code", "village_code", "asset_id", "direction", "kind",
                       "period_year", "period_month", "period_quarter", "received_on", "amount", "payer",
                       "voucher_no", "note", "reverses_id", "reason", "is_adjustment", "adjustment_on",
                       "recorded_by_id", "recorded_at"),
}
_TYPES = {"at": sa.DateTime(timezone=True), "recorded_at": sa.DateTime(timezone=True), "before": sa.JSON(),
          "after": sa.JSON(), "received_on": sa.Date(), "adjustment_on": sa.Date(), "is_adjustment": sa.Boolean()}


def canonical(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return value
    raise TypeError(f"cannot hash a {type(value).__name__}")


def row_hash(chain, seq, prev_hash, fields):
    body = [chain, seq, prev_hash, [[name, canonical(value)] for name, value in fields]]
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chain_existing_rows(bind, chain, fields):
    t = sa.table(chain, sa.column("id"), sa.column("chain_seq"), sa.column("prev_hash"), sa.column("row_hash"),
                 *(sa.column(f, _TYPES.get(f)) for f in fields))
    heads = {}
    updates = []
    for row in bind.execute(sa.select(t.c.id, *(t.c[f] for f in fields)).order_by(t.c.id)):
        values = []
        for f in fields:
            v = getattr(row, f)
            if isinstance(v, datetime) and v.tzinfo is None:  # SQLite keeps no zone: the app writes UTC
                v = v.replace(tzinfo=UTC)
            values.append((f, v))
        seq, prev = heads.get(row.county_code, (0, GENESIS))
        h = row_hash(chain, seq + 1, prev, values)
        heads[row.county_code] = (seq + 1, h)
        updates.append({"k_id": row.id, "k_seq": seq + 1, "k_prev": prev, "k_hash": h})
    if updates:
        bind.execute(t.update().where(t.c.id == sa.bindparam("k_id")).values(
            chain_seq=sa.bindparam("k_seq"), prev_hash=sa.bindparam("k_prev"), row_hash=sa.bindparam("k_hash")),
            updates)
    return heads


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    op.create_table('chain_heads',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('county_code', 'chain', name=op.f('pk_chain_heads'))
    )
    for table in CHAINS:
        op.add_column(table, sa.Column('chain_seq', sa.BigInteger(), nullable=False, server_default='0'))
        op.add_column(table, sa.Column('prev_hash', sa.String(length=64), nullable=False, server_default=''))
        op.add_column(table, sa.Column('row_hash', sa.String(length=64), nullable=False, server_default=''))
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS income_entries_no_update")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE income_entries DISABLE TRIGGER income_entries_append_only")
    heads = []
    for chain, fields in CHAINS.items():
        for county, (seq, h) in _chain_existing_rows(bind, chain, fields).items():
            heads.append({"county_code": county, "chain": chain, "seq": seq, "head_hash": h})
    if dialect == "sqlite":
        op.execute(LEDGER_SQLITE_NO_UPDATE)
    elif dialect == "postgresql":
        op.execute("ALTER TABLE income_entries ENABLE TRIGGER income_entries_append_only")
    counties = {h["county_code"] for h in heads}
    heads += [{"county_code": c, "chain": ch, "seq": 0, "head_hash": GENESIS} for c in counties for ch in CHAINS
              if not any(h["county_code"] == c and h["chain"] == ch for h in heads)]
    if heads:
        op.bulk_insert(sa.table('chain_heads', sa.column('county_code'), sa.column('chain'), sa.column('seq'),
                                sa.column('head_hash')), heads)
    for table in CHAINS:
        op.create_index(f'uq_{table}_county_chain_seq', table, ['county_code', 'chain_seq'], unique=True)
        if dialect == "postgresql":
            for col in ('chain_seq', 'prev_hash', 'row_hash'):
                op.alter_column(table, col, server_default=None)
    if dialect == "sqlite":
        for ddl in LOG_SQLITE_TRIGGERS.values():
            op.execute(ddl)
    elif dialect == "postgresql":
        for ddl in LOG_PG_TRIGGERS.values():
            op.execute(ddl)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in LOG_SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        for name in LOG_PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON change_log")
    for table in CHAINS:
        op.drop_index(f'uq_{table}_county_chain_seq', table_name=table)
        for col in ('row_hash', 'prev_hash', 'chain_seq'):
            op.drop_column(table, col)
    op.drop_table('chain_heads')
