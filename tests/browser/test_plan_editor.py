"""The plan editor's live totals in a real browser: amounts summed as integer fen, the save buttons
gated until the totals reconcile, and what only the server knows shown in the row (screenshots 20–23)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ..distribution_support import put_allocations
from ..test_web_plans import a1, lines_of, plan  # noqa: F401  (fixtures and helpers of the page tests)
from .conftest import log_in

# The app runs in a live server (its own threads and connections): the data must really be committed.
pytestmark = pytest.mark.committed


def test_live_totals_in_the_browser_gate_the_save_button(page, world, a1, plan):  # noqa: F811
    hs = a1
    put_allocations(world.vc_a1, plan["id"], [{"purpose": "public_works", "amount": "8000.00"},
                                              {"purpose": "relief", "amount": "0.30"}])
    log_in(page, "vc_a1")
    page.goto("/plans")
    page.shot("20_plan_list")
    page.get_by_role("link", name="桃源村").click()
    page.wait_for_load_state()

    # The allocation table: beyond what is available, the total turns red and saving is disabled.
    allocs = page.locator("form[data-editor=allocations]")
    totals = allocs.locator("[data-totals]")
    save = allocs.get_by_role("button", name="保存分配项")
    assert "未分配 6,999.70 元" in totals.inner_text() and save.is_enabled()
    page.get_by_label("运营管护金额（元）").fill("6,999.71")
    assert "超出可分配 0.01 元" in totals.inner_text()
    assert "mismatch" in totals.get_attribute("class") and save.is_disabled()
    page.get_by_label("运营管护金额（元）").fill("6999.70")
    assert "未分配 0.00 元" in totals.inner_text() and save.is_enabled()
    page.get_by_label("运营管护金额（元）").fill("")

    # Household lines: 0.1 + 0.2 is exactly the allocation of 0.30 (integer fen, not float yuan).
    lines = page.locator("form[data-editor=lines]")
    ltotals = lines.locator("[data-totals]")
    lsave = lines.get_by_role("button", name="保存到户明细")
    page.get_by_label("第1行户编号").fill(hs[0].number)
    page.get_by_label("第1行金额（元）").fill("0.1")
    assert "还差 0.20 元" in ltotals.inner_text() and lsave.is_disabled()
    assert "mismatch" in ltotals.get_attribute("class")
    page.get_by_label("第2行户编号").fill(hs[1].number)
    page.get_by_label("第2行金额（元）").fill("0.2")
    assert "到户合计 0.30 元（2 户），分配额 0.30 元" == ltotals.inner_text() and lsave.is_enabled()
    page.get_by_label("第2行金额（元）").fill("0.25")
    assert "多出 0.05 元" in ltotals.inner_text() and lsave.is_disabled()
    page.shot("21_plan_editor_mismatch", full_page=True)
    page.get_by_label("第2行金额（元）").fill("0.2x")
    assert "第2行金额有误" in ltotals.inner_text() and lsave.is_disabled()
    page.get_by_label("第2行金额（元）").fill("0.20")
    lines.get_by_role("button", name="添加一行").click()
    assert page.get_by_label("第6行户编号").is_visible()  # 5 blank rows to start with, then this one
    # What only the server knows (a household number not of this village) comes back in the row, unsaved.
    page.get_by_label("第2行户编号").fill("H-NOT-HERE")
    lsave.click()
    page.wait_for_load_state()
    assert page.locator("#f-relief-1-household-error").inner_text() == "未找到本村的该户编号"
    assert "第2行 户编号：未找到本村的该户编号" in page.locator(".form-errors").first.inner_text()
    page.shot("21_plan_editor_refused", full_page=True)
    assert lines_of(plan["id"], "relief") == []
    assert page.get_by_label("第1行金额（元）").input_value() == "0.1"  # what was typed stays
    page.get_by_label("第2行户编号").fill(hs[1].number)
    lsave = page.locator("form[data-editor=lines]").get_by_role("button", name="保存到户明细")
    assert lsave.is_enabled()
    lsave.click()
    page.wait_for_load_state()
    assert "到户明细已保存（2户）" in page.content()
    assert lines_of(plan["id"], "relief") == [(hs[0].id, D("0.10")), (hs[1].id, D("0.20"))]
    page.shot("22_plan_page", full_page=True)

    # A fill helper previewed in the page: the tier table, scaled to the allocation to the fen.
    page.locator("#f-method").select_option("tier")  # opens the tier table
    page.get_by_label("档次表第1行农户类别").select_option("monitored")
    page.get_by_label("档次表第1行每户金额（元）").fill("2")
    page.get_by_label("档次表第2行每户金额（元）").fill("1")
    page.get_by_role("button", name="预览").click()
    page.wait_for_load_state()
    preview = page.locator("#fill-preview")
    assert "合计与分配额一致" in preview.inner_text() and "0.30" in preview.inner_text()
    page.shot("23_plan_fill_preview", full_page=True)
