"""Deterministic large counties (codes 439901, 439902 …) for benchmarks, written through bulk paths.

One county at full scale: ≈20 towns, 300 villages, 120,000 households with their members, 20,000 assets
with fundings, status history, the five rights, custody and operation contracts, monthly income of the
operating assets from January 2020 to May 2025, year-end settlements 2020–2024, distribution plans with
household lines and the 四议两公开 steps, annual audits, quarterly inspections and problems.

Bulk paths: PostgreSQL ``COPY … FROM STDIN`` (psycopg ``cursor.copy``); elsewhere SQLAlchemy Core
``insert()`` executemany in chunks. Primary keys are assigned here (from each table's max id), so
foreign keys need no round trip; PostgreSQL sequences are moved past them at the end. The append-only
tables (income entries) only ever get inserts. Money is integer fen end to end (the ``Money`` columns
store fen). No change-log rows are written for generated data. Never commits: the command does, once
per county.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from operator import mul

import sqlalchemy as sa

from ..assets.models import FUNDING_SOURCES as ASSET_FUNDING_SOURCES
from ..assets.rules import IN_SERVICE
from ..core.chain import GENESIS, row_hash
from ..core.chained import CHAINS, ChainHead
from ..core.types import ScaledDecimal
from ..core.validators import credit_code_check_char
from ..demo import names as N
from ..distribution.models import LINE_PURPOSES, STEP_ORDER, STEP_STATUS
from ..extensions import db

PREFIX = "4399"  # generated counties: 439901 … 439999 (the demo county is 431299)
YEARS = (2020, 2021, 2022, 2023, 2024)  # settled years with plans
LAST_INCOME_MONTH = (2025, 5)  # the ledger runs on into the open year
AS_OF = date(2025, 6, 30)  # no business date after this day
FULL = {"towns": 20, "villages": 300, "households": 120_000, "assets": 20_000}
CHUNK = 5_000

COUNTY_NAMES = ["云岭县", "安平县", "松溪县", "凤鸣县", "桂川县", "鹤山县", "青峰县", "兰溪县", "石屏县", "永宁县",
                "龙泉县", "清源县", "白河县", "长丰县", "泰和县", "宁远县", "新化县", "茶陵县", "桃江县", "双峰县"]
TOWN_STEMS = ["城关", "白沙", "龙口", "石桥", "花园", "杨柳", "新田", "黄土", "高坪", "长乐", "太平", "永兴", "平安",
              "金盆", "大洲", "马田", "双溪", "梅花", "荷塘", "枫林", "茶山", "竹园", "青龙", "桃花", "凤凰", "油溪",
              "水口", "江口", "洪山", "官庄"]
VILLAGE_HEADS = ["大", "小", "上", "下", "东", "西", "南", "北", "新", "老", "前", "后", "高", "黄", "石", "杨", "李",
                 "王", "张", "刘", "马", "牛", "柳", "桃", "梨", "竹", "松", "枫", "茶", "龙", "凤", "金", "银",
                 "清", "白", "红", "青", "长", "双", "三", "五", "九"]
VILLAGE_TAILS = ["坪", "湾", "冲", "塘", "岭", "溪", "坡", "山", "桥", "岩", "田", "口", "洞", "寨", "庄", "铺",
                 "坝", "垭", "院", "林", "源", "岗", "屋场", "家湾"]
CARD_BINS = N.CARD_BINS
POSTS = ["道路维护员", "保洁员", "护林防火员", "光伏电站管护员", "水利设施管护员", "公益设施管护员"]
AUDIT_FIRMS = ["审计局", "湘诚会计师事务所", "天衡会计师事务所", "中审华会计师事务所"]

# subtype: (weight, value range in yuan, unit, quantity range)
SUBTYPES = {
    "operating": {
        "光伏电站": (30, (400_000, 1_800_000), "千瓦", (60, 300)),
        "扶贫车间": (15, (500_000, 3_000_000), "平方米", (300, 2000)),
        "种养基地": (25, (200_000, 1_500_000), "亩", (50, 500)),
        "冷库仓储": (8, (300_000, 2_000_000), "立方米", (200, 3000)),
        "乡村旅游设施": (7, (300_000, 2_000_000), "平方米", (200, 3000)),
        "入股资产": (10, (500_000, 5_000_000), "万元", (50, 500)),
        "其他经营性资产": (5, (100_000, 800_000), "项", (1, 1)),
    },
    "public_welfare": {
        "道路": (30, (300_000, 5_000_000), "公里", (1, 12)),
        "桥梁": (8, (500_000, 3_000_000), "座", (1, 1)),
        "饮水工程": (15, (100_000, 1_500_000), "处", (1, 3)),
        "农田水利": (20, (80_000, 800_000), "处", (1, 4)),
        "教育卫生文化设施": (10, (200_000, 1_500_000), "平方米", (100, 1200)),
        "人居环境设施": (12, (50_000, 500_000), "处", (1, 6)),
        "其他公益性资产": (5, (50_000, 400_000), "项", (1, 1)),
    },
    "household": {
        "牲畜": (40, (5_000, 30_000), "头", (1, 10)),
        "种苗": (30, (2_000, 15_000), "亩", (1, 6)),
        "小型设施": (25, (5_000, 40_000), "平方米", (20, 300)),
        "其他到户资产": (5, (2_000, 10_000), "项", (1, 1)),
    },
}
CATEGORY_WEIGHTS = {"operating": 35, "public_welfare": 40, "household": 25}
FINAL_WEIGHTS = {
    "operating": {"under_construction": 2, "completed": 2, "handed_over": 2, "in_operation": 74, "idle": 9,
                  "disposing": 3, "disposed": 4, "scrapped": 4},
    "public_welfare": {"under_construction": 3, "completed": 3, "handed_over": 3, "in_use": 78, "idle": 5,
                       "disposing": 2, "disposed": 2, "scrapped": 4},
    "household": {"under_construction": 1, "completed": 2, "handed_over": 2, "in_use": 78, "idle": 4,
                  "disposing": 2, "disposed": 3, "scrapped": 8},
}
PATH = ["under_construction", "completed", "handed_over", "SERVICE", "idle", "disposing"]
FUNDING_SOURCES = list(ASSET_FUNDING_SOURCES)  # fiscal_link first: every generated asset has some
POLICIES = {
    "光伏电站": (20, 500), "扶贫车间": (20, 500), "种养基地": (10, 300), "冷库仓储": (15, 500),
    "乡村旅游设施": (15, 500), "其他经营性资产": (10, 500), "道路": (30, 0), "桥梁": (50, 0), "饮水工程": (20, 0),
    "农田水利": (20, 0), "教育卫生文化设施": (30, 500), "人居环境设施": (10, 0), "其他公益性资产": (15, 0),
    "牲畜": (5, 0), "种苗": (10, 0), "小型设施": (8, 0), "其他到户资产": (5, 0),
}  # useful life (years), residual rate in 1/10000; 入股资产 (equity) is not depreciated
MODES = {"self_run": 20, "entrusted": 30, "lease": 35, "joint_stock": 15}
INCOME_KIND = {"lease": "rent", "joint_stock": "dividend", "self_run": "operating", "entrusted": "operating"}
STEP_OFFSETS = (0, 4, 8, 12, 13, 18, 20, 33, 36, 45, 50)  # days after the proposal


def county_codes(n: int, first: int = 1) -> list[str]:
    if not 1 <= first or first + n - 1 > 99:
        raise ValueError("generated county codes run from 439901 to 439999")
    return [f"{PREFIX}{i:02d}" for i in range(first, first + n)]


def _stamp(d: date, hour: int = 2) -> datetime:
    return datetime(d.year, d.month, d.day, hour, 0, tzinfo=UTC)


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n = n * 2 - 9 if n * 2 > 9 else n * 2
        total += n
    return str((10 - total % 10) % 10)


def _month_add(year: int, month: int, k: int) -> tuple[int, int]:
    m = year * 12 + (month - 1) + k
    return m // 12, m % 12 + 1


def _fen_split(total: int, weights: list[int]) -> list[int]:
    """Integer fen parts proportional to ``weights`` that add up exactly (largest remainder)."""
    wsum = sum(weights)
    floors = [total * w // wsum for w in weights]
    rema = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % wsum), i))
    for i in rema[: total - sum(floors)]:
        floors[i] += 1
    return floors


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


# --- the bulk writer ---------------------------------------------------------------------------

class Bulk:
    """Inserts rows of plain tuples: COPY on PostgreSQL, Core executemany in chunks elsewhere.

    Money and other scaled-decimal columns receive their stored integers (fen); JSON columns receive
    Python objects. Ids are handed out here from each table's current maximum."""

    def __init__(self, conn: sa.Connection, tables: Iterable[str]):
        self.conn = conn
        self.is_pg = conn.dialect.name == "postgresql"
        self.meta = db.metadata
        self.tables = list(tables)
        self.counts: dict[str, int] = defaultdict(int)
        self._shadow: dict[str, sa.Table] = {}
        if self.is_pg:
            # Nobody else may insert while ids are handed out here (the sequences move at the end).
            names = ", ".join(self.tables)
            conn.execute(sa.text(f"LOCK TABLE {names} IN SHARE ROW EXCLUSIVE MODE"))
        self._next = {t: (conn.execute(sa.text(f"SELECT max(id) FROM {t}")).scalar() or 0) + 1 for t in self.tables}

    def ids(self, table: str) -> Callable[[], int]:
        counter = itertools.count(self._next[table])

        def take() -> int:
            value = next(counter)
            self._next[table] = value + 1
            return value

        return take

    def last_id(self, table: str) -> int:
        """The highest id handed out so far for ``table`` (0 or less before any)."""
        return self._next[table] - 1

    def _check(self, table: sa.Table, columns: tuple[str, ...]) -> None:
        missing = [c.name for c in table.columns
                   if not c.nullable and c.server_default is None and c.name not in columns]
        if missing:
            raise ValueError(f"{table.name}: required columns not supplied: {missing}")

    def _shadow_table(self, table: sa.Table) -> sa.Table:
        """The table with scaled decimals as plain BIGINT, so the generator's fen go in untouched."""
        if table.name not in self._shadow:
            cols = [sa.Column(c.name, sa.BigInteger() if isinstance(c.type, ScaledDecimal) else c.type)
                    for c in table.columns]
            self._shadow[table.name] = sa.Table(table.name, sa.MetaData(), *cols)
        return self._shadow[table.name]

    def insert(self, name: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
        table = self.meta.tables[name]
        self._check(table, columns)
        n = 0
        if self.is_pg:
            json_cols = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, sa.JSON)]
            cur = self.conn.connection.driver_connection.cursor()
            with cur.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    if json_cols:
                        row = list(row)
                        for i in json_cols:
                            row[i] = None if row[i] is None else json.dumps(row[i], ensure_ascii=False)
                    copy.write_row(row)
                    n += 1
            cur.close()
        else:
            stmt = sa.insert(self._shadow_table(table))
            chunk: list[dict] = []
            for row in rows:
                chunk.append(dict(zip(columns, row, strict=True)))
                if len(chunk) >= CHUNK:
                    self.conn.execute(stmt, chunk)
                    n += len(chunk)
                    chunk = []
            if chunk:
                self.conn.execute(stmt, chunk)
                n += len(chunk)
        self.counts[name] += n
        return n

    def finish(self) -> None:
        if self.is_pg:
            for t in self.tables:
                self.conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), GREATEST((SELECT max(id) FROM {t}), 1))"))


