"""Notice of a plan: JSON under /api/v1, and the printable page and XLSX download."""

from urllib.parse import quote

from flask import Blueprint, Response
from flask_login import current_user, login_required

from ..web.api import api_blueprint
from . import schemas, services

blp = api_blueprint("notices", __name__, "/plans", "收益分配公示 (notices)")


@blp.route("/<int:plan_id>/notice")
@blp.response(200, schemas.Notice)
def notice_json(plan_id):
    return services.build_notice(current_user, plan_id)


# Files are not JSON, so they live on a plain blueprint (login by session or bearer token alike).
files = Blueprint("notice_files", __name__, template_folder="templates")


@files.route("/plans/<int:plan_id>/notice")
@login_required
def notice_page(plan_id):
    return services.render_html(services.build_notice(current_user, plan_id))


@files.route("/plans/<int:plan_id>/notice.xlsx")
@login_required
def notice_xlsx(plan_id):
    notice = services.build_notice(current_user, plan_id)
    data = services.render_xlsx(notice)

    filename = quote(f"{notice.title}.xlsx")
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"})
