#!/usr/bin/env bash
# The RQ worker that runs export jobs (flask export-worker, assetreg/exports/cli.py), for deployments with
# REDIS_URL set; run one or more beside scripts/serve.sh, with the same settings (docs/DEPLOY.md).
# Without REDIS_URL the exports run in a thread of the web process and no worker is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${REDIS_URL:?REDIS_URL is not set: exports run inside the web process, no worker is needed}"
exec .venv/bin/flask --app wsgi export-worker "$@"
