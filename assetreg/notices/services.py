"""Build a plan's notice from the database, refuse it when personal data would leak, render it."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.orm import selectinload

from ..core.access import scope_clause
from ..core.errors import NotFound, RuleViolation
from ..core.spreadsheets import Workbook
from ..core.time import today_local
from ..core.validators import mask_id_number
from ..distribution.models import PURPOSES, STATUSES, DistributionPlan, PlanAllocation
from ..distribution.services import policy_for
from ..extensions import db
from ..households.models import Household
from ..places.models import Place
from . import rules


def _plan(user, plan_id: int) -> DistributionPlan:
    plan = db.session.scalar(
        sa.select(DistributionPlan)
        .where(DistributionPlan.id == plan_id, DistributionPlan.county_code == user.county_code,
               scope_clause(DistributionPlan, user))
        .options(selectinload(DistributionPlan.allocations).selectinload(PlanAllocation.lines_in(user.county_code)),
                 selectinload(DistributionPlan.steps))
    )
    if plan is None:
        raise NotFound("未找到该分配方案")
    return plan


def _id_numbers(county_code: str, household_ids: set[int]) -> dict[tuple[int, str], str]:
    """(household id, person name) → ID number, for the people named on the lines (one query)."""
    if not household_ids:
        return {}
    out: dict[tuple[int, str], str] = {}
    rows = db.session.scalars(sa.select(Household).where(Household.county_code == county_code,
                                                         Household.id.in_(household_ids))
                              .options(selectinload(Household.members_in(county_code))))
    for h in rows:
        out[(h.id, h.head_name)] = h.head_id_number
        for m in h.members:
            if m.id_number:
                out[(h.id, m.name)] = m.id_number
    return out


def build_notice(user, plan_id: int) -> rules.Notice:
    plan = _plan(user, plan_id)
    names = dict(db.session.execute(sa.select(Place.code, Place.name)
                                    .where(Place.code.in_([plan.village_code, plan.town_code]))).all())
    town_phone = db.session.scalar(sa.select(Place.phone).where(Place.code == plan.town_code))
    policy = policy_for(plan.county_code)
    village, town = names.get(plan.village_code, plan.village_code), names.get(plan.town_code, plan.town_code)
    ids = _id_numbers(plan.county_code, {li.household_id for a in plan.allocations for li in a.lines})
    allocations = []
    for i, a in enumerate(plan.allocations, start=1):
        lines = [rules.NoticeLine(seq=j, name=li.person_name,
                                  id_masked=mask_id_number(ids.get((li.household_id, li.person_name))) or "—",
                                  amount=li.amount, reason=li.reason or "")
                 for j, li in enumerate(a.lines, start=1)]
        allocations.append(rules.NoticeAllocation(seq=i, purpose_label=PURPOSES[a.purpose], use=a.use or "",
                                                  amount=a.amount, lines=lines))
    step = plan.step("notice")
    start, end = (step.notice_start_on, step.notice_end_on) if step else (None, None)
    phones = [policy.complaint_phone] + ([f"{town}：{town_phone}"] if town_phone else [])
    intro = (f"根据扶贫项目资产收益分配管理有关规定，经村党组织提议、村两委会议商议、党员大会审议、村民代表会议决议，"
             f"{village}{plan.year}年度扶贫项目资产收益分配方案如下，现予公示。本年度可分配收益"
             f"{rules.fmt_money(plan.available)}元（其中上年结转{rules.fmt_money(plan.carry_over)}元）。"
             "公示期间如有异议，请向村务监督委员会或下列电话反映。")
    notice = rules.Notice(
        title=f"{village}{plan.year}年度扶贫项目资产收益分配公示", village_name=village, town_name=town,
        year=plan.year, intro=intro, available=plan.available, allocations=allocations,
        notice_start_on=start, notice_end_on=end,
        notice_days=rules.inclusive_days(start, end) if start and end else None,
        complaint_phones=phones, issuer=f"{village}村民委员会", issued_on=start or today_local(),
        status_label=STATUSES[plan.status],
    )
    leaks = notice.privacy_leaks()
    if leaks:
        # basis: P17 — a notice with an unmasked ID, card or mobile number is refused (PRIVACY_LEAK).
        kinds = sorted({k for k, _ in leaks})
        raise RuleViolation("公示内容含未脱敏的个人信息，不予发布", {"privacy": [f"发现未脱敏的{k}" for k in kinds]},
                            code="privacy_leak")
    return notice


def render_html(notice: rules.Notice) -> str:
    return render_template("notices/notice.html", n=notice, fmt_money=rules.fmt_money, fmt_date=rules.fmt_date)


def render_xlsx(notice: rules.Notice) -> bytes:
    """The notice as one printable A4 sheet; totals are values (not formulas) so any reader sees them."""
    wb = Workbook()
    f = wb.formats
    ws = wb.sheet("公示")
    ws.set_paper(9)  # A4
    ws.set_portrait()
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.6, right=0.6, top=0.7, bottom=0.7)
    ws.set_column(0, 0, 6)
    ws.set_column(1, 1, 16)
    ws.set_column(2, 2, 22)
    ws.set_column(3, 3, 14)
    ws.set_column(4, 4, 34)
    row = 0
    ws.merge_range(row, 0, row, 4, notice.title, f["title"])
    ws.set_row(row, 30)
    row += 1
    ws.merge_range(row, 0, row, 4, notice.intro, f["plain"])
    ws.set_row(row, 60)
    row += 2
    ws.merge_range(row, 0, row, 4, "一、收益分配安排", f["total_label"])
    row += 1
    for col, h in enumerate(["序号", "用途", "具体使用", "金额（元）", "说明"]):
        ws.write(row, col, h, f["header"])
    row += 1
    for a in notice.allocations:
        ws.write_number(row, 0, a.seq, f["center"])
        ws.write(row, 1, a.purpose_label, f["text"])
        ws.write(row, 2, a.use, f["text"])
        wb.write_money(ws, row, 3, a.amount)
        ws.write(row, 4, f"共{len(a.lines)}户（人）" if a.lines else "", f["text"])
        row += 1
    ws.write(row, 0, "", f["total_label"])
    ws.write(row, 1, "合计", f["total_label"])
    ws.write(row, 2, "", f["total_label"])
    wb.write_money(ws, row, 3, notice.total, "total_money")
    ws.write(row, 4, f"大写：{notice.total_capital}", f["total_label"])
    row += 2
    ws.merge_range(row, 0, row, 4, "二、到户明细", f["total_label"])
    row += 1
    for col, h in enumerate(["序号", "姓名", "身份证号", "金额（元）", "事由"]):
        ws.write(row, col, h, f["header"])
    row += 1
    for a in notice.allocations:
        if not a.lines:
            continue
        ws.merge_range(row, 0, row, 4, f"{a.purpose_label}（{rules.fmt_money(a.amount)}元）", f["text"])
        row += 1
        for li in a.lines:
            ws.write_number(row, 0, li.seq, f["center"])
            ws.write(row, 1, li.name, f["text"])
            ws.write(row, 2, li.id_masked, f["center"])
            wb.write_money(ws, row, 3, li.amount)
            ws.write(row, 4, li.reason, f["text"])
            row += 1
        ws.write(row, 0, "", f["total_label"])
        ws.write(row, 1, "小计", f["total_label"])
        ws.write(row, 2, "", f["total_label"])
        wb.write_money(ws, row, 3, a.lines_total, "total_money")
        ws.write(row, 4, "", f["total_label"])
        row += 1
    row += 1
    period = (f"公示期：{rules.fmt_date(notice.notice_start_on)}至{rules.fmt_date(notice.notice_end_on)}"
              f"（共{notice.notice_days}天）" if notice.notice_days else "公示期：待定")
    for text in [period, "监督举报电话：" + "，".join(notice.complaint_phones)]:
        ws.merge_range(row, 0, row, 4, text, f["plain"])
        row += 1
    row += 1
    for text in [notice.issuer, rules.fmt_date(notice.issued_on)]:
        ws.merge_range(row, 0, row, 4, text, f["plain_right"])
        row += 1
    return wb.close()
