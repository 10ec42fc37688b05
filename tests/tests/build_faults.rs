//! The builder against a misbehaving mirror, and what its manifests point at.
//!
//! - Transient faults (503 SlowDown, 500, resets, truncated bodies) are retried: the manifests
//!   are byte for byte those of a build without faults, and the faults did fire.
//! - 404s are "not published": the build succeeds, reports every missing member and step, and
//!   the catalog names only manifests that exist and parse (a member absent everywhere has no
//!   manifest; one absent at a step has no chunk there).
//! - When every request fails, the build is an error naming the failure, and no catalog is
//!   written (an existing one is left untouched).
//! - End to end: every byte range a GEFS and an ECMWF member manifest references is exactly one
//!   whole GRIB2 message, and the precipitation chunks decode to the synthetic truth.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gik_builder::build::BuildPlan;
use gik_builder::destination::Destination;
use gik_builder::http::RetryConfig;
use gik_core::catalog::{Catalog, CATALOG_FILE};
use gik_core::member::MemberManifest;
use gik_tests::mirror::{FaultKind, FaultRule, MirrorServer};
use gik_tests::synthetic::{expected_field_value, Model};

use common::{
    build_into, build_to_dir, mirror, plan, quick_retries, range_read, read_catalog, read_member,
    run,
};

/// GEFS members 0, 5 and 6, steps 0–12, precipitation and 2 m temperature.
fn small_gefs(server: &MirrorServer) -> BuildPlan {
    plan(
        server,
        "gefs",
        "0,5,6",
        "0-12",
        &["APCP:surface", "TMP:2 m above ground"],
    )
}

