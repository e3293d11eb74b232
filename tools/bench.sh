#!/usr/bin/env bash
# `make bench`: runs every benchmark section (bench/*/run.sh BUILD_DIR, each
# printing Markdown) and writes them, in one file, to docs/BENCHMARKS.md.
# Figures are ratios against an anchor measured in the same run.
#
# BENCH_SECTIONS="worker fleet" make bench runs only those sections and
# replaces just their part of docs/BENCHMARKS.md (each section sits between
# <!-- bench:NAME --> and <!-- /bench:NAME -->), keeping the others as
# they were measured; each section says when it ran.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$ROOT/build}" && pwd)
OUT=$ROOT/docs/BENCHMARKS.md
ALL="http face vindex ingest store worker fleet reports"
SECTIONS=${BENCH_SECTIONS:-$ALL}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

status=0
for section in $SECTIONS; do
  script=$ROOT/bench/$section/run.sh
  [ -x "$script" ] || { echo "bench: no section '$section'" >&2; continue; }
  echo "bench: $section" >&2
  {
    echo "<!-- bench:$section -->"
    if ! "$script" "$BUILD"; then
      echo "bench: $section failed" >&2
      printf '\n## %s\n\nThe benchmark failed in this run; see the output of `make bench`.\n\n' "$section"
      status=1
    fi
    echo "<!-- /bench:$section -->"
  } >"$TMP/$section.md"
done

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` ($(nproc) cores,"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')); each section says when it"
  echo "ran and how. Every figure is measured in that run, next to the anchor it is compared with."
  echo "Benchmarks are not tests: they report, the test suite asserts correctness. Re-run one section"
  echo "with \`BENCH_SECTIONS=name make bench\` (sections: $ALL)."
  echo
} >"$TMP/head.md"

# Each section from this run, or else as it stood in the previous file.
node - "$OUT" "$TMP" "$ALL" >"$TMP/out.md" <<'EOF'
const fs = require('fs');
const [out, tmp, all] = process.argv.slice(2);
const old = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '';
let text = fs.readFileSync(`${tmp}/head.md`, 'utf8');
for (const name of all.split(' ')) {
  const fresh = `${tmp}/${name}.md`;
  if (fs.existsSync(fresh)) { text += fs.readFileSync(fresh, 'utf8') + '\n'; continue; }
  const m = old.match(new RegExp(`<!-- bench:${name} -->[\\s\\S]*?<!-- /bench:${name} -->\\n`));
  if (m) text += m[0] + '\n';
}
process.stdout.write(text.replace(/\n{3,}/g, '\n\n'));
EOF
cp "$TMP/out.md" "$OUT"
echo "bench: wrote $OUT" >&2
exit $status
