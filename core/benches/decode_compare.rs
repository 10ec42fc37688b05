//! Per-message decode timings for `scripts/bench-decode.sh`, which runs ecCodes on the same
//! messages in the same run and prints the ratios.
//!
//! `cargo bench -p gik-core --bench decode_compare -- FILE...` prints one JSON object per message
//! of each file: offset, length, packing template, number of values, and the median wall time of
//! a whole [`gik_core::grib::decode`] (sections, values as `f32`, bitmap) over repeated runs, and
//! of [`gik_core::grib::decode_rows`] for the first `GIK_BENCH_ROWS` rows (default 409: the
//! East Africa box's last row on 0.25° grids) when the grid has rows. For CCSDS messages it
//! also times the decoder gik used before its own, gribberish's (entropy decoding and scaling
//! to f64, as `gribberish_ms`), so that the choice is measured in the same run.
#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

/// Median time of `f` over enough runs to fill about `budget` (at least 5 runs).
fn median_ms(budget: Duration, mut f: impl FnMut()) -> f64 {
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed() < budget && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let rows: usize = std::env::var("GIK_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(409);
    let budget = Duration::from_millis(
        std::env::var("GIK_BENCH_BUDGET_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1500),
    );
    for file in std::env::args().skip(1).filter(|a| !a.starts_with("--")) {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        for (offset, length) in gik_core::grib::scan(&bytes).unwrap() {
            let message = &bytes[offset as usize..(offset + length) as usize];
            let Ok(decoded) = gik_core::grib::decode(message) else {
                continue;
            };
            let whole = median_ms(budget, || {
                std::hint::black_box(gik_core::grib::decode(message).unwrap());
            });
            let nj = decoded.info.grid.nj.unwrap_or(0);
            let rows_ms = (nj > rows)
                .then(|| gik_core::grib::decode_rows(message, rows).ok())
                .flatten()
                .map(|_| {
                    median_ms(budget, || {
                        std::hint::black_box(gik_core::grib::decode_rows(message, rows).unwrap());
                    })
                });
            let describe_ms = median_ms(budget, || {
                std::hint::black_box(gik_core::grib::describe(message).unwrap());
            });
            let gribberish_ms = (decoded.info.packing.template == 42
                && decoded.info.packing.bits_per_value > 0)
                .then(|| {
                    median_ms(budget, || {
                        std::hint::black_box(gribberish_ccsds(message));
                    })
                });
            println!(
                "{}",
                serde_json::json!({
                    "file": file,
                    "offset": offset,
                    "length": length,
                    "template": decoded.info.packing.template,
                    "values": decoded.values.len(),
                    "gik_ms": whole,
                    "rows": rows,
                    "gik_rows_ms": rows_ms,
                    "gribberish_ms": gribberish_ms,
                    "describe_ms": describe_ms,
                })
            );
        }
    }
}

/// gribberish 1.9's CCSDS path, as `core::grib` called it before its own decoder.
fn gribberish_ccsds(message: &[u8]) -> usize {
    use bitvec::prelude::*;
    use gribberish::sections::data_representation::DataRepresentationSection;
    let mut pos = 16;
    let (mut five, mut seven) = (None, None);
    while &message[pos..pos + 4] != b"7777" {
        let len = u32::from_be_bytes(message[pos..pos + 4].try_into().unwrap()) as usize;
        match message[pos + 4] {
            5 => five = Some(&message[pos..pos + len]),
            7 => seven = Some(&message[pos + 5..pos + len]),
            _ => {}
        }
        pos += len;
    }
    let section = DataRepresentationSection::from_data(five.unwrap());
    let template = section.data_representation_template().unwrap();
    template
        .unpack(seven.unwrap().view_bits::<Msb0>())
        .unwrap()
        .len()
}
