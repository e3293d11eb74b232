#!/usr/bin/env bash
# Reports benchmark: BENCH_REPORTS_VISITS visits (default 10 million) over two
# years for 50 sites in eight zones, generated straight into the database with
# bulk SQL (generate.sql.in), rolled up by `footfall admin rollups-check
# --repair yes` (the same code the rollup job runs), then each report's latency
# over ranges drawn inside the two years, on SQLite and on PostgreSQL (the
# test fixture's throwaway server). Anchor, same run and same ranges: a plain
# COUNT(*) of the tenant's visits in the range straight in the database.
# Also the CSV export's peak RSS over growing ranges. Prints a Markdown section.
set -euo pipefail
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VISITS=${BENCH_REPORTS_VISITS:-10000000}
BACKENDS=${BENCH_REPORTS_BACKENDS:-"sqlite postgres"}
ROUNDS=${BENCH_REPORTS_ROUNDS:-40}
SITES=50
CUSTOMERS=$((VISITS / 5))
PASSES=$((VISITS / 50))
FIRST_DAY=2024-12-01
DAYS=730
T0=$(date -u -d "$FIRST_DAY" +%s)000
SPAN=$((DAYS * 86400000))
TMP=$(mktemp -d)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  [ -f "$TMP/pg/url" ] && "$ROOT/tests/fixtures/postgres.sh" stop "$TMP/pg" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
now() { date +%s.%N; }
F="$BUILD/footfall"

CASES='[
 {"name":"summary, 30 days","report":"summary","days":30},
 {"name":"summary, 365 days","report":"summary","days":365},
 {"name":"series by day, 30 days","report":"series","days":30,"query":{"granularity":"day"}},
 {"name":"series by hour, 7 days","report":"series","days":7,"query":{"granularity":"hour"}},
 {"name":"series by month, 365 days","report":"series","days":365,"query":{"granularity":"month"}},
 {"name":"heat map, 90 days","report":"heatmap","days":90},
 {"name":"gender and age, 365 days","report":"demographics","days":365},
 {"name":"new vs returning, 30 days","report":"new-returning","days":30},
 {"name":"per-site comparison, 30 days","report":"sites","days":30}
]'

generate_sql() { # BACKEND
  local sites customers visits passes
  if [ "$1" = sqlite ]; then
    series() { echo "(WITH RECURSIVE s(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM s WHERE i < $2) SELECT i FROM s) g"; }
  else
    series() { echo "generate_series(CAST($1 AS BIGINT), $2) AS g(i)"; }
  fi
  sed -e "s/@SERIES_SITES@/$(series 1 $SITES)/" -e "s/@SERIES_CUSTOMERS@/$(series 1 $CUSTOMERS)/" \
      -e "s/@SERIES_VISITS@/$(series 0 $((VISITS - 1)))/" -e "s/@SERIES_PASSES@/$(series 0 $((PASSES - 1)))/" \
      -e "s/@SITES@/$SITES/g" -e "s/@CUSTOMERS@/$CUSTOMERS/g" -e "s/@VISITS@/$VISITS/g" \
      -e "s/@PASSES@/$PASSES/g" -e "s/@T0@/$T0/g" -e "s/@SPAN@/$SPAN/g" "$HERE/generate.sql.in"
}

# bench_offsets: each zone's UTC offset over the two years (zone = site id % 8,
# as in generate.sql.in), from Python's zoneinfo at every quarter hour.
offsets_sql() {
  python3 - "$T0" "$SPAN" <<'PY'
import sys, datetime, zoneinfo
t0, span = int(sys.argv[1]), int(sys.argv[2])
zones = ['Europe/Berlin', 'America/New_York', 'Asia/Ho_Chi_Minh', 'Europe/London', 'America/Los_Angeles',
         'Australia/Sydney', 'Asia/Kolkata', 'America/Sao_Paulo']
print('CREATE TABLE bench_offsets (zone INTEGER, from_ms BIGINT, to_ms BIGINT, off_ms BIGINT);')
q, a, b = 900000, t0 - 2 * 86400000, t0 + span + 2 * 86400000
off = lambda z, ms: int(datetime.datetime.fromtimestamp(ms / 1000, z).utcoffset().total_seconds() * 1000)
for k, name in enumerate(zones):
    z = zoneinfo.ZoneInfo(name)
    start, cur = a, off(z, a)
    for ms in range(a + q, b + q, q):
        o = off(z, ms) if ms < b else None
        if o != cur:
            print(f'INSERT INTO bench_offsets VALUES ({k}, {start}, {ms}, {cur});')
            start, cur = ms, o
PY
}

