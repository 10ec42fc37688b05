//! Reading a manifest by parts: the file's tail (its footer), then only the row groups that
//! hold the groups a reader needs.
//!
//! Why: an ECMWF member manifest holds coordinates and metadata for every variable (~150 KB
//! for 15 variables), and a map shows one variable; reading whole manifests, a 51-member view
//! read ~7.5 MB before its first message. So [`write_parquet`](super::write_parquet) lays the
//! file out by group and says where each one is, and a reader fetches the tail, then the
//! ranges [`ManifestTail::ranges`] names, and builds the manifest from those bytes alone
//! ([`ManifestTail::read`]). The file is still the two-column table pandas and pyarrow read.
//!
//! Layout (what the writer guarantees, and the reader relies on only when the index is there):
//!
//! * one row group per top-level group of the manifest (`t2m` holds every key under `t2m/`),
//!   in name order, then one for the root's own keys (`.zgroup`, `.zattrs`),
//!   last so that it sits next to the footer and comes with it in the tail;
//! * the footer's key-value entry [`GROUPS_METADATA_KEY`] is a JSON object from top-level
//!   group to row-group index (`{"t2m": 6, …, "": 15}`);
//! * nothing lies between the last row group and the footer (no page index, no bloom filter),
//!   so the file's length follows from its footer: a reader that asked for the last N bytes
//!   (`Range: bytes=-N`) can place them without `Content-Range`, which browsers hide from
//!   cross-origin pages unless the server exposes it. A tail longer than that length proves the
//!   layout is not this one, and is refused.
//!
//! Hardening is the whole-file reader's: the footer and the pages of the row groups read pass
//! `guard` first, every part must lie inside the file, bytes not held are never read (the
//! parquet crate gets an error, not a panic), and a key found in a row group the index gives to
//! another group is refused. A file without the index (older gik files, Python-written ones)
//! gives no ranges: the reader reads the whole file instead.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use ::parquet::errors::ParquetError;
use ::parquet::file::metadata::{KeyValue, ParquetMetaData};
use ::parquet::file::reader::{ChunkReader, FileReader, Length};
use ::parquet::file::serialized_reader::SerializedFileReader;
use bytes::{Buf, Bytes};

use super::guard::{self, Held};
use crate::manifest::reference::Reference;
use crate::manifest::{Manifest, ManifestError};

/// Name of the parquet key-value metadata entry holding the row-group index: a JSON object
/// from top-level group (`""` for the root's own keys) to row-group index.
pub const GROUPS_METADATA_KEY: &str = "gik_row_groups";

/// Bytes at the end of every parquet file: the footer's length and the `PAR1` magic.
const END_BYTES: u64 = 8;

/// Length assumed for the file while its footer is read from a tail alone (the real length
/// comes from the footer). 4 GiB, which `usize` holds on wasm32 too.
const PROBE_LEN: u64 = u32::MAX as u64;

/// The top-level group of a key: its first segment (`t2m` for
/// `t2m/instant/heightAboveGround/t2m/0.0.0`), or `""` for the root's own keys (`.zgroup`).
fn key_group(key: &str) -> &str {
    key.split_once('/').map_or("", |(group, _)| group)
}

/// The top-level group of a node (array or group) path: its first segment (`t2m` for
/// `t2m/instant/heightAboveGround/t2m`, `tp` for `tp`).
fn node_group(path: &str) -> &str {
    path.split('/').next().unwrap_or(path)
}

/// The rows of `manifest` by row group, in file order: one per top-level group in name order,
/// then the root's own keys (when there are any). Keys are sorted within each.
pub(super) fn row_groups(manifest: &Manifest) -> Vec<(&str, Vec<(&String, &Reference)>)> {
    let mut groups: BTreeMap<&str, Vec<(&String, &Reference)>> = BTreeMap::new();
    for (key, reference) in manifest.iter() {
        groups
            .entry(key_group(key))
            .or_default()
            .push((key, reference));
    }
    let root = groups.remove("");
    let mut out: Vec<_> = groups.into_iter().collect();
    out.extend(root.map(|rows| ("", rows)));
    out
}

