"""Post ledger entries and reversals, keep village shares and fixed-return contracts, total the
ledger per asset, village, town and county, and settle a year (年度清算). Services never commit.

``income_by_year`` is the one income by year of the ledger (every page, settlement and export reads
it, built on ``IncomeEntry.signed_amount``); ``village_year_income`` and ``town_year_income`` are its
one-year views with lines. The distribution plans build on ``settled_village`` / ``settled_village_net``
and ``settlement_for``. These take a county code, not a user: the caller has already checked the
user's scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..assets.models import Asset
from ..assets.services import get_asset
from ..changelog.services import record_change, snapshot
from ..core.access import in_scope, level_of, require_write, scope_clause, town_of
from ..core.errors import Conflict, NotFound, RuleViolation
from ..core.events import place_withdrawn
from ..core.money import ZERO
from ..core.time import now_utc, today_local
from ..extensions import db
from ..places.models import Place
from . import rules
from .models import (
    DISPOSAL,
    INCOME_KINDS,
    KINDS,
    AssetShare,
    ContractReturn,
    IncomeEntry,
    Settlement,
    SettlementAdjustment,
    SettlementPart,
    ledger_sums,
)


def _asset_for_write(user, asset_id: int) -> Asset:
    asset = get_asset(user, asset_id, for_update=True)
    require_write(user, "income", county_code=asset.county_code, town_code=asset.town_code,
                  village_code=asset.village_code)
    return asset


# --- ledger entries --------------------------------------------------------------------------

def list_entries(user, asset_id: int, *, year=None, direction=None, kind=None, page=1, per_page=50) -> dict:
    """One page of an asset's ledger, newest period first; each entry says whether it was reversed."""
    asset = get_asset(user, asset_id)
    q = sa.select(IncomeEntry).where(IncomeEntry.county_code == asset.county_code,
                                     IncomeEntry.asset_id == asset.id)
    if year:
        q = q.where(IncomeEntry.period_year == year)
    if direction:
        q = q.where(IncomeEntry.direction == direction)
    if kind:
        q = q.where(IncomeEntry.kind == kind)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    items = list(db.session.scalars(
        q.order_by(IncomeEntry.period_year.desc(), IncomeEntry.period_month, IncomeEntry.period_quarter,
                   IncomeEntry.id).limit(per_page).offset((page - 1) * per_page)))
    _annotate_reversed(items)
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def _annotate_reversed(entries: list[IncomeEntry]) -> None:
    ids = [e.id for e in entries]
    by = dict(db.session.execute(
        sa.select(IncomeEntry.reverses_id, IncomeEntry.id).where(
            IncomeEntry.county_code.in_(sorted({e.county_code for e in entries})),
            IncomeEntry.reverses_id.in_(ids))).all()) if ids else {}
    for e in entries:
        e.reversed_by_id = by.get(e.id)


def post_entry(user, asset_id: int, data: dict) -> IncomeEntry:
    """Post an income or deduction entry. Refused in a settled year unless it is a dated adjustment."""
    asset = _asset_for_write(user, asset_id)
    if asset.category == "household":
        # basis: P11 — a household asset's income is the household's, not the village collective's.
        raise RuleViolation("到户类资产的收益归农户所有，不记入村集体收益台账", {"asset_id": ["到户类资产"]})
    direction, kind = data["direction"], data["kind"]
    if kind not in KINDS[direction]:
        raise RuleViolation("收支类别与方向不符", {"kind": [f"应为 {'、'.join(KINDS[direction])} 之一"]})
    why = rules.period_error(data.get("period_month"), data.get("period_quarter"))
    if why:
        raise RuleViolation("所属期间有误", why)
    if data["amount"] <= 0:
        raise RuleViolation("金额应大于零", {"amount": ["应大于零；收支方向由类别决定"]})
    today = today_local()
    if data["received_on"] > today:
        raise RuleViolation("收付日期不能晚于今天", {"received_on": ["不能是将来的日期"]})
    _check_adjustment_fields(data, today)
    entry = IncomeEntry(
        county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
        asset_id=asset.id, direction=direction, kind=kind, period_year=data["period_year"],
        period_month=data.get("period_month"), period_quarter=data.get("period_quarter"),
        received_on=data["received_on"], amount=data["amount"], payer=data.get("payer"),
        voucher_no=data.get("voucher_no"), note=data.get("note"),
        is_adjustment=bool(data.get("is_adjustment")), adjustment_on=data.get("adjustment_on"),
        recorded_by_id=getattr(user, "id", None), recorded_at=now_utc(),
    )
    db.session.add(entry)
    # Insert first, then look for a settlement: on PostgreSQL the settlement takes a SHARE lock on the
    # ledger, so either it waits for this insert or this check sees its commit (no lost entry).
    db.session.flush()
    _check_year_lock(asset, entry)
    record_change(user, entity="income_entry", entity_id=entry.id, action="create",
                  county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                  after=snapshot(entry))
    entry.reversed_by_id = None
    return entry


def _check_adjustment_fields(data: dict, today: date) -> None:
    if data.get("is_adjustment") and not data.get("adjustment_on"):
        raise RuleViolation("调整记录须注明调整日期", {"adjustment_on": ["调整记录必填"]})
    if not data.get("is_adjustment") and data.get("adjustment_on"):
        raise RuleViolation("只有调整记录才填调整日期", {"adjustment_on": ["非调整记录不填"]})
    if data.get("adjustment_on") and data["adjustment_on"] > today:
        raise RuleViolation("调整日期不能晚于今天", {"adjustment_on": ["不能是将来的日期"]})


