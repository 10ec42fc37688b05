//! Locates the shared GRIB2 fixtures for tests (`../shared/fixtures` beside the repository) and
//! exposes the folder as the compile-time variable `GIK_FIXTURES_DIR`, so that native tests can
//! open them and wasm tests can `include_bytes!` them. Nothing in the library itself uses it.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=GIK_FIXTURES");
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let candidates = [
        std::env::var("GIK_FIXTURES").ok().map(PathBuf::from),
        Some(manifest_dir.join("../../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("SOURCES.md").is_file())
        .and_then(|p| p.canonicalize().ok())
        .unwrap_or_else(|| PathBuf::from("/nonexistent/shared/fixtures"));
    println!("cargo:rustc-env=GIK_FIXTURES_DIR={}", found.display());
}
