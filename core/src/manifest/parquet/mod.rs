//! The manifest file: a two-column parquet table, written and read in memory.
//!
//! Format (version [`MANIFEST_VERSION`]): one row per key; column `key`
//! (`REQUIRED BYTE_ARRAY (STRING)`) and column `value` (`REQUIRED BYTE_ARRAY`, the text of
//! [`Reference::to_value_string`]); snappy compression; file metadata
//! `gik_manifest_version = "1"`. pyarrow reads it as `key: string, value: binary`, which the
//! Python opener of `docs/MANIFEST_FORMAT.md` expects. Rows are laid out by group so that a
//! reader can fetch only the groups it needs (`ranged`, [`ManifestTail`]): one row group per
//! top-level group in name order, keys sorted within each, the root's own keys last, and the
//! row-group index in the footer's `gik_row_groups` entry. Statistics are kept per column chunk
//! for `key` only (its min and max let pyarrow filters skip row groups); no page index.
//!
//! The crate is built without parquet's `arrow` feature (it would pull arrow into the wasm app),
//! so this module writes with parquet's low-level column writer. For reading it uses only the
//! parquet crate's footer and page machinery: the bytes are first checked by `guard`, and page
//! contents are decoded by `pages`, because the crate panics on some corrupt input (and a panic
//! kills the browser page). Input is `bytes::Bytes`: no file system, so the same code runs in
//! the browser.
//!
//! Reading accepts what pandas and pyarrow write for such a table: `key` as `string` or
//! `large_string`, `value` as binary or string, nullable (OPTIONAL) columns, extra columns such
//! as `__index_level_0__` (ignored), several row groups, uncompressed or snappy pages. Other
//! compressions (zstd, gzip...) are not compiled in and give [`ManifestError::Parquet`]. A file
//! whose `gik_manifest_version` is newer than this build's is refused with
//! [`ManifestError::UnsupportedVersion`] rather than misread; a file without it (written by
//! Python) is taken as version 1.

mod guard;
mod pages;
mod ranged;

pub use ranged::{ManifestTail, GROUPS_METADATA_KEY};

use std::ops::Range;
use std::sync::Arc;

use ::parquet::basic::{Compression, Type as PhysicalType};
use ::parquet::column::writer::ColumnWriter;
use ::parquet::data_type::ByteArray;
use ::parquet::errors::ParquetError;
use ::parquet::file::metadata::{ColumnChunkMetaData, KeyValue};
use ::parquet::file::properties::{EnabledStatistics, WriterProperties};
use ::parquet::file::reader::{ChunkReader, FileReader, RowGroupReader};
use ::parquet::file::serialized_reader::SerializedFileReader;
use ::parquet::file::writer::SerializedFileWriter;
use ::parquet::schema::parser::parse_message_type;
use ::parquet::schema::types::{ColumnPath, SchemaDescriptor};
use bytes::Bytes;

use super::model::{check_key, Manifest};
use super::reference::Reference;
use super::ManifestError;

/// Newest manifest format version this build writes and reads.
pub const MANIFEST_VERSION: u64 = 1;

/// Name of the parquet key-value metadata entry holding the format version.
pub const VERSION_METADATA_KEY: &str = "gik_manifest_version";

const KEY_COLUMN: &str = "key";
const VALUE_COLUMN: &str = "value";

const SCHEMA: &str = "message schema {
    REQUIRED BYTE_ARRAY key (STRING);
    REQUIRED BYTE_ARRAY value;
}";

/// Writes `manifest` as a parquet file (snappy; one row group per top-level group, see the
/// module documentation).
pub fn write_parquet(manifest: &Manifest) -> Result<Vec<u8>, ManifestError> {
    write_with_version(manifest, &MANIFEST_VERSION.to_string())
}

fn write_with_version(manifest: &Manifest, version: &str) -> Result<Vec<u8>, ManifestError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let groups = ranged::row_groups(manifest);
    let names: Vec<&str> = groups.iter().map(|(name, _)| *name).collect();
    let metadata = vec![
        KeyValue::new(VERSION_METADATA_KEY.to_owned(), version.to_owned()),
        KeyValue::new(GROUPS_METADATA_KEY.to_owned(), ranged::index_value(&names)),
    ];
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            // Every key and almost every value is unique: a dictionary would only add bytes.
            .set_dictionary_enabled(false)
            .set_key_value_metadata(Some(metadata))
            // No page index between the row groups and the footer (see `ranged`), and no
            // statistics of values (long text no reader filters on).
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_column_statistics_enabled(ColumnPath::from(VALUE_COLUMN), EnabledStatistics::None)
            .set_offset_index_disabled(true)
            .build(),
    );
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, props)?;
    for (_, rows) in &groups {
        write_row_group(&mut writer, rows)?;
    }
    Ok(writer.into_inner()?)
}

