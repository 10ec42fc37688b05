//! Benchmark, not a test: decode time of the 0.25° fixture messages in the browser (wasm32),
//! printed for `BENCHMARKS.md` next to the native criterion figures. Run by
//! `scripts/bench-app.sh`:
//! `cargo test --release -p gik-core --target wasm32-unknown-unknown --test wasm_bench`.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gik_core::grib;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn time_decode(name: &str, bytes: &[u8]) {
    let (offset, length) = grib::scan(bytes).unwrap()[0];
    let message = &bytes[offset as usize..(offset + length) as usize];
    let rounds = 20;
    let start = now_ms();
    for _ in 0..rounds {
        let decoded = grib::decode(message).unwrap();
        assert_eq!(decoded.values.len(), 1_038_240);
    }
    let per = (now_ms() - start) / f64::from(rounds);
    web_sys_log(&format!(
        "wasm decode {name}: {per:.1} ms per message ({rounds} rounds)"
    ));
}

fn web_sys_log(text: &str) {
    wasm_bindgen_test::console_log!("{}", text);
}

#[wasm_bindgen_test]
fn decode_speed_in_the_browser() {
    time_decode(
        "gfs_0p25_complex_spatial_5.3",
        include_bytes!(concat!(
            env!("GIK_FIXTURES_DIR"),
            "/gfs/gfs.20200325.t18z.pgrb2.0p25.f006"
        )),
    );
    time_decode(
        "ecmwf_0p25_ccsds_5.42",
        include_bytes!(concat!(
            env!("GIK_FIXTURES_DIR"),
            "/ecmwf/aifs-ens-cf-t500.grib2"
        )),
    );
}