TABLES = ("places", "depreciation_policies", "households", "household_members", "assets", "asset_fundings",
          "asset_status_changes", "asset_rights", "asset_custodies", "asset_operations", "income_entries",
          "settlements", "distribution_plans", "plan_allocations", "plan_lines", "plan_steps", "plan_objections",
          "audits", "inspections", "problems", "problem_events")


# --- in-memory facts the later stages need -----------------------------------------------------

@dataclass(eq=False)
class _Village:
    code: str
    name: str
    town_code: str
    town_name: str
    collective: str = ""
    collective_code: str = ""
    households: list[tuple[int, str, str, int]] = field(default_factory=list)  # id, head, status, size


@dataclass(eq=False)
class _Asset:
    id: int
    code: str
    name: str
    category: str
    subtype: str
    village: _Village | None
    town_code: str | None
    value: int  # fen
    status: str
    path: list[tuple[str, date]]
    household_id: int | None = None
    mode: str | None = None
    operator: str | None = None
    operator_code: str | None = None
    annual: int = 0  # expected annual income, fen

    def reached(self, status: str) -> date | None:
        return next((d for s, d in self.path if s == status), None)

    @cached_property
    def service_on(self) -> date | None:
        return self.reached(IN_SERVICE[self.category])

    @cached_property
    def stopped_on(self) -> date | None:
        """When income stopped: idle, disposing or disposed, whichever came first."""
        for s, d in self.path:
            if s in ("idle", "disposing", "disposed", "scrapped"):
                return d
        return None


@dataclass
class CountyResult:
    code: str
    name: str
    created: bool
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def report(self) -> str:
        if not self.created:
            return f"{self.name}（{self.code}）已存在，未重复生成 already present, left as it is"
        c = self.counts
        stages = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        total = sum(c.values())
        return (f"{self.name}（{self.code}）生成完毕 generated in {self.elapsed_s:.1f} s ({stages}); {total:,} rows: "
                f"乡镇 {c.get('towns', 0)}, 村 {c.get('villages', 0)}, 农户 {c.get('households', 0):,}, "
                f"成员 {c.get('household_members', 0):,}, 资产 {c.get('assets', 0):,}, "
                f"五权 {c.get('asset_rights', 0):,}, 收益明细 {c.get('income_entries', 0):,}, "
                f"清算 {c.get('settlements', 0):,}, 方案 {c.get('distribution_plans', 0):,}, "
                f"到户明细 {c.get('plan_lines', 0):,}, 审计 {c.get('audits', 0):,}, 问题 {c.get('problems', 0):,}")


# --- entry points ------------------------------------------------------------------------------

def generate(counties: int = 1, seed: int = 1, scale: float = 1.0, first: int = 1,
             on_county: Callable[[CountyResult], None] | None = None) -> list[CountyResult]:
    """Generate ``counties`` counties from 4399``first``; one already present is left alone.

    ``on_county`` runs after each county (the command commits there). Deterministic for (seed, code)."""
    if not 0 < scale <= 10:
        raise ValueError("scale must be in (0, 10]")
    results = []
    for i, code in enumerate(county_codes(counties, first)):
        result = generate_county(code, seed=seed * 1000 + first + i, scale=scale)
        results.append(result)
        if on_county:
            on_county(result)
    return results


