//! Sections 0–8 of one GRIB2 message, from sections 1 and 4 as bytes, a regular lat/lon grid
//! and packed integers. Octet numbers in comments are the WMO tables' (1-based).

use super::pack;
use super::EncodeError;

/// A regular latitude/longitude grid (template 3.0), angles in microdegrees, scanned west to
/// east along rows, rows north to south (scanning mode 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegularGrid {
    /// Points along a row.
    pub ni: u32,
    /// Rows.
    pub nj: u32,
    /// Latitude of the first (north-west) point.
    pub la1: i32,
    /// Longitude of the first point (any convention; written modulo 360°).
    pub lo1: i64,
    /// Latitude of the last (south-east) point.
    pub la2: i32,
    /// Longitude of the last point.
    pub lo2: i64,
    /// Longitude increment, positive.
    pub di: u32,
    /// Latitude increment, positive.
    pub dj: u32,
    /// Octets 15–30 of template 3.0: the shape of the Earth and its radius or axes.
    pub earth: [u8; 16],
    /// Octet 55: resolution and component flags (bits 3 and 4, increments given, are set).
    pub flags: u8,
}

impl RegularGrid {
    /// Octets 15–30 for a sphere of radius 6 371 229 m (shape 6), the other fields missing.
    pub const SPHERE_6371229: [u8; 16] = [
        6, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    ];

    /// Number of points, `ni × nj`.
    pub fn points(&self) -> u64 {
        u64::from(self.ni) * u64::from(self.nj)
    }
}

/// Reference value R, binary scale E and decimal scale D of a packed field:
/// value = (R + X·2^E)·10^-D.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// Reference value R.
    pub reference: f32,
    /// Binary scale factor E.
    pub binary_scale: i16,
    /// Decimal scale factor D.
    pub decimal_scale: i16,
    /// Bits per packed integer (0: a constant field, every present point is R).
    pub bits: u8,
    /// Code table 5.1, type of the original field values (0: floating point).
    pub original_type: u8,
}

/// The packed integers of a field and which points are present.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedField {
    /// R, E, D and the width of the integers.
    pub scale: Scale,
    /// One flag per grid point (scan order), `None` when every point is present.
    pub present: Option<Vec<bool>>,
    /// One integer per present point, each below `2^bits` (ignored for a constant field).
    pub integers: Vec<u32>,
}

/// How section 7 packs the integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DataPacking {
    /// Template 5.0: every integer in `bits` bits.
    Simple,
    /// Template 5.3: second-order spatial differences in groups of fixed length, each group
    /// with its own reference and width (the smallest of a few group lengths). Falls back to
    /// simple packing for fields it cannot hold (fewer than 3 values, differences wider than
    /// 32 bits) and where simple packing is smaller (small, noisy crops). Much smaller for
    /// smooth fields and fields mostly zero (precipitation).
    #[default]
    ComplexSpatial,
}

/// Writes one message. `identification` and `product` are whole sections 1 and 4 (their
/// length and number octets included), copied as they are.
pub fn write_message(
    discipline: u8,
    identification: &[u8],
    grid: &RegularGrid,
    product: &[u8],
    field: &PackedField,
    packing: DataPacking,
) -> Result<Vec<u8>, EncodeError> {
    check_section(identification, 1, 21)?;
    check_section(product, 4, 9)?;
    let (points, present_count) = check_field(grid, field)?;
    let (section5, data) = if field.scale.bits == 0 {
        (
            pack::simple_section(&field.scale, present_count)?,
            Vec::new(),
        )
    } else {
        pack::pack(&field.scale, &field.integers, packing)?
    };
    let bitmap = field.present.as_deref().map(bitmap);

    let section6_len = 6 + bitmap.as_ref().map_or(0, Vec::len);
    let total = 16
        + identification.len()
        + 72
        + product.len()
        + section5.len()
        + section6_len
        + 5
        + data.len()
        + 4;
    let mut out = Vec::with_capacity(total);
    // Section 0: indicator.
    out.extend_from_slice(b"GRIB");
    out.extend_from_slice(&[0, 0, discipline, 2]);
    out.extend_from_slice(&(total as u64).to_be_bytes());
    out.extend_from_slice(identification);
    write_grid(&mut out, grid, points)?;
    out.extend_from_slice(product);
    out.extend_from_slice(&section5);
    // Section 6: bitmap (0) or none (255).
    put_u32(&mut out, section_len(section6_len)?);
    out.push(6);
    match &bitmap {
        Some(b) => {
            out.push(0);
            out.extend_from_slice(b);
        }
        None => out.push(255),
    }
    // Section 7: data.
    put_u32(&mut out, section_len(5 + data.len())?);
    out.push(7);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"7777");
    if out.len() != total {
        return Err(EncodeError::Overflow(format!(
            "wrote {} octets, expected {total}",
            out.len()
        )));
    }
    Ok(out)
}

