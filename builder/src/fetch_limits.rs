//! How the builder treats sizes and positions read from index files it does not control.
//!
//! An index says where each message is; it may be stale (a re-uploaded GRIB2 file), hostile or
//! simply describe something a byte range cannot reference. So:
//!
//! * the grid of a variable is read from the first bytes of one of its messages, never from a
//!   download of the whole declared length: 8 KiB first, then at most [`MAX_HEADER_BYTES`] when
//!   section 2 (local use) is large — sections 0–5 never need more;
//! * a NOAA sub-field record (`n.2`, `n.3`…: a field packed after others in one GRIB2 message)
//!   is refused with a clear reason: the range would be the whole message, and decoding it
//!   gives its first field, i.e. silently another variable;
//! * records that end past the GRIB2 file are refused by the index parser, which gets the
//!   file's size from a HEAD (see [`gik_core::index::check_inside_file`]).

use anyhow::{Context, Result};
use gik_core::grib::{self, Grid};
use gik_core::index::IndexRecord;
use gik_core::manifest::ByteRange;

use crate::http::HttpClient;

/// First read for a message's header: sections 0–5 of nearly every message fit.
pub const FIRST_HEADER_BYTES: u64 = 8 << 10;
/// The most the builder reads of a message to find its grid (sections 0–5 with a large
/// section 2); a message whose header does not fit is an error, not a bigger download.
pub const MAX_HEADER_BYTES: u64 = 1 << 20;

/// The grid of a message, from its first bytes.
pub async fn fetch_grid(client: &HttpClient, message: &ByteRange) -> Result<Grid> {
    let first = message.length.min(FIRST_HEADER_BYTES);
    let bytes = client
        .get_range(&message.url, message.offset, first)
        .await?;
    match grib::describe_header(&bytes) {
        Ok(info) => Ok(info.grid),
        Err(_) if first < message.length.min(MAX_HEADER_BYTES) => {
            let more = message.length.min(MAX_HEADER_BYTES);
            let bytes = client.get_range(&message.url, message.offset, more).await?;
            let info = grib::describe_header(&bytes).with_context(|| {
                format!(
                    "{}: no GRIB2 header (sections 0-5) in the first {more} bytes of the \
                     message at {}",
                    message.url, message.offset
                )
            })?;
            Ok(info.grid)
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "{}: message at {} (+{} bytes)",
                message.url, message.offset, message.length
            )
        }),
    }
}

/// Why `record` cannot be referenced by its byte range, if it cannot: it is field 2 or later of
/// a multi-field GRIB2 message.
pub fn unreferenceable(record: &IndexRecord, index_url: &str) -> Option<String> {
    if record.is_first_field() {
        return None;
    }
    Some(format!(
        "{index_url}, line {}: {} is field {} of the multi-field GRIB2 message at byte {}; a \
         byte range can only reference the whole message, whose decoding gives field 1, so it \
         is not referenced",
        record.line,
        record.variable,
        record.sub_field.unwrap_or(0),
        record.offset
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use gik_core::index::IndexFormat;

    #[test]
    fn only_first_fields_are_referenceable() {
        let text = "1:0:d=2025080100:HGT:500 mb:anl:\n\
                    2.1:100:d=2025080100:UGRD:10 m above ground:anl:\n\
                    2.2:100:d=2025080100:VGRD:10 m above ground:anl:\n";
        let records = IndexFormat::Noaa.parse(text, "a.idx", Some(300)).unwrap();
        assert!(unreferenceable(&records[0], "a.idx").is_none());
        assert!(unreferenceable(&records[1], "a.idx").is_none());
        let why = unreferenceable(&records[2], "https://x/a.idx").unwrap();
        assert!(
            why.contains("https://x/a.idx, line 3")
                && why.contains("VGRD")
                && why.contains("field 2"),
            "{why}"
        );
    }
}