/// Writes `rows` as one row group.
fn write_row_group(
    writer: &mut SerializedFileWriter<Vec<u8>>,
    rows: &[(&String, &Reference)],
) -> Result<(), ManifestError> {
    let keys: Vec<ByteArray> = rows
        .iter()
        .map(|(k, _)| ByteArray::from(k.as_bytes().to_vec()))
        .collect();
    let values: Vec<ByteArray> = rows
        .iter()
        .map(|(_, r)| ByteArray::from(r.to_value_string().into_bytes()))
        .collect();
    let mut row_group = writer.next_row_group()?;
    for data in [&keys, &values] {
        let Some(mut column) = row_group.next_column()? else {
            return Err(ParquetError::General("schema has fewer than 2 columns".into()).into());
        };
        match column.untyped() {
            ColumnWriter::ByteArrayColumnWriter(w) => {
                w.write_batch(data, None, None)?;
            }
            _ => {
                return Err(
                    ParquetError::General("manifest column is not BYTE_ARRAY".into()).into(),
                )
            }
        }
        column.close()?;
    }
    row_group.close()?;
    Ok(())
}

/// Reads a manifest from parquet bytes (copies them; see [`read_parquet_bytes`]).
pub fn read_parquet(data: &[u8]) -> Result<Manifest, ManifestError> {
    read_parquet_bytes(Bytes::copy_from_slice(data))
}

/// Reads a manifest from parquet bytes without copying them.
pub fn read_parquet_bytes(data: Bytes) -> Result<Manifest, ManifestError> {
    let file_len = data.len();
    guard::check_file(&data)
        .map_err(|reason| corrupt(&format!("corrupt parquet file: {reason}")))?;
    let reader = SerializedFileReader::new(data)?;
    read_rows(
        &reader,
        Span {
            file_len,
            held: file_len,
        },
        &|_| true,
    )
}

/// The size of a file, and how many of its bytes are in memory (they bound the rows decoded).
#[derive(Clone, Copy)]
struct Span {
    file_len: usize,
    held: usize,
}

/// The rows of the row groups `read` names, as a manifest.
fn read_rows<R: ChunkReader + 'static>(
    reader: &SerializedFileReader<R>,
    size: Span,
    read: &dyn Fn(usize) -> bool,
) -> Result<Manifest, ManifestError> {
    let metadata = reader.metadata();
    check_version(metadata.file_metadata().key_value_metadata())?;

    let schema = metadata.file_metadata().schema_descr();
    let (key_idx, key_max_def) = find_column(schema, KEY_COLUMN)?;
    let (value_idx, value_max_def) = find_column(schema, VALUE_COLUMN)?;

    let mut manifest = Manifest::new();
    let mut row: u64 = 0;
    for rg_idx in (0..reader.num_row_groups()).filter(|&i| read(i)) {
        let row_group = reader.get_row_group(rg_idx)?;
        // Bound the rows decoded (a corrupt run length must not allocate gigabytes): no more
        // than the row group declares, and no more than the bytes in hand can hold (every key
        // is distinct, so each costs bytes).
        let declared = usize::try_from(row_group.metadata().num_rows())
            .map_err(|_| corrupt("negative row count"))?;
        let max_rows = declared.min(size.held.saturating_mul(4).saturating_add(1024));
        let keys = read_column(
            row_group.as_ref(),
            key_idx,
            key_max_def,
            max_rows,
            KEY_COLUMN,
            size.file_len,
        )?;
        let values = read_column(
            row_group.as_ref(),
            value_idx,
            value_max_def,
            keys.len(),
            VALUE_COLUMN,
            size.file_len,
        )?;
        if keys.len() != declared || values.len() != declared {
            return Err(ManifestError::RowCount {
                row_group: rg_idx,
                declared,
                keys: keys.len(),
                values: values.len(),
            });
        }
        for (key, value) in keys.into_iter().zip(values) {
            let key = decode_key(key, row)?;
            let value = value.ok_or_else(|| ManifestError::BadValue {
                key: key.clone(),
                reason: "null value".to_owned(),
            })?;
            let reference = Reference::parse(&key, &value)?;
            if manifest.contains_key(&key) {
                return Err(ManifestError::DuplicateKey { key });
            }
            manifest.insert(key, reference)?;
            row += 1;
        }
    }
    Ok(manifest)
}

