//! # gik-tests
//!
//! Support code for gik's end-to-end tests, and the tests themselves (`tests/`).
//!
//! gik reads GRIB2 files it never downloads whole, from buckets on the internet. Tests here
//! have no internet, so this crate brings the buckets home:
//!
//! * [`mirror`]: an HTTP/1.1 server over `std::net` that behaves like S3 for what gik uses
//!   (GET/HEAD, byte ranges, keep-alive, CORS) and misbehaves on demand (latency, bandwidth,
//!   503 SlowDown, resets, truncated bodies, 404s), counting every request;
//! * [`synthetic`]: full-size GEFS and ECMWF ENS runs in the real path layouts and index
//!   formats, generated on the fly from real fixture messages plus precipitation messages
//!   whose values are known exactly;
//! * [`grib_writer`]: the small GRIB2 writer behind those precipitation messages;
//! * [`client`]: a raw HTTP client for tests that must see exactly what went over the wire.
//!
//! Run a mirror by hand with the `gik-mirror` binary (`cargo run -p gik-tests --bin gik-mirror
//! -- --help`).

pub mod client;
pub mod grib_writer;
pub mod mirror;
pub mod synthetic;

use std::path::PathBuf;

/// The shared real-data fixtures folder: `$GIK_FIXTURES` if set, else
/// `<workspace>/../shared/fixtures`, else `/work/shared/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIK_FIXTURES") {
        return PathBuf::from(dir);
    }
    let beside_workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    if beside_workspace.is_dir() {
        return beside_workspace.canonicalize().unwrap_or(beside_workspace);
    }
    PathBuf::from("/work/shared/fixtures")
}
