"""Hash chains per county over append-only rows (the ledger, the change log): the one place they are written.

A model opts in with the ``Chained`` mixin (its chain name and its hashed fields in a fixed order). Before
every flush the new chained rows get, county by county and chain by chain, the next position
(``chain_seq``), the hash of the row before (``prev_hash``) and their own hash (``row_hash``,
``core.chain.row_hash``), in the same transaction as the rows. ``chain_heads`` keeps each chain's last
position and hash; its rows of a county are locked (``FOR UPDATE`` on PostgreSQL; SQLite serialises
writers) before a position is given, so two writers of one county cannot fork a chain, and a unique
index on (county_code, chain_seq) refuses a fork even so. Every chain of a county is locked at once, in
one order, so writers never wait on each other crosswise.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from .chain import GENESIS, row_hash
from .types import ScaledDecimal


class ChainHead(db.Model):
    """The last position and hash of one chain of one county."""

    __tablename__ = "chain_heads"

    county_code: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    chain: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    head_hash: Mapped[str] = mapped_column(sa.String(64))


CHAINS: dict[str, type] = {}  # chain name → model, filled as the chained models are declared


class Chained:
    """Mixin of a chained, append-only model: ``__chain__`` (its name, the table's) and ``__chain_fields__``
    (every column that goes into the hash, in a fixed order; the id does not: a row's place is its
    ``chain_seq``, given with the hash)."""

    __chain__: ClassVar[str]
    __chain_fields__: ClassVar[tuple[str, ...]]

    chain_seq: Mapped[int] = mapped_column(sa.BigInteger)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    row_hash: Mapped[str] = mapped_column(sa.String(64))

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "__chain__" in cls.__dict__:
            CHAINS[cls.__chain__] = cls

    @classmethod
    def chain_values(cls, row) -> list[tuple[str, object]]:
        """The hashed fields of ``row`` (the object, or a result row of its columns) as canonical values:
        scaled decimals (money) as integers."""
        columns = cls.__table__.c
        out = []
        for name in cls.__chain_fields__:
            value = getattr(row, name)
            kind = columns[name].type
            if value is not None and isinstance(kind, ScaledDecimal):
                value = int(Decimal(value).scaleb(kind.places).to_integral_exact())
            out.append((name, value))
        return out

    def compute_hash(self, seq: int, prev: str) -> str:
        return self.compute_hash_of(self, seq, prev)

    @classmethod
    def compute_hash_of(cls, row, seq: int, prev: str) -> str:
        """The hash ``row`` (the object, or a result row of its columns) should carry at ``seq`` after ``prev``."""
        return row_hash(cls.__chain__, seq, prev, cls.chain_values(row))

    def _apply_defaults(self) -> None:
        """Column defaults are applied by the INSERT, after the hash: apply them here, before it."""
        for name in self.__chain_fields__:
            col = self.__table__.c[name]
            if getattr(self, name) is None and col.default is not None:
                default = col.default
                setattr(self, name, default.arg(None) if default.is_callable else default.arg)


def _heads_for_update(conn: sa.Connection, counties: list[str]) -> dict[tuple[str, str], tuple[int, str]]:
    t = ChainHead.__table__
    q = (sa.select(t.c.county_code, t.c.chain, t.c.seq, t.c.head_hash).where(t.c.county_code.in_(counties))
         .order_by(t.c.county_code, t.c.chain).with_for_update())
    return {(c, ch): (seq, h) for c, ch, seq, h in conn.execute(q)}


def lock_heads(conn: sa.Connection, counties: list[str]) -> dict[tuple[str, str], tuple[int, str]]:
    """Every chain head of ``counties``, locked until the transaction ends; missing heads are made first
    (two writers making one at once: the second waits for the first, then does nothing)."""
    heads = _heads_for_update(conn, counties)
    missing = [{"county_code": c, "chain": ch, "seq": 0, "head_hash": GENESIS}
               for c in counties for ch in sorted(CHAINS) if (c, ch) not in heads]
    if missing:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        conn.execute(dialect.insert(ChainHead.__table__).on_conflict_do_nothing(), missing)
        heads = _heads_for_update(conn, counties)
    return heads


_HELD = "assetreg.chain_heads"  # Session.info: the heads this session's transaction holds (key → (seq, hash))


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_heads(session: Session, transaction) -> None:
    """The locks go with the transaction (and a SAVEPOINT rolled back takes the heads' moves with it);
    the subtransaction each flush opens does not count."""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_HELD, None)


def _assign(rows: list[Chained], head: tuple[int, str]) -> tuple[int, str]:
    seq, prev = head
    for o in rows:
        seq += 1
        o._apply_defaults()
        o.chain_seq, o.prev_hash = seq, prev
        prev = o.row_hash = o.compute_hash(seq, prev)
    return seq, prev


def _swap(conn: sa.Connection, key: tuple[str, str], old: tuple[int, str], new: tuple[int, str]) -> bool:
    """Move a head from ``old`` to ``new``, only if it still is ``old`` (a compare-and-set)."""
    t = ChainHead.__table__
    done = conn.execute(t.update().where(t.c.county_code == key[0], t.c.chain == key[1], t.c.seq == old[0],
                                         t.c.head_hash == old[1]).values(seq=new[0], head_hash=new[1]))
    return done.rowcount == 1


@sa.event.listens_for(Session, "before_flush")
def _chain_new_rows(session: Session, _flush_context, _instances) -> None:
    new = [o for o in session.new if isinstance(o, Chained)]
    if not new:
        return
    new.sort(key=lambda o: sa.inspect(o).insert_order)  # the order the flush inserts them in
    groups: dict[tuple[str, str], list[Chained]] = {}
    for o in new:
        groups.setdefault((o.county_code, o.__chain__), []).append(o)
    conn = session.connection()
    held = session.info.setdefault(_HELD, {})
    fresh = sorted({county for county, _ in groups} - {county for county, _ in held})
    if fresh:  # the first flush of the transaction for these counties: lock all their heads
        held.update(lock_heads(conn, fresh))
    for key, rows in groups.items():
        # The heads stay locked until the transaction ends, so the ones held are still the heads, and
        # one compare-and-set moves each; should another session on this connection (the tests') have
        # moved one meanwhile, it is read again under the lock and the rows chained after it.
        moved = _assign(rows, held[key])
        if not _swap(conn, key, held[key], moved):
            held.update(lock_heads(conn, [key[0]]))
            moved = _assign(rows, held[key])
            if not _swap(conn, key, held[key], moved):
                raise RuntimeError(f"chain head {key} moved while locked")
        held[key] = moved


def county_version(county_code: str, chains: tuple[str, ...] | None = None) -> str:
    """A short digest of the county's chain heads (its ledger's and its change log's): it changes with every
    logged write in the county, since every service write records a change-log row (``record_change``) and
    every ledger row is chained, and it moves in the writer's transaction. One primary-key read. Kept data
    (``core.datacache.kept``) is filed under it, so a write makes the next read compute afresh.

    Writes that log nothing: ``flask generate`` (a new county, with heads of its own) and the users area
    (sessions, tokens, lock-outs: no county data, and scopes are applied after the cache).

    With ``chains``, only those chains' heads: the ledger's alone (``("income_entries",)``) is the exact
    version of the county's ledger, which only grows by chained rows (append-only in the database)."""
    t = ChainHead.__table__
    q = sa.select(t.c.chain, t.c.seq, t.c.head_hash).where(t.c.county_code == county_code)
    if chains is not None:
        q = q.where(t.c.chain.in_(list(chains)))
    rows = db.session.execute(q.order_by(t.c.chain)).all()
    text = ";".join(f"{chain}:{seq}:{head}" for chain, seq, head in rows)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


__all__ = ["ChainHead", "Chained", "county_version"]