/// The [`GROUPS_METADATA_KEY`] value for row groups named `names`, in file order.
pub(super) fn index_value(names: &[&str]) -> String {
    let index: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    serde_json::to_string(&index).unwrap_or_default()
}

fn parts_error(reason: String) -> ManifestError {
    ManifestError::Parts { reason }
}

/// A manifest file's footer, read from the file's last bytes: which byte ranges hold which
/// groups. Made by [`ManifestTail::new`]; see the module documentation.
#[derive(Clone, Debug)]
pub struct ManifestTail {
    file_len: u64,
    tail: Bytes,
    /// Top-level group → row group; `None` when the file has no index.
    index: Option<BTreeMap<String, usize>>,
    /// Byte span of each row group.
    row_groups: Vec<Range<u64>>,
}

impl ManifestTail {
    /// How many bytes at the end of the file hold its footer, from `tail`, the file's last
    /// bytes (at least 8).
    pub fn footer_size(tail: &[u8]) -> Result<u64, ManifestError> {
        let end = tail
            .len()
            .checked_sub(END_BYTES as usize)
            .and_then(|at| tail.get(at..))
            .ok_or_else(|| parts_error(format!("a tail of {} bytes has no footer", tail.len())))?;
        let (len, magic) = end.split_at(4);
        if magic != b"PAR1" {
            return Err(parts_error(
                "no PAR1 magic at the end of the tail (not a parquet file, or truncated)".into(),
            ));
        }
        let len: [u8; 4] = len
            .try_into()
            .map_err(|_| parts_error("footer length".into()))?;
        Ok(u64::from(u32::from_le_bytes(len)) + END_BYTES)
    }

    /// Reads the footer from `tail`, the last bytes of a manifest file (at least
    /// [`footer_size`](Self::footer_size) of them; the whole file will do).
    pub fn new(tail: Bytes) -> Result<Self, ManifestError> {
        let held = tail.len() as u64;
        let needed = Self::footer_size(&tail)?;
        if held < needed {
            return Err(parts_error(format!(
                "a tail of {held} bytes does not hold the footer ({needed} bytes)"
            )));
        }
        if held > PROBE_LEN {
            return Err(parts_error(format!("a tail of {held} bytes is too long")));
        }
        // The file's length is not known yet: read the footer as that of a long file.
        let metadata = read_footer(Sparse::new(PROBE_LEN, [(PROBE_LEN - held, tail.clone())])?)?;
        super::check_version(metadata.file_metadata().key_value_metadata())?;
        let row_groups = metadata
            .row_groups()
            .iter()
            .enumerate()
            .map(|(i, rg)| {
                let spans = rg.columns().iter().map(super::chunk_range);
                let span = spans.reduce(|a, b| {
                    let (a, b) = (a?, b?);
                    Some(a.start.min(b.start)..a.end.max(b.end))
                });
                span.unwrap_or(Some(0..0)).ok_or_else(|| {
                    parts_error(format!("row group {i} has a negative column chunk offset"))
                })
            })
            .collect::<Result<Vec<Range<u64>>, _>>()?;
        let kv = metadata.file_metadata().key_value_metadata();
        let index = parse_index(kv, row_groups.len())?;
        // With the index, the footer follows the last column chunk (after the leading `PAR1`).
        let data_end = row_groups.iter().map(|r| r.end).max().unwrap_or(0).max(4);
        let mut file_len = data_end + needed;
        if held > file_len {
            if index.is_some() {
                return Err(parts_error(format!(
                    "a tail of {held} bytes is longer than the {file_len} bytes its footer \
                     describes (something lies between the row groups and the footer)"
                )));
            }
            // Another layout: nothing will be read by parts, the length does not matter.
            file_len = held;
        }
        if index.is_some() && held == file_len && !tail.starts_with(b"PAR1") {
            return Err(parts_error(format!(
                "a tail of {held} bytes, the whole file by its footer, does not start with PAR1"
            )));
        }
        Ok(Self {
            file_len,
            tail,
            index,
            row_groups,
        })
    }

    /// Where the tail starts in the file (the file's length, as its footer gives it, less the
    /// tail's); meaningful only when the file has an index.
    pub fn tail_offset(&self) -> u64 {
        self.file_len - self.tail.len() as u64
    }

