"""Record holders of the five rights, keep their history, tell completeness."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ..assets.services import get_asset, get_asset_for_write
from ..changelog.services import record_change, snapshot
from ..core.access import in_scope
from ..core.errors import RuleViolation
from ..core.events import asset_registered, assets_loaded
from ..core.time import today_local
from ..extensions import db
from ..households.models import Household
from . import rules
from .models import FIVE_RIGHTS, RIGHT_KINDS, AssetRight


def _kind_order(right: AssetRight) -> int:
    return list(RIGHT_KINDS).index(right.kind)


def _current_rights(asset_id: int) -> dict[str, AssetRight]:
    rows = db.session.scalars(sa.select(AssetRight).where(AssetRight.asset_id == asset_id,
                                                          AssetRight.ended_on.is_(None)))
    return {r.kind: r for r in rows}


def rights_summary(user, asset_id: int, *, history: bool = False) -> dict:
    """Current holders, what is missing, advisory notes and (on request) the full history."""

    asset = get_asset(user, asset_id)
    rows = list(db.session.scalars(sa.select(AssetRight).where(AssetRight.asset_id == asset.id)))
    rows.sort(key=lambda r: (_kind_order(r), r.effective_on, r.id))
    current = [r for r in rows if r.ended_on is None]
    kinds = [r.kind for r in current]
    out = {
        "asset_id": asset.id,
        "is_complete": rules.is_complete(kinds),
        "missing": rules.missing_rights(kinds),
        "current": current,
        "notes": rules.rights_notes(category=asset.category, household_id=asset.household_id, current=current),
    }
    if history:
        out["history"] = rows
    return out


def _check(user, asset, data: dict, current: AssetRight | None, today: date) -> tuple[dict, dict]:
    """Validate one record against the rules; return the column values and the field errors."""

    errors: dict[str, list[str]] = {}
    holder_kind = data["holder_kind"]
    credit_code = (data.get("credit_code") or "").strip().upper() or None
    why = rules.credit_code_error(holder_kind, credit_code)
    if why:
        errors["credit_code"] = [why]
    holder_name = (data.get("holder_name") or "").strip() or None
    household_id = data.get("household_id")
    if holder_kind == "household":
        household = db.session.get(Household, household_id) if household_id else None
        # a household of the county and of the caller's own scope: naming another town's household must
        # not read its head's name back (the same answer as for an id that does not exist)
        if household is None or household.county_code != asset.county_code or (
                user is not None and not in_scope(user, household.county_code, household.town_code,
                                                  household.village_code)):
            errors["household_id"] = ["须指定本县的农户" if household_id else "农户持有时须指定农户"]
        elif holder_name is None:
            holder_name = household.head_name
    elif household_id is not None:
        errors["household_id"] = ["只有持有人类型为农户时填写"]
    if holder_name is None and "household_id" not in errors:
        errors["holder_name"] = ["须填写持有人名称"]
    why = rules.effective_on_error(data["effective_on"], today=today,
                                   current_effective_on=current.effective_on if current else None)
    if why:
        errors["effective_on"] = [why]
    values = dict(kind=data["kind"], holder_kind=holder_kind, holder_name=holder_name, credit_code=credit_code,
                  household_id=household_id if holder_kind == "household" else None,
                  basis_document=(data.get("basis_document") or "").strip() or None,
                  effective_on=data["effective_on"])
    return values, errors


def _write(user, asset, records: list[dict], current: dict[str, AssetRight]) -> list[AssetRight]:
    """Close the current holder of each kind, add the new ones, link old to new; log every row."""
    closing = [(current[v["kind"]], snapshot(current[v["kind"]])) for v in records if v["kind"] in current]
    by_kind = {v["kind"]: v for v in records}
    for old, _ in closing:
        old.ended_on = by_kind[old.kind]["effective_on"]
    # The old rows must leave "current" before the new ones arrive (one current row per kind).
    db.session.flush()
    new_rows = [AssetRight(county_code=asset.county_code, asset_id=asset.id,
                           recorded_by_id=getattr(user, "id", None), **v) for v in records]
    db.session.add_all(new_rows)
    db.session.flush()
    new_by_kind = {r.kind: r for r in new_rows}
    for old, _ in closing:
        old.superseded_by_id = new_by_kind[old.kind].id
    db.session.flush()
    where = dict(county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code)
    for old, before in closing:
        record_change(user, entity="asset_right", entity_id=old.id, action="supersede",
                      before=before, after=snapshot(old), **where)
    for row in new_rows:
        record_change(user, entity="asset_right", entity_id=row.id, action="create", after=snapshot(row), **where)
    return new_rows


def record_right(user, asset_id: int, data: dict) -> AssetRight:
    """Record a new holder of one right; the current holder's record is closed, never overwritten."""

    asset = get_asset_for_write(user, asset_id)
    current = _current_rights(asset.id)
    values, errors = _check(user, asset, data, current.get(data["kind"]), today_local())
    if errors:
        raise RuleViolation("权利登记有误", errors)
    return _write(user, asset, [values], current)[0]


