"""The income ledger: posting, append-only in the database, reversals, refusals, scope (basis: P09, P19)."""

import importlib.util
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from assetreg.changelog import guard as log_guard
from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.income import guard
from assetreg.income.models import IncomeEntry, Settlement
from assetreg.income.services import asset_year_totals

D = Decimal


def post(client, asset_id, **over):
    body = dict(direction="income", kind="electricity", period_year=2024, period_month=3,
                received_on="2024-04-10", amount="1000.00", payer="国网湖南省电力有限公司", voucher_no="记-0001")
    body.update(over)
    return client.post(f"/api/v1/assets/{asset_id}/income", json=body)


def counts():
    db.session.expire_all()
    return (db.session.scalar(sa.select(sa.func.count()).select_from(IncomeEntry)),
            db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry)))


def test_post_list_and_log_an_entry(world, f, today):
    a = f.asset()
    r = post(world.fin_a, a.id, amount="12345.67")
    assert r.status_code == 201, r.json
    e = r.json
    assert e["amount"] == "12345.67" and e["kind_label"] == "电费收入" and e["direction_label"] == "收入"
    assert e["village_code"] == world.village_a1 and e["town_code"] == world.town_a
    assert e["reverses_id"] is None and e["reversed_by_id"] is None
    r = post(world.admin, a.id, direction="deduction", kind="maintenance", amount="300.00", period_month=None,
             period_quarter=2)
    assert r.status_code == 201 and r.json["kind_label"] == "运维费"
    for c in (world.vc_a1, world.auditor, world.auditor_a, world.fin_a):
        r = c.get(f"/api/v1/assets/{a.id}/income?year=2024")
        assert r.status_code == 200 and r.json["total"] == 2
    r = world.auditor.get(f"/api/v1/assets/{a.id}/income?direction=deduction")
    assert [x["kind"] for x in r.json["items"]] == ["maintenance"]
    assert world.auditor.get(f"/api/v1/assets/{a.id}/income?year=2023").json["total"] == 0
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "income_entry").order_by(ChangeLogEntry.id)).all()
    assert len(log) == 2 and log[0].after["amount"] == "12345.67" and log[0].actor_name == "fin_a"


def test_ledger_is_append_only_in_the_database(world, f, today):
    a = f.asset()
    entry_id = post(world.fin_a, a.id).json["id"]
    for sql in (f"UPDATE income_entries SET amount = 1 WHERE id = {entry_id}",
                f"UPDATE income_entries SET note = 'x' WHERE id = {entry_id}",
                f"DELETE FROM income_entries WHERE id = {entry_id}",
                "DELETE FROM income_entries"):
        with pytest.raises(sa.exc.DBAPIError) as exc:
            db.session.execute(sa.text(sql))
        assert "append-only" in str(exc.value)
        db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text("TRUNCATE income_entries CASCADE"))
        db.session.rollback()
    row = db.session.get(IncomeEntry, entry_id)
    assert row.amount == D("1000.00") and row.note is None
    # and the ORM cannot do it either
    row.amount = D("1.00")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(IncomeEntry, entry_id))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert counts()[0] == 1


def test_settled_figures_are_frozen_in_the_database(world, f, today):
    a = f.asset()
    post(world.fin_a, a.id)
    r = world.fin_a.post("/api/v1/settlements", json={"place_code": world.village_a1, "year": 2024,
                                                     "settled_on": "2025-03-15"})
    assert r.status_code == 201, r.json
    sid = r.json["id"]
    for sql in (f"UPDATE settlements SET net = 0, gross = 0 WHERE id = {sid}",
                f"UPDATE settlements SET year = 2023 WHERE id = {sid}",
                f"DELETE FROM settlements WHERE id = {sid}"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(sql))
        db.session.rollback()
    # the publication date may be set, once
    db.session.execute(sa.text(f"UPDATE settlements SET published_on = '2025-03-20' WHERE id = {sid}"))
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.text(f"UPDATE settlements SET published_on = '2025-03-21' WHERE id = {sid}"))
    db.session.rollback()
    s = db.session.get(Settlement, sid)
    assert s.net == D("1000.00") and str(s.published_on) == "2025-03-20"


