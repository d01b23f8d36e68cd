"""Create places, list them within scope, withdraw/merge a place into its successor."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ..changelog.services import record_change, snapshot
from ..core.access import Scope, county_of, require_write, scope_for, town_of
from ..core.errors import NotFound, RuleViolation
from ..core.events import collect, place_withdrawn
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
        county_code=county_of(code), town_code=town_of(code) if level == "village" else None,
        valid_from=valid_from, phone=phone,
    )
    db.session.add(place)
    db.session.flush()
    record_change(user, entity="place", entity_id=code, action="create", county_code=county_of(code),
                  after=snapshot(place))
    return place


def withdraw_place(user, code: str, *, successor_code: str, effective_on: date, reason=None,
                   document=None) -> PlaceSuccession:
    """Withdraw (撤销) a village into its successor, by a dated record. The areas that hold the village's
    rows (assets, households, income shares) move their own, each with its change log (``place_withdrawn``)."""
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
    moved = collect(place_withdrawn, user=user, old=old, new=new, effective_on=effective_on)
    before = snapshot(old)
    old.valid_to = effective_on
    old.successor_code = new.code
    rec = PlaceSuccession(county_code=old.county_code, old_code=old.code, new_code=new.code,
                          effective_on=effective_on, reason=reason, document=document,
                          moved_assets=moved.get("assets", 0), moved_households=moved.get("households", 0))
    db.session.add(rec)
    db.session.flush()
    record_change(user, entity="place", entity_id=old.code, action="withdraw", county_code=old.county_code,
                  before=before, after=snapshot(old))
    return rec


def place_names_of(county_code: str) -> dict[str, str]:
    """Code → name of every place of a county (one query)."""
    return dict(db.session.execute(sa.select(Place.code, Place.name).where(Place.county_code == county_code)).all())


def place_options(user) -> list[tuple[str, list[tuple[str, str]]]]:
    """Live places the user may register an asset at, grouped by town: [(group, [(code, name)])]."""
    places = list_places(user)
    towns = {p.code: p for p in places if p.level == "town"}
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    county = [(p.code, f"{p.name}（县级）") for p in places if p.level == "county" and Scope.of(user).level == "county"]
    if county:
        groups.append(("县级", county))
    for code, town in towns.items():
        opts = [(code, f"{town.name}（乡镇级）")] if Scope.of(user).level in ("county", "town") else []
        opts += [(p.code, p.name) for p in places if p.level == "village" and p.town_code == code]
        if opts:
            groups.append((town.name, opts))
    return groups
