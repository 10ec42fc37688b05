//! The messages and the timing loop shared by the wasm decode benchmark (`tests/wasm_bench.rs`,
//! in Chromium) and its native twin (`examples/decode_timing.rs`), so that
//! `scripts/bench-wasm-native.sh` compares the two on the same bytes, rounds and code path.

use gik_core::grib;

/// Whole-message decodes per timed batch.
pub const ROUNDS: u32 = 10;

/// Timed batches per message; the fastest batch is the figure (see [`time_decode`]).
pub const BATCHES: u32 = 10;

/// Name and file of each timed message (the first message of the file).
pub const MESSAGES: &[(&str, &[u8])] = &[
    (
        "gfs_0p25_complex_spatial_5.3",
        include_bytes!(concat!(
            env!("GIK_FIXTURES_DIR"),
            "/gfs/gfs.20200325.t18z.pgrb2.0p25.f006"
        )),
    ),
    (
        "ecmwf_aifs_t500_ccsds_5.42",
        include_bytes!(concat!(
            env!("GIK_FIXTURES_DIR"),
            "/ecmwf/aifs-ens-cf-t500.grib2"
        )),
    ),
    (
        "ecmwf_ifs_asn_ccsds_5.42",
        include_bytes!(concat!(
            env!("GIK_FIXTURES_DIR"),
            "/ecmwf/ecmwf-ifs-oper-surface.grib2"
        )),
    ),
];

/// Milliseconds per decode of the first message of `bytes`, with `now_ms` as the clock:
/// `(best, mean)`, the mean decode time of the fastest of [`BATCHES`] batches of [`ROUNDS`]
/// decodes, and the mean over all of them, after one warm-up decode.
///
/// The fastest batch is what the code costs when nothing else runs: another process on the
/// two shared cores, or in wasm the first decodes running before the optimising compiler's
/// code replaces the baseline compiler's, only ever slow a batch down.
pub fn time_decode(bytes: &[u8], now_ms: impl Fn() -> f64) -> (f64, f64) {
    let (offset, length) = grib::scan(bytes).expect("a fixture message")[0];
    let message = &bytes[offset as usize..(offset + length) as usize];
    let points = grib::decode(message).expect("decodes").values.len();
    assert!(points > 0);
    let (mut best, mut total) = (f64::INFINITY, 0.0);
    for _ in 0..BATCHES {
        let start = now_ms();
        for _ in 0..ROUNDS {
            let decoded = grib::decode(message).expect("decodes");
            assert_eq!(decoded.values.len(), points);
        }
        let batch = now_ms() - start;
        best = best.min(batch / f64::from(ROUNDS));
        total += batch;
    }
    (best, total / f64::from(ROUNDS * BATCHES))
}
