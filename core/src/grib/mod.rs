//! Decoding one GRIB2 message: its grid, what it is, and its values as `f32`.
//!
//! GIK fetches single messages with HTTP Range requests, so the unit here is *one message's
//! bytes*. [`decode`] returns a [`DecodedMessage`]: the [`Grid`] (so each value has
//! coordinates), the [`MessageMetadata`] (short name, level, step or window, member) and the
//! values in file scan order with missing points as NaN. [`describe`] does the same without
//! unpacking the values, for cheap structure checks.
//!
//! The same code runs natively and in wasm. Every length read from the message is checked
//! before use: truncated, corrupt or unsupported input is a [`GribError`], never a panic.
//! Sections are walked by our own code ([`sections`]); values are unpacked by our code for
//! templates 5.0/5.2/5.3/5.41/5.42 (CCSDS: `ccsds`) and, natively, 5.40 (JPEG 2000) by openjpeg
//! through our own glue (`jpeg2000`).

mod bits;
mod ccsds;
pub mod encode;
mod grid;
#[cfg(not(target_arch = "wasm32"))]
mod jpeg2000;
mod metadata;
mod sections;
mod unpack;

pub use grid::{Grid, LatLonGrid, MAX_POINTS};
pub use metadata::{LevelInfo, MessageMetadata};
pub use sections::scan;

use sections::Cut;
use unpack::Packed;

use serde::Serialize;

/// Why a GRIB2 message could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GribError {
    /// The bytes do not start with `GRIB`.
    #[error("not a GRIB message (no 'GRIB' at the start)")]
    NotGrib,
    /// The message or one of its sections is shorter than it must be.
    #[error("truncated in section {section}: needs {needed} bytes, has {available}")]
    Truncated {
        /// Section number (255: between sections).
        section: u8,
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A section declares an impossible length.
    #[error("section {section} at byte {offset} declares an impossible length {length}")]
    BadSectionLength {
        /// Section number as read.
        section: u8,
        /// Declared length.
        length: usize,
        /// Byte offset of the section in the message.
        offset: usize,
    },
    /// A required section is absent.
    #[error("section {0} is missing")]
    MissingSection(u8),
    /// The message does not end with `7777` where its length says it should.
    #[error("no '7777' end marker where the message length says it ends")]
    MissingEnd,
    /// The packed data ends before all values were read.
    #[error("data section too short: needs {needed_bits} bits, has {available_bits}")]
    DataTooShort {
        /// Bits needed.
        needed_bits: usize,
        /// Bits available.
        available_bits: usize,
    },
    /// Sections contradict each other.
    #[error("inconsistent message: {0}")]
    Inconsistent(String),
    /// A compressed payload (PNG, CCSDS, JPEG 2000) failed to decompress.
    #[error("decompression failed: {0}")]
    Compression(String),
    /// A feature of GRIB2 that gik does not decode.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An error inside the message at a byte offset of a larger buffer.
    #[error("message at byte {offset}: {source}")]
    AtOffset {
        /// Offset of the message in the buffer.
        offset: u64,
        /// The error.
        source: Box<GribError>,
    },
}

impl GribError {
    /// Wraps the error with the byte offset of the message it happened in.
    pub fn at_offset(self, offset: u64) -> Self {
        Self::AtOffset {
            offset,
            source: Box::new(self),
        }
    }
}

/// The data representation (packing) of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Packing {
    /// Data representation template number (5.x).
    pub template: u16,
    /// Bits per packed value (0: constant field).
    pub bits_per_value: u8,
}

impl Packing {
    /// ecCodes' `packingType` name.
    pub fn name(&self) -> &'static str {
        match self.template {
            0 => "grid_simple",
            2 => "grid_complex",
            3 => "grid_complex_spatial_differencing",
            4 => "grid_ieee",
            40 => "grid_jpeg",
            41 => "grid_png",
            42 => "grid_ccsds",
            200 => "grid_run_length",
            _ => "unknown",
        }
    }
}