fn corrupt(what: &str) -> ParquetError {
    ParquetError::General(what.to_owned())
}

/// Refuses files written by a newer format.
fn check_version(kv: Option<&Vec<KeyValue>>) -> Result<(), ManifestError> {
    let Some(entry) = kv
        .into_iter()
        .flatten()
        .find(|kv| kv.key == VERSION_METADATA_KEY)
    else {
        return Ok(());
    };
    let text = entry.value.as_deref().unwrap_or("");
    let found: u64 = text.trim().parse().map_err(|_| ManifestError::BadVersion {
        value: text.to_owned(),
    })?;
    if found > MANIFEST_VERSION {
        return Err(ManifestError::UnsupportedVersion {
            found,
            supported: MANIFEST_VERSION,
        });
    }
    Ok(())
}

/// Index and maximum definition level of the flat byte-array column `name`.
fn find_column(
    schema: &SchemaDescriptor,
    name: &'static str,
) -> Result<(usize, i16), ManifestError> {
    let (idx, column) = schema
        .columns()
        .iter()
        .enumerate()
        .find(|(_, c)| matches!(c.path().parts(), [only] if only == name))
        .ok_or(ManifestError::MissingColumn { column: name })?;
    if column.physical_type() != PhysicalType::BYTE_ARRAY || column.max_rep_level() != 0 {
        return Err(ManifestError::ColumnType {
            column: name,
            found: format!(
                "{} (max repetition level {})",
                column.physical_type(),
                column.max_rep_level()
            ),
        });
    }
    Ok((idx, column.max_def_level()))
}

/// Every row of one column chunk; `None` for a null.
fn read_column(
    row_group: &dyn RowGroupReader,
    idx: usize,
    max_def: i16,
    max_rows: usize,
    name: &'static str,
    file_len: usize,
) -> Result<Vec<Option<Bytes>>, ManifestError> {
    // The parquet crate asserts that the chunk's offsets are non-negative when it opens it;
    // check first, and that the chunk lies inside the file.
    let chunk = row_group.metadata().column(idx);
    chunk_range(chunk)
        .filter(|r| r.end <= file_len as u64)
        .ok_or_else(|| {
            corrupt(&format!(
                "column {name:?}: chunk at {} of {} bytes lies outside the file",
                chunk
                    .dictionary_page_offset()
                    .unwrap_or_else(|| chunk.data_page_offset()),
                chunk.compressed_size()
            ))
        })?;
    let mut pages = row_group.get_column_page_reader(idx)?;
    Ok(pages::read_byte_array_column(
        pages.as_mut(),
        max_def,
        max_rows,
        name,
    )?)
}

/// The bytes of the file a column chunk spans; `None` when its offset or size is negative (the
/// parquet crate's own `byte_range` asserts on those) or their sum overflows.
fn chunk_range(chunk: &ColumnChunkMetaData) -> Option<Range<u64>> {
    let start = chunk
        .dictionary_page_offset()
        .unwrap_or_else(|| chunk.data_page_offset());
    let start = u64::try_from(start).ok()?;
    let len = u64::try_from(chunk.compressed_size()).ok()?;
    Some(start..start.checked_add(len)?)
}

