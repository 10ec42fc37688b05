#!/usr/bin/env bash
# Benchmark of `gik build` against the local mirror with S3-like latency: a full GEFS run
# (31 members × 81 steps) and a full ECMWF ENS run (51 members × 85 steps), release build.
#
#   scripts/bench-build.sh                      # 30 ms per request, 64 requests in flight
#   LATENCY_MS=50 CONCURRENCY=128 scripts/bench-build.sh
#
# For each product it prints the requests gik made, the wall time of the whole command, and
# two lower bounds of that time:
#   - throughput bound = requests × latency ÷ concurrency (every request waits `latency`, at
#     most `concurrency` at once);
#   - round-trip bound = the round trips that must follow one another (index files, then one
#     wave of grid headers) × latency.
# The ratio is wall time ÷ the larger bound: 1.0 would be a build that only ever waits on the
# network at full concurrency.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

latency_ms="${LATENCY_MS:-30}"
concurrency="${CONCURRENCY:-64}"
date="${GIK_DATE:-20250801}"
run="${GIK_RUN:-00}"

cargo build --release --locked -q -p gik-builder -p gik-tests --bin gik --bin gik-mirror
gik="$CARGO_TARGET_DIR/release/gik"
mirror_bin="$CARGO_TARGET_DIR/release/gik-mirror"

work=$(mktemp -d)
mirror_pid=""
cleanup() {
  if [ -n "$mirror_pid" ]; then kill "$mirror_pid" 2>/dev/null || true; wait "$mirror_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$mirror_bin" --port 0 --latency-ms "$latency_ms" --date "$date" --run "$run" \
  >"$work/mirror.out" 2>"$work/mirror.err" &
mirror_pid=$!
for _ in $(seq 100); do
  [ -s "$work/mirror.out" ] && break
  kill -0 "$mirror_pid" 2>/dev/null || { cat "$work/mirror.err" >&2; exit 1; }
  sleep 0.1
done
base=$(head -n1 "$work/mirror.out")
[ -n "$base" ] || { echo "bench-build: the mirror did not start" >&2; exit 1; }

echo "gik build against $base: ${latency_ms} ms per request, concurrency $concurrency, run $date ${run}z"
printf '%-6s %9s %9s %11s %11s %7s\n' product requests wall_s thru_bound_s rtt_bound_s ratio
status=0
for product in gefs ecmwf; do
  case $product in
    gefs) bucket=noaa-gefs-pds; round_trips=2 ;;   # index + HEAD together, then grid headers
    ecmwf) bucket=ecmwf-forecasts; round_trips=2 ;; # index, then grid headers
  esac
  start=$(date +%s.%N)
  if ! "$gik" build --quiet --product "$product" --date "$date" --run "$run" \
      --source "$base/$bucket" --out "$work/out" --concurrency "$concurrency" >"$work/$product.out" 2>&1; then
    cat "$work/$product.out" >&2
    status=1
    continue
  fi
  end=$(date +%s.%N)
  requests=$(grep -o '[0-9]* requests' "$work/$product.out" | head -n1 | cut -d' ' -f1)
  awk -v p="$product" -v n="$requests" -v s="$start" -v e="$end" -v l="$latency_ms" \
      -v c="$concurrency" -v r="$round_trips" 'BEGIN {
    wall = e - s; thru = n * l / 1000 / c; rtt = r * l / 1000;
    bound = thru > rtt ? thru : rtt;
    printf "%-6s %9d %9.2f %11.2f %11.2f %7.2f\n", p, n, wall, thru, rtt, wall / bound }'
  sed 's/^/    /' "$work/$product.out" | head -n 3
done
exit $status
