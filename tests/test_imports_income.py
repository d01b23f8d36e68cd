"""Import of the income ledger (收益台账): entries posted through ``post_entry``, idempotent on
(asset, period, kind, voucher number, amount); settled years and household assets refused."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry

from .factories import VILLAGE_A1, VILLAGE_B1
from .imports_support import INCOME_HEADERS, csv_bytes, income, table, upload, xlsx


def _entries():
    return db.session.scalars(sa.select(IncomeEntry).order_by(IncomeEntry.id)).all()


def test_income_imports_through_post_entry_and_reimport_changes_nothing(world, f, today):
    pv = f.asset(code="PV-1", place_code=VILLAGE_A1)
    rows = [
        income("PV-1", "记-001"),
        income("PV-1", "记-002", **{"所属月份": "", "所属季度": "第二季度", "收支类别": "电价补贴", "金额（元）": "12,000.50"}),
        income("PV-1", "记-003", **{"收支方向": "支出", "收支类别": "运维费", "金额（元）": "800", "对方单位": "某运维公司"}),
        income("PV-1", "记-004", **{"所属年度": "2023", "所属月份": "", "收付日期": "2024-04-02",
                                    "收支类别": "电价补贴", "金额（元）": "5000"}),
        income("PV-1", "记-005", **{"收支方向": "扣除", "收支类别": "其他", "金额（元）": "1.5"}),
    ]
    content = xlsx(table(INCOME_HEADERS, rows), sheet="收益台账")
    r = upload(world.fin_a, "income", content, dry_run=False)
    assert r.status_code == 200, r.json
    assert r.json["counts"]["created"] == 5
    got = [(e.asset_id, e.direction, e.kind, e.period_year, e.period_month, e.period_quarter, e.amount, e.voucher_no)
           for e in _entries()]
    assert got == [
        (pv.id, "income", "electricity", 2024, 6, None, Decimal("3250.40"), "记-001"),
        (pv.id, "income", "tariff_subsidy", 2024, None, 2, Decimal("12000.50"), "记-002"),
        (pv.id, "deduction", "maintenance", 2024, 6, None, Decimal("800.00"), "记-003"),
        (pv.id, "income", "tariff_subsidy", 2023, None, None, Decimal("5000.00"), "记-004"),
        (pv.id, "deduction", "other", 2024, 6, None, Decimal("1.50"), "记-005"),
    ]
    assert all(e.village_code == VILLAGE_A1 and e.received_on <= today for e in _entries())
    assert db.session.scalar(sa.select(sa.func.count(ChangeLogEntry.id))
                             .where(ChangeLogEntry.entity == "income_entry")) == 5
    r = upload(world.fin_a, "income", content, dry_run=False)
    assert r.status_code == 200 and r.json["counts"]["unchanged"] == 5 and r.json["counts"]["created"] == 0
    assert len(_entries()) == 5

    # the same key with another date or payer is a conflict, not a second posting
    changed = xlsx(table(INCOME_HEADERS, [income("PV-1", "记-001", **{"收付日期": "2024-07-16"})]), sheet="收益台账")
    r = upload(world.fin_a, "income", changed, dry_run=False)
    assert r.status_code == 422
    assert [(e["row"], e["column"], e["message"]) for e in r.json["errors"]] == [
        (2, "凭证号", "已存在且内容不同：收付日期")]
    # a different amount under the same voucher is a new line (the key includes the amount)
    r = upload(world.fin_a, "income", xlsx(table(INCOME_HEADERS, [income("PV-1", "记-001", **{"金额（元）": "1"})]),
                                           sheet="收益台账"))
    assert r.json["counts"]["to_create"] == 1


def test_bad_income_rows(world, f, today):
    f.asset(code="PV-1", place_code=VILLAGE_A1)
    f.asset(code="PV-B", place_code=VILLAGE_B1)
    h = f.household(VILLAGE_A1)
    f.asset(code="COW-1", category="household", subtype="牲畜", managing_level="household", household_id=h.id,
            original_value="3000.00")
    rows = [
        income("PV-1", "记-101"),                                                  # 2 fine
        income("NOPE", "记-102"),                                                  # 3 unknown asset
        income("PV-B", "记-103"),                                                  # 4 other town
        income("COW-1", "记-104"),                                                 # 5 household asset (P11)
        income("PV-1", "记-105", **{"收支类别": "运维费"}),                          # 6 kind of the other direction
        income("PV-1", "记-106", **{"所属季度": "2"}),                               # 7 month and quarter
        income("PV-1", "记-107", **{"金额（元）": "0"}),                             # 8 zero amount
        income("PV-1", "记-108", **{"收付日期": "2025-07-01"}),                      # 9 in the future
        income("PV-1", "记-101"),                                                  # 10 same as row 2
        income("PV-1", "", **{"所属年度": "24", "金额（元）": "-5"}),                 # 11 no voucher, bad year, negative
    ]
    r = upload(world.fin_a, "income", csv_bytes(table(INCOME_HEADERS, rows)), "收益.csv", dry_run=False)
    assert r.status_code == 422
    got = {(e["row"], e["column"]): e["message"] for e in r.json["errors"]}
    assert got == {
        (3, "资产编号"): "未找到本县该编号的资产",
        (4, "资产编号"): "超出您的管辖范围",
        (5, "资产编号"): "到户类资产的收益归农户所有，不记入村集体收益台账",
        (6, "收支类别"): "收入的类别应为 电费收入、电价补贴、租金、保底收益/分红、经营收入、其他、处置收入 之一",
        (7, "所属季度"): "所属月份与所属季度只能填写其一",
        (8, "金额（元）"): "金额应大于零",
        (9, "收付日期"): "收付日期不能晚于今天",
        (10, "凭证号"): "与第2行的记录（资产、所属期间、类别、凭证号、金额均相同）重复",
        (11, "所属年度"): "应为 2000 至 2100 的整数",
        (11, "金额（元）"): "金额不能为负数",
        (11, "凭证号"): "必填项不能为空",
    }
    assert _entries() == []


def test_settled_year_is_refused_but_existing_lines_stay_unchanged(world, f, today):
    f.asset(code="PV-1", place_code=VILLAGE_A1)
    content = xlsx(table(INCOME_HEADERS, [income("PV-1", "记-201")]), sheet="收益台账")
    assert upload(world.fin_a, "income", content, dry_run=False).status_code == 200
    r = world.fin_a.post("/api/v1/settlements", json={"place_code": VILLAGE_A1, "year": 2024,
                                                      "settled_on": "2025-03-15"})
    assert r.status_code == 201, r.json
    both = xlsx(table(INCOME_HEADERS, [income("PV-1", "记-201"), income("PV-1", "记-202")]), sheet="收益台账")
    r = upload(world.fin_a, "income", both, dry_run=False)
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.json["errors"]] == [(3, "所属年度")]
    assert "2024年度已清算" in r.json["errors"][0]["message"]
    assert [x["action"] for x in r.json["rows"]] == ["unchanged", "error"]
    assert len(_entries()) == 1
    # another year is open
    r = upload(world.fin_a, "income", xlsx(table(INCOME_HEADERS, [income("PV-1", "记-203", **{
        "所属年度": "2025", "收付日期": "2025-06-01"})]), sheet="收益台账"), dry_run=False)
    assert r.status_code == 200 and r.json["counts"]["created"] == 1
    assert _entries()[-1].received_on == date(2025, 6, 1)


def test_income_roles(world, f, today):
    f.asset(code="PV-1", place_code=VILLAGE_A1)
    content = xlsx(table(INCOME_HEADERS, [income("PV-1", "记-301")]), sheet="收益台账")
    for client in (world.vc_a1, world.auditor):
        assert upload(client, "income", content).status_code == 403
    assert upload(world.fin_b, "income", content).json["errors"][0]["message"] == "超出您的管辖范围"
    assert upload(world.admin, "income", content, dry_run=False).json["counts"]["created"] == 1
