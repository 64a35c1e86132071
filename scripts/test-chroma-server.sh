#!/usr/bin/env bash
# Run the store and pipeline tests against a Chroma server (the one in the chromadb package),
# as a team deployment would use it: CHROMA_HOST/CHROMA_PORT switch the store to chromadb.HttpClient.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
dir=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/chroma run --path "$dir/chroma" --host 127.0.0.1 --port "$port" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
# Python, not curl: a fresh machine may have no curl.
up() { .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "http://127.0.0.1:$port/api/v2/heartbeat" >/dev/null 2>&1; }
for _ in $(seq 1 60); do
    up && break
    kill -0 $server 2>/dev/null || { cat "$dir/server.log"; exit 1; }
    sleep 0.5
done
up || { echo "Chroma server did not start"; cat "$dir/server.log"; exit 1; }
echo "Chroma server up on 127.0.0.1:$port"
CHROMA_HOST=127.0.0.1 CHROMA_PORT=$port .venv/bin/python -m pytest "$@" \
    tests/test_library.py tests/retrieve/test_search.py tests/test_concurrency.py tests/ingest/test_crash.py tests/cli/test_cli.py \
    tests/ingest/test_adversarial.py
