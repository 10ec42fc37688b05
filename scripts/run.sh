#!/usr/bin/env bash
# The main job on one machine: set up, build the web app, then
# - when the public sources answer (checked in a few seconds): check them with `gik doctor`,
#   build the newest complete GEFS and ECMWF runs from the sources that passed, and serve the
#   app reading the real buckets (ordered by the doctor's report: sources a browser can read
#   first);
# - otherwise (or with GIK_OFFLINE=1): say so in one line, start the local mirror of both
#   buckets (real GRIB2 fixture messages in the real path layout), build from it and serve
#   app + catalog + manifests + mirror on 127.0.0.1.
#
#   scripts/run.sh                 # then open http://127.0.0.1:8080/
#   GIK_OFFLINE=1 scripts/run.sh   # never try the internet: the local mirror
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

# Whether a public source answers anything at all (any HTTP status) within 5 s.
reachable() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 3 --max-time 5 -I "$1/" || true)
  [ -n "$code" ] && [ "$code" != 000 ]
}

online=0
if [ "${GIK_OFFLINE:-0}" = 1 ]; then
  echo "[run] GIK_OFFLINE=1: using the local fixture mirror"
elif reachable https://noaa-gefs-pds.s3.amazonaws.com && reachable https://storage.googleapis.com; then
  online=1
else
  echo "[run] the public buckets are not reachable from here: using the local fixture mirror (GIK_OFFLINE=1 skips this check)"
fi

echo "[run] building gik, the mirror and the app (release)"
cargo build --release --locked -p gik-builder -p gik-tests --bin gik --bin gik-mirror
scripts/build-app.sh
rm -rf "$site"
mkdir -p "$site"
cp -r dist/. "$site/"

echo "[run] starting the server on $base (serving $site at /)"
"$CARGO_TARGET_DIR/release/gik-mirror" --port "$port" --static "$site" --date "$date" --run "$run" &
mirror=$!
trap 'kill $mirror 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 50); do curl -sf -o /dev/null "$base/index.html" && break; sleep 0.2; done

gik="$CARGO_TARGET_DIR/release/gik"
if [ "$online" = 1 ]; then
  echo "[run] checking the public sources (gik doctor)"
  "$gik" doctor --json "$site/doctor.json" \
    || echo "[run] gik doctor: a product has no source a browser can read (see the table)"
  built=0
  for product in gefs ecmwf; do
    if "$gik" build --product "$product" --latest --doctor "$site/doctor.json" --out "$site"; then
      built=1
    else
      echo "[run] $product: the build from the public sources failed (see above)"
    fi
  done
  if [ "$built" = 1 ]; then
    # The app's defaults list every public source of each product (and allow their hosts);
    # doctor.json orders them.
    cat > "$site/config.json" <<JSON
{
  "catalog": "catalog.json",
  "doctor": "doctor.json"
}
JSON
  else
    echo "[run] nothing could be built from the public sources: using the local fixture mirror"
    online=0
  fi
fi

if [ "$online" = 0 ]; then
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
  "$gik" build --product gefs --date "$date" --run "$run" --source "$base/noaa-gefs-pds" --out "$site"
  "$gik" build --product ecmwf --date "$date" --run "$run" --source "$base/ecmwf-forecasts" --out "$site"
fi

echo
echo "[run] open $base/  (probability of >10 mm in 24 h: $base/?product=gefs&view=probability&threshold=10)"
echo "[run] Ctrl-C to stop"
wait "$mirror"
