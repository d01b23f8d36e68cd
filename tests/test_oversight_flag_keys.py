"""A problem raised from a flag takes its place from the flag's key, also when the key carries a period after
a second ':' (AUDIT_MISSING's "asset:12:2024", SETTLEMENT_LATE's "village:431299100201:2024",
INSPECTION_MISSING's "town:431299100:2025Q1"): the id is what stands before it (flags/rules.py makes the
keys, oversight/services.py ``_codes_from_flag_key`` reads them)."""

from __future__ import annotations

from datetime import date

import pytest

from assetreg.core.errors import DomainError, RuleViolation
from assetreg.extensions import db
from assetreg.oversight.services import create_problem

from .factories import TOWN_B, VILLAGE_A1, VILLAGE_B1


def _raise(user, rule: str, key: str, **over):
    data = {"source": "flag", "flag_rule": rule, "flag_key": key, "description": f"{rule} 预警转问题",
            "task": "限期整改", "responsible_unit": "责任单位", "responsible_person": "张三",
            "raised_on": date(2025, 4, 1), "deadline": date(2025, 5, 31)}
    data.update(over)
    problem = create_problem(user, data)
    db.session.commit()
    return problem


def test_the_id_before_a_second_colon_names_the_subject(world, f, today):
    admin = world.users["admin"]
    a = f.asset(name="石门村光伏电站", place_code=VILLAGE_B1)
    p = _raise(admin, "AUDIT_MISSING", f"asset:{a.id}:2024")
    assert (p.asset_id, p.town_code, p.village_code) == (a.id, TOWN_B, VILLAGE_B1)
    p = _raise(admin, "SETTLEMENT_LATE", f"village:{VILLAGE_A1}:2024")
    assert (p.asset_id, p.town_code, p.village_code) == (None, VILLAGE_A1[:9], VILLAGE_A1)
    p = _raise(admin, "INSPECTION_MISSING", f"town:{TOWN_B}:2025Q1")
    assert (p.asset_id, p.town_code, p.village_code) == (None, TOWN_B, None)
    # The same flag (rule and whole key) has one open problem; another year's is another flag.
    _raise(admin, "AUDIT_MISSING", f"asset:{a.id}:2023")
    with pytest.raises(DomainError) as exc:
        _raise(admin, "AUDIT_MISSING", f"asset:{a.id}:2024")
    assert getattr(exc.value, "code", None) == "duplicate_problem"
    db.session.rollback()


def test_a_suffixed_key_still_checks_scope_and_existence(world, f, today):
    a = f.asset(name="石门村光伏电站", place_code=VILLAGE_B1)
    with pytest.raises(DomainError) as exc:  # a town-A finance officer on a town-B asset
        _raise(world.users["fin_a"], "AUDIT_MISSING", f"asset:{a.id}:2024")
    assert getattr(exc.value, "code", None) == "out_of_scope"
    db.session.rollback()
    with pytest.raises(RuleViolation) as exc:
        _raise(world.users["admin"], "AUDIT_MISSING", "asset:999999:2024")
    assert "flag_key" in exc.value.fields
    db.session.rollback()
    with pytest.raises(RuleViolation) as exc:  # a plan names no place: the problem needs one given
        _raise(world.users["admin"], "PV_SHARE_LOW", "plan:7:2024")
    assert "place_code" in exc.value.fields
    db.session.rollback()
    p = _raise(world.users["admin"], "PV_SHARE_LOW", "plan:7:2024", place_code=VILLAGE_B1)
    assert (p.town_code, p.village_code) == (TOWN_B, VILLAGE_B1)
