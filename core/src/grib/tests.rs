//! Decoding checked message by message against ecCodes (`*.summary.json`) and wgrib2
//! (`reference_values/`) on the real fixtures.

use super::*;
use crate::index::EnsembleMember;
use crate::test_support::{fixture, read_fixture};
use serde_json::Value;

/// Every GRIB fixture with an ecCodes summary beside it.
pub(super) const GRIB_FIXTURES: &[&str] = &[
    "ecmwf/20240101000000-0h-oper-fc.grib2.0-10",
    "ecmwf/ecmwf-ifs-oper-surface.grib2",
    "ecmwf/aifs-ens-cf-t500.grib2",
    "ecmwf/s2s_control_2026-08-10T00Z.grib2",
    "ecmwf/ecmwf_tigge.grb.subset-2t-msl-tp.grib2",
    "gefs/gec00_20250101_00_soilw.grib",
    "gefs/gep08.t00z.pgrb2a.0p50.f012",
    "gefs/geavg.t06z.pgrb2a.0p50.f006",
    "gfs/gfswave.t18z.atlocn.0p16.f001.grib2",
    "gfs/gdas.t12z.pgrb2.0p25.f000.12",
    "gfs/gdas.t12z.pgrb2.0p25.f000.46",
    "gfs/gdas.t00z.sfluxgrbf000.grib2.0",
    "gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2",
    "gfs/gfs.t18z.pgrb2.0p25.f186-RH.grib2",
    "gfs/gfs.20200325.t18z.pgrb2.0p25.f006",
    "gfs/gfs.20200330.t18z.pgrb2.0p25.f012",
    "gfs/gfs.20200314.t00z.pgrb2.0p25.anl",
    "gfs/gfs.t12z.pgrbf120.2p5deg.grib2",
    "misc/CMC_glb_TMP_ISBL_1_latlon.24x.24_2021051800_P000.grib2",
    "misc/CMC_reg_DEPR_ISBL_10_ps10km_2022072000_P000.grib2",
    "misc/MRMS_MergedRhoHV_19.00_20260219-042039.grib2",
    "misc/MRMS_PrecipFlag_00.00_20260219-042400.grib2",
    "misc/meteofrance.arome-TCDC.grib2",
    "misc/chem_ll.grib2",
    "misc/ds.critfireo.bin",
    "misc/aqm.t12z.ave_1hr_o3-HI-mercator.grib2",
    "misc/Z__C_RJTD_20160822020000_NOWC_GPV_Ggis10km_Pphw10_FH0000-0100_grib2.bin",
    "misc/Z__C_RJTD_20170221120000_MSG_GPV_Gll0p5deg_Pys_B20170221120000_F2017022115-2017022212_grib2.bin",
    "misc/icon_global_icosahedral_single-level_2021112018_000_TOT_PREC.grib2",
    "misc/hrrr.t06z.wrfsfcf01-CFRZR.grib2",
    "misc/hrrr.wrfsubhf.sample.grib2",
    "misc/hrrr.t00z.wrfprsf00-template8.grib2",
    "misc/tinygrib.grb2",
    "misc/s2s-pdt9-pdt10-pdt12.grib2",
    "misc/s2s-pdt12-pdt107-anomaly.grib2",
    "misc/regular_gg_ml_g2.grib",
];

fn summary(file: &str) -> Value {
    let text = read_fixture(&format!("{file}.summary.json"));
    serde_json::from_slice(&text).expect("summary json")
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 1e-4 * scale.max(1.0) || (a.is_nan() && b.is_nan())
}

/// Whether this build decodes the packing (5.40 JPEG 2000 is native-only; 5.200 is not
/// supported). Every product definition template decodes (unknown ones report `unknown`).
fn expect_supported(m: &Value) -> bool {
    let drt = m["dataRepresentationTemplateNumber"]
        .as_u64()
        .unwrap_or(999);
    let gdt = m["gridDefinitionTemplateNumber"].as_u64().unwrap_or(999);
    let drt_ok =
        matches!(drt, 0 | 2 | 3 | 41 | 42) || (drt == 40 && cfg!(not(target_arch = "wasm32")));
    drt_ok && gdt <= 101
}