/// Every file under `dir` (relative path → bytes), without the catalog.
fn manifests_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if relative != CATALOG_FILE {
                    out.insert(relative, std::fs::read(&path).unwrap());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

/// The catalog with its time stamp cleared.
fn catalog_without_time(dir: &Path) -> Catalog {
    let mut catalog = read_catalog(dir).expect("catalog.json");
    catalog.generated_at.clear();
    catalog
}

/// Every manifest the catalog names exists under `dir` and parses as a member manifest of
/// that member; returns them by member name.
fn check_catalog_targets(dir: &Path, product: &str) -> BTreeMap<String, MemberManifest> {
    let catalog = read_catalog(dir).expect("catalog.json");
    let run = &catalog.products[product].runs[0];
    assert_eq!(
        run.members,
        run.manifests.keys().cloned().collect::<Vec<_>>(),
        "catalog members vs. manifests"
    );
    run.manifests
        .iter()
        .map(|(member, path)| {
            assert!(dir.join(path).is_file(), "catalog names missing {path}");
            let manifest = read_member(dir, path);
            let attrs = manifest.manifest().zattrs("").unwrap().unwrap();
            assert_eq!(
                attrs.other.get("member").and_then(|v| v.as_str()),
                Some(member.as_str())
            );
            (member.clone(), manifest)
        })
        .collect()
}

/// A named kind of transient fault.
type Scenario = (&'static str, fn() -> FaultRule);

#[test]
fn transient_faults_are_retried_and_change_nothing() {
    let server = mirror();
    let plan = small_gefs(&server);
    let clean = tempfile::tempdir().unwrap();
    let report = build_to_dir(&plan, clean.path());
    assert_eq!(report.members_written, 3);
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let want = manifests_in(clean.path());
    assert_eq!(want.len(), 3);
    let want_catalog = catalog_without_time(clean.path());

    // Each fault on index files (GET), on GRIB2 files (HEAD for the size, range GET for the
    // grid), and on every 7th request whatever it is.
    let scenarios: [Scenario; 4] = [
        ("503 SlowDown", FaultRule::slow_down),
        ("500", || FaultRule::status(500)),
        ("reset", FaultRule::reset),
        ("truncated body", || FaultRule::truncate(100)),
    ];
    for (name, rule) in scenarios {
        server.faults().set(vec![
            rule().path("*.idx").times(8),
            rule().path("*f006").times(6),
            rule().every(7).times(5),
        ]);
        let out = tempfile::tempdir().unwrap();
        let dest = Destination::open(out.path().to_str().unwrap()).unwrap();
        let (result, client) = build_into(&plan, &dest, quick_retries(), 16);
        let report = result.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let fired = server.faults().fired();
        let retries = client.stats().retries.load(Ordering::Relaxed);
        assert!(fired >= 10, "{name}: only {fired} faults fired");
        // The 8 faults on index GETs always bite (a truncated HEAD has no body to cut).
        assert!(retries >= 8, "{name}: {retries} retries for {fired} faults");
        assert!(report.missing.is_empty(), "{name}: {:?}", report.missing);
        let got = manifests_in(out.path());
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (path, bytes) in &want {
            assert!(
                got[path] == *bytes,
                "{name}: {path} differs from the clean build"
            );
        }
        assert_eq!(catalog_without_time(out.path()), want_catalog, "{name}");
    }
    server.faults().clear();
}

#[test]
fn missing_members_and_steps_are_reported_and_never_published() {
    let server = mirror();
    let plan = small_gefs(&server);
    let out = tempfile::tempdir().unwrap();
    // A full build first: the catalog already names gep05 when the next build loses it.
    build_to_dir(&plan, out.path());
    assert!(check_catalog_targets(out.path(), "gefs").contains_key("gep05"));

    server.faults().set(vec![
        FaultRule::not_found().path("*gep05*"),
        FaultRule::not_found().path("*gep06*f009*"),
    ]);
    std::fs::remove_dir_all(out.path().join("gefs")).unwrap();
    let report = build_to_dir(&plan, out.path());
    assert!(server.faults().fired() > 0);
    assert_eq!(report.members_written, 2);

    let mut missing: Vec<(String, Option<u32>)> = report
        .missing
        .iter()
        .map(|m| (m.member.clone(), m.step))
        .collect();
    missing.sort();
    let want: Vec<(String, Option<u32>)> = [0, 3, 6, 9, 12]
        .into_iter()
        .map(|s| ("gep05".to_string(), Some(s)))
        .chain([("gep06".to_string(), Some(9))])
        .collect();
    assert_eq!(missing, want);
    for m in &report.missing {
        assert!(m.reason.contains("404"), "{m:?}");
    }

    // The catalog names exactly what exists, and says what is missing.
    let manifests = check_catalog_targets(out.path(), "gefs");
    assert_eq!(
        manifests.keys().collect::<Vec<_>>(),
        ["gec00", "gep06"],
        "gep05 has no manifest and must not be listed"
    );
    let catalog = read_catalog(out.path()).unwrap();
    let entry = &catalog.products["gefs"].runs[0];
    assert_eq!(entry.missing, report.missing);
    assert!(!out
        .path()
        .join("gefs/20250801/00z/2025080100z-gep05.parquet")
        .exists());

    // gep06 lacks step 9 only: no chunk there, chunks on both sides.
    let gep06 = &manifests["gep06"];
    for array in ["tp/accum/surface/tp", "t2m/instant/heightAboveGround/t2m"] {
        assert!(gep06.chunk(array, 9).unwrap().is_none(), "{array} f009");
        assert!(gep06.chunk(array, 6).unwrap().is_some(), "{array} f006");
        assert!(gep06.chunk(array, 12).unwrap().is_some(), "{array} f012");
    }
    server.faults().clear();
}

#[test]
fn when_every_request_fails_the_build_fails_and_publishes_nothing() {
    let server = mirror();
    let plan = small_gefs(&server);
    let retry = RetryConfig {
        max_retries: 2,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        ..quick_retries()
    };

    // Into an empty destination: an error that says why, and nothing written.
    server.faults().set(vec![FaultRule::status(500)]);
    let empty = tempfile::tempdir().unwrap();
    let dest = Destination::open(empty.path().to_str().unwrap()).unwrap();
    let (result, client) = build_into(&plan, &dest, retry.clone(), 16);
    let error = format!(
        "{:#}",
        result.expect_err("a build where every request fails")
    );
    assert!(error.contains("no manifest could be built"), "{error}");
    assert!(error.contains("HTTP 500"), "{error}");
    assert!(error.contains("nothing published"), "{error}");
    // Every file was tried 1 + max_retries times.
    let requests = client.stats().requests.load(Ordering::Relaxed);
    assert_eq!(
        requests,
        30 * 3,
        "15 index files + 15 HEADs, 3 attempts each"
    );
    assert!(read_catalog(empty.path()).is_none());
    assert!(manifests_in(empty.path()).is_empty());

    // Over an earlier good build: the catalog and manifests stay as they were.
    server.faults().clear();
    let published = tempfile::tempdir().unwrap();
    build_to_dir(&plan, published.path());
    let catalog_before = std::fs::read(published.path().join(CATALOG_FILE)).unwrap();
    let manifests_before = manifests_in(published.path());
    server.faults().set(vec![FaultRule::status(500)]);
    let dest = Destination::open(published.path().to_str().unwrap()).unwrap();
    let (result, _) = build_into(&plan, &dest, retry, 16);
    assert!(result.is_err());
    assert_eq!(
        std::fs::read(published.path().join(CATALOG_FILE)).unwrap(),
        catalog_before
    );
    assert!(manifests_in(published.path()) == manifests_before);
    assert!(server
        .faults()
        .rules()
        .iter()
        .all(|r| r.kind() == &FaultKind::Status(500)));
    server.faults().clear();
}

/// Every chunk reference of `manifest` is one whole GRIB2 message; returns how many.
fn check_every_range(server: &MirrorServer, manifest: &MemberManifest) -> usize {
    let refs: Vec<_> = manifest.manifest().chunk_refs().collect();
    for r in &refs {
        let length = r
            .length
            .unwrap_or_else(|| panic!("{}: whole-file reference", r.key));
        let bytes = range_read(server, r.url, r.offset, length);
        let messages = gik_core::grib::scan(&bytes).unwrap_or_else(|e| panic!("{}: {e}", r.key));
        assert_eq!(
            messages,
            [(0, length)],
            "{}: {} bytes at {}",
            r.key,
            length,
            r.offset
        );
        let info = gik_core::grib::describe(&bytes).unwrap();
        assert_eq!(info.length, length, "{}", r.key);
    }
    refs.len()
}

#[test]
fn every_referenced_range_is_one_whole_grib2_message() {
    let server = mirror();
    for (product, members, expected_vars) in [("gefs", "0,7", 8), ("ecmwf", "0,7", 15)] {
        let plan = plan(&server, product, members, "0-12", &[]);
        let out = tempfile::tempdir().unwrap();
        let report = build_to_dir(&plan, out.path());
        assert!(report.missing.is_empty(), "{product}: {:?}", report.missing);
        for (member, manifest) in check_catalog_targets(out.path(), product) {
            assert_eq!(
                manifest.data_arrays().len(),
                expected_vars,
                "{product} {member}"
            );
            let n = check_every_range(&server, &manifest);
            // Instant variables at 5 steps, accumulations at 4 (none at step 0).
            assert!(n >= expected_vars * 4, "{product} {member}: {n} references");
        }
    }
}

#[test]
fn precipitation_chunks_decode_to_the_synthetic_truth() {
    let server = mirror();
    for (product, model, tolerance) in [("gefs", Model::Gefs, 1e-3), ("ecmwf", Model::Ecmwf, 1e-7)]
    {
        let plan = plan(&server, product, "0,3,30", "0-24", &[]);
        let out = tempfile::tempdir().unwrap();
        build_to_dir(&plan, out.path());
        let manifests = check_catalog_targets(out.path(), product);
        assert_eq!(manifests.len(), 3);
        for (name, manifest) in manifests {
            let member: u16 = name
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .unwrap_or(0); // gec00 → 0; control → 0; ens03 → 3
            let array = "tp/accum/surface/tp";
            let steps = manifest.steps(array).unwrap();
            assert_eq!(
                steps,
                (3..=24).step_by(3).collect::<Vec<u32>>(),
                "{product}"
            );
            let mut wet_points = 0;
            for step in steps {
                let chunk = manifest.chunk(array, step).unwrap().unwrap();
                let bytes = range_read(&server, &chunk.url, chunk.offset, chunk.length);
                let decoded = gik_core::grib::decode(&bytes).unwrap();
                let grid = &decoded.info.grid;
                for (i, &value) in decoded.values.iter().enumerate() {
                    let (lat, lon) = grid.coordinates(i).unwrap();
                    let truth = expected_field_value(model, run(), member, step, lat, lon)
                        .unwrap_or_else(|| panic!("{product} f{step:03}: no precipitation"));
                    assert!(
                        (value - truth).abs() <= tolerance,
                        "{product} {name} f{step:03} point {i} ({lat}, {lon}): {value} vs {truth}"
                    );
                    wet_points += usize::from(truth > 0.0);
                }
            }
            assert!(
                wet_points > 1000,
                "{product} {name}: only {wet_points} wet points"
            );
        }
    }
}
