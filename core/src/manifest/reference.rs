//! One value of a manifest: what the bytes behind a zarr key are, or where to fetch them.
//!
//! kerchunk's reference format (version 1) allows, for each key:
//!
//! * a string holding the document itself: JSON text for `.zarray`/`.zattrs`/`.zgroup`, or
//!   chunk bytes, either `base64:`-prefixed or (for ASCII data) verbatim;
//! * `["url"]`: the whole remote file;
//! * `["url", offset, length]`: a byte range of a remote file (one GRIB2 message for gik).
//!
//! In the parquet manifest each value is stored as UTF-8 text: the string itself, or the JSON
//! text of the list. [`Reference::parse`] accepts all of these (reading is lenient);
//! [`Reference::to_value_string`] always writes inline bytes as `base64:` (a verbatim string
//! starting with `[` or `{` would be misread by the Python opener).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::Value;

use super::model::MetadataFile;
use super::ManifestError;

/// Prefix marking base64-encoded inline data.
pub const BASE64_PREFIX: &str = "base64:";

/// `length` bytes of the file at `url`, starting at `offset`: where one GRIB2 message is.
///
/// The one byte-range type of gik: a manifest value ([`Reference::Range`]), a message found in
/// an index ([`crate::member::MessageRef`]), a chunk read back from a manifest
/// ([`super::Array::chunk`]) and a `gik validate` check all use it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ByteRange {
    /// Remote file URL (`s3://...`, `https://...`, `/abs/path`).
    pub url: String,
    /// Byte offset of the first byte.
    pub offset: u64,
    /// Number of bytes; gik never writes 0.
    pub length: u64,
}

impl ByteRange {
    /// The range of `length` bytes of `url` from `offset`.
    pub fn new(url: impl Into<String>, offset: u64, length: u64) -> Self {
        Self {
            url: url.into(),
            offset,
            length,
        }
    }

    /// One past the last byte, or `None` when `offset + length` does not fit in 64 bits.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.length)
    }

    /// Why this range cannot reference a message, if it cannot: it is empty, its end does not
    /// fit in 64 bits, or its URL is empty. The one check the builder and
    /// [`Manifest::validate_structure`](super::Manifest::validate_structure) share.
    pub fn problem(&self) -> Option<String> {
        if self.url.is_empty() {
            Some("empty URL".to_owned())
        } else if self.length == 0 {
            Some("byte range of length 0".to_owned())
        } else if self.end().is_none() {
            Some(format!(
                "offset {} + length {} overflows",
                self.offset, self.length
            ))
        } else {
            None
        }
    }
}

impl std::fmt::Display for ByteRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes {}+{}", self.url, self.offset, self.length)
    }
}

/// The value of one manifest key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A zarr metadata document (`.zarray`, `.zattrs`, `.zgroup`), kept as its JSON text.
    Metadata(String),
    /// Chunk bytes stored in the manifest itself (coordinates).
    Inline(Bytes),
    /// A byte range of a remote file (one GRIB2 message).
    Range(ByteRange),
    /// The whole remote file (`["url"]`).
    WholeFile {
        /// Remote file URL.
        url: String,
    },
}

impl Reference {
    /// Metadata reference holding `doc` serialized as compact JSON. `key` is only used in the
    /// error message.
    pub fn metadata_json<T: serde::Serialize>(key: &str, doc: &T) -> Result<Self, ManifestError> {
        serde_json::to_string(doc)
            .map(Self::Metadata)
            .map_err(|e| ManifestError::BadValue {
                key: key.to_owned(),
                reason: format!("cannot serialize metadata: {e}"),
            })
    }

    /// Inline chunk bytes.
    pub fn inline(data: impl Into<Bytes>) -> Self {
        Self::Inline(data.into())
    }

    /// A byte-range reference.
    pub fn range(url: impl Into<String>, offset: u64, length: u64) -> Self {
        Self::Range(ByteRange::new(url, offset, length))
    }

    /// Parses the stored value of `key`.
    ///
    /// * a value starting (after whitespace) with `[` is a URL reference: `["url"]` or
    ///   `["url", offset, length]` with non-negative integer offset and length;
    /// * otherwise, for a metadata key (`.zarray`, `.zattrs`, `.zgroup`, `.zmetadata`), the text
    ///   itself (it must be UTF-8; its JSON is checked by [`Manifest::validate_structure`]);
    /// * otherwise `base64:...` is decoded, and any other value is verbatim inline bytes.
    ///
    /// [`Manifest::validate_structure`]: super::Manifest::validate_structure
    pub fn parse(key: &str, value: &[u8]) -> Result<Self, ManifestError> {
        let bad = |reason: String| ManifestError::BadValue {
            key: key.to_owned(),
            reason,
        };
        if value.trim_ascii_start().first() == Some(&b'[') {
            return Self::parse_url_list(value).map_err(bad);
        }
        if MetadataFile::of_key(key).is_some() {
            return match std::str::from_utf8(value) {
                Ok(text) => Ok(Self::Metadata(text.to_owned())),
                Err(e) => Err(bad(format!("metadata is not UTF-8: {e}"))),
            };
        }
        if let Some(encoded) = value.strip_prefix(BASE64_PREFIX.as_bytes()) {
            return BASE64
                .decode(encoded)
                .map(|d| Self::Inline(Bytes::from(d)))
                .map_err(|e| bad(format!("invalid base64 inline data: {e}")));
        }
        Ok(Self::Inline(Bytes::copy_from_slice(value)))
    }

