"""The hash of a chained row (tamper evidence, issue 11 item 9): pure, no database.

A row's hash is SHA-256 over one canonical serialisation of its chain name, its position (``seq``), the
hash of the row before it and its content, field by field in a fixed order. Values are written as plain
JSON values: money as integer fen, dates and datetimes (UTC) in ISO form, None as an explicit null, JSON
documents with sorted keys. Migration 0005 carries its own copy of ``canonical`` and ``row_hash`` (a
migration never imports the app); tests/test_integrity.py checks that the two agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

GENESIS = "0" * 64  # the "previous hash" of a chain's first row


def canonical(value):
    """A field's value as a plain JSON value; money must already be integer fen (a Decimal is refused, so
    that 1.5 and 1.50 cannot hash differently)."""
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
        return value  # only inside JSON documents, written back as read
    if isinstance(value, Decimal):
        raise TypeError("money goes into the hash as integer fen")
    raise TypeError(f"cannot hash a {type(value).__name__}")


def row_hash(chain: str, seq: int, prev_hash: str, fields: Iterable[tuple[str, object]]) -> str:
    """The hex SHA-256 of one row: ``fields`` are (name, canonical value) pairs in the chain's fixed order."""
    body = [chain, seq, prev_hash, [[name, canonical(value)] for name, value in fields]]
    text = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fen(amount: Decimal | int | None) -> int | None:
    """Yuan (Decimal, two places) as integer fen for the hash."""
    if amount is None:
        return None
    return int(Decimal(amount).scaleb(2).to_integral_exact())
