//! The reference manifest: a kerchunk / zarr v2 reference set describing one ensemble member.
//!
//! # Why this module exists
//!
//! GIK never copies GRIB2 data. For every member it publishes a *manifest*: a two-column parquet
//! table (`key` utf8, `value` binary) of zarr v2 references, in the layout kerchunk's
//! `grib_tree` produces. Python opens it with fsspec's `ReferenceFileSystem` + zarr + xarray
//! (see `docs/MANIFEST_FORMAT.md`); the gik app and stream jobs read it with [`read_parquet`]. Because
//! both sides must agree byte for byte on what a key means, this module is the single place that
//! knows the format:
//!
//! * `zarr`: the zarr v2 metadata documents (`.zarray`, `.zattrs`, `.zgroup`) as typed serde
//!   structs ([`ZArray`], [`ZAttrs`], [`ZGroup`]), so a wrong `dtype` or a `fill_value` of
//!   `null` cannot be written by accident;
//! * `reference`: one value of the table ([`Reference`]): metadata text, inline bytes, or a
//!   [`ByteRange`] of a remote GRIB2 file (the one byte-range type of gik);
//! * `model`: the [`Manifest`] itself (an ordered map key → reference), key rules
//!   ([`ChunkKey`]) and [`Manifest::validate_structure`], which checks what Python needs; the
//!   rules for names, dimension names and chunk grids live there once, and the builder and the
//!   reader use them too;
//! * `array`: the read side, like zarrs' `Array`: [`Manifest::array`] opens one array, gives
//!   its metadata, the [`ByteRange`] of a chunk ([`Array::chunk`]) and the values of an inline
//!   coordinate ([`Array::values`]), so readers never assemble keys by hand;
//! * `ensemble`: [`combine_members`], the member manifests of a run as one manifest with a
//!   leading `number` dimension; `ensemble_read`, its read side: [`Ensemble::member`] gives a
//!   member's manifest back out of it;
//! * `spec`: [`ArraySpec`], the generic description of one data array and its coordinates;
//! * `layout`: [`ManifestBuilder`], which turns [`ArraySpec`]s into the `grib_tree` layout
//!   without any I/O and without knowing any product;
//! * `parquet`: the file format, [`write_parquet`] / [`read_parquet`], pure in-memory so it
//!   builds for `wasm32-unknown-unknown`; two private submodules harden reading against corrupt
//!   files, `parquet::guard` (checks the Thrift footer and page headers before the parquet
//!   crate sees them) and `parquet::pages` (decodes page contents without the parquet crate's
//!   asserting decoders); `parquet::ranged` ([`ManifestTail`]) reads only the groups a reader
//!   needs, from the file's tail and the byte ranges of their row groups.
//!
//! The submodules are private; what they offer is re-exported here, so every item has one
//! path (`gik_core::manifest::Manifest`).
//!
//! # Invariants
//!
//! * Keys are relative zarr store keys (`tp/accum/surface/tp/0.0.0`): no leading or trailing
//!   `/`, no empty, `.` or `..` segment, no control character.
//! * What gik writes always opens in Python: every group has a `.zgroup`, every array has all
//!   eight `.zarray` fields and `_ARRAY_DIMENSIONS`, float arrays use `fill_value` `"NaN"`, inline
//!   chunks are `base64:`-prefixed raw little-endian C-order bytes.
//! * Reading is lenient (plain inline strings, `[url]` whole-file references, pandas-written
//!   files with nullable or `large_string` columns); writing is strict.
//! * Nothing here panics on bad input: every failure is a [`ManifestError`] naming the key, the
//!   column or the version that was wrong.
//!
//! This module must not import the product, index or GRIB modules: the caller decides names.

mod array;
mod ensemble;
mod ensemble_read;
mod layout;
mod model;
mod parquet;
mod reference;
mod spec;
mod zarr;

