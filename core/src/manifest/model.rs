//! The [`Manifest`]: an ordered map from zarr store key to [`Reference`], with the rules keys
//! must follow and a structural check of what Python needs to open it.
//!
//! The map is a `BTreeMap` so that iteration, the parquet rows and every problem list come out
//! in key order: two builds of the same member produce byte-identical files, and diffs are
//! readable.
//!
//! [`Manifest::validate_structure`] checks the rules of `docs/MANIFEST_FORMAT.md` ("Required"): a
//! root `.zgroup`, a `.zgroup` for every intermediate group (else `open_datatree` sees only the
//! root), parseable `.zarray`s, `_ARRAY_DIMENSIONS` matching each shape, chunk keys inside the
//! chunk grid, no empty byte range. It collects every problem instead of stopping at the first,
//! as ripgrep's gitignore parser does, so one run shows everything wrong with a manifest.

use std::collections::btree_map;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::reference::{ByteRange, Reference};
use super::zarr::{ZArray, ZAttrs, ZGroup};
use super::ManifestError;

/// The zarr v2 metadata files a key can end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetadataFile {
    /// `.zgroup`: marks a group.
    ZGroup,
    /// `.zattrs`: attributes of a group or array.
    ZAttrs,
    /// `.zarray`: marks an array and describes it.
    ZArray,
    /// `.zmetadata`: consolidated metadata (never written by gik).
    ZMetadata,
}

impl MetadataFile {
    /// The file name, e.g. `.zarray`.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::ZGroup => ".zgroup",
            Self::ZAttrs => ".zattrs",
            Self::ZArray => ".zarray",
            Self::ZMetadata => ".zmetadata",
        }
    }

    /// Which metadata file `key` names, if any (by its last segment).
    pub fn of_key(key: &str) -> Option<Self> {
        match split_key(key).1 {
            ".zgroup" => Some(Self::ZGroup),
            ".zattrs" => Some(Self::ZAttrs),
            ".zarray" => Some(Self::ZArray),
            ".zmetadata" => Some(Self::ZMetadata),
            _ => None,
        }
    }

    /// The key of this file for the node at `path` (`""` is the root).
    pub fn key_for(self, path: &str) -> String {
        join(path, self.file_name())
    }
}

/// Splits `a/b/c` into (`a/b`, `c`); a key without `/` has the root `""` as parent.
pub(crate) fn split_key(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

/// Joins a node path and a name (`""` + `x` is `x`).
pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}/{name}")
    }
}

/// Every proper ancestor group path of `path`, root excluded: `a/b/c` gives `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(move |(i, _)| path.get(..i).unwrap_or(""))
}

/// Checks that `key` is a valid relative zarr store key.
///
/// Rules: not empty; segments separated by single `/`, none empty, `.` or `..`; no leading or
/// trailing `/`; no backslash or control character.
pub fn check_key(key: &str) -> Result<(), ManifestError> {
    let bad = |reason: &str| {
        Err(ManifestError::BadKey {
            key: key.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if key.is_empty() {
        return bad("empty key");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return bad("contains a control character or backslash");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("empty path segment (leading, trailing or double '/')"),
            "." | ".." => return bad("'.' or '..' path segment"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks that `name` can be one segment of a key (a group, array or coordinate name).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.contains('/') {
        return Err(format!("name {name:?} contains '/'"));
    }
    if name.starts_with('.') {
        return Err(format!(
            "name {name:?} starts with '.' (reserved for metadata)"
        ));
    }
    check_key(name).map_err(|e| e.to_string())
}

/// Checks that `name` can be a dimension name in `_ARRAY_DIMENSIONS` (and so in a
/// `coordinates` attribute, which is split on whitespace): not empty, no whitespace.
pub(crate) fn check_dimension_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(char::is_whitespace) {
        Err(format!("bad dimension name {name:?}"))
    } else {
        Ok(())
    }
}

/// The key of one chunk: the array's path and the chunk's index in the chunk grid.
///
/// Written as `{array}/{i}.{j}.{k}`; a 0-d array's only chunk is `{array}/0`, which
/// [`ChunkKey::parse`] reads back as index `[0]`. Only the `.` separator is supported.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    array: String,
    index: Vec<u64>,
}

impl ChunkKey {
    /// The key of chunk `index` of the array at `array` (`""` for a root array).
    pub fn new(array: impl Into<String>, index: Vec<u64>) -> Result<Self, ManifestError> {
        let array = array.into();
        if !array.is_empty() {
            check_key(&array)?;
        }
        Ok(Self { array, index })
    }

    /// Parses a chunk key such as `tp/accum/surface/tp/1.0.0`.
    pub fn parse(key: &str) -> Result<Self, ManifestError> {
        check_key(key)?;
        let (array, last) = split_key(key);
        let index = parse_chunk_index(last).map_err(|reason| ManifestError::BadKey {
            key: key.to_owned(),
            reason,
        })?;
        Ok(Self {
            array: array.to_owned(),
            index,
        })
    }

    /// Path of the array the chunk belongs to.
    pub fn array(&self) -> &str {
        &self.array
    }

    /// Index of the chunk in the chunk grid (empty for a scalar built with [`ChunkKey::new`]).
    pub fn index(&self) -> &[u64] {
        &self.index
    }
}

impl fmt::Display for ChunkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.array.is_empty() {
            write!(f, "{}/", self.array)?;
        }
        if self.index.is_empty() {
            return f.write_str("0");
        }
        for (n, i) in self.index.iter().enumerate() {
            if n > 0 {
                f.write_str(".")?;
            }
            write!(f, "{i}")?;
        }
        Ok(())
    }
}

/// Parses the last segment of a chunk key (`1.0.0`) into its index.
fn parse_chunk_index(segment: &str) -> Result<Vec<u64>, String> {
    segment
        .split('.')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                Err(format!("{segment:?} is not a chunk index like 0.0.0"))
            } else {
                part.parse::<u64>()
                    .map_err(|e| format!("chunk index {part:?}: {e}"))
            }
        })
        .collect()
}

