"""Five years of the demo county's money: the income ledger 2020 to May 2025, year-end settlements,
public-welfare jobs with attendance and the distribution plans, all through the income and
distribution services (so every row is checked, scoped and in the change log).

Called once by ``loader.load_demo`` right after the registry is built; deterministic for a seed (its
own ``random.Random``), every business date on or before ``as_of``; never commits. ``scan_yearly``
finds the deliberate problems again from the data, for the report of a second run and for the tests.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from ..assets.models import Asset, AssetStatusChange
from ..changelog.services import record_change, snapshot
from ..core.access import level_of, town_of
from ..core.money import ZERO, round_half_up
from ..core.time import now_utc
from ..custody.models import AssetOperation
from ..distribution import rules as dist_rules
from ..distribution import services as dist
from ..distribution.models import (
    DEFAULT_FORBIDDEN_USES,
    STEP_ORDER,
    STEP_STATUS,
    DistributionPlan,
    JobAttendance,
    PlanLine,
    PlanObjection,
    PublicJob,
)
from ..distribution.models import (
    STATUSES as PLAN_STATUSES,
)
from ..extensions import db
from ..households.models import Household
from ..income import rules as income_rules
from ..income import services as income
from ..income.models import AssetShare, ContractReturn, IncomeEntry, Settlement
from ..places.models import Place
from ..users.models import User

FIRST_YEAR, LAST_YEAR = 2020, 2024  # the settled years (2025 runs to May)
LAST_MONTH = (2025, 5)  # the last month whose income is in
# A village PV station: ~1,100 kWh per kW a year, shaped by the season (Hunan), sold to the grid at
# 0.39 yuan/kWh paid monthly; the year's tariff subsidy (0.10 yuan/kWh) arrives in the next year.
YIELD_KWH = 1100
SEASON = (55, 60, 80, 100, 115, 110, 150, 145, 120, 100, 75, 60)
TARIFF = Decimal("0.39")
SUBSIDY = Decimal("0.10")
MAINTENANCE_RATE = Decimal("0.08")  # an operator's O&M fee on the electricity it collects (委托运维)
HUNDRED = Decimal("1E2")
YUAN = Decimal("1")
GRID = "国网湖南省电力有限公司青溪县供电分公司"
INSURER = "中国人民财产保险股份有限公司青溪支公司"
CLEANER = "青溪县光伏运维服务有限公司"
MIN_PLAN_NET = Decimal("5000")  # a village with less settled net income than this makes no plan
JOB_SHARE = Decimal("0.45")  # public-welfare wages take at most this share of a village's lowest year
POSTS = ("道路维护员", "保洁员", "护林防火员")
PV_POST = "光伏电站管护员"
WAGES = (300, 400, 500, 500, 600, 600, 800, 1000)
PUBLIC_WORKS = ("村组道路维修养护", "村庄保洁及垃圾清运", "饮水工程管护维修", "小型农田水利设施维修",
                "村内路灯维修及电费")
REINVEST = ("入股村茶叶专业合作社发展产业", "新建蔬菜大棚扩大产业规模", "油茶低改提质")
# The statuses a 2024 plan is left in, earliest first; further 2024 plans are completed.
OPEN_TARGETS = ("draft", "proposed", "consulted", "party_reviewed", "resolved", "resolution_published",
                "town_reviewed", "in_notice", "in_notice", "approved", "filed", "paid")
# What each deliberate problem is there to show (DOMAIN.md §11 and the plan warnings).
PROBLEM_LABELS = {
    "SETTLEMENT_LATE": "上年收益未按期（3月31日前）清算公示 last year not settled and published by 31 March",
    "INCOME_OVERDUE": "合同收益到期未收 contract income due but not received",
    "INCOME_ON_DISPOSED": "已处置资产仍登记收益 income on a disposed asset",
    "OBJECTION_OPEN": "公示期异议未答复 objection open during the notice",
    "EQUAL_CASH": "现金按户平均发放 equal cash to every household",
    "MONITORED_LEFT_OUT": "监测户未获分配 monitored households get nothing",
    "PV_SHARE_LOW": "光伏收益用于公益岗位和公益事业不足 PV share below the minimum",
}
NOTES = [
    "NOTICE_SHORT 未预设：公示期短于县定最短天数的方案无法登记（record_step 以 notice_too_short 拒绝）"
    " — skipped, the services refuse a notice shorter than the county minimum",
]


@dataclass
class YearlySummary:
    counts: dict[str, int] = field(default_factory=dict)
    plans_by_status: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=lambda: list(NOTES))

    def report_lines(self, as_of: date) -> list[str]:
        c = self.counts
        out = [
            f"收益台账 income ledger {FIRST_YEAR}–{LAST_MONTH[0]}年{LAST_MONTH[1]}月: 记录 entries {c.get('entries', 0):,}"
            f"（冲销 reversals {c.get('reversals', 0)}，调整 adjustments {c.get('adjustments', 0)}），"
            f"合同收益条款 contracts {c.get('contracts', 0)}，共享份额 shares {c.get('shares', 0)}"
            f"（{c.get('shared_assets', 0)} 座共享电站 shared stations）",
            f"年度清算 settlements: 村 village {c.get('village_settlements', 0)}，乡镇 town {c.get('town_settlements', 0)}",
            f"公益岗位 public-welfare jobs {c.get('jobs', 0)}，出勤月 attendance months {c.get('attendance', 0):,}",
            f"分配方案 plans {c.get('plans', 0)}（到户明细 lines {c.get('plan_lines', 0):,}，异议 objections "
            f"{c.get('objections', 0)}）: " + "、".join(f"{PLAN_STATUSES[k]} {v}" for k, v in self.plans_by_status.items()),
            f"预设收益与分配问题（按 {as_of} 判断）deliberate income and distribution problems, as of {as_of}:",
        ]
        for key, label in PROBLEM_LABELS.items():
            items = self.problems.get(key, [])
            sample = ", ".join(items[:3]) + (" …" if len(items) > 3 else "")
            out.append(f"  {key:<18} {label}: {len(items)}  {sample}")
        out.extend(f"  {n}" for n in self.notes)
        return out


# --- entry points ------------------------------------------------------------------------------

def load_yearly(seed: int, county_code: str, as_of: date) -> dict[str, list[str]]:
    """Build the years for the county just loaded; returns the deliberate problems it placed."""
    return _Yearly(random.Random(f"{seed}:yearly"), county_code, as_of).build()


def summarize(county_code: str, as_of: date) -> YearlySummary:
    """Counts and the deliberate problems as the data shows them (same answer on every run)."""
    s = db.session

    def count(model, *where):
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(model.county_code == county_code, *where))

    summary = YearlySummary()
    summary.counts = {
        "entries": count(IncomeEntry),
        "reversals": count(IncomeEntry, IncomeEntry.reverses_id.is_not(None)),
        "adjustments": count(IncomeEntry, IncomeEntry.is_adjustment.is_(True)),
        "contracts": count(ContractReturn),
        "shares": count(AssetShare, AssetShare.replaced_at.is_(None)),
        "shared_assets": s.scalar(sa.select(sa.func.count(sa.distinct(AssetShare.asset_id))).where(
            AssetShare.county_code == county_code, AssetShare.replaced_at.is_(None))),
        "village_settlements": count(Settlement, Settlement.level == "village"),
        "town_settlements": count(Settlement, Settlement.level == "town"),
        "jobs": count(PublicJob),
        "attendance": count(JobAttendance),
        "plans": count(DistributionPlan),
        "plan_lines": count(PlanLine),
        "objections": count(PlanObjection),
    }
    rows = dict(s.execute(sa.select(DistributionPlan.status, sa.func.count()).where(
        DistributionPlan.county_code == county_code).group_by(DistributionPlan.status)).all())
    summary.plans_by_status = {k: rows[k] for k in PLAN_STATUSES if rows.get(k)}
    summary.problems = scan_yearly(county_code, as_of)
    return summary


def scan_yearly(county_code: str, as_of: date) -> dict[str, list[str]]:
    """The income and distribution problems the data shows at ``as_of`` (sorted labels)."""
    s = db.session
    out: dict[str, list[str]] = {k: [] for k in PROBLEM_LABELS}
    # SETTLEMENT_LATE: the last closed year, per village (basis: P34).
    year = as_of.year - 1
    due = income_rules.settlement_due_on(year)
    settled = {r.village_code: r for r in s.execute(sa.select(
        Settlement.village_code, Settlement.settled_on, Settlement.published_on).where(
        Settlement.county_code == county_code, Settlement.level == "village", Settlement.year == year))}
    for code in s.scalars(sa.select(Place.code).where(Place.county_code == county_code, Place.level == "village",
                                                      Place.valid_to.is_(None)).order_by(Place.code)):
        r = settled.get(code)
        if r is None:
            if as_of > due:
                out["SETTLEMENT_LATE"].append(f"{code} {year} 未清算")
        elif r.settled_on > due or (r.published_on or as_of) > due:
            out["SETTLEMENT_LATE"].append(f"{code} {year} 逾期")
    # INCOME_OVERDUE: contract income due for a closed period, not received (basis: P09).
    contract_assets = s.execute(sa.select(ContractReturn.asset_id, Asset.code).join(
        Asset, Asset.id == ContractReturn.asset_id).where(ContractReturn.county_code == county_code)
        .distinct().order_by(Asset.code)).all()
    for asset_id, code in contract_assets:
        for y in range(FIRST_YEAR, as_of.year + 1):
            for line in income.dues_for(county_code, asset_id, y, today=as_of)["lines"]:
                if line["is_overdue"]:
                    out["INCOME_OVERDUE"].append(f"{code} {line['period_label']}")
    # INCOME_ON_DISPOSED: ordinary income received after the asset was disposed of or scrapped.
    rows = s.execute(sa.select(Asset.code, IncomeEntry.period_year).join(Asset, Asset.id == IncomeEntry.asset_id).where(
        IncomeEntry.county_code == county_code, Asset.status.in_(("disposed", "scrapped")),
        IncomeEntry.direction == "income", IncomeEntry.kind != "disposal", IncomeEntry.reverses_id.is_(None),
        IncomeEntry.received_on > Asset.status_on)).all()
    out["INCOME_ON_DISPOSED"] = sorted({f"{code} {y}" for code, y in rows})
    # Plans: open objections and the warnings a plan carries.
    plans = s.scalars(sa.select(DistributionPlan).where(DistributionPlan.county_code == county_code)
                      .options(*dist._full(county_code)).order_by(DistributionPlan.village_code, DistributionPlan.year)).all()
    for plan in plans:
        label = f"{plan.village_code} {plan.year}"
        if any(o.is_open for o in plan.objections):
            out["OBJECTION_OPEN"].append(label)
        for w in dist.plan_warnings(plan):
            if w["code"] in out:
                out[w["code"]].append(label)
    return {k: sorted(v) for k, v in out.items()}


# --- the builder -------------------------------------------------------------------------------

@dataclass(eq=False)
class _Asset:
    id: int
    code: str
    name: str
    category: str
    subtype: str
    town_code: str | None
    village_code: str | None
    quantity: Decimal | None
    value: Decimal
    status: str
    status_on: date
    intervals: list[tuple[date, date | None]] = field(default_factory=list)  # in service, [from, to)
    ops: list = field(default_factory=list)  # AssetOperation rows, oldest first

    @property
    def capacity(self) -> int:
        return int(self.quantity or 0)

    def mode(self) -> str:
        return self.ops[-1].mode if self.ops else "self_run"

    def operating(self, y: int, m: int) -> bool:
        """In service for the whole calendar month."""
        first = date(y, m, 1)
        nxt = date(y + (m == 12), m % 12 + 1, 1)
        return any(lo <= first and (hi is None or hi >= nxt) for lo, hi in self.intervals)


@dataclass(eq=False)
class _Village:
    code: str
    name: str
    town_code: str
    households: list[Household] = field(default_factory=list)
    stations: list[_Asset] = field(default_factory=list)  # own PV stations


@dataclass(eq=False)
class _Posting:
    asset: _Asset
    direction: str
    kind: str
    year: int
    received_on: date
    amount: Decimal
    payer: str | None
    month: int | None = None
    quarter: int | None = None
    note: str | None = None
    fault: str | None = None  # duplicate / wrong_amount / wrong_asset: posted wrong, then reversed
    adjustment: bool = False  # arrives after its year was settled: a dated adjustment
    on_disposed: bool = False  # deliberately received after the asset was disposed of


@dataclass(eq=False)
class _Contract:
    asset: _Asset
    op: AssetOperation
    kind: str
    basis: str
    period: str
    principal: Decimal | None = None
    rate: Decimal | None = None
    amount: Decimal | None = None
    skip_year: int | None = None  # one period left unpaid (应收未收)


def _months(y: int) -> range:
    return range(1, 13) if y < LAST_MONTH[0] else range(1, LAST_MONTH[1] + 1)


def _ceil(value: Decimal, quantum: Decimal = HUNDRED) -> Decimal:
    q = (value / quantum).to_integral_value(rounding="ROUND_CEILING")
    return (q * quantum).quantize(Decimal("0.01"))


def _floor(value: Decimal, quantum: Decimal = HUNDRED) -> Decimal:
    q = (value / quantum).to_integral_value(rounding="ROUND_FLOOR")
    return (q * quantum).quantize(Decimal("0.01"))


class _Yearly:
    def __init__(self, rng: random.Random, county_code: str, as_of: date):
        self.rng = rng
        self.county = county_code
        self.as_of = as_of
        self.postings: dict[int, list[_Posting]] = defaultdict(list)
        self.contracts: list[_Contract] = []
        self.shares: dict[int, list[tuple[str, int]]] = {}  # asset id -> [(village, kW)]
        self.settle_on: dict[tuple[str, int], tuple[date, date] | None] = {}  # (place, year) -> settled, published
        self.vouchers: Counter = Counter()
        self.problems: dict[str, list[str]] = {k: [] for k in PROBLEM_LABELS}
        # A village kept clear of the deliberate problems, with a corrected voucher in 2023: the year to show.
        self.showcase: str | None = None

    # small helpers -----------------------------------------------------------------------------
    def day(self, y: int, m: int, lo: int, hi: int) -> date:
        return date(y, m, self.rng.randint(lo, hi))

    def between(self, lo: date, hi: date) -> date:
        return lo + timedelta(days=self.rng.randint(0, max(0, (hi - lo).days)))

    def actor(self, a: _Asset) -> User:
        return self.fin[a.town_code] if a.town_code else self.admin

    def voucher(self, a: _Asset, on: date) -> str:
        book = a.village_code or a.town_code or self.county
        key = (book, on.year, on.month)
        self.vouchers[key] += 1
        return f"记字{on.year}{on.month:02d}第{self.vouchers[key]:03d}号"

    # the build ---------------------------------------------------------------------------------
    def build(self) -> dict[str, list[str]]:
        self.load()
        # The county saves the defaults of the seeds' era (basis: P10, P20, P23) rather than relying on them.
        dist.set_policy(self.admin, {"pv_public_min_share": Decimal("0.8000"),
                                     "forbidden_uses": list(DEFAULT_FORBIDDEN_USES), "min_notice_days": 10,
                                     "complaint_phone": "12317"})
        self.plan_pv()
        self.plan_contracts()
        self.plan_faults()
        self.choose_shares()
        self.plan_disposals()
        self.plan_settlement_dates()
        self.apply_shares()
        self.create_contracts()
        self.create_jobs(self.estimate_net())
        self.run_years()
        self.make_plans()
        db.session.flush()
        return {k: sorted(v) for k, v in self.problems.items()}

    def load(self) -> None:
        s = db.session
        users = {u.username: u for u in s.scalars(sa.select(User).where(User.county_code == self.county))}
        self.admin = users["admin"]
        places = s.execute(sa.select(Place.code, Place.name, Place.level, Place.parent_code).where(
            Place.county_code == self.county, Place.valid_to.is_(None)).order_by(Place.code)).all()
        self.towns = [p.code for p in places if p.level == "town"]
        self.fin = {t: users[f"fin_{t[-3:]}"] for t in self.towns}
        self.villages = {p.code: _Village(p.code, p.name, p.parent_code) for p in places if p.level == "village"}
        self.vc = {code: users[f"vc_{code}"] for code in self.villages}
        for h in s.scalars(sa.select(Household).where(Household.county_code == self.county)
                           .options(sa.orm.selectinload(Household.members_in(self.county))).order_by(Household.number)):
            self.villages[h.village_code].households.append(h)
        self.assets: dict[int, _Asset] = {}
        for a in s.scalars(sa.select(Asset).where(Asset.county_code == self.county, Asset.category != "household")
                           .order_by(Asset.code)):
            self.assets[a.id] = _Asset(a.id, a.code, a.name, a.category, a.subtype, a.town_code, a.village_code,
                                       a.quantity, a.original_value, a.status, a.status_on)
        changes = defaultdict(list)
        for c in s.scalars(sa.select(AssetStatusChange).where(AssetStatusChange.county_code == self.county)
                           .order_by(AssetStatusChange.asset_id, AssetStatusChange.changed_on, AssetStatusChange.id)):
            changes[c.asset_id].append(c)
        for asset_id, path in changes.items():
            a = self.assets.get(asset_id)
            if a is None:
                continue
            for i, c in enumerate(path):
                if c.to_status in ("in_operation", "in_use"):
                    end = path[i + 1].changed_on if i + 1 < len(path) else None
                    a.intervals.append((c.changed_on, end))
        for op in s.scalars(sa.select(AssetOperation).where(AssetOperation.county_code == self.county)
                            .order_by(AssetOperation.asset_id, AssetOperation.term_from, AssetOperation.id)):
            if op.asset_id in self.assets:
                self.assets[op.asset_id].ops.append(op)
        self.operating = [a for a in self.assets.values() if a.category == "operating" and a.intervals]
        for a in self.operating:
            if a.subtype == "光伏电站" and a.village_code:
                self.villages[a.village_code].stations.append(a)

    # income plans ------------------------------------------------------------------------------
    def plan_pv(self) -> None:  # noqa: C901 - one branch per PV cost line of the demo's ledger
        """Monthly electricity, quarterly O&M, yearly insurance (and site rent, cleaning), the subsidy."""
        rng = self.rng
        stations = [a for a in self.operating if a.subtype == "光伏电站"]
        self.late_subsidy: set[tuple[int, int]] = set()
        village_stations = [a for a in stations if a.village_code and a.operating(2022, 1) and a.operating(2022, 12)]
        village_stations = [a for a in village_stations if a.intervals[-1][1] is None]
        if village_stations:
            late = rng.choice(village_stations)
            self.late_subsidy.add((late.id, 2022))
        for a in stations:
            cap = a.capacity
            first_year = a.intervals[0][0].year
            entrusted = a.mode() == "entrusted"
            operator = a.ops[-1].operator_name if entrusted else None
            payer = operator or GRID
            site_rent = _floor(Decimal(cap * rng.randint(12, 25)), HUNDRED) if rng.random() < 0.3 else None
            cleaning = Decimal(rng.randint(6, 10) * 100) if not entrusted else None
            for y in range(FIRST_YEAR, LAST_MONTH[0] + 1):
                age = max(0, y - first_year)
                months = [m for m in _months(y) if a.operating(y, m)]
                if not months:
                    continue
                year_kwh = 0
                by_quarter: dict[int, list[Decimal]] = defaultdict(list)
                for m in months:
                    kwh = cap * YIELD_KWH * SEASON[m - 1] * rng.randint(88, 112) * (1000 - 5 * age) \
                        // (sum(SEASON) * 100 * 1000)
                    year_kwh += kwh
                    amount = round_half_up(Decimal(kwh) * TARIFF)
                    by_quarter[(m + 2) // 3].append(amount)
                    paid = self.day(y + (m == 12), m % 12 + 1, 12, 25)
                    self.postings[y].append(_Posting(a, "income", "electricity", y, paid, amount, payer, month=m,
                                                     note=f"上网电量 {kwh:,} 千瓦时 × {TARIFF} 元"))
                for q, amounts in by_quarter.items():
                    if entrusted:
                        fee = round_half_up(sum(amounts, ZERO) * MAINTENANCE_RATE)
                        note = f"委托运维费，按当季电费 {MAINTENANCE_RATE * 100:.0f}% 计"
                    else:
                        fee = Decimal(cap * 6 * len(amounts) // 3 or cap * 2).quantize(Decimal("0.01"))
                        note = "电站运维费（巡检、逆变器维护）"
                    paid = self.day(y, 3 * q, 20, 28) if q < 4 else self.day(y + 1, 1, 5, 12)
                    if paid > self.as_of or (y, 3 * q) > LAST_MONTH:
                        continue
                    self.postings[y].append(_Posting(a, "deduction", "maintenance", y, paid, fee,
                                                     operator or CLEANER, quarter=q, note=note))
                if 3 in months:
                    premium = round_half_up(a.value * Decimal("0.0015"), YUAN)
                    self.postings[y].append(_Posting(a, "deduction", "insurance", y, self.day(y, 3, 5, 25), premium,
                                                     INSURER, note="电站财产保险年度保费"))
                if y > LAST_YEAR:
                    continue
                if site_rent is not None and 12 in months:
                    self.postings[y].append(_Posting(a, "deduction", "site_rent", y, self.day(y, 12, 10, 20),
                                                     site_rent, f"{self.place_name(a)}村民小组",
                                                     note="电站占地场地租金"))
                if cleaning is not None:
                    for m in (6, 12):
                        if m in months:
                            self.postings[y].append(_Posting(a, "deduction", "custody", y, self.day(y, m, 15, 28),
                                                             cleaning / 2, CLEANER, month=m,
                                                             note="组件清洗及日常管护"))
                subsidy = round_half_up(Decimal(year_kwh) * SUBSIDY)
                if (a.id, y) in self.late_subsidy:
                    paid = self.day(y + 1, 6, 3, 20)
                    self.postings[y + 1].append(_Posting(a, "income", "tariff_subsidy", y, paid, subsidy, GRID,
                                                         note=f"{y}年度可再生能源电价补贴（延迟到账，作调整）",
                                                         adjustment=True))
                else:
                    self.postings[y].append(_Posting(a, "income", "tariff_subsidy", y, self.day(y + 1, 2, 3, 26),
                                                     subsidy, GRID,
                                                     note=f"{y}年度可再生能源电价补贴 {year_kwh:,} 千瓦时"))

    def place_name(self, a: _Asset) -> str:
        return self.villages[a.village_code].name if a.village_code else "青溪县"

    def plan_contracts(self) -> None:  # noqa: C901 - one branch per contract kind and due rule, kept together to read as the demo's story
        """Rents, guaranteed returns and dividends from the operation contracts, as their dues fall."""
        rng = self.rng
        for a in self.operating:
            if a.subtype == "光伏电站":
                continue
            for op in a.ops:
                if op.mode not in ("lease", "joint_stock", "entrusted") or op.term_to < date(FIRST_YEAR, 1, 1):
                    continue
                minimum = op.guaranteed_minimum or op.agreed_annual_income
                if op.mode == "lease":
                    quarterly = a.subtype == "冷库仓储" and rng.random() < 0.6
                    c = _Contract(a, op, "rent", "fixed", "quarter" if quarterly else "year",
                                  amount=round_half_up(op.agreed_annual_income / 4) if quarterly
                                  else op.agreed_annual_income)
                elif a.subtype == "入股资产":
                    rate = (minimum * 100 / a.value).quantize(Decimal("0.1"))
                    c = _Contract(a, op, "dividend", "rate", "year", principal=a.value, rate=max(rate, Decimal("0.1")))
                else:
                    c = _Contract(a, op, "dividend", "fixed", "year", amount=minimum)
                self.contracts.append(c)
        # Two contracts leave one closed period unpaid (应收未收, basis: P09).
        rate_based = [c for c in self.contracts if c.basis == "rate" and c.op.term_to >= date(2025, 1, 1)
                      and c.op.term_from <= date(2024, 1, 1)]
        rents = [c for c in self.contracts if c.kind == "rent" and c.period == "year"
                 and c.op.term_from <= date(2023, 1, 1) and c.op.term_to >= date(2023, 12, 31)]
        if rate_based:
            rng.choice(rate_based).skip_year = 2024
        if rents:
            rng.choice(rents).skip_year = 2023
        for c in self.contracts:
            for y in range(FIRST_YEAR, LAST_MONTH[0] + 1):
                dues = income_rules.contract_dues(kind=c.kind, basis=c.basis, period=c.period, start_on=c.op.term_from,
                                                  end_on=c.op.term_to, year=y, principal=c.principal,
                                                  annual_rate_percent=c.rate, amount=c.amount)
                for d in dues:
                    if d.period_end > date(LAST_MONTH[0], LAST_MONTH[1] + 1, 1):
                        continue
                    if c.skip_year == y:
                        self.problems["INCOME_OVERDUE"].append(f"{c.asset.code} {y}年")
                        continue
                    if d.quarter:
                        paid = self.day(y, 3 * d.quarter, 10, 28)
                    elif rng.random() < 0.7 or y == LAST_MONTH[0]:
                        paid = self.day(y, 12, 10, 28)
                    else:
                        paid = self.day(y + 1, 1, 6, 25)
                    if paid > c.op.term_to:  # the last part is settled when the contract ends
                        paid = max(c.op.term_to - timedelta(days=rng.randint(0, 10)), date(y, 1, 1))
                    label = {"rent": "租金", "dividend": "保底收益"}[c.kind]
                    months = f"（{d.months}个月）" if d.months < (3 if d.quarter else 12) else ""
                    self.postings[y].append(_Posting(c.asset, "income", c.kind, y, paid, d.amount, c.op.operator_name,
                                                     quarter=d.quarter, note=f"按合同{c.op.contract_no}收取{label}{months}"))
                if c.basis == "fixed" and c.kind == "dividend" and y <= LAST_YEAR and rng.random() < 0.25 \
                        and dues and c.skip_year != y and c.op.term_to > date(y + 1, 1, 31):
                    extra = _floor(c.amount * rng.randint(10, 30) / 100)
                    if extra > 0:
                        self.postings[y].append(_Posting(c.asset, "income", "dividend", y, self.day(y + 1, 1, 10, 28),
                                                         extra, c.op.operator_name, note="年终超额分红"))

    def plan_faults(self) -> None:
        """A few vouchers posted wrong and reversed with a reason (a duplicate, a wrong amount, a wrong asset)."""
        rng = self.rng
        for y, fault in ((2020, "duplicate"), (2021, "wrong_amount"), (2022, "wrong_asset"), (2023, "wrong_amount")):
            pool = [p for p in self.postings[y] if p.kind == "electricity" and 2 <= p.month <= 10 and p.asset.town_code
                    and not p.fault]
            if fault == "wrong_asset":
                pool = [p for p in pool if any(o is not p.asset and o.town_code == p.asset.town_code
                                               for o in self.operating if o.subtype == "光伏电站")]
            if pool:
                rng.choice(pool).fault = fault

    def choose_shares(self) -> None:
        """Up to three village PV stations shared with 1-2 villages of their town, by capacity."""
        rng = self.rng
        whole = [a for a in self.operating if a.subtype == "光伏电站" and a.village_code and a.capacity >= 100
                 and a.intervals[0][0] < date(FIRST_YEAR, 1, 1) and a.intervals[-1][1] is None]
        whole.sort(key=lambda a: (-a.capacity, a.code))
        taken: set[str] = set()
        splits = {300: [(150, 100, 50), (120, 100, 80)], 200: [(100, 60, 40), (120, 80)], 100: [(60, 40)]}
        for a in whole:
            if len(self.shares) == 3:
                break
            if a.village_code in taken:
                continue
            partners = [v for v in self.villages.values() if v.town_code == a.town_code and v.code != a.village_code
                        and v.code not in taken]
            without_pv = [v for v in partners if not v.stations]
            pool = without_pv or partners
            split = rng.choice(splits.get(a.capacity, [(a.capacity * 6 // 10, a.capacity - a.capacity * 6 // 10)]))
            if len(pool) < len(split) - 1:
                continue
            chosen = rng.sample(pool, len(split) - 1)
            self.shares[a.id] = [(a.village_code, split[0])] + [(v.code, kw) for v, kw in zip(chosen, split[1:],
                                                                                               strict=True)]
            taken.update(code for code, _ in self.shares[a.id])
        if self.shares:
            # The first village (the demo village committee's login) if it shares a station, else the
            # first shared station's own village.
            sharing = {code for parts in self.shares.values() for code, _ in parts}
            first = min(self.villages)
            self.showcase = first if first in sharing else self.assets[next(iter(self.shares))].village_code
        # The showcase year carries a corrected voucher of its own station, if it has none yet.
        if self.showcase:
            mine = [p for p in self.postings[2023] if p.asset.village_code == self.showcase and p.kind == "electricity"
                    and 2 <= p.month <= 10]
            if mine and not any(p.fault for p in self.postings[2023] if p.asset.village_code == self.showcase):
                for p in self.postings[2023]:
                    if p.fault == "wrong_amount":
                        p.fault = None
                rng.choice(mine).fault = "wrong_amount"

    def plan_disposals(self) -> None:
        """Disposal proceeds (处置收入) of disposed assets, and rent wrongly taken on one of them."""
        rng = self.rng
        disposed = [a for a in self.assets.values() if a.status == "disposed" and a.town_code]
        for a in disposed:
            if date(FIRST_YEAR, 1, 1) <= a.status_on <= date(LAST_MONTH[0], LAST_MONTH[1], 28):
                amount = _floor(a.value * rng.randint(8, 30) / 100)
                if amount > 0:
                    self.postings[a.status_on.year].append(_Posting(
                        a, "income", "disposal", a.status_on.year, a.status_on, amount, "青溪县公共资源交易中心",
                        note="资产处置收入（公开拍卖成交价款）"))
        # basis: P30 — income after disposal means the asset is still used: the flag's case.
        late = [a for a in self.assets.values() if a.status in ("disposed", "scrapped") and a.town_code
                and a.status_on < date(2025, 1, 1)]
        late.sort(key=lambda a: (a.category != "operating", a.status != "disposed", a.code))
        if late:
            a = late[0]
            amount = Decimal(rng.randint(20, 60) * 100).quantize(Decimal("0.01"))
            self.postings[2025].append(_Posting(a, "income", "rent", 2025, self.day(2025, 4, 8, 25), amount,
                                                "原承租经营户", quarter=1, note="原承租户缴纳2025年一季度场地使用费",
                                                on_disposed=True))
            self.problems["INCOME_ON_DISPOSED"].append(f"{a.code} 2025")

    def plan_settlement_dates(self) -> None:
        """Every village and town settles 2020-2023 by 31 March; 2024 mostly, with a few late or missing."""
        rng = self.rng
        codes = sorted(self.villages)
        for y in range(FIRST_YEAR, LAST_YEAR):
            for code in codes:
                settled = self.day(y + 1, 3, 2, 24)
                self.settle_on[(code, y)] = (settled, min(settled + timedelta(days=rng.randint(1, 5)),
                                                         date(y + 1, 3, 31)))
        # The showcase village and the first one (the demo village committee's login) settle on time.
        others = [c for c in codes if c not in (self.showcase, codes[0])]
        rng.shuffle(others)
        missing, late, published_late = others[:3], others[3:5], others[5:6]
        for code in codes:
            settled = self.day(2025, 3, 2, 24)
            published = min(settled + timedelta(days=rng.randint(1, 5)), date(2025, 3, 31))
            if code in missing:
                self.settle_on[(code, 2024)] = None
                self.problems["SETTLEMENT_LATE"].append(f"{code} 2024 未清算")
                continue
            if code in late:
                settled = self.between(date(2025, 4, 8), date(2025, 5, 15))
                published = settled + timedelta(days=rng.randint(2, 6))
                self.problems["SETTLEMENT_LATE"].append(f"{code} 2024 逾期")
            elif code in published_late:
                published = self.between(date(2025, 4, 3), date(2025, 4, 20))
                self.problems["SETTLEMENT_LATE"].append(f"{code} 2024 逾期")
            self.settle_on[(code, 2024)] = (settled, published)
        for town in self.towns:
            for y in range(FIRST_YEAR, LAST_YEAR + 1):
                mine = [self.settle_on[(c, y)] for c in codes if c.startswith(town)]
                if any(m is None for m in mine) or not mine:
                    self.settle_on[(town, y)] = None
                    continue
                settled = max(m[0] for m in mine) + timedelta(days=rng.randint(1, 3))
                published = settled + timedelta(days=1)
                if settled <= income_rules.settlement_due_on(y) < published:
                    published = settled
                self.settle_on[(town, y)] = (settled, published)

    # writes before the years run ---------------------------------------------------------------
    def apply_shares(self) -> None:
        for asset_id, parts in self.shares.items():
            a = self.assets[asset_id]
            shares = [{"village_code": code, "weight": Decimal(kw),
                       "basis": f"按装机容量分配：{self.villages[code].name}{kw}千瓦"} for code, kw in parts]
            income.replace_shares(self.actor(a), asset_id, shares=shares, from_year=None)

    def create_contracts(self) -> None:
        for c in self.contracts:
            income.create_contract(self.actor(c.asset), c.asset.id, {
                "contract_no": c.op.contract_no, "payer": c.op.operator_name, "kind": c.kind, "basis": c.basis,
                "principal": c.principal, "annual_rate_percent": c.rate, "amount": c.amount, "period": c.period,
                "start_on": c.op.term_from, "end_on": c.op.term_to,
                "note": "入股本金×年保底收益率" if c.basis == "rate" else None})

    def estimate_net(self) -> dict[tuple[str, int], Decimal]:
        """Each village's net income per settled year, as the postings will make it (for sizing jobs)."""
        net: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        per_asset: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
        for y in range(FIRST_YEAR, LAST_YEAR + 1):
            for p in self.postings[y] + [q for q in self.postings[y + 1] if q.year == y]:
                if p.year != y or p.kind == "disposal":
                    continue
                per_asset[(p.asset.id, y)] += income_rules.signed_effect(p.direction, p.amount, False)
        for (asset_id, y), value in per_asset.items():
            a = self.assets[asset_id]
            if asset_id in self.shares:
                parts = income_rules.split_among(value, [income_rules.Share(c, Decimal(w))
                                                         for c, w in self.shares[asset_id]])
                for code, part in parts.items():
                    net[(code, y)] += part
            elif a.village_code:
                net[(a.village_code, y)] += value
        return net

    # public-welfare jobs (公益岗位) -------------------------------------------------------------
    def create_jobs(self, net: dict[tuple[str, int], Decimal]) -> None:
        """Jobs sized so their wages take at most ``JOB_SHARE`` of the village's lowest year from their start."""
        rng = self.rng
        self.job_terms: dict[str, list[tuple[Decimal, date, date]]] = defaultdict(list)
        self.job_facts: dict[str, list[tuple[PublicJob, Household, set[tuple[int, int]]]]] = defaultdict(list)
        for v in self.villages.values():
            years = [y for y in range(FIRST_YEAR, LAST_YEAR + 1)]
            start = next((y for y in years if all(net.get((v.code, z), ZERO) >= Decimal("8000")
                                                  for z in years if z >= y)), None)
            if start is None:
                continue
            budget = min(net[(v.code, z)] for z in years if z >= start) * JOB_SHARE
            posts = list(POSTS) + ([PV_POST] if v.stations else [])
            rng.shuffle(posts)
            holders = self.job_holders(v)
            planned: list[tuple[str, Decimal]] = []
            for post in posts:
                wage = Decimal(rng.choice(WAGES) if post != PV_POST else rng.choice((600, 800, 1000)))
                if sum(w for _, w in planned) * 12 + wage * 12 > budget:
                    wage = Decimal(300)
                    if sum(w for _, w in planned) * 12 + wage * 12 > budget:
                        break
                planned.append((post, wage))
            term_from = date(start, 1, 1)
            for post, wage in planned:
                if not holders:
                    break
                first = holders.pop(0)
                cycle = "quarter" if rng.random() < 0.6 else "month"
                if rng.random() < 0.2 and start <= 2021 and holders:
                    # the first holder left mid-2022; the post went to the next household in line
                    switch = date(2022, 6, 30)
                    self.new_job(v, post, first, wage, term_from, switch, cycle)
                    self.new_job(v, post, holders.pop(0), wage, switch + timedelta(days=1), date(2025, 12, 31), cycle)
                else:
                    self.new_job(v, post, first, wage, term_from, date(2025, 12, 31), cycle)

    def job_holders(self, v: _Village) -> list[tuple[Household, str]]:
        """Members of 脱贫户/监测户 who can work, weak and half labour first (basis: P29, P36)."""
        rank = {"half": 0, "weak": 1, "full": 2}
        pool = []
        for h in v.households:
            if h.status not in ("formerly_poor", "monitored"):
                continue
            able = [m for m in h.members if m.labour in rank]
            if able:
                best = min(able, key=lambda m: (rank[m.labour], m.id))
                pool.append((rank[best.labour], self.rng.random(), h, best.name))
        pool.sort(key=lambda t: (t[0], t[1]))
        return [(h, name) for _, _, h, name in pool]

    def new_job(self, v: _Village, post: str, holder: tuple[Household, str], wage: Decimal, term_from: date,
                term_to: date, cycle: str) -> None:
        household, person = holder
        vc = self.vc[v.code]
        job = dist.create_job(vc, {"village_code": v.code, "post": post, "household_id": household.id,
                                   "person_name": person, "monthly_wage": wage.quantize(Decimal("0.01")),
                                   "term_from": term_from, "term_to": term_to, "pay_cycle": cycle,
                                   "note": f"聘期 {term_from} 至 {term_to}"})
        self.job_terms[v.code].append((wage, term_from, term_to))
        attended: set[tuple[int, int]] = set()
        self.job_facts[v.code].append((job, household, attended))
        entries = []
        y, m = term_from.year, term_from.month
        while (y, m) <= LAST_MONTH and date(y, m, 1) <= term_to:
            days = 0 if self.rng.random() < 0.04 else self.rng.randint(18, 26)
            entries.append({"year": y, "month": m, "days_worked": days, "attended": days > 0})
            if days:
                attended.add((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        for i in range(0, len(entries), 36):  # the API takes at most 36 months at once
            dist.record_attendance(vc, job.id, entries[i:i + 36])

    # the years ---------------------------------------------------------------------------------
    def run_years(self) -> None:
        for y in range(FIRST_YEAR, LAST_MONTH[0] + 1):
            kept = []
            for p in self.postings[y]:
                a = p.asset
                # Money owed before an asset left the books is collected by then, and a subsidy not yet
                # paid is lost with it (INCOME_ON_DISPOSED is only the one deliberate case).
                if a.status in ("disposed", "scrapped") and p.received_on > a.status_on and not p.on_disposed:
                    if p.kind == "tariff_subsidy":
                        continue
                    p.received_on = a.status_on
                kept.append(p)
            self.postings[y] = kept
            batch: list[_Posting] = []
            for p in sorted(self.postings[y], key=lambda p: (p.adjustment, p.received_on, p.asset.code, p.kind,
                                                             p.month or 0, p.quarter or 0)):
                if p.kind == "electricity" and not p.fault and not p.adjustment:
                    batch.append(p)
                    continue
                self.insert(batch)  # ids stay in the order the money arrived
                batch = []
                self.post(p)
            self.insert(batch)
            if y <= LAST_YEAR:
                self.settle(y)

    def insert(self, batch: list[_Posting]) -> None:
        """The plain monthly electricity rows (about two thirds of the ledger) in bulk, for speed: inserts
        only, each with the change-log row ``post_entry`` writes. They are the service's rows exactly: a
        non-household asset, income kind, a month, a positive amount, received in the past, and posted
        before their year is settled (``run_years`` settles a year after its rows)."""
        if not batch:
            return
        now = now_utc()
        rows = []
        for p in batch:
            a = p.asset
            assert p.amount > 0 and p.received_on <= self.as_of and a.category != "household"
            rows.append(IncomeEntry(
                county_code=self.county, town_code=a.town_code, village_code=a.village_code, asset_id=a.id,
                direction="income", kind="electricity", period_year=p.year, period_month=p.month,
                received_on=p.received_on, amount=p.amount, payer=p.payer, voucher_no=self.voucher(a, p.received_on),
                note=p.note, is_adjustment=False, recorded_by_id=self.actor(a).id, recorded_at=now))
        db.session.add_all(rows)
        db.session.flush()
        for p, row in zip(batch, rows, strict=True):
            record_change(self.actor(p.asset), entity="income_entry", entity_id=row.id, action="create",
                          county_code=self.county, town_code=row.town_code, village_code=row.village_code,
                          after=snapshot(row))

    def post(self, p: _Posting) -> IncomeEntry:
        user = self.actor(p.asset)
        data = {"direction": p.direction, "kind": p.kind, "period_year": p.year, "period_month": p.month,
                "period_quarter": p.quarter, "received_on": p.received_on, "amount": p.amount, "payer": p.payer,
                "voucher_no": self.voucher(p.asset, p.received_on), "note": p.note}
        if p.adjustment:
            data.update(is_adjustment=True, adjustment_on=p.received_on)
        fixed_on = p.received_on + timedelta(days=self.rng.randint(3, 9))
        if p.fault == "duplicate":
            entry = income.post_entry(user, p.asset.id, data)
            dup = income.post_entry(user, p.asset.id, dict(data))
            income.reverse_entry(user, dup.id, {"reason": f"同一凭证{data['voucher_no']}重复登记，冲销重复记录",
                                                "reversed_on": fixed_on, "voucher_no": self.voucher(p.asset, fixed_on)})
            return entry
        if p.fault == "wrong_amount":
            digits = list(f"{p.amount:.2f}")
            digits[0], digits[1] = digits[1], digits[0]  # two digits keyed the wrong way round
            wrong = Decimal("".join(digits)) if p.amount >= 100 else p.amount + 100
            if wrong == p.amount or wrong <= 0:
                wrong = p.amount + 100
            bad = income.post_entry(user, p.asset.id, {**data, "amount": wrong})
            income.reverse_entry(user, bad.id, {
                "reason": f"金额录入错误（凭证{data['voucher_no']}应为{p.amount:.2f}元），冲销后按原始凭证重新登记",
                "reversed_on": fixed_on, "voucher_no": self.voucher(p.asset, fixed_on)})
            return income.post_entry(user, p.asset.id, {**data, "received_on": p.received_on})
        if p.fault == "wrong_asset":
            other = next(o for o in self.operating if o.subtype == "光伏电站" and o is not p.asset
                         and o.town_code == p.asset.town_code)
            bad = income.post_entry(user, other.id, data)
            income.reverse_entry(user, bad.id, {
                "reason": f"误记入{other.code}（应记{p.asset.code}），冲销后改记正确资产",
                "reversed_on": fixed_on, "voucher_no": self.voucher(other, fixed_on)})
            return income.post_entry(user, p.asset.id, {**data, "voucher_no": self.voucher(p.asset, fixed_on)})
        return income.post_entry(user, p.asset.id, data)

    def settle(self, y: int) -> None:
        for code in sorted(self.villages) + self.towns:
            when = self.settle_on.get((code, y))
            if when is None:
                continue
            user = self.fin[town_of(code)]
            income.settle_year(user, place_code=code, year=y, settled_on=when[0], published_on=when[1],
                               note=None if level_of(code) == "village" else "乡镇汇总清算（含乡镇级资产）")

    # distribution plans ------------------------------------------------------------------------
    def make_plans(self) -> None:
        """A plan for every settled village year with enough income: older years completed, 2023 with two
        stuck after filing or payment, 2024 spread over every status; a few carry a deliberate problem."""
        rng = self.rng
        net = {(s.village_code, s.year): s.net for s in db.session.scalars(sa.select(Settlement).where(
            Settlement.county_code == self.county, Settlement.level == "village"))}
        eligible = {y: [c for c in sorted(self.villages) if net.get((c, y), ZERO) >= MIN_PLAN_NET]
                    for y in range(FIRST_YEAR, LAST_YEAR + 1)}
        # Which plan carries which deliberate problem (never the showcase village).
        special: dict[tuple[str, int], str] = {}

        def pick(year: int, kind: str, need=lambda code: True) -> None:
            pool = [c for c in eligible[year] if c != self.showcase and (c, year) not in special
                    and not any(k[0] == c for k in special) and need(c)]
            if pool:
                special[(rng.choice(pool), year)] = kind

        pick(2021, "MONITORED_LEFT_OUT")
        pick(2022, "EQUAL_CASH")
        pick(2023, "PV_SHARE_LOW", lambda c: sum(self.pv_part(c, 2023)) * Decimal("0.8")
             >= self.wages(c, 2023) + 3000)
        pick(2023, "objection_answered")
        targets: dict[tuple[str, int], str] = {}
        open_2024 = [c for c in eligible[2024] if c != self.showcase]
        # The villages that settled last are the ones whose plans are least advanced.
        open_2024.sort(key=lambda c: (-self.settle_on[(c, 2024)][1].toordinal(), rng.random()))
        for code, target in zip(open_2024, OPEN_TARGETS, strict=False):
            targets[(code, 2024)] = target
        in_notice = [k for k, t in targets.items() if t == "in_notice"]
        if in_notice:
            special[in_notice[0]] = "OBJECTION_OPEN"
        stuck = [c for c in eligible[2023] if (c, 2023) not in special and c != self.showcase]
        for code, target in zip(rng.sample(stuck, min(2, len(stuck))), ("paid", "filed"), strict=False):
            targets[(code, 2023)] = target
        for y in range(FIRST_YEAR, LAST_YEAR + 1):
            for code in eligible[y]:
                self.plan(self.villages[code], y, targets.get((code, y), "completed"), special.get((code, y)))

    def wages(self, code: str, y: int) -> Decimal:
        """The most a village's jobs can earn in ``y`` (every month of their terms attended)."""
        return sum((w * len(dist_rules.months_in_term(y, lo, hi)) for w, lo, hi in self.job_terms[code]), ZERO)

    def pv_part(self, code: str, y: int) -> list[Decimal]:
        s = income.settlement_for(self.county, code, y)
        if s is None:
            return []
        pv = {a.id for a in self.operating if a.subtype == "光伏电站"}
        return [Decimal(str(ln["part"])) for ln in s.lines if ln["asset_id"] in pv and Decimal(str(ln["part"])) > 0]

    def tiers(self, with_monitored: bool = True) -> list[dict]:
        rows = [{"status": "monitored", "min_size": 4, "amount": Decimal("1500.00")},
                {"status": "monitored", "amount": Decimal("1000.00")}] if with_monitored else []
        return rows + [{"status": "formerly_poor", "labour": "none", "amount": Decimal("800.00")},
                       {"status": "formerly_poor", "labour": "weak", "amount": Decimal("500.00")},
                       {"status": "formerly_poor", "labour": "half", "amount": Decimal("300.00")}]

    def facts(self, v: _Village) -> list[dist_rules.HouseholdFacts]:
        return [dist_rules.HouseholdFacts(h.id, h.head_name, h.status, len(h.members),
                                          dist_rules.household_labour(m.labour for m in h.members))
                for h in v.households]

    def relief_lines(self, v: _Village, total: Decimal | None, with_monitored: bool = True) -> list[dict]:
        """扶贫济困 by the tier table (amounts as proportions of ``total``); None: the table as it stands."""
        tiers = [dist_rules.Tier(**t) for t in self.tiers(with_monitored)]
        lines = dist_rules.fill_by_tiers(self.facts(v), tiers, total).lines
        return [{k: li[k] for k in ("household_id", "person_name", "amount", "reason")} for li in lines]

    def relief_count(self, v: _Village, with_monitored: bool = True) -> int:
        return len(self.relief_lines(v, None, with_monitored))

    def job_lines(self, v: _Village, year: int) -> list[dict]:
        """公益岗位: months attended in ``year`` within each job's term × its monthly wage."""
        facts = []
        for job, household, attended in sorted(self.job_facts[v.code], key=lambda t: (t[1].number, t[0].id)):
            term = dist_rules.months_in_term(year, job.term_from, job.term_to)
            months = sum(1 for m in term if (year, m) in attended)
            facts.append(dist_rules.JobFacts(job.id, household.id, job.person_name, job.post, job.monthly_wage, months))
        return dist_rules.wage_lines(facts)

    def award_households(self, v: _Village) -> list[Household]:
        """以奖代补: up to a dozen 脱贫户/监测户 that developed a courtyard economy this year."""
        pool = [h for h in v.households if h.status in ("formerly_poor", "monitored")
                and any(m.labour == "full" for m in h.members)]
        k = min(len(pool), self.rng.randint(6, 12), max(1, len(v.households) - 1))
        return sorted(self.rng.sample(pool, k), key=lambda h: h.number) if k else []

    @staticmethod
    def equal_lines(households: list[Household], total: Decimal, reason: str) -> list[dict]:
        amounts = dist_rules.split_by_weights(total, [1] * len(households))
        return [{"household_id": h.id, "person_name": h.head_name, "amount": a, "reason": reason}
                for h, a in zip(households, amounts, strict=True)]

    def amounts(self, v: _Village, plan: DistributionPlan, jobs_total: Decimal, problem: str | None,
                awarded: list[Household]) -> list[dict]:
        """The allocations of a plan, adding up exactly to what is available (carry-over takes the rest):
        wages as attended, public works up to the PV minimum (basis: P23), then relief, awards, upkeep."""
        rng = self.rng
        available, pv = plan.available, plan.pv_net
        required = dist_rules.pv_required(pv, Decimal("0.8"))
        out: list[dict] = []
        if jobs_total > 0:
            out.append({"purpose": "public_jobs", "amount": jobs_total, "use": "公益岗位工资（按出勤月数×月工资）"})
        relief_n = self.relief_count(v, problem != "MONITORED_LEFT_OUT")
        relief_min = Decimal(150 * relief_n)
        works = _ceil(max(required - jobs_total, ZERO))
        if problem == "PV_SHARE_LOW":
            works = _floor(works * Decimal("0.25"))
        elif available - jobs_total - _ceil(available * Decimal("0.1")) >= relief_min * 2:
            works = max(works, _ceil(available * Decimal("0.1")))
        works = min(works, available - jobs_total)
        left = available - jobs_total - works
        if works > 0:
            out.append({"purpose": "public_works", "amount": works, "use": rng.choice(PUBLIC_WORKS)})
        if relief_n and left >= relief_n:  # at least a yuan a household
            relief = left if left <= relief_min else max(relief_min, _floor(left * Decimal("0.4")))
            if relief > 0:
                out.append({"purpose": "relief", "amount": relief, "use": "监测户及困难脱贫户帮扶救助"})
                left -= relief
        share = Decimal("0.5") if problem == "EQUAL_CASH" else Decimal("0.3")
        awards = _floor(left * share)
        if awards >= 600 and (awarded or problem == "EQUAL_CASH"):
            out.append({"purpose": "awards", "amount": awards,
                        "use": "全村农户平均发放" if problem == "EQUAL_CASH" else "发展庭院经济以奖代补"})
            left -= awards
        upkeep = _floor(left * Decimal("0.3"))
        if upkeep > 0:
            out.append({"purpose": "operation_maintenance", "amount": upkeep,
                        "use": "光伏电站运维及组件清洗" if v.stations else "扶贫项目资产日常管护"})
            left -= upkeep
        if problem == "PV_SHARE_LOW" or rng.random() < 0.35:
            reinvest = _floor(left * Decimal("0.6"))
            if reinvest > 0:
                out.append({"purpose": "reinvestment", "amount": reinvest, "use": rng.choice(REINVEST)})
                left -= reinvest
        if left > 0:
            out.append({"purpose": "carry", "amount": left, "use": "结转下年度分配"})
        order = list(dist.PURPOSES)
        return sorted(out, key=lambda a: order.index(a["purpose"]))

    def plan(self, v: _Village, year: int, target: str, problem: str | None) -> None:
        """One plan: allocations with their household lines from the fill helpers (distribution/rules.py:
        months × wage, the tier table, equal), set in one checked PUT, then the procedure up to ``target``."""
        vc = self.vc[v.code]
        plan = dist.create_plan(vc, {"village_code": v.code, "year": year,
                                     "note": f"{v.name}{year}年度扶贫项目资产收益分配方案"})
        jobs = self.job_lines(v, year)
        jobs_total = sum((li["amount"] for li in jobs), ZERO)
        if jobs_total > plan.available * Decimal("0.6"):
            jobs_total = ZERO  # cannot be paid this year: the wages wait for next year's plan
        awarded = self.award_households(v)
        allocations = self.amounts(v, plan, jobs_total, problem, awarded)
        if target != "draft":  # a draft has its amounts, not yet its households
            with_monitored = problem != "MONITORED_LEFT_OUT"
            for a in allocations:
                if a["purpose"] == "public_jobs":
                    a["lines"] = jobs
                elif a["purpose"] == "relief":
                    a["lines"] = self.relief_lines(v, a["amount"], with_monitored)
                elif a["purpose"] == "awards" and problem == "EQUAL_CASH":  # the same to every household
                    a["lines"] = self.equal_lines(v.households, a["amount"], "全村按户平均发放")
                elif a["purpose"] == "awards":
                    a["lines"] = self.equal_lines(awarded, a["amount"], "发展庭院经济以奖代补")
        dist.set_allocations(vc, plan.id, allocations)
        if target == "draft":
            return
        if problem in ("EQUAL_CASH", "MONITORED_LEFT_OUT", "PV_SHARE_LOW", "OBJECTION_OPEN"):
            self.problems[problem].append(f"{v.code} {year}")
        self.steps(v, plan, target, problem)

    def schedule(self, year: int, target: str, earliest: date) -> list[tuple[str, date, date | None]]:
        """(kind, date, notice end) for each step up to ``target``, spaced as villages do."""
        rng = self.rng
        last = STEP_ORDER.index(next(k for k, s in STEP_STATUS.items() if s == target))
        gaps = {"proposal": 0, "consultation": rng.randint(2, 5), "party_meeting": rng.randint(2, 5),
                "representatives_meeting": rng.randint(1, 4), "resolution_published": rng.randint(1, 2),
                "town_review": rng.randint(3, 7), "notice": rng.randint(1, 3), "approval": rng.randint(1, 3),
                "county_filing": rng.randint(3, 8), "payment": rng.randint(3, 10),
                "result_published": rng.randint(3, 7)}
        notice_days = rng.randint(10, 12)
        kinds = STEP_ORDER[:last + 1]
        span = sum(gaps[k] for k in kinds) + (notice_days - 1 if "approval" in kinds else 0)
        if year < LAST_YEAR:
            start = earliest + timedelta(days=rng.randint(8, 30))
        elif target == "in_notice":
            start = self.between(date(2025, 6, 21), date(2025, 6, 28)) - timedelta(days=span)
        elif target == "completed":
            start = earliest + timedelta(days=rng.randint(3, 12))
        else:
            start = self.between(date(2025, 6, 8), date(2025, 6, 27)) - timedelta(days=span)
        start = max(start, earliest)
        if start + timedelta(days=span) > self.as_of:
            start = self.as_of - timedelta(days=span)
        out, day, end = [], start, None
        for k in kinds:
            day = (end if k == "approval" else day) + timedelta(days=gaps[k])
            if k == "notice":
                end = day + timedelta(days=notice_days - 1)
            out.append((k, day, end if k == "notice" else None))
        return out

    def steps(self, v: _Village, plan: DistributionPlan, target: str, problem: str | None) -> None:
        rng = self.rng
        vc, fin = self.vc[v.code], self.fin[v.town_code]
        published = self.settle_on[(v.code, plan.year)][1]
        n = rng.randint(1, 20)
        for kind, on, end in self.schedule(plan.year, target, published + timedelta(days=1)):
            data: dict = {"kind": kind, "done_on": on}
            if kind == "proposal":
                data.update(minutes=f"村党支部提出{plan.year}年度收益分配方案（草案）：按县定比例安排公益岗位和村级公益事业，"
                                    "优先帮扶监测户和困难脱贫户", document=f"{v.name}党支部〔{on.year}〕{n}号")
            elif kind == "consultation":
                data.update(minutes="村两委会议逐项商议分配方案，形成修改意见后提交党员大会审议")
            elif kind in ("party_meeting", "representatives_meeting"):
                due = rng.randint(18, 45) if kind == "party_meeting" else rng.randint(21, 41)
                present = rng.randint(-(-due * 2 // 3) + 1, due)
                favour = present - rng.randint(0, max(0, (present - 1) // 2 - 1))
                label = "党员大会" if kind == "party_meeting" else "村民代表会议"
                data.update(members_due=due, members_present=present, members_in_favour=favour,
                            minutes=f"{label}应到{due}人，实到{present}人，{favour}人赞成，审议通过分配方案")
            elif kind == "resolution_published":
                data.update(minutes="决议内容在村务公开栏和村民微信群公开", document="村务公开栏")
            elif kind == "town_review":
                data.update(minutes="经审核，分配用途符合规定，到户明细与分配额相符，同意公示")
            elif kind == "notice":
                data = {"kind": kind, "notice_start_on": on, "notice_end_on": end,
                        "minutes": "在村务公开栏、村民小组公示栏公示，公布12317及乡镇监督电话"}
            elif kind == "approval":
                data.update(minutes="公示期满，无异议（异议均已答复），批准实施")
            elif kind == "county_filing":
                data.update(minutes="资料齐全，予以备案", document=f"青乡振备〔{on.year}〕{rng.randint(1, 200)}号")
            elif kind == "payment":
                card = rng.random() < 0.85
                data.update(payment_method="一卡通" if card else "银行转账",
                            minutes="通过惠民惠农财政补贴资金“一卡通”发放到户" if card else "按到户明细银行转账发放")
            elif kind == "result_published":
                data.update(minutes="兑付结果在村务公开栏公开，接受群众监督")
            user = fin if kind == "town_review" else self.admin if kind == "county_filing" else vc
            dist.record_step(user, plan.id, data)
            if kind == "notice" and problem in ("OBJECTION_OPEN", "objection_answered"):
                raised = min(on + timedelta(days=rng.randint(1, 4)), self.as_of)
                household = rng.choice([h for h in v.households if h.status != "monitored"] or v.households)
                objection = dist.record_objection(vc, plan.id, {
                    "raised_on": raised, "raised_by": household.head_name,
                    "content": "本户家庭困难，未列入扶贫济困分配名单，请求复核"})
                if problem == "objection_answered":
                    dist.answer_objection(vc, plan.id, objection.id, {
                        "answered_on": min(raised + timedelta(days=rng.randint(1, 3)), end),
                        "answer": "经村两委入户核实，该户人均收入高于帮扶标准，按规定不列入本次扶贫济困名单；"
                                  "已当面解释，本人表示理解"})


__all__ = ["NOTES", "PROBLEM_LABELS", "YearlySummary", "load_yearly", "scan_yearly", "summarize"]
