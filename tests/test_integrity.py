"""Tamper evidence (issue 11 item 9): the change log is append-only below the ORM; the ledger and the change
log carry a hash chain per county; ``flask verify`` recomputes the chains, the settlements, their splits
and the plans' totals, and names each row that was edited behind the app's back."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.changelog.services import record_change
from assetreg.core import sqlite
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry, Settlement, SettlementPart

from .distribution_support import households, line, new_plan, put_allocations, settle

D = Decimal


# --- (a) the change log is append-only --------------------------------------------------------------

def _log_row(world) -> int:
    entry = record_change(world.users["admin"], entity="test", entity_id=1, action="create",
                          county_code=world.county, after={"x": 1})
    db.session.commit()
    return entry.id


def test_change_log_is_append_only_in_the_database(world):
    log_id = _log_row(world)
    for sql in (f"UPDATE change_log SET actor_name = 'someone' WHERE id = {log_id}",
                f"UPDATE change_log SET after = NULL WHERE id = {log_id}",
                f"DELETE FROM change_log WHERE id = {log_id}",
                "DELETE FROM change_log"):
        with pytest.raises(sa.exc.DBAPIError) as exc:
            db.session.execute(sa.text(sql))
        assert "append-only" in str(exc.value), sql
        db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text("TRUNCATE change_log CASCADE"))
        db.session.rollback()
    row = db.session.get(ChangeLogEntry, log_id)
    row.actor_name = "someone"  # nor through the ORM
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.get(ChangeLogEntry, log_id))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(ChangeLogEntry, log_id).actor_name == "admin"


# --- a small county with every kind of row verify checks ---------------------------------------------

def _post(client, asset_id, **over):
    body = dict(direction="income", kind="electricity", period_year=2024, period_month=3,
                received_on="2024-04-10", amount="1000.00", payer="国网湖南省电力有限公司")
    body.update(over)
    r = client.post(f"/api/v1/assets/{asset_id}/income", json=body)
    assert r.status_code == 201, r.json
    return r.json


@pytest.fixture
def county(world, f, today):
    """Entries (one reversed, one in an unsettled year), a village settlement, a shared town asset and its
    town's settlement with parts, and a plan with wage lines and plain lines."""
    shared = f.asset(place_code=world.town_a, managing_level="town", name="联村光伏")
    r = world.fin_a.put(f"/api/v1/assets/{shared.id}/shares",
                        json={"shares": [{"village_code": world.village_a1, "weight": "60"},
                                         {"village_code": world.village_a2, "weight": "40.5"}]})
    assert r.status_code == 200, r.json
    _post(world.fin_a, shared.id, amount="10500.01")
    _post(world.fin_a, shared.id, direction="deduction", kind="maintenance", amount="300.33")
    wrong = _post(world.fin_a, shared.id, amount="77.77")
    assert world.fin_a.post(f"/api/v1/income/{wrong['id']}/reversal", json={"reason": "重复入账"}).status_code == 201
    open_year = _post(world.fin_a, shared.id, period_year=2025, received_on="2025-05-10", amount="88.88")
    settle(f, world, world.village_a1, 2024, pv="20000.00", other="3000.00", costs="500.00",
           settled_on=date(2025, 3, 10))
    town = world.fin_a.post("/api/v1/settlements", json={"place_code": world.town_a, "year": 2024,
                                                         "settled_on": "2025-03-15"})
    assert town.status_code == 201, town.json
    hs = households(f, world.village_a1, "formerly_poor", "formerly_poor", "monitored")
    plan = new_plan(world.vc_a1, world.village_a1)
    r = put_allocations(world.vc_a1, plan["id"], [
        {"purpose": "public_jobs", "amount": "9600.00",
         "lines": [line(hs[0], "4800.00", months=6, monthly_wage="800.00"),
                   line(hs[1], "4800.00", months=6, monthly_wage="800.00")]},
        {"purpose": "relief", "amount": "3000.00", "lines": [line(hs[2], "2000.00"), line(hs[0], "1000.00")]},
        {"purpose": "public_works", "amount": "5000.00", "use": "村组道路维修"},
    ])
    assert r.status_code == 200, r.json
    db.session.commit()
    return {"open_entry": open_year["id"], "town_settlement": town.json["id"], "plan": plan["id"]}


def _named(result) -> set[tuple[str, int]]:
    return {(d.table, d.row_id) for d in result.differences}


