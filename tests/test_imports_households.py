"""Import of households (农户), one row per member with the 户编号 repeated."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from assetreg.changelog.models import ChangeLogEntry
from assetreg.extensions import db
from assetreg.households.models import Household, HouseholdMember

from .factories import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1, id_number
from .imports_support import HOUSEHOLD_HEADERS, csv_bytes, head, member, table, upload, xlsx


def _bad_id(seq: int) -> str:
    good = id_number(seq)
    return good[:17] + ("0" if good[17] != "0" else "1")


def _good_rows() -> list[dict]:
    return [
        head("H001", "张三", 1),
        member("H001", "李梅", "配偶", **{"成员身份证号": id_number(2), "劳动能力": "弱劳动力"}),
        member("H001", "张小明", "子女", **{"劳动能力": "无劳动力"}),
        head("H002", "王五", 3, **{"农户类别": "监测户", "监测类型": "边缘易致贫户", "风险是否消除": "是",
                                   "风险消除日期": "2024-12-01", "银行卡号（一卡通）": "6228 4800 1234 5678 901"}),
        head("H003", "赵六", 4, village=VILLAGE_A2, **{"农户类别": "一般户", "联系电话": ""}),
        member("H002", "王小五", "子女", **{"成员身份证号": id_number(5), "劳动能力": "普通劳动力"}),  # not adjacent
    ]


def test_members_layout_imports_and_reimport_changes_nothing(world, today):
    content = xlsx(table(HOUSEHOLD_HEADERS, _good_rows()), sheet="农户")
    r = upload(world.fin_a, "households", content, dry_run=False)
    assert r.status_code == 200, r.json
    assert r.json["counts"] == {"rows": 6, "records": 3, "to_create": 3, "unchanged": 0, "created": 3,
                                "errors": 0, "rows_with_errors": 0}
    assert [(x["row"], x["key"]) for x in r.json["rows"]] == [(2, "H001"), (3, "H001"), (4, "H001"), (5, "H002"),
                                                                (6, "H003"), (7, "H002")]
    hs = {h.number: h for h in db.session.scalars(sa.select(Household))}
    h1 = hs["H001"]
    assert (h1.village_code, h1.town_code, h1.head_name, h1.head_id_number, h1.status) == \
        (VILLAGE_A1, "431299100", "张三", id_number(1), "formerly_poor")
    assert [(m.name, m.relation, m.id_number, m.labour) for m in h1.members] == [
        ("张三", "户主", id_number(1), "full"), ("李梅", "配偶", id_number(2), "weak"),
        ("张小明", "子女", None, "none")]
    h2 = hs["H002"]
    assert (h2.status, h2.monitor_type, h2.is_risk_cleared, h2.risk_cleared_on, h2.bank_card) == \
        ("monitored", "marginal", True, date(2024, 12, 1), "6228480012345678901")
    assert [m.labour for m in h2.members] == ["full", "full"]
    assert (hs["H003"].village_code, hs["H003"].status, hs["H003"].phone) == (VILLAGE_A2, "ordinary", None)
    logged = db.session.scalars(sa.select(ChangeLogEntry).where(ChangeLogEntry.entity == "household")).all()
    assert len(logged) == 3 and all("********" in e.after["head_id_number"] for e in logged)  # masked in the log

    log_count = db.session.scalar(sa.select(sa.func.count(ChangeLogEntry.id)))
    r = upload(world.fin_a, "households", content, dry_run=False)
    assert r.status_code == 200 and r.json["counts"]["unchanged"] == 3 and r.json["counts"]["created"] == 0
    assert db.session.scalar(sa.select(sa.func.count(ChangeLogEntry.id))) == log_count
    assert db.session.scalar(sa.select(sa.func.count(HouseholdMember.id))) == 6


def test_bad_household_rows_report_every_error(world, today):
    rows = [
        head("H010", "甲", 10, **{"户主身份证号": _bad_id(10)}),                          # row 2: bad check digit
        member("H010", "乙", "配偶", **{"成员身份证号": _bad_id(11)}),                     # row 3: bad member ID
        head("H011", "丙", 12, village="431299100299"),                                  # row 4: unknown village
        head("H012", "丁", 13, **{"农户类别": "监测户"}),                                 # row 5: no monitor type
        head("H013", "戊", 14, **{"农户类别": "贫困户", "联系电话": "12345"}),              # row 6: bad status, phone
        member("H013", "己", "配偶", **{"村代码": VILLAGE_A2}),                            # row 7: contradicts row 6
        member("H014", "庚", "子女"),                                                     # row 8: no head, no fields
        head("H015", "辛", 15, **{"劳动能力": "很强", "成员姓名": ""}),                      # row 9: member cells
        member("H015", "壬", "户主", **{"成员身份证号": id_number(16)}),                   # row 10: second head
    ]
    content = xlsx(table(HOUSEHOLD_HEADERS, rows), sheet="农户")
    before = db.session.scalar(sa.select(sa.func.count(Household.id)))
    r = upload(world.fin_a, "households", content, dry_run=False)
    assert r.status_code == 422
    got = {(e["row"], e["column"]): e["message"] for e in r.json["errors"]}
    assert got[(2, "户主身份证号")].startswith("身份证号无效")
    assert got[(3, "成员身份证号")].startswith("身份证号无效")
    assert got[(4, "村代码")] == "未找到本县的该村"
    assert got[(5, "监测类型")] == "监测户应填写监测类型"
    assert got[(6, "农户类别")].startswith("应为 脱贫户、监测户、一般户")
    assert got[(6, "联系电话")].startswith("应为以1开头的11位手机号")
    assert got[(7, "村代码")] == "与本户第6行的内容不一致"
    assert {got[(8, c)] for c in ("村代码", "户主姓名", "户主身份证号", "农户类别")} == {"每户须在一行中填写此项"}
    assert got[(8, "与户主关系")] == "应有且只有一名成员的与户主关系为“户主”"
    assert got[(9, "劳动能力")].startswith("应为 有劳动力")
    assert got[(9, "成员姓名")] == "必填项不能为空"
    assert got[(9, "与户主关系")] == "应有且只有一名成员的与户主关系为“户主”"
    assert set(got) == {(2, "户主身份证号"), (3, "成员身份证号"), (4, "村代码"), (5, "监测类型"), (6, "农户类别"),
                        (6, "联系电话"), (7, "村代码"), (8, "村代码"), (8, "户主姓名"), (8, "户主身份证号"),
                        (8, "农户类别"), (8, "与户主关系"), (9, "劳动能力"), (9, "成员姓名"), (9, "与户主关系")}
    assert r.json["counts"]["to_create"] == 0 and r.json["counts"]["records"] == 6
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == before


def test_id_number_typed_as_a_number_is_explained(world, today):
    rows = table(HOUSEHOLD_HEADERS, [head("H020", "甲", 20)])
    col = HOUSEHOLD_HEADERS.index("户主身份证号")
    rows[1][col] = int(id_number(20)[:17] + "0") if id_number(20)[17] == "X" else int(id_number(20))
    r = upload(world.fin_a, "households", xlsx(rows, sheet="农户"))
    [err] = r.json["errors"]
    assert (err["row"], err["column"]) == (2, "户主身份证号") and "文本" in err["message"]


def test_existing_household_with_other_members_is_refused(world, today):
    upload(world.vc_a1, "households", xlsx(table(HOUSEHOLD_HEADERS, _good_rows()[:3]), sheet="农户"), dry_run=False)
    rows = _good_rows()[:2]  # one member fewer
    r = upload(world.vc_a1, "households", csv_bytes(table(HOUSEHOLD_HEADERS, rows)), "农户.csv", dry_run=False)
    assert r.status_code == 422
    assert [(e["row"], e["column"], e["message"]) for e in r.json["errors"]] == [
        (2, "户编号", "已存在且内容不同：家庭成员")]


def test_village_committee_imports_only_its_village(world, today):
    rows = [head("H030", "甲", 30), head("H031", "乙", 31, village=VILLAGE_A2), head("H032", "丙", 32, village=VILLAGE_B1)]
    content = csv_bytes(table(HOUSEHOLD_HEADERS, rows), encoding="gbk")
    r = upload(world.vc_a1, "households", content, "农户.csv", dry_run=False)
    assert r.status_code == 422
    assert {(e["row"], e["column"], e["message"]) for e in r.json["errors"]} == {
        (3, "村代码", "超出您的管辖范围"), (4, "村代码", "超出您的管辖范围")}
    assert db.session.scalar(sa.select(sa.func.count(Household.id))) == 0
    r = upload(world.fin_a, "households", content, "农户.csv")
    assert {(e["row"], e["message"]) for e in r.json["errors"]} == {(4, "超出您的管辖范围")}
    r = upload(world.admin, "households", content, "农户.csv", dry_run=False)
    assert r.status_code == 200 and r.json["counts"]["created"] == 3
    # another village's committee cannot re-import (nor learn about) those households
    r = upload(world.vc_a2, "households", csv_bytes(table(HOUSEHOLD_HEADERS, rows[1:2])), "农户.csv")
    assert r.json["counts"]["unchanged"] == 1
    r = upload(world.vc_a2, "households", csv_bytes(table(HOUSEHOLD_HEADERS, [{**rows[0], "村代码": VILLAGE_A2}])),
               "农户.csv")
    assert [e["message"] for e in r.json["errors"]] == ["本县已有该户编号的农户（不在您的管辖范围内）"]
    assert upload(world.auditor, "households", content, "农户.csv").status_code == 403
