#!/usr/bin/env bash
# Installs what is missing and runs the all-in-one demo (embedded Redis, worker, API, dashboard).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m service demo "$@"