# The anchor: COUNT(*) of the tenant's visits over each range, timed by the client.
anchor_ms() { # BACKEND DBARG RANGES_JSON -> p95 ms
  python3 - "$@" <<'PY'
import json, subprocess, sys, re, datetime
backend, db, ranges = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
def ms(d, plus=0):
    t = datetime.datetime.strptime(d, '%Y-%m-%d').replace(tzinfo=datetime.timezone.utc) + datetime.timedelta(days=plus)
    return int(t.timestamp() * 1000)
qs = [f"SELECT COUNT(*) FROM visits WHERE tenant_id = 1 AND first_seen_at >= {ms(a)} AND first_seen_at < {ms(b, 1)};" for a, b in ranges]
qs = qs[:1] + qs  # one warm-up
if backend == 'sqlite':
    import sqlite3, time
    con = sqlite3.connect(db)
    times = []
    for q in qs:
        t = time.perf_counter()
        con.execute(q).fetchall()
        times.append((time.perf_counter() - t) * 1000)
else:
    out = subprocess.run(['psql', db, '-At'], input='\\timing on\n' + '\n'.join(qs), capture_output=True, text=True, check=True).stdout
    times = [float(x) for x in re.findall(r'Time: ([0-9.]+) ms', out)]
times = sorted(times[1:])
print(round(times[min(len(times) - 1, -(-95 * len(times) // 100) - 1)], 2))
PY
}

SECTIONS=""
for BACKEND in $BACKENDS; do
  DATA=$TMP/data-$BACKEND
  mkdir -p "$DATA"
  if [ "$BACKEND" = sqlite ]; then
    URL="sqlite:$DATA/footfall.db"
    DBARG="$DATA/footfall.db"
  else
    "$ROOT/tests/fixtures/postgres.sh" start "$TMP/pg" >/dev/null
    URL=$(cat "$TMP/pg/url")
    DBARG=$URL
  fi
  ARGS=(--data-dir "$DATA" --database-url "$URL")
  "$F" admin create-tenant --name Bench "${ARGS[@]}" >/dev/null
  "$F" admin create-user --username bench-admin --password bench-password-1 --role tenant_admin --tenant-id 1 "${ARGS[@]}" >/dev/null
  T1=$(now)
  # Bulk load settings for the generation only (the server runs with its own):
  # a large page cache for the index inserts; foreign-key triggers off on
  # PostgreSQL (the rows are consistent by construction).
  if [ "$BACKEND" = sqlite ]; then
    { echo "PRAGMA cache_size = -400000; PRAGMA synchronous = OFF;"; offsets_sql; generate_sql sqlite; } | sqlite3 "$DBARG" >/dev/null
  else
    { echo "SET session_replication_role = replica; SET maintenance_work_mem = '512MB';"; offsets_sql; generate_sql postgres; } | psql -q "$DBARG" >/dev/null
    psql -q "$DBARG" -c "VACUUM ANALYZE" >/dev/null
  fi
  T2=$(now)
  "$F" admin rollups-check --tenant-id 1 --from "${FIRST_DAY}T00:00:00Z" --to "$(date -u -d "$FIRST_DAY + $DAYS days" +%F)T00:00:00Z" --repair yes "${ARGS[@]}" >"$TMP/repair.json"
  T3=$(now)
  [ "$BACKEND" = postgres ] && psql -q "$DBARG" -c "VACUUM ANALYZE" >/dev/null
  PORT=$(free_port)
  # Background jobs off: the rollup job would otherwise check the last 35 days
  # (what the repair above just did) while the reports are timed.
  "$F" server "${ARGS[@]}" --port "$PORT" --jobs 0 --log-level warn --admin-password bench-password-1 >/dev/null 2>&1 &
  PID=$!
  wait_http "http://127.0.0.1:$PORT/healthz"
  TOKEN=$(curl -sf "http://127.0.0.1:$PORT/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"username":"bench-admin","password":"bench-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  node "$HERE/query.mjs" "http://127.0.0.1:$PORT" "$TOKEN" "$PID" "$FIRST_DAY" "$DAYS" "$ROUNDS" "$CASES" >"$TMP/out.json"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  ROWS=""
  for i in $(seq 0 8); do
    NAME=$(python3 -c "import json; print(json.load(open('$TMP/out.json'))['cases'][$i]['name'])")
    RANGES=$(python3 -c "import json; print(json.dumps(json.load(open('$TMP/out.json'))['ranges']['$NAME']))")
    ANCHOR=$(anchor_ms "$BACKEND" "$DBARG" "$RANGES")
    ROWS+=$(python3 -c "
import json; c = json.load(open('$TMP/out.json'))['cases'][$i]; a = $ANCHOR
ok = 'yes' if c['p95'] <= 200 else '**no**'
print(f\"| {c['name']} | {c['p50']:.1f} | {c['p95']:.1f} | {ok} | {a:.2f} | {c['p95'] / a:.1f}× |\")")$'\n'
  done
  CSV=$(python3 -c "
import json
for r in json.load(open('$TMP/out.json'))['csv']:
    print(f\"| {r['granularity']}, {r['days']} days | {r['bytes'] / 1024:.0f} KiB | {r['ms']:.0f} | {r['VmRSS']:.0f} MB | {r['VmHWM']:.0f} MB |\")")
  REPAIR=$(cat "$TMP/repair.json")
  SIZE=$([ "$BACKEND" = sqlite ] && du -m "$DATA/footfall.db" | cut -f1 || psql -At "$DBARG" -c "SELECT pg_database_size(current_database()) / 1048576")
  SECTIONS+="
### $BACKEND

Generated in $(python3 -c "print(round($T2 - $T1))") s (bulk SQL), rolled up in $(python3 -c "print(round($T3 - $T2))") s
by the rollup check's repair (\`$REPAIR\`); database ${SIZE} MB.

| report (50 sites, ranges inside the two years) | p50 (ms) | p95 (ms) | p95 ≤ 200 ms | anchor p95: COUNT(*) same ranges (ms) | p95 / anchor |
|---|---|---|---|---|---|
$ROWS
CSV export of the series (all 50 sites, streamed), server RSS after each export, in this order:

| export | size | time (ms) | RSS after | peak RSS (VmHWM) |
|---|---|---|---|---|
$CSV
"
  if [ "$BACKEND" = postgres ]; then "$ROOT/tests/fixtures/postgres.sh" stop "$TMP/pg" >/dev/null; fi
done

cat <<MD
## Reports (\`/v1/reports/...\`)

\`make bench\` (\`bench/reports/run.sh\`), $(date -u +%Y-%m-%d), $VISITS visits
(BENCH_REPORTS_VISITS; the default is 10 million) over two years from $FIRST_DAY for $SITES sites in
eight zones, $CUSTOMERS customers, $PASSES staff passes; $ROUNDS requests per report, one at a time, each
with a different range (local dates, all sites), after one warm-up request. Latency is measured by the
client (Node \`fetch\`, loopback) and includes the HTTP round trip; the anchor is the database
client's own timing of \`SELECT COUNT(*) FROM visits WHERE tenant_id = 1 AND first_seen_at\` in the
same ranges (Python's \`sqlite3\` module / \`psql \\timing\`). Target: p95 ≤ 200 ms. PostgreSQL is the test
fixture's throwaway server (fsync off), on the same two cores.
$SECTIONS
MD
