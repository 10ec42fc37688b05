//! gik's own CCSDS (5.42) decoder against ecCodes + libaec, value for value, on every CCSDS
//! message of the shared fixtures: `data/ccsds_eccodes.json` holds a hash of ecCodes' values
//! (as f32) and every 997th value, written by `data/ccsds_eccodes.py`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use gik_core::fnv::fnv1a64_values;

#[test]
fn every_ccsds_fixture_message_equals_eccodes() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("data/ccsds_eccodes.json")).expect("ccsds_eccodes.json");
    let messages = reference["messages"].as_array().unwrap();
    assert!(
        messages.len() >= 18,
        "the reference covers every CCSDS fixture message"
    );
    let mut failures = Vec::new();
    for m in messages {
        let file = m["file"].as_str().unwrap();
        let offset = m["offset"].as_u64().unwrap();
        let path = PathBuf::from(env!("GIK_FIXTURES_DIR")).join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (_, length) = *gik_core::grib::scan(&bytes)
            .unwrap()
            .iter()
            .find(|(o, _)| *o == offset)
            .unwrap_or_else(|| panic!("{file}: no message at {offset}"));
        let message = &bytes[offset as usize..(offset + length) as usize];
        let decoded = gik_core::grib::decode(message).unwrap();
        assert_eq!(decoded.info.packing.template, 42, "{file}@{offset}");
        assert_eq!(
            decoded.values.len() as u64,
            m["count"].as_u64().unwrap(),
            "{file}@{offset}"
        );
        for (k, want) in m["every_997th"].as_array().unwrap().iter().enumerate() {
            let got = decoded.values[k * 997];
            let same = match want.as_f64() {
                None => got.is_nan(),
                Some(w) => got == w as f32,
            };
            if !same {
                failures.push(format!(
                    "{file}@{offset} value {}: gik {got}, ecCodes {want}",
                    k * 997
                ));
                break;
            }
        }
        let hash = format!("{:016x}", fnv1a64_values(&decoded.values));
        if hash != m["fnv1a64"].as_str().unwrap() {
            failures.push(format!(
                "{file}@{offset}: values differ from ecCodes' (hash)"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