def test_verify_finds_nothing_on_a_clean_county(county, world, runner):
    from assetreg.integrity.services import verify

    result = verify(world.county)
    assert result.differences == []
    assert result.checked["income_entries"] == db.session.scalar(sa.select(sa.func.count()).select_from(IncomeEntry))
    assert result.checked["change_log"] == db.session.scalar(sa.select(sa.func.count()).select_from(ChangeLogEntry))
    assert result.checked["settlements"] == 2 and result.checked["settlement_parts"] == 2
    assert result.checked["distribution_plans"] == 1
    out = runner.invoke(args=["verify", "--scope", world.county])
    assert out.exit_code == 0, out.output
    assert "未发现差异" in out.output and "收益明细" in out.output and "操作日志" in out.output
    assert runner.invoke(args=["verify"]).exit_code == 0


@contextmanager
def guards_off(table: str):
    """As the tests' superuser: lift the table's append-only triggers for one edit, then put them back."""
    from assetreg.changelog.guard import SQLITE_TRIGGERS as LOG_SQLITE
    from assetreg.income.guard import SQLITE_TRIGGERS

    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        yield conn
        conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        return
    triggers = {n: ddl for n, ddl in {**SQLITE_TRIGGERS, **LOG_SQLITE}.items() if f" ON {table} " in ddl}
    for name in triggers:
        conn.execute(sa.text(f"DROP TRIGGER {name}"))
    yield conn
    for ddl in triggers.values():
        conn.execute(sa.text(ddl))


def _tamper(table: str, sql: str, **params) -> None:
    with guards_off(table) as conn:
        assert conn.execute(sa.text(sql), params).rowcount == 1
    db.session.commit()
    db.session.expire_all()


def _verify_names(runner, world, table: str, row_id: int, what: str) -> None:
    from assetreg.integrity.services import verify

    result = verify(world.county)
    assert _named(result) == {(table, row_id)}, [str(d) for d in result.differences]
    out = runner.invoke(args=["verify", "--scope", world.county])
    assert out.exit_code == 1, out.output
    assert f"{table} #{row_id}" in out.output and what in out.output, out.output


def test_verify_names_an_income_entry_edited_behind_the_app(county, world, runner):
    entry = county["open_entry"]
    _tamper("income_entries", "UPDATE income_entries SET amount = amount + 100 WHERE id = :id", id=entry)
    _verify_names(runner, world, "income_entries", entry, "哈希")


def test_verify_names_a_change_log_row_edited_behind_the_app(county, world, runner):
    log_id = db.session.scalar(sa.select(sa.func.min(ChangeLogEntry.id)).where(ChangeLogEntry.entity == "income_entry"))
    _tamper("change_log", "UPDATE change_log SET actor_name = 'nobody' WHERE id = :id", id=log_id)
    _verify_names(runner, world, "change_log", log_id, "哈希")


def test_verify_names_a_deleted_ledger_row(county, world, runner):
    from assetreg.integrity.services import verify

    gone = county["open_entry"]
    nxt = db.session.scalar(sa.select(IncomeEntry.id).where(IncomeEntry.id > gone).order_by(IncomeEntry.id).limit(1))
    _tamper("income_entries", "DELETE FROM income_entries WHERE id = :id", id=gone)
    assert ("income_entries", nxt) in _named(verify(world.county))


def test_verify_names_a_settlement_whose_gross_was_edited(county, world, runner):
    sid = county["town_settlement"]
    _tamper("settlements", "UPDATE settlements SET gross = gross + 10000, net = net + 10000 WHERE id = :id", id=sid)
    _verify_names(runner, world, "settlements", sid, "毛收入")


def test_verify_names_a_settlement_part_edited_behind_the_app(county, world, runner):
    part = db.session.scalar(sa.select(SettlementPart).where(
        SettlementPart.settlement_id == county["town_settlement"], SettlementPart.village_code == world.village_a2))
    _tamper("settlement_parts", "UPDATE settlement_parts SET gross = gross + 1, net = net + 1 WHERE id = :id",
            id=part.id)
    _verify_names(runner, world, "settlement_parts", part.id, "净收益")


def test_verify_names_a_plan_line_edited_behind_the_app(county, world, runner):
    from assetreg.distribution.models import PlanLine

    wage_line = db.session.scalar(sa.select(PlanLine).where(PlanLine.plan_id == county["plan"],
                                                            PlanLine.months.is_not(None)).order_by(PlanLine.id))
    _tamper("plan_lines", "UPDATE plan_lines SET amount = amount + 10000 WHERE id = :id", id=wage_line.id)
    _verify_names(runner, world, "plan_lines", wage_line.id, "月")


def test_verify_names_an_allocation_whose_lines_no_longer_add_up(county, world, runner):
    from assetreg.distribution.models import PlanLine

    plain = db.session.scalar(sa.select(PlanLine).where(PlanLine.plan_id == county["plan"],
                                                        PlanLine.months.is_(None)).order_by(PlanLine.id))
    _tamper("plan_lines", "UPDATE plan_lines SET amount = amount + 100 WHERE id = :id", id=plain.id)
    _verify_names(runner, world, "plan_allocations", plain.allocation_id, "到户明细合计")


