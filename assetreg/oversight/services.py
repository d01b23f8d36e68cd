"""Oversight services: the county's rule settings, annual audits, quarterly inspections, problems to
rectification (三单一账) and disposals (处置). Services take the acting user first and never commit.

``user`` None (the command line, the demo loader) skips the role and scope checks and is logged as
"system" — for settings, audits, inspections and problems. Disposals always need a user: they move the
asset's status and post to the income ledger through those areas' services, which check the actor.

Functions for the flags engine take a county code, not a user: ``settings_for``,
``overdue_problems`` / ``overdue_problems_select`` (RECTIFICATION_OVERDUE) and
``unapproved_disposals_select`` (DISPOSAL_UNAPPROVED)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..assets import rules as asset_rules
from ..assets.models import Asset
from ..assets.services import change_status
from ..changelog.services import record_change, snapshot
from ..core.access import WRITERS, Scope, level_of, require_write, scope_clause
from ..core.errors import Conflict, Forbidden, NotFound, RuleViolation
from ..core.time import today_local
from ..extensions import db
from ..income.models import DISPOSAL
from ..income.services import post_entry, settlements_touching
from ..lists import services as lists_services
from ..lists.models import ArchiveDocument
from ..places.models import Place
from . import rules
from .models import (
    APPROVERS,
    DISPOSAL_GROUNDS,
    DISPOSAL_METHODS,
    DISPOSAL_STATUSES,
    Audit,
    DisposalApproval,
    DisposalRequest,
    Inspection,
    OversightSettings,
    Problem,
    ProblemEvent,
    ProblemEvidence,
)

# DOMAIN.md roles: auditors record audits and inspections — their one write besides closing problems
# (basis: P18 纪检监察和审计监督; P25 annual audits; P16, P27 quarterly inspections).
AUDIT_DOCUMENT_KINDS = ("audit_report", "other")
INSPECTION_DOCUMENT_KINDS = ("inspection_report", "other")
# An asset still being built or not yet handed over has no operation to audit.
NOT_AUDITABLE = ("under_construction", "completed")


def _uid(user) -> int | None:
    return getattr(user, "id", None)


def _visible(model, user):
    """Rows of ``model`` in the user's county and scope (everything for ``user`` None)."""
    if user is None:
        return sa.true()
    return sa.and_(model.county_code == user.county_code, scope_clause(model, user))


def _require(user, area: str, roles: set[str], *, county_code: str, town_code: str | None,
             village_code: str | None) -> None:
    """Role of the action, then the area's write check with the scope (403 either way)."""
    if user is None:
        return
    _require_role(user, roles)
    require_write(user, area, county_code=county_code, town_code=town_code, village_code=village_code)


def _require_role(user, roles: set[str]) -> None:
    if user is not None and user.role not in roles:
        raise Forbidden("当前角色无权执行此操作", code="role_forbidden")


def _check_not_future(on: date, field: str, today: date) -> None:
    if on > today:
        raise RuleViolation("日期不能晚于今天", {field: ["不能是将来的日期"]})


def _check_version(obj, version: int | None, what: str) -> None:
    if version is not None and version != obj.version:
        raise Conflict(f"该{what}已被他人修改，请刷新后重试", {"version": [f"当前版本为 {obj.version}"]},
                       code="version_conflict")


def _page(query, order, page: int, per_page: int) -> dict:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    items = list(db.session.scalars(query.order_by(*order).limit(per_page).offset((page - 1) * per_page)))
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def _ref_asset(user, asset_id: int, field: str = "asset_id") -> Asset:
    """An asset named in a request body: in scope, or 403 when it exists elsewhere, else 422."""
    asset = db.session.scalar(sa.select(Asset).where(Asset.id == asset_id, _visible(Asset, user)))
    if asset is None:
        if db.session.scalar(sa.select(Asset.id).where(Asset.id == asset_id)) is not None:
            raise Forbidden("超出您的管辖范围", code="out_of_scope")
        raise RuleViolation("资产无效", {field: ["未找到该资产"]})
    return asset


def _annotate_assets(items) -> None:
    ids = sorted({i.asset_id for i in items if i.asset_id is not None})
    info = {r.id: r for r in db.session.execute(
        sa.select(Asset.id, Asset.code, Asset.name).where(Asset.id.in_(ids)))} if ids else {}
    for i in items:
        row = info.get(i.asset_id)
        i.asset_code = row.code if row else None
        i.asset_name = row.name if row else None


def _document(doc_id: int | None, *, county_code: str, field: str, asset_id: int | None = None,
              town_code: str | None = None, village_code: str | None = None,
              kinds: tuple[str, ...] | None = None) -> ArchiveDocument | None:
    """An archive document referenced by id: of the same county, and of the asset or place it documents."""
    if doc_id is None:
        return None
    doc = db.session.get(ArchiveDocument, doc_id)
    if doc is None or doc.county_code != county_code:
        raise RuleViolation("档案文件无效", {field: ["未找到本县的该档案文件"]})
    if asset_id is not None and doc.asset_id != asset_id:
        raise RuleViolation("档案文件不属于该资产", {field: ["应为该资产的档案文件"]})
    if town_code is not None and doc.town_code != town_code:
        raise RuleViolation("档案文件不属于该乡镇", {field: ["应为该乡镇的档案文件"]})
    if village_code is not None and doc.village_code != village_code:
        raise RuleViolation("档案文件不属于该村", {field: ["应为该村的档案文件"]})
    if kinds is not None and doc.kind not in kinds:
        raise RuleViolation("档案文件类别不符", {field: [f"应为 {'、'.join(kinds)} 类文件"]})
    return doc


# --- settings -------------------------------------------------------------------------------------

def _setting_defaults() -> dict:
    """The model's column defaults (the seeds' era), so a county without settings reads them."""
    out = {}
    for col in OversightSettings.__table__.columns:
        if col.default is None or col.key in ("id", "county_code", "version", "updated_at"):
            continue
        out[col.key] = col.default.arg(None) if col.default.is_callable else col.default.arg
    return out


