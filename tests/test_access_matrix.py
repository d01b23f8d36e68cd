"""The access matrix (issue 10, item 6): every route of ``app.url_map`` × every method × every caller.

Callers: anonymous, and one user per role of DOMAIN.md's roles table — county admin, town finance officer,
village committee, county auditor and town auditor — each calling every route twice: *in scope* (URL
parameters, query filters and bodies naming an object or place of village A1, inside every caller's
scope) and *out of scope* (the same things of the caller's "out" site: village A2 for the village
committee, village B1 of the other town for the town-level roles, a village of a neighbouring county for
the county-level roles; see tests/access_matrix_support.py).

What is checked, route by route (``EXPECT``, keyed by endpoint name, then method):
- anonymous: 401 under /api, a redirect to /login for pages (``PUBLIC`` lists the routes open to all);
- out of scope: 403 or 404 — never a success, for reads and writes alike (a list filtered to a place
  outside the scope may answer 200, but empty: see the marker check below);
- in scope, a read by a role that may read: 200 (or the code noted in the table); by a role that may not: 403;
- in scope, a write by a role that may not write: 403; by a role that may: done (2xx, a page's 302), or
  its minimal body refused (400/409/422) — never 401/403/404 or 500;
- never a 500, and no answer to a caller ever contains the marker of its out site's objects (a leak).

A route in the url_map without an entry in ``EXPECT`` fails the test ("add an expectation for …"), and so
does a URL parameter without a value in ``PARAMS``. Known holes are listed in ``KNOWN`` (they make the
test xfail while they last, and fail it once they are fixed, so the entry gets removed).

The matrix is walked once per caller (one test each; the world is built per test, as conftest.py empties
the tables after every test): reads first, then refused writes, then the caller's own writes, the
destructive ones (withdrawing a village, logging out) last. Its size: ``test_matrix_size``.
``ASSETREG_MATRIX_DUMP=<file>`` appends every call's caller, scope, endpoint, URL and status to a file.

``test_references_in_bodies_stay_in_scope`` adds what the URL map cannot show: a write to an object in
scope whose body names an object (household, document, file, audit, job, place) out of the scope.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from werkzeug.routing import AnyConverter

from .access_matrix_support import (
    OTHER_VILLAGE,
    VILLAGE_A1,
    VILLAGE_A2,
    VILLAGE_B1,
    build_site,
    export_job,
    import_workbook,
    new_id_number,
    pdf_upload,
    staged_import,
)
from .web_support import PageClient, login

# --- callers -----------------------------------------------------------------------------------------

ADMIN, FIN, VC, AUD, AUD_T = "county_admin", "finance_officer", "village_committee", "auditor", "auditor_town"
ALL = frozenset({ADMIN, FIN, VC, AUD, AUD_T})


def roles(*names) -> frozenset:
    return frozenset(names)


# caller → (user of Factory.world(), the village whose objects are out of the caller's scope)
CALLERS = {
    ADMIN: ("admin", OTHER_VILLAGE),
    FIN: ("fin_a", VILLAGE_B1),
    VC: ("vc_a1", VILLAGE_A2),
    AUD: ("auditor", OTHER_VILLAGE),
    AUD_T: ("auditor_a", VILLAGE_B1),
}

# --- expectations --------------------------------------------------------------------------------------

WRITE_OK = frozenset({200, 201, 202, 204, 302, 400, 409, 422})  # a writer in scope: done, or its body refused
OUT = frozenset({403, 404})
FILTERED = frozenset({200, 403, 404})  # a list filtered to a place outside the scope: refused, or empty
# A body naming a place or an asset of another county names nothing the caller's county knows: 422 (an
# unknown reference, like a mistyped code), nothing written. Same-county references outside the scope: 403.
REF = frozenset({422})
# A page that says "outside your scope" on the form (422), writing nothing: e.g. an asset code typed into a
# form is looked up among the assets the user may see ("本辖区内未找到该编号的资产").
FORM_OUT = frozenset({403, 404, 422})


@dataclass(frozen=True)
class Expect:
    write: bool
    roles: frozenset  # the callers that may read (get ``ok``) / may write in scope
    ok: frozenset | None = None  # in scope, an allowed caller (default: 200 for reads, WRITE_OK for writes)
    denied: frozenset = frozenset({403})  # in scope, a caller not allowed
    out: frozenset = OUT  # out of scope, any caller
    foreign: frozenset = frozenset()  # also accepted out of scope when the out site lies in another county
    refusal: Callable[[str], bool] | None = None  # out of scope: how a 200 answer says it refused
    note: str = ""

    def allowed(self) -> frozenset:
        return self.ok if self.ok is not None else (WRITE_OK if self.write else frozenset({200}))


def read(who=ALL, **kw) -> Expect:
    return Expect(False, frozenset(who), **kw)


def write(who, **kw) -> Expect:
    return Expect(True, frozenset(who), **kw)


# Who may write what (DOMAIN.md roles table; assetreg/users/services.py WRITERS and the per-action roles).
ASSET_WRITERS = roles(ADMIN, FIN)  # registers assets, rights, custody, contracts; records income
HOUSEHOLD_WRITERS = roles(ADMIN, FIN, VC)
LIST_WRITERS = roles(ADMIN, FIN, VC)  # regulations and archive documents at the writer's level or below
DRAFTER = roles(VC)  # the village committee drafts its village's plan (distribution/services.py DRAFTERS)
PLAN_WRITERS = roles(ADMIN, FIN, VC)  # steps by their own roles: town review (FIN), county filing (ADMIN)
AUDIT_WRITERS = roles(ADMIN, AUD, AUD_T)  # audits and inspections (oversight/services.py AUDIT_ROLES)
RAISERS = roles(ADMIN, FIN, AUD, AUD_T)  # who raises a problem (oversight/rules.py RAISER_ROLES)
DISPOSERS = roles(ADMIN, FIN)  # request, value, execute, cancel a disposal
COUNTY_ONLY = roles(ADMIN)
LOG_READERS = roles(ADMIN, AUD, AUD_T)  # the change log: auditors and the county admin

INSPECTION_NOTE = "an inspection is of a town, above a village committee's scope: not found (404) for it"

# endpoint → Expect (the route's only method), or {method: Expect}, or {method: {any(...) value: Expect}}
EXPECT: dict[str, Expect | dict[str, Expect]] = {
    # --- pages: home, login ------------------------------------------------------------------------
    "pages.home": read(),
    "pages.home_flags": read(),
    "pages.login": {"GET": read(ok={302}, note="a logged-in user is sent home"),
                    "POST": write(ALL, ok={401}, note="an empty login form is refused (401) whoever posts it")},
    "pages.logout": write(ALL, ok={302}, note="ends the session: posted from a session of its own"),
    "static": read(ok={404}, note="Flask's own static route: assetreg has no top-level static folder, so it "
                                  "finds nothing (the CSS and JS are under /static/web)"),
    "pages.static": read(),
    "api-docs.openapi_json": read(),
    "health.healthz": read(note="liveness: public, no database (tests/test_serving.py)"),
    "health.readyz": read(note="readiness: public, names its checks only (tests/test_serving.py)"),
    "users.me": read(),
    # --- users (county admin only) -----------------------------------------------------------------
    "admin.users": read(COUNTY_ONLY),
    "admin.user_new": {"GET": read(COUNTY_ONLY), "POST": write(COUNTY_ONLY, foreign=REF)},
    "admin.user_action": write(COUNTY_ONLY),
    "admin.user_password": {"GET": read(COUNTY_ONLY), "POST": write(COUNTY_ONLY)},
    "changelog_pages.changes": read(LOG_READERS, out=FILTERED),
    "changes.list_changes": read(LOG_READERS, out=FILTERED),
    # --- places --------------------------------------------------------------------------------------
    "places.list_places": read(),
    "places.create_place": write(COUNTY_ONLY),
    "places.get_place": read(),
    "places.withdraw_place": write(COUNTY_ONLY),
    # --- households --------------------------------------------------------------------------------
    "households.list_households": read(out=FILTERED),
    "households.create_household": write(HOUSEHOLD_WRITERS, foreign=REF),
    "households.get_household": read(),
    "households.update_household": write(HOUSEHOLD_WRITERS),
    "household_pages.households": read(out=FILTERED),
    "household_pages.household": read(),
    "household_pages.household_new": {"GET": read(HOUSEHOLD_WRITERS), "POST": write(HOUSEHOLD_WRITERS, foreign=REF)},
    "household_pages.household_edit": {"GET": read(HOUSEHOLD_WRITERS), "POST": write(HOUSEHOLD_WRITERS)},
    # --- assets, rights, custody, operation --------------------------------------------------------
    "assets.list_assets": read(out=FILTERED),
    "assets.create_asset": write(ASSET_WRITERS, foreign=REF),
    "assets.get_asset": read(),
    "assets.update_asset": write(ASSET_WRITERS),
    "assets.book_value": read(),
    "assets.list_transitions": read(),
    "assets.create_transition": write(ASSET_WRITERS),
    "assets.list_policies": read(),
    "assets.set_policy": write(COUNTY_ONLY),
    "rights.get_rights": read(),
    "rights.record_right": write(ASSET_WRITERS),
    "rights.record_rights": write(ASSET_WRITERS),
    "custody.get_custody": read(),
    "custody.record_custody": write(ASSET_WRITERS),
    "custody.get_operation": read(),
    "custody.record_operation": write(ASSET_WRITERS),
    "registry.assets": read(out=FILTERED),
    "registry.asset": read(),
    "registry.asset_new": {"GET": read(ASSET_WRITERS), "POST": write(ASSET_WRITERS, foreign=REF)},
    "registry.asset_edit": {"GET": read(ASSET_WRITERS), "POST": write(ASSET_WRITERS)},
    "registry.asset_status": {"GET": read(ASSET_WRITERS), "POST": write(ASSET_WRITERS)},
    "registry.asset_rights": {"GET": read(ASSET_WRITERS), "POST": write(ASSET_WRITERS)},
    "registry.asset_custody": {"GET": read(ASSET_WRITERS), "POST": write(ASSET_WRITERS)},
    "registry.asset_operation": {"GET": read(ASSET_WRITERS), "POST": write(ASSET_WRITERS)},
    "registry.asset_income": {"GET": read(ASSET_WRITERS), "POST": write(ASSET_WRITERS)},
    "flags_pages.asset_flags": read(),
    # --- income ledger, shares, contracts, settlements ---------------------------------------------
    "income.list_entries": read(),
    "income.post_entry": write(ASSET_WRITERS),
    "income.reverse_entry": write(ASSET_WRITERS),
    "income.list_shares": read(),
    "income.replace_shares": write(ASSET_WRITERS),
    "income.list_contracts": read(),
    "income.create_contract": write(ASSET_WRITERS),
    "income.asset_dues": read(),
    "income.income_summary": read(),
    "income.village_income": read(),
    "income.list_settlements": read(out=FILTERED),
    "income.settle_year": write(ASSET_WRITERS, foreign=REF),
    "income.get_settlement": read(),
    "income.publish_settlement": write(ASSET_WRITERS),
    "income_pages.settlements": read(out=FILTERED),
    "income_pages.settle": write(ASSET_WRITERS, foreign=REF),
    "income_pages.publish": write(ASSET_WRITERS),
    "income_pages.village_year": read(),
    "income_pages.village_year_jump": read(ok={302}, out={302},
                                           note="only turns the form's query into a path: the page it "
                                                "redirects to checks the scope"),
    # --- distribution: policy, plans, procedure, notices, jobs ---------------------------------------
    "distribution.get_policy": read(),
    "distribution.set_policy": write(COUNTY_ONLY),
    "distribution.list_plans": read(out=FILTERED),
    "distribution.create_plan": write(DRAFTER, foreign=REF),
    "distribution.get_plan": read(),
    "distribution.update_plan": write(DRAFTER),
    "distribution.set_allocations": write(DRAFTER),
    "distribution.fill": write(DRAFTER),
    "distribution.list_steps": read(),
    "distribution.record_step": write(PLAN_WRITERS),
    "distribution.list_objections": read(),
    "distribution.record_objection": write(PLAN_WRITERS),
    "distribution.answer_objection": write(PLAN_WRITERS),
    "distribution.list_jobs": read(out=FILTERED),
    "distribution.create_job": write(DRAFTER, foreign=REF),
    "distribution.get_job": read(),
    "distribution.record_attendance": write(DRAFTER),
    "notices.notice_json": read(),
    "notice_files.notice_page": read(),
    "notice_files.notice_xlsx": read(),
    "plans_pages.plans": read(out=FILTERED),
    "plans_pages.plan": read(),
    "plans_pages.plan_new": {"GET": read(DRAFTER), "POST": write(DRAFTER)},
    "plans_pages.plan_header": write(DRAFTER),
    "plans_pages.plan_allocations": write(DRAFTER),
    "plans_pages.plan_lines": write(DRAFTER),
    "plans_pages.plan_fill": write(DRAFTER),
    "procedure_pages.procedure": read(),
    "procedure_pages.notice_preview": read(),
    "procedure_pages.record_step": write(PLAN_WRITERS),
    "procedure_pages.record_objection": write(PLAN_WRITERS),
    "procedure_pages.answer_objection": write(PLAN_WRITERS),
    # --- oversight: settings, audits, inspections, problems, disposals ------------------------------
    "oversight.get_settings": read(),
    "oversight.set_settings": write(COUNTY_ONLY),
    "oversight.list_audits": read(out=FILTERED),
    "oversight.create_audit": write(AUDIT_WRITERS),
    "oversight.get_audit": read(),
    "oversight.list_inspections": read(out=FILTERED),
    "oversight.create_inspection": write(AUDIT_WRITERS, foreign=REF),
    "oversight.get_inspection": read(ALL - {VC}, denied=frozenset({404}), note=INSPECTION_NOTE),
    "oversight.list_problems": read(out=FILTERED),
    "oversight.create_problem": write(RAISERS),
    "oversight.get_problem": read(),
    "oversight.transition_problem": write(roles(ADMIN, FIN, VC)),
    "oversight.add_evidence": write(roles(ADMIN, FIN, VC)),
    "oversight.list_disposals": read(out=FILTERED),
    "oversight.create_disposal": write(DISPOSERS),
    "oversight.import_legacy_disposal": write(COUNTY_ONLY),
    "oversight.get_disposal": read(),
    "oversight.record_valuation": write(DISPOSERS),
    "oversight.record_village_decision": write(roles(ADMIN, VC)),
    "oversight.record_approval": write(roles(ADMIN, FIN)),
    "oversight.execute_disposal": write(DISPOSERS),
    "oversight.cancel_disposal": write(DISPOSERS),
    "oversight_pages.problems": read(out=FILTERED),
    "oversight_pages.problems_export": read(out=FILTERED),
    "oversight_pages.problem": read(),
    "oversight_pages.problem_new": {"GET": read(RAISERS), "POST": write(RAISERS, out=FORM_OUT)},
    "oversight_pages.problem_transition": write(roles(ADMIN, FIN, VC)),
    "oversight_pages.problem_evidence": write(roles(ADMIN, FIN, VC)),
    "oversight_pages.audits": read(out=FILTERED),
    "oversight_pages.audit": read(),
    "oversight_pages.audit_new": {"GET": read(AUDIT_WRITERS), "POST": write(AUDIT_WRITERS, out=FORM_OUT)},
    "oversight_pages.inspections": read(out=FILTERED),
    "oversight_pages.inspection": read(ALL - {VC}, denied=frozenset({404}), note=INSPECTION_NOTE),
    "oversight_pages.inspection_new": {"GET": read(AUDIT_WRITERS), "POST": write(AUDIT_WRITERS, foreign=REF)},
    "oversight_pages.disposals": read(out=FILTERED),
    "oversight_pages.disposal": read(),
    "oversight_pages.disposal_new": {"GET": read(DISPOSERS), "POST": write(DISPOSERS, out=FORM_OUT)},
    "oversight_pages.disposal_step": {"POST": {  # by the step in the URL (oversight/services.py)
        "valuation": write(DISPOSERS), "execution": write(DISPOSERS), "cancel": write(DISPOSERS),
        "village-decision": write(roles(ADMIN, VC)),  # the village's resolution (DECISION_ROLES)
        "approval": write(roles(ADMIN, FIN)),  # the town government's approval first (the county's order)
    }},
    # --- regulations, archive, files, the four lists -------------------------------------------------
    "lists.upload_file": write(LIST_WRITERS),
    "lists.download_file": read(),
    "lists.list_regulations": read(out=FILTERED),
    "lists.create_regulation": write(LIST_WRITERS, foreign=REF),
    "lists.get_regulation": read(),
    "lists.repeal_regulation": write(LIST_WRITERS),
    "lists.list_documents": read(out=FILTERED),
    "lists.create_document": write(LIST_WRITERS, foreign=REF),
    "lists.get_document": read(),
    "lists.list_required": read(),
    "lists.set_required": write(COUNTY_ONLY),
    "lists.asset_list": read(),
    "lists.responsibility_list": read(),
    "lists.regulation_list": read(),
    "lists.archive_list": read(),
    "lists_pages.index": read(),
    "lists_pages.show": read(),
    "lists_pages.export": read(),
    "lists_pages.asset_document": {"GET": read(LIST_WRITERS), "POST": write(LIST_WRITERS)},
    # --- flags ------------------------------------------------------------------------------------
    "flags.list_flags": read(),
    "flags.summary": read(),
    "flags.rules": read(),
    # Acknowledging a flag: every role in its scope, auditors included (users/services.py WRITERS["flags"]),
    # a village committee its village's flags only.
    "flags.acknowledge": write(ALL),
    "flags_pages.index": read(),
    "flags_pages.export": read(),
    "flags_pages.acknowledge": write(ALL),
    # --- exports and imports -----------------------------------------------------------------------
    # Every role may export its own scope (personal data masked for all but auditors, exports/services.py);
    # a job is its requester's, or also an auditor's / the county admin's within their scope.
    "exports.request_ledger": write(ALL),
    "exports.request_pack": write(ALL),
    "exports.get_job": read(),
    "exports.download": read(),
    "export_pages.exports": {"GET": read(), "POST": write(ALL, out=FORM_OUT)},
    "export_pages.export_job": read(),
    "export_pages.export_status": read(),
    "export_pages.export_download": read(),
    "imports.list_templates": read(),
    "imports.template_xlsx": read(),
    "imports.template_csv": read(),
    # An import of the kind "assets" (PARAMS: kind) needs an asset writer; rows outside the scope make the
    # whole file refused (422 with the report, nothing written).
    "imports.run_import": write(ASSET_WRITERS, out=FORM_OUT),
    "import_pages.imports": {
        "GET": read(HOUSEHOLD_WRITERS),
        "POST": write(ASSET_WRITERS, out=frozenset({200, 403, 404}), refusal=lambda text: "超出您的管辖范围" in text
                      or "未找到本县的该区划代码" in text,
                      note="the page's post is the dry run: it writes nothing, its report lists the rows outside "
                           "the scope as errors (200)")},
    "import_pages.import_commit": write(ASSET_WRITERS, out=FORM_OUT,
                                          note="another user's checked upload is not the caller's: "
                                               "\"expired\" on the form (422)"),
    "import_pages.import_report_xlsx": read(ASSET_WRITERS),
}

# Routes open to everyone, anonymous included (web/auth.py PUBLIC_ENDPOINTS): endpoint → method → status.
PUBLIC = {
    "pages.login": {"GET": {200}, "POST": {401}},  # the login form; an empty post is refused
    "static": {"GET": {404}},  # open, but empty (see EXPECT)
    "pages.static": {"GET": {200}},
    "health.healthz": {"GET": {200}},  # probes of a load balancer or an orchestrator
    "health.readyz": {"GET": {200}},
}
# The OpenAPI document is served by flask-smorest under /api/v1 and needs a login like the rest of the API
# (tests/test_openapi.py); there is no swagger/redoc UI. So it is in the matrix, not in PUBLIC.

# Known holes: (endpoint, method, caller, "in"/"out") → what is wrong. Each makes the caller's test xfail
# while it lasts; once fixed, the test fails until the entry is removed.
KNOWN: dict[tuple[str, str, str, str], str] = {}

# --- URL parameters ------------------------------------------------------------------------------


@dataclass
class Call:
    """What a builder sees: the site whose objects to name, and who calls."""

    site: object
    scope: str  # "in" / "out"
    caller: str
    endpoint: str
    own: dict = field(default_factory=dict)  # the caller's own export job and staged import
    values: dict = field(default_factory=dict)  # the values of any(...) URL parameters


def _job_id(c: Call):
    if c.endpoint.startswith("distribution."):
        return c.site.job  # a public-welfare job (公益岗位)
    # an export job: the caller's own in scope, another user's (out of the caller's scope) out of it
    return c.own["export_job"] if c.scope == "in" else c.site.export_job


# URL parameter name → its value (``any(...)`` converters are expanded to each of their values).
PARAMS: dict[str, Callable[[Call], object]] = {
    "asset_id": lambda c: c.site.asset,
    "household_id": lambda c: c.site.household,
    "entry_id": lambda c: c.site.entry,
    "settlement_id": lambda c: c.site.settlement,
    "plan_id": lambda c: c.site.plan,
    "objection_id": lambda c: c.site.objection,
    "job_id": _job_id,
    "audit_id": lambda c: c.site.audit,
    "inspection_id": lambda c: c.site.inspection,
    "problem_id": lambda c: c.site.problem,
    "request_id": lambda c: c.site.disposal,
    "document_id": lambda c: c.site.document,
    "file_id": lambda c: c.site.file,
    "regulation_id": lambda c: c.site.regulation,
    "user_id": lambda c: c.own["spare_user"] if c.scope == "in" else c.site.peer.user.id,
    "code": lambda c: c.site.village,
    # not scope: fixed values
    "year": lambda c: 2024,
    "kind": lambda c: "assets",  # an import kind
    "purpose": lambda c: "relief",  # a plan's household-line purpose
    "filename": lambda c: "app.css",
}
UNSCOPED_PARAMS = {"year", "kind", "purpose", "filename"}

# --- query strings of reads, bodies of writes ----------------------------------------------------------
# endpoint → builder(Call) → keyword arguments of the request (query_string=…, json=…, data=…). A builder
# naming the site makes the route scoped (called in and out of scope); ``fixed`` marks one that does not.


def fixed(fn):
    fn.fixed = True
    return fn


def _q(**params):
    return lambda c: {"query_string": {k: (v(c) if callable(v) else v) for k, v in params.items()}}


VILLAGE = lambda c: c.site.village  # noqa: E731
TOWN = lambda c: c.site.town  # noqa: E731

QUERIES: dict[str, Callable[[Call], dict]] = {
    "assets.list_assets": _q(village_code=VILLAGE),
    "households.list_households": _q(village_code=VILLAGE),
    "distribution.list_plans": _q(village_code=VILLAGE),
    "distribution.list_jobs": _q(village_code=VILLAGE),
    "income.list_settlements": _q(place_code=VILLAGE),
    "oversight.list_audits": _q(village_code=VILLAGE),
    "oversight.list_inspections": _q(town_code=TOWN),
    "oversight.list_problems": _q(village_code=VILLAGE),
    "oversight.list_disposals": _q(village_code=VILLAGE),
    "lists.list_regulations": _q(issuer_code=VILLAGE),
    "lists.list_documents": _q(place_code=VILLAGE),
    "lists.asset_list": _q(scope=VILLAGE),
    "lists.responsibility_list": _q(scope=VILLAGE),
    "lists.regulation_list": _q(scope=VILLAGE),
    "lists.archive_list": _q(scope=VILLAGE),
    "flags.list_flags": _q(scope=VILLAGE),
    "flags.summary": _q(scope=VILLAGE),
    "changes.list_changes": _q(entity="asset", entity_id=lambda c: str(c.site.asset)),
    "assets.book_value": fixed(_q(as_of="2025-06-30")),
    "income.asset_dues": fixed(_q(year=2024)),
    "income.income_summary": fixed(_q(year=2024)),
    "income.village_income": fixed(_q(year=2024)),
    "registry.assets": _q(village_code=VILLAGE),
    "household_pages.households": _q(village_code=VILLAGE),
    "plans_pages.plans": _q(village_code=VILLAGE),
    "income_pages.settlements": _q(place_code=VILLAGE),
    "income_pages.village_year_jump": _q(village_code=VILLAGE, for_year=2024),
    "oversight_pages.problems": _q(village_code=VILLAGE),
    "oversight_pages.problems_export": _q(village_code=VILLAGE),
    "oversight_pages.audits": _q(village_code=VILLAGE),
    "oversight_pages.inspections": _q(town_code=TOWN),
    "oversight_pages.disposals": _q(village_code=VILLAGE),
    "oversight_pages.problem_new": _q(source="audit", audit_id=lambda c: c.site.audit),
    "oversight_pages.audit_new": _q(asset_id=lambda c: c.site.asset),
    "oversight_pages.disposal_new": _q(asset_id=lambda c: c.site.asset),
    "lists_pages.index": _q(scope=VILLAGE),
    "lists_pages.show": _q(scope=VILLAGE),
    "lists_pages.export": _q(scope=VILLAGE),
    "flags_pages.index": _q(scope=VILLAGE),
    "flags_pages.export": _q(scope=VILLAGE),
    "changelog_pages.changes": _q(entity="asset", entity_id=lambda c: str(c.site.asset)),
    "import_pages.import_report_xlsx": lambda c: {"query_string": {"kind": "assets", "upload": _staged(c)}},
}


def _staged(c: Call) -> str:
    return c.own["staged"] if c.scope == "in" else c.site.staged


def _json(fn):
    return lambda c: {"json": fn(c)}


def _form(fn):
    return lambda c: {"data": fn(c)}


def _problem(c: Call) -> dict:
    return {"source": "complaint", "asset_id": c.site.asset, "description": "矩阵测试问题", "responsible_unit": "村委会",
            "responsible_person": "李四", "raised_on": "2025-06-01", "deadline": "2025-08-31"}


def _new_asset(c: Call) -> dict:
    return {"code": f"NEW-{c.site.village}-{c.caller}", "name": "矩阵测试资产", "category": "operating",
            "subtype": "光伏电站", "place_code": c.site.village, "managing_level": "village",
            "original_value": "1000.00", "fundings": [{"source": "fiscal_link", "amount": "1000.00"}],
            "completed_on": "2024-06-30", "status": "in_operation", "status_on": "2024-09-01"}


def _new_household(c: Call) -> dict:
    return {"village_code": c.site.village, "number": f"NEW-{c.site.village}-{c.caller}", "head_name": "新户主",
            "head_id_number": new_id_number(), "status": "ordinary",
            "members": [{"name": "新户主", "relation": "户主", "labour": "full"}]}


def _household_form(c: Call) -> dict:
    body = _new_household(c)
    members = body.pop("members")
    return {**body, **{f"members.0.{k}": v for k, v in members[0].items()}}


SETTINGS = {"no_income_years": 2, "settlement_deadline_month": 3, "settlement_deadline_day": 31,
            "handover_deadline_month": 3, "handover_deadline_day": 31, "contract_warning_days": 90,
            "risk_assessment_max_days": 365,
            "disposal_approval_order": ["town_government", "county_rural_revitalisation", "county_finance"]}

DISPOSAL_STEPS = {
    "valuation": {"valuation": "1000.00", "valuer": "评估所", "valued_on": "2025-03-15"},
    "village-decision": {"decided_on": "2025-04-02", "minutes": "同意"},
    "approval": {"seq": "1", "approver": "town_government", "decision": "approved", "decided_on": "2025-04-10"},
    "execution": {"executed_on": "2025-05-01", "proceeds": "0.00"},
    "cancel": {"on": "2025-05-01", "reason": "撤回"},
}
STEP_OF = {ADMIN: "county_filing", FIN: "town_review", VC: "proposal"}

BODIES: dict[str, Callable[[Call], dict]] = {
    # API
    "places.create_place": _json(lambda c: {"code": c.site.town + "299", "name": "新设村", "level": "village",
                                            "parent_code": c.site.town}),
    "places.withdraw_place": _json(lambda c: {"successor_code": c.site.sibling, "effective_on": "2025-06-01"}),
    "households.create_household": _json(_new_household),
    "households.update_household": fixed(_json(lambda c: {"phone": "13800001111"})),
    "assets.create_asset": _json(_new_asset),
    "assets.update_asset": fixed(_json(lambda c: {"note": "矩阵测试"})),
    "assets.create_transition": fixed(_json(lambda c: {"to_status": "idle", "changed_on": "2025-06-01"})),
    "assets.set_policy": fixed(_json(lambda c: {"subtype": "光伏电站", "useful_life_years": 20,
                                                "residual_rate": "0.05"})),
    "rights.record_right": fixed(_json(lambda c: {"kind": "supervision", "holder_kind": "village_supervision",
                                                  "holder_name": "村务监督委员会", "effective_on": "2025-01-01"})),
    "rights.record_rights": fixed(_json(lambda c: {"rights": [{
        "kind": "supervision", "holder_kind": "village_supervision", "holder_name": "村务监督委员会",
        "effective_on": "2025-01-01"}]})),
    "custody.record_custody": fixed(_json(lambda c: {"custodian_unit": "村委会", "responsible_person": "王五"})),
    "custody.record_operation": fixed(_json(lambda c: {"mode": "self_run", "operator_name": "村集体经济合作社"})),
    "income.post_entry": fixed(_json(lambda c: {"direction": "income", "kind": "electricity", "period_year": 2025,
                                                "period_month": 1, "received_on": "2025-02-01",
                                                "amount": "100.00"})),
    "income.reverse_entry": fixed(_json(lambda c: {"reason": "录入错误", "reversed_on": "2025-06-01"})),
    "income.replace_shares": _json(lambda c: {"shares": [{"village_code": c.site.village, "weight": "1"}]}),
    "income.create_contract": fixed(_json(lambda c: {"kind": "rent", "basis": "fixed", "amount": "1000.00",
                                                     "period": "year", "start_on": "2025-01-01",
                                                     "end_on": "2027-12-31"})),
    "income.settle_year": _json(lambda c: {"place_code": c.site.village, "year": 2023, "settled_on": "2025-01-10"}),
    "income.publish_settlement": fixed(_json(lambda c: {"published_on": "2025-03-20"})),
    "distribution.set_policy": fixed(_json(lambda c: {"pv_public_min_share": "0.80", "forbidden_uses": [],
                                                      "min_notice_days": 10, "complaint_phone": "12317"})),
    "distribution.create_plan": _json(lambda c: {"village_code": c.site.village, "year": 2023}),
    "distribution.update_plan": fixed(_json(lambda c: {"note": "矩阵测试"})),
    "distribution.set_allocations": fixed(_json(lambda c: {"allocations": [{"purpose": "carry", "amount": "0.00"}]})),
    "distribution.fill": fixed(_json(lambda c: {"purpose": "relief", "method": "equal", "apply": True})),
    # each role its own step: the committee the village steps, the town its review, the county the filing
    "distribution.record_step": fixed(_json(lambda c: {"kind": STEP_OF.get(c.caller, "proposal"),
                                                       "done_on": "2025-04-01", "minutes": "记录"})),
    "distribution.record_objection": fixed(_json(lambda c: {"raised_on": "2025-05-02", "content": "异议"})),
    "distribution.answer_objection": fixed(_json(lambda c: {"answer": "已答复", "answered_on": "2025-05-03"})),
    "distribution.create_job": _json(lambda c: {"village_code": c.site.village, "post": "护林员",
                                                "household_id": c.site.household, "person_name": c.site.household_head,
                                                "monthly_wage": "400.00", "term_from": "2026-01-01"}),
    "distribution.record_attendance": fixed(_json(lambda c: {"entries": [{"year": 2025, "month": 1,
                                                                          "days_worked": 20}]})),
    "oversight.set_settings": fixed(_json(lambda c: SETTINGS)),
    "oversight.create_audit": _json(lambda c: {"asset_id": c.site.asset, "year": 2023, "auditor": "县审计局",
                                               "audited_on": "2025-03-20", "conclusion": "pass"}),
    "oversight.create_inspection": _json(lambda c: {"town_code": c.site.town, "year": 2025, "quarter": 2,
                                                    "inspected_on": "2025-06-01", "inspector": "县纪委"}),
    "oversight.create_problem": _json(_problem),
    "oversight.transition_problem": fixed(_json(lambda c: {"to_status": "in_progress", "on": "2025-06-01"})),
    "oversight.add_evidence": fixed(_json(lambda c: {"note": "已整改"})),
    "oversight.create_disposal": _json(lambda c: {"asset_id": c.site.asset, "grounds": "idle_inefficient",
                                                  "method": "auction", "requested_on": "2025-06-01"}),
    "oversight.import_legacy_disposal": _json(lambda c: {"asset_id": c.site.asset, "grounds": "other",
                                                         "method": "scrap", "executed_on": "2025-01-01"}),
    "oversight.record_valuation": fixed(_json(lambda c: {"valuation": "1000.00", "valuer": "评估所",
                                                         "valued_on": "2025-03-15"})),
    "oversight.record_village_decision": fixed(_json(lambda c: {"decided_on": "2025-04-02", "minutes": "同意"})),
    "oversight.record_approval": fixed(_json(lambda c: {"seq": 1, "approver": "town_government",
                                                        "decision": "approved", "decided_on": "2025-04-10"})),
    "oversight.execute_disposal": fixed(_json(lambda c: {"executed_on": "2025-05-01", "proceeds": "0.00"})),
    "oversight.cancel_disposal": fixed(_json(lambda c: {"on": "2025-05-01", "reason": "撤回"})),
    "imports.run_import": lambda c: {"query_string": {"dry_run": "false"}, "data": {"file": (io.BytesIO(import_workbook(c.site.village)),
                                                       "matrix.xlsx")},
                                     "content_type": "multipart/form-data"},
    "lists.upload_file": fixed(lambda c: {"data": pdf_upload(c.caller), "content_type": "multipart/form-data"}),
    "lists.create_regulation": _json(lambda c: {"title": "矩阵测试制度", "issuer_code": c.site.village,
                                                "category": "custody", "effective_on": "2025-01-01"}),
    "lists.repeal_regulation": fixed(_json(lambda c: {"repealed_on": "2025-06-01"})),
    "lists.create_document": _json(lambda c: {"asset_id": c.site.asset, "level": "village", "kind": "handover",
                                              "archive_no": f"NEW-{c.caller}", "title": "移交书",
                                              "filed_on": "2025-01-10"}),
    "lists.set_required": fixed(_json(lambda c: {"items": [{"status": "in_operation", "kind": "acceptance"}]})),
    "flags.acknowledge": _json(lambda c: {"rule_id": "RIGHTS_INCOMPLETE", "flag_key": f"asset:{c.site.asset}",
                                          "reason": "已知悉"}),
    "exports.request_ledger": _json(lambda c: {"scope": c.site.village, "years": "2024"}),
    "exports.request_pack": _json(lambda c: {"scope": c.site.village, "years": "2024"}),
    # pages
    "admin.user_new": _form(lambda c: {"username": f"new_{c.caller}", "password": "secret-pass-2",
                                       "role": "finance_officer", "scope_code": c.site.town}),
    "admin.user_password": fixed(_form(lambda c: {"password": "secret-pass-3"})),
    "household_pages.household_new": _form(_household_form),
    "registry.asset_new": _form(lambda c: {"code": f"NEWP-{c.site.village}-{c.caller}", "name": "页面资产",
                                           "category": "operating", "subtype": "光伏电站",
                                           "place_code": c.site.village, "managing_level": "village",
                                           "original_value": "1000.00", "funding.fiscal_link": "1000.00",
                                           "status": "in_operation", "status_on": "2024-09-01",
                                           "completed_on": "2024-06-30"}),
    "income_pages.settle": _form(lambda c: {"settle.place_code": c.site.village, "settle.year": "2023",
                                            "settle.settled_on": "2025-01-10"}),
    "plans_pages.plan_new": _form(lambda c: {"village_code": c.site.village, "year": "2023"}),
    "oversight_pages.problem_new": _form(lambda c: {
        "source": "complaint", "asset_code": c.site.asset_code, "description": "页面问题", "responsible_unit": "村委会",
        "responsible_person": "李四", "raised_on": "2025-06-01", "deadline": "2025-08-31"}),
    "oversight_pages.audit_new": _form(lambda c: {"asset_code": c.site.asset_code, "year": "2023",
                                                  "auditor": "县审计局", "audited_on": "2025-03-20",
                                                  "conclusion": "pass"}),
    "oversight_pages.inspection_new": _form(lambda c: {"town_code": c.site.town, "year": "2025", "quarter": "2",
                                                       "inspected_on": "2025-06-01", "inspector": "县纪委"}),
    "oversight_pages.disposal_new": _form(lambda c: {"asset_code": c.site.asset_code, "grounds": "idle_inefficient",
                                                     "method": "auction", "requested_on": "2025-06-01"}),
    "oversight_pages.disposal_step": fixed(_form(lambda c: DISPOSAL_STEPS[c.values["step"]])),
    "oversight_pages.problem_transition": fixed(_form(lambda c: {"to_status": "in_progress", "on": "2025-06-01"})),
    "flags_pages.acknowledge": _form(lambda c: {"rule_id": "RIGHTS_INCOMPLETE",
                                                "flag_key": f"asset:{c.site.asset}", "reason": "已知悉"}),
    "export_pages.exports": _form(lambda c: {"kind": "ledger", "scope": c.site.village, "years": "2024"}),
    "import_pages.imports": lambda c: {"data": {"kind": "assets", "file": (
        io.BytesIO(import_workbook(c.site.village)), "matrix.xlsx")},
        "content_type": "multipart/form-data"},
    "import_pages.import_commit": lambda c: {"data": {"kind": "assets", "upload": _staged(c)}},
}

# Writes run last, in this order (each undoes or ends something the others need).
LAST = ["places.withdraw_place", "admin.user_action", "pages.logout"]

# --- the walk --------------------------------------------------------------------------------------------


@dataclass
class Variant:
    endpoint: str
    method: str
    rule: object
    values: dict  # fixed values of any(...) converters
    params: list  # the other URL parameters

    @property
    def api(self) -> bool:
        return self.rule.rule.startswith("/api/")

    @property
    def label(self) -> str:
        extra = "".join(f" {k}={v}" for k, v in self.values.items())
        return f"{self.method} {self.rule.rule}{extra} [{self.endpoint}]"


def variants(url_map) -> list[Variant]:
    """Every rule × method (HEAD and OPTIONS aside) × value of its any(...) parameters."""
    out = []
    for rule in sorted(url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        anys = {name: sorted(conv.items) for name, conv in rule._converters.items()
                if isinstance(conv, AnyConverter)}
        combos = [{}]
        for name, items in anys.items():
            combos = [{**c, name: item} for c in combos for item in items]
        params = [a for a in sorted(rule.arguments) if a not in anys]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for values in combos:
                out.append(Variant(rule.endpoint, method, rule, values, params))
    return out


def expectation(v: Variant) -> Expect | None:
    entry = EXPECT.get(v.endpoint)
    if isinstance(entry, dict):
        entry = entry.get(v.method)
    if isinstance(entry, dict):  # by the value of the route's any(...) parameter
        (value,) = v.values.values()
        entry = entry.get(value)
    return entry


def scoped(v: Variant) -> bool:
    builder = (BODIES if v.method != "GET" else QUERIES).get(v.endpoint)
    return any(p not in UNSCOPED_PARAMS for p in v.params) or (
        builder is not None and not getattr(builder, "fixed", False))


def request_args(v: Variant, c: Call) -> tuple[str, dict]:
    values = dict(v.values)
    for name in v.params:
        values[name] = PARAMS[name](c)
    with_query = {}
    builder = (BODIES if v.method != "GET" else QUERIES).get(v.endpoint)
    if builder is not None:
        with_query = builder(c)
    url = v.rule.map.bind("localhost").build(v.endpoint, values, method=v.method)
    return url, with_query


def sent(url: str, kw: dict) -> str:
    """What the request itself carried (a page may echo what was typed: that is no leak)."""
    return url + repr(kw.get("query_string")) + repr(kw.get("json")) + repr(kw.get("data"))


def text_of(r) -> str:
    try:
        return r.get_data(as_text=False).decode("utf-8", "replace")
    finally:
        r.close()


def is_login_redirect(r) -> bool:
    return r.status_code == 302 and r.headers.get("Location", "").split("?")[0].endswith("/login")


@dataclass
class Outcome:
    calls: int = 0
    failures: list = field(default_factory=list)
    known: list = field(default_factory=list)
    fixed_holes: list = field(default_factory=list)
    rows: list = field(default_factory=list)  # (caller, scope, endpoint, method, any-value, url, status, problem)


def missing(url_map) -> list[str]:
    """Every route and URL parameter the tables say nothing about."""
    problems = []
    for v in variants(url_map):
        if expectation(v) is None:
            problems.append(f"add an expectation for {v.endpoint} {v.method} ({v.rule.rule}) to EXPECT in "
                            f"tests/test_access_matrix.py")
        for p in v.params:
            if p not in PARAMS:
                problems.append(f"add a value for the URL parameter <{p}> of {v.endpoint} ({v.rule.rule}) to "
                                f"PARAMS in tests/test_access_matrix.py")
    return sorted(set(problems))


@pytest.fixture
def matrix_env(app, monkeypatch, tmp_path, today):
    """Files under tmp; export jobs recorded but not run (the matrix only asks who may request one)."""
    from assetreg.exports import jobs

    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.delitem(app.config, "REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(jobs, "submit", lambda app, job_id: None)
    yield
    jobs.wait_for_workers()


def planned(url_map) -> dict:
    """The size of the matrix: routes, route variants, and the calls the tests make."""
    walked = [v for v in variants(url_map) if expectation(v) is not None]
    both = sum(1 for v in walked if scoped(v))
    return {"rules": len(list(url_map.iter_rules())), "variants": len(walked), "scoped": both,
            "per_caller": len(walked) + both, "calls": len(walked) + len(CALLERS) * (len(walked) + both)}


def test_every_route_and_parameter_has_an_expectation(app):
    problems = missing(app.url_map)
    stale = sorted(set(EXPECT) - {r.endpoint for r in app.url_map.iter_rules()})
    problems += [f"EXPECT names {e}, which is no longer a route: remove it" for e in stale]
    assert not problems, "\n".join(problems)


def test_a_new_route_without_an_expectation_fails():
    from werkzeug.routing import Map, Rule

    url_map = Map([Rule("/api/v1/widgets/<int:widget_id>", endpoint="widgets.get_widget", methods=["GET"])])
    assert missing(url_map) == [
        "add a value for the URL parameter <widget_id> of widgets.get_widget (/api/v1/widgets/<int:widget_id>) "
        "to PARAMS in tests/test_access_matrix.py",
        "add an expectation for widgets.get_widget GET (/api/v1/widgets/<int:widget_id>) to EXPECT in "
        "tests/test_access_matrix.py",
    ]


def test_matrix_size(app):
    """182 rules → 211 route variants (rule × method × any(...) value), 180 of them with an out-of-scope
    variant: 391 calls per caller, 2166 calls in all (211 anonymous + 5 callers × 391) at the time of
    writing. The minimum below only guards against the walk silently shrinking."""
    size = planned(app.url_map)
    print(f"access matrix: {size}")
    assert size["rules"] >= 180 and size["variants"] >= 210 and size["calls"] >= 2150, size


def test_anonymous_is_refused_everywhere(app, f, matrix_env):
    world = f.world()
    site = build_site(f, world, VILLAGE_A1)
    own = {"export_job": site.export_job, "staged": site.staged, "spare_user": world.users["fin_b"].id}
    http = PageClient(app, app.response_class, use_cookies=True)
    failures, calls = [], 0
    for v in variants(app.url_map):
        if expectation(v) is None or any(p not in PARAMS for p in v.params):
            continue  # reported by test_every_route_and_parameter_has_an_expectation
        c = Call(site, "in", "anonymous", v.endpoint, own, v.values)
        url, kw = request_args(v, c)
        calls += 1
        try:
            r = http.open(url, method=v.method, **kw)
        except Exception as exc:  # TESTING propagates exceptions: that is a 500
            failures.append(f"anonymous {v.label}: 500: {type(exc).__name__}: {exc}")
            continue
        public = PUBLIC.get(v.endpoint, {}).get(v.method)
        if public is not None:
            good = r.status_code in public
            want = "/".join(map(str, sorted(public)))
        elif v.api:
            good, want = r.status_code == 401, "401"
        else:
            good, want = is_login_redirect(r), "302 to /login"
        if not good:
            failures.append(f"anonymous {v.label}: {r.status_code} (want {want})")
        r.close()
    assert calls == planned(app.url_map)["variants"]
    assert not failures, f"{len(failures)} of {calls} anonymous calls not refused:\n" + "\n".join(failures)


@pytest.mark.parametrize("caller", list(CALLERS))
def test_access_matrix(app, f, matrix_env, caller):
    outcome = walk(app, f, caller)
    dump(outcome.rows)
    assert outcome.calls == planned(app.url_map)["per_caller"]
    report = []
    if outcome.failures:
        report.append(f"{len(outcome.failures)} of {outcome.calls} calls by {caller} broke the matrix:")
        report += outcome.failures
    if outcome.fixed_holes:
        report.append("known holes that no longer happen (remove them from KNOWN):")
        report += outcome.fixed_holes
    assert not report, "\n".join(report)
    if outcome.known:
        pytest.xfail(f"{len(outcome.known)} known holes for {caller}:\n" + "\n".join(outcome.known))


def dump(rows: list) -> None:
    """ASSETREG_MATRIX_DUMP=<file>: append the walked matrix as tab-separated lines (to read it whole)."""
    import os

    path = os.environ.get("ASSETREG_MATRIX_DUMP")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.writelines("\t".join(map(str, row)) + "\n" for row in rows)


def walk(app, f, caller: str) -> Outcome:
    from assetreg.extensions import db
    from assetreg.users.models import User

    username, out_village = CALLERS[caller]
    world = f.world()
    site_in = build_site(f, world, VILLAGE_A1)
    site_out = build_site(f, world, out_village)
    me = getattr(world, username)
    spare, _ = f.user("spare", "finance_officer", VILLAGE_A1[:9])
    own = {"export_job": export_job(me.user, me.user.scope_code), "spare_user": spare.id,
           "staged": staged_import(db.session.get(User, me.user.id), VILLAGE_A1, f"{caller}-own")}
    page = login(app, username)
    assert page.last.status_code == 302 and not is_login_redirect(page.last), page.last.status_code

    outcome = Outcome()
    reads, refused, mine = [], [], []
    for v in variants(app.url_map):
        exp = expectation(v)
        if exp is None or any(p not in PARAMS for p in v.params):
            continue  # reported by test_every_route_and_parameter_has_an_expectation
        scopes = ["in", "out"] if scoped(v) else ["in"]
        for scope in scopes:
            item = (v, exp, scope)
            if not exp.write:
                reads.append(item)
            elif scope == "out" or caller not in exp.roles:
                refused.append(item)
            else:
                mine.append(item)
    mine.sort(key=lambda item: LAST.index(item[0].endpoint) + 1 if item[0].endpoint in LAST else 0)

    for v, exp, scope in reads + refused + mine:
        site = site_in if scope == "in" else site_out
        c = Call(site, scope, caller, v.endpoint, own, v.values)
        url, kw = request_args(v, c)
        try:
            if v.api:
                r = me.open(v.method, url, **kw)
            elif v.endpoint == "pages.logout":
                r = login(app, username).open(url, method=v.method, **kw)
            else:
                r = page.open(url, method=v.method, **kw)
        except Exception as exc:  # TESTING propagates exceptions: that is a 500 for the user
            outcome.calls += 1
            outcome.failures.append(f"{caller} {scope}: {v.label} {url} → 500: {type(exc).__name__}: {exc}")
            db.session.rollback()
            continue
        outcome.calls += 1
        body = text_of(r)
        status = r.status_code
        if scope == "out":
            foreign = exp.foreign if not site_out.village.startswith(me.user.county_code) else frozenset()
            want, why = exp.out | foreign, "out of scope"
        elif caller in exp.roles:
            want, why = exp.allowed(), "allowed in scope"
        else:
            want, why = exp.denied, "not allowed in scope"
        problem = None
        if status >= 500:
            problem = f"{status} server error"
        elif status not in want:
            problem = f"{status}, want {'/'.join(map(str, sorted(want)))} ({why})"
        elif is_login_redirect(r) and v.endpoint != "pages.logout":
            problem = "302 to /login: the session was lost"
        elif scope == "out" and status == 200 and exp.refusal is not None and not exp.refusal(body):
            problem = "200 out of scope, and the answer does not say it refused"
        elif site_out.marker in body and site_out.marker not in sent(url, kw):
            problem = f"{status} but the answer shows objects of {site_out.village} ({site_out.marker}): a leak"
        outcome.rows.append((caller, scope, v.endpoint, v.method, "".join(v.values.values()), url, status,
                             problem or ""))
        key = (v.endpoint, v.method, caller, scope)
        line = f"{caller} {scope}: {v.label} {url} → {problem}"
        if problem and key in KNOWN:
            outcome.known.append(f"{line}  [KNOWN: {KNOWN[key]}]")
        elif problem:
            outcome.failures.append(line)
        elif key in KNOWN:
            outcome.fixed_holes.append(f"{caller} {scope}: {v.label} answers {status} now  [KNOWN: {KNOWN[key]}]")
    return outcome


# --- references inside bodies ----------------------------------------------------------------------------
# The matrix names one site's objects throughout a request. A write to an object in scope may also name
# other objects in its body (a household, a document, a file, an audit, a job, a place): those must be in
# the caller's scope too, or the write is refused (403/404/422) — and the answer must not show them.
# (caller, endpoint, method, url(site in, site out), request(site in, site out)); the out site as above.


@dataclass(frozen=True)
class Reference:
    caller: str
    endpoint: str
    method: str
    url: Callable
    request: Callable
    what: str


def _ref(caller, endpoint, method, url, request, what) -> Reference:
    return Reference(caller, endpoint, method, url, request, what)


REFUSED = frozenset({403, 404, 422})
RIGHT_OF_OUTSIDE_HOUSEHOLD = {"kind": "operation", "holder_kind": "household", "effective_on": "2025-01-01"}
REFERENCES = [
    _ref(FIN, "assets.update_asset", "PATCH", lambda i, o: f"/api/v1/assets/{i.asset}",
         lambda i, o: {"json": {"place_code": o.village}}, "moves the asset to a village of another town"),
    _ref(VC, "households.update_household", "PATCH", lambda i, o: f"/api/v1/households/{i.household}",
         lambda i, o: {"json": {"village_code": o.village}}, "moves the household to another village"),
    _ref(FIN, "assets.create_asset", "POST", lambda i, o: "/api/v1/assets",
         lambda i, o: {"json": {**_new_asset(Call(i, "in", FIN, "")), "category": "household", "subtype": "牲畜",
                                "managing_level": "household", "household_id": o.household, "status": "in_use",
                                "code": "REF-HH"}},
         "a household asset of a household of another town"),
    _ref(FIN, "rights.record_right", "POST", lambda i, o: f"/api/v1/assets/{i.asset}/rights",
         lambda i, o: {"json": {**RIGHT_OF_OUTSIDE_HOUSEHOLD, "household_id": o.household}},
         "a household of another town as the holder of a right"),
    _ref(FIN, "rights.record_rights", "POST", lambda i, o: f"/api/v1/assets/{i.asset}/rights/batch",
         lambda i, o: {"json": {"rights": [{**RIGHT_OF_OUTSIDE_HOUSEHOLD, "household_id": o.household}]}},
         "a household of another town as the holder of a right"),
    _ref(FIN, "registry.asset_rights", "POST", lambda i, o: f"/assets/{i.asset}/rights",
         lambda i, o: {"data": {"rights.operation.holder_kind": "household",
                                "rights.operation.household_id": str(o.household), "effective_on_all": "2025-01-01"}},
         "a household of another town as the holder of a right"),
    _ref(VC, "distribution.set_allocations", "PUT", lambda i, o: f"/api/v1/plans/{i.plan}/allocations",
         lambda i, o: {"json": {"allocations": [{"purpose": "relief", "amount": "10.00", "lines": [
             {"household_id": o.household, "amount": "10.00"}]}]}}, "a household line of another village"),
    _ref(VC, "distribution.set_allocations", "PUT", lambda i, o: f"/api/v1/plans/{i.plan}/allocations",
         lambda i, o: {"json": {"allocations": [{"purpose": "public_jobs", "amount": "10.00", "lines": [
             {"household_id": i.household, "amount": "10.00", "job_id": o.job}]}]}},
         "a public-welfare job of another village"),
    _ref(VC, "distribution.create_job", "POST", lambda i, o: "/api/v1/jobs",
         lambda i, o: {"json": {"village_code": i.village, "post": "护林员", "household_id": o.household,
                                "person_name": o.household_head, "monthly_wage": "400.00",
                                "term_from": "2026-01-01"}}, "a job for a household of another village"),
    _ref(FIN, "oversight.add_evidence", "POST", lambda i, o: f"/api/v1/problems/{i.problem}/evidence",
         lambda i, o: {"json": {"document_id": o.document}}, "a document of another town as evidence"),
    _ref(AUD_T, "oversight.create_audit", "POST", lambda i, o: "/api/v1/audits",
         lambda i, o: {"json": {"asset_id": i.asset, "year": 2023, "auditor": "县审计局", "audited_on": "2025-03-20",
                                "conclusion": "pass", "report_document_id": o.document}},
         "a document of another town as the audit report"),
    _ref(FIN, "oversight.create_problem", "POST", lambda i, o: "/api/v1/problems",
         lambda i, o: {"json": {**_problem(Call(i, "in", FIN, "")), "source": "audit", "asset_id": None,
                                "audit_id": o.audit}}, "a problem raised from an audit of another town"),
    _ref(FIN, "oversight.create_problem", "POST", lambda i, o: "/api/v1/problems",
         lambda i, o: {"json": {**_problem(Call(i, "in", FIN, "")), "source": "inspection",
                                "inspection_id": o.inspection}}, "a problem raised from an inspection of another town"),
    _ref(FIN, "lists.create_regulation", "POST", lambda i, o: "/api/v1/regulations",
         lambda i, o: {"json": {"title": "制度", "issuer_code": i.village, "category": "custody",
                                "effective_on": "2025-01-01", "file_id": o.file}}, "a file of another town attached"),
    _ref(FIN, "lists.create_document", "POST", lambda i, o: "/api/v1/archive/documents",
         lambda i, o: {"json": {"asset_id": i.asset, "level": "village", "kind": "handover", "archive_no": "REF-1",
                                "title": "移交书", "filed_on": "2025-01-10", "file_id": o.file}},
         "a file of another town attached"),
    _ref(FIN, "lists.create_regulation", "POST", lambda i, o: "/api/v1/regulations",
         lambda i, o: {"json": {"title": "制度", "issuer_code": i.town, "category": "custody",
                                "effective_on": "2025-01-01", "place_codes": [o.village]}},
         "a town's regulation applied to a village of another town"),
]

# Known holes among the references: (endpoint, caller) → what is wrong.
KNOWN_REFERENCES: dict = {}  # a right's household holder outside the caller's scope: fixed (rights/services.py _check)


def test_references_in_bodies_stay_in_scope(app, f, matrix_env):
    world = f.world()
    sites = {v: build_site(f, world, v) for v in (VILLAGE_A1, VILLAGE_A2, VILLAGE_B1)}
    pages = {}
    failures, known, fixed_holes = [], [], []
    for ref in REFERENCES:
        username, out_village = CALLERS[ref.caller]
        site_in, site_out = sites[VILLAGE_A1], sites[out_village]
        url, kw = ref.url(site_in, site_out), ref.request(site_in, site_out)
        if url.startswith("/api/"):
            r = getattr(world, username).open(ref.method, url, **kw)
        else:
            page = pages.get(username) or pages.setdefault(username, login(app, username))
            r = page.open(url, method=ref.method, **kw)
        body, status = text_of(r), r.status_code
        problem = None
        if status not in REFUSED:
            problem = f"{status}, want 403/404/422"
        elif site_out.marker in body:
            problem = f"{status} but the answer shows objects of {site_out.village}"
        line = f"{ref.caller}: {ref.method} {url} [{ref.endpoint}] with {ref.what} → {problem}"
        key = (ref.endpoint, ref.caller)
        if problem and key in KNOWN_REFERENCES:
            known.append(f"{line}  [KNOWN: {KNOWN_REFERENCES[key]}]")
        elif problem:
            failures.append(line)
        elif key in KNOWN_REFERENCES:
            fixed_holes.append(f"{ref.endpoint} by {ref.caller} is refused now ({status}): remove it from "
                               f"KNOWN_REFERENCES")
    assert not failures + fixed_holes, "\n".join(failures + fixed_holes)
    if known:
        pytest.xfail(f"{len(known)} known holes:\n" + "\n".join(known))
