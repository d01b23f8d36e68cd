"""Fixtures for the export tests: a small generated county (439901) with a user and token per role."""

from __future__ import annotations

import io
import re
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.core.time import now_utc
from assetreg.exports import jobs
from assetreg.extensions import db
from assetreg.generator import generate as gen
from assetreg.places.models import Place

from .factories import Client, Factory

COUNTY = "439901"
FULL_ID = re.compile(r"(?<![0-9*])[1-9][0-9]{5}(19|20)[0-9]{2}[01][0-9][0-3][0-9]{4}[0-9X](?![0-9])")
MASKED_ID = re.compile(r"^[0-9]{6}\*{8}[0-9]{3}[0-9X]$")
# an unmasked ID number planted in the change log, as an older entry of some area might hold it
PLANTED_ID = "439901198001010011"


@pytest.fixture
def gw(app, committed_db, monkeypatch, tmp_path, today):
    """Generated county 439901 at scale 0.01 (2 towns, 4 villages), users for every role, exports to tmp.
    Committed for real (``committed_db``): the export jobs run in worker threads on their own connections."""
    monkeypatch.setitem(app.config, "EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.delitem(app.config, "REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    gen.generate(counties=1, seed=11, scale=0.01)
    db.session.commit()
    towns = db.session.scalars(sa.select(Place.code).where(Place.county_code == COUNTY, Place.level == "town")
                               .order_by(Place.code)).all()
    village_a = db.session.scalar(sa.select(Place.code).where(Place.parent_code == towns[0]).order_by(Place.code))
    f = Factory()
    from flask import current_app

    http = current_app.test_client()
    roles = {"admin": ("county_admin", COUNTY), "fin_a": ("finance_officer", towns[0]),
             "fin_b": ("finance_officer", towns[1]), "vc_a": ("village_committee", village_a),
             "auditor": ("auditor", COUNTY), "auditor_a": ("auditor", towns[0])}
    w = SimpleNamespace(county=COUNTY, town_a=towns[0], town_b=towns[1], village_a=village_a, users={})
    for name, (role, scope) in roles.items():
        user, token = f.user(f"x{name}", role, scope)
        w.users[name] = user
        setattr(w, name, Client(http, token, user))
    db.session.add(ChangeLogEntry(county_code=COUNTY, town_code=towns[0], village_code=village_a, actor_name="old",
                                  at=now_utc(), entity="household", entity_id="1", action="update",
                                  before={"head_id_number": PLANTED_ID, "phone": "13812345678"},
                                  after={"note": f"身份证 {PLANTED_ID}"}))
    db.session.commit()
    yield w
    jobs.wait_for_workers()


@contextmanager
def current_app_context():
    """A fresh app context (its own session), as a worker has."""
    from flask import current_app

    with current_app.app_context():
        try:
            yield
        finally:
            db.session.remove()


def read_book(content: bytes) -> dict[str, pd.DataFrame]:
    return pd.read_excel(io.BytesIO(content), sheet_name=None, engine="calamine", dtype=object)


def money_sum(series) -> Decimal:
    """Exact sum of a money column read back (each cell is a double holding a two-place amount)."""
    return sum((Decimal(repr(float(v))) for v in series if v is not None and not pd.isna(v)), Decimal("0.00"))


def all_text(book: dict[str, pd.DataFrame]) -> str:
    return "\n".join(df.to_csv(index=False) for df in book.values())


def run_export(client, kind: str = "ledger", scope: str = COUNTY, years: str = "2020-2025") -> dict:
    r = client.post(f"/api/v1/exports/{kind}", json={"scope": scope, "years": years})
    assert r.status_code == 202, r.json
    jobs.wait_for_workers()
    job = client.get(f"/api/v1/exports/{r.json['id']}").json
    assert job["status"] == "done", job
    return job


def download(client, job: dict) -> bytes:
    r = client.get(job["download_url"])
    try:
        assert r.status_code == 200, r.data[:200]
        return r.data
    finally:
        r.close()  # send_file keeps the file open until the response is closed