def settings_for(county_code: str) -> OversightSettings:
    """The county's saved settings, or the defaults (a transient, unsaved row with version 0)."""
    row = db.session.scalar(sa.select(OversightSettings).where(OversightSettings.county_code == county_code))
    if row is None:
        row = OversightSettings(county_code=county_code, version=0, updated_at=None, **_setting_defaults())
        row.is_default = True
    else:
        row.is_default = False
    return row


def get_settings(user) -> OversightSettings:
    return settings_for(user.county_code)


def set_settings(user, data: dict) -> OversightSettings:
    """Replace the county's settings (county admin). ``version`` 0 is the defaults, never saved."""
    require_write(user, "settings", county_code=user.county_code, town_code=None, village_code=None)
    errors = {}
    for kind in ("settlement", "handover"):
        why = rules.month_day_error(data[f"{kind}_deadline_month"], data[f"{kind}_deadline_day"])
        if why:
            errors[f"{kind}_deadline_day"] = [why]
    why = rules.approval_order_error(data["disposal_approval_order"])
    if why:
        errors["disposal_approval_order"] = [why]
    if errors:
        raise RuleViolation("设置有误", errors)
    row = db.session.scalar(sa.select(OversightSettings).where(OversightSettings.county_code == user.county_code)
                            .with_for_update())
    current = row.version if row is not None else 0
    version = data.pop("version", None)
    if version is not None and version != current:
        raise Conflict("监管设置已被他人修改，请刷新后重试", {"version": [f"当前版本为 {current}"]},
                       code="version_conflict")
    before = snapshot(row, exclude=("updated_at",)) if row is not None else None
    if row is None:
        row = OversightSettings(county_code=user.county_code)
        db.session.add(row)
    for key, value in data.items():
        setattr(row, key, list(value) if key == "disposal_approval_order" else value)
    db.session.flush()
    record_change(user, entity="oversight_settings", entity_id=user.county_code, action="set",
                  county_code=user.county_code, before=before, after=snapshot(row, exclude=("updated_at",)))
    row.is_default = False
    return row


# --- audits (basis: P25) ---------------------------------------------------------------------------

def list_audits(user, *, year=None, town_code=None, village_code=None, asset_id=None, page=1, per_page=50) -> dict:
    q = sa.select(Audit).where(_visible(Audit, user))
    if year:
        q = q.where(Audit.year == year)
    if town_code:
        q = q.where(Audit.town_code == town_code)
    if village_code:
        q = q.where(Audit.village_code == village_code)
    if asset_id:
        q = q.where(Audit.asset_id == asset_id)
    out = _page(q, (Audit.year.desc(), Audit.asset_id, Audit.id), page, per_page)
    _annotate_assets(out["items"])
    return out


def get_audit(user, audit_id: int) -> Audit:
    audit = db.session.scalar(sa.select(Audit).where(Audit.id == audit_id, _visible(Audit, user)))
    if audit is None:
        raise NotFound("未找到该审计记录")
    _annotate_assets([audit])
    return audit


def create_audit(user, data: dict) -> Audit:
    """Record the annual audit (年度审计) of an operating asset: one per asset and year."""
    _require_role(user, WRITERS["oversight.audit"])
    asset = _ref_asset(user, data["asset_id"])
    _require(user, "oversight", WRITERS["oversight.audit"], county_code=asset.county_code, town_code=asset.town_code,
             village_code=asset.village_code)
    if asset.category != "operating":
        raise RuleViolation("只有经营性资产需要年度审计", {"asset_id": ["该资产不是经营性资产"]},
                            code="not_operating")
    if asset.status in NOT_AUDITABLE:
        raise RuleViolation("资产尚未移交运营，无需年度审计", {"asset_id": ["资产尚未移交"]}, code="not_operating")
    today = today_local()
    _check_not_future(data["audited_on"], "audited_on", today)
    if data["year"] > data["audited_on"].year:
        raise RuleViolation("审计年度不能晚于审计日期所在年度",
                            {"year": [f"不能晚于 {data['audited_on'].year} 年"]})
    if db.session.scalar(sa.select(Audit.id).where(Audit.county_code == asset.county_code,
                                                   Audit.asset_id == asset.id, Audit.year == data["year"])):
        raise Conflict(f"该资产{data['year']}年度已有审计记录", {"year": ["每个资产每年只记一次年度审计"]},
                       code="duplicate_audit")
    _document(data.get("report_document_id"), county_code=asset.county_code, field="report_document_id",
              asset_id=asset.id, kinds=AUDIT_DOCUMENT_KINDS)
    audit = Audit(county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                  asset_id=asset.id, year=data["year"], auditor=data["auditor"], audited_on=data["audited_on"],
                  conclusion=data["conclusion"], findings=data.get("findings"),
                  report_document_id=data.get("report_document_id"), recorded_by_id=_uid(user))
    db.session.add(audit)
    db.session.flush()
    record_change(user, entity="audit", entity_id=audit.id, action="create", county_code=audit.county_code,
                  town_code=audit.town_code, village_code=audit.village_code, after=snapshot(audit))
    audit.asset_code, audit.asset_name = asset.code, asset.name
    return audit


# --- inspections (basis: P16, P27) -----------------------------------------------------------------

def _visible_inspections(user):
    """Inspections are of a town: county users see the county's, town users their town's; a village's
    user sees none (a town-level record lies above its scope)."""
    if user is None:
        return sa.true()
    scope = Scope.of(user)
    return scope.where(Inspection) if scope.level != "village" else sa.false()


def list_inspections(user, *, year=None, quarter=None, town_code=None, page=1, per_page=50) -> dict:
    q = sa.select(Inspection).where(_visible_inspections(user))
    if year:
        q = q.where(Inspection.year == year)
    if quarter:
        q = q.where(Inspection.quarter == quarter)
    if town_code:
        q = q.where(Inspection.town_code == town_code)
    return _page(q, (Inspection.year.desc(), Inspection.quarter.desc(), Inspection.town_code, Inspection.id),
                 page, per_page)


