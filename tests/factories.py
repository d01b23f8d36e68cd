"""Factories with valid defaults; every test overrides only what it is about."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from assetreg.core.validators import make_credit_code, make_id_number
from assetreg.extensions import db

COUNTY = "431299"
TOWN_A, TOWN_B = "431299100", "431299101"
VILLAGE_A1, VILLAGE_A2, VILLAGE_B1 = "431299100201", "431299100202", "431299101201"

_seq = itertools.count(1)


def id_number(seq: int | None = None, birth: date = date(1970, 5, 17)) -> str:
    return make_id_number(COUNTY, birth, seq if seq is not None else next(_seq))


def credit_code(serial: int | None = None, registry: str = "N2") -> str:
    return make_credit_code(COUNTY, f"{serial if serial is not None else next(_seq):09d}", registry)


@dataclass
class Client:
    """The Flask test client with a bearer token: ``c.get('/api/v1/assets')``."""

    http: object
    token: str
    user: object = None
    headers: dict = field(default_factory=dict)

    def _h(self, extra):
        return {"Authorization": f"Bearer {self.token}", **self.headers, **(extra or {})}

    def open(self, method, url, headers=None, **kw):
        # Each request gets its own app context (own ``g``, own DB session), as in production,
        # instead of sharing the test's.
        with self.http.application.app_context():
            return self.http.open(url, method=method, headers=self._h(headers), **kw)

    def get(self, url, **kw):
        return self.open("GET", url, **kw)

    def post(self, url, json=None, **kw):
        return self.open("POST", url, json=json, **kw)

    def patch(self, url, json=None, **kw):
        return self.open("PATCH", url, json=json, **kw)

    def put(self, url, json=None, **kw):
        return self.open("PUT", url, json=json, **kw)

    def delete(self, url, **kw):
        return self.open("DELETE", url, **kw)


class Factory:
    def place(self, code, name, level, parent_code=None):
        from assetreg.places.services import create_place

        p = create_place(None, code=code, name=name, level=level, parent_code=parent_code)
        db.session.commit()
        return p

    def user(self, username, role, scope_code):
        from assetreg.users.services import create_user, issue_token

        u = create_user(username=username, password="secret-pass-1", role=role, scope_code=scope_code)
        token = issue_token(u, "test")
        db.session.commit()
        return u, token

    def world(self):
        from flask import current_app

        self.place(COUNTY, "青溪县", "county")
        self.place(TOWN_A, "城关镇", "town", COUNTY)
        self.place(TOWN_B, "白石乡", "town", COUNTY)
        self.place(VILLAGE_A1, "桃源村", "village", TOWN_A)
        self.place(VILLAGE_A2, "柳林村", "village", TOWN_A)
        self.place(VILLAGE_B1, "石门村", "village", TOWN_B)
        http = current_app.test_client()
        roles = {
            "admin": ("county_admin", COUNTY),
            "fin_a": ("finance_officer", TOWN_A),
            "fin_b": ("finance_officer", TOWN_B),
            "vc_a1": ("village_committee", VILLAGE_A1),
            "vc_a2": ("village_committee", VILLAGE_A2),
            "vc_b1": ("village_committee", VILLAGE_B1),
            "auditor": ("auditor", COUNTY),
            "auditor_a": ("auditor", TOWN_A),
        }
        w = SimpleNamespace(county=COUNTY, town_a=TOWN_A, town_b=TOWN_B, village_a1=VILLAGE_A1,
                            village_a2=VILLAGE_A2, village_b1=VILLAGE_B1, users={}, http=http)
        for name, (role, scope) in roles.items():
            user, token = self.user(name, role, scope)
            w.users[name] = user
            setattr(w, name, Client(http, token, user))
        return w

    def household(self, village_code=VILLAGE_A1, **over):
        from assetreg.households.models import Household, HouseholdMember

        n = next(_seq)
        data = dict(county_code=village_code[:6], town_code=village_code[:9], village_code=village_code,
                    number=f"H{village_code}{n:05d}", head_name=f"户主{n}", head_id_number=id_number(n),
                    status="formerly_poor", monitor_type=None)
        data.update(over)
        h = Household(**data)
        h.members = [HouseholdMember(county_code=h.county_code, name=h.head_name, relation="户主",
                                     id_number=h.head_id_number, labour="full")]
        db.session.add(h)
        db.session.commit()
        return h

    def asset(self, actor=None, **over):
        """Create an asset through the service (so it is logged and validated like the API does)."""
        import sqlalchemy as sa

        from assetreg.assets.services import create_asset
        from assetreg.users.models import User

        if actor is None:
            actor = db.session.scalar(sa.select(User).where(User.role == "county_admin"))
        n = next(_seq)
        value = Decimal(over.pop("original_value", "100000.00"))
        data = dict(code=f"ZC{n:06d}", name=f"测试资产{n}", category="operating", subtype="光伏电站",
                    place_code=VILLAGE_A1, managing_level="village", original_value=value,
                    fundings=[{"source": "fiscal_link", "amount": value}], completed_on=date(2020, 6, 30),
                    status="in_operation", status_on=date(2020, 9, 1))
        data.update(over)
        if "status" not in over and data["category"] != "operating":
            data["status"] = "in_use"  # the in-service status of public-welfare and household assets
        asset = create_asset(actor, data)
        db.session.commit()
        return asset
