"""A busy database is not bad data (issue 11 item 3): a lock or a serialization failure answers 503 with
``Retry-After`` (JSON for the API, the error page for a person), so clients retry; a value the database
refuses is still 422. Nothing is written either way."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError

from assetreg.assets import services as asset_services
from assetreg.extensions import db
from assetreg.income import services as income_services
from assetreg.income.models import IncomeEntry

from .web_support import login

BODY = {"direction": "income", "kind": "electricity", "amount": "100.00", "period_year": 2025, "period_month": 5,
        "received_on": "2025-06-01", "voucher_no": "JZ-1"}


class _PgBusy(Exception):
    sqlstate = "40001"  # serialization_failure, as psycopg reports it


def _raise(exc):
    def service(*_args, **_kwargs):
        raise exc
    return service


@pytest.mark.parametrize("exc", [
    OperationalError("INSERT INTO income_entries …", {}, sqlite3.OperationalError("database is locked")),
    DBAPIError("UPDATE settlements …", {}, _PgBusy("could not serialize access due to concurrent update")),
], ids=["sqlite-locked", "postgresql-serialization"])
def test_busy_database_is_503_with_retry_after(app, world, f, today, monkeypatch, exc):
    asset = f.asset()
    monkeypatch.setattr(income_services, "post_entry", _raise(exc))
    r = world.fin_a.post(f"/api/v1/assets/{asset.id}/income", json=BODY)
    assert r.status_code == 503, r.json
    assert r.headers["Retry-After"] == "2" and r.json["error"]["code"] == "busy"
    monkeypatch.setattr(asset_services, "get_asset", _raise(exc))  # a page: the asset page's first read
    r = login(app, "fin_a").get(f"/assets/{asset.id}")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2" and "稍后重试" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncomeEntry)) == 0


def test_a_value_the_database_refuses_is_still_422(world, f, today, monkeypatch):
    asset = f.asset()
    refused = sa.exc.DataError("INSERT …", {}, ValueError("value out of range"))
    monkeypatch.setattr(income_services, "post_entry", _raise(refused))
    r = world.fin_a.post(f"/api/v1/assets/{asset.id}/income", json=BODY)
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_value"
    assert "Retry-After" not in r.headers
