//! `gik build --icechunk`: runs appended to a virtual Icechunk repository open in Python.
//!
//! Two runs of a product are built from the synthetic mirror and written into one repository
//! *at the same time* (two builds racing on one branch: one commit must be redone, none lost).
//! Then `tests/python/check_icechunk.py` opens the repository the README's way
//! (`icechunk.Repository.open` + `xr.open_zarr(session.store, group=…)`, the `gribberish` zarr
//! codec), offline, with the product's virtual chunk container re-pointed at the mirror, and
//! checks chunks of both runs against ecCodes' decode of the same messages and gik-core's.
//!
//! Needs the virtualenv of `scripts/setup.sh` (`$GIK_VENV`) and the `icechunk` feature.

#![cfg(feature = "icechunk")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::moto::{s3_settings, Moto, BUCKET};
use common::{
    build_to_dir, gik_binary, gik_build_gefs, plan, range_read, read_member, runtime, venv_program,
    workspace_root,
};
use gik_builder::build::BuildReport;
use gik_builder::icechunk::write_run;
use gik_core::member::MemberManifest;
use gik_core::time::RunTime;
use gik_tests::mirror::MirrorServer;
use gik_tests::synthetic::{Synthetic, SyntheticConfig, ECMWF_BUCKET, GEFS_BUCKET};
use serde_json::json;

/// The two runs every test writes: one day apart, into one repository.
fn runs() -> [RunTime; 2] {
    [common::run(), common::run().days_before(1)]
}

fn serve_runs() -> MirrorServer {
    Synthetic::load(SyntheticConfig::new(runs()))
        .unwrap()
        .serve()
        .unwrap()
}

/// Both runs of `name` written at once (in this process) into a repository in a folder, then
/// checked from Python.
fn check_product(name: &str, bucket: &str, vars: &[&str], groups: &[(&str, u32)]) {
    let runs = runs();
    let server = serve_runs();
    let repo = tempfile::tempdir().unwrap();
    let repo_path = repo.path().to_str().unwrap().to_string();

    // Build both runs' manifests, then write both into the repository at once.
    let mut built: Vec<(RunTime, BuildReport, tempfile::TempDir)> = Vec::new();
    for run in runs {
        let mut p = plan(&server, name, "0,1,5", "0-12", vars);
        p.run = run;
        let out = tempfile::tempdir().unwrap();
        let report = build_to_dir(&p, out.path());
        assert!(report.missing.is_empty(), "{:?}", report.missing);
        built.push((run, report, out));
    }
    let product = plan(&server, name, "0", "0", vars).product;
    let attempts: Vec<u32> = runtime().block_on(async {
        let writes = built.iter().map(|(run, report, _)| {
            write_run(&repo_path, product.as_ref(), *run, &report.messages)
        });
        futures::future::join_all(writes)
            .await
            .into_iter()
            .map(|r| {
                let r = r.unwrap();
                assert!(r.references > 0);
                r.attempts
            })
            .collect()
    });
    eprintln!("commit attempts: {attempts:?}");
    let outs: Vec<(RunTime, &Path)> = built.iter().map(|(r, _, o)| (*r, o.path())).collect();
    let scratch = tempfile::tempdir().unwrap();
    check_in_python(
        &server,
        &repo_path,
        &[],
        scratch.path(),
        (name, bucket),
        product.credits().licence,
        &outs,
        groups,
    );
}

