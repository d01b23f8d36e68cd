"""The demo county's oversight layer, loaded after its years (yearly.py): the county's rule settings, the
regulations (制度) of county, towns and villages, the archive (档案) with the documents each asset's status
requires, annual audits of the operating assets, quarterly inspections of the towns, problems to rectify
(三单一账) from audit findings, inspections, flags and complaints with their evidence files, and disposals
through the county's approval order.

Everything that the services allow goes through them (checked, scoped, in the change log), with the users
who would do it: the auditor records audits and inspections, town finance offices and village committees
file documents and rectify, the county closes. The few cases the services refuse, by design, are old data
recorded as such (the path the flag names, or a dated import like tests/test_flags_rules.py's):

* a disposal executed in 2022 without its approvals: ``oversight.services.import_legacy_disposal``
  (DISPOSAL_UNAPPROVED);
* three 2019 distribution plans recorded from the paper archive, from before the system: a notice of five
  days (NOTICE_SHORT), a representatives' meeting without two thirds present (QUORUM_MISSING), an allocation
  to 村干部津贴福利 (FORBIDDEN_USE) — the procedure services refuse each of them, so they are written with
  the models and logged as ``legacy_import``.

The demo is judged as of ``as_of`` (loader.AS_OF, 2025-06-30): every flag rule fires at least once then and
problems stand in every status. Deterministic for a seed (its own ``random.Random``, assets and places taken
in code order), every business date on or before ``as_of``; never commits.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from ..assets.models import Asset, AssetStatusChange
from ..changelog.services import record_change, snapshot
from ..core.access import level_of, town_of
from ..core.files import StoredFile
from ..core.money import ZERO, round_half_up
from ..core.time import now_utc
from ..custody.models import AssetCustody, AssetOperation
from ..distribution import services as dist
from ..distribution.models import STEP_ORDER, DistributionPlan, PlanAllocation, PlanStep
from ..extensions import db
from ..flags import engine
from ..households.models import Household
from ..income import services as income
from ..income.models import Settlement
from ..lists import services as lists
from ..lists.models import LEVELS, ArchiveDocument, Regulation, RequiredDocument
from ..oversight import services as oversight
from ..oversight.models import (
    DEFAULT_DISPOSAL_ORDER,
    PROBLEM_SOURCES,
    PROBLEM_STATUSES,
    Audit,
    DisposalRequest,
    Inspection,
    Problem,
)
from ..places.models import Place
from ..users.models import User
from . import names as N
from .gaps import scan_gaps

AUDIT_YEARS = (2022, 2023, 2024)
INSPECTION_QUARTERS = [(y, q) for y in (2023, 2024) for q in (1, 2, 3, 4)] + [(2025, 1)]
HUNDRED = Decimal("1E2")
AUDITORS = ("青溪县审计局", "湖南湘诚会计师事务所有限公司（受青溪县审计局委托）")
INSPECTOR = "青溪县乡村振兴局、县财政局联合督查组"
VALUER = "湖南正信资产评估有限公司"
# What the county requires in each asset's archive, by status (and category; None: any) — basis: P05.
REQUIRED = {
    ("completed", None): ("project_approval", "acceptance"),
    ("handed_over", None): ("project_approval", "acceptance", "handover", "rights_confirmation"),
    ("in_operation", "operating"): ("project_approval", "acceptance", "handover", "rights_confirmation",
                                    "operation_contract"),
    ("in_use", "public_welfare"): ("project_approval", "acceptance", "handover", "rights_confirmation",
                                   "custody_agreement"),
    ("in_use", "household"): ("project_approval", "handover", "rights_confirmation"),
    ("idle", None): ("project_approval", "acceptance", "handover"),
    ("disposing", None): ("project_approval",),
    ("disposed", None): ("disposal_approval",),
    ("scrapped", None): ("disposal_approval",),
}
AUDIT_FINDINGS = [
    ("basic_pass", "{year}年度租金收入未按合同约定按期入账，存在延迟入账", "督促承租方按合同约定时间缴纳租金，逾期部分限期追缴入账"),
    ("basic_pass", "经营合同未约定资产维修维护责任，风险防控措施不明确", "与经营主体签订补充协议，明确维修维护责任和风险防控措施"),
    ("basic_pass", "资产运维记录不完整，部分月份缺少巡检记录", "补齐巡检记录，建立月度巡检台账"),
    ("fail", "收益台账与银行流水不符，{year}年度有收入未入村集体账户", "核实差额并全额追回入账，追究相关人员责任"),
    ("basic_pass", "资产账实不符：账面设备数量与实物盘点不一致", "开展资产清查盘点，按程序调整账面记录"),
]
INSPECTION_FINDINGS = [
    ("{village}公益性资产管护台账记录不全，部分月份无巡查记录", "补齐管护巡查记录，落实每月巡查"),
    ("{village}光伏电站收益分配公示材料未按要求归档", "将公示照片、公示清单整理归档"),
    ("{village}扶贫车间租金收取凭证未及时交乡镇三资代理服务中心入账", "凭证交乡镇三资代理服务中心入账"),
    ("{village}公益性资产管护责任人变更后未重新签订管护协议", "重新签订管护协议并报乡镇备案"),
]
# The flags the county turns into problems (rule → task, the day it raised the first).
FLAG_TASKS = {
    "CUSTODY_MISSING": ("明确管护主体和管护责任人，签订管护协议并落实管护经费", date(2025, 3, 12)),
    "CONTRACT_EXPIRED": ("续签或重新签订经营合同，按程序确定经营主体", date(2025, 4, 8)),
    "SETTLEMENT_LATE": ("完成上年度收益清算并张榜公示", date(2025, 4, 3)),
    "AUDIT_MISSING": ("委托开展年度审计，审计报告归档", date(2025, 6, 10)),
    "HANDOVER_LATE": ("组织竣工资产确权移交，办理移交手续", date(2025, 4, 15)),
}


# --- entry points ------------------------------------------------------------------------------

def load_oversight(seed: int, county_code: str, as_of: date) -> dict[str, int]:
    """Build the oversight layer for the county just loaded; returns what it created, by kind."""
    return _Oversight(random.Random(f"{seed}:oversight"), county_code, as_of).build()


@dataclass
class OversightSummary:
    counts: dict[str, int] = field(default_factory=dict)
    regulations_by_level: dict[str, int] = field(default_factory=dict)
    problems_by_status: dict[str, int] = field(default_factory=dict)
    problems_by_source: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    disposals: dict[str, int] = field(default_factory=dict)
    proceeds: Decimal = ZERO

    def report_lines(self, as_of: date) -> list[str]:
        c = self.counts
        levels = "、".join(f"{LEVELS[k]} {v}" for k, v in self.regulations_by_level.items())
        statuses = "、".join(f"{PROBLEM_STATUSES[k]} {v}" for k, v in self.problems_by_status.items())
        sources = "、".join(f"{PROBLEM_SOURCES[k]} {v}" for k, v in self.problems_by_source.items())
        return [
            f"监管 oversight: 制度 regulations {c.get('regulations', 0)}（{levels}），必备档案规则 required kinds "
            f"{c.get('required', 0)}，档案 documents {c.get('documents', 0):,}（附件 files {c.get('files', 0)}）",
            f"  年度审计 audits {c.get('audits', 0)}，督查检查 inspections {c.get('inspections', 0)}",
            f"  问题清单 problems {c.get('problems', 0)}（{sources}）: {statuses}；按 {as_of} 逾期 overdue {self.overdue}",
            f"  处置 disposals: 已执行 executed {self.disposals.get('executed', 0)}（处置收入 proceeds "
            f"{self.proceeds:,.2f} 元），审批中 approving {self.disposals.get('approving', 0)}，历史补录无审批 legacy "
            f"{self.disposals.get('legacy', 0)}；2019年历史分配方案补录 legacy plans {c.get('legacy_plans', 0)}"
            "（NOTICE_SHORT、QUORUM_MISSING、FORBIDDEN_USE，服务拒绝登记的旧数据 old data the services refuse）",
            f"  预警清单 flags as of {as_of}: flask --app wsgi flags --scope {N.COUNTY_CODE} --as-of {as_of}",
        ]


def summarize_oversight(county_code: str, as_of: date) -> OversightSummary:
    """The oversight layer as the data shows it (the same on every run)."""
    s = db.session

    def count(model, *where):
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(model.county_code == county_code, *where))

    out = OversightSummary()
    out.counts = {
        "regulations": count(Regulation), "required": count(RequiredDocument), "documents": count(ArchiveDocument),
        "files": count(StoredFile), "audits": count(Audit), "inspections": count(Inspection),
        "problems": count(Problem),
        "legacy_plans": count(DistributionPlan, DistributionPlan.settlement_id.is_(None),
                              DistributionPlan.year < 2020),
    }
    rows = dict(s.execute(sa.select(Regulation.level, sa.func.count()).where(Regulation.county_code == county_code)
                          .group_by(Regulation.level)).all())
    out.regulations_by_level = {k: rows[k] for k in ("county", "town", "village") if rows.get(k)}
    rows = dict(s.execute(sa.select(Problem.status, sa.func.count()).where(Problem.county_code == county_code)
                          .group_by(Problem.status)).all())
    out.problems_by_status = {k: rows[k] for k in PROBLEM_STATUSES if rows.get(k)}
    rows = dict(s.execute(sa.select(Problem.source, sa.func.count()).where(Problem.county_code == county_code)
                          .group_by(Problem.source)).all())
    out.problems_by_source = {k: rows[k] for k in PROBLEM_SOURCES if rows.get(k)}
    out.overdue = len(oversight.overdue_problems(county_code, as_of))
    requests = s.scalars(sa.select(DisposalRequest).where(DisposalRequest.county_code == county_code)).all()
    legacy = sum(1 for r in requests if r.status == "executed" and len(r.approvals) < len(r.approval_order))
    out.disposals = dict(Counter(r.status for r in requests))
    out.disposals["executed"] = out.disposals.get("executed", 0) - legacy
    out.disposals["legacy"] = legacy
    out.proceeds = sum((r.proceeds or ZERO for r in requests if len(r.approvals) == len(r.approval_order)), ZERO)
    return out


# --- small real files ----------------------------------------------------------------------------

def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page A4 PDF showing ``lines`` (ASCII) in Helvetica, with a correct cross-reference table."""
    body = "BT /F1 13 Tf 72 770 Td 16 TL " + " ".join(f"({_pdf_text(ln)}) '" for ln in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(body)} >>\nstream\n{body}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{obj}\nendobj\n".encode("ascii"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii"))
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode("ascii"))
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii"))
    return out.getvalue()


