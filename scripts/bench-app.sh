#!/usr/bin/env bash
# Browser benchmark of the app: headless Chromium opens a probability-view URL with the mirror
# adding 30 ms to every request, for all 31 GEFS members and all 51 ECMWF members, and the
# wall time until the finished map is printed (Chromium start-up included). Then the wasm
# decode time per 0.25° message, next to `cargo bench -p gik-core --bench decode` natively.
# Then bytes per map (scripts/bench_app_network.py): four views with a cold cache, at loopback
# speed and at 10 Mbit/s + 30 ms (`gik-mirror --bandwidth-mbps 10 --latency-ms 30`), with the
# share of the messages' bytes read (prefix reads) and the longest main-thread task. Then the
# decode pool: the ECMWF 2 m temperature view (51 real-size CCSDS messages) at loopback with
# 0 (main thread), 1 and 2 decode workers.
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
bench_init 18790
# GIK_BENCH_BIN_DIR: a folder holding release `gik` and `gik-mirror` already built (skips
# building them); GIK_BENCH_SKIP_WASM_DECODE=1 skips the wasm decode timing at the end.
bin="${GIK_BENCH_BIN_DIR:-$CARGO_TARGET_DIR/release}"
if [ -z "${GIK_BENCH_BIN_DIR:-}" ]; then
  cargo build --release --locked -q -p gik-builder -p gik-tests --bin gik --bin gik-mirror
fi
scripts/build-app.sh >/dev/null
cp -r dist/. "$site/"
start_mirror 30
write_config
gik="$bin/gik"
"$gik" build -q --product gefs --date 20250801 --run 00 --steps 0-48 --vars "APCP:surface,TMP:2 m above ground" --source "$base/noaa-gefs-pds" --out "$site" >/dev/null
"$gik" build -q --product ecmwf --date 20250801 --run 00 --steps 0-48 --vars tp,2t --source "$base/ecmwf-forecasts" --out "$site" >/dev/null

# Virtual time does not wait for Web Workers or the Cache API: this first part decodes on the
# main thread and keeps nothing (workers=0&store=0); the bytes-per-map part runs in real time.
for product in gefs ecmwf; do
  url="$base/?product=$product&view=prob&threshold=10&step=24&workers=0&store=0"
  profile="$(mktemp -d)"
  start=$(date +%s.%N)
  dom=$(chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --disable-background-networking --disable-component-update --disable-sync --no-first-run \
    --user-data-dir="$profile" --virtual-time-budget=120000 --dump-dom "$url" 2>/dev/null)
  end=$(date +%s.%N)
  rm -rf "$profile"
  summary=$(grep -o 'class="progress done">.*</strong>' <<<"$dom" | sed 's/<[^>]*>//g; s/class="progress done">//')
  printf 'app %s probability map, 30 ms latency: %.1f s wall (%s)\n' "$product" "$(echo "$end - $start" | bc)" "${summary:-NOT FINISHED}"
done
stop_mirror

# Bytes per map: each view with a cold browser cache, at loopback speed and on a shared
# 10 Mbit/s line with 30 ms latency (the mirror paces all its bodies through one clock).
echo
echo "bytes per map (cold cache; data = catalog, config, manifests and GRIB2 messages):"
start_driver
bytes_per_map \
  "GEFS probability|-|?product=gefs&view=prob&threshold=10&step=24" \
  "ECMWF probability|-|?product=ecmwf&view=prob&threshold=10&step=24" \
  "ECMWF mean 2 m temperature|-|?product=ecmwf&view=mean&var=2t&step=24" \
  "ECMWF postage stamps|-|?product=ecmwf&view=stamps&threshold=10&step=24"
echo

# Decode pool: the same view with 0 (main thread), 1 and 2 workers, at loopback speed (bytes
# are free there, so the time after the first member is mostly decoding).
echo "decode workers (ECMWF mean 2 m temperature, loopback, cold cache):"
start_mirror 0
printf '%-8s %9s %9s %11s %11s\n' workers first_s finish_s decode_s longest_ms
for workers in 0 1 2; do
  for round in 1 2; do
    json=$("$GIK_VENV/bin/python" scripts/bench_app_network.py --chromedriver-port "$((port + 1))" \
      --bandwidth-mbps 0 "$base/?product=ecmwf&view=mean&var=2t&step=24&workers=$workers" || true)
    "$GIK_VENV/bin/python" - "$workers" "$json" <<'PY'
import json, sys
workers, raw = sys.argv[1], sys.argv[2]
r = json.loads(raw) if raw.strip() else {}
first, done = r.get("first_member_s"), r.get("finished_s")
phase = "-" if first is None or done is None else f"{done - first:.2f}"
f = lambda v: "-" if v is None else f"{v:.2f}"
print(f"{workers:<8} {f(first):>9} {f(done):>9} {phase:>11} {r.get('longest_task_loading_ms', 0):11.0f}")
PY
  done
done
stop_mirror
echo

[ "${GIK_BENCH_SKIP_WASM_DECODE:-0}" = 1 ] && exit 0
cargo test --release --locked -p gik-core --target wasm32-unknown-unknown --test wasm_bench -- --nocapture 2>&1 | grep "wasm decode"
