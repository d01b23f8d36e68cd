"""Record holders of the five rights, keep their history, tell completeness."""

from __future__ import annotations

from datetime import date

from ..changelog.services import record_change, snapshot
from ..extensions import db
from .models import FIVE_RIGHTS, AssetRight


def assign_household_rights(user, asset, household, *, effective_on: date) -> list[AssetRight]:
    """Household assets: all five rights to the household (basis: P11, seed 000)."""
    rows = []
    for kind in FIVE_RIGHTS:
        right = AssetRight(county_code=asset.county_code, asset_id=asset.id, kind=kind, holder_kind="household",
                           holder_name=household.head_name, household_id=household.id,
                           basis_document="到户类资产确权到户", effective_on=effective_on,
                           recorded_by_id=getattr(user, "id", None))
        db.session.add(right)
        rows.append(right)
    db.session.flush()
    for right in rows:
        record_change(user, entity="asset_right", entity_id=right.id, action="create",
                      county_code=asset.county_code, town_code=asset.town_code,
                      village_code=asset.village_code, after=snapshot(right))
    return rows
