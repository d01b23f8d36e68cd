"""The demo county (``flask demo``): minimums, exactness, valid codes, legal status paths, the
deliberate gaps, determinism for a seed, idempotency, and the CLI; and its oversight layer
(assetreg/demo/oversight.py): every flag rule fires as of the demo's day, the engine equals the naive
evaluation there, problems stand in every status with their evidence files, disposals went through the
approval order.

The demo takes seconds to load, so it is loaded once for the module (twice, in fact: first through
the CLI, then again into emptied tables to prove the same seed gives the same data), in a transaction
rolled back at the end (tests/db_support.py ``shared_transaction``); each test runs in a SAVEPOINT of it.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from assetreg.assets.models import (
    CATEGORIES,
    STATUSES,
    Asset,
    AssetFunding,
    AssetStatusChange,
    DepreciationPolicy,
)
from assetreg.assets.rules import IN_SERVICE, TRANSITIONS
from assetreg.changelog.models import ChangeLogEntry
from assetreg.core import storage
from assetreg.core.files import StoredFile
from assetreg.core.time import today_local
from assetreg.core.validators import is_valid_credit_code, is_valid_id_number
from assetreg.custody.models import AssetCustody, AssetOperation
from assetreg.demo.loader import AS_OF, COUNTY_CODE, DEMO_PASSWORD, load_demo, scan_gaps
from assetreg.distribution.models import DistributionPlan
from assetreg.extensions import db
from assetreg.flags import engine
from assetreg.flags.rules import RULES
from assetreg.households.models import MONITOR_TYPES, Household, HouseholdMember
from assetreg.income.models import IncomeEntry
from assetreg.lists.models import ArchiveDocument, Regulation, RequiredDocument
from assetreg.oversight.models import (
    PROBLEM_SOURCES,
    PROBLEM_STATUSES,
    Audit,
    DisposalRequest,
    Inspection,
    Problem,
    ProblemEvent,
    ProblemEvidence,
)
from assetreg.oversight.services import overdue_problems
from assetreg.places.models import Place
from assetreg.rights.models import CREDIT_CODE_REQUIRED, FIVE_RIGHTS, AssetRight
from assetreg.users.models import ApiToken, User
from assetreg.users.services import user_for_token, verify_password

from . import flags_naive as naive
from .db_support import shared_transaction

SEED = 20240607
HELD = {"handed_over", "in_operation", "in_use", "idle", "disposing"}


def _digest() -> str:
    """A fingerprint of what the seed decides: assets, fundings, status paths, households, rights."""
    h = hashlib.sha256()
    for row in db.session.execute(sa.select(Asset.code, Asset.name, Asset.original_value, Asset.status,
                                            Asset.status_on, Asset.project_approval_no).order_by(Asset.code)):
        h.update(repr(tuple(row)).encode())
    for row in db.session.execute(sa.select(Asset.code, AssetFunding.source, AssetFunding.amount)
                                  .join(Asset).order_by(Asset.code, AssetFunding.source)):
        h.update(repr(tuple(row)).encode())
    for row in db.session.execute(sa.select(Asset.code, AssetStatusChange.to_status, AssetStatusChange.changed_on)
                                  .join(Asset).order_by(Asset.code, AssetStatusChange.id)):
        h.update(repr(tuple(row)).encode())
    for row in db.session.execute(sa.select(Household.number, Household.head_name, Household.head_id_number,
                                            Household.status, Household.bank_card).order_by(Household.number)):
        h.update(repr(tuple(row)).encode())
    for row in db.session.execute(sa.select(Asset.code, AssetRight.kind, AssetRight.holder_name,
                                            AssetRight.credit_code, AssetRight.effective_on)
                                  .join(Asset).order_by(Asset.code, AssetRight.kind, AssetRight.effective_on)):
        h.update(repr(tuple(row)).encode())
    _oversight_digest(h)
    return h.hexdigest()


def _oversight_digest(h) -> None:
    """What the oversight stage decides, by natural keys (ids differ between runs on PostgreSQL)."""
    code = dict(db.session.execute(sa.select(Asset.id, Asset.code)).all())

    def sorted_by_repr(rows):
        return sorted(rows, key=repr)

    rows = [
        *sorted_by_repr((r.issuer_code, r.title, r.category, r.effective_on, r.repealed_on) for r in
                db.session.scalars(sa.select(Regulation))),
        *sorted_by_repr((code.get(d.asset_id), d.town_code, d.village_code, d.level, d.kind, d.archive_no, d.title, d.filed_on)
                for d in db.session.scalars(sa.select(ArchiveDocument))),
        *sorted_by_repr(db.session.execute(sa.select(StoredFile.sha256, StoredFile.size, StoredFile.original_name)).all()),
        *sorted_by_repr((code[a.asset_id], a.year, a.auditor, a.audited_on, a.conclusion, a.findings)
                for a in db.session.scalars(sa.select(Audit))),
        *sorted_by_repr(db.session.execute(sa.select(Inspection.town_code, Inspection.year, Inspection.quarter,
                                             Inspection.inspected_on, Inspection.findings)).all()),
        *sorted_by_repr((p.source, p.description, p.status, p.raised_on, p.deadline, p.rectified_on, p.closed_on,
                 p.responsible_unit, p.responsible_person, tuple((e.to_status, e.happened_on) for e in p.events))
                for p in db.session.scalars(sa.select(Problem))),
        *sorted_by_repr((code[r.asset_id], r.status, r.requested_on, r.valuation, r.executed_on, r.proceeds,
                 tuple((a.approver, a.decided_on) for a in r.approvals))
                for r in db.session.scalars(sa.select(DisposalRequest))),
    ]
    for row in rows:
        h.update(repr(tuple(row)).encode())


def _table_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(sa.select(sa.func.count()).select_from(t)) for t in db.metadata.sorted_tables}


@pytest.fixture(scope="module")
def demo(app, tmp_path_factory):
    uploads = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(tmp_path_factory.mktemp("demo_uploads"))  # the evidence files
    with app.app_context(), shared_transaction() as outer:
        with outer.savepoint():  # the CLI's load, rolled back: the tables are empty again after it
            cli = app.test_cli_runner().invoke(args=["demo", "--seed", str(SEED)])
            first = _digest() if cli.exit_code == 0 else None
        result = load_demo(SEED)
        db.session.commit()
        yield SimpleNamespace(result=result, cli=cli, first_digest=first, digest=_digest())
    app.config["UPLOAD_DIR"] = uploads


def test_cli_loads_the_demo_into_an_empty_database(demo):
    assert demo.cli.exit_code == 0, demo.cli.output
    out = demo.cli.output
    assert "青溪县 (431299)" in out and "已新建" in out
    assert DEMO_PASSWORD in out
    for username in ("admin", "fin_100", "vc_431299100201", "auditor"):
        assert re.search(rf"^  {username}\s+ar_\S+$", out, re.M), username
    assert "CUSTODY_MISSING" in out and "RIGHTS_INCOMPLETE" in out and "CONTRACT_EXPIRED" in out


def test_same_seed_gives_the_same_data(demo):
    assert demo.first_digest is not None
    assert demo.first_digest == demo.digest


def test_minimums(demo):
    places = db.session.scalars(sa.select(Place).where(Place.county_code == COUNTY_CODE)).all()
    by_level = defaultdict(list)
    for p in places:
        by_level[p.level].append(p)
    assert [(p.code, p.name) for p in by_level["county"]] == [("431299", "青溪县")]
    assert len(by_level["town"]) >= 3 and len(by_level["village"]) >= 20
    assert {"431299100", "431299101", "431299102"} <= {p.code for p in by_level["town"]}
    for v in by_level["village"]:
        assert len(v.code) == 12 and v.code.startswith(v.parent_code) and v.name.endswith("村")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Household)) >= 2000
    assets = db.session.execute(sa.select(Asset.category, Asset.status)).all()
    assert len(assets) >= 300
    assert {c for c, _ in assets} == set(CATEGORIES)
    assert {s for _, s in assets} == set(STATUSES)
    counts = demo.result.counts
    assert counts["households"] >= 2000 and counts["assets"] == len(assets)


def test_funding_adds_up_to_original_value_for_every_asset(demo):
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for asset_id, amount in db.session.execute(sa.select(AssetFunding.asset_id, AssetFunding.amount)):
        assert amount > 0
        totals[asset_id] += amount
    values = dict(db.session.execute(sa.select(Asset.id, Asset.original_value)).all())
    assert totals.keys() == values.keys()
    assert all(totals[i] == v and v > 0 for i, v in values.items())
    sources = {s for (s,) in db.session.execute(sa.select(AssetFunding.source).distinct())}
    assert len(sources) >= 4  # a mix of funding sources, not just one


def test_households_and_members_are_plausible(demo):
    households = db.session.scalars(sa.select(Household)).all()
    members = db.session.execute(sa.select(HouseholdMember.household_id, HouseholdMember.name,
                                           HouseholdMember.relation, HouseholdMember.id_number,
                                           HouseholdMember.labour)).all()
    by_household = defaultdict(list)
    for m in members:
        by_household[m.household_id].append(m)
    ids = [m.id_number for m in members]
    assert all(is_valid_id_number(i) and i.startswith(COUNTY_CODE) for i in ids)
    assert len(set(ids)) == len(ids)
    assert len({h.number for h in households}) == len(households)
    status = Counter(h.status for h in households)
    assert status["formerly_poor"] > len(households) / 2
    assert 0.05 <= status["monitored"] / len(households) <= 0.15 and status["ordinary"] > 0
    assert {h.monitor_type for h in households if h.status == "monitored"} == set(MONITOR_TYPES)
    for h in households:
        rows = by_household[h.id]
        assert 1 <= len(rows) <= 6
        heads = [m for m in rows if m.relation == "户主"]
        assert len(heads) == 1 and heads[0].id_number == h.head_id_number and heads[0].name == h.head_name
        assert len({m.name for m in rows}) == len(rows)
        assert 1930 <= int(h.head_id_number[6:10]) <= 1995
        assert h.number != h.head_id_number
        if h.bank_card:
            assert len(h.bank_card) == 19 and h.bank_card.isdigit() and _luhn_ok(h.bank_card)
        if h.phone:
            assert re.fullmatch(r"1[3-9]\d{9}", h.phone)
        if h.risk_cleared_on:
            assert h.status == "monitored" and h.risk_cleared_on <= AS_OF
    assert {m.labour for m in members} == {"full", "weak", "half", "none"}
    assert sum(1 for h in households if h.bank_card) > len(households) / 2


def _luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def test_status_paths_are_legal_and_dated_in_the_past(demo):
    changes = defaultdict(list)
    for c in db.session.scalars(sa.select(AssetStatusChange).order_by(AssetStatusChange.id)):
        changes[c.asset_id].append(c)
    limit = min(AS_OF, today_local())
    for a in db.session.scalars(sa.select(Asset)):
        path = changes[a.id]
        # Registered when building starts (still 在建 then, or destroyed while building) or on completion.
        assert path[0].from_status is None and path[0].to_status in ("under_construction", "completed")
        for prev, nxt in zip(path, path[1:], strict=False):
            assert nxt.from_status == prev.to_status
            assert nxt.to_status in TRANSITIONS[prev.to_status]
            assert prev.changed_on <= nxt.changed_on
        assert path[-1].to_status == a.status and a.status_on == path[-1].changed_on
        assert all(date(2016, 1, 1) <= c.changed_on <= limit for c in path)
        if a.status in ("in_operation", "in_use"):
            assert a.status == IN_SERVICE[a.category]
        if any(c.to_status == "completed" for c in path):
            assert a.completed_on == next(c.changed_on for c in path if c.to_status == "completed")
        else:
            assert a.completed_on is None and a.status in ("under_construction", "disposing", "scrapped")
        assert 2016 <= a.project_year <= 2023 and str(a.project_year) in a.project_name
        m = re.fullmatch(r"青(扶|乡振|财农)发?〔(\d{4})〕\d+号", a.project_approval_no)
        assert m and int(m.group(2)) == a.project_year, a.project_approval_no


def test_household_assets_are_held_by_a_household_of_their_village(demo):
    rows = db.session.execute(sa.select(Asset, Household).join(Household, Asset.household_id == Household.id)
                              .where(Asset.category == "household")).all()
    assert len(rows) == db.session.scalar(sa.select(sa.func.count()).where(Asset.category == "household"))
    current = defaultdict(set)
    for r in db.session.scalars(sa.select(AssetRight).where(AssetRight.ended_on.is_(None))):
        current[r.asset_id].add((r.kind, r.holder_kind, r.household_id))
    for asset, household in rows:
        assert asset.village_code == household.village_code and asset.managing_level == "household"
        assert household.status in ("formerly_poor", "monitored")
        assert {k for k, _, _ in current[asset.id]} == set(FIVE_RIGHTS)
        assert all(kind == "household" and hid == household.id for _, kind, hid in current[asset.id])


def test_rights_holders_and_credit_codes(demo):
    rights = db.session.scalars(sa.select(AssetRight)).all()
    for r in rights:
        if r.holder_kind in CREDIT_CODE_REQUIRED:
            assert r.credit_code and is_valid_credit_code(r.credit_code), (r.holder_name, r.credit_code)
        elif r.credit_code:
            assert is_valid_credit_code(r.credit_code)
    holders = {r.holder_name for r in rights}
    assert "桃源村股份经济合作社" in holders and "桃源村村务监督委员会" in holders
    assert {r.holder_kind for r in rights if r.kind == "supervision"} >= {"village_supervision"}
    # History: some ownership moved from the town down to the village (basis: P04), linked both ways.
    ended = [r for r in rights if r.ended_on is not None]
    assert ended and all(r.superseded_by_id and r.ended_on <= AS_OF for r in ended)
    # Most handed-over assets have all five rights; the incomplete ones are the recorded gaps.
    held = db.session.execute(sa.select(Asset.id, Asset.code).where(Asset.status.in_(HELD))).all()
    complete = {a for a in {r.asset_id for r in rights}
                if {r.kind for r in rights if r.asset_id == a and r.ended_on is None} >= set(FIVE_RIGHTS)}
    incomplete = sorted(code for i, code in held if i not in complete)
    assert incomplete == demo.result.gaps["rights_incomplete"]
    assert len(incomplete) < len(held) / 10


def test_custody_and_operation_records(demo):
    gaps = demo.result.gaps
    custody_gaps = set(gaps["custody_missing"]) | set(gaps["custody_expired"]) | set(gaps["custody_no_fund"])
    current = {c.asset_id: c for c in db.session.scalars(sa.select(AssetCustody)
                                                         .where(AssetCustody.replaced_at.is_(None)))}
    in_use = db.session.scalars(sa.select(Asset).where(Asset.category == "public_welfare",
                                                       Asset.status == "in_use")).all()
    for a in in_use:
        if a.code in custody_gaps:
            continue
        c = current[a.id]
        assert c.custodian_unit and c.responsible_person and re.fullmatch(r"1[3-9]\d{9}", c.phone)
        assert c.standard and c.annual_fund > 0 and c.fund_source
        assert c.term_from <= AS_OF < c.term_to and c.term_to >= date(2028, 1, 1)
    assert db.session.scalar(sa.select(sa.func.count()).where(AssetCustody.replaced_at.is_not(None))) > 0

    op_gaps = set(gaps["contract_missing"]) | set(gaps["contract_expired"])
    ops = {o.asset_id: o for o in db.session.scalars(sa.select(AssetOperation)
                                                     .where(AssetOperation.replaced_at.is_(None)))}
    running = db.session.scalars(sa.select(Asset).where(Asset.category == "operating",
                                                        Asset.status == "in_operation")).all()
    modes = set()
    for a in running:
        if a.code in op_gaps:
            continue
        o = ops[a.id]
        modes.add(o.mode)
        assert o.operator_name and is_valid_credit_code(o.operator_credit_code)
        assert re.fullmatch(r"青资经字〔\d{4}〕第\d{3}号", o.contract_no)
        assert o.term_from <= AS_OF < o.term_to and o.agreed_annual_income > 0
        assert o.risk_rating in ("low", "medium", "high") and o.risk_assessed_on <= AS_OF
        if o.mode in ("lease", "joint_stock"):
            assert Decimal(0) < o.guaranteed_minimum <= o.agreed_annual_income
    assert modes == {"self_run", "entrusted", "lease", "joint_stock"}
    assert db.session.scalar(sa.select(sa.func.count()).where(AssetOperation.replaced_at.is_not(None))) > 0


def test_deliberate_gaps_are_present_and_recorded(demo):
    gaps = demo.result.gaps
    assert set(gaps) == {"custody_missing", "custody_expired", "custody_no_fund", "rights_incomplete",
                         "contract_missing", "contract_expired"}
    assert all(gaps.values()), gaps
    assert scan_gaps(COUNTY_CODE, AS_OF) == gaps
    # The gaps do not depend on the exact day they are judged, for the next couple of years.
    assert scan_gaps(COUNTY_CODE, date(2027, 12, 31)) == gaps
    custody = gaps["custody_missing"] + gaps["custody_expired"] + gaps["custody_no_fund"]
    assert len(custody) == len(set(custody))
    report = demo.result.report()
    for key in gaps:
        assert f": {len(gaps[key])}  " in report


def test_depreciation_policies(demo):
    policies = {p.subtype: (p.useful_life_years, p.residual_rate)
                for p in db.session.scalars(sa.select(DepreciationPolicy)
                                            .where(DepreciationPolicy.county_code == COUNTY_CODE))}
    assert policies["光伏电站"] == (20, Decimal("0.0500"))
    assert policies["道路"] == (30, Decimal("0.0000"))
    assert policies["扶贫车间"] == (20, Decimal("0.0500")) and policies["牲畜"] == (5, Decimal("0.0000"))


def test_users_and_demo_tokens(demo, client):
    users = {u.username: u for u in db.session.scalars(sa.select(User).where(User.county_code == COUNTY_CODE))}
    towns = db.session.scalars(sa.select(Place.code).where(Place.level == "town")).all()
    villages = db.session.scalars(sa.select(Place.code).where(Place.level == "village")).all()
    assert users["admin"].role == "county_admin"
    assert all(users[f"fin_{t[-3:]}"].scope_code == t for t in towns)
    assert all(users[f"vc_{v}"].role == "village_committee" for v in villages)
    assert {u.scope_level for u in users.values() if u.role == "auditor"} == {"county", "town"}
    assert verify_password(users["fin_100"], DEMO_PASSWORD)
    roles = {}
    for username, token in demo.result.tokens.items():
        with client.application.app_context():  # each request its own context, as in production
            r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.json
        roles[r.json["role"]] = username
    assert set(roles) == {"county_admin", "finance_officer", "village_committee", "auditor"}


def test_every_asset_write_is_in_the_change_log(demo):
    created = db.session.scalar(sa.select(sa.func.count()).where(ChangeLogEntry.entity == "asset",
                                                                 ChangeLogEntry.action == "create"))
    moves = db.session.scalar(sa.select(sa.func.count()).where(ChangeLogEntry.entity == "asset",
                                                               ChangeLogEntry.action == "status"))
    assert created == demo.result.counts["assets"]
    assert moves == db.session.scalar(sa.select(sa.func.count()).select_from(AssetStatusChange)) - created
    logged = db.session.scalar(sa.select(sa.func.count()).where(ChangeLogEntry.entity == "household"))
    assert logged == demo.result.counts["households"]


def test_second_run_creates_nothing_and_only_reissues_tokens(demo):
    before = _table_counts()
    old_tokens = dict(demo.result.tokens)
    again = load_demo(SEED)
    db.session.commit()
    after = _table_counts()
    assert not again.created and "已存在" in again.report()
    tokens_added = after.pop("api_tokens") - before.pop("api_tokens")
    assert after == before
    assert tokens_added == len(old_tokens) == len(again.tokens) == 4
    assert again.gaps == demo.result.gaps and again.counts == demo.result.counts
    for username, token in old_tokens.items():
        assert user_for_token(token) is None  # the previous demo token is revoked
        assert user_for_token(again.tokens[username]).username == username
    active = db.session.scalar(sa.select(sa.func.count()).where(ApiToken.name == "demo",
                                                                ApiToken.revoked_at.is_(None)))
    assert active == 4


def test_cli_on_a_loaded_county_changes_nothing(demo, runner):
    before = _table_counts()
    r = runner.invoke(args=["demo"])
    assert r.exit_code == 0, r.output
    assert "已存在" in r.output and "ar_" in r.output
    after = _table_counts()
    assert after.pop("api_tokens") == before.pop("api_tokens") + 4
    assert after == before


# --- the oversight layer (assetreg/demo/oversight.py) ---------------------------------------------------

@pytest.fixture(scope="module")
def flags(demo):
    return engine.evaluate(COUNTY_CODE, AS_OF)


def test_every_flag_rule_fires_as_of_the_demo_day(demo, flags):
    fired = Counter(f.rule_id for f in flags)
    assert set(fired) == set(RULES), sorted(set(RULES) - set(fired))
    # The deliberate cases, not floods: a handful each where the demo places one on purpose.
    assert fired["INCOME_OVERDUE"] == 2  # the two skipped periods; nothing from before the ledger began
    assert fired["INSPECTION_MISSING"] == 1 and 1 <= fired["AUDIT_MISSING"] <= 4
    assert fired["RECTIFICATION_OVERDUE"] == len(overdue_problems(COUNTY_CODE, AS_OF)) >= 2
    for rule in ("NOTICE_SHORT", "QUORUM_MISSING", "FORBIDDEN_USE", "PRIVACY_LEAK", "OBJECTION_OPEN"):
        assert fired[rule] == 1, rule
    assert any(f.key.startswith("disposal:") for f in flags if f.rule_id == "DISPOSAL_UNAPPROVED")


def test_the_engine_equals_the_naive_evaluation_for_the_demo_county(demo, flags):
    assert [f.identity() for f in flags] == [f.identity() for f in naive.evaluate_naive(COUNTY_CODE, AS_OF)]


def test_problems_in_every_status_from_every_source_with_evidence(demo, app):
    problems = db.session.scalars(sa.select(Problem).where(Problem.county_code == COUNTY_CODE)).all()
    assert {p.status for p in problems} == set(PROBLEM_STATUSES)
    assert {p.source for p in problems} == set(PROBLEM_SOURCES)
    assert {p.flag_key.count(":") for p in problems if p.source == "flag"} == {1, 2}  # suffixed keys too
    for p in problems:
        assert p.responsible_unit and p.responsible_person and p.task and p.raised_on <= p.deadline
        events = db.session.scalars(sa.select(ProblemEvent).where(ProblemEvent.problem_id == p.id)
                                    .order_by(ProblemEvent.id)).all()
        assert events[0].to_status == "pending" and events[-1].to_status == p.status
        assert [e.happened_on for e in events] == sorted(e.happened_on for e in events)
        assert all(e.happened_on <= AS_OF for e in events)
        evidence = db.session.scalars(sa.select(ProblemEvidence).where(ProblemEvidence.problem_id == p.id)).all()
        if p.status in ("rectified", "closed"):
            assert evidence
        for ev in evidence:  # a document of the problem's asset or place, with a real stored file
            doc = db.session.get(ArchiveDocument, ev.document_id)
            assert doc.kind == "rectification_evidence" and doc.filed_on <= AS_OF
            assert doc.asset_id == p.asset_id if p.asset_id else doc.village_code == p.village_code
            stored = db.session.get(StoredFile, doc.file_id)
            path = storage.absolute_path(app, stored.storage_path)
            assert path.stat().st_size == stored.size < 4096 and storage.sniff(path) in ("pdf", "png")
    closed = [p for p in problems if p.status == "closed"]
    assert any(e.from_status == "rectified" and e.to_status == "in_progress" for p in closed for e in p.events)
    overdue = overdue_problems(COUNTY_CODE, AS_OF)
    assert {p.status_as_of for p in overdue} == {"pending", "in_progress"}


def test_regulations_archive_audits_and_inspections(demo):
    levels = Counter(db.session.scalars(sa.select(Regulation.level)))
    assert set(levels) == {"county", "town", "village"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RequiredDocument)) >= 20
    assets = db.session.scalar(sa.select(sa.func.count()).select_from(Asset))
    documented = db.session.scalar(sa.select(sa.func.count(sa.distinct(ArchiveDocument.asset_id))))
    assert documented >= assets * 0.9  # most assets have their archive, a few lack a document
    # Every operating asset held in a year is audited in the spring after it, but for a few of 2024.
    audits = db.session.scalars(sa.select(Audit)).all()
    assert {a.year for a in audits} == {2022, 2023, 2024} and all(a.audited_on <= AS_OF for a in audits)
    assert all(a.report_document_id for a in audits)
    assert {a.conclusion for a in audits} >= {"pass", "basic_pass", "fail"}
    inspections = db.session.scalars(sa.select(Inspection)).all()
    towns = set(db.session.scalars(sa.select(Place.code).where(Place.level == "town")))
    assert {i.town_code for i in inspections} == towns and len(inspections) >= 8 * len(towns)
    assert len({i.town_code for i in inspections if (i.year, i.quarter) == (2025, 1)}) == len(towns) - 1


def test_disposals_follow_the_approval_order_and_book_their_proceeds(demo):
    requests = db.session.scalars(sa.select(DisposalRequest)).all()
    executed = [r for r in requests if r.status == "executed" and len(r.approvals) == len(r.approval_order)]
    assert executed and any(r.status == "approving" for r in requests)
    for r in executed:
        assert [a.approver for a in r.approvals] == r.approval_order
        assert all(a.decision == "approved" and a.decided_on <= r.executed_on for a in r.approvals)
        entry = db.session.get(IncomeEntry, r.income_entry_id)
        assert (entry.kind, entry.amount, entry.received_on, entry.asset_id) == ("disposal", r.proceeds,
                                                                                r.executed_on, r.asset_id)
        assert db.session.get(Asset, r.asset_id).status == "disposed"  # it stays in the registry
    legacy = [r for r in requests if r.status == "executed" and not r.approvals]
    assert len(legacy) == 1
    logged = db.session.scalars(sa.select(ChangeLogEntry.action).where(ChangeLogEntry.entity == "distribution_plan",
                                                                       ChangeLogEntry.action == "legacy_import")).all()
    legacy_plans = db.session.scalars(sa.select(DistributionPlan).where(DistributionPlan.year == 2019)).all()
    assert len(logged) == len(legacy_plans) == 3
    assert "监管 oversight" in demo.result.report() and "问题清单" in demo.cli.output


# --- tamper evidence on the demo county (issue 11 item 9) ------------------------------------------

def test_verify_finds_nothing_on_the_demo(demo, runner):
    from assetreg.integrity.services import verify

    result = verify(COUNTY_CODE)
    assert [str(d) for d in result.differences] == []
    assert result.checked["income_entries"] > 1000 and result.checked["change_log"] > 10000
    assert result.checked["settlements"] > 100 and result.checked["plan_lines"] > 1000
    out = runner.invoke(args=["verify", "--scope", COUNTY_CODE])
    assert out.exit_code == 0 and "未发现差异" in out.output, out.output


def _demo_row(kind: str) -> tuple[str, int, str, str]:
    """(table, id, the edit, what verify says) for one row of each kind the demo has."""
    from assetreg.distribution.models import DistributionPlan, PlanLine
    from assetreg.income.models import IncomeEntry, Settlement, SettlementPart

    planned = sa.select(DistributionPlan.settlement_id).where(DistributionPlan.settlement_id.is_not(None))
    if kind == "entry":  # in a year no settlement has seen
        settled = sa.select(Settlement.year)
        rid = db.session.scalar(sa.select(sa.func.max(IncomeEntry.id)).where(IncomeEntry.period_year.not_in(settled)))
        return "income_entries", rid, "amount = amount + 100", "哈希"
    if kind == "log":
        return "change_log", db.session.scalar(sa.select(sa.func.min(ChangeLogEntry.id))), "action = 'none'", "哈希"
    if kind == "settlement":  # one no plan starts from
        rid = db.session.scalar(sa.select(sa.func.min(Settlement.id)).where(Settlement.id.not_in(planned)))
        return "settlements", rid, "gross = gross + 100, net = net + 100", "毛收入"
    if kind == "part":
        rid = db.session.scalar(sa.select(sa.func.min(SettlementPart.id)).where(
            SettlementPart.settlement_id.not_in(planned)))
        return "settlement_parts", rid, "costs = costs + 1, net = net - 1", "扣除"
    if kind == "line":
        rid = db.session.scalar(sa.select(sa.func.min(PlanLine.id)).where(PlanLine.months.is_not(None)))
        return "plan_lines", rid, "amount = amount + 1", "个月"
    return "distribution_plans", db.session.scalar(sa.select(sa.func.min(DistributionPlan.id))), \
        "available = available - 1", "可分配收益"


@pytest.mark.parametrize("kind", ["entry", "log", "settlement", "part", "line", "plan"])
def test_verify_names_a_demo_row_edited_behind_the_app(demo, runner, kind):
    from assetreg.integrity.services import verify

    from .test_integrity import _tamper

    table, rid, edit, what = _demo_row(kind)
    assert rid is not None
    _tamper(table, f"UPDATE {table} SET {edit} WHERE id = :id", id=rid)
    result = verify(COUNTY_CODE)
    assert [(d.table, d.row_id) for d in result.differences] == [(table, rid)], [str(d) for d in result.differences]
    assert what in result.differences[0].what
    if kind == "entry":
        out = runner.invoke(args=["verify", "--scope", COUNTY_CODE])
        assert out.exit_code == 1 and f"{table} #{rid}" in out.output, out.output
