#!/usr/bin/env bash
# The main job on one machine, offline: set up, start the local mirror of both buckets (real
# GRIB2 fixture messages in the real path layout), build GEFS and ECMWF manifests from it,
# build the web app, and serve app + catalog + manifests + mirror on 127.0.0.1.
#
#   scripts/run.sh                 # then open http://127.0.0.1:8080/
#   GIK_PORT=9000 scripts/run.sh   # another port
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/env.sh

port="${GIK_PORT:-8080}"
base="http://127.0.0.1:$port"
date="${GIK_DATE:-20250801}"
run="${GIK_RUN:-00}"
site="$GIK_CACHE/site"

echo "[run] building gik, the mirror and the app (release)"
cargo build --release --locked -p gik-builder -p gik-tests --bin gik --bin gik-mirror
scripts/build-app.sh
rm -rf "$site"
mkdir -p "$site"
cp -r dist/. "$site/"

echo "[run] starting the mirror on $base (serving $site at /)"
"$CARGO_TARGET_DIR/release/gik-mirror" --port "$port" --static "$site" --date "$date" --run "$run" &
mirror=$!
trap 'kill $mirror 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 50); do curl -sf -o /dev/null "$base/index.html" && break; sleep 0.2; done

cat > "$site/config.json" <<JSON
{
  "catalog": "catalog.json",
  "mirror": "$base",
  "allowed_hosts": [
    "https://noaa-gefs-pds.s3.amazonaws.com",
    "https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com",
    "$base"
  ]
}
JSON

gik="$CARGO_TARGET_DIR/release/gik"
"$gik" build --product gefs --date "$date" --run "$run" --source "$base/noaa-gefs-pds" --out "$site"
"$gik" build --product ecmwf --date "$date" --run "$run" --source "$base/ecmwf-forecasts" --out "$site"

echo
echo "[run] open $base/  (probability of >10 mm in 24 h: $base/?product=gefs&view=probability&threshold=10)"
echo "[run] Ctrl-C to stop"
wait "$mirror"