/// A message's description without its values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageInfo {
    /// Total length of the message in bytes.
    pub length: u64,
    /// The grid.
    pub grid: Grid,
    /// What the message is.
    pub metadata: MessageMetadata,
    /// How its values are packed.
    pub packing: Packing,
    /// Whether a bitmap (section 6) masks points.
    pub has_bitmap: bool,
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedMessage {
    /// Description.
    pub info: MessageInfo,
    /// One value per grid point, in file scan order; missing points are NaN.
    pub values: Vec<f32>,
}

/// Summary statistics over the non-missing values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ValueStats {
    /// Number of non-missing values.
    pub count: usize,
    /// Minimum (NaN if none).
    pub min: f64,
    /// Maximum (NaN if none).
    pub max: f64,
    /// Mean (NaN if none).
    pub mean: f64,
}

impl DecodedMessage {
    /// Minimum, maximum and mean over the non-missing points.
    pub fn stats(&self) -> ValueStats {
        let (mut count, mut min, mut max, mut sum) =
            (0usize, f64::INFINITY, f64::NEG_INFINITY, 0.0);
        for &v in self.values.iter().filter(|v| !v.is_nan()) {
            let v = f64::from(v);
            count += 1;
            min = min.min(v);
            max = max.max(v);
            sum += v;
        }
        if count == 0 {
            return ValueStats {
                count,
                min: f64::NAN,
                max: f64::NAN,
                mean: f64::NAN,
            };
        }
        ValueStats {
            count,
            min,
            max,
            mean: sum / count as f64,
        }
    }
}

/// Describes the message at the start of `bytes` without unpacking its values.
pub fn describe(bytes: &[u8]) -> Result<MessageInfo, GribError> {
    describe_field(bytes, 0)
}

/// Describes a message from a prefix of its bytes (sections 0–5; a few hundred bytes for most
/// messages, more if section 2 carries local data). `has_bitmap` is `false` because section 6
/// is not read.
pub fn describe_header(prefix: &[u8]) -> Result<MessageInfo, GribError> {
    let s = sections::split_header(prefix)?;
    let grid = Grid::parse(s.grid)?;
    let metadata = MessageMetadata::parse(s.discipline, s.identification, s.product)?;
    let packing = Packing {
        template: s.representation.u16(10)?,
        bits_per_value: s.representation.u8(20)?,
    };
    Ok(MessageInfo {
        length: s.total_length,
        grid,
        metadata,
        packing,
        has_bitmap: false,
    })
}

/// Like [`describe`], for field `field` (0-based) of a message holding several fields
/// (wgrib2's sub-messages `n.1`, `n.2`...).
pub fn describe_field(bytes: &[u8], field: usize) -> Result<MessageInfo, GribError> {
    let s = sections::split_field(bytes, field, Cut::Whole)?;
    info(&s)
}

fn info(s: &sections::Sections<'_>) -> Result<MessageInfo, GribError> {
    let grid = Grid::parse(s.grid)?;
    let metadata = MessageMetadata::parse(s.discipline, s.identification, s.product)?;
    let packing = Packing {
        template: s.representation.u16(10)?,
        bits_per_value: s.representation.u8(20)?,
    };
    let has_bitmap = s.bitmap.u8(6)? != 255;
    Ok(MessageInfo {
        length: s.total_length,
        grid,
        metadata,
        packing,
        has_bitmap,
    })
}

/// Decodes the message at the start of `bytes` (its grid, metadata and values).
pub fn decode(bytes: &[u8]) -> Result<DecodedMessage, GribError> {
    decode_field(bytes, 0)
}

/// Like [`decode`], for field `field` (0-based) of a message holding several fields (wgrib2's
/// `n.(field+1)`; a field inherits the sections it does not repeat). A field number past the
/// message's last field is an error, never another field.
pub fn decode_field(bytes: &[u8], field: usize) -> Result<DecodedMessage, GribError> {
    let s = sections::split_field(bytes, field, Cut::Whole)?;
    decode_points(&s, None)
}