def get_inspection(user, inspection_id: int) -> Inspection:
    row = db.session.scalar(sa.select(Inspection).where(Inspection.id == inspection_id,
                                                        _visible_inspections(user)))
    if row is None:
        raise NotFound("未找到该督查检查记录")
    return row


def create_inspection(user, data: dict) -> Inspection:
    """Record a town's quarterly inspection (督查检查): one per town and quarter."""
    _require_role(user, WRITERS["oversight.audit"])
    town = db.session.scalar(sa.select(Place).where(Place.code == data["town_code"], Place.level == "town"))
    if town is None or (user is not None and town.county_code != user.county_code):
        raise RuleViolation("乡镇无效", {"town_code": ["未找到本县的该乡镇"]})
    _require(user, "oversight", WRITERS["oversight.audit"], county_code=town.county_code, town_code=town.code, village_code=None)
    year, quarter, on = data["year"], data["quarter"], data["inspected_on"]
    today = today_local()
    _check_not_future(on, "inspected_on", today)
    start = rules.quarter_start(year, quarter)
    if on < start:
        raise RuleViolation("检查日期早于所检查的季度", {"inspected_on": [f"不能早于 {start}"]})
    if town.valid_to is not None and start > town.valid_to:
        raise RuleViolation("该乡镇已撤销", {"town_code": [f"已于 {town.valid_to} 撤销"]})
    if db.session.scalar(sa.select(Inspection.id).where(
            Inspection.county_code == town.county_code, Inspection.town_code == town.code,
            Inspection.year == year, Inspection.quarter == quarter)):
        raise Conflict(f"该乡镇{year}年第{quarter}季度已有督查检查记录",
                       {"quarter": ["每个乡镇每季度只记一次督查检查"]}, code="duplicate_inspection")
    _document(data.get("report_document_id"), county_code=town.county_code, field="report_document_id",
              town_code=town.code, kinds=INSPECTION_DOCUMENT_KINDS)
    row = Inspection(county_code=town.county_code, town_code=town.code, year=year, quarter=quarter,
                     inspected_on=on, inspector=data["inspector"], conclusion=data.get("conclusion"),
                     findings=data.get("findings"), report_document_id=data.get("report_document_id"),
                     recorded_by_id=_uid(user))
    db.session.add(row)
    db.session.flush()
    record_change(user, entity="inspection", entity_id=row.id, action="create", county_code=row.county_code,
                  town_code=row.town_code, after=snapshot(row))
    return row


# --- problems (三单一账; basis: P27, P30) ----------------------------------------------------------

def _status_as_of(county_code: str | None, as_of: date):
    """Each problem's status as of ``as_of``: the latest event on or before that day (events of a
    problem are dated in order, so the highest id among them is the latest). A problem raised later
    has no row."""
    cond = [ProblemEvent.happened_on <= as_of]
    if county_code is not None:
        cond.append(ProblemEvent.county_code == county_code)
    last = (sa.select(ProblemEvent.problem_id, sa.func.max(ProblemEvent.id).label("event_id"))
            .where(*cond).group_by(ProblemEvent.problem_id).subquery())
    return (sa.select(last.c.problem_id, ProblemEvent.to_status.label("status"))
            .join(ProblemEvent, ProblemEvent.id == last.c.event_id).subquery())


def _overdue_clause(as_of_status, as_of: date):
    return sa.and_(Problem.deadline < as_of, as_of_status.c.status.not_in(rules.DONE_STATUSES))


def overdue_problems_select(county_code: str, as_of: date):
    """SELECT (Problem, status_as_of) of the county's problems overdue as of ``as_of`` — past the
    deadline and not rectified or closed on that day (RECTIFICATION_OVERDUE; basis: P27)."""
    st = _status_as_of(county_code, as_of)
    return (sa.select(Problem, st.c.status.label("status_as_of"))
            .join(st, st.c.problem_id == Problem.id)
            .where(Problem.county_code == county_code, _overdue_clause(st, as_of))
            .order_by(Problem.deadline, Problem.id))


def overdue_problems(county_code: str, as_of: date) -> list[Problem]:
    """The county's overdue problems as of a date, each with ``status_as_of`` set."""
    out = []
    for problem, status in db.session.execute(overdue_problems_select(county_code, as_of)).all():
        problem.status_as_of = status
        out.append(problem)
    return out


def _annotate_problems(items: list[Problem]) -> list[Problem]:
    """``is_overdue``: past the deadline and not rectified, today."""
    today = today_local()
    _annotate_assets(items)
    for p in items:
        p.is_overdue = rules.is_overdue(p.deadline, p.status, today)
    return items


def _problems_query(user, *, status=None, source=None, town_code=None, village_code=None, asset_id=None,
                    audit_id=None, inspection_id=None, overdue=None, as_of=None):
    q = sa.select(Problem).where(_visible(Problem, user))
    if status:
        q = q.where(Problem.status == status)
    if audit_id:
        q = q.where(Problem.audit_id == audit_id)
    if inspection_id:
        q = q.where(Problem.inspection_id == inspection_id)
    if source:
        q = q.where(Problem.source == source)
    if town_code:
        q = q.where(Problem.town_code == town_code)
    if village_code:
        q = q.where(Problem.village_code == village_code)
    if asset_id:
        q = q.where(Problem.asset_id == asset_id)
    if overdue is not None:
        as_of = as_of or today_local()
        st = _status_as_of(user.county_code if user is not None else None, as_of)
        overdue_ids = sa.select(Problem.id).join(st, st.c.problem_id == Problem.id).where(_overdue_clause(st, as_of))
        q = q.where(Problem.id.in_(overdue_ids) if overdue else Problem.id.not_in(overdue_ids))
    return q


def list_problems(user, *, page=1, per_page=50, **filters) -> dict:
    """Problems in scope, filtered (status, source, town, village, asset, audit, inspection, overdue as of
    a day), by deadline."""
    out = _page(_problems_query(user, **filters), (Problem.deadline, Problem.id), page, per_page)
    _annotate_problems(out["items"])
    return out


