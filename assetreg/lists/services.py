"""Regulations (制度), the archive (档案) with its files, required kinds, and the four lists (四张清单).

Every list is built set-based for a scope: a fixed handful of queries whatever the number of assets
(no query per asset), then plain Python over the rows (basis: P05).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..assets.models import CATEGORIES, MANAGING_LEVELS, STATUSES, SUBTYPES, Asset, DepreciationPolicy
from ..assets.services import asset_book_value_fen, policy_join
from ..changelog.services import record_change, snapshot
from ..core import storage
from ..core.access import (
    LEVEL_RANK,
    Scope,
    ancestors,
    is_place_code,
    level_of,
    may_write,
    require_level,
    require_write,
    scope_clause,
)
from ..core.errors import Conflict, Forbidden, NotFound, RuleViolation
from ..core.files import StoredFile
from ..core.money import from_fen
from ..core.time import today_local
from ..custody.models import OPERATION_MODES, AssetCustody, AssetOperation
from ..extensions import db
from ..places.models import Place
from ..places.services import scoped_place
from ..rights.models import FIVE_RIGHTS, HOLDER_KINDS, AssetRight
from . import rules
from .models import (
    DOCUMENT_KINDS,
    FIVE_SYSTEMS,
    LEVELS,
    REGULATION_CATEGORIES,
    ArchiveDocument,
    Regulation,
    RegulationPlace,
    RequiredDocument,
)

ALL_SUBTYPES = [s for group in SUBTYPES.values() for s in group]
LIST_KINDS = {"assets": "资产清单", "responsibility": "责任清单", "regulations": "制度清单", "archive": "三级档案清单"}
_HOLDER_RIGHTS = ("ownership", "operation", "income")  # the holders the asset list shows


# --- places and scope --------------------------------------------------------------------------

def _codes(place: Place) -> dict:
    """The county/town/village columns of a record that belongs to ``place``."""
    return {
        "county_code": place.county_code,
        "town_code": place.code if place.level == "town" else place.town_code,
        "village_code": place.code if place.level == "village" else None,
    }


def _scope_filter(model, scope: Place):
    return Scope(scope.code).where(model)


def resolve_scope(user, code: str | None) -> Place:
    """The place a list is built for: the user's own scope or a place inside it; anything else is
    not found (404), as if it did not exist."""
    return scoped_place(user, code)


def _place_in_county(user, code: str, field: str) -> Place:
    place = db.session.scalar(sa.select(Place).where(Place.code == code, Place.county_code == user.county_code))
    if place is None:
        raise RuleViolation("区划无效", {field: ["未找到本县的该区划"]})
    return place


def _county_places(county_code: str) -> dict[str, Place]:
    return {p.code: p for p in db.session.scalars(sa.select(Place).where(Place.county_code == county_code))}


def _require_level(user, level: str) -> None:
    """A user writes at its own level or below: a village never files the county's records."""
    require_level(user, level, LEVELS)


# --- stored files ------------------------------------------------------------------------------

def _regulations_visible(user):
    """Rules a user may read: those issued inside its scope, and those of the places above it (the
    county's and its town's rules apply to a village too)."""
    above = ancestors(user.scope_code)[:-1]
    return sa.and_(Regulation.county_code == user.county_code,
                   sa.or_(scope_clause(Regulation, user), Regulation.issuer_code.in_(above)))


def _files_visible(user):
    docs = sa.select(ArchiveDocument.file_id).where(
        ArchiveDocument.county_code == user.county_code, scope_clause(ArchiveDocument, user),
        ArchiveDocument.file_id.is_not(None))
    regs = sa.select(Regulation.file_id).where(_regulations_visible(user), Regulation.file_id.is_not(None))
    mine = StoredFile.uploaded_by_id == user.id if getattr(user, "id", None) else sa.false()
    return sa.select(StoredFile).where(
        StoredFile.county_code == user.county_code,
        sa.or_(mine, StoredFile.id.in_(docs), StoredFile.id.in_(regs)))


def upload_file(user, app, stream, filename: str | None) -> StoredFile:
    """Keep an uploaded file (checked by size and by its content's type) and record it."""
    require_write(user, "lists")  # any writer of its county; auditors never write
    tmp, sha256, size, kind = storage.receive(app, stream)
    try:
        rel = storage.keep(app, tmp, user.county_code, sha256)
    finally:
        tmp.unlink(missing_ok=True)
    row = StoredFile(county_code=user.county_code, sha256=sha256, size=size, content_type=storage.TYPES[kind][0],
                     original_name=storage.safe_display_name(filename, kind), storage_path=rel,
                     uploaded_by_id=getattr(user, "id", None))
    db.session.add(row)
    db.session.flush()
    record_change(user, entity="stored_file", entity_id=row.id, action="upload", county_code=row.county_code,
                  after=snapshot(row))
    return row


