#!/usr/bin/env bash
# Prints the vindex section of docs/BENCHMARKS.md (Markdown) to stdout:
# search latency at 100 k and 1 M descriptors beside FAISS IndexFlatL2 on one
# thread, the same queries, in the same run. Usage: bench/vindex/run.sh BUILD_DIR
# Takes about a minute; exits non-zero if vindex and an exact search disagree.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BIN=$BUILD/bench/vindex/bench_vindex
[ -x "$BIN" ] || { echo "run.sh: $BIN not built" >&2; exit 1; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
isa=AVX2
case "$flags" in *avx512bw*) isa="AVX-512 (BW) and AVX2" ;; esac
command="$BIN --sizes 100000,1000000 --queries 500"

echo "## Vector index (vindex): exact search over 128-d descriptors"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC') on $cpu, $(nproc) cores ($isa), $(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)."
echo "Command: \`bench/vindex/run.sh $BUILD\` (runs \`$command\`)."
echo "Single thread; k=10 unless noted; clustered face-like data (10 exemplars per person,"
echo "half the queries known people, half strangers). Wall-clock percentiles include moments"
echo "when another process held the core; the CPU-time column leaves those out."
echo
status=0
$command || status=$?
if grep -q avx512bw /proc/cpuinfo; then
  echo "Same run of vindex with the AVX2 kernel forced (\`FOOTFALL_VINDEX_KERNEL=avx2\`), as on a CPU without AVX-512:"
  echo
  FOOTFALL_VINDEX_KERNEL=avx2 "$BIN" --sizes 1000000 --queries 300 --no-faiss --no-alternatives | grep -v '^$' || status=$?
  echo
fi
exit $status