    /// Whether the file has a row-group index (else [`ranges`](Self::ranges) gives `None`).
    pub fn has_index(&self) -> bool {
        self.index.is_some()
    }

    /// The byte ranges still to fetch (sorted, not touching, none in the tail) to read the
    /// groups of `paths` (array or group paths; only their top-level group counts) and the
    /// root; `None` when the file has no row-group index: read the whole file.
    pub fn ranges(&self, paths: &[&str]) -> Option<Vec<Range<u64>>> {
        let tail_start = self.tail_offset();
        let mut spans: Vec<Range<u64>> = self
            .selected(paths)?
            .1
            .into_iter()
            .filter_map(|rg| self.row_groups.get(rg))
            .map(|r| r.start..r.end.min(tail_start))
            .filter(|r| r.start < r.end)
            .collect();
        spans.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::new();
        for r in spans {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        Some(merged)
    }

    /// The manifest's keys in the groups of `paths` and the root, from the tail and `parts`
    /// (`(offset, bytes)` of the file, such as the answers to [`ranges`](Self::ranges)).
    pub fn read(
        &self,
        paths: &[&str],
        parts: impl IntoIterator<Item = (u64, Bytes)>,
    ) -> Result<Manifest, ManifestError> {
        let (names, selected) = self
            .selected(paths)
            .ok_or_else(|| parts_error("the file has no row-group index: read it whole".into()))?;
        let held = std::iter::once((self.tail_offset(), self.tail.clone())).chain(parts);
        let file = Sparse::new(self.file_len, held)?;
        let read = |rg: usize| selected.contains(&rg);
        guard::check_held(&file, &read)
            .map_err(|reason| super::corrupt(&format!("corrupt parquet file: {reason}")))?;
        let size = super::Span {
            file_len: file.file_len(),
            held: file.held_bytes(),
        };
        let reader = SerializedFileReader::new(file)?;
        let manifest = super::read_rows(&reader, size, &read)?;
        if let Some(key) = manifest.keys().find(|k| !names.contains(key_group(k))) {
            return Err(ManifestError::BadKey {
                key: key.to_owned(),
                reason: "it lies in a row group the file's row-group index gives to another \
                         group"
                    .into(),
            });
        }
        Ok(manifest)
    }

    /// The top-level groups of `paths` and the root that the index lists, and their row groups.
    fn selected<'a>(&'a self, paths: &[&'a str]) -> Option<(BTreeSet<&'a str>, BTreeSet<usize>)> {
        let index = self.index.as_ref()?;
        let names: BTreeSet<&str> = paths
            .iter()
            .map(|p| node_group(p))
            .chain([""])
            .filter(|n| index.contains_key(*n))
            .collect();
        let row_groups = names
            .iter()
            .filter_map(|n| index.get(*n).copied())
            .collect();
        Some((names, row_groups))
    }
}

/// The footer of `file` (checked by the guard first).
fn read_footer(file: Sparse) -> Result<ParquetMetaData, ManifestError> {
    guard::check_held(&file, &|_| false)
        .map_err(|reason| super::corrupt(&format!("corrupt parquet file: {reason}")))?;
    let reader = SerializedFileReader::new(file)?;
    Ok(reader.metadata().clone())
}

/// The row-group index of a footer's key-value metadata, checked against the file's
/// `row_groups` (each row group named at most once); `None` when there is none.
fn parse_index(
    kv: Option<&Vec<KeyValue>>,
    row_groups: usize,
) -> Result<Option<BTreeMap<String, usize>>, ManifestError> {
    let Some(entry) = kv
        .into_iter()
        .flatten()
        .find(|kv| kv.key == GROUPS_METADATA_KEY)
    else {
        return Ok(None);
    };
    let bad =
        |reason: String| parts_error(format!("row-group index {GROUPS_METADATA_KEY}: {reason}"));
    let text = entry.value.as_deref().unwrap_or("");
    let index: BTreeMap<String, usize> =
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let mut seen = BTreeSet::new();
    for (name, &rg) in &index {
        if rg >= row_groups {
            return Err(bad(format!(
                "group {name:?} in row group {rg}, of {row_groups}"
            )));
        }
        if !seen.insert(rg) {
            return Err(bad(format!("row group {rg} named twice")));
        }
    }
    Ok(Some(index))
}

/// Spans of a file held in memory (sorted, merged when they touch), read by the guard
/// ([`Held`]) and the parquet crate ([`ChunkReader`]); asking for bytes not held is an error.
struct Sparse {
    len: u64,
    spans: Vec<(u64, Bytes)>,
}

impl Sparse {
    /// A file of `len` bytes of which `parts` (`(offset, bytes)`, any order, may overlap) are
    /// held; every part must lie inside the file.
    fn new(len: u64, parts: impl IntoIterator<Item = (u64, Bytes)>) -> Result<Self, ManifestError> {
        if usize::try_from(len).is_err() {
            return Err(parts_error(format!("a file of {len} bytes is too long")));
        }
        let mut parts: Vec<(u64, Bytes)> = parts.into_iter().collect();
        for (offset, bytes) in &parts {
            let end = offset.checked_add(bytes.len() as u64);
            if end.is_none_or(|end| end > len) {
                return Err(parts_error(format!(
                    "bytes {offset}.. ({} bytes) lie outside the file of {len} bytes",
                    bytes.len()
                )));
            }
        }
        parts.sort_by_key(|(offset, _)| *offset);
        let mut spans: Vec<(u64, Bytes)> = Vec::new();
        for (offset, bytes) in parts {
            match spans.last_mut() {
                Some((start, held)) if offset <= *start + held.len() as u64 => {
                    let end = *start + held.len() as u64;
                    let skip = (end - offset) as usize;
                    if let Some(more) = bytes.get(skip..).filter(|m| !m.is_empty()) {
                        let mut joined = held.to_vec();
                        joined.extend_from_slice(more);
                        *held = Bytes::from(joined);
                    }
                }
                _ => spans.push((offset, bytes)),
            }
        }
        Ok(Self { len, spans })
    }

