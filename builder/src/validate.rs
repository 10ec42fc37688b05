//! `gik validate MANIFEST`: checks a published manifest.
//!
//! Structure (every group's `.zgroup`, every array's metadata parses and matches its
//! dimensions, chunk keys inside the chunk grid) and references (every `[url, offset, length]`
//! lies inside its file, by a HEAD per file; with `--deep`, each referenced range is read and
//! must be exactly one whole GRIB2 message).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use futures::stream::{self, StreamExt};
use gik_core::manifest::{ByteRange, ChunkKey};
use gik_core::member::MemberManifest;

use crate::http::{FetchError, HttpClient, ObjectKind};

/// Outcome of a validation.
#[derive(Debug, Default)]
pub struct Validation {
    /// Chunk references checked.
    pub references: usize,
    /// Problems found, each naming a key or URL.
    pub problems: Vec<String>,
}

/// Reads a manifest from a local path or an http(s) URL.
pub async fn read_manifest(client: &HttpClient, location: &str) -> Result<MemberManifest> {
    let bytes = if location.starts_with("http://") || location.starts_with("https://") {
        client
            .get_object(location, ObjectKind::Manifest)
            .await?
            .to_vec()
    } else {
        let path = location.strip_prefix("file://").unwrap_or(location);
        let cap = client.limits().manifest;
        let size = std::fs::metadata(path)
            .with_context(|| format!("reading {path}"))?
            .len();
        if size > cap {
            bail!("{path}: manifest of {size} bytes is over the cap of {cap} bytes");
        }
        std::fs::read(path).with_context(|| format!("reading {path}"))?
    };
    MemberManifest::from_parquet(&bytes).with_context(|| format!("reading manifest {location}"))
}

/// Validates `location`.
pub async fn validate(client: &HttpClient, location: &str, deep: bool) -> Result<Validation> {
    let member = read_manifest(client, location).await?;
    let manifest = member.manifest();
    let mut out = Validation::default();
    out.problems.extend(
        manifest
            .validate_structure()
            .into_iter()
            .map(|p| p.to_string()),
    );
    if member.data_arrays().is_empty() {
        out.problems
            .push("no data arrays (no .zarray with a grib filter)".into());
    }
    let refs: Vec<(ChunkKey, &ByteRange)> = manifest.chunk_ranges().collect();
    out.references = refs.len();
    let mut by_url: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for r in &refs {
        by_url.entry(r.1.url.as_str()).or_default().push(r);
    }
    let sizes: BTreeMap<&str, Result<u64, FetchError>> = stream::iter(by_url.keys().copied())
        .map(|url| async move { (url, client.head_size(url).await) })
        .buffer_unordered(64)
        .collect()
        .await;
    for (url, chunk_refs) in &by_url {
        match &sizes[url] {
            Err(e) => out
                .problems
                .push(format!("{e} (referenced by {} chunks)", chunk_refs.len())),
            Ok(size) => {
                for (key, range) in chunk_refs {
                    out.problems.extend(range_problem(key, range, *size));
                }
            }
        }
    }
    if deep {
        let checks: Vec<Option<String>> = stream::iter(refs.iter())
            .map(|(key, r)| async move {
                match client.get_range(&r.url, r.offset, r.length).await {
                    Err(e) => Some(format!("{key}: {e}")),
                    Ok(bytes) => gik_core::grib::describe(&bytes)
                        .err()
                        .map(|e| format!("{key}: not one whole GRIB2 message: {e}"))
                        .or_else(|| {
                            (gik_core::grib::scan(&bytes).map(|m| m.len()).unwrap_or(0) != 1)
                                .then(|| format!("{key}: range holds more than one message"))
                        }),
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        out.problems.extend(checks.into_iter().flatten());
    }
    if out.references == 0 {
        bail!("{location}: the manifest references no GRIB2 message");
    }
    Ok(out)
}

/// Why a reference's byte range is not inside its file of `size` bytes, if it is not: it ends
/// past the end, or `offset + length` does not even fit in 64 bits (which wrapping arithmetic
/// would let pass).
fn range_problem(key: &ChunkKey, r: &ByteRange, size: u64) -> Option<String> {
    let url = &r.url;
    match r.end() {
        Some(end) if end <= size => None,
        Some(end) => Some(format!(
            "{key}: bytes {}..{end} outside {url} ({size} bytes)",
            r.offset
        )),
        None => Some(format!(
            "{key}: offset {} + length {} overflows (outside {url}, {size} bytes)",
            r.offset, r.length
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_ranges_are_problems() {
        let key = ChunkKey::parse("t2m/0.0.0").unwrap();
        let r = |offset, length| ByteRange::new("https://x/a.grib2", offset, length);
        assert_eq!(range_problem(&key, &r(0, 100), 100), None);
        let outside = range_problem(&key, &r(1, 100), 100).unwrap();
        assert!(
            outside.contains("1..101") && outside.contains("https://x/a.grib2"),
            "{outside}"
        );
        // 2^64 - 1 + 2 wraps to 1, which a plain `+` in release builds would accept.
        let wrapped = range_problem(&key, &r(u64::MAX, 2), 100).unwrap();
        assert!(
            wrapped.contains("overflows") && wrapped.contains("t2m/0.0.0"),
            "{wrapped}"
        );
    }
}
