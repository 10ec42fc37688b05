//! Native twin of the wasm decode benchmark (`tests/wasm_bench.rs`): the same messages, rounds
//! and timing loop, printed in the same form, for `scripts/bench-wasm-native.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/bench_messages/mod.rs"]
mod bench_messages;

fn main() {
    let origin = std::time::Instant::now();
    for (name, bytes) in bench_messages::MESSAGES {
        let (best, mean) =
            bench_messages::time_decode(bytes, || origin.elapsed().as_secs_f64() * 1e3);
        println!(
            "native decode {name}: {best:.2} ms per message (best batch; mean {mean:.2} ms over {} × {} decodes)",
            bench_messages::BATCHES,
            bench_messages::ROUNDS
        );
    }
}
