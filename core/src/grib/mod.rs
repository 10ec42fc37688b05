//! GRIB2 decoding (placeholder: being written).

/// Errors decoding a GRIB2 message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GribError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}