def _check_year_lock(asset: Asset, entry: IncomeEntry) -> None:
    """A settled year takes no new entries except dated adjustments (basis: P34)."""
    settled = settlements_touching(asset, entry.period_year)
    if settled and not entry.is_adjustment:
        names = "、".join(s.place_code for s in settled)
        raise Conflict(f"{entry.period_year}年度已清算（{names}），只能以调整记录登记",
                       {"period_year": ["该年度已清算；如需更正请登记为调整（is_adjustment）并注明调整日期"]},
                       code="year_settled")
    if entry.is_adjustment and not settled:
        raise RuleViolation("该年度尚未清算，直接登记即可，不作调整", {"is_adjustment": ["仅已清算年度可登记调整"]})
    if entry.is_adjustment:
        first = min(s.settled_on for s in settled)
        if entry.adjustment_on < first:
            raise RuleViolation("调整日期早于清算日期", {"adjustment_on": [f"不能早于清算日期 {first}"]})


def settlements_touching(asset: Asset, year: int) -> list[Settlement]:
    """Settlements of ``year`` whose figures an entry on ``asset`` would change: the asset's own village
    and town, and every village sharing it that year (and their towns)."""
    shares = _shares_for(asset.county_code, [asset.id], year).get(asset.id, [])
    places = {c for c in (asset.village_code, asset.town_code) if c}
    for s in shares:
        places.update((s.village_code, town_of(s.village_code)))
    return list(db.session.scalars(sa.select(Settlement).where(
        Settlement.county_code == asset.county_code, Settlement.year == year,
        Settlement.place_code.in_(sorted(places))).order_by(Settlement.id)))


def reverse_entry(user, entry_id: int, data: dict) -> IncomeEntry:
    """A correction: a new entry pointing at the original with a reason; it nets the original out.

    An entry is reversed at most once, and a reversal is never itself reversed (post a new entry)."""
    entry = db.session.scalar(sa.select(IncomeEntry).where(IncomeEntry.id == entry_id,
                                                           IncomeEntry.county_code == user.county_code))
    if entry is None:
        raise NotFound("未找到该收支记录")
    asset = _asset_for_write(user, entry.asset_id)
    if entry.reverses_id is not None:
        raise RuleViolation("冲销记录不能再冲销；如需更正请重新登记", {"entry_id": ["该记录本身是冲销记录"]},
                            code="reversal_of_reversal")
    if db.session.scalar(sa.select(IncomeEntry.id).where(IncomeEntry.county_code == entry.county_code,
                                                         IncomeEntry.reverses_id == entry.id)) is not None:
        raise Conflict("该记录已冲销，不能重复冲销", {"entry_id": ["已冲销"]}, code="already_reversed")
    today = today_local()
    on = data.get("reversed_on") or today
    if on > today:
        raise RuleViolation("冲销日期不能晚于今天", {"reversed_on": ["不能是将来的日期"]})
    _check_adjustment_fields(data, today)
    rev = IncomeEntry(
        county_code=entry.county_code, town_code=asset.town_code, village_code=asset.village_code,
        asset_id=entry.asset_id, direction=entry.direction, kind=entry.kind, period_year=entry.period_year,
        period_month=entry.period_month, period_quarter=entry.period_quarter, received_on=on,
        amount=entry.amount, payer=entry.payer, voucher_no=data.get("voucher_no") or entry.voucher_no,
        note=data.get("note"), reverses_id=entry.id, reason=data["reason"],
        is_adjustment=bool(data.get("is_adjustment")), adjustment_on=data.get("adjustment_on"),
        recorded_by_id=getattr(user, "id", None), recorded_at=now_utc(),
    )
    db.session.add(rev)
    db.session.flush()
    _check_year_lock(asset, rev)
    record_change(user, entity="income_entry", entity_id=rev.id, action="reverse",
                  county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                  after=snapshot(rev))
    rev.reversed_by_id = None
    return rev


# --- shares ----------------------------------------------------------------------------------

def _applies(year: int):
    return sa.and_(AssetShare.replaced_at.is_(None),
                   sa.or_(AssetShare.from_year.is_(None), AssetShare.from_year <= year),
                   sa.or_(AssetShare.to_year.is_(None), AssetShare.to_year >= year))


def _shares_for(county_code: str, asset_ids, year: int) -> dict[int, list[rules.Share]]:
    """The shares in force in ``year`` for the given assets (a list or a subquery of ids), one query."""
    rows = db.session.execute(sa.select(AssetShare.asset_id, AssetShare.village_code, AssetShare.weight).where(
        AssetShare.county_code == county_code, AssetShare.asset_id.in_(asset_ids), _applies(year)))
    out: dict[int, list[rules.Share]] = {}
    for asset_id, village_code, weight in rows:
        out.setdefault(asset_id, []).append(rules.Share(village_code, weight))
    return out


def list_shares(user, asset_id: int, *, include_replaced: bool = False) -> list[AssetShare]:
    asset = get_asset(user, asset_id)
    q = sa.select(AssetShare).where(AssetShare.county_code == asset.county_code, AssetShare.asset_id == asset.id)
    if not include_replaced:
        q = q.where(AssetShare.replaced_at.is_(None))
    return list(db.session.scalars(q.order_by(AssetShare.from_year.nulls_first(), AssetShare.village_code,
                                              AssetShare.id)))