def get_file(user, file_id: int) -> StoredFile:
    row = db.session.scalar(_files_visible(user).where(StoredFile.id == file_id))
    if row is None:
        raise NotFound("未找到该文件")
    return row


def _usable_file(user, file_id: int | None) -> int | None:
    if file_id is None:
        return None
    if db.session.scalar(_files_visible(user).where(StoredFile.id == file_id)) is None:
        raise RuleViolation("附件无效", {"file_id": ["未找到该文件，请先上传"]})
    return file_id


# --- regulations (制度) -------------------------------------------------------------------------

def _regulation_for_read(user, regulation_id: int) -> Regulation:
    reg = db.session.scalar(sa.select(Regulation).where(Regulation.id == regulation_id, _regulations_visible(user))
                            .options(selectinload(Regulation.places)))
    if reg is None:
        raise NotFound("未找到该制度")
    return reg


def _require_regulation_write(user, issuer: Place) -> None:
    require_write(user, "lists", **_codes(issuer))
    _require_level(user, issuer.level)


def _regulation_snapshot(reg: Regulation) -> dict:
    data = snapshot(reg)
    data["places"] = sorted(p.place_code for p in reg.places)
    return data


def create_regulation(user, data: dict) -> Regulation:
    """Record a rule issued by a place (county admin for the county's, a town's finance office for its
    town, a village committee for its village); it applies to the places named, else to the issuer's tree."""
    issuer = _place_in_county(user, data["issuer_code"], "issuer_code")
    _require_regulation_write(user, issuer)
    errors: dict = {}
    level = data.get("level") or issuer.level
    if level != issuer.level:
        errors["level"] = [f"发文单位为{LEVELS[issuer.level]}，层级应为 {issuer.level}"]
    subtypes = list(dict.fromkeys(data.get("subtypes") or []))
    unknown = [s for s in subtypes if s not in ALL_SUBTYPES]
    if unknown:
        errors["subtypes"] = [f"未知资产子类：{'、'.join(unknown)}"]
    repealed_on = data.get("repealed_on")
    if repealed_on is not None and repealed_on < data["effective_on"]:
        errors["repealed_on"] = ["废止日期不能早于施行日期"]
    codes = list(dict.fromkeys(data.get("place_codes") or []))
    if codes:
        found = set(db.session.scalars(sa.select(Place.code).where(Place.code.in_(codes),
                                                                    Place.county_code == issuer.county_code)))
        bad = [c for c in codes if c not in found or not rules.in_tree(c, issuer.code)]
        if bad:
            errors["place_codes"] = [f"不属于发文单位辖区：{'、'.join(bad[:10])}"]
    if errors:
        raise RuleViolation("制度登记有误", errors)
    reg = Regulation(
        **_codes(issuer), issuer_code=issuer.code, level=level, title=data["title"],
        doc_number=data.get("doc_number"), category=data["category"], subtypes=subtypes or None,
        effective_on=data["effective_on"], repealed_on=repealed_on,
        file_id=_usable_file(user, data.get("file_id")), created_by_id=getattr(user, "id", None),
    )
    reg.places = [RegulationPlace(county_code=issuer.county_code, place_code=c) for c in codes]
    db.session.add(reg)
    db.session.flush()
    record_change(user, entity="regulation", entity_id=reg.id, action="create", county_code=reg.county_code,
                  town_code=reg.town_code, village_code=reg.village_code, after=_regulation_snapshot(reg))
    return reg


def get_regulation(user, regulation_id: int) -> Regulation:
    return _regulation_for_read(user, regulation_id)


