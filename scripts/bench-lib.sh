# Shared parts of the browser benchmarks, sourced by scripts/bench-app.sh and
# scripts/bench-subsets.sh so that each is written once: starting the mirror on a site and
# chromedriver, the site's config.json, and the bytes-per-map table of a list of views.
#
# Sourcing it moves to the repository root and loads scripts/env.sh ($GIK_VENV). The caller
# then calls bench_init, which sets $port (the mirror's; chromedriver gets $port + 1), $base
# (the mirror's URL) and $site (the folder served as the static site), and sets $bin itself (a
# folder with release `gik` and `gik-mirror`).

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh

# bench_init DEFAULT_PORT: $port ($GIK_BENCH_PORT, else DEFAULT_PORT), $base, a new empty $site,
# and an EXIT trap that stops the mirror and chromedriver ($mirror, $driver) and removes $site.
bench_init() {
  port="${GIK_BENCH_PORT:-$1}"
  base="http://127.0.0.1:$port"
  site="$(mktemp -d)"
  mirror=
  driver=
  trap 'kill $mirror $driver 2>/dev/null || true; rm -rf "$site"' EXIT
}

# wait_for URL: waits until URL answers (10 s at most).
wait_for() {
  for _ in $(seq 50); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done
}

# start_mirror LATENCY_MS [MBPS]: serves $site and the synthetic run of 2025-08-01 00z on $port,
# adding LATENCY_MS to every answer and pacing bodies to MBPS (0 or none: unlimited).
start_mirror() {
  local bw=()
  [ "${2:-0}" != 0 ] && bw=(--bandwidth-mbps "$2")
  "$bin/gik-mirror" --port "$port" --static "$site" --date 20250801 --run 00 \
    --latency-ms "$1" "${bw[@]}" >/dev/null 2>&1 &
  mirror=$!
  wait_for "$base/index.html"
}

# stop_mirror: stops the mirror started last.
stop_mirror() {
  kill "$mirror" 2>/dev/null || true
  wait "$mirror" 2>/dev/null || true
}

# write_config: the app's config.json on $site, reading the catalog and the buckets from the
# mirror.
write_config() {
  printf '{"catalog": "catalog.json", "mirror": "%s", "allowed_hosts": ["%s"]}\n' "$base" "$base" \
    > "$site/config.json"
}

# start_driver: chromedriver on $port + 1, for scripts/bench_app_network.py.
start_driver() {
  chromedriver --port="$((port + 1))" >/dev/null 2>&1 &
  driver=$!
  wait_for "http://127.0.0.1:$((port + 1))/status"
}

# bytes_per_map VIEW...: each VIEW is "name|source|query" (source: `subset` or `bucket` when the
# view must be served from one of them, else `-`; query: the app URL's query). Opens every view
# with a cold cache through scripts/bench_app_network.py, at loopback speed and on a shared
# 10 Mbit/s line with 30 ms latency (a mirror restarted for each line), and prints one row per
# view and line. Needs chromedriver (start_driver) and no mirror running.
bytes_per_map() {
  printf '%-28s %-7s %-16s %9s %9s %8s %9s %9s %9s %7s %9s\n' view source line data_MB \
    requests first_s finish_s floor_s shell_MB msg_MB longest_ms
  local line label mbps latency view name source query json
  for line in "loopback|0|0" "10 Mbit/s + 30 ms|10|30"; do
    IFS='|' read -r label mbps latency <<<"$line"
    start_mirror "$latency" "$mbps"
    for view in "$@"; do
      IFS='|' read -r name source query <<<"$view"
      json=$("$GIK_VENV/bin/python" scripts/bench_app_network.py \
        --chromedriver-port "$((port + 1))" --bandwidth-mbps "$mbps" "$base/$query" || true)
      "$GIK_VENV/bin/python" - "$name" "$source" "$label" "$json" <<'PY'
import json, sys
name, source, label, raw = sys.argv[1:5]
r = json.loads(raw) if raw.strip() else {}
f = lambda v: "-" if v is None else f"{v:.2f}"
said = r.get("status") or ""
wrong = source in ("subset", "bucket") and said and ("subset" in said) != (source == "subset")
print(f"{name:<28} {source:<7} {label:<16} {r.get('data_bytes', 0) / 1e6:9.2f} "
      f"{r.get('data_requests', 0):9d} {f(r.get('first_member_s')):>8} "
      f"{f(r.get('finished_s')):>9} {f(r.get('floor_s')):>9} "
      f"{r.get('shell_bytes', 0) / 1e6:9.2f} {r.get('message_bytes', 0) / 1e6:7.2f} "
      f"{r.get('longest_task_loading_ms', 0):9.0f}"
      + ("" if r.get("finished_s") is not None else f"   NOT FINISHED: {said}")
      + ("   WRONG SOURCE: " + said if wrong else ""))
PY
    done
    stop_mirror
  done
}