def _share_snapshot(rows) -> list[dict]:
    return [{"village_code": r.village_code, "weight": str(r.weight), "from_year": r.from_year,
             "to_year": r.to_year} for r in rows]


def replace_shares(user, asset_id: int, *, shares: list[dict], from_year: int | None = None) -> list[AssetShare]:
    """Replace the asset's share set from ``from_year`` on (all years when absent). Nothing is lost:
    rows superseded get ``replaced_at``; a set still in force before ``from_year`` is closed by a copy
    ending the year before. An empty list means: from then on the asset is its own village's alone."""
    asset = _asset_for_write(user, asset_id)
    if asset.category == "household":
        raise RuleViolation("到户类资产不设村级份额", {"shares": ["到户类资产归农户"]})
    codes = [s["village_code"] for s in shares]
    if len(set(codes)) != len(codes):
        raise RuleViolation("同一村只能填写一次", {"shares": ["村代码重复"]})
    valid = set(db.session.scalars(sa.select(Place.code).where(
        Place.code.in_(codes), Place.level == "village", Place.county_code == asset.county_code,
        Place.valid_to.is_(None)))) if codes else set()
    bad = [c for c in codes if c not in valid]
    if bad:
        raise RuleViolation("份额中的村无效", {"shares": [f"不是本县有效的村：{'、'.join(bad)}"]})
    current = list(db.session.scalars(sa.select(AssetShare).where(
        AssetShare.county_code == asset.county_code, AssetShare.asset_id == asset.id,
        AssetShare.replaced_at.is_(None)).order_by(AssetShare.id)))
    # A settled year's split is frozen in its settlement; the live split may not drift from it.
    touched = {c for c in (asset.village_code, asset.town_code) if c}
    for code in codes + [r.village_code for r in current]:
        touched.update((code, town_of(code)))
    q = sa.select(sa.func.max(Settlement.year)).where(Settlement.county_code == asset.county_code,
                                                       Settlement.place_code.in_(sorted(touched)))
    if from_year is not None:
        q = q.where(Settlement.year >= from_year)
    last_settled = db.session.scalar(q)
    if last_settled is not None:
        raise Conflict(f"{last_settled}年度已清算，份额只能自{last_settled + 1}年起变更",
                       {"from_year": [f"应不早于 {last_settled + 1}"]}, code="year_settled")
    before = _share_snapshot(current)
    now = now_utc()
    actor_id = getattr(user, "id", None)
    for row in current:
        if from_year is None or (row.from_year is not None and row.from_year >= from_year):
            row.replaced_at = now
        elif row.to_year is None or row.to_year >= from_year:
            row.replaced_at = now
            db.session.add(AssetShare(county_code=row.county_code, asset_id=row.asset_id,
                                      village_code=row.village_code, weight=row.weight, basis=row.basis,
                                      from_year=row.from_year, to_year=from_year - 1,
                                      recorded_by_id=actor_id, recorded_at=now))
    for s in shares:
        db.session.add(AssetShare(county_code=asset.county_code, asset_id=asset.id, village_code=s["village_code"],
                                  weight=s["weight"], basis=s.get("basis"), from_year=from_year, to_year=None,
                                  recorded_by_id=actor_id, recorded_at=now))
    db.session.flush()
    after = list_shares(user, asset.id)
    record_change(user, entity="asset_shares", entity_id=asset.id, action="replace",
                  county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                  before={"shares": before}, after={"shares": _share_snapshot(after), "from_year": from_year})
    return after


# --- fixed returns and dues ------------------------------------------------------------------

def list_contracts(user, asset_id: int) -> list[ContractReturn]:
    asset = get_asset(user, asset_id)
    return list(db.session.scalars(sa.select(ContractReturn).where(
        ContractReturn.county_code == asset.county_code, ContractReturn.asset_id == asset.id)
        .order_by(ContractReturn.start_on, ContractReturn.id)))


def create_contract(user, asset_id: int, data: dict) -> ContractReturn:
    asset = _asset_for_write(user, asset_id)
    basis = data["basis"]
    errors: dict = {}
    if basis == "rate":
        for f in ("principal", "annual_rate_percent"):
            if not data.get(f):
                errors[f] = ["按本金×年收益率计算时必填且大于零"]
        if data.get("amount") is not None:
            errors["amount"] = ["按本金×年收益率计算时不填"]
        if not data.get("period"):
            errors["period"] = ["必填：month、quarter 或 year"]
    else:
        if not data.get("amount"):
            errors["amount"] = ["必填且大于零"]
        for f in ("principal", "annual_rate_percent"):
            if data.get(f) is not None:
                errors[f] = ["仅按本金×年收益率计算时填写"]
        if basis == "fixed" and not data.get("period"):
            errors["period"] = ["必填：month、quarter 或 year"]
        if basis == "lump_sum" and data.get("period") not in (None, "year"):
            errors["period"] = ["一次性收取的按年分摊，应为 year 或不填"]
    if data["end_on"] < data["start_on"]:
        errors["end_on"] = ["不能早于起始日期"]
    elif data["end_on"].year - data["start_on"].year > 50:
        errors["end_on"] = ["期限不能超过50年"]
    if errors:
        raise RuleViolation("合同收益条款有误", errors)
    contract = ContractReturn(
        county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
        asset_id=asset.id, contract_no=data.get("contract_no"), payer=data.get("payer"), kind=data["kind"],
        basis=basis, principal=data.get("principal"), annual_rate_percent=data.get("annual_rate_percent"),
        amount=data.get("amount"), period=data.get("period") or "year", start_on=data["start_on"],
        end_on=data["end_on"], note=data.get("note"), recorded_by_id=getattr(user, "id", None),
        recorded_at=now_utc(),
    )
    db.session.add(contract)
    db.session.flush()
    record_change(user, entity="contract_return", entity_id=contract.id, action="create",
                  county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                  after=snapshot(contract))
    return contract