def list_regulations(user, *, level=None, category=None, issuer_code=None, in_force_on=None, page=1,
                     per_page=50) -> dict:
    q = sa.select(Regulation).where(_regulations_visible(user))
    if level:
        q = q.where(Regulation.level == level)
    if category:
        q = q.where(Regulation.category == category)
    if issuer_code:
        q = q.where(Regulation.issuer_code == issuer_code)
    if in_force_on:
        q = q.where(Regulation.effective_on <= in_force_on,
                    sa.or_(Regulation.repealed_on.is_(None), Regulation.repealed_on > in_force_on))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    items = db.session.scalars(q.options(selectinload(Regulation.places))
                               .order_by(Regulation.effective_on.desc(), Regulation.id.desc())
                               .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": list(items), "page": page, "per_page": per_page, "total": total}


def repeal_regulation(user, regulation_id: int, *, repealed_on: date) -> Regulation:
    reg = _regulation_for_read(user, regulation_id)
    issuer = db.session.scalar(sa.select(Place).where(Place.code == reg.issuer_code))
    _require_regulation_write(user, issuer)
    if reg.repealed_on is not None:
        raise Conflict("该制度已废止", {"repealed_on": [f"已于 {reg.repealed_on} 废止"]}, code="already_repealed")
    if repealed_on < reg.effective_on:
        raise RuleViolation("废止日期不能早于施行日期", {"repealed_on": [f"不能早于 {reg.effective_on}"]})
    before = _regulation_snapshot(reg)
    reg.repealed_on = repealed_on
    db.session.flush()
    record_change(user, entity="regulation", entity_id=reg.id, action="repeal", county_code=reg.county_code,
                  town_code=reg.town_code, village_code=reg.village_code, before=before,
                  after=_regulation_snapshot(reg))
    return reg


# --- archive documents (档案) -------------------------------------------------------------------

def create_document(user, data: dict) -> ArchiveDocument:
    """File a document in the archive of a level, for an asset or for a place (basis: P05)."""
    return _add_document(user, data, _document_codes(user, data))


def file_document_with_upload(user, app, data: dict, *, stream, filename: str | None) -> ArchiveDocument:
    """File a document together with its uploaded file (the asset page's form): the document's checks run
    first, so a refused one keeps no file; then the file is kept (typed by its content, size-limited) and
    the document filed with it. Both writes are logged; the caller commits once."""
    codes = _document_codes(user, {**data, "file_id": None})
    stored = upload_file(user, app, stream, filename)
    return _add_document(user, {**data, "file_id": stored.id}, codes)


def _document_codes(user, data: dict) -> dict:
    """Every check of a new document (target, scope, level, date, archive number); its county/town/village."""
    asset_id, place_code = data.get("asset_id"), data.get("place_code")
    if (asset_id is None) == (place_code is None):
        raise RuleViolation("请指定资产或区划（二选一）", {"asset_id": ["资产与区划须且只能填一项"],
                                                   "place_code": ["资产与区划须且只能填一项"]})
    if asset_id is not None:
        asset = db.session.scalar(sa.select(Asset).where(Asset.id == asset_id, Asset.county_code == user.county_code))
        if asset is None:
            raise RuleViolation("资产无效", {"asset_id": ["未找到本县的该资产"]})
        codes = {"county_code": asset.county_code, "town_code": asset.town_code,
                 "village_code": asset.village_code}
        place_level = level_of(asset.place_code)
    else:
        place = _place_in_county(user, place_code, "place_code")
        codes = _codes(place)
        place_level = place.level
    require_write(user, "lists", **codes)
    level = data["level"]
    if not rules.level_allowed(level, place_level):
        raise RuleViolation("档案层级无效", {"level": [f"{LEVELS[place_level]}的资料不能归入{LEVELS[level]}档案"]})
    _require_level(user, level)
    if data["filed_on"] > today_local():
        raise RuleViolation("归档日期不能晚于今天", {"filed_on": ["不能是将来的日期"]})
    if db.session.scalar(sa.select(ArchiveDocument.id).where(
            ArchiveDocument.county_code == codes["county_code"], ArchiveDocument.level == level,
            ArchiveDocument.archive_no == data["archive_no"])):
        raise Conflict("档案号已存在", {"archive_no": [f"本县{LEVELS[level]}档案已有该档案号"]}, code="duplicate_archive_no")
    return codes


def _add_document(user, data: dict, codes: dict) -> ArchiveDocument:
    doc = ArchiveDocument(**codes, asset_id=data.get("asset_id"), level=data["level"], kind=data["kind"],
                          archive_no=data["archive_no"], title=data["title"], filed_on=data["filed_on"],
                          file_id=_usable_file(user, data.get("file_id")), created_by_id=getattr(user, "id", None))
    db.session.add(doc)
    db.session.flush()
    record_change(user, entity="archive_document", entity_id=doc.id, action="create", after=snapshot(doc), **codes)
    return doc


def _documents_visible(user):
    return sa.select(ArchiveDocument).where(ArchiveDocument.county_code == user.county_code,
                                            scope_clause(ArchiveDocument, user))


def get_document(user, document_id: int) -> ArchiveDocument:
    doc = db.session.scalar(_documents_visible(user).where(ArchiveDocument.id == document_id))
    if doc is None:
        raise NotFound("未找到该档案")
    return doc


def list_documents(user, *, asset_id=None, place_code=None, level=None, kind=None, page=1, per_page=50) -> dict:
    q = _documents_visible(user)
    if asset_id:
        q = q.where(ArchiveDocument.asset_id == asset_id)
    if place_code:
        q = q.where(Scope(place_code).where(ArchiveDocument) if is_place_code(place_code)
                    else ArchiveDocument.village_code == place_code)
    if level:
        q = q.where(ArchiveDocument.level == level)
    if kind:
        q = q.where(ArchiveDocument.kind == kind)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    items = db.session.scalars(q.order_by(ArchiveDocument.filed_on.desc(), ArchiveDocument.id.desc())
                               .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": list(items), "page": page, "per_page": per_page, "total": total}


def asset_archive(user, asset) -> dict:
    """The archive of one asset for its page: the documents the user may see (each with its file's name and
    size), the kinds the county requires for the asset's current status and category, and those filed at
    no level, decided as on the 三级档案清单 (``rules.required_kinds``/``missing_kinds``). Two queries.
    ``asset`` is one the caller has already read within the user's scope."""
    rows = db.session.execute(
        _documents_visible(user).add_columns(StoredFile.original_name, StoredFile.size)
        .outerjoin(StoredFile, StoredFile.id == ArchiveDocument.file_id)
        .where(ArchiveDocument.asset_id == asset.id)).all()
    documents = [{"id": d.id, "level": d.level, "level_label": LEVELS[d.level], "kind": d.kind,
                  "kind_label": DOCUMENT_KINDS[d.kind], "archive_no": d.archive_no, "title": d.title,
                  "filed_on": d.filed_on, "file_id": d.file_id, "file_name": name, "file_size": size}
                 for d, name, size in rows]
    documents.sort(key=lambda d: (LEVEL_RANK[d["level"]], d["filed_on"], d["archive_no"], d["id"]))
    requirements = [(r.status, r.category, r.kind) for r in _requirements(asset.county_code)]
    required = rules.required_kinds(asset.status, asset.category, requirements)
    missing = rules.missing_kinds(required, (d["kind"] for d in documents))
    return {"documents": documents, "required": required, "missing": missing,
            "required_labels": [DOCUMENT_KINDS[k] for k in required],
            "missing_labels": [DOCUMENT_KINDS[k] for k in missing]}


# --- required kinds -----------------------------------------------------------------------------

def _requirements(county_code: str) -> list[RequiredDocument]:
    return list(db.session.scalars(sa.select(RequiredDocument).where(RequiredDocument.county_code == county_code)
                                   .order_by(RequiredDocument.status, RequiredDocument.category,
                                             RequiredDocument.kind)))


def list_required(user) -> list[RequiredDocument]:
    return _requirements(user.county_code)


def set_required(user, items: list[dict]) -> list[RequiredDocument]:
    """Replace the county's required kinds per asset status (and optionally category)."""
    require_write(user, "lists", county_code=user.county_code, town_code=None, village_code=None)
    if not may_write(user, "lists.required_documents"):
        raise Forbidden("只有县级管理员可以设置必备档案", code="role_forbidden")
    wanted = list(dict.fromkeys((i["status"], i.get("category"), i["kind"]) for i in items))
    current = _requirements(user.county_code)
    before = sorted([r.status, r.category or "", r.kind] for r in current)
    have = {(r.status, r.category, r.kind): r for r in current}
    for key, row in have.items():
        if key not in wanted:
            db.session.delete(row)
    db.session.flush()
    for status, category, kind in wanted:
        if (status, category, kind) not in have:
            db.session.add(RequiredDocument(county_code=user.county_code, status=status, category=category, kind=kind))
    db.session.flush()
    after = sorted([s, c or "", k] for s, c, k in wanted)
    record_change(user, entity="required_documents", entity_id=user.county_code, action="set",
                  county_code=user.county_code, before={"items": before}, after={"items": after})
    return _requirements(user.county_code)


# --- the four lists -----------------------------------------------------------------------------

def _paged(rows: list, page: int, per_page: int | None) -> list:
    if per_page is None:
        return rows
    return rows[(page - 1) * per_page: page * per_page]


def scope_out(scope: Place) -> dict:
    return {"code": scope.code, "name": scope.name, "level": scope.level, "level_label": LEVELS[scope.level]}


def _place_name(places: dict[str, Place], code: str | None) -> str | None:
    return places[code].name if code and code in places else None


def _current_rights(id_filter, kinds, county_code: str) -> dict[int, dict[str, AssetRight]]:
    """The current holders (led by the county: the partial unique index of current rights)."""
    rows = db.session.execute(
        sa.select(AssetRight.asset_id, AssetRight.kind, AssetRight.holder_name, AssetRight.holder_kind)
        .where(AssetRight.county_code == county_code, id_filter(AssetRight.asset_id), AssetRight.ended_on.is_(None),
               AssetRight.kind.in_(list(kinds))))
    out: dict[int, dict] = defaultdict(dict)
    for r in rows:
        out[r.asset_id][r.kind] = r
    return out


def _id_filter(scope: Place, ids: list[int] | None):
    """Rows of the given assets (a page), or of every asset in scope (a whole list) — one query either way."""
    if ids is not None:
        return lambda column: column.in_(ids) if ids else sa.false()
    sub = sa.select(Asset.id).where(_scope_filter(Asset, scope))
    return lambda column: column.in_(sub)


def _asset_columns():
    return (Asset.id, Asset.code, Asset.name, Asset.category, Asset.subtype, Asset.place_code, Asset.town_code,
            Asset.village_code, Asset.managing_level, Asset.original_value, Asset.status, Asset.completed_on,
            Asset.useful_life_years)


def asset_list(user, *, scope: str | None = None, as_of: date | None = None, page: int = 1,
               per_page: int | None = 50) -> dict:
    """资产清单: every asset in scope with its value, book value as of the date, status and holders;
    totals by category, town and village (basis: P01, P05, P19). ``per_page=None``: every row.

    Rows are built for the page shown only; the count and the totals over the whole scope are one
    grouped statement (book values by ``assets.services.asset_book_value_fen``, the SQL twin of the
    per-row rule), so a page costs the same whatever the size of the scope."""
    place = resolve_scope(user, scope)
    as_of = as_of or today_local()
    names = _place_names(place.county_code)
    query = (sa.select(*_asset_columns(), DepreciationPolicy.useful_life_years.label("policy_life"),
                       DepreciationPolicy.residual_rate.label("policy_rate"))
             .select_from(Asset).outerjoin(DepreciationPolicy, policy_join())
             .where(_scope_filter(Asset, place)).order_by(Asset.code, Asset.id))
    if per_page is not None:
        query = query.limit(per_page).offset((page - 1) * per_page)
    rows = []
    for a in db.session.execute(query):
        policy = rules.PolicyFacts(a.policy_life, a.policy_rate) if a.policy_life is not None else None
        bv = rules.book_value(a.original_value, completed_on=a.completed_on, useful_life_years=a.useful_life_years,
                              policy=policy, as_of=as_of)
        rows.append({
            "id": a.id, "code": a.code, "name": a.name, "category": a.category,
            "category_label": CATEGORIES[a.category], "subtype": a.subtype, "place_code": a.place_code,
            "place_name": names.get(a.place_code), "town_code": a.town_code,
            "town_name": names.get(a.town_code), "village_code": a.village_code,
            "village_name": names.get(a.village_code), "managing_level": a.managing_level,
            "managing_level_label": MANAGING_LEVELS.get(a.managing_level, a.managing_level),
            "original_value": a.original_value, "book_value": bv, "status": a.status,
            "status_label": STATUSES[a.status],
        })
    holders = _current_rights(_id_filter(place, [r["id"] for r in rows] if per_page else None), _HOLDER_RIGHTS,
                              place.county_code)
    for r in rows:
        held = holders.get(r["id"], {})
        for kind in _HOLDER_RIGHTS:
            r[f"{kind}_holder"] = held[kind].holder_name if kind in held else None
    totals = _asset_totals(place, as_of, names)
    return {"scope": scope_out(place), "as_of": as_of, "items": rows, "page": page,
            "per_page": per_page or totals["count"], "total": totals["count"], "totals": totals}


def _place_names(county_code: str) -> dict[str, str]:
    return dict(db.session.execute(sa.select(Place.code, Place.name).where(Place.county_code == county_code)).all())


def _asset_totals(place: Place, as_of: date, names: dict[str, str]) -> dict:
    """Count, original and book value of the assets in scope by town, village and category: one grouped
    statement; the by-category, by-town and whole figures add up its groups (fen, exact)."""
    groups = db.session.execute(
        sa.select(Asset.town_code, Asset.village_code, Asset.category, sa.func.count().label("n"),
                  sa.func.sum(sa.type_coerce(Asset.original_value, sa.BigInteger)).label("original"),
                  sa.func.sum(asset_book_value_fen(as_of)).label("book"))
        .select_from(Asset).outerjoin(DepreciationPolicy, policy_join())
        .where(_scope_filter(Asset, place))
        .group_by(Asset.town_code, Asset.village_code, Asset.category)).all()

    def add(bucket: dict, key, g) -> None:
        b = bucket.setdefault(key, [0, 0, 0])
        b[0] += g.n
        b[1] += int(g.original)
        b[2] += int(g.book)

    total, by_category, by_town, by_village = {}, {}, {}, {}
    for g in groups:
        add(total, None, g)
        add(by_category, g.category, g)
        add(by_town, g.town_code, g)
        add(by_village, (g.town_code, g.village_code), g)

    def sums(b) -> dict:
        return {"count": b[0], "original_value": from_fen(b[1]), "book_value": from_fen(b[2])}

    def own_level(town, village):
        return "县本级" if town is None else ("乡镇本级" if village is None else None)

    return {
        **sums(total.get(None, [0, 0, 0])),
        "by_category": [{"category": c, "category_label": CATEGORIES[c], **sums(by_category[c])}
                        for c in CATEGORIES if c in by_category],
        "by_town": [{"town_code": t, "town_name": names.get(t) or "县本级", **sums(g)}
                    for t, g in sorted(by_town.items(), key=lambda kv: kv[0] or "")],
        "by_village": [{"town_code": t, "town_name": names.get(t) or "县本级", "village_code": v,
                        "village_name": names.get(v) or own_level(t, v), **sums(g)}
                       for (t, v), g in sorted(by_village.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or ""))],
    }


def responsibility_list(user, *, scope: str | None = None, as_of: date | None = None, page: int = 1,
                        per_page: int | None = 50) -> dict:
    """责任清单: per asset the current holder of each of the five rights, the custodian unit and person,
    the operator and the supervising department (the holder of 监督权; basis: P03, P15, P33)."""
    place = resolve_scope(user, scope)
    as_of = as_of or today_local()
    where = _scope_filter(Asset, place)
    places = _county_places(place.county_code)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Asset).where(where))
    q = sa.select(Asset.id, Asset.code, Asset.name, Asset.category, Asset.subtype, Asset.place_code,
                  Asset.status).where(where).order_by(Asset.code, Asset.id)
    if per_page is not None:
        q = q.limit(per_page).offset((page - 1) * per_page)
    assets = db.session.execute(q).all()
    ids = _id_filter(place, [a.id for a in assets] if per_page is not None else None)
    rights = _current_rights(ids, FIVE_RIGHTS, place.county_code)
    custody = {c.asset_id: c for c in db.session.execute(
        sa.select(AssetCustody.asset_id, AssetCustody.custodian_unit, AssetCustody.responsible_person)
        .where(ids(AssetCustody.asset_id), AssetCustody.replaced_at.is_(None)))}
    operation = {o.asset_id: o for o in db.session.execute(
        sa.select(AssetOperation.asset_id, AssetOperation.operator_name, AssetOperation.mode,
                  AssetOperation.contract_no)
        .where(ids(AssetOperation.asset_id), AssetOperation.replaced_at.is_(None)))}
    rows = []
    for a in assets:
        held = rights.get(a.id, {})
        c, o = custody.get(a.id), operation.get(a.id)
        row = {"id": a.id, "code": a.code, "name": a.name, "category": a.category,
               "category_label": CATEGORIES[a.category], "subtype": a.subtype, "place_code": a.place_code,
               "place_name": _place_name(places, a.place_code), "status": a.status,
               "status_label": STATUSES[a.status]}
        for kind in FIVE_RIGHTS:
            r = held.get(kind)
            row[f"{kind}_holder"] = r.holder_name if r else None
            row[f"{kind}_holder_kind"] = HOLDER_KINDS.get(r.holder_kind, r.holder_kind) if r else None
        row.update({
            "custodian_unit": c.custodian_unit if c else None,
            "custodian_person": c.responsible_person if c else None,
            "operator": o.operator_name if o else None,
            "operation_mode": OPERATION_MODES.get(o.mode, o.mode) if o else None,
            "contract_no": o.contract_no if o else None,
            "supervising_department": row["supervision_holder"],
            "rights_missing": [FIVE_RIGHTS[k] for k in FIVE_RIGHTS if k not in held],
        })
        rows.append(row)
    return {"scope": scope_out(place), "as_of": as_of, "items": rows, "page": page,
            "per_page": per_page or total, "total": total, "totals": _responsibility_totals(place, total)}


