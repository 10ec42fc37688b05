//! # gik-fuzz
//!
//! A mutation fuzzer for gik-core's untrusted-input entry points that builds with stable Rust
//! and runs in CI within a fixed budget (no nightly, no `cargo fuzz`, no sanitizer runtime):
//! CI has two cores and a 90-minute budget for everything, and gik-core's promise — bad input
//! is an error, never a panic, never an unbounded allocation — is exactly what a fuzzer checks.
//!
//! | module | job |
//! |---|---|
//! | [`targets`] | what is fuzzed (GRIB2 decode, both index parsers, parquet manifests, `catalog.json`) and the invariants checked |
//! | [`seeds`] | the seed corpora: every fixture of the right kind |
//! | [`mutate`] | the mutation engine (bit flips, interesting values, truncation, splicing...) |
//! | [`runner`] | the loop: mutate, run under `catch_unwind`, keep the crashes |
//! | [`alloc`] | a counting global allocator that makes any allocation over 1 GiB a finding |
//! | [`rng`] | a deterministic generator, so a run is reproducible from its seed |
//!
//! The `gik-fuzz` binary runs the targets (`FUZZING.md` at the repository root says how and
//! what was found); `tests/regressions.rs` replays every committed crash input in
//! `fuzz/regressions/<target>/` as a test. Inputs of crashes not fixed yet live in
//! `fuzz/regressions/open/<target>/`, are not replayed, and are each listed in `FUZZING.md`.

pub mod alloc;
pub mod mutate;
pub mod rng;
pub mod runner;
pub mod seeds;
pub mod targets;

pub use alloc::CappedAlloc;
pub use runner::{fuzz, run_one, Budget, Report};
pub use targets::{target, Target, TARGETS};

/// Folder of committed regression inputs (`<target>/<file>`; `open/` holds unfixed ones).
pub fn regressions_dir() -> std::path::PathBuf {
    seeds::repo_root().join("fuzz/regressions")
}
