"""The county's flags kept per version of its data (flags/engine.py ``evaluate_kept``, core/datacache.py):
the kept list is the fresh evaluation, a service write in the county makes the next read evaluate again, a
write in another county does not, each scope gets exactly its own flags, and DATA_CACHE_SECONDS=0 keeps
nothing. The home's figures are kept the same way."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from flask import current_app

from assetreg.core import datacache
from assetreg.core.chained import county_version
from assetreg.custody.services import record_custody
from assetreg.extensions import db
from assetreg.flags import engine
from assetreg.flags import services as flag_services
from assetreg.home import services as home

from .factories import COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .test_flags_rules import give_rights, make_asset, post_income

OTHER = "439902"
OTHER_TOWN, OTHER_VILLAGE = OTHER + "100", OTHER + "100201"
CUSTODY = dict(custodian_unit="桃源村村民委员会", responsible_person="李四", annual_fund=Decimal("12000.00"),
               fund_source="村集体收益", term_from=date(2020, 1, 1), term_to=date(2030, 12, 31))


@pytest.fixture
def counted(monkeypatch):
    """How many times the rules were evaluated."""
    calls = {"n": 0}
    real = engine.evaluate_context

    def counting(ctx, **kw):
        calls["n"] += 1
        return real(ctx, **kw)

    monkeypatch.setattr(engine, "evaluate_context", counting)
    return calls


@pytest.fixture
def roads(f, world, today):
    """Roads without custody in A1, A2 and B1 (CUSTODY_MISSING), a county-held workshop in A1."""
    out = {v: make_asset(f, [("in_use", date(2020, 3, 1))], category="public_welfare", place=v,
                         name=f"{v[-3:]}号道路") for v in (VILLAGE_A1, VILLAGE_A2, VILLAGE_B1)}
    shop = make_asset(f, [("in_operation", date(2020, 3, 1))], subtype="扶贫车间", place=VILLAGE_A1)
    give_rights(shop, holder_kind="county_department")
    return out


@pytest.fixture
def other_county(f, today):
    """A second county with one road without custody, and its admin."""
    f.place(OTHER, "临水县", "county")
    f.place(OTHER_TOWN, "临水镇", "town", OTHER)
    f.place(OTHER_VILLAGE, "临水村", "village", OTHER_TOWN)
    admin, _ = f.user("admin_other", "county_admin", OTHER)
    road = f.asset(actor=admin, category="public_welfare", subtype="道路", place_code=OTHER_VILLAGE, status="in_use",
                   status_on=date(2020, 3, 1), completed_on=date(2019, 12, 1), managing_level="village",
                   name="临水道路")
    return admin, road


def identities(flags) -> list[tuple]:
    return [fl.identity() + (fl.asset_code, fl.place_name) for fl in flags]


def test_kept_flags_equal_a_fresh_evaluation_in_every_scope(world, roads, counted):
    for scope in (COUNTY, TOWN_A, TOWN_B, VILLAGE_A1, VILLAGE_A2, VILLAGE_B1):
        fresh = engine.evaluate(scope, date(2025, 6, 30))
        _, kept = engine.evaluate_kept(scope, date(2025, 6, 30))
        assert identities(kept) == identities(fresh), scope
        assert fresh, scope
    # six scopes, six fresh evaluations, and the county's once for all the kept reads
    assert counted["n"] == 6 + 1
    _, again = engine.evaluate_kept(COUNTY, date(2025, 6, 30))
    assert counted["n"] == 7 and identities(again) == identities(engine.evaluate(COUNTY, date(2025, 6, 30)))
    # another day is another evaluation
    engine.evaluate_kept(COUNTY, date(2025, 6, 29))
    assert counted["n"] == 9


def test_rule_filter_of_a_kept_evaluation(world, roads, counted):
    _, every = engine.evaluate_kept(TOWN_A, date(2025, 6, 30))
    _, custody = engine.evaluate_kept(TOWN_A, date(2025, 6, 30), rule_ids=["CUSTODY_MISSING"])
    assert counted["n"] == 1
    assert {fl.key for fl in custody} == {f"asset:{roads[v].id}" for v in (VILLAGE_A1, VILLAGE_A2)}
    assert [fl for fl in every if fl.rule_id == "CUSTODY_MISSING"] == custody


def test_a_town_officer_never_sees_another_towns_flag(world, roads, counted):
    admin = world.users["admin"]
    county = {fl.key for fl in flag_services.flags_for(admin)[1]}
    assert f"asset:{roads[VILLAGE_B1].id}" in county  # the county's evaluation, kept, holds town B's road
    _, town_a = flag_services.flags_for(world.users["fin_a"])
    _, village = flag_services.flags_for(world.users["vc_a1"])
    assert counted["n"] == 1  # the three read one evaluation
    assert town_a and all(fl.town_code == TOWN_A for fl in town_a)
    assert f"asset:{roads[VILLAGE_B1].id}" not in {fl.key for fl in town_a}
    assert village and all(fl.village_code == VILLAGE_A1 for fl in village)
    assert not [fl for fl in village if fl.rule_id == "INSPECTION_MISSING"]  # a town's flag, not a village's
    r = world.fin_b.get("/api/v1/flags?per_page=500")
    assert r.status_code == 200 and r.json["items"]
    assert {i["town_code"] for i in r.json["items"]} == {TOWN_B}
    assert counted["n"] == 1


def test_a_write_in_the_county_reevaluates(world, roads, counted):
    admin = world.users["admin"]
    before = county_version(COUNTY)
    keys = {fl.key for fl in flag_services.flags_for(admin, rule="CUSTODY_MISSING")[1]}
    assert f"asset:{roads[VILLAGE_A1].id}" in keys and counted["n"] == 1
    flag_services.flags_for(admin, rule="CUSTODY_MISSING")
    assert counted["n"] == 1

    record_custody(admin, roads[VILLAGE_A1].id, dict(CUSTODY))
    db.session.commit()
    assert county_version(COUNTY) != before
    keys = {fl.key for fl in flag_services.flags_for(admin, rule="CUSTODY_MISSING")[1]}
    assert counted["n"] == 2 and f"asset:{roads[VILLAGE_A1].id}" not in keys
    assert keys == {f"asset:{roads[v].id}" for v in (VILLAGE_A2, VILLAGE_B1)}
    # the new evaluation replaced the old one: one entry of the county's flags for the day, not one per version
    stored = [k for k in datacache.cache.cache._cache if f"flags:{COUNTY}:" in k]
    assert len(stored) == 1


def test_a_write_in_another_county_changes_nothing_kept(world, roads, other_county, counted):
    other_admin, other_road = other_county
    flag_services.flags_for(world.users["admin"])
    assert counted["n"] == 1
    mine, theirs = county_version(COUNTY), county_version(OTHER)
    record_custody(other_admin, other_road.id, dict(CUSTODY))
    db.session.commit()
    assert county_version(OTHER) != theirs and county_version(COUNTY) == mine
    flag_services.flags_for(world.users["admin"])
    assert counted["n"] == 1


def test_a_transaction_that_wrote_keeps_nothing(world, roads, counted):
    admin = world.users["admin"]
    record_custody(admin, roads[VILLAGE_A1].id, dict(CUSTODY))  # not committed yet
    keys = {fl.key for fl in flag_services.flags_for(admin, rule="CUSTODY_MISSING")[1]}
    assert f"asset:{roads[VILLAGE_A1].id}" not in keys
    db.session.rollback()
    keys = {fl.key for fl in flag_services.flags_for(admin, rule="CUSTODY_MISSING")[1]}
    assert f"asset:{roads[VILLAGE_A1].id}" in keys  # the rolled-back write was never kept
    assert counted["n"] == 2


def test_zero_seconds_keeps_nothing(world, roads, counted, monkeypatch):
    monkeypatch.setitem(current_app.config, "DATA_CACHE_SECONDS", 0)
    flag_services.flags_for(world.users["admin"])
    flag_services.flags_for(world.users["admin"])
    assert counted["n"] == 2
    calls = {"n": 0}
    assert datacache.kept("x", COUNTY, (), lambda: calls.__setitem__("n", calls["n"] + 1) or 5) == 5
    assert datacache.kept("x", COUNTY, (), lambda: calls.__setitem__("n", calls["n"] + 1) or 5) == 5
    assert calls["n"] == 2


def test_kept_values_are_copies(world, roads):
    """A reader marking its flags (acknowledgements) never changes what the next reader gets."""
    _, first = engine.evaluate_kept(COUNTY, date(2025, 6, 30))
    for fl in first:
        fl.acknowledged = True
    _, second = engine.evaluate_kept(COUNTY, date(2025, 6, 30))
    assert second and not any(fl.acknowledged for fl in second)


def test_home_figures_kept_until_a_write(world, roads, monkeypatch):
    admin = world.users["admin"]
    calls = {"n": 0}
    real = home.scope_figures

    def counting(user):
        calls["n"] += 1
        return real(user)

    monkeypatch.setattr(home, "scope_figures", counting)
    first = home.build(admin)
    assert home.build(admin) == first and calls["n"] == 1
    assert first["custody_missing"] == 3
    town = home.build(world.users["fin_a"])  # another scope, its own figures
    assert calls["n"] == 2 and town["custody_missing"] == 2
    record_custody(admin, roads[VILLAGE_A1].id, dict(CUSTODY))
    db.session.commit()
    assert home.build(admin)["custody_missing"] == 2 and calls["n"] == 3


def test_the_chain_heads_alone_tell_a_logged_write(world, roads, counted, monkeypatch):
    """Another server process never sees this one's flushes (SimpleCache): the chain heads, moved by the
    write's change-log row, are what tell it."""
    monkeypatch.setattr(datacache, "_renew_marks", lambda counties: None)
    admin = world.users["admin"]
    flag_services.flags_for(admin)
    flag_services.flags_for(admin)
    assert counted["n"] == 1
    record_custody(admin, roads[VILLAGE_A1].id, dict(CUSTODY))
    db.session.commit()
    keys = {fl.key for fl in flag_services.flags_for(admin, rule="CUSTODY_MISSING")[1]}
    assert counted["n"] == 2 and f"asset:{roads[VILLAGE_A1].id}" not in keys