def county_exists(code: str) -> bool:
    return db.session.execute(sa.text("SELECT 1 FROM places WHERE code = :c"), {"c": code}).first() is not None


def generate_county(code: str, *, seed: int, scale: float = 1.0) -> CountyResult:
    idx = int(code[-2:])
    name = COUNTY_NAMES[(idx - 1) % len(COUNTY_NAMES)]
    if county_exists(code):
        return CountyResult(code, name, created=False)
    started = time.perf_counter()
    bulk = Bulk(db.session.connection(), TABLES)
    gen = _County(code, name, random.Random(seed), scale, bulk)
    timings = gen.run()
    bulk.finish()
    counts = dict(bulk.counts)
    counts["towns"] = len(gen.towns)
    counts["villages"] = len(gen.villages)
    counts["households"] = counts.pop("households", 0)
    return CountyResult(code, name, True, counts, timings, time.perf_counter() - started)


# --- one county --------------------------------------------------------------------------------

class _County:
    def __init__(self, code: str, name: str, rng: random.Random, scale: float, bulk: Bulk):
        self.code, self.name, self.rng, self.scale, self.bulk = code, name, rng, scale, bulk
        self.towns: list[tuple[str, str, str]] = []  # code, name, government credit code
        self.villages: list[_Village] = []
        self.assets: list[_Asset] = []
        self.used_ids: set[int] = set()
        self.used_credit: set[str] = set()
        self.companies: list[tuple[str, str]] = []
        self.village_net: dict[tuple[str, int], list[int]] = {}  # (village, year) -> gross, costs, disposal, pv net
        self.asset_year: dict[tuple[int, int], list[int]] = {}  # (asset, year) -> gross, costs, disposal
        self.last_entry_id: dict[int, int] = {}
        self.settlement_ids: dict[tuple[str, int], int] = {}
        self.stamp = _stamp(AS_OF)
        rand = rng.random
        # randint for the hot loops: one call to random() instead of randint's several
        self.ri = lambda lo, hi: lo + int(rand() * (hi - lo + 1))

    def n(self, key: str, minimum: int) -> int:
        return max(minimum, round(FULL[key] * self.scale))

    def run(self) -> dict[str, float]:
        timings = {}
        for stage in (self.places, self.households, self.assets_registry, self.rights_custody_operations,
                      self.income, self.settlements, self.plans, self.oversight):
            t = time.perf_counter()
            stage()
            timings[stage.__name__] = time.perf_counter() - t
        return timings

    # helpers -----------------------------------------------------------------------------------
    def date_between(self, lo: date, hi: date) -> date:
        if hi <= lo:
            return lo
        return lo + timedelta(days=self.rng.randint(0, (hi - lo).days))

    def credit(self, registry: str) -> str:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        while True:
            if registry == "11":
                serial = f"0{self.rng.randint(10000000, 99999999)}"
            else:
                serial = ("MA4" if registry == "91" else "MF") + "".join(
                    self.rng.choice(alphabet) for _ in range(6 if registry == "91" else 7))
            body = f"{registry}{self.code}{serial}"
            code = body + credit_code_check_char(body)
            if code not in self.used_credit:
                self.used_credit.add(code)
                return code

    def id_number(self, birth: date, male: bool) -> str:
        ri, base = self.ri, birth.toordinal() * 1000
        while True:
            seq = 2 * ri(0, 499) + (1 if male else 0)
            if base + seq not in self.used_ids:
                self.used_ids.add(base + seq)
                body = f"{self.code}{birth.year}{birth.month:02d}{birth.day:02d}{seq:03d}"
                return body + _ID_CHECK[sum(map(mul, map(int, body), _ID_WEIGHTS)) % 11]

    def person(self, sex: str, year: int, surname: str | None = None) -> str:
        if surname is None:
            surname = self.rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]
        return surname + self.rng.choice(N.GIVEN[(sex, "old" if year < 1975 else "young")])

    def mobile(self) -> str:
        return self.rng.choice(N.MOBILE_PREFIXES) + f"{self.ri(0, 99_999_999):08d}"

    # places ------------------------------------------------------------------------------------
    def places(self) -> None:
        rng, start = self.rng, date(2016, 1, 1)
        n_towns = self.n("towns", 2)
        n_villages = max(self.n("villages", 2 * n_towns), 2 * n_towns)
        stems = rng.sample(TOWN_STEMS, min(n_towns, len(TOWN_STEMS)))
        while len(stems) < n_towns:
            stems.append(f"第{len(stems) + 1}")
        pid = self.bulk.ids("places")
        area = f"07{int(self.code[-2:]):02d}"
        rows = [(pid(), self.code, self.name, "county", None, self.code, None, start,
                 f"{area}-8{rng.randint(100000, 999999)}", self.stamp)]
        names = [h + t for h in VILLAGE_HEADS for t in VILLAGE_TAILS]
        rng.shuffle(names)
        per_town = [n_villages // n_towns + (1 if i < n_villages % n_towns else 0) for i in range(n_towns)]
        for i, stem in enumerate(stems):
            town_code = f"{self.code}{100 + i:03d}"
            town_name = stem + rng.choice(["镇", "镇", "乡"])
            self.towns.append((town_code, town_name, self.credit("11")))
            rows.append((pid(), town_code, town_name, "town", self.code, self.code, None, start,
                         f"{area}-8{rng.randint(100000, 999999)}", self.stamp))
            for j in range(per_town[i]):
                v = _Village(f"{town_code}{201 + j:03d}", names.pop() + "村", town_code, town_name)
                v.collective = f"{v.name}股份经济合作社"
                v.collective_code = self.credit("N2")
                self.villages.append(v)
                rows.append((pid(), v.code, v.name, "village", town_code, self.code, town_code, start, None,
                             self.stamp))
        self.bulk.insert("places", ("id", "code", "name", "level", "parent_code", "county_code", "town_code",
                                    "valid_from", "phone", "created_at"), rows)
        pol = self.bulk.ids("depreciation_policies")
        self.bulk.insert("depreciation_policies", ("id", "county_code", "subtype", "useful_life_years",
                                                   "residual_rate"),
                         [(pol(), self.code, s, life, rate) for s, (life, rate) in POLICIES.items()])
        for _ in range(max(4, round(40 * self.scale))):
            kind = rng.random()
            if kind < 0.5:
                label = f"{self.name[:-1]}{rng.choice(['鑫', '恒', '顺', '兴', '绿', '金', '瑞', '华'])}" \
                        f"{rng.choice(['源', '达', '丰', '农', '科', '盛', '旺'])}" \
                        f"{rng.choice(['农业开发', '光伏运维', '服饰', '食品', '冷链物流', '旅游开发', '茶业'])}有限公司"
                code = self.credit("91")
            else:
                label = f"{self.name[:-1]}{rng.choice(TOWN_STEMS)}" \
                        f"{rng.choice(['中药材种植', '黑山羊养殖', '茶叶', '蔬菜种植', '黄桃', '稻花鱼养殖'])}专业合作社"
                code = self.credit("93")
            self.companies.append((label, code))

    # households --------------------------------------------------------------------------------
    def households(self) -> None:
        total = self.n("households", 20 * len(self.villages))
        weights = [self.rng.randint(60, 140) for _ in self.villages]
        sizes = _fen_split(total, weights)
        hid = self.bulk.ids("households")
        mid = self.bulk.ids("household_members")
        cols = ("id", "county_code", "town_code", "village_code", "number", "head_name", "head_id_number",
                "phone", "status", "monitor_type", "is_risk_cleared", "risk_cleared_on", "bank_card", "version",
                "created_at", "updated_at")
        member_cols = ("id", "county_code", "household_id", "name", "relation", "id_number", "labour")
        rows: list[tuple] = []
        members: list[tuple] = []
        for i, (v, count) in enumerate(zip(self.villages, sizes, strict=True)):
            for seq in range(1, count + 1):
                row, people = self.household(v, seq, hid())
                rows.append(row)
                members.extend((mid(), self.code, row[0], name, relation, idn, labour)
                               for name, relation, idn, labour in people)
            if len(rows) >= 4 * CHUNK or i == len(self.villages) - 1:  # bounded memory, a few big batches
                self.bulk.insert("households", cols, rows)
                self.bulk.insert("household_members", member_cols, members)
                rows, members = [], []

    def household(self, v: _Village, seq: int, hid: int) -> tuple[tuple, list[tuple]]:
        rng, ri = self.rng, self.ri
        surname = rng.choices(_SURNAMES, cum_weights=_SURNAME_CUM)[0]
        male_head = rng.random() < 0.86
        head_year = ri(1940, 1990)
        size = rng.choices((1, 2, 3, 4, 5, 6), cum_weights=(10, 32, 54, 76, 91, 100))[0]
        people = []
        head = self.person("m" if male_head else "f", head_year, surname)
        people.append((head, "户主", head_year, male_head))
        if size >= 2:
            y = head_year + ri(-4, 5)
            people.append((self.person("f" if male_head else "m", y), "配偶", y, not male_head))
        while len(people) < size:
            y = min(head_year + ri(21, 34), 2022)
            son = rng.random() < 0.52
            people.append((self.person("m" if son else "f", y, surname), "之子" if son else "之女", y, son))
        out = []
        seen = set()
        for name, relation, year, male in people:
            if name in seen:  # two people of one household never share a name (plan lines name them)
                name = name + rng.choice("一二三四五")
            seen.add(name)
            birth = date(year, ri(1, 12), ri(1, 28))
            age = AS_OF.year - year
            if age < 16:
                labour = "none"
            elif age < 60:
                labour = rng.choices(_LABOUR, cum_weights=(80, 90, 96, 100))[0]
            else:
                labour = rng.choices(_LABOUR, cum_weights=(10, 40, 80, 100))[0]
            out.append((name, relation, self.id_number(birth, male), labour))
        status = rng.choices(("formerly_poor", "monitored", "ordinary"), cum_weights=(25, 29, 100))[0]
        monitor, cleared, cleared_on = None, False, None
        if status == "monitored":
            monitor = rng.choices(("unstable", "marginal", "sudden_hardship"), (4, 4, 2))[0]
            if rng.random() < 0.4:
                cleared, cleared_on = True, self.date_between(date(2022, 1, 1), AS_OF)
        card = None
        if rng.random() < (0.35 if status == "ordinary" else 0.9):
            body = rng.choice(CARD_BINS) + f"{ri(0, 999_999_999_999):012d}"
            card = body + _luhn_digit(body)
        phone = self.mobile() if rng.random() < 0.7 else None
        created = _stamp(self.date_between(date(2016, 3, 1), date(2020, 12, 31)))
        row = (hid, self.code, v.town_code, v.code, f"{v.code}{seq:04d}", head, out[0][2], phone, status, monitor,
               cleared, cleared_on, card, 1, created, created)
        v.households.append((hid, head, status, len(out)))
        return row, out

    # assets ------------------------------------------------------------------------------------
    def assets_registry(self) -> None:
        rng = self.rng
        n_assets = self.n("assets", 30)
        aid = self.bulk.ids("assets")
        cats = list(CATEGORY_WEIGHTS)
        seq_by_year: dict[int, int] = defaultdict(int)
        rows, fundings, changes = [], [], []
        fid, sid = self.bulk.ids("asset_fundings"), self.bulk.ids("asset_status_changes")
        for _ in range(n_assets):
            category = rng.choices(cats, [CATEGORY_WEIGHTS[c] for c in cats])[0]
            table = SUBTYPES[category]
            subtype = rng.choices(list(table), [t[0] for t in table.values()])[0]
            _, (lo, hi), unit, (qlo, qhi) = table[subtype]
            village = rng.choice(self.villages)
            level, place, town_code, village_code, household_id = "village", village.code, village.town_code, \
                village.code, None
            if category == "public_welfare":
                r = rng.random()
                if r < 0.05:
                    level, place, town_code, village_code, village = "county", self.code, None, None, None
                elif r < 0.2:
                    level, place, village_code = "town", village.town_code, None
                    village = None
            elif category == "household":
                level = "household"
                household_id = rng.choice(village.households)[0] if village.households else None
                if household_id is None:
                    category, subtype, level = "public_welfare", "其他公益性资产", "village"
            status = rng.choices(list(FINAL_WEIGHTS[category]), list(FINAL_WEIGHTS[category].values()))[0]
            year = rng.randint(2024, 2025) if status == "under_construction" else rng.randint(2016, 2023)
            path = self.status_path(category, status, year)
            seq_by_year[year] += 1
            code = f"ZC{self.code}{year}{seq_by_year[year]:05d}"
            qty = rng.randint(qlo, qhi)
            value = rng.randint(lo, hi) * 100
            value -= value % 10_000  # whole hundreds of yuan
            place_name = (village.name if village else
                          next(t[1] for t in self.towns if t[0] == town_code) if town_code else self.name)
            name = f"{place_name}{subtype}" + (f"（{qty}{unit}）" if qty > 1 else "")
            a = _Asset(aid(), code, name, category, subtype, village, town_code, value, status, path, household_id)
            self.assets.append(a)
            completed = a.reached("completed")
            rows.append((a.id, self.code, town_code, village_code, place, code, name, category, subtype, level,
                         household_id, f"{year}年度{subtype}建设项目", year,
                         f"{self.name[:2]}乡振发〔{year}〕{rng.randint(1, 90)}号", completed, value, qty * 1000,
                         unit, POLICIES.get(subtype, (None,))[0], status, path[-1][1], 1, _stamp(path[0][1]),
                         _stamp(path[-1][1])))
            n_sources = rng.choices((1, 2, 3), (50, 35, 15))[0]
            sources = ["fiscal_link"] + rng.sample(FUNDING_SOURCES[1:], n_sources - 1)
            for src, amount in zip(sources, _fen_split(value, [rng.randint(1, 10) for _ in sources]), strict=True):
                fundings.append((fid(), self.code, a.id, src, amount))
            prev = None
            for st, on in path:
                changes.append((sid(), self.code, a.id, prev, st, on, _CHANGE_REASON.get(st), None, _stamp(on)))
                prev = st
        self.bulk.insert("assets", ("id", "county_code", "town_code", "village_code", "place_code", "code", "name",
                                    "category", "subtype", "managing_level", "household_id", "project_name",
                                    "project_year", "project_approval_no", "completed_on", "original_value",
                                    "quantity", "unit", "useful_life_years", "status", "status_on", "version",
                                    "created_at", "updated_at"), rows)
        self.bulk.insert("asset_fundings", ("id", "county_code", "asset_id", "source", "amount"), fundings)
        self.bulk.insert("asset_status_changes", ("id", "county_code", "asset_id", "from_status", "to_status",
                                                  "changed_on", "reason", "document", "recorded_at"), changes)

    def status_path(self, category: str, final: str, year: int) -> list[tuple[str, date]]:
        rng = self.rng
        target = final if final not in ("disposed", "scrapped") else "disposing"
        steps = []
        on = date(year, rng.randint(1, 6), rng.randint(1, 28))
        for st in PATH:
            st = IN_SERVICE[category] if st == "SERVICE" else st
            steps.append((st, on))
            if st == target:
                break
            gap = {"under_construction": (120, 300), "completed": (30, 200), "handed_over": (5, 60)}.get(st, (200, 700))
            on = min(on + timedelta(days=rng.randint(*gap)), AS_OF - timedelta(days=10))
        if final in ("disposed", "scrapped"):
            steps.append((final, min(on + timedelta(days=rng.randint(30, 120)), AS_OF)))
        # Statuses never go back in time even when the caps above squeeze them.
        fixed, last = [], None
        for st, d in steps:
            d = d if last is None or d >= last else last
            fixed.append((st, d))
            last = d
        return fixed

    # rights, custody, operation ----------------------------------------------------------------
    def rights_custody_operations(self) -> None:  # noqa: C901 - bulk rows of three tables in one pass over the assets
        rng = self.rng
        rid, cid, oid = self.bulk.ids("asset_rights"), self.bulk.ids("asset_custodies"), self.bulk.ids("asset_operations")
        rights, custodies, operations = [], [], []
        town_gov = {t[0]: (f"{t[1]}人民政府", t[2]) for t in self.towns}
        heads = {h[0]: h[1] for v in self.villages for h in v.households}
        contract_seq = itertools.count(1)
        for a in self.assets:
            handed = a.reached("handed_over")
            if handed is None:
                continue
            ended = a.reached("disposed") or a.reached("scrapped")
            v = a.village
            if a.category == "operating":
                a.mode = rng.choices(list(MODES), list(MODES.values()))[0]
                if a.mode == "self_run":
                    a.operator, a.operator_code = v.collective, v.collective_code
                else:
                    a.operator, a.operator_code = rng.choice(self.companies)
                a.annual = max(a.value * rng.randint(50, 110) // 1000 // 100 * 100, 120_000)
            # the holders of the five rights (basis: P03)
            if a.category == "household":
                holder = ("household", heads.get(a.household_id, "农户"), None, a.household_id)
                holders = dict.fromkeys(("ownership", "operation", "income", "disposal", "supervision"), holder)
            else:
                if v is not None:
                    owner = ("village_collective", v.collective, v.collective_code, None)
                    supervisor = ("village_supervision", f"{v.name}村务监督委员会", None, None)
                elif a.town_code:
                    owner = ("town_government", *town_gov[a.town_code], None)
                    supervisor = ("town_government", *town_gov[a.town_code], None)
                else:
                    owner = ("county_department", f"{self.name}农业农村局", self.county_dept_code, None)
                    supervisor = ("county_department", f"{self.name}乡村振兴局", self.county_dept_code2, None)
                operator = ("operator", a.operator, a.operator_code, None) if a.operator and \
                    a.operator != owner[1] else owner
                holders = {"ownership": owner, "operation": operator, "income": owner, "disposal": owner,
                           "supervision": supervisor}
            skip = rng.choice(list(holders)) if rng.random() < 0.04 and a.category != "household" else None
            for kind, (hk, hn, cc, hh) in holders.items():
                if kind == skip:
                    continue
                effective = handed
                if kind == "operation" and a.category == "operating" and rng.random() < 0.1:
                    # an earlier operator, replaced: history stays (ended_on, superseded_by)
                    old_id, new_id = rid(), rid()
                    change_on = self.date_between(handed + timedelta(days=200),
                                                  min(AS_OF - timedelta(days=30), ended or AS_OF))
                    earlier = None
                    if change_on > handed:
                        other = rng.choice(self.companies)
                        earlier = (old_id, self.code, a.id, kind, "operator", other[0], other[1], None,
                                   f"经营协议（{handed.year}）", handed, change_on, new_id, _stamp(handed))
                        effective = change_on
                    rights.append((new_id, self.code, a.id, kind, hk, hn, cc, hh, f"确权书（{effective.year}）",
                                   effective, ended, None, _stamp(effective)))
                    if earlier is not None:  # after the row it points at (superseded_by_id): foreign keys hold
                        rights.append(earlier)
                    continue
                rights.append((rid(), self.code, a.id, kind, hk, hn, cc, hh, f"确权书（{handed.year}）", effective,
                               ended, None, _stamp(effective)))
            service = a.service_on
            if a.category == "public_welfare" and service is not None and rng.random() < 0.96:
                years = rng.choice((3, 5))
                term_to = date(service.year + years, 12, 31)
                if term_to < AS_OF and rng.random() < 0.8:  # most are renewed: history plus a current term
                    custodies.append((cid(), self.code, a.id, *self.custodian(a), service, term_to,
                                      _stamp(term_to), _stamp(service)))
                    service, term_to = date(term_to.year + 1, 1, 1), date(term_to.year + 5, 12, 31)
                custodies.append((cid(), self.code, a.id, *self.custodian(a), service, term_to, None, _stamp(service)))
            if a.category == "operating" and service is not None and rng.random() < 0.97:
                term_from = service
                term_to = date(service.year + rng.choice((3, 5, 10)), service.month, 28)
                if term_to < AS_OF:
                    operations.append((oid(), self.code, a.id, *self.operation(a, next(contract_seq), term_from),
                                       term_from, term_to, _stamp(term_to), _stamp(term_from)))
                    term_from = term_to + timedelta(days=1)
                    term_to = date(term_from.year + 5, term_from.month, 28)
                operations.append((oid(), self.code, a.id, *self.operation(a, next(contract_seq), term_from),
                                   term_from, term_to, None, _stamp(term_from)))
        self.bulk.insert("asset_rights", ("id", "county_code", "asset_id", "kind", "holder_kind", "holder_name",
                                          "credit_code", "household_id", "basis_document", "effective_on",
                                          "ended_on", "superseded_by_id", "recorded_at"), rights)
        self.bulk.insert("asset_custodies", ("id", "county_code", "asset_id", "custodian_unit", "responsible_person",
                                             "phone", "standard", "annual_fund", "fund_source", "term_from",
                                             "term_to", "replaced_at", "recorded_at"), custodies)
        self.bulk.insert("asset_operations", ("id", "county_code", "asset_id", "mode", "operator_name",
                                              "operator_credit_code", "contract_no", "agreed_annual_income",
                                              "guaranteed_minimum", "risk_rating", "risk_assessed_on", "term_from",
                                              "term_to", "replaced_at", "recorded_at"), operations)

    @property
    def county_dept_code(self) -> str:
        if not hasattr(self, "_dept"):
            self._dept = (self.credit("11"), self.credit("11"))
        return self._dept[0]

    @property
    def county_dept_code2(self) -> str:
        self.county_dept_code  # noqa: B018  (draws both codes once)
        return self._dept[1]

    def custodian(self, a: _Asset) -> tuple:
        rng = self.rng
        unit = f"{a.village.name}村民委员会" if a.village else (
            next(t[1] for t in self.towns if t[0] == a.town_code) + "人民政府" if a.town_code else f"{self.name}交通运输局")
        fund = rng.randint(20, 300) * 10_000 if rng.random() < 0.93 else None
        standard = N.CUSTODY_STANDARDS.get(a.subtype, "设施完好，定期巡查，损坏及时报修")
        return (unit, self.person(rng.choice("mf"), rng.randint(1960, 1990)), self.mobile(), standard, fund,
                rng.choice(N.FUND_SOURCES) if fund else None)

    def operation(self, a: _Asset, seq: int, term_from: date) -> tuple:
        rng = self.rng
        guaranteed = a.annual * rng.randint(60, 90) // 100 // 100 * 100 if a.mode in ("lease", "joint_stock") else None
        return (a.mode, a.operator, a.operator_code, f"{self.code[-4:]}-HT-{term_from.year}-{seq:05d}", a.annual,
                guaranteed, rng.choices(("low", "medium", "high"), (70, 25, 5))[0],
                self.date_between(date(2024, 1, 1), AS_OF))

    # income --------------------------------------------------------------------------------------
    def income(self) -> None:
        """Month by month in the order the money arrived, so ids follow time and each settlement can
        note the last entry it saw."""
        rng, ri = self.rng, self.ri
        eid = self.bulk.ids("income_entries")
        producing = [a for a in self.assets if a.category == "operating" and a.village and a.service_on
                     and a.mode and a.service_on < date(2025, 5, 1)]
        grid_payer = f"国网{self.name}供电公司"
        voucher = itertools.count(1)
        cols = ("id", "county_code", "town_code", "village_code", "asset_id", "direction", "kind", "period_year",
                "period_month", "period_quarter", "received_on", "amount", "payer", "voucher_no", "note",
                "reverses_id", "reason", "is_adjustment", "recorded_at")

        def add(out, a, direction, kind, year, month, quarter, received, amount, payer, reverses=None, reason=None):
            if amount <= 0:
                return None
            new_id = eid()
            out.append((new_id, self.code, a.town_code, a.village.code, a.id, direction, kind, year, month, quarter,
                        received, amount, payer, f"记{received:%Y%m}-{next(voucher):05d}", None, reverses, reason,
                        False, _stamp(received, 3)))
            t = self.asset_year.setdefault((a.id, year), [0, 0, 0])
            sign = -1 if reverses else 1
            t[1 if direction == "deduction" else 0] += sign * amount
            return new_id

        def months():
            y, m = YEARS[0], 2  # received month; the first period is January 2020
            while (y, m) <= _month_add(*LAST_INCOME_MONTH, 1):
                yield y, m
                y, m = _month_add(y, m, 1)

        def rows():
            for ry, rm in months():
                if rm == 3:  # everything for last year came in by February: the March settlements saw this id
                    self.last_entry_id[ry - 1] = self.bulk.last_id("income_entries")
                out: list[tuple] = []
                py, pm = _month_add(ry, rm, -1)
                for a in producing:
                    start, stop = a.service_on, a.stopped_on
                    if (py, pm) < (start.year, start.month) or (stop and (py, pm) >= (stop.year, stop.month)):
                        continue
                    base = a.annual // 12
                    pv = a.subtype == "光伏电站"
                    factor = _PV_SEASON[pm - 1] if pv else 100
                    amount = base * factor * ri(85, 115) // 10_000
                    received = date(ry, rm, ri(3, 25))
                    kind = "electricity" if pv else INCOME_KIND[a.mode]
                    payer = grid_payer if pv else a.operator
                    first = add(out, a, "income", kind, py, pm, None, received, amount, payer)
                    if first is not None and rng.random() < 0.003:  # a mistyped entry: reversed and re-posted
                        add(out, a, "income", kind, py, pm, None, received, amount, payer, reverses=first,
                            reason="凭证金额录入错误，冲销后重新入账")
                        add(out, a, "income", kind, py, pm, None, received, amount - ri(1, 99) * 100, payer)
                    ded = amount * ri(4, 12) // 100
                    add(out, a, "deduction", "maintenance" if pv else "custody", py, pm, None, received, ded,
                        f"{a.village.name}村民委员会" if not pv else f"{self.name}光伏运维服务站")
                    if pm == 12 and not pv and a.mode == "lease":
                        add(out, a, "deduction", "tax", py, None, None, received, amount * 5 // 100, "税务机关")
                    if rm == 2 and pv and start.year <= ry - 1:
                        # the tariff subsidy of last year arrives in February (before the settlement)
                        sy = ry - 1
                        if sy >= YEARS[0]:
                            add(out, a, "income", "tariff_subsidy", sy, None, None, received,
                                a.annual * ri(15, 30) // 100, f"{self.name}财政局")
                    if rm == 1:
                        add(out, a, "deduction", "insurance", ry, None, None, received, a.value * 3 // 1000,
                            "中国人民财产保险股份有限公司")
                yield from out

        self.head = (0, GENESIS)
        self.bulk.insert("income_entries", (*cols, "chain_seq", "prev_hash", "row_hash"), self.chained(cols, rows()))
        heads = {chain: (0, GENESIS) for chain in CHAINS} | {"income_entries": self.head}
        self.bulk.conn.execute(sa.insert(ChainHead.__table__), [
            {"county_code": self.code, "chain": chain, "seq": seq, "head_hash": h} for chain, (seq, h) in heads.items()])

    def chained(self, cols: tuple[str, ...], rows: Iterable[tuple]) -> Iterable[tuple]:
        """The county's ledger chain (core/chained.py) for rows written past the ORM: each row's position,
        the hash before it and its own, as the hook would give them (amounts are already fen)."""
        fields = CHAINS["income_entries"].__chain_fields__
        index = {c: i for i, c in enumerate(cols)}
        seq, prev = 0, GENESIS
        for row in rows:
            seq += 1
            h = row_hash("income_entries", seq, prev, [(f, row[index[f]] if f in index else None) for f in fields])
            yield (*row, seq, prev, h)
            prev, self.head = h, (seq, h)

    # settlements (basis: P34) ------------------------------------------------------------------
    def settlements(self) -> None:
        rng = self.rng
        sid = self.bulk.ids("settlements")
        by_village: dict[str, list[_Asset]] = defaultdict(list)
        for a in self.assets:
            if a.village is not None:
                by_village[a.village.code].append(a)
        rows = []
        for v in self.villages:
            for year in YEARS:
                lines, gross, costs, pv = [], 0, 0, 0
                for a in sorted(by_village[v.code], key=lambda x: x.code):
                    t = self.asset_year.get((a.id, year))
                    if not t:
                        continue
                    g, c, d = t
                    gross, costs = gross + g, costs + c
                    if a.subtype == "光伏电站":
                        pv += g - c
                    lines.append({"asset_id": a.id, "asset_code": a.code, "asset_name": a.name,
                                  "gross": _yuan(g), "costs": _yuan(c), "net": _yuan(g - c), "disposal": _yuan(d),
                                  "share_weight": "1", "share_total": "1", "is_shared": False, "part": _yuan(g - c),
                                  "gross_part": _yuan(g), "costs_part": _yuan(c), "disposal_part": _yuan(d)})
                settled = date(year + 1, 3, rng.randint(5, 25))
                published = settled + timedelta(days=rng.randint(0, 5))
                if rng.random() < 0.04:
                    published = date(year + 1, 4, rng.randint(3, 25))  # late (SETTLEMENT_LATE)
                new_id = sid()
                self.settlement_ids[(v.code, year)] = new_id
                self.village_net[(v.code, year)] = [gross - costs, pv]
                rows.append((new_id, self.code, v.town_code, v.code, v.code, "village", year, gross, costs,
                             gross - costs, 0, 0, self.last_entry_id.get(year, 0), lines, settled,
                             date(year + 1, 3, 31), published, None, _stamp(settled)))
        self.bulk.insert("settlements", ("id", "county_code", "town_code", "village_code", "place_code", "level",
                                         "year", "gross", "costs", "net", "disposal", "adjustments_net",
                                         "last_entry_id", "lines", "settled_on", "due_on", "published_on", "note",
                                         "created_at"), rows)

    # distribution plans (basis: P10, P17, P20, P23) --------------------------------------------
    def plans(self) -> None:
        rng = self.rng
        pid, aid, lid = self.bulk.ids("distribution_plans"), self.bulk.ids("plan_allocations"), self.bulk.ids("plan_lines")
        stid, obid = self.bulk.ids("plan_steps"), self.bulk.ids("plan_objections")
        plans, allocs, lines, steps, objections = [], [], [], [], []
        for v in self.villages:
            carry = 0
            for year in YEARS:
                net, pv = self.village_net[(v.code, year)]
                carry_in = carry
                available = net + carry_in
                if available < 100_000 or not v.households:  # under 1,000 yuan: carried, no plan
                    carry = max(available, 0)
                    continue
                plan_id = pid()
                parts = self.allocate(available, pv)
                position = 0
                allocated = 0
                for purpose, target in parts:
                    holders: list[tuple[int, str, int, int | None, int | None, str]] = []
                    if purpose in LINE_PURPOSES:
                        holders = self.lines_for(v, purpose, target)
                        if not holders:
                            continue
                        amount = sum(h[2] for h in holders)
                    else:
                        amount = target
                    if amount <= 0:
                        continue
                    position += 1
                    alloc_id = aid()
                    allocated += amount
                    use = {"public_works": rng.choice(["村组道路维修", "饮水管网维护", "村内亮化维护", "人居环境整治"]),
                           "operation_maintenance": "扶贫项目资产运营管护",
                           "reinvestment": rng.choice(["扩建光伏电站", "入股村级合作社", "种养基地提质"])}.get(purpose)
                    allocs.append((alloc_id, self.code, plan_id, position, purpose, amount, use, None))
                    for i, (hh, person, line_amount, months, wage, reason) in enumerate(holders, 1):
                        lines.append((lid(), self.code, plan_id, alloc_id, i, hh, person, line_amount, reason, months,
                                      wage))
                carry_next = available - allocated
                if carry_next > 0:
                    position += 1
                    allocs.append((aid(), self.code, plan_id, position, "carry", carry_next, "结转下年度", None))
                carry = carry_next
                proposed = date(year + 1, 4, rng.randint(1, 15))
                n_steps = len(STEP_ORDER) if year < YEARS[-1] else rng.randint(6, len(STEP_ORDER))
                for k, kind in enumerate(STEP_ORDER[:n_steps]):
                    done = proposed + timedelta(days=STEP_OFFSETS[k])
                    due = present = favour = None
                    if kind in ("party_meeting", "representatives_meeting"):
                        due = rng.randint(25, 70)
                        present = rng.randint(-(-due * 2 // 3), due)
                        favour = rng.randint(present // 2 + 1, present)
                    start = end = None
                    if kind == "notice":
                        # 10 days counted inclusive is start + 9 (basis: P20); now and then one is short
                        start, end = done, done + timedelta(days=rng.choice((9, 9, 10, 11, 12, 6)))
                    steps.append((stid(), self.code, plan_id, k + 1, kind, done, f"{STEP_LABEL[kind]}，形成记录", None,
                                  due, present, favour, start, end, "一卡通" if kind == "payment" else None,
                                  _stamp(done)))
                    if kind == "notice" and rng.random() < 0.03:
                        objections.append((obid(), self.code, plan_id, start + timedelta(days=2), "村民",
                                           "对到户明细有疑问，申请复核", "经村务监督委员会复核，明细无误，已当面答复",
                                           start + timedelta(days=5), _stamp(start)))
                last = STEP_ORDER[n_steps - 1]
                plans.append((plan_id, self.code, v.town_code, v.code, year, self.settlement_ids[(v.code, year)], net,
                              max(min(pv, net), 0), carry_in, available, _stamp(proposed),
                              STEP_STATUS[last], None, 1, _stamp(proposed), _stamp(proposed)))
        self.bulk.insert("distribution_plans", ("id", "county_code", "town_code", "village_code", "year",
                                                "settlement_id", "settled_net", "pv_net", "carry_over", "available",
                                                "available_at", "status", "note", "version", "created_at",
                                                "updated_at"), plans)
        self.bulk.insert("plan_allocations", ("id", "county_code", "plan_id", "position", "purpose", "amount", "use",
                                              "note"), allocs)
        self.bulk.insert("plan_lines", ("id", "county_code", "plan_id", "allocation_id", "position", "household_id",
                                        "person_name", "amount", "reason", "months", "monthly_wage"), lines)
        self.bulk.insert("plan_steps", ("id", "county_code", "plan_id", "seq", "kind", "done_on", "minutes",
                                        "document", "members_due", "members_present", "members_in_favour",
                                        "notice_start_on", "notice_end_on", "payment_method", "recorded_at"), steps)
        self.bulk.insert("plan_objections", ("id", "county_code", "plan_id", "raised_on", "raised_by", "content",
                                             "answer", "answered_on", "recorded_at"), objections)

    def allocate(self, available: int, pv: int) -> list[tuple[str, int]]:
        """Targets per purpose in fen; 公益岗位 and 村级公益事业 take at least 80% of PV net (basis: P23)."""
        rng = self.rng
        jobs = available * rng.randint(30, 40) // 100
        works = available * rng.randint(15, 25) // 100
        need = min(-(-pv * 80 // 100), available)
        if jobs + works < need:
            works = need - jobs
        relief = available * rng.randint(8, 12) // 100
        awards = available * rng.randint(0, 5) // 100
        om = available * rng.randint(3, 6) // 100
        reinvest = available * rng.randint(0, 5) // 100
        out = [("operation_maintenance", om), ("public_jobs", jobs), ("public_works", works), ("relief", relief),
               ("awards", awards), ("reinvestment", reinvest)]
        total = sum(x for _, x in out)
        if total > available:  # a PV-heavy village: trim what is not PV-bound
            over = total - available
            for i, (p, x) in enumerate(out):
                if p in ("reinvestment", "awards", "operation_maintenance", "relief") and over > 0:
                    cut = min(x, over)
                    out[i], over = (p, x - cut), over - cut
        return out

    def lines_for(self, v: _Village, purpose: str, target: int) -> list[tuple]:
        rng = self.rng
        pool = v.households
        if purpose == "public_jobs":
            wage = rng.choice((500, 600, 800, 1000)) * 100
            people = min(target // (12 * wage), 30, len(pool))
            months = 12
            if people == 0:
                months = min(target // wage, 12)
                people = 1 if months >= 1 else 0
            if people == 0:
                return []
            chosen = sorted(rng.sample(pool, people), key=lambda h: h[0])
            post = rng.choice(POSTS)
            return [(h[0], h[1], months * wage, months, wage, f"{post} {months}个月×{_yuan(wage)}元") for h in chosen]
        if purpose == "relief":
            cands = [h for h in pool if h[2] != "ordinary"][:40]
            weights = [3 if h[2] == "monitored" else 2 for h in cands]
            reason = "扶贫济困（按档次）"
        else:
            cands = rng.sample(pool, min(len(pool), rng.randint(10, 30)))
            weights = [1] * len(cands)
            reason = "以奖代补：人居环境评比"
        while cands and target < 100 * len(cands):
            cands, weights = cands[:-1], weights[:-1]
        if not cands:
            return []
        order = sorted(range(len(cands)), key=lambda i: cands[i][0])
        cands, weights = [cands[i] for i in order], [weights[i] for i in order]
        return [(h[0], h[1], amount, None, None, reason)
                for h, amount in zip(cands, _fen_split(target, weights), strict=True)]

    # audits, inspections, problems (basis: P25, P27, P30) ---------------------------------------
    def oversight(self) -> None:  # noqa: C901 - bulk rows of four tables in one pass over the county
        rng = self.rng
        auid, inid, prid, evid = (self.bulk.ids(t) for t in ("audits", "inspections", "problems", "problem_events"))
        audits, inspections, problems, events = [], [], [], []

        def problem(source, a, town_code, village_code, raised, audit_id=None, inspection_id=None, text=""):
            deadline = raised + timedelta(days=rng.choice((30, 60, 90)))
            age = (AS_OF - raised).days
            status = "closed" if age > 240 else rng.choice(("pending", "in_progress", "rectified", "closed")) \
                if age > 60 else rng.choice(("pending", "in_progress"))
            rectified = closed = None
            problem_id = prid()
            chain = [("pending", raised)]
            if status in ("in_progress", "rectified", "closed"):
                chain.append(("in_progress", raised + timedelta(days=rng.randint(3, 15))))
            if status in ("rectified", "closed"):
                rectified = min(raised + timedelta(days=rng.randint(20, 80)), AS_OF)
                chain.append(("rectified", rectified))
            if status == "closed":
                closed = min(rectified + timedelta(days=rng.randint(5, 30)), AS_OF)
                chain.append(("closed", closed))
            prev = None
            for st, on in chain:
                events.append((evid(), self.code, problem_id, prev, st, on, None, _stamp(on)))
                prev = st
            unit = f"{a.village.name}村民委员会" if a is not None and a.village else "乡镇财政所"
            problems.append((problem_id, self.code, town_code, village_code, a.id if a else None, source, audit_id,
                             inspection_id, text, "按期整改并报送整改材料", unit,
                             self.person(rng.choice("mf"), rng.randint(1965, 1990)), raised, deadline, status,
                             rectified, closed, 1, _stamp(raised)))

        for a in self.assets:
            if a.category != "operating" or a.village is None or a.service_on is None:
                continue
            for year in YEARS:
                if year < a.service_on.year or (a.stopped_on and a.stopped_on.year < year):
                    continue
                if year == YEARS[-1] and rng.random() < 0.2:
                    continue  # not yet audited (AUDIT_MISSING)
                on = date(year + 1, rng.randint(4, 6), rng.randint(1, 28))
                conclusion = rng.choices(("pass", "basic_pass", "fail"), (85, 12, 3))[0]
                audit_id = auid()
                firm = rng.choice(AUDIT_FIRMS)
                audits.append((audit_id, self.code, a.town_code, a.village.code, a.id, year,
                               f"{self.name}{firm}" if firm == "审计局" else firm, on, conclusion,
                               None if conclusion == "pass" else "收益台账登记不及时，部分凭证缺少经办人签字",
                               _stamp(on)))
                if conclusion != "pass":
                    problem("audit", a, a.town_code, a.village.code, on, audit_id=audit_id,
                            text=f"{a.name}{year}年度审计发现：收益台账登记不及时")
        for town_code, town_name, _ in self.towns:
            for year in (*YEARS, 2025):
                for quarter in range(1, 5):
                    on = date(year, quarter * 3, rng.randint(5, 25))
                    if on > AS_OF or rng.random() < 0.05:
                        continue
                    ins_id = inid()
                    inspections.append((ins_id, self.code, town_code, year, quarter, on, f"{self.name}乡村振兴局督查组",
                                        "基本规范", None, _stamp(on)))
                    if rng.random() < 0.3:
                        problem("inspection", None, town_code, None, on, inspection_id=ins_id,
                                text=f"{town_name}{year}年第{quarter}季度督查：部分公益性资产管护记录不全")
        self.bulk.insert("audits", ("id", "county_code", "town_code", "village_code", "asset_id", "year", "auditor",
                                    "audited_on", "conclusion", "findings", "recorded_at"), audits)
        self.bulk.insert("inspections", ("id", "county_code", "town_code", "year", "quarter", "inspected_on",
                                         "inspector", "conclusion", "findings", "recorded_at"), inspections)
        self.bulk.insert("problems", ("id", "county_code", "town_code", "village_code", "asset_id", "source",
                                      "audit_id", "inspection_id", "description", "task", "responsible_unit",
                                      "responsible_person", "raised_on", "deadline", "status", "rectified_on",
                                      "closed_on", "version", "created_at"), problems)
        self.bulk.insert("problem_events", ("id", "county_code", "problem_id", "from_status", "to_status",
                                            "happened_on", "note", "recorded_at"), events)


_SURNAMES = [s for s, _ in N.SURNAMES]
_SURNAME_CUM = list(itertools.accumulate(w for _, w in N.SURNAMES))
_LABOUR = ("full", "half", "weak", "none")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643 (as core.validators)
_ID_CHECK = "10X98765432"
_PV_SEASON = (70, 80, 95, 105, 115, 120, 125, 125, 115, 100, 80, 70)  # percent of the average month
_CHANGE_REASON = {"under_construction": "项目开工", "completed": "竣工验收", "handed_over": "移交确权",
                  "in_operation": "投入运营", "in_use": "投入使用", "idle": "暂停使用", "disposing": "申请处置",
                  "disposed": "处置完成", "scrapped": "报废核销"}
STEP_LABEL = {"proposal": "村党组织提议", "consultation": "村两委会议商议", "party_meeting": "党员大会审议",
              "representatives_meeting": "村民代表会议决议", "resolution_published": "决议公开",
              "town_review": "乡镇审核", "notice": "公示", "approval": "公示期满批准实施", "county_filing": "县级备案",
              "payment": "兑付", "result_published": "实施结果公开"}
