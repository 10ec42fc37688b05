//! `gik stream` end to end: manifests built from the synthetic mirror, streamed into NetCDF,
//! checked value by value with the `netcdf` crate and with xarray (`tests/python/check_netcdf.py`
//! in the `$GIK_VENV` virtualenv; without it these tests fail, they are never skipped).
//!
//! * a cGAN-like subset (ECMWF, 2 members, 2 steps, `tp` + `2t`) read through `--source` from a
//!   second mirror: `tp` equals the synthetic truth, `2t` equals gik-core's decode of the real
//!   fixture message at the same points, NaN where the regional `tp` grid does not reach;
//! * rain-probability over East Africa for all 31 GEFS members and one 24-hour window: totals
//!   equal `expected_precip`, probabilities equal `expected_exceedance`, at several points;
//! * a 404 for one member: its totals are NaN, the attributes name it, the probabilities leave
//!   it out; with `--strict` the command fails and leaves no file.
//! * the run's ensemble manifest read instead of the member manifests (one file instead of N,
//!   counted in the request log of the mirror serving the catalog), with the same values as
//!   the member manifests give; an unreadable one falls back to the member manifests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use common::{
    build_to_dir, mirror, plan, quick_retries, read_catalog, run, runtime, venv_program,
    workspace_root,
};
use gik_builder::http::HttpClient;
use gik_builder::progress::Progress;
use gik_builder::stream::netcdf_out::partial_path;
use gik_builder::stream::{stream, StreamArgs, StreamReport};
use gik_tests::mirror::{DirContent, FaultRule, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{
    expected_exceedance, expected_field_value, expected_precip, fixtures_dir, rain_tenths, Model,
    Synthetic, SyntheticConfig, ECMWF_BUCKET,
};
use serde_json::{json, Value};

/// Interior and edge points of East Africa (lat, lon), all on the 0.25° lattice.
const POINTS: [(f64, f64); 7] = [
    (0.0, 37.0),
    (10.25, 40.5),
    (-5.0, 30.0),
    (23.0, 21.0),
    (-12.0, 53.0),
    (2.5, 45.75),
    (15.0, 33.25),
];

const THRESHOLDS: [f64; 5] = [1.0, 5.0, 10.0, 25.0, 50.0];

/// The tests of this file run one at a time. HDF5 opens files without close-on-exec and locks
/// them: a Python check spawned by one test while another test's writer has its file open
/// inherits that descriptor and its lock, and the other test's own reopen then fails.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gik-stream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_stream(args: &[&str]) -> anyhow::Result<StreamReport> {
    let args = StreamArgs::from_args(args)?;
    let client = HttpClient::new(args.concurrency, quick_retries()).unwrap();
    let progress = Progress::new(true);
    runtime().block_on(stream(&args, &client, &progress))
}

/// Index of `value` in a coordinate variable.
fn index_of(file: &netcdf::File, name: &str, value: f64) -> usize {
    let values: Vec<f64> = file.variable(name).unwrap().get_values(..).unwrap();
    values
        .iter()
        .position(|v| (v - value).abs() < 1e-9)
        .unwrap_or_else(|| panic!("{name} has no {value}"))
}

fn value_at(file: &netcdf::File, var: &str, outer: [usize; 2], lat: f64, lon: f64) -> f32 {
    let r = index_of(file, "latitude", lat);
    let c = index_of(file, "longitude", lon);
    file.variable(var)
        .unwrap()
        .get_value::<f32, _>([outer[0], outer[1], r, c])
        .unwrap()
}

fn text_attr(var: &netcdf::Variable<'_>, name: &str) -> String {
    match var.attribute_value(name) {
        Some(Ok(netcdf::AttributeValue::Str(s))) => s,
        other => panic!("attribute {name}: {other:?}"),
    }
}

fn int_attr(var: &netcdf::Variable<'_>, name: &str) -> i64 {
    match var.attribute_value(name) {
        Some(Ok(netcdf::AttributeValue::Longlong(v))) => v,
        other => panic!("attribute {name}: {other:?}"),
    }
}