def record_rights(user, asset_id: int, items: list[dict]) -> list[AssetRight]:
    """Confirm several rights in one go (typically all five): every record passes or none is written."""

    asset = get_asset_for_write(user, asset_id)
    kinds = [d["kind"] for d in items]
    duplicates = sorted({k for k in kinds if kinds.count(k) > 1}, key=list(RIGHT_KINDS).index)
    if duplicates:
        raise RuleViolation("同一权利重复", {"rights": [
            "每项权利在一次确认中只能出现一次：" + "、".join(RIGHT_KINDS[k] for k in duplicates)]})
    current = _current_rights(asset.id)
    today = today_local()
    records, errors = [], {}
    for i, data in enumerate(items):
        values, errs = _check(user, asset, data, current.get(data["kind"]), today)
        records.append(values)
        if errs:
            errors[str(i)] = errs
    if errors:
        raise RuleViolation("权利登记有误，全部未保存", {"rights": errors})
    return _write(user, asset, records, current)


def assign_household_rights(user, asset, household, *, effective_on: date) -> list[AssetRight]:
    """Household assets: all five rights to the household (basis: P11, seed 000)."""
    rows = []
    for kind in FIVE_RIGHTS:
        right = AssetRight(county_code=asset.county_code, asset_id=asset.id, kind=kind, holder_kind="household",
                           holder_name=household.head_name, household_id=household.id,
                           basis_document="到户类资产确权到户", effective_on=effective_on,
                           recorded_by_id=getattr(user, "id", None))
        db.session.add(right)
        rows.append(right)
    db.session.flush()
    for right in rows:
        record_change(user, entity="asset_right", entity_id=right.id, action="create",
                      county_code=asset.county_code, town_code=asset.town_code,
                      village_code=asset.village_code, after=snapshot(right))
    return rows


def rights_complete_for(asset_ids: list[int]) -> set[int]:
    """Ids among ``asset_ids`` holding all five current rights (derived, never stored; basis: P03)."""
    if not asset_ids:
        return set()
    rows = db.session.execute(
        sa.select(AssetRight.asset_id)
        .where(AssetRight.asset_id.in_(asset_ids), AssetRight.ended_on.is_(None),
               AssetRight.kind.in_(list(FIVE_RIGHTS)))
        .group_by(AssetRight.asset_id)
        .having(sa.func.count(sa.distinct(AssetRight.kind)) == len(FIVE_RIGHTS))
    )
    return {r[0] for r in rows}


@assets_loaded.connect
def _annotate_rights_complete(_sender, *, assets, **_kw) -> None:
    complete = rights_complete_for([a.id for a in assets])
    for a in assets:
        a.is_rights_complete = a.id in complete


@asset_registered.connect
def _household_asset_rights(_sender, *, user, asset, household, effective_on, **_kw) -> None:
    """A household asset (到户类) is held and run by its household from the day it is registered (P11)."""
    if household is not None:
        assign_household_rights(user, asset, household, effective_on=effective_on)
        asset.is_rights_complete = True