/// A key cell as a checked UTF-8 key.
fn decode_key(cell: Option<Bytes>, row: u64) -> Result<String, ManifestError> {
    let bytes = cell.ok_or_else(|| ManifestError::BadKey {
        key: "<null>".to_owned(),
        reason: format!("null key in row {row}"),
    })?;
    let key = String::from_utf8(bytes.to_vec()).map_err(|_| ManifestError::BadKey {
        key: String::from_utf8_lossy(&bytes).into_owned(),
        reason: format!("key in row {row} is not UTF-8"),
    })?;
    check_key(&key)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::parquet::basic::{LogicalType, Repetition};
    use ::parquet::schema::types::Type;
    use proptest::prelude::*;

    /// A small hand-made manifest covering every kind of reference. Keep in sync with
    /// `../testdata/gik_small.parquet` (see `../testdata/make_fixtures.py`).
    fn small_manifest() -> Manifest {
        let meta = |t: &str| Reference::Metadata(t.to_owned());
        Manifest::from_refs([
            (".zgroup", meta(r#"{"zarr_format":2}"#)),
            ("tp/.zgroup", meta(r#"{"zarr_format":2}"#)),
            (
                "tp/tp/.zarray",
                meta(
                    r#"{"zarr_format":2,"shape":[2,2,3],"chunks":[1,2,3],"dtype":"<f4","compressor":null,"fill_value":"NaN","order":"C","filters":[{"id":"grib","var":"tp","dtype":"float32"}]}"#,
                ),
            ),
            (
                "tp/tp/.zattrs",
                meta(
                    r#"{"_ARRAY_DIMENSIONS":["step","latitude","longitude"],"coordinates":"time valid_time","long_name":"Total précipitation"}"#,
                ),
            ),
            ("tp/tp/0.0.0", Reference::range("s3://b/gfs.f006", 0, 371379)),
            ("tp/tp/1.0.0", Reference::WholeFile { url: "s3://b/gfs.f012".into() }),
            (
                "tp/step/.zarray",
                meta(
                    r#"{"zarr_format":2,"shape":[2],"chunks":[2],"dtype":"<i8","compressor":null,"fill_value":null,"order":"C","filters":null}"#,
                ),
            ),
            ("tp/step/.zattrs", meta(r#"{"_ARRAY_DIMENSIONS":["step"],"units":"hours"}"#)),
            (
                "tp/step/0",
                Reference::inline([6i64, 12].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>()),
            ),
        ])
        .unwrap()
    }

    fn reader(data: &[u8]) -> SerializedFileReader<Bytes> {
        SerializedFileReader::new(Bytes::copy_from_slice(data)).unwrap()
    }

    #[test]
    fn round_trip() {
        let m = small_manifest();
        let data = write_parquet(&m).unwrap();
        assert_eq!(read_parquet(&data).unwrap(), m);
        assert_eq!(read_parquet_bytes(Bytes::from(data)).unwrap(), m);
        let empty = Manifest::new();
        assert_eq!(
            read_parquet(&write_parquet(&empty).unwrap()).unwrap(),
            empty
        );
    }

    #[test]
    fn written_file_layout() {
        let m = small_manifest();
        let data = write_parquet(&m).unwrap();
        let r = reader(&data);
        let meta = r.metadata();
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        assert!(kv
            .iter()
            .any(|e| e.key == VERSION_METADATA_KEY && e.value.as_deref() == Some("1")));
        let schema = meta.file_metadata().schema_descr();
        assert_eq!(schema.num_columns(), 2);
        let key = schema.column(0);
        assert_eq!(key.name(), "key");
        assert_eq!(key.physical_type(), PhysicalType::BYTE_ARRAY);
        assert_eq!(key.logical_type_ref(), Some(&LogicalType::String));
        assert_eq!(
            key.self_type().get_basic_info().repetition(),
            Repetition::REQUIRED
        );
        let value = schema.column(1);
        assert_eq!(value.name(), "value");
        assert_eq!(value.logical_type_ref(), None);
        assert_eq!(
            value.self_type().get_basic_info().repetition(),
            Repetition::REQUIRED
        );
        // One row group for `tp`, then the root's; rows sorted by key within each.
        assert_eq!(meta.num_row_groups(), 2);
        let mut all = Vec::new();
        for i in 0..meta.num_row_groups() {
            for c in meta.row_group(i).columns() {
                assert_eq!(c.compression(), Compression::SNAPPY);
            }
            let rg = r.get_row_group(i).unwrap();
            let keys: Vec<String> = read_column(rg.as_ref(), 0, 0, usize::MAX, "key", data.len())
                .unwrap()
                .into_iter()
                .map(|k| String::from_utf8(k.unwrap().to_vec()).unwrap())
                .collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
            assert_eq!(
                keys.iter().all(|k| k.starts_with("tp/")),
                i == 0,
                "{keys:?}"
            );
            all.extend(keys);
        }
        assert_eq!(all.len(), m.len());
    }

    #[test]
    fn version_checks() {
        let m = small_manifest();
        match read_parquet(&write_with_version(&m, "2").unwrap()) {
            Err(ManifestError::UnsupportedVersion {
                found: 2,
                supported: 1,
            }) => {}
            other => panic!("expected UnsupportedVersion, got {other:?}"),
        }
        assert!(matches!(
            read_parquet(&write_with_version(&m, "one").unwrap()),
            Err(ManifestError::BadVersion { value }) if value == "one"
        ));
        assert_eq!(
            read_parquet(&write_with_version(&m, "0").unwrap()).unwrap(),
            m
        );
    }

    /// Writes a table the way pandas does: nullable columns, an index column, `value` as a
    /// string, no gik metadata, optionally several row groups.
    fn pandas_like(rows: &[(Option<&str>, Option<&str>)], rows_per_group: usize) -> Vec<u8> {
        let schema = Arc::new(
            parse_message_type(
                "message schema {
                    OPTIONAL BYTE_ARRAY key (UTF8);
                    OPTIONAL BYTE_ARRAY value (UTF8);
                    OPTIONAL INT64 __index_level_0__;
                }",
            )
            .unwrap(),
        );
        let props = Arc::new(
            WriterProperties::builder()
                .set_compression(Compression::UNCOMPRESSED)
                .build(),
        );
        let mut w = SerializedFileWriter::new(Vec::new(), schema, props).unwrap();
        for (g, chunk) in rows.chunks(rows_per_group).enumerate() {
            let mut rg = w.next_row_group().unwrap();
            for col in 0..3 {
                let mut c = rg.next_column().unwrap().unwrap();
                let (defs, written): (Vec<i16>, Vec<Option<&str>>) = chunk
                    .iter()
                    .map(|r| if col == 0 { r.0 } else { r.1 })
                    .map(|v| (i16::from(v.is_some()), v))
                    .unzip();
                match c.untyped() {
                    ColumnWriter::ByteArrayColumnWriter(cw) => {
                        let vals: Vec<ByteArray> =
                            written.into_iter().flatten().map(ByteArray::from).collect();
                        cw.write_batch(&vals, Some(&defs), None).unwrap();
                    }
                    ColumnWriter::Int64ColumnWriter(cw) => {
                        let idx: Vec<i64> = (0..chunk.len() as i64)
                            .map(|i| i + (g * rows_per_group) as i64)
                            .collect();
                        cw.write_batch(&idx, Some(&vec![1; chunk.len()]), None)
                            .unwrap();
                    }
                    _ => unreachable!(),
                }
                c.close().unwrap();
            }
            rg.close().unwrap();
        }
        w.into_inner().unwrap()
    }

    fn as_text_rows(m: &Manifest) -> Vec<(String, String)> {
        m.iter()
            .map(|(k, r)| (k.clone(), r.to_value_string()))
            .collect()
    }

    #[test]
    fn reads_pandas_like_tables() {
        let m = small_manifest();
        let owned = as_text_rows(&m);
        let mut rows: Vec<(Option<&str>, Option<&str>)> = owned
            .iter()
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
            .collect();
        rows.reverse(); // Python writes in any order.
        for per_group in [1, 4, 100] {
            assert_eq!(read_parquet(&pandas_like(&rows, per_group)).unwrap(), m);
        }

        let mut null_value = rows.clone();
        null_value[0].1 = None;
        assert!(matches!(
            read_parquet(&pandas_like(&null_value, 3)),
            Err(ManifestError::BadValue { key, .. }) if key == "tp/tp/1.0.0"
        ));
        let mut null_key = rows.clone();
        null_key[2].0 = None;
        assert!(matches!(
            read_parquet(&pandas_like(&null_key, 3)),
            Err(ManifestError::BadKey { .. })
        ));
        let mut dup = rows.clone();
        dup[1].0 = dup[0].0;
        assert!(matches!(
            read_parquet(&pandas_like(&dup, 3)),
            Err(ManifestError::DuplicateKey { key }) if key == "tp/tp/1.0.0"
        ));
        let mut bad = rows.clone();
        bad[0].1 = Some(r#"["s3://x", -1, 2]"#);
        assert!(matches!(
            read_parquet(&pandas_like(&bad, 3)),
            Err(ManifestError::BadValue { key, .. }) if key == "tp/tp/1.0.0"
        ));
    }

    #[test]
    fn missing_or_wrong_columns() {
        let schema = Arc::new(
            Type::group_type_builder("schema")
                .with_fields(vec![Arc::new(
                    Type::primitive_type_builder("key", PhysicalType::INT64)
                        .with_repetition(Repetition::REQUIRED)
                        .build()
                        .unwrap(),
                )])
                .build()
                .unwrap(),
        );
        let w = SerializedFileWriter::new(Vec::new(), schema, Default::default()).unwrap();
        let data = w.into_inner().unwrap();
        assert!(matches!(
            read_parquet(&data),
            Err(ManifestError::ColumnType { column: "key", .. })
        ));
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        assert!(matches!(read_parquet(b""), Err(ManifestError::Parquet(_))));
        assert!(read_parquet(b"PAR1garbagePAR1").is_err());
        let data = write_parquet(&small_manifest()).unwrap();
        for len in 0..data.len() {
            let cut = data.get(..len).unwrap();
            assert!(
                read_parquet(cut).is_err(),
                "truncated to {len} bytes read fine"
            );
        }
    }

    /// gik's own file and the Python-written ones (dictionary pages, v2 pages, nullable
    /// columns, several row groups), each corrupted at every byte.
    fn corruption_corpus() -> Vec<Vec<u8>> {
        vec![
            write_parquet(&small_manifest()).unwrap(),
            include_bytes!("../testdata/pandas_index.parquet").to_vec(),
            include_bytes!("../testdata/pyarrow_str_none.parquet").to_vec(),
            include_bytes!("../testdata/pyarrow_row_groups.parquet").to_vec(),
        ]
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        for data in corruption_corpus() {
            for pos in 0..data.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut d = data.clone();
                    d[pos] ^= flip;
                    let _ = read_parquet(&d);
                }
            }
        }
    }

    /// Real kerchunk fixtures written by pandas/pyarrow: they are not key/value manifests, so
    /// reading must fail cleanly with `MissingColumn`.
    #[test]
    fn kerchunk_parquet_fixtures_are_rejected_cleanly() {
        for rel in [
            "kerchunk/grib_idx_fixtures/gfs.pgrb2.0p25/kerchunk_index.parquet",
            "kerchunk/grib_idx_fixtures/gfs.pgrb2.0p25/test_reinflate.parquet",
            "kerchunk/grib_idx_fixtures/hrrr.wrfsfcf/20231104/hrrr.t01z.wrfsfcf00.grib2.test-limit-10.kindex.parquet",
        ] {
            let path = crate::test_support::fixture(rel);
            let Ok(data) = std::fs::read(&path) else {
                eprintln!("skipping absent fixture {}", path.display());
                continue;
            };
            assert!(
                matches!(read_parquet(&data), Err(ManifestError::MissingColumn { column: "key" })),
                "{rel}"
            );
        }
    }

    /// Files written by pandas 3.1.1 / pyarrow 26 from `gik_small.parquet` by
    /// `../testdata/make_fixtures.py` (which also checks that pandas reads gik's own file).
    #[test]
    fn reads_files_written_by_python() {
        let m = small_manifest();
        let ours = include_bytes!("../testdata/gik_small.parquet");
        assert_eq!(
            read_parquet(ours).unwrap(),
            m,
            "format of version 1 changed"
        );
        for (name, data) in [
            (
                "pandas_snappy",
                &include_bytes!("../testdata/pandas_snappy.parquet")[..],
            ),
            (
                "pandas_index",
                include_bytes!("../testdata/pandas_index.parquet"),
            ),
            (
                "pyarrow_str_none",
                include_bytes!("../testdata/pyarrow_str_none.parquet"),
            ),
            (
                "pyarrow_row_groups",
                include_bytes!("../testdata/pyarrow_row_groups.parquet"),
            ),
        ] {
            assert_eq!(read_parquet(data).unwrap(), m, "{name}");
        }
        // zstd is not compiled in: a clear error, not a panic.
        let zstd = include_bytes!("../testdata/pyarrow_zstd.parquet");
        assert!(matches!(read_parquet(zstd), Err(ManifestError::Parquet(_))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_parquet(&data);
        }

        #[test]
        fn arbitrary_bytes_with_magic_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut d = b"PAR1".to_vec();
            d.extend_from_slice(&data);
            d.extend_from_slice(b"PAR1");
            let _ = read_parquet(&d);
        }

        #[test]
        fn random_corruption_never_panics(
            file in any::<prop::sample::Index>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let corpus = corruption_corpus();
            let mut d = file.get(&corpus).clone();
            for (pos, byte) in edits {
                let i = pos.index(d.len());
                d[i] = byte;
            }
            let keep = cut.index(d.len() + 1).max(d.len() / 2);
            d.truncate(keep);
            let _ = read_parquet(&d);
        }
    }
}
