"""The village committee's year and the auditor's export, end to end in a real browser (headless
chromium at 1366×768), with screenshots under tests/artifacts/."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from assetreg.distribution.models import DistributionPlan, PlanLine, PlanStep
from assetreg.extensions import db

from ..distribution_support import households, settle
from ..factories import COUNTY, VILLAGE_A1
from .conftest import log_in

# The app runs in a live server (its own threads and connections): the data must really be committed.
pytestmark = pytest.mark.committed


def _log_out(page) -> None:
    page.locator("#logout").click()
    page.wait_for_load_state()


def _step(page, fields: dict[str, str], shot: str | None = None) -> None:
    """Fill the form of the step now due (fields by name) and record it; the page comes back with it done."""
    due = page.locator("#next-step").inner_text()
    for name, value in fields.items():
        page.locator(f"form [name={name}]").fill(value)
    if shot:
        page.shot(shot, full_page=True)
    page.get_by_role("button", name="记录该步骤").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() == 1, (due, page.locator("main").inner_text()[:1500])


def test_village_committee_drafts_plan_fills_lines_runs_steps_and_prints_notice(today, page, world, f):
    settle(f, world, VILLAGE_A1, pv="10000.00", other="5000.00")  # 2024 settled: 15,000.00 available
    hs = households(f, VILLAGE_A1, "monitored", "formerly_poor", "ordinary")
    log_in(page, "vc_a1")

    # Draft: a new plan for the settled year.
    page.goto("/plans")
    page.get_by_role("link", name="新建方案").click()
    page.get_by_label("收益年度").fill("2024")
    page.get_by_role("button", name="创建方案").click()
    page.wait_for_load_state()
    assert "15,000.00" in page.locator("main").inner_text()

    # Allocations: PV purposes first (≥ 80% of the PV net), relief for households, the rest carried over.
    allocs = page.locator("form[data-editor=allocations]")
    page.get_by_label("村级公益事业金额（元）").fill("9,000.00")
    page.get_by_label("村级公益事业具体用途").fill("村组道路维修")
    page.get_by_label("扶贫济困金额（元）").fill("3000")
    page.get_by_label("结转金额（元）").fill("2,999.99")
    assert "未分配 0.01 元" in allocs.locator("[data-totals]").inner_text()
    page.get_by_label("结转金额（元）").fill("3,000.00")
    assert "未分配 0.00 元" in allocs.locator("[data-totals]").inner_text()
    allocs.get_by_role("button", name="保存分配项").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() == 1

    # Lines: the fill helper shares 扶贫济困 equally among the three households, to the fen.
    page.locator("#f-purpose").select_option("relief")
    page.locator("#f-method").select_option("equal")
    page.get_by_role("button", name="预览").click()
    page.wait_for_load_state()
    assert "合计与分配额一致" in page.locator("#fill-preview").inner_text()
    page.get_by_role("button", name="应用到方案").click()
    page.wait_for_load_state()
    plan = db.session.scalar(sa.select(DistributionPlan).where(DistributionPlan.village_code == VILLAGE_A1))
    db.session.expire_all()
    lines = db.session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan.id)).all()
    assert sorted(x.household_id for x in lines) == sorted(h.id for h in hs)
    assert sum(x.amount for x in lines) == Decimal("3000.00")  # 1,000.00 each: parts add up to the whole
    page.shot("30_plan_filled", full_page=True)

    # 四议两公开: the village committee's steps, the town's review, the notice.
    page.get_by_role("link", name="程序步骤（四议两公开）").click()
    page.wait_for_load_state()
    _step(page, {"done_on": "2025-04-01", "minutes": "村党支部提议2024年度收益分配方案"}, shot="31_procedure_first_step")
    _step(page, {"done_on": "2025-04-02", "minutes": "两委会议商议通过"})
    meeting = {"members_due": "30", "members_present": "25", "members_in_favour": "20"}
    _step(page, {"done_on": "2025-04-03", "minutes": "党员大会审议", **meeting})
    _step(page, {"done_on": "2025-04-04", "minutes": "村民代表会议决议", **meeting})
    _step(page, {"done_on": "2025-04-05", "minutes": "村务公开栏公开决议"})
    _log_out(page)
    log_in(page, "fin_a")
    page.goto(f"/plans/{plan.id}/procedure")
    _step(page, {"done_on": "2025-04-20", "minutes": "经审核，同意公示"})
    _log_out(page)
    log_in(page, "vc_a1")
    page.goto(f"/plans/{plan.id}/procedure")
    _step(page, {"notice_start_on": "2025-05-01", "notice_end_on": "2025-05-10", "minutes": "村务公开栏及微信群"})
    _step(page, {"done_on": "2025-05-20", "minutes": "公示期满，无异议，批准实施"})
    page.shot("32_procedure_after_approval", full_page=True)

    # The notice: preview in the app, then the print view in its own tab.
    page.get_by_role("link", name="公示预览").click()
    page.wait_for_load_state()
    preview = page.locator("main").inner_text()
    assert "扶贫济困" in preview and "3,000.00" in preview and "2025年5月1日至2025年5月10日" in preview
    for h in hs:
        assert h.head_id_number not in page.content()  # IDs masked in what is published
    page.shot("33_notice_preview", full_page=True)
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="打印").click()
    printed = opened.value
    printed.wait_for_load_state()
    assert "公示" in printed.title() and "壹万伍仟元整" in printed.content()  # the total in 大写
    printed.screenshot(path=str(page.shot("34_notice_print").parent / "34_notice_print.png"), full_page=True)
    printed.close()
    db.session.expire_all()
    kinds = db.session.scalars(sa.select(PlanStep.kind).where(PlanStep.plan_id == plan.id).order_by(PlanStep.seq)).all()
    assert kinds[-2:] == ["notice", "approval"] and len(kinds) == 8


def test_auditor_exports_the_ledger_and_sees_the_change_log(today, page, world, f):
    from .test_walks import _some_data

    _some_data(f, world)
    log_in(page, "auditor")
    page.goto("/exports")
    page.get_by_label("导出范围").select_option(COUNTY)
    page.get_by_label("年度").fill("2021-2025")
    page.get_by_label("导出内容").select_option(index=0)
    page.shot("40_export_form", full_page=True)
    page.get_by_role("button", name="开始导出").click()
    page.wait_for_load_state()
    download_link = page.locator("#job-download")
    download_link.wait_for(timeout=30_000)  # the job page polls and shows the link when the job is done
    page.shot("41_export_done", full_page=True)
    with page.expect_download() as dl:
        download_link.click()
    data = Path(dl.value.path()).read_bytes()
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, engine="calamine")
    assert len(sheets) >= 5
    names = " ".join(sheets)
    assert "资产" in names and "收益" in names
    income = next(df for name, df in sheets.items() if "收益" in name and len(df))
    assert len(income) >= 4  # the four years posted on the PV station (and the sheet has its rows)

    # The change log: who did what, including the income the ledger holds.
    page.goto("/changes")
    page.wait_for_load_state()
    body = page.locator("main").inner_text()
    assert "收益台账" in body and "导出任务" in body and "申请" in body  # said in Chinese, the export logged too
    assert body.count("93000.00") == 1  # the 2024 PV receipt, as posted
    page.shot("42_change_log_auditor", full_page=True)


def test_auditor_reads_the_lists_flags_and_rectification_ledger(today, page, world, f):
    """The oversight pages an auditor works through, each with its export button, and a flag raised as a
    problem into the rectification ledger (screenshots 43–47)."""
    from .test_walks import _some_data

    _some_data(f, world)
    log_in(page, "auditor")
    for path, heading, shot in (("/lists", "四张清单", "43_lists"), ("/lists/assets", "资产清单", "44_asset_list"),
                                ("/flags", "预警", "45_flags"), ("/problems", "整改台账", "46_problems_empty")):
        page.goto(path)
        page.wait_for_load_state()
        assert heading in page.get_by_role("heading", level=1).inner_text(), path
        assert page.get_by_role("link", name="导出Excel").first.is_visible() or \
            page.get_by_role("link", name="导出Excel（四张清单）").is_visible(), path
        page.shot(shot, full_page=True)

    # A flag becomes a tracked problem (三单一账): raised from the flags page, then in the ledger.
    page.goto("/flags?rule=CUSTODY_MISSING")
    page.get_by_role("link", name="转为问题").first.click()
    page.wait_for_load_state()
    assert "未明确管护主体" in page.get_by_label("问题描述（问题清单）").input_value()
    page.get_by_label("整改任务（任务清单）").fill("明确管护主体和责任人，签订管护协议")
    page.get_by_label("责任单位（责任清单）").fill("白石乡人民政府")
    page.get_by_label("责任人").fill("李乡长")
    page.get_by_label("提出日期").fill("2025-06-30")
    page.get_by_label("整改期限").fill("2025-08-31")
    page.get_by_role("button", name="登记问题").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() == 1
    page.shot("47_problem_page", full_page=True)
    page.goto("/problems")
    assert "白石乡人民政府" in page.locator("main").inner_text() and "待整改 1" in page.locator("main").inner_text()
    page.shot("46_problems", full_page=True)


def test_finance_officer_imports_a_ledger_after_the_dry_run(today, page, world, f, tmp_path, app, monkeypatch):
    """A town's Excel ledger: the dry run lists every bad cell in the page and offers no commit; the
    fixed file shows 确认导入, which writes every row (screenshots 50–52)."""
    from assetreg.assets.models import Asset

    from ..imports_support import ASSET_HEADERS, asset, table, xlsx
    from ..test_imports import _bad_rows

    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    bad, good = tmp_path / "台账（有错）.xlsx", tmp_path / "台账.xlsx"
    bad.write_bytes(xlsx(table(ASSET_HEADERS, _bad_rows())))
    good.write_bytes(xlsx(table(ASSET_HEADERS, [asset(f"ZC-{i:03d}") for i in range(1, 4)])))
    log_in(page, "fin_a")
    page.goto("/imports")
    page.get_by_label("导入类型").select_option("assets")
    page.get_by_label("文件").set_input_files(str(bad))
    page.shot("50_import_form")
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_load_state()
    body = page.locator("main").inner_text()
    assert "与第2行的资产编号重复" in body and "日期不存在" in body
    assert page.locator("#import-commit").count() == 0  # a dirty file cannot be committed
    page.shot("51_import_dry_run_errors", full_page=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Asset)) == 0

    page.goto("/imports")
    page.get_by_label("导入类型").select_option("assets")
    page.get_by_label("文件").set_input_files(str(good))
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_load_state()
    assert "将新增 3 条" in page.locator("main").inner_text()
    page.locator("#import-commit").click()
    page.wait_for_load_state()
    assert "新增 3 条" in page.locator("main").inner_text()
    page.shot("52_import_committed", full_page=True)
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(Asset.code))) == {"ZC-001", "ZC-002", "ZC-003"}
