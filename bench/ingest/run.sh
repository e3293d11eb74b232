#!/usr/bin/env bash
# Ingestion benchmark: sustained POST /v1/worker/events (batches of 50, two
# concurrent uploaders, SQLite, both cores) against a gallery of 100 k
# customers and then 1 M; the target (1,000 events/s at 100 k) is absolute.
# Prints a Markdown section.
set -euo pipefail
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECONDS_PER_RUN=${BENCH_INGEST_SECONDS:-20}
SIZES=${BENCH_INGEST_SIZES:-"100000 1000000"}
TMP=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

CROP=$TMP/crop.jpg
ffmpeg -loglevel error -f lavfi -i "testsrc=size=112x112:duration=1" -frames:v 1 -q:v 4 "$CROP"

ROWS=""
for N in $SIZES; do
  DATA=$TMP/data-$N
  mkdir -p "$DATA"
  F="$BUILD/footfall"
  $F admin create-tenant --name Bench --data-dir "$DATA" >/dev/null
  $F admin create-site --tenant-id 1 --name Store --timezone Europe/Paris --data-dir "$DATA" >/dev/null
  KEY=$($F admin create-api-key --tenant-id 1 --site-id 1 --name bench --data-dir "$DATA" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  sqlite3 "$DATA/footfall.db" "INSERT INTO cameras (tenant_id, site_id, name, kind, source_sealed, source_masked, created_at, updated_at) VALUES (1, 1, 'door', 'file', 'x', '/x', 0, 0)"
  T0=$(date +%s.%N)
  python3 "$HERE/seed.py" "$DATA/footfall.db" 1 "$N" "$TMP/known.json"
  PORT=$(free_port)
  T1=$(date +%s.%N)
  "$F" server --data-dir "$DATA" --port "$PORT" --log-level warn --admin-password bench-password-1 \
    --models-dir "$ROOT/data/models" >/dev/null 2>&1 &
  PID=$!
  wait_http "http://127.0.0.1:$PORT/healthz"
  T2=$(date +%s.%N)
  RSS=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
  OUT=$(node "$HERE/load.mjs" "http://127.0.0.1:$PORT" "$KEY" 1 "$SECONDS_PER_RUN" 2 50 "$CROP" "$TMP/known.json")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  read -r EPS P50 P99 ERR OUTCOMES <<<"$(python3 -c "import json; d=json.loads('''$OUT'''); print(round(d['events_per_s']), round(d['p50_ms'],1), round(d['p99_ms'],1), d['errors'], json.dumps(d['outcomes']).replace(' ',''))")"
  LOAD=$(python3 -c "print(round($T2-$T1, 1))")
  ROWS+="| $N | $EPS | $P50 | $P99 | $ERR | $LOAD s | $((RSS / 1024)) MB | \`$OUTCOMES\` |"$'\n'
done

cat <<MD
## Event ingestion (\`POST /v1/worker/events\`)

\`make bench\` (\`bench/ingest/run.sh\`), $(date -u +%Y-%m-%d). SQLite, both cores shared by the server
and the load generator (Node, two concurrent uploaders, batches of 50 events with a JPEG crop,
${SECONDS_PER_RUN} s per row, loopback). Three events in four are near copies of a known customer
(so they match and extend visits), one in four is a stranger (a new customer). The gallery is seeded
directly into the database and loaded by the server at start-up. Target: ≥ 1,000 events/s at 100 k.

| gallery (customers) | events/s | batch p50 (ms) | batch p99 (ms) | failed batches | start-up (index load) | server RSS after load | outcomes |
|---|---|---|---|---|---|---|---|
$ROWS
MD
