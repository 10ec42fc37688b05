//! `gik build --subset`: the East Africa subset of a run is published beside its manifests,
//! and its values equal the public bucket's in the box — through gik-core and through ecCodes.
//!
//! The builder cuts an ECMWF run of the synthetic mirror (real global CCSDS 2 m temperature,
//! regional precipitation of known values); for every member, variable and step of the subset
//! manifests the test reads the subset message from the destination and the source message from
//! the mirror, crops the source with `geo::CropMap` and compares bit for bit. Then
//! `tests/python/check_subset.py` decodes the subset files with ecCodes and must find the same
//! values (needs the virtualenv of `scripts/setup.sh`, `$GIK_VENV`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{
    build_to_dir, mirror, plan, range_read, read_catalog, read_member, venv_program, workspace_root,
};
use gik_builder::subset::SubsetPlan;
use gik_core::geo::{CropMap, Lattice, OutputGrid};
use gik_core::grib;
use gik_core::icpac::EAST_AFRICA;
use serde_json::{json, Value};

fn fnv1a64(values: &[f32]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for v in values {
        let bits = if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() };
        for b in bits.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    h
}

#[test]
fn east_africa_subset_equals_the_bucket_in_the_box() {
    let server = mirror();
    let site = tempfile::tempdir().unwrap();
    let dir = site.path();
    let mut plan = plan(&server, "ecmwf", "0,1", "0-12", &["tp", "2t", "msl"]);
    plan.subsets = vec![SubsetPlan::new("east-africa", plan.product.as_ref(), &[]).unwrap()];
    let report = build_to_dir(&plan, dir);
    assert_eq!(report.subsets.len(), 1);
    let (name, read, written, members) = report.subsets[0].clone();
    assert_eq!((name.as_str(), members), ("east-africa", 2));

    let catalog = read_catalog(dir).unwrap();
    let run = catalog.run("ecmwf", None).unwrap();
    let subset = &run.subsets["east-africa"];
    assert_eq!((subset.bytes_read, subset.bytes_written), (read, written));
    assert!(
        subset.attribution.contains("ECMWF"),
        "{}",
        subset.attribution
    );
    assert!(subset.contains(&EAST_AFRICA));
    assert_eq!(subset.run.members, run.members);
    assert!(subset.run.missing.is_empty(), "{:?}", subset.run.missing);
    let names: Vec<&str> = subset
        .run
        .variables
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(names, ["2t", "tp"], "msl is not in the subset");
    // The 2 m temperature messages are global: the subset is a small share of what was read.
    assert!(written * 5 < read, "wrote {written} of {read} bytes read");

    let mut files = Vec::new();
    let mut compared = 0;
    // The source messages, saved for ecCodes.
    let sources_path = dir.join("sources.grib2");
    let mut sources = Vec::new();
    for member in &run.members {
        let full = read_member(dir, &run.manifests[member]);
        let sub = read_member(dir, &subset.run.manifests[member]);
        let root = sub.manifest().zattrs("").unwrap().unwrap();
        assert_eq!(
            root.other.get("attribution"),
            Some(&Value::from(subset.attribution.clone()))
        );
        assert_eq!(
            root.other.get("gik_subset"),
            Some(&Value::from("east-africa"))
        );
        let file = &subset.files[member];
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert_eq!(bytes.len() as u64, sub_len(&sub));
        let mut messages = Vec::new();
        for array in sub.data_arrays() {
            for step in sub.steps(&array).unwrap() {
                let chunk = sub.chunk(&array, step).unwrap().unwrap();
                assert_eq!(&chunk.url, file, "subset URLs are relative to the catalog");
                let (o, l) = (chunk.offset as usize, chunk.length as usize);
                let cut = grib::decode(&bytes[o..o + l]).unwrap();
                let source = full.chunk(&array, step).unwrap().unwrap();
                let source_bytes = range_read(&server, &source.url, source.offset, source.length);
                let source_at = sources.len();
                sources.extend_from_slice(&source_bytes);
                let source = grib::decode(&source_bytes).unwrap();
                assert_eq!(
                    cut.info.metadata, source.info.metadata,
                    "{member} {array} {step}"
                );
                let out =
                    OutputGrid::new(&EAST_AFRICA, Lattice::of_grid(&source.info.grid).unwrap())
                        .unwrap();
                let want = CropMap::new(&source.info.grid, &out)
                    .unwrap()
                    .apply(&source.values)
                    .unwrap();
                assert_eq!(
                    fnv1a64(&cut.values),
                    fnv1a64(&want),
                    "{member} {array} f{step:03}"
                );
                assert_eq!(cut.values.len(), 141 * 129);
                messages.push(json!({
                    "offset": o, "length": l, "count": want.len(),
                    "Ni": cut.info.grid.ni, "Nj": cut.info.grid.nj,
                    "hash": fnv1a64(&want),
                    "source": {"path": sources_path, "offset": source_at, "length": source_bytes.len()},
                }));
                compared += 1;
            }
        }
        files.push(json!({"path": dir.join(file), "messages": messages}));
    }
    // 2 members × (2t at 0, 3, 6, 9, 12 + tp at 3, 6, 9, 12).
    assert_eq!(compared, 18);

    std::fs::write(&sources_path, &sources).unwrap();
    let expected = dir.join("subset.expected.json");
    std::fs::write(
        &expected,
        serde_json::to_vec(&json!({"files": files})).unwrap(),
    )
    .unwrap();
    let python = venv_program("python");
    let output = Command::new(&python)
        .arg(workspace_root().join("tests/python/check_subset.py"))
        .arg(&expected)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("ok: 18 messages"),
        "ecCodes disagrees:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn rebuilding_keeps_or_removes_the_subset_files() {
    let server = mirror();
    let site = tempfile::tempdir().unwrap();
    let dir = site.path();
    let mut plan = plan(&server, "ecmwf", "0", "0-6", &["tp", "2t"]);
    plan.subsets = vec![SubsetPlan::new("east-africa", plan.product.as_ref(), &["tp"]).unwrap()];
    build_to_dir(&plan, dir);
    let subset_files = || -> Vec<String> {
        common::files_under(dir)
            .into_keys()
            .filter(|p| p.starts_with("subsets/"))
            .collect()
    };
    let first = subset_files();
    assert_eq!(first.len(), 2, "one GRIB2 file and one manifest: {first:?}");
    let catalog = read_catalog(dir).unwrap();
    let entry = &catalog.run("ecmwf", None).unwrap().subsets["east-africa"];
    let owned: Vec<&str> = entry.paths().collect();
    assert_eq!(owned.len(), 2);
    assert!(owned.iter().all(|p| first.iter().any(|f| f == p)));
    // The same build again: the same content-named files, nothing else.
    build_to_dir(&plan, dir);
    assert_eq!(subset_files(), first);
    // A build without the subset replaces the run: its subset files go with it.
    plan.subsets.clear();
    build_to_dir(&plan, dir);
    assert!(subset_files().is_empty(), "{:?}", subset_files());
    let catalog = read_catalog(dir).unwrap();
    assert!(catalog.run("ecmwf", None).unwrap().subsets.is_empty());
    let text = std::fs::read_to_string(dir.join("catalog.json")).unwrap();
    assert!(
        !text.contains("subsets"),
        "no empty subsets field for older readers"
    );
}

/// Bytes of all chunks a manifest references (its file holds nothing else).
fn sub_len(manifest: &gik_core::member::MemberManifest) -> u64 {
    manifest
        .manifest()
        .chunk_refs()
        .filter_map(|c| c.length)
        .sum()
}
