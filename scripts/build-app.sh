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
# Size over speed for the wasm only (wasm-opt is off): opt-level "s", fat LTO and one codegen
# unit make the release wasm about 1.7 MB instead of 2.4 MB, with no measurable loss in decode
# time. These variables reach only this cargo invocation (target wasm32), so the native
# release builds sharing $CARGO_TARGET_DIR keep the workspace profile.
if [ ${#mode[@]} -gt 0 ]; then
  export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-s}"
  export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-fat}"
  export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}"
fi
trunk build "${mode[@]}" --offline
echo "build-app: dist/ ready"
ls -l dist/*.wasm
for f in dist/*.wasm; do
  printf 'build-app: %s is %s bytes, %s bytes gzipped\n' "$f" "$(stat -c %s "$f")" "$(gzip -9 -c "$f" | wc -c)"
done
