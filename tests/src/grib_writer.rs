//! A small GRIB2 (edition 2) writer for test data whose values we know exactly.
//!
//! Why: the real GRIB2 fixtures tell us what operational files look like, but their values are
//! whatever the weather was. End-to-end tests of ensemble statistics need messages whose every
//! value is known in advance, so this module writes one message from `f32` values:
//!
//! * section 0 (indicator) with the discipline and the total length,
//! * section 1 (identification) with the centre and the reference time,
//! * section 3 with grid definition template 3.0 (regular latitude/longitude, angles in
//!   microdegrees, scanning mode 0: west→east along a row, rows north→south),
//! * section 4 with product definition template 4.0/4.1 (instantaneous, optionally an ensemble
//!   member) or 4.8/4.11 (statistically processed over a window, e.g. an accumulation),
//! * section 5 with data representation template 5.0 (simple packing) with a chosen decimal
//!   scale and bit width (0 bits = constant field),
//! * section 6 with a bitmap when some values are NaN (missing), else "no bitmap" (255),
//! * section 7 with the packed values and section 8 (`7777`).
//!
//! Octet positions below follow the WMO Manual on Codes, FM 92 GRIB edition 2 (1-based octet
//! numbers as in the tables). Signed integers use GRIB's sign-and-magnitude convention (top bit
//! = sign), not two's complement.
//!
//! Exactness: with `binary_scale = Some(0)` and values that are multiples of `10^-D`, the
//! reference value is an integer and every packed value decodes to exactly `k / 10^D` (before
//! the decoder's own floating-point rounding), which is what [`crate::synthetic`] relies on.

use std::fmt;
use std::ops::Range;

use gik_core::grib::encode;
use gik_core::time::RunTime;

/// Why a message could not be written.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteError {
    /// `values.len()` differs from the number of grid points.
    WrongValueCount {
        /// Points in the grid.
        expected: usize,
        /// Values supplied.
        got: usize,
    },
    /// A value is infinite.
    NotFinite,
    /// More than 32 bits per value were requested.
    TooManyBits(u8),
    /// Zero bits per value were requested but the valid values are not all equal.
    NotConstant,
    /// With the chosen binary scale the values need more than the chosen bits.
    OutOfRange {
        /// Largest packed integer needed.
        needed: f64,
        /// Largest integer that fits the bit width.
        max: u64,
    },
    /// A field does not fit its octets (e.g. a date, a forecast hour, a grid size).
    FieldOverflow(&'static str),
    /// gik-core's encoder refused the message.
    Encode(String),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongValueCount { expected, got } => {
                write!(f, "grid has {expected} points but {got} values were given")
            }
            Self::NotFinite => write!(f, "values must be finite or NaN (missing)"),
            Self::TooManyBits(b) => write!(f, "{b} bits per value (at most 32)"),
            Self::NotConstant => write!(f, "0 bits per value needs a constant field"),
            Self::OutOfRange { needed, max } => {
                write!(f, "packed value {needed} exceeds {max} for the chosen bits")
            }
            Self::FieldOverflow(what) => write!(f, "{what} does not fit its GRIB2 octets"),
            Self::Encode(e) => write!(f, "encoding: {e}"),
        }
    }
}

impl std::error::Error for WriteError {}

pub use encode::RegularGrid;

/// A regular latitude/longitude grid (template 3.0, scanning mode 0, on the sphere of radius
/// 6 371 229 m that GEFS and ECMWF files use) from its north-west corner to its south-east
/// corner with the same step in both directions (all in degrees; the step must divide the
/// spans, e.g. 0.25). Longitudes may be given in either convention (`-20` or `340`); they are
/// written modulo 360° as GRIB2 requires, so a decoder sees the conventional 0..360 value.
pub fn grid_from_corners(north: f64, west: f64, south: f64, east: f64, step: f64) -> RegularGrid {
    let micro = |x: f64| (x * 1e6).round() as i64;
    let step_u = micro(step).max(1);
    let ni = ((micro(east) - micro(west)) / step_u + 1).max(1) as u32;
    let nj = ((micro(north) - micro(south)) / step_u + 1).max(1) as u32;
    RegularGrid {
        ni,
        nj,
        la1: micro(north) as i32,
        lo1: micro(west),
        la2: micro(north) as i32 - ((i64::from(nj) - 1) * step_u) as i32,
        lo2: micro(west) + (i64::from(ni) - 1) * step_u,
        di: step_u as u32,
        dj: step_u as u32,
        earth: RegularGrid::SPHERE_6371229,
        flags: 0,
    }
}