fn global_attr(file: &netcdf::File, name: &str) -> String {
    match file.attribute(name).map(|a| a.value()) {
        Some(Ok(netcdf::AttributeValue::Str(s))) => s,
        other => panic!("global attribute {name}: {other:?}"),
    }
}

/// Runs the xarray check of `spec` (see tests/python/check_netcdf.py).
fn check_with_xarray(dir: &Path, spec: &Value) {
    let python = venv_program("python");
    let spec_path = dir.join("expected.json");
    std::fs::write(&spec_path, serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    let script = workspace_root().join("tests/python/check_netcdf.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&spec_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xarray check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nan_or(v: f32) -> Value {
    if v.is_nan() {
        Value::Null
    } else {
        json!(v)
    }
}

/// Streams ECMWF `tp` and `2t` at steps 36 and 39 of the 20250801 00z run, for `members`, over
/// the cGAN box, from `catalog` into `out`.
fn cgan_like_args<'a>(catalog: &'a str, members: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--catalog",
        catalog,
        "--product",
        "ecmwf",
        "--date",
        "20250801",
        "--run",
        "00",
        "--vars",
        "tp,2t",
        "--steps",
        "36,39",
        "--members",
        members,
        "--bbox=-14,25,19,55",
        "--out",
        out,
    ]
}

