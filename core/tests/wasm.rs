//! `gik-core` in a real browser: decoding and manifest reading compiled to wasm32 and run in
//! headless Chromium by `wasm-bindgen-test-runner` (see `scripts/test.sh`).
//!
//! Fixture bytes are compiled in (`include_bytes!`), since a browser has no file system; their
//! location comes from `build.rs` (`GIK_FIXTURES_DIR`).
#![cfg(target_arch = "wasm32")]

use gik_core::grib;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(env!("GIK_FIXTURES_DIR"), "/", $path))
    };
}

macro_rules! summary {
    ($path:literal) => {
        serde_json::from_str::<serde_json::Value>(include_str!(concat!(
            env!("GIK_FIXTURES_DIR"),
            "/",
            $path,
            ".summary.json"
        )))
        .unwrap()
    };
}

fn assert_stats(decoded: &grib::DecodedMessage, m: &serde_json::Value) {
    let s = decoded.stats();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * b.abs().max(1.0);
    assert_eq!(s.count as u64, m["valid_count"].as_u64().unwrap());
    assert!(close(s.min, m["min"].as_f64().unwrap()), "min {} vs {}", s.min, m["min"]);
    assert!(close(s.max, m["max"].as_f64().unwrap()), "max {} vs {}", s.max, m["max"]);
    assert!(close(s.mean, m["mean"].as_f64().unwrap()), "mean {} vs {}", s.mean, m["mean"]);
}

#[wasm_bindgen_test]
fn decodes_gfs_complex_spatial_packing() {
    let bytes = fixture!("gfs/gfs.20200325.t18z.pgrb2.0p25.f006");
    let summary = summary!("gfs/gfs.20200325.t18z.pgrb2.0p25.f006");
    for (k, (offset, length)) in grib::scan(bytes).unwrap().into_iter().enumerate() {
        let decoded = grib::decode(&bytes[offset as usize..(offset + length) as usize]).unwrap();
        assert_eq!(decoded.info.metadata.short_name, "tp");
        assert_stats(&decoded, &summary["messages"][k]);
    }
}

#[wasm_bindgen_test]
fn decodes_ecmwf_ccsds() {
    let bytes = fixture!("ecmwf/ecmwf-ifs-oper-surface.grib2");
    let summary = summary!("ecmwf/ecmwf-ifs-oper-surface.grib2");
    for (k, (offset, length)) in grib::scan(bytes).unwrap().into_iter().enumerate() {
        let decoded = grib::decode(&bytes[offset as usize..(offset + length) as usize]).unwrap();
        assert_stats(&decoded, &summary["messages"][k]);
    }
}

#[wasm_bindgen_test]
fn decodes_missing_values_png_and_constant_fields() {
    let bytes = fixture!("gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2");
    let m = &summary!("gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2")["messages"][0];
    assert_stats(&grib::decode(bytes).unwrap(), m);
    let bytes = fixture!("misc/MRMS_PrecipFlag_00.00_20260219-042400.grib2");
    let m = &summary!("misc/MRMS_PrecipFlag_00.00_20260219-042400.grib2")["messages"][0];
    assert_stats(&grib::decode(bytes).unwrap(), m);
    let bytes = fixture!("gfs/gdas.t12z.pgrb2.0p25.f000.46");
    let m = &summary!("gfs/gdas.t12z.pgrb2.0p25.f000.46")["messages"][0];
    assert_stats(&grib::decode(bytes).unwrap(), m);
}

#[wasm_bindgen_test]
fn truncated_input_is_an_error_not_a_panic() {
    let bytes = fixture!("ecmwf/aifs-ens-cf-t500.grib2");
    for cut in [10usize, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
        assert!(grib::decode(&bytes[..cut]).is_err());
    }
    // A CCSDS payload cut short inside a correctly framed message.
    let mut damaged = bytes.to_vec();
    let len = damaged.len();
    for b in &mut damaged[len / 2..len - 4] {
        *b = 0xA5;
    }
    let _ = grib::decode(&damaged);
}

#[wasm_bindgen_test]
fn jpeg2000_is_reported_unsupported_in_wasm() {
    let bytes = fixture!("misc/CMC_glb_TMP_ISBL_1_latlon.24x.24_2021051800_P000.grib2");
    let err = grib::decode(bytes).unwrap_err().to_string();
    assert!(err.contains("5.40"), "{err}");
}
