#!/usr/bin/env bash
# Worker capacity: how many 720p H.264 25-fps cameras one worker on this
# machine analyses at 5 fps each with fewer than 1 % of the sampled frames
# skipped, for each detector; the latency from a face's last frame to its
# event in the outbox; resident memory with 4 cameras. The cameras are the
# demo video (faces from face-api's sample photos walking past a door),
# looping, motion gate off (every sample analysed, as in a busy entrance).
# The anchor is the same worker with one camera. Prints a Markdown section.
set -euo pipefail
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WARMUP=${BENCH_WORKER_WARMUP:-10}
MEASURE=${BENCH_WORKER_SECONDS:-30}
SSD_COUNTS=${BENCH_WORKER_SSD:-"1 2 3 4 5 6"}
TINY_COUNTS=${BENCH_WORKER_TINY:-"1 4 6 8 10 12 14 16"}
TMP=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

node "$ROOT/tools/demo-video.mjs" --footfall "$BUILD/footfall" --samples "$ROOT/data/samples" \
  --models "$ROOT/data/models" --out "$TMP/camera" >/dev/null
VIDEO=$TMP/camera/demo.mp4

# status PORT SECRET -> "processed skipped p95_ms"
status() {
  curl -sf -H "Authorization: Bearer $2" "http://127.0.0.1:$1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(sum(c["processed"] for c in s["cameras"]), sum(c["skipped"] for c in s["cameras"]),
      s["outbox"]["latency_ms"]["p95"])'
}

# run DETECTOR N -> "skipped_percent p95_ms rss_mb"
run() {
  local detector=$1 n=$2 port state cams=()
  port=$(free_port)
  state=$TMP/state-$detector-$n
  for i in $(seq "$n"); do cams+=(--camera "id=$i,kind=file,url=$VIDEO,loop=1"); done
  "$BUILD/footfall" worker --state-dir "$state" --device-lock-dir "$state/locks" --endpoint-port "$port" \
    --models-dir "$ROOT/data/models" --detector "$detector" --motion-gate 0 --log-level warn \
    "${cams[@]}" >"$TMP/worker.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do [ -s "$state/endpoint.secret" ] && break; sleep 0.1; done
  local secret
  secret=$(cat "$state/endpoint.secret")
  sleep "$WARMUP"
  read -r p0 s0 _ <<<"$(status "$port" "$secret")"
  sleep "$MEASURE"
  read -r p1 s1 p95 <<<"$(status "$port" "$secret")"
  local rss
  rss=$(awk '/VmRSS/ {print int($2/1024)}' /proc/$PID/status)
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  python3 -c "d=($p1-$p0)+($s1-$s0); print(round(100*($s1-$s0)/d, 2) if d else 100, $p95, $rss)"
}

LOAD0=$(cut -d' ' -f1 /proc/loadavg)
ROWS=""
declare -A BEST RSS4 P95BEST
for detector in ssd tiny; do
  counts=$SSD_COUNTS; [ "$detector" = tiny ] && counts=$TINY_COUNTS
  BEST[$detector]=0
  for n in $counts; do
    read -r skipped p95 rss <<<"$(run "$detector" "$n")"
    ROWS+="| $detector | $n | $skipped % | $p95 | $rss MB |"$'\n'
    [ "$n" = 4 ] && RSS4[$detector]=$rss
    if python3 -c "import sys; sys.exit(0 if $skipped < 1 else 1)"; then
      BEST[$detector]=$n; P95BEST[$detector]=$p95
    elif [ "$n" != 1 ]; then
      break
    fi
  done
done

LOAD1=$(cut -d' ' -f1 /proc/loadavg)
cat <<MD
## Worker: cameras per machine

\`make bench\` (\`bench/worker/run.sh\`), $(date -u +%Y-%m-%d), $(nproc) cores. One \`footfall worker\`
(inference threads: one per core) reading N copies of the demo camera (1280×720 H.264, 25 fps, faces
walking past a door, looping) and analysing 5 frames per second of each, motion gate off; no server
(events stay in the outbox). ${WARMUP} s warm-up, then ${MEASURE} s measured from the worker's own
counters: a sample is *skipped* when it came due while every inference thread was busy. Latency: from
a face's last analysed frame to its event in the outbox (p95 of the latest passes; a track ends
1.5 s after its face was last seen). Anchor: the same worker with one camera. Targets: ≥ 12 cameras
with Tiny and ≥ 3 with SSD under 1 % skipped; ≤ 200 MB with 4 cameras.

| detector | cameras | samples skipped | event latency p95 (ms) | resident memory |
|---|---|---|---|---|
$ROWS
Capacity under 1 % skipped: **SSD ${BEST[ssd]} cameras, Tiny ${BEST[tiny]} cameras**
(latency p95 at that load: SSD ${P95BEST[ssd]:-—} ms, Tiny ${P95BEST[tiny]:-—} ms).
Memory with 4 cameras: SSD ${RSS4[ssd]:-—} MB, Tiny ${RSS4[tiny]:-—} MB.
Load average (1 min) at the start and end of the run: ${LOAD0} and ${LOAD1} on $(nproc) cores: the
skipped column and the capacity depend on what else the machine runs; memory does not.
MD