def _responsibility_totals(place: Place, total: int) -> dict:
    in_scope = sa.select(Asset.id).where(_scope_filter(Asset, place))
    complete = db.session.scalar(sa.select(sa.func.count()).select_from(
        sa.select(AssetRight.asset_id).where(AssetRight.asset_id.in_(in_scope), AssetRight.ended_on.is_(None),
                                             AssetRight.kind.in_(list(FIVE_RIGHTS)))
        .group_by(AssetRight.asset_id).having(sa.func.count(sa.distinct(AssetRight.kind)) == len(FIVE_RIGHTS))
        .subquery()))
    counts = db.session.execute(sa.select(
        sa.select(sa.func.count()).where(AssetCustody.asset_id.in_(in_scope), AssetCustody.replaced_at.is_(None))
        .scalar_subquery().label("custody"),
        sa.select(sa.func.count()).where(AssetOperation.asset_id.in_(in_scope), AssetOperation.replaced_at.is_(None))
        .scalar_subquery().label("operation"),
    )).one()
    return {"count": total, "rights_complete": complete, "with_custodian": counts.custody,
            "with_operator": counts.operation}


def _places_in_scope(places: dict[str, Place], scope: Place, as_of: date) -> list[Place]:
    """The towns and villages of a scope that exist on the date (a withdrawn village drops out)."""
    return sorted((p for p in places.values()
                   if p.level != "county" and rules.in_tree(p.code, scope.code)
                   and (p.valid_from is None or p.valid_from <= as_of) and (p.valid_to is None or p.valid_to > as_of)),
                  key=lambda p: p.code)


