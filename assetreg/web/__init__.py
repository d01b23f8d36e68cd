"""The HTTP edge every area's pages and API use: the Api object and its JSON error shape (``api``),
who is calling (``auth``), one error handler for JSON and HTML (``errors``), forms through the schemas
(``forms``), template filters (``filters``) and the shared layout (``ui``, ``templates/base.html``,
``templates/macros.html``, ``static/``). It knows no area: areas plug into it."""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
