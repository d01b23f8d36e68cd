"""Helpers for the page tests: a browser-like client logged in by the login form."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

PASSWORD = "secret-pass-1"  # tests/factories.py gives every world user this password


class PageClient(FlaskClient):
    """A browser-like test client: cookies kept, and each request in its own app context (own ``g``,
    own DB session) as in production, not the test's (where ``g`` would carry the logged-in user over)."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


def client(app) -> PageClient:
    return PageClient(app, app.response_class, use_cookies=True)


def login(app, username: str, password: str = PASSWORD, *, follow: bool = False, address: str | None = None):
    """A fresh client (its own cookie jar) after posting the login form; ``.last`` is the response.
    ``address``: the client's IP address (REMOTE_ADDR) for this and every later request of the client."""
    client = PageClient(app, app.response_class, use_cookies=True)
    if address:
        client.environ_base["REMOTE_ADDR"] = address
    r = client.post("/login", data={"username": username, "password": password}, follow_redirects=follow)
    client.last = r
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def csrf_token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)
