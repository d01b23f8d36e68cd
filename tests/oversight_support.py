"""Shared helpers of the oversight tests: archive documents, row counts, change-log reads."""

from __future__ import annotations

import itertools
from datetime import date

import sqlalchemy as sa

from assetreg.assets.models import Asset, AssetStatusChange
from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry
from assetreg.lists.models import ArchiveDocument
from assetreg.oversight.models import (
    Audit,
    DisposalApproval,
    DisposalRequest,
    Inspection,
    OversightSettings,
    Problem,
    ProblemEvent,
    ProblemEvidence,
)

_n = itertools.count(1)
TABLES = [OversightSettings, Audit, Inspection, Problem, ProblemEvent, ProblemEvidence, DisposalRequest,
          DisposalApproval, AssetStatusChange, IncomeEntry, ChangeLogEntry]


def counts() -> dict:
    """Rows per table of everything an oversight write touches (a refusal leaves all unchanged)."""
    db.session.expire_all()
    out = {m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in TABLES}
    out["asset_statuses"] = tuple(db.session.scalars(sa.select(Asset.status).order_by(Asset.id)))
    return out


def doc(*, asset=None, town_code=None, village_code=None, kind="audit_report", level="village") -> ArchiveDocument:
    """An archive document filed directly (the lists area owns their services)."""
    if asset is not None:
        town_code, village_code = asset.town_code, asset.village_code
    n = next(_n)
    d = ArchiveDocument(county_code="431299", town_code=town_code, village_code=village_code,
                        asset_id=asset.id if asset is not None else None, level=level, kind=kind,
                        archive_no=f"QX-DA-{n:05d}", title=f"档案{n}", filed_on=date(2025, 1, 10))
    db.session.add(d)
    db.session.commit()
    return d


def logs(entity: str) -> list[tuple[str, str]]:
    db.session.expire_all()
    return [tuple(r) for r in db.session.execute(
        sa.select(ChangeLogEntry.entity_id, ChangeLogEntry.action).where(ChangeLogEntry.entity == entity)
        .order_by(ChangeLogEntry.id)).all()]


def log_entries(entity: str) -> list[ChangeLogEntry]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == entity)
                                   .order_by(ChangeLogEntry.id)))