def _period_label(year: int, month: int | None, quarter: int | None) -> str:
    if month:
        return f"{year}年{month}月"
    if quarter:
        return f"{year}年第{quarter}季度"
    return f"{year}年"


def dues_for(county_code: str, asset_id: int, year: int, *, today: date | None = None) -> dict:
    """Each period's income due from the asset's fixed-return contracts, what was received (ledger
    entries of that kind and period, net of reversals) and what is outstanding (应收未收; basis: P09)."""
    today = today or today_local()
    contracts = db.session.scalars(sa.select(ContractReturn).where(
        ContractReturn.county_code == county_code, ContractReturn.asset_id == asset_id)).all()
    dues = []
    for c in contracts:
        dues.extend(rules.contract_dues(kind=c.kind, basis=c.basis, period=c.period, start_on=c.start_on,
                                        end_on=c.end_on, year=year, principal=c.principal,
                                        annual_rate_percent=c.annual_rate_percent, amount=c.amount))
    received = {}
    if dues:
        rows = db.session.execute(
            sa.select(IncomeEntry.kind, IncomeEntry.period_month, IncomeEntry.period_quarter,
                      sa.func.sum(IncomeEntry.signed_amount))
            .where(IncomeEntry.county_code == county_code, IncomeEntry.asset_id == asset_id,
                   IncomeEntry.period_year == year, IncomeEntry.direction == "income",
                   IncomeEntry.kind.in_(sorted({d.kind for d in dues})))
            .group_by(IncomeEntry.kind, IncomeEntry.period_month, IncomeEntry.period_quarter))
        received = {(k, m, q): s or ZERO for k, m, q, s in rows}
    lines, unmatched = rules.match_received(dues, received)
    out_lines = []
    for ln in lines:
        closed = ln.period_end <= today
        out_lines.append({
            "kind": ln.kind, "kind_label": INCOME_KINDS[ln.kind], "period_year": year,
            "period_month": ln.month, "period_quarter": ln.quarter,
            "period_label": _period_label(year, ln.month, ln.quarter),
            "due": ln.due, "received": ln.received, "outstanding": ln.outstanding,
            "is_closed": closed, "is_overdue": closed and ln.outstanding > 0,
        })
    return {
        "asset_id": asset_id, "year": year, "lines": out_lines,
        "due_total": sum((ln["due"] for ln in out_lines), ZERO),
        "received_total": sum((ln["received"] for ln in out_lines), ZERO),
        "outstanding_total": sum((ln["outstanding"] for ln in out_lines), ZERO),
        "unmatched": [{"kind": k, "kind_label": INCOME_KINDS[k], "amount": v} for k, v in sorted(unmatched.items())],
    }


def asset_dues(user, asset_id: int, year: int) -> dict:
    asset = get_asset(user, asset_id)
    result = dues_for(asset.county_code, asset.id, year)
    result["asset_code"] = asset.code
    return result


# --- totals: income by year, the one ledger arithmetic ---------------------------------------
# Every figure below is made of ``ledger_sums`` (SUMs of ``IncomeEntry.signed_amount``): gross, costs,
# disposal; net = gross − costs. A village's part of a shared asset is the largest-remainder split of the
# asset's figures by the shares in force that year (``rules.split_figures``: the net as ``split_among``
# gives it, and no negative gross or costs part).

@dataclass
class Totals:
    gross: Decimal = ZERO
    costs: Decimal = ZERO
    disposal: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.gross - self.costs

    @classmethod
    def of(cls, row) -> Totals:
        """From a row with the three ``ledger_sums`` columns (None where nothing of the kind)."""
        return cls(row.gross or ZERO, row.costs or ZERO, row.disposal or ZERO)

    def add(self, gross: Decimal, costs: Decimal, disposal: Decimal) -> None:
        self.gross += gross
        self.costs += costs
        self.disposal += disposal

    def as_dict(self) -> dict:
        return {"gross": self.gross, "costs": self.costs, "net": self.net, "disposal": self.disposal}


def _share_rows(county_code: str, asset_ids) -> dict[int, list[tuple[str, Decimal, int | None, int | None]]]:
    """Every share in force (not replaced) of the given assets (a list or a subquery of ids), with its years."""
    rows = db.session.execute(sa.select(AssetShare.asset_id, AssetShare.village_code, AssetShare.weight,
                                        AssetShare.from_year, AssetShare.to_year).where(
        AssetShare.county_code == county_code, AssetShare.asset_id.in_(asset_ids), AssetShare.replaced_at.is_(None)))
    out: dict[int, list] = {}
    for asset_id, village_code, weight, from_year, to_year in rows:
        out.setdefault(asset_id, []).append((village_code, weight, from_year, to_year))
    return out


def _shares_in(rows, year: int) -> list[rules.Share]:
    return [rules.Share(v, w) for v, w, from_year, to_year in rows or () if rules.share_year_applies(from_year, to_year, year)]