def count_problems(user, **filters) -> dict:
    """The rectification ledger's figures under the same filters but the status: problems per status and
    how many are overdue today (one query)."""
    filters.pop("status", None)
    q = _problems_query(user, **filters).subquery()
    late = sa.and_(q.c.deadline < today_local(), q.c.status.not_in(rules.DONE_STATUSES))
    rows = db.session.execute(sa.select(q.c.status, sa.func.count(), sa.func.sum(sa.case((late, 1), else_=0)))
                              .group_by(q.c.status)).all()
    by_status = {status: n for status, n, _ in rows}
    return {"by_status": by_status, "total": sum(by_status.values()), "overdue": sum(int(o or 0) for *_, o in rows)}


def all_problems(user, **filters) -> list[Problem]:
    """Every problem under the filters (no paging), for the ledger's workbook: two queries."""
    items = list(db.session.scalars(_problems_query(user, **filters).order_by(Problem.deadline, Problem.id)))
    return _annotate_problems(items)


def _load_problem(user, problem_id: int, *, lock: bool = False) -> Problem | None:
    q = sa.select(Problem).where(Problem.id == problem_id, _visible(Problem, user))
    if lock:
        q = q.with_for_update(of=Problem)
    return db.session.scalar(q.options(selectinload(Problem.events), selectinload(Problem.evidence)))


def get_problem(user, problem_id: int) -> Problem:
    problem = _load_problem(user, problem_id)
    if problem is None:
        raise NotFound("未找到该问题")
    return _annotate_problems([problem])[0]


def _problem_for_write(user, problem_id: int) -> Problem:
    problem = _load_problem(user, problem_id, lock=True)
    if problem is None:
        if db.session.scalar(sa.select(Problem.id).where(Problem.id == problem_id)) is not None:
            raise Forbidden("超出您的管辖范围", code="out_of_scope")
        raise NotFound("未找到该问题")
    return problem


def _place_codes(user, place_code: str) -> dict:
    place = db.session.scalar(sa.select(Place).where(Place.code == place_code))
    if place is None or (user is not None and place.county_code != user.county_code):
        raise RuleViolation("区划无效", {"place_code": ["未找到本县的该区划"]})
    return {"county_code": place.county_code,
            "town_code": place.code if place.level == "town" else place.town_code,
            "village_code": place.code if place.level == "village" else None}


def _codes_from_flag_key(user, key: str) -> tuple[dict | None, Asset | None]:
    """A flag key names what it is about ("asset:12", "village:431299100201", "plan:7" …), sometimes with
    a suffix after a second ':' ("asset:12:2024" of AUDIT_MISSING, "village:431299100201:2024",
    "town:431299100:2025Q1"): the id is what stands before it. Take the place from assets and places;
    others need asset_id or place_code."""
    kind, _, ident = key.partition(":")
    ident = ident.split(":", 1)[0]  # "asset:12:2024", "town:431299100:2025Q1": the subject, then the period
    if kind == "asset" and ident.isdigit() and len(ident) <= 12:
        asset = _ref_asset(user, int(ident), field="flag_key")
        return _asset_codes(asset), asset
    if kind in ("county", "town", "village") and ident.isdigit():
        try:
            return _place_codes(user, ident), None
        except RuleViolation:
            raise RuleViolation("预警对象无效", {"flag_key": ["未找到本县的该区划"]}) from None
    return None, None


def _asset_codes(asset: Asset) -> dict:
    return {"county_code": asset.county_code, "town_code": asset.town_code, "village_code": asset.village_code}


def _refs_error(source: str, data: dict) -> dict | None:
    """Each source names its own origin and nothing else's."""
    wanted = {"audit": ["audit_id"], "inspection": ["inspection_id"], "flag": ["flag_rule", "flag_key"],
              "complaint": []}[source]
    errors = {}
    for name in ("audit_id", "inspection_id", "flag_rule", "flag_key"):
        given = data.get(name) is not None
        if name in wanted and not given:
            errors[name] = ["该来源必填"]
        elif name not in wanted and given:
            errors[name] = ["与问题来源不符，不填"]
    return errors or None


