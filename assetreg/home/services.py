"""The home page's figures: grouped counts in the user's scope, a constant number of queries whatever
the size of the county (each figure is one GROUP BY)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from ..assets.models import CATEGORIES, STATUSES, Asset
from ..changelog.models import ChangeLogEntry
from ..core.access import scope_clause, sees_everything
from ..core.datacache import kept
from ..core.money import from_fen
from ..core.time import now_utc, today_local
from ..custody.models import AssetCustody
from ..distribution.models import DistributionPlan
from ..extensions import db
from ..flags.services import summary as flag_summary
from ..households.models import Household
from ..income.services import income_by_year as ledger_income_by_year
from ..oversight.models import Problem
from ..rights.models import FIVE_RIGHTS, AssetRight

# Assets past the handover whose five rights must all be recorded (basis: P03); disposed ones are history.
RIGHTS_DUE = ("handed_over", "in_operation", "in_use", "idle", "disposing")


def _fen(column):
    return sa.type_coerce(column, sa.BigInteger)


def asset_matrix(user) -> dict:
    """Counts and original value by category × status, with row and column totals."""
    rows = db.session.execute(
        sa.select(Asset.category, Asset.status, sa.func.count(), sa.func.sum(_fen(Asset.original_value)))
        .where(Asset.county_code == user.county_code, scope_clause(Asset, user))
        .group_by(Asset.category, Asset.status)).all()
    cells = {(c, s): n for c, s, n, _ in rows}
    statuses = [s for s in STATUSES if any(st == s for _, st in cells)]
    by_category = {c: sum(n for (cc, _), n in cells.items() if cc == c) for c in CATEGORIES}
    value_by_category = {c: from_fen(sum(int(v or 0) for cc, _, _, v in rows if cc == c)) for c in CATEGORIES}
    by_status = {s: sum(n for (_, ss), n in cells.items() if ss == s) for s in statuses}
    return {"cells": cells, "statuses": statuses, "by_category": by_category, "by_status": by_status,
            "value_by_category": value_by_category, "total": sum(cells.values()),
            "total_value": sum(value_by_category.values(), Decimal("0.00"))}


def rights_incomplete(user) -> int:
    """Assets handed over (or later) missing any of the five current rights."""

    held = (sa.select(sa.func.count(sa.distinct(AssetRight.kind)))
            .where(AssetRight.asset_id == Asset.id, AssetRight.ended_on.is_(None),
                   AssetRight.kind.in_(list(FIVE_RIGHTS)))
            .scalar_subquery())
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Asset)
        .where(Asset.county_code == user.county_code, scope_clause(Asset, user),
               Asset.status.in_(RIGHTS_DUE), held < len(FIVE_RIGHTS))) or 0


def custody_missing(user) -> int:
    """Public-welfare assets in use with no current custody record (basis: P12)."""

    current = sa.select(AssetCustody.id).where(AssetCustody.asset_id == Asset.id, AssetCustody.replaced_at.is_(None))
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Asset)
        .where(Asset.county_code == user.county_code, scope_clause(Asset, user),
               Asset.category == "public_welfare", Asset.status == "in_use", ~current.exists())) or 0


def assets_by_place(user) -> tuple[str, str, list[dict]]:
    """Count of assets per town (county users), per village (town users) or per subtype (village users)."""
    level = user.scope_level
    column, key, title = {
        "county": (Asset.town_code, "town_code", "各乡镇资产数"),
        "town": (Asset.village_code, "village_code", "各村资产数"),
        "village": (Asset.subtype, "subtype", "各子类资产数"),
    }[level]
    rows = db.session.execute(
        sa.select(column, sa.func.count())
        .where(Asset.county_code == user.county_code, scope_clause(Asset, user))
        .group_by(column).order_by(column)).all()
    return title, key, [{"key": k, "value": n} for k, n in rows]


def households_by_status(user) -> dict[str, int]:

    rows = db.session.execute(
        sa.select(Household.status, sa.func.count())
        .where(Household.county_code == user.county_code, scope_clause(Household, user))
        .group_by(Household.status)).all()
    return dict(rows)


def plans_by_status(user) -> dict[str, int]:

    rows = db.session.execute(
        sa.select(DistributionPlan.status, sa.func.count())
        .where(DistributionPlan.county_code == user.county_code, scope_clause(DistributionPlan, user))
        .group_by(DistributionPlan.status)).all()
    return dict(rows)


def income_by_year(user, years: int = 6) -> list[dict]:
    """The income ledger of the user's county, town or village per period year (gross, deductions, net;
    disposal proceeds apart), the last ``years`` years up to this one: the income service's figures (a
    village's include its parts of shared assets, as on its village-year page)."""

    this_year = today_local().year
    return ledger_income_by_year(user.county_code, place_code=user.scope_code,
                                 years=range(this_year - years + 1, this_year + 1))


def recent_changes(user, days: int = 30) -> int | None:
    """Change-log entries of the last ``days`` days (for the readers of the log)."""

    if not sees_everything(user):
        return None
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(ChangeLogEntry)
        .where(ChangeLogEntry.county_code == user.county_code, scope_clause(ChangeLogEntry, user),
               ChangeLogEntry.at >= now_utc() - timedelta(days=days))) or 0


def problems(user) -> dict:
    """Problems (整改台账) by status, and how many open ones are past their deadline."""

    rows = dict(db.session.execute(
        sa.select(Problem.status, sa.func.count())
        .where(Problem.county_code == user.county_code, scope_clause(Problem, user))
        .group_by(Problem.status)).all())
    overdue = db.session.scalar(
        sa.select(sa.func.count()).select_from(Problem)
        .where(Problem.county_code == user.county_code, scope_clause(Problem, user),
               Problem.status.in_(("pending", "in_progress")), Problem.deadline < today_local())) or 0
    return {"by_status": rows, "overdue": overdue}


def flags(user) -> dict | None:
    """The flags area's summary (by rule, by place). Not part of ``build``:
    the home page fetches it separately (``/home/flags``), because it evaluates every rule in scope."""
    out = flag_summary(user)
    child = {"county": "town", "town": "village"}.get(user.scope_level)
    out["places"] = [p for p in out["by_place"] if p["level"] == child]
    out["place_key"] = f"{child}_code" if child else None
    return out


def scope_figures(user) -> dict:
    """The figures of the user's scope that depend only on the scope, its data and the day."""
    title, key, by_place = assets_by_place(user)
    return {
        "assets": asset_matrix(user),
        "rights_incomplete": rights_incomplete(user),
        "custody_missing": custody_missing(user),
        "by_place": {"title": title, "key": key, "rows": by_place},
        "households": households_by_status(user),
        "plans": plans_by_status(user),
        "income": income_by_year(user),
        "problems": problems(user),
    }


def build(user) -> dict:
    """The home's figures. The scope's are kept until the next write in the county (a county's ledger by
    year and its five-rights check are what take time; ``core.datacache.kept``); the count of recent
    changes moves with the clock and depends on the role, so it is read each time (one indexed count)."""
    figures = kept("home", user.county_code, (user.scope_code, today_local().isoformat()),
                   lambda: scope_figures(user))
    return {**figures, "recent_changes": recent_changes(user)}
