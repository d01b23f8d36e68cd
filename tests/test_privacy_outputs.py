"""Personal data in every masked output (issue 11, "Personal data in outputs"): an ID number, a bank card
and a mobile number typed into free text (a household line's reason, as plan line 3919 of the demo holds
"户主联系电话…") or uploaded in an import never come out in full to a role that reads masked data — the
ledger and pack exports, the plan API, the import dry-run report (JSON, page, XLSX) — and the import
template's examples are not real-looking numbers. Auditors' exports stay unmasked (DOMAIN.md §1, §7)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest

from assetreg.core.validators import find_unmasked, is_valid_id_number, make_id_number, mask_personal_text
from assetreg.exports import ledger
from assetreg.exports import services as exports
from assetreg.extensions import db
from assetreg.imports.templates import KINDS

from .distribution_support import households, line, new_plan, put_allocations, settle
from .imports_support import HOUSEHOLD_HEADERS, head, table, upload, xlsx
from .web_support import login, text

MOBILE = "13912345678"
ID = make_id_number("431299", date(1985, 3, 7), 123)
CARD = "6217991234567890123"
PLANTED = (MOBILE, ID, CARD)
REASON = f"临时救助（户主联系电话{MOBILE}，身份证{ID}，卡号{CARD}）"


def leaked(content: str) -> list[str]:
    return [v for v in PLANTED if v in content]


def zip_text(content: bytes) -> str:
    """Every text part of a zip (an XLSX workbook or the pack, and the workbook inside the pack)."""
    out = []
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            if name.endswith(".xlsx"):
                out.append(zip_text(data))
            else:
                out.append(data.decode("utf-8-sig", errors="replace"))
    return "\n".join(out)


# --- the rule itself ---------------------------------------------------------------------------------

def test_masking_free_text_leaves_nothing_the_notice_scan_would_refuse():
    assert {k for k, _ in find_unmasked(REASON)} == {"id_number", "bank_card", "mobile"}
    masked = mask_personal_text(REASON)
    assert find_unmasked(masked) == [] and leaked(masked) == []
    assert masked == f"临时救助（户主联系电话139****5678，身份证{ID[:6]}********{ID[-4:]}，卡号***************0123）"
    assert mask_personal_text("6个月×800.00元，合同2024-001") == "6个月×800.00元，合同2024-001"
    assert mask_personal_text(None) is None and mask_personal_text("") == ""


# --- a plan whose household line carries the numbers in its reason -----------------------------------

@pytest.fixture
def planted(world, f, today):
    settle(f, world, world.village_a1, pv="10000.00")
    h, = households(f, world.village_a1, "formerly_poor")
    p = new_plan(world.vc_a1, world.village_a1)
    r = put_allocations(world.vc_a1, p["id"], [{"purpose": "relief", "amount": "500.00", "use": f"联系{MOBILE}",
                                                "lines": [line(h, "500.00", reason=REASON)]}])
    assert r.status_code == 200, r.json
    r = world.vc_a1.patch(f"/api/v1/plans/{p['id']}", json={"note": f"经办人电话{MOBILE}"})
    assert r.status_code == 200, r.json
    return p["id"]


@pytest.mark.parametrize("who", ["vc_a1", "fin_a", "admin"])
def test_plan_api_masks_free_text_for_non_auditors(world, planted, who):
    r = getattr(world, who).get(f"/api/v1/plans/{planted}")
    assert r.status_code == 200
    assert leaked(r.get_data(as_text=True)) == [], who
    assert r.json["allocations"][0]["lines"][0]["reason"].startswith("临时救助（户主联系电话139****5678")


def test_plan_api_keeps_the_reason_for_auditors(world, planted):
    r = world.auditor.get(f"/api/v1/plans/{planted}")
    assert r.json["allocations"][0]["lines"][0]["reason"] == REASON


def _export(world, who: str, kind: str, tmp_path) -> bytes:
    user = world.users[who]
    scope = exports.resolve_scope(user, user.scope_code, 2024, 2024)
    out = tmp_path / f"{who}.{kind}"
    exports.build_export(user, scope, out, kind=kind, conn=db.session.connection())
    return out.read_bytes()


@pytest.mark.parametrize("who", ["admin", "fin_a", "vc_a1"])
@pytest.mark.parametrize("kind", ["ledger", "pack"])
def test_masked_exports_carry_no_planted_number(world, planted, tmp_path, who, kind):
    content = zip_text(_export(world, who, kind, tmp_path))
    assert "139****5678" in content  # the line is there, masked
    assert leaked(content) == [], (who, kind)


def test_auditor_exports_stay_unmasked(world, planted, tmp_path):
    for kind in ("ledger", "pack"):
        assert set(leaked(zip_text(_export(world, "auditor", kind, tmp_path)))) == set(PLANTED), kind


def test_ledger_masks_every_free_text_cell_but_not_codes():
    ctx = ledger.Ctx(unmask=False)
    row = (f"ZC-{CARD}", REASON, None, 12)
    cols = ledger._cols(("资产编号", 22, "text", True), ("备注", 20), ("日期", 11, "date"), ("数", 8, "int"))
    assert ledger.mask_cells(row, cols, ctx) == (f"ZC-{CARD}", mask_personal_text(REASON), None, 12)
    assert ledger.mask_cells(row, cols, ledger.Ctx(unmask=True)) == row


# --- imports ----------------------------------------------------------------------------------------

BAD_ID = ID[:17] + ("0" if ID[17] != "0" else "1")  # the check digit wrong: reported, with the value


def _household_upload() -> bytes:
    rows = [head("H-0001", "张三", 1, **{"户主身份证号": BAD_ID, "联系电话": f"手机{MOBILE}",
                                         "银行卡号（一卡通）": f"卡{CARD}"}),
            head("H-0002", "李四", 2, **{"户主身份证号": ID, "联系电话": MOBILE, "银行卡号（一卡通）": CARD})]
    return xlsx(table(HOUSEHOLD_HEADERS, rows), sheet="农户")


def test_import_report_json_masks_uploaded_numbers(world, today):
    r = upload(world.vc_a1, "households", _household_upload())
    assert r.status_code == 200 and r.json["counts"]["errors"] >= 3, r.json
    body = r.get_data(as_text=True)
    assert leaked(body) == [] and BAD_ID not in body
    values = {e["column"]: e["value"] for e in r.json["errors"]}
    assert values["户主身份证号"] == BAD_ID[:6] + "********" + BAD_ID[-4:]


def test_import_report_xlsx_masks_uploaded_numbers(world, today):
    r = upload(world.vc_a1, "households", _household_upload(), fmt="xlsx")
    assert r.status_code == 200
    content = zip_text(r.data)
    assert "错误说明" in content
    assert leaked(content) == [] and BAD_ID not in content


def test_import_report_page_masks_uploaded_numbers(app, world, today):
    c = login(app, "vc_a1")
    r = c.post("/imports", data={"kind": "households", "file": (io.BytesIO(_household_upload()), "农户.xlsx")},
               content_type="multipart/form-data")
    html = text(r)
    assert "import-errors" in html
    assert leaked(html) == [] and BAD_ID not in html


# Codes that are not personal but have the length of a card number: a village's 12-digit division code,
# a 16-digit household number (户编号). The scan cannot tell them from a card; the test can.
CODE_FIELDS = {"village_code", "place_code", "number"}


def personal_numbers(content: str) -> list[tuple[str, str]]:
    codes = {c.example for k in KINDS.values() for c in k.columns if c.field in CODE_FIELDS}
    return [(kind, v) for kind, v in find_unmasked(content) if not (kind == "bank_card" and v in codes)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_import_templates_hold_no_real_looking_number(world, kind):
    for fmt in ("xlsx", "csv"):
        r = world.fin_a.get(f"/api/v1/imports/templates/{kind}.{fmt}")
        assert r.status_code == 200
        content = zip_text(r.data) if fmt == "xlsx" else r.data.decode("utf-8-sig")
        assert personal_numbers(content) == [], (kind, fmt)
    r = world.fin_a.get("/api/v1/imports/templates")
    assert personal_numbers(r.get_data(as_text=True)) == []
    for col in KINDS[kind].columns:
        assert not is_valid_id_number(col.example), col.header
