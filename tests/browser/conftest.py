"""Browser tests: the app served by a real HTTP server in a thread (on the test database), driven by
Playwright with Debian's chromium (``/usr/bin/chromium``, headless; Playwright's own browsers are never
downloaded). Skipped, with the reason, when Playwright or chromium is missing."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = ["--lang=zh-CN", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
VIEWPORT = {"width": 1366, "height": 768}


@pytest.fixture(scope="session")
def live_server(app):
    """``http://127.0.0.1:<free port>`` serving the test app until the session ends."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -r requirements-dev.txt)")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as exc:  # noqa: BLE001 — a browser that cannot start is a skip, with its reason
            pytest.skip(f"chromium at {CHROMIUM} could not start: {exc}")
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context (own cookies) at 1366×768 in Chinese; ``page.shot(name)`` saves a screenshot."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=live_server)
    context.set_default_timeout(10_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def shot(name: str, full_page: bool = False) -> Path:
        path = ARTIFACTS / f"{name}.png"
        pg.screenshot(path=str(path), full_page=full_page)
        return path

    pg.shot = shot
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(page, username: str, password: str = "secret-pass-1") -> None:
    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
