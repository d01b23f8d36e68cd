"""Schemathesis over the served OpenAPI document (issue 11): every operation of /api/v1/openapi.json,
called in-process through the WSGI app as each role — county admin, town finance officer, village
committee, county auditor — with generated query strings and bodies, valid (positive) and invalid
(negative). Each answer must be no server error, and must conform to the document: a documented status
code, the documented content type, headers and body schema.

Path parameters name the objects of a small realistic site in every caller's scope (village A1 of the test
world: assets, a household, ledger entries with a share split, a settlement, a plan, a public job, audits,
inspections, problems, a disposal, documents, files, regulations; tests/access_matrix_support.py
``build_site``), so the calls reach the services, not only the 404s. The site is built once for the module
(``shared_transaction``); every operation runs in a SAVEPOINT of it, rolled back afterwards, so one
operation's writes (a withdrawn village, a settled year) never change what the next one sees.

Bounded for CI: ``POSITIVE`` + ``NEGATIVE`` examples per operation and role, no deadline, derandomised (the
same cases on every run), no shrinking, no example database. Every failure is collected, not only the
first: the assertion lists each (role, operation, check, the case that showed it).
``ASSETREG_FUZZ_STATUSES=1`` (with ``-s``) prints each operation's status codes and the first refusal of a
valid case.

Not checked: schemathesis's ``negative_data_rejection``. Its only findings (15 + 15 examples per operation as
county admin and village committee) were unknown query parameters, which the API ignores (webargs' default
for the query string) while it refuses unknown fields in bodies.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
import schemathesis
import werkzeug
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from assetreg.core import time as clock
from assetreg.extensions import db

from .access_matrix_support import VILLAGE_A1, VILLAGE_A2, build_site, ok
from .db_support import shared_transaction
from .factories import Factory

# caller (DOMAIN.md role) → user of Factory.world(); all four see village A1, the site fuzzed.
ROLES = {"county_admin": "admin", "finance_officer": "fin_a", "village_committee": "vc_a1", "auditor": "auditor"}
# Examples per operation and role, valid and invalid; ASSETREG_FUZZ_EXAMPLES=30,30 for a deeper run by hand.
POSITIVE, NEGATIVE = (int(n) for n in os.environ.get("ASSETREG_FUZZ_EXAMPLES", "3,2").split(","))
YEAR = 2024  # the site's settled year: a valid case asks for it as often as for any other
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
IMPORT_KINDS = ["assets", "households", "income"]

# path parameter → the site's object (tests/access_matrix_support.py Site.ids)
PATH_IDS = {"asset_id": "asset", "household_id": "household", "entry_id": "entry", "settlement_id": "settlement",
            "plan_id": "plan", "objection_id": "objection", "job_id": "job", "audit_id": "audit",
            "inspection_id": "inspection", "problem_id": "problem", "request_id": "disposal", "file_id": "file",
            "regulation_id": "regulation", "document_id": "document"}


class WsgiClient(werkzeug.Client):
    """Each request in its own app context (own ``g``, own session), as in production; the answer read
    whole and closed (a file download's handle too: schemathesis reads the body but does not close it)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        response.get_data()
        response.close()
        return response


@dataclass
class Tally:
    operations: int = 0
    examples: int = 0
    failures: dict = field(default_factory=dict)  # (role, operation, what) → the first case that showed it
    statuses: dict = field(default_factory=lambda: defaultdict(Counter))  # (role, operation) → status → n
    refusals: dict = field(default_factory=dict)  # (role, operation) → what a valid case was first refused for


@pytest.fixture(scope="module")
def fuzz(app, tmp_path_factory):
    """The site, the caller tokens and the schema loaded from the served document."""
    from assetreg.exports import jobs

    tmp = tmp_path_factory.mktemp("fuzz")
    frozen = clock._frozen
    with pytest.MonkeyPatch.context() as mp, app.app_context():
        mp.setitem(app.config, "EXPORT_DIR", str(tmp / "exports"))
        mp.setitem(app.config, "UPLOAD_DIR", str(tmp / "uploads"))
        mp.delitem(app.config, "REDIS_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        mp.setattr(jobs, "submit", lambda app, job_id: None)  # export jobs are recorded, not run
        clock.freeze(clock.datetime(2025, 6, 30, 4, 0, tzinfo=clock.timezone.utc))
        try:
            with shared_transaction():
                f = Factory()
                world = f.world()
                site = build_site(f, world, VILLAGE_A1)
                _more_of_the_site(f, world, site)
                tokens = {role: getattr(world, user).token for role, user in ROLES.items()}
                schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app,
                                                        headers={"Authorization": f"Bearer {tokens['auditor']}"})
                path_values = {name: site.ids[key] for name, key in PATH_IDS.items()}
                path_values["code"] = VILLAGE_A1
                anchors = {"asset_id": site.asset, "household_id": site.household, "audit_id": site.audit,
                           "inspection_id": site.inspection, "file_id": site.file, "plan_id": site.plan,
                           "village_code": VILLAGE_A1, "town_code": site.town, "place_code": VILLAGE_A1,
                           "issuer_code": VILLAGE_A1, "scope": VILLAGE_A1, "place_codes": [VILLAGE_A1],
                           "household_ids": [site.household]}
                yield SimpleNamespace(app=app, site=site, tokens=tokens, schema=schema, path_values=path_values,
                                      anchors=anchors, export_job=site.ids["export_job"], tally=Tally())
        finally:
            clock.freeze(frozen)


def _more_of_the_site(f: Factory, world, site) -> None:
    """What build_site leaves out and the document describes: a quantity, a share split between two
    villages, a fixed return at a rate, a depreciation policy (each a decimal that is not money)."""
    admin = site.admin
    ok(admin.patch(f"/api/v1/assets/{site.asset}", json={"quantity": "120.500", "unit": "kW"},
                   headers={"If-Match": '"1"'}))
    ok(admin.put(f"/api/v1/assets/{site.asset}/shares", json={"from_year": 2025, "shares": [
        {"village_code": VILLAGE_A1, "weight": "60", "basis": "按装机容量"},
        {"village_code": VILLAGE_A2, "weight": "40", "basis": "按装机容量"}]}))
    ok(admin.post(f"/api/v1/assets/{site.asset}/returns", json={
        "kind": "rent", "basis": "rate", "principal": "200000.00", "annual_rate_percent": "6.5", "period": "year",
        "start_on": "2024-01-01", "end_on": "2028-12-31", "payer": "合作社"}))
    ok(admin.post(f"/api/v1/assets/{site.asset}/income", json={
        "direction": "income", "kind": "electricity", "period_year": 2025, "period_month": 3,
        "received_on": "2025-04-10", "amount": "3456.78", "payer": "供电公司", "voucher_no": "FZ-2025-1"}))
    ok(admin.put("/api/v1/depreciation-policies", json={
        "subtype": "光伏电站", "useful_life_years": 20, "residual_rate": "0.05"}))
    db.session.commit()


def _strategy(fuzz, operation, mode: GenerationMode, headers: dict):
    """Cases of ``operation`` naming the site's objects in the path. An invalid case is invalid in its query
    or body while there is one (the token always sent); one of an operation without either is a call
    without the token (401)."""
    if mode == GenerationMode.NEGATIVE and not (len(operation.body) or len(operation.query)):
        headers = None
    path = dict(fuzz.path_values)
    if operation.path.startswith("/api/v1/exports/"):
        path["job_id"] = fuzz.export_job
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in path.items() if k in names}
    paths = [{**fixed, "kind": kind} for kind in IMPORT_KINDS] if "kind" in names else [fixed]
    strategies = [operation.as_strategy(generation_mode=mode, path_parameters=p, headers=headers) for p in paths]
    if mode == GenerationMode.POSITIVE and "year" in {p.name for p in operation.query}:
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=paths[0], headers=headers,
                                                query={"year": YEAR}))
    return st.one_of(*strategies)


