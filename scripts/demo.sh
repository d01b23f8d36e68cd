#!/usr/bin/env bash
# Set up a virtualenv, migrate the embedded SQLite database (instance/assetreg.db), load the demo
# county and serve the app on http://127.0.0.1:5000 . DATABASE_URL points it elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ needed" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/flask --app wsgi db upgrade
.venv/bin/flask --app wsgi demo
exec .venv/bin/flask --app wsgi run --host 127.0.0.1 --port "${PORT:-5000}"
