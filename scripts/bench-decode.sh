#!/usr/bin/env bash
# Decoding speed, gik against ecCodes, on the same messages in one run: every CCSDS (5.42)
# message of the shared fixtures and the 0.25° complex-packing (5.3) ones.
#
#   scripts/bench-decode.sh [FILE...]        (default: the fixture list below)
#
# gik: `cargo bench -p gik-core --bench decode_compare` (release, native), the median of repeated
# whole decodes (sections, values as f32, bitmap) and of a decode of the first 409 rows.
# ecCodes: python `eccodes` (bundled libeccodes + libaec wheels) from a venv under
# $GIK_CACHE/bench-venv (created here from PyPI when missing), the median of repeated
# codes_new_from_message + codes_get_float_array("values") on the same bytes.
# Prints one line per message: gik ms, ecCodes ms, ecCodes/gik (> 1: gik faster), gik's time for
# the first 409 rows and its share of the whole, gribberish's CCSDS time (the decoder gik used
# before its own), then the geometric means per packing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

fixtures="${GIK_FIXTURES:?set GIK_FIXTURES to the shared fixtures folder}"
if [ $# -gt 0 ]; then
  files=("$@")
else
  files=(
    "$fixtures/ecmwf/aifs-ens-cf-t500.grib2"
    "$fixtures/ecmwf/ecmwf-ifs-oper-surface.grib2"
    "$fixtures/ecmwf/20240101000000-0h-oper-fc.grib2.0-10"
    "$fixtures/misc/meteofrance.arome-TCDC.grib2"
    "$fixtures/misc/chem_ll.grib2"
    "$fixtures/gfs/gfs.20200325.t18z.pgrb2.0p25.f006"
    "$fixtures/gfs/gdas.t12z.pgrb2.0p25.f000.12"
    "$fixtures/gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2"
  )
fi

venv="$GIK_CACHE/bench-venv"
if ! "$venv/bin/python" -c 'import eccodes' 2>/dev/null; then
  echo "== creating $venv (eccodes from PyPI) ==" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "eccodes==2.50.0" "eccodeslib==2.50.0.33" numpy
fi

gik_json=$(mktemp "${TMPDIR:-/tmp}/gik-bench-decode.XXXXXX")
trap 'rm -f "$gik_json"' EXIT
echo "== gik (cargo bench -p gik-core --bench decode_compare, release) ==" >&2
cargo bench -q -p gik-core --bench decode_compare -- "${files[@]}" > "$gik_json"

"$venv/bin/python" - "$gik_json" <<'PY'
import json, math, statistics, sys, time
import eccodes

def median_ms(f, budget=1.5):
    times, start = [], time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - start < budget and len(times) < 200):
        t = time.perf_counter(); f(); times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)

print(f"eccodes {eccodes.codes_get_api_version()}")
print(f"{'message':58} {'pack':>4} {'values':>8} {'gik ms':>8} {'ecCodes':>8} {'ratio':>6} {'rows ms':>8} {'rows/whole':>10} {'gribberish':>10}")
ratios = {}
cache = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    data = cache.setdefault(m["file"], open(m["file"], "rb").read())
    msg = data[m["offset"]:m["offset"] + m["length"]]
    def ec():
        h = eccodes.codes_new_from_message(msg)
        try:
            eccodes.codes_get_float_array(h, "values")
        finally:
            eccodes.codes_release(h)
    ec_ms = median_ms(ec)
    ratio = ec_ms / m["gik_ms"]
    ratios.setdefault(m["template"], []).append(ratio)
    rows = m.get("gik_rows_ms")
    rows_txt = f"{rows:8.2f} {rows / m['gik_ms']:10.2f}" if rows else f"{'-':>8} {'-':>10}"
    name = f"{m['file'].split('/')[-1][:44]}@{m['offset']}"
    old = m.get("gribberish_ms")
    old_txt = f"{old:10.2f}" if old else f"{'-':>10}"
    print(f"{name:58} {'5.' + str(m['template']):>4} {m['values']:8d} {m['gik_ms']:8.2f} {ec_ms:8.2f} {ratio:6.2f} {rows_txt} {old_txt}")
for t, r in sorted(ratios.items()):
    g = math.exp(sum(map(math.log, r)) / len(r))
    print(f"5.{t}: ecCodes/gik geometric mean {g:.2f} (min {min(r):.2f}, max {max(r):.2f}) over {len(r)} messages")
PY
