"""The set-based flag engine equals the naive per-asset evaluation (assetreg/flags/naive.py: every object
read with its own queries and judged in plain Python) on a whole generated county, on several days and
scopes. The county is generated once for the module (``assetreg.generator``, small scale), in a
transaction rolled back at the end, as tests/test_demo.py does with the demo."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.extensions import db
from assetreg.flags import engine
from assetreg.places.models import Place

from . import flags_naive as naive
from .db_support import shared_transaction

SEED = 3
SCALE = 0.02
COUNTY = "439901"
DAYS = [date(2025, 6, 30), date(2025, 4, 1), date(2025, 3, 31), date(2023, 1, 1), date(2020, 6, 30)]


@pytest.fixture(scope="module")
def county(app):
    from assetreg.generator import generate as gen

    with app.app_context(), shared_transaction():
        gen.generate(counties=1, seed=SEED, scale=SCALE)
        db.session.commit()
        yield COUNTY


def _same(scope: str, day: date) -> list:
    fast = engine.evaluate(scope, day)
    slow = naive.evaluate_naive(scope, day)
    assert [f.identity() for f in fast] == [f.identity() for f in slow], (scope, day)
    return fast


@pytest.mark.parametrize("day", DAYS)
def test_engine_equals_naive_for_the_county(county, day):
    flags = _same(county, day)
    assert flags, "a generated county always has something to flag"


def test_engine_equals_naive_for_a_town_and_a_village(county):
    town = db.session.scalar(sa.select(Place.code).where(Place.county_code == county, Place.level == "town")
                             .order_by(Place.code))
    village = db.session.scalar(sa.select(Place.code).where(Place.parent_code == town).order_by(Place.code))
    whole = {f.key: f for f in _same(county, DAYS[0])}
    for scope in (town, village):
        part = _same(scope, DAYS[0])
        # A narrower scope shows exactly the county's flags that lie inside it.
        inside = {k for k, f in whole.items() if (f.village_code or f.town_code or "").startswith(scope)}
        assert {f.key for f in part} == inside


def test_the_generated_county_fires_many_rules(county):
    rules = {f.rule_id for day in DAYS[:2] for f in engine.evaluate(county, day)}
    assert len(rules) >= 10, rules


def test_the_engine_asks_a_few_queries_whatever_the_number_of_assets(county, count_queries):
    assets = db.session.scalar(sa.select(sa.func.count()).select_from(Asset).where(Asset.county_code == county))
    with count_queries() as c:
        engine.evaluate(county, DAYS[0])
    assert c.count < 100 < assets, (c.count, assets)
