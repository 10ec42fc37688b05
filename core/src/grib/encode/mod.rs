//! Writing GRIB2: one message from packed integers, and the crop of a message to a box.
//!
//! Why: regional subsets (`gik build --subset`) are published as GRIB2 so that every reader
//! keeps its one data path — manifest → Range request → GRIB2 decode — and only the host and
//! the sizes change. A subset must be *lossless*: the cropped message keeps the source's
//! reference value R, binary scale E, decimal scale D and packed integers, so every decoder
//! (ours, ecCodes) gives exactly the values of the full message inside the box.
//!
//! * [`write_message`] writes sections 0–8 of one message: sections 1 and 4 as given (bytes),
//!   a regular latitude/longitude grid (template 3.0, [`RegularGrid`]), the packed integers
//!   with simple packing (5.0) or complex packing with second-order spatial differencing (5.3,
//!   [`DataPacking`]), and a bitmap where points are missing. The test GRIB2 writer
//!   (`gik-tests`) writes through it too.
//! * [`crop_message`] decodes a message, keeps the points inside a box (`geo::CropMap`), finds
//!   each value's packed integer again under the source's R, E, D, re-encodes, and decodes the
//!   result to check that every value is bit for bit the source's; otherwise it is an error.
//!
//! Only regular latitude/longitude source grids can be cropped (as `geo` crops them); local
//! use (section 2) is not copied.

mod crop;
mod pack;
mod write;

pub use crop::{crop_message, Cropped};
pub use write::{
    sign_magnitude, write_message, BitWriter, DataPacking, PackedField, RegularGrid, Scale,
};

use crate::geo::GeoError;
use crate::grib::GribError;

/// Why a message could not be written or cropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The source message could not be decoded.
    #[error("source message: {0}")]
    Source(#[from] GribError),
    /// The box does not fit the source grid.
    #[error("crop: {0}")]
    Geometry(#[from] GeoError),
    /// A field does not fit the format (too many points, a number wider than its octets).
    #[error("cannot encode: {0}")]
    Overflow(String),
    /// A section given as bytes is not the section it should be.
    #[error("section {section} given is malformed: {reason}")]
    BadSection {
        /// Section number expected.
        section: u8,
        /// What is wrong.
        reason: String,
    },
    /// A value has no packed integer under the source's packing, or the written message does
    /// not decode to the source's values: the crop would not be lossless.
    #[error("not lossless at point {index}: {reason}")]
    NotLossless {
        /// Index of the point in the cropped field (row by row, north first).
        index: usize,
        /// What differs.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
