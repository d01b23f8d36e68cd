"""Notices (公示) of a plan: HTML and XLSX, masked personal data, totals and 大写 (basis: P17, P20)."""

import io
import re
from decimal import Decimal

import pandas as pd
import pytest

from assetreg.notices.rules import find_unmasked, inclusive_days

from .distribution_support import households, line, new_plan, put_allocations, run_to, settle


@pytest.fixture
def plan(world, f, today):
    settle(f, world, world.village_a1, pv="20000.00", other="5000.00", costs="1000.00")
    hs = households(f, world.village_a1, "formerly_poor", "monitored", "formerly_poor")
    p = new_plan(world.vc_a1, world.village_a1)
    r = put_allocations(world.vc_a1, p["id"], [
        {"purpose": "public_jobs", "amount": "15000.00", "lines": [
            line(hs[0], "9600.00", reason="保洁员 12个月×800.00元"),
            line(hs[1], "5400.00", reason="道路维护员 9个月×600.00元")]},
        {"purpose": "public_works", "amount": "4200.00", "use": "村组道路维修"},
        {"purpose": "relief", "amount": "3333.33", "lines": [
            line(hs[1], "1666.67", reason="监测户帮扶"), line(hs[2], "1666.66", reason="因病临时困难")]},
        {"purpose": "carry", "amount": "466.67"},
    ])
    assert r.status_code == 200, r.json
    run_to(world, p["id"], "notice", notice=("2025-05-01", "2025-05-10"))
    return p, hs


def test_notice_json_is_masked_and_adds_up(world, plan):
    p, hs = plan
    r = world.vc_a1.get(f"/api/v1/plans/{p['id']}/notice")
    assert r.status_code == 200, r.json
    n = r.json
    assert n["title"] == "桃源村2024年度扶贫项目资产收益分配公示"
    assert n["total"] == "23000.00" and n["total_capital"] == "贰万叁仟元整"
    assert n["notice_days"] == 10 and n["complaint_phones"][0] == "12317"
    ids = [li["id_masked"] for a in n["allocations"] for li in a["lines"]]
    assert ids[0] == hs[0].head_id_number[:6] + "********" + hs[0].head_id_number[-4:]
    assert all(re.fullmatch(r"\d{6}\*{8}[\dX]{3,4}", i) or re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", i) for i in ids)
    assert not find_unmasked(r.get_data(as_text=True))


def test_notice_html_is_printable_and_masked(world, plan):
    p, hs = plan
    r = world.vc_a1.get(f"/plans/{p['id']}/notice")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "@page { size: A4" in html and "桃源村2024年度扶贫项目资产收益分配公示" in html
    assert "贰万叁仟元整" in html and "2025年5月1日至2025年5月10日（共10天）" in html
    assert "23,000.00" in html and "12317" in html and "桃源村村民委员会" in html
    for h in hs:
        assert h.head_id_number not in html
    assert not find_unmasked(html)


def test_notice_xlsx_totals_add_up_to_the_plan(world, plan):
    p, _ = plan
    r = world.vc_a1.get(f"/plans/{p['id']}/notice.xlsx")
    assert r.status_code == 200
    df = pd.read_excel(io.BytesIO(r.data), header=None, engine="calamine", dtype=object)
    text = "\n".join(str(v) for v in df.fillna("").to_numpy().ravel())
    assert "桃源村2024年度扶贫项目资产收益分配公示" in text and "贰万叁仟元整" in text
    assert not find_unmasked(text)
    rows = df.fillna("").values.tolist()
    start = next(i for i, row in enumerate(rows) if row[0] == "序号" and row[1] == "用途") + 1
    total_row = next(i for i in range(start, len(rows)) if rows[i][1] == "合计")
    allocations = [Decimal(str(rows[i][3])).quantize(Decimal("0.01")) for i in range(start, total_row)]
    assert sum(allocations) == Decimal(str(rows[total_row][3])).quantize(Decimal("0.01")) == Decimal("23000.00")
    subtotals = [Decimal(str(row[3])).quantize(Decimal("0.01")) for row in rows if row[1] == "小计"]
    assert subtotals == [Decimal("15000.00"), Decimal("3333.33")]


def test_notice_with_unmasked_personal_data_is_refused(world, f, today):
    settle(f, world, world.village_a1, other="1000.00")
    (h,) = households(f, world.village_a1, "monitored")
    p = new_plan(world.vc_a1, world.village_a1)
    r = put_allocations(world.vc_a1, p["id"], [{"purpose": "relief", "amount": "1000.00", "lines": [
        line(h, "1000.00", reason=f"联系电话13812345678，身份证{h.head_id_number}")]}])
    assert r.status_code == 200, r.json
    for url in [f"/api/v1/plans/{p['id']}/notice", f"/plans/{p['id']}/notice", f"/plans/{p['id']}/notice.xlsx"]:
        r = world.vc_a1.get(url)
        assert r.status_code == 422, url
        assert r.json["error"]["code"] == "privacy_leak"


def test_notice_scope(world, plan):
    p, _ = plan
    assert world.vc_b1.get(f"/api/v1/plans/{p['id']}/notice").status_code == 404
    assert world.vc_b1.get(f"/plans/{p['id']}/notice.xlsx").status_code == 404
    assert world.auditor.get(f"/plans/{p['id']}/notice").status_code == 200
    assert world.http.get(f"/plans/{p['id']}/notice").status_code in (302, 401)


@pytest.mark.parametrize("text, kinds", [
    ("身份证 43129919700517001X", {"id_number"}),
    ("卡号 6217003810001234567", {"bank_card"}),
    ("电话 13812345678", {"mobile"}),
    ("431299********001X 6,217.00 元 138****5678 0743-8221234 12317", set()),
    ("金额 12345678.90 元", set()),
])
def test_privacy_scan(text, kinds):
    assert {k for k, _ in find_unmasked(text)} == kinds


def test_notice_days_are_inclusive():
    from datetime import date

    assert inclusive_days(date(2025, 3, 1), date(2025, 3, 10)) == 10


def test_notice_artifacts_are_saved_for_a_person_to_look_at(world, plan):
    """Writes the notice as HTML and XLSX under tests/artifacts/ (not committed) for a visual check."""
    from pathlib import Path

    p, _ = plan
    out = Path(__file__).parent / "artifacts"
    out.mkdir(exist_ok=True)
    html = world.vc_a1.get(f"/plans/{p['id']}/notice")
    xlsx = world.vc_a1.get(f"/plans/{p['id']}/notice.xlsx")
    assert html.status_code == xlsx.status_code == 200
    (out / "notice.html").write_bytes(html.data)
    (out / "notice.xlsx").write_bytes(xlsx.data)
    assert (out / "notice.xlsx").stat().st_size > 4000
