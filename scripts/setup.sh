#!/usr/bin/env bash
# Installs everything a fresh Debian machine lacks to build, run and test gik, and nothing that
# is already there (a second run takes seconds). Network: only crates.io, PyPI, npm and Debian.
#
#   - Debian: chromium + chromedriver (browser tests), libnetcdf/hdf5 (gik stream), clang, pkg-config
#   - Rust: the wasm32-unknown-unknown target, wasm-bindgen-cli at exactly the version Cargo.lock
#     resolves for wasm-bindgen, trunk 0.21.14 (never lets Trunk download anything)
#   - Python: a virtualenv (Python >= 3.12, for zarr 3) with the test-only interop packages
#
# Everything cached lives outside the clone (~/.cargo/bin, $GIK_CACHE) so CI reuses it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
apt_packages=(chromium chromium-driver libnetcdf-dev libhdf5-dev pkg-config clang)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Rust targets and tools --------------------------------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup: adding wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
wb_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -n "$wb_version" ]; then
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$wb_version" ]; then
    log "cargo: installing wasm-bindgen-cli $wb_version (was: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$wb_version" --force
  fi
fi

trunk_version=0.21.14
if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$trunk_version" ]; then
  log "cargo: installing trunk $trunk_version"
  cargo install trunk --version "$trunk_version" --locked --force
fi

# --- Python test virtualenv ----------------------------------------------------------------------
requirements=scripts/requirements-test.txt
stamp="$GIK_VENV/.requirements.sha"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$GIK_VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py=""
  for candidate in "$HOME"/.pyenv/versions/3.13*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3 python3.13 python3.12 python3; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then py="$candidate"; break; fi
  done
  [ -n "$py" ] || { echo "setup: need Python >= 3.12 for the interop tests (zarr 3)" >&2; exit 1; }
  log "python: creating $GIK_VENV with $py"
  rm -rf "$GIK_VENV"
  "$py" -m venv "$GIK_VENV"
  "$GIK_VENV/bin/pip" install -q --upgrade pip
  "$GIK_VENV/bin/pip" install -q -r "$requirements"
  echo "$want" > "$stamp"
fi

log "ready: $(rustc --version), wasm-bindgen $(wasm-bindgen --version | awk '{print $2}'), trunk $(trunk --version | awk '{print $2}'), $("$GIK_VENV/bin/python" --version)"