/// Decodes only the first `rows` rows of the message at the start of `bytes`: the first
/// `rows × Ni` points in scan order (north to south on the global lat/lon grids gik reads).
///
/// Guarantees:
/// - `values` has exactly `rows × Ni` points (`rows` larger than `Nj` is an error), identical
///   to the first `rows × Ni` values of [`decode`] on the whole message, for every packing
///   (bitmaps, missing-value management and constant fields included);
/// - `bytes` may be a prefix of the message: sections 0–6 whole, section 7 cut anywhere after
///   the bits of those rows. Simple (5.0), complex (5.2, 5.3), PNG (5.41) and CCSDS (5.42)
///   packing stop reading after them; JPEG 2000 (5.40) needs the whole data section. A prefix
///   too short for the rows is an error ([`GribError::DataTooShort`], or for PNG a
///   [`GribError::Compression`]), never wrong values: decoding a longer prefix is the remedy;
///   [`bytes_for_rows`] says how long when the packing allows it.
/// - the grid must have rows: a fixed `Ni`, points consecutive along a row (scanning mode
///   bit 3 clear); otherwise [`GribError::Unsupported`].
///
/// `info.grid` still describes the whole grid.
pub fn decode_rows(bytes: &[u8], rows: usize) -> Result<DecodedMessage, GribError> {
    decode_field_rows(bytes, 0, rows)
}

/// [`decode_rows`] for field `field` (0-based) of a message holding several fields.
pub fn decode_field_rows(
    bytes: &[u8],
    field: usize,
    rows: usize,
) -> Result<DecodedMessage, GribError> {
    let s = sections::split_field(bytes, field, Cut::DataMayEnd)?;
    let grid = Grid::parse(s.grid)?;
    let points = row_points(&grid, rows)?;
    decode_points(&s, Some(points))
}

/// Number of points in the first `rows` rows of `grid`, if the grid has such rows.
fn row_points(grid: &Grid, rows: usize) -> Result<usize, GribError> {
    let (Some(ni), Some(nj)) = (grid.ni, grid.nj) else {
        return Err(GribError::Unsupported(format!(
            "row-limited decoding of grid template 3.{} (no fixed row length)",
            grid.template
        )));
    };
    if grid
        .latlon
        .as_ref()
        .is_some_and(|g| g.scanning_mode & 0x20 != 0)
    {
        return Err(GribError::Unsupported(
            "row-limited decoding of a grid stored column by column (scanning mode bit 3)".into(),
        ));
    }
    if rows > nj {
        return Err(GribError::Inconsistent(format!(
            "{rows} rows asked for, the grid has {nj}"
        )));
    }
    // ni * nj == num_points <= MAX_POINTS (checked by Grid::parse), so this cannot overflow.
    Ok(rows * ni)
}

/// How many bytes of a message [`decode_rows`] needs for its first rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum BytesForRows {
    /// The first this-many bytes of the message are enough, and exactly what the rows' bits
    /// need (simple packing; complex packing once the group descriptors are in the prefix).
    Exact(u64),
    /// The packing does not tell before decoding (CCSDS, PNG, JPEG 2000, or complex packing
    /// whose group descriptors are not in the prefix yet). At least `at_least` bytes are
    /// needed; `guess` (data section in proportion to the rows, plus 2 % and 4 KiB, at most the
    /// whole message) is usually enough but not guaranteed: when [`decode_rows`] says the data
    /// is too short, read more (the whole message always works).
    Unknown {
        /// A lower bound.
        at_least: u64,
        /// A likely-sufficient prefix length.
        guess: u64,
    },
}

