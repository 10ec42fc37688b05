//! Helpers for unit tests: where the shared real-data fixtures are.

use std::path::PathBuf;

/// Absolute path of a file under `shared/fixtures/` (see `build.rs`).
pub fn fixture(relative: &str) -> PathBuf {
    PathBuf::from(env!("GIK_FIXTURES_DIR")).join(relative)
}

/// The run of 2026-05-12 at `hour` (UTC): the day ECMWF moved its control forecast to the
/// `oper` stream, which the product tests use.
pub fn switch_day_run(hour: u32) -> crate::time::RunTime {
    crate::time::RunTime::new(2026, 5, 12, hour).unwrap()
}

/// Reads a fixture file, failing the test with a clear message when it is absent.
pub fn read_fixture(relative: &str) -> Vec<u8> {
    let path = fixture(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}

/// The file name, line number and text of an index-line error; fails the test on anything else.
pub fn line_error(
    result: crate::Result<Vec<crate::index::IndexRecord>>,
) -> (String, usize, String) {
    match result {
        Err(e @ crate::Error::IndexLine { .. }) => {
            let display = e.to_string();
            let crate::Error::IndexLine {
                source_name, line, ..
            } = e
            else {
                unreachable!()
            };
            (source_name, line, display)
        }
        other => panic!("expected an IndexLine error, got {other:?}"),
    }
}

/// A regular 0.25° latitude/longitude grid of `ni` × `nj` points whose first point is
/// (`lat_first`, `lon_first`), latitudes decreasing, with `scanning_mode` (WMO flag table 3.4).
pub fn quarter_degree_grid(
    lat_first: f64,
    lon_first: f64,
    ni: usize,
    nj: usize,
    scanning_mode: u8,
) -> crate::grib::Grid {
    crate::grib::Grid {
        template: 0,
        num_points: ni * nj,
        ni: Some(ni),
        nj: Some(nj),
        latlon: Some(crate::grib::LatLonGrid {
            lat_first,
            lon_first,
            lat_last: lat_first - 0.25 * (nj as f64 - 1.0),
            lon_last: lon_first + 0.25 * (ni as f64 - 1.0),
            di: 0.25,
            dj: 0.25,
            scanning_mode,
            gaussian: false,
        }),
    }
}
