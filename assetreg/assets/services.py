"""Register assets, keep their funding exact, move them through the status machine, value them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import joinedload

from ..changelog.services import record_change, snapshot
from ..core.access import require_write, scope_clause
from ..core.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation
from ..core.events import asset_registered, assets_loaded, household_moved, place_withdrawn
from ..core.time import today_local
from ..extensions import db
from ..households.models import Household
from ..places.models import Place
from . import rules
from .models import SUBTYPES, Asset, AssetFunding, AssetStatusChange, DepreciationPolicy

_SORT_COLUMNS = {
    "code": Asset.code, "name": Asset.name, "original_value": Asset.original_value,
    "completed_on": Asset.completed_on, "status": Asset.status, "updated_at": Asset.updated_at,
}


def visible_assets(user):
    return sa.select(Asset).where(Asset.county_code == user.county_code, scope_clause(Asset, user))


def _annotate(assets: list[Asset]) -> list[Asset]:
    """Derived facts other areas own (rights completeness, P03) are added by their ``assets_loaded``
    receivers; an asset nobody annotates reads as incomplete."""
    for a in assets:
        a.is_rights_complete = False
    assets_loaded.send(None, assets=assets)
    return assets


def _list_filters(user, *, town_code=None, village_code=None, category=None, status=None, subtype=None,
                  q=None) -> list:
    where = [Asset.county_code == user.county_code, scope_clause(Asset, user)]
    if town_code:
        where.append(Asset.town_code == town_code)
    if village_code:
        where.append(Asset.village_code == village_code)
    if category:
        where.append(Asset.category == category)
    if status:
        where.append(Asset.status == status)
    if subtype:
        where.append(Asset.subtype == subtype)
    if q:
        like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(sa.or_(Asset.code.like(like, escape="\\"), Asset.name.like(like, escape="\\")))
    return where


def list_assets(user, *, sort="code", page=1, per_page=50, **filters) -> dict:
    """One page of assets in scope, read-only rows (attribute access like an ``Asset``; not ORM objects,
    which a page only shows), in three statements whatever the page size: the page with its count (an
    uncorrelated subquery the database evaluates once, an index-only scan with migration 0008), its
    fundings, and rights completeness (``assets_loaded``). Only a page past the end counts apart."""
    where = _list_filters(user, **filters)
    column = _SORT_COLUMNS[sort.lstrip("-")]
    order = column.desc() if sort.startswith("-") else column.asc()
    count = sa.select(sa.func.count(Asset.id)).where(*where).scalar_subquery()
    rows = db.session.execute(sa.select(*Asset.__table__.c, count.label("total_in_scope")).where(*where)
                              .order_by(order, Asset.id).limit(per_page).offset((page - 1) * per_page)).all()
    total = rows[0].total_in_scope if rows else db.session.scalar(sa.select(count))
    items = []
    for row in rows:
        values = dict(row._mapping)
        del values["total_in_scope"]
        items.append(SimpleNamespace(**values, fundings=[]))
    by_id = {a.id: a for a in items}
    if by_id:
        for line in db.session.execute(sa.select(AssetFunding.asset_id, AssetFunding.source, AssetFunding.amount)
                                       .where(AssetFunding.county_code == user.county_code,
                                              AssetFunding.asset_id.in_(list(by_id)))
                                       .order_by(AssetFunding.id)):
            by_id[line.asset_id].fundings.append(SimpleNamespace(source=line.source, amount=line.amount))
    return {"items": _annotate(items), "page": page, "per_page": per_page, "total": total}


def get_asset(user, asset_id: int, *, for_update: bool = False) -> Asset:
    """An asset the user may see; another scope's asset is simply not found (404)."""
    asset = db.session.scalars(visible_assets(user).where(Asset.id == asset_id)
                               .options(joinedload(Asset.fundings))).unique().one_or_none()  # one round trip
    if asset is None:
        if for_update:
            _refuse_foreign_write(asset_id)
        raise NotFound("未找到该资产")
    return _annotate([asset])[0]


def _refuse_foreign_write(asset_id: int) -> None:
    """A write aimed at an existing asset outside the caller's scope is forbidden (403)."""

    if db.session.scalar(sa.select(Asset.id).where(Asset.id == asset_id)) is not None:
        raise Forbidden("超出您的管辖范围", code="out_of_scope")


