#!/usr/bin/env bash
# HTTP benchmark: an authenticated `GET /v1/sites` (JWT check, user and
# tenant re-read, a site query, JSON) against a bare hello-world handler of
# the same HTTP library. Each server is pinned to CPU 0, the load generator
# (wrk, keep-alive, loopback) to CPU 1. Prints a Markdown section.
set -euo pipefail
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
SECONDS_PER_RUN=${BENCH_HTTP_SECONDS:-10}
CONNECTIONS=${BENCH_HTTP_CONNECTIONS:-8}
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }
# wrk prints "Requests/sec: N"; keep N and the latency percentiles.
measure() {
  local url=$1; shift
  taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$@" "$url" >"$TMP/wrk.txt"
  grep -q 'Non-2xx' "$TMP/wrk.txt" && { echo "non-2xx answers during the benchmark:" >&2; cat "$TMP/wrk.txt" >&2; exit 1; }
  awk '/Requests\/sec/ {print $2}' "$TMP/wrk.txt"
}
pct() { awk -v p="$1" '$1==p {print $2}' "$TMP/wrk.txt"; }

HELLO_PORT=$(free_port)
taskset -c 0 "$BUILD/bench_http_hello" "$HELLO_PORT" >/dev/null &
PIDS+=($!)
wait_http "http://127.0.0.1:$HELLO_PORT/"
HELLO_RPS=$(measure "http://127.0.0.1:$HELLO_PORT/v1/sites")
HELLO_P99=$(pct 99%)
kill "${PIDS[0]}"

PORT=$(free_port)
PASSWORD=bench-password-123
"$BUILD/footfall" admin create-tenant --name Bench --data-dir "$TMP" >/dev/null
for i in 1 2 3 4 5; do
  "$BUILD/footfall" admin create-site --tenant-id 1 --name "Store $i" --timezone Europe/Paris --data-dir "$TMP" >/dev/null
done
"$BUILD/footfall" admin create-user --username bench --password "$PASSWORD" --role tenant_admin \
  --tenant-id 1 --data-dir "$TMP" >/dev/null
taskset -c 0 "$BUILD/footfall" server --data-dir "$TMP" --port "$PORT" --log-level warn \
  --admin-password "$PASSWORD" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$PORT/healthz"
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
SITES=$(curl -sf "http://127.0.0.1:$PORT/v1/sites" -H "Authorization: Bearer $TOKEN" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
[ "$SITES" = 5 ] || { echo "expected 5 sites, got $SITES" >&2; exit 1; }
API_RPS=$(measure "http://127.0.0.1:$PORT/v1/sites" -H "Authorization: Bearer $TOKEN")
API_P99=$(pct 99%)

RATIO=$(python3 -c "print(f'{$API_RPS / $HELLO_RPS:.2f}')")
cat <<MD
## HTTP: authenticated \`GET /v1/sites\` against a bare ulfius handler

\`make bench\` (\`bench/http/run.sh\`), $(date -u +%Y-%m-%d), server pinned to CPU 0, wrk (1 thread, $CONNECTIONS keep-alive connections, ${SECONDS_PER_RUN} s) on CPU 1, loopback, SQLite.
The API request checks the JWT, re-reads the user's and tenant's active flags, lists 5 sites and encodes JSON.

| server | requests/s | p99 latency |
|---|---|---|
| bare ulfius hello-world (anchor) | $HELLO_RPS | $HELLO_P99 |
| Footfall \`GET /v1/sites\`, authenticated | $API_RPS | $API_P99 |
| **ratio (target ≥ 0.5)** | **$RATIO** | |

MD
