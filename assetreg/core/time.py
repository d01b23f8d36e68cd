"""One clock. Datetimes are aware UTC (``*_at``); business dates are plain dates (``*_on``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

LOCAL_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
_frozen: datetime | None = None


def now_utc() -> datetime:
    return _frozen if _frozen is not None else datetime.now(UTC)


def today_local() -> date:
    """Today's business date in China, the one the officials' calendar shows."""
    return now_utc().astimezone(LOCAL_TZ).date()


def freeze(at: datetime | None) -> None:
    """Tests set the clock; ``None`` lets it run again."""
    global _frozen
    _frozen = at
