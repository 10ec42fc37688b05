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
    for (name, bytes) in bench_messages::MESSAGES {
        let per = bench_messages::time_decode(bytes, js_sys::Date::now);
        wasm_bindgen_test::console_log!(
            "wasm decode {name}: {per:.2} ms per message ({} rounds)",
            bench_messages::ROUNDS
        );
    }
}
