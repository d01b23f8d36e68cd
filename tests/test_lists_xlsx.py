"""The combined workbook of the four lists, read back with pandas (calamine): the same rows and totals
as the JSON lists and the independent computations; cover sheet, frozen headers, money format; CLI."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal
from urllib.parse import unquote

import pandas as pd
import pytest

from .factories import COUNTY, TOWN_A, VILLAGE_A1
from .test_lists_scenario import (
    AS_OF,
    assets_in,
    build,
    expected_asset_totals,
    expected_holders,
    expected_missing_documents,
    expected_missing_systems,
    fetch_all,
)

SHEETS = ["封面", "资产清单", "责任清单", "制度清单", "三级档案清单"]


@pytest.fixture
def s(world, f, today):
    return build(world, f)


def export(client, scope, as_of=AS_OF):
    r = client.get(f"/lists/export.xlsx?scope={scope}&as_of={as_of}")
    assert r.status_code == 200, r.data[:300]
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return r


def read(data: bytes) -> dict[str, pd.DataFrame]:
    return pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, engine="calamine", dtype=object)


def money(x) -> Decimal:
    return Decimal(str(round(float(x), 2))).quantize(Decimal("0.01"))


def table(df: pd.DataFrame, start: int = 0) -> tuple[list[list], list, int]:
    """Rows of the table whose header is at ``start`` up to its 合计 row; returns (rows, totals row, next)."""
    rows = []
    i = start + 1
    while df.iloc[i, 1] != "合计":
        rows.append(list(df.iloc[i]))
        i += 1
    return rows, list(df.iloc[i]), i + 1


def find(df: pd.DataFrame, text: str) -> int:
    return next(i for i in range(len(df)) if df.iloc[i, 0] == text)


@pytest.mark.parametrize("scope", [COUNTY, TOWN_A])
def test_workbook_rows_and_totals_match(world, s, scope):
    r = export(world.admin, scope)
    assert "filename*=UTF-8''" in r.headers["Content-Disposition"]
    assert unquote(r.headers["Content-Disposition"]).endswith(f"_{AS_OF}.xlsx")
    book = read(r.data)
    assert list(book) == SHEETS

    # 资产清单: the rows, the grand total, the totals by category, town and village.
    df = book["资产清单"]
    assert list(df.iloc[0])[:10] == ["序号", "资产编号", "资产名称", "类别", "子类", "所在乡镇", "所在村", "管理层级",
                                     "原值（元）", "账面价值（元）"]
    rows, total, nxt = table(df)
    exp = expected_asset_totals(world.admin.user, scope, AS_OF)
    assert [row[1] for row in rows] == [a.code for a in assets_in(scope)]
    assert {row[1]: money(row[9]) for row in rows} == exp["books"]
    for row, a in zip(rows, assets_in(scope), strict=True):
        assert money(row[8]) == a.original_value
        held = expected_holders(a.id)
        assert [None if pd.isna(v) else v for v in row[11:14]] == [held.get(k) for k in ("ownership", "operation", "income")]
    assert (money(total[8]), money(total[9])) == (exp["total"]["original"], exp["total"]["book"])
    cat_at = find(df, "按类别合计")
    cats, cat_total, _ = table(df, cat_at + 1)
    json_rows, body = fetch_all(world.admin, "assets", scope, per_page=500)
    by_cat = {g["category_label"]: g for g in body["totals"]["by_category"]}
    assert {c[1]: (int(c[2]), money(c[3]), money(c[4])) for c in cats} == {
        k: (g["count"], Decimal(g["original_value"]), Decimal(g["book_value"])) for k, g in by_cat.items()}
    assert money(cat_total[4]) == exp["total"]["book"]
    towns, _, _ = table(df, find(df, "按乡镇合计") + 1)
    assert sum(money(t[4]) for t in towns) == exp["total"]["book"]
    villages, _, _ = table(df, find(df, "按村合计") + 1)
    assert len(villages) == len(exp["by_village"])
    assert sum(money(v[5]) for v in villages) == exp["total"]["book"]

    # 责任清单
    df = book["责任清单"]
    rows, total, _ = table(df)
    assert [row[1] for row in rows] == [a.code for a in assets_in(scope)]
    for row in rows:
        a = next(x for x in assets_in(scope) if x.code == row[1])
        held = expected_holders(a.id)
        assert [None if pd.isna(v) else v for v in row[6:11]] == [
            held.get(k) for k in ("ownership", "operation", "income", "disposal", "supervision")]
        assert (None if pd.isna(row[16]) else row[16]) == held.get("supervision")

    # 制度清单: the rules in force, then per place the missing systems.
    df = book["制度清单"]
    rules, total, nxt = table(df)
    json_rules, body = fetch_all(world.admin, "regulations", scope, per_page=500)
    assert [r_[1] for r_ in rules] == [x["title"] for x in json_rules]
    assert total[2] == f"共{len(json_rules)}项"
    cov, _, _ = table(df, nxt + 2)  # a blank row, the section title, then the header
    labels = {"市场化管理": "market", "资产防风险": "risk", "资产收益分配": "distribution", "资产折旧": "depreciation",
              "资产处置": "disposal"}
    got = {c[1]: [] if c[5] == "无" else [labels[x] for x in c[5].split("、")] for c in cov}
    assert got == expected_missing_systems(scope, AS_OF)

    # 三级档案清单: the documents per level, the missing required kinds.
    df = book["三级档案清单"]
    rows, total, _ = table(df)
    kinds = {"立项批复": "project_approval", "验收报告": "acceptance", "经营合同": "operation_contract",
             "管护协议": "custody_agreement"}
    got = {row[1]: sorted(kinds[k] for k in row[11].split("、")) if isinstance(row[11], str) else []
           for row in rows}
    assert got == expected_missing_documents(scope, AS_OF)
    json_rows, body = fetch_all(world.admin, "archive", scope, per_page=500)
    assert int(total[9]) == body["totals"]["documents"] == sum(int(row[9]) for row in rows)
    assert int(total[12]) == body["totals"]["missing_documents"]


def test_cover_sheet(world, s):
    book = read(export(world.fin_a, TOWN_A).data)
    cover = {row[0]: row[1] for row in book["封面"].itertuples(index=False) if isinstance(row[0], str)}
    assert cover["区划代码"] == TOWN_A and cover["范围"].startswith("城关镇")
    assert cover["截止日期"] == "2025年6月30日"
    assert cover["导出人"] == "fin_a（fin_a，乡镇财政所）"
    assert cover["导出时间"] == "2025年6月30日 12:00（北京时间）"  # frozen clock: 04:00 UTC


def test_workbook_layout(world, s):
    data = export(world.admin, COUNTY).data
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        styles = zf.read("xl/styles.xml").decode()
        sheets = [zf.read(f"xl/worksheets/sheet{i}.xml").decode() for i in range(2, 6)]
    assert "xl/worksheets/sheet5.xml" in names
    assert 'formatCode="#,##0.00"' in styles
    for xml in sheets:
        assert re.search(r'<pane ySplit="1" topLeftCell="A2"', xml)  # the header row stays in view
        assert "<cols>" in xml and 'customWidth="1"' in xml


def test_workbook_respects_scope(world, s):
    assert world.vc_a1.get(f"/lists/export.xlsx?scope={TOWN_A}").status_code == 404
    book = read(export(world.vc_a1, VILLAGE_A1).data)
    rows, _, _ = table(book["资产清单"])
    assert {row[1] for row in rows} == {a.code for a in assets_in(VILLAGE_A1)}


def test_text_is_never_a_formula(world, f, today):
    f.asset(code="=HYPERLINK(\"x\")", name="=1+1")
    book = read(export(world.admin, COUNTY).data)
    rows, _, _ = table(book["资产清单"])
    assert rows[0][2] == "=1+1"


def test_cli_writes_the_workbook(world, s, runner, tmp_path):
    out = tmp_path / "lists.xlsx"
    result = runner.invoke(args=["lists", "--scope", TOWN_A, "--as-of", "2025-06-30", "--out", str(out),
                                 "--as", "fin_a"])
    assert result.exit_code == 0, result.output
    book = read(out.read_bytes())
    rows, _, _ = table(book["资产清单"])
    assert [row[1] for row in rows] == [a.code for a in assets_in(TOWN_A)]
    cover = {row[0]: row[1] for row in book["封面"].itertuples(index=False) if isinstance(row[0], str)}
    assert cover["导出人"].startswith("fin_a")

    out2 = tmp_path / "county.xlsx"
    result = runner.invoke(args=["lists", "--scope", COUNTY, "--out", str(out2)])
    assert result.exit_code == 0, result.output
    cover = {row[0]: row[1] for row in read(out2.read_bytes())["封面"].itertuples(index=False)
             if isinstance(row[0], str)}
    assert cover["导出人"].startswith("命令行")

    # Outside the user's scope, an unknown user, a bad code: refused, nothing written.
    for args in [["--scope", COUNTY, "--as", "fin_a"], ["--scope", TOWN_A, "--as", "nobody"],
                 ["--scope", "abc"], ["--scope", "999999"]]:
        bad = tmp_path / "bad.xlsx"
        result = runner.invoke(args=["lists", *args, "--out", str(bad)])
        assert result.exit_code != 0 and not bad.exists(), (args, result.output)
