#!/usr/bin/env bash
# Runs every test of gik on this machine, setting up whatever is missing first.
#
#   1. formatting and lints (cargo fmt --check, clippy -D warnings, native and wasm32)
#   2. native tests of every crate (unit, integration, end-to-end against the local mirror)
#   3. wasm tests of gik-core in headless Chromium (wasm-bindgen-test-runner + chromedriver),
#      and the Trunk-built app driven by headless Chromium against the local mirror
#   4. Python interop tests (pandas / fsspec / xarray / kerchunk open our manifests)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

step "format"
cargo fmt --all --check

# The `icechunk` feature (gik build --icechunk) is built and tested with everything else: one
# build of the workspace with it on (BENCHMARKS.md: "Cost of the icechunk cargo feature").
features=(--features gik-tests/icechunk)

step "clippy (native)"
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings

step "clippy (wasm32: gik-core)"
cargo clippy -p gik-core --target wasm32-unknown-unknown --lib --test wasm --test wasm_bench --locked -- -D warnings

step "clippy (wasm32: gik-app)"
cargo clippy -p gik-app --target wasm32-unknown-unknown --lib --bins --test web --locked -- -D warnings

step "build the web app (dist/, used by the browser end-to-end tests)"
scripts/build-app.sh

step "native tests (including the app end to end in headless Chromium)"
# The tests run the `gik` binary this build makes (not a second build of it by the tests).
export GIK_BIN="$CARGO_TARGET_DIR/debug/gik"
cargo test --workspace --locked "${features[@]}"

step "fuzz (FUZZING.md)" && "$CARGO_TARGET_DIR/debug/gik-fuzz"  # built by the native tests above; GIK_FUZZ_SECONDS per target

step "wasm tests in headless Chromium"
cargo test -p gik-core --target wasm32-unknown-unknown --test wasm --locked
cargo test -p gik-app --target wasm32-unknown-unknown --test web --locked

if [ -d tests/python ] && ls tests/python/test_*.py >/dev/null 2>&1; then
  step "Python interop tests"
  "$GIK_VENV/bin/python" -m pytest -q tests/python
fi

step "all tests passed"