def _migration_module(name: str = "0002_income_ledger.py"):
    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / name
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_guard_statements_agree_with_the_migration_and_the_database(app):
    mig = _migration_module()
    assert mig.SQLITE_TRIGGERS == guard.SQLITE_TRIGGERS
    assert mig.PG_TRIGGERS == guard.PG_TRIGGERS
    assert mig.PG_FUNCTION == guard.PG_FUNCTION
    chain = _migration_module("0007_chain.py")  # the change log's guards (issue 11 item 9)
    assert chain.LOG_SQLITE_TRIGGERS == log_guard.SQLITE_TRIGGERS
    assert chain.LOG_PG_TRIGGERS == log_guard.PG_TRIGGERS
    assert chain.LEDGER_SQLITE_NO_UPDATE == guard.SQLITE_TRIGGERS["income_entries_no_update"]
    with db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = dict(conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all())
            assert rows == {**guard.SQLITE_TRIGGERS, **log_guard.SQLITE_TRIGGERS}
        else:
            names = set(conn.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
            assert set(guard.PG_TRIGGERS) | set(log_guard.PG_TRIGGERS) <= names


def test_reversal_nets_out_and_is_done_once(world, f, today):
    a = f.asset()
    income = post(world.fin_a, a.id, amount="1000.00").json
    cost = post(world.fin_a, a.id, direction="deduction", kind="insurance", amount="200.00").json
    assert asset_year_totals(world.county, a.id, 2024) == {
        "gross": D("1000.00"), "costs": D("200.00"), "net": D("800.00"), "disposal": D("0.00")}
    r = world.fin_a.post(f"/api/v1/income/{income['id']}/reversal", json={"reason": "重复入账"})
    assert r.status_code == 201, r.json
    rev = r.json
    assert rev["reverses_id"] == income["id"] and rev["reason"] == "重复入账" and rev["amount"] == "1000.00"
    assert rev["received_on"] == "2025-06-30" and rev["kind"] == "electricity" and rev["period_month"] == 3
    assert asset_year_totals(world.county, a.id, 2024) == {
        "gross": D("0.00"), "costs": D("200.00"), "net": D("-200.00"), "disposal": D("0.00")}
    r = world.fin_a.post(f"/api/v1/assets/{a.id}/income", json={})  # nothing posted by a bad request
    assert r.status_code == 422
    before = counts()
    r = world.fin_a.post(f"/api/v1/income/{income['id']}/reversal", json={"reason": "再冲一次"})
    assert r.status_code == 409 and r.json["error"]["code"] == "already_reversed"
    r = world.fin_a.post(f"/api/v1/income/{rev['id']}/reversal", json={"reason": "冲销冲销"})
    assert r.status_code == 422 and r.json["error"]["code"] == "reversal_of_reversal"
    r = world.fin_a.post(f"/api/v1/income/{cost['id']}/reversal", json={})
    assert r.status_code == 422 and "reason" in r.json["error"]["fields"]
    r = world.fin_a.post(f"/api/v1/income/{cost['id']}/reversal", json={"reason": "x", "reversed_on": "2099-01-01"})
    assert r.status_code == 422 and "reversed_on" in r.json["error"]["fields"]
    assert world.fin_a.post("/api/v1/income/999999/reversal", json={"reason": "x"}).status_code == 404
    assert counts() == before
    # a cost reversed adds back
    assert world.fin_a.post(f"/api/v1/income/{cost['id']}/reversal", json={"reason": "保险退保"}).status_code == 201
    assert asset_year_totals(world.county, a.id, 2024)["net"] == D("0.00")
    listed = {x["id"]: x for x in world.auditor.get(f"/api/v1/assets/{a.id}/income").json["items"]}
    assert listed[income["id"]]["reversed_by_id"] == rev["id"] and listed[rev["id"]]["reversed_by_id"] is None
    log = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.action == "reverse")).all()
    assert len(log) == 2


def test_disposal_income_is_kept_apart(world, f, today):
    a = f.asset()
    post(world.fin_a, a.id, amount="500.00")
    post(world.fin_a, a.id, kind="disposal", amount="8000.00", period_month=None)
    r = world.auditor.get(f"/api/v1/assets/{a.id}/income-summary?year=2024")
    assert r.status_code == 200
    assert (r.json["gross"], r.json["net"], r.json["disposal"]) == ("500.00", "500.00", "8000.00")
    assert {(k["kind"], k["amount"]) for k in r.json["by_kind"]} == {("electricity", "500.00"),
                                                                    ("disposal", "8000.00")}
    assert r.json["split"] == [{"village_code": world.village_a1, "share_weight": "1", "part": "500.00"}]


@pytest.mark.parametrize("over, field", [
    ({"direction": "deduction", "kind": "electricity"}, "kind"),
    ({"direction": "income", "kind": "tax"}, "kind"),
    ({"kind": "salary"}, "kind"),
    ({"period_month": 3, "period_quarter": 1}, "period_month"),
    ({"period_month": 13}, "period_month"),
    ({"period_quarter": 0, "period_month": None}, "period_quarter"),
    ({"period_year": 1999}, "period_year"),
    ({"amount": "0.00"}, "amount"),
    ({"amount": "-5.00"}, "amount"),
    ({"amount": 12.5}, "amount"),
    ({"amount": "1.005"}, "amount"),
    ({"received_on": "2099-01-01"}, "received_on"),
    ({"received_on": "2024-02-30"}, "received_on"),
    ({"is_adjustment": True}, "adjustment_on"),
    ({"adjustment_on": "2025-01-01"}, "adjustment_on"),
    ({"is_adjustment": True, "adjustment_on": "2025-01-01"}, "is_adjustment"),  # year not settled
    ({"voucher_no": "x" * 65}, "voucher_no"),
    ({"payer": "x" * 201}, "payer"),
    ({"extra": 1}, "extra"),
    ({"amount": None}, "amount"),
])
def test_refusals_name_the_field_and_write_nothing(world, f, today, over, field):
    a = f.asset()
    before = counts()
    r = post(world.fin_a, a.id, **over)
    assert r.status_code == 422, (over, r.status_code, r.json)
    assert field in r.json["error"]["fields"], r.json
    assert counts() == before