pub use array::{Array, MAX_INLINE_VALUES};
pub use ensemble::{combine_members, NUMBER_DIM};
pub use ensemble_read::Ensemble;
pub use layout::ManifestBuilder;
pub use model::{check_key, ChunkKey, Manifest, MetadataFile, Problem, StructureProblem};
pub use parquet::{
    read_parquet, read_parquet_bytes, write_parquet, ManifestTail, GROUPS_METADATA_KEY,
    MANIFEST_VERSION, VERSION_METADATA_KEY,
};
pub use reference::{ByteRange, Reference, BASE64_PREFIX};
pub use spec::{
    ArraySpec, ChunkSource, CoordSpec, CoordValues, Dim, GroupSpec, SECONDS_SINCE_EPOCH,
};
pub use zarr::{
    Attrs, Codec, DType, DimensionSeparator, FillValue, GribCodecId, GribFilter, Order, ZArray,
    ZAttrs, ZGroup, ZarrFormat2,
};

/// Errors reading, writing or building a manifest.
///
/// Every variant names what was wrong: the manifest key, the parquet column, the array being
/// built, or the version found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The bytes are not a readable parquet file (truncated, corrupt, or using a compression
    /// this build does not support).
    #[error("parquet: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),

    /// The parquet file has no top-level column of this name.
    #[error("parquet file has no column {column:?}")]
    MissingColumn {
        /// `key` or `value`.
        column: &'static str,
    },

    /// A column exists but cannot hold manifest data (not a flat byte-array column).
    #[error("parquet column {column:?} has type {found}, expected a flat BYTE_ARRAY column")]
    ColumnType {
        /// `key` or `value`.
        column: &'static str,
        /// The physical type and repetition found.
        found: String,
    },

    /// The columns of a row group do not have the number of rows the row group declares.
    #[error(
        "row group {row_group} declares {declared} rows, but has {keys} keys and {values} values"
    )]
    RowCount {
        /// 0-based row group index.
        row_group: usize,
        /// Rows declared in the row group's metadata.
        declared: usize,
        /// Rows read from the `key` column.
        keys: usize,
        /// Rows read from the `value` column.
        values: usize,
    },

    /// The file was written by a newer gik whose manifest format this build does not know.
    #[error("manifest version {found} is newer than the supported version {supported}")]
    UnsupportedVersion {
        /// Version recorded in the file's `gik_manifest_version` metadata.
        found: u64,
        /// Newest version this build reads ([`MANIFEST_VERSION`]).
        supported: u64,
    },

    /// The `gik_manifest_version` metadata is present but not a non-negative integer.
    #[error("manifest version metadata {value:?} is not an integer")]
    BadVersion {
        /// The text found.
        value: String,
    },

    /// A key is not a valid relative zarr store key.
    #[error("bad key {key:?}: {reason}")]
    BadKey {
        /// The key (lossily decoded when it was not UTF-8; `<null>` for a null key).
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The same key appears twice.
    #[error("duplicate key {key:?}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },

    /// The value of a key cannot be understood.
    #[error("bad value for key {key:?}: {reason}")]
    BadValue {
        /// The key whose value is wrong.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A key that must exist is absent.
    #[error("missing key {key:?}")]
    MissingKey {
        /// The absent key.
        key: String,
    },

    /// The builder would write a key twice with different values.
    #[error("key {key:?} would be written twice with different values")]
    ConflictingKey {
        /// The contested key.
        key: String,
    },

    /// An [`ArraySpec`] handed to the builder is inconsistent.
    #[error("array {array:?}: {reason}")]
    InvalidSpec {
        /// Path of the array being built.
        array: String,
        /// What is inconsistent.
        reason: String,
    },

    /// An ensemble manifest has no member of this number on any `number` axis.
    #[error("no member number {number} among the {members} members of the ensemble manifest")]
    NoMember {
        /// The number asked for.
        number: u32,
        /// How many members it has.
        members: usize,
    },

    /// The bytes of a manifest read by parts ([`ManifestTail`]) do not fit together: a tail
    /// too short for its footer or longer than the file it describes, a part outside the file,
    /// a row-group index that is not one.
    #[error("manifest read by parts: {reason}")]
    Parts {
        /// What does not fit.
        reason: String,
    },

    /// [`Manifest::ensure_valid`] found structural problems.
    #[error("{} structural problem(s), first: {}", problems.len(), first_problem(problems))]
    Invalid {
        /// Every problem found, in key order.
        problems: Vec<StructureProblem>,
    },
}

fn first_problem(problems: &[StructureProblem]) -> String {
    problems
        .first()
        .map_or_else(|| "none".to_owned(), ToString::to_string)
}