#[test]
fn cgan_subset_through_a_second_mirror() {
    let _serial = serial();
    let dir = scratch("cgan");
    let builder_mirror = mirror();
    let plan = plan(&builder_mirror, "ecmwf", "0-1", "36,39", &["tp", "2t"]);
    let report = build_to_dir(&plan, &dir);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    // The manifests point at the first mirror; stream from a second one with --source.
    drop(builder_mirror);
    let data_mirror = mirror();
    let source = data_mirror.url(ECMWF_BUCKET);
    let out = dir.join("cgan.nc");
    let mut args = cgan_like_args(dir.to_str().unwrap(), "0-1", out.to_str().unwrap());
    args.extend(["--source", &source]);
    let report = run_stream(&args).unwrap();
    assert_eq!((report.messages, report.read), (8, 8), "{report:?}");
    assert!(report.missing.is_empty());
    assert!(report.bytes > 0);
    let stats = data_mirror.stats();
    assert_eq!(stats.range_requests, 8, "{stats:?}");
    assert!(out.is_file() && !partial_path(&out).exists());

    // 2 m temperature is a real global message: the truth is gik-core's decode of the fixture.
    let t2m_bytes = std::fs::read(fixtures_dir().join("ecmwf/aifs-ens-cf-t500.grib2")).unwrap();
    let t2m = gik_core::grib::decode(&t2m_bytes).unwrap();
    let t2m_at = |lat: f64, lon: f64| {
        let i = t2m.info.grid.nearest_index(lat, lon).unwrap();
        t2m.values[i]
    };

    let file = netcdf::open(&out).unwrap();
    assert_eq!(file.dimension_len("member"), Some(2));
    assert_eq!(file.dimension_len("step"), Some(2));
    assert_eq!(file.dimension_len("latitude"), Some(157));
    assert_eq!(file.dimension_len("longitude"), Some(145));
    let mut points = Vec::new();
    let box_points: Vec<(f64, f64)> = POINTS
        .iter()
        .copied()
        .chain([(25.0, 19.0), (24.0, 30.0), (0.0, 55.0), (-14.0, 54.75)])
        .collect();
    for (m, member) in [0u16, 1].into_iter().enumerate() {
        for (s, step) in [36u32, 39].into_iter().enumerate() {
            for &(lat, lon) in &box_points {
                let inside = (-12.0..=23.0).contains(&lat) && (21.0..=53.0).contains(&lon);
                let tp = value_at(&file, "tp", [m, s], lat, lon);
                if inside {
                    let want =
                        expected_field_value(Model::Ecmwf, run(), member, step, lat, lon).unwrap();
                    assert!(
                        (tp - want).abs() <= 1e-6,
                        "tp m{m} f{step} ({lat},{lon}): {tp} vs {want}"
                    );
                } else {
                    assert!(
                        tp.is_nan(),
                        "tp outside the regional grid at ({lat},{lon}): {tp}"
                    );
                }
                let t = value_at(&file, "t2m", [m, s], lat, lon);
                assert_eq!(t, t2m_at(lat, lon), "t2m ({lat},{lon})");
                points.push(json!({"var": "tp", "sel": {"member": member, "step": step,
                    "latitude": lat, "longitude": lon}, "value": nan_or(tp), "atol": 1e-7}));
                points.push(json!({"var": "t2m", "sel": {"member": member, "step": step,
                    "latitude": lat, "longitude": lon}, "value": t2m_at(lat, lon)}));
            }
        }
    }
    let tp = file.variable("tp").unwrap();
    assert_eq!(text_attr(&tp, "units"), "m");
    assert_eq!(int_attr(&tp, "gik_missing_count"), 0);
    assert_eq!(
        global_attr(&file, "attribution"),
        "© ECMWF, CC BY 4.0, derived from ECMWF open data"
    );
    assert!(
        global_attr(&file, "source").contains(&source),
        "{}",
        global_attr(&file, "source")
    );
    drop(file);

    let spec = json!({
        "path": out,
        "dims": {"member": 2, "step": 2, "latitude": 157, "longitude": 145},
        "coords": {
            "step": [36, 39],
            "member": [0, 1],
            "member_name": ["control", "ens01"],
            "valid_time": ["2025-08-02T12:00:00", "2025-08-02T15:00:00"],
            "time": "2025-08-01T00:00:00",
            "latitude": {"first": 25.0, "last": -14.0},
            "longitude": {"first": 19.0, "last": 55.0},
        },
        "global_attrs": {
            "Conventions": "CF-1.8",
            "product": "ecmwf",
            "run": "2025-08-01T00:00:00Z",
            "attribution": "© ECMWF, CC BY 4.0, derived from ECMWF open data",
        },
        "var_attrs": {
            "tp": {"units": "m", "long_name": "Total precipitation", "gik_missing_count": 0},
            "t2m": {"units": "K", "standard_name": "air_temperature", "long_name": "2 metre temperature"},
            "latitude": {"units": "degrees_north", "standard_name": "latitude"},
            "longitude": {"units": "degrees_east", "standard_name": "longitude"},
            "step": {"standard_name": "forecast_period"},
            "valid_time": {"standard_name": "time"},
            "time": {"standard_name": "forecast_reference_time"},
        },
        "compressed": ["tp", "t2m"],
        "points": points,
    });
    check_with_xarray(&dir, &spec);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Builds the GEFS steps window 24–48 h needs, for all members, into a fresh folder.
fn gefs_window_build(name: &str) -> (gik_tests::mirror::MirrorServer, PathBuf) {
    let dir = scratch(name);
    let server = mirror();
    let plan = plan(&server, "gefs", "all", "30,36,42,48", &["APCP:surface"]);
    let report = build_to_dir(&plan, &dir);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    assert_eq!(report.members_written, 31);
    (server, dir)
}

fn rain_args<'a>(dir: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "--catalog",
        dir,
        "--product",
        "gefs",
        "--date",
        "20250801",
        "--preset",
        "rain-probability",
        "--window-end",
        "48",
        "--out",
        out,
    ]
}

