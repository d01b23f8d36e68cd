"""Pure rules of the four lists: which rules apply where, the missing systems and documents, book value.

Nothing here reads the database; services pass plain facts. Place codes nest by prefix (county 6
digits, town 9, village 12; a child's code starts with its parent's), which is all "applies to" needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..assets import rules as asset_rules
from ..core.access import LEVEL_RANK
from .models import DOCUMENT_KINDS, FIVE_SYSTEMS


def in_tree(code: str, root: str) -> bool:
    """``code`` is ``root`` or below it."""
    return code.startswith(root)


def is_in_force(effective_on: date, repealed_on: date | None, as_of: date) -> bool:
    """In force on ``as_of``: effective on or before it and not yet repealed (a rule repealed on a
    day is no longer in force that day)."""
    return effective_on <= as_of and (repealed_on is None or repealed_on > as_of)


def targets(issuer_code: str, place_codes: Iterable[str]) -> list[str]:
    """The roots a rule applies to: the places it names, or else its issuer's whole tree."""
    named = list(place_codes)
    return named or [issuer_code]


def applies_to(rule_targets: Iterable[str], place_code: str) -> bool:
    """A rule applies to a place inside the tree of any of its targets (its own rules, its town's,
    the county's)."""
    return any(in_tree(place_code, t) for t in rule_targets)


def concerns_scope(rule_targets: Iterable[str], scope_code: str) -> bool:
    """A rule belongs on a scope's list when it applies to the scope or to anything inside it."""
    return any(in_tree(scope_code, t) or in_tree(t, scope_code) for t in rule_targets)


def missing_systems(place_code: str, rules: Iterable[tuple[str, list[str]]]) -> list[str]:
    """The five systems (basis: P26, seed 002 item 19) no rule in force covers for ``place_code``.

    ``rules`` are (category, targets) of the rules in force; the result keeps the canonical order."""
    covered = {category for category, rule_targets in rules if applies_to(rule_targets, place_code)}
    return [s for s in FIVE_SYSTEMS if s not in covered]


def required_kinds(status: str, category: str, requirements: Iterable[tuple[str, str | None, str]]) -> list[str]:
    """Kinds the county requires for an asset in ``status`` (of ``category``, or any category when
    the requirement names none), in the archive's canonical order. ``requirements`` are (status,
    category, kind) triples."""
    kinds = {kind for s, c, kind in requirements if s == status and (c is None or c == category)}
    return [k for k in DOCUMENT_KINDS if k in kinds]


def missing_kinds(required: Iterable[str], filed: Iterable[str]) -> list[str]:
    """Required kinds with no document filed at any level."""
    have = set(filed)
    return [k for k in required if k not in have]


def level_allowed(doc_level: str, place_level: str) -> bool:
    """A document about a place is kept at the place's own level or above it (the county keeps
    copies of a village's files; a village never keeps the county's)."""
    return LEVEL_RANK[doc_level] <= LEVEL_RANK[place_level]


@dataclass(frozen=True)
class PolicyFacts:
    useful_life_years: int
    residual_rate: Decimal


def book_value(original_value: Decimal, *, completed_on: date | None, useful_life_years: int | None,
               policy: PolicyFacts | None, as_of: date) -> Decimal:
    """Book value as of a date, exactly as the asset service computes it (basis: P19): the asset's own
    useful life, else its subtype's; the subtype's residual rate, else none."""
    life = useful_life_years or (policy.useful_life_years if policy else None)
    rate = policy.residual_rate if policy else Decimal("0")
    return asset_rules.depreciate(original_value, in_service_on=completed_on, useful_life_years=life,
                                  residual_rate=rate, as_of=as_of).book_value
