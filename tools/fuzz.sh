#!/usr/bin/env bash
# `make fuzz`: runs every libFuzzer target of a FOOTFALL_FUZZ build for a
# bounded time each (default 60 s; `make fuzz FUZZ_SECONDS=600` for longer).
# Corpora live in build-fuzz/corpus/<target>; crashes are kept there too.
set -euo pipefail
BUILD=$(cd "${1:?usage: fuzz.sh BUILD_DIR [SECONDS]}" && pwd)
SECONDS_EACH=${2:-60}
targets=$(find "$BUILD" -maxdepth 3 -type f -name 'fuzz_*' -perm -u+x | sort)
[ -n "$targets" ] || { echo "fuzz: no targets in $BUILD" >&2; exit 1; }
failed=0
for t in $targets; do
  name=$(basename "$t")
  corpus=$BUILD/corpus/$name
  mkdir -p "$corpus"
  echo "fuzz: $name for ${SECONDS_EACH}s" >&2
  if ! "$t" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -artifact_prefix="$corpus/" \
      "$corpus" >"$BUILD/$name.log" 2>&1; then
    echo "fuzz: $name found a failure; see $BUILD/$name.log and $corpus/" >&2
    failed=1
  fi
done
exit $failed
