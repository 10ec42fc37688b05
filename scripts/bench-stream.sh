#!/usr/bin/env bash
# Benchmark of `gik stream --preset cgan`: 12 ECMWF variables x 9 steps x 51 members (5508
# messages) range-read from the local synthetic mirror with 30 ms of latency per request,
# decoded, cropped to the cGAN box and written to one NetCDF-4 file. Release build.
#
#   scripts/bench-stream.sh [--latency-ms N] [--concurrency N] [--keep DIR]
#
# Prints wall time, messages, bytes read and peak RSS of the stream process (from
# /usr/bin/time -v when present, else VmHWM read from /proc at the end). Goals: < 60 s, < 1 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

latency=30
concurrency=64
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --latency-ms) latency="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "usage: $0 [--latency-ms N] [--concurrency N] [--keep DIR]" >&2; exit 2 ;;
  esac
done

echo "== building (release) =="
cargo build --release --locked -p gik-builder --bin gik -p gik-tests --bin gik-mirror
bin="$CARGO_TARGET_DIR/release"

work="${keep:-$(mktemp -d "${TMPDIR:-/tmp}/gik-bench-stream.XXXXXX")}"
mkdir -p "$work"
mirror_pid=""
cleanup() {
  if [ -n "$mirror_pid" ]; then kill "$mirror_pid" 2>/dev/null || true; wait "$mirror_pid" 2>/dev/null || true; fi
  if [ -z "$keep" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# A free port on 127.0.0.1.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$bin/gik-mirror" --port "$port" --date 20250801 --run 00 --latency-ms "$latency" >"$work/mirror.log" 2>&1 &
mirror_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening" "$work/mirror.log" 2>/dev/null && break
  sleep 0.1
done
source_url="http://127.0.0.1:$port/ecmwf-forecasts"

echo "== manifests: gik build (cgan variables, steps 36-60, 51 members) =="
"$bin/gik" -q build --product ecmwf --date 20250801 --run 00 --source "$source_url" \
  --vars tp,2t,sp,ssr,ssrd,tcw,tcwv,tcc,u:700,v:700,sf,ro --steps 36-60/3 --out "$work/published"

echo "== gik stream --preset cgan (latency ${latency} ms, ${concurrency} requests in flight) =="
out="$work/cgan.nc"
cmd=("$bin/gik" -q stream --catalog "$work/published" --preset cgan --date 20250801 --run 00
     --concurrency "$concurrency" --out "$out")
start=$(date +%s.%N)
user_s="?"; sys_s="?"
if [ -x /usr/bin/time ]; then
  /usr/bin/time -v "${cmd[@]}" >"$work/stream.out" 2>"$work/stream.time"
  rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/stream.time")
  user_s=$(awk -F: '/User time/ {gsub(/ /, "", $2); print $2}' "$work/stream.time")
  sys_s=$(awk -F: '/System time/ {gsub(/ /, "", $2); print $2}' "$work/stream.time")
else
  # getrusage of the child: CPU seconds (user, sys) and peak RSS (KB), without /usr/bin/time.
  python3 -c 'import resource, subprocess, sys
out = open(sys.argv[1], "w")
code = subprocess.run(sys.argv[2:], stdout=out).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime:.1f} {r.ru_stime:.1f} {r.ru_maxrss}", file=sys.stderr)
sys.exit(code)' "$work/stream.out" "${cmd[@]}" 2>"$work/stream.rusage"
  read -r user_s sys_s rss_kb < <(tail -n 1 "$work/stream.rusage")
fi
end=$(date +%s.%N)
cat "$work/stream.out"
summary=$(tail -n 1 "$work/stream.out")
messages=$(sed -E 's/^[^:]*: ([0-9]+) messages.*/\1/' <<<"$summary")
mb=$(sed -E 's/.* ([0-9.]+) MB read.*/\1/' <<<"$summary")
wall=$(python3 -c "print(f'{$end - $start:.1f}')")
size=$(du -k "$out" | cut -f1)
echo
echo "== result =="
printf 'wall time     %s s\n' "$wall"
printf 'CPU           %s s user + %s s sys\n' "$user_s" "$sys_s"
printf 'messages      %s\n' "$messages"
printf 'bytes read    %s MB\n' "$mb"
printf 'peak RSS      %s MB\n' "$((rss_kb / 1024))"
printf 'output        %s MB (%s)\n' "$((size / 1024))" "$out"