def _anchor(value, anchors: dict):
    """``value`` with every reference it names (an asset, a household, a village…) turned into the site's."""
    if isinstance(value, dict):
        return {k: anchors[k] if k in anchors else _anchor(v, anchors) for k, v in value.items()}
    if isinstance(value, list):
        return [_anchor(v, anchors) for v in value]
    return value


def _describe(case) -> str:
    parts = [f"{case.method} {case.formatted_path}"]
    if case.query:
        parts.append(f"query={case.query!r}")
    if not isinstance(case.body, (NotSet, bytes, bytearray, type(None))):
        parts.append(f"body={str(case.body)[:300]}")
    return " ".join(parts)


def _app_frame(exc: BaseException) -> str:
    frames = [fr for fr in traceback.extract_tb(exc.__traceback__) if "/assetreg/" in fr.filename]
    where = f" at {frames[-1].filename.split('/assetreg/')[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:200]}{where}"


def run_operation(fuzz, role: str, operation, mode: GenerationMode, examples: int) -> None:
    tally, app = fuzz.tally, fuzz.app
    client = WsgiClient(app)
    headers = {"Authorization": f"Bearer {fuzz.tokens[role]}"}
    label = f"{operation.method.upper()} {operation.path}"

    def record(what: str, case) -> None:
        tally.failures.setdefault((role, label, what), _describe(case))

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=_strategy(fuzz, operation, mode, headers), anchored=st.booleans())
    def one(case, anchored):
        tally.examples += 1
        if anchored and mode == GenerationMode.POSITIVE:  # half the valid cases name the site's objects
            if isinstance(case.body, dict | list):
                case.body = _anchor(case.body, fuzz.anchors)
            if case.query:
                case.query = _anchor(case.query, fuzz.anchors)
        try:
            response = case.call(app=app, session=client, headers=headers)
        except Exception as exc:  # TESTING propagates what would be a 500
            record(f"server error: {_app_frame(exc)}", case)
            return
        tally.statuses[(role, label)][response.status_code] += 1
        if mode == GenerationMode.POSITIVE and response.status_code in (400, 422):
            tally.refusals.setdefault((role, label), response.text[:300])
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                record(f"{response.status_code} {failure.title}: {failure.message.splitlines()[0][:200]}", case)

    one()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_conforms_for(fuzz, role):
    from .db_support import shared

    started = time.monotonic()
    outer = shared()
    operations = [result.ok() for result in fuzz.schema.get_all_operations()]
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, POSITIVE), (GenerationMode.NEGATIVE, NEGATIVE)):
            with outer.savepoint():
                run_operation(fuzz, role, operation, mode, examples)
    fuzz.tally.operations += len(operations)
    mine = {k: v for k, v in fuzz.tally.failures.items() if k[0] == role}
    failed_ops = {k[1] for k in mine}
    statuses = {op: c for (r, op), c in fuzz.tally.statuses.items() if r == role}
    done = sorted(op for op, c in statuses.items() if any(200 <= code < 300 for code in c))
    print(f"\nfuzz {role}: {len(operations)} operations, {sum(sum(c.values()) for c in statuses.values())} "
          f"answers ({fuzz.tally.examples} examples so far), {len(done)} operations answered 2xx, "
          f"{len(failed_ops)} failing, {time.monotonic() - started:.1f}s")
    if os.environ.get("ASSETREG_FUZZ_STATUSES"):
        for op, c in sorted(statuses.items()):
            print(f"  {op}: {dict(sorted(c.items()))} {fuzz.tally.refusals.get((role, op), '')}")
    assert not mine, f"{len(failed_ops)} of {len(operations)} operations fail as {role}:\n" + "\n".join(
        f"  {op} — {what}\n      e.g. {case}" for (_, op, what), case in sorted(mine.items()))


