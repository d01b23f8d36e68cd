"""The floor of bench/bench_served.py: the least a served Python page can do for the asset list.

Plain Flask and one SQLAlchemy Core select on the same database (``DATABASE_URL``): the first 50 assets
of a town (``?town_code=…&per_page=50``; led by the county code, as every query of the app is, so the
index ``(county_code, town_code)`` serves it) in the API list's order (code, id), with the columns of the
API's list item that are columns of the assets table, as JSON (money and decimals as strings, dates in
ISO form, as the API writes them). No login, no schema, no ORM objects, no count. Served by gunicorn with
the app's own settings (bench_served.py starts it)::

    cd bench && DATABASE_URL=postgresql+psycopg://… ../.venv/bin/gunicorn -w 2 -b 127.0.0.1:8001 floor_app:app

It imports nothing of the app: the table is reflected from the database on the first request.
"""

from __future__ import annotations

import os
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import Flask, abort, jsonify, request

# The API list item's fields (assetreg/assets/schemas.py ``Asset``) that are columns of ``assets``;
# tests/test_bench_served.py checks this against the schema and the table.
COLUMNS = ("id", "code", "name", "category", "subtype", "county_code", "town_code", "village_code", "place_code",
           "managing_level", "household_id", "project_name", "project_year", "project_approval_no",
           "completed_on", "original_value", "quantity", "unit", "useful_life_years", "status", "status_on",
           "note", "version", "created_at", "updated_at")
# Scaled integers in the table (Money: fen; quantity: thousandths), written as decimal strings.
SCALED = {"original_value": 2, "quantity": 3}
MAX_PER_PAGE = 500

app = Flask(__name__)
# No connection is opened at import: with gunicorn's preload the workers fork first, then connect.
engine = sa.create_engine(os.environ["DATABASE_URL"], pool_pre_ping=False) if os.environ.get("DATABASE_URL") else None
_select: dict[str, sa.Select] = {}


def _query(conn: sa.Connection) -> sa.Select:
    if "q" not in _select:
        table = sa.Table("assets", sa.MetaData(), autoload_with=conn)
        _select["q"] = (sa.select(*(table.c[name] for name in COLUMNS))
                        .where(table.c.county_code == sa.bindparam("county"), table.c.town_code == sa.bindparam("town"))
                        .order_by(table.c.code, table.c.id).limit(sa.bindparam("n")))
    return _select["q"]


def scaled(value: int | None, places: int) -> str | None:
    return None if value is None else str(Decimal(value).scaleb(-places))


def item(row: sa.Row) -> dict:
    out = {}
    for name, value in row._mapping.items():
        if name in SCALED:
            value = scaled(value, SCALED[name])
        elif isinstance(value, datetime | date):
            value = value.isoformat()
        out[name] = value
    return out


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.get("/assets")
def assets():
    town = request.args.get("town_code", "")
    per_page = request.args.get("per_page", "50")
    if len(town) != 9 or not town.isdigit() or not per_page.isdigit() or not 1 <= int(per_page) <= MAX_PER_PAGE:
        abort(422)
    with engine.connect() as conn:
        rows = conn.execute(_query(conn), {"county": town[:6], "town": town, "n": int(per_page)}).all()
    return jsonify({"items": [item(r) for r in rows], "page": 1, "per_page": int(per_page)})
