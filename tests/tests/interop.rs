//! Interop: a manifest from the builder loads with pandas as key/value, and opens through
//! fsspec's reference filesystem in xarray (zarr engine, kerchunk's `grib` codec decoding with
//! ecCodes), and the values it gives for a chunk equal gik-core's decode of the same bytes.
//!
//! The builder writes GEFS and ECMWF manifests from the synthetic mirror; for a few chunks of
//! precipitation (`tp`, a message of known values) and 2 m temperature (a real message) this
//! test range-reads the bytes with the plain test client, decodes them with `gik_core::grib`,
//! and writes what it found (count, min, max, mean, points, coordinates) to a JSON file. Then
//! `tests/python/check_manifest.py` opens the manifest the way `docs/MANIFEST_FORMAT.md` says
//! users do and must find the same. Python fetching chunks must cost one `206` range request
//! per chunk, never a whole file.
//!
//! The run's ensemble manifest (`…-ensemble.parquet`, every member with a leading `number`
//! dimension) is opened with the README's snippet too (`tests/python/check_ensemble.py`): for
//! each member built, its field must equal the one its own manifest gives in Python (ecCodes)
//! and gik-core's decode of the same message.
//!
//! Needs the virtualenv of `scripts/setup.sh` (`$GIK_VENV`); without it the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{
    build_to_dir, mirror, plan, range_read, read_catalog, read_member, run, venv_program,
    workspace_root,
};

use std::path::Path;
use std::process::Command;

use gik_core::member::MemberManifest;
use gik_tests::synthetic::{expected_field_value, Model};
use serde_json::{json, Value};

/// One chunk to compare: a variable group and a step. Chunks of one group must hold different
/// values (2 m temperature reuses one real message at every step: check it once).
struct Check {
    group: &'static str,
    step: u32,
}

/// Decodes the chunks of `checks` in `manifest` with gik-core and describes them for Python.
fn expected(
    server: &gik_tests::mirror::MirrorServer,
    manifest: &MemberManifest,
    model: Model,
    member: u16,
    checks: &[Check],
) -> (Value, Vec<String>) {
    let mut out = Vec::new();
    let mut ranges = Vec::new();
    for check in checks {
        let array = MemberManifest::array_of_group(check.group);
        let var = array.rsplit('/').next().unwrap().to_string();
        let steps = manifest.steps(&array).unwrap();
        let chunk = manifest
            .chunk(&array, check.step)
            .unwrap()
            .unwrap_or_else(|| panic!("{array}: no chunk at step {}", check.step));
        let bytes = range_read(server, &chunk.url, chunk.offset, chunk.length);
        ranges.push(format!(
            "{} bytes={}-{}",
            chunk.url.strip_prefix(&server.base_url()).unwrap(),
            chunk.offset,
            chunk.offset + chunk.length - 1
        ));
        let decoded = gik_core::grib::decode(&bytes).unwrap();
        let stats = decoded.stats();
        let grid = &decoded.info.grid;
        let (ni, nj) = (grid.ni.unwrap(), grid.nj.unwrap());
        let n = decoded.values.len();
        assert_eq!(n, ni * nj);
        assert!(stats.count > 0, "{array} step {}: all missing", check.step);

        // Points: spread over the grid, plus the maximum.
        let argmax = decoded
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap();
        let mut points = Vec::new();
        for i in [0, n / 7, n / 3, n / 2, 2 * n / 3, n - 1, argmax] {
            points.push(json!([i / ni, i % ni, decoded.values[i]]));
        }

        // Precipitation: the decoded values are the synthetic truth (so a wrong chunk or a
        // wrong decode on both sides cannot pass).
        if var == "tp" {
            let run = run();
            let mut checked = 0;
            for i in (0..n).step_by(97) {
                let (lat, lon) = grid.coordinates(i).unwrap();
                let truth = expected_field_value(model, run, member, check.step, lat, lon).unwrap();
                let tolerance = match model {
                    Model::Gefs => 1e-3,
                    Model::Ecmwf => 1e-7,
                };
                assert!(
                    (decoded.values[i] - truth).abs() <= tolerance,
                    "{array} step {} point {i} ({lat}, {lon}): decoded {} expected {truth}",
                    check.step,
                    decoded.values[i]
                );
                checked += 1;
            }
            assert!(checked > 100);
            assert!(
                stats.max > 0.0,
                "{array} step {}: no rain at all",
                check.step
            );
        }

        let lats = grid.latitudes().unwrap();
        let lons = grid.longitudes().unwrap();
        out.push(json!({
            "group": check.group,
            "var": var,
            "step": check.step,
            "steps": steps,
            "shape": [nj, ni],
            "count": stats.count,
            "min": stats.min,
            "max": stats.max,
            "mean": stats.mean,
            "points": points,
            "lat": [lats[0], lats[nj - 1]],
            "lon": [lons[0], lons[ni - 1]],
        }));
    }
    // Chunks of one variable must differ, or Python reading the wrong step would pass.
    for (a, x) in out.iter().enumerate() {
        for y in &out[a + 1..] {
            if x["group"] == y["group"] {
                assert_ne!(
                    x["mean"], y["mean"],
                    "{} steps {} and {} look alike",
                    x["group"], x["step"], y["step"]
                );
            }
        }
    }
    (json!(out), ranges)
}

