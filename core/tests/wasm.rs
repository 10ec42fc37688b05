//! `gik-core` in a real browser: decoding and manifest reading compiled to wasm32 and run in
//! headless Chromium by `wasm-bindgen-test-runner` (see `scripts/test.sh`).
//!
//! Fixture bytes are compiled in (`include_bytes!`), since a browser has no file system; their
//! location comes from `build.rs` (`GIK_FIXTURES_DIR`).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
    assert!(
        close(s.min, m["min"].as_f64().unwrap()),
        "min {} vs {}",
        s.min,
        m["min"]
    );
    assert!(
        close(s.max, m["max"].as_f64().unwrap()),
        "max {} vs {}",
        s.max,
        m["max"]
    );
    assert!(
        close(s.mean, m["mean"].as_f64().unwrap()),
        "mean {} vs {}",
        s.mean,
        m["mean"]
    );
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

#[wasm_bindgen_test]
fn member_manifest_round_trips_through_parquet_in_the_browser() {
    use gik_core::member::{
        build_member_manifest, MemberIdentity, MemberManifest, MessageRef, VariableMessages,
    };
    use gik_core::product::{select_variables, Gefs, Product};
    let gefs = Gefs::default();
    let spec = select_variables(&gefs, &["APCP:surface"])
        .unwrap()
        .remove(0);
    let grid = grib::describe(fixture!("gfs/gfs.20200325.t18z.pgrb2.0p25.f006"))
        .unwrap()
        .grid;
    let vars = [VariableMessages {
        spec,
        grid,
        steps: vec![3, 6],
        messages: vec![MessageRef {
            step: 6,
            range: gik_core::manifest::ByteRange::new("http://127.0.0.1:9/f006", 42, 1000),
        }],
    }];
    let who = MemberIdentity {
        product: gefs.name().into(),
        run: gik_core::time::RunTime::parse("20250801", "00").unwrap(),
        member: "gep01".into(),
    };
    let manifest = build_member_manifest(&who, &vars).unwrap();
    let bytes = gik_core::manifest::write_parquet(&manifest).unwrap();
    let read = MemberManifest::from_parquet(&bytes).unwrap();
    assert_eq!(read.steps("tp/accum/surface/tp").unwrap(), [3, 6]);
    let chunk = read.chunk("tp/accum/surface/tp", 6).unwrap().unwrap();
    assert_eq!((chunk.offset, chunk.length), (42, 1000));
    assert!(read.chunk("tp/accum/surface/tp", 3).unwrap().is_none());
    // Garbage is an error, not a panic.
    assert!(MemberManifest::from_parquet(&bytes[..bytes.len() / 2]).is_err());
    assert!(MemberManifest::from_parquet(b"PAR1 not a parquet file PAR1").is_err());
}

#[wasm_bindgen_test]
fn ensemble_statistics_and_accumulation_in_the_browser() {
    use gik_core::product::{precipitation_plan, Ecmwf};
    let run = gik_core::time::RunTime::parse("20250801", "00").unwrap();
    let plan = precipitation_plan(&Ecmwf::default(), run, 24, 48).unwrap();
    assert_eq!(plan.steps(), [24, 48]);
    // Running totals in metres at two points: tp(24 h) and tp(48 h).
    let field_at = |step: u32| -> Vec<f32> {
        if step == 24 {
            vec![0.001, 0.004]
        } else {
            vec![0.002, 0.003]
        }
    };
    let fields: Vec<Vec<f32>> = plan.terms.iter().map(|t| field_at(t.step)).collect();
    let refs: Vec<&[f32]> = fields.iter().map(Vec::as_slice).collect();
    let totals = plan.combine(&refs).unwrap();
    assert!((totals[0] - 1.0).abs() < 1e-4, "{totals:?}");
    assert_eq!(totals[1], 0.0); // negative difference clipped
    let p = gik_core::stats::exceedance_probability(&[&[2.0, 0.0], &[0.5, 3.0]], 1.0).unwrap();
    assert_eq!(p, vec![50.0, 50.0]);
}