/// Runs `tests/python/check_icechunk.py` on the repository at `repo` (a folder or `s3://…`,
/// with `env` for Python's S3 client): for each run (its manifests in the folder beside it),
/// member and group/step, the values read through Icechunk must be gik-core's decode of the
/// message the member's manifest names, and ecCodes'.
#[allow(clippy::too_many_arguments)]
fn check_in_python(
    server: &MirrorServer,
    repo: &str,
    env: &[(&'static str, String)],
    scratch: &Path,
    (name, bucket): (&str, &str),
    licence: &str,
    built: &[(RunTime, &Path)],
    groups: &[(&str, u32)],
) {
    let runs = runs();
    // What Python must find: for each run, member and checked group/step, gik-core's decode.
    let mut checks = Vec::new();
    for (run, out) in built {
        let catalog = common::read_catalog(out).unwrap();
        let entry = &catalog.products[name].runs[0];
        for (member, path) in &entry.manifests {
            let manifest = read_member(out, path);
            let number = match member.trim_start_matches(|c: char| c.is_ascii_alphabetic()) {
                "" => 0,
                n => n.parse::<u16>().unwrap(),
            };
            for (group, step) in groups {
                let array = MemberManifest::array_of_group(group);
                let chunk = manifest.chunk(&array, *step).unwrap().unwrap();
                let bytes = range_read(server, &chunk.url, chunk.offset, chunk.length);
                let decoded = gik_core::grib::decode(&bytes).unwrap();
                let stats = decoded.stats();
                checks.push(json!({
                    "group": group,
                    "var": array.rsplit('/').next().unwrap(),
                    "init_time": run.iso_after_hours(0.0).trim_end_matches('Z'),
                    "number": number,
                    "step": step,
                    "url": chunk.url,
                    "offset": chunk.offset,
                    "length": chunk.length,
                    "count": stats.count,
                    "min": stats.min,
                    "max": stats.max,
                    "mean": stats.mean,
                }));
            }
        }
    }
    let mut init_times: Vec<String> = runs
        .iter()
        .map(|r| r.iso_after_hours(0.0).trim_end_matches('Z').to_string())
        .collect();
    init_times.sort();
    let expected = json!({
        "product": name,
        "container_prefix": format!("{}/", server.url(bucket)),
        "init_times": init_times,
        "numbers": [0, 1, 5],
        "attrs": {"licence": licence, "Conventions": "CF-1.8"},
        "checks": checks,
    });
    let expected_path = scratch.join("expected.json");
    std::fs::write(
        &expected_path,
        serde_json::to_vec_pretty(&expected).unwrap(),
    )
    .unwrap();
    let output = Command::new(venv_program("python"))
        .arg(workspace_root().join("tests/python/check_icechunk.py"))
        .arg(repo)
        .arg(&expected_path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("ok:"),
        "check_icechunk.py failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[test]
fn gefs_runs_appended_concurrently_open_in_xarray_and_equal_eccodes() {
    check_product(
        "gefs",
        GEFS_BUCKET,
        &["APCP:surface", "TMP:2 m above ground"],
        &[
            ("tp/accum/surface", 6),
            ("t2m/instant/heightAboveGround", 12),
        ],
    );
}

#[test]
fn ecmwf_runs_appended_concurrently_open_in_xarray_and_equal_eccodes() {
    check_product(
        "ecmwf",
        ECMWF_BUCKET,
        &["tp", "2t"],
        &[
            ("tp/accum/surface", 6),
            ("t2m/instant/heightAboveGround", 12),
        ],
    );
}

/// The command line into a bucket: two `gik build --icechunk s3://…` processes, one per run,
/// started together against an S3-compatible server (moto), append to one repository there
/// (Icechunk's conditional writes: a commit that lost the race is redone, none is lost), and
/// Python opens the repository from the bucket.
#[test]
fn two_gik_processes_append_runs_to_one_repository_in_a_bucket() {
    let server = serve_runs();
    let moto = Moto::with_bucket();
    let repo = format!("s3://{BUCKET}/icechunk/gefs");
    let outs: Vec<tempfile::TempDir> = runs()
        .iter()
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    gik_binary(); // built before the processes start, so they start together
    let children: Vec<_> = runs()
        .iter()
        .zip(&outs)
        .map(|(run, out)| {
            gik_build_gefs(&server, *run, "0,1,5", "0-12")
                .arg("--out")
                .arg(out.path())
                .args(["--icechunk", &repo])
                .envs(s3_settings(&moto).iter().map(|(k, v)| (*k, v.as_str())))
                .spawn()
                .unwrap()
        })
        .collect();
    let mut attempts = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "gik build --icechunk failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        attempts.push(stdout);
    }
    eprintln!("gik output: {attempts:?}");
    // The repository is in the bucket, not on the local disk.
    let keys = moto.list("icechunk/gefs");
    assert!(
        keys.contains_key("icechunk/gefs/repo")
            && keys
                .keys()
                .any(|k| k.starts_with("icechunk/gefs/snapshots/")),
        "no Icechunk repository under icechunk/gefs: {keys:?}"
    );
    let built: Vec<(RunTime, &Path)> = runs()
        .into_iter()
        .zip(outs.iter().map(|o| o.path()))
        .collect();
    let product = plan(&server, "gefs", "0", "0", &["APCP:surface"]).product;
    let scratch = tempfile::tempdir().unwrap();
    check_in_python(
        &server,
        &repo,
        &s3_settings(&moto),
        scratch.path(),
        ("gefs", GEFS_BUCKET),
        product.credits().licence,
        &built,
        &[("tp/accum/surface", 6)],
    );
}
