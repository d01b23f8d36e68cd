"""Flags for a user: the county's thresholds, scope checks, filters and paging, counts for a dashboard,
and acknowledgements (a flag seen and explained stays listed, marked, while the data still triggers it)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import sqlalchemy as sa

from ..assets.models import Asset
from ..changelog.services import record_change, snapshot
from ..core.access import level_of, require_write
from ..core.errors import Conflict, NotFound, RuleViolation
from ..core.time import now_utc, today_local
from ..distribution.models import DistributionPlan
from ..extensions import db
from ..oversight.models import DisposalRequest, FlagAcknowledgement, Problem
from ..places.models import Place
from ..places.services import scoped_place
from ..users.models import User
from . import engine
from .rules import CATEGORIES, ONE_ASSET_RULES, RULES, SEVERITIES, Ctx, Flag

# --- reading -----------------------------------------------------------------------------------------

def resolve_scope(user, scope: str | None = None, town_code: str | None = None,
                  village_code: str | None = None) -> Place:
    """The narrowest place asked for (village, else town, else scope, else the user's own scope). It must
    lie inside the user's scope and inside the ones named around it; anything else is not found (404)."""
    base = scope or user.scope_code
    codes = [c for c in (base, town_code, village_code) if c]
    target = codes[-1]
    for outer, inner in zip(codes, codes[1:], strict=False):
        if not inner.startswith(outer):
            raise NotFound("未找到该范围", {"scope": ["乡镇或村不在所选范围内"]})
    return scoped_place(user, target)


def annotate(flags: list[Flag], ctx: Ctx) -> list[Flag]:
    """Mark acknowledged flags (acknowledged by the end of the day) and the open problem raised from each."""
    acks = {(a.rule_id, a.flag_key): (a, name) for a, name in db.session.execute(
        sa.select(FlagAcknowledgement, User.display_name)
        .outerjoin(User, User.id == FlagAcknowledgement.acknowledged_by_id)
        .where(FlagAcknowledgement.county_code == ctx.county_code,
               FlagAcknowledgement.acknowledged_at < ctx.day_end))}
    problems = {(r, k): pid for pid, r, k in db.session.execute(
        sa.select(Problem.id, Problem.flag_rule, Problem.flag_key)
        .where(Problem.county_code == ctx.county_code, Problem.flag_rule.is_not(None),
               Problem.raised_on <= ctx.as_of).order_by(Problem.id))}
    for f in flags:
        hit = acks.get((f.rule_id, f.key))
        if hit:
            ack, name = hit
            f.acknowledged, f.acknowledged_at, f.ack_reason = True, ack.acknowledged_at, ack.reason
            f.acknowledged_by = name
        f.problem_id = problems.get((f.rule_id, f.key))
    return flags


def flags_for(user, *, scope=None, as_of: date | None = None, rule=None, severity=None, town_code=None,
              village_code=None, category=None, asset_category=None, acknowledged=None) -> tuple[Ctx, list[Flag]]:
    """Every flag in the user's scope on the day, filtered (no paging): the page, the API, the summary, the
    XLSX and the home read them here, from the county's kept evaluation (``engine.evaluate_kept``)."""
    place = resolve_scope(user, scope, town_code, village_code)
    rule_ids = [rid for rid, r in RULES.items()
                if (rule is None or rid == rule) and (category is None or r.category == category)]
    ctx, flags = engine.evaluate_kept(place.code, as_of or today_local(), rule_ids=rule_ids)
    if severity:
        flags = [f for f in flags if f.severity == severity]
    if asset_category:
        flags = [f for f in flags if f.asset_category == asset_category]
    annotate(flags, ctx)
    if acknowledged is not None:
        flags = [f for f in flags if f.acknowledged == acknowledged]
    return ctx, flags


def flags_of_asset(asset, as_of: date | None = None) -> tuple[Ctx, list[Flag]]:
    """The flags firing for one asset on the day (today by default), annotated: the rules whose flags concern
    one asset (the asset rules and DISPOSAL_UNAPPROVED, ``rules.ONE_ASSET_RULES``), in the narrowest place
    holding the asset (its village, else its town or county), reading this asset's rows only
    (``Ctx.asset_id``), then the flags naming it. ``asset`` is one the caller has already read within the
    user's scope."""
    scope = asset.village_code or asset.town_code or asset.county_code
    ctx = engine.build_context(scope, as_of or today_local(), asset_id=asset.id)
    flags = [f for f in engine.evaluate_context(ctx, rule_ids=ONE_ASSET_RULES) if f.asset_id == asset.id]
    return ctx, annotate(flags, ctx)


def _scope_out(ctx: Ctx) -> dict:
    return {"code": ctx.code, "level": ctx.level, "name": ctx.place_name(ctx.code)}


def list_flags(user, *, page: int = 1, per_page: int = 50, **filters) -> dict:
    ctx, flags = flags_for(user, **filters)
    items = flags[(page - 1) * per_page: page * per_page]
    return {"items": items, "page": page, "per_page": per_page, "total": len(flags), "as_of": ctx.as_of,
            "scope": _scope_out(ctx)}


def summary(user, **filters) -> dict:
    """Counts for a dashboard: by severity, by rule (with how many are acknowledged), by town and village."""
    ctx, flags = flags_for(user, **filters)
    by_rule = Counter(f.rule_id for f in flags)
    acked = Counter(f.rule_id for f in flags if f.acknowledged)
    rules_out = [{"rule_id": rid, "title": r.title, "severity": r.severity, "category": r.category,
                  "category_label": CATEGORIES[r.category], "basis": list(r.basis), "count": by_rule[rid],
                  "acknowledged": acked[rid]}
                 for rid, r in RULES.items() if by_rule[rid]]
    rules_out.sort(key=lambda x: (-x["count"], x["rule_id"]))
    places: dict[str, dict] = defaultdict(lambda: {"count": 0, **{s: 0 for s in SEVERITIES}})
    for f in flags:
        codes = {f.town_code, f.village_code} - {None} or {f.county_code}
        for code in codes:
            p = places[code]
            p["count"] += 1
            p[f.severity] += 1
    by_place = [{"code": code, "name": ctx.place_name(code),
                 "level": level_of(code), **counts}
                for code, counts in sorted(places.items())]
    return {"as_of": ctx.as_of, "scope": _scope_out(ctx), "total": len(flags),
            "acknowledged": sum(1 for f in flags if f.acknowledged),
            "by_severity": {s: sum(1 for f in flags if f.severity == s) for s in SEVERITIES},
            "by_category": {c: sum(1 for f in flags if f.rule.category == c) for c in CATEGORIES},
            "by_rule": rules_out, "by_place": by_place}


def catalogue() -> list[dict]:
    return [{"id": r.id, "severity": r.severity, "severities": list(r.severities), "category": r.category,
             "category_label": CATEGORIES[r.category], "subject": r.subject, "title": r.title,
             "basis": list(r.basis), "doc": r.doc} for r in RULES.values()]


# --- acknowledgements ------------------------------------------------------------------------------------

def _subject_codes(user, key: str) -> dict:
    """The county/town/village a flag key's subject belongs to. Unknown or foreign subjects: 404."""
    kind, _, rest = key.partition(":")
    ident = rest.split(":", 1)[0]
    not_found = NotFound("未找到该预警对象", {"flag_key": ["对象不存在"]})
    if not ident.isascii() or not ident.isdigit() or len(ident) > 18:
        raise RuleViolation("预警标识格式有误", {"flag_key": ["应为“asset:123”“plan:7”“town:431299100”等"]})
    if kind in ("town", "village"):
        place = db.session.scalar(sa.select(Place).where(Place.code == ident, Place.level == kind,
                                                         Place.county_code == user.county_code))
        if place is None:
            raise not_found
        return {"county_code": place.county_code, "town_code": place.code if kind == "town" else place.town_code,
                "village_code": place.code if kind == "village" else None}

    model = {"asset": Asset, "plan": DistributionPlan, "problem": Problem, "disposal": DisposalRequest}.get(kind)
    if model is None:
        raise RuleViolation("预警标识格式有误", {"flag_key": ["应为“asset:123”“plan:7”“town:431299100”等"]})
    if int(ident) > 2**63 - 1:
        raise not_found
    row = db.session.execute(sa.select(model.county_code, model.town_code, model.village_code)
                             .where(model.id == int(ident), model.county_code == user.county_code)).first()
    if row is None:
        raise not_found
    return {"county_code": row.county_code, "town_code": row.town_code, "village_code": row.village_code}


def acknowledge(user, *, rule_id: str, flag_key: str, reason: str) -> FlagAcknowledgement:
    """Acknowledge a flag that fires today, with a reason. Finance officers, county admins and auditors
    within their scope, village committees for their village's flags (403 otherwise)."""
    reason = reason.strip()
    if not reason:
        raise RuleViolation("请填写确认理由", {"reason": ["不能为空"]})
    codes = _subject_codes(user, flag_key)
    require_write(user, "flags", **codes)
    scope = codes["village_code"] or codes["town_code"] or codes["county_code"]
    _, flags = engine.evaluate_kept(scope, today_local(), rule_ids=[rule_id])
    firing = {f.key for f in flags}
    if flag_key not in firing:
        raise RuleViolation("该预警当前未触发，无需确认", {"flag_key": ["今日该规则对此对象未触发预警"]},
                            code="flag_not_firing")
    if db.session.scalar(sa.select(FlagAcknowledgement.id).where(
            FlagAcknowledgement.county_code == codes["county_code"], FlagAcknowledgement.rule_id == rule_id,
            FlagAcknowledgement.flag_key == flag_key)) is not None:
        raise Conflict("该预警已确认", {"flag_key": ["已有确认记录"]}, code="already_acknowledged")
    ack = FlagAcknowledgement(county_code=codes["county_code"], rule_id=rule_id, flag_key=flag_key, reason=reason,
                              acknowledged_by_id=getattr(user, "id", None), acknowledged_at=now_utc())
    db.session.add(ack)
    db.session.flush()
    record_change(user, entity="flag_acknowledgement", entity_id=ack.id, action="create", after=snapshot(ack),
                  **codes)
    ack.acknowledged_by = getattr(user, "display_name", None)
    return ack
