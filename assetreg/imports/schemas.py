"""Import schemas: the upload (multipart), the query (dry run, report format), the report."""

import marshmallow as ma
from marshmallow import fields
from werkzeug.datastructures import FileStorage

from ..core.fields import Choice, Matches
from .templates import KINDS


class FileField(fields.Field):
    """A multipart file part (werkzeug FileStorage)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("format", "binary")

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ma.ValidationError("应上传文件")
        return value


class ImportFile(ma.Schema):
    file = FileField(required=True, metadata={"description": "XLSX、XLS 或 CSV（UTF-8/GBK）；格式按内容识别"})


class ImportQuery(ma.Schema):
    dry_run = fields.Boolean(load_default=True, metadata={
        "description": "true（默认）：只检查不写入；false：全部无误时一次写入，有错误时不写入任何数据（422）"})
    format = Choice(["json", "xlsx"], load_default="json", metadata={
        "description": "json：错误报告；xlsx：上传的各行，出错单元格标红并附批注，末列为“错误说明”"})


class ImportPageCheck(ma.Schema):
    """The import page's upload form (the file itself comes through ``ImportFile``)."""

    kind = Choice(KINDS, required=True)


class ImportStaged(ImportPageCheck):
    """A checked upload to commit, or whose error workbook to fetch: named by its SHA-256."""

    upload = fields.String(required=True, validate=Matches(r"^[0-9a-f]{64}$", error="上传文件标识无效"))


class ImportErrorOut(ma.Schema):
    row = fields.Integer(metadata={"description": "Excel 中的行号：表头为第1行，第一行数据为第2行"})
    column = fields.String(metadata={"description": "列名（文件中的表头）"})
    field = fields.String(allow_none=True)
    value = fields.String(allow_none=True)
    message = fields.String()


class ImportRowOut(ma.Schema):
    row = fields.Integer()
    key = fields.String(allow_none=True)
    action = fields.String(metadata={"description": "create 新增 / unchanged 未变 / error 有错误"})


class ImportCounts(ma.Schema):
    rows = fields.Integer(metadata={"description": "数据行数（空行不计）"})
    records = fields.Integer(metadata={"description": "记录数：资产、农户（每户多行）或收支笔数"})
    to_create = fields.Integer()
    unchanged = fields.Integer()
    created = fields.Integer()
    errors = fields.Integer()
    rows_with_errors = fields.Integer()


class Rejection(ma.Schema):
    code = fields.String()
    message = fields.String()
    fields_ = fields.Dict(attribute="fields", data_key="fields")


class ImportReport(ma.Schema):
    kind = fields.String()
    kind_label = fields.String()
    dry_run = fields.Boolean()
    committed = fields.Boolean()
    file_format = fields.String()
    sheet = fields.String(allow_none=True)
    encoding = fields.String(allow_none=True)
    header_row = fields.Integer()
    columns = fields.Dict(keys=fields.String(), values=fields.String())
    unknown_columns = fields.List(fields.String())
    counts = fields.Nested(ImportCounts)
    errors = fields.List(fields.Nested(ImportErrorOut))
    rows = fields.List(fields.Nested(ImportRowOut))
    error = fields.Nested(Rejection, allow_none=True, metadata={"description": "present when a commit was refused"})


class TemplateColumn(ma.Schema):
    field = fields.String()
    header = fields.String()
    aliases = fields.List(fields.String())
    meaning = fields.String()
    required = fields.String()
    allowed = fields.String()
    example = fields.String()


class Template(ma.Schema):
    kind = fields.String()
    title = fields.String()
    layout = fields.List(fields.String())
    columns = fields.List(fields.Nested(TemplateColumn))