def create_problem(user, data: dict) -> Problem:  # noqa: C901 - one branch per problem source (audit, inspection, flag, complaint) and its subject
    """Enter a problem (问题清单) with its task (任务清单), responsible unit and person (责任清单) and deadline."""
    _require_role(user, WRITERS["problems.raise"])
    source = data["source"]
    errors = _refs_error(source, data)
    if errors:
        raise RuleViolation("问题来源信息有误", errors)
    asset, codes, found_on = None, None, None
    if data.get("asset_id") is not None and data.get("place_code") is not None:
        raise RuleViolation("资产与区划只填其一", {"place_code": ["已指定资产时不填"]})
    if data.get("asset_id") is not None:
        asset = _ref_asset(user, data["asset_id"])
        codes = _asset_codes(asset)
    elif data.get("place_code") is not None:
        codes = _place_codes(user, data["place_code"])
    if source == "audit":
        audit = db.session.scalar(sa.select(Audit).where(Audit.id == data["audit_id"], _visible(Audit, user)))
        if audit is None:
            raise RuleViolation("审计记录无效", {"audit_id": ["未找到该审计记录"]})
        if asset is not None and asset.id != audit.asset_id or data.get("place_code") is not None:
            raise RuleViolation("问题应属被审计的资产", {"asset_id": ["与审计记录的资产不符"]})
        asset = db.session.get(Asset, audit.asset_id)
        codes, found_on = _asset_codes(asset), audit.audited_on
    elif source == "inspection":
        inspection = db.session.scalar(sa.select(Inspection).where(Inspection.id == data["inspection_id"],
                                                                   _visible_inspections(user)))
        if inspection is None:
            raise RuleViolation("督查检查记录无效", {"inspection_id": ["未找到该督查检查记录"]})
        if codes is None:
            codes = {"county_code": inspection.county_code, "town_code": inspection.town_code, "village_code": None}
        elif codes["town_code"] != inspection.town_code:
            raise RuleViolation("问题应在被检查的乡镇", {"place_code": ["不在被检查的乡镇"]})
        found_on = inspection.inspected_on
    elif source == "flag":
        from_key, key_asset = _codes_from_flag_key(user, data["flag_key"])
        if codes is None:
            codes, asset = from_key, key_asset
        if codes is None:
            raise RuleViolation("请指定问题所在的资产或区划", {"place_code": ["预警对象不是资产或区划时必填"]})
    elif codes is None:
        raise RuleViolation("请指定问题所在的资产或区划", {"place_code": ["必填其一"], "asset_id": ["必填其一"]})
    _require(user, "problems", WRITERS["problems.raise"], **codes)
    today = today_local()
    raised_on, deadline = data["raised_on"], data["deadline"]
    _check_not_future(raised_on, "raised_on", today)
    if found_on is not None and raised_on < found_on:
        raise RuleViolation("问题登记日期早于发现问题的日期", {"raised_on": [f"不能早于 {found_on}"]})
    if deadline < raised_on:
        raise RuleViolation("整改期限不能早于登记日期", {"deadline": [f"不能早于 {raised_on}"]})
    if source == "flag" and db.session.scalar(sa.select(Problem.id).where(
            Problem.county_code == codes["county_code"], Problem.flag_rule == data["flag_rule"],
            Problem.flag_key == data["flag_key"], Problem.status != "closed")):
        raise Conflict("该预警已有未销号的问题", {"flag_key": ["同一预警只登记一个未销号的问题"]},
                       code="duplicate_problem")
    problem = Problem(**codes, asset_id=asset.id if asset is not None else None, source=source,
                      audit_id=data.get("audit_id"), inspection_id=data.get("inspection_id"),
                      flag_rule=data.get("flag_rule"), flag_key=data.get("flag_key"),
                      description=data["description"], task=data.get("task"),
                      responsible_unit=data["responsible_unit"], responsible_person=data["responsible_person"],
                      raised_on=raised_on, deadline=deadline, status="pending", created_by_id=_uid(user))
    db.session.add(problem)
    db.session.flush()
    problem.events.append(ProblemEvent(county_code=problem.county_code, from_status=None, to_status="pending",
                                       happened_on=raised_on, note="登记问题", actor_id=_uid(user)))
    db.session.flush()
    record_change(user, entity="problem", entity_id=problem.id, action="create", county_code=problem.county_code,
                  town_code=problem.town_code, village_code=problem.village_code, after=snapshot(problem))
    return _annotate_problems([problem])[0]


def _log_problem(user, problem: Problem, action: str, before=None, after=None) -> None:
    record_change(user, entity="problem", entity_id=problem.id, action=action, county_code=problem.county_code,
                  town_code=problem.town_code, village_code=problem.village_code, before=before, after=after)


def transition_problem(user, problem_id: int, data: dict) -> Problem:
    """Move a problem one step (整改台账): dated, in order, evidence before 已整改, 销号 by a reviewer."""
    problem = _problem_for_write(user, problem_id)
    current, target = problem.status, data["to_status"]
    is_review = target == "closed" or (current == "rectified" and target == "in_progress")
    roles = WRITERS["problems.review"] if is_review else WRITERS["problems.respond"]
    _require(user, "problems", roles, county_code=problem.county_code, town_code=problem.town_code,
             village_code=problem.village_code)
    _check_version(problem, data.get("version"), "问题")
    why = rules.problem_transition_error(current, target)
    if why:
        raise Conflict("问题状态变更不合法", {"to_status": [why]}, code="out_of_order")
    on = data["on"]
    _check_not_future(on, "on", today_local())
    last = max(e.happened_on for e in problem.events) if problem.events else problem.raised_on
    if on < last:
        raise RuleViolation("日期早于上一次状态变更", {"on": [f"不能早于 {last}"]})
    if target == "rectified" and not problem.evidence:
        raise RuleViolation("请先上传整改材料", {"to_status": ["标记已整改前须有整改材料（evidence）"]},
                            code="evidence_required")
    if (current, target) == rules.PROBLEM_REJECT and not data.get("note"):
        raise RuleViolation("驳回整改须说明理由", {"note": ["驳回时必填"]})
    before = {"status": current, "rectified_on": problem.rectified_on, "closed_on": problem.closed_on}
    problem.status = target
    if target == "rectified":
        problem.rectified_on = on
    elif target == "in_progress":
        problem.rectified_on = None  # a rejected rectification no longer counts
    elif target == "closed":
        problem.closed_on = on
    problem.events.append(ProblemEvent(county_code=problem.county_code, from_status=current, to_status=target,
                                       happened_on=on, note=data.get("note"), actor_id=_uid(user)))
    db.session.flush()
    after = {"status": target, "rectified_on": problem.rectified_on, "closed_on": problem.closed_on,
             "on": on, "note": data.get("note")}
    _log_problem(user, problem, "reject" if (current, target) == rules.PROBLEM_REJECT else "transition",
                 {k: str(v) if isinstance(v, date) else v for k, v in before.items()},
                 {k: str(v) if isinstance(v, date) else v for k, v in after.items()})
    return _annotate_problems([problem])[0]


def add_evidence(user, problem_id: int, data: dict) -> ProblemEvidence:
    """File rectification evidence (整改材料): an archive document of the problem's place, a note, or both."""
    problem = _problem_for_write(user, problem_id)
    _require(user, "problems", WRITERS["problems.respond"], county_code=problem.county_code,
             town_code=problem.town_code, village_code=problem.village_code)
    if data.get("document_id") is None and not data.get("note"):
        raise RuleViolation("请提供整改材料", {"document_id": ["档案文件与说明至少填一项"]})
    if problem.status == "closed":
        raise Conflict("问题已销号，不能再补充材料", {"problem_id": ["已销号"]}, code="problem_closed")
    if problem.asset_id is not None:
        place = {"asset_id": problem.asset_id}
    else:
        place = {"town_code": problem.town_code, "village_code": problem.village_code}
    _document(data.get("document_id"), county_code=problem.county_code, field="document_id", **place)
    row = ProblemEvidence(county_code=problem.county_code, document_id=data.get("document_id"),
                          note=data.get("note"), recorded_by_id=_uid(user))
    problem.evidence.append(row)
    db.session.flush()
    record_change(user, entity="problem_evidence", entity_id=row.id, action="create",
                  county_code=problem.county_code, town_code=problem.town_code, village_code=problem.village_code,
                  after=snapshot(row))
    return row


