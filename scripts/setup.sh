#!/usr/bin/env bash
# Create .venv and install the pinned requirements (idempotent: re-runs only when requirements change).
set -euo pipefail
cd "$(dirname "$0")/.."
want="${1:-requirements.txt}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3
stamp=".venv/.installed-$(basename "$want" .txt)-$(cat requirements*.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    # A venv left half-made by an interrupted run has no working pip: start it again.
    .venv/bin/python -m pip --version >/dev/null 2>&1 || "$python" -m venv --clear .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch first and pinned: resolving it through sentence-transformers would pull the CUDA build.
    .venv/bin/python -m pip install --quiet "torch==2.13.0"
    .venv/bin/python -m pip install --quiet -r "$want"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