/// Checks that `field` fits `grid` and section 5: one presence flag per point, integers of at
/// most 32 bits, one per present point (none for a constant field). Returns the number of
/// points (as section 3 writes it) and of present points.
fn check_field(grid: &RegularGrid, field: &PackedField) -> Result<(u32, usize), EncodeError> {
    let points = grid.points();
    let points32 = u32::try_from(points)
        .map_err(|_| EncodeError::Overflow(format!("{points} grid points")))?;
    let present_count = match &field.present {
        Some(p) if p.len() as u64 != points => {
            return Err(EncodeError::Overflow(format!(
                "{} presence flags for {points} points",
                p.len()
            )))
        }
        Some(p) => p.iter().filter(|&&b| b).count(),
        None => points as usize,
    };
    if field.scale.bits > 32 {
        return Err(EncodeError::Overflow(format!(
            "{} bits per value",
            field.scale.bits
        )));
    }
    let constant = field.scale.bits == 0;
    if !constant && field.integers.len() != present_count {
        return Err(EncodeError::Overflow(format!(
            "{} integers for {present_count} present points",
            field.integers.len()
        )));
    }
    Ok((points32, present_count))
}

/// The bitmap of section 6: one bit per point, 1 where present.
fn bitmap(present: &[bool]) -> Vec<u8> {
    let mut bits = BitWriter::default();
    for &b in present {
        bits.push(u64::from(b), 1);
    }
    bits.finish()
}

fn check_section(bytes: &[u8], number: u8, min_len: usize) -> Result<(), EncodeError> {
    let bad = |reason: String| EncodeError::BadSection {
        section: number,
        reason,
    };
    if bytes.len() < min_len {
        return Err(bad(format!(
            "{} octets, at least {min_len} needed",
            bytes.len()
        )));
    }
    let declared = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if declared != bytes.len() || bytes[4] != number {
        return Err(bad(format!(
            "declares length {declared} and number {}, has {} octets",
            bytes[4],
            bytes.len()
        )));
    }
    Ok(())
}

fn section_len(len: usize) -> Result<u32, EncodeError> {
    u32::try_from(len).map_err(|_| EncodeError::Overflow(format!("a section of {len} octets")))
}

/// Section 3, grid definition template 3.0 (72 octets).
fn write_grid(out: &mut Vec<u8>, g: &RegularGrid, points: u32) -> Result<(), EncodeError> {
    let signed32 = |v: i64, what: &str| {
        sign_magnitude(v, 32)
            .map(|v| v as u32)
            .ok_or_else(|| EncodeError::Overflow(format!("{what} {v}")))
    };
    put_u32(out, 72);
    out.push(3);
    out.push(0); // source of grid definition: code table 3.1
    put_u32(out, points);
    out.push(0); // no optional list of numbers of points
    out.push(0);
    put_u16(out, 0); // template 3.0
    out.extend_from_slice(&g.earth); // octets 15-30
    put_u32(out, g.ni);
    put_u32(out, g.nj);
    put_u32(out, 0); // basic angle of the initial production domain
    put_u32(out, u32::MAX); // subdivisions of basic angle: missing → microdegrees
    put_u32(out, signed32(i64::from(g.la1), "latitude")?);
    put_u32(out, lon_micro(g.lo1));
    out.push(g.flags | 0x30); // i and j increments given
    put_u32(out, signed32(i64::from(g.la2), "latitude")?);
    put_u32(out, lon_micro(g.lo2));
    put_u32(out, g.di);
    put_u32(out, g.dj);
    out.push(0); // scanning mode 0: +i (west→east), -j (north→south), rows consecutive
    Ok(())
}

/// A longitude in microdegrees written modulo 360° (GRIB2 longitudes are 0…360).
fn lon_micro(lon: i64) -> u32 {
    lon.rem_euclid(360_000_000) as u32
}

/// `v` in GRIB2's sign-and-magnitude convention on `bits` bits (the top bit is the sign), or
/// `None` when the magnitude does not fit in `bits − 1` bits.
pub fn sign_magnitude(v: i64, bits: u32) -> Option<u64> {
    if bits == 0 || bits > 64 {
        return None;
    }
    let magnitude = v.unsigned_abs();
    let sign = 1u64 << (bits - 1);
    if magnitude >= sign {
        return None;
    }
    Some(if v < 0 { sign | magnitude } else { magnitude })
}

/// Bits written most significant first, as GRIB2 packs them.
#[derive(Default, Debug)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    used: u32,
}

impl BitWriter {
    /// Appends the low `n` (≤ 32) bits of `value`, most significant first.
    pub fn push(&mut self, value: u64, n: u8) {
        let n = u32::from(n.min(32));
        if n == 0 {
            return;
        }
        let value = value & ((1u64 << n) - 1);
        self.acc = (self.acc << n) | value;
        self.used += n;
        while self.used >= 8 {
            self.used -= 8;
            self.bytes.push((self.acc >> self.used) as u8);
        }
        self.acc &= (1u64 << self.used) - 1;
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> u64 {
        self.bytes.len() as u64 * 8 + u64::from(self.used)
    }

    /// The bytes, the last one padded with zero bits.
    pub fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.bytes.push((self.acc << (8 - self.used)) as u8);
        }
        self.bytes
    }
}

pub(super) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(super) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
