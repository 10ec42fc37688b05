//! Publishing to a real S3-compatible server: moto's, from the test virtualenv, on 127.0.0.1.
//!
//! The builder writes GEFS and ECMWF runs to `s3://gik-test/published` through
//! [`Destination::open_with_options`] (endpoint, plain HTTP, test credentials), and the test
//! checks through the S3 API that
//!
//! - every manifest the catalog names is there and parses, and nothing else was written;
//! - the catalog was written last: moto's request recorder lists the PUTs in arrival order, and
//!   the catalog's is the last of each build (S3's `LastModified` has only second resolution);
//! - building again is idempotent: the same keys, byte-identical manifests (same ETags), and
//!   the same catalog apart from `generated_at`.
//!
//! and that the published catalog never loses, drops or downgrades a run:
//!
//! - N `gik` processes building N runs at once into one bucket, and into one local folder, all
//!   end up in the one catalog (conditional writes on S3, a lock file locally);
//! - a rebuild that would lose members or steps (an outage) keeps the published run, unless
//!   `force`; `keep_runs` never drops the run just built; a build that fails before the catalog
//!   is written leaves the published run's manifests as they were;
//! - variables are published as resolved against their index records (step type, level).
//!
//! moto comes from `scripts/requirements-test.txt` (`moto[server]`); without it the test fails.
//! The server is a child process killed when the test ends, passed or not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gik_builder::build::BuildPlan;
use gik_builder::destination::Destination;
use gik_core::catalog::{Catalog, CATALOG_FILE};
use gik_core::member::MemberManifest;
use gik_core::time::RunTime;
use gik_tests::mirror::{FaultRule, MemContent, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{Synthetic, SyntheticConfig, GEFS_BUCKET};

use common::moto::{destination, s3_settings, Moto, BUCKET, PREFIX};
use common::{
    build_into, build_to_dir, gik_binary, gik_build_gefs, mirror, plan, quick_retries,
    read_catalog, read_member,
};

/// Builds `plan` to moto and checks the order of its writes: every manifest (the members',
/// then the ensemble manifest), then the catalog, last. Returns the number of member
/// manifests written.
fn build_and_check_order(moto: &Moto, plan: &BuildPlan) -> usize {
    let dest = destination(moto);
    moto.take_puts();
    let (result, _) = build_into(plan, &dest, quick_retries(), 32);
    let report = result.unwrap_or_else(|e| panic!("{e:#}"));
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let puts = moto.take_puts();
    let catalog = format!("/{BUCKET}/{PREFIX}/catalog.json");
    assert_eq!(
        puts.last(),
        Some(&catalog),
        "the catalog must be written last: {puts:#?}"
    );
    assert_eq!(
        puts.iter().filter(|p| **p == catalog).count(),
        1,
        "{puts:#?}"
    );
    let manifests: Vec<&String> = puts.iter().filter(|p| p.ends_with(".parquet")).collect();
    assert_eq!(manifests.len(), report.members_written + 1, "{puts:#?}");
    assert!(
        manifests
            .last()
            .is_some_and(|p| p.ends_with("z-ensemble.parquet")),
        "{puts:#?}"
    );
    assert_eq!(
        manifests.len() + 1,
        puts.len(),
        "unexpected writes: {puts:#?}"
    );
    report.members_written
}

/// Everything published, checked against the catalog: keys (without the prefix) and ETags.
fn check_published(moto: &Moto) -> (BTreeMap<String, String>, Catalog) {
    let listed = moto.list(PREFIX);
    let catalog = Catalog::from_json(&moto.get("catalog.json")).unwrap();
    let mut expected = vec![format!("{PREFIX}/catalog.json")];
    for (name, product) in &catalog.products {
        assert_eq!(product.runs.len(), 1, "{name}");
        for (member, path) in &product.runs[0].manifests {
            let key = format!("{PREFIX}/{path}");
            let bytes = moto.get(path);
            let manifest = MemberManifest::from_parquet(&bytes)
                .unwrap_or_else(|e| panic!("{key} ({member}): {e}"));
            assert!(!manifest.data_arrays().is_empty(), "{key}");
            assert_eq!(
                manifest
                    .manifest()
                    .zattrs("")
                    .unwrap()
                    .unwrap()
                    .other
                    .get("member")
                    .and_then(|v| v.as_str()),
                Some(member.as_str())
            );
            expected.push(key);
        }
        let ensemble = product.runs[0]
            .ensemble
            .as_ref()
            .expect("an ensemble manifest");
        let manifest = MemberManifest::from_parquet(&moto.get(ensemble)).unwrap();
        assert!(!manifest.data_arrays().is_empty(), "{ensemble}");
        expected.push(format!("{PREFIX}/{ensemble}"));
    }
    expected.sort();
    let keys: Vec<String> = listed.keys().cloned().collect();
    assert_eq!(keys, expected, "objects in the bucket vs. the catalog");
    (listed, catalog)
}

#[test]
fn builds_publish_to_s3_catalog_last_and_idempotently() {
    let moto = Moto::with_bucket();

    let server = mirror();
    let gefs = plan(
        &server,
        "gefs",
        "0-2",
        "0-6",
        &["APCP:surface", "TMP:2 m above ground"],
    );
    let ecmwf = plan(&server, "ecmwf", "0-1", "0-6", &["tp", "2t"]);

    assert_eq!(build_and_check_order(&moto, &gefs), 3);
    assert_eq!(build_and_check_order(&moto, &ecmwf), 2);
    let (first_keys, first_catalog) = check_published(&moto);
    assert_eq!(first_keys.len(), (3 + 1) + (2 + 1) + 1);
    assert_eq!(
        first_catalog.products.keys().collect::<Vec<_>>(),
        ["ecmwf", "gefs"]
    );

    // Again: same objects, byte for byte, and the same catalog but for its time stamp.
    assert_eq!(build_and_check_order(&moto, &gefs), 3);
    assert_eq!(build_and_check_order(&moto, &ecmwf), 2);
    let (second_keys, second_catalog) = check_published(&moto);
    let manifests = |keys: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        keys.iter()
            .filter(|(k, _)| k.ends_with(".parquet"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        first_keys.keys().collect::<Vec<_>>(),
        second_keys.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        manifests(&first_keys),
        manifests(&second_keys),
        "manifests changed on a rebuild (ETags differ)"
    );
    let strip = |mut c: Catalog| {
        c.generated_at.clear();
        c
    };
    assert!(!second_catalog.generated_at.is_empty());
    assert_eq!(strip(first_catalog), strip(second_catalog));
}

/// Runs `gik build` for GEFS `run` (members 0-1, steps 0-6, `APCP:surface`) from `server`
/// into `out`, as a separate process with `env` added.
fn spawn_gik_build(
    server: &MirrorServer,
    run: RunTime,
    out: &str,
    env: &[(&'static str, String)],
) -> Child {
    let mut cmd = gik_build_gefs(server, run, "0-1", "0-6");
    cmd.args(["--out", out]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Run names (`YYYYMMDDHH`) listed for GEFS in `catalog`, sorted.
fn gefs_runs(catalog: &Catalog) -> Vec<String> {
    let mut runs: Vec<String> = catalog.products["gefs"]
        .runs
        .iter()
        .map(|r| r.run.compact())
        .collect();
    runs.sort();
    runs
}

#[test]
fn concurrent_builds_of_different_runs_all_land_in_one_catalog() {
    const N: i64 = 5;
    let runs: Vec<RunTime> = (0..N).map(|d| common::run().days_before(d)).collect();
    let server = Synthetic::load(SyntheticConfig::new(runs.clone()))
        .unwrap()
        .serve()
        .unwrap();
    let moto = Moto::with_bucket();
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("site");
    let local_out = local.to_str().unwrap().to_string();
    let s3_out = format!("s3://{BUCKET}/{PREFIX}");
    gik_binary(); // built before the clock starts, so the processes start together

    // All 2N processes at once: N into the folder, N into the bucket.
    let mut children = Vec::new();
    for run in &runs {
        children.push(spawn_gik_build(&server, *run, &local_out, &[]));
        children.push(spawn_gik_build(&server, *run, &s3_out, &s3_settings(&moto)));
    }
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "gik build failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut expected: Vec<String> = runs
        .iter()
        .map(|r| format!("{}{}", r.date_string(), r.hour_string()))
        .collect();
    expected.sort();

    let catalog = read_catalog(&local).unwrap();
    assert_eq!(gefs_runs(&catalog), expected, "local folder");
    for run in &catalog.products["gefs"].runs {
        assert_eq!(run.members, ["gec00", "gep01"]);
        for path in run.manifests.values() {
            assert!(
                !read_member(&local, path).data_arrays().is_empty(),
                "{path}"
            );
        }
    }

    let catalog = Catalog::from_json(&moto.get(CATALOG_FILE)).unwrap();
    assert_eq!(gefs_runs(&catalog), expected, "S3 bucket");
    for run in &catalog.products["gefs"].runs {
        for path in run.manifests.values() {
            MemberManifest::from_parquet(&moto.get(path)).unwrap();
        }
    }
    // The bucket holds the catalog and the manifests it names (2 members + the ensemble),
    // nothing else.
    assert_eq!(moto.list(PREFIX).len(), 1 + expected.len() * 3);
}

/// Every file under `dir` (relative paths, sorted) with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::files_under(dir)
}

/// The manifests (`*.parquet`) of `files`.
fn parquets(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter(|(k, _)| k.ends_with(".parquet"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn an_incomplete_rebuild_keeps_the_complete_published_run_unless_forced() {
    let server = mirror();
    let dir = tempfile::tempdir().unwrap();
    let mut gefs = plan(&server, "gefs", "0-2", "0-6", &["APCP:surface"]);
    let first = build_to_dir(&gefs, dir.path());
    assert!(first.missing.is_empty(), "{:?}", first.missing);
    let before = files(dir.path());

    // An outage during the rebuild: every index file of gep01 answers 503.
    server
        .faults()
        .add(FaultRule::status(503).path("*/gep01.*.idx"));
    let dest = Destination::open(dir.path().to_str().unwrap()).unwrap();
    let (result, _) = build_into(&gefs, &dest, quick_retries(), 32);
    let report = result.unwrap();
    assert_eq!(report.members_written, 2);
    assert!(report.missing.iter().all(|m| m.member == "gep01"));
    let why = report
        .kept_published
        .expect("the complete published run must be kept");
    assert!(why.contains("gep01"), "{why}");
    // Not a byte changed: the catalog, and the manifests it names.
    assert_eq!(
        files(dir.path()).remove(CATALOG_FILE),
        before.get(CATALOG_FILE).cloned()
    );
    assert_eq!(parquets(&files(dir.path())), parquets(&before));

    // --force publishes the incomplete run, and gep01's manifest goes with the old entry.
    gefs.force = true;
    let (result, _) = build_into(&gefs, &dest, quick_retries(), 32);
    let report = result.unwrap();
    assert!(report.kept_published.is_none());
    let catalog = read_catalog(dir.path()).unwrap();
    let run = catalog.run("gefs", None).unwrap();
    assert_eq!(run.members, ["gec00", "gep02"]);
    let left: Vec<String> = parquets(&files(dir.path())).into_keys().collect();
    let mut named: Vec<String> = run.owned_paths().map(str::to_string).collect();
    named.sort();
    assert_eq!(left, named);
}

#[test]
fn keep_runs_never_drops_the_run_just_built() {
    let runs = [
        common::run(),
        common::run().days_before(1),
        common::run().days_before(2),
    ];
    let server = Synthetic::load(SyntheticConfig::new(runs))
        .unwrap()
        .serve()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan_for = |run: RunTime| {
        let mut p = plan(&server, "gefs", "0", "0-6", &["TMP:2 m above ground"]);
        p.run = run;
        p.keep_runs = 2;
        p
    };
    build_to_dir(&plan_for(runs[0]), dir.path());
    build_to_dir(&plan_for(runs[1]), dir.path());
    // Older than the two kept: it stays (and says so) until the next build.
    let old = build_to_dir(&plan_for(runs[2]), dir.path());
    assert!(old.beyond_keep);
    assert!(old.dropped_runs.is_empty(), "{:?}", old.dropped_runs);
    let catalog = read_catalog(dir.path()).unwrap();
    assert_eq!(
        gefs_runs(&catalog),
        ["2025073000", "2025073100", "2025080100"]
    );
    let oldest = catalog
        .run("gefs", Some("2025073000".parse().unwrap()))
        .unwrap()
        .clone();
    for path in oldest.manifests.values() {
        read_member(dir.path(), path);
    }
    // The next build trims it, manifests and all.
    let again = build_to_dir(&plan_for(runs[0]), dir.path());
    assert_eq!(again.dropped_runs, ["2025073000"]);
    assert!(!again.beyond_keep);
    let catalog = read_catalog(dir.path()).unwrap();
    assert_eq!(gefs_runs(&catalog), ["2025073100", "2025080100"]);
    for path in oldest.owned_paths() {
        assert!(!dir.path().join(path).exists(), "{path}");
    }
}

#[test]
fn a_build_dying_before_the_catalog_leaves_the_published_run_intact() {
    let server = mirror();
    let dir = tempfile::tempdir().unwrap();
    let both = plan(
        &server,
        "gefs",
        "0-1",
        "0-6",
        &["APCP:surface", "TMP:2 m above ground"],
    );
    build_to_dir(&both, dir.path());
    let before = files(dir.path());
    assert_eq!(parquets(&before).len(), 3);

    // A rebuild with other content (one variable less) dies after writing its manifests: this
    // test holds the folder's lock, so the gik process waits before the catalog, and is killed
    // once the new manifests (two members, the ensemble) are there.
    let lock = std::fs::File::open(dir.path()).unwrap();
    lock.lock().unwrap();
    let mut gik = Command::new(gik_binary())
        .args([
            "--quiet",
            "build",
            "--product",
            "gefs",
            "--date",
            "20250801",
        ])
        .args([
            "--members",
            "0-1",
            "--steps",
            "0-6",
            "--vars",
            "TMP:2 m above ground",
        ])
        .arg("--source")
        .arg(server.url(GEFS_BUCKET))
        .arg("--out")
        .arg(dir.path())
        .env_remove("GIK_SOURCE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while parquets(&files(dir.path())).len() < 6 {
        assert!(gik.try_wait().unwrap().is_none(), "gik exited early");
        assert!(
            Instant::now() < deadline,
            "the new manifests never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    gik.kill().unwrap();
    gik.wait().unwrap();
    lock.unlock().unwrap();

    // The catalog and every manifest it names are as they were.
    let after = files(dir.path());
    assert_eq!(after.get(CATALOG_FILE), before.get(CATALOG_FILE));
    let catalog = read_catalog(dir.path()).unwrap();
    for path in catalog.run("gefs", None).unwrap().owned_paths() {
        assert_eq!(
            after.get(path),
            before.get(path),
            "{path} changed under the catalog"
        );
    }

    // Built again, the run is published, back at the usual paths, and nothing else is left.
    let tmp_only = plan(&server, "gefs", "0-1", "0-6", &["TMP:2 m above ground"]);
    build_to_dir(&tmp_only, dir.path());
    let catalog = read_catalog(dir.path()).unwrap();
    let run = catalog.run("gefs", None).unwrap();
    assert_eq!(run.variables.len(), 1);
    let left: Vec<String> = parquets(&files(dir.path())).into_keys().collect();
    let mut named: Vec<String> = run.owned_paths().map(str::to_string).collect();
    named.sort();
    assert_eq!(left, named);
    let usual: Vec<String> = parquets(&before).into_keys().collect();
    assert_eq!(named, usual);
    for path in &named {
        let manifest = read_member(dir.path(), path);
        assert_eq!(manifest.data_arrays().len(), 1, "{path}");
    }
}

#[test]
fn variables_are_published_as_resolved_against_their_records() {
    // A GEFS member whose f000 has no DSWRF (an average, from f003 on), with a layer level.
    let message =
        std::fs::read(gik_tests::fixtures_dir().join("gfs/gdas.t12z.pgrb2.0p25.f000.46")).unwrap();
    let mut content = MemContent::new();
    for step in [0u32, 3] {
        let time = |window: &str| {
            if step == 0 {
                "anl".to_string()
            } else {
                window.replace("{s}", &step.to_string())
            }
        };
        let mut lines = vec![
            ("TMP", "2 m above ground", time("{s} hour fcst")),
            ("HLCY", "3000-0 m above ground", time("{s} hour fcst")),
        ];
        if step > 0 {
            lines.push(("DSWRF", "surface", format!("0-{step} hour ave fcst")));
        }
        let mut grib = Vec::new();
        let mut idx = String::new();
        for (i, (var, level, time)) in lines.iter().enumerate() {
            idx.push_str(&format!(
                "{}:{}:d=2025080100:{var}:{level}:{time}:ENS=low-res ctl\n",
                i + 1,
                grib.len()
            ));
            grib.extend_from_slice(&message);
        }
        let key = format!(
            "{GEFS_BUCKET}/gefs.20250801/00/atmos/pgrb2sp25/gec00.t00z.pgrb2s.0p25.f{step:03}"
        );
        content.insert(&format!("{key}.idx"), idx.into_bytes());
        content.insert(&key, grib);
    }
    let server = MirrorServer::start(MirrorConfig::new(content)).unwrap();
    let vars = [
        "DSWRF:surface",
        "HLCY:3000-0 m above ground",
        "TMP:2 m above ground",
    ];
    let dir = tempfile::tempdir().unwrap();
    let report = build_to_dir(&plan(&server, "gefs", "gec00", "0-3", &vars), dir.path());
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let catalog = read_catalog(dir.path()).unwrap();
    let run = catalog.run("gefs", None).unwrap();
    let paths: BTreeMap<&str, &str> = run
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        BTreeMap::from([
            ("DSWRF:surface", "dswrf/avg/surface"),
            (
                "HLCY:3000-0 m above ground",
                "hlcy/instant/heightAboveGroundLayer"
            ),
            ("TMP:2 m above ground", "t2m/instant/heightAboveGround"),
        ])
    );
    let manifest = read_member(dir.path(), &run.manifests["gec00"]);
    let arrays = manifest.data_arrays();
    let arrays = format!("{arrays:?}");
    for path in paths.values() {
        assert!(arrays.contains(path), "{path} not in {arrays}");
    }
}
