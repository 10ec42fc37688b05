//! The one public error type of `gik-core`.
//!
//! Each module reports failures with enough context for a user to find the bad thing: the file
//! and line of an index, the manifest key, the GRIB2 section. Modules keep their detail in the
//! variant's fields rather than in free text so that callers (the builder's retry logic, the
//! app's error panel) can match on them.

/// Result alias used throughout `gik-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `gik-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of an index file (`.idx` or `.index`) could not be parsed.
    #[error("{source_name}, line {line}: {reason}")]
    IndexLine {
        /// The file (usually its URL or path) the line came from.
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What was wrong with it.
        reason: String,
    },

    /// A GRIB2 message could not be decoded.
    #[error("GRIB2 message: {0}")]
    Grib(#[from] crate::grib::GribError),

    /// A manifest could not be read or written.
    #[error("manifest: {0}")]
    Manifest(#[from] crate::manifest::ManifestError),

    /// A product request (run, member, step, variable) is not valid for the product.
    #[error("{product}: {reason}")]
    Product {
        /// Product name, e.g. `gefs`.
        product: String,
        /// What is wrong.
        reason: String,
    },

    /// A value given by a user (date, step list, bounding box...) could not be parsed.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidArgument {
        /// What kind of value it is.
        what: &'static str,
        /// The value as given.
        value: String,
        /// Why it is invalid.
        reason: String,
    },

    /// Ensemble statistics were asked of fields that do not fit together.
    #[error("ensemble statistics: {0}")]
    Stats(String),
}
