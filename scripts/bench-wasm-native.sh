#!/usr/bin/env bash
# Decode speed in wasm (headless Chromium) against native, on the same messages, rounds and
# code (core/tests/bench_messages), in one run; prints per-message times and wasm / native.
# Each side times 10 batches of 10 decodes per message (performance.now() in the browser) and
# reports its fastest batch; the two halves alternate three times (native, wasm, ...) and the
# best of each is kept, so that another process on the machine penalises neither side more
# than the other.
# Usage: scripts/bench-wasm-native.sh   (figures go to BENCHMARKS.md, "Decoding in wasm")
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=$(mktemp)
trap 'rm -f "$out" "$out.wasm"' EXIT
cargo build --release --locked -p gik-core --example decode_timing -q
cargo test --release --locked -p gik-core --target wasm32-unknown-unknown --test wasm_bench --no-run -q 2>/dev/null
for _ in 1 2 3; do
  "$CARGO_TARGET_DIR/release/examples/decode_timing" >>"$out"
  # (no -q: cargo would pass --quiet on to wasm-bindgen-test-runner, which refuses it)
  cargo test --release --locked -p gik-core --target wasm32-unknown-unknown --test wasm_bench \
    -- --nocapture >"$out.wasm" 2>&1 || { cat "$out.wasm"; echo "wasm benchmark failed" >&2; exit 1; }
  grep "wasm decode" "$out.wasm" >>"$out"
done
python3 - "$out" <<'PY'
import re, sys
best = {}
for line in open(sys.argv[1]):
    m = re.match(r"(native|wasm) decode (\S+): ([\d.]+) ms", line.strip())
    if m:
        key = (m.group(2), m.group(1))
        best[key] = min(best.get(key, float("inf")), float(m.group(3)))
names = sorted({k[0] for k in best})
print(f"{'message':<32} {'native ms':>10} {'wasm ms':>10} {'wasm/native':>12}")
for n in names:
    nat, wasm = best.get((n, "native")), best.get((n, "wasm"))
    ratio = f"{wasm / nat:.2f}" if nat and wasm else "-"
    print(f"{n:<32} {nat or float('nan'):>10.2f} {wasm or float('nan'):>10.2f} {ratio:>12}")
PY