def regulation_list(user, *, scope: str | None = None, as_of: date | None = None, page: int = 1,
                    per_page: int | None = 50) -> dict:
    """制度清单: the rules in force at county, town and village level that concern the scope, and per
    town and village which of the five systems no rule in force covers (basis: P26)."""
    place = resolve_scope(user, scope)
    as_of = as_of or today_local()
    places = _county_places(place.county_code)
    regs = db.session.scalars(
        sa.select(Regulation).where(Regulation.county_code == place.county_code, Regulation.effective_on <= as_of,
                                    sa.or_(Regulation.repealed_on.is_(None), Regulation.repealed_on > as_of))
        .options(selectinload(Regulation.places))).all()
    in_force = []
    for reg in regs:
        tg = rules.targets(reg.issuer_code, sorted(p.place_code for p in reg.places))
        if rules.concerns_scope(tg, place.code):
            in_force.append((reg, tg))
    in_force.sort(key=lambda rt: (LEVEL_RANK[rt[0].level], rt[0].issuer_code, rt[0].effective_on, rt[0].id))
    rows = [{
        "id": reg.id, "title": reg.title, "doc_number": reg.doc_number, "level": reg.level,
        "level_label": LEVELS[reg.level], "issuer_code": reg.issuer_code,
        "issuer_name": _place_name(places, reg.issuer_code), "category": reg.category,
        "category_label": REGULATION_CATEGORIES[reg.category], "subtypes": reg.subtypes or [],
        "effective_on": reg.effective_on, "repealed_on": reg.repealed_on, "file_id": reg.file_id,
        "applies_to": sorted(p.place_code for p in reg.places),
        "applies_to_label": ("、".join(_place_name(places, t) or t for t in tg) if reg.places
                             else f"{_place_name(places, reg.issuer_code)}全域"),
    } for reg, tg in in_force]
    facts = [(reg.category, tg) for reg, tg in in_force]
    coverage = []
    for p in _places_in_scope(places, place, as_of):
        missing = rules.missing_systems(p.code, facts)
        coverage.append({"code": p.code, "name": p.name, "level": p.level, "level_label": LEVELS[p.level],
                         "town_name": _place_name(places, p.town_code), "missing": missing,
                         "missing_labels": [FIVE_SYSTEMS[s] for s in missing]})
    by_level = {lv: 0 for lv in LEVELS}
    for reg, _ in in_force:
        by_level[reg.level] += 1
    totals = {
        "count": len(rows), "by_level": by_level, "places": len(coverage),
        "places_lacking": sum(1 for c in coverage if c["missing"]),
        "lacking_by_system": {s: sum(1 for c in coverage if s in c["missing"]) for s in FIVE_SYSTEMS},
    }
    return {"scope": scope_out(place), "as_of": as_of, "items": _paged(rows, page, per_page), "page": page,
            "per_page": per_page or len(rows), "total": len(rows), "coverage": coverage, "totals": totals}