/// Number of points of `grid` (`ni * nj`).
pub fn point_count(grid: &RegularGrid) -> usize {
    grid.ni as usize * grid.nj as usize
}

/// `(lat, lon)` in degrees of the point of `grid` at `index` in scan order, the longitude in
/// the convention `lo1` was given in.
pub fn coordinates(grid: &RegularGrid, index: usize) -> (f64, f64) {
    let ni = grid.ni.max(1) as usize;
    let (row, col) = ((index / ni) as i64, (index % ni) as i64);
    (
        (i64::from(grid.la1) - row * i64::from(grid.dj)) as f64 / 1e6,
        (grid.lo1 + col * i64::from(grid.di)) as f64 / 1e6,
    )
}

/// Section 1 contents: who made the message and for which run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identification {
    /// Originating centre (Common Code Table C-11): 7 = NCEP, 98 = ECMWF.
    pub centre: u16,
    /// Originating sub-centre.
    pub subcentre: u16,
    /// GRIB master tables version number (Code Table 1.0).
    pub master_table_version: u8,
    /// Local tables version number (Code Table 1.1).
    pub local_table_version: u8,
    /// Reference time (significance 1 = start of forecast).
    pub reference_time: RunTime,
    /// Production status (Code Table 1.3): 0 = operational.
    pub production_status: u8,
    /// Type of processed data (Code Table 1.4): 3 = control forecast, 4 = perturbed forecast.
    pub data_type: u8,
}

impl Identification {
    /// NCEP (centre 7) as in GEFS files.
    pub fn ncep(reference_time: RunTime) -> Self {
        Self {
            centre: 7,
            subcentre: 0,
            master_table_version: 2,
            local_table_version: 1,
            reference_time,
            production_status: 0,
            data_type: 4,
        }
    }

    /// ECMWF (centre 98) as in open-data files.
    pub fn ecmwf(reference_time: RunTime) -> Self {
        Self {
            centre: 98,
            subcentre: 0,
            master_table_version: 27,
            local_table_version: 0,
            reference_time,
            production_status: 0,
            data_type: 4,
        }
    }
}

/// A fixed surface (Code Table 4.5) with its scaled value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Surface {
    /// Type of fixed surface: 1 ground/surface, 100 isobaric (Pa), 101 mean sea level,
    /// 103 height above ground (m), 200 entire atmosphere.
    pub kind: u8,
    /// Scale factor (value = scaled / 10^scale).
    pub scale: i8,
    /// Scaled value.
    pub value: i32,
}

impl Surface {
    /// Ground or water surface (type 1).
    pub fn ground() -> Self {
        Self {
            kind: 1,
            scale: 0,
            value: 0,
        }
    }

    /// Specified height above ground in metres (type 103).
    pub fn height_above_ground(m: i32) -> Self {
        Self {
            kind: 103,
            scale: 0,
            value: m,
        }
    }

    /// Isobaric surface given in hPa (type 100, written in Pa).
    pub fn isobaric_hpa(hpa: i32) -> Self {
        Self {
            kind: 100,
            scale: 0,
            value: hpa * 100,
        }
    }

    /// Mean sea level (type 101).
    pub fn mean_sea() -> Self {
        Self {
            kind: 101,
            scale: 0,
            value: 0,
        }
    }
}

/// Ensemble information of templates 4.1/4.11.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ensemble {
    /// Type of ensemble forecast (Code Table 4.6): 0/1 = unperturbed high/low-resolution
    /// control, 3 = positively perturbed.
    pub kind: u8,
    /// Perturbation number (0 for the control).
    pub perturbation: u8,
    /// Number of forecasts in the ensemble.
    pub members: u8,
}