def get_asset_for_write(user, asset_id: int) -> Asset:
    asset = get_asset(user, asset_id, for_update=True)
    require_write(user, "assets", county_code=asset.county_code, town_code=asset.town_code,
                  village_code=asset.village_code)
    return asset


def check_version(asset: Asset, version: int | None) -> None:
    """Optimistic locking: the client says which version it edited; a stale one loses with 409."""
    if version is not None and version != asset.version:
        raise Conflict("该资产已被他人修改，请刷新后重试",
                       {"version": [f"当前版本为 {asset.version}"]}, code="version_conflict")


def _resolve_place(user, place_code: str) -> Place:
    return _usable_place(user, db.session.scalar(sa.select(Place).where(Place.code == place_code)))


def _usable_place(user, place: Place | None) -> Place:
    if place is None or place.county_code != user.county_code:
        raise RuleViolation("所在区划无效", {"place_code": ["未找到该区划"]})
    if place.valid_to is not None:
        raise RuleViolation("所在区划已撤销", {"place_code": [f"已撤销，承继区划为 {place.successor_code}"]})
    return place


def _place_codes(place: Place) -> dict:
    return {
        "county_code": place.county_code,
        "town_code": place.code if place.level == "town" else place.town_code,
        "village_code": place.code if place.level == "village" else None,
    }


def _check_subtype(category: str, subtype: str) -> None:
    if subtype not in SUBTYPES[category]:
        raise RuleViolation("资产子类无效", {"subtype": [f"应为 {'、'.join(SUBTYPES[category])} 之一"]})


def _set_fundings(asset: Asset, original_value, fundings: list[dict]) -> None:
    sources = [f["source"] for f in fundings]
    if len(set(sources)) != len(sources):
        raise RuleViolation("资金来源重复", {"fundings": ["每种资金来源只能填写一次"]})
    why = rules.funding_error(original_value, [f["amount"] for f in fundings])
    if why:
        raise RuleViolation("资金来源与原值不符", {"fundings": [why], "original_value": [why]})
    asset.original_value = original_value
    # Update lines in place by source (a delete-then-insert of the same source would trip the unique key).
    existing = {f.source: f for f in asset.fundings}
    wanted = {f["source"]: f["amount"] for f in fundings}
    for source, line in existing.items():
        if source not in wanted:
            asset.fundings.remove(line)
    for source, amount in wanted.items():
        if source in existing:
            existing[source].amount = amount
        else:
            asset.fundings.append(AssetFunding(county_code=asset.county_code, source=source, amount=amount))


def _snapshot(asset: Asset) -> dict:
    data = snapshot(asset)
    data["fundings"] = {f.source: str(f.amount) for f in asset.fundings}
    return data


def create_asset(user, data: dict) -> Asset:
    place = _resolve_place(user, data["place_code"])

    def code_taken(county_code: str, code: str) -> bool:
        return db.session.scalar(sa.select(Asset.id).where(Asset.county_code == county_code,
                                                           Asset.code == code)) is not None

    asset, household = _new_asset(user, data, place, household_by_id=lambda i: db.session.get(Household, i or 0),
                                  code_taken=code_taken)
    db.session.add(asset)
    db.session.flush()
    _registered(user, asset, household)
    return asset


def create_assets(user, items: list[dict]) -> list[Asset]:
    """Register many assets at once (the import): the same checks as ``create_asset``, item by item, with
    the places, households and taken codes read in one query each, then the assets inserted together
    and their status rows and change-log entries written in one flush. A refused item raises its
    DomainError with ``exc.item`` set to its position; nothing is added to the session before every item
    has passed."""
    places = {p.code: p for code_chunk in _chunked({d["place_code"] for d in items})
              for p in db.session.scalars(sa.select(Place).where(Place.code.in_(code_chunk)))}
    households = {h.id: h for id_chunk in _chunked({d["household_id"] for d in items if d.get("household_id")})
                  for h in db.session.scalars(sa.select(Household).where(Household.id.in_(id_chunk)))}
    taken = {(user.county_code, c) for code_chunk in _chunked({d["code"] for d in items})
             for c in db.session.scalars(sa.select(Asset.code).where(Asset.county_code == user.county_code,
                                                                     Asset.code.in_(code_chunk)))}
    built = []
    for i, data in enumerate(items):
        try:
            place = _usable_place(user, places.get(data["place_code"]))
            asset, household = _new_asset(user, data, place, household_by_id=households.get,
                                          code_taken=lambda county_code, code: (county_code, code) in taken)
        except DomainError as exc:
            exc.item = i
            raise
        taken.add((asset.county_code, asset.code))
        built.append((asset, household))
    db.session.add_all(asset for asset, _ in built)
    db.session.flush()
    for asset, household in built:
        _registered(user, asset, household)
    db.session.flush()
    return [asset for asset, _ in built]


