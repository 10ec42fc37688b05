//! Checks untrusted parquet bytes before the parquet crate parses them.
//!
//! The parquet crate trusts sizes found in the file: a negative or huge list length in the
//! Thrift footer reaches `Vec::with_capacity` (a "capacity overflow" panic, or an allocation
//! that aborts the wasm page), a negative `num_children` in the schema panics, deeply nested
//! structures overflow the stack, and a page may claim a 2 GiB decompressed size. Manifests are
//! fetched from object stores and caches the app does not control, so before handing bytes to
//! the parquet crate this module walks the Thrift compact encoding of the footer and of every
//! page header, and rejects anything whose sizes do not fit in the bytes actually present:
//!
//! * every list or string is no longer than the bytes left, nesting is at most 32 deep, and
//!   every field the parquet crate knows has the wire type `parquet.thrift` declares (the crate
//!   decodes by declared type, so a mismatch would make it read sizes this check never saw);
//! * the schema has at most 10 000 elements, `num_children` is sane, nesting at most 32;
//! * every column chunk lies inside the file, with non-negative offsets;
//! * the statistics of every column chunk (and page header) have the byte length of the
//!   column's fixed-width physical type: BOOLEAN at least 1, INT32/FLOAT 4, INT64/DOUBLE 8,
//!   INT96 12 (the crate converts footer statistics while parsing it, and asserts or indexes
//!   on those lengths);
//! * every page header fits in its chunk, its compressed size too, and its uncompressed size is
//!   at most what snappy can expand the compressed bytes to.
//!
//! A file read by parts (its tail and some row groups, see `ranged`) is checked the same way
//! through [`Held`]: the whole footer, the place of every column chunk, and the page headers of
//! the row groups that will be read; bytes that are not held are never looked at.
//!
//! The checks only reject files no writer produces; a valid file passes unchanged.

/// Deepest Thrift nesting (and schema nesting) accepted.
const MAX_DEPTH: usize = 32;
/// Most schema elements accepted.
const MAX_SCHEMA_ELEMENTS: usize = 10_000;
/// Snappy expands at most ~21x (a 3-byte copy of 64 bytes); allow margin.
const MAX_EXPANSION: i64 = 32;

/// Checks `data`, a whole file; the error says what is wrong.
pub(super) fn check_file(data: &[u8]) -> Result<(), String> {
    check_held(data, &|_| true)
}

/// The bytes of a parquet file that are in memory: the whole file, or some spans of it (its
/// tail and the row groups to read, see `ranged`).
pub(super) trait Held {
    /// The file's length.
    fn file_len(&self) -> usize;
    /// Bytes `start..end` of the file, when they are held.
    fn bytes(&self, start: usize, end: usize) -> Option<&[u8]>;
}

impl Held for [u8] {
    fn file_len(&self) -> usize {
        self.len()
    }

    fn bytes(&self, start: usize, end: usize) -> Option<&[u8]> {
        self.get(start..end)
    }
}