impl Ensemble {
    /// The unperturbed (low-resolution) control forecast, type 1, perturbation 0.
    pub fn control(members: u8) -> Self {
        Self {
            kind: 1,
            perturbation: 0,
            members,
        }
    }

    /// Positively perturbed member `n` (type 3).
    pub fn perturbed(n: u8, members: u8) -> Self {
        Self {
            kind: 3,
            perturbation: n,
            members,
        }
    }
}

/// Statistical process "accumulation" (Code Table 4.10).
pub const STAT_ACCUMULATION: u8 = 1;
/// Statistical process "average" (Code Table 4.10).
pub const STAT_AVERAGE: u8 = 0;

/// When the field is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProductTime {
    /// Instantaneous at `hours` after the reference time (template 4.0 / 4.1).
    Instant {
        /// Forecast hour.
        hours: u32,
    },
    /// A statistic over `[start_hours, end_hours]` after the reference time (4.8 / 4.11).
    Statistical {
        /// Window start (the template's "forecast time").
        start_hours: u32,
        /// Window end.
        end_hours: u32,
        /// Statistical process (Code Table 4.10), e.g. [`STAT_ACCUMULATION`].
        statistic: u8,
    },
}

/// Section 4 contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product {
    /// Parameter category (Code Table 4.1), e.g. 1 = moisture.
    pub category: u8,
    /// Parameter number (Code Table 4.2), e.g. 8 = total precipitation (kg m-2).
    pub number: u8,
    /// Type of generating process (Code Table 4.3): 4 = ensemble forecast.
    pub generating_process: u8,
    /// Background generating process identifier (centre-defined).
    pub background_process: u8,
    /// Analysis or forecast generating process identifier (centre-defined; NCEP GEFS = 107).
    pub process_id: u8,
    /// First fixed surface.
    pub first_surface: Surface,
    /// Second fixed surface (layers), if any.
    pub second_surface: Option<Surface>,
    /// Valid time or window.
    pub time: ProductTime,
    /// Ensemble member, if any (templates 4.1/4.11 instead of 4.0/4.8).
    pub ensemble: Option<Ensemble>,
}

impl Product {
    /// Product definition template number this product is written with.
    pub fn template(&self) -> u16 {
        match (self.time, self.ensemble.is_some()) {
            (ProductTime::Instant { .. }, false) => 0,
            (ProductTime::Instant { .. }, true) => 1,
            (ProductTime::Statistical { .. }, false) => 8,
            (ProductTime::Statistical { .. }, true) => 11,
        }
    }

    /// Length of section 4 in octets.
    pub fn section_len(&self) -> usize {
        let ensemble = if self.ensemble.is_some() { 3 } else { 0 };
        let stat = match self.time {
            ProductTime::Instant { .. } => 0,
            ProductTime::Statistical { .. } => 24,
        };
        34 + ensemble + stat
    }
}

/// Data representation template 5.0 parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimplePacking {
    /// Decimal scale factor D: values are multiplied by `10^D` before packing.
    pub decimal_scale: i16,
    /// Bits per packed value (0 = constant field: every valid value equals the reference).
    pub bits: u8,
    /// Binary scale factor E; `None` chooses the smallest E that fits the range into `bits`.
    pub binary_scale: Option<i16>,
}

/// One GRIB2 message to write.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Message {
    /// Discipline (Code Table 0.0): 0 = meteorological products.
    pub discipline: u8,
    /// Section 1.
    pub identification: Identification,
    /// Section 3.
    pub grid: RegularGrid,
    /// Section 4.
    pub product: Product,
    /// Section 5.
    pub packing: SimplePacking,
}

const SEC0_LEN: usize = 16;
const SEC1_LEN: usize = 21;
const SEC3_LEN: usize = 72; // template 3.0, as gik_core::grib::encode writes it
const SEC5_LEN: usize = 21;