def add_evidence_file(user, problem_id: int, *, app, stream, filename: str | None, data: dict) -> ProblemEvidence:
    """File an uploaded document as rectification evidence (整改材料): the file kept (typed by its content),
    filed in the archive of the problem's asset or place as 整改材料, then attached to the problem. The
    checks of the problem come first, so a refused upload leaves no row behind."""

    problem = _problem_for_write(user, problem_id)
    _require(user, "problems", WRITERS["problems.respond"], county_code=problem.county_code,
             town_code=problem.town_code, village_code=problem.village_code)
    if problem.status == "closed":
        raise Conflict("问题已销号，不能再补充材料", {"problem_id": ["已销号"]}, code="problem_closed")
    if problem.asset_id is not None:
        asset = db.session.get(Asset, problem.asset_id)
        target = {"asset_id": asset.id, "place_code": None}
        level = level_of(asset.place_code)
    else:
        code = problem.village_code or problem.town_code or problem.county_code
        target = {"asset_id": None, "place_code": code}
        level = level_of(code)
    stored = lists_services.upload_file(user, app, stream, filename)
    document = lists_services.create_document(user, {
        **target, "level": level, "kind": "rectification_evidence", "archive_no": data["archive_no"],
        "title": data["title"], "filed_on": data["filed_on"], "file_id": stored.id})
    return add_evidence(user, problem.id, {"document_id": document.id, "note": data.get("note")})


# --- disposal (DOMAIN.md §9; basis: P14) ----------------------------------------------------------------

def _annotate_disposals(items: list[DisposalRequest]) -> list[DisposalRequest]:
    _annotate_assets(items)
    for r in items:
        decided = list(r.approvals)
        nxt = rules.next_approval(r.approval_order, len(decided)) if r.status in rules.OPEN_STATUSES else None
        r.next_approval = {"seq": nxt[0], "approver": nxt[1], "approver_label": APPROVERS.get(nxt[1], nxt[1])} \
            if nxt else None
        r.is_legacy = r.status == "executed" and not rules.is_fully_approved(
            r.approval_order, [a.decision for a in decided])
    return items


def list_disposals(user, *, status=None, asset_id=None, town_code=None, village_code=None, page=1,
                   per_page=50) -> dict:
    q = sa.select(DisposalRequest).where(_visible(DisposalRequest, user))
    if status:
        q = q.where(DisposalRequest.status == status)
    if asset_id:
        q = q.where(DisposalRequest.asset_id == asset_id)
    if town_code:
        q = q.where(DisposalRequest.town_code == town_code)
    if village_code:
        q = q.where(DisposalRequest.village_code == village_code)
    q = q.options(selectinload(DisposalRequest.approvals))
    out = _page(q, (DisposalRequest.requested_on.desc(), DisposalRequest.id.desc()), page, per_page)
    _annotate_disposals(out["items"])
    return out


def _load_disposal(user, request_id: int, *, lock: bool = False) -> DisposalRequest | None:
    q = sa.select(DisposalRequest).where(DisposalRequest.id == request_id, _visible(DisposalRequest, user))
    if lock:
        q = q.with_for_update(of=DisposalRequest)
    return db.session.scalar(q.options(selectinload(DisposalRequest.approvals)))


def get_disposal(user, request_id: int) -> DisposalRequest:
    req = _load_disposal(user, request_id)
    if req is None:
        raise NotFound("未找到该处置申请")
    return _annotate_disposals([req])[0]


def _disposal_for_write(user, request_id: int, roles: set[str], version: int | None) -> DisposalRequest:
    req = _load_disposal(user, request_id, lock=True)
    if req is None:
        if db.session.scalar(sa.select(DisposalRequest.id).where(DisposalRequest.id == request_id)) is not None:
            raise Forbidden("超出您的管辖范围", code="out_of_scope")
        raise NotFound("未找到该处置申请")
    _require(user, "disposals", roles, county_code=req.county_code, town_code=req.town_code,
             village_code=req.village_code)
    _check_version(req, version, "处置申请")
    return req


def _out_of_order(req: DisposalRequest, step: str) -> Conflict:
    return Conflict(f"处置程序顺序不对：当前为“{DISPOSAL_STATUSES.get(req.status, req.status)}”，不能{step}",
                    {"status": [f"当前状态：{DISPOSAL_STATUSES.get(req.status, req.status)}"]},
                    code="out_of_order")


def _last_date(req: DisposalRequest) -> date:
    dates = [req.requested_on, req.valued_on, req.village_decided_on] + [a.decided_on for a in req.approvals]
    return max(d for d in dates if d is not None)


def _check_step_date(req: DisposalRequest, on: date, field: str) -> None:
    _check_not_future(on, field, today_local())
    last = _last_date(req)
    if on < last:
        raise RuleViolation("日期早于上一步", {field: [f"不能早于 {last}"]})


def _log_disposal(user, req: DisposalRequest, action: str, before=None, after=None) -> None:
    record_change(user, entity="disposal_request", entity_id=req.id, action=action, county_code=req.county_code,
                  town_code=req.town_code, village_code=req.village_code, before=before, after=after)


