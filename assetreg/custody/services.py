"""Custody (管护) and operation (经营) of an asset: a new record replaces the current one, history stays."""

from __future__ import annotations

import sqlalchemy as sa

from ..assets.services import get_asset, get_asset_for_write
from ..changelog.services import record_change, snapshot
from ..core.errors import RuleViolation
from ..core.time import now_utc, today_local
from ..core.validators import mask_mobile
from ..extensions import db
from . import rules
from .models import AssetCustody, AssetOperation

_ENTITIES = {AssetCustody: "asset_custody", AssetOperation: "asset_operation"}


def _clean(data: dict) -> dict:
    """Trim text; blank text counts as not given."""
    out = {}
    for key, value in data.items():
        if isinstance(value, str):
            value = value.strip() or None
        out[key] = value
    return out


def _require(data: dict, *names: str) -> None:
    missing = {n: ["不能为空"] for n in names if not data.get(n)}
    if missing:
        raise RuleViolation("必填项为空", missing)


def _history(model, asset_id: int) -> list:
    return list(db.session.scalars(sa.select(model).where(model.asset_id == asset_id).order_by(model.id)))


def _show_phones(user, rows) -> None:
    # Phones are personal data: only auditors see them whole.
    reveal = getattr(user, "role", None) == "auditor"
    for row in rows:
        phone = getattr(row, "phone", None)
        row.shown_phone = phone if reveal else mask_mobile(phone)


def _view(user, model, asset_id: int) -> dict:
    rows = _history(model, asset_id)
    if model is AssetCustody:
        _show_phones(user, rows)
    current = next((r for r in rows if r.replaced_at is None), None)
    return {"current": current, "history": rows}


def _replace(user, asset, model, values: dict):
    """Add a record; the current one is stamped ``replaced_at`` (kept, not overwritten); log both."""
    old = db.session.scalar(sa.select(model).where(model.asset_id == asset.id, model.replaced_at.is_(None)))
    where = dict(county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code)
    entity = _ENTITIES[model]
    if old is not None:
        before = snapshot(old)
        old.replaced_at = now_utc()
        db.session.flush()  # only one current record per asset: the old one leaves first
        record_change(user, entity=entity, entity_id=old.id, action="replace", before=before,
                      after=snapshot(old), **where)
    row = model(county_code=asset.county_code, asset_id=asset.id, recorded_by_id=getattr(user, "id", None),
                **values)
    db.session.add(row)
    db.session.flush()
    record_change(user, entity=entity, entity_id=row.id, action="create", after=snapshot(row), **where)
    return row


# --- custody (basis: P12, P13, P28, P33) -----------------------------------------------------------

def custody_view(user, asset_id: int) -> dict:

    return _view(user, AssetCustody, get_asset(user, asset_id).id)


def record_custody(user, asset_id: int, data: dict) -> AssetCustody:

    asset = get_asset_for_write(user, asset_id)
    data = _clean(data)
    _require(data, "custodian_unit", "responsible_person")
    errors = rules.custody_errors(data)
    if errors:
        raise RuleViolation("管护信息有误", errors)
    row = _replace(user, asset, AssetCustody, data)
    _show_phones(user, [row])
    return row


# --- operation (basis: P07, P32, P35) --------------------------------------------------------------

def operation_view(user, asset_id: int) -> dict:

    return _view(user, AssetOperation, get_asset(user, asset_id).id)


def record_operation(user, asset_id: int, data: dict) -> AssetOperation:

    asset = get_asset_for_write(user, asset_id)
    data = _clean(data)
    if data.get("operator_credit_code"):
        data["operator_credit_code"] = data["operator_credit_code"].upper()
    _require(data, "operator_name")
    errors = rules.operation_errors(data, category=asset.category, today=today_local())
    if errors:
        raise RuleViolation("经营信息有误", errors)
    return _replace(user, asset, AssetOperation, data)
