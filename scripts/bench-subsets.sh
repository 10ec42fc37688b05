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
cd "$(dirname "$0")/.."
source scripts/env.sh
port="${GIK_BENCH_PORT:-18890}"
base="http://127.0.0.1:$port"
site="$(mktemp -d)"
cargo build --release --locked -q -p gik-builder -p gik-tests --bin gik --bin gik-mirror
[ -f dist/index.html ] || scripts/build-app.sh >/dev/null
cp -r dist/. "$site/"
mirror_bin="$CARGO_TARGET_DIR/release/gik-mirror"
"$mirror_bin" --port "$port" --static "$site" --date 20250801 --run 00 >/dev/null 2>&1 &
mirror=$!
trap 'kill $mirror 2>/dev/null || true; rm -rf "$site"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "$base/index.html" && break; sleep 0.2; done
printf '{"catalog": "catalog.json", "mirror": "%s", "allowed_hosts": ["%s"]}\n' "$base" "$base" > "$site/config.json"
start=$(date +%s.%N)
"$CARGO_TARGET_DIR/release/gik" build -q --product ecmwf --date 20250801 --run 00 --steps 0-48 \
  --vars tp,2t --source "$base/ecmwf-forecasts" --out "$site" --subset east-africa | grep -E "subset|members written"
end=$(date +%s.%N)
printf 'build with subset: %.1f s wall\n' "$(echo "$end - $start" | bc)"
printf 'subset on disk: %s bytes of GRIB2, %s bytes of manifests (51 members)\n' \
  "$(find "$site/subsets" -name '*.grib2' -printf '%s\n' | paste -sd+ | bc)" \
  "$(find "$site/subsets" -name '*.parquet' -printf '%s\n' | paste -sd+ | bc)"
kill $mirror 2>/dev/null || true
wait $mirror 2>/dev/null || true

chromedriver --port="$((port + 1))" >/dev/null 2>&1 &
driver=$!
trap 'kill $mirror $driver 2>/dev/null || true; rm -rf "$site"' EXIT
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$((port + 1))/status" && break; sleep 0.2; done
inside="bbox=-12,23,21,53"
outside="bbox=-12.25,23,21,53"
views=(
  "ECMWF probability|subset|?product=ecmwf&view=prob&threshold=10&step=24&$inside"
  "ECMWF probability|bucket|?product=ecmwf&view=prob&threshold=10&step=24&$outside"
  "ECMWF mean 2 m temperature|subset|?product=ecmwf&view=mean&var=2t&step=24&$inside"
  "ECMWF mean 2 m temperature|bucket|?product=ecmwf&view=mean&var=2t&step=24&$outside"
)
printf '%-28s %-7s %-16s %9s %9s %8s %9s %9s\n' view source line data_MB requests first_s finish_s floor_s
for line in "10 Mbit/s + 30 ms|10|30" "loopback|0|0"; do
  IFS='|' read -r label mbps latency <<<"$line"
  bw=()
  [ "$mbps" != 0 ] && bw=(--bandwidth-mbps "$mbps")
  "$mirror_bin" --port "$port" --static "$site" --date 20250801 --run 00 \
    --latency-ms "$latency" "${bw[@]}" >/dev/null 2>&1 &
  mirror=$!
  for _ in $(seq 50); do curl -sf -o /dev/null "$base/index.html" && break; sleep 0.2; done
  for view in "${views[@]}"; do
    IFS='|' read -r name source query <<<"$view"
    json=$("$GIK_VENV/bin/python" scripts/bench_app_network.py --chromedriver-port "$((port + 1))" \
      --bandwidth-mbps "$mbps" "$base/$query" || true)
    "$GIK_VENV/bin/python" - "$name" "$source" "$label" "$json" <<'PY'
import json, sys
name, source, label, raw = sys.argv[1:5]
r = json.loads(raw) if raw.strip() else {}
f = lambda v: "-" if v is None else f"{v:.2f}"
said = r.get("status") or ""
wrong = ("subset" in said) != (source == "subset") if said else False
print(f"{name:<28} {source:<7} {label:<16} {r.get('data_bytes', 0) / 1e6:9.2f} "
      f"{r.get('data_requests', 0):9d} {f(r.get('first_member_s')):>8} {f(r.get('finished_s')):>9} "
      f"{f(r.get('floor_s')):>9}"
      + ("" if r.get("finished_s") is not None else f"   NOT FINISHED: {said}")
      + ("   WRONG SOURCE: " + said if wrong else ""))
PY
  done
  kill $mirror 2>/dev/null || true
  wait $mirror 2>/dev/null || true
done