def _disposal_asset(user, data: dict, roles: set[str]) -> Asset:
    """The asset a disposal is about: in scope, not a household's, free of another open disposal, and
    in a status from which 处置中 is legal."""
    _require_role(user, roles)
    asset = _ref_asset(user, data["asset_id"])
    _require(user, "disposals", roles, **_asset_codes(asset))
    if asset.category == "household":
        # basis: P11 — the household holds all rights, the disposal right included.
        raise RuleViolation("到户类资产由农户自主管理处置", {"asset_id": ["到户类资产不走村集体处置程序"]})
    if db.session.scalar(sa.select(DisposalRequest.id).where(
            DisposalRequest.county_code == asset.county_code, DisposalRequest.asset_id == asset.id,
            DisposalRequest.status.in_(rules.OPEN_STATUSES))):
        raise Conflict("该资产已有进行中的处置申请", {"asset_id": ["已有进行中的处置申请"]}, code="disposal_open")
    why = asset_rules.transition_error(asset.category, asset.status, "disposing")
    if why:
        raise RuleViolation("该资产当前状态不能处置", {"asset_id": [why]}, code="illegal_transition")
    return asset


def _check_after_status(asset: Asset, on: date, field: str) -> None:
    if asset.status_on and on < asset.status_on:
        raise RuleViolation("日期早于资产上一次状态变更", {field: [f"不能早于 {asset.status_on}"]})


def create_disposal(user, data: dict) -> DisposalRequest:
    """Request a disposal. The asset goes 处置中 at once: from the request on it must not be let, pledged
    or reused, and a rejection or withdrawal returns it to 闲置 (DOMAIN.md §2 status machine)."""
    asset = _disposal_asset(user, data, WRITERS["disposals.request"])
    on = data["requested_on"]
    _check_not_future(on, "requested_on", today_local())
    _check_after_status(asset, on, "requested_on")
    req = DisposalRequest(county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                          asset_id=asset.id, grounds=data["grounds"], method=data["method"], reason=data.get("reason"),
                          requested_on=on, status="requested",
                          approval_order=list(settings_for(asset.county_code).disposal_approval_order),
                          created_by_id=_uid(user))
    db.session.add(req)
    db.session.flush()
    change_status(user, asset.id, to_status="disposing", changed_on=on,
                  reason=f"处置申请：{DISPOSAL_GROUNDS[req.grounds]}，{DISPOSAL_METHODS[req.method]}",
                  document=f"处置申请#{req.id}")
    _log_disposal(user, req, "create", after=snapshot(req))
    return _annotate_disposals([req])[0]


def record_valuation(user, request_id: int, data: dict) -> DisposalRequest:
    req = _disposal_for_write(user, request_id, WRITERS["disposals.request"], data.get("version"))
    if req.status != "requested":
        raise _out_of_order(req, "登记评估")
    _check_step_date(req, data["valued_on"], "valued_on")
    before = snapshot(req)
    req.valuation, req.valuer, req.valued_on = data["valuation"], data["valuer"], data["valued_on"]
    req.status = "valued"
    db.session.flush()
    _log_disposal(user, req, "valuation", before, snapshot(req))
    return _annotate_disposals([req])[0]


def record_village_decision(user, request_id: int, data: dict) -> DisposalRequest:
    """The village's 四议两公开 resolution on the disposal (date and minutes)."""
    req = _disposal_for_write(user, request_id, WRITERS["disposals.decide"], data.get("version"))
    if req.village_code is None:
        raise RuleViolation("该资产不属村级，无需村级决议", {"village_code": ["乡镇或县级资产评估后直接审批"]})
    if req.status != "valued":
        raise _out_of_order(req, "登记村级决议")
    _check_step_date(req, data["decided_on"], "decided_on")
    before = snapshot(req)
    req.village_decided_on, req.village_decision = data["decided_on"], data["minutes"]
    req.status = "village_decided"
    db.session.flush()
    _log_disposal(user, req, "village_decision", before, snapshot(req))
    return _annotate_disposals([req])[0]


def record_approval(user, request_id: int, data: dict) -> DisposalRequest:
    """One approver's decision, strictly in the order frozen on the request. A rejection ends the
    request and returns the asset to 闲置."""
    approver = data["approver"]
    req = _disposal_for_write(user, request_id, rules.approval_roles(approver), data.get("version"))
    if not rules.ready_for_approval(req.status, req.village_code is not None):
        raise _out_of_order(req, "审批")
    nxt = rules.next_approval(req.approval_order, len(req.approvals))
    if nxt is None or (data["seq"], approver) != nxt:
        expected = f"第{nxt[0]}步：{APPROVERS[nxt[1]]}（{nxt[1]}）" if nxt else "无"
        raise Conflict("审批顺序不对", {"seq": [f"下一步应为{expected}"], "approver": [f"下一步应为{expected}"]},
                       code="out_of_order")
    on = data["decided_on"]
    _check_step_date(req, on, "decided_on")
    rejected = data["decision"] == "rejected"
    if rejected and not data.get("note"):
        raise RuleViolation("否决须说明理由", {"note": ["否决时必填"]})
    before = {"status": req.status}
    approval = DisposalApproval(county_code=req.county_code, request_id=req.id, seq=data["seq"], approver=approver,
                                decision=data["decision"], decided_on=on, document=data.get("document"),
                                note=data.get("note"), actor_id=_uid(user))
    req.approvals.append(approval)
    if rejected:
        req.status = "rejected"
    else:
        req.status = "approved" if rules.next_approval(req.approval_order, len(req.approvals)) is None else "approving"
    db.session.flush()
    if rejected:
        change_status(user, req.asset_id, to_status="idle", changed_on=on,
                      reason=f"处置申请被{APPROVERS[approver]}否决：{data['note']}"[:500],
                      document=data.get("document"))
    _log_disposal(user, req, "approval", before,
                  {"status": req.status, "seq": approval.seq, "approver": approver, "decision": approval.decision,
                   "decided_on": str(on), "document": approval.document, "note": approval.note})
    return _annotate_disposals([req])[0]