#[test]
fn rain_probability_for_every_gefs_member() {
    let _serial = serial();
    let (_server, dir) = gefs_window_build("rain");
    let out = dir.join("rain.nc");
    let report = run_stream(&rain_args(dir.to_str().unwrap(), out.to_str().unwrap())).unwrap();
    assert_eq!(
        (report.messages, report.read),
        (31 * 4, 31 * 4),
        "{report:?}"
    );
    assert_eq!(
        report.variables,
        ["precipitation", "exceedance_probability"]
    );

    let window = (24, 48);
    let file = netcdf::open(&out).unwrap();
    assert_eq!(file.dimension_len("member"), Some(31));
    assert_eq!(file.dimension_len("step"), Some(1));
    assert_eq!(file.dimension_len("threshold"), Some(5));
    assert_eq!(file.dimension_len("latitude"), Some(141));
    assert_eq!(file.dimension_len("longitude"), Some(129));
    let bounds: Vec<i32> = file.variable("step_bnds").unwrap().get_values(..).unwrap();
    assert_eq!(bounds, [24, 48]);
    let mut points = Vec::new();
    let mut nontrivial = 0;
    for &(lat, lon) in &POINTS {
        for member in [0u16, 1, 5, 17, 30] {
            let got = value_at(&file, "precipitation", [usize::from(member), 0], lat, lon);
            let want = expected_precip(Model::Gefs, run(), member, window, lat, lon);
            assert!(
                (got - want).abs() < 1e-4,
                "m{member} ({lat},{lon}): {got} vs {want}"
            );
            points.push(
                json!({"var": "precipitation", "sel": {"member": member, "step": 48,
                "latitude": lat, "longitude": lon}, "value": want, "atol": 1e-4}),
            );
        }
        for (t, &threshold) in THRESHOLDS.iter().enumerate() {
            let got = value_at(&file, "exceedance_probability", [t, 0], lat, lon);
            let want = expected_exceedance(Model::Gefs, run(), window, threshold, lat, lon);
            assert!(
                (got - want).abs() < 1e-3,
                "> {threshold} mm ({lat},{lon}): {got} vs {want}"
            );
            if want > 0.0 && want < 100.0 {
                nontrivial += 1;
            }
            points.push(
                json!({"var": "exceedance_probability", "sel": {"threshold": threshold,
                "step": 48, "latitude": lat, "longitude": lon}, "value": want, "atol": 1e-3}),
            );
        }
    }
    assert!(
        nontrivial >= 5,
        "only {nontrivial} probabilities strictly between 0 and 100"
    );
    drop(file);

    let names: Vec<String> = (0..31)
        .map(|m| {
            if m == 0 {
                "gec00".into()
            } else {
                format!("gep{m:02}")
            }
        })
        .collect();
    let spec = json!({
        "path": out,
        "dims": {"member": 31, "step": 1, "threshold": 5, "latitude": 141, "longitude": 129},
        "coords": {
            "step": [48],
            "threshold": [1.0, 5.0, 10.0, 25.0, 50.0],
            "member_name": names,
            "valid_time": ["2025-08-03T00:00:00"],
            "latitude": {"first": 23.0, "last": -12.0},
            "longitude": {"first": 21.0, "last": 53.0},
        },
        "global_attrs": {
            "Conventions": "CF-1.8",
            "product": "gefs",
            "gik_preset": "rain-probability",
        },
        "var_attrs": {
            "precipitation": {"units": "mm", "gik_missing_count": 0},
            "exceedance_probability": {"units": "%"},
            "threshold": {"units": "mm"},
        },
        "compressed": ["precipitation", "exceedance_probability"],
        "points": points,
    });
    check_with_xarray(&dir, &spec);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_member_is_nan_and_named_and_strict_writes_nothing() {
    let _serial = serial();
    let (server, dir) = gefs_window_build("missing");
    server
        .faults()
        .add(FaultRule::not_found().path("noaa-gefs-pds/*/gep05.t00z.pgrb2s.0p25.f036"));
    let out = dir.join("rain.nc");
    let report = run_stream(&rain_args(dir.to_str().unwrap(), out.to_str().unwrap())).unwrap();
    assert_eq!(report.missing.len(), 1, "{:?}", report.missing);
    let missing = &report.missing[0];
    assert_eq!((missing.member.as_str(), missing.step), ("gep05", 36));
    assert!(missing.reason.contains("404"), "{missing}");
    assert_eq!(report.read, 31 * 4 - 1);

    let window = (24, 48);
    let file = netcdf::open(&out).unwrap();
    let precip = file.variable("precipitation").unwrap();
    assert!(text_attr(&precip, "gik_missing").contains("gep05 f036"));
    assert_eq!(int_attr(&precip, "gik_missing_count"), 1);
    let prob = file.variable("exceedance_probability").unwrap();
    assert_eq!(text_attr(&prob, "gik_members_missing"), "gep05");
    let mut points = Vec::new();
    for &(lat, lon) in &POINTS {
        assert!(value_at(&file, "precipitation", [5, 0], lat, lon).is_nan());
        let other = value_at(&file, "precipitation", [6, 0], lat, lon);
        assert!((other - expected_precip(Model::Gefs, run(), 6, window, lat, lon)).abs() < 1e-4);
        points.push(
            json!({"var": "precipitation", "sel": {"member": 5, "step": 48,
            "latitude": lat, "longitude": lon}, "value": null}),
        );
        // The probability over the 30 members that have a total.
        for (t, &threshold) in THRESHOLDS.iter().enumerate() {
            let above = (0..31u16)
                .filter(|&m| m != 5)
                .filter(|&m| {
                    f64::from(rain_tenths(Model::Gefs, run(), m, 24, 48, lat, lon))
                        > threshold * 10.0
                })
                .count();
            let want = above as f32 * 100.0 / 30.0;
            let got = value_at(&file, "exceedance_probability", [t, 0], lat, lon);
            assert!(
                (got - want).abs() < 1e-3,
                "> {threshold} ({lat},{lon}): {got} vs {want}"
            );
            points.push(
                json!({"var": "exceedance_probability", "sel": {"threshold": threshold,
                "step": 48, "latitude": lat, "longitude": lon}, "value": want, "atol": 1e-3}),
            );
        }
    }
    drop(file);
    check_with_xarray(
        &dir,
        &json!({
            "path": out,
            "var_attrs": {"precipitation": {"gik_missing_count": 1}},
            "attr_contains": {
                "precipitation": {"gik_missing": "gep05 f036"},
                "exceedance_probability": {"gik_members_missing": "gep05"},
            },
            "points": points,
        }),
    );

    // --strict: the same request fails and leaves neither the file nor its partial.
    let strict_out = dir.join("strict.nc");
    let mut args = rain_args(dir.to_str().unwrap(), strict_out.to_str().unwrap());
    args.push("--strict");
    let err = run_stream(&args).unwrap_err().to_string();
    assert!(err.contains("gep05") && err.contains("--strict"), "{err}");
    assert!(!strict_out.exists());
    assert!(!partial_path(&strict_out).exists());
    // Strict also refuses to overwrite an earlier good file with a partial one.
    let err = run_stream(&{
        let mut a = rain_args(dir.to_str().unwrap(), out.to_str().unwrap());
        a.push("--strict");
        a
    })
    .unwrap_err();
    assert!(err.to_string().contains("gep05"));
    assert!(out.is_file() && !partial_path(&out).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A catalog whose manifests point at another member's messages (a stale or tampered
/// manifest, a mirror serving another file): every such message is refused on its sections 0–4
/// and named with what was asked and what was found, never streamed as the member asked for.
#[test]
fn messages_of_another_member_are_refused_and_named() {
    let _serial = serial();
    let dir = scratch("identity");
    let server = mirror();
    let plan = plan(
        &server,
        "gefs",
        "gec00,gep01-gep02",
        "30,36,42,48",
        &["APCP:surface"],
    );
    let report = build_to_dir(&plan, &dir);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    // gep01 and gep02 swap manifests in the catalog, which names no ensemble manifest (the
    // member manifests are read).
    let catalog_path = dir.join("catalog.json");
    let mut catalog: Value =
        serde_json::from_str(&std::fs::read_to_string(&catalog_path).unwrap()).unwrap();
    let entry = &mut catalog["products"]["gefs"]["runs"][0];
    entry.as_object_mut().unwrap().remove("ensemble").unwrap();
    let manifests = entry["manifests"].as_object_mut().unwrap();
    let (one, two) = (manifests["gep01"].clone(), manifests["gep02"].clone());
    manifests.insert("gep01".into(), two);
    manifests.insert("gep02".into(), one);
    std::fs::write(&catalog_path, catalog.to_string()).unwrap();

    let out = dir.join("rain.nc");
    let report = run_stream(&rain_args(dir.to_str().unwrap(), out.to_str().unwrap())).unwrap();
    assert_eq!(report.read, 4, "only the control's messages are read");
    // The preset asks for all 31 members; the 28 not built are missing for that reason.
    let refused: Vec<_> = report
        .missing
        .iter()
        .filter(|m| !m.reason.contains("no manifest for"))
        .collect();
    assert_eq!(refused.len(), 8, "{refused:?}");
    for m in refused {
        assert!(m.member == "gep01" || m.member == "gep02", "{m}");
        let other = if m.member == "gep01" { "2" } else { "1" };
        assert!(
            m.reason.contains("not the one asked for")
                && m.reason.contains(&format!("member {}", m.member))
                && m.reason.contains(&format!("member +{other}"))
                && m.reason.contains("mismatch in member"),
            "{m}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_requests_fail_before_reading_messages() {
    let _serial = serial();
    let dir = scratch("bad");
    let server = mirror();
    let plan = plan(&server, "ecmwf", "0", "36", &["tp"]);
    build_to_dir(&plan, &dir);
    let d = dir.to_str().unwrap();
    let out = dir.join("x.nc");
    let o = out.to_str().unwrap();
    server.reset_stats();
    for (args, needle) in [
        (
            vec![
                "--catalog",
                d,
                "--product",
                "ecmwf",
                "--vars",
                "2t",
                "--out",
                o,
            ],
            "2t",
        ),
        (
            vec!["--catalog", d, "--product", "gefs", "--out", o],
            "no gefs runs",
        ),
        (
            vec![
                "--catalog",
                d,
                "--product",
                "ecmwf",
                "--date",
                "20250802",
                "--out",
                o,
            ],
            "not in the catalog",
        ),
        (
            vec![
                "--catalog",
                d,
                "--preset",
                "cgan",
                "--product",
                "gefs",
                "--out",
                o,
            ],
            "ecmwf",
        ),
        (
            vec![
                "--catalog",
                d,
                "--product",
                "ecmwf",
                "--bbox=10,0,0,1",
                "--out",
                o,
            ],
            "box",
        ),
        (
            vec![
                "--catalog",
                d,
                "--product",
                "ecmwf",
                "--thresholds",
                "1",
                "--out",
                o,
            ],
            "rain",
        ),
    ] {
        let err = format!("{:#}", run_stream(&args).unwrap_err());
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(server.stats().range_requests, 0);
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The values of `var` in `file`, NaN as it is.
fn values(file: &Path, var: &str) -> Vec<f32> {
    let file = netcdf::open(file).unwrap();
    let values = file.variable(var).unwrap().get_values(..).unwrap();
    values
}

/// With more than one member, `gik stream` reads the run's ensemble manifest instead of the
/// member manifests: one manifest request instead of one per member, and the same values to
/// the bit. Without the catalog's `ensemble` field, or with an ensemble manifest that cannot be
/// read, it reads the member manifests; for one member, that member's manifest only.
#[test]
fn the_ensemble_manifest_replaces_the_member_manifests() {
    let _serial = serial();
    let dir = scratch("ensemble");
    let synthetic = Synthetic::load(SyntheticConfig::new([run()])).unwrap();
    let mount = synthetic.mount().at("", DirContent::new(dir.clone()));
    let server = MirrorServer::start(MirrorConfig::new(mount)).unwrap();
    let plan = plan(&server, "ecmwf", "0-3", "36,39", &["tp", "2t"]);
    let report = build_to_dir(&plan, &dir);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let entry = read_catalog(&dir).unwrap().products["ecmwf"].runs[0].clone();
    let ensemble = entry
        .ensemble
        .clone()
        .expect("the build names its ensemble manifest");
    let mut member_manifests: Vec<String> = entry.manifests.values().cloned().collect();
    member_manifests.sort();
    assert_eq!(member_manifests.len(), 4);

    let catalog = format!("{}/catalog.json", server.base_url());
    // Streams `members` into `name`; returns the report, the manifests requested (sorted) and
    // the file.
    let stream_to = |members: &str, name: &str| {
        server.reset_stats();
        let out = dir.join(name);
        let report = run_stream(&cgan_like_args(&catalog, members, out.to_str().unwrap())).unwrap();
        let mut manifests: Vec<String> = server
            .requests()
            .into_iter()
            .map(|r| r.path)
            .filter(|p| p.ends_with(".parquet"))
            .collect();
        manifests.sort();
        (report, manifests, out)
    };

    let (from_ensemble, requested, ensemble_file) = stream_to("0-3", "ensemble.nc");
    assert_eq!(
        requested,
        std::slice::from_ref(&ensemble),
        "one file instead of 4"
    );
    assert_eq!((from_ensemble.messages, from_ensemble.read), (16, 16));
    assert!(
        from_ensemble.missing.is_empty(),
        "{:?}",
        from_ensemble.missing
    );

    // The same run without the ensemble entry: the member manifests, the same values.
    let catalog_path = dir.join("catalog.json");
    let original = std::fs::read_to_string(&catalog_path).unwrap();
    let mut without: Value = serde_json::from_str(&original).unwrap();
    without["products"]["ecmwf"]["runs"][0]
        .as_object_mut()
        .unwrap()
        .remove("ensemble")
        .unwrap();
    std::fs::write(&catalog_path, without.to_string()).unwrap();
    let (from_members, requested, members_file) = stream_to("0-3", "members.nc");
    assert_eq!(requested, member_manifests);
    assert_eq!(from_members.read, from_ensemble.read);
    assert_eq!(from_members.bytes, from_ensemble.bytes);
    let same_bits = |a: &Path, b: &Path, var: &str| {
        let (x, y) = (values(a, var), values(b, var));
        assert_eq!(x.len(), 4 * 2 * 157 * 145, "{var}");
        let differ = x
            .iter()
            .zip(&y)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(
            (x.len(), differ),
            (y.len(), 0),
            "{var}: {differ} values differ"
        );
        assert!(x.iter().any(|v| !v.is_nan()), "{var} is all NaN");
    };
    for var in ["tp", "t2m"] {
        same_bits(&ensemble_file, &members_file, var);
    }

    // An ensemble manifest that cannot be read: the member manifests, the same values.
    std::fs::write(&catalog_path, &original).unwrap();
    let ensemble_path = dir.join(&ensemble);
    let bytes = std::fs::read(&ensemble_path).unwrap();
    std::fs::write(&ensemble_path, &bytes[..bytes.len() / 2]).unwrap();
    let (fallback, requested, fallback_file) = stream_to("0-3", "fallback.nc");
    let mut expected = member_manifests.clone();
    expected.push(ensemble.clone());
    expected.sort();
    assert_eq!(
        requested, expected,
        "the ensemble manifest, then the members'"
    );
    assert!(fallback.missing.is_empty(), "{:?}", fallback.missing);
    for var in ["tp", "t2m"] {
        same_bits(&ensemble_file, &fallback_file, var);
    }

    // One member: its own manifest, not the ensemble manifest.
    std::fs::write(&ensemble_path, &bytes).unwrap();
    let (one, requested, _) = stream_to("2", "one.nc");
    assert_eq!(requested, [entry.manifests["ens02"].clone()]);
    assert_eq!(one.read, 4);
    std::fs::remove_dir_all(&dir).unwrap();
}