def test_household_asset_income_is_not_village_income(world, f, today):
    h = f.household(world.village_a1)
    a = f.asset(category="household", subtype="牲畜", managing_level="household", household_id=h.id)
    r = post(world.fin_a, a.id)
    assert r.status_code == 422 and "asset_id" in r.json["error"]["fields"]


def test_scope_of_reads_and_writes(world, f, today):
    a1 = f.asset(place_code=world.village_a1)
    entry = post(world.fin_a, a1.id).json
    before = counts()
    # reads outside scope: not found
    for url in (f"/api/v1/assets/{a1.id}/income", f"/api/v1/assets/{a1.id}/income-summary?year=2024",
                f"/api/v1/assets/{a1.id}/dues?year=2024", f"/api/v1/assets/{a1.id}/shares",
                f"/api/v1/assets/{a1.id}/returns", f"/api/v1/villages/{world.village_a1}/income?year=2024"):
        assert world.vc_b1.get(url).status_code == 404, url
        assert world.vc_a2.get(url).status_code == 404, url
        assert world.fin_b.get(url).status_code == 404, url
        assert world.vc_a1.get(url).status_code == 200, url
        assert world.auditor.get(url).status_code == 200, url
        assert world.auditor_a.get(url).status_code == 200, url
    # writes: village committees and auditors never; other towns' officers not here
    assert post(world.vc_a1, a1.id).status_code == 403
    assert post(world.auditor, a1.id).status_code == 403
    assert post(world.auditor_a, a1.id).status_code == 403
    r = post(world.fin_b, a1.id)
    assert r.status_code == 403 and r.json["error"]["code"] == "out_of_scope"
    assert world.fin_b.post(f"/api/v1/income/{entry['id']}/reversal", json={"reason": "x"}).status_code == 403
    assert world.vc_a1.post(f"/api/v1/income/{entry['id']}/reversal", json={"reason": "x"}).status_code == 403
    assert world.fin_b.put(f"/api/v1/assets/{a1.id}/shares", json={"shares": []}).status_code == 403
    assert world.vc_a1.put(f"/api/v1/assets/{a1.id}/shares", json={"shares": []}).status_code == 403
    body = {"kind": "rent", "basis": "fixed", "amount": "100.00", "period": "year", "start_on": "2024-01-01",
            "end_on": "2024-12-31"}
    assert world.fin_b.post(f"/api/v1/assets/{a1.id}/returns", json=body).status_code == 403
    assert world.auditor.post(f"/api/v1/assets/{a1.id}/returns", json=body).status_code == 403
    settle = {"place_code": world.village_a1, "year": 2024, "settled_on": "2025-03-15"}
    for c in (world.fin_b, world.vc_a1, world.auditor):
        assert c.post("/api/v1/settlements", json=settle).status_code == 403
    assert world.fin_a.get("/api/v1/villages/431299999999/income?year=2024").status_code == 404
    assert counts() == before


def test_malformed_input_never_500(world, f, today):
    a = f.asset()
    entry = post(world.fin_a, a.id).json
    bodies = [b"{", b"[]", b"null", b'"x"', b"\xff\xfe"]
    for url in (f"/api/v1/assets/{a.id}/income", f"/api/v1/income/{entry['id']}/reversal",
                f"/api/v1/assets/{a.id}/returns", "/api/v1/settlements"):
        for raw in bodies:
            r = world.fin_a.post(url, data=raw, headers={"Content-Type": "application/json"})
            assert r.status_code in (400, 422), (url, raw, r.status_code)
    for raw in bodies:
        r = world.fin_a.put(f"/api/v1/assets/{a.id}/shares", data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422)
    odd = [{"shares": [{"village_code": world.village_a1, "weight": "NaN"}]},
           {"shares": [{"village_code": world.village_a1, "weight": "1e400"}]},
           {"shares": [{"village_code": world.village_a1, "weight": "0"}]},
           {"shares": [{"village_code": world.village_a1, "weight": "0.00001"}]},
           {"shares": [{"village_code": None, "weight": "1"}]},
           {"shares": [{"village_code": world.village_a1, "weight": "1"}] * 101},
           {"shares": "x"}, {"from_year": "2024"}, {"shares": [], "from_year": 10**20}]
    for body in odd:
        r = world.fin_a.put(f"/api/v1/assets/{a.id}/shares", json=body)
        assert r.status_code == 422, (body, r.status_code)
    for qs in ("year=x", "year=", "year=99999999999", "year=2024&page=0", "year=2024&per_page=100000",
               "kind=nope", "direction=up"):
        for path in ("income", "dues", "income-summary"):
            r = world.fin_a.get(f"/api/v1/assets/{a.id}/{path}?{qs}")
            assert r.status_code in (200, 422), (path, qs, r.status_code)
    assert world.fin_a.get(f"/api/v1/assets/{a.id}/dues").status_code == 422  # year is required
    assert world.fin_a.get("/api/v1/villages/" + "9" * 500 + "/income?year=2024").status_code == 404
    assert counts()[0] == 1