def test_the_fuzzed_site_holds_the_non_money_decimals(fuzz):
    """The site's answers carry each decimal that is not money, as a string (so the fuzz checks them
    against the document): a quantity, shares and their split, a rate, a residual rate, the PV share."""
    site, c = fuzz.site, fuzz.site.admin
    asset = c.get(f"/api/v1/assets/{site.asset}").json
    shares = c.get(f"/api/v1/assets/{site.asset}/shares").json
    returns = c.get(f"/api/v1/assets/{site.asset}/returns").json
    summary = c.get(f"/api/v1/assets/{site.asset}/income-summary?year=2025").json
    village = c.get(f"/api/v1/villages/{VILLAGE_A1}/income?year=2025").json
    policies = c.get("/api/v1/depreciation-policies").json
    policy = c.get("/api/v1/policy").json
    assert asset["quantity"] == "120.500"
    assert sorted(s["weight"] for s in shares) == ["40.0000", "60.0000"]
    assert [r["annual_rate_percent"] for r in returns] == ["6.5000"]
    assert sorted(p["share_weight"] for p in summary["split"]) == ["40.0000", "60.0000"]
    line = next(ln for ln in village["lines"] if ln["asset_id"] == site.asset)
    assert (line["share_weight"], line["share_total"]) == ("60.0000", "100.0000")
    assert {p["residual_rate"] for p in policies if p["subtype"] == "光伏电站"} == {"0.0500"}
    assert Decimal(policy["pv_public_min_share"]) == Decimal("0.8")
    assert date(2025, 6, 30) == clock.now_utc().date()
