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
//! templates 5.0/5.2/5.3/5.41 and by gribberish for 5.42 (CCSDS) and natively 5.40 (JPEG 2000).

mod bits;
mod grid;
mod metadata;
mod sections;
mod unpack;

pub use grid::{Grid, LatLonGrid};
pub use metadata::{LevelInfo, MessageMetadata};
pub use sections::scan;

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
    let s = sections::split_field(bytes, field)?;
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

/// Like [`decode`], for field `field` (0-based) of a message holding several fields.
pub fn decode_field(bytes: &[u8], field: usize) -> Result<DecodedMessage, GribError> {
    let s = sections::split_field(bytes, field)?;
    let info = describe_field(bytes, field)?;
    let points = info.grid.num_points;
    let packed_count = s.representation.u32(6)? as usize;
    let data = s.data.tail_from(6)?;

    let bitmap = match s.bitmap.u8(6)? {
        255 => None,
        0 => {
            let bitmap = s.bitmap.tail_from(7)?;
            if bitmap.len() * 8 < points {
                return Err(GribError::Truncated {
                    section: 6,
                    needed: points.div_ceil(8) + 6,
                    available: bitmap.len() + 6,
                });
            }
            Some(bitmap)
        }
        254 => {
            return Err(GribError::Unsupported(
                "bitmap defined by an earlier field of the same message".into(),
            ))
        }
        other => return Err(GribError::Unsupported(format!("predefined bitmap {other}"))),
    };
    let present = match bitmap {
        Some(b) => (0..points)
            .filter(|&i| b[i / 8] & (0x80 >> (i % 8)) != 0)
            .count(),
        None => points,
    };
    if packed_count != present {
        return Err(GribError::Inconsistent(format!(
            "section 5 packs {packed_count} values, the grid/bitmap expects {present}"
        )));
    }
    let packed = unpack::unpack(info.packing.template, s.representation, data, packed_count)?;
    let values = match bitmap {
        None => packed,
        Some(b) => {
            let mut packed = packed.into_iter();
            (0..points)
                .map(|i| {
                    if b[i / 8] & (0x80 >> (i % 8)) != 0 {
                        packed.next().unwrap_or(f32::NAN)
                    } else {
                        f32::NAN
                    }
                })
                .collect()
        }
    };
    Ok(DecodedMessage { info, values })
}

#[cfg(test)]
mod tests;
