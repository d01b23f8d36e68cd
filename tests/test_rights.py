"""The five rights: completeness, history, credit codes, household assets, batch, scope, bad input."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.rights import rules
from assetreg.rights.models import FIVE_RIGHTS, AssetRight

from .factories import VILLAGE_A1, credit_code


def url(asset_id, tail=""):
    return f"/api/v1/assets/{asset_id}/rights{tail}"


def org(kind, holder_kind="village_collective", **over):
    data = {"kind": kind, "holder_kind": holder_kind, "holder_name": "桃源村股份经济合作社",
            "credit_code": credit_code(), "basis_document": "青政发〔2021〕3号", "effective_on": "2021-01-01"}
    data.update(over)
    return data


def right_rows(asset_id):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AssetRight).where(AssetRight.asset_id == asset_id)
                                   .order_by(AssetRight.id)))


def log_count(entity):
    return db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry)
                             .where(ChangeLogEntry.entity == entity))


def bad_check_char(code: str) -> str:
    """The same code with its check character replaced by another valid character."""
    return code[:17] + ("1" if code[17] != "1" else "2")


# --- completeness -------------------------------------------------------------------------------

def test_all_five_rights_make_the_asset_complete(world, f, today):
    a = f.asset()
    for kind in FIVE_RIGHTS:
        r = world.fin_a.post(url(a.id), json=org(kind))
        assert r.status_code == 201, r.json
        assert r.json["kind"] == kind and r.json["is_current"] is True
    r = world.vc_a1.get(url(a.id))
    assert r.status_code == 200, r.json
    assert r.json["is_complete"] is True
    assert r.json["missing"] == []
    assert [x["kind"] for x in r.json["current"]] == list(FIVE_RIGHTS)
    assert "history" not in r.json
    assert r.json["notes"] == []
    assert world.vc_a1.get(f"/api/v1/assets/{a.id}").json["is_rights_complete"] is True


def test_four_rights_are_incomplete_and_name_the_missing_one(world, f, today):
    a = f.asset()
    for kind in ["ownership", "operation", "income", "supervision"]:
        assert world.fin_a.post(url(a.id), json=org(kind)).status_code == 201
    # The optional sixth right does not stand in for a missing one of the five.
    assert world.fin_a.post(url(a.id), json=org("distribution")).status_code == 201
    body = world.fin_a.get(url(a.id)).json
    assert body["is_complete"] is False
    assert body["missing"] == ["disposal"]
    assert world.fin_a.get(f"/api/v1/assets/{a.id}").json["is_rights_complete"] is False


# --- history ------------------------------------------------------------------------------------

def test_new_holder_closes_the_old_record_without_overwriting_it(world, f, today):
    a = f.asset()
    first = world.fin_a.post(url(a.id), json=org("operation", holder_name="甲合作社")).json
    before = {k: v for k, v in first.items() if k not in ("ended_on", "superseded_by_id", "is_current")}
    code = credit_code(registry="91")
    r = world.admin.post(url(a.id), json=org("operation", holder_kind="operator", holder_name="乙公司",
                                             credit_code=code, effective_on="2024-03-01"))
    assert r.status_code == 201, r.json
    second = r.json

    rows = right_rows(a.id)
    assert [x.id for x in rows] == [first["id"], second["id"]]
    old, new = rows
    assert old.ended_on == date(2024, 3, 1)
    assert old.superseded_by_id == new.id
    assert new.ended_on is None and new.superseded_by_id is None and new.credit_code == code

    hist = world.fin_a.get(url(a.id, "?history=true")).json
    assert [x["id"] for x in hist["history"]] == [first["id"], second["id"]]
    old_json = hist["history"][0]
    assert {k: v for k, v in old_json.items() if k in before} == before
    assert old_json["ended_on"] == "2024-03-01" and old_json["is_current"] is False
    assert [x["id"] for x in hist["current"]] == [second["id"]]

    actions = db.session.execute(sa.select(ChangeLogEntry.entity_id, ChangeLogEntry.action)
                                 .where(ChangeLogEntry.entity == "asset_right")
                                 .order_by(ChangeLogEntry.id)).all()
    assert actions[-2:] == [(str(old.id), "supersede"), (str(new.id), "create")]


def test_effective_date_before_current_holder_is_refused(world, f, today):
    a = f.asset()
    assert world.fin_a.post(url(a.id), json=org("income", effective_on="2023-05-01")).status_code == 201
    n = len(right_rows(a.id))
    r = world.fin_a.post(url(a.id), json=org("income", effective_on="2023-04-30"))
    assert r.status_code == 422
    assert "effective_on" in r.json["error"]["fields"]
    assert len(right_rows(a.id)) == n
    assert right_rows(a.id)[0].ended_on is None


def test_effective_date_in_the_future_is_refused(world, f, today):
    a = f.asset()
    r = world.fin_a.post(url(a.id), json=org("income", effective_on="2025-07-01"))
    assert r.status_code == 422
    assert "effective_on" in r.json["error"]["fields"]
    assert world.fin_a.post(url(a.id), json=org("income", effective_on="2025-06-30")).status_code == 201


# --- credit codes and holders -------------------------------------------------------------------

def test_credit_code_with_one_wrong_character_is_refused_and_nothing_written(world, f, today):
    a = f.asset()
    logged = log_count("asset_right")
    for holder_kind in ("village_collective", "village_supervision"):  # validated when given, required or not
        r = world.fin_a.post(url(a.id), json=org("ownership", holder_kind=holder_kind,
                                                 credit_code=bad_check_char(credit_code())))
        assert r.status_code == 422, r.json
        assert list(r.json["error"]["fields"]) == ["credit_code"]
    assert right_rows(a.id) == []
    assert log_count("asset_right") == logged


def test_organisation_holder_needs_a_credit_code(world, f, today):
    a = f.asset()
    for holder_kind in ("village_collective", "town_government", "county_department", "operator"):
        r = world.fin_a.post(url(a.id), json=org("ownership", holder_kind=holder_kind, credit_code=None))
        assert r.status_code == 422
        assert "credit_code" in r.json["error"]["fields"]
    r = world.fin_a.post(url(a.id), json=org("supervision", holder_kind="village_supervision", credit_code=None,
                                             holder_name="桃源村村务监督委员会"))
    assert r.status_code == 201, r.json
    assert [x.kind for x in right_rows(a.id)] == ["supervision"]


def test_lowercase_credit_code_is_stored_upper(world, f, today):
    a = f.asset()
    code = credit_code(registry="N2")
    r = world.fin_a.post(url(a.id), json=org("ownership", credit_code=code.lower()))
    assert r.status_code == 201, r.json
    assert r.json["credit_code"] == code


def test_household_holder_defaults_to_the_head_name(world, f, today):
    h = f.household(VILLAGE_A1)
    a = f.asset()
    r = world.fin_a.post(url(a.id), json={"kind": "income", "holder_kind": "household", "household_id": h.id,
                                          "effective_on": "2022-01-01"})
    assert r.status_code == 201, r.json
    assert r.json["holder_name"] == h.head_name and r.json["household_id"] == h.id


@pytest.mark.parametrize("payload, field", [
    ({"household_id": None}, "household_id"),
    ({"household_id": 999999}, "household_id"),
])
def test_household_holder_needs_a_household_of_the_county(world, f, today, payload, field):
    a = f.asset()
    r = world.fin_a.post(url(a.id), json={"kind": "income", "holder_kind": "household",
                                          "effective_on": "2022-01-01", **payload})
    assert r.status_code == 422
    assert field in r.json["error"]["fields"]
    assert right_rows(a.id) == []


def test_household_id_only_for_household_holders_and_name_required(world, f, today):
    h = f.household(VILLAGE_A1)
    a = f.asset()
    r = world.fin_a.post(url(a.id), json=org("income", household_id=h.id))
    assert r.status_code == 422 and "household_id" in r.json["error"]["fields"]
    r = world.fin_a.post(url(a.id), json=org("income", holder_name="   "))
    assert r.status_code == 422 and "holder_name" in r.json["error"]["fields"]
    assert right_rows(a.id) == []


# --- household assets ---------------------------------------------------------------------------

def test_household_asset_gets_all_five_rights_of_the_household(world, f, today):
    h = f.household(VILLAGE_A1)
    a = f.asset(category="household", subtype="牲畜", managing_level="household", household_id=h.id,
                status="in_use")  # the factory default in_operation is for operating assets
    body = world.vc_a1.get(url(a.id)).json
    assert body["is_complete"] is True and body["missing"] == []
    assert {x["kind"] for x in body["current"]} == set(FIVE_RIGHTS)
    assert all(x["holder_kind"] == "household" and x["household_id"] == h.id and x["holder_name"] == h.head_name
               for x in body["current"])
    assert body["notes"] == []
    # P11: a right moved away from the household is a note, not a refusal.
    r = world.fin_a.post(url(a.id), json=org("income", holder_kind="operator", holder_name="某公司",
                                             credit_code=credit_code(registry="91"), effective_on="2025-01-01"))
    assert r.status_code == 201, r.json
    notes = world.fin_a.get(url(a.id)).json["notes"]
    assert [(n["basis"], n["kind"]) for n in notes] == [("P11", "income")]


# --- notes (P04, P06) ---------------------------------------------------------------------------

def test_notes_for_operating_asset_held_away_from_the_village(world, f, today):
    a = f.asset()
    world.fin_a.post(url(a.id), json=org("ownership", holder_kind="county_department", holder_name="县农业农村局"))
    world.fin_a.post(url(a.id), json=org("income", holder_kind="town_government", holder_name="城关镇人民政府"))
    world.fin_a.post(url(a.id), json=org("operation", holder_kind="operator", holder_name="某公司"))
    notes = world.vc_a1.get(url(a.id)).json["notes"]
    assert sorted((n["basis"], n["kind"]) for n in notes) == [
        ("P04", "ownership"), ("P06", "income"), ("P06", "ownership")]
    assert any("下沉乡镇" in n["message"] for n in notes)


@pytest.mark.parametrize("category, holders, household_id, expected", [
    ("operating", {"ownership": "village_collective", "income": "household"}, None, []),
    ("operating", {"ownership": "operator"}, None, [("P06", "ownership")]),
    ("operating", {"operation": "operator"}, None, []),
    ("public_welfare", {"ownership": "town_government"}, None, []),
    ("public_welfare", {"disposal": "county_department"}, None, [("P04", "disposal")]),
    ("operating", {"income": "county_department"}, None, [("P06", "income"), ("P04", "income")]),
    ("household", {"ownership": "household"}, 7, []),
    ("household", {"ownership": "village_collective"}, 7, [("P11", "ownership")]),
])
def test_rights_notes_table(category, holders, household_id, expected):
    current = [SimpleNamespace(kind=k, holder_kind=v, household_id=household_id if v == "household" else None)
               for k, v in holders.items()]
    notes = rules.rights_notes(category=category, household_id=household_id, current=current)
    assert [(n.basis, n.kind) for n in notes] == expected


def test_household_note_when_another_household_holds():
    current = [SimpleNamespace(kind="income", holder_kind="household", household_id=8)]
    notes = rules.rights_notes(category="household", household_id=7, current=current)
    assert [n.basis for n in notes] == ["P11"]


@pytest.mark.parametrize("kinds, missing", [
    ([], list(FIVE_RIGHTS)),
    (list(FIVE_RIGHTS), []),
    (["ownership", "income", "distribution"], ["operation", "disposal", "supervision"]),
    (["supervision", "disposal", "income", "operation"], ["ownership"]),
])
def test_missing_rights_table(kinds, missing):
    assert rules.missing_rights(kinds) == missing
    assert rules.is_complete(kinds) is (missing == [])


def test_credit_code_rule_table():
    good = credit_code()
    assert rules.credit_code_error("operator", good) is None
    assert rules.credit_code_error("operator", None)
    assert rules.credit_code_error("household", None) is None
    assert rules.credit_code_error("household", bad_check_char(good))
    assert rules.credit_code_error("other", good[:17])


# --- batch --------------------------------------------------------------------------------------

def test_batch_confirms_all_five_at_once(world, f, today):
    a = f.asset()
    world.fin_a.post(url(a.id), json=org("ownership", effective_on="2020-01-01"))
    r = world.fin_a.post(url(a.id, "/batch"), json={"rights": [org(k, effective_on="2024-01-01") for k in FIVE_RIGHTS]})
    assert r.status_code == 201, r.json
    assert [x["kind"] for x in r.json] == list(FIVE_RIGHTS)
    body = world.fin_a.get(url(a.id, "?history=true")).json
    assert body["is_complete"] is True
    assert len(body["history"]) == 6
    old = right_rows(a.id)[0]
    assert old.ended_on == date(2024, 1, 1) and old.superseded_by_id == r.json[0]["id"]


def test_batch_accepts_a_bare_list(world, f, today):
    a = f.asset()
    r = world.fin_a.post(url(a.id, "/batch"), json=[org("ownership"), org("income")])
    assert r.status_code == 201, r.json
    assert len(right_rows(a.id)) == 2


def test_batch_is_all_or_nothing(world, f, today):
    a = f.asset()
    world.fin_a.post(url(a.id), json=org("ownership", effective_on="2020-01-01"))
    logged = log_count("asset_right")
    records = [org(k, effective_on="2024-01-01") for k in FIVE_RIGHTS]
    records[3]["credit_code"] = bad_check_char(records[3]["credit_code"])
    r = world.fin_a.post(url(a.id, "/batch"), json={"rights": records})
    assert r.status_code == 422
    assert r.json["error"]["fields"] == {"rights": {"3": {"credit_code": [r.json["error"]["fields"]["rights"]["3"]
                                                                          ["credit_code"][0]]}}}
    rows = right_rows(a.id)
    assert len(rows) == 1 and rows[0].ended_on is None and rows[0].superseded_by_id is None
    assert log_count("asset_right") == logged


def test_batch_refuses_a_kind_twice_and_empty_lists(world, f, today):
    a = f.asset()
    r = world.fin_a.post(url(a.id, "/batch"), json={"rights": [org("income"), org("income")]})
    assert r.status_code == 422 and "rights" in r.json["error"]["fields"]
    r = world.fin_a.post(url(a.id, "/batch"), json={"rights": []})
    assert r.status_code == 422
    assert right_rows(a.id) == []


# --- scope --------------------------------------------------------------------------------------

def test_scope_of_reads_and_writes(world, f, today):
    a = f.asset()  # in village A1, town A
    assert world.vc_b1.get(url(a.id)).status_code == 404
    assert world.vc_a2.get(url(a.id)).status_code == 404
    assert world.vc_a1.get(url(a.id)).status_code == 200
    assert world.auditor_a.get(url(a.id)).status_code == 200
    for client in (world.fin_b, world.auditor, world.vc_a1):
        assert client.post(url(a.id), json=org("ownership")).status_code == 403
        assert client.post(url(a.id, "/batch"), json=[org("ownership")]).status_code == 403
    assert world.fin_a.post(url(999999), json=org("ownership")).status_code == 404
    assert world.fin_a.get(url(999999)).status_code == 404
    assert right_rows(a.id) == []


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [
    {"kind": "ownership"},
    {**org("ownership"), "kind": "fishing"},
    {**org("ownership"), "holder_kind": 3},
    {**org("ownership"), "holder_name": "名" * 201},
    {**org("ownership"), "holder_name": "名" * 100000},
    {**org("ownership"), "credit_code": "X" * 19},
    {**org("ownership"), "basis_document": ["a"]},
    {**org("ownership"), "effective_on": "2024-02-30"},
    {**org("ownership"), "effective_on": "9" * 500},
    {**org("ownership"), "household_id": "1"},
    {**org("ownership"), "household_id": 2**40},
    {**org("ownership"), "is_current": False},
    {**org("ownership"), "ended_on": "2020-01-01"},
    [1, 2],
    "text",
    None,
])
def test_bad_input_is_refused_never_500(world, f, today, payload):
    a = f.asset()
    r = world.fin_a.post(url(a.id), json=payload)
    assert 400 <= r.status_code < 500, r.json
    assert "error" in r.json
    r = world.fin_a.post(url(a.id, "/batch"), json={"rights": [payload]})
    assert 400 <= r.status_code < 500, r.json
    assert right_rows(a.id) == []


def test_malformed_json_and_bad_query(world, f, today):
    a = f.asset()
    for tail in ("", "/batch"):
        r = world.fin_a.post(url(a.id, tail), data='{"kind": "own', headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert r.json["error"]["code"] == "bad_request"
    assert world.fin_a.post(url(a.id, "/batch"), json={"rights": [org("income")], "extra": 1}).status_code == 422
    assert world.fin_a.post(url(a.id, "/batch"), json={"rights": "x"}).status_code == 422
    assert world.fin_a.get(url(a.id, "?history=maybe")).status_code == 422
    assert right_rows(a.id) == []
