#!/usr/bin/env bash
# Face engine benchmark: the C engine (`footfall face bench`, one thread) and
# the reference, face-api 1.7.15 on tfjs-backend-wasm with SIMD (one thread,
# tools/face-reference/bench.mjs), on the same decoded pixels, in the same
# run. Prints a Markdown section to stdout; progress goes to stderr.
#
# usage: bench/face/run.sh BUILD_DIR
#   Env: FACE_BENCH_RUNS (C timed rounds, default 5), FACE_REF_RUNS (default 3),
#        FACE_REF_MAX_SECONDS (default 150), FOOTFALL_DATA (default <repo>/data).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
DATA=${FOOTFALL_DATA:-$ROOT/data}
FOOTFALL=$BUILD/footfall
REF=$ROOT/tools/face-reference
[ -x "$FOOTFALL" ] || { echo "face bench: $FOOTFALL not built" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
images=("$DATA"/samples/sample*.jpg)
[ -f "${images[0]}" ] || { echo "face bench: no sample images in $DATA/samples" >&2; exit 1; }

echo "face bench: C engine..." >&2
FOOTFALL_MODELS_DIR=$DATA/models "$FOOTFALL" face bench --json --runs "${FACE_BENCH_RUNS:-5}" \
  "${images[@]}" >"$TMP/c.json"

have_ref=0
if command -v node >/dev/null 2>&1 && [ -d "$REF/node_modules/@vladmandic/face-api" ]; then
  for img in "${images[@]}"; do
    stem=$(basename "$img" .jpg)
    "$FOOTFALL" face decode "$img" "$TMP/$stem.ppm"
  done
  echo "face bench: reference (face-api on tfjs-wasm)..." >&2
  if node "$REF/bench.mjs" --models "$DATA/models" --runs "${FACE_REF_RUNS:-3}" \
    --max-seconds "${FACE_REF_MAX_SECONDS:-150}" --quiet "$TMP"/*.ppm >"$TMP/ref.json"; then
    have_ref=1
  fi
fi

# Node renders the table (it is needed for the reference anyway); without
# it, the C figures are printed alone.
if ! command -v node >/dev/null 2>&1; then
  echo "## Face engine"
  echo
  echo "Node.js missing: raw C figures only."
  echo
  echo '```'
  cat "$TMP/c.json"
  echo '```'
  exit 0
fi

HAVE_REF=$have_ref C_JSON=$TMP/c.json REF_JSON=$TMP/ref.json node --input-type=module -e '
import { readFileSync } from "node:fs";
const c = JSON.parse(readFileSync(process.env.C_JSON, "utf8"));
const ref = process.env.HAVE_REF === "1" ? JSON.parse(readFileSync(process.env.REF_JSON, "utf8")) : null;
const rows = [
  ["SSD detection per image", "ssd_ms"],
  ["Tiny detection (416) per image", "tiny_ms"],
  ["landmarks (68) per face", "landmarks_ms"],
  ["landmarks (68 tiny) per face", "landmarks_tiny_ms"],
  ["descriptor per face", "descriptor_ms"],
  ["age/gender per face", "age_gender_ms"],
  ["full chain per image (SSD + all per-face nets)", "full_chain_ms"],
];
const f = (v, d = 2) => (typeof v === "number" ? v.toFixed(d) : "n/a");
const out = [];
out.push("## Face engine (src/face) vs face-api on tfjs-wasm");
out.push("");
out.push(`Command: \`bench/face/run.sh BUILD_DIR\`. Both sides on one thread, same ${c.images} images ` +
  `(data/samples, ${c.faces} SSD faces), the same decoded pixels; medians after warm-up ` +
  `(C: ${c.runs} timed rounds; reference: ${ref ? ref.runs : "-"} rounds). Target: each stage >= 4x.`);
out.push("");
out.push("| stage | C engine ms | reference ms | speed-up |");
out.push("|---|---:|---:|---:|");
for (const [name, key] of rows) {
  const r = ref ? ref[key] : undefined;
  out.push(`| ${name} | ${f(c[key])} | ${f(r)} | ${r ? f(r / c[key], 1) + "x" : "n/a"} |`);
}
out.push("");
out.push("| figure | value | target |");
out.push("|---|---:|---|");
out.push(`| FMA peak, one core, widest vector FMA (measured in this run) | ${f(c.fma_peak_gflops, 1)} GFLOP/s (AVX2 only: ${f(c.fma_peak_avx2_gflops, 1)}) | |`);
out.push(`| convolution kernels used | ${c.kernel_isa} | |`);
out.push(`| descriptor net achieved | ${f(c.descriptor_gflops, 1)} GFLOP/s = ${f(100 * c.descriptor_gflops / c.fma_peak_gflops, 0)} % of peak | >= 60 % |`);
out.push(`| SSD net achieved (incl. resize, decode, NMS) | ${f(c.ssd_gflops, 1)} GFLOP/s = ${f(100 * c.ssd_gflops / c.fma_peak_gflops, 0)} % of peak | |`);
out.push(`| memory the six models take (RSS growth while loading) | ${f(c.rss_loaded_mb - c.rss_start_mb, 1)} MB | <= 64 MB |`);
out.push(`| process RSS with the models loaded (the one \`footfall\` binary also maps the server, worker and FFmpeg libraries: ${f(c.rss_start_mb, 1)} MB before loading) | ${f(c.rss_loaded_mb, 1)} MB | |`);
out.push(`| RSS with the models and one inference session (its scratch) | ${f(c.rss_with_session_mb, 1)} MB | |`);
out.push(`| RSS after the runs (6 decoded photos + one session\x27s scratch) | ${f(c.rss_after_runs_mb, 1)} MB | |`);
out.push(`| one session\x27s scratch after the runs (SSD, Tiny and the per-face nets; activations planned by liveness, src/face/engine_internal.h) | ${f(c.session_scratch_mb, 1)} MB | |`);
out.push(`| model load time | ${f(c.load_ms, 0)} ms | |`);
if (!ref) out.push("", "Reference harness not available (tools/face-reference not installed): C figures only.");
console.log(out.join("\n"));
'
