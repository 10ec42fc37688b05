//! NOAA wgrib2 inventory (`.idx`) parser.

use super::IndexRecord;

/// Parses a wgrib2 inventory.
pub fn parse(_text: &str, _source_name: &str, _file_size: Option<u64>) -> crate::Result<Vec<IndexRecord>> {
    Ok(Vec::new())
}
