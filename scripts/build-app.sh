#!/usr/bin/env bash
# Builds the browser app (app/ + index.html + static/) into dist/ with Trunk, offline, and
# reports the size of the wasm. dist/ is a static site: serve it at / next to catalog.json and
# the manifests (config.json in dist/ says where they are and which hosts may be read).
#
#   scripts/build-app.sh            release build (default)
#   scripts/build-app.sh --debug    debug build (faster to compile, much bigger)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

mode=(--release)
if [ "${1:-}" = "--debug" ]; then mode=(); fi

command -v trunk >/dev/null || { echo "build-app: trunk not found; run scripts/setup.sh" >&2; exit 1; }
trunk build "${mode[@]}" --offline
echo "build-app: dist/ ready"
ls -l dist/*.wasm
for f in dist/*.wasm; do
  printf 'build-app: %s is %s bytes, %s bytes gzipped\n' "$f" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)"
done