/// Checks that chunk `index` lies inside a chunk grid of `grid` chunks per dimension (a
/// scalar's only chunk is `[0]` or `[]`). The one chunk-grid rule of the builder, the
/// structure check and the reader ([`super::Array::chunk`]).
pub(crate) fn check_chunk_index(index: &[u64], grid: &[u64]) -> Result<(), String> {
    let inside = if grid.is_empty() {
        index.is_empty() || index == [0]
    } else {
        index.len() == grid.len() && index.iter().zip(grid).all(|(i, g)| i < g)
    };
    if inside {
        Ok(())
    } else {
        Err(format!("chunk index {index:?} outside chunk grid {grid:?}"))
    }
}

/// A reference manifest: zarr store key → [`Reference`], in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    refs: BTreeMap<String, Reference>,
}

impl Manifest {
    /// An empty manifest.
    pub fn new() -> Self {
        Self::default()
    }

    /// A manifest from (key, reference) pairs; fails on an invalid or repeated key.
    pub fn from_refs<I, K>(refs: I) -> Result<Self, ManifestError>
    where
        I: IntoIterator<Item = (K, Reference)>,
        K: Into<String>,
    {
        let mut m = Self::new();
        for (key, reference) in refs {
            let key = key.into();
            if m.refs.contains_key(&key) {
                return Err(ManifestError::DuplicateKey { key });
            }
            m.insert(key, reference)?;
        }
        Ok(m)
    }

