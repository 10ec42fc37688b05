//! ECMWF open-data `.index` parser.

use super::IndexRecord;

/// Parses ECMWF JSON lines.
pub fn parse(_text: &str, _source_name: &str) -> crate::Result<Vec<IndexRecord>> {
    Ok(Vec::new())
}
