#!/usr/bin/env bash
# Install what is needed (first run only), lint, and run the test suite; arguments go to pytest
# (scripts/test.sh -m "not slow": the quick check; CI runs it with none: everything).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
