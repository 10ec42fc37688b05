//! The reference manifest (placeholder: being written).

/// Errors reading or writing a manifest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Placeholder.
    #[error("{0}")]
    Other(String),
}