#[test]
fn every_fixture_message_matches_eccodes() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in GRIB_FIXTURES {
        let bytes = read_fixture(file);
        let summary = summary(file);
        let messages = summary["messages"].as_array().expect("messages");
        let scanned = scan(&bytes).expect("scan");
        assert_eq!(scanned.len(), messages.len(), "{file}: message count");
        for m in messages {
            let offset = m["offset"].as_u64().unwrap() as usize;
            let length = m["length"].as_u64().unwrap() as usize;
            assert!(
                scanned.contains(&(offset as u64, length as u64)),
                "{file}: scan finds {offset}"
            );
            let result = decode(&bytes[offset..offset + length]);
            let label = format!("{file} @{offset} {}", m["shortName"]);
            if !expect_supported(m) {
                assert!(result.is_err(), "{label}: expected an unsupported error");
                continue;
            }
            let decoded = match result {
                Ok(d) => d,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            checked += 1;
            let stats = decoded.stats();
            let (min, max, mean) = (
                m["min"].as_f64().unwrap(),
                m["max"].as_f64().unwrap(),
                m["mean"].as_f64().unwrap(),
            );
            let scale = max.abs().max(min.abs());
            let valid = m["valid_count"].as_u64().unwrap() as usize;
            if stats.count != valid
                || !close(stats.min, min, scale)
                || !close(stats.max, max, scale)
                || !close(stats.mean, mean, scale)
            {
                failures.push(format!(
                    "{label}: count/min/max/mean {}/{}/{}/{} vs ecCodes {valid}/{min}/{max}/{mean}",
                    stats.count, stats.min, stats.max, stats.mean
                ));
                continue;
            }
            for (k, expected) in m["first_values"].as_array().unwrap().iter().enumerate() {
                let expected = expected.as_f64().unwrap();
                let got = f64::from(decoded.values[k]);
                let ok = if expected == 9999.0 {
                    got.is_nan() || got == 9999.0
                } else {
                    close(got, expected, scale)
                };
                if !ok {
                    failures.push(format!("{label}: value {k} = {got}, ecCodes {expected}"));
                }
            }
            let info = &decoded.info;
            assert_eq!(info.length as usize, length, "{label}");
            assert_eq!(
                u64::from(info.packing.template),
                m["dataRepresentationTemplateNumber"].as_u64().unwrap(),
                "{label}"
            );
            if let (Some(ni), Some(nj)) = (m["Ni"].as_u64(), m["Nj"].as_u64()) {
                if ni != 2_147_483_647 && matches!(info.grid.template, 0 | 40) {
                    assert_eq!(info.grid.ni, Some(ni as usize), "{label}: Ni");
                    assert_eq!(info.grid.nj, Some(nj as usize), "{label}: Nj");
                }
            }
            if let Some(number) = m["number"].as_u64() {
                let expected = if number == 0 {
                    EnsembleMember::Control
                } else {
                    EnsembleMember::Perturbed(number as u16)
                };
                if matches!(info.metadata.product_template, 1 | 11) {
                    assert_eq!(
                        info.metadata.member.as_ref(),
                        Some(&expected),
                        "{label}: member"
                    );
                }
            }
            if m["stepType"] == "instant" && info.metadata.unknown.is_none() {
                if let Some(step) = m["step"].as_u64() {
                    // ecCodes gives sub-hourly steps in minutes.
                    let hours = info.metadata.time.end_hours();
                    assert!(
                        hours == step as f64 || hours * 60.0 == step as f64,
                        "{label}: step {hours}h vs {step}"
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 800, "only {checked} messages checked");
}

#[test]
fn short_names_and_levels_follow_eccodes_for_product_variables() {
    let mut compared = 0;
    for file in GRIB_FIXTURES {
        let bytes = read_fixture(file);
        for m in summary(file)["messages"].as_array().unwrap() {
            let name = m["shortName"].as_str().unwrap();
            let offset = m["offset"].as_u64().unwrap() as usize;
            let Ok(info) = describe(&bytes[offset..]) else {
                continue;
            };
            if [
                "2t", "t", "tp", "10u", "10v", "u", "v", "msl", "sp", "gh", "r", "tcc", "prmsl",
                "pwat", "cape",
            ]
            .contains(&name)
            {
                assert_eq!(info.metadata.short_name, name, "{file} @{offset}");
            }
            if let Some(unknown) = &info.metadata.unknown {
                // A template gik does not describe: said so, and the level is not made up.
                let pdt = m["productDefinitionTemplateNumber"].as_u64().unwrap();
                assert!(unknown.contains(&format!("4.{pdt}")), "{file} @{offset}");
                assert_eq!(info.metadata.level.type_of_level, "unknown");
                continue;
            }
            assert_eq!(
                info.metadata.level.type_of_level,
                m["typeOfLevel"].as_str().unwrap(),
                "{file} @{offset}"
            );
            compared += 1;
        }
    }
    assert!(compared > 50, "only {compared} compared");
}

/// wgrib2's decoded arrays, value by value.
fn reference_values(name: &str) -> Vec<f32> {
    let compressed = read_fixture(&format!("reference_values/{name}"));
    let mut raw = Vec::new();
    lzma_rs::xz_decompress(&mut std::io::Cursor::new(compressed), &mut raw).expect("xz");
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn assert_matches_wgrib2(file: &str, message: usize, reference: &str) {
    assert_field_matches_wgrib2(file, message, 0, reference)
}

fn assert_field_matches_wgrib2(file: &str, message: usize, field: usize, reference: &str) {
    let bytes = read_fixture(file);
    let (offset, length) = scan(&bytes).unwrap()[message];
    let decoded = decode_field(&bytes[offset as usize..(offset + length) as usize], field).unwrap();
    let expected = reference_values(reference);
    assert_eq!(decoded.values.len(), expected.len(), "{file}");
    for (i, (&got, &want)) in decoded.values.iter().zip(&expected).enumerate() {
        if want >= 9.999e20 {
            assert!(got.is_nan(), "{file}[{i}]: {got}, wgrib2 undefined");
        } else {
            assert!(
                (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{file}[{i}]: {got} vs {want}"
            );
        }
    }
}

#[test]
fn ecmwf_ccsds_matches_wgrib2() {
    assert_matches_wgrib2(
        "ecmwf/20240101000000-0h-oper-fc.grib2.0-10",
        0,
        "ecmwf-realtime-oper-fc-0-le.bin.xz",
    );
}

#[test]
fn gdas_complex_spatial_matches_wgrib2() {
    assert_matches_wgrib2(
        "gfs/gdas.t12z.pgrb2.0p25.f000.12",
        0,
        "gdas-12-wgrib2-le.bin.xz",
    );
}

/// Regression: gribberish decodes a 5.3 constant field (bitsPerValue 0) as zeros.
#[test]
fn gdas_constant_field_matches_wgrib2() {
    assert_matches_wgrib2(
        "gfs/gdas.t12z.pgrb2.0p25.f000.46",
        0,
        "gdas-46-wgrib2-le.bin.xz",
    );
}

/// Regression: gribberish returns wrong values (RhoHV) and panics (PrecipFlag) on PNG.
#[test]
fn mrms_png_matches_wgrib2() {
    assert_matches_wgrib2(
        "misc/MRMS_MergedRhoHV_19.00_20260219-042039.grib2",
        0,
        "mrms-merged-rho-hv-wgrib2-le.bin.xz",
    );
    assert_matches_wgrib2(
        "misc/MRMS_PrecipFlag_00.00_20260219-042400.grib2",
        0,
        "mrms-precip-flag-wgrib2-le.bin.xz",
    );
}

/// Regression: gribberish panics on complex packing without spatial differencing (5.2).
#[test]
fn critfire_complex_packing_matches_wgrib2() {
    assert_matches_wgrib2("misc/ds.critfireo.bin", 0, "ds.critfireo.bin.0.xz");
    assert_matches_wgrib2("misc/ds.critfireo.bin", 1, "ds.critfireo.bin.1.xz");
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn cmc_jpeg2000_matches_wgrib2() {
    assert_matches_wgrib2(
        "misc/CMC_glb_TMP_ISBL_1_latlon.24x.24_2021051800_P000.grib2",
        0,
        "cmc-glb-wgrib2-le.bin.xz",
    );
}

#[test]
fn simple_packing_matches_wgrib2() {
    // wgrib2's reference is field 1.4 (`-d 1.4`) of this multi-field message.
    let file = "misc/Z__C_RJTD_20170221120000_MSG_GPV_Gll0p5deg_Pys_B20170221120000_F2017022115-2017022212_grib2.bin";
    assert_field_matches_wgrib2(file, 0, 3, "kousa-wgrib2-le.bin.xz");
    assert!(decode_field(&read_fixture(file), 40).is_err());
}

/// Regression: gribberish leaves 5.3 missing values as ±2.1e8 instead of masking them.
#[test]
fn missing_value_management_gives_nan() {
    let bytes = read_fixture("gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2");
    let decoded = decode(&bytes).unwrap();
    let m = &summary("gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2")["messages"][0];
    let missing = decoded.values.iter().filter(|v| v.is_nan()).count();
    assert_eq!(missing as u64, m["numberOfMissing"].as_u64().unwrap());
    assert!(missing > 0);
    assert!(decoded
        .values
        .iter()
        .all(|v| v.is_nan() || v.abs() < 1000.0));
}

#[test]
fn regular_grid_coordinates() {
    // GFS 0.25: 90..-90, 0..359.75
    let bytes = read_fixture("gfs/gfs.20200325.t18z.pgrb2.0p25.f006");
    let info = describe(&bytes).unwrap();
    let g = &info.grid;
    assert_eq!((g.ni, g.nj), (Some(1440), Some(721)));
    assert_eq!(g.coordinates(0), Some((90.0, 0.0)));
    assert_eq!(g.coordinates(1441), Some((89.75, 0.25)));
    assert_eq!(g.coordinates(1440 * 721 - 1), Some((-90.0, 359.75)));
    assert_eq!(g.nearest_index(89.75, 0.25), Some(1441));
    assert_eq!(
        g.nearest_index(-1.3, 36.8),
        Some(((90.0 + 1.25) / 0.25) as usize * 1440 + (36.75 / 0.25) as usize)
    );
    assert_eq!(g.nearest_index(0.0, -0.25), Some(360 * 1440 + 1439));
    assert_eq!(g.latitudes().unwrap().len(), 721);
    // ECMWF 0.25: longitudes start at -180.
    let bytes = read_fixture("ecmwf/ecmwf-ifs-oper-surface.grib2");
    let info = describe(&bytes).unwrap();
    let lons = info.grid.longitudes().unwrap();
    assert_eq!((lons[0], lons[1439]), (-180.0, 179.75));
    assert_eq!(info.grid.nearest_index(90.0, 180.0), Some(0));
}

#[test]
fn windows_and_members_from_product_templates() {
    let bytes = read_fixture("gefs/gep08.t00z.pgrb2a.0p50.f012");
    let found = scan(&bytes).unwrap();
    let apcp = describe(&bytes[found[1].0 as usize..]).unwrap();
    assert_eq!(apcp.metadata.short_name, "tp");
    assert_eq!(
        apcp.metadata.time,
        crate::index::ForecastTime::window_hours(6, 12, crate::index::Statistic::Accumulation)
    );
    assert_eq!(apcp.metadata.member, Some(EnsembleMember::Perturbed(8)));
    let tmp = describe(&bytes).unwrap();
    assert_eq!(tmp.metadata.level.type_of_level, "isobaricInhPa");
    assert_eq!(tmp.metadata.level.value, Some(100.0));
}

#[test]
fn truncated_and_corrupt_messages_are_errors() {
    let bytes = read_fixture("gfs/gfs.20200325.t18z.pgrb2.0p25.f006");
    let (_, len) = scan(&bytes).unwrap()[0];
    let message = &bytes[..len as usize];
    for cut in [0, 3, 15, 16, 40, 200, len as usize / 2, len as usize - 1] {
        assert!(decode(&message[..cut]).is_err(), "cut at {cut}");
    }
    assert_eq!(
        decode(b"GRIX0000000000000000").unwrap_err(),
        GribError::NotGrib
    );
    // Corrupt the data section's group count and a section length.
    let mut corrupt = message.to_vec();
    corrupt[16 + 3] = 0xFF;
    assert!(decode(&corrupt).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    /// Any byte flipped anywhere in a real message: an error or a value, never a panic.
    #[test]
    fn mutated_messages_never_panic(position in 0usize..4000, value in proptest::prelude::any::<u8>(), which in 0usize..3) {
        let file = ["gfs/gdas.t12z.pgrb2.0p25.f000.46", "gefs/gep08.t00z.pgrb2a.0p50.f012", "misc/chem_ll.grib2"][which];
        let mut bytes = read_fixture(file);
        let p = position % bytes.len();
        bytes[p] = value;
        let _ = decode(&bytes);
        let _ = scan(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
        if bytes.len() > 8 { bytes[..4].copy_from_slice(b"GRIB"); }
        let _ = decode(&bytes);
        let _ = scan(&bytes);
    }
}

#[test]
fn fixture_dir_is_found() {
    assert!(fixture("SOURCES.md").is_file());
}

#[test]
fn header_prefix_describes_the_message() {
    for file in [
        "gfs/gfs.20200325.t18z.pgrb2.0p25.f006",
        "ecmwf/aifs-ens-cf-t500.grib2",
        "gefs/gep08.t00z.pgrb2a.0p50.f012",
    ] {
        let bytes = read_fixture(file);
        let full = describe(&bytes).unwrap();
        let header = describe_header(&bytes[..bytes.len().min(4096)]).unwrap();
        assert_eq!(header.grid, full.grid, "{file}");
        assert_eq!(header.metadata, full.metadata, "{file}");
        assert_eq!(header.length, full.length, "{file}");
        assert!(describe_header(&bytes[..40]).is_err());
    }
}
