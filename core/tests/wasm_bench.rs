//! Benchmark, not a test: decode time of 0.25° fixture messages in the browser (wasm32).
//! `scripts/bench-wasm-native.sh` runs it next to its native twin (`examples/decode_timing.rs`)
//! on the same messages and prints the ratio for `BENCHMARKS.md`:
//! `cargo test --release -p gik-core --target wasm32-unknown-unknown --test wasm_bench`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bench_messages;

use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn decode_speed_in_the_browser() {
    // `performance.now()` (microseconds), not `Date.now()` (whole milliseconds): a batch
    // takes a few tens of milliseconds.
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let now = js_sys::Function::from(js_sys::Reflect::get(&performance, &"now".into()).unwrap());
    let now_ms = || now.call0(&performance).unwrap().as_f64().unwrap();
    for (name, bytes) in bench_messages::MESSAGES {
        let (best, mean) = bench_messages::time_decode(bytes, now_ms);
        wasm_bindgen_test::console_log!(
            "wasm decode {name}: {best:.2} ms per message (best batch; mean {mean:.2} ms over {} × {} decodes)",
            bench_messages::BATCHES,
            bench_messages::ROUNDS
        );
    }
}
