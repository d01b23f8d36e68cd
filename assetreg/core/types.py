"""Column types. Money is stored as integer fen so SQLite and PostgreSQL are equally exact."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class ScaledDecimal(TypeDecorator):
    """A Decimal with a fixed number of places, stored as a scaled BIGINT (exact on every DB)."""

    impl = sa.BigInteger
    cache_ok = True

    def __init__(self, places: int = 2):
        super().__init__()
        self.places = places
        self._factor = 10**places
        self._quantum = Decimal(1).scaleb(-places)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("float is not accepted for exact decimals")
        d = Decimal(value)
        if d != d.quantize(self._quantum):
            raise ValueError(f"{value} has more than {self.places} decimal places")
        return int(d * self._factor)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(int(value)) / self._factor).quantize(self._quantum)

    @property
    def python_type(self):
        return Decimal


class Money(ScaledDecimal):
    """Yuan with two places (fen) — the one money column type."""

    cache_ok = True

    def __init__(self):
        super().__init__(places=2)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite drops the zone
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_from_iso(s: str) -> datetime:
    return datetime.fromisoformat(s).astimezone(UTC)
