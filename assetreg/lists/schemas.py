"""Schemas of regulations, archive documents, files, required kinds and the four lists (in and out)."""

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from ..assets.models import CATEGORIES, STATUSES
from ..core.access import PLACE_CODE_MESSAGE, PLACE_CODE_PATTERN
from ..core.fields import Choice, Int, Matches, MoneyField, OutSchema, PageQuery, Text, page_schema
from .models import DOCUMENT_KINDS, FIVE_SYSTEMS, LEVELS, REGULATION_CATEGORIES

_CODE = Matches(PLACE_CODE_PATTERN, error=PLACE_CODE_MESSAGE)


def PlaceCode(**kw):
    return fields.String(validate=[validate.Length(max=12), _CODE], **kw)


# --- files --------------------------------------------------------------------------------------

class UploadIn(ma.Schema):
    file = Upload(required=True, metadata={"description": "PDF, PNG, JPEG, DOCX, XLSX, DOC or XLS; "
                                                          "typed by content, size-limited"})


class StoredFile(ma.Schema):
    id = fields.Integer()
    sha256 = fields.String()
    size = fields.Integer()
    content_type = fields.String()
    original_name = fields.String(allow_none=True)
    uploaded_by_id = fields.Integer(allow_none=True)
    uploaded_at = fields.DateTime()


# --- regulations --------------------------------------------------------------------------------

class RegulationCreate(ma.Schema):
    title = Text(200, required=True)
    doc_number = Text(100, allow_none=True, metadata={"description": "文号, e.g. 青政办发〔2021〕8号"})
    issuer_code = PlaceCode(required=True, metadata={"description": "the county, town or village that issued it"})
    level = Choice(LEVELS, metadata={"description": "must match the issuer's level; defaults to it"})
    category = Choice(REGULATION_CATEGORIES, required=True)
    subtypes = fields.List(Text(40), validate=validate.Length(max=30), allow_none=True,
                           metadata={"description": "asset subtypes it concerns (basis: P08)"})
    effective_on = fields.Date(required=True)
    repealed_on = fields.Date(allow_none=True)
    file_id = Int(min_value=1, allow_none=True)
    place_codes = fields.List(PlaceCode(), validate=validate.Length(max=500), allow_none=True,
                              metadata={"description": "places it applies to; none: the issuer's whole tree"})


class RegulationRepeal(ma.Schema):
    repealed_on = fields.Date(required=True)


class RegulationQuery(PageQuery):
    level = Choice(LEVELS)
    category = Choice(REGULATION_CATEGORIES)
    issuer_code = PlaceCode()
    in_force_on = fields.Date()


