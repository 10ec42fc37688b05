# Shared environment for gik's scripts (sourced, not run).
# Build products and tool caches live outside the clone so that CI on a fresh clone reuses them.
export GIK_CACHE="${GIK_CACHE:-$HOME/.cache/gik}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$GIK_CACHE/target}"
export GIK_VENV="${GIK_VENV:-$GIK_CACHE/venv}"
export PATH="$HOME/.cargo/bin:$PATH"
# wasm tests run in headless Chromium through chromedriver (see webdriver.json).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-120}"
# Real GRIB2 fixtures (see ../shared/fixtures/SOURCES.md).
if [ -z "${GIK_FIXTURES:-}" ]; then
  for d in "$(pwd)/../shared/fixtures" /work/shared/fixtures; do
    if [ -f "$d/SOURCES.md" ]; then export GIK_FIXTURES="$(cd "$d" && pwd)"; break; fi
  done
fi
