"""What every page shares: navigation, place names, security headers (error pages: ``web/errors.py``).

Other areas add pages by extending ``base.html`` (see the comment at its top) and using the macros in
``macros.html``; a page path listed in ``NAV`` appears in the navigation as soon as it is routable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode

from flask import Flask, current_app, g, request
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from .errors import wants_html
from .filters import register_filters

log = logging.getLogger(__name__)

# Pages run the app's own script files only (no inline script, no handler attributes, no other origin);
# styles may be inline (print layouts set widths per column). Forms post to the app itself.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'self'")

# (label, path, roles that see it or None for all). Paths not (yet) routable are left out.
NAV: list[tuple[str, str, set[str] | None]] = [
    ("首页", "/", None),
    ("资产", "/assets", None),
    ("农户", "/households", None),
    ("收益分配", "/plans", None),
    ("结算", "/settlements", None),
    ("四张清单", "/lists", None),
    ("预警", "/flags", None),
    ("问题整改", "/problems", None),
    ("导入", "/imports", {"county_admin", "finance_officer", "village_committee"}),
    ("导出", "/exports", None),
    ("操作日志", "/changes", {"auditor", "county_admin"}),
    ("用户管理", "/admin/users", {"county_admin"}),
]

def _routable(app: Flask, path: str) -> bool:
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except HTTPException as exc:
        if exc.code is not None and exc.code < 400:  # a redirect (e.g. to a trailing slash) counts
            return True
        return False
    return True


def has_page(path: str) -> bool:
    """Whether a GET of ``path`` reaches a view (pages other areas add appear when they exist)."""
    cache = current_app.extensions.setdefault("assetreg_routable", {})
    if path not in cache:
        cache[path] = _routable(current_app, path)
    return cache[path]


def nav_items() -> list[dict]:
    if not current_user.is_authenticated:
        return []
    out = []
    for label, path, roles in NAV:
        if roles is not None and current_user.role not in roles:
            continue
        if has_page(path):
            active = request.path == "/" if path == "/" else (request.path == path or request.path.startswith(path + "/"))
            out.append({"label": label, "path": path, "active": active})
    return out


def place_names() -> dict[str, str]:
    """Code → name of every place in the user's county: one query per request, on first use."""
    if "place_names" not in g:
        names: dict[str, str] = {}
        if current_user.is_authenticated:
            names = current_app.extensions["assetreg_place_names"](current_user.county_code)
        g.place_names = names
    return g.place_names


def place_name(code: str | None, blank: str = "") -> str:
    if not code:
        return blank
    return place_names().get(code, code)


def query_with(**changes) -> str:
    """The current query string ("?a=1&b=2", or "") with some arguments changed (``None`` removes one);
    empty ones dropped."""

    args = {k: v for k, v in request.args.items() if v != ""}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return "?" + urlencode(args) if args else ""


def url_with(**changes) -> str:
    """The current URL with some query arguments changed (see ``query_with``)."""
    return request.path + query_with(**changes)


def register_ui(app: Flask, *, label_tables: dict[str, dict[str, str]],
                place_names_of: Callable[[str], dict[str, str]]) -> None:
    """Filters, template globals and security headers. The areas supply their label tables and the
    place names of a county (this module knows no table)."""
    register_filters(app, label_tables)
    app.extensions["assetreg_place_names"] = place_names_of
    app.jinja_env.globals.update(nav_items=nav_items, place_name=place_name, url_with=url_with,
                                  has_page=has_page)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.after_request
    def _security_headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if resp.mimetype == "text/html":
            resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.is_secure:
            resp.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if wants_html() and resp.mimetype == "text/html":
            resp.headers.setdefault("Cache-Control", "no-store")  # pages hold personal data
        return resp

