"""Security headers on every page: a Content-Security-Policy that lets only the app's own script files
run (so no template may carry an inline script or handler), and HSTS when served over HTTPS."""

from __future__ import annotations

import re
from pathlib import Path

import assetreg

from .web_support import login

TEMPLATES = sorted(Path(assetreg.__file__).parent.rglob("templates/**/*.html"))
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)


def test_pages_allow_only_the_apps_own_scripts(app, world):
    client = login(app, "admin")
    for path in ("/", "/assets", "/lists", "/login", "/no-such-page"):
        r = client.get(path)
        csp = r.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], path
        assert "object-src 'none'" in csp and "frame-ancestors 'self'" in csp, path
        assert "Strict-Transport-Security" not in r.headers, path  # plain HTTP: no HSTS


def test_hsts_over_https(world, client):
    r = client.get("/login", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_template_carries_inline_script_or_handler():
    assert len(TEMPLATES) > 40
    offenders = [f"{t.name}: {m.group(0).strip()}" for t in TEMPLATES for pat in (INLINE_HANDLER, INLINE_SCRIPT)
                 for m in pat.finditer(t.read_text(encoding="utf-8"))]
    assert offenders == []
    assert not any("javascript:" in t.read_text(encoding="utf-8") for t in TEMPLATES)
