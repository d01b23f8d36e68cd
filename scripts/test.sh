#!/usr/bin/env bash
# Set up a virtualenv with the dev requirements and run the whole test suite.
# DATABASE_URL picks the database (SQLite in a temp dir when unset). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ needed" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt

# The browser tests (tests/browser) drive Debian's chromium with Playwright (never a downloaded browser).
# Install chromium and the CJK fonts when missing and we may (root with apt); otherwise those tests skip.
if ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and fonts-noto-cjk for the browser tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; } \
      >/dev/null 2>&1 || echo "chromium could not be installed: the browser tests will be skipped" >&2
  else
    echo "chromium missing and not root: the browser tests will be skipped" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
