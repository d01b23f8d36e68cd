"""The demo county 青溪县 (431299): places, users, households, assets with rights, custody and contracts,
then (yearly.py) five years of income, settlements, public-welfare jobs and distribution plans, then
(oversight.py) regulations, the archive, audits, inspections, problems to rectify and disposals.

Deterministic for a seed (one ``random.Random``, fixed dates no later than ``AS_OF``), idempotent (a
county already present is left alone; only the demo API tokens are re-issued), and it never commits:
the ``flask demo`` command does. Places, users, depreciation policies and assets go through their
services; households, rights, custody and operation rows are inserted with the models in bulk.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from ..assets import services as asset_services
from ..assets.models import CATEGORIES, STATUSES, Asset, DepreciationPolicy
from ..assets.rules import HELD, IN_SERVICE
from ..changelog.services import record_change, snapshot
from ..core.access import ROLES
from ..core.money import from_fen, round_half_up, split_largest_remainder
from ..core.validators import make_credit_code, make_id_number
from ..custody.models import AssetCustody, AssetOperation
from ..extensions import db
from ..households.models import MONITOR_TYPES, Household, HouseholdMember
from ..households.models import STATUSES as HOUSEHOLD_STATUSES
from ..places.models import Place
from ..places.services import create_place
from ..rights.models import FIVE_RIGHTS, AssetRight
from ..users.models import User
from ..users.services import create_user, issue_token, revoke_tokens
from . import names as N
from .gaps import AS_OF, GAP_SIZES, scan_gaps
from .oversight import OversightSummary, load_oversight, summarize_oversight
from .yearly import YearlySummary, load_yearly, summarize

COUNTY_CODE = N.COUNTY_CODE
COUNTY_NAME = N.COUNTY_NAME
DEMO_PASSWORD = "demo12345"
TOKEN_NAME = "demo"
START = date(2016, 1, 1)
HOUSEHOLD_CHUNK = 600
HUNDRED = Decimal("1E2")  # quantum: round to whole hundreds of yuan

# Depreciation policy per subtype: useful life (years), residual rate (basis: P19, seed 002 item 19).
# 入股资产 (equity) is not depreciated, so it has no policy.
POLICIES = {
    "光伏电站": (20, "0.05"), "扶贫车间": (20, "0.05"), "种养基地": (10, "0.03"), "冷库仓储": (15, "0.05"),
    "乡村旅游设施": (15, "0.05"), "其他经营性资产": (10, "0.05"),
    "道路": (30, "0"), "桥梁": (50, "0"), "饮水工程": (20, "0"), "农田水利": (20, "0"),
    "教育卫生文化设施": (30, "0.05"), "人居环境设施": (10, "0"), "其他公益性资产": (15, "0"),
    "牲畜": (5, "0"), "种苗": (10, "0"), "小型设施": (8, "0"), "其他到户资产": (5, "0"),
}
STATUS_WEIGHTS = {
    "operating": {"under_construction": 3, "completed": 3, "handed_over": 3, "in_operation": 62, "idle": 10,
                  "disposing": 4, "disposed": 4, "scrapped": 3},
    "public_welfare": {"under_construction": 4, "completed": 4, "handed_over": 3, "in_use": 72, "idle": 5,
                       "disposing": 3, "disposed": 2, "scrapped": 4},
    "household": {"under_construction": 1, "completed": 2, "handed_over": 2, "in_use": 72, "idle": 5,
                  "disposing": 3, "disposed": 3, "scrapped": 9},
}
# The flag each gap is there to show (DOMAIN.md §11): custody basis: P12, P13; rights basis: P03;
# contracts basis: P07, P32.
GAP_LABELS = {
    "custody_missing": ("CUSTODY_MISSING", "公益性资产使用中但无管护主体 public-welfare asset in use without custodian"),
    "custody_expired": ("CUSTODY_EXPIRED", "管护期限已过 custody term over"),
    "custody_no_fund": ("CUSTODY_EXPIRED", "未落实管护经费 no maintenance fund"),
    "rights_incomplete": ("RIGHTS_INCOMPLETE", "已移交资产五权不全 handed-over asset missing rights"),
    "contract_missing": ("CONTRACT_EXPIRED", "经营性资产运营中但无经营合同 operating asset without contract"),
    "contract_expired": ("CONTRACT_EXPIRED", "经营合同已到期 operation contract expired"),
}


# --- result ------------------------------------------------------------------------------------

@dataclass
class DemoResult:
    seed: int
    created: bool
    elapsed_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)
    by_household_status: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, list[str]] = field(default_factory=dict)
    users: list[tuple[str, str, str, str]] = field(default_factory=list)  # username, role, scope, name
    tokens: dict[str, str] = field(default_factory=dict)  # username -> clear token
    password: str = DEMO_PASSWORD
    yearly: YearlySummary | None = None  # income, settlements, jobs and plans (yearly.py)
    oversight: OversightSummary | None = None  # regulations, archive, audits, problems, disposals (oversight.py)
    placed: dict[str, list[str]] = field(default_factory=dict)  # the problems yearly.py placed (first run)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage of a first run

    def report(self) -> str:
        c = self.counts
        out = [f"{COUNTY_NAME} ({COUNTY_CODE}) 示例数据 demo county"]
        if self.created:
            stages = "，".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
            out.append(f"已新建 created with seed {self.seed} in {self.elapsed_s:.1f} s ({stages})")
        else:
            out.append(f"该县已存在，未重复创建数据，仅重新签发演示令牌 already present: nothing created, "
                       f"demo tokens re-issued ({self.elapsed_s:.1f} s)")
        out.append(f"区划 places: 乡镇 towns {c.get('towns', 0)}, 村 villages {c.get('villages', 0)}")
        hs = "、".join(f"{HOUSEHOLD_STATUSES[k]} {v:,}" for k, v in self.by_household_status.items())
        out.append(f"农户 households {c.get('households', 0):,} ({hs}); 家庭成员 members {c.get('members', 0):,}")
        cats = "、".join(f"{CATEGORIES[k]} {v}" for k, v in self.by_category.items())
        out.append(f"资产 assets {c.get('assets', 0)} ({cats})")
        out.append("  按状态 by status: " + "、".join(f"{STATUSES[k]} {v}" for k, v in self.by_status.items()))
        out.append(f"  五权记录 rights {c.get('rights', 0)}, 管护记录 custody {c.get('custodies', 0)}, "
                   f"经营记录 operation {c.get('operations', 0)}, 折旧政策 depreciation policies "
                   f"{c.get('policies', 0)}")
        out.append(f"预设问题（供预警演示，按 {AS_OF} 判断）deliberate gaps for the flags, as of {AS_OF}:")
        for key, (flag, label) in GAP_LABELS.items():
            codes = self.gaps.get(key, [])
            sample = ", ".join(codes[:3]) + (" …" if len(codes) > 3 else "")
            out.append(f"  {flag:<17} {label}: {len(codes)}  {sample}")
        if self.yearly is not None:
            out.extend(self.yearly.report_lines(AS_OF))
        if self.oversight is not None:
            out.extend(self.oversight.report_lines(AS_OF))
        out.append(f"登录账号 logins — 统一密码 password: {self.password}")
        for username, role, scope, name in self.users:
            out.append(f"  {username:<18} {role:<17} {ROLES.get(role, role)}  {scope}  {name}")
        if self.tokens:
            out.append(f"API 令牌 tokens (名称 name \"{TOKEN_NAME}\"; 之前的演示令牌已吊销 earlier demo tokens revoked):")
            for username, token in self.tokens.items():
                out.append(f"  {username:<18} {token}")
        return "\n".join(out)


# --- entry point -------------------------------------------------------------------------------

def load_demo(seed: int, *, oversight: bool = True) -> DemoResult:
    """Load the demo county once; on a second run only re-issue the demo tokens. Never commits.

    ``oversight=False`` stops after the years (tests/test_demo_yearly.py checks that stage alone)."""
    started = time.perf_counter()
    exists = db.session.scalar(sa.select(Place.id).where(Place.code == COUNTY_CODE)) is not None
    result = DemoResult(seed=seed, created=not exists)
    if exists:
        result.gaps = scan_gaps(COUNTY_CODE, AS_OF)
    else:
        result.gaps = _Builder(random.Random(seed)).build()
        result.timings["registry"] = time.perf_counter() - started
        result.placed = load_yearly(seed, COUNTY_CODE, AS_OF)
        result.timings["years"] = time.perf_counter() - started - result.timings["registry"]
        if oversight:
            stage = time.perf_counter()
            load_oversight(seed, COUNTY_CODE, AS_OF)
            result.timings["oversight"] = time.perf_counter() - stage
    result.users = _demo_users()
    result.tokens = _issue_demo_tokens()
    _fill_counts(result)
    result.yearly = summarize(COUNTY_CODE, AS_OF)
    result.oversight = summarize_oversight(COUNTY_CODE, AS_OF)
    result.elapsed_s = time.perf_counter() - started
    return result


def _demo_users() -> list[tuple[str, str, str, str]]:
    rows = db.session.execute(
        sa.select(User.username, User.role, User.scope_code, User.display_name)
        .where(User.county_code == COUNTY_CODE).order_by(User.id)
    )
    return [tuple(r) for r in rows]


def _token_usernames() -> list[str]:
    town = N.TOWNS[0][0]
    return ["admin", f"fin_{town[-3:]}", f"vc_{town}201", "auditor"]


def _issue_demo_tokens() -> dict[str, str]:
    """One fresh token named "demo" per role; the previous demo tokens are revoked."""
    tokens = {}
    for username in _token_usernames():
        user = db.session.scalar(sa.select(User).where(User.username == username,
                                                       User.county_code == COUNTY_CODE))
        if user is None:
            continue
        revoke_tokens(user, TOKEN_NAME)
        tokens[username] = issue_token(user, TOKEN_NAME)
    return tokens


def _fill_counts(result: DemoResult) -> None:
    s = db.session

    def count(model, *where):
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(model.county_code == COUNTY_CODE,
                                                                            *where))

    result.counts = {
        "towns": count(Place, Place.level == "town"),
        "villages": count(Place, Place.level == "village"),
        "households": count(Household),
        "members": count(HouseholdMember),
        "assets": count(Asset),
        "rights": count(AssetRight),
        "custodies": count(AssetCustody),
        "operations": count(AssetOperation),
        "policies": count(DepreciationPolicy),
        "users": count(User),
    }

    def grouped(column, order):
        rows = dict(s.execute(sa.select(column, sa.func.count()).where(column.class_.county_code == COUNTY_CODE)
                              .group_by(column)).all())
        return {k: rows[k] for k in order if rows.get(k)}

    result.by_category = grouped(Asset.category, CATEGORIES)
    result.by_status = grouped(Asset.status, STATUSES)
    result.by_household_status = grouped(Household.status, HOUSEHOLD_STATUSES)


# --- the builder -------------------------------------------------------------------------------

@dataclass(eq=False)
class _Village:
    code: str
    name: str
    town_code: str
    town_name: str
    households: list[_Household] = field(default_factory=list)


@dataclass(eq=False)
class _Household:
    """A household row and its member rows, inserted in bulk; ``id`` is known after the insert."""

    row: dict
    members: list[dict]
    id: int | None = None

    @property
    def head_name(self) -> str:
        return self.row["head_name"]

    @property
    def status(self) -> str:
        return self.row["status"]


@dataclass(eq=False)
class _Spec:
    """One planned asset: what the loader will register and walk through its statuses."""

    category: str
    subtype: str
    level: str  # county / town / village / household
    town_code: str | None
    town_name: str | None
    village: _Village | None
    kind: tuple = ()  # subtype detail drawn from names.py
    status: str = ""
    code: str = ""
    project_year: int = 0
    start: date = START
    steps: list[tuple[str, date, str, str | None]] = field(default_factory=list)
    household: _Household | None = None
    asset: Asset | None = None
    quantity: Decimal | None = None
    unit: str | None = None
    value: Decimal = Decimal("0")
    operator_choice: tuple[str, str | None] | None = None  # (mode, operator) drawn once for rights and contract

    def reached(self, status: str) -> date | None:
        return next((d for s, d, _, _ in self.steps if s == status), None)


class _Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.villages: list[_Village] = []
        self.admin: User | None = None
        self.used_ids: set[str] = set()
        self.used_credit: set[str] = set()
        self.credit: dict[str, str] = {}  # organisation name -> credit code
        self.contract_no: dict[int, int] = {}  # per year

    # small helpers -----------------------------------------------------------------------------
    def date_between(self, lo: date, hi: date) -> date:
        return lo + timedelta(days=self.rng.randint(0, (hi - lo).days))

    def person_name(self, surname: str, sex: str, born: int) -> str:
        return surname + self.rng.choice(N.GIVEN[(sex, "old" if born < 1975 else "young")])

    def surname(self) -> str:
        return self.rng.choices([s for s, _ in N.SURNAMES], [w for _, w in N.SURNAMES])[0]

    def mobile(self) -> str:
        return self.rng.choice(N.MOBILE_PREFIXES) + f"{self.rng.randint(0, 99999999):08d}"

    def bank_card(self) -> str:
        body = self.rng.choice(N.CARD_BINS) + "".join(str(self.rng.randint(0, 9)) for _ in range(12))
        return body + _luhn_digit(body)

    def id_number(self, birth: date, male: bool) -> str:
        while True:  # the 17th digit is odd for men, even for women (GB 11643)
            seq = 2 * self.rng.randint(0, 499) + (1 if male else 0)
            number = make_id_number(COUNTY_CODE, birth, seq)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def credit_code(self, name: str, registry: str) -> str:
        if name not in self.credit:
            alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
            while True:
                if registry == "11":  # government bodies keep their old 9-digit organisation code
                    serial = f"0{self.rng.randint(10000000, 99999999)}"
                elif registry == "N2":
                    serial = "MF" + "".join(self.rng.choice(alphabet) for _ in range(7))
                else:
                    serial = "MA4" + "".join(self.rng.choice(alphabet) for _ in range(6))
                code = make_credit_code(COUNTY_CODE, serial, registry)
                if code not in self.used_credit:
                    break
            self.used_credit.add(code)
            self.credit[name] = code
        return self.credit[name]

    def approval_no(self, year: int) -> str:
        prefix = "青扶发" if year <= 2020 else "青乡振发"
        if self.rng.random() < 0.25:
            prefix = "青财农"
        return f"{prefix}〔{year}〕{self.rng.randint(1, 80)}号"

    def money(self, lo_yuan: int, hi_yuan: int, qty=1) -> Decimal:
        unit = from_fen(self.rng.randint(lo_yuan * 100, hi_yuan * 100))
        return round_half_up(Decimal(qty) * unit)

    # the build ---------------------------------------------------------------------------------
    def build(self) -> dict[str, list[str]]:
        self.places()
        self.users()
        self.policies()
        self.households()
        specs = self.plan_assets()
        self.assign_statuses(specs)
        seen: dict[str, int] = {}
        for spec in specs:
            self.plan_dates(spec)
            self.detail(spec)
            name = spec.kind[-2]
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:  # a second workshop or toilet in the same village is its 二期
                spec.kind = (*spec.kind[:-2], f"{name}（{N.CHINESE_NUMERALS[seen[name] - 1]}期）", spec.kind[-1])
        gaps = self.choose_gaps(specs)
        # Without autoflush: create_asset and change_status flush what they insert; the lookups of the next
        # call would only flush the previous one's change-log entry, a second flush per call.
        with db.session.no_autoflush:
            for spec in specs:
                self.register(spec)
        self.rights(specs, gaps)
        self.custody(specs, gaps)
        self.operations(specs, gaps)
        db.session.flush()
        return {k: sorted(s.code for s in v) for k, v in gaps.items()}

    def places(self) -> None:
        create_place(None, code=COUNTY_CODE, name=COUNTY_NAME, level="county", valid_from=START,
                     phone=N.COUNTY_PHONE)
        for town_code, town_name, phone, villages in N.TOWNS:
            create_place(None, code=town_code, name=town_name, level="town", parent_code=COUNTY_CODE,
                         valid_from=START, phone=phone)
            for i, name in enumerate(villages):
                code = f"{town_code}{201 + i}"
                create_place(None, code=code, name=name, level="village", parent_code=town_code, valid_from=START)
                self.villages.append(_Village(code, name, town_code, town_name))

    def users(self) -> None:
        def add(username, role, scope, display):
            return create_user(username=username, password=DEMO_PASSWORD, role=role, scope_code=scope,
                               display_name=display)

        self.admin = add("admin", "county_admin", COUNTY_CODE, f"{COUNTY_NAME}乡村振兴局管理员")
        for town_code, town_name, _, _ in N.TOWNS:
            add(f"fin_{town_code[-3:]}", "finance_officer", town_code, f"{town_name}财政所")
        for v in self.villages:
            add(f"vc_{v.code}", "village_committee", v.code, f"{v.name}村民委员会")
        add("auditor", "auditor", COUNTY_CODE, f"{COUNTY_NAME}审计局")
        first_town = N.TOWNS[0]
        add(f"auditor_{first_town[0][-3:]}", "auditor", first_town[0], f"{first_town[1]}纪委")

    def policies(self) -> None:
        for subtype, (life, rate) in POLICIES.items():
            asset_services.set_policy(self.admin, subtype=subtype, useful_life_years=life,
                                      residual_rate=Decimal(rate))

    # households --------------------------------------------------------------------------------
    def households(self) -> None:
        pending: list[_Household] = []
        for v in self.villages:
            for i in range(self.rng.randint(85, 110)):
                h = self.household(v, i + 1)
                v.households.append(h)
                pending.append(h)
            if len(pending) >= HOUSEHOLD_CHUNK:
                self.insert_households(pending)
                pending = []
        self.insert_households(pending)

    def insert_households(self, rows: list[_Household]) -> None:
        """Bulk INSERTs (executemany, no per-row round trip), then one change-log entry per household."""
        if not rows:
            return
        # render_nulls: every row has the same columns, so the whole chunk goes in one executemany.
        db.session.execute(sa.insert(Household).execution_options(render_nulls=True), [h.row for h in rows])
        ids = dict(db.session.execute(sa.select(Household.number, Household.id).where(
            Household.county_code == COUNTY_CODE, Household.number.in_([h.row["number"] for h in rows]))).all())
        members = []
        for h in rows:
            h.id = ids[h.row["number"]]
            members.extend({**m, "household_id": h.id} for m in h.members)
        db.session.execute(sa.insert(HouseholdMember).execution_options(render_nulls=True), members)
        for h in rows:
            after = {"id": h.id, **{k: v.isoformat() if isinstance(v, date) else v for k, v in h.row.items()},
                     "members": len(h.members)}
            record_change(self.admin, entity="household", entity_id=h.id, action="create", county_code=COUNTY_CODE,
                          town_code=h.row["town_code"], village_code=h.row["village_code"], after=after)

    def household(self, v: _Village, seq: int) -> _Household:
        rng = self.rng
        surname = self.surname()
        male_head = rng.random() < 0.86
        head_year = rng.choices(range(1940, 1991), [1 if y < 1950 else 3 if y < 1975 else 2
                                                    for y in range(1940, 1991)])[0]
        size = rng.choices([1, 2, 3, 4, 5, 6], [10, 22, 22, 22, 15, 9])[0]
        members: list[tuple[str, str, date, bool]] = []  # name, relation, birth, male
        taken: set[str] = set()

        def named(family: str, sex: str, year: int) -> str:
            """A name no one else in the household has."""
            for _ in range(20):
                name = self.person_name(family, sex, year)
                if name not in taken:
                    break
            taken.add(name)
            return name

        def birth(year):
            return date(min(year, 2024), rng.randint(1, 12), rng.randint(1, 28))

        head_birth = birth(head_year)
        members.append((named(surname, "m" if male_head else "f", head_year), "户主", head_birth,
                        male_head))
        if size >= 2 and rng.random() < 0.85:
            y = head_year + rng.randint(-4, 5)
            members.append((named(self.surname(), "f" if male_head else "m", y), "配偶", birth(y),
                            not male_head))
        if len(members) < size and head_year >= 1962 and rng.random() < 0.35:
            y = head_year - rng.randint(22, 32)
            father = rng.random() < 0.45
            parent_surname = surname if father and male_head else self.surname()
            members.append((named(parent_surname, "m" if father else "f", y),
                            "之父" if father else "之母", birth(y), father))
        child_surname = surname if male_head else self.surname()
        sons = []
        while len(members) < size:
            y = head_year + rng.randint(21, 34)
            if y > 2022:
                break
            son = rng.random() < 0.52
            name = named(child_surname, "m" if son else "f", y)
            members.append((name, "之子" if son else "之女", birth(y), son))
            if son:
                sons.append(y)
            if sons and sons[0] <= 1998 and len(members) < size and rng.random() < 0.5:
                sy = sons[0]
                members.append((named(self.surname(), "f", sy), "之儿媳", birth(sy + rng.randint(-2, 3)),
                                False))
                while len(members) < size and sy + 22 <= 2022:
                    gy = sy + rng.randint(22, 30)
                    boy = rng.random() < 0.5
                    members.append((named(child_surname, "m" if boy else "f", gy),
                                    "之孙子" if boy else "之孙女", birth(gy), boy))
                break
        status = rng.choices(["formerly_poor", "monitored", "ordinary"], [70, 10, 20])[0]
        monitor_type, cleared, cleared_on = None, False, None
        if status == "monitored":
            monitor_type = rng.choices(list(MONITOR_TYPES), [4, 4, 2])[0]
            if rng.random() < 0.4:
                cleared, cleared_on = True, self.date_between(date(2022, 1, 1), AS_OF)
        card = self.bank_card() if rng.random() < (0.4 if status == "ordinary" else 0.85) else None
        phone = self.mobile() if rng.random() < 0.72 else None
        ids = [self.id_number(b, male) for _, _, b, male in members]
        row = dict(county_code=COUNTY_CODE, town_code=v.town_code, village_code=v.code,
                   number=f"{v.code}{seq:04d}", head_name=members[0][0], head_id_number=ids[0], phone=phone,
                   status=status, monitor_type=monitor_type, is_risk_cleared=cleared,
                   risk_cleared_on=cleared_on, bank_card=card)
        return _Household(row, [dict(county_code=COUNTY_CODE, name=name, relation=rel, id_number=idn,
                                     labour=self.labour(b))
                                for (name, rel, b, _), idn in zip(members, ids, strict=True)])

    def labour(self, birth: date) -> str:
        age = AS_OF.year - birth.year
        if age < 16:
            return "none"
        if age < 60:
            return self.rng.choices(["full", "half", "weak", "none"], [80, 10, 6, 4])[0]
        if age < 70:
            return self.rng.choices(["full", "half", "weak", "none"], [15, 30, 45, 10])[0]
        return self.rng.choices(["weak", "none"], [30, 70])[0]

    # asset plan --------------------------------------------------------------------------------
    def plan_assets(self) -> list[_Spec]:
        rng = self.rng
        specs: list[_Spec] = []
        specs.append(_Spec("operating", "光伏电站", "county", None, None, None, ("集中式",)))
        specs.append(_Spec("operating", "入股资产", "county", None, None, None,
                           ("青溪县乡村振兴投资开发有限公司",)))
        specs.append(_Spec("public_welfare", "道路", "county", None, None, None, ("县乡",)))
        for town_code, town_name, _, _ in N.TOWNS:
            specs.append(_Spec("operating", "扶贫车间", "town", town_code, town_name, None))
            specs.append(_Spec("operating", "冷库仓储", "town", town_code, town_name, None))
            specs.append(_Spec("public_welfare", rng.choice(["桥梁", "饮水工程"]), "town", town_code, town_name,
                               None))
        for v in self.villages:
            def add(category, subtype, kind=(), v=v):
                specs.append(_Spec(category, subtype, "village", v.town_code, v.town_name, v, kind))

            groups = rng.sample(range(1, 10), 9)  # village groups (村民小组) whose roads get built

            if rng.random() < 0.85:
                add("operating", "光伏电站", (rng.choices([60, 100, 200, 300], [3, 4, 2, 1])[0],))
            for _ in range(rng.randint(1, 2)):
                subtype = rng.choices(["扶贫车间", "种养基地", "乡村旅游设施", "入股资产", "冷库仓储"],
                                      [2, 4, 1, 2, 1])[0]
                add("operating", subtype, self.kind(subtype, groups))
            for _ in range(rng.randint(6, 8)):
                subtype = rng.choices(["道路", "桥梁", "饮水工程", "农田水利", "教育卫生文化设施", "人居环境设施"],
                                      [4, 1, 2, 2, 1, 2])[0]
                add("public_welfare", subtype, self.kind(subtype, groups))
            eligible = [h for h in v.households if h.status in ("formerly_poor", "monitored")]
            k = rng.randint(4, 6)
            for h in rng.sample(eligible, min(k, len(eligible))):
                subtype = rng.choices(["牲畜", "种苗", "小型设施"], [3, 2, 2])[0]
                pool = {"牲畜": N.LIVESTOCK, "种苗": N.SEEDLINGS, "小型设施": N.SMALL_FACILITIES}[subtype]
                add("household", subtype, rng.choice(pool))
                specs[-1].level = "household"
                specs[-1].household = h
        return specs

    def kind(self, subtype: str, groups: list[int]) -> tuple:
        """The detail a village asset of ``subtype`` is drawn with (item, unit, price range …)."""
        rng = self.rng
        if subtype == "种养基地":
            return rng.choice(N.BASES)
        if subtype == "乡村旅游设施":
            return rng.choice(N.TOURISM)
        if subtype == "入股资产":  # equity placed with county firms that pay a guaranteed return
            return (rng.choice([N.COMPANIES[0], N.COMPANIES[2], N.COMPANIES[7], N.COMPANIES[8]]),)
        if subtype == "道路":
            return (groups.pop() if groups else rng.randint(1, 9),)
        if subtype == "桥梁":
            return (rng.choice(["溪口", "河湾", "上屋", "下坪", "岩脚", "枫木"]),)
        if subtype == "农田水利":
            return rng.choice(N.IRRIGATION)
        if subtype == "教育卫生文化设施":
            return rng.choice(N.WELFARE_CULTURE)
        if subtype == "人居环境设施":
            return rng.choice(N.HABITAT)
        return ()

    def assign_statuses(self, specs: list[_Spec]) -> None:
        for s in specs:
            weights = STATUS_WEIGHTS[s.category]
            s.status = self.rng.choices(list(weights), list(weights.values()))[0]
        # Every status must appear at least once: take it from an asset whose status is common.
        for status in STATUSES:
            if any(s.status == status for s in specs):
                continue
            counts = {st: sum(1 for s in specs if s.status == st) for st in STATUSES}
            fits = [s for s in specs if counts[s.status] > 3
                    and (status not in IN_SERVICE.values() or IN_SERVICE[s.category] == status)
                    and STATUS_WEIGHTS[s.category].get(status)]
            self.rng.choice(fits).status = status
        counters: dict[str, int] = {}
        for s in specs:  # codes are given after statuses so the plan order fixes them
            prefix = {"operating": "JY", "public_welfare": "GY", "household": "DH"}[s.category]
            counters[prefix] = counters.get(prefix, 0) + 1
            s.code = f"{COUNTY_CODE}{prefix}{counters[prefix]:04d}"

    def plan_dates(self, s: _Spec) -> None:
        """The dated path of legal transitions that brings the asset to its status (assets/rules.py)."""
        rng = self.rng
        final, hh = s.status, s.category == "household"
        service = IN_SERVICE[s.category]
        windows = {
            "under_construction": (date(2024, 3, 1), date(2025, 4, 30)),
            "completed": (date(2023, 1, 1), date(2024, 10, 31)),
            "handed_over": (date(2021, 3, 1), date(2024, 6, 30)),
            service: (date(2016, 3, 1), date(2023, 10, 31)),
            "idle": (date(2016, 3, 1), date(2020, 10, 31)),
        }
        lo, hi = windows.get(final, (date(2016, 3, 1), date(2019, 10, 31)))
        if s.subtype == "光伏电站" and final not in ("under_construction", "completed", "handed_over"):
            hi = min(hi, date(2019, 10, 31))  # the village PV wave was 2016-2019
        s.start = self.date_between(lo, hi)
        s.project_year = min(s.start.year, 2023)
        build = rng.randint(10, 60) if hh else rng.randint(90, 300)
        handover = rng.randint(400, 480) if rng.random() < 0.12 else rng.randint(20, 120)
        chain: list[tuple[str, int]] = []
        if final == "scrapped" and rng.random() < 0.2:  # destroyed by a flood while being built
            chain = [("disposing", rng.randint(30, 200)), ("scrapped", rng.randint(30, 180))]
        elif final != "under_construction":
            chain = [("completed", build)]
            if final != "completed":
                chain.append(("handed_over", handover))
            if final not in ("completed", "handed_over"):
                chain.append((service, rng.randint(0, 30)))
            if final in ("idle", "disposing", "disposed", "scrapped"):
                if final == "idle" or rng.random() < 0.5:
                    chain.append(("idle", rng.randint(700, 2200)))
                if final != "idle":
                    chain.append(("disposing", rng.randint(120, 900)))
            if final in ("disposed", "scrapped"):
                chain.append((final, rng.randint(30, 180)))
        total = sum(d for _, d in chain)
        room = (AS_OF - s.start).days - rng.randint(0, 30)
        if total > room:  # squeeze the path so the last step is still on or before AS_OF
            chain = [(st, d * room // total) for st, d in chain]
        day, s.steps = s.start, []
        for st, d in chain:
            day = day + timedelta(days=d)
            s.steps.append((st, day, *self.reason(s, st, day)))

    def reason(self, s: _Spec, status: str, day: date) -> tuple[str, str | None]:
        rng = self.rng
        if status == "completed":
            return "竣工验收合格", f"{s.project_year}年度项目竣工验收报告"
        if status == "handed_over":
            return "资产移交并确权登记", f"青扶资移〔{day.year}〕{rng.randint(1, 90)}号"
        if status in ("in_operation", "in_use"):
            return ("投入运营" if status == "in_operation" else "交付使用"), None
        if status == "idle":
            return rng.choice(N.IDLE_REASONS), None
        if status == "disposing":
            if s.reached("completed") is None:  # destroyed while being built
                why = N.DISPOSAL_REASONS[1][0]
            else:
                why = rng.choice([r for r, end in N.DISPOSAL_REASONS
                                  if s.status == "disposing" or end == STATUSES[s.status]])
            return why, f"{s.village.name if s.village else s.town_name or COUNTY_NAME}资产处置申请"
        if status == "disposed":
            return "处置完成，收入已入账", f"青乡振资处〔{day.year}〕{rng.randint(1, 40)}号"
        return "报废核销", f"青乡振资处〔{day.year}〕{rng.randint(1, 40)}号"

    def detail(self, s: _Spec) -> None:
        """Name, project, quantity, unit and original value of a planned asset."""
        rng, y = self.rng, s.project_year
        vname = s.village.name if s.village else None
        where = vname or s.town_name or COUNTY_NAME
        sub, kind = s.subtype, s.kind
        qty: Decimal | int | None = 1
        if sub == "光伏电站" and s.level == "county":
            qty, unit = 5000, "千瓦"
            s.value = self.money(4300, 5600, qty)
            name, project = f"{COUNTY_NAME}集中式光伏扶贫电站", f"{y}年{COUNTY_NAME}集中式光伏扶贫电站建设项目"
        elif sub == "光伏电站":
            qty, unit = kind[0], "千瓦"
            lo, hi = (7000, 8200) if y <= 2017 else (5200, 6500) if y <= 2019 else (3800, 4800)
            s.value = self.money(lo, hi, qty)
            name, project = f"{vname}村级光伏电站（{qty}千瓦）", f"{y}年{vname}村级光伏扶贫电站建设项目"
        elif sub == "扶贫车间":
            qty, unit = rng.randint(300, 1200), "平方米"
            s.value = self.money(900, 1600, qty)
            name, project = f"{where}就业扶贫车间", f"{y}年{where}就业扶贫车间建设项目"
        elif sub == "冷库仓储":
            qty, unit = rng.randint(500, 2000), "立方米"
            s.value = self.money(700, 1200, qty)
            name, project = f"{where}农产品冷链仓储库", f"{y}年{where}农产品冷链仓储设施建设项目"
        elif sub == "种养基地":
            item, unit, lo, hi = kind
            qty = rng.randint(50, 600) if unit == "亩" else rng.randint(300, 1500)
            s.value = self.money(lo, hi, qty)
            name, project = f"{vname}{item}", f"{y}年{vname}{item}建设项目"
        elif sub == "乡村旅游设施":
            item, unit, lo, hi = kind
            qty = Decimal(rng.randint(800, 4500)) / 1000 if unit == "公里" else rng.randint(5, 40) if unit == "亩" \
                else rng.randint(200, 900)
            s.value = self.money(lo, hi, qty)
            name, project = f"{vname}{item}", f"{y}年{vname}乡村旅游基础设施建设项目"
        elif sub == "入股资产":
            qty, unit = None, None
            s.value = Decimal(rng.randint(20, 100) * 10000 if s.level == "village" else 6000000).quantize(Decimal("0.01"))
            name = f"{where}产业扶贫资金入股{kind[0]}"
            project = f"{y}年{where}产业扶贫资金入股项目"
        elif sub == "道路":
            qty, unit = Decimal(rng.randint(800, 6500)) / 1000, "公里"
            if s.level == "county":
                qty = Decimal(rng.randint(12000, 18000)) / 1000
                s.value = self.money(800000, 1100000, qty)
                name, project = f"{COUNTY_NAME}白石至龙潭县乡公路", f"{y}年{COUNTY_NAME}县乡公路提质改造项目"
            else:
                s.value = self.money(400000, 650000, qty)
                group = N.CHINESE_NUMERALS[kind[0] - 1]
                name, project = f"{vname}{group}组通组公路", f"{y}年{vname}通组公路硬化项目"
        elif sub == "桥梁":
            unit = "座"
            s.value = self.money(300000, 1200000) if s.level == "village" else self.money(1500000, 3200000)
            name = f"{vname}{kind[0]}便民桥" if vname else f"{where}跨河大桥"
            project = f"{y}年{where}{'便民桥' if vname else '桥梁'}建设项目"
        elif sub == "饮水工程":
            unit = "处"
            s.value = self.money(150000, 800000) if vname else self.money(1500000, 3000000)
            name = f"{vname}安全饮水工程" if vname else f"{where}集中供水工程"
            project = f"{y}年{where}农村饮水安全巩固提升工程"
        elif sub in ("农田水利", "教育卫生文化设施", "人居环境设施"):
            item, unit, lo, hi = kind
            qty = {"公里": lambda: Decimal(rng.randint(500, 4000)) / 1000, "平方米": lambda: rng.randint(80, 400),
                   "盏": lambda: rng.randint(20, 80)}.get(unit, lambda: rng.randint(1, 3))()
            s.value = self.money(lo, hi, qty)
            name = f"{vname}{item}"
            project = f"{y}年{vname}{'人居环境整治项目' if sub == '人居环境设施' else item + '项目'}"
        else:  # household assets (到户类)
            item, unit, lo, hi, qlo, qhi = kind
            qty = rng.randint(qlo, qhi)
            s.value = self.money(lo, hi, qty)
            name = f"{s.household.head_name}户{item}"
            project = f"{y}年{vname}产业到户扶持项目"
        if y >= 2021:  # 2021: 扶贫 became 帮扶/衔接 in project names
            project = project.replace("扶贫", "帮扶")
        s.quantity = Decimal(qty).quantize(Decimal("0.001")) if qty is not None else None
        s.unit = unit
        s.kind = (*kind, name, project)

    def fundings(self, s: _Spec) -> list[dict]:
        rng = self.rng
        main = "integrated_agri" if s.project_year <= 2020 and rng.random() < 0.6 else "fiscal_link"
        extra = {"扶贫车间": ["east_west", "paired_assistance"], "种养基地": ["east_west", "other"],
                 "道路": ["local_bonds", "other"], "桥梁": ["local_bonds"], "饮水工程": ["local_bonds", "other"],
                 "教育卫生文化设施": ["donation", "paired_assistance"], "光伏电站": ["paired_assistance", "other"],
                 "乡村旅游设施": ["east_west", "donation"], "冷库仓储": ["east_west"]}.get(s.subtype, [])
        n = 0 if s.category == "household" or not extra else rng.choices([0, 1, 2], [5, 4, 1])[0]
        sources = [main] + rng.sample(extra, min(n, len(extra)))
        weights = [rng.randint(55, 90)] + [rng.randint(5, 30) for _ in sources[1:]]
        amounts = split_largest_remainder(s.value, weights)
        return [{"source": src, "amount": amt} for src, amt in zip(sources, amounts, strict=True)]

    def choose_gaps(self, specs: list[_Spec]) -> dict[str, list[_Spec]]:
        """Pick the assets that get a deliberate gap; an expired term needs an asset old enough."""
        rng, n = self.rng, GAP_SIZES
        old_enough = date(2023, 6, 30)

        def pick(pool, k, expired_key, others):
            old = [s for s in pool if s.steps and s.steps[-1][1] <= old_enough]
            expired = rng.sample(old, min(n[expired_key], len(old)))
            taken = {s.code for s in expired}
            rest = [s for s in pool if s.code not in taken]
            chosen = rng.sample(rest, min(sum(n[o] for o in others), len(rest)))
            out, i = {expired_key: expired}, 0
            for o in others:
                out[o], i = chosen[i:i + n[o]], i + n[o]
            return out

        pw_in_use = [s for s in specs if s.category == "public_welfare" and s.status == "in_use"]
        gaps = pick(pw_in_use, n, "custody_expired", ["custody_missing", "custody_no_fund"])
        running = [s for s in specs if s.category == "operating" and s.status == "in_operation"]
        gaps.update(pick(running, n, "contract_expired", ["contract_missing"]))
        held = [s for s in specs if s.status in HELD and s.category != "household"]
        gaps["rights_incomplete"] = rng.sample(held, min(len(held), n["rights_incomplete"]))
        return {k: gaps[k] for k in GAP_SIZES}

    # registration through the asset service ----------------------------------------------------
    def register(self, s: _Spec) -> None:
        name, project = s.kind[-2], s.kind[-1]
        place = s.village.code if s.village else s.town_code or COUNTY_CODE
        data = {
            "code": s.code, "name": name, "category": s.category, "subtype": s.subtype, "place_code": place,
            "managing_level": s.level, "original_value": s.value, "fundings": self.fundings(s),
            "project_name": project, "project_year": s.project_year, "project_approval_no": self.approval_no(
                s.project_year), "quantity": s.quantity, "unit": s.unit,
            "useful_life_years": POLICIES[s.subtype][0] if s.subtype in POLICIES else None,
            "status": "under_construction", "status_on": s.start,
        }
        steps = s.steps
        if steps and steps[0][0] == "completed":
            # Registered on completion (竣工验收后登记), as counties do; still building: registered at start.
            data.update(status="completed", status_on=steps[0][1], completed_on=steps[0][1])
            steps = steps[1:]
        if s.household is not None:
            data["household_id"] = s.household.id
        s.asset = asset_services.create_asset(self.admin, data)
        for status, day, why, document in steps:
            asset_services.change_status(self.admin, s.asset.id, to_status=status, changed_on=day, reason=why,
                                         document=document)

    # rights, custody, operation (inserted with the models; services are other areas' work) -------
    def org(self, s: _Spec, role: str) -> tuple[str, str, str | None]:
        """(holder kind, name, credit code) of the body holding ``role`` for an asset's level."""
        if s.village is not None:
            if role == "supervision":
                return "village_supervision", f"{s.village.name}村务监督委员会", None
            name = f"{s.village.name}股份经济合作社"
            return "village_collective", name, self.credit_code(name, "N2")
        if s.town_code is not None:
            if role == "supervision":
                return "other", f"{s.town_name}纪律检查委员会", None
            name = f"{s.town_name}人民政府"
            return "town_government", name, self.credit_code(name, "11")
        name = f"{COUNTY_NAME}审计局" if role == "supervision" else f"{COUNTY_NAME}乡村振兴局"
        return "county_department", name, self.credit_code(name, "11")

    def operator(self, s: _Spec) -> tuple[str, str]:
        """(mode, operator name) for an operating asset."""
        rng = self.rng
        if s.subtype == "光伏电站":
            if s.level == "county":  # basis: P35 — county projects run by the county company
                return "entrusted", N.COMPANIES[0]
            return rng.choice([("self_run", None), ("entrusted", N.COMPANIES[1])])
        if s.subtype == "入股资产":
            return "joint_stock", s.kind[0]
        if s.subtype == "扶贫车间":
            return "lease", rng.choice([N.COMPANIES[3], N.COMPANIES[10], N.COMPANIES[9], N.COMPANIES[11]])
        if s.subtype == "冷库仓储":
            return "lease", N.COMPANIES[5]
        if s.subtype == "乡村旅游设施":
            return rng.choice(["entrusted", "lease"]), N.COMPANIES[6]
        return rng.choice(["lease", "joint_stock"]), rng.choice(N.COOPERATIVES + [N.COMPANIES[2], N.COMPANIES[4]])

    def rights(self, specs: list[_Spec], gaps: dict[str, list[_Spec]]) -> None:
        rng = self.rng
        missing: dict[str, list[str]] = {}
        for s in gaps["rights_incomplete"]:
            k = rng.choice([1, 1, 1, 2, 3, 5])
            missing[s.code] = rng.sample(list(FIVE_RIGHTS), k)
        rows: list[AssetRight] = []
        pairs: list[tuple[AssetRight, AssetRight]] = []
        for s in specs:
            handed = s.reached("handed_over")
            if s.category == "household" or handed is None:
                continue
            basis = f"{COUNTY_NAME}扶贫项目资产确权移交书（青扶资确〔{handed.year}〕{rng.randint(1, 120)}号）"
            mode_operator = self.operator(s) if s.category == "operating" else None
            kinds = [k for k in FIVE_RIGHTS if k not in missing.get(s.code, [])]
            if s.category == "operating" and s.village is not None and rng.random() < 0.3:
                kinds.append("distribution")
            for kind in kinds:
                holder_kind, holder, code = self.org(s, "supervision" if kind == "supervision" else "owner")
                if kind == "operation" and mode_operator and mode_operator[1]:
                    holder_kind, holder = "operator", mode_operator[1]
                    code = self.credit_code(holder, "93" if "合作社" in holder else "91")
                right = AssetRight(county_code=COUNTY_CODE, asset_id=s.asset.id, kind=kind, holder_kind=holder_kind,
                                   holder_name=holder, credit_code=code, basis_document=basis, effective_on=handed,
                                   recorded_by_id=self.admin.id)
                # basis: P04 — a few early assets first held by the town, moved down to the village in 2021.
                if kind == "ownership" and s.village is not None and handed.year <= 2019 and rng.random() < 0.15:
                    moved = self.date_between(date(2021, 3, 1), date(2021, 12, 31))
                    town = f"{s.town_name}人民政府"
                    old = AssetRight(county_code=COUNTY_CODE, asset_id=s.asset.id, kind=kind,
                                     holder_kind="town_government", holder_name=town,
                                     credit_code=self.credit_code(town, "11"), basis_document=basis,
                                     effective_on=handed, ended_on=moved, recorded_by_id=self.admin.id)
                    right.effective_on = moved
                    right.basis_document = f"关于扶贫项目资产权属下沉的通知（青乡振发〔2021〕{rng.randint(1, 60)}号）"
                    rows.append(old)
                    pairs.append((old, right))
                rows.append(right)
            s.operator_choice = mode_operator
        self.insert(rows, "asset_right", pairs)

    def custody(self, specs: list[_Spec], gaps: dict[str, list[_Spec]]) -> None:
        rng = self.rng
        skip = {s.code for s in gaps["custody_missing"]}
        expired = {s.code for s in gaps["custody_expired"]}
        no_fund = {s.code for s in gaps["custody_no_fund"]}
        rows, pairs = [], []
        for s in specs:
            handed = s.reached("handed_over")
            if s.category != "public_welfare" or handed is None or s.code in skip:
                continue
            if s.village is not None:
                unit = f"{s.village.name}村民委员会"
            elif s.town_code is not None:
                unit = f"{s.town_name}人民政府"
            else:
                unit = f"{COUNTY_NAME}交通运输局" if s.subtype == "道路" else f"{COUNTY_NAME}水利局"
            fund = max(Decimal("1000"), round_half_up(s.value * Decimal(rng.randint(8, 25)) / 1000, HUNDRED))
            fund = fund.quantize(Decimal("0.01"))
            term_to = date(rng.randint(2028, 2031), 12, 31)
            if s.code in expired:  # handed over by mid-2023 (choose_gaps), so the term is at least 18 months
                term_to = date(2024, 12, 31) if handed.year >= 2022 else date(rng.choice([2023, 2024]), 12, 31)
            common = dict(county_code=COUNTY_CODE, asset_id=s.asset.id,
                          standard=N.CUSTODY_STANDARDS.get(s.subtype, "设施完好，定期巡查维护"),
                          recorded_by_id=self.admin.id)
            current = AssetCustody(**common, custodian_unit=unit, responsible_person=self.cadre(),
                                   phone=self.mobile(), annual_fund=None if s.code in no_fund else fund,
                                   fund_source=None if s.code in no_fund else
                                   "县级管护资金" if s.village is None else rng.choice(N.FUND_SOURCES),
                                   term_from=handed, term_to=term_to)
            # A few early assets: custody first kept by the town, handed down to the village in 2021.
            if s.village is not None and handed.year <= 2019 and s.code not in expired and rng.random() < 0.12:
                old = AssetCustody(**common, custodian_unit=f"{s.town_name}人民政府",
                                   responsible_person=self.cadre(), phone=self.mobile(), annual_fund=fund,
                                   fund_source="乡镇财政", term_from=handed, term_to=date(2020, 12, 31),
                                   replaced_at=datetime(2021, 1, 4, 1, 0, tzinfo=UTC))
                current.term_from = date(2021, 1, 1)
                rows.append(old)
            rows.append(current)
        self.insert(rows, "asset_custody", pairs)

    def operations(self, specs: list[_Spec], gaps: dict[str, list[_Spec]]) -> None:
        rng = self.rng
        skip = {s.code for s in gaps["contract_missing"]}
        expired = {s.code for s in gaps["contract_expired"]}
        rows = []
        for s in specs:
            started = s.reached("in_operation")
            if s.category != "operating" or started is None or s.code in skip:
                continue
            mode, operator = s.operator_choice or self.operator(s)
            if operator is None:  # self-run by the village collective
                _, operator, op_code = self.org(s, "owner")
            else:
                op_code = self.credit_code(operator, "93" if "合作社" in operator else "91")
            stopped = next((d for st, d, _, _ in s.steps if st in ("idle", "disposing")), None)
            years = {"lease": rng.randint(5, 10), "entrusted": rng.randint(3, 5), "joint_stock": rng.randint(3, 8),
                     "self_run": 5}[mode]
            first_to = _add_years(started, years) - timedelta(days=1)
            terms = [(started, first_to)]
            if stopped is not None:
                terms = [(started, min(first_to, stopped))]
            elif s.code in expired:  # in operation by mid-2023 (choose_gaps); ended in 2023-2024, not renewed
                end = self.date_between(max(started + timedelta(days=180), date(2023, 1, 1)), date(2024, 12, 31))
                terms = [(started, end)]
            elif first_to < date(2028, 1, 1):
                if first_to < AS_OF:  # renewed when the first contract ran out
                    terms.append((first_to + timedelta(days=1), date(rng.randint(2028, 2031), 12, 31)))
                else:
                    terms = [(started, date(2028, 12, 31))]
            if s.subtype == "光伏电站":
                income = round_half_up(s.quantity * Decimal(rng.randint(900, 1150)), HUNDRED)
            else:
                income = round_half_up(s.value * Decimal(rng.randint(60, 100)) / 1000, HUNDRED)
            minimum = None
            if mode in ("lease", "joint_stock"):
                minimum = round_half_up(s.value * Decimal(rng.randint(50, 60)) / 1000, HUNDRED)
                income = max(income, minimum)
            for i, (t_from, t_to) in enumerate(terms):
                self.contract_no[t_from.year] = self.contract_no.get(t_from.year, 0) + 1
                last = i == len(terms) - 1
                assessed = (self.date_between(date(2024, 1, 1), AS_OF) if last and t_to >= AS_OF
                            else self.date_between(t_from, min(t_to, t_from + timedelta(days=60))))
                rows.append(AssetOperation(
                    county_code=COUNTY_CODE, asset_id=s.asset.id, mode=mode, operator_name=operator,
                    operator_credit_code=op_code,
                    contract_no=f"青资经字〔{t_from.year}〕第{self.contract_no[t_from.year]:03d}号",
                    term_from=t_from, term_to=t_to, agreed_annual_income=income.quantize(Decimal("0.01")),
                    guaranteed_minimum=minimum.quantize(Decimal("0.01")) if minimum is not None else None,
                    risk_rating=rng.choices(["low", "medium", "high"], [6, 3, 1])[0],
                    risk_assessed_on=assessed,
                    replaced_at=None if last else datetime.combine(t_to + timedelta(days=1), datetime.min.time(),
                                                                   tzinfo=UTC),
                    recorded_by_id=self.admin.id))
        self.insert(rows, "asset_operation", [])

    def cadre(self) -> str:
        return self.person_name(self.surname(), self.rng.choices(["m", "f"], [4, 1])[0], self.rng.randint(1960, 1990))

    def insert(self, rows: list, entity: str, pairs: list[tuple]) -> None:
        """Bulk insert, link superseded records, and log every row like a service would."""
        db.session.add_all(rows)
        db.session.flush()
        for old, new in pairs:
            old.superseded_by_id = new.id
        if pairs:
            db.session.flush()
        assets = {a.id: a for a in db.session.scalars(sa.select(Asset).where(Asset.county_code == COUNTY_CODE))}
        for row in rows:
            a = assets[row.asset_id]
            record_change(self.admin, entity=entity, entity_id=row.id, action="create", county_code=COUNTY_CODE,
                          town_code=a.town_code, village_code=a.village_code, after=snapshot(row))


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


__all__ = ["AS_OF", "COUNTY_CODE", "DEMO_PASSWORD", "DemoResult", "load_demo", "scan_gaps"]