def _asset_year_sums(where: list, asset_ids):
    """The three sums per (asset, period year) of the given assets, with the asset's code, name and village:
    one grouped query."""
    return db.session.execute(
        sa.select(IncomeEntry.asset_id, IncomeEntry.period_year, Asset.code, Asset.name, Asset.village_code,
                  *ledger_sums())
        .join(Asset, Asset.id == IncomeEntry.asset_id)
        .where(*where, IncomeEntry.asset_id.in_(asset_ids))
        .group_by(IncomeEntry.asset_id, IncomeEntry.period_year, Asset.code, Asset.name, Asset.village_code)).all()


def _village_years(county_code: str, village_code: str, where: list) -> dict[int, dict]:
    """A village's years: its part of every asset it owns wholly (standing in the village, no shares that
    year) or shares that year, one line per asset with entries in the year. Two queries."""
    mine = sa.select(AssetShare.asset_id).where(AssetShare.county_code == county_code,
                                                AssetShare.village_code == village_code,
                                                AssetShare.replaced_at.is_(None))
    own = sa.select(Asset.id).where(Asset.county_code == county_code, Asset.village_code == village_code)
    candidates = sa.union(own, mine).subquery()
    ids = sa.select(candidates.c[0])
    shares = _share_rows(county_code, ids)
    years: dict[int, dict] = {}
    for row in _asset_year_sums(where, ids):
        t = Totals.of(row)
        in_force = _shares_in(shares.get(row.asset_id), row.period_year)
        if in_force:
            weights = {s.village_code: s.weight for s in in_force}
            if village_code not in weights:
                continue  # shared that year among other villages only
            weight, weight_total = weights[village_code], sum(weights.values(), Decimal(0))
            mine = rules.split_figures(t.gross, t.costs, t.disposal, in_force)[village_code]
        elif row.village_code == village_code:
            weight = weight_total = Decimal(1)
            mine = rules.Part(t.gross, t.costs, t.net, t.disposal)
        else:
            continue  # shared with this village in other years only
        years.setdefault(row.period_year, {"lines": []})["lines"].append({
            "asset_id": row.asset_id, "asset_code": row.code, "asset_name": row.name,
            "gross": t.gross, "costs": t.costs, "net": t.net, "disposal": t.disposal,
            "share_weight": weight, "share_total": weight_total, "is_shared": bool(in_force),
            "part": mine.net, "gross_part": mine.gross, "costs_part": mine.costs,
            "disposal_part": mine.disposal,
        })
    for year in years.values():
        year["lines"].sort(key=lambda ln: ln["asset_code"])
        total = Totals()
        for ln in year["lines"]:
            total.add(ln["gross_part"], ln["costs_part"], ln["disposal_part"])
        year.update(total.as_dict())
    return years


def _town_years(county_code: str, town_code: str, where: list) -> dict[int, dict]:
    """A town's years with lines: every asset standing in the town (its villages' and its own), wholly, and
    each village's part; ``village_code`` None is what town-level assets without shares keep. Two queries."""
    ids = sa.select(Asset.id).where(Asset.county_code == county_code, Asset.town_code == town_code)
    shares = _share_rows(county_code, ids)
    years: dict[int, dict] = {}
    for row in _asset_year_sums(where, ids):
        t = Totals.of(row)
        in_force = _shares_in(shares.get(row.asset_id), row.period_year)
        if in_force:
            split = {v: (p.gross, p.costs, p.disposal)
                     for v, p in rules.split_figures(t.gross, t.costs, t.disposal, in_force).items()}
        else:
            split = {row.village_code: (t.gross, t.costs, t.disposal)}  # village None: the town's own
        year = years.setdefault(row.period_year, {"lines": [], "total": Totals(), "parts": {}})
        year["total"].add(t.gross, t.costs, t.disposal)
        for v, (g, c, d) in split.items():
            year["parts"].setdefault(v, Totals()).add(g, c, d)
        year["lines"].append({"asset_id": row.asset_id, "asset_code": row.code, "asset_name": row.name,
                              "village_code": row.village_code, **t.as_dict(),
                              "parts": [{"village_code": v, "part": g - c} for v, (g, c, _d) in sorted(
                                  split.items(), key=lambda kv: kv[0] or "")]})
    out = {}
    for y, year in years.items():
        out[y] = {"lines": sorted(year["lines"], key=lambda ln: ln["asset_code"]), **year["total"].as_dict(),
                  "parts": [{"village_code": v, **p.as_dict()}
                            for v, p in sorted(year["parts"].items(), key=lambda kv: kv[0] or "")]}
    return out