class Regulation(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    issuer_code = fields.String()
    level = fields.String()
    level_label = fields.Function(lambda r: LEVELS[r.level])
    title = fields.String()
    doc_number = fields.String(allow_none=True)
    category = fields.String()
    category_label = fields.Function(lambda r: REGULATION_CATEGORIES[r.category])
    is_five_system = fields.Function(lambda r: r.category in FIVE_SYSTEMS)
    subtypes = fields.List(fields.String(), allow_none=True)
    effective_on = fields.Date()
    repealed_on = fields.Date(allow_none=True)
    file_id = fields.Integer(allow_none=True)
    place_codes = fields.Function(lambda r: sorted(p.place_code for p in r.places))
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


RegulationPage = page_schema(Regulation, "RegulationPage")


# --- archive ------------------------------------------------------------------------------------

class DocumentCreate(ma.Schema):
    asset_id = Int(min_value=1, allow_none=True, metadata={"description": "the asset, or give place_code"})
    place_code = PlaceCode(allow_none=True, metadata={"description": "a place's own file, or give asset_id"})
    level = Choice(LEVELS, required=True, metadata={"description": "which level's archive keeps it"})
    kind = Choice(DOCUMENT_KINDS, required=True)
    archive_no = Text(60, required=True, metadata={"description": "档案号, unique per county and level"})
    title = Text(200, required=True)
    filed_on = fields.Date(required=True)
    file_id = Int(min_value=1, allow_none=True)


class DocumentQuery(PageQuery):
    asset_id = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    place_code = PlaceCode()
    level = Choice(LEVELS)
    kind = Choice(DOCUMENT_KINDS)


class Document(ma.Schema):
    id = fields.Integer()
    county_code = fields.String()
    town_code = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    asset_id = fields.Integer(allow_none=True)
    level = fields.String()
    level_label = fields.Function(lambda d: LEVELS[d.level])
    kind = fields.String()
    kind_label = fields.Function(lambda d: DOCUMENT_KINDS[d.kind])
    archive_no = fields.String()
    title = fields.String()
    filed_on = fields.Date()
    file_id = fields.Integer(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


DocumentPage = page_schema(Document, "DocumentPage")


class RequiredIn(ma.Schema):
    status = Choice(STATUSES, required=True)
    category = Choice(CATEGORIES, allow_none=True, metadata={"description": "none: every category"})
    kind = Choice(DOCUMENT_KINDS, required=True)


class RequiredSet(ma.Schema):
    items = fields.List(fields.Nested(RequiredIn), required=True, validate=validate.Length(max=500))


class Required(ma.Schema):
    status = fields.String()
    status_label = fields.Function(lambda r: STATUSES[r.status])
    category = fields.String(allow_none=True)
    kind = fields.String()
    kind_label = fields.Function(lambda r: DOCUMENT_KINDS[r.kind])


class RequiredList(ma.Schema):
    items = fields.List(fields.Nested(Required))


# --- the four lists -----------------------------------------------------------------------------

class ListQuery(PageQuery):
    scope = PlaceCode(metadata={"description": "county, town or village code; default: your own scope"})
    as_of = fields.Date(metadata={"description": "default: today (Asia/Shanghai)"})


class ExportQuery(ma.Schema):
    scope = PlaceCode()
    as_of = fields.Date()


class ListScope(OutSchema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    level_label = fields.String()


class _Sums(OutSchema):
    count = fields.Integer()
    original_value = MoneyField()
    book_value = MoneyField()


class _ByCategory(_Sums):
    category = fields.String()
    category_label = fields.String()


class _ByTown(_Sums):
    town_code = fields.String(allow_none=True)
    town_name = fields.String()


class _ByVillage(_ByTown):
    village_code = fields.String(allow_none=True)
    village_name = fields.String()


class AssetTotals(_Sums):
    by_category = fields.List(fields.Nested(_ByCategory))
    by_town = fields.List(fields.Nested(_ByTown))
    by_village = fields.List(fields.Nested(_ByVillage))


class AssetRow(OutSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    category = fields.String()
    category_label = fields.String()
    subtype = fields.String()
    place_code = fields.String()
    place_name = fields.String(allow_none=True)
    town_code = fields.String(allow_none=True)
    town_name = fields.String(allow_none=True)
    village_code = fields.String(allow_none=True)
    village_name = fields.String(allow_none=True)
    managing_level = fields.String()
    managing_level_label = fields.String()
    original_value = MoneyField()
    book_value = MoneyField()
    status = fields.String()
    status_label = fields.String()
    ownership_holder = fields.String(allow_none=True)
    operation_holder = fields.String(allow_none=True)
    income_holder = fields.String(allow_none=True)


class _ListPage(OutSchema):
    scope = fields.Nested(ListScope)
    as_of = fields.Date()
    page = fields.Integer()
    per_page = fields.Integer()
    total = fields.Integer()


class AssetList(_ListPage):
    items = fields.List(fields.Nested(AssetRow))
    totals = fields.Nested(AssetTotals)


class ResponsibilityRow(OutSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    category = fields.String()
    category_label = fields.String()
    subtype = fields.String()
    place_code = fields.String()
    place_name = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    ownership_holder = fields.String(allow_none=True)
    ownership_holder_kind = fields.String(allow_none=True)
    operation_holder = fields.String(allow_none=True)
    operation_holder_kind = fields.String(allow_none=True)
    income_holder = fields.String(allow_none=True)
    income_holder_kind = fields.String(allow_none=True)
    disposal_holder = fields.String(allow_none=True)
    disposal_holder_kind = fields.String(allow_none=True)
    supervision_holder = fields.String(allow_none=True)
    supervision_holder_kind = fields.String(allow_none=True)
    custodian_unit = fields.String(allow_none=True)
    custodian_person = fields.String(allow_none=True)
    operator = fields.String(allow_none=True)
    operation_mode = fields.String(allow_none=True)
    contract_no = fields.String(allow_none=True)
    supervising_department = fields.String(allow_none=True)
    rights_missing = fields.List(fields.String())


class ResponsibilityTotals(OutSchema):
    count = fields.Integer()
    rights_complete = fields.Integer()
    with_custodian = fields.Integer()
    with_operator = fields.Integer()


class ResponsibilityList(_ListPage):
    items = fields.List(fields.Nested(ResponsibilityRow))
    totals = fields.Nested(ResponsibilityTotals)


class RegulationRow(OutSchema):
    id = fields.Integer()
    title = fields.String()
    doc_number = fields.String(allow_none=True)
    level = fields.String()
    level_label = fields.String()
    issuer_code = fields.String()
    issuer_name = fields.String(allow_none=True)
    category = fields.String()
    category_label = fields.String()
    subtypes = fields.List(fields.String())
    effective_on = fields.Date()
    repealed_on = fields.Date(allow_none=True)
    file_id = fields.Integer(allow_none=True)
    applies_to = fields.List(fields.String())
    applies_to_label = fields.String()


class Coverage(OutSchema):
    code = fields.String()
    name = fields.String()
    level = fields.String()
    level_label = fields.String()
    town_name = fields.String(allow_none=True)
    missing = fields.List(fields.String())
    missing_labels = fields.List(fields.String())


class RegulationTotals(OutSchema):
    count = fields.Integer()
    by_level = fields.Dict(keys=fields.String(), values=fields.Integer())
    places = fields.Integer()
    places_lacking = fields.Integer()
    lacking_by_system = fields.Dict(keys=fields.String(), values=fields.Integer())


class RegulationList(_ListPage):
    items = fields.List(fields.Nested(RegulationRow))
    coverage = fields.List(fields.Nested(Coverage))
    totals = fields.Nested(RegulationTotals)


class ArchiveDoc(OutSchema):
    id = fields.Integer()
    asset_id = fields.Integer(allow_none=True)
    place_code = fields.String()
    place_name = fields.String(allow_none=True)
    level = fields.String()
    level_label = fields.String()
    kind = fields.String()
    kind_label = fields.String()
    archive_no = fields.String()
    title = fields.String()
    filed_on = fields.Date()
    file_id = fields.Integer(allow_none=True)


class ArchiveRow(OutSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    category = fields.String()
    category_label = fields.String()
    place_code = fields.String()
    place_name = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    documents = fields.List(fields.Nested(ArchiveDoc))
    required = fields.List(fields.String())
    required_labels = fields.List(fields.String())
    missing = fields.List(fields.String())
    missing_labels = fields.List(fields.String())


class ArchiveTotals(OutSchema):
    count = fields.Integer()
    documents = fields.Integer()
    documents_by_level = fields.Dict(keys=fields.String(), values=fields.Integer())
    assets_missing = fields.Integer()
    missing_documents = fields.Integer()
    place_documents = fields.Integer()


class ArchiveList(_ListPage):
    items = fields.List(fields.Nested(ArchiveRow))
    place_documents = fields.List(fields.Nested(ArchiveDoc))
    totals = fields.Nested(ArchiveTotals)
