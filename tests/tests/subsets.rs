//! `gik build --subset`: the East Africa subset of a run is published beside its manifests,
//! and its values equal the public bucket's in the box — through gik-core and through ecCodes.
//!
//! The builder cuts an ECMWF run of the synthetic mirror (real global CCSDS 2 m temperature,
//! regional precipitation of known values); for every member, variable and step of the subset
//! manifests the test reads the subset message from the destination and the source message from
//! the mirror, crops the source with `geo::CropMap` and compares bit for bit. Then
//! `tests/python/check_subset.py` decodes the subset files with ecCodes and must find the same
//! values (needs the virtualenv of `scripts/setup.sh`, `$GIK_VENV`).
//!
//! `gik stream --catalog` on a destination with subsets reads a box inside the subset from the
//! subset files only (no request to the bucket) and a box reaching outside it from the bucket,
//! and both give the same values where they overlap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{
    build_to_dir, mirror, plan, range_read, read_catalog, read_member, venv_program, workspace_root,
};
use gik_builder::http::HttpClient;
use gik_builder::progress::Progress;
use gik_builder::stream::{stream, StreamArgs};
use gik_builder::subset::SubsetPlan;
use gik_core::fnv::fnv1a64_values;
use gik_core::geo::{CropMap, Lattice, OutputGrid};
use gik_core::grib;
use gik_core::icpac::EAST_AFRICA;
use gik_tests::mirror::{DirContent, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{Synthetic, SyntheticConfig, ECMWF_BUCKET};
use serde_json::{json, Value};

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
                    fnv1a64_values(&cut.values),
                    fnv1a64_values(&want),
                    "{member} {array} f{step:03}"
                );
                assert_eq!(cut.values.len(), 141 * 129);
                messages.push(json!({
                    "offset": o, "length": l, "count": want.len(),
                    "Ni": cut.info.grid.ni, "Nj": cut.info.grid.nj,
                    "hash": fnv1a64_values(&want),
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

#[test]
fn stream_reads_a_box_inside_the_subset_from_the_subset_only() {
    let site = tempfile::tempdir().unwrap();
    let synthetic = Synthetic::load(SyntheticConfig::new([common::run()])).unwrap();
    let mount = synthetic
        .mount()
        .at("", DirContent::new(site.path().to_path_buf()));
    let server = MirrorServer::start(MirrorConfig::new(mount)).unwrap();
    let mut plan = plan(&server, "ecmwf", "0,1", "0-12", &["tp", "2t"]);
    plan.subsets = vec![SubsetPlan::new("east-africa", plan.product.as_ref(), &[]).unwrap()];
    build_to_dir(&plan, site.path());
    let catalog = format!("{}/catalog.json", server.base_url());
    let out = site.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let stream_to = |bbox: &str, file: &str| {
        server.reset_stats();
        let path = out.join(file);
        let args = [
            "--catalog",
            &catalog,
            "--product",
            "ecmwf",
            "--vars",
            "2t,tp",
            "--steps",
            "3-12",
            "--members",
            "0-1",
            "--bbox",
            bbox,
            "--out",
            path.to_str().unwrap(),
        ];
        let args = StreamArgs::from_args(args).unwrap();
        let client = HttpClient::new(4, common::quick_retries()).unwrap();
        let report = common::runtime()
            .block_on(stream(&args, &client, &Progress::new(true)))
            .unwrap();
        assert!(report.missing.is_empty(), "{:?}", report.missing);
        let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
        (report, paths, path)
    };
    let (inside, inside_paths, inside_file) = stream_to("-5,5,30,40", "inside.nc");
    assert_eq!(inside.subset.as_deref(), Some("east-africa"));
    assert!(inside.summary().contains("from subset east-africa"));
    assert_eq!(inside.read, 16, "2 members × 2 variables × 4 steps");
    let bucket = format!("{ECMWF_BUCKET}/");
    assert!(
        inside_paths.iter().all(|p| !p.starts_with(&bucket)),
        "a box inside the subset reads no bucket byte: {inside_paths:?}"
    );
    assert!(
        inside_paths
            .iter()
            .any(|p| p.starts_with("subsets/east-africa/")),
        "{inside_paths:?}"
    );

    let (outside, outside_paths, outside_file) = stream_to("-5,5,10,40", "outside.nc");
    assert_eq!(outside.subset, None);
    assert!(outside_paths.iter().any(|p| p.starts_with(&bucket)));
    assert!(outside_paths.iter().all(|p| !p.starts_with("subsets/")));
    assert!(
        inside.bytes * 5 < outside.bytes,
        "subset {} bytes, bucket {} bytes",
        inside.bytes,
        outside.bytes
    );

    // Same values where the boxes overlap.
    let (a, b) = (
        netcdf::open(&inside_file).unwrap(),
        netcdf::open(&outside_file).unwrap(),
    );
    let axis =
        |f: &netcdf::File, n: &str| -> Vec<f64> { f.variable(n).unwrap().get_values(..).unwrap() };
    let (alat, alon, blat, blon) = (
        axis(&a, "latitude"),
        axis(&a, "longitude"),
        axis(&b, "latitude"),
        axis(&b, "longitude"),
    );
    let mut compared = 0;
    for var in ["t2m", "tp"] {
        let va: Vec<f32> = a.variable(var).unwrap().get_values(..).unwrap();
        let vb: Vec<f32> = b.variable(var).unwrap().get_values(..).unwrap();
        let (na, nb) = (alat.len() * alon.len(), blat.len() * blon.len());
        assert_eq!(va.len() / na, vb.len() / nb, "{var}: same members × steps");
        for field in 0..va.len() / na {
            for (r, lat) in alat.iter().enumerate() {
                let br = blat.iter().position(|x| (x - lat).abs() < 1e-9).unwrap();
                for (c, lon) in alon.iter().enumerate() {
                    let bc = blon.iter().position(|x| (x - lon).abs() < 1e-9).unwrap();
                    let (x, y) = (
                        va[field * na + r * alon.len() + c],
                        vb[field * nb + br * blon.len() + bc],
                    );
                    assert!(
                        x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                        "{var} ({lat}, {lon}): {x} vs {y}"
                    );
                    compared += 1;
                }
            }
        }
    }
    // 16 fields (2 members × 2 variables × 4 steps) of 41 × 41 points.
    assert_eq!(compared, 16 * 41 * 41);
}

/// Bytes of all chunks a manifest references (its file holds nothing else).
fn sub_len(manifest: &gik_core::member::MemberManifest) -> u64 {
    manifest
        .manifest()
        .chunk_ranges()
        .map(|(_, range)| range.length)
        .sum()
}