def _post_proceeds(user, req: DisposalRequest, asset: Asset, *, on: date, amount, payer, voucher_no):
    """Proceeds into the income ledger as 处置收入 (kept apart from ordinary income, DOMAIN.md §5). In a
    year already settled they go in as a dated adjustment (basis: P34)."""

    settled = settlements_touching(asset, on.year)
    entry_data = {"direction": "income", "kind": DISPOSAL, "period_year": on.year, "received_on": on,
                  "amount": amount, "payer": payer, "voucher_no": voucher_no,
                  "note": f"处置收入（处置申请#{req.id}，{DISPOSAL_METHODS[req.method]}）"}
    if settled:
        entry_data.update(is_adjustment=True, adjustment_on=max(on, min(s.settled_on for s in settled)))
    return post_entry(user, asset.id, entry_data)


def _finish(user, req: DisposalRequest, *, on: date, proceeds, payer, voucher_no) -> None:
    """Execution: proceeds to the ledger first (while the asset is still 处置中), then the asset to
    已处置 / 已报废. The asset stays in the registry with its whole history."""
    asset = db.session.get(Asset, req.asset_id)
    if proceeds:
        entry = _post_proceeds(user, req, asset, on=on, amount=proceeds, payer=payer, voucher_no=voucher_no)
        req.income_entry_id = entry.id
    target = rules.asset_status_after(req.method)
    change_status(user, asset.id, to_status=target, changed_on=on,
                  reason=f"处置执行：{DISPOSAL_METHODS[req.method]}", document=f"处置申请#{req.id}")
    req.status, req.executed_on, req.proceeds = "executed", on, proceeds


def execute_disposal(user, request_id: int, data: dict) -> DisposalRequest:
    req = _disposal_for_write(user, request_id, WRITERS["disposals.request"], data.get("version"))
    if req.status != "approved":
        raise Conflict("全部审批通过后才能执行处置",
                       {"status": [f"当前状态：{DISPOSAL_STATUSES.get(req.status, req.status)}"]}, code="not_approved")
    _check_step_date(req, data["executed_on"], "executed_on")
    before = snapshot(req)
    _finish(user, req, on=data["executed_on"], proceeds=data["proceeds"], payer=data.get("payer"),
            voucher_no=data.get("voucher_no"))
    db.session.flush()
    _log_disposal(user, req, "execute", before, snapshot(req))
    return _annotate_disposals([req])[0]


def cancel_disposal(user, request_id: int, data: dict) -> DisposalRequest:
    """Withdraw (撤回) a request not yet executed or decided: the asset returns to 闲置."""
    req = _disposal_for_write(user, request_id, WRITERS["disposals.request"], data.get("version"))
    if req.status not in rules.OPEN_STATUSES:
        raise _out_of_order(req, "撤回")
    _check_step_date(req, data["on"], "on")
    before = {"status": req.status}
    req.status = "cancelled"
    db.session.flush()
    change_status(user, req.asset_id, to_status="idle", changed_on=data["on"],
                  reason=f"撤回处置申请：{data['reason']}"[:500], document=f"处置申请#{req.id}")
    _log_disposal(user, req, "cancel", before, {"status": "cancelled", "on": str(data["on"]), "reason": data["reason"]})
    return _annotate_disposals([req])[0]


def import_legacy_disposal(user, data: dict) -> DisposalRequest:
    """Old data: a disposal already executed, recorded without its approvals (county admin only). It is
    kept as it happened — the county's order frozen on it, no approval rows — so DISPOSAL_UNAPPROVED
    fires for it; the response and the log say ``is_legacy``."""
    asset = _disposal_asset(user, data, WRITERS["disposals.legacy"])
    today = today_local()
    executed_on = data["executed_on"]
    requested_on = data.get("requested_on") or executed_on
    _check_not_future(executed_on, "executed_on", today)
    if requested_on > executed_on:
        raise RuleViolation("申请日期晚于执行日期", {"requested_on": [f"不能晚于 {executed_on}"]})
    _check_after_status(asset, requested_on, "requested_on")
    for field in ("valued_on", "village_decided_on"):
        on = data.get(field)
        if on is not None and not requested_on <= on <= executed_on:
            raise RuleViolation("日期应在申请与执行之间", {field: [f"应在 {requested_on} 至 {executed_on} 之间"]})
    req = DisposalRequest(county_code=asset.county_code, town_code=asset.town_code, village_code=asset.village_code,
                          asset_id=asset.id, grounds=data["grounds"], method=data["method"], reason=data.get("reason"),
                          requested_on=requested_on, valuation=data.get("valuation"), valuer=data.get("valuer"),
                          valued_on=data.get("valued_on"), village_decided_on=data.get("village_decided_on"),
                          village_decision=data.get("village_decision"), status="requested",
                          approval_order=list(settings_for(asset.county_code).disposal_approval_order),
                          created_by_id=_uid(user))
    db.session.add(req)
    db.session.flush()
    change_status(user, asset.id, to_status="disposing", changed_on=requested_on,
                  reason="历史处置补录（无审批记录）", document=f"处置申请#{req.id}")
    _finish(user, req, on=executed_on, proceeds=data.get("proceeds"), payer=data.get("payer"),
            voucher_no=data.get("voucher_no"))
    db.session.flush()
    after = snapshot(req)
    after["is_legacy"] = True
    _log_disposal(user, req, "legacy_import", after=after)
    return _annotate_disposals([req])[0]


def unapproved_disposals_select(county_code: str, as_of: date):
    """SELECT of the county's disposals executed on or before ``as_of`` without every approval of their
    frozen order on record by then (DISPOSAL_UNAPPROVED; basis: P14). Set-based, for the flags engine."""
    approved = (sa.select(sa.func.count(DisposalApproval.id))
                .where(DisposalApproval.request_id == DisposalRequest.id, DisposalApproval.decision == "approved",
                       DisposalApproval.decided_on <= as_of)
                .correlate(DisposalRequest).scalar_subquery())
    return (sa.select(DisposalRequest)
            .where(DisposalRequest.county_code == county_code, DisposalRequest.status == "executed",
                   DisposalRequest.executed_on <= as_of,
                   approved < sa.func.json_array_length(DisposalRequest.approval_order))
            .order_by(DisposalRequest.id))