    /// Bytes held in all.
    fn held_bytes(&self) -> usize {
        self.spans.iter().map(|(_, b)| b.len()).sum()
    }

    /// The span holding bytes `start..end`, and where they begin in it.
    fn find(&self, start: u64, end: u64) -> Option<(&Bytes, usize)> {
        let (offset, bytes) = self
            .spans
            .iter()
            .find(|(offset, bytes)| *offset <= start && end <= offset + bytes.len() as u64)?;
        Some((bytes, (start - offset) as usize))
    }

    fn not_held(&self, start: u64, length: u64) -> ParquetError {
        ParquetError::EOF(format!(
            "bytes {start}.. ({length} bytes) of the manifest were not fetched"
        ))
    }
}

impl Held for Sparse {
    fn file_len(&self) -> usize {
        // Checked to fit when made.
        self.len as usize
    }

    fn bytes(&self, start: usize, end: usize) -> Option<&[u8]> {
        let (bytes, at) = self.find(start as u64, end as u64)?;
        bytes.get(at..at + end.checked_sub(start)?)
    }
}

impl Length for Sparse {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Sparse {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        let (bytes, at) = self
            .find(start, start)
            .filter(|(bytes, at)| *at < bytes.len())
            .ok_or_else(|| self.not_held(start, 1))?;
        Ok(bytes.slice(at..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        let end = start.saturating_add(length as u64);
        let (bytes, at) = self
            .find(start, end)
            .ok_or_else(|| self.not_held(start, length as u64))?;
        Ok(bytes.slice(at..at + length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{read_parquet, write_parquet, VERSION_METADATA_KEY};
    use ::parquet::file::properties::WriterProperties;
    use proptest::prelude::*;

    /// Root keys and four top-level groups, one of them (`t2m-x`) a name that sorts between
    /// another group's keys if compared as whole keys.
    fn grouped_manifest() -> Manifest {
        let meta = |t: &str| Reference::Metadata(t.to_owned());
        let group = meta(r#"{"zarr_format":2}"#);
        let mut refs = vec![
            (".zgroup".to_owned(), group.clone()),
            (".zattrs".to_owned(), meta(r#"{"product":"test"}"#)),
        ];
        for name in ["tp", "t2m", "t2m-x", "u"] {
            refs.push((format!("{name}/.zgroup"), group.clone()));
            refs.push((format!("{name}/surface/.zgroup"), group.clone()));
            for step in 0..40 {
                refs.push((
                    format!("{name}/surface/{name}/{step}.0.0"),
                    Reference::range(format!("s3://b/{name}.f{step:03}"), step * 1000, 999),
                ));
            }
            refs.push((
                format!("{name}/surface/latitude/0"),
                Reference::inline(
                    (0..200u32)
                        .flat_map(|v| v.to_le_bytes())
                        .collect::<Vec<_>>(),
                ),
            ));
        }
        Manifest::from_refs(refs).unwrap()
    }

    /// The keys of `whole` in the top-level groups `names` (and the root).
    fn only(whole: &Manifest, names: &[&str]) -> Manifest {
        Manifest::from_refs(
            whole
                .iter()
                .filter(|(k, _)| key_group(k).is_empty() || names.contains(&key_group(k)))
                .map(|(k, r)| (k.clone(), r.clone())),
        )
        .unwrap()
    }

    /// Reads the groups of `paths` the way a remote reader does: the last `tail` bytes, then
    /// the ranges they name, cut out of `file`.
    fn read_by_parts(file: &[u8], tail: usize, paths: &[&str]) -> Result<Manifest, ManifestError> {
        let start = file.len().saturating_sub(tail);
        let t = ManifestTail::new(Bytes::copy_from_slice(&file[start..]))?;
        let ranges = t
            .ranges(paths)
            .ok_or_else(|| parts_error("no index".into()))?;
        let parts = ranges.into_iter().map(|r| {
            let bytes = file
                .get(r.start as usize..r.end as usize)
                .unwrap_or_default();
            (r.start, Bytes::copy_from_slice(bytes))
        });
        t.read(paths, parts)
    }

    #[test]
    fn one_row_group_per_top_level_group_root_last() {
        let m = grouped_manifest();
        let file = write_parquet(&m).unwrap();
        let reader = SerializedFileReader::new(Bytes::from(file.clone())).unwrap();
        let meta = reader.metadata();
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        let value = |key: &str| {
            kv.iter()
                .find(|e| e.key == key)
                .and_then(|e| e.value.clone())
        };
        assert_eq!(value(VERSION_METADATA_KEY).as_deref(), Some("1"));
        assert_eq!(
            value(GROUPS_METADATA_KEY).as_deref(),
            Some(r#"{"":4,"t2m":0,"t2m-x":1,"tp":2,"u":3}"#)
        );
        let names = ["t2m", "t2m-x", "tp", "u", ""];
        assert_eq!(meta.num_row_groups(), names.len());
        for (i, name) in names.iter().enumerate() {
            let rows = ManifestTail::new(Bytes::from(file.clone()))
                .unwrap()
                .read(&[name], [])
                .unwrap();
            assert_eq!(rows, only(&m, &[name]), "row group {i}");
            let rg = meta.row_group(i);
            let expected = m.keys().filter(|k| key_group(k) == *name).count();
            assert_eq!(rg.num_rows() as usize, expected, "{name}");
            // Key statistics (for pyarrow filters), none of values, no page index.
            assert!(rg.column(0).statistics().is_some());
            assert!(rg.column(1).statistics().is_none());
            for c in rg.columns() {
                assert!(c.offset_index_offset().is_none() && c.column_index_offset().is_none());
            }
        }
        // Nothing between the last column chunk and the footer.
        let footer = ManifestTail::footer_size(&file).unwrap();
        let data_end = meta.row_group(4).columns().iter().map(|c| {
            let (start, len) = c.byte_range();
            start + len
        });
        assert_eq!(data_end.max().unwrap() + footer, file.len() as u64);
        // The whole-file reader reads it all, in any layout.
        assert_eq!(read_parquet(&file).unwrap(), m);
    }

    #[test]
    fn ranged_reads_equal_whole_reads_for_every_tail_length() {
        let m = grouped_manifest();
        let file = write_parquet(&m).unwrap();
        let footer = ManifestTail::footer_size(&file).unwrap() as usize;
        for tail in [
            footer,
            footer + 1,
            footer + 300,
            file.len() / 2,
            file.len() - 1,
            file.len(),
        ] {
            for name in ["t2m", "t2m-x", "tp", "u"] {
                let path = format!("{name}/surface/{name}");
                assert_eq!(
                    read_by_parts(&file, tail, &[&path]).unwrap(),
                    only(&m, &[name]),
                    "{name}, tail {tail}"
                );
            }
            let both = read_by_parts(&file, tail, &["u/surface/u", "tp"]).unwrap();
            assert_eq!(both, only(&m, &["u", "tp"]));
            // A group the file does not have: the root alone.
            assert_eq!(
                read_by_parts(&file, tail, &["sp/x"]).unwrap(),
                only(&m, &[])
            );
        }
    }

    #[test]
    fn ranges_skip_the_tail_and_merge_neighbours() {
        let file = write_parquet(&grouped_manifest()).unwrap();
        let len = file.len() as u64;
        let footer = ManifestTail::footer_size(&file).unwrap();
        let t = ManifestTail::new(Bytes::copy_from_slice(
            &file[file.len() - footer as usize..],
        ))
        .unwrap();
        assert!(t.has_index());
        assert_eq!(t.tail_offset(), len - footer);
        // The root row group comes right before the footer.
        let root = t.ranges(&[]).unwrap();
        assert_eq!(root.len(), 1);
        assert_eq!(root[0].end, len - footer);
        // Neighbouring row groups (u, then the root) are one range.
        let u_and_root = t.ranges(&["u"]).unwrap();
        assert_eq!(u_and_root.len(), 1);
        // t2m and the root are not neighbours.
        assert_eq!(t.ranges(&["t2m"]).unwrap().len(), 2);
        // A tail holding everything leaves nothing to fetch.
        let whole = ManifestTail::new(Bytes::from(file)).unwrap();
        assert_eq!(whole.tail_offset(), 0);
        assert_eq!(
            whole.ranges(&["t2m", "u"]).unwrap(),
            Vec::<Range<u64>>::new()
        );
    }

    #[test]
    fn files_without_an_index_are_read_whole() {
        for file in [
            &include_bytes!("../testdata/gik_small.parquet")[..],
            include_bytes!("../testdata/pandas_snappy.parquet"),
            include_bytes!("../testdata/pyarrow_row_groups.parquet"),
        ] {
            let t = ManifestTail::new(Bytes::copy_from_slice(file)).unwrap();
            assert!(!t.has_index());
            assert!(t.ranges(&["tp"]).is_none());
            assert!(matches!(
                t.read(&["tp"], []),
                Err(ManifestError::Parts { .. })
            ));
        }
        let empty = write_parquet(&Manifest::new()).unwrap();
        let t = ManifestTail::new(Bytes::from(empty)).unwrap();
        assert_eq!(t.read(&["tp"], []).unwrap(), Manifest::new());
    }

    /// `file` with its footer's key-value metadata replaced by `kv` (rewritten by the parquet
    /// writer from the same rows, so offsets stay true).
    fn with_metadata(m: &Manifest, kv: Vec<KeyValue>) -> Vec<u8> {
        let schema =
            Arc::new(::parquet::schema::parser::parse_message_type(super::super::SCHEMA).unwrap());
        let props = Arc::new(
            WriterProperties::builder()
                .set_key_value_metadata(Some(kv))
                .set_statistics_enabled(::parquet::file::properties::EnabledStatistics::None)
                .set_offset_index_disabled(true)
                .build(),
        );
        let mut writer =
            ::parquet::file::writer::SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
        for (_, rows) in row_groups(m) {
            super::super::write_row_group(&mut writer, &rows).unwrap();
        }
        writer.into_inner().unwrap()
    }

    use std::sync::Arc;

    #[test]
    fn lying_indexes_are_refused() {
        let m = grouped_manifest();
        let index = |json: &str| {
            vec![KeyValue::new(
                GROUPS_METADATA_KEY.to_owned(),
                json.to_owned(),
            )]
        };
        let tail = |file: Vec<u8>| ManifestTail::new(Bytes::from(file));
        for json in [
            r#"{"":9}"#,
            r#"{"":4,"u":4}"#,
            r#"["t2m"]"#,
            r#"{"":-1}"#,
            "not json",
        ] {
            assert!(
                matches!(
                    tail(with_metadata(&m, index(json))),
                    Err(ManifestError::Parts { .. })
                ),
                "{json}"
            );
        }
        // An index that sends `tp` to the row group of `u`: the keys found give it away.
        let swapped = with_metadata(&m, index(r#"{"":4,"t2m":0,"t2m-x":1,"tp":3,"u":2}"#));
        let err = tail(swapped.clone())
            .unwrap()
            .read(&["tp"], [])
            .unwrap_err();
        assert!(
            matches!(&err, ManifestError::BadKey { key, .. } if key.starts_with("u/")),
            "{err}"
        );
        // The honest index written the same way reads fine.
        let honest = with_metadata(&m, index(r#"{"":4,"t2m":0,"t2m-x":1,"tp":2,"u":3}"#));
        let tail = ManifestTail::footer_size(&honest).unwrap() as usize + 50;
        assert_eq!(
            read_by_parts(&honest, tail, &["tp"]).unwrap(),
            only(&m, &["tp"])
        );
    }

    #[test]
    fn tails_and_parts_that_do_not_fit_are_refused() {
        let m = grouped_manifest();
        let file = write_parquet(&m).unwrap();
        let footer = ManifestTail::footer_size(&file).unwrap() as usize;
        let parts_err =
            |r: Result<ManifestTail, ManifestError>| matches!(r, Err(ManifestError::Parts { .. }));
        // Too short for the footer, or not a parquet tail at all.
        for cut in [0, 7, 8, footer - 1] {
            let t = Bytes::copy_from_slice(&file[file.len() - cut..]);
            assert!(parts_err(ManifestTail::new(t)), "{cut}");
        }
        assert!(parts_err(ManifestTail::new(Bytes::from_static(
            b"garbage!garbage!"
        ))));
        // Bytes between the row groups and the footer: the tail is longer than the file the
        // footer describes.
        let mut padded = file[..file.len() - footer].to_vec();
        padded.extend_from_slice(&[0; 10]);
        padded.extend_from_slice(&file[file.len() - footer..]);
        assert!(parts_err(ManifestTail::new(Bytes::from(padded))));
        // A whole file (by its footer) that does not start as one.
        let mut headless = file.clone();
        headless[..4].copy_from_slice(b"PAR0");
        assert!(parts_err(ManifestTail::new(Bytes::from(headless))));
        // A part outside the file, or a row group not fetched.
        let t = ManifestTail::new(Bytes::copy_from_slice(&file[file.len() - footer..])).unwrap();
        let outside = (file.len() as u64 - 2, Bytes::from_static(b"abcd"));
        assert!(matches!(
            t.read(&["tp"], [outside]),
            Err(ManifestError::Parts { .. })
        ));
        assert!(t.read(&["tp"], []).is_err());
        // Parts of the wrong bytes (shifted by one).
        let r = t.ranges(&["tp"]).unwrap();
        let shifted: Vec<(u64, Bytes)> = r
            .iter()
            .map(|r| {
                (
                    r.start,
                    Bytes::copy_from_slice(&file[r.start as usize + 1..r.end as usize + 1]),
                )
            })
            .collect();
        assert!(t.read(&["tp"], shifted).is_err());
    }

    #[test]
    fn every_single_byte_corruption_of_a_ranged_read_is_handled() {
        let m = grouped_manifest();
        let file = write_parquet(&m).unwrap();
        let footer = ManifestTail::footer_size(&file).unwrap() as usize;
        let tail = footer + 200;
        for pos in 0..file.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut d = file.clone();
                d[pos] ^= flip;
                let _ = read_by_parts(&d, tail, &["tp/surface/tp"]);
            }
        }
    }

    proptest! {
        #[test]
        fn random_tails_never_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            tail in any::<prop::sample::Index>(),
            group in 0..5usize,
        ) {
            let mut d = write_parquet(&grouped_manifest()).unwrap();
            for (pos, byte) in edits {
                let i = pos.index(d.len());
                d[i] = byte;
            }
            let name = ["t2m", "t2m-x", "tp", "u", ""][group];
            let _ = read_by_parts(&d, tail.index(d.len() + 1), &[name]);
        }
    }
}