    /// Inserts or replaces the reference of `key` (checked with [`check_key`]); returns the
    /// previous reference.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        reference: Reference,
    ) -> Result<Option<Reference>, ManifestError> {
        let key = key.into();
        check_key(&key)?;
        Ok(self.refs.insert(key, reference))
    }

    /// The reference of `key`.
    pub fn get(&self, key: &str) -> Option<&Reference> {
        self.refs.get(key)
    }

    /// Whether `key` exists.
    pub fn contains_key(&self, key: &str) -> bool {
        self.refs.contains_key(key)
    }

    /// Removes `key`, returning its reference.
    pub fn remove(&mut self, key: &str) -> Option<Reference> {
        self.refs.remove(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// All (key, reference) pairs in key order.
    pub fn iter(&self) -> btree_map::Iter<'_, String, Reference> {
        self.refs.iter()
    }

    /// All keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.refs.keys().map(String::as_str)
    }

    /// The (key, reference) pairs whose key starts with `prefix`, in key order (a range of
    /// the map, not a scan of every key).
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Reference)> + 'a {
        self.refs
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(key, _)| key.starts_with(prefix))
            .map(|(key, reference)| (key.as_str(), reference))
    }

    /// The underlying map.
    pub fn into_refs(self) -> BTreeMap<String, Reference> {
        self.refs
    }

    /// Paths of all arrays (nodes with a `.zarray`), in order; `""` is a root array.
    pub fn array_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.node_paths(MetadataFile::ZArray)
    }

    /// Paths of all groups (nodes with a `.zgroup`), in order; `""` is the root.
    pub fn group_paths(&self) -> impl Iterator<Item = &str> + '_ {
        self.node_paths(MetadataFile::ZGroup)
    }

    fn node_paths(&self, file: MetadataFile) -> impl Iterator<Item = &str> + '_ {
        self.refs.keys().filter_map(move |k| {
            let (parent, name) = split_key(k);
            (name == file.file_name()).then_some(parent)
        })
    }

    /// Parses the JSON of a metadata document of the node at `path`; `Ok(None)` when absent.
    fn metadata<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        file: MetadataFile,
    ) -> Result<Option<T>, ManifestError> {
        let key = file.key_for(path);
        match self.refs.get(&key) {
            None => Ok(None),
            Some(Reference::Metadata(text)) => {
                serde_json::from_str(text)
                    .map(Some)
                    .map_err(|e| ManifestError::BadValue {
                        key,
                        reason: format!("invalid {}: {e}", file.file_name()),
                    })
            }
            Some(_) => Err(ManifestError::BadValue {
                key,
                reason: "metadata is not stored inline".to_owned(),
            }),
        }
    }

    /// The parsed `.zarray` of the array at `path`.
    pub fn zarray(&self, path: &str) -> Result<Option<ZArray>, ManifestError> {
        self.metadata(path, MetadataFile::ZArray)
    }

    /// The parsed `.zattrs` of the node at `path`.
    pub fn zattrs(&self, path: &str) -> Result<Option<ZAttrs>, ManifestError> {
        self.metadata(path, MetadataFile::ZAttrs)
    }

    /// The parsed `.zgroup` of the group at `path`.
    pub fn zgroup(&self, path: &str) -> Result<Option<ZGroup>, ManifestError> {
        self.metadata(path, MetadataFile::ZGroup)
    }

    /// Every chunk stored as a byte range of a remote file ([`Reference::Range`]) under a key
    /// of the form `{array}/{i}.{j}...`, in key order. Whole-file references, inline chunks,
    /// metadata and keys that are not chunk keys are skipped ([`Manifest::validate_structure`]
    /// reports the latter).
    pub fn chunk_ranges(&self) -> impl Iterator<Item = (ChunkKey, &ByteRange)> + '_ {
        self.refs.iter().filter_map(|(key, reference)| {
            let Reference::Range(range) = reference else {
                return None;
            };
            if MetadataFile::of_key(key).is_some() {
                return None;
            }
            Some((ChunkKey::parse(key).ok()?, range))
        })
    }

    /// Checks the structure Python's zarr/xarray need; returns every problem found, in key
    /// order (empty when the manifest is sound). See the module docs for the rules.
    pub fn validate_structure(&self) -> Vec<StructureProblem> {
        let mut problems = BTreeSet::new();
        let mut report = |key: String, problem: Problem| {
            problems.insert(StructureProblem { key, problem });
        };
        let groups: BTreeSet<&str> = self.group_paths().collect();
        let arrays: BTreeSet<&str> = self.array_paths().collect();
        if !groups.contains("") {
            report(".zgroup".to_owned(), Problem::MissingKey);
        }
        self.check_groups(&groups, &arrays, &mut report);
        let parsed = self.check_arrays(&arrays, &mut report);
        for (key, reference) in &self.refs {
            self.check_key_place(key, reference, &groups, &arrays, &parsed, &mut report);
        }
        problems.into_iter().collect()
    }

    /// Groups: each document parses, and no node is both a group and an array.
    fn check_groups(
        &self,
        groups: &BTreeSet<&str>,
        arrays: &BTreeSet<&str>,
        report: &mut impl FnMut(String, Problem),
    ) {
        for &path in groups {
            let key = MetadataFile::ZGroup.key_for(path);
            if let Err(e) = self.zgroup(path) {
                report(key.clone(), Problem::from_error(e));
            }
            if arrays.contains(path) {
                report(key, Problem::GroupAndArray);
            }
        }
    }

    /// Arrays: metadata parses and agrees with `_ARRAY_DIMENSIONS`; returns the parsed
    /// `.zarray` of every array whose document parses.
    fn check_arrays<'k>(
        &self,
        arrays: &BTreeSet<&'k str>,
        report: &mut impl FnMut(String, Problem),
    ) -> BTreeMap<&'k str, ZArray> {
        let mut parsed = BTreeMap::new();
        for &path in arrays {
            let zarray_key = MetadataFile::ZArray.key_for(path);
            let zarray = match self.zarray(path) {
                Ok(Some(z)) => z,
                Ok(None) => continue,
                Err(e) => {
                    report(zarray_key, Problem::from_error(e));
                    continue;
                }
            };
            if zarray.shape.len() != zarray.chunks.len() {
                report(
                    zarray_key,
                    Problem::ChunksShapeMismatch {
                        shape: zarray.shape.len(),
                        chunks: zarray.chunks.len(),
                    },
                );
            }
            self.check_dimensions(path, zarray.shape.len(), report);
            parsed.insert(path, zarray);
        }
        parsed
    }

    /// The `_ARRAY_DIMENSIONS` of the array at `path`: present, one valid name per dimension.
    fn check_dimensions(&self, path: &str, ndim: usize, report: &mut impl FnMut(String, Problem)) {
        let zattrs_key = MetadataFile::ZAttrs.key_for(path);
        match self.zattrs(path) {
            Ok(None) => report(zattrs_key, Problem::MissingKey),
            Ok(Some(ZAttrs {
                array_dimensions: None,
                ..
            })) => report(zattrs_key, Problem::MissingArrayDimensions),
            Ok(Some(ZAttrs {
                array_dimensions: Some(dims),
                ..
            })) => {
                for reason in dims.iter().filter_map(|d| check_dimension_name(d).err()) {
                    report(zattrs_key.clone(), Problem::BadDimension { reason });
                }
                if dims.len() != ndim {
                    report(
                        zattrs_key,
                        Problem::DimensionMismatch {
                            dims: dims.len(),
                            ndim,
                        },
                    );
                }
            }
            Err(e) => report(zattrs_key, Problem::from_error(e)),
        }
    }

    /// One key: every ancestor of its node is a group, a `.zattrs` belongs to a node, and any
    /// other non-metadata key is a chunk ([`Self::check_chunk`]).
    fn check_key_place(
        &self,
        key: &str,
        reference: &Reference,
        groups: &BTreeSet<&str>,
        arrays: &BTreeSet<&str>,
        parsed: &BTreeMap<&str, ZArray>,
        report: &mut impl FnMut(String, Problem),
    ) {
        let (parent, _) = split_key(key);
        // The node a key belongs to: the parent for metadata and chunks alike. Every
        // ancestor of that node must be a group.
        let node_is_known = groups.contains(parent) || arrays.contains(parent);
        for ancestor in ancestors(parent) {
            if arrays.contains(ancestor) {
                report(key.to_owned(), Problem::NestedInArray);
            } else if !groups.contains(ancestor) {
                report(MetadataFile::ZGroup.key_for(ancestor), Problem::MissingKey);
            }
        }
        match MetadataFile::of_key(key) {
            Some(MetadataFile::ZAttrs) => {
                if !node_is_known {
                    report(key.to_owned(), Problem::AttrsWithoutNode);
                } else if !arrays.contains(parent) {
                    if let Err(e) = self.zattrs(parent) {
                        report(key.to_owned(), Problem::from_error(e));
                    }
                }
            }
            Some(MetadataFile::ZGroup | MetadataFile::ZArray | MetadataFile::ZMetadata) => {}
            None => self.check_chunk(key, reference, parsed, arrays, report),
        }
    }

    /// Checks one non-metadata key: it must be a chunk of a known array, inside its grid.
    fn check_chunk(
        &self,
        key: &str,
        reference: &Reference,
        parsed: &BTreeMap<&str, ZArray>,
        arrays: &BTreeSet<&str>,
        report: &mut impl FnMut(String, Problem),
    ) {
        let (parent, last) = split_key(key);
        if !arrays.contains(parent) {
            report(key.to_owned(), Problem::OrphanChunk);
            return;
        }
        match reference {
            Reference::Range(range) if range.length == 0 => {
                report(key.to_owned(), Problem::EmptyRange);
            }
            Reference::Range(range) => {
                if let Some(reason) = range.problem() {
                    report(key.to_owned(), Problem::BadRange { reason });
                }
            }
            Reference::Metadata(_) => report(key.to_owned(), Problem::MetadataInChunk),
            _ => {}
        }
        let index = match parse_chunk_index(last) {
            Ok(index) => index,
            Err(reason) => {
                report(key.to_owned(), Problem::BadChunkIndex { reason });
                return;
            }
        };
        // Unparsable arrays were reported already.
        let Some(zarray) = parsed.get(parent) else {
            return;
        };
        let Some(grid) = zarray.chunk_grid_shape() else {
            return;
        };
        if check_chunk_index(&index, &grid).is_err() {
            report(key.to_owned(), Problem::ChunkOutOfGrid { index, grid });
        }
        // Inline chunks of plain arrays must hold exactly one chunk of raw bytes.
        if let Reference::Inline(data) = reference {
            if zarray.compressor.is_none() && zarray.filters.is_none() {
                if let Some(expected) = zarray.chunk_size_bytes() {
                    let found = data.len() as u64;
                    if found != expected {
                        report(
                            key.to_owned(),
                            Problem::InlineSizeMismatch { expected, found },
                        );
                    }
                }
            }
        }
    }

    /// [`Manifest::validate_structure`] as a `Result`: `Err(ManifestError::Invalid)` listing
    /// every problem.
    pub fn ensure_valid(&self) -> Result<(), ManifestError> {
        let problems = self.validate_structure();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::Invalid { problems })
        }
    }
}

