"""Post ledger entries and reversals, keep village shares and fixed-return contracts, total the
ledger per asset, village and town, and settle a year (年度清算). Services never commit.

The distribution plans build on three functions here: ``asset_year_totals``, ``village_year_income``
and ``settlement_for`` (plus ``settled_village_net``). They take a county code, not a user: the
caller has already checked the user's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..assets.models import Asset
from ..assets.services import get_asset
from ..changelog.services import record_change, snapshot
from ..core.access import in_scope, require_write, scope_clause, town_of
from ..core.errors import Conflict, NotFound, RuleViolation
from ..core.events import place_withdrawn
from ..core.money import ZERO, from_fen
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
)

# The signed amount of an entry in its own direction: the original counts, its reversal takes it back.
_FEN = sa.type_coerce(IncomeEntry.amount, sa.BigInteger)
_AMOUNT_NET = sa.case((IncomeEntry.reverses_id.is_(None), _FEN), else_=-_FEN)


def _money(fen_sum) -> Decimal:
    return from_fen(int(fen_sum or 0))


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
        sa.select(IncomeEntry.reverses_id, IncomeEntry.id).where(IncomeEntry.reverses_id.in_(ids))).all()) if ids else {}
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
    if db.session.scalar(sa.select(IncomeEntry.id).where(IncomeEntry.reverses_id == entry.id)) is not None:
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
            sa.select(IncomeEntry.kind, IncomeEntry.period_month, IncomeEntry.period_quarter, sa.func.sum(_AMOUNT_NET))
            .where(IncomeEntry.county_code == county_code, IncomeEntry.asset_id == asset_id,
                   IncomeEntry.period_year == year, IncomeEntry.direction == "income",
                   IncomeEntry.kind.in_(sorted({d.kind for d in dues})))
            .group_by(IncomeEntry.kind, IncomeEntry.period_month, IncomeEntry.period_quarter))
        received = {(k, m, q): _money(s) for k, m, q, s in rows}
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


# --- totals ----------------------------------------------------------------------------------

@dataclass
class Totals:
    gross: Decimal = ZERO
    costs: Decimal = ZERO
    disposal: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.gross - self.costs

    def add(self, direction: str, kind: str, amount: Decimal) -> None:
        if direction == "deduction":
            self.costs += amount
        elif kind == DISPOSAL:
            self.disposal += amount  # 处置收入 is kept apart from ordinary income (DOMAIN.md §9)
        else:
            self.gross += amount

    def as_dict(self) -> dict:
        return {"gross": self.gross, "costs": self.costs, "net": self.net, "disposal": self.disposal}


def _sums_by_kind(county_code: str, year: int, asset_ids) -> dict[int, list[tuple[str, str, Decimal]]]:
    """(direction, kind, amount net of reversals) per asset for the year: one grouped query."""
    rows = db.session.execute(
        sa.select(IncomeEntry.asset_id, IncomeEntry.direction, IncomeEntry.kind, sa.func.sum(_AMOUNT_NET))
        .where(IncomeEntry.county_code == county_code, IncomeEntry.period_year == year,
               IncomeEntry.asset_id.in_(asset_ids))
        .group_by(IncomeEntry.asset_id, IncomeEntry.direction, IncomeEntry.kind))
    out: dict[int, list] = {}
    for asset_id, direction, kind, s in rows:
        out.setdefault(asset_id, []).append((direction, kind, _money(s)))
    return out


def _totals(rows) -> Totals:
    t = Totals()
    for direction, kind, amount in rows:
        t.add(direction, kind, amount)
    return t


def asset_year_totals(county_code: str, asset_id: int, year: int) -> dict:
    """An asset's year: gross income, costs (deductions), net = gross − costs, disposal income apart."""
    return _totals(_sums_by_kind(county_code, year, [asset_id]).get(asset_id, [])).as_dict()


def income_summary(user, asset_id: int, year: int) -> dict:
    """The asset's year by kind, its totals, and how its net income splits among villages."""
    asset = get_asset(user, asset_id)
    rows = _sums_by_kind(asset.county_code, year, [asset.id]).get(asset.id, [])
    totals = _totals(rows)
    shares = _shares_for(asset.county_code, [asset.id], year).get(asset.id)
    if shares:
        parts = rules.split_among(totals.net, shares)
        weights = {s.village_code: s.weight for s in shares}
        split = [{"village_code": v, "share_weight": weights[v], "part": p} for v, p in parts.items()]
    elif asset.village_code:
        split = [{"village_code": asset.village_code, "share_weight": Decimal(1), "part": totals.net}]
    else:
        split = []  # a town or county asset without shares belongs to no village
    settled = settlements_touching(asset, year)
    return {
        "asset_id": asset.id, "asset_code": asset.code, "year": year, **totals.as_dict(),
        "by_kind": [{"direction": d, "kind": k, "kind_label": KINDS[d][k], "amount": a}
                    for d, k, a in sorted(rows)],
        "split": split, "is_settled": bool(settled),
    }


def _asset_info(ids) -> dict[int, tuple[str, str, str | None]]:
    if not ids:
        return {}
    return {i: (c, n, v) for i, c, n, v in db.session.execute(
        sa.select(Asset.id, Asset.code, Asset.name, Asset.village_code).where(Asset.id.in_(sorted(ids))))}


