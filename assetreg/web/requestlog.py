"""The request at the door: where it comes from (``PROXY_FIX_X_FOR`` reverse proxies trusted), its id (a
sane incoming ``X-Request-ID`` or a new one, sent back in the response), and one log line when it is
answered: id, method, path without its query string (which may carry names or ID numbers), status,
duration and the signed-in user's id and username (never a name, ID, card or mobile number)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import quote

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger("assetreg.request")

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy or client may give as the id: short, printable, nothing a log reader would split on.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Left readable in the logged path; anything else (spaces, line breaks, non-ASCII) is percent-encoded,
# so a path can never forge a field or a line.
_PATH_SAFE = "/-._~!$&'()*+,;=:@"
_MAX_PATH = 300


def _begin() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _who() -> tuple[int | None, str | None]:
    """The user flask-login loaded for this request, if anything asked (a session or a token); asking
    here would cost a query on requests that never needed one (static files, /healthz)."""
    user = g.get("_login_user")
    if user is None or not user.is_authenticated:
        return None, None
    return user.id, user.username


def _answered(resp):
    rid = g.get("request_id") or uuid.uuid4().hex
    resp.headers[REQUEST_ID_HEADER] = rid
    started = g.get("request_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else 0.0
    path = quote(request.path, safe=_PATH_SAFE)[:_MAX_PATH]
    method = quote(request.method, safe="")[:16]
    user_id, username = _who()
    log.info("request_id=%s method=%s path=%s status=%d duration_ms=%.1f user_id=%s username=%s",
             rid, method, path, resp.status_code, duration_ms, "-" if user_id is None else user_id,
             username or "-",
             extra={"request_id": rid, "method": method, "path": path, "status": resp.status_code,
                    "duration_ms": duration_ms, "user_id": user_id, "username": username})
    return resp


def register_request_log(app: Flask) -> None:
    """Trust ``PROXY_FIX_X_FOR`` proxies' ``X-Forwarded-For`` (0: none, the peer is the client), and log
    every request. The id is set before any other ``before_request`` runs (a redirect to the login
    page still has one)."""
    hops = int(app.config.get("PROXY_FIX_X_FOR") or 0)
    if hops < 0:
        raise RuntimeError(f"PROXY_FIX_X_FOR must be 0 or more, got {hops}")
    if hops:
        # The client address counted by the login lock-out and rate limit: the one the nearest of the
        # trusted proxies saw, not the proxy's own.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_answered)