impl<'a> IntoIterator for &'a Manifest {
    type Item = (&'a String, &'a Reference);
    type IntoIter = btree_map::Iter<'a, String, Reference>;

    fn into_iter(self) -> Self::IntoIter {
        self.refs.iter()
    }
}

/// One structural problem and the key it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StructureProblem {
    /// The key that is wrong or missing.
    pub key: String,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for StructureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.key, self.problem)
    }
}

/// What [`Manifest::validate_structure`] found wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Problem {
    /// The key is required but absent.
    MissingKey,
    /// A metadata document cannot be parsed.
    Unparsable {
        /// Parser message.
        reason: String,
    },
    /// The same path has both a `.zgroup` and a `.zarray`.
    GroupAndArray,
    /// The key lies below an array.
    NestedInArray,
    /// A `.zattrs` belongs to a node that is neither a group nor an array.
    AttrsWithoutNode,
    /// `.zarray` has different numbers of `shape` and `chunks` entries.
    ChunksShapeMismatch {
        /// Entries in `shape`.
        shape: usize,
        /// Entries in `chunks`.
        chunks: usize,
    },
    /// The array's `.zattrs` has no `_ARRAY_DIMENSIONS`.
    MissingArrayDimensions,
    /// `_ARRAY_DIMENSIONS` does not have one name per dimension.
    DimensionMismatch {
        /// Names in `_ARRAY_DIMENSIONS`.
        dims: usize,
        /// Dimensions in `shape`.
        ndim: usize,
    },
    /// A name in `_ARRAY_DIMENSIONS` is empty or holds whitespace.
    BadDimension {
        /// Which name and why.
        reason: String,
    },
    /// A data key whose parent is not an array.
    OrphanChunk,
    /// A chunk key's last segment is not an index like `0.0.0`.
    BadChunkIndex {
        /// Why.
        reason: String,
    },
    /// A chunk index outside the chunk grid (or with the wrong number of entries).
    ChunkOutOfGrid {
        /// The index.
        index: Vec<u64>,
        /// Number of chunks along each dimension.
        grid: Vec<u64>,
    },
    /// A byte range of length 0.
    EmptyRange,
    /// A byte range that cannot reference a message (its end overflows, its URL is empty).
    BadRange {
        /// Why ([`ByteRange::problem`]).
        reason: String,
    },
    /// A chunk key holds metadata text.
    MetadataInChunk,
    /// An inline chunk of an uncompressed, unfiltered array has the wrong number of bytes.
    InlineSizeMismatch {
        /// Bytes in one chunk.
        expected: u64,
        /// Bytes stored.
        found: u64,
    },
}

