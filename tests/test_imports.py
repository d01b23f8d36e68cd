"""Import of asset ledgers (资产台账): every error of a bad file with row and column and nothing
written; the fixed file imports everything through the domain services; a second import changes
nothing; the error workbook marks the bad cells; templates round-trip; scope and roles."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset, AssetFunding, AssetStatusChange
from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db

from .factories import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from .imports_support import (
    ASSET_HEADERS,
    Formula,
    asset,
    cell_ref,
    comment_cells,
    csv_bytes,
    errors_of,
    filled_cells,
    table,
    upload,
    xlsx,
)


def _counts():
    return (db.session.scalar(sa.select(sa.func.count(Asset.id))),
            db.session.scalar(sa.select(sa.func.count(AssetFunding.id))),
            db.session.scalar(sa.select(sa.func.count(ChangeLogEntry.id))))


def _bad_rows() -> list[dict]:
    return [
        asset("ZC-001"),                                                         # row 2: fine
        asset("ZC-002", **{"所在区划代码": "431299100299"}),                       # row 3: unknown village
        asset("ZC-003", **{"东西部协作（元）": "199999.99"}),                       # row 4: funding short by 0.01
        asset("ZC-001", **{"资产名称": "重复的资产"}),                              # row 5: duplicate code
        asset("ZC-005", **{"原值（元）": "五十万", "竣工日期": "2020-13-45",          # row 6: wrong types
                           "使用年限（年）": "十年", "项目年度": "2020.5"}),
        asset("ZC-006", **{"资产名称": "", "资产类别": ""}),                         # row 7: empty required cells
        asset("ZC-007", **{"资产子类": "道路"}),                                     # row 8: subtype of another category
        asset("ZC-008", **{"原值（元）": "500000.001", "财政衔接资金（元）": "300000.001"}),  # row 9: 3 decimals
    ]


EXPECTED_BAD = {
    (3, "所在区划代码"), (4, "原值（元）"), (5, "资产编号"), (6, "原值（元）"), (6, "竣工日期"),
    (6, "使用年限（年）"), (6, "项目年度"), (7, "资产名称"), (7, "资产类别"), (8, "资产子类"),
    (9, "原值（元）"), (9, "财政衔接资金（元）"),
}


def test_bad_file_reports_every_error_and_writes_nothing(world, today):
    content = xlsx(table(ASSET_HEADERS, _bad_rows()))
    before = _counts()

    r = upload(world.fin_a, "assets", content)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["dry_run"] is True and body["committed"] is False and body["file_format"] == "xlsx"
    assert errors_of(body) == EXPECTED_BAD
    by = {(e["row"], e["column"]): e for e in body["errors"]}
    assert by[(3, "所在区划代码")]["value"] == "431299100299"
    assert "未找到" in by[(3, "所在区划代码")]["message"]
    assert "499999.99" in by[(4, "原值（元）")]["message"] and "500000.00" in by[(4, "原值（元）")]["message"]
    assert by[(5, "资产编号")]["message"] == "与第2行的资产编号重复"
    assert by[(6, "竣工日期")]["message"] == "日期不存在"
    assert by[(7, "资产名称")]["message"] == "必填项不能为空"
    assert by[(8, "资产子类")]["field"] == "subtype"
    assert by[(9, "原值（元）")]["message"] == "金额最多两位小数"
    assert body["counts"] == {"rows": 8, "records": 8, "to_create": 1, "unchanged": 0, "created": 0,
                              "errors": len(EXPECTED_BAD), "rows_with_errors": 7}
    assert [x["action"] for x in body["rows"]] == ["create"] + ["error"] * 7

    r = upload(world.fin_a, "assets", content, dry_run=False)
    assert r.status_code == 422
    assert r.json["error"]["code"] == "import_rejected"
    assert errors_of(r.json) == EXPECTED_BAD
    assert r.json["committed"] is False
    assert _counts() == before  # not even the good row 2


def test_fixed_file_imports_everything_and_again_changes_nothing(world, today):
    rows = [asset(f"ZC-{i:03d}") for i in range(1, 6)]
    rows[1].update({"所在区划代码": VILLAGE_A2, "资产类别": "公益性", "资产子类": "道路", "资产状态": "使用中",
                    "原值（元）": "1234.5", "财政衔接资金（元）": "1000", "东西部协作（元）": "234.50",
                    "管理层级": "乡镇"})
    rows[2].update({"所在区划代码": "431299100", "资产状态": "", "状态日期": "", "管理层级": "乡"})
    content = xlsx(table(ASSET_HEADERS, rows))

    r = upload(world.fin_a, "assets", content, dry_run=False)
    assert r.status_code == 200, r.json
    assert r.json["committed"] is True and r.json["errors"] == []
    assert r.json["counts"]["created"] == 5 and r.json["counts"]["to_create"] == 5
    assets = {a.code: a for a in db.session.scalars(sa.select(Asset))}
    assert set(assets) == {f"ZC-{i:03d}" for i in range(1, 6)}
    road = assets["ZC-002"]
    assert (road.category, road.subtype, road.status, road.village_code, road.managing_level) == \
        ("public_welfare", "道路", "in_use", VILLAGE_A2, "town")
    assert road.original_value == Decimal("1234.50")
    assert {f.source: f.amount for f in road.fundings} == {"fiscal_link": Decimal("1000.00"),
                                                             "east_west": Decimal("234.50")}
    shared = assets["ZC-003"]
    assert (shared.town_code, shared.village_code, shared.status, shared.status_on) == \
        ("431299100", None, "under_construction", date(2020, 6, 30))
    # written through create_asset: status history and the change log, by the importing user
    assert db.session.scalar(sa.select(sa.func.count(AssetStatusChange.id))) == 5
    logged = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "asset")).all()
    assert len(logged) == 5 and {e.actor_name for e in logged} == {"fin_a"}
    [batch] = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "import")).all()
    assert (batch.town_code, batch.after["kind"], batch.after["created"], batch.after["file_name"]) == \
        ("431299100", "assets", 5, "upload.xlsx")
    assert len(batch.after["sha256"]) == 64

    before = _counts()
    for dry_run in (True, False):
        r = upload(world.fin_a, "assets", content, dry_run=dry_run)
        assert r.status_code == 200, r.json
        assert r.json["counts"]["unchanged"] == 5 and r.json["counts"]["to_create"] == 0
        assert r.json["counts"]["created"] == 0
        assert {x["action"] for x in r.json["rows"]} == {"unchanged"}
    assert _counts() == before


def test_existing_code_with_different_content_is_refused(world, today):
    upload(world.fin_a, "assets", xlsx(table(ASSET_HEADERS, [asset("ZC-001")])), dry_run=False)
    changed = xlsx(table(ASSET_HEADERS, [asset("ZC-001", **{"资产名称": "改了名字"}), asset("ZC-009")]))
    before = _counts()
    r = upload(world.fin_a, "assets", changed, dry_run=False)
    assert r.status_code == 422
    assert r.json["errors"] == [{"row": 2, "column": "资产编号", "field": "code", "value": "ZC-001",
                                 "message": "已存在且内容不同：资产名称"}]
    assert _counts() == before


def test_error_workbook_marks_the_bad_cells(world, today):
    content = xlsx(table(ASSET_HEADERS, _bad_rows()))
    r = upload(world.fin_a, "assets", content, fmt="xlsx")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    report = r.data
    sheets = pd.read_excel(io.BytesIO(report), sheet_name=None, dtype=str, engine="calamine")
    assert list(sheets) == ["资产台账", "错误清单"]
    data = sheets["资产台账"]
    assert list(data.columns) == ASSET_HEADERS + ["错误说明"]
    assert data["资产编号"].tolist() == ["ZC-001", "ZC-002", "ZC-003", "ZC-001", "ZC-005", "ZC-006", "ZC-007",
                                       "ZC-008"]  # the rows as uploaded, in place
    notes = data["错误说明"].fillna("").tolist()
    assert notes[0] == ""
    assert "所在区划代码：" in notes[1] and "资产编号：与第2行的资产编号重复" in notes[3]
    col = {h: j for j, h in enumerate(ASSET_HEADERS)}
    expected = {cell_ref(row, col[header]) for row, header in EXPECTED_BAD}
    comments = comment_cells(report)
    assert set(comments) == expected
    assert comments[cell_ref(5, col["资产编号"])] == "与第2行的资产编号重复"
    assert {ref for ref in filled_cells(report) if not ref.endswith("1")} >= expected
    assert filled_cells(report) - expected <= {cell_ref(1, len(ASSET_HEADERS))}  # only the 错误说明 header
    listing = sheets["错误清单"]
    assert len(listing) == len(EXPECTED_BAD) + 1  # a summary line, then the header, then one line per error

    # a refused commit can return the workbook too (422)
    r = upload(world.fin_a, "assets", content, dry_run=False, fmt="xlsx")
    assert r.status_code == 422 and r.data[:2] == b"PK"


def test_numbers_and_dates_as_excel_cells(world, today):
    """Money typed as numbers arrives as text parsed with Decimal; a computed 0.1+0.2 is what Excel
    shows (0.3), never 0.30000000000000004; dates may be date cells."""
    rows = table(ASSET_HEADERS, [asset("ZC-N1"), asset("ZC-N2")])
    col = {h: j for j, h in enumerate(ASSET_HEADERS)}
    rows[1][col["原值（元）"]] = 1234.5
    rows[1][col["财政衔接资金（元）"]] = 1234.2
    rows[1][col["东西部协作（元）"]] = Formula("=0.1+0.2", 0.1 + 0.2)
    rows[1][col["竣工日期"]] = date(2020, 6, 30)
    rows[1][col["项目年度"]] = 2020
    rows[2][col["原值（元）"]] = Formula("=0.1+0.2", 0.1 + 0.2)
    rows[2][col["财政衔接资金（元）"]] = 0.3
    rows[2][col["东西部协作（元）"]] = ""
    r = upload(world.fin_a, "assets", xlsx(rows), dry_run=False)
    assert r.status_code == 200, r.json
    a = db.session.scalar(sa.select(Asset).where(Asset.code == "ZC-N1"))
    assert a.original_value == Decimal("1234.50") and a.completed_on == date(2020, 6, 30)
    assert {f.source: f.amount for f in a.fundings} == {"fiscal_link": Decimal("1234.20"), "east_west": Decimal("0.30")}
    b = db.session.scalar(sa.select(Asset).where(Asset.code == "ZC-N2"))
    assert b.original_value == Decimal("0.30")


def test_header_variants_unknown_and_duplicate_columns(world, today):
    headers = ["资产编码" if h == "资产编号" else h for h in ASSET_HEADERS] + ["经办人"]
    rows = [headers] + [[asset("ZC-V1").get("资产编号" if h == "资产编码" else h, "") for h in headers[:-1]]
                        + ["李四"]]
    r = upload(world.fin_a, "assets", xlsx(rows))
    assert r.status_code == 200 and r.json["errors"] == [], r.json
    assert r.json["unknown_columns"] == ["经办人"]
    assert r.json["columns"]["资产编码"] == "code"

    dup = [ASSET_HEADERS + ["资产编码"], [asset("ZC-V2").get(h, "") for h in ASSET_HEADERS] + ["X"]]
    r = upload(world.fin_a, "assets", xlsx(dup))
    assert r.json["errors"][0]["row"] == 1 and r.json["errors"][0]["column"] == "资产编码"
    assert "同一项" in r.json["errors"][0]["message"]

    missing = [[h for h in ASSET_HEADERS if h != "原值（元）"],
               [asset("ZC-V3").get(h, "") for h in ASSET_HEADERS if h != "原值（元）"]]
    r = upload(world.fin_a, "assets", xlsx(missing))
    assert {(e["row"], e["column"], e["message"]) for e in r.json["errors"]} == {(1, "原值（元）", "缺少必填列")}


def test_title_rows_and_blank_rows_keep_excel_row_numbers(world, today):
    rows = [["青溪县城关镇扶贫项目资产台账"], []] + table(ASSET_HEADERS, [asset("ZC-T1")]) + [[]] + \
        table(ASSET_HEADERS, [asset("ZC-T2", **{"原值（元）": "x"})])[1:]
    r = upload(world.fin_a, "assets", xlsx(rows))
    assert r.json["header_row"] == 3
    assert [(x["row"], x["action"]) for x in r.json["rows"]] == [(4, "create"), (6, "error")]
    assert errors_of(r.json) == {(6, "原值（元）")}


def test_household_asset_needs_a_household_of_the_village(world, f, today):
    h = f.household(VILLAGE_A1)
    other = f.household(VILLAGE_A2)
    base = {"资产类别": "到户类", "资产子类": "牲畜", "管理层级": "户", "资产状态": "使用中", "原值（元）": "3000",
            "财政衔接资金（元）": "3000", "东西部协作（元）": "", "计量单位": "头", "数量": "2"}
    rows = [asset("HH-1", **base, **{"农户户编号": h.number}),
            asset("HH-2", **base),
            asset("HH-3", **base, **{"农户户编号": other.number}),
            asset("HH-4", **{"农户户编号": h.number}),
            asset("HH-5", **{**base, "管理层级": "村", "农户户编号": h.number})]
    r = upload(world.fin_a, "assets", xlsx(table(ASSET_HEADERS, rows)))
    assert {(e["row"], e["column"], e["message"]) for e in r.json["errors"]} == {
        (3, "农户户编号", "到户类资产须填写农户户编号"),
        (4, "农户户编号", "该农户不在资产所在村"),
        (5, "农户户编号", "只有到户类资产填写农户户编号"),
        (6, "管理层级", "到户类资产的管理层级应为“户”"),
    }
    r = upload(world.fin_a, "assets", xlsx(table(ASSET_HEADERS, rows[:1])), dry_run=False)
    assert r.status_code == 200, r.json
    a = db.session.scalar(sa.select(Asset).where(Asset.code == "HH-1"))
    assert a.household_id == h.id and a.quantity == Decimal("2")
    r = upload(world.fin_a, "assets", xlsx(table(ASSET_HEADERS, rows[:1])), dry_run=False)
    assert r.json["counts"]["unchanged"] == 1


def test_template_round_trips(world, today):
    r = world.fin_a.get("/api/v1/imports/templates/assets.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in r.headers["Content-Disposition"]
    sheets = pd.read_excel(io.BytesIO(r.data), sheet_name=None, dtype=str, engine="calamine", header=None)
    assert list(sheets) == ["资产台账", "填写说明"]
    assert sheets["资产台账"].iloc[0].tolist() == ASSET_HEADERS and len(sheets["资产台账"]) == 1
    doc = sheets["填写说明"].fillna("")
    header_at = doc.index[doc[0] == "列名"][0]
    assert doc.iloc[header_at].tolist()[:5] == ["列名", "含义", "是否必填", "允许的值", "示例"]
    described = doc.iloc[header_at + 1:]
    assert described[0].tolist() == ASSET_HEADERS
    assert described.set_index(0).loc["原值（元）", 2] == "必填"
    assert "经营性" in described.set_index(0).loc["资产类别", 3]

    # fill the template: one valid row under its headers, its other sheet kept, and import it
    filled = io.BytesIO()
    with pd.ExcelWriter(filled, engine="xlsxwriter") as writer:
        row = asset("ZC-TPL")
        pd.DataFrame([[row.get(h, "") for h in ASSET_HEADERS]], columns=ASSET_HEADERS).to_excel(
            writer, sheet_name="资产台账", index=False)
        sheets["填写说明"].to_excel(writer, sheet_name="填写说明", index=False, header=False)
    r = upload(world.fin_a, "assets", filled.getvalue(), "资产台账导入模板.xlsx", dry_run=False)
    assert r.status_code == 200 and r.json["counts"]["created"] == 1, r.json
    assert r.json["sheet"] == "资产台账"

    # the CSV template: UTF-8 with BOM, the same headers; a row appended imports
    r = world.fin_a.get("/api/v1/imports/templates/assets.csv")
    assert r.status_code == 200 and r.data.startswith(b"\xef\xbb\xbf")
    text = r.data.decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == ASSET_HEADERS
    row = asset("ZC-TPL2")
    text += ",".join(row.get(h, "") for h in ASSET_HEADERS) + "\r\n"
    r = upload(world.fin_a, "assets", b"\xef\xbb\xbf" + text.encode(), "模板.csv", dry_run=False)
    assert r.status_code == 200 and r.json["counts"]["created"] == 1, r.json
    assert r.json["file_format"] == "csv" and r.json["encoding"] == "utf-8-sig"

    r = world.auditor.get("/api/v1/imports/templates")
    assert r.status_code == 200 and [k["kind"] for k in r.json] == ["assets", "households", "income"]
    assert world.admin.get("/api/v1/imports/templates/nothing.xlsx").status_code == 404


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk", "utf-8"])
def test_csv_encodings(world, today, encoding):
    content = csv_bytes(table(ASSET_HEADERS, [asset("ZC-C1", **{"资产名称": "桃源村光伏电站（一期）"})]),
                        encoding=encoding)
    r = upload(world.fin_a, "assets", content, "台账.csv", dry_run=False)
    assert r.status_code == 200, r.json
    assert r.json["encoding"] == {"gbk": "gb18030"}.get(encoding, encoding)
    assert db.session.scalar(sa.select(Asset.name).where(Asset.code == "ZC-C1")) == "桃源村光伏电站（一期）"


def test_scope_and_roles(world, today):
    content = xlsx(table(ASSET_HEADERS, [asset("ZC-S1"), asset("ZC-S2", **{"所在区划代码": VILLAGE_B1})]))
    # auditors never import (403), whatever the file; village committees do not register assets
    for client in (world.auditor, world.auditor_a, world.vc_a1):
        r = upload(client, "assets", content)
        assert r.status_code == 403, r.json
        assert r.json["error"]["code"] == "role_forbidden"
    r = upload(world.auditor, "assets", b"not even a spreadsheet")
    assert r.status_code == 403
    # a town's finance officer writes only inside the town: the town B row is an error, nothing written
    r = upload(world.fin_a, "assets", content, dry_run=False)
    assert r.status_code == 422
    assert {(e["row"], e["column"], e["message"]) for e in r.json["errors"]} == {(3, "所在区划代码", "超出您的管辖范围")}
    assert db.session.scalar(sa.select(sa.func.count(Asset.id))) == 0
    # shared assets at county level are the county admin's
    r = upload(world.fin_a, "assets", xlsx(table(ASSET_HEADERS, [asset("ZC-S3", **{"所在区划代码": "431299"})])))
    assert errors_of(r.json) == {(2, "所在区划代码")}
    # the county admin imports the whole county
    r = upload(world.admin, "assets", content, dry_run=False)
    assert r.status_code == 200 and r.json["counts"]["created"] == 2
    # town B's officer cannot touch (or learn more about) town A's asset with the same code
    r = upload(world.fin_b, "assets", xlsx(table(ASSET_HEADERS, [asset("ZC-S1", **{"所在区划代码": VILLAGE_B1})])))
    assert [(e["row"], e["message"]) for e in r.json["errors"]] == [(2, "本县已有该编号的资产（不在您的管辖范围内）")]


def test_cli_import(world, today, runner, tmp_path):
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(xlsx(table(ASSET_HEADERS, _bad_rows())))
    out = tmp_path / "report.xlsx"
    result = runner.invoke(args=["import", "assets", str(bad), "--as", "fin_a", "--report", str(out)])
    assert result.exit_code == 1
    assert "所在区划代码" in result.output and "431299100299" in result.output
    assert "与第2行的资产编号重复" in result.output
    assert "有错误，未写入任何数据" in result.output
    assert set(comment_cells(out.read_bytes()))  # the error workbook was written
    assert db.session.scalar(sa.select(sa.func.count(Asset.id))) == 0

    good = tmp_path / "good.csv"
    good.write_bytes(csv_bytes(table(ASSET_HEADERS, [asset("ZC-CLI1"), asset("ZC-CLI2")])))
    result = runner.invoke(args=["import", "assets", str(good), "--dry-run", "--as", "fin_a"])
    assert result.exit_code == 0, result.output
    assert "新增 2" in result.output and db.session.scalar(sa.select(sa.func.count(Asset.id))) == 0
    result = runner.invoke(args=["import", "assets", str(good), "--as", "fin_a"])
    assert result.exit_code == 0 and "已导入：新增 2 条" in result.output
    result = runner.invoke(args=["import", "assets", str(good)])  # the only county admin by default
    assert result.exit_code == 0 and "未变 2" in result.output
    result = runner.invoke(args=["import", "assets", str(good), "--as", "auditor"])
    assert result.exit_code != 0 and "无权" in result.output
    result = runner.invoke(args=["import", "assets", str(good), "--as", "nobody"])
    assert result.exit_code != 0


def test_validation_is_set_based(world, count_queries, today):
    """Lookups are set-based (places once, existing codes in chunks of 500), not a query per row."""
    def run(n):
        content = xlsx(table(ASSET_HEADERS, [asset(f"ZC-{i:05d}") for i in range(n)]))
        with count_queries() as c:
            r = upload(world.fin_a, "assets", content)
        assert r.status_code == 200 and r.json["counts"]["to_create"] == n
        return c.count

    small, big = run(5), run(1200)
    assert small <= 5 and big <= small + 2


def test_commit_writes_the_batch_not_row_by_row(world, count_queries, today):
    """The commit writes every asset through ``create_assets``: no lookup and no flush per row (the
    change log's chain head moves once per flush), and on PostgreSQL one insert per table and page of
    rows; each asset still has its status row and change-log entry."""
    def run(prefix, n):
        content = xlsx(table(ASSET_HEADERS, [asset(f"{prefix}-{i:05d}") for i in range(n)]))
        with count_queries() as c:
            r = upload(world.fin_a, "assets", content, dry_run=False)
        assert r.status_code == 200 and r.json["counts"]["created"] == n, r.json
        return c.statements

    small, big = run("ZS", 3), run("ZB", 300)

    def others(statements):
        return [s for s in statements if not s.startswith("INSERT")]

    assert len(others(big)) == len(others(small)), (others(small), others(big))
    assert sum(s.startswith("UPDATE chain_heads") for s in big) <= 2
    if db.engine.dialect.name == "postgresql":  # SQLite inserts row by row, in process
        assert len(big) <= len(small) + 4, (len(small), len(big))
    codes = [f"ZB-{i:05d}" for i in range(300)]
    ids = db.session.scalars(sa.select(Asset.id).where(Asset.code.in_(codes))).all()
    assert len(ids) == 300
    assert db.session.scalar(sa.select(sa.func.count(AssetStatusChange.id))
                             .where(AssetStatusChange.asset_id.in_(ids))) == 300
    assert db.session.scalar(sa.select(sa.func.count(ChangeLogEntry.id)).where(
        ChangeLogEntry.entity == "asset", ChangeLogEntry.entity_id.in_([str(i) for i in ids]))) == 300


def test_a_refusal_in_the_batch_names_its_item_and_writes_nothing(world, today):
    """``create_assets`` refuses the first item against the rules, says which one, and adds nothing."""
    from assetreg.assets.services import create_assets
    from assetreg.core.errors import Conflict, RuleViolation

    def item(code, **kw):
        return {"code": code, "name": "光伏电站", "category": "operating", "subtype": "光伏电站",
                "place_code": VILLAGE_A1, "managing_level": "village", "original_value": Decimal("100.00"),
                "fundings": [{"source": "fiscal_link", "amount": Decimal("100.00")}],
                "status": "in_operation", "status_on": date(2024, 1, 1), **kw}

    with pytest.raises(Conflict) as caught:
        create_assets(world.users["fin_a"], [item("ZD-1"), item("ZD-2"), item("ZD-1")])
    assert caught.value.item == 2 and caught.value.code == "duplicate_code"
    with pytest.raises(RuleViolation) as caught:
        create_assets(world.users["fin_a"], [item("ZD-3"), item("ZD-4", place_code="431299100299")])
    assert caught.value.item == 1 and "place_code" in caught.value.fields
    assert not any(isinstance(o, Asset) for o in db.session.new)
    assert db.session.scalar(sa.select(sa.func.count(Asset.id)).where(Asset.code.like("ZD-%"))) == 0