impl Message {
    /// Total length in octets of the message for a field with `valid` non-missing values out
    /// of the grid's points, with a bitmap when `bitmap` is true.
    pub fn encoded_len(&self, valid: usize, bitmap: bool) -> usize {
        let n = point_count(&self.grid);
        let sec6 = 6 + if bitmap { n.div_ceil(8) } else { 0 };
        let sec7 = 5 + (valid * usize::from(self.packing.bits)).div_ceil(8);
        SEC0_LEN + SEC1_LEN + SEC3_LEN + self.product.section_len() + SEC5_LEN + sec6 + sec7 + 4
    }

    /// Writes the message. `values` are in scan order; NaN marks a missing point (a bitmap
    /// is then written).
    pub fn encode(&self, values: &[f32]) -> Result<Vec<u8>, WriteError> {
        let n = point_count(&self.grid);
        if values.len() != n {
            return Err(WriteError::WrongValueCount {
                expected: n,
                got: values.len(),
            });
        }
        if values.iter().any(|v| v.is_infinite()) {
            return Err(WriteError::NotFinite);
        }
        if self.packing.bits > 32 {
            return Err(WriteError::TooManyBits(self.packing.bits));
        }
        let bitmap = values.iter().any(|v| v.is_nan());
        let valid: Vec<f32> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        let packed = pack_simple(&valid, self.packing)?;
        let mut identification = Vec::with_capacity(SEC1_LEN);
        self.write_section1(&mut identification)?;
        let mut product = Vec::with_capacity(self.product.section_len());
        self.write_section4(&mut product)?;
        let field = encode::PackedField {
            scale: encode::Scale {
                reference: packed.reference,
                binary_scale: packed.binary_scale,
                decimal_scale: self.packing.decimal_scale,
                bits: self.packing.bits,
                original_type: 0, // floating point
            },
            present: bitmap.then(|| values.iter().map(|v| !v.is_nan()).collect()),
            integers: packed.integers,
        };
        let out = encode::write_message(
            self.discipline,
            &identification,
            &self.grid,
            &product,
            &field,
            encode::DataPacking::Simple,
        )
        .map_err(|e| WriteError::Encode(e.to_string()))?;
        debug_assert_eq!(out.len(), self.encoded_len(valid.len(), bitmap));
        Ok(out)
    }

    fn write_section1(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        let id = &self.identification;
        let t = id.reference_time;
        put_u32(out, SEC1_LEN as u32);
        out.push(1);
        put_u16(out, id.centre);
        put_u16(out, id.subcentre);
        out.push(id.master_table_version);
        out.push(id.local_table_version);
        out.push(1); // significance of reference time: start of forecast
        put_u16(
            out,
            u16::try_from(t.year).map_err(|_| WriteError::FieldOverflow("year"))?,
        );
        out.extend_from_slice(&[t.month as u8, t.day as u8, t.hour as u8, 0, 0]);
        out.push(id.production_status);
        out.push(id.data_type);
        Ok(())
    }