def test_verify_names_a_plan_whose_total_was_edited(county, world, runner):
    pid = county["plan"]
    _tamper("distribution_plans", "UPDATE distribution_plans SET available = available + 100000 WHERE id = :id",
            id=pid)
    _verify_names(runner, world, "distribution_plans", pid, "可分配收益")


def test_settlement_rows_stay_as_settled(county, world):
    s = db.session.get(Settlement, county["town_settlement"])
    assert s.gross == sum((p.gross for p in s.parts), D("0.00"))


# --- (b) the chain itself -----------------------------------------------------------------------------

def _chain_migration():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "migrations" / "versions" / "0007_chain.py"
    spec = importlib.util.spec_from_file_location("chain_migration", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rows_carry_their_position_and_the_hash_before_them(county, world):
    from assetreg.core.chain import GENESIS

    for model in (IncomeEntry, ChangeLogEntry):
        rows = db.session.scalars(sa.select(model).where(model.county_code == world.county)
                                  .order_by(model.chain_seq)).all()
        assert [r.chain_seq for r in rows] == list(range(1, len(rows) + 1))
        assert [r.id for r in rows] == sorted(r.id for r in rows)  # positions follow the order written
        assert rows[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:], strict=False))
        assert all(r.row_hash == r.compute_hash(r.chain_seq, r.prev_hash) for r in rows)


def test_the_migrations_copy_of_the_hash_agrees_with_the_app():
    from datetime import UTC, datetime

    from assetreg.core import chain

    mig = _chain_migration()
    fields = [("a", None), ("b", 12345), ("c", "桃源村"), ("d", date(2024, 3, 1)), ("e", True),
              ("f", datetime(2024, 3, 1, 2, 3, 4, 5, tzinfo=UTC)), ("g", {"z": [1, "2"], "a": None})]
    assert mig.row_hash("income_entries", 7, chain.GENESIS, fields) == chain.row_hash(
        "income_entries", 7, chain.GENESIS, fields)
    assert mig.CHAINS == {name: model.__chain_fields__ for name, model in
                          __import__("assetreg.core.chained", fromlist=["CHAINS"]).CHAINS.items()}


@pytest.mark.committed  # runs the migration down and up again on rows the app wrote
def test_the_migration_chains_rows_already_there_as_the_app_does(world, f, today):
    from flask_migrate import downgrade, upgrade

    from assetreg.integrity.services import verify

    a = f.asset()
    for amount in ("1000.00", "2.50", "333.33"):
        _post(world.fin_a, a.id, amount=amount)
    db.session.commit()
    before = {m.__tablename__: db.session.execute(sa.select(m.id, m.chain_seq, m.prev_hash, m.row_hash)
                                                  .order_by(m.id)).all() for m in (IncomeEntry, ChangeLogEntry)}
    db.session.remove()
    downgrade(revision=_chain_migration().down_revision)
    upgrade()
    after = {m.__tablename__: db.session.execute(sa.select(m.id, m.chain_seq, m.prev_hash, m.row_hash)
                                                 .order_by(m.id)).all() for m in (IncomeEntry, ChangeLogEntry)}
    assert after == before and len(before["income_entries"]) == 3
    assert verify(world.county).differences == []


@pytest.mark.committed  # writers on their own connections, at once
def test_concurrent_writers_of_one_county_do_not_fork_the_chain(app, world, f, today):
    import threading

    from assetreg.income.services import post_entry
    from assetreg.integrity.services import verify
    from assetreg.users.models import User

    assets = [f.asset().id for _ in range(4)]
    db.session.commit()
    admin_id = world.users["admin"].id
    start, errors = threading.Barrier(8), []

    def writer(n: int) -> None:
        with app.app_context(), sqlite.writes():  # as a request that writes (SQLite: BEGIN IMMEDIATE)
            user = db.session.get(User, admin_id)
            db.session.commit()
            start.wait()
            for k in range(5):
                try:
                    post_entry(user, assets[(n + k) % 4], {
                        "direction": "income", "kind": "electricity", "period_year": 2024, "period_month": k + 1,
                        "received_on": date(2024, k + 2, 1), "amount": D(f"{n + 1}.{k:02d}")})
                    db.session.commit()
                except sa.exc.OperationalError as exc:  # SQLite: "database is locked"; nothing half-written
                    db.session.rollback()
                    errors.append(exc)
            db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    posted = db.session.scalars(sa.select(IncomeEntry).order_by(IncomeEntry.chain_seq)).all()
    assert len(posted) == 40 - len(errors) and len(posted) >= 5
    if db.engine.dialect.name == "postgresql":
        assert errors == []  # writers wait for the county's chain head, none fails
    assert [e.chain_seq for e in posted] == list(range(1, len(posted) + 1))
    assert verify(world.county).differences == []
