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
//! - Untrusted sizes: a stale index (its GRIB2 file replaced by a shorter one) is reported and
//!   its file skipped; a NOAA sub-field after the first is reported, never referenced as the
//!   message's first field; bodies over their cap, a server ignoring `Range`, and a header
//!   fallback on a huge declared length never turn into large downloads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use std::sync::Arc;

use gik_builder::build::BuildPlan;
use gik_builder::destination::Destination;
use gik_builder::fetch_limits::{fetch_grid, FIRST_HEADER_BYTES, MAX_HEADER_BYTES};
use gik_builder::http::{BodyLimits, FetchError, HttpClient, ObjectKind, RetryConfig};
use gik_core::catalog::{Catalog, CATALOG_FILE};
use gik_core::manifest::{ByteRange, Reference};
use gik_core::member::MemberManifest;
use gik_tests::mirror::{
    Content, FaultKind, FaultRule, MemContent, MirrorConfig, MirrorServer, Mount,
};
use gik_tests::synthetic::{
    ecmwf_key, expected_field_value, gefs_key, Model, Synthetic, SyntheticConfig, ECMWF_BUCKET,
    GEFS_BUCKET,
};

use common::{
    build_into, build_to_dir, mirror, plan, quick_retries, range_read, read_catalog, read_member,
    run, runtime,
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
    let mut files = common::files_under(dir);
    files.remove(CATALOG_FILE);
    files
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
    assert_eq!(want.len(), 4, "3 members and the ensemble");
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
    let mut plan = small_gefs(&server);
    let out = tempfile::tempdir().unwrap();
    // A full build first: the catalog already names gep05 when the next build loses it.
    build_to_dir(&plan, out.path());
    assert!(check_catalog_targets(out.path(), "gefs").contains_key("gep05"));
    // The rebuild loses gep05, so it is published only when forced (without `force` the
    // published run is kept: tests/tests/publish.rs).
    plan.force = true;

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
    let whole_files: Vec<&String> = manifest
        .manifest()
        .iter()
        .filter(|(_, r)| matches!(r, Reference::WholeFile { .. }))
        .map(|(k, _)| k)
        .collect();
    assert!(
        whole_files.is_empty(),
        "whole-file references: {whole_files:?}"
    );
    let refs: Vec<_> = manifest.manifest().chunk_ranges().collect();
    for (key, r) in &refs {
        let length = r.length;
        let bytes = range_read(server, &r.url, r.offset, length);
        let messages = gik_core::grib::scan(&bytes).unwrap_or_else(|e| panic!("{}: {e}", key));
        assert_eq!(
            messages,
            [(0, length)],
            "{}: {} bytes at {}",
            key,
            length,
            r.offset
        );
        let info = gik_core::grib::describe(&bytes).unwrap();
        assert_eq!(info.length, length, "{}", key);
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

/// Serves `bytes` at `path` in place of what `mount` has there (a longer prefix wins).
fn replace_file(mount: &mut Mount, path: &str, bytes: Vec<u8>) {
    let (dir, file) = path.rsplit_once('/').unwrap();
    mount.add(dir, Arc::new(MemContent::new().with(file, bytes)));
}

/// The whole object at `path` of `mount`.
fn read_whole(mount: &Mount, path: &str) -> Vec<u8> {
    let len = mount
        .len(path)
        .unwrap_or_else(|| panic!("{path} not served"));
    mount.read(path, 0..len).unwrap()
}

#[test]
fn stale_indexes_are_reported_and_their_files_skipped() {
    // The GRIB2 files of GEFS gep05 f006 and ECMWF step 6 were re-uploaded shorter (half the
    // size); their indexes were not.
    let synthetic = Synthetic::load(SyntheticConfig::new([run()])).unwrap();
    let mut mount = synthetic.mount();
    let gefs_grib = format!("{GEFS_BUCKET}/{}", gefs_key(run(), 5, 6));
    let ecmwf_grib = format!("{ECMWF_BUCKET}/{}", ecmwf_key(run(), 6));
    for path in [&gefs_grib, &ecmwf_grib] {
        let mut bytes = read_whole(&mount, path);
        bytes.truncate(bytes.len() / 2);
        replace_file(&mut mount, path, bytes);
    }
    let server = MirrorServer::start(MirrorConfig::new(mount)).unwrap();

    for (product, stale_grib, stale_index, stale_members) in [
        (
            "gefs",
            &gefs_grib,
            format!("{gefs_grib}.idx"),
            vec!["gep05"],
        ),
        (
            "ecmwf",
            &ecmwf_grib,
            ecmwf_grib.replace(".grib2", ".index"),
            vec!["control", "ens05"],
        ),
    ] {
        let plan = plan(&server, product, "0,5", "0-12", &[]);
        let out = tempfile::tempdir().unwrap();
        let report = build_to_dir(&plan, out.path());
        let mut missing: Vec<(&str, Option<u32>)> = report
            .missing
            .iter()
            .map(|m| (m.member.as_str(), m.step))
            .collect();
        missing.sort();
        let want: Vec<(&str, Option<u32>)> = stale_members.iter().map(|&m| (m, Some(6))).collect();
        assert_eq!(missing, want, "{product}: {:?}", report.missing);
        for m in &report.missing {
            assert!(
                m.reason.contains("stale")
                    && m.reason.contains(&server.url(&stale_index))
                    && m.reason.contains(&server.url(stale_grib)),
                "{product}: {}",
                m.reason
            );
        }
        // Nothing references the stale file; every other range is one whole message.
        for (member, manifest) in check_catalog_targets(out.path(), product) {
            for (key, r) in manifest.manifest().chunk_ranges() {
                assert!(
                    !r.url.ends_with(stale_grib.as_str())
                        || !stale_members.contains(&member.as_str()),
                    "{product} {member}: {key} references the stale file"
                );
            }
            check_every_range(&server, &manifest);
        }
    }
}

#[test]
fn noaa_sub_fields_after_the_first_are_reported_not_referenced() {
    // gep01 f003's inventory packs 2 m temperature as field 2 of the message before it (as
    // wgrib2 writes `n.1`/`n.2` for a multi-field message): its byte range is that message,
    // whose first field is another variable.
    let synthetic = Synthetic::load(SyntheticConfig::new([run()])).unwrap();
    let mut mount = synthetic.mount();
    let index = format!("{GEFS_BUCKET}/{}.idx", gefs_key(run(), 1, 3));
    let text = String::from_utf8(read_whole(&mount, &index)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let t2m = lines
        .iter()
        .position(|l| l.contains(":TMP:2 m above ground:"))
        .expect("TMP:2 m above ground in the synthetic inventory");
    assert!(t2m > 0, "TMP is not the first message");
    let previous: Vec<String> = lines[t2m - 1].split(':').map(str::to_string).collect();
    let mut fields: Vec<String> = lines[t2m].split(':').map(str::to_string).collect();
    let (number, offset) = (previous[0].clone(), previous[1].clone());
    lines[t2m - 1] = format!("{number}.1:{}", previous[1..].join(":"));
    fields[0] = format!("{number}.2");
    fields[1] = offset;
    lines[t2m] = fields.join(":");
    replace_file(&mut mount, &index, (lines.join("\n") + "\n").into_bytes());
    let server = MirrorServer::start(MirrorConfig::new(mount)).unwrap();

    let plan = plan(&server, "gefs", "1", "0-6", &["TMP:2 m above ground"]);
    let out = tempfile::tempdir().unwrap();
    let report = build_to_dir(&plan, out.path());
    let missing: Vec<_> = report
        .missing
        .iter()
        .map(|m| (m.member.as_str(), m.step))
        .collect();
    assert_eq!(missing, [("gep01", Some(3))], "{:?}", report.missing);
    let reason = &report.missing[0].reason;
    assert!(
        reason.contains("field 2")
            && reason.contains("TMP")
            && reason.contains(&format!("line {}", t2m + 1))
            && reason.contains(&server.url(&index)),
        "{reason}"
    );
    let manifests = check_catalog_targets(out.path(), "gefs");
    let gep01 = &manifests["gep01"];
    let array = "t2m/instant/heightAboveGround/t2m";
    assert!(
        gep01.chunk(array, 3).unwrap().is_none(),
        "f003 must not be referenced"
    );
    for step in [0, 6] {
        assert!(gep01.chunk(array, step).unwrap().is_some(), "f{step:03}");
    }
    check_every_range(&server, gep01);
}

/// A mirror serving `path` → `bytes`.
fn serve(path: &str, bytes: Vec<u8>) -> MirrorServer {
    MirrorServer::start(MirrorConfig::new(MemContent::new().with(path, bytes))).unwrap()
}

#[test]
fn bodies_over_their_cap_are_not_downloaded() {
    // Large enough that loopback socket buffers (a few MiB) cannot hold half of it: what the
    // server manages to send before the client hangs up stays well under BIG / 2.
    const BIG: u64 = 64 << 20;
    let server = serve("b/huge.idx", vec![b'x'; BIG as usize]);
    let url = server.url("b/huge.idx");
    let limits = BodyLimits {
        index: 1 << 20,
        message: 2 << 20,
        ..BodyLimits::default()
    };
    let client = HttpClient::new(4, quick_retries())
        .unwrap()
        .with_limits(limits);
    let rt = runtime();

    // A whole-object GET over the index cap: an error naming the URL, the size and the cap,
    // decided on the announced length, after reading (almost) nothing.
    let error = rt
        .block_on(client.get_object(&url, ObjectKind::Index))
        .unwrap_err();
    assert!(
        matches!(error, FetchError::TooLarge { size: BIG, cap, .. } if cap == 1 << 20),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&url) && text.contains(&BIG.to_string()),
        "{text}"
    );
    assert!(server.wait_idle(Duration::from_secs(5)));
    assert!(
        server.stats().bytes_sent < BIG / 2,
        "{} bytes sent",
        server.stats().bytes_sent
    );

    // A Range request over the message cap is refused before any request.
    server.reset_stats();
    let error = rt.block_on(client.get_range(&url, 0, 3 << 20)).unwrap_err();
    assert!(matches!(error, FetchError::TooLarge { .. }), "{error:?}");
    assert_eq!(server.stats().requests, 0);

    // A server that ignores Range: an error at once, without reading the whole object.
    server.reset_stats();
    server.faults().set(vec![FaultRule::ignore_range()]);
    let error = rt.block_on(client.get_range(&url, 100, 1000)).unwrap_err();
    assert!(
        matches!(&error, FetchError::BadRange { reason, .. } if reason.contains("200")),
        "{error:?}"
    );
    assert!(error.to_string().contains(&url), "{error}");
    assert!(server.wait_idle(Duration::from_secs(5)));
    let stats = server.stats();
    assert_eq!((stats.requests, stats.faults), (1, 1), "not retried");
    assert!(
        stats.bytes_sent < BIG / 2,
        "{} bytes sent",
        stats.bytes_sent
    );
    server.faults().clear();
}

#[test]
fn the_grid_probe_never_reads_a_whole_declared_length() {
    // A stale index may declare a huge length for a message that is not there any more (here:
    // 8 MiB of zeros). The probe reads its first 8 KiB, then at most MAX_HEADER_BYTES.
    const BIG: u64 = 8 << 20;
    let server = serve("b/f.grib2", vec![0u8; BIG as usize]);
    let client = HttpClient::new(4, quick_retries()).unwrap();
    let message = ByteRange::new(server.url("b/f.grib2"), 0, BIG);
    let error = runtime()
        .block_on(fetch_grid(&client, &message))
        .unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains(&message.url), "{text}");
    assert!(server.wait_idle(Duration::from_secs(5)));
    let sent = server.stats().bytes_sent;
    assert_eq!(
        sent,
        FIRST_HEADER_BYTES + MAX_HEADER_BYTES,
        "{sent} bytes sent"
    );
}