def test_the_ledger_pass_is_kept_until_the_ledger_moves(world, roads, f, counted, monkeypatch):
    """NO_INCOME's ledger pass (rules.ledger) is versioned by the ledger's chain alone: a custody record
    re-evaluates the rules but not the pass; an income entry does."""
    from assetreg.flags import rules

    passes = {"n": 0}
    real = rules._ledger_pass

    def counting(ctx):
        passes["n"] += 1
        return real(ctx)

    monkeypatch.setattr(rules, "_ledger_pass", counting)
    shop = make_asset(f, [("in_operation", date(2020, 3, 1))], subtype="扶贫车间", place=VILLAGE_A2)
    admin = world.users["admin"]
    assert f"asset:{shop.id}" in {fl.key for fl in flag_services.flags_for(admin, rule="NO_INCOME")[1]}
    assert (counted["n"], passes["n"]) == (1, 1)
    record_custody(admin, roads[VILLAGE_A1].id, dict(CUSTODY))
    db.session.commit()
    assert f"asset:{shop.id}" in {fl.key for fl in flag_services.flags_for(admin, rule="NO_INCOME")[1]}
    assert (counted["n"], passes["n"]) == (2, 1)
    post_income(shop, "3000.00", date(2025, 5, 10))
    assert f"asset:{shop.id}" not in {fl.key for fl in flag_services.flags_for(admin, rule="NO_INCOME")[1]}
    assert (counted["n"], passes["n"]) == (3, 2)
