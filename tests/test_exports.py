"""The auditor's ledger workbook and pack: rows and totals tie to the database, masking by role, streaming."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.custody.models import AssetCustody, AssetOperation
from assetreg.distribution.models import DistributionPlan, PlanLine
from assetreg.exports import ledger
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry, Settlement
from assetreg.oversight.models import Audit, Problem
from assetreg.rights.models import AssetRight

from . import test_exports_support as support
from .test_exports_support import (
    COUNTY,
    FULL_ID,
    MASKED_ID,
    PLANTED_ID,
    all_text,
    download,
    money_sum,
    read_book,
    run_export,
)

gw = support.gw  # the fixture

SHEETS = ["说明", "资产", "五权", "管护", "经营", "收益明细", "年度清算", "分配方案", "到户明细", "审计", "问题整改", "操作日志"]


def _count(model, *where, join=None):
    q = sa.select(sa.func.count()).select_from(model)
    if join is not None:
        q = q.join(*join)
    return db.session.scalar(q.where(*where))


def _fen_sum(column, *where, join=None):
    q = sa.select(sa.func.sum(sa.type_coerce(column, sa.BigInteger)))
    if join is not None:
        q = q.select_from(join[0]).join(*join[1:])
    return Decimal(db.session.scalar(q.where(*where)) or 0).scaleb(-2)


def test_workbook_has_the_rows_and_totals_of_the_database(gw):
    book = read_book(download(gw.auditor, run_export(gw.auditor, years="2021-2024")))
    assert list(book) == SHEETS
    years = IncomeEntry.period_year.between(2021, 2024)
    assert len(book["资产"]) == _count(Asset, Asset.county_code == COUNTY)
    assert money_sum(book["资产"]["原值（元）"]) == _fen_sum(Asset.original_value, Asset.county_code == COUNTY)
    assert money_sum(book["资产"]["资金来源合计（元）"]) == money_sum(book["资产"]["原值（元）"])
    assert len(book["五权"]) == _count(AssetRight, AssetRight.county_code == COUNTY)
    assert len(book["管护"]) == _count(AssetCustody, AssetCustody.county_code == COUNTY)
    assert len(book["经营"]) == _count(AssetOperation, AssetOperation.county_code == COUNTY)
    assert len(book["审计"]) == _count(Audit, Audit.county_code == COUNTY, Audit.year.between(2021, 2024))
    assert len(book["问题整改"]) == _count(Problem, Problem.county_code == COUNTY,
                                       Problem.raised_on.between(date(2021, 1, 1), date(2024, 12, 31)))

    income = book["收益明细"]
    assert len(income) == _count(IncomeEntry, IncomeEntry.county_code == COUNTY, years)
    assert set(income["所属年度"]) == {2021, 2022, 2023, 2024}
    assert income["流水号"].is_monotonic_increasing
    for year in (2021, 2024):
        rows = income[income["所属年度"] == year]
        gross, costs = money_sum(rows["收入（元）"]), money_sum(rows["扣除（元）"])
        settled = db.session.execute(sa.select(sa.func.sum(sa.type_coerce(Settlement.gross, sa.BigInteger)),
                                               sa.func.sum(sa.type_coerce(Settlement.costs, sa.BigInteger)))
                                     .where(Settlement.county_code == COUNTY, Settlement.year == year)).one()
        # every operating asset stands in a village, so the village settlements hold the whole ledger
        assert (gross, costs) == (Decimal(settled[0]).scaleb(-2), Decimal(settled[1]).scaleb(-2))
    reversals = income[income["冲销原流水号"].notna()]
    assert all(v < 0 for v in reversals["收入（元）"].dropna())

    settlements = book["年度清算"]
    assert len(settlements) == _count(Settlement, Settlement.county_code == COUNTY, Settlement.year.between(2021, 2024))
    assert money_sum(settlements["净收益（元）"]) == _fen_sum(Settlement.net, Settlement.county_code == COUNTY,
                                                         Settlement.year.between(2021, 2024))
    plans = book["分配方案"]
    assert len(plans) == _count(DistributionPlan, DistributionPlan.county_code == COUNTY,
                                DistributionPlan.year.between(2021, 2024))
    lines = book["到户明细"]
    in_years = DistributionPlan.year.between(2021, 2024)
    assert len(lines) == _count(PlanLine, in_years, join=(DistributionPlan, DistributionPlan.id == PlanLine.plan_id))
    assert money_sum(lines["金额（元）"]) == _fen_sum(PlanLine.amount, in_years,
                                                  join=(PlanLine, DistributionPlan, DistributionPlan.id == PlanLine.plan_id))
    assert money_sum(plans["到户合计（元）"]) == money_sum(lines["金额（元）"])
    line_purposes = sum((money_sum(plans[f"{label}（元）"]) for label in ("公益岗位", "扶贫济困", "奖励补助")),
                        Decimal("0.00"))
    assert line_purposes == money_sum(lines["金额（元）"])
    # 分配合计 + 未分配 = 可分配 on every plan
    assert all(Decimal(repr(a)) + Decimal(repr(u)) == Decimal(repr(v)) for a, u, v in
               zip(plans["分配合计（元）"], plans["未分配（元）"], plans["可分配收益（元）"], strict=True))


def test_headers_frozen_widths_and_money_format(gw):
    content = download(gw.auditor, run_export(gw.auditor))
    zf = zipfile.ZipFile(io.BytesIO(content))
    sheet_xml = zf.read("xl/worksheets/sheet6.xml").decode()  # 收益明细 (说明 is sheet1)
    assert 'state="frozen"' in sheet_xml and 'ySplit="1"' in sheet_xml
    assert "<cols>" in sheet_xml and "<autoFilter" in sheet_xml
    assert "#,##0.00" in zf.read("xl/styles.xml").decode()
    book = read_book(content)
    assert list(book["收益明细"].columns[:3]) == ["流水号", "资产编号", "资产名称"]
    assert list(book["到户明细"].columns[9:11]) == ["身份证号", "一卡通账号"]
    first = db.session.execute(sa.select(IncomeEntry.received_on, IncomeEntry.amount).where(
        IncomeEntry.county_code == COUNTY).order_by(IncomeEntry.id).limit(1)).one()
    row = book["收益明细"].iloc[0]
    assert row["到账日期"].date() == first.received_on  # a real date cell, not text
    assert Decimal(repr(row["登记金额（元）"])) == first.amount


def test_personal_data_unmasked_for_auditors_only(gw):
    audited = read_book(download(gw.auditor, run_export(gw.auditor)))
    lines = audited["到户明细"]
    assert all(FULL_ID.fullmatch(v) for v in lines["身份证号"].dropna())
    assert lines["一卡通账号"].dropna().map(lambda v: "*" not in v).all()
    assert PLANTED_ID in audited["操作日志"].to_csv()

    for client in (gw.admin, gw.fin_a, gw.vc_a):
        book = read_book(download(client, run_export(client, scope=client.user.scope_code)))
        text = all_text(book)
        assert not FULL_ID.search(text), client.user.role
        ids = book["到户明细"]["身份证号"].dropna()
        assert len(ids) and all(MASKED_ID.fullmatch(v) for v in ids)
        assert all(v.startswith("*") for v in book["到户明细"]["一卡通账号"].dropna())
        assert all("****" in v for v in book["管护"]["联系电话"].dropna())
    admin = read_book(download(gw.admin, run_export(gw.admin)))
    assert PLANTED_ID not in admin["操作日志"].to_csv() and "439901********0011" in admin["操作日志"].to_csv()
    # the change log goes to auditors and county admins only
    assert "操作日志" not in read_book(download(gw.fin_a, run_export(gw.fin_a, scope=gw.town_a)))


def test_a_town_export_holds_that_town_only(gw):
    book = read_book(download(gw.fin_a, run_export(gw.fin_a, scope=gw.town_a)))
    town_name = db.session.scalar(sa.text("select name from places where code = :c"), {"c": gw.town_a})
    for sheet in ("收益明细", "年度清算", "分配方案", "到户明细", "审计"):
        assert set(book[sheet]["乡镇"].dropna()) <= {town_name}, sheet
    assert len(book["资产"]) == _count(Asset, Asset.county_code == COUNTY, Asset.town_code == gw.town_a)
    assert len(book["收益明细"]) == _count(IncomeEntry, IncomeEntry.town_code == gw.town_a,
                                         IncomeEntry.period_year.between(2020, 2025))


def test_pack_manifest_hashes_match_and_totals_tie_out(gw):
    job = run_export(gw.auditor, kind="pack", years="2022-2024")
    content = download(gw.auditor, job)
    assert hashlib.sha256(content).hexdigest() == job["file_sha256"]
    zf = zipfile.ZipFile(io.BytesIO(content))
    manifest = json.loads(zf.read("manifest.json"))
    names = set(zf.namelist())
    assert {"manifest.json", "审计台账.xlsx"} <= names
    assert {f["name"] for f in manifest["files"]} == names - {"manifest.json"}
    for entry in manifest["files"]:
        data = zf.read(entry["name"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    assert manifest["all_checks_ok"] is True and all(c["ok"] for c in manifest["checks"])
    assert manifest["personal_data"] == "unmasked" and manifest["years"] == {"from": 2022, "to": 2024}

    # the figures in the manifest are those of the database
    totals = manifest["totals"]
    for year in ("2022", "2024"):
        net = _fen_sum(Settlement.net, Settlement.county_code == COUNTY, Settlement.year == int(year))
        assert Decimal(totals["settlements_net_by_year"][year]) == net
        assert Decimal(totals["income_by_year"][year]["net"]) == net  # every asset stands in a village
    assert Decimal(totals["assets_original_value"]) == _fen_sum(Asset.original_value, Asset.county_code == COUNTY)
    assert totals["allocations_for_lines"] == totals["lines_total"]

    # CSV: UTF-8 with BOM, the same rows as the workbook's sheets
    book = read_book(zf.read("审计台账.xlsx"))
    for title in ("资产", "收益明细", "到户明细"):
        raw = zf.read(f"csv/{title}.csv")
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0] == list(book[title].columns) and len(rows) - 1 == len(book[title]) == manifest["rows"][
            {"资产": "assets", "收益明细": "income", "到户明细": "lines"}[title]]
    income_csv = list(csv.DictReader(io.StringIO(zf.read("csv/收益明细.csv").decode("utf-8-sig"))))
    assert sum((Decimal(r["收入（元）"]) for r in income_csv if r["收入（元）"] and r["所属年度"] == "2023"),
               Decimal(0)) == Decimal(totals["income_by_year"]["2023"]["gross"])

    # the notices of the plans published in scope, masked like every notice
    noticed = db.session.scalar(sa.select(sa.func.count()).select_from(DistributionPlan).where(
        DistributionPlan.county_code == COUNTY, DistributionPlan.year.between(2022, 2024),
        DistributionPlan.status.in_(("in_notice", "approved", "filed", "paid", "completed"))))
    notices = [n for n in names if n.startswith("notices/")]
    assert noticed and len(notices) == noticed
    html = zf.read(notices[0]).decode()
    assert "收益分配公示" in html and not FULL_ID.search(html)


def test_pack_for_a_masked_role_has_no_personal_data(gw):
    zf = zipfile.ZipFile(io.BytesIO(download(gw.admin, run_export(gw.admin, kind="pack"))))
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["personal_data"] == "masked" and manifest["all_checks_ok"]
    for name in zf.namelist():
        if name.endswith((".csv", ".html", ".json")):
            assert not FULL_ID.search(zf.read(name).decode("utf-8-sig")), name


def test_row_builders_are_pure_and_mask():
    ctx_masked = ledger.Ctx(unmask=False, place_names={"439901100": "青龙镇"}, today=date(2025, 6, 30))
    ctx_open = ledger.Ctx(unmask=True)
    row = type("R", (), dict(town_code="439901100", village_code=None, year=2024, plan_id=3, purpose="relief",
                             position=1, number="H1", head_name="张三", person_name="张三",
                             id_number="439901198001010011", bank_card="6217991234567890123",
                             phone="13812345678", amount=123456, months=None, monthly_wage=None, reason="扶贫济困"))
    masked = ledger.line_row(row, ctx_masked)
    assert masked[:2] == ("青龙镇", "") and masked[4] == "扶贫济困"
    assert masked[9] == "439901********0011" and masked[10] == "***************0123"
    assert masked[11] == "138****5678" and masked[12] == Decimal("1234.56")
    opened = ledger.line_row(row, ctx_open)
    assert opened[9] == "439901198001010011" and opened[10] == "6217991234567890123"

    entry = type("E", (), dict(id=9, code="ZC1", name="电站", town_code=None, village_code=None,
                               direction="income", kind="electricity", period_year=2023, period_month=5,
                               period_quarter=None, received_on=date(2023, 6, 3), amount=10000, payer="国网",
                               voucher_no="V1", reverses_id=8, reason="错", is_adjustment=False,
                               adjustment_on=None, note=None))
    values = ledger.income_row(entry, ctx_masked)
    assert values[11] == Decimal("100.00") and values[12] == Decimal("-100.00") and values[13] is None

    assert ledger.mask_json({"head_id_number": "439901198001010011", "members": [{"phone": "13812345678"}],
                             "note": "卡号6217991234567890123"}) == {
        "head_id_number": "439901********0011", "members": [{"phone": "138****5678"}],
        "note": "卡号***************0123"}
    assert ledger.yuan(5) == Decimal("0.05") and ledger.yuan(None) is None


def test_cli_exports_with_a_progress_bar(gw, runner, tmp_path):
    out = tmp_path / "ledger.xlsx"
    r = runner.invoke(args=["export-ledger", "--scope", gw.town_a, "--years", "2021-2025", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "导出 " in r.output and "已写入" in r.output
    book = read_book(out.read_bytes())
    assert not FULL_ID.search(all_text(book))  # no --user: masked
    assert len(book["资产"]) == _count(Asset, Asset.county_code == COUNTY, Asset.town_code == gw.town_a)

    pack = tmp_path / "pack.zip"
    r = runner.invoke(args=["export-ledger", "--scope", COUNTY, "--years", "2024", "--out", str(pack), "--pack",
                            "--user", gw.auditor.user.username])
    assert r.exit_code == 0, r.output
    assert "勾稽核对全部相符" in r.output
    manifest = json.loads(zipfile.ZipFile(pack).read("manifest.json"))
    assert manifest["personal_data"] == "unmasked" and manifest["exported_by"]["role"] == "auditor"

    r = runner.invoke(args=["export-ledger", "--scope", gw.town_b, "--years", "2024", "--out", str(out),
                            "--user", gw.fin_a.user.username])
    assert r.exit_code != 0 and "超出" in r.output
    r = runner.invoke(args=["export-ledger", "--scope", COUNTY, "--years", "2024-2020", "--out", str(out)])
    assert r.exit_code != 0 and "年度" in r.output


def test_csv_cells_never_run_as_formulas(gw):
    """Issue 11 item 7: a text typed as ``=HYPERLINK(…)``, ``+1``, ``-1``, ``@SUM(…)`` or starting with a tab or
    CR reaches the pack's CSV prefixed with an apostrophe; the money columns stay numbers."""
    from assetreg.core.spreadsheets import csv_cell

    for raw in ('=HYPERLINK("http://evil.example","x")', "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(raw) == "'" + raw
    assert csv_cell(Decimal("-12.50")) == Decimal("-12.50") and csv_cell("桃源村") == "桃源村"
    assert csv_cell(None) == "" and csv_cell(date(2025, 3, 31)) == "2025-03-31"

    asset = db.session.scalars(sa.select(Asset).where(Asset.county_code == COUNTY).order_by(Asset.id)).first()
    db.session.execute(sa.update(Asset).where(Asset.id == asset.id)
                       .values(name='=HYPERLINK("http://evil.example","点此")', project_name="@SUM(1+1)"))
    db.session.commit()
    zf = zipfile.ZipFile(io.BytesIO(download(gw.auditor, run_export(gw.auditor, kind="pack", years="2024"))))
    rows = list(csv.DictReader(io.StringIO(zf.read("csv/资产.csv").decode("utf-8-sig"))))
    cells = [v for r in rows for v in r.values() if v]
    assert "'=HYPERLINK(\"http://evil.example\",\"点此\")" in cells and "'@SUM(1+1)" in cells
    assert not [v for v in cells if v[0] in "=+@\t\r"]
    assert not [v for v in cells if v.startswith("-") and not _is_number(v)]
    money = [h for h in rows[0] if "元" in h]
    assert money and all(_is_number(r[h]) for r in rows for h in money if r[h])


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
