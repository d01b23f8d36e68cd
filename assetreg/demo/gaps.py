"""The deliberate gaps of the demo county (assets without custody, rights or contracts) as the data shows
them on a day: what the loader plants and the flags must find."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from ..assets.models import Asset
from ..assets.rules import HELD
from ..custody.models import AssetCustody, AssetOperation
from ..extensions import db
from ..rights.models import FIVE_RIGHTS, AssetRight
from .names import COUNTY_CODE

# Every generated business date is on or before this day; the deliberate gaps are judged at it.
# Terms in force run to 2028 or later, expired ones ended by 2024, so the gaps hold at any date
# from 2025 to the end of 2027.
AS_OF = date(2025, 6, 30)
# How many assets get each deliberate gap (fewer if there are not enough candidates).
GAP_SIZES = {"custody_missing": 6, "custody_expired": 5, "custody_no_fund": 4, "rights_incomplete": 10,
             "contract_missing": 4, "contract_expired": 4}


def scan_gaps(county_code: str = COUNTY_CODE, as_of: date = AS_OF) -> dict[str, list[str]]:
    """The deliberate gaps as the data shows them at ``as_of`` (asset codes, sorted)."""
    s = db.session
    assets = s.execute(sa.select(Asset.id, Asset.code, Asset.category, Asset.status)
                       .where(Asset.county_code == county_code)).all()
    custody = {r.asset_id: r for r in s.execute(
        sa.select(AssetCustody.asset_id, AssetCustody.term_to, AssetCustody.annual_fund)
        .where(AssetCustody.county_code == county_code, AssetCustody.replaced_at.is_(None)))}
    operation = {r.asset_id: r for r in s.execute(
        sa.select(AssetOperation.asset_id, AssetOperation.term_to)
        .where(AssetOperation.county_code == county_code, AssetOperation.replaced_at.is_(None)))}
    rights = dict(s.execute(
        sa.select(AssetRight.asset_id, sa.func.count(sa.distinct(AssetRight.kind)))
        .where(AssetRight.county_code == county_code, AssetRight.ended_on.is_(None),
               AssetRight.kind.in_(list(FIVE_RIGHTS)))
        .group_by(AssetRight.asset_id)).all())
    gaps: dict[str, list[str]] = {key: [] for key in GAP_SIZES}
    for a in assets:
        if a.category == "public_welfare" and a.status == "in_use":
            c = custody.get(a.id)
            if c is None:
                gaps["custody_missing"].append(a.code)
            elif c.term_to is not None and c.term_to < as_of:
                gaps["custody_expired"].append(a.code)
            elif not c.annual_fund:
                gaps["custody_no_fund"].append(a.code)
        if a.status in HELD and rights.get(a.id, 0) < len(FIVE_RIGHTS):
            gaps["rights_incomplete"].append(a.code)
        if a.category == "operating" and a.status == "in_operation":
            o = operation.get(a.id)
            if o is None:
                gaps["contract_missing"].append(a.code)
            elif o.term_to is not None and o.term_to < as_of:
                gaps["contract_expired"].append(a.code)
    return {k: sorted(v) for k, v in gaps.items()}