/// Runs the Python check `script` (in `tests/python/`) of `parquet` against `expected`,
/// asserting it exits 0, and that the chunks it read were single `206` range requests for
/// exactly `ranges`.
fn python_check(
    server: &gik_tests::mirror::MirrorServer,
    script: &str,
    parquet: &Path,
    expected: &Value,
    ranges: &[String],
) {
    let python = venv_program("python");
    let script = workspace_root().join("tests/python").join(script);
    let json_path = parquet.with_extension("expected.json");
    std::fs::write(&json_path, serde_json::to_vec_pretty(expected).unwrap()).unwrap();

    assert!(server.wait_idle(std::time::Duration::from_secs(5)));
    server.reset_stats();
    let output = Command::new(&python)
        .arg(&script)
        .arg(parquet)
        .arg(&json_path)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} {} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        parquet.display(),
        output.status
    );
    assert!(stdout.contains("ok:"), "{stdout}");

    // What Python fetched: only the checked chunks, each as one 206 range request.
    assert!(server.wait_idle(std::time::Duration::from_secs(5)));
    let requests = server.requests();
    let mut seen: Vec<String> = Vec::new();
    for r in &requests {
        assert_eq!(r.method, "GET", "{r:?}");
        assert_eq!(
            r.status,
            Some(206),
            "Python read a chunk without a range: {r:?}"
        );
        let range = r.range.clone().unwrap_or_default();
        seen.push(format!("/{} {range}", r.path));
    }
    let mut want: Vec<String> = ranges.to_vec();
    want.sort();
    want.dedup();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, want, "Python's requests: {requests:#?}");
}

fn check_product(
    name: &str,
    model: Model,
    members: &str,
    vars: &[&str],
    member: u16,
    checks: &[Check],
) {
    let server = mirror();
    let plan = plan(&server, name, members, "0-12", vars);
    let out = tempfile::tempdir().unwrap();
    let report = build_to_dir(&plan, out.path());
    assert!(report.missing.is_empty(), "{:?}", report.missing);

    let catalog = read_catalog(out.path()).expect("catalog.json");
    let runs = &catalog.products[name].runs;
    assert_eq!(runs.len(), 1);
    let member_name = plan.product.member_name(
        gik_core::product::Member::from_number(plan.product.as_ref(), member.into()).unwrap(),
    );
    let relative = runs[0].manifests[&member_name].clone();
    let manifest = read_member(out.path(), &relative);
    let parquet = out.path().join(&relative);

    let (checks_json, ranges) = expected(&server, &manifest, model, member, checks);
    let expected = json!({
        "remote_protocol": "http",
        "keys": manifest.manifest().len(),
        "root_attrs": {"product": name, "member": member_name},
        "run": "2025-08-01T00:00:00",
        "checks": checks_json,
    });
    python_check(&server, "check_manifest.py", &parquet, &expected, &ranges);
    check_ensemble(&server, &plan, out.path(), model, checks);
}

/// The run's ensemble manifest at `dir` against every member's own manifest and gik-core.
fn check_ensemble(
    server: &gik_tests::mirror::MirrorServer,
    plan: &gik_builder::build::BuildPlan,
    dir: &Path,
    model: Model,
    checks: &[Check],
) {
    let name = plan.product.name();
    let catalog = read_catalog(dir).expect("catalog.json");
    let run = &catalog.products[name].runs[0];
    let relative = run
        .ensemble
        .clone()
        .expect("the catalog names the ensemble manifest");
    assert!(
        relative.ends_with("2025080100z-ensemble.parquet"),
        "{relative}"
    );
    let mut numbers: Vec<u16> = plan.members.iter().map(|m| m.number()).collect();
    numbers.sort_unstable();
    let mut all_checks = Vec::new();
    let mut all_ranges = Vec::new();
    let mut member_files = serde_json::Map::new();
    for &number in &numbers {
        let member =
            gik_core::product::Member::from_number(plan.product.as_ref(), number.into()).unwrap();
        let own = run.manifests[&plan.product.member_name(member)].clone();
        let manifest = read_member(dir, &own);
        let (found, ranges) = expected(server, &manifest, model, number, checks);
        for mut check in found.as_array().unwrap().clone() {
            check["number"] = json!(number);
            all_checks.push(check);
        }
        all_ranges.extend(ranges);
        member_files.insert(number.to_string(), json!(dir.join(&own).to_str().unwrap()));
    }
    // Members' precipitation differs, or reading the wrong member would pass.
    for (a, x) in all_checks.iter().enumerate() {
        for y in &all_checks[a + 1..] {
            if x["var"] == "tp" && x["group"] == y["group"] && x["step"] == y["step"] {
                assert_ne!(
                    x["mean"], y["mean"],
                    "members {} and {}",
                    x["number"], y["number"]
                );
            }
        }
    }
    let expected = json!({
        "remote_protocol": "http",
        "numbers": numbers,
        "root_attrs": {"product": name},
        "members": member_files,
        "checks": all_checks,
    });
    python_check(
        server,
        "check_ensemble.py",
        &dir.join(&relative),
        &expected,
        &all_ranges,
    );
}

#[test]
fn gefs_manifest_opens_in_xarray_with_the_values_core_decodes() {
    check_product(
        "gefs",
        Model::Gefs,
        "0,1,5",
        &["APCP:surface", "TMP:2 m above ground"],
        5,
        &[
            Check {
                group: "tp/accum/surface",
                step: 6,
            },
            Check {
                group: "tp/accum/surface",
                step: 12,
            },
            Check {
                group: "t2m/instant/heightAboveGround",
                step: 12,
            },
        ],
    );
}

#[test]
fn ecmwf_manifest_opens_in_xarray_with_the_values_core_decodes() {
    check_product(
        "ecmwf",
        Model::Ecmwf,
        "0,1,2",
        &["tp", "2t"],
        2,
        &[
            Check {
                group: "tp/accum/surface",
                step: 3,
            },
            Check {
                group: "tp/accum/surface",
                step: 12,
            },
            Check {
                group: "t2m/instant/heightAboveGround",
                step: 6,
            },
        ],
    );
}
