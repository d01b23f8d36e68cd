"""The change log page (操作日志) for auditors and county admins."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, render_template, request
from flask_login import current_user

from ..changelog import schemas as log_schemas
from ..changelog import services as log_services
from ..core.time import LOCAL_TZ
from ..web.forms import load_query

bp = Blueprint("changelog_pages", __name__, template_folder="templates")


def _day_start(text: str, errors: dict, name: str, plus_days: int = 0) -> str | None:
    """A date typed in the page → the start of that day in China time, as the schema's aware datetime."""
    try:
        d = date.fromisoformat(text)
    except ValueError:
        errors[name] = ["应为日期，例如 2025-03-31"]
        return None
    return datetime.combine(d + timedelta(days=plus_days), time(0), LOCAL_TZ).isoformat()


@bp.route("/changes")
def changes():

    raw = {k: v for k, v in request.args.items() if k in ("entity", "entity_id", "page", "per_page")}
    date_errors: dict = {}
    if request.args.get("from", "").strip():
        raw["since"] = _day_start(request.args["from"].strip(), date_errors, "from")
    if request.args.get("to", "").strip():
        raw["until"] = _day_start(request.args["to"].strip(), date_errors, "to", plus_days=1)
    raw = {k: v for k, v in raw.items() if v}
    args, query_errors = load_query(log_schemas.ChangeQuery(), raw)
    result = log_services.list_changes(current_user, **args)
    return render_template("admin/changes.html", result=result, args=request.args,
                           query_errors={**query_errors, **date_errors})
