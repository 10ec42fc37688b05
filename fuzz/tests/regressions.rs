//! Every crash the fuzzer found, replayed: each input under `fuzz/regressions/<target>/` must
//! now run without a panic (and without an allocation over 1 GiB, which aborts this test
//! binary). Inputs of findings not fixed yet are under `fuzz/regressions/open/<target>/`; they
//! are not replayed here, but each must be listed in `FUZZING.md`'s open findings so it is
//! never silently dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use gik_fuzz::{regressions_dir, run_one, target, CappedAlloc, TARGETS};

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

/// Input files (not notes) in `dir`, sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.extension().is_some_and(|e| e == "md" || e == "txt"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_fixed_crash_input_runs_clean() {
    gik_fuzz::runner::capture_panics();
    let root = regressions_dir();
    let mut replayed = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "open" || !entry.path().is_dir() {
            continue;
        }
        let target = target(&name)
            .unwrap_or_else(|| panic!("fuzz/regressions/{name}: no fuzz target of that name"));
        for input in inputs(&entry.path()) {
            let bytes = std::fs::read(&input).unwrap();
            replayed += 1;
            if let Err((location, message)) = run_one(target, &bytes) {
                failures.push(format!(
                    "{}: panic at {location}: {message}",
                    input.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{replayed} regression inputs replayed");
}

#[test]
fn every_seed_runs_clean() {
    gik_fuzz::runner::capture_panics();
    let mut failures = Vec::new();
    for t in TARGETS {
        let seeds = gik_fuzz::seeds::seeds(t.name).unwrap();
        for seed in seeds {
            if let Err((location, message)) = run_one(t, &seed.bytes) {
                failures.push(format!(
                    "{} seed {}: panic at {location}: {message}",
                    t.name, seed.origin
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_open_finding_is_listed_in_fuzzing_md() {
    let fuzzing = std::fs::read_to_string(gik_fuzz::seeds::repo_root().join("FUZZING.md")).unwrap();
    let open = regressions_dir().join("open");
    for entry in std::fs::read_dir(&open).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            target(&name).is_some(),
            "fuzz/regressions/open/{name}: no such target"
        );
        for input in inputs(&entry.path()) {
            let file = input.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                fuzzing.contains(&format!("open/{name}/{file}")),
                "open finding fuzz/regressions/open/{name}/{file} is not listed in FUZZING.md"
            );
        }
    }
}