impl Problem {
    fn from_error(e: ManifestError) -> Self {
        match e {
            ManifestError::BadValue { reason, .. } => Self::Unparsable { reason },
            other => Self::Unparsable {
                reason: other.to_string(),
            },
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingKey => f.write_str("required key is missing"),
            Self::Unparsable { reason } => write!(f, "cannot be parsed: {reason}"),
            Self::GroupAndArray => f.write_str("node is both a group and an array"),
            Self::NestedInArray => f.write_str("key lies inside an array"),
            Self::AttrsWithoutNode => f.write_str(".zattrs without .zgroup or .zarray"),
            Self::ChunksShapeMismatch { shape, chunks } => {
                write!(f, "shape has {shape} entries but chunks has {chunks}")
            }
            Self::MissingArrayDimensions => f.write_str("no _ARRAY_DIMENSIONS attribute"),
            Self::DimensionMismatch { dims, ndim } => write!(
                f,
                "_ARRAY_DIMENSIONS has {dims} names for {ndim} dimensions"
            ),
            Self::BadDimension { reason } => f.write_str(reason),
            Self::OrphanChunk => f.write_str("data key whose parent has no .zarray"),
            Self::BadChunkIndex { reason } => write!(f, "bad chunk index: {reason}"),
            Self::ChunkOutOfGrid { index, grid } => {
                write!(f, "chunk index {index:?} outside chunk grid {grid:?}")
            }
            Self::EmptyRange => f.write_str("byte range of length 0"),
            Self::BadRange { reason } => write!(f, "bad byte range: {reason}"),
            Self::MetadataInChunk => f.write_str("chunk key holds metadata"),
            Self::InlineSizeMismatch { expected, found } => {
                write!(f, "inline chunk has {found} bytes, expected {expected}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(text: &str) -> Reference {
        Reference::Metadata(text.to_owned())
    }

    const GROUP: &str = r#"{"zarr_format":2}"#;

    fn small() -> Manifest {
        Manifest::from_refs([
            (".zgroup", meta(GROUP)),
            ("v/.zgroup", meta(GROUP)),
            (
                "v/x/.zarray",
                meta(
                    r#"{"zarr_format":2,"shape":[2,3],"chunks":[1,3],"dtype":"<f4","compressor":null,"fill_value":"NaN","order":"C","filters":[{"id":"grib","var":"x","dtype":"float32"}]}"#,
                ),
            ),
            ("v/x/.zattrs", meta(r#"{"_ARRAY_DIMENSIONS":["step","lon"]}"#)),
            ("v/x/0.0", Reference::range("s3://b/f", 0, 10)),
            ("v/x/1.0", Reference::range("s3://b/f", 10, 5)),
        ])
        .unwrap()
    }

    #[test]
    fn keys_are_checked() {
        for bad in ["", "/a", "a/", "a//b", "a/../b", "./a", "a\\b", "a\u{0}b"] {
            assert!(
                matches!(check_key(bad), Err(ManifestError::BadKey { .. })),
                "{bad:?}"
            );
        }
        check_key("tp/accum/surface/tp/0.0.0").unwrap();
        check_key(".zgroup").unwrap();
        let mut m = Manifest::new();
        assert!(m.insert("a//b", meta(GROUP)).is_err());
        assert!(matches!(
            Manifest::from_refs([(".zgroup", meta(GROUP)), (".zgroup", meta(GROUP))]),
            Err(ManifestError::DuplicateKey { key }) if key == ".zgroup"
        ));
    }

    #[test]
    fn chunk_keys() {
        let k = ChunkKey::parse("tp/accum/surface/tp/1.0.0").unwrap();
        assert_eq!(k.array(), "tp/accum/surface/tp");
        assert_eq!(k.index(), &[1, 0, 0]);
        assert_eq!(k.to_string(), "tp/accum/surface/tp/1.0.0");
        assert_eq!(
            ChunkKey::new("a/time", vec![]).unwrap().to_string(),
            "a/time/0"
        );
        assert_eq!(ChunkKey::new("", vec![0, 1]).unwrap().to_string(), "0.1");
        for bad in [
            "a/.zarray",
            "a/1..0",
            "a/x",
            "a/1.-1",
            "a/99999999999999999999999",
        ] {
            assert!(ChunkKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn small_manifest_is_valid_and_lists_chunks() {
        let m = small();
        assert_eq!(m.validate_structure(), vec![]);
        m.ensure_valid().unwrap();
        let refs: Vec<_> = m.chunk_ranges().collect();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].0.array(), "v/x");
        assert_eq!(refs[1].0.index(), [1, 0]);
        assert_eq!(refs[1].1, &ByteRange::new("s3://b/f", 10, 5));
        assert_eq!(m.array_paths().collect::<Vec<_>>(), vec!["v/x"]);
        assert_eq!(m.group_paths().collect::<Vec<_>>(), vec!["", "v"]);
    }

    /// Every reference set of a real kerchunk `scan_grib` output parses, and is sound.
    #[test]
    fn kerchunk_scan_grib_output_is_valid() {
        let path = crate::test_support::fixture("kerchunk/hrrr.wrfsfcf.subset.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!("skipping absent fixture {}", path.display());
            return;
        };
        let sets: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(sets.len(), 18);
        let mut ranges = 0;
        for set in &sets {
            let refs = set["refs"].as_object().unwrap();
            let m = Manifest::from_refs(refs.iter().map(|(k, v)| {
                // What a parquet manifest would hold: the string, or the list's JSON text.
                let stored = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), Reference::parse(k, stored.as_bytes()).unwrap())
            }))
            .unwrap();
            assert_eq!(m.validate_structure(), vec![], "{:?}", refs.keys());
            ranges += m.chunk_ranges().filter(|(_, r)| r.url == "{{u}}").count();
            assert!(matches!(m.get(".zgroup"), Some(Reference::Metadata(_))));
        }
        assert!(ranges > 0);
    }

    #[test]
    fn problems_name_keys() {
        let mut m = small();
        m.remove(".zgroup");
        m.remove("v/.zgroup");
        m.insert("v/x/2.0", Reference::range("s3://b/f", 0, 1))
            .unwrap();
        m.insert("v/x/1.0", Reference::range("s3://b/f", 0, 0))
            .unwrap();
        m.insert("v/x/0.0.0", Reference::range("s3://b/f", 0, 1))
            .unwrap();
        m.insert("w/y/0", Reference::range("s3://b/f", 0, 1))
            .unwrap();
        m.insert("v/x/0.0", Reference::range("s3://b/f", u64::MAX, 2))
            .unwrap();
        m.insert("v/x/.zattrs", meta(r#"{"_ARRAY_DIMENSIONS":["lon"]}"#))
            .unwrap();
        let problems = m.validate_structure();
        let has = |key: &str, p: &dyn Fn(&Problem) -> bool| {
            problems.iter().any(|sp| sp.key == key && p(&sp.problem))
        };
        assert!(
            has(".zgroup", &|p| *p == Problem::MissingKey),
            "{problems:#?}"
        );
        assert!(has("v/.zgroup", &|p| *p == Problem::MissingKey));
        assert!(has("v/x/2.0", &|p| matches!(
            p,
            Problem::ChunkOutOfGrid { .. }
        )));
        assert!(has("v/x/0.0.0", &|p| matches!(
            p,
            Problem::ChunkOutOfGrid { .. }
        )));
        assert!(has("v/x/1.0", &|p| *p == Problem::EmptyRange));
        assert!(has("v/x/0.0", &|p| matches!(p, Problem::BadRange { .. })));
        assert!(has("w/y/0", &|p| *p == Problem::OrphanChunk));
        assert!(has("v/x/.zattrs", &|p| matches!(
            p,
            Problem::DimensionMismatch { dims: 1, ndim: 2 }
        )));
        assert!(matches!(
            m.ensure_valid(),
            Err(ManifestError::Invalid { .. })
        ));

        let mut m = small();
        m.insert("v/x/.zarray", meta(r#"{"zarr_format":2}"#))
            .unwrap();
        m.insert("v/x/.zattrs", meta(r#"{"units":"m"}"#)).unwrap();
        let problems = m.validate_structure();
        assert!(problems
            .iter()
            .any(|p| p.key == "v/x/.zarray" && matches!(p.problem, Problem::Unparsable { .. })));

        let mut m = small();
        m.insert(
            "v/x/.zattrs",
            meta(r#"{"_ARRAY_DIMENSIONS":["step","lon x"]}"#),
        )
        .unwrap();
        assert!(m
            .validate_structure()
            .iter()
            .any(|p| p.key == "v/x/.zattrs" && matches!(p.problem, Problem::BadDimension { .. })));

        let mut m = small();
        m.insert("v/x/.zattrs", meta(r#"{"units":"m"}"#)).unwrap();
        assert_eq!(
            m.validate_structure(),
            vec![StructureProblem {
                key: "v/x/.zattrs".into(),
                problem: Problem::MissingArrayDimensions
            }]
        );
    }
}
