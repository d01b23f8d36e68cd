"""Create places, list them within scope, withdraw/merge a place into its successor."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ..changelog.services import record_change, snapshot
from ..core.access import Scope, require_write, scope_for
from ..core.errors import NotFound, RuleViolation
from ..core.validators import division_code_error
from ..extensions import db
from .models import Place, PlaceSuccession


def _visible(user):
    """Places a user may see: its own county's tree, cut to its town or village where scoped so."""
    scope = Scope.of(user)
    q = sa.select(Place).where(Place.county_code == scope.county_code)
    if scope.level == "town":
        q = q.where(sa.or_(Place.code == scope.code, Place.town_code == scope.code,
                           Place.code == scope.county_code))
    elif scope.level == "village":
        q = q.where(Place.code.in_([scope.code, scope.town_code, scope.county_code]))
    return q


def scoped_place(user, code: str | None = None, *, field: str = "scope") -> Place:
    """The place a request works in: the user's own scope or a place inside it that exists (``scope_for``
    refuses the rest: 422 malformed, 404 outside the user's scope or unknown)."""
    scope = scope_for(user, code, field=field)
    place = db.session.scalar(sa.select(Place).where(Place.code == scope.code,
                                                     Place.county_code == scope.county_code))
    if place is None:
        raise NotFound("未找到该区划或超出您的管辖范围", {field: ["不在您的管辖范围内或不存在"]})
    return place


def list_places(user, *, level=None, parent_code=None, include_withdrawn=False) -> list[Place]:
    q = _visible(user)
    if level:
        q = q.where(Place.level == level)
    if parent_code:
        q = q.where(Place.parent_code == parent_code)
    if not include_withdrawn:
        q = q.where(Place.valid_to.is_(None))
    return list(db.session.scalars(q.order_by(Place.code)))


def get_place(user, code: str) -> Place:
    place = db.session.scalar(_visible(user).where(Place.code == code))
    if place is None:
        raise NotFound("未找到该区划")
    return place


def create_place(user, *, code, name, level, parent_code=None, valid_from=None, phone=None) -> Place:
    parent = None
    if level == "county":
        if user is not None:  # counties are set up by the CLI/demo, not through the API
            raise RuleViolation("县级区划只能由系统初始化创建", {"level": ["不能通过接口创建县"]})
    else:
        parent = db.session.scalar(sa.select(Place).where(Place.code == (parent_code or "")))
        expected = {"town": "county", "village": "town"}[level]
        if parent is None or parent.level != expected:
            raise RuleViolation("上级区划无效", {"parent_code": [f"应为已存在的{expected}代码"]})
        if user is not None:
            require_write(user, "places", county_code=parent.county_code,
                          town_code=parent.code if parent.level == "town" else parent.town_code,
                          village_code=None)
    why = division_code_error(code, level, parent.code if parent else None)
    if why:
        raise RuleViolation("区划代码无效", {"code": [why]})
    if db.session.scalar(sa.select(Place.id).where(Place.code == code)):
        raise RuleViolation("区划代码已存在", {"code": ["已存在"]})
    place = Place(
        code=code, name=name, level=level, parent_code=parent.code if parent else None,
        county_code=code[:6], town_code=code[:9] if level == "village" else None,
        valid_from=valid_from, phone=phone,
    )
    db.session.add(place)
    db.session.flush()
    record_change(user, entity="place", entity_id=code, action="create", county_code=code[:6],
                  after=snapshot(place))
    return place


def withdraw_place(user, code: str, *, successor_code: str, effective_on: date, reason=None,
                   document=None) -> PlaceSuccession:
    """Withdraw (撤销) a village and move its assets and households to the successor, by a dated record."""
    from ..assets.models import Asset
    from ..households.models import Household

    old = get_place(user, code)
    require_write(user, "places", county_code=old.county_code, town_code=old.town_code, village_code=None)
    if old.level != "village":
        raise RuleViolation("目前只支持撤并村级区划", {"code": ["应为村级区划"]})
    if old.valid_to is not None:
        raise RuleViolation("该区划已撤销", {"code": ["已撤销"]})
    new = db.session.scalar(sa.select(Place).where(Place.code == successor_code))
    if new is None or new.level != "village" or new.county_code != old.county_code or new.valid_to:
        raise RuleViolation("承继区划无效", {"successor_code": ["应为本县有效的村级区划"]})
    if new.code == old.code:
        raise RuleViolation("承继区划无效", {"successor_code": ["不能是自身"]})
    moved_assets = db.session.execute(
        sa.update(Asset).where(Asset.county_code == old.county_code, Asset.village_code == old.code)
        .values(village_code=new.code, town_code=new.town_code, place_code=new.code)
        .execution_options(synchronize_session=False)
    ).rowcount
    moved_households = db.session.execute(
        sa.update(Household).where(Household.county_code == old.county_code, Household.village_code == old.code)
        .values(village_code=new.code, town_code=new.town_code)
        .execution_options(synchronize_session=False)
    ).rowcount
    _move_current_shares(old, new)
    before = snapshot(old)
    old.valid_to = effective_on
    old.successor_code = new.code
    rec = PlaceSuccession(county_code=old.county_code, old_code=old.code, new_code=new.code,
                          effective_on=effective_on, reason=reason, document=document,
                          moved_assets=moved_assets, moved_households=moved_households)
    db.session.add(rec)
    db.session.flush()
    record_change(user, entity="place", entity_id=old.code, action="withdraw", county_code=old.county_code,
                  before=before, after=snapshot(old))
    return rec


def _move_current_shares(old: Place, new: Place) -> None:
    """Income shares held by the withdrawn village pass to its successor: the current rows are closed
    (``replaced_at``) and re-issued for the successor, so the share history stays readable."""
    from ..core.time import now_utc
    from ..income.models import AssetShare

    rows = db.session.scalars(sa.select(AssetShare).where(
        AssetShare.county_code == old.county_code, AssetShare.village_code == old.code,
        AssetShare.replaced_at.is_(None))).all()
    now = now_utc()
    for row in rows:
        row.replaced_at = now
        db.session.add(AssetShare(county_code=row.county_code, asset_id=row.asset_id, village_code=new.code,
                                  weight=row.weight, basis=f"{row.basis or ''}（{old.name}撤并，由{new.name}承继）"[:200],
                                  from_year=row.from_year, to_year=row.to_year, recorded_by_id=row.recorded_by_id))
