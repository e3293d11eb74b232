#!/usr/bin/env bash
# Fleet load: one server (SQLite, the default layout) with 200 simulated
# workers heartbeating, 100 Server-Sent Events clients and 500 face events/s
# for 60 s, on loopback. The anchor is the same heartbeats on the same server
# with nothing else running. Prints a Markdown section.
set -euo pipefail
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
WORKERS=${BENCH_FLEET_WORKERS:-200}
CLIENTS=${BENCH_FLEET_SSE:-100}
RATE=${BENCH_FLEET_EVENTS:-500}
SECONDS_RUN=${BENCH_FLEET_SECONDS:-60}
INTERVAL=${BENCH_FLEET_INTERVAL_MS:-2000}
TMP=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

PORT=$(free_port)
PASSWORD=bench-password-1
"$BUILD/footfall" server --data-dir "$TMP" --port "$PORT" --log-level warn --admin-password "$PASSWORD" \
  --web-dir "$TMP/none" >/dev/null 2>&1 &
PID=$!
wait_http "http://127.0.0.1:$PORT/healthz"
OUT=$(node "$HERE/load.mjs" "http://127.0.0.1:$PORT" "$PASSWORD" "$WORKERS" "$CLIENTS" "$RATE" "$SECONDS_RUN" "$INTERVAL")
RSS=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$PID/status)
HWM=$(awk '/VmHWM/ {print int($2/1024)}' /proc/$PID/status)
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
read -r A50 A99 ACOUNT H50 H99 HCOUNT HERR EPS E50 E99 EERR SSEM SSECUT SSEFAIL <<<"$(python3 -c "
import json; d=json.loads('''$OUT''')
a,h,e,s=d['anchor'],d['heartbeats'],d['events'],d['sse']
print(round(a['p50'],1), round(a['p99'],1), a['count'], round(h['p50'],1), round(h['p99'],1), h['count'], h['errors']+a['errors'],
      round(e['per_s']), round(e['p50'],1), round(e['p99'],1), e['errors'], s['messages'], s['cut'], s['failed'])")"
RATIO=$(python3 -c "print(round($H99/$A99, 2) if $A99 > 0 else 'n/a')")

cat <<MD
## Fleet: heartbeats, SSE clients and events together

\`make bench\` (\`bench/fleet/run.sh\`), $(date -u +%Y-%m-%d). One server on SQLite (the default
layout), both cores shared with the load generator (Node, one process). ${WORKERS} simulated workers
(50 sites of 10 tenants) heartbeat every ${INTERVAL} ms with a camera's figures, ${CLIENTS} Server-Sent
Events clients (viewers of the 10 tenants) read \`/v1/events\`, and face events arrive at ${RATE}/s
(batches of 25, a crop each) for ${SECONDS_RUN} s. Anchor: the same heartbeats for 10 s with nothing
else running. Target: no errors, heartbeat p99 ≤ 100 ms.

| | heartbeats | p50 (ms) | p99 (ms) | p99 vs anchor | errors |
|---|---|---|---|---|---|
| anchor (heartbeats only) | $ACOUNT | $A50 | $A99 | 1 | — |
| under load | $HCOUNT | $H50 | $H99 | ${RATIO}× | $HERR |

| events/s delivered | batch p50 (ms) | batch p99 (ms) | failed batches | SSE messages received | SSE clients cut off / refused | server RSS at the end (peak) |
|---|---|---|---|---|---|---|
| $EPS | $E50 | $E99 | $EERR | $SSEM | $SSECUT / $SSEFAIL | $RSS MB ($HWM MB) |
MD
