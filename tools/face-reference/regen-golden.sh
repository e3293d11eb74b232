#!/usr/bin/env bash
# Regenerates the face-api golden outputs in tests/golden/face/ from the pixels
# that the C decoder produces:
#   1. BUILD_DIR/footfall face decode IMAGE TMP/<stem>.ppm   for each image
#   2. node golden.mjs on those PPMs (face-api 1.7.15, tfjs-backend-wasm)
#
# usage: tools/face-reference/regen-golden.sh BUILD_DIR [IMAGE...]
#   IMAGE defaults to data/samples/sample*.jpg.
#   Env: FOOTFALL_DATA (default <repo>/data; models in $FOOTFALL_DATA/models),
#        GOLDEN_OUT (default <repo>/tests/golden/face).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA=${FOOTFALL_DATA:-$ROOT/data}
OUT=${GOLDEN_OUT:-$ROOT/tests/golden/face}

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [IMAGE...]" >&2
  exit 2
fi
BUILD=$1
shift
FOOTFALL=$BUILD/footfall
[ -x "$FOOTFALL" ] || { echo "regen-golden: $FOOTFALL not found or not executable (build it first)" >&2; exit 1; }
[ -f "$DATA/models/ssd_mobilenetv1_model-weights_manifest.json" ] ||
  { echo "regen-golden: no models in $DATA/models (run tools/bootstrap.sh)" >&2; exit 1; }
if [ ! -d "$HERE/node_modules/@vladmandic/face-api" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ $# -eq 0 ]; then
  set -- "$DATA"/samples/sample*.jpg
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for img in "$@"; do
  name=$(basename "$img")
  case $name in
    ?*.?*) ;;
    *) echo "regen-golden: $img: need a file name with an extension" >&2; exit 2 ;;
  esac
  stem=${name%.*}
  "$FOOTFALL" face decode "$img" "$TMP/$stem.ppm"
  # golden.mjs names the JSON after the PPM and records the source file name.
  printf '%s\t%s\n' "$stem" "$name" >>"$TMP/names"
done

# The "image" field is <stem> + the source extension; images with other
# extensions than .jpg get their own golden.mjs call.
mkdir -p "$OUT"
for ext in $(cut -f2 "$TMP/names" | sed -n 's/.*\.//p' | sort -u); do
  files=()
  while IFS=$'\t' read -r stem name; do
    [ "${name##*.}" = "$ext" ] && files+=("$TMP/$stem.ppm")
  done <"$TMP/names"
  node "$HERE/golden.mjs" --models "$DATA/models" --out "$OUT" --image-name "{stem}.$ext" "${files[@]}"
done
echo "regen-golden: wrote $(wc -l <"$TMP/names") golden file(s) to ${OUT#$ROOT/}" >&2
