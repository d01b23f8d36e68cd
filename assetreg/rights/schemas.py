"""Rights schemas: one record in, a batch in, a record out, and the rights summary of an asset."""

import marshmallow as ma
from marshmallow import fields, validate

from ..core.fields import Choice, Int, Text
from .models import HOLDER_KINDS, RIGHT_KINDS


class RightCreate(ma.Schema):
    kind = Choice(RIGHT_KINDS, required=True)
    holder_kind = Choice(HOLDER_KINDS, required=True)
    holder_name = Text(200, allow_none=True, metadata={"description": "household holders: defaults to the head"})
    credit_code = Text(18, allow_none=True, metadata={"description": "统一社会信用代码 (GB 32100)"})
    household_id = Int(min_value=1, allow_none=True, metadata={"description": "required for holder_kind household"})
    basis_document = Text(200, allow_none=True)
    effective_on = fields.Date(required=True)


class RightBatch(ma.Schema):
    """Several kinds confirmed at once; all or nothing. A bare JSON list is accepted too."""

    rights = fields.List(fields.Nested(RightCreate), required=True,
                         validate=validate.Length(min=1, max=len(RIGHT_KINDS)))

    @ma.pre_load
    def _wrap_list(self, data, **kwargs):
        return {"rights": data} if isinstance(data, list) else data


class Right(ma.Schema):
    id = fields.Integer()
    asset_id = fields.Integer()
    kind = fields.String()
    kind_label = fields.Function(lambda r: RIGHT_KINDS[r.kind])
    holder_kind = fields.String()
    holder_kind_label = fields.Function(lambda r: HOLDER_KINDS.get(r.holder_kind, r.holder_kind))
    holder_name = fields.String()
    credit_code = fields.String(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    basis_document = fields.String(allow_none=True)
    effective_on = fields.Date()
    ended_on = fields.Date(allow_none=True)
    superseded_by_id = fields.Integer(allow_none=True)
    is_current = fields.Boolean()
    recorded_by_id = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()


class RightNote(ma.Schema):
    code = fields.String()
    basis = fields.String()
    kind = fields.String(allow_none=True)
    message = fields.String()


class RightsSummary(ma.Schema):
    asset_id = fields.Integer()
    is_complete = fields.Boolean(metadata={"description": "确权 complete: all five rights held (basis: P03)"})
    missing = fields.List(fields.String())
    current = fields.List(fields.Nested(Right))
    history = fields.List(fields.Nested(Right), metadata={"description": "only with ?history=true"})
    notes = fields.List(fields.Nested(RightNote))


class RightsQuery(ma.Schema):
    history = fields.Boolean(load_default=False)
