#!/usr/bin/env bash
# Browser benchmark of the app: headless Chromium opens a probability-view URL with the mirror
# adding 30 ms to every request, for all 31 GEFS members and all 51 ECMWF members, and the
# wall time until the finished map is printed (Chromium start-up included). Then the wasm
# decode time per 0.25° message, next to `cargo bench -p gik-core --bench decode` natively.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
port="${GIK_BENCH_PORT:-18790}"
base="http://127.0.0.1:$port"
site="$(mktemp -d)"
cargo build --release --locked -q -p gik-builder -p gik-tests --bin gik --bin gik-mirror
scripts/build-app.sh >/dev/null
cp -r dist/. "$site/"
"$CARGO_TARGET_DIR/release/gik-mirror" --port "$port" --static "$site" --date 20250801 --run 00 --latency-ms 30 >/dev/null 2>&1 &
mirror=$!
trap 'kill $mirror 2>/dev/null || true; rm -rf "$site"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "$base/index.html" && break; sleep 0.2; done
printf '{"catalog": "catalog.json", "mirror": "%s", "allowed_hosts": ["%s"]}\n' "$base" "$base" > "$site/config.json"
gik="$CARGO_TARGET_DIR/release/gik"
"$gik" build -q --product gefs --date 20250801 --run 00 --steps 0-48 --vars APCP:surface --source "$base/noaa-gefs-pds" --out "$site" >/dev/null
"$gik" build -q --product ecmwf --date 20250801 --run 00 --steps 0-48 --vars tp --source "$base/ecmwf-forecasts" --out "$site" >/dev/null

for product in gefs ecmwf; do
  url="$base/?product=$product&view=prob&threshold=10&step=24"
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

cargo test --release --locked -p gik-core --target wasm32-unknown-unknown --test wasm_bench -- --nocapture 2>&1 | grep "wasm decode"
