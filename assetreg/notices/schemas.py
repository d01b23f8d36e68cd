import marshmallow as ma
from marshmallow import fields

from ..core.fields import MoneyField


class NoticeLine(ma.Schema):
    seq = fields.Integer()
    name = fields.String()
    id_masked = fields.String()
    amount = MoneyField()
    reason = fields.String()


class NoticeAllocation(ma.Schema):
    seq = fields.Integer()
    purpose_label = fields.String()
    use = fields.String()
    amount = MoneyField()
    lines_total = MoneyField()
    lines = fields.List(fields.Nested(NoticeLine))


class Notice(ma.Schema):
    title = fields.String()
    village_name = fields.String()
    town_name = fields.String()
    year = fields.Integer()
    intro = fields.String()
    available = MoneyField()
    allocations = fields.List(fields.Nested(NoticeAllocation))
    total = MoneyField()
    total_capital = fields.String()
    notice_start_on = fields.Date(allow_none=True)
    notice_end_on = fields.Date(allow_none=True)
    notice_days = fields.Integer(allow_none=True)
    complaint_phones = fields.List(fields.String())
    issuer = fields.String()
    issued_on = fields.Date()
    status_label = fields.String()
