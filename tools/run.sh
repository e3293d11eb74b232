#!/usr/bin/env bash
# `make run`: the whole product on this machine — `footfall demo` runs the
# server and a worker reading the demo camera (made here once, from the
# sample photos that came with the models), sets them up and prints where
# to sign in. Data in data/demo (delete it to start afresh). Ctrl-C stops it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
DATA=${FOOTFALL_DATA_DIR:-$ROOT/data/demo}
CAMERA=$ROOT/data/demo-camera
cd "$ROOT"
if [ ! -f "$CAMERA/demo.json" ]; then
  echo "Footfall: making the demo camera (once, about half a minute)..."
  node tools/demo-video.mjs --footfall "$BUILD/footfall" --samples data/samples \
    --models data/models --out "$CAMERA"
fi
echo "Footfall: data in $DATA (delete it to start afresh)"
exec "$BUILD/footfall" demo --data-dir "$DATA" --models-dir "$ROOT/data/models" \
  --web-dir "$ROOT/web/dist" --demo-camera-dir "$CAMERA" \
  --port "${FOOTFALL_PORT:-8080}" --listen "${FOOTFALL_LISTEN:-127.0.0.1}"