    fn write_section4(&self, out: &mut Vec<u8>) -> Result<(), WriteError> {
        let p = &self.product;
        let start = out.len();
        put_u32(out, p.section_len() as u32);
        out.push(4);
        put_u16(out, 0); // no coordinate values after the template
        put_u16(out, p.template());
        // Octets 10-34: template 4.0 body.
        out.push(p.category);
        out.push(p.number);
        out.push(p.generating_process);
        out.push(p.background_process);
        out.push(p.process_id);
        put_u16(out, 0); // hours of observational data cut-off
        out.push(0); // minutes of cut-off
        out.push(1); // indicator of unit of time range: hour
        let forecast_time = match p.time {
            ProductTime::Instant { hours } => hours,
            ProductTime::Statistical { start_hours, .. } => start_hours,
        };
        put_u32(out, forecast_time);
        write_surface(out, Some(p.first_surface));
        write_surface(out, p.second_surface);
        // Octets 35-37: ensemble (templates 4.1 / 4.11).
        if let Some(e) = p.ensemble {
            out.extend_from_slice(&[e.kind, e.perturbation, e.members]);
        }
        // Statistical processing (templates 4.8 / 4.11): end of the overall time interval,
        // one time range specification.
        if let ProductTime::Statistical {
            start_hours,
            end_hours,
            statistic,
        } = p.time
        {
            let length = end_hours
                .checked_sub(start_hours)
                .ok_or(WriteError::FieldOverflow(
                    "statistical window (end before start)",
                ))?;
            let reference = self.identification.reference_time;
            let end =
                RunTime::from_unix_seconds(reference.unix_seconds() + i64::from(end_hours) * 3600);
            put_u16(
                out,
                u16::try_from(end.year).map_err(|_| WriteError::FieldOverflow("year"))?,
            );
            out.extend_from_slice(&[end.month as u8, end.day as u8, end.hour as u8, 0, 0]);
            out.push(1); // number of time range specifications
            put_u32(out, 0); // values missing in the statistical process
            out.push(statistic);
            out.push(2); // type of time increment: same start time, forecast time incremented
            out.push(1); // unit of the time range: hour
            put_u32(out, length);
            out.push(255); // unit of the increment: missing
            put_u32(out, 0); // increment between successive fields: continuous
        }
        debug_assert_eq!(out.len() - start, p.section_len());
        Ok(())
    }
}

fn write_surface(out: &mut Vec<u8>, surface: Option<Surface>) {
    match surface {
        Some(s) => {
            out.push(s.kind);
            out.push(sign_magnitude8(s.scale));
            put_u32(out, sign_magnitude32_lossy(i64::from(s.value)));
        }
        None => {
            out.push(255);
            out.push(255);
            put_u32(out, u32::MAX);
        }
    }
}

struct Packed {
    reference: f32,
    binary_scale: i16,
    integers: Vec<u32>,
}

/// Simple packing: `Y * 10^D = R + X * 2^E`.
fn pack_simple(valid: &[f32], packing: SimplePacking) -> Result<Packed, WriteError> {
    let dscale = 10f64.powi(i32::from(packing.decimal_scale));
    let scaled: Vec<f64> = valid.iter().map(|&v| f64::from(v) * dscale).collect();
    let min = scaled.iter().copied().fold(f64::INFINITY, f64::min);
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if scaled.is_empty() {
        return Ok(Packed {
            reference: 0.0,
            binary_scale: 0,
            integers: Vec::new(),
        });
    }
    // The reference value must not exceed the minimum (packed integers are unsigned). When the
    // scaled minimum is an integer up to rounding noise, use that integer so that values that
    // are multiples of 10^-D stay exact.
    let reference = if (min - min.round()).abs() <= 1e-6 * min.abs().max(1.0) {
        min.round() as f32
    } else {
        f32_at_most(min)
    };
    let r = f64::from(reference);
    if packing.bits == 0 {
        if scaled
            .iter()
            .any(|&s| (s - r).abs() > 1e-6 * r.abs().max(1.0))
        {
            return Err(WriteError::NotConstant);
        }
        return Ok(Packed {
            reference,
            binary_scale: 0,
            integers: Vec::new(),
        });
    }
    let max_int = (1u64 << packing.bits) - 1;
    let range = max - r;
    let binary_scale = match packing.binary_scale {
        Some(e) => e,
        None if range <= 0.0 => 0,
        None => {
            let mut e = (range / max_int as f64).log2().ceil() as i16;
            while (range / 2f64.powi(i32::from(e))).round() > max_int as f64 {
                e += 1;
            }
            while e > i16::MIN && (range / 2f64.powi(i32::from(e - 1))).round() <= max_int as f64 {
                e -= 1;
            }
            e
        }
    };
    let bscale = 2f64.powi(i32::from(binary_scale));
    let mut integers = Vec::with_capacity(scaled.len());
    for &s in &scaled {
        let x = ((s - r) / bscale).round().max(0.0);
        if x > max_int as f64 {
            return Err(WriteError::OutOfRange {
                needed: x,
                max: max_int,
            });
        }
        integers.push(x as u32);
    }
    Ok(Packed {
        reference,
        binary_scale,
        integers,
    })
}