def income_by_year(county_code: str, *, place_code: str | None = None, asset_id: int | None = None,
                   years: Iterable[int] | None = None, lines: bool = False,
                   through_entry_id: int | None = None) -> list[dict]:
    """Income by period year: gross income, costs (deductions), net = gross − costs, and disposal income
    (处置收入) apart, reversals taken back. Of one asset (``asset_id``, wholly), or of a place
    (``place_code``): a village — every asset it owns wholly plus its part of every asset it shares that
    year (by the shares in force, largest remainder, DOMAIN.md §5) —, a town or the county — every asset
    standing there, wholly. The one income by year of the ledger: the asset page, every home page, the
    village-year page, the settlements (so the plans' available amount) and the exports read it.

    One dict per year, oldest first: each year of ``years`` (zeros where nothing was posted), else each
    year with entries. ``lines`` (a village or a town): also one line per asset with entries in the year,
    and for a town each village's part (``parts``). ``through_entry_id``: the ledger as it stood when that
    entry was the last (what a settlement saw). Set-based: one or two queries whatever the number of
    assets and years. The caller has checked the user's scope.
    """
    wanted = sorted(set(years)) if years is not None else None
    if wanted == []:
        return []
    where = [IncomeEntry.county_code == county_code]
    if wanted is not None:
        where.append(IncomeEntry.period_year.between(wanted[0], wanted[-1]))
    if through_entry_id is not None:
        where.append(IncomeEntry.id <= through_entry_id)
    level = "asset" if asset_id is not None else level_of(place_code)
    if level == "village":
        found = _village_years(county_code, place_code, where)
    elif level == "town" and lines:
        found = _town_years(county_code, place_code, where)
    else:
        if level == "asset":
            where.append(IncomeEntry.asset_id == asset_id)
        elif level == "town":
            where.append(IncomeEntry.asset_id.in_(sa.select(Asset.id).where(
                Asset.county_code == county_code, Asset.town_code == place_code)))
        found = {row.period_year: Totals.of(row).as_dict() for row in db.session.execute(
            sa.select(IncomeEntry.period_year, *ledger_sums()).where(*where).group_by(IncomeEntry.period_year))}
    out = []
    for year in (wanted if wanted is not None else sorted(found)):
        figures = found.get(year) or {**Totals().as_dict(), "lines": [], "parts": []}
        row = {"year": year, **{k: figures[k] for k in ("gross", "costs", "net", "disposal")}}
        if lines and level in ("village", "town"):
            row["lines"] = figures["lines"]
            if level == "town":
                row["parts"] = figures["parts"]
        out.append(row)
    return out


def asset_year_totals(county_code: str, asset_id: int, year: int) -> dict:
    """An asset's year: gross income, costs (deductions), net = gross − costs, disposal income apart."""
    (figures,) = income_by_year(county_code, asset_id=asset_id, years=[year])
    return {k: figures[k] for k in ("gross", "costs", "net", "disposal")}


def _by_kind(county_code: str, asset_id: int, year: int) -> list[dict]:
    """The asset's year per direction and kind, each in its own direction (a deduction positive)."""
    rows = db.session.execute(
        sa.select(IncomeEntry.direction, IncomeEntry.kind, *ledger_sums())
        .where(IncomeEntry.county_code == county_code, IncomeEntry.asset_id == asset_id,
               IncomeEntry.period_year == year)
        .group_by(IncomeEntry.direction, IncomeEntry.kind)).all()
    out = []
    for row in sorted(rows, key=lambda r: (r.direction, r.kind)):
        t = Totals.of(row)  # one of the three is the kind's figure, the others zero
        out.append({"direction": row.direction, "kind": row.kind, "kind_label": KINDS[row.direction][row.kind],
                    "amount": t.gross + t.costs + t.disposal})
    return out


def income_summary(user, asset_id: int, year: int) -> dict:
    """The asset's year by kind, its totals, and how its net income splits among villages."""
    asset = get_asset(user, asset_id)
    totals = asset_year_totals(asset.county_code, asset.id, year)
    shares = _shares_for(asset.county_code, [asset.id], year).get(asset.id)
    if shares:
        parts = rules.split_among(totals["net"], shares)
        weights = {s.village_code: s.weight for s in shares}
        split = [{"village_code": v, "share_weight": weights[v], "part": p} for v, p in parts.items()]
    elif asset.village_code:
        split = [{"village_code": asset.village_code, "share_weight": Decimal(1), "part": totals["net"]}]
    else:
        split = []  # a town or county asset without shares belongs to no village
    settled = settlements_touching(asset, year)
    return {
        "asset_id": asset.id, "asset_code": asset.code, "year": year, **totals,
        "by_kind": _by_kind(asset.county_code, asset.id, year), "split": split, "is_settled": bool(settled),
    }


def village_year_income(county_code: str, village_code: str, year: int) -> dict:
    """The village's income for the year (``income_by_year`` with lines): its part of the net income of
    every asset it owns wholly (standing in the village, no shares that year) or shares, one line per asset
    with entries in the year. ``net`` is the figure settlements and so distribution plans start from;
    ``gross − costs = net`` holds for every line and for the village."""
    (figures,) = income_by_year(county_code, place_code=village_code, years=[year], lines=True)
    return {"county_code": county_code, "village_code": village_code, **figures}


def town_year_income(county_code: str, town_code: str, year: int) -> dict:
    """Every asset standing in the town (its villages' and its own), the totals, and each village's
    part; ``village_code`` None in ``parts`` is what town-level assets without shares keep (no village's)."""
    (figures,) = income_by_year(county_code, place_code=town_code, years=[year], lines=True)
    return {"county_code": county_code, "town_code": town_code, **figures}


def village_income(user, village_code: str, year: int) -> dict:
    """``village_year_income`` for a reader whose scope covers the village (else 404)."""
    place = db.session.scalar(sa.select(Place).where(Place.code == village_code, Place.level == "village",
                                                     Place.county_code == user.county_code))
    if place is None or not in_scope(user, place.county_code, place.town_code, place.code):
        raise NotFound("未找到该村")
    result = village_year_income(place.county_code, place.code, year)
    result["village_name"] = place.name
    settled = settled_village(place.county_code, place.code, year)  # its own settlement, else its town's
    result["settlement"] = settled["settlement"] if settled is not None and settled["level"] == "village" else None
    result["settled"] = settled
    # what dated adjustments posted after the settlement changed (listed in a later year's settlement)
    result["drift"] = result["net"] - settled["net"] if settled is not None else None
    return result


# --- settlement (年度清算, basis: P34) --------------------------------------------------------