    /// Parses `["url"]` or `["url", offset, length]`.
    fn parse_url_list(value: &[u8]) -> Result<Self, String> {
        let list: Vec<Value> =
            serde_json::from_slice(value).map_err(|e| format!("invalid reference list: {e}"))?;
        let url = match list.first() {
            Some(Value::String(url)) if !url.is_empty() => url.clone(),
            Some(Value::String(_)) => return Err("empty URL in reference".to_owned()),
            Some(other) => return Err(format!("URL must be a string, found {other}")),
            None => return Err("empty reference list".to_owned()),
        };
        match list.as_slice() {
            [_] => Ok(Self::WholeFile { url }),
            [_, offset, length] => Ok(Self::range(
                url,
                non_negative(offset, "offset")?,
                non_negative(length, "length")?,
            )),
            _ => Err(format!(
                "reference list must have 1 or 3 elements, found {}",
                list.len()
            )),
        }
    }

    /// The text stored in the manifest's `value` column for this reference.
    pub fn to_value_string(&self) -> String {
        match self {
            Self::Metadata(text) => text.clone(),
            Self::Inline(data) => format!("{BASE64_PREFIX}{}", BASE64.encode(data)),
            Self::Range(ByteRange {
                url,
                offset,
                length,
            }) => Value::Array(vec![
                Value::String(url.clone()),
                Value::from(*offset),
                Value::from(*length),
            ])
            .to_string(),
            Self::WholeFile { url } => Value::Array(vec![Value::String(url.clone())]).to_string(),
        }
    }

    /// The remote URL, for [`Range`](Self::Range) and [`WholeFile`](Self::WholeFile).
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Range(ByteRange { url, .. }) | Self::WholeFile { url } => Some(url),
            Self::Metadata(_) | Self::Inline(_) => None,
        }
    }
}

fn non_negative(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{what} must be a non-negative integer, found {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn range_round_trip_and_exact_text() {
        let r = Reference::range("s3://b/gfs.f006", 371379, 371379);
        let text = r.to_value_string();
        assert_eq!(text, r#"["s3://b/gfs.f006",371379,371379]"#);
        assert_eq!(
            Reference::parse("tp/accum/surface/tp/1.0.0", text.as_bytes()).unwrap(),
            r
        );
        // Python's json.dumps puts spaces after commas.
        assert_eq!(
            Reference::parse("tp/0.0.0", br#"["s3://b/gfs.f006", 371379, 371379]"#).unwrap(),
            r
        );
    }

    #[test]
    fn inline_round_trip() {
        let data: Vec<u8> = [6i64, 12].iter().flat_map(|v| v.to_le_bytes()).collect();
        let r = Reference::inline(data);
        let text = r.to_value_string();
        assert_eq!(text, "base64:BgAAAAAAAAAMAAAAAAAAAA==");
        assert_eq!(Reference::parse("a/step/0", text.as_bytes()).unwrap(), r);
    }

    #[test]
    fn metadata_round_trip() {
        let r = Reference::Metadata(r#"{"zarr_format":2}"#.to_owned());
        assert_eq!(
            Reference::parse("tp/.zgroup", r.to_value_string().as_bytes()).unwrap(),
            r
        );
    }

    #[test]
    fn whole_file_and_plain_inline() {
        assert_eq!(
            Reference::parse("x/0", br#"["https://h/f.grib2"]"#).unwrap(),
            Reference::WholeFile {
                url: "https://h/f.grib2".into()
            }
        );
        let whole = Reference::WholeFile { url: "/a/b".into() };
        assert_eq!(
            Reference::parse("x/0", whole.to_value_string().as_bytes()).unwrap(),
            whole
        );
        // kerchunk stores ASCII chunks verbatim (e.g. an f8 level of 250.0 is "\0\0\0\0\0@o@").
        let raw = 250.0f64.to_le_bytes();
        assert_eq!(
            Reference::parse("isobaricInhPa/0", &raw).unwrap(),
            Reference::Inline(Bytes::copy_from_slice(&raw))
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (key, value) in [
            ("a/0", &br#"["u", -1, 5]"#[..]),
            ("a/0", br#"["u", 1]"#),
            ("a/0", br#"[]"#),
            ("a/0", br#"[3, 1, 2]"#),
            ("a/0", br#"["u", 1.5, 2]"#),
            ("a/0", br#"["u", 1, 2"#),
            ("a/0", b"base64:***"),
            ("a/.zarray", b"\xff\xfe"),
        ] {
            match Reference::parse(key, value) {
                Err(ManifestError::BadValue { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{value:?}: expected BadValue, got {other:?}"),
            }
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(key in ".{0,20}", value in ".{0,200}") {
            let _ = Reference::parse(&key, value.as_bytes());
        }

        #[test]
        fn parse_never_panics_on_list_like(value in r#"\[[ "a-z0-9,.\-\[\]{}:e+]{0,40}"#) {
            let _ = Reference::parse("a/0", value.as_bytes());
        }

        #[test]
        fn any_reference_round_trips(
            url in "[a-z]{1,5}://[ -~]{0,30}",
            offset in any::<u64>(),
            length in any::<u64>(),
            data in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            for r in [
                Reference::range(url.clone(), offset, length),
                Reference::WholeFile { url: url.clone() },
                Reference::inline(data.clone()),
            ] {
                let text = r.to_value_string();
                prop_assert_eq!(Reference::parse("g/v/0.0", text.as_bytes()).unwrap(), r);
            }
        }
    }
}
