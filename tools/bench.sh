#!/usr/bin/env bash
# `make bench`: runs every benchmark section (bench/*/run.sh BUILD_DIR, each
# printing Markdown) and writes them, in one file, to docs/BENCHMARKS.md.
# Figures are ratios against an anchor measured in the same run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
OUT=$ROOT/docs/BENCHMARKS.md
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores"
  echo "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')). Every figure is"
  echo "measured in this run, next to the anchor it is compared with. Benchmarks are not"
  echo "tests: they report, the test suite asserts correctness."
  echo
} >"$TMP"
status=0
for section in http face vindex ingest store worker fleet reports; do
  script=$ROOT/bench/$section/run.sh
  [ -x "$script" ] || continue
  echo "bench: $section" >&2
  if ! "$script" "$BUILD" >>"$TMP"; then
    echo "bench: $section failed" >&2
    printf '\n## %s\n\nThe benchmark failed in this run; see the output of `make bench`.\n\n' "$section" >>"$TMP"
    status=1
  fi
  echo >>"$TMP"
done
cp "$TMP" "$OUT"
echo "bench: wrote $OUT" >&2
exit $status