/// The largest `f32` not greater than `x`.
fn f32_at_most(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) <= x {
        return f;
    }
    // Step one unit in the last place towards -infinity.
    let bits = f.to_bits();
    let down = if f == 0.0 {
        0x8000_0001
    } else if f > 0.0 {
        bits - 1
    } else {
        bits + 1
    };
    f32::from_bits(down)
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn sign_magnitude8(v: i8) -> u8 {
    encode::sign_magnitude(i64::from(v), 8).unwrap_or(0xFF) as u8
}

fn sign_magnitude32_lossy(v: i64) -> u32 {
    encode::sign_magnitude(v.clamp(-0x7fff_ffff, 0x7fff_ffff), 32).unwrap_or(0) as u32
}

/// One section of a GRIB2 message as found by [`sections`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionSpan {
    /// Section number (0 for the indicator, 8 for `7777`).
    pub number: u8,
    /// Offset of the section in the message.
    pub offset: usize,
    /// Length in octets.
    pub len: usize,
}

/// Walks the sections of one GRIB2 message, checking that their lengths add up to the total
/// length in section 0 and that the message ends with `7777`. Returns the sections in order.
pub fn sections(message: &[u8]) -> Result<Vec<SectionSpan>, String> {
    if message.len() < 16 || &message[..4] != b"GRIB" {
        return Err("no 'GRIB' indicator".into());
    }
    if message[7] != 2 {
        return Err(format!("edition {} (expected 2)", message[7]));
    }
    let total = u64::from_be_bytes(
        message[8..16]
            .try_into()
            .map_err(|_| "short indicator".to_string())?,
    ) as usize;
    if total != message.len() {
        return Err(format!(
            "section 0 says {total} octets, message has {}",
            message.len()
        ));
    }
    let mut spans = vec![SectionSpan {
        number: 0,
        offset: 0,
        len: 16,
    }];
    let mut pos = 16;
    while pos + 4 <= total {
        if &message[pos..pos + 4] == b"7777" && pos + 4 == total {
            spans.push(SectionSpan {
                number: 8,
                offset: pos,
                len: 4,
            });
            return Ok(spans);
        }
        if pos + 5 > total {
            break;
        }
        let len = u32::from_be_bytes([
            message[pos],
            message[pos + 1],
            message[pos + 2],
            message[pos + 3],
        ]) as usize;
        let number = message[pos + 4];
        if len < 5 || pos + len > total - 4 {
            return Err(format!(
                "section {number} at {pos} has impossible length {len}"
            ));
        }
        spans.push(SectionSpan {
            number,
            offset: pos,
            len,
        });
        pos += len;
    }
    Err("no '7777' where the sections end".into())
}

/// `real` (one GRIB2 message holding one field) relabelled as `spec` says: discipline,
/// section 1 (centre, reference time) and section 4 (parameter, level, time, member) are
/// `spec`'s, while the grid (section 3), packing (5), bitmap (6) and data (7) stay byte for byte.
/// A local-use section 2 is dropped. Test data made so keeps a real field's encoding and still
/// says truthfully which variable, level, step and member it is.
pub fn relabel(real: &[u8], spec: &Message) -> Result<Vec<u8>, String> {
    let spans = sections(real)?;
    let one = |n: u8| -> Result<&[u8], String> {
        let mut found = spans.iter().filter(|s| s.number == n);
        match (found.next(), found.next()) {
            (Some(s), None) => Ok(&real[s.offset..s.offset + s.len]),
            (None, _) => Err(format!("no section {n}")),
            (Some(_), Some(_)) => Err(format!("more than one section {n} (several fields)")),
        }
    };
    let (grid, packing, data) = (one(3)?, one(5)?, one(7)?);
    let bitmap = one(6)?;
    // Sections 1 and 4 as the writer writes them (on a one-point grid; they do not depend on it).
    let header = Message {
        grid: grid_from_corners(0.0, 0.0, 0.0, 0.0, 1.0),
        packing: SimplePacking {
            decimal_scale: 0,
            bits: 0,
            binary_scale: Some(0),
        },
        ..*spec
    };
    let written = header.encode(&[0.0]).map_err(|e| e.to_string())?;
    let written_spans = sections(&written)?;
    let section = |n: u8| {
        written_spans
            .iter()
            .find(|s| s.number == n)
            .map(|s| &written[s.offset..s.offset + s.len])
            .ok_or_else(|| format!("writer wrote no section {n}"))
    };
    let (identification, product) = (section(1)?, section(4)?);
    let total = SEC0_LEN
        + identification.len()
        + grid.len()
        + product.len()
        + packing.len()
        + bitmap.len()
        + data.len()
        + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"GRIB");
    out.extend_from_slice(&[0, 0, spec.discipline, 2]);
    out.extend_from_slice(&(total as u64).to_be_bytes());
    for part in [identification, grid, product, packing, bitmap, data] {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"7777");
    Ok(out)
}

