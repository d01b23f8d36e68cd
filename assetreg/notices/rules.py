"""Pure checks and shaping of a notice (DOMAIN.md §7; basis: P17 公告公示, P20)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ..core.money import to_chinese_capital
from ..core.validators import find_unmasked  # the privacy scan: a notice with a hit is refused


def inclusive_days(start: date, end: date) -> int:
    """Notice days counted inclusive: 1 to 10 March is 10 days (basis: P20)."""
    return (end - start).days + 1


@dataclass
class NoticeLine:
    seq: int
    name: str
    id_masked: str
    amount: Decimal
    reason: str


@dataclass
class NoticeAllocation:
    seq: int
    purpose_label: str
    use: str
    amount: Decimal
    lines: list[NoticeLine] = field(default_factory=list)

    @property
    def lines_total(self) -> Decimal:
        return sum((li.amount for li in self.lines), Decimal("0.00"))


@dataclass
class Notice:
    title: str
    village_name: str
    town_name: str
    year: int
    intro: str
    available: Decimal
    allocations: list[NoticeAllocation]
    notice_start_on: date | None
    notice_end_on: date | None
    notice_days: int | None
    complaint_phones: list[str]
    issuer: str
    issued_on: date
    status_label: str

    @property
    def total(self) -> Decimal:
        return sum((a.amount for a in self.allocations), Decimal("0.00"))

    @property
    def total_capital(self) -> str:
        return to_chinese_capital(self.total)

    @property
    def lines_total(self) -> Decimal:
        return sum((a.lines_total for a in self.allocations), Decimal("0.00"))

    def texts(self):
        """Every piece of text the notice prints, for the privacy scan."""
        yield self.title
        yield self.intro
        yield self.issuer
        # The complaint phones are official lines published on purpose, so they are not scanned.
        for a in self.allocations:
            yield a.purpose_label
            yield a.use
            for li in a.lines:
                yield li.name
                yield li.id_masked
                yield li.reason

    def privacy_leaks(self) -> list[tuple[str, str]]:
        leaks = []
        for text in self.texts():
            leaks.extend(find_unmasked(text))
        return leaks


def fmt_date(d: date | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else "—"


def fmt_money(v: Decimal) -> str:
    return f"{v:,.2f}"
