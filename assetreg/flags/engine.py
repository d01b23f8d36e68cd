"""Evaluate the flag rules over a scope (a county, town or village) as of a day: a few queries per rule,
whatever the number of assets. Knows nothing of users; ``services`` adds scope checks and acknowledgements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields, replace
from datetime import date

import sqlalchemy as sa

from ..core.access import Scope
from ..core.datacache import kept
from ..core.errors import NotFound
from ..distribution.models import DistributionPolicy
from ..extensions import db
from ..oversight.models import OversightSettings
from ..places.models import Place
from .rules import ONE_ASSET_RULES, ORDER, RULES, SEVERITY_RANK, Ctx, Flag, Settings

_ORDER_INDEX = {rid: i for i, rid in enumerate(ORDER)}


def resolve_place(code: str) -> Place:
    place = db.session.scalar(sa.select(Place).where(Place.code == code)) if isinstance(code, str) else None
    if place is None:
        raise NotFound("未找到该区划", {"scope": ["未找到该区划"]})
    return place


def load_settings(county_code: str) -> Settings:
    """The county's oversight settings and distribution policy, the seeds' defaults for what is not saved."""
    s = Settings()
    row = db.session.scalar(sa.select(OversightSettings).where(OversightSettings.county_code == county_code))
    if row is not None:
        s = replace(s, no_income_years=row.no_income_years,
                    settlement_deadline=(row.settlement_deadline_month, row.settlement_deadline_day),
                    handover_deadline=(row.handover_deadline_month, row.handover_deadline_day),
                    contract_warning_days=row.contract_warning_days,
                    risk_assessment_max_days=row.risk_assessment_max_days)
    policy = db.session.scalar(sa.select(DistributionPolicy).where(DistributionPolicy.county_code == county_code))
    if policy is not None:
        s = replace(s, min_notice_days=policy.min_notice_days, pv_public_min_share=policy.pv_public_min_share,
                    forbidden_uses=tuple(policy.forbidden_uses or ()))
    return s


def build_context(scope_code: str, as_of: date, settings: Settings | None = None, *,
                  asset_id: int | None = None) -> Ctx:
    """The evaluation's context; with ``asset_id`` (an asset inside the scope) only that asset's flags come
    out, and only ``ONE_ASSET_RULES`` run (see ``Ctx.asset_id``)."""
    place = resolve_place(scope_code)
    if db.session.get_bind().dialect.name == "postgresql":
        # Many short queries whose cost the planner overrates: compiling them to machine code (JIT) costs
        # seconds and saves nothing. SET LOCAL lasts until the end of the transaction.
        db.session.execute(sa.text("SET LOCAL jit = off"))
        # The ledger pass groups a county's entries by asset: let it hash in memory rather than sort on disk.
        db.session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    if settings is None:
        settings = load_settings(place.county_code)
    names = dict(db.session.execute(sa.select(Place.code, Place.name)
                                    .where(Place.county_code == place.county_code)).all())
    return Ctx(county_code=place.county_code, level=place.level, code=place.code, as_of=as_of, settings=settings,
               names=names, asset_id=asset_id)


def sort_key(flag: Flag) -> tuple:
    return (SEVERITY_RANK[flag.severity], _ORDER_INDEX.get(flag.rule_id, 99), flag.town_code or "",
            flag.village_code or "", flag.asset_code or "", flag.key)


def evaluate(scope_code: str, as_of: date, *, rule_ids: Iterable[str] | None = None,
             settings: Settings | None = None) -> list[Flag]:
    """Every flag of the scope on the day, most severe first, then by rule, place and key."""
    ctx = build_context(scope_code, as_of, settings)
    return evaluate_context(ctx, rule_ids=rule_ids)


def evaluate_kept(scope_code: str, as_of: date, *, rule_ids: Iterable[str] | None = None) -> tuple[Ctx, list[Flag]]:
    """The scope's context and its flags on the day, as ``evaluate`` gives them, from the county's evaluation
    (every rule, the county's own settings) kept per version of the county's data (``core.datacache.kept``):
    evaluated once after each write in the county, then filtered to the scope (``Scope.holds`` on each flag's
    ``scope_codes``, as the rules' own scope conditions) and the rules asked for. A warm read is two indexed
    queries (the place, the county's version) and the kept rows."""
    place = resolve_place(scope_code)
    names, settings, rows = kept("flags", place.county_code, (as_of.isoformat(),),
                                 lambda: _county_rows(place.county_code, as_of))
    ctx = Ctx(county_code=place.county_code, level=place.level, code=place.code, as_of=as_of, settings=settings,
              names=names)
    wanted = set(rule_ids) if rule_ids is not None else None
    if ctx.level != "county":
        scope = Scope(ctx.code)
        rows = [r for r in rows if scope.holds(r[_COUNTY], *(r[_SCOPED_BY] or (r[_TOWN], r[_VILLAGE])))]
    return ctx, [Flag(*r) for r in rows if wanted is None or r[_RULE] in wanted]


# A kept evaluation holds each flag as the tuple of its fields: a tenth of the time to load of pickled objects.
_FIELDS = [f.name for f in fields(Flag)]
_RULE, _COUNTY, _TOWN, _VILLAGE, _SCOPED_BY = (_FIELDS.index(n) for n in
                                               ("rule_id", "county_code", "town_code", "village_code", "scoped_by"))


def _county_rows(county_code: str, as_of: date) -> tuple[dict[str, str], Settings, list[tuple]]:
    ctx = build_context(county_code, as_of)
    return ctx.names, ctx.settings, [tuple(getattr(f, n) for n in _FIELDS) for f in evaluate_context(ctx)]


def evaluate_context(ctx: Ctx, *, rule_ids: Iterable[str] | None = None) -> list[Flag]:
    wanted = set(rule_ids) if rule_ids is not None else None
    flags: list[Flag] = []
    for rid in ORDER:
        if wanted is not None and rid not in wanted:
            continue
        if ctx.asset_id is not None and rid not in ONE_ASSET_RULES:
            continue  # one asset's rows say nothing of a village's, a plan's or a town's flags
        flags.extend(RULES[rid].evaluate(ctx))
    flags.sort(key=sort_key)
    return flags
