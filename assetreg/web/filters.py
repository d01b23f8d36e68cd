"""Jinja filters and label tables for the pages: money "12,345.67", dates "2025年3月31日", status labels."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from flask import Flask

from ..core.time import LOCAL_TZ


def money(value, blank: str = "") -> str:
    """Yuan with two decimals and thousands separators: 12345.6 → "12,345.60". Never via float."""
    if value is None or value == "":
        return blank
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{d:,.2f}"


def number(value, blank: str = "") -> str:
    """An integer count with thousands separators: 20000 → "20,000"."""
    if value is None:
        return blank
    if isinstance(value, Decimal):
        return f"{value.normalize():,f}"
    return f"{value:,}"


def _local(value: datetime) -> datetime:
    if value.tzinfo is None:  # stored datetimes are UTC (UTCDateTime); treat naive ones the same

        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ)


def cn_date(value, blank: str = "") -> str:
    """A date as officials write it: 2025年3月31日 (a datetime shows its local date)."""
    if value is None or value == "":
        return blank
    if isinstance(value, datetime):
        value = _local(value).date()
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def cn_datetime(value, blank: str = "") -> str:
    """A moment in China time: 2025年3月31日 14:05."""
    if value is None or value == "":
        return blank
    if isinstance(value, datetime):
        local = _local(value)
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return cn_date(value, blank)


def iso_date(value) -> str:
    """The value an ``<input type="date">`` expects."""
    if isinstance(value, datetime):
        value = _local(value).date()
    return value.isoformat() if isinstance(value, date) else (value or "")


# Change-log vocabulary (entity and action codes other areas write), said in Chinese where known.
LOG_ENTITIES = {
    "asset": "资产", "asset_right": "五权", "asset_custody": "管护", "asset_operation": "经营",
    "income_entry": "收益台账", "asset_share": "收益份额", "contract_return": "固定收益合同", "settlement": "年度清算",
    "household": "农户", "place": "区划", "user": "用户", "depreciation_policy": "折旧政策",
    "distribution_plan": "分配方案", "distribution_policy": "分配政策", "plan_step": "四议两公开",
    "plan_objection": "异议", "public_job": "公益岗位", "asset_shares": "收益份额", "export_job": "导出任务",
    "regulation": "制度", "archive_document": "档案", "stored_file": "上传文件", "required_documents": "必备档案设置",
    "problem": "问题整改", "problem_evidence": "整改佐证", "audit": "审计", "inspection": "督查",
    "oversight_settings": "预警设置", "flag_acknowledgement": "预警确认", "disposal_request": "资产处置",
    "import": "导入", "legacy_import": "历史数据导入",
}
LOG_ACTIONS = {
    "create": "新增", "update": "修改", "status": "状态变更", "supersede": "被替代", "replace": "被替换",
    "withdraw": "撤并", "move_with_household": "随农户迁移", "set": "设置", "lock": "锁定", "lock_account": "锁定账户", "unlock": "解锁",
    "activate": "启用", "deactivate": "停用", "reset_password": "重置密码", "reverse": "冲销",
    "request": "申请", "complete": "完成", "fail": "失败", "settle": "清算", "publish": "公示", "repeal": "废止",
    "upload": "上传", "commit": "确认导入", "export": "导出",
}
# Columns the log repeats on every row that say nothing to a reader of the diff.
LOG_QUIET = {"id", "county_code", "town_code", "village_code", "created_at", "updated_at", "version", "recorded_at",
             "recorded_by_id", "actor_id"}


_LABELS: dict[str, dict[str, str]] = {"log_entity": LOG_ENTITIES, "log_action": LOG_ACTIONS}


def label(value, table: str, blank: str = "") -> str:
    """The Chinese label of a stored code; an unknown code shows as itself."""
    if value is None or value == "":
        return blank
    return _LABELS.get(table, {}).get(value, str(value))


def status_label(value) -> str:
    return label(value, "asset_status")


def register_filters(app: Flask, label_tables: dict[str, dict[str, str]]) -> None:
    """Filters and globals; ``label_tables`` are the areas' code → Chinese label tables, by name
    (``value|label('asset_status')``), gathered by the app factory."""
    _LABELS.update(label_tables)
    app.jinja_env.filters.update(
        money=money, number=number, cn_date=cn_date, cn_datetime=cn_datetime, iso_date=iso_date,
        label=label, status_label=status_label,
    )
    app.jinja_env.globals["label_table"] = lambda name: _LABELS.get(name, {})
    app.jinja_env.globals["log_quiet"] = LOG_QUIET
