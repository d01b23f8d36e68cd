"""A settled year never gains an entry, even when the settlement and the postings arrive at once (issue 11
item 1): a real server in a thread, each request on a connection of its own, one settlement and 19
postings for the same village and year fired together, village after village. On SQLite the writers
must serialise (``BEGIN IMMEDIATE``, assetreg/core/sqlite.py); on PostgreSQL the settlement's lock holds."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
from werkzeug.serving import make_server

from assetreg.extensions import db
from assetreg.income.services import income_by_year, settled_village, settlement_for

YEAR = 2024
POSTINGS = 19


class LiveServer:
    """The app served by werkzeug in a thread (one thread per request)."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-server", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()

    def post(self, path: str, token: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def _posting(n: int) -> dict:
    return {"direction": "income", "kind": "electricity", "amount": f"{100 + n}.{n:02d}", "period_year": YEAR,
            "period_month": 1 + n % 12, "received_on": "2025-01-10", "voucher_no": f"记-{n:04d}"}


@pytest.mark.committed  # the server's requests run on connections of their own
def test_a_settlement_racing_postings_never_leaves_an_entry_outside_it(app, world, f, today):
    villages = [world.village_a1, world.village_a2, world.village_b1]
    villages += [f.place("431299100203", "杏花村", "village", world.town_a).code,
                 f.place("431299101202", "青山村", "village", world.town_b).code]
    fin = {world.town_a: world.fin_a.token, world.town_b: world.fin_b.token}
    assets = {}
    for v in villages:
        asset = f.asset(place_code=v, name=f"{v}光伏电站")
        assets[v] = asset.id
        for n in range(30):  # a year's worth already in the ledger, so the settlement has work to do
            r = world.fin_a.post if v.startswith(world.town_a) else world.fin_b.post
            assert r(f"/api/v1/assets/{asset.id}/income", json=_posting(50 + n)).status_code == 201
    outcomes: dict[str, list[tuple[int, dict]]] = {}
    with LiveServer(app) as live:
        for v in villages:
            token = fin[v[:9]]
            barrier = threading.Barrier(POSTINGS + 1)
            results: list = [None] * (POSTINGS + 1)

            def fire(i, token=token, v=v, barrier=barrier, results=results):
                barrier.wait()
                if i == 0:
                    results[i] = live.post("/api/v1/settlements", token,
                                           {"place_code": v, "year": YEAR, "settled_on": "2025-01-20"})
                else:
                    results[i] = live.post(f"/api/v1/assets/{assets[v]}/income", token, _posting(i))

            threads = [threading.Thread(target=fire, args=(i,)) for i in range(POSTINGS + 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            if results[0][0] == 503 and results[0][1]["error"]["code"] == "busy":
                # PostgreSQL may answer the settlement itself 503 (a deadlock or lock timeout against the
                # postings): nothing was written, and a client does as Retry-After says: it tries again
                results[0] = live.post("/api/v1/settlements", token,
                                       {"place_code": v, "year": YEAR, "settled_on": "2025-01-20"})
            outcomes[v] = results

    db.session.expire_all()
    report = {}
    for v, results in outcomes.items():
        status, body = results[0]
        assert status == 201, (v, status, body)
        settlement = settlement_for(world.county, v, YEAR)
        (ledger,) = income_by_year(world.county, place_code=v, years=[YEAR])
        settled = settled_village(world.county, v, YEAR)
        late = [b["id"] for s, b in results[1:] if s == 201 and b["id"] > settlement.last_entry_id]
        refused = [(s, b["error"]["code"]) for s, b in results[1:] if s != 201]
        report[v] = (settled["gross"], ledger["gross"], len(late), refused)
        assert all(s == 409 and code == "year_settled" or s == 503 and code == "busy" for s, code in refused), \
            (v, refused)
    assert {v: (gross, ledger_gross, late) for v, (gross, ledger_gross, late, _) in report.items()} == {
        v: (ledger_gross, ledger_gross, 0) for v, (_, ledger_gross, _, _) in report.items()}, report
    assert all(isinstance(g, Decimal) for g, *_ in report.values())
