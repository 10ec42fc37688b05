#!/usr/bin/env bash
# Bytes and time per map from the East Africa subset against the bucket (issue 9 §3).
#
# Builds the synthetic ECMWF run (all 51 members, 0–48 h, tp and 2t) with `--subset
# east-africa` (the log line says what the subset read and wrote), then opens each view twice
# in Chromium with a cold cache through scripts/bench_app_network.py: once over the East Africa
# box (served from the subset) and once over a box 0.25° wider to the south (the subset does
# not hold it: served from the bucket mirror), at 10 Mbit/s + 30 ms and at loopback speed.
#
# The synthetic mirror's precipitation messages are small regional ones (25–40 KB), so the
# probability rows understate what the bucket costs with real data; the 2 m temperature rows
# use real-size global CCSDS messages. The sizes of real cropped messages are in
# BENCHMARKS.md ("Subsets", from `cargo test -p gik-core encode -- --nocapture`).
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
bench_init 18890
bin="$CARGO_TARGET_DIR/release"
cargo build --release --locked -q -p gik-builder -p gik-tests --bin gik --bin gik-mirror
[ -f dist/index.html ] || scripts/build-app.sh >/dev/null
cp -r dist/. "$site/"
start_mirror 0
write_config
start=$(date +%s.%N)
"$bin/gik" build -q --product ecmwf --date 20250801 --run 00 --steps 0-48 \
  --vars tp,2t --source "$base/ecmwf-forecasts" --out "$site" --subset east-africa | grep -E "subset|members written"
end=$(date +%s.%N)
printf 'build with subset: %.1f s wall\n' "$(echo "$end - $start" | bc)"
printf 'subset on disk: %s bytes of GRIB2, %s bytes of manifests (51 members)\n' \
  "$(find "$site/subsets" -name '*.grib2' -printf '%s\n' | paste -sd+ | bc)" \
  "$(find "$site/subsets" -name '*.parquet' -printf '%s\n' | paste -sd+ | bc)"
stop_mirror

start_driver
inside="bbox=-12,23,21,53"
outside="bbox=-12.25,23,21,53"
bytes_per_map \
  "ECMWF probability|subset|?product=ecmwf&view=prob&threshold=10&step=24&$inside" \
  "ECMWF probability|bucket|?product=ecmwf&view=prob&threshold=10&step=24&$outside" \
  "ECMWF mean 2 m temperature|subset|?product=ecmwf&view=mean&var=2t&step=24&$inside" \
  "ECMWF mean 2 m temperature|bucket|?product=ecmwf&view=mean&var=2t&step=24&$outside"