/// How many bytes of the message whose start is `prefix` [`decode_rows`] needs for `rows` rows.
/// `prefix` must hold sections 0–6 and the start of section 7 (for complex packing, as much of
/// the group descriptors as available improves the answer).
pub fn bytes_for_rows(prefix: &[u8], rows: usize) -> Result<BytesForRows, GribError> {
    let s = sections::split_field(prefix, 0, Cut::DataMayEnd)?;
    let grid = Grid::parse(s.grid)?;
    let points = row_points(&grid, rows)?;
    let present = match bitmap(&s, grid.num_points)? {
        Some(b) => count_set(b, points),
        None => points,
    };
    let data_start = section_offset(prefix, s.data.tail_from(1)?)?;
    let data_length = s.data.u32(1)?;
    let packed = Packed::of(&s)?;
    let total = s.total_length;
    let exact = |bits: Option<u64>| bits.map(|b| (data_start + 5 + b.div_ceil(8)).min(total));
    Ok(match exact(packed.bits_for(present)?) {
        Some(n) => BytesForRows::Exact(n),
        None => {
            let share = u64::from(data_length) as f64 * present as f64 / packed.count.max(1) as f64;
            let guess = data_start as f64 + share * 1.02 + 4096.0;
            BytesForRows::Unknown {
                at_least: (data_start + 5).min(total),
                guess: (guess as u64).min(total),
            }
        }
    })
}

/// Offset of `section` (a slice of `message`) from the start of `message`.
fn section_offset(message: &[u8], section: &[u8]) -> Result<u64, GribError> {
    let offset = (section.as_ptr() as usize).wrapping_sub(message.as_ptr() as usize);
    if offset > message.len() {
        return Err(GribError::Inconsistent(
            "section outside its message".into(),
        ));
    }
    Ok(offset as u64)
}

/// The bitmap bits of section 6, if it has a bitmap covering `points` points.
fn bitmap<'a>(s: &sections::Sections<'a>, points: usize) -> Result<Option<&'a [u8]>, GribError> {
    match s.bitmap.u8(6)? {
        255 => Ok(None),
        0 => {
            let bitmap = s.bitmap.tail_from(7)?;
            if (bitmap.len() as u64) * 8 < points as u64 {
                return Err(GribError::Truncated {
                    section: 6,
                    needed: points.div_ceil(8) + 6,
                    available: bitmap.len() + 6,
                });
            }
            Ok(Some(bitmap))
        }
        254 => Err(GribError::Unsupported(
            "bitmap defined by an earlier field of the same message".into(),
        )),
        other => Err(GribError::Unsupported(format!("predefined bitmap {other}"))),
    }
}

/// Number of set bits among the first `points` bits of `bitmap` (which holds at least that
/// many).
fn count_set(bitmap: &[u8], points: usize) -> usize {
    let (full, rest) = (points / 8, points % 8);
    let mut n: usize = bitmap[..full].iter().map(|b| b.count_ones() as usize).sum();
    if rest > 0 {
        n += (bitmap[full] & !(0xFFu8 >> rest)).count_ones() as usize;
    }
    n
}

/// Decodes the first `limit` points (all when `None`) of the field in `s`.
fn decode_points(
    s: &sections::Sections<'_>,
    limit: Option<usize>,
) -> Result<DecodedMessage, GribError> {
    let info = info(s)?;
    let points = info.grid.num_points;
    let wanted_points = limit.unwrap_or(points).min(points);
    let packed = Packed::of(s)?;
    let bitmap = bitmap(s, points)?;
    let present = match bitmap {
        Some(b) => count_set(b, points),
        None => points,
    };
    if packed.count != present {
        return Err(GribError::Inconsistent(format!(
            "section 5 packs {} values, the grid/bitmap expects {present}",
            packed.count
        )));
    }
    let want = match bitmap {
        Some(b) => count_set(b, wanted_points),
        None => wanted_points,
    };
    let packed = packed.unpack(want)?;
    let values = match bitmap {
        None => packed,
        Some(b) => {
            let mut packed = packed.into_iter();
            let mut values = Vec::with_capacity(wanted_points);
            for (i, &byte) in b.iter().enumerate().take(wanted_points.div_ceil(8)) {
                let n = (wanted_points - i * 8).min(8);
                for bit in 0..n {
                    values.push(if byte & (0x80 >> bit) != 0 {
                        packed.next().unwrap_or(f32::NAN)
                    } else {
                        f32::NAN
                    });
                }
            }
            values
        }
    };
    Ok(DecodedMessage { info, values })
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_rows;
