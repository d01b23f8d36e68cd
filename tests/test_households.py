"""Households API: validation of personal data, scope, masking, optimistic locking, query count."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.households.models import Household, HouseholdMember

from .factories import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, id_number

URL = "/api/v1/households"
HEAD_ID = "11010519491231002X"  # a real-format example whose check character is X
SPOUSE_ID = id_number(901, date(1972, 3, 8))
CHILD_ID = id_number(902, date(2001, 11, 23))
CARD = "6228480012345678901"
MOBILE = "13812345678"


def payload(**over) -> dict:
    data = {
        "village_code": VILLAGE_A1,
        "number": "431299100201-0001",
        "head_name": "张三",
        "head_id_number": HEAD_ID,
        "phone": MOBILE,
        "status": "formerly_poor",
        "bank_card": CARD,
        "members": [
            {"name": "张三", "relation": "户主", "id_number": HEAD_ID, "labour": "full"},
            {"name": "李四", "relation": "配偶", "id_number": SPOUSE_ID, "labour": "half"},
            {"name": "张小", "relation": "子女", "id_number": CHILD_ID, "labour": "none"},
        ],
    }
    data.update(over)
    return data


def bad_check(valid: str) -> str:
    """The same ID number with a wrong check character."""
    return valid[:17] + ("1" if valid[17] != "1" else "2")


def counts() -> tuple[int, int, int]:
    return (db.session.scalar(sa.select(sa.func.count(Household.id))),
            db.session.scalar(sa.select(sa.func.count(HouseholdMember.id))),
            db.session.scalar(sa.select(sa.func.count(ChangeLogEntry.id))))


def log_entries() -> list[ChangeLogEntry]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "household")
                                   .order_by(ChangeLogEntry.id)))


# --- happy path --------------------------------------------------------------------------------

def test_create_get_list_patch(world, today):
    r = world.vc_a1.post(URL, json=payload())
    assert r.status_code == 201, r.json
    h = r.json
    assert h["village_code"] == VILLAGE_A1 and h["town_code"] == VILLAGE_A1[:9] and h["county_code"] == "431299"
    assert h["status"] == "formerly_poor" and h["status_label"] == "脱贫户"
    assert h["monitor_type"] is None and h["monitor_type_label"] is None
    assert h["member_count"] == 3 and [m["relation"] for m in h["members"]] == ["户主", "配偶", "子女"]
    assert h["members"][1]["labour_label"] == "半劳动力"
    assert h["version"] == 1 and r.headers["ETag"] == '"1"'

    r = world.vc_a1.get(f"{URL}/{h['id']}")
    assert r.status_code == 200 and r.json["number"] == "431299100201-0001"

    r = world.vc_a1.get(URL)
    assert r.status_code == 200
    assert r.json["total"] == 1 and r.json["page"] == 1 and r.json["per_page"] == 50
    assert [x["id"] for x in r.json["items"]] == [h["id"]]

    r = world.vc_a1.patch(f"{URL}/{h['id']}", json={
        "version": 1, "status": "monitored", "monitor_type": "marginal", "phone": "0743-8221234",
        "members": payload()["members"][:2]})
    assert r.status_code == 200, r.json
    assert r.json["status_label"] == "监测户" and r.json["monitor_type_label"] == "边缘易致贫户"
    assert r.json["member_count"] == 2 and r.json["version"] == 2 and r.headers["ETag"] == '"2"'
    db.session.expire_all()
    stored = db.session.get(Household, h["id"])
    assert stored.phone == "0743-8221234" and len(stored.members) == 2 and stored.version == 2

    entries = log_entries()
    assert [(e.action, e.entity_id) for e in entries] == [("create", str(h["id"])), ("update", str(h["id"]))]
    assert entries[1].before["status"] == "formerly_poor" and entries[1].after["status"] == "monitored"


def test_list_filters(world, f):
    a1 = f.household(VILLAGE_A1, head_name="王五")
    a2 = f.household(VILLAGE_A2, status="monitored", monitor_type="unstable")
    b1 = f.household(VILLAGE_B1)
    ids = lambda r: sorted(x["id"] for x in r.json["items"])  # noqa: E731
    assert ids(world.admin.get(URL)) == sorted([a1.id, a2.id, b1.id])
    assert ids(world.admin.get(URL, query_string={"village_code": VILLAGE_A2})) == [a2.id]
    assert ids(world.admin.get(URL, query_string={"town_code": VILLAGE_B1[:9]})) == [b1.id]
    assert ids(world.admin.get(URL, query_string={"status": "monitored"})) == [a2.id]
    assert ids(world.admin.get(URL, query_string={"monitor_type": "unstable"})) == [a2.id]
    assert ids(world.admin.get(URL, query_string={"q": "王五"})) == [a1.id]
    assert ids(world.admin.get(URL, query_string={"q": b1.number[-6:]})) == [b1.id]
    assert ids(world.admin.get(URL, query_string={"q": "%"})) == []  # LIKE wildcards are literal
    assert ids(world.fin_a.get(URL)) == sorted([a1.id, a2.id])
    r = world.admin.get(URL, query_string={"per_page": 2, "page": 2})
    assert r.json["total"] == 3 and len(r.json["items"]) == 1


def test_lowercase_x_and_spaced_card_are_normalised(world):
    body = payload(head_id_number=HEAD_ID.lower(), bank_card="6228 4800 1234 5678 901")
    body["members"][0]["id_number"] = HEAD_ID.lower()
    r = world.admin.post(URL, json=body)
    assert r.status_code == 201, r.json
    stored = db.session.get(Household, r.json["id"])
    assert stored.head_id_number == HEAD_ID and stored.members[0].id_number == HEAD_ID
    assert stored.bank_card == CARD


def test_blank_optional_fields_mean_none(world):
    body = payload(phone="", bank_card="", monitor_type="")
    body["members"][1]["id_number"] = ""
    r = world.admin.post(URL, json=body)
    assert r.status_code == 201, r.json
    assert r.json["phone"] is None and r.json["bank_card"] is None and r.json["members"][1]["id_number"] is None


# --- validation: 422 naming the field, nothing written -----------------------------------------

def test_bad_head_id_check_digit(world):
    before = counts()
    body = payload(head_id_number=bad_check(HEAD_ID))
    body["members"][0]["id_number"] = bad_check(HEAD_ID)
    r = world.vc_a1.post(URL, json=body)
    assert r.status_code == 422
    assert r.json["error"]["code"] == "rule_violation"
    assert "head_id_number" in r.json["error"]["fields"]
    assert counts() == before


def test_bad_member_id_names_the_member(world):
    before = counts()
    body = payload()
    body["members"][2]["id_number"] = bad_check(CHILD_ID)
    r = world.vc_a1.post(URL, json=body)
    assert r.status_code == 422
    assert list(r.json["error"]["fields"]) == ["members.2.id_number"]
    assert counts() == before


@pytest.mark.parametrize("bad", ["11010519491331002X", "1101051949123100", "11010519491231002XX"[:17] + "Y"])
def test_bad_id_formats(world, bad):
    r = world.vc_a1.post(URL, json=payload(head_id_number=bad))
    assert r.status_code == 422
    assert "head_id_number" in r.json["error"]["fields"]


def test_duplicate_member_id(world):
    body = payload()
    body["members"][2]["id_number"] = SPOUSE_ID
    r = world.vc_a1.post(URL, json=body)
    assert r.status_code == 422 and "members.2.id_number" in r.json["error"]["fields"]


@pytest.mark.parametrize("members, field", [
    ([{"name": "张三", "relation": "配偶", "labour": "full"}], "members"),
    ([{"name": "张三", "relation": "户主", "labour": "full"},
      {"name": "张四", "relation": "户主", "labour": "full"}], "members"),
    ([{"name": "张三", "relation": "户主", "id_number": SPOUSE_ID, "labour": "full"}], "members.0.id_number"),
])
def test_exactly_one_head_matching_the_head_id(world, members, field):
    before = counts()
    r = world.vc_a1.post(URL, json=payload(members=members))
    assert r.status_code == 422 and field in r.json["error"]["fields"]
    assert counts() == before


@pytest.mark.parametrize("over, field", [
    ({"status": "monitored"}, "monitor_type"),
    ({"status": "ordinary", "monitor_type": "unstable"}, "monitor_type"),
    ({"status": "ordinary", "is_risk_cleared": True}, "is_risk_cleared"),
    ({"status": "monitored", "monitor_type": "unstable", "is_risk_cleared": True}, "risk_cleared_on"),
    ({"status": "monitored", "monitor_type": "unstable", "risk_cleared_on": "2025-01-01"}, "risk_cleared_on"),
    ({"status": "monitored", "monitor_type": "unstable", "is_risk_cleared": True,
      "risk_cleared_on": "2025-07-01"}, "risk_cleared_on"),  # in the future
    ({"phone": "1381234567"}, "phone"),
    ({"phone": "23812345678"}, "phone"),
    ({"phone": "+86 13812345678"}, "phone"),
    ({"bank_card": "12345678901"}, "bank_card"),
    ({"bank_card": "62284800123456789012"}, "bank_card"),
    ({"bank_card": "6228-4800-1234-5678"}, "bank_card"),
    ({"village_code": VILLAGE_A1[:9]}, "village_code"),   # a town, not a village
    ({"village_code": "110105001001"}, "village_code"),   # not in this county
    ({"number": "   "}, "number"),
    ({"head_name": " "}, "head_name"),
    ({"head_id_number": "1101051949123100\uff12X"}, "head_id_number"),   # full-width digit
    ({"phone": "1381234567\uff18"}, "phone"),
    ({"bank_card": "\uff16228480012345678901"}, "bank_card"),
    ({"members": [{"name": " ", "relation": "户主", "labour": "full"}]}, "members.0.name"),
])
def test_rules_refused_with_field(world, today, over, field):
    before = counts()
    r = world.admin.post(URL, json=payload(**over))
    assert r.status_code == 422, r.json
    assert field in r.json["error"]["fields"], r.json
    assert counts() == before


def test_monitored_household_with_cleared_risk(world, today):
    r = world.admin.post(URL, json=payload(status="monitored", monitor_type="sudden_hardship",
                                           is_risk_cleared=True, risk_cleared_on="2025-03-01"))
    assert r.status_code == 201, r.json
    assert r.json["is_risk_cleared"] is True and r.json["risk_cleared_on"] == "2025-03-01"
    # leaving monitoring clears its details
    r = world.admin.patch(f"{URL}/{r.json['id']}", json={"status": "ordinary"})
    assert r.status_code == 200, r.json
    assert r.json["monitor_type"] is None and r.json["is_risk_cleared"] is False and r.json["risk_cleared_on"] is None


def test_withdrawn_village_refused(world, f):
    f.place("431299100203", "旧村", "village", world.town_a)
    r = world.admin.post("/api/v1/places/431299100203/withdraw",
                         json={"successor_code": VILLAGE_A1, "effective_on": "2024-01-01"})
    assert r.status_code == 200, r.json
    r = world.admin.post(URL, json=payload(village_code="431299100203"))
    assert r.status_code == 422 and "village_code" in r.json["error"]["fields"]


def test_duplicate_number_in_county(world, f):
    existing = f.household(VILLAGE_B1)
    before = counts()
    r = world.vc_a1.post(URL, json=payload(number=existing.number))
    assert r.status_code == 409
    assert r.json["error"]["code"] == "duplicate_number" and "number" in r.json["error"]["fields"]
    assert counts() == before
    # and on PATCH
    mine = f.household(VILLAGE_A1)
    r = world.vc_a1.patch(f"{URL}/{mine.id}", json={"number": existing.number})
    assert r.status_code == 409 and "number" in r.json["error"]["fields"]


# --- personal data -----------------------------------------------------------------------------

def test_masked_for_village_committee_full_for_auditor(world):
    hid = world.vc_a1.post(URL, json=payload()).json["id"]
    for client in (world.vc_a1, world.fin_a, world.admin):
        body = client.get(f"{URL}/{hid}").json
        assert body["head_id_number"] == "110105********002X"
        assert body["members"][1]["id_number"] == SPOUSE_ID[:6] + "********" + SPOUSE_ID[-4:]
        assert body["bank_card"] == "*" * 15 + "8901"
        assert body["phone"] == "138****5678"
        assert body["is_masked"] is True
        listed = client.get(URL).json["items"][0]
        assert listed["head_id_number"] == "110105********002X"
        assert listed["members"][0]["id_number"] == "110105********002X"
    for client in (world.auditor, world.auditor_a):
        body = client.get(f"{URL}/{hid}").json
        assert body["head_id_number"] == HEAD_ID and body["bank_card"] == CARD and body["phone"] == MOBILE
        assert [m["id_number"] for m in body["members"]] == [HEAD_ID, SPOUSE_ID, CHILD_ID]
        assert body["is_masked"] is False
        assert client.get(URL).json["items"][0]["head_id_number"] == HEAD_ID


def test_write_responses_are_masked_too(world):
    r = world.vc_a1.post(URL, json=payload())
    assert HEAD_ID not in r.get_data(as_text=True) and CARD not in r.get_data(as_text=True)
    r = world.vc_a1.patch(f"{URL}/{r.json['id']}", json={"head_name": "张三丰"})
    assert r.status_code == 200 and HEAD_ID not in r.get_data(as_text=True)


def test_change_log_holds_no_full_numbers(world):
    hid = world.vc_a1.post(URL, json=payload()).json["id"]
    new_head = id_number(903, date(1949, 12, 31))
    members = payload()["members"]
    members[0]["id_number"] = new_head
    r = world.vc_a1.patch(f"{URL}/{hid}", json={"head_id_number": new_head, "members": members,
                                                "bank_card": "6222020200112233", "phone": "13900001111"})
    assert r.status_code == 200, r.json
    entries = log_entries()
    assert len(entries) == 2
    text = json.dumps([[e.before, e.after] for e in entries], ensure_ascii=False)
    for secret in (HEAD_ID, SPOUSE_ID, CHILD_ID, new_head, CARD, "6222020200112233", MOBILE, "13900001111"):
        assert secret not in text
    assert entries[1].after["head_id_number"] == new_head[:6] + "********" + new_head[-4:]
    # the county admin reads the log through the API and sees only masked numbers as well
    r = world.admin.get("/api/v1/changes", query_string={"entity": "household"})
    assert r.status_code == 200, r.json
    assert len(r.json["items"]) == 2 and HEAD_ID not in r.get_data(as_text=True)


# --- scope and roles ---------------------------------------------------------------------------

def test_village_user_cannot_reach_another_village(world, f):
    b1 = f.household(VILLAGE_B1)
    before = counts()
    assert world.vc_a1.get(f"{URL}/{b1.id}").status_code == 404
    assert world.fin_a.get(f"{URL}/{b1.id}").status_code == 404
    assert world.auditor_a.get(f"{URL}/{b1.id}").status_code == 404
    assert world.vc_a1.get(URL).json["total"] == 0
    r = world.vc_a1.patch(f"{URL}/{b1.id}", json={"head_name": "改名"})
    assert r.status_code == 403 and r.json["error"]["code"] == "out_of_scope"
    r = world.vc_a1.post(URL, json=payload(village_code=VILLAGE_B1))
    assert r.status_code == 403
    r = world.vc_a1.post(URL, json=payload(village_code=VILLAGE_A2))  # a sibling village
    assert r.status_code == 403
    assert counts() == before
    db.session.expire_all()
    assert db.session.get(Household, b1.id).head_name == b1.head_name
    assert world.vc_a1.patch(f"{URL}/999999", json={"head_name": "x"}).status_code == 404


def test_auditor_never_writes(world, f):
    a1 = f.household(VILLAGE_A1)
    before = counts()
    r = world.auditor.post(URL, json=payload())
    assert r.status_code == 403 and r.json["error"]["code"] == "role_forbidden"
    assert world.auditor.patch(f"{URL}/{a1.id}", json={"head_name": "改名"}).status_code == 403
    assert world.auditor_a.post(URL, json=payload(head_id_number="bad")).status_code == 403
    assert counts() == before


def test_move_household_needs_new_village_in_scope(world, f):
    h = f.household(VILLAGE_A1)
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"village_code": VILLAGE_A2})
    assert r.status_code == 403
    r = world.fin_a.patch(f"{URL}/{h.id}", json={"village_code": VILLAGE_B1})
    assert r.status_code == 403
    r = world.fin_a.patch(f"{URL}/{h.id}", json={"village_code": VILLAGE_A2})
    assert r.status_code == 200, r.json
    assert r.json["village_code"] == VILLAGE_A2 and r.json["town_code"] == VILLAGE_A2[:9]
    assert world.vc_a1.get(f"{URL}/{h.id}").status_code == 404
    assert world.vc_a2.get(f"{URL}/{h.id}").status_code == 200


def test_household_assets_follow_a_moved_household(world, f):
    from assetreg.assets.models import Asset

    h = f.household(VILLAGE_A1)
    r = world.admin.post("/api/v1/assets", json={
        "code": "HH-0001", "name": "能繁母牛", "category": "household", "subtype": _household_subtype(),
        "place_code": VILLAGE_A1, "managing_level": "household", "household_id": h.id,
        "original_value": "8000.00", "fundings": [{"source": "fiscal_link", "amount": "8000.00"}]})
    assert r.status_code == 201, r.json
    asset = r.json["id"]
    r = world.admin.patch(f"{URL}/{h.id}", json={"village_code": VILLAGE_B1})
    assert r.status_code == 200, r.json
    db.session.expire_all()
    moved = db.session.get(Asset, asset)
    assert (moved.village_code, moved.town_code, moved.place_code) == (VILLAGE_B1, VILLAGE_B1[:9], VILLAGE_B1)
    assert db.session.scalar(sa.select(sa.func.count(ChangeLogEntry.id)).where(
        ChangeLogEntry.entity == "asset", ChangeLogEntry.action == "move_with_household")) == 1


def _household_subtype() -> str:
    from assetreg.assets.models import SUBTYPES

    return SUBTYPES["household"][0]


# --- optimistic locking ------------------------------------------------------------------------

def test_second_patch_with_same_version_conflicts(world, f):
    h = f.household(VILLAGE_A1)
    r1 = world.vc_a1.patch(f"{URL}/{h.id}", json={"version": 1, "head_name": "甲"})
    assert r1.status_code == 200 and r1.json["version"] == 2
    r2 = world.vc_a1.patch(f"{URL}/{h.id}", json={"version": 1, "head_name": "乙"})
    assert r2.status_code == 409 and r2.json["error"]["code"] == "version_conflict"
    db.session.expire_all()
    assert db.session.get(Household, h.id).head_name == "甲"


def test_if_match_header(world, f):
    h = f.household(VILLAGE_A1)
    assert world.vc_a1.patch(f"{URL}/{h.id}", json={"head_name": "甲"}, headers={"If-Match": '"1"'}).status_code == 200
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"head_name": "乙"}, headers={"If-Match": '"1"'})
    assert r.status_code == 409
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"head_name": "乙"}, headers={"If-Match": "abc"})
    assert r.status_code == 422


def test_members_only_patch_moves_the_version(world, f):
    h = f.household(VILLAGE_A1)
    members = [{"name": h.head_name, "relation": "户主", "id_number": h.head_id_number, "labour": "weak"}]
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"version": 1, "members": members})
    assert r.status_code == 200 and r.json["version"] == 2 and r.json["members"][0]["labour"] == "weak"
    members[0]["labour"] = "none"
    assert world.vc_a1.patch(f"{URL}/{h.id}", json={"version": 1, "members": members}).status_code == 409


def test_noop_patch_keeps_version_and_log(world, f):
    h = f.household(VILLAGE_A1)
    before = counts()
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"head_name": h.head_name})
    assert r.status_code == 200 and r.json["version"] == 1
    assert counts() == before


def test_patch_validates_merged_state(world, f, today):
    h = f.household(VILLAGE_A1)
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"status": "monitored"})
    assert r.status_code == 422 and "monitor_type" in r.json["error"]["fields"]
    # a new head ID without the members: the head member's ID no longer matches
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"head_id_number": id_number(904)})
    assert r.status_code == 422 and "members.0.id_number" in r.json["error"]["fields"]
    r = world.vc_a1.patch(f"{URL}/{h.id}", json={"members": [{"name": "x", "relation": "户主",
                                                               "id_number": bad_check(h.head_id_number),
                                                               "labour": "full"}]})
    assert r.status_code == 422 and "members.0.id_number" in r.json["error"]["fields"]
    db.session.expire_all()
    assert db.session.get(Household, h.id).version == 1


# --- performance -------------------------------------------------------------------------------

def test_list_query_count_is_constant(world, f, count_queries):
    def run(n_expected):
        with count_queries() as c:
            r = world.admin.get(URL, query_string={"per_page": 100})
        assert r.status_code == 200 and len(r.json["items"]) == n_expected
        assert all(item["member_count"] == 1 for item in r.json["items"])
        return c.count

    for _ in range(5):
        f.household(VILLAGE_A1)
    small = run(5)
    for _ in range(35):
        f.household(VILLAGE_A2)
    assert run(40) == small
    assert small <= 5  # auth, count, page, members


# --- hostile input: 400/422, never 500 ---------------------------------------------------------

def test_malformed_json(world):
    r = world.vc_a1.post(URL, data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["error"]["code"] == "bad_request"


@pytest.mark.parametrize("body", [
    payload(head_name=123),
    payload(head_name="名" * 100_000),
    payload(number="N" * 41),
    payload(extra="x"),
    payload(members="张三"),
    payload(members=[]),
    payload(members=[payload()["members"][0]] * 31),
    payload(members=[{"name": "张三", "relation": "户主", "labour": "strong"}]),
    payload(members=[{"name": "张三", "relation": "户主", "labour": "full", "age": 3}]),
    payload(status="poor"),
    payload(is_risk_cleared="maybe"),
    payload(risk_cleared_on="2025-02-30"),
    payload(head_id_number=["11010519491231002X"]),
    payload(village_code=None),
    [payload()],
    "just a string",
    None,
])
def test_bad_input_never_500(world, body):
    before = counts()
    r = world.vc_a1.post(URL, data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), (r.status_code, r.get_data(as_text=True)[:300])
    assert "error" in r.json
    assert counts() == before


@pytest.mark.parametrize("body", [
    {"version": "1"}, {"version": 0}, {"version": 2**40}, {"members": None}, {"status": None},
    {"head_name": "名" * 100_000}, {"unknown": 1}, {"phone": 13812345678},
])
def test_bad_patch_never_500(world, f, body):
    h = f.household(VILLAGE_A1)
    r = world.vc_a1.patch(f"{URL}/{h.id}", json=body)
    assert r.status_code in (400, 422), (r.status_code, r.get_data(as_text=True)[:300])


@pytest.mark.parametrize("qs", [{"per_page": 0}, {"per_page": 501}, {"page": "x"}, {"status": "x"},
                                {"q": "x" * 1000}, {"village_code": "1" * 13}])
def test_bad_query_never_500(world, qs):
    r = world.vc_a1.get(URL, query_string=qs)
    assert r.status_code == 422, r.get_data(as_text=True)[:300]


def test_unknown_query_parameter_is_ignored(world):
    # webargs excludes unknown query keys (browsers and proxies add their own); bodies refuse them.
    assert world.vc_a1.get(URL, query_string={"nope": 1}).status_code == 200


def test_requires_login(client):
    assert client.get(URL).status_code == 401
