#!/usr/bin/env bash
# Install what is needed (first run only) and start the app on http://127.0.0.1:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
exec .venv/bin/streamlit run app.py "$@"