def png_bytes(n: int, width: int = 96, height: int = 64) -> bytes:
    """A small RGB PNG (a 'before | after' pair of tinted panels, different for each ``n``)."""
    left = (120 + 37 * n % 100, 90, 60)
    right = (60, 130 + 53 * n % 100, 80)
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        for x in range(width):
            edge = x in (0, width - 1, width // 2) or y in (0, height - 1)
            raw.extend((20, 20, 20) if edge else left if x < width // 2 else right)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


# --- the builder -------------------------------------------------------------------------------

@dataclass(eq=False)
class _A:
    id: int
    code: str
    name: str
    category: str
    subtype: str
    town_code: str | None
    village_code: str | None
    place_code: str
    status: str
    status_on: date
    project_name: str | None
    approval_no: str | None
    path: list[tuple[str, date, str | None]] = field(default_factory=list)  # (status, day, document)

    def reached(self, *statuses: str) -> date | None:
        return next((d for s, d, _ in self.path if s in statuses), None)

    def document(self, status: str) -> str | None:
        return next((doc for s, _, doc in self.path if s == status), None)


@dataclass(eq=False)
class _P:
    """A problem to raise, and how far it gets by ``as_of``."""

    data: dict
    target: str = "pending"
    reject: bool = False


class _Oversight:
    def __init__(self, rng: random.Random, county_code: str, as_of: date):
        self.rng = rng
        self.county = county_code
        self.as_of = as_of
        self.app = current_app._get_current_object()
        self.made: Counter = Counter()
        self.archive_seq: Counter = Counter()

    # helpers -------------------------------------------------------------------------------------
    def between(self, lo: date, hi: date) -> date:
        hi = min(hi, self.as_of)
        return lo + timedelta(days=self.rng.randint(0, max(0, (hi - lo).days)))

    def after(self, d: date, lo: int, hi: int) -> date:
        return min(d + timedelta(days=self.rng.randint(lo, hi)), self.as_of)

    def person(self) -> str:
        surname = self.rng.choices([s for s, _ in N.SURNAMES], [w for _, w in N.SURNAMES])[0]
        return surname + self.rng.choice(N.GIVEN[(self.rng.choices(["m", "f"], [4, 1])[0], "old")])

    def place_name(self, code: str | None) -> str:
        return self.places[code or self.county].name

    def writer(self, village_code: str | None, town_code: str | None) -> User:
        """Who files and rectifies for a place: its village committee, its town's finance office, the county."""
        if village_code:
            return self.vc[village_code]
        if town_code:
            return self.fin[town_code]
        return self.admin

    def archive_no(self, place: str, year: int) -> str:
        self.archive_seq[(place, year)] += 1
        return f"{place}-{year}-{self.archive_seq[(place, year)]:04d}"

    def upload(self, user: User, content: bytes, filename: str) -> int:
        self.made["files"] += 1
        return lists.upload_file(user, self.app, io.BytesIO(content), filename).id

    def file_document(self, user: User, *, kind: str, title: str, filed_on: date, asset: _A | None = None,
                      place_code: str | None = None, level: str | None = None, file_id: int | None = None) -> int:
        where = asset.place_code if asset is not None else place_code
        level = level or level_of(where)
        number_place = where if level != "county" else self.county
        doc = lists.create_document(user, {
            "asset_id": asset.id if asset is not None else None,
            "place_code": None if asset is not None else place_code, "level": level, "kind": kind,
            "archive_no": self.archive_no(number_place, filed_on.year), "title": title[:200], "filed_on": filed_on,
            "file_id": file_id})
        self.made["documents"] += 1
        return doc.id

    # the build -----------------------------------------------------------------------------------
    def build(self) -> dict[str, int]:
        self.load()
        self.settings()
        self.regulations()
        lists.set_required(self.admin, [{"status": s, "category": c, "kind": k}
                                        for (s, c), kinds in REQUIRED.items() for k in kinds])
        self.disposals()
        self.archive()
        self.audits()
        self.inspections()
        self.distribution()
        self.problems()
        db.session.flush()
        return dict(self.made)

    def load(self) -> None:
        s = db.session
        users = {u.username: u for u in s.scalars(sa.select(User).where(User.county_code == self.county))}
        self.admin, self.auditor = users["admin"], users["auditor"]
        self.places = {p.code: p for p in s.scalars(sa.select(Place).where(Place.county_code == self.county))}
        self.towns = sorted(c for c, p in self.places.items() if p.level == "town" and p.valid_to is None)
        self.villages = sorted(c for c, p in self.places.items() if p.level == "village" and p.valid_to is None)
        self.fin = {t: users[f"fin_{t[-3:]}"] for t in self.towns}
        self.vc = {v: users[f"vc_{v}"] for v in self.villages}
        self.assets: list[_A] = [
            _A(a.id, a.code, a.name, a.category, a.subtype, a.town_code, a.village_code, a.place_code, a.status,
               a.status_on, a.project_name, a.project_approval_no)
            for a in s.scalars(sa.select(Asset).where(Asset.county_code == self.county).order_by(Asset.code))]
        by_id = {a.id: a for a in self.assets}
        for c in s.scalars(sa.select(AssetStatusChange).where(AssetStatusChange.county_code == self.county)
                           .order_by(AssetStatusChange.asset_id, AssetStatusChange.changed_on, AssetStatusChange.id)):
            by_id[c.asset_id].path.append((c.to_status, c.changed_on, c.document))
        self.with_custody = set(s.scalars(sa.select(AssetCustody.asset_id).where(AssetCustody.county_code == self.county)))
        self.with_operation = set(s.scalars(sa.select(AssetOperation.asset_id)
                                            .where(AssetOperation.county_code == self.county)))
        self.gap_codes = {code for codes in scan_gaps(self.county, self.as_of).values() for code in codes}

    def settings(self) -> None:
        """The county saves the seeds' thresholds and its disposal approval order (basis: P14, P24, P34)."""
        oversight.set_settings(self.admin, {
            "no_income_years": 2, "settlement_deadline_month": 3, "settlement_deadline_day": 31,
            "handover_deadline_month": 3, "handover_deadline_day": 31, "contract_warning_days": 90,
            "risk_assessment_max_days": 365, "disposal_approval_order": list(DEFAULT_DISPOSAL_ORDER), "version": 0})

    # regulations (制度, basis: P26, P08) ------------------------------------------------------------
    def regulations(self) -> None:
        """The county's own systems (distribution, depreciation, disposal, custody, supervision), each town's
        market and risk rules — but 清水乡 (the last town) has not issued its risk rule, so it and its villages
        lack 资产防风险 — and village rules (custody, and the PV villages' distribution rules)."""
        admin, county = self.admin, self.county
        county_rules = [
            ("distribution", "青溪县扶贫项目资产收益分配使用管理办法（试行）", "青政办发〔2018〕23号", date(2018, 9, 1),
             date(2021, 7, 1), None),
            ("distribution", "青溪县帮扶项目资产收益分配使用管理办法", "青政办发〔2021〕15号", date(2021, 7, 1), None, None),
            ("distribution", "青溪县村级光伏电站收益分配管理实施细则", "青乡振发〔2020〕9号", date(2020, 5, 1), None,
             ["光伏电站"]),
            ("depreciation", "青溪县扶贫项目资产折旧管理办法", "青财农〔2019〕31号", date(2019, 11, 1), None, None),
            ("disposal", "青溪县扶贫项目资产处置管理办法", "青政办发〔2019〕41号", date(2020, 1, 1), None, None),
            ("custody", "青溪县公益性扶贫项目资产管护办法", "青乡振发〔2019〕12号", date(2019, 6, 1), None,
             ["道路", "桥梁", "饮水工程", "农田水利"]),
            ("supervision", "青溪县扶贫项目资产监督管理办法", "青政办发〔2021〕16号", date(2021, 7, 1), None, None),
            ("market", "青溪县扶贫车间管理办法", "青乡振发〔2020〕21号", date(2020, 8, 1), None, ["扶贫车间"]),
        ]
        for i, (category, title, number, effective, repealed, subtypes) in enumerate(county_rules):
            pdf = pdf_bytes([f"Qingxi County (431299) regulation, demo copy #{i + 1}", f"Category: {category}",
                             f"Effective: {effective.isoformat()}",
                             f"Repealed: {repealed.isoformat()}" if repealed else "In force"])
            file_id = self.upload(admin, pdf, f"{title}.pdf")
            lists.create_regulation(admin, {
                "issuer_code": county, "title": title, "doc_number": number, "category": category,
                "subtypes": subtypes, "effective_on": effective, "repealed_on": repealed, "file_id": file_id})
            self.made["regulations"] += 1
        short = {"城关镇": "城", "白石乡": "白", "龙潭镇": "龙", "清水乡": "清"}
        for i, town in enumerate(self.towns):
            name = self.place_name(town)
            prefix = short.get(name, name[:1])
            fin = self.fin[town]
            rules = [("market", f"{name}扶贫项目资产市场化运营管理办法", date(2020, 3 + i, 10))]
            if i < len(self.towns) - 1:
                rules.append(("risk", f"{name}扶贫项目资产经营风险防控办法", date(2020, 9 + i, 15)))
            for category, title, effective in rules:
                lists.create_regulation(fin, {
                    "issuer_code": town, "title": title, "category": category, "effective_on": effective,
                    "doc_number": f"{prefix}政发〔{effective.year}〕{self.rng.randint(3, 40)}号"})
                self.made["regulations"] += 1
        pv_villages = {a.village_code for a in self.assets if a.subtype == "光伏电站" and a.village_code}
        for v in self.villages:
            name = self.place_name(v)
            vc = self.vc[v]
            lists.create_regulation(vc, {
                "issuer_code": v, "title": f"{name}扶贫项目资产管护制度", "category": "custody",
                "effective_on": date(2021, self.rng.randint(1, 12), self.rng.randint(1, 28))})
            self.made["regulations"] += 1
            if v in pv_villages:
                lists.create_regulation(vc, {
                    "issuer_code": v, "title": f"{name}光伏电站收益分配实施方案", "category": "distribution",
                    "subtypes": ["光伏电站"], "effective_on": date(2020, self.rng.randint(6, 12), self.rng.randint(1, 28))})
                self.made["regulations"] += 1

    # disposals (处置, DOMAIN.md §9; basis: P14) -----------------------------------------------------
    def disposals(self) -> None:
        """An idle village workshop or base sold by auction through every approval, its proceeds booked as
        处置收入; an idle public-welfare asset whose scrapping waits for the county; an asset scrapped in 2022
        whose approvals were never recorded, entered now as old data (DISPOSAL_UNAPPROVED)."""
        idle = [a for a in self.assets if a.status == "idle" and a.village_code and a.category != "household"
                and a.code not in self.gap_codes]
        sold = next((a for a in idle if a.category == "operating" and a.subtype != "光伏电站"
                     and a.status_on <= date(2024, 6, 30)), None)
        old = [a for a in idle if a.status_on <= date(2021, 6, 30) and a is not sold]
        legacy = old[0] if old else None
        scrap = next((a for a in idle if a.category == "public_welfare" and a not in (sold, legacy)), None)
        self.disposal_numbers: dict[int, str] = {}
        if sold is not None:
            fin, vc = self.fin[sold.town_code], self.vc[sold.village_code]
            requested = self.between(date(2025, 2, 24), date(2025, 3, 14))
            req = oversight.create_disposal(fin, {
                "asset_id": sold.id, "grounds": "idle_inefficient", "method": "auction", "requested_on": requested,
                "reason": f"{sold.name}自{sold.status_on.year}年起闲置，经营主体退出后无人承租，申请公开拍卖处置"})
            valued_on = self.after(requested, 10, 20)
            value = round_half_up(self.original_value(sold) * Decimal(self.rng.randint(25, 45)) / 100, HUNDRED)
            oversight.record_valuation(fin, req.id, {"valuation": value, "valuer": VALUER, "valued_on": valued_on})
            decided = self.after(valued_on, 7, 14)
            oversight.record_village_decision(vc, req.id, {
                "decided_on": decided, "minutes": "村民代表会议应到31人，实到27人，25人同意公开拍卖处置，收入纳入村集体收益"})
            on, approvers = decided, list(req.approval_order)
            for seq, approver in enumerate(approvers, 1):
                on = self.after(on, 5, 12)
                user = fin if approver == "town_government" else self.admin
                oversight.record_approval(user, req.id, {
                    "approver": approver, "seq": seq, "decision": "approved", "decided_on": on,
                    "document": f"{'青乡振资处' if approver != 'town_government' else '乡政资'}〔2025〕{seq + 10}号"})
            executed = min(self.after(on, 10, 20), date(2025, 6, 20))
            proceeds = round_half_up(value * Decimal(self.rng.randint(102, 118)) / 100)
            oversight.execute_disposal(fin, req.id, {
                "executed_on": executed, "proceeds": proceeds, "payer": "青溪县公共资源交易中心",
                "voucher_no": f"记字{executed.year}{executed.month:02d}第{self.rng.randint(40, 90):03d}号"})
            self.disposal_numbers[sold.id] = f"青乡振资处〔2025〕{len(approvers) + 10}号"
            self.made["disposals"] += 1
        if scrap is not None:
            fin, vc = self.fin[scrap.town_code], self.vc[scrap.village_code]
            requested = self.between(date(2025, 5, 6), date(2025, 5, 16))
            req = oversight.create_disposal(fin, {
                "asset_id": scrap.id, "grounds": "disaster", "method": "loss", "requested_on": requested,
                "reason": f"{scrap.name}在2025年5月山洪中严重损毁，无修复价值，申请报损处置"})
            valued_on = self.after(requested, 3, 7)
            oversight.record_valuation(fin, req.id, {"valuation": Decimal("0.00"), "valuer": VALUER,
                                                     "valued_on": valued_on})
            decided = self.after(valued_on, 3, 8)
            oversight.record_village_decision(vc, req.id, {
                "decided_on": decided, "minutes": "村民代表会议应到29人，实到24人，24人同意报损处置"})
            oversight.record_approval(fin, req.id, {
                "approver": req.approval_order[0], "seq": 1, "decision": "approved",
                "decided_on": self.after(decided, 3, 8), "document": "乡政资〔2025〕19号"})
            self.made["disposals"] += 1
        if legacy is not None:
            executed = self.between(date(2022, 3, 1), date(2022, 10, 31))
            oversight.import_legacy_disposal(self.admin, {
                "asset_id": legacy.id, "grounds": "end_of_life", "method": "scrap",
                "requested_on": max(executed - timedelta(days=40), legacy.status_on), "executed_on": executed,
                "reason": "历史处置补录：2022年已拆除报废，审批材料缺失（据村账和现场核实补录）"})
            self.made["disposals"] += 1
        # Statuses moved: keep the in-memory paths in step for the archive.
        for a in (sold, scrap, legacy):
            if a is not None:
                fresh = db.session.get(Asset, a.id)
                a.status, a.status_on = fresh.status, fresh.status_on
                a.path = [(c.to_status, c.changed_on, c.document) for c in db.session.scalars(
                    sa.select(AssetStatusChange).where(AssetStatusChange.asset_id == a.id)
                    .order_by(AssetStatusChange.changed_on, AssetStatusChange.id))]
        self.legacy_disposed = legacy

    def original_value(self, a: _A) -> Decimal:
        return db.session.get(Asset, a.id).original_value

    # the archive (档案, basis: P05) -------------------------------------------------------------------
    def archive(self) -> None:
        """Each asset's documents as its path reached them: the project approval (county archive), then at
        the asset's own level acceptance, handover and rights confirmation, the operation contract or
        custody agreement, the disposal approval. About one asset in fifteen lacks one required document.
        Without autoflush: each document is flushed as it is filed (create_document), so the lookups of the
        next one would only flush the previous one's change-log entry, a second flush per document."""
        with db.session.no_autoflush:
            self._archive()

    def _archive(self) -> None:
        for a in self.assets:
            if not a.path:
                continue
            kinds = REQUIRED.get((a.status, a.category)) or REQUIRED.get((a.status, None)) or ()
            skip = None
            if kinds and a.code not in self.gap_codes and a is not self.legacy_disposed and self.rng.random() < 0.07:
                skip = self.rng.choice(kinds)
            user = self.writer(a.village_code, a.town_code)
            for kind, on, title in self.asset_documents(a):
                if kind == skip:
                    continue
                if kind in ("project_approval", "disposal_approval"):  # the county's decisions, in its archive
                    self.file_document(self.admin, kind=kind, title=title, filed_on=on, asset=a, level="county")
                else:
                    self.file_document(user, kind=kind, title=title, filed_on=on, asset=a)

    def asset_documents(self, a: _A) -> list[tuple[str, date, str]]:
        out = [("project_approval", a.path[0][1], f"关于{a.project_name or a.name}的批复（{a.approval_no or '—'}）")]
        completed = a.reached("completed")
        if completed:
            out.append(("acceptance", self.after(completed, 3, 20), f"{a.name}竣工验收报告"))
        handed = a.reached("handed_over")
        if handed:
            out.append(("handover", self.after(handed, 0, 7),
                        f"{a.name}资产移交书（{a.document('handed_over') or '移交'}）"))
            out.append(("rights_confirmation", self.after(handed, 0, 10), f"{a.name}确权登记书"))
        service = a.reached("in_operation", "in_use")
        if service and a.category == "operating" and a.id in self.with_operation:
            out.append(("operation_contract", self.after(service, 0, 10), f"{a.name}经营（租赁）合同"))
        if service and a.category == "public_welfare" and a.id in self.with_custody:
            out.append(("custody_agreement", self.after(service, 0, 15), f"{a.name}管护协议"))
        gone = a.reached("disposed", "scrapped")
        if gone and a is not self.legacy_disposed:
            document = self.disposal_numbers.get(a.id) or a.document("disposed") or a.document("scrapped") or "—"
            out.append(("disposal_approval", gone, f"关于{a.name}处置的批复（{document}）"))
        return out

    # audits (年度审计, basis: P25) ---------------------------------------------------------------------
    def audits(self) -> None:
        """Each operating asset held in a year (handed over by its end, not gone before its start) is audited
        in the spring after it, the report filed in the county archive; four of 2024's are missing."""
        self.audit_rows: list[tuple[Audit, _A, str]] = []
        candidates = []
        for a in self.assets:
            if a.category != "operating":
                continue
            handed = a.reached("handed_over", "in_operation", "in_use", "idle")
            gone = a.reached("disposed", "scrapped")
            for year in AUDIT_YEARS:
                if handed is None or handed > date(year, 12, 31) or (gone is not None and gone < date(year, 1, 1)):
                    continue
                candidates.append((a, year))
        held_2024 = [a for a, y in candidates if y == 2024 and a.status in ("in_operation", "idle", "handed_over")]
        missing = set(self.rng.sample([a.code for a in held_2024], min(4, len(held_2024))))
        findings = list(AUDIT_FINDINGS)
        for a, year in candidates:
            if year == 2024 and a.code in missing:
                continue
            audited = self.between(date(year + 1, 3, 3), date(year + 1, 5, 30))
            auditor = AUDITORS[0] if a.town_code is None or self.rng.random() < 0.6 else AUDITORS[1]
            conclusion, finding, task = "pass", None, None
            if year >= 2023 and findings and self.rng.random() < 0.12:
                conclusion, finding, task = findings.pop(0)
                finding = finding.format(year=year)
            file_id = None
            if year == AUDIT_YEARS[-1]:  # the last year's reports are kept as files too
                report = pdf_bytes([f"Annual audit report {year} - asset {a.code}", "Auditor: county audit bureau",
                                    f"Date: {audited.isoformat()}", f"Conclusion: {conclusion}"])
                file_id = self.upload(self.admin, report, f"{a.code}-{year}年度审计报告.pdf")
            doc_id = self.file_document(self.admin, kind="audit_report", title=f"{a.name}{year}年度审计报告",
                                        filed_on=audited, asset=a, level="county", file_id=file_id)
            audit = oversight.create_audit(self.auditor, {
                "asset_id": a.id, "year": year, "auditor": auditor, "audited_on": audited, "conclusion": conclusion,
                "findings": finding, "report_document_id": doc_id})
            self.made["audits"] += 1
            if finding:
                self.audit_rows.append((audit, a, task))

    # inspections (督查检查, basis: P16, P27) -------------------------------------------------------------
    def inspections(self) -> None:
        """Each town every quarter since 2023, the report in the county archive; a few quarters were missed,
        and 清水乡 (the last town) has no inspection for the first quarter of 2025 (INSPECTION_MISSING)."""
        self.inspection_rows: list[tuple[Inspection, str, str, str]] = []
        skipped = {(self.rng.choice(self.towns[:-1]), 2023, self.rng.randint(1, 4))}
        findings = list(INSPECTION_FINDINGS)
        for town in self.towns:
            for year, quarter in INSPECTION_QUARTERS:
                if (town, year, quarter) in skipped or (town == self.towns[-1] and (year, quarter) == (2025, 1)):
                    continue
                on = date(year, 3 * quarter, self.rng.randint(8, 26))
                finding = task = village = None
                if (year, quarter) >= (2024, 3) and findings and self.rng.random() < 0.4:
                    village = self.rng.choice([v for v in self.villages if v.startswith(town)])
                    text, task = findings.pop(0)
                    finding = text.format(village=self.place_name(village))
                doc_id = self.file_document(self.admin, kind="inspection_report", place_code=town, level="county",
                                            title=f"{self.place_name(town)}{year}年第{quarter}季度扶贫项目资产督查检查报告",
                                            filed_on=self.after(on, 1, 5))
                row = oversight.create_inspection(self.auditor, {
                    "town_code": town, "year": year, "quarter": quarter, "inspected_on": on, "inspector": INSPECTOR,
                    "conclusion": "发现问题，限期整改" if finding else "资产管理规范，未发现明显问题",
                    "findings": finding, "report_document_id": doc_id})
                self.made["inspections"] += 1
                if finding:
                    self.inspection_rows.append((row, village, finding, task))

    # distribution (收益分配): the cases of the plan rules ------------------------------------------------
    def distribution(self) -> None:
        self.privacy_leak()
        self.open_objection()
        self.legacy_plans()

    def privacy_leak(self) -> None:
        """A village committee types a head of household's mobile into a line's reason while drafting its 2024
        plan (PRIVACY_LEAK: the notice cannot be published until it is removed)."""
        plans = db.session.scalars(sa.select(DistributionPlan).where(
            DistributionPlan.county_code == self.county, DistributionPlan.year == 2024,
            DistributionPlan.status.in_(("proposed", "consulted", "party_reviewed", "resolved",
                                         "resolution_published"))).order_by(DistributionPlan.village_code)).all()
        for plan in plans:
            lines = [li for a in plan.allocations for li in a.lines if li.job_id is None]
            phones = dict(db.session.execute(sa.select(Household.id, Household.phone).where(
                Household.id.in_([li.household_id for li in lines]), Household.phone.is_not(None))).all())
            target = next((li for li in lines if li.household_id in phones), None)
            if target is None:
                continue
            allocations = [{"purpose": a.purpose, "amount": a.amount, "use": a.use, "note": a.note, "lines": [
                {"household_id": li.household_id, "person_name": li.person_name, "amount": li.amount,
                 "reason": (f"{li.reason or ''}（户主联系电话{phones[li.household_id]}）" if li is target else li.reason),
                 "months": li.months, "monthly_wage": li.monthly_wage, "job_id": li.job_id} for li in a.lines]}
                for a in plan.allocations]
            dist.set_allocations(self.vc[plan.village_code], plan.id, allocations)
            self.made["privacy_leak"] += 1
            return

    def open_objection(self) -> None:
        """A village that had not settled 2024 settles it late in May, rushes its plan to a notice that ends
        in mid-June, and leaves the objection raised during it unanswered (OBJECTION_OPEN from 1 day after)."""
        settled = set(db.session.scalars(sa.select(Settlement.village_code).where(
            Settlement.county_code == self.county, Settlement.level == "village", Settlement.year == 2024)))
        for v in self.villages:
            if v in settled:
                continue
            net = income.village_year_income(self.county, v, 2024)["net"]
            if net < Decimal("5000"):
                continue
            fin, vc = self.fin[town_of(v)], self.vc[v]
            settled_on = date(2025, 5, 26)
            income.settle_year(fin, place_code=v, year=2024, settled_on=settled_on, published_on=date(2025, 5, 28),
                               note="逾期清算：村会计调整后补办")
            plan = dist.create_plan(vc, {"village_code": v, "year": 2024, "note": f"{self.place_name(v)}2024年度扶贫项目资产收益分配方案"})
            available, pv = plan.available, plan.pv_net
            works = min(available, max(_ceil(pv * Decimal("0.8")), _floor(available * Decimal("0.3"))))
            upkeep = _floor((available - works) * Decimal("0.4"))
            allocations = [{"purpose": "public_works", "amount": works, "use": "村组道路维修养护"}]
            if upkeep > 0:
                allocations.append({"purpose": "operation_maintenance", "amount": upkeep, "use": "扶贫项目资产日常管护"})
            if available - works - upkeep > 0:
                allocations.append({"purpose": "carry", "amount": available - works - upkeep, "use": "结转下年度分配"})
            dist.set_allocations(vc, plan.id, allocations)
            day = date(2025, 5, 28)
            meeting = {"party_meeting": (31, 26, 24), "representatives_meeting": (35, 29, 27)}
            for kind, gap in (("proposal", 1), ("consultation", 2), ("party_meeting", 2),
                              ("representatives_meeting", 1), ("resolution_published", 1), ("town_review", 2)):
                day += timedelta(days=gap)
                data = {"kind": kind, "done_on": day, "minutes": "按程序办理"}
                if kind in meeting:
                    due, present, favour = meeting[kind]
                    data.update(members_due=due, members_present=present, members_in_favour=favour,
                                minutes=f"应到{due}人，实到{present}人，{favour}人赞成")
                dist.record_step(fin if kind == "town_review" else vc, plan.id, data)
            start = day + timedelta(days=1)
            dist.record_step(vc, plan.id, {"kind": "notice", "notice_start_on": start,
                                           "notice_end_on": start + timedelta(days=9),
                                           "minutes": "在村务公开栏公示，公布12317及乡镇监督电话"})
            head = db.session.scalar(sa.select(Household.head_name).where(Household.village_code == v)
                                     .order_by(Household.number).offset(3).limit(1))
            dist.record_objection(vc, plan.id, {"raised_on": start + timedelta(days=2), "raised_by": head,
                                                "content": "村组道路维修项目与上年重复安排，请求说明资金去向"})
            self.made["open_objection"] += 1
            return

    def legacy_plans(self) -> None:
        """Three 2019 plans entered from the paper archive (the system began with 2020): the procedure services
        refuse each of them, so they are written as the old records show them and logged as legacy imports."""
        taken = set(db.session.scalars(sa.select(DistributionPlan.village_code).where(
            DistributionPlan.county_code == self.county, DistributionPlan.year == 2019)))
        pool = [v for v in self.villages if v not in taken and not v.startswith(self.towns[0])]
        chosen = self.rng.sample(pool, min(3, len(pool)))
        cases = ["NOTICE_SHORT", "QUORUM_MISSING", "FORBIDDEN_USE"]
        for v, case in zip(sorted(chosen), cases, strict=False):
            self.legacy_plan(v, case)
            self.made["legacy_plans"] += 1

    def legacy_plan(self, v: str, case: str) -> None:
        rng, name = self.rng, self.place_name(v)
        net = Decimal(rng.randint(180, 420) * 100).quantize(Decimal("0.01"))
        plan = DistributionPlan(county_code=self.county, town_code=town_of(v), village_code=v, year=2019, settlement_id=None,
                                settled_net=net, pv_net=ZERO, carry_over=ZERO, available=net, status="completed",
                                note=f"{name}2019年度扶贫项目资产收益分配方案（据纸质档案补录，系统启用前）",
                                created_by_id=self.admin.id)
        works = _floor(net * Decimal("0.5"))
        upkeep = net - works
        use = "发放村组干部津贴福利" if case == "FORBIDDEN_USE" else "扶贫项目资产日常管护"
        plan.allocations = [
            PlanAllocation(county_code=self.county, position=0, purpose="public_works", amount=works,
                           use="村组道路维修及路灯电费"),
            PlanAllocation(county_code=self.county, position=1, purpose="operation_maintenance", amount=upkeep, use=use)]
        db.session.add(plan)
        db.session.flush()
        day = date(2020, 3, rng.randint(2, 10))
        steps = []
        for seq, kind in enumerate(STEP_ORDER, 1):
            day += timedelta(days=rng.randint(1, 4))
            row = PlanStep(county_code=self.county, plan_id=plan.id, seq=seq, kind=kind, done_on=day,
                           minutes="据纸质会议记录补录", actor_id=self.admin.id, recorded_at=now_utc())
            if kind in ("party_meeting", "representatives_meeting"):
                due = rng.randint(28, 38)
                present = due - rng.randint(2, 6)
                if case == "QUORUM_MISSING" and kind == "representatives_meeting":
                    present = due * 2 // 3 - rng.randint(1, 3)  # under two thirds
                row.members_due, row.members_present, row.members_in_favour = due, present, present - rng.randint(0, 3)
            elif kind == "notice":
                days = 5 if case == "NOTICE_SHORT" else 10
                row.notice_start_on, row.notice_end_on = day, day + timedelta(days=days - 1)
                day = row.notice_end_on
            elif kind == "payment":
                row.payment_method = "银行转账"
            steps.append(row)
        db.session.add_all(steps)
        db.session.flush()
        record_change(self.admin, entity="distribution_plan", entity_id=plan.id, action="legacy_import",
                      county_code=self.county, town_code=plan.town_code, village_code=v,
                      after={**snapshot(plan, exclude=("created_at", "updated_at", "available_at")), "is_legacy": True,
                             "allocations": [[a.purpose, str(a.amount), a.use] for a in plan.allocations],
                             "steps": [[s.kind, s.done_on.isoformat()] for s in steps]})

    # problems (三单一账, basis: P27, P30) -----------------------------------------------------------------
    def problems(self) -> None:
        specs: list[_P] = []
        for audit, a, task in self.audit_rows:
            specs.append(_P({"source": "audit", "audit_id": audit.id, "description": f"{a.name}：{audit.findings}",
                             "task": task, "responsible_unit": self.unit(a.village_code, a.town_code),
                             "raised_on": self.after(audit.audited_on, 0, 6)}))
        for row, village, finding, task in self.inspection_rows:
            specs.append(_P({"source": "inspection", "inspection_id": row.id, "place_code": village,
                             "description": finding, "task": task, "responsible_unit": self.unit(village, None),
                             "raised_on": self.after(row.inspected_on, 1, 5)}))
        specs.extend(self.flag_problems())
        specs.extend(self.complaints())
        for p in specs:
            raised = p.data["raised_on"]
            p.data.setdefault("responsible_person", self.person())
            p.data["deadline"] = raised + timedelta(days=self.rng.choice((30, 45, 60, 90)))
        specs.sort(key=lambda p: (p.data["raised_on"], p.data["description"]))
        old = [p for p in specs if p.data["raised_on"] <= date(2024, 12, 31)]
        due = [p for p in specs if p not in old and p.data["deadline"] < self.as_of]
        running = [p for p in specs if p not in old and p not in due]
        for p in old:
            p.target = "closed"
        if old:
            old[0].reject = True
        for p, target in zip(due, ["in_progress", "closed", "pending", "rectified", "in_progress", "closed"] * 3,
                             strict=False):
            p.target = target
        for p, target in zip(running, ["pending", "in_progress", "rectified"] * 5, strict=False):
            p.target = target
        for p in specs:
            self.raise_problem(p)

    def unit(self, village: str | None, town: str | None) -> str:
        if village:
            return f"{self.place_name(village)}村民委员会"
        if town:
            return f"{self.place_name(town)}财政所（三资代理服务中心）"
        return f"{N.COUNTY_NAME}乡村振兴局"

    def flag_problems(self) -> list[_P]:
        """The county turns some of its flags (as of the day) into problems with a task and a deadline."""
        out = []
        flags = engine.evaluate(self.county, self.as_of, rule_ids=list(FLAG_TASKS))
        for rule_id, (task, raised) in FLAG_TASKS.items():
            picked = [f for f in flags if f.rule_id == rule_id][: 2 if rule_id == "CUSTODY_MISSING" else 1]
            for i, flag in enumerate(picked):
                out.append(_P({"source": "flag", "flag_rule": rule_id, "flag_key": flag.key,
                               "description": flag.message, "task": task,
                               "responsible_unit": self.unit(flag.village_code, flag.town_code),
                               "raised_on": raised + timedelta(days=7 * i)}))
        return out

    def complaints(self) -> list[_P]:
        """Complaints by villagers (12317 and the town's phone), about an asset or a village."""
        out = []
        road = next((a for a in self.assets if a.subtype == "道路" and a.status == "in_use" and a.village_code
                     and a.code not in self.gap_codes and a.village_code != self.villages[0]), None)
        pv = next((a for a in self.assets if a.subtype == "光伏电站" and a.status == "in_operation" and a.village_code), None)
        shop = next((a for a in self.assets if a.subtype == "扶贫车间" and a.status == "in_operation"), None)
        cases = [
            (road, None, date(2024, 9, 18), "12317热线：群众反映{name}路面多处坑槽、边沟堵塞，管护不到位", "修复路面坑槽、清理边沟，落实管护责任人每月巡查"),
            (pv, None, date(2025, 2, 20), "群众反映{name}围栏破损，存在安全隐患", "修复围栏，设置安全警示标志，纳入日常巡查"),
            (shop, None, date(2025, 5, 6), "群众反映{name}承租企业拖欠本村务工人员工资", "约谈承租企业，督促限期结清工资，并在合同中增加保障条款"),
            (None, self.villages[1], date(2025, 6, 16), "群众反映{name}2024年度光伏收益分配到户名单未张榜公示", "按规定张榜公示到户名单，公示期不少于10天"),
        ]
        for asset, village, on, text, task in cases:
            if asset is None and village is None:
                continue
            data = {"source": "complaint", "raised_on": on, "task": task}
            if asset is not None:
                data.update(asset_id=asset.id, description=text.format(name=asset.name),
                            responsible_unit=self.unit(asset.village_code, asset.town_code))
            else:
                data.update(place_code=village, description=text.format(name=self.place_name(village)),
                            responsible_unit=self.unit(village, None))
            out.append(_P(data))
        return out

    def raise_problem(self, p: _P) -> None:
        """Raise it (the county, or the auditor for audit and inspection findings), then move it as far as its
        target: the responsible unit starts and rectifies with an evidence file, the auditor closes (销号)."""
        raiser = self.auditor if p.data["source"] in ("audit", "inspection") else self.admin
        problem = oversight.create_problem(raiser, p.data)
        self.made["problems"] += 1
        if p.target == "pending":
            return
        user = self.writer(problem.village_code, problem.town_code)
        started = self.after(problem.raised_on, 2, 10)
        oversight.transition_problem(user, problem.id, {"to_status": "in_progress", "on": started,
                                                        "note": "已制定整改方案，落实责任人"})
        if p.target == "in_progress":
            return
        last = min(problem.deadline, self.as_of)
        rectified = self.between(min(started + timedelta(days=7), last), last)
        self.evidence(user, problem, rectified)
        oversight.transition_problem(user, problem.id, {"to_status": "rectified", "on": rectified,
                                                        "note": "整改完成，整改材料已上传"})
        if p.reject:
            back = self.after(rectified, 3, 8)
            oversight.transition_problem(self.auditor, problem.id, {
                "to_status": "in_progress", "on": back, "note": "整改材料不完整：缺少整改前后对比照片，退回补充"})
            rectified = self.after(back, 5, 12)
            self.evidence(user, problem, rectified, photo=True)
            oversight.transition_problem(user, problem.id, {"to_status": "rectified", "on": rectified,
                                                            "note": "已补充整改前后对比照片"})
        if p.target == "rectified":
            return
        oversight.transition_problem(self.auditor, problem.id, {
            "to_status": "closed", "on": self.after(rectified, 5, 20), "note": "经复核，整改到位，予以销号"})

    def evidence(self, user: User, problem: Problem, on: date, *, photo: bool = False) -> None:
        """An evidence file (a report as PDF, or a before-and-after photo) filed in the archive of the problem's
        asset or place as 整改材料 and attached to the problem."""
        self.made["evidence"] += 1
        n = self.made["evidence"]
        if photo or n % 3 == 0:
            content, name, label = png_bytes(n), f"整改前后对比照片-{n:03d}.png", "整改前后对比照片"
        else:
            content = pdf_bytes([f"Rectification report, problem P{problem.raised_on.year}-{n:03d}",
                                 f"County 431299, place {problem.village_code or problem.town_code or self.county}",
                                 f"Rectified on {on.isoformat()}"])
            name, label = f"整改报告-{n:03d}.pdf", "整改报告"
        file_id = self.upload(user, content, name)
        asset = next((a for a in self.assets if a.id == problem.asset_id), None) if problem.asset_id else None
        place = problem.village_code or problem.town_code or self.county
        doc_id = self.file_document(user, kind="rectification_evidence", title=f"{label}：{problem.description}"[:200],
                                    filed_on=on, asset=asset, place_code=None if asset else place, file_id=file_id)
        oversight.add_evidence(user, problem.id, {"document_id": doc_id, "note": label})


def _ceil(value: Decimal, quantum: Decimal = HUNDRED) -> Decimal:
    q = (value / quantum).to_integral_value(rounding="ROUND_CEILING")
    return (q * quantum).quantize(Decimal("0.01"))


def _floor(value: Decimal, quantum: Decimal = HUNDRED) -> Decimal:
    q = (value / quantum).to_integral_value(rounding="ROUND_FLOOR")
    return (q * quantum).quantize(Decimal("0.01"))


__all__ = ["OversightSummary", "load_oversight", "pdf_bytes", "png_bytes", "summarize_oversight"]
