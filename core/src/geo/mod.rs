//! Geometry shared by every consumer of decoded fields: boxes and crops.
//!
//! Why one module: GEFS grids run 0…359.75°E, ECMWF grids −180…179.75°E, regional grids start
//! anywhere, and users ask for boxes in −180…180 — sometimes across 0° (West Africa to the Horn)
//! or across 180° (the Pacific). Getting one column wrong shifts a whole map silently. The app
//! (maps in the browser) and `gik stream` (NetCDF files) must therefore cut fields the same way,
//! so both use the types here:
//!
//! * [`BBox`] — a latitude/longitude box, edges included, given in either longitude convention,
//!   possibly crossing 180°;
//! * [`OutputGrid`] — the points of a regular lattice inside a box (north to south, west to
//!   east, longitudes in −180…180), optionally thinned for a screen;
//! * [`CropMap`] — which value of one message lands on each output point;
//! * [`column_of`] / [`row_of`] — the one function each for "which source column (row) holds
//!   this longitude (latitude)", exact or nearest, also behind `Grid::nearest_index`.

mod bbox;
mod crop;

pub use bbox::{wrap_lon, BBox};
pub use crop::{column_of, row_of, CropMap, Lattice, OutputGrid, Snap};

/// Why a box or a crop could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GeoError {
    /// The box text or values are not a valid box.
    #[error("invalid box {text:?}: {reason}")]
    BadBox {
        /// The box as given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// The source grid cannot be cropped (not a regular lat/lon grid, unsupported scanning).
    #[error("cannot crop this grid: {0}")]
    Unsupported(String),
    /// The source grid's spacing or alignment differs from the output grid's.
    #[error("grid does not match the output grid: {0}")]
    Mismatch(String),
    /// A field has a different number of values than its grid.
    #[error("field has {found} values, its grid {expected}")]
    WrongLength {
        /// Values in the grid.
        expected: usize,
        /// Values given.
        found: usize,
    },
}

/// Rounds to a micro-degree, GRIB2's precision, hiding float noise in `origin + k·step`.
pub(crate) fn round_micro(x: f64) -> f64 {
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 {
        0.0 // no -0.0
    } else {
        r
    }
}
