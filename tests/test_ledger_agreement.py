"""One ledger arithmetic (issue 10, item 2): in the demo county 青溪县 (431299), for every village and
every year, the figure its committee's home page shows, its village-year page, the settlement (where
the year is settled) and the distribution plan's available amount (where there is a plan) agree to the
fen; each town's and the county's home page agree with the villages' figures and with the ledger.

What agrees with what:
- 净收益 on the village committee's home page = 净收益 on the village-year page = the income service's
  figure for the village (its own assets plus its parts of shared ones, DOMAIN.md §5);
- a settlement's net = the same service over the ledger as the settlement saw it (entries up to its
  ``last_entry_id``) = 清算净收益 on the page; a later dated adjustment shows as the page's difference;
- a plan's available = its settled net (= the settlement's) + its carry-over = 可分配收益 on the page;
  a settled year without a plan shows the settled net + last year's approved 结转.

The demo is loaded once for the module with the configured seed (what ``flask demo`` gives a new user)
and the clock frozen at the demo's day, so the home pages' six years are the ledger's 2020–2025.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.core import time as clock
from assetreg.demo.loader import COUNTY_CODE, DEMO_PASSWORD, load_demo
from assetreg.distribution.models import DistributionPlan
from assetreg.distribution.services import CARRY_FROM
from assetreg.extensions import db
from assetreg.home import services as dashboard
from assetreg.income import rules as income_rules
from assetreg.income.models import IncomeEntry, Settlement
from assetreg.income.services import income_by_year, settled_village, town_year_income
from assetreg.places.models import Place
from assetreg.users.models import User

from .db_support import shared_transaction
from .web_support import login, text

SEED = 20251231  # the configured DEMO_SEED: the county a new user gets from `flask demo`
TAOYUAN = "431299100201"  # 桃源村, with a share of 枫树湾村's joint PV station
ZERO = Decimal("0.00")


@pytest.fixture(scope="module")
def demo(app, tmp_path_factory):
    uploads = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(tmp_path_factory.mktemp("ledger_demo_uploads"))
    with app.app_context(), shared_transaction():  # loaded once, rolled back when the module ends
        clock.freeze(datetime(2025, 6, 30, 4, 0, tzinfo=UTC))
        try:
            load_demo(SEED)
            db.session.commit()
            villages = db.session.scalars(sa.select(Place).where(
                Place.county_code == COUNTY_CODE, Place.level == "village").order_by(Place.code)).all()
            towns = sorted({v.town_code for v in villages})
            ledger_years = set(db.session.scalars(sa.select(IncomeEntry.period_year).distinct()))
            plan_years = set(db.session.scalars(sa.select(DistributionPlan.year).distinct()))
            years = list(range(min(ledger_years | plan_years), max(ledger_years) + 1))
            yield SimpleNamespace(villages=[(v.code, v.name) for v in villages], towns=towns, years=years)
        finally:
            clock.freeze(None)
            app.config["UPLOAD_DIR"] = uploads


def _yuan(s: str) -> Decimal:
    return Decimal(s.replace(",", "").replace("元", "").strip())


def _home_income(html: str) -> dict[int, dict[str, Decimal]]:
    """The home page's ledger table: year → gross, costs, net, disposal."""
    section = html[html.index("收益台账净收益"):]
    rows = re.findall(r'<tr><td>(\d{4})年</td><td class="num">([^<]*)</td>\s*<td class="num">([^<]*)</td>'
                      r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td></tr>', section)
    assert rows, "no income table on the home page"
    return {int(y): dict(zip(("gross", "costs", "net", "disposal"), map(_yuan, figures), strict=True))
            for y, *figures in rows}


def _dd(html: str, label: str) -> str | None:
    m = re.search(rf"<dt>{label}</dt><dd>([^<]*)</dd>", html)
    return m.group(1) if m else None


def _login(app, username: str):
    c = login(app, username, DEMO_PASSWORD)
    assert c.last.status_code == 302, username
    return c


def _year_figures(**kwargs) -> dict[int, dict]:
    return {r["year"]: r for r in income_by_year(COUNTY_CODE, **kwargs)}


# --- villages ----------------------------------------------------------------------------------------

def test_every_village_and_year_agrees_on_home_page_year_page_settlement_and_plan(app, demo):
    plans = {(p.village_code, p.year): p for p in db.session.scalars(sa.select(DistributionPlan))}
    checked = defaultdict(int)
    for code, name in demo.villages:
        c = _login(app, f"vc_{code}")
        home = _home_income(text(c.get("/")))
        assert set(home) == set(range(2020, 2026))  # the last six years up to the frozen day
        user = db.session.scalar(sa.select(User).where(User.username == f"vc_{code}"))
        dash = {r["year"]: r for r in dashboard.income_by_year(user, years=len(demo.years) + 1)}
        service = _year_figures(place_code=code, years=demo.years)
        for year in demo.years:
            where = f"{name}({code}) {year}"
            figures = service[year]
            assert figures["gross"] - figures["costs"] == figures["net"], where
            page = text(c.get(f"/villages/{code}/years/{year}"))
            net = _yuan(_dd(page, "净收益"))
            # the home page (its table and the function behind it) and the village-year page
            assert dash[year] == figures, where
            if year in home:
                assert home[year] == {k: figures[k] for k in ("gross", "costs", "net", "disposal")}, where
            assert net == figures["net"] and _yuan(_dd(page, "收入合计")) == figures["gross"], where
            assert _yuan(_dd(page, "扣除合计")) == figures["costs"], where
            checked["village years"] += 1

            settled = settled_village(COUNTY_CODE, code, year)
            if settled is not None:
                s = settled["settlement"]
                as_seen = _year_figures(place_code=code if settled["level"] == "village" else s.place_code,
                                        years=[year], through_entry_id=s.last_entry_id)[year]
                if settled["level"] == "village":
                    assert (settled["gross"], settled["costs"], settled["net"]) == (
                        as_seen["gross"], as_seen["costs"], as_seen["net"]), where
                assert _yuan(_dd(page, "清算净收益")) == settled["net"], where
                drift = figures["net"] - settled["net"]
                assert (f"当前台账净收益与清算数相差 {drift:,.2f} 元" in page) == (drift != 0), where
                checked["settled years"] += 1
                checked["with adjustments after the settlement"] += drift != 0

            plan = plans.get((code, year))
            available = _dd(page, "可分配收益")
            carry_in = _yuan(_dd(page, "上年结转"))
            if plan is not None:
                assert plan.available == plan.settled_net + plan.carry_over, where
                if plan.settlement_id is not None:  # else a plan recorded from paper, before the system
                    assert settled is not None and plan.settled_net == settled["net"], where
                    assert plan.settlement_id == settled["settlement"].id, where
                else:
                    assert figures["gross"] == figures["costs"] == ZERO, where  # no ledger that year
                assert _yuan(available) == plan.available and carry_in == plan.carry_over, where
                checked["plans"] += 1
            elif settled is not None:
                previous = plans.get((code, year - 1))
                carried = next((a.amount for a in previous.allocations if a.purpose == "carry"), None) \
                    if previous is not None else None
                expected = carried if carried is not None and previous.status in CARRY_FROM else ZERO
                assert carry_in == expected and _yuan(available) == settled["net"] + expected, where
                checked["settled without a plan"] += 1
            else:
                assert available == "清算后确定", where
    assert checked["village years"] == len(demo.villages) * len(demo.years)
    assert checked["settled years"] >= 100 and checked["plans"] >= 100
    assert checked["with adjustments after the settlement"] >= 1  # the demo's dated adjustment
    assert checked["settled without a plan"] >= 1


def test_taoyuan_2025_shows_its_share_of_the_joint_station_on_both_pages(app, demo):
    """The issue's case: 桃源村's home page showed 27,428.71 (the entries of the assets standing in the
    village) while its village-year page showed 37,480.21. The right figure is 37,480.21: per DOMAIN.md §5
    the village's net income includes its share of the joint PV station of 枫树湾村 (by capacity)."""
    c = _login(app, f"vc_{TAOYUAN}")
    home = _home_income(text(c.get("/")))
    page = text(c.get(f"/villages/{TAOYUAN}/years/2025"))
    assert "桃源村" in page
    assert home[2025]["net"] == _yuan(_dd(page, "净收益")) == Decimal("37480.21")

    # what the old home page summed: the entries posted on assets standing in the village
    standing = [e for e in db.session.scalars(sa.select(IncomeEntry).where(
        IncomeEntry.village_code == TAOYUAN, IncomeEntry.period_year == 2025)) if e.kind != "disposal"]
    assert sum((e.signed_amount for e in standing), ZERO) == Decimal("27428.71")
    # the difference is 桃源村's part of the shared station standing in another village
    (figures,) = income_by_year(COUNTY_CODE, place_code=TAOYUAN, years=[2025], lines=True)
    shared = [ln for ln in figures["lines"] if ln["is_shared"]]
    assert len(shared) == 1 and "枫树湾村" in shared[0]["asset_name"]
    assert shared[0]["part"] == Decimal("37480.21") - Decimal("27428.71")
    assert f"{shared[0]['part']:,.2f}" in page


# --- towns and the county -------------------------------------------------------------------------------

def test_town_and_county_home_pages_agree_with_the_villages_and_the_ledger(app, demo):
    # The county's figures entry by entry, by the Python twin of the signed amount.
    by_entry: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    for e in db.session.scalars(sa.select(IncomeEntry).where(IncomeEntry.county_code == COUNTY_CODE)):
        for i, v in enumerate(income_rules.ledger_columns(e.direction, e.kind, e.signed_amount)):
            by_entry[e.period_year][i] += v or ZERO
    county_home = _home_income(text(_login(app, "admin").get("/")))
    for year, figures in county_home.items():
        gross, costs, disposal = by_entry[year]
        assert figures == {"gross": gross, "costs": costs, "net": gross - costs, "disposal": disposal}, year
    assert _home_income(text(_login(app, "auditor").get("/"))) == county_home
    county = _year_figures(place_code=COUNTY_CODE, years=demo.years)

    villages = {code: _year_figures(place_code=code, years=demo.years) for code, _ in demo.villages}
    towns_net = defaultdict(lambda: ZERO)
    for town in demo.towns:
        homes = [_home_income(text(_login(app, u).get("/"))) for u in db.session.scalars(
            sa.select(User.username).where(User.scope_code == town))]  # its finance officer, maybe an auditor
        assert homes, town
        settlements = {s.year: s for s in db.session.scalars(sa.select(Settlement).where(
            Settlement.place_code == town))}
        for year in demo.years:
            figures = town_year_income(COUNTY_CODE, town, year)
            for home in homes:
                if year in home:
                    assert home[year] == {k: figures[k] for k in ("gross", "costs", "net", "disposal")}, (town, year)
            # each village's part of the town's assets is that village's own figure, to the fen
            parts = {p["village_code"]: p["net"] for p in figures["parts"]}
            for code in (v for v, _ in demo.villages if v.startswith(town)):
                assert parts.get(code, ZERO) == villages[code][year]["net"], (town, code, year)
            assert sum(parts.values(), ZERO) == figures["net"]
            towns_net[year] += figures["net"]
            s = settlements.get(year)
            if s is not None:  # the town's settlement: the ledger as it saw it
                (seen,) = income_by_year(COUNTY_CODE, place_code=town, years=[year], lines=True,
                                         through_entry_id=s.last_entry_id)
                assert (s.gross, s.costs, s.net) == (seen["gross"], seen["costs"], seen["net"]), (town, year)
                assert {p.village_code: p.net for p in s.parts} == {p["village_code"]: p["net"] for p in seen["parts"]}
    county_assets = db.session.scalars(sa.select(Asset.id).where(Asset.town_code.is_(None))).all()
    for year in demo.years:
        own = sum((_year_figures(asset_id=i, years=[year])[year]["net"] for i in county_assets), ZERO)
        assert towns_net[year] + own == county[year]["net"], year
        if year in county_home:
            assert county_home[year]["net"] == county[year]["net"]


def test_the_asset_page_shows_the_service_figures(app, demo):
    station = db.session.scalar(sa.select(Asset).where(Asset.name.like("枫树湾村村级光伏电站%")))
    page = text(_login(app, "fin_100").get(f"/assets/{station.id}"))
    for figures in income_by_year(COUNTY_CODE, asset_id=station.id):
        row = re.search(rf'<td>{figures["year"]}年</td><td class="num">([^<]*)</td><td class="num">([^<]*)</td>\s*'
                        r'<td class="num"><strong>([^<]*)</strong></td>', page)
        assert row and tuple(map(_yuan, row.groups())) == (figures["gross"], figures["costs"], figures["net"])
