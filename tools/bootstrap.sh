#!/usr/bin/env bash
# Installs what `make run` / `make test` need on a fresh Debian 12 machine:
# Debian packages, npm packages for the test tools, and the face models.
# Idempotent: a second run checks and does nothing, without the network.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${FOOTFALL_DATA:-$ROOT/data}

# Build and runtime libraries, test services and tools. Keep this list in
# step with CMakeLists.txt and docs/ARCHITECTURE.md.
PACKAGES=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libulfius-dev libmicrohttpd-dev libjansson-dev libsodium-dev librhonabwy-dev libgnutls28-dev
  libsqlite3-dev libpq-dev postgresql
  libcriterion-dev
  libturbojpeg0-dev libspng-dev libopenblas-serial-dev libfaiss-dev
  libcurl4-gnutls-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavdevice-dev ffmpeg
  libgstrtspserver-1.0-dev gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  curl ca-certificates openssl tzdata rsync wrk nginx-light
  chromium
)

FACE_API_VERSION=1.7.15
FACE_API_INTEGRITY='sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw=='

say() { printf 'bootstrap: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # Node.js may come from elsewhere (NodeSource); take Debian's only when absent.
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -eq 0 ]; then
    say "Debian packages present"
    return
  fi
  say "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

install_npm() {
  # Node tools, each folder with its own lockfile: the test services and
  # browser driver (tests/), the face-api reference harness (tools/face-reference/).
  local dir
  for dir in "$ROOT/tests" "$ROOT/tools/face-reference" "$ROOT/web"; do
    [ -f "$dir/package-lock.json" ] || continue
    if [ -f "$dir/node_modules/.package-lock.json" ] &&
       [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
      continue
    fi
    say "installing npm packages in ${dir#$ROOT/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  done
}

fetch_models() {
  local models=$DATA/models samples=$DATA/samples stamp=$DATA/models/.face-api-$FACE_API_VERSION
  if [ -f "$stamp" ]; then
    say "face models present in $models"
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  say "fetching @vladmandic/face-api@$FACE_API_VERSION"
  (cd "$tmp" && npm pack "@vladmandic/face-api@$FACE_API_VERSION" --silent >/dev/null)
  local tgz=$tmp/vladmandic-face-api-$FACE_API_VERSION.tgz
  local got
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$FACE_API_INTEGRITY" ]; then
    say "integrity mismatch for face-api tarball: got $got" >&2
    exit 1
  fi
  mkdir -p "$models" "$samples"
  tar -xzf "$tgz" -C "$tmp" package/model package/demo package/LICENSE
  # The expression model is not used; everything else is.
  cp "$tmp"/package/model/*.json "$tmp"/package/model/*.bin "$models"/
  rm -f "$models"/face_expression_model*
  cp "$tmp"/package/demo/sample*.jpg "$samples"/
  cp "$tmp"/package/LICENSE "$models"/LICENSE.face-api
  touch "$stamp"
  say "models in $models, sample photos in $samples"
}

case "${1:-all}" in
  packages) install_packages ;;
  npm) install_npm ;;
  models) fetch_models ;;
  all) install_packages; install_npm; fetch_models ;;
  *) echo "usage: $0 [packages|npm|models|all]" >&2; exit 2 ;;
esac
