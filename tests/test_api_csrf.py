"""CSRF on the API (issue 11 item 5): an unsafe API request authenticated by the session cookie must
carry the page's CSRF token (``X-CSRFToken``); one with the bearer token needs none. The pages' own
scripts send the token from ``<meta name="csrf-token">``."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from assetreg.assets.models import Asset
from assetreg.core.files import StoredFile
from assetreg.extensions import db
from assetreg.income.models import IncomeEntry

from .imports_support import ASSET_HEADERS, asset, table, xlsx
from .web_support import PASSWORD, client, csrf_token, text

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EVIL = {"Origin": "http://evil.example", "Referer": "http://evil.example/attack.html"}
STATIC = Path(__file__).resolve().parent.parent / "assetreg" / "web" / "static"


@pytest.fixture
def csrf_on(app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


def browser(app, username):
    """A person logged in through the login form (with its CSRF token)."""
    c = client(app)
    token = csrf_token(text(c.get("/login")))
    assert c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return c


def meta_token(c) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', text(c.get("/")))
    assert m, "no <meta name=csrf-token> in the page"
    return m.group(1)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def import_assets(c, headers=None):
    body = {"file": (io.BytesIO(xlsx(table(ASSET_HEADERS, [asset("CSRF-001")]))), "assets.xlsx")}
    return c.post("/api/v1/imports/assets?dry_run=false", data=body, content_type="multipart/form-data",
                  headers=headers or {})


def upload_file(c, headers=None):
    body = {"file": (io.BytesIO(PDF), "evidence.pdf")}
    return c.post("/api/v1/files", data=body, content_type="multipart/form-data", headers=headers or {})


def assert_refused(r):
    assert r.status_code in (400, 403), (r.status_code, r.get_data(as_text=True)[:300])
    assert r.is_json and r.json["error"]["code"] == "csrf_failed"
    assert re.search(r"[\u4e00-\u9fff]", r.json["error"]["message"])  # told in Chinese
    assert "X-CSRFToken" in r.json["error"]["message"]


def test_a_cross_site_import_with_the_cookie_alone_is_refused(app, world, csrf_on):
    c = browser(app, "fin_a")
    before = count(Asset)
    assert_refused(import_assets(c, EVIL))
    assert_refused(import_assets(c, {**EVIL, "X-CSRFToken": "forged"}))
    assert count(Asset) == before


def test_a_cross_site_file_upload_with_the_cookie_alone_is_refused(app, world, csrf_on):
    c = browser(app, "admin")
    assert_refused(upload_file(c, EVIL))
    assert count(StoredFile) == 0
    assert stored_files(csrf_on) == []


def test_a_cookie_income_post_without_the_token_is_refused(app, world, f, csrf_on, today):
    a = f.asset()
    c = browser(app, "fin_a")
    body = dict(direction="income", kind="electricity", period_year=2025, period_month=3,
                received_on="2025-04-10", amount="1000.00", payer="国网", voucher_no="记-1")
    assert_refused(c.post(f"/api/v1/assets/{a.id}/income", json=body, headers=EVIL))
    assert count(IncomeEntry) == 0
    # The same request with the page's token is the page's own call: accepted.
    r = c.post(f"/api/v1/assets/{a.id}/income", json=body, headers={"X-CSRFToken": meta_token(c)})
    assert r.status_code == 201, r.json
    assert count(IncomeEntry) == 1


def test_the_same_writes_with_the_bearer_token_work(app, world, csrf_on):
    r = import_assets(world.fin_a, EVIL)
    assert r.status_code == 200, r.json
    assert count(Asset) == 1
    r = upload_file(world.admin, EVIL)
    assert r.status_code == 201, r.json
    assert count(StoredFile) == 1


def test_a_cookie_and_a_bearer_token_together_count_as_the_token(app, world, csrf_on):
    """The explicit credential wins: a page session in the same client does not make it a cookie call."""
    c = browser(app, "vc_a1")
    bearer = {"Authorization": f"Bearer {world.fin_a.token}"}
    assert c.get("/api/v1/me", headers=bearer).json["username"] == "fin_a"
    r = import_assets(c, bearer)
    assert r.status_code == 200 and count(Asset) == 1
    r = c.get("/api/v1/me", headers={"Authorization": "Bearer ar_not-a-token"})
    assert r.status_code == 401  # a bad token is refused even though the cookie is good


def test_the_pages_token_works_for_cookie_writes(app, world, csrf_on):
    c = browser(app, "admin")
    token = meta_token(c)
    r = upload_file(c, {"X-CSRFToken": token})
    assert r.status_code == 201, r.json
    assert count(StoredFile) == 1


def test_safe_methods_need_no_token(app, world, csrf_on):
    c = browser(app, "fin_a")
    assert c.get("/api/v1/me", headers=EVIL).status_code == 200
    assert c.open("/api/v1/me", method="HEAD").status_code == 200


def test_every_page_script_sends_the_token():
    """Each fetch() in the pages' scripts sends X-CSRFToken (read from the page's meta tag), so a write
    added later cannot forget it; base.html carries the tag."""
    calls = 0
    for path in STATIC.glob("*.js"):
        source = path.read_text(encoding="utf-8")
        for m in re.finditer(r"fetch\(", source):
            calls += 1
            call = source[m.start(): source.find(")", source.find("}", m.start())) + 1]
            assert "csrfHeaders(" in call or "X-CSRFToken" in call, (path.name, call)
    assert calls >= 2
    base = (STATIC.parent / "templates" / "base.html").read_text(encoding="utf-8")
    assert '<meta name="csrf-token" content="{{ csrf_token() }}">' in base
