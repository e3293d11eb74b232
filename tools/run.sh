#!/usr/bin/env bash
# `make run`: starts Footfall on this machine with the embedded defaults
# (SQLite and a picture folder under data/run). Ctrl-C stops it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
DATA=${FOOTFALL_DATA_DIR:-$ROOT/data/run}
mkdir -p "$DATA"
cd "$ROOT"
echo "Footfall: data in $DATA (delete it to start afresh)"
exec "$BUILD/footfall" server --data-dir "$DATA" --models-dir "$ROOT/data/models" \
  --web-dir "$ROOT/web/dist" --port "${FOOTFALL_PORT:-8080}" --listen "${FOOTFALL_LISTEN:-127.0.0.1}"