def archive_list(user, *, scope: str | None = None, as_of: date | None = None, page: int = 1,
                 per_page: int | None = 50) -> dict:
    """三级档案清单: per asset the documents filed by the date at each level with their archive numbers,
    and the kinds the county requires for its status that are missing; the scope's place files too."""
    place = resolve_scope(user, scope)
    as_of = as_of or today_local()
    places = _county_places(place.county_code)
    where = _scope_filter(ArchiveDocument, place)
    filed = ArchiveDocument.filed_on <= as_of
    assets = db.session.execute(
        sa.select(Asset.id, Asset.code, Asset.name, Asset.category, Asset.status, Asset.place_code)
        .where(_scope_filter(Asset, place)).order_by(Asset.code, Asset.id)).all()
    requirements = [(r.status, r.category, r.kind) for r in _requirements(place.county_code)]
    kinds_filed: dict[int, set[str]] = defaultdict(set)
    for asset_id, kind in db.session.execute(
            sa.select(ArchiveDocument.asset_id, ArchiveDocument.kind).distinct()
            .where(where, filed, ArchiveDocument.asset_id.is_not(None))):
        kinds_filed[asset_id].add(kind)
    rows = []
    for a in assets:
        required = rules.required_kinds(a.status, a.category, requirements)
        missing = rules.missing_kinds(required, kinds_filed.get(a.id, ()))
        rows.append({"id": a.id, "code": a.code, "name": a.name, "category": a.category,
                     "category_label": CATEGORIES[a.category], "place_code": a.place_code,
                     "place_name": _place_name(places, a.place_code), "status": a.status,
                     "status_label": STATUSES[a.status], "required": required,
                     "required_labels": [DOCUMENT_KINDS[k] for k in required], "missing": missing,
                     "missing_labels": [DOCUMENT_KINDS[k] for k in missing], "documents": []})
    shown = _paged(rows, page, per_page)
    doc_q = sa.select(ArchiveDocument).where(where, filed, ArchiveDocument.asset_id.is_not(None))
    if per_page is not None:
        ids = [r["id"] for r in shown]
        doc_q = doc_q.where(ArchiveDocument.asset_id.in_(ids) if ids else sa.false())
    by_asset: dict[int, list] = defaultdict(list)
    for d in db.session.scalars(doc_q.order_by(ArchiveDocument.filed_on, ArchiveDocument.id)):
        by_asset[d.asset_id].append(_doc_out(d, places))
    for r in shown:
        r["documents"] = sorted(by_asset.get(r["id"], []), key=lambda d: (LEVEL_RANK[d["level"]],
                                                                         d["filed_on"], d["archive_no"]))
    place_docs = [_doc_out(d, places) for d in db.session.scalars(
        sa.select(ArchiveDocument).where(where, filed, ArchiveDocument.asset_id.is_(None))
        .order_by(ArchiveDocument.level, ArchiveDocument.filed_on, ArchiveDocument.id))]
    doc_counts = dict(db.session.execute(
        sa.select(ArchiveDocument.level, sa.func.count()).where(where, filed, ArchiveDocument.asset_id.is_not(None))
        .group_by(ArchiveDocument.level)).all())
    totals = {
        "count": len(rows), "documents": sum(doc_counts.values()),
        "documents_by_level": {lv: doc_counts.get(lv, 0) for lv in LEVELS},
        "assets_missing": sum(1 for r in rows if r["missing"]),
        "missing_documents": sum(len(r["missing"]) for r in rows),
        "place_documents": len(place_docs),
    }
    return {"scope": scope_out(place), "as_of": as_of, "items": shown, "page": page,
            "per_page": per_page or len(rows), "total": len(rows), "place_documents": place_docs, "totals": totals}


def _doc_out(d: ArchiveDocument, places: dict[str, Place]) -> dict:
    place_code = d.village_code or d.town_code or d.county_code
    return {"id": d.id, "asset_id": d.asset_id, "place_code": place_code,
            "place_name": _place_name(places, place_code), "level": d.level, "level_label": LEVELS[d.level],
            "kind": d.kind, "kind_label": DOCUMENT_KINDS[d.kind], "archive_no": d.archive_no, "title": d.title,
            "filed_on": d.filed_on, "file_id": d.file_id}


BUILDERS = {"assets": asset_list, "responsibility": responsibility_list, "regulations": regulation_list,
            "archive": archive_list}


def build_list(user, kind: str, **kwargs) -> dict:
    if kind not in BUILDERS:
        raise NotFound("未找到该清单")
    return BUILDERS[kind](user, **kwargs)