def village_year_income(county_code: str, village_code: str, year: int) -> dict:
    """The village's income for the year: its part of the net income of every asset it owns wholly
    (standing in the village, no shares that year) or shares, one line per asset with entries in the
    year. Three queries whatever the number of assets. ``net`` is the figure distribution plans start
    from; ``gross − costs = net`` holds for every line and for the village."""
    shared_ids = sa.select(AssetShare.asset_id).where(
        AssetShare.county_code == county_code, AssetShare.village_code == village_code, _applies(year))
    any_share = sa.select(AssetShare.id).where(AssetShare.asset_id == Asset.id, _applies(year)).exists()
    own_ids = sa.select(Asset.id).where(Asset.county_code == county_code, Asset.village_code == village_code,
                                        ~any_share)
    shares = _shares_for(county_code, shared_ids, year)
    ids = sa.union(own_ids, shared_ids).subquery()
    sums = _sums_by_kind(county_code, year, sa.select(ids.c[0]))
    info = _asset_info(sums)
    lines = []
    for asset_id, rows in sums.items():
        t = _totals(rows)
        asset_shares = shares.get(asset_id)
        code, name, _ = info[asset_id]
        if asset_shares:
            weight = next(s.weight for s in asset_shares if s.village_code == village_code)
            weight_total = sum((s.weight for s in asset_shares), Decimal(0))
            part = rules.split_among(t.net, asset_shares)[village_code]
            gross_part = rules.split_among(t.gross, asset_shares)[village_code]
            disposal_part = rules.split_among(t.disposal, asset_shares)[village_code]
        else:
            weight = weight_total = Decimal(1)
            part, gross_part, disposal_part = t.net, t.gross, t.disposal
        lines.append({
            "asset_id": asset_id, "asset_code": code, "asset_name": name,
            "gross": t.gross, "costs": t.costs, "net": t.net, "disposal": t.disposal,
            "share_weight": weight, "share_total": weight_total, "is_shared": bool(asset_shares),
            "part": part, "gross_part": gross_part, "costs_part": gross_part - part,
            "disposal_part": disposal_part,
        })
    lines.sort(key=lambda ln: ln["asset_code"])
    return {
        "county_code": county_code, "village_code": village_code, "year": year, "lines": lines,
        "gross": sum((ln["gross_part"] for ln in lines), ZERO),
        "costs": sum((ln["costs_part"] for ln in lines), ZERO),
        "net": sum((ln["part"] for ln in lines), ZERO),
        "disposal": sum((ln["disposal_part"] for ln in lines), ZERO),
    }


def town_year_income(county_code: str, town_code: str, year: int) -> dict:
    """Every asset standing in the town (its villages' and its own), the totals, and each village's
    part; ``unallocated`` is what town-level assets without shares keep (no village's)."""
    ids = sa.select(Asset.id).where(Asset.county_code == county_code, Asset.town_code == town_code)
    sums = _sums_by_kind(county_code, year, ids)
    shares = _shares_for(county_code, list(sums), year) if sums else {}
    info = _asset_info(sums)
    lines, parts, total = [], {}, Totals()
    for asset_id in sorted(sums, key=lambda i: info[i][0]):
        t = _totals(sums[asset_id])
        code, name, village = info[asset_id]
        total.gross += t.gross
        total.costs += t.costs
        total.disposal += t.disposal
        if shares.get(asset_id):
            net = rules.split_among(t.net, shares[asset_id])
            gross = rules.split_among(t.gross, shares[asset_id])
            disposal = rules.split_among(t.disposal, shares[asset_id])
            split = {v: (gross[v], gross[v] - net[v], disposal[v]) for v in net}
        else:
            split = {village: (t.gross, t.costs, t.disposal)}  # village None: the town's own
        for v, (g, c, d) in split.items():
            p = parts.setdefault(v, Totals())
            p.gross += g
            p.costs += c
            p.disposal += d
        lines.append({"asset_id": asset_id, "asset_code": code, "asset_name": name, "village_code": village,
                      **t.as_dict(),
                      "parts": [{"village_code": v, "part": g - c} for v, (g, c, _d) in sorted(
                          split.items(), key=lambda kv: kv[0] or "")]})
    return {
        "county_code": county_code, "town_code": town_code, "year": year, "lines": lines, **total.as_dict(),
        "parts": [{"village_code": v, **p.as_dict()} for v, p in sorted(parts.items(), key=lambda kv: kv[0] or "")],
    }


def village_income(user, village_code: str, year: int) -> dict:
    """``village_year_income`` for a reader whose scope covers the village (else 404)."""
    place = db.session.scalar(sa.select(Place).where(Place.code == village_code, Place.level == "village",
                                                     Place.county_code == user.county_code))
    if place is None or not in_scope(user, place.county_code, place.town_code, place.code):
        raise NotFound("未找到该村")
    result = village_year_income(place.county_code, place.code, year)
    result["village_name"] = place.name
    result["settlement"] = settlement_for(place.county_code, place.code, year)
    return result


# --- settlement (年度清算, basis: P34) --------------------------------------------------------

def settlement_for(county_code: str, place_code: str, year: int) -> Settlement | None:
    return db.session.scalar(sa.select(Settlement).where(
        Settlement.county_code == county_code, Settlement.place_code == place_code, Settlement.year == year))


def settled_village_net(county_code: str, village_code: str, year: int) -> Decimal | None:
    """The village's settled net income for the year: its own settlement, else its part in its town's
    settlement, else None (not settled)."""
    own = settlement_for(county_code, village_code, year)
    if own is not None:
        return own.net
    row = db.session.execute(sa.select(SettlementPart.net).join(Settlement).where(
        Settlement.county_code == county_code, Settlement.place_code == town_of(village_code),
        Settlement.year == year, SettlementPart.village_code == village_code)).first()
    if row is not None:
        return row[0]
    town = settlement_for(county_code, town_of(village_code), year)
    return ZERO if town is not None else None


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
    last_entry_id = db.session.scalar(sa.select(sa.func.max(IncomeEntry.id))) or 0
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
        effect = rules.signed_effect(entry.direction, entry.amount, entry.is_reversal)
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
