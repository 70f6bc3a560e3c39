#!/usr/bin/env bash
# Start or stop the noida-db Elasticsearch-API EMULATOR on loopback, for the integration tests.
# It is NOT Elasticsearch: it answers the REST API the official client speaks (mapping, bulk,
# multi_match, knn, named queries) from one small binary shipped in the `noida-db` PyPI package.
# Passing tests against it show our requests are well-formed, not that a real cluster agrees.
#
#   es_env=$(scripts/es-emulator.sh start) && eval "$es_env"   # export RAGSEARCH_ES_URL=http://127.0.0.1:PORT
#   scripts/es-emulator.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_PY="${VENV_PYTHON:-.venv/bin/python}"
STATE="${ES_EMULATOR_DIR:-.es-emulator}"
PY="${PYTHON:-python3}"

case "${1:-start}" in
start)
  # The server binary itself (the `noida-db` console script is a wrapper whose child outlives a kill).
  if ! BIN=$("$VENV_PY" -c 'from importlib.resources import files; print(files("noida_db") / "noida-db")'); then
    echo "es-emulator: noida-db is not installed in $VENV_PY's environment; run 'make setup'" >&2
    exit 1
  fi
  chmod +x "$BIN"
  rm -rf "$STATE" && mkdir -p "$STATE"
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  nohup "$BIN" start --data-dir "$STATE/data" --host 127.0.0.1 --only elasticsearch \
    --elasticsearch-port "$port" >"$STATE/log" 2>&1 &
  echo $! >"$STATE/pid"
  url="http://127.0.0.1:$port"
  if ! "$PY" - "$url" <<'PYEOF'; then
import sys, time, urllib.request
for _ in range(150):
    try:
        urllib.request.urlopen(sys.argv[1] + "/_cluster/health", timeout=1).read()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PYEOF
    echo "es-emulator: no answer from $url after 30 s; its log:" >&2
    cat "$STATE/log" >&2
    exit 1
  fi
  echo "export RAGSEARCH_ES_URL=$url"
  ;;
stop)
  # Wait for the server to exit before deleting its data directory: it may still be flushing
  # files, and `rm -rf` racing those writes fails with "Directory not empty".
  if [ -f "$STATE/pid" ]; then
    pid=$(cat "$STATE/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  # Cleanup must not turn a green test run red.
  rm -rf "$STATE" 2>/dev/null || { sleep 1; rm -rf "$STATE"; } || echo "es-emulator: could not remove $STATE" >&2
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
