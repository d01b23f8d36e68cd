"""Write and read the change log. Services call ``record_change`` for every write they make."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from ..core.access import scope_clause, sees_everything
from ..core.errors import Forbidden
from ..core.time import now_utc
from ..core.validators import mask_card_number, mask_id_number, mask_mobile
from ..extensions import db
from .models import ChangeLogEntry


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _personal_masks():

    return {"phone": mask_mobile, "id_number": mask_id_number, "head_id_number": mask_id_number,
            "bank_card": mask_card_number}


def snapshot(obj, exclude: tuple[str, ...] = ()) -> dict:
    """The column values of a mapped object as JSON-safe plain values.

    Personal numbers (ID, bank card, phone) go in masked: county admins read the log too, and the log
    must not become a copy of the personal data (basis: P17)."""
    mapper = sa.inspect(obj).mapper
    masks = _personal_masks()
    out = {}
    for attr in mapper.column_attrs:
        if attr.key in exclude:
            continue
        value = getattr(obj, attr.key)
        out[attr.key] = masks[attr.key](value) if attr.key in masks and isinstance(value, str) else _plain(value)
    return out


def diff(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Keep only the keys that changed (plus nothing else), so the log reads as a field diff."""
    if before is None or after is None:
        return before, after
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def record_change(actor, *, entity: str, entity_id, action: str, county_code: str,
                  before: dict | None = None, after: dict | None = None,
                  town_code: str | None = None, village_code: str | None = None) -> ChangeLogEntry:
    before, after = diff(before, after)
    entry = ChangeLogEntry(
        county_code=county_code,
        town_code=town_code,
        village_code=village_code,
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None) or "system",
        at=now_utc(),
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        before=before,
        after=after,
    )
    db.session.add(entry)
    return entry


def list_changes(user, *, entity=None, entity_id=None, since=None, until=None, page=1, per_page=50):
    """The log within the reader's scope, newest first. Only auditors and county admins read it."""

    if not sees_everything(user):
        raise Forbidden("只有审计/纪检和县级管理员可以查看操作日志")
    q = sa.select(ChangeLogEntry).where(
        ChangeLogEntry.county_code == user.county_code, scope_clause(ChangeLogEntry, user)
    )
    if entity:
        q = q.where(ChangeLogEntry.entity == entity)
    if entity_id:
        q = q.where(ChangeLogEntry.entity_id == entity_id)
    if since:
        q = q.where(ChangeLogEntry.at >= since)
    if until:
        q = q.where(ChangeLogEntry.at < until)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    items = db.session.scalars(
        q.order_by(ChangeLogEntry.at.desc(), ChangeLogEntry.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return {"items": items, "page": page, "per_page": per_page, "total": total}
