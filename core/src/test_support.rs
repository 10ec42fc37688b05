//! Helpers for unit tests: where the shared real-data fixtures are.

use std::path::PathBuf;

/// Absolute path of a file under `shared/fixtures/` (see `build.rs`).
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("GIK_FIXTURES_DIR")).join(relative)
}

/// Reads a fixture file, failing the test with a clear message when it is absent.
pub fn read_fixture(relative: &str) -> Vec<u8> {
    let path = fixture(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}