def settlement_for(county_code: str, place_code: str, year: int) -> Settlement | None:
    return db.session.scalar(sa.select(Settlement).where(
        Settlement.county_code == county_code, Settlement.place_code == place_code, Settlement.year == year))


def settled_village(county_code: str, village_code: str, year: int) -> dict | None:
    """The figures the village's year was settled at: its own settlement (``level`` village), else its part
    in its town's (``level`` town; zeros when the town settled without it), with the settlement; None
    while the year is not settled."""
    own = settlement_for(county_code, village_code, year)
    if own is not None:
        return {"level": "village", "settlement": own, "gross": own.gross, "costs": own.costs, "net": own.net,
                "disposal": own.disposal}
    town = settlement_for(county_code, town_of(village_code), year)
    if town is None:
        return None
    part = db.session.scalar(sa.select(SettlementPart).where(SettlementPart.settlement_id == town.id,
                                                             SettlementPart.village_code == village_code))
    return {"level": "town", "settlement": town, **{k: getattr(part, k) if part is not None else ZERO
                                                    for k in ("gross", "costs", "net", "disposal")}}


def settled_village_net(county_code: str, village_code: str, year: int) -> Decimal | None:
    """The village's settled net income for the year: its own settlement, else its part in its town's
    settlement, else None (not settled)."""
    settled = settled_village(county_code, village_code, year)
    return settled["net"] if settled is not None else None


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)  # money is already to the fen; weights keep their own places
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def settle_year(user, *, place_code: str, year: int, settled_on: date, published_on: date | None = None,
                note: str | None = None) -> Settlement:
    """Settle a village's or a town's year: freeze its totals and lock the year for new entries.

    Lists the prior-year adjustments this place has not yet seen: dated adjustments to a year the place
    had settled, recorded after that settlement. ``user`` None is the command line (no scope check)."""
    q = sa.select(Place).where(Place.code == place_code)
    if user is not None:
        q = q.where(Place.county_code == user.county_code)
    place = db.session.scalar(q)
    if place is None or place.level not in ("village", "town"):
        raise RuleViolation("清算对象应为本县的村或乡镇", {"place_code": ["未找到该村或乡镇"]})
    town_code = place.code if place.level == "town" else place.town_code
    village_code = place.code if place.level == "village" else None
    if user is not None:
        require_write(user, "income", county_code=place.county_code, town_code=town_code, village_code=village_code)
    today = today_local()
    if year >= today.year:
        raise RuleViolation("年度尚未结束，不能清算", {"year": [f"应早于 {today.year}"]})
    if settled_on > today:
        raise RuleViolation("清算日期不能晚于今天", {"settled_on": ["不能是将来的日期"]})
    if settled_on < date(year + 1, 1, 1):
        raise RuleViolation("清算日期应在该年度结束之后", {"settled_on": [f"应不早于 {year + 1}-01-01"]})
    if published_on is not None and not (settled_on <= published_on <= today):
        raise RuleViolation("公示日期有误", {"published_on": ["应不早于清算日期且不晚于今天"]})
    if db.session.get_bind().dialect.name == "postgresql":
        # No entry may slip in between reading the totals and writing them down.
        db.session.execute(sa.text("LOCK TABLE income_entries IN SHARE MODE"))
    if settlement_for(place.county_code, place.code, year) is not None:
        raise Conflict(f"{place.name}{year}年度已清算，不能重复清算", {"year": ["该年度已清算"]},
                       code="already_settled")
    last_entry_id = db.session.scalar(sa.select(sa.func.max(IncomeEntry.id))
                                      .where(IncomeEntry.county_code == place.county_code)) or 0
    if place.level == "village":
        figures = village_year_income(place.county_code, place.code, year)
        lines = figures["lines"]
    else:
        figures = town_year_income(place.county_code, place.code, year)
        lines = figures["lines"]
    settlement = Settlement(
        county_code=place.county_code, town_code=town_code, village_code=village_code, place_code=place.code,
        level=place.level, year=year, gross=figures["gross"], costs=figures["costs"], net=figures["net"],
        disposal=figures["disposal"], adjustments_net=ZERO, last_entry_id=last_entry_id, lines=_plain(lines),
        settled_on=settled_on, due_on=rules.settlement_due_on(year), published_on=published_on, note=note,
        settled_by_id=getattr(user, "id", None), created_at=now_utc(),
    )
    if place.level == "town":
        settlement.parts = [SettlementPart(county_code=place.county_code, village_code=p["village_code"],
                                           gross=p["gross"], costs=p["costs"], net=p["net"], disposal=p["disposal"])
                            for p in figures["parts"]]
    adjustments = _new_adjustments(place, year)
    settlement.adjustments = adjustments
    settlement.adjustments_net = sum((a.part for a in adjustments if not a.is_disposal), ZERO)
    db.session.add(settlement)
    db.session.flush()
    record_change(user, entity="settlement", entity_id=settlement.id, action="settle",
                  county_code=settlement.county_code, town_code=town_code, village_code=village_code,
                  after=snapshot(settlement, exclude=("lines",)))
    return settlement


