#!/usr/bin/env bash
# `gik build --icechunk` (cargo feature `icechunk`): clippy and the end-to-end test (two builds
# appending at once; Python opens the store offline and compares with ecCodes). Not part of
# scripts/test.sh: the feature's cold build costs ~27 CPU-minutes (BENCHMARKS.md), more than CI's
# budget leaves on a fresh machine. Run after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo clippy -p gik-builder -p gik-tests --features gik-tests/icechunk --all-targets --locked -- -D warnings
cargo test -p gik-tests --features icechunk --test icechunk --locked