/// Checks the footer of the file `data` holds, and the page headers of the row groups
/// `pages_of` names (their bytes must be held); the error says what is wrong. Every column
/// chunk, read or not, must lie inside the file.
pub(super) fn check_held(
    data: &(impl Held + ?Sized),
    pages_of: &dyn Fn(usize) -> bool,
) -> Result<(), String> {
    let len = data.file_len();
    if len < 12 {
        return Err(format!("{len} bytes is too short for a parquet file"));
    }
    let tail = data
        .bytes(len - 8, len)
        .ok_or("the last 8 bytes of the file are not held")?;
    let (footer_len, magic) = tail.split_at(4);
    if magic != b"PAR1" {
        return Err("no PAR1 magic at the end (truncated, or an encrypted footer)".into());
    }
    let footer_len = u32::from_le_bytes(footer_len.try_into().map_err(|_| "footer length")?);
    let footer_start = usize::try_from(footer_len)
        .ok()
        .and_then(|f| (len - 8).checked_sub(f))
        .filter(|&s| s >= 4)
        .ok_or_else(|| format!("footer of {footer_len} bytes does not fit in {len} bytes"))?;
    let footer = data
        .bytes(footer_start, len - 8)
        .ok_or_else(|| format!("the footer (bytes {footer_start}..{}) is not held", len - 8))?;

    let mut reader = Compact::new(footer);
    let meta = reader.read_struct(Some(FILE_META_DATA), 0)?;
    // The crate reads row groups with the last schema seen; keep it to one.
    let schemas = fields(&meta, 2).count();
    if schemas > 1 {
        return Err(format!("footer has {schemas} schemas"));
    }
    let leaves = check_schema(field(&meta, 2))?;
    // Every occurrence of a field is checked: the crate reads them all.
    for row_groups in fields(&meta, 4) {
        let TValue::List(row_groups) = row_groups else {
            continue;
        };
        for (r, rg) in row_groups.iter().enumerate() {
            let TValue::Struct(rg) = rg else {
                return Err("row group is not a struct".into());
            };
            if int(field(rg, 3)).is_some_and(|n| n < 0) {
                return Err("negative row count".into());
            }
            for columns in fields(rg, 1) {
                let TValue::List(columns) = columns else {
                    continue;
                };
                if columns.len() != leaves.len() {
                    return Err(format!(
                        "row group {r} has {} column chunks for {} schema columns",
                        columns.len(),
                        leaves.len()
                    ));
                }
                for (column, leaf) in columns.iter().zip(&leaves) {
                    let TValue::Struct(column) = column else {
                        return Err("column chunk is not a struct".into());
                    };
                    for meta in fields(column, 3) {
                        if let TValue::Struct(meta) = meta {
                            check_column_chunk(data, meta, leaf, r, pages_of(r))?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A leaf column of the schema.
struct Leaf {
    /// Dotted path, for messages.
    path: String,
    /// Physical type (`parquet.thrift` `Type`), when set.
    ty: Option<i64>,
}

/// The column a chunk belongs to, for statistics checks and messages.
struct Column<'c> {
    path: &'c str,
    row_group: usize,
    /// Physical types the chunk's statistics must fit.
    types: &'c [i64],
}

/// Name of a physical type and the byte length its statistics must have (`None`: any).
fn fixed_width(ty: i64) -> Option<(&'static str, usize, bool)> {
    // (name, length, exact)
    match ty {
        0 => Some(("BOOLEAN", 1, false)),
        1 => Some(("INT32", 4, true)),
        2 => Some(("INT64", 8, true)),
        3 => Some(("INT96", 12, true)),
        4 => Some(("FLOAT", 4, true)),
        5 => Some(("DOUBLE", 8, true)),
        _ => None,
    }
}

/// `min`/`max`/`min_value`/`max_value` of a `Statistics` struct have the length of the column's
/// fixed-width physical type. The parquet crate asserts on INT96 statistics of another length
/// and slices the others, so this must hold before it parses the footer.
fn check_statistics(stats: &TValue, column: &Column, place: &str) -> Result<(), String> {
    let TValue::Struct(stats) = stats else {
        return Ok(());
    };
    for (id, value) in stats {
        let name = match id {
            1 => "max",
            2 => "min",
            5 => "max_value",
            6 => "min_value",
            _ => continue,
        };
        let TValue::Bin(bytes) = value else {
            continue;
        };
        for &ty in column.types {
            let Some((ty_name, width, exact)) = fixed_width(ty) else {
                continue;
            };
            let fits = if exact {
                bytes.len() == width
            } else {
                bytes.len() >= width
            };
            if !fits {
                let expected = if exact { "" } else { "at least " };
                return Err(format!(
                    "manifest column {:?} in row group {} is {ty_name}, but its statistics {name}{place} \
                     has {} bytes (expected {expected}{width})",
                    column.path,
                    column.row_group,
                    bytes.len()
                ));
            }
        }
    }
    Ok(())
}

/// Schema elements: count, `num_children`, nesting depth. Returns the leaf columns in order.
fn check_schema(schema: Option<&TValue>) -> Result<Vec<Leaf>, String> {
    let Some(TValue::List(elements)) = schema else {
        return Err("footer has no schema".into());
    };
    if elements.len() > MAX_SCHEMA_ELEMENTS {
        return Err(format!("schema has {} elements", elements.len()));
    }
    // Remaining children and name of each open group, innermost last.
    let mut open: Vec<(i64, &[u8])> = Vec::new();
    let mut leaves = Vec::new();
    for (i, element) in elements.iter().enumerate() {
        let TValue::Struct(element) = element else {
            return Err("schema element is not a struct".into());
        };
        let children = int(field(element, 5)).unwrap_or(0);
        if children < 0 || children > elements.len() as i64 {
            return Err(format!("schema element {i} has {children} children"));
        }
        let name = match field(element, 4) {
            Some(TValue::Bin(name)) => *name,
            _ => &[],
        };
        // As in the parquet crate: element 0 is the root, any other without children a leaf.
        if i > 0 && children == 0 {
            let path: Vec<String> = open
                .get(1..)
                .unwrap_or_default()
                .iter()
                .map(|(_, n)| *n)
                .chain([name])
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect();
            leaves.push(Leaf {
                path: path.join("."),
                ty: int(field(element, 1)),
            });
        }
        if let Some((last, _)) = open.last_mut() {
            *last -= 1;
        }
        if children > 0 {
            open.push((children, name));
            if open.len() > MAX_DEPTH {
                return Err("schema nested too deeply".into());
            }
        }
        while open.last().is_some_and(|(n, _)| *n == 0) {
            open.pop();
        }
    }
    Ok(leaves)
}

/// One column chunk (`ColumnMetaData`) of row group `row_group`, for the schema column `leaf`:
/// its statistics, its place in the file and, when `read`, the headers of all its pages (then
/// its bytes must be held).
fn check_column_chunk(
    data: &(impl Held + ?Sized),
    meta: &[(i16, TValue)],
    leaf: &Leaf,
    row_group: usize,
    read: bool,
) -> Result<(), String> {
    // The crate takes the type from the schema; a chunk declaring another must fit both.
    let mut types = vec![leaf.ty];
    types.extend(fields(meta, 1).map(|t| int(Some(t))));
    let types: Vec<i64> = types.into_iter().flatten().collect();
    let column = Column {
        path: &leaf.path,
        row_group,
        types: &types,
    };
    for stats in fields(meta, 12) {
        check_statistics(stats, &column, "")?;
    }
    let (start, end) = chunk_span(data.file_len(), meta)?;
    if !read {
        return Ok(());
    }
    let bytes = data.bytes(start, end).ok_or_else(|| {
        format!(
            "column {:?} of row group {row_group} (bytes {start}..{end}) is not held",
            leaf.path
        )
    })?;
    check_pages(bytes, start, &column)
}

/// Where one column chunk (`ColumnMetaData`) lies in a file of `file_len` bytes: `start..end`,
/// checked to be inside it.
fn chunk_span(file_len: usize, meta: &[(i16, TValue)]) -> Result<(usize, usize), String> {
    let compressed = int(field(meta, 7)).unwrap_or(0);
    let data_offset = int(field(meta, 9)).unwrap_or(0);
    let dict_offset = int(field(meta, 11));
    let start = dict_offset.unwrap_or(data_offset);
    if compressed < 0 || data_offset < 0 || start < 0 {
        return Err("negative column chunk offset or size".into());
    }
    let end = start
        .checked_add(compressed)
        .filter(|&e| e <= file_len as i64)
        .ok_or_else(|| {
            format!("column chunk at {start} of {compressed} bytes is outside the file")
        })?;
    // Both fit in the file length, hence in usize.
    Ok((start as usize, end as usize))
}

/// The headers of all the pages of one column chunk, `chunk` (which starts at byte `base` of
/// the file, for messages).
fn check_pages(chunk: &[u8], base: usize, column: &Column) -> Result<(), String> {
    let mut at = 0;
    while at < chunk.len() {
        let pos = base + at;
        let slice = chunk.get(at..).unwrap_or_default();
        let mut reader = Compact::new(slice);
        let header = reader.read_struct(Some(PAGE_HEADER), 0)?;
        let header_len = reader.pos;
        let uncompressed = int(field(&header, 2)).unwrap_or(-1);
        let page = int(field(&header, 3)).unwrap_or(-1);
        if page < 0 || uncompressed < 0 {
            return Err(format!("page at byte {pos}: negative size"));
        }
        if uncompressed > page.saturating_mul(MAX_EXPANSION).saturating_add(1024) {
            return Err(format!(
                "page at byte {pos}: {uncompressed} bytes cannot come from {page} compressed bytes"
            ));
        }
        for (id, stats_id) in [(5, 5), (8, 8)] {
            for page in fields(&header, id) {
                if let TValue::Struct(page) = page {
                    for stats in fields(page, stats_id) {
                        check_statistics(stats, column, &format!(" of the page at byte {pos}"))?;
                    }
                }
            }
        }
        if let Some(TValue::Struct(v2)) = field(&header, 8) {
            let def = int(field(v2, 5)).unwrap_or(0);
            let rep = int(field(v2, 6)).unwrap_or(0);
            if def < 0 || rep < 0 || def.saturating_add(rep) > uncompressed {
                return Err(format!("page at byte {pos}: bad level lengths"));
            }
        }
        at = at
            .checked_add(header_len)
            .and_then(|p| p.checked_add(page as usize))
            .filter(|&p| p <= chunk.len())
            .ok_or_else(|| format!("page at byte {pos} runs past its column chunk"))?;
    }
    Ok(())
}

/// A decoded Thrift value (only what the checks need is kept).
#[derive(Debug)]
enum TValue<'a> {
    Int(i64),
    Bin(&'a [u8]),
    Other,
    List(Vec<TValue<'a>>),
    Struct(Vec<(i16, TValue<'a>)>),
}

fn field<'v, 'a>(fields: &'v [(i16, TValue<'a>)], id: i16) -> Option<&'v TValue<'a>> {
    fields.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
}

/// Every occurrence of field `id` (Thrift allows repeats; the parquet crate reads each).
fn fields<'v, 'a>(
    fields: &'v [(i16, TValue<'a>)],
    id: i16,
) -> impl Iterator<Item = &'v TValue<'a>> {
    fields.iter().filter(move |(i, _)| *i == id).map(|(_, v)| v)
}

fn int(v: Option<&TValue>) -> Option<i64> {
    match v {
        Some(TValue::Int(i)) => Some(*i),
        _ => None,
    }
}

/// The declared type of a Thrift field, from `parquet.thrift`.
///
/// The parquet crate reads each known field with the decoder of its *declared* type, whatever
/// the wire type says; a field whose wire type differs would be parsed differently from what
/// this module checked (and a `bool` field with another wire type panics). So known fields must
/// carry their declared wire type; unknown fields are skipped by both by wire type.
#[derive(Debug, Clone, Copy)]
enum Ty {
    Bool,
    Byte,
    I16,
    I32,
    I64,
    Double,
    Bin,
    List(&'static Ty),
    Struct(Fields),
}

type Fields = &'static [(i16, Ty)];

impl Ty {
    fn matches_wire(self, wire: u8) -> bool {
        match self {
            Ty::Bool => wire == 1 || wire == 2,
            Ty::Byte => wire == 3,
            Ty::I16 => wire == 4,
            Ty::I32 => wire == 5,
            Ty::I64 => wire == 6,
            Ty::Double => wire == 7,
            Ty::Bin => wire == 8,
            Ty::List(_) => wire == 9,
            Ty::Struct(_) => wire == 12,
        }
    }
}

const EMPTY: Fields = &[];
const STRING_LIST: Ty = Ty::List(&Ty::Bin);
const KEY_VALUE: Fields = &[(1, Ty::Bin), (2, Ty::Bin)];
const TIME_UNIT: Fields = &[
    (1, Ty::Struct(EMPTY)),
    (2, Ty::Struct(EMPTY)),
    (3, Ty::Struct(EMPTY)),
];
const TIME_TYPE: Fields = &[(1, Ty::Bool), (2, Ty::Struct(TIME_UNIT))];
const LOGICAL_TYPE: Fields = &[
    (1, Ty::Struct(EMPTY)),
    (2, Ty::Struct(EMPTY)),
    (3, Ty::Struct(EMPTY)),
    (4, Ty::Struct(EMPTY)),
    (5, Ty::Struct(&[(1, Ty::I32), (2, Ty::I32)])),
    (6, Ty::Struct(EMPTY)),
    (7, Ty::Struct(TIME_TYPE)),
    (8, Ty::Struct(TIME_TYPE)),
    (10, Ty::Struct(&[(1, Ty::Byte), (2, Ty::Bool)])),
    (11, Ty::Struct(EMPTY)),
    (12, Ty::Struct(EMPTY)),
    (13, Ty::Struct(EMPTY)),
    (14, Ty::Struct(EMPTY)),
    (15, Ty::Struct(EMPTY)),
    (16, Ty::Struct(&[(1, Ty::Byte)])),
    (17, Ty::Struct(&[(1, Ty::Bin)])),
    (18, Ty::Struct(&[(1, Ty::Bin), (2, Ty::I32)])),
];
const SCHEMA_ELEMENT: Fields = &[
    (1, Ty::I32),
    (2, Ty::I32),
    (3, Ty::I32),
    (4, Ty::Bin),
    (5, Ty::I32),
    (6, Ty::I32),
    (7, Ty::I32),
    (8, Ty::I32),
    (9, Ty::I32),
    (10, Ty::Struct(LOGICAL_TYPE)),
];
const STATISTICS: Fields = &[
    (1, Ty::Bin),
    (2, Ty::Bin),
    (3, Ty::I64),
    (4, Ty::I64),
    (5, Ty::Bin),
    (6, Ty::Bin),
    (7, Ty::Bool),
    (8, Ty::Bool),
];
const BOUNDING_BOX: Fields = &[
    (1, Ty::Double),
    (2, Ty::Double),
    (3, Ty::Double),
    (4, Ty::Double),
    (5, Ty::Double),
    (6, Ty::Double),
    (7, Ty::Double),
    (8, Ty::Double),
];
const COLUMN_META_DATA: Fields = &[
    (1, Ty::I32),
    (2, Ty::List(&Ty::I32)),
    (3, STRING_LIST),
    (4, Ty::I32),
    (5, Ty::I64),
    (6, Ty::I64),
    (7, Ty::I64),
    (8, Ty::List(&Ty::Struct(KEY_VALUE))),
    (9, Ty::I64),
    (10, Ty::I64),
    (11, Ty::I64),
    (12, Ty::Struct(STATISTICS)),
    (
        13,
        Ty::List(&Ty::Struct(&[(1, Ty::I32), (2, Ty::I32), (3, Ty::I32)])),
    ),
    (14, Ty::I64),
    (15, Ty::I32),
    (
        16,
        Ty::Struct(&[
            (1, Ty::I64),
            (2, Ty::List(&Ty::I64)),
            (3, Ty::List(&Ty::I64)),
        ]),
    ),
    (
        17,
        Ty::Struct(&[(1, Ty::Struct(BOUNDING_BOX)), (2, Ty::List(&Ty::I32))]),
    ),
];
const COLUMN_CRYPTO: Fields = &[
    (1, Ty::Struct(EMPTY)),
    (2, Ty::Struct(&[(1, STRING_LIST), (2, Ty::Bin)])),
];
const COLUMN_CHUNK: Fields = &[
    (1, Ty::Bin),
    (2, Ty::I64),
    (3, Ty::Struct(COLUMN_META_DATA)),
    (4, Ty::I64),
    (5, Ty::I32),
    (6, Ty::I64),
    (7, Ty::I32),
    (8, Ty::Struct(COLUMN_CRYPTO)),
    (9, Ty::Bin),
];
const ROW_GROUP: Fields = &[
    (1, Ty::List(&Ty::Struct(COLUMN_CHUNK))),
    (2, Ty::I64),
    (3, Ty::I64),
    (
        4,
        Ty::List(&Ty::Struct(&[(1, Ty::I32), (2, Ty::Bool), (3, Ty::Bool)])),
    ),
    (5, Ty::I64),
    (6, Ty::I64),
    (7, Ty::I16),
];
const AES_GCM: Fields = &[(1, Ty::Bin), (2, Ty::Bin), (3, Ty::Bool)];
const FILE_META_DATA: Fields = &[
    (1, Ty::I32),
    (2, Ty::List(&Ty::Struct(SCHEMA_ELEMENT))),
    (3, Ty::I64),
    (4, Ty::List(&Ty::Struct(ROW_GROUP))),
    (5, Ty::List(&Ty::Struct(KEY_VALUE))),
    (6, Ty::Bin),
    (7, Ty::List(&Ty::Struct(&[(1, Ty::Struct(EMPTY))]))),
    (
        8,
        Ty::Struct(&[(1, Ty::Struct(AES_GCM)), (2, Ty::Struct(AES_GCM))]),
    ),
    (9, Ty::Bin),
];
const PAGE_HEADER: Fields = &[
    (1, Ty::I32),
    (2, Ty::I32),
    (3, Ty::I32),
    (4, Ty::I32),
    (
        5,
        Ty::Struct(&[
            (1, Ty::I32),
            (2, Ty::I32),
            (3, Ty::I32),
            (4, Ty::I32),
            (5, Ty::Struct(STATISTICS)),
        ]),
    ),
    (6, Ty::Struct(EMPTY)),
    (7, Ty::Struct(&[(1, Ty::I32), (2, Ty::I32), (3, Ty::Bool)])),
    (
        8,
        Ty::Struct(&[
            (1, Ty::I32),
            (2, Ty::I32),
            (3, Ty::I32),
            (4, Ty::I32),
            (5, Ty::I32),
            (6, Ty::I32),
            (7, Ty::Bool),
            (8, Ty::Struct(STATISTICS)),
        ]),
    ),
];

/// Reader of the Thrift compact protocol that refuses sizes larger than the input and known
/// fields of the wrong type.
struct Compact<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Compact<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.data.get(self.pos).ok_or("thrift data ends early")?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        self.pos = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("thrift data ends early")?;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("thrift varint too long".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length that must fit in the remaining input (every element takes at least a byte).
    fn size(&mut self, raw: u64) -> Result<usize, String> {
        usize::try_from(raw)
            .ok()
            .filter(|&n| n <= self.remaining())
            .ok_or_else(|| {
                format!(
                    "thrift size {raw} exceeds the {} bytes left",
                    self.remaining()
                )
            })
    }

    /// A struct whose known fields are `spec` (`None`: nothing known, walk by wire type).
    fn read_struct(
        &mut self,
        spec: Option<Fields>,
        depth: usize,
    ) -> Result<Vec<(i16, TValue<'a>)>, String> {
        if depth > MAX_DEPTH {
            return Err("thrift nested too deeply".into());
        }
        let mut fields = Vec::new();
        let mut last_id: i16 = 0;
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Ok(fields);
            }
            let wire = header & 0x0f;
            let delta = header >> 4;
            let id = if delta == 0 {
                i16::try_from(self.zigzag()?).map_err(|_| "thrift field id out of range")?
            } else {
                last_id
                    .checked_add(i16::from(delta))
                    .ok_or("thrift field id overflows")?
            };
            last_id = id;
            let declared = spec
                .and_then(|s| s.iter().find(|(i, _)| *i == id))
                .map(|(_, t)| *t);
            if let Some(ty) = declared {
                if !ty.matches_wire(wire) {
                    return Err(format!(
                        "thrift field {id} has wire type {wire}, expected {ty:?}"
                    ));
                }
            }
            let value = match wire {
                // A bool field's value is its wire type: no payload.
                1 | 2 => TValue::Other,
                _ => self.value(wire, declared, depth)?,
            };
            fields.push((id, value));
        }
    }

    /// A value of wire type `wire`, with its declared type when known: one arm per wire type
    /// of the Thrift compact protocol, in the specification's order.
    fn value(
        &mut self,
        wire: u8,
        declared: Option<Ty>,
        depth: usize,
    ) -> Result<TValue<'a>, String> {
        Ok(match wire {
            1 | 2 => {
                // A bool inside a list is a whole byte.
                self.byte()?;
                TValue::Other
            }
            3 => TValue::Int(i64::from(self.byte()? as i8)),
            4..=6 => TValue::Int(self.zigzag()?),
            7 => {
                self.skip(8)?;
                TValue::Other
            }
            8 => {
                let raw = self.varint()?;
                let n = self.size(raw)?;
                let start = self.pos;
                self.skip(n)?;
                TValue::Bin(self.data.get(start..self.pos).unwrap_or_default())
            }
            9 | 10 => self.list(declared, depth)?,
            11 => {
                self.skip_map(depth)?;
                TValue::Other
            }
            12 => {
                let spec = match declared {
                    Some(Ty::Struct(s)) => Some(s),
                    _ => None,
                };
                TValue::Struct(self.read_struct(spec, depth + 1)?)
            }
            other => return Err(format!("unknown thrift type {other}")),
        })
    }

    /// A list or set (wire types 9, 10) at nesting `depth`, its elements checked against the
    /// declared element type when known.
    fn list(&mut self, declared: Option<Ty>, depth: usize) -> Result<TValue<'a>, String> {
        check_depth(depth)?;
        let header = self.byte()?;
        let elem = header & 0x0f;
        let short = u64::from(header >> 4);
        let raw = if short == 15 { self.varint()? } else { short };
        let n = self.size(raw)?;
        let elem_ty = match declared {
            Some(Ty::List(t)) => Some(*t),
            _ => None,
        };
        if n > 0 {
            if !(1..=12).contains(&elem) {
                return Err(format!("thrift list of unknown type {elem}"));
            }
            if elem_ty.is_some_and(|t| !t.matches_wire(elem)) {
                return Err(format!(
                    "thrift list elements of wire type {elem}, expected {elem_ty:?}"
                ));
            }
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(elem, elem_ty, depth + 1)?);
        }
        Ok(TValue::List(items))
    }

    /// A map (wire type 11) at nesting `depth`, read to skip it (no field we check is a map).
    fn skip_map(&mut self, depth: usize) -> Result<(), String> {
        check_depth(depth)?;
        let raw = self.varint()?;
        let n = self.size(raw)?;
        if n > 0 {
            let types = self.byte()?;
            let (k, v) = (types >> 4, types & 0x0f);
            if !(1..=12).contains(&k) || !(1..=12).contains(&v) {
                return Err("thrift map of unknown type".into());
            }
            for _ in 0..n {
                self.value(k, None, depth + 1)?;
                self.value(v, None, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// Fails when a container at nesting `depth` would pass [`MAX_DEPTH`].
fn check_depth(depth: usize) -> Result<(), String> {
    if depth >= MAX_DEPTH {
        return Err("thrift nested too deeply".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_framing() {
        assert!(check_file(b"").is_err());
        assert!(check_file(b"PAR1\0\0\0\0PAR1").is_err());
        assert!(check_file(b"PAR1\0\xff\xff\xff\xffPAR1").is_err());
    }

    #[test]
    fn thrift_sizes_are_bounded() {
        // A struct whose field 2 is a list claiming 2^31 elements.
        let data = [0x29, 0xfc, 0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        assert!(Compact::new(&data).read_struct(None, 0).is_err());
        // Binary longer than the input.
        let data = [0x18, 0x10, b'a', 0x00];
        assert!(Compact::new(&data).read_struct(None, 0).is_err());
        // Nested structs beyond the depth limit.
        let deep = vec![0x1c; 100];
        assert!(Compact::new(&deep).read_struct(None, 0).is_err());
        // A valid struct: field 1 i32 = 3, field 2 binary "ab", stop.
        let ok = [0x15, 0x06, 0x18, 0x02, b'a', b'b', 0x00];
        let s = Compact::new(&ok).read_struct(None, 0).unwrap();
        assert_eq!(int(field(&s, 1)), Some(3));
    }

    #[test]
    fn declared_types_are_enforced() {
        // PageHeader field 7 (DictionaryPageHeader) with field 3 (is_sorted, bool) sent as i32.
        let bad = [0x7c, 0x35, 0x02, 0x00, 0x00];
        assert!(Compact::new(&bad)
            .read_struct(Some(PAGE_HEADER), 0)
            .is_err());
        // The same with a real bool (wire type 1, true) passes.
        let good = [0x7c, 0x31, 0x00, 0x00];
        assert!(Compact::new(&good)
            .read_struct(Some(PAGE_HEADER), 0)
            .is_ok());
        // A list of i64 where i32 is declared (ColumnMetaData field 2, encodings).
        let bad = [0x29, 0x16, 0x02, 0x00];
        assert!(Compact::new(&bad)
            .read_struct(Some(COLUMN_META_DATA), 0)
            .is_err());
        // Unknown fields are walked by wire type.
        let unknown = [0xf5, 0x02, 0x00];
        assert!(Compact::new(&unknown)
            .read_struct(Some(PAGE_HEADER), 0)
            .is_ok());
    }

    #[test]
    fn schema_children_are_checked() {
        let element = |children: i64| TValue::Struct(vec![(5, TValue::Int(children))]);
        let leaf = TValue::Struct(vec![]);
        let ok = TValue::List(vec![element(2), leaf, TValue::Struct(vec![])]);
        assert!(check_schema(Some(&ok)).is_ok());
        let negative = TValue::List(vec![element(-1), TValue::Struct(vec![])]);
        assert!(check_schema(Some(&negative)).is_err());
        let deep = TValue::List((0..40).map(|_| element(1)).collect());
        assert!(check_schema(Some(&deep)).is_err());
    }

    /// Minimal Thrift compact writer for hand-made footers.
    #[derive(Default)]
    struct Thrift {
        out: Vec<u8>,
        last: Vec<i16>,
    }

    impl Thrift {
        fn header(&mut self, id: i16, wire: u8) {
            let last = self.last.last_mut().unwrap();
            let delta = u8::try_from(id - *last).unwrap();
            assert!((1..=15).contains(&delta));
            self.out.push((delta << 4) | wire);
            *last = id;
        }
        fn varint(&mut self, mut v: u64) {
            loop {
                let b = (v & 0x7f) as u8;
                v >>= 7;
                if v == 0 {
                    self.out.push(b);
                    return;
                }
                self.out.push(b | 0x80);
            }
        }
        /// An i32 (`wire` 5) or i64 (`wire` 6) field.
        fn int(&mut self, id: i16, wire: u8, v: i64) {
            self.header(id, wire);
            self.varint(((v << 1) ^ (v >> 63)) as u64);
        }
        fn bin(&mut self, id: i16, b: &[u8]) {
            self.header(id, 8);
            self.varint(b.len() as u64);
            self.out.extend_from_slice(b);
        }
        /// A struct field, or (`id` `None`) a struct element of a list.
        fn begin(&mut self, id: Option<i16>) {
            if let Some(id) = id {
                self.header(id, 12);
            }
            self.last.push(0);
        }
        fn end(&mut self) {
            self.out.push(0);
            self.last.pop();
        }
        fn list(&mut self, id: i16, elem: u8, n: u8) {
            self.header(id, 9);
            self.out.push((n << 4) | elem);
        }
    }

    /// A parquet file with one empty `REQUIRED` column `c` of physical type `ty` whose
    /// column-chunk statistics hold `stats` (Thrift field id and bytes).
    fn file_with_statistics(ty: i64, stats: &[(i16, &[u8])]) -> Vec<u8> {
        let mut t = Thrift::default();
        t.begin(None);
        t.int(1, 5, 1);
        t.list(2, 12, 2);
        t.begin(None);
        t.bin(4, b"schema");
        t.int(5, 5, 1);
        t.end();
        t.begin(None);
        t.int(1, 5, ty);
        t.int(3, 5, 0);
        t.bin(4, b"c");
        t.end();
        t.int(3, 6, 0);
        t.list(4, 12, 1);
        t.begin(None); // row group
        t.list(1, 12, 1);
        t.begin(None); // column chunk
        t.int(2, 6, 4);
        t.begin(Some(3)); // column metadata
        t.int(1, 5, ty);
        t.list(2, 5, 1);
        t.varint(0);
        t.list(3, 8, 1);
        t.varint(1);
        t.out.push(b'c');
        t.int(4, 5, 0);
        for id in [5, 6, 7] {
            t.int(id, 6, 0);
        }
        t.int(9, 6, 4);
        t.begin(Some(12));
        for (id, bytes) in stats {
            t.bin(*id, bytes);
        }
        t.end();
        t.end(); // column metadata
        t.end(); // column chunk
        t.int(2, 6, 0);
        t.int(3, 6, 0);
        t.end(); // row group
        t.end(); // file metadata
        let mut file = b"PAR1".to_vec();
        file.extend_from_slice(&t.out);
        file.extend_from_slice(&u32::try_from(t.out.len()).unwrap().to_le_bytes());
        file.extend_from_slice(b"PAR1");
        file
    }

    // Physical types (parquet.thrift `Type`).
    const BOOLEAN: i64 = 0;
    const INT32: i64 = 1;
    const INT64: i64 = 2;
    const INT96: i64 = 3;
    const FLOAT: i64 = 4;
    const DOUBLE: i64 = 5;
    const BYTE_ARRAY: i64 = 6;
    const FIXED_LEN_BYTE_ARRAY: i64 = 7;

    #[test]
    fn statistics_of_the_wrong_length_are_rejected() {
        let cases: &[(i64, i16, usize)] = &[
            (BOOLEAN, 6, 0),
            (BOOLEAN, 2, 0),
            (INT32, 5, 3),
            (INT32, 1, 5),
            (FLOAT, 6, 8),
            (INT64, 5, 4),
            (INT64, 2, 7),
            (DOUBLE, 6, 4),
            (INT96, 5, 8),
            // The parquet crate asserts on these (a panic before the guard checked them).
            (INT96, 6, 13),
            (INT96, 1, 16),
        ];
        for &(ty, id, len) in cases {
            let bad = vec![7u8; len];
            let good = [7u8; 12];
            let good: &[u8] = match ty {
                BOOLEAN => &good[..1],
                INT32 | FLOAT => &good[..4],
                INT64 | DOUBLE => &good[..8],
                _ => &good,
            };
            // The bad value alongside a good one of the other bound.
            let other = if id % 2 == 0 { id - 1 } else { id + 1 };
            let file = file_with_statistics(ty, &[(id.min(other), good), (id.max(other), good)]);
            let file_bad = if id < other {
                file_with_statistics(ty, &[(id, &bad), (other, good)])
            } else {
                file_with_statistics(ty, &[(other, good), (id, &bad)])
            };
            // The well-formed file passes the guard and gets to the column lookup.
            assert_eq!(check_file(&file), Ok(()), "type {ty}");
            let err = crate::manifest::read_parquet(&file)
                .unwrap_err()
                .to_string();
            assert!(err.contains("no column \"key\""), "type {ty}: {err}");
            // The bad one is refused by the guard, naming the column and the statistic.
            let err = crate::manifest::read_parquet(&file_bad)
                .unwrap_err()
                .to_string();
            let name = ["", "max", "min", "", "", "max_value", "min_value"][id as usize];
            assert!(
                err.contains("column \"c\"") && err.contains(&format!("statistics {name} ")),
                "type {ty}, field {id}, {len} bytes: {err}"
            );
        }
    }

    #[test]
    fn statistics_of_variable_length_types_are_not_checked() {
        for ty in [BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY] {
            for len in [0, 1, 13, 100] {
                let v = vec![b'a'; len];
                let file = file_with_statistics(ty, &[(5, &v), (6, &v)]);
                assert_eq!(check_file(&file), Ok(()), "type {ty}, {len} bytes");
            }
        }
    }

    #[test]
    fn fuzz_int96_statistics_finding_is_an_error() {
        let data =
            include_bytes!("../../../../fuzz/regressions/manifest/parquet-int96-statistics.bin");
        let err = crate::manifest::read_parquet(data).unwrap_err().to_string();
        assert!(err.contains("INT96") && err.contains("statistics"), "{err}");
    }
}
