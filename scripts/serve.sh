#!/usr/bin/env bash
# Production: set up (or refresh) the virtualenv, run the migrations, then serve the app with gunicorn
# (gunicorn.conf.py: workers from the cores or WEB_CONCURRENCY, BIND, timeouts, logging). Never the
# development server. Every setting is in docs/DEPLOY.md; the export worker is scripts/worker.sh.
#   DATABASE_URL            the database the app uses (SQLite in instance/ when unset)
#   MIGRATION_DATABASE_URL  the migrations run as this one instead (PostgreSQL: the schema owner's role)
#   SERVE_SKIP_INSTALL=1    use the virtualenv as it is (an image built beforehand, read-only)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SERVE_SKIP_INSTALL:-}" != 1 ]; then
  PY=${PYTHON:-python3}
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ needed" >&2; exit 1; }
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
fi
if [ -n "${MIGRATION_DATABASE_URL:-}" ]; then
  DATABASE_URL="$MIGRATION_DATABASE_URL" .venv/bin/flask --app wsgi db upgrade
else
  .venv/bin/flask --app wsgi db upgrade
fi
exec .venv/bin/gunicorn --config gunicorn.conf.py wsgi:app