def _new_adjustments(place: Place, year: int) -> list[SettlementAdjustment]:
    """Adjustments to years before ``year`` that ``place`` had settled, posted after that settlement
    and not listed in any of its settlements yet; each with the place's part of its effect."""
    county = place.county_code
    earlier = sa.orm.aliased(Settlement)
    listed = sa.select(SettlementAdjustment.entry_id).join(Settlement).where(
        Settlement.county_code == county, Settlement.place_code == place.code)
    if place.level == "town":
        assets = sa.select(Asset.id).where(Asset.county_code == county, Asset.town_code == place.code)
    else:
        union = sa.union(
            sa.select(Asset.id).where(Asset.county_code == county, Asset.village_code == place.code),
            sa.select(AssetShare.asset_id).where(AssetShare.county_code == county,
                                                 AssetShare.village_code == place.code,
                                                 AssetShare.replaced_at.is_(None))).subquery()
        assets = sa.select(union.c[0])
    rows = db.session.execute(
        sa.select(IncomeEntry, Asset.village_code)
        .join(Asset, Asset.id == IncomeEntry.asset_id)
        .join(earlier, sa.and_(earlier.county_code == county, earlier.place_code == place.code,
                               earlier.year == IncomeEntry.period_year))
        .where(IncomeEntry.county_code == county, IncomeEntry.is_adjustment.is_(True),
               IncomeEntry.period_year < year, IncomeEntry.id > earlier.last_entry_id,
               IncomeEntry.asset_id.in_(assets), IncomeEntry.id.not_in(listed))
        .order_by(IncomeEntry.id)).all()
    if not rows:
        return []
    share_rows = db.session.execute(sa.select(AssetShare).where(
        AssetShare.county_code == county, AssetShare.replaced_at.is_(None),
        AssetShare.asset_id.in_(sorted({e.asset_id for e, _ in rows})))).scalars().all()
    out = []
    for entry, asset_village in rows:
        # on net income, or for 处置收入 on the disposal total
        effect = entry.signed_amount
        if place.level == "town":
            part = effect
        else:
            shares = [rules.Share(s.village_code, s.weight) for s in share_rows if s.asset_id == entry.asset_id
                      and rules.share_year_applies(s.from_year, s.to_year, entry.period_year)]
            if shares:
                if place.code not in {s.village_code for s in shares}:
                    continue
                part = rules.split_among(effect, shares)[place.code]
            elif asset_village == place.code:
                part = effect
            else:
                continue
        out.append(SettlementAdjustment(county_code=county, entry_id=entry.id, asset_id=entry.asset_id,
                                        period_year=entry.period_year, is_disposal=entry.kind == DISPOSAL,
                                        effect=effect, part=part))
    return out


def list_settlements(user, *, year=None, place_code=None, level=None, page=1, per_page=50) -> dict:
    q = sa.select(Settlement).where(Settlement.county_code == user.county_code, scope_clause(Settlement, user))
    if year:
        q = q.where(Settlement.year == year)
    if place_code:
        q = q.where(Settlement.place_code == place_code)
    if level:
        q = q.where(Settlement.level == level)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    items = db.session.scalars(q.order_by(Settlement.year.desc(), Settlement.place_code)
                               .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def get_settlement(user, settlement_id: int) -> Settlement:
    s = db.session.scalar(
        sa.select(Settlement).where(Settlement.id == settlement_id, Settlement.county_code == user.county_code,
                                    scope_clause(Settlement, user))
        .options(selectinload(Settlement.parts),
                 selectinload(Settlement.adjustments).selectinload(SettlementAdjustment.entry)))
    if s is None:
        raise NotFound("未找到该清算记录")
    return s


def publish_settlement(user, settlement_id: int, *, published_on: date) -> Settlement:
    """Record the publication (公示) of a settlement's result; once only (basis: P34)."""
    s = db.session.scalar(sa.select(Settlement).where(Settlement.id == settlement_id,
                                                      Settlement.county_code == user.county_code))
    if s is None:
        raise NotFound("未找到该清算记录")
    require_write(user, "income", county_code=s.county_code, town_code=s.town_code, village_code=s.village_code)
    if s.published_on is not None:
        raise Conflict("该清算结果已公示", {"published_on": [f"已于 {s.published_on} 公示"]}, code="already_published")
    if not (s.settled_on <= published_on <= today_local()):
        raise RuleViolation("公示日期有误", {"published_on": ["应不早于清算日期且不晚于今天"]})
    s.published_on = published_on
    db.session.flush()
    record_change(user, entity="settlement", entity_id=s.id, action="publish", county_code=s.county_code,
                  town_code=s.town_code, village_code=s.village_code, before={"published_on": None},
                  after={"published_on": published_on.isoformat()})
    return get_settlement(user, s.id)


@place_withdrawn.connect
def _shares_follow_withdrawn_village(_sender, *, user, old, new, **_kw) -> dict[str, int]:
    """Income shares held by a withdrawn village pass to its successor: the current rows are closed
    (``replaced_at``) and re-issued for the successor, so the share history stays readable."""
    rows = db.session.scalars(sa.select(AssetShare).where(
        AssetShare.county_code == old.county_code, AssetShare.village_code == old.code,
        AssetShare.replaced_at.is_(None))).all()
    now = now_utc()
    for row in rows:
        row.replaced_at = now
        share = AssetShare(county_code=row.county_code, asset_id=row.asset_id, village_code=new.code,
                           weight=row.weight, basis=f"{row.basis or ''}（{old.name}撤并，由{new.name}承继）"[:200],
                           from_year=row.from_year, to_year=row.to_year, recorded_by_id=row.recorded_by_id)
        db.session.add(share)
        db.session.flush()
        record_change(user, entity="asset_share", entity_id=share.id, action="move_with_place",
                      county_code=share.county_code, town_code=new.town_code, village_code=new.code,
                      before={"id": row.id, "village_code": old.code}, after=snapshot(share))
    return {"shares": len(rows)}