/// Splits concatenated GRIB2 messages (a whole GRIB2 file) into byte ranges, using each
/// message's total length. Stops at the first position that is not a GRIB2 message.
pub fn split_messages(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 16 <= bytes.len() && &bytes[pos..pos + 4] == b"GRIB" && bytes[pos + 7] == 2 {
        let mut total = [0u8; 8];
        total.copy_from_slice(&bytes[pos + 8..pos + 16]);
        let total = u64::from_be_bytes(total) as usize;
        if total < 16 || pos + total > bytes.len() {
            break;
        }
        out.push(pos..pos + total);
        pos += total;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn run() -> RunTime {
        RunTime {
            year: 2025,
            month: 8,
            day: 1,
            hour: 0,
        }
    }

    fn apcp(grid: RegularGrid, packing: SimplePacking) -> Message {
        Message {
            discipline: 0,
            identification: Identification::ncep(run()),
            grid,
            product: Product {
                category: 1,
                number: 8,
                generating_process: 4,
                background_process: 0,
                process_id: 107,
                first_surface: Surface::ground(),
                second_surface: None,
                time: ProductTime::Statistical {
                    start_hours: 6,
                    end_hours: 9,
                    statistic: STAT_ACCUMULATION,
                },
                ensemble: Some(Ensemble::perturbed(3, 31)),
            },
            packing,
        }
    }

    #[test]
    fn sections_add_up_and_end_with_7777() {
        let grid = grid_from_corners(23.0, 21.0, -12.0, 53.0, 0.25);
        assert_eq!((grid.ni, grid.nj), (129, 141));
        assert_eq!(grid.la2, -12_000_000);
        assert_eq!(grid.lo2, 53_000_000);
        let values: Vec<f32> = (0..point_count(&grid))
            .map(|i| (i % 500) as f32 / 10.0)
            .collect();
        let packing = SimplePacking {
            decimal_scale: 1,
            bits: 16,
            binary_scale: Some(0),
        };
        let msg = apcp(grid, packing);
        let bytes = msg.encode(&values).unwrap();
        assert_eq!(bytes.len(), msg.encoded_len(point_count(&grid), false));
        assert_eq!(&bytes[..4], b"GRIB");
        assert_eq!(&bytes[bytes.len() - 4..], b"7777");
        let spans = sections(&bytes).unwrap();
        let numbers: Vec<u8> = spans.iter().map(|s| s.number).collect();
        assert_eq!(numbers, [0, 1, 3, 4, 5, 6, 7, 8]);
        assert_eq!(spans.iter().map(|s| s.len).sum::<usize>(), bytes.len());
        // Section 4 is template 4.11 and 61 octets long.
        let s4 = spans[3];
        assert_eq!(s4.len, 61);
        assert_eq!(
            u16::from_be_bytes([bytes[s4.offset + 7], bytes[s4.offset + 8]]),
            11
        );
        // Octets 35-37: perturbed member 3 of 31; 38-44 end of interval 2025-08-01 09:00.
        assert_eq!(&bytes[s4.offset + 34..s4.offset + 37], &[3, 3, 31]);
        assert_eq!(
            &bytes[s4.offset + 37..s4.offset + 44],
            &[7, 233, 8, 1, 9, 0, 0]
        );
        // Section 7 holds 16 bits per point.
        assert_eq!(spans[6].len, 5 + point_count(&grid) * 2);
        assert_eq!(split_messages(&bytes), vec![0..bytes.len()]);
    }

    #[test]
    fn exact_values_pack_to_integers() {
        let grid = grid_from_corners(1.0, 0.0, 0.0, 1.0, 1.0);
        let packing = SimplePacking {
            decimal_scale: 4,
            bits: 16,
            binary_scale: Some(0),
        };
        let msg = apcp(grid, packing);
        let tenths = [1231u32, 1240, 1999, 31_321];
        let values: Vec<f32> = tenths
            .iter()
            .map(|&t| (f64::from(t) * 1e-4) as f32)
            .collect();
        let bytes = msg.encode(&values).unwrap();
        let spans = sections(&bytes).unwrap();
        let s5 = spans[4].offset;
        let r = f32::from_be_bytes(bytes[s5 + 11..s5 + 15].try_into().unwrap());
        assert_eq!(r, 1231.0);
        let s7 = spans[6].offset + 5;
        let xs: Vec<u16> = (0..4)
            .map(|i| u16::from_be_bytes([bytes[s7 + 2 * i], bytes[s7 + 2 * i + 1]]))
            .collect();
        assert_eq!(xs, [0, 9, 768, 30_090]);
    }

    #[test]
    fn bitmap_and_constant_fields() {
        let grid = grid_from_corners(10.0, 350.0, 0.0, 370.0, 5.0);
        assert_eq!((grid.ni, grid.nj), (5, 3));
        let mut values = vec![2.5f32; point_count(&grid)];
        values[3] = f32::NAN;
        values[7] = f32::NAN;
        let packing = SimplePacking {
            decimal_scale: 1,
            bits: 0,
            binary_scale: None,
        };
        let msg = apcp(grid, packing);
        let bytes = msg.encode(&values).unwrap();
        let spans = sections(&bytes).unwrap();
        assert_eq!(bytes.len(), msg.encoded_len(13, true));
        let s6 = spans[5];
        assert_eq!(s6.len, 6 + 2);
        assert_eq!(bytes[s6.offset + 5], 0);
        assert_eq!(bytes[s6.offset + 6], 0b1110_1110);
        assert_eq!(bytes[s6.offset + 7], 0b1111_1110);
        assert_eq!(spans[6].len, 5);
        // Longitudes are written modulo 360: 350°E and 10°E.
        let s3 = spans[2].offset;
        let lo1 = u32::from_be_bytes(bytes[s3 + 50..s3 + 54].try_into().unwrap());
        let lo2 = u32::from_be_bytes(bytes[s3 + 59..s3 + 63].try_into().unwrap());
        assert_eq!((lo1, lo2), (350_000_000, 10_000_000));
        values[0] = 3.0;
        assert_eq!(msg.encode(&values), Err(WriteError::NotConstant));
        assert!(matches!(
            msg.encode(&values[1..]),
            Err(WriteError::WrongValueCount { .. })
        ));
    }

    #[test]
    fn automatic_binary_scale_fits_range() {
        let grid = grid_from_corners(0.0, 0.0, 0.0, 3.0, 1.0);
        let packing = SimplePacking {
            decimal_scale: 0,
            bits: 8,
            binary_scale: None,
        };
        let msg = apcp(grid, packing);
        let bytes = msg.encode(&[-1000.0, 0.0, 500.0, 3000.0]).unwrap();
        assert!(sections(&bytes).is_ok());
        let negative_latitude = grid_from_corners(-10.0, 0.0, -20.0, 0.0, 10.0);
        let bytes = apcp(negative_latitude, packing)
            .encode(&[1.0, 2.0])
            .unwrap();
        let s3 = sections(&bytes).unwrap()[2].offset;
        assert_eq!(
            &bytes[s3 + 46..s3 + 50],
            &(0x8000_0000u32 | 10_000_000).to_be_bytes()
        );
    }
}