def _chunked(values, size: int = 500):
    values = sorted(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _new_asset(user, data: dict, place: Place, *, household_by_id, code_taken) -> tuple[Asset, Household | None]:
    """Every check of a new asset, in order; the asset (not yet in the session) and its household."""
    codes = _place_codes(place)
    require_write(user, "assets", **codes)
    category = data["category"]
    _check_subtype(category, data["subtype"])
    household = None
    if category == "household":
        # basis: P11 — household assets are held and run by the household itself.
        if data.get("managing_level") != "household":
            raise RuleViolation("到户类资产的管理层级应为“户”", {"managing_level": ["应为 household"]})
        household = household_by_id(data.get("household_id") or 0)
        if household is None or household.county_code != user.county_code or \
                (codes["village_code"] and household.village_code != codes["village_code"]):
            raise RuleViolation("到户类资产须指定本村的农户", {"household_id": ["未找到该村的农户"]})
        codes = {"county_code": household.county_code, "town_code": household.town_code,
                 "village_code": household.village_code}
    elif data.get("household_id"):
        raise RuleViolation("只有到户类资产可以指定农户", {"household_id": ["非到户类资产不填"]})
    status = data.get("status", "under_construction")
    if status in ("in_operation", "in_use") and status != rules.IN_SERVICE[category]:
        raise RuleViolation("状态与类别不符", {"status": [f"应为 {rules.IN_SERVICE[category]}"]})
    if code_taken(codes["county_code"], data["code"]):
        raise Conflict("资产编号已存在", {"code": ["本县已有相同编号的资产"]}, code="duplicate_code")
    status_on = data.get("status_on") or data.get("completed_on") or today_local()
    if status_on > today_local():
        raise RuleViolation("状态日期不能晚于今天", {"status_on": ["不能是将来的日期"]})
    asset = Asset(
        **codes,
        place_code=place.code,
        code=data["code"], name=data["name"], category=category, subtype=data["subtype"],
        managing_level=data["managing_level"], household_id=household.id if household else None,
        project_name=data.get("project_name"), project_year=data.get("project_year"),
        project_approval_no=data.get("project_approval_no"), completed_on=data.get("completed_on"),
        quantity=data.get("quantity"), unit=data.get("unit"),
        useful_life_years=data.get("useful_life_years"), status=status, status_on=status_on,
        note=data.get("note"),
    )
    _set_fundings(asset, data["original_value"], data["fundings"])
    return asset, household


def _registered(user, asset: Asset, household: Household | None) -> None:
    """What follows the insert of a new asset: its first status row, the change log, the rights signal."""
    db.session.add(AssetStatusChange(county_code=asset.county_code, asset_id=asset.id, from_status=None,
                                     to_status=asset.status, changed_on=asset.status_on, reason="登记",
                                     actor_id=getattr(user, "id", None)))
    record_change(user, entity="asset", entity_id=asset.id, action="create", county_code=asset.county_code,
                  town_code=asset.town_code, village_code=asset.village_code, after=_snapshot(asset))
    asset.is_rights_complete = False
    asset_registered.send(None, user=user, asset=asset, household=household, effective_on=asset.status_on)


def update_asset(user, asset_id: int, data: dict, *, if_match: int | None = None) -> Asset:
    asset = get_asset_for_write(user, asset_id)
    version = data.pop("version", None) or if_match
    check_version(asset, version)
    before = _snapshot(asset)
    if "place_code" in data:
        place = _resolve_place(user, data.pop("place_code"))
        codes = _place_codes(place)
        if asset.category == "household":
            raise RuleViolation("到户类资产随农户所在村", {"place_code": ["不可修改"]})
        require_write(user, "assets", **codes)
        asset.place_code = place.code
        for k, v in codes.items():
            setattr(asset, k, v)
    if "subtype" in data:
        _check_subtype(asset.category, data["subtype"])
    fundings = data.pop("fundings", None)
    original_value = data.pop("original_value", None)
    if fundings is not None or original_value is not None:
        _set_fundings(asset, original_value if original_value is not None else asset.original_value,
                      fundings if fundings is not None
                      else [{"source": f.source, "amount": f.amount} for f in asset.fundings])
    for key, value in data.items():
        setattr(asset, key, value)
    db.session.flush()
    record_change(user, entity="asset", entity_id=asset.id, action="update", county_code=asset.county_code,
                  town_code=asset.town_code, village_code=asset.village_code,
                  before=before, after=_snapshot(asset))
    return _annotate([asset])[0]


def change_status(user, asset_id: int, *, to_status: str, changed_on: date, reason=None, document=None,
                  version: int | None = None) -> AssetStatusChange:
    """Move an asset along the status machine: only legal, dated, logged transitions."""
    asset = get_asset_for_write(user, asset_id)
    check_version(asset, version)
    why = rules.transition_error(asset.category, asset.status, to_status)
    if why:
        raise RuleViolation("状态变更不合法", {"to_status": [why]}, code="illegal_transition")
    if changed_on > today_local():
        raise RuleViolation("变更日期不能晚于今天", {"changed_on": ["不能是将来的日期"]})
    if asset.status_on and changed_on < asset.status_on:
        raise RuleViolation("变更日期早于上一次状态变更", {"changed_on": [f"不能早于 {asset.status_on}"]})
    before = {"status": asset.status, "status_on": str(asset.status_on) if asset.status_on else None}
    change = AssetStatusChange(county_code=asset.county_code, asset_id=asset.id, from_status=asset.status,
                               to_status=to_status, changed_on=changed_on, reason=reason, document=document,
                               actor_id=getattr(user, "id", None))
    asset.status = to_status
    asset.status_on = changed_on
    if to_status == "completed" and asset.completed_on is None:
        asset.completed_on = changed_on
    db.session.add(change)
    db.session.flush()
    record_change(user, entity="asset", entity_id=asset.id, action="status", county_code=asset.county_code,
                  town_code=asset.town_code, village_code=asset.village_code, before=before,
                  after={"status": to_status, "status_on": str(changed_on), "reason": reason})
    return change


def list_status_changes(user, asset_id: int) -> list[AssetStatusChange]:
    asset = get_asset(user, asset_id)
    return list(db.session.scalars(sa.select(AssetStatusChange).where(AssetStatusChange.asset_id == asset.id)
                                   .order_by(AssetStatusChange.id)))


# --- depreciation (basis: P19) ---------------------------------------------------------------

def policy_for(county_code: str, subtype: str) -> DepreciationPolicy | None:
    return db.session.scalar(sa.select(DepreciationPolicy).where(
        DepreciationPolicy.county_code == county_code, DepreciationPolicy.subtype == subtype))


def book_value(user, asset_id: int, as_of: date) -> rules.Depreciation:

    asset = get_asset(user, asset_id)
    policy = policy_for(asset.county_code, asset.subtype)
    life = asset.useful_life_years or (policy.useful_life_years if policy else None)
    rate = policy.residual_rate if policy else Decimal("0")
    return rules.depreciate(asset.original_value, in_service_on=asset.completed_on, useful_life_years=life,
                            residual_rate=rate, as_of=as_of)


class _YearMonth(sa.sql.functions.FunctionElement):
    """year × 12 + month of a date, as an integer."""

    type = sa.Integer()
    inherit_cache = True


@compiles(_YearMonth)
def _year_month(element, compiler, **kw):
    (day,) = element.clauses
    return "({})".format(compiler.process(sa.cast(sa.extract("year", day), sa.Integer) * 12
                                          + sa.cast(sa.extract("month", day), sa.Integer), **kw))


@compiles(_YearMonth, "postgresql")
def _year_month_pg(element, compiler, **kw):
    # date_part (double precision) rather than EXTRACT (numeric since PostgreSQL 14): a third of the cost
    (day,) = element.clauses
    return "(CAST(date_part('year', {0}) AS INTEGER) * 12 + CAST(date_part('month', {0}) AS INTEGER))".format(
        compiler.process(day, **kw))


def book_value_fen_sql(original_fen, in_service_on, useful_life_years, residual_rate_e4, as_of: date):
    """The SQL twin of ``rules.depreciate(...).book_value`` in integer fen, for totals over many assets in
    one statement (the same on PostgreSQL and SQLite): ``original_fen`` the stored fen, ``residual_rate_e4``
    the rate in ten-thousandths (as ``ScaledDecimal(4)`` stores it), ``useful_life_years`` already the
    asset's own or its subtype's. Every step is integer arithmetic on non-negative values, so the
    half-up roundings are ``(2x + d) // (2d)``; tests/test_assets.py checks it against the rule."""
    residual = (original_fen * residual_rate_e4 + 5000) // 10000
    total = useful_life_years * 12
    months = as_of.year * 12 + as_of.month - _YearMonth(in_service_on)
    elapsed = sa.case((months < 0, 0), (months > total, total), else_=months)
    accumulated = (2 * (original_fen - residual) * elapsed + total) // (2 * total)
    return sa.case((sa.or_(in_service_on.is_(None), useful_life_years.is_(None)), original_fen),
                   else_=original_fen - accumulated)


def asset_book_value_fen(as_of: date):
    """An asset's book value in fen on ``as_of`` (``book_value_fen_sql`` with its policy), for a select
    from ``Asset`` that outer-joins ``DepreciationPolicy`` on ``policy_join()``."""
    fen = sa.type_coerce(Asset.original_value, sa.BigInteger)
    life = sa.func.coalesce(sa.func.nullif(Asset.useful_life_years, 0), DepreciationPolicy.useful_life_years)
    rate = sa.func.coalesce(sa.type_coerce(DepreciationPolicy.residual_rate, sa.BigInteger), 0)
    return book_value_fen_sql(fen, Asset.completed_on, life, rate, as_of)


def policy_join():
    return sa.and_(DepreciationPolicy.county_code == Asset.county_code, DepreciationPolicy.subtype == Asset.subtype)


def list_policies(user) -> list[DepreciationPolicy]:
    return list(db.session.scalars(sa.select(DepreciationPolicy)
                                   .where(DepreciationPolicy.county_code == user.county_code)
                                   .order_by(DepreciationPolicy.subtype)))


def set_policy(user, *, subtype: str, useful_life_years: int, residual_rate) -> DepreciationPolicy:
    require_write(user, "settings", county_code=user.county_code, town_code=None, village_code=None)
    if not any(subtype in s for s in SUBTYPES.values()):
        raise RuleViolation("资产子类无效", {"subtype": ["未知子类"]})
    policy = policy_for(user.county_code, subtype)
    before = snapshot(policy) if policy else None
    if policy is None:
        policy = DepreciationPolicy(county_code=user.county_code, subtype=subtype,
                                    useful_life_years=useful_life_years, residual_rate=residual_rate)
        db.session.add(policy)
    else:
        policy.useful_life_years = useful_life_years
        policy.residual_rate = residual_rate
    db.session.flush()
    record_change(user, entity="depreciation_policy", entity_id=subtype, action="set",
                  county_code=user.county_code, before=before, after=snapshot(policy))
    return policy


@household_moved.connect
def _household_assets_follow(_sender, *, user, household, village, **_kw) -> None:
    """A household's own assets (到户类) follow it to its new village (basis: P11)."""
    assets = db.session.scalars(sa.select(Asset).where(Asset.county_code == household.county_code,
                                                       Asset.household_id == household.id)).all()
    for asset in assets:
        before = {"village_code": asset.village_code, "town_code": asset.town_code, "place_code": asset.place_code}
        asset.village_code, asset.town_code, asset.place_code = village.code, village.town_code, village.code
        record_change(user, entity="asset", entity_id=asset.id, action="move_with_household",
                      county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                      before=before, after={"village_code": village.code, "town_code": village.town_code,
                                            "place_code": village.code, "household_id": household.id})


@place_withdrawn.connect
def _assets_follow_withdrawn_village(_sender, *, user, old, new, **_kw) -> dict[str, int]:
    """A withdrawn village's assets pass to its successor, each with its change log."""
    assets = db.session.scalars(sa.select(Asset).where(Asset.county_code == old.county_code,
                                                       Asset.village_code == old.code)).all()
    for asset in assets:
        before = {"village_code": asset.village_code, "town_code": asset.town_code, "place_code": asset.place_code}
        asset.village_code, asset.town_code = new.code, new.town_code
        if asset.place_code == old.code:
            asset.place_code = new.code
        record_change(user, entity="asset", entity_id=asset.id, action="move_with_place",
                      county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                      before=before, after={"village_code": new.code, "town_code": new.town_code,
                                            "place_code": asset.place_code})
    return {"assets": len(assets)}
