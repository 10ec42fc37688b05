//! Unpacking the data section (GRIB2 section 7) according to section 5's template.
//!
//! Our own code handles simple packing (5.0), complex packing (5.2), complex packing with
//! spatial differencing (5.3), PNG (5.41) and CCSDS (5.42, [`super::ccsds`]): gribberish
//! mishandles missing-value management in 5.3, constant fields, PNG sample widths and 5.2
//! without spatial differencing (see `shared/fixtures/SOURCES.md`), and its CCSDS decoder is
//! 1.5× slower than ecCodes (BENCHMARKS.md). Only JPEG 2000 (5.40, native builds) is delegated
//! to gribberish. All templates share `Y = (R + X·2^E)·10^-D`, applied while each value is
//! written (no intermediate vector of integers or `f64`).
//!
//! Every unpacker produces the first `want` of the `count` packed values and stops: the data
//! section may end right after the bits those values need (a message cut after the rows a map
//! needs). Bits missing before that point are [`GribError::DataTooShort`].

use super::bits::{sign_magnitude, BitStream, Octets};
use super::ccsds;
use super::sections::Sections;
use super::GribError;

/// The packing parameters common to templates 5.0, 5.2, 5.3, 5.40, 5.41 and 5.42.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scaling {
    /// Reference value R.
    reference: f64,
    /// 2^E.
    binary: f64,
    /// 10^-D.
    decimal: f64,
    /// Bits per packed value.
    pub bits: u8,
}

impl Scaling {
    pub(crate) fn parse(section: Octets<'_>) -> Result<Self, GribError> {
        let reference = f64::from(section.f32(12)?);
        let e = section.signed(16, 2)? as i32;
        let d = section.signed(18, 2)? as i32;
        let bits = section.u8(20)?;
        Ok(Self {
            reference,
            binary: 2f64.powi(e),
            decimal: 10f64.powi(-d),
            bits,
        })
    }

    #[inline]
    fn apply(&self, x: f64) -> f32 {
        ((self.reference + x * self.binary) * self.decimal) as f32
    }

    /// The non-negative 32-bit packed integer whose value is exactly `value` (bit for bit as
    /// [`Self::apply`] gives it), if there is one: re-encoding a decoded field with the same
    /// R, E, D without loss (`grib::encode`). Not bounded by `bits`: in complex packing that is
    /// the width of the group references, not of the integers.
    pub(crate) fn packed_of(&self, value: f32) -> Option<u32> {
        let max = f64::from(u32::MAX);
        let x = ((f64::from(value) / self.decimal - self.reference) / self.binary).round();
        if !x.is_finite() {
            return None;
        }
        [x, x - 1.0, x + 1.0]
            .into_iter()
            .find(|&c| (0.0..=max).contains(&c) && self.apply(c).to_bits() == value.to_bits())
            .map(|c| c as u32)
    }

    /// The value every point has in a constant field (`bits == 0`): the reference value
    /// itself, unscaled, as ecCodes and NCEP's g2clib read it.
    pub(crate) fn constant(&self) -> f32 {
        self.reference as f32
    }
}

/// A field's packed values: what section 5 says of them, and section 7's data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Packed<'a> {
    /// Data representation template number (5.x).
    pub template: u16,
    /// Section 5.
    pub representation: Octets<'a>,
    /// Section 7 from octet 6: the packed data (possibly cut after the values a caller needs).
    pub data: &'a [u8],
    /// Number of packed values: the points the bitmap marks present.
    pub count: usize,
}

impl<'a> Packed<'a> {
    /// The packed values of the field in `s`.
    pub(crate) fn of(s: &Sections<'a>) -> Result<Self, GribError> {
        Ok(Self {
            template: s.representation.u16(10)?,
            representation: s.representation,
            data: s.data.tail_from(6)?,
            count: s.representation.u32(6)? as usize,
        })
    }

    /// Unpacks the first `want` of the packed values, NaN where the packing's own
    /// missing-value management says so.
    pub(crate) fn unpack(&self, want: usize) -> Result<Vec<f32>, GribError> {
        let scaling = Scaling::parse(self.representation)?;
        let want = want.min(self.count);
        match self.template {
            // In every template but 5.2/5.3 (whose groups can mark missing values), zero bits
            // per value means every point is the reference value R.
            0 | 40 | 41 | 42 if scaling.bits == 0 => Ok(vec![scaling.constant(); want]),
            0 => unpack_simple(&scaling, self.data, want),
            2 | 3 => unpack_complex(self, &scaling, want),
            41 => unpack_png(self, &scaling, want),
            42 => unpack_ccsds(self, &scaling, want),
            40 => unpack_jpeg2000(self, &scaling, want),
            t => Err(GribError::Unsupported(format!(
                "data representation template 5.{t}"
            ))),
        }
    }

    /// Where the bits of the first `want` packed values end, counted from the start of the
    /// packed data (section 7 octet 6), when the packing says so without decoding: simple
    /// packing, constant fields, and complex packing whose group descriptors are in the data.
    pub(crate) fn bits_for(&self, want: usize) -> Result<Option<u64>, GribError> {
        let bits = u64::from(self.representation.u8(20)?);
        Ok(match self.template {
            0 => Some(bits.saturating_mul(want as u64)),
            40..=42 if bits == 0 => Some(0),
            2 | 3 => match Groups::parse(self) {
                Ok(groups) => Some(groups.bits_for(want)),
                Err(GribError::DataTooShort { .. }) => None,
                Err(e) => return Err(e),
            },
            _ => None,
        })
    }
}

/// Fails unless `values` values of `bits` bits fit in `data` (after `skip_bits`).
fn ensure_bits(data: &[u8], skip_bits: u64, values: usize, bits: u32) -> Result<(), GribError> {
    let needed = (values as u64)
        .saturating_mul(u64::from(bits))
        .saturating_add(skip_bits);
    let available = (data.len() as u64).saturating_mul(8);
    if needed > available {
        return Err(GribError::DataTooShort {
            needed_bits: usize::try_from(needed).unwrap_or(usize::MAX),
            available_bits: usize::try_from(available).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

fn unpack_simple(scaling: &Scaling, data: &[u8], want: usize) -> Result<Vec<f32>, GribError> {
    let bits = u32::from(scaling.bits);
    if bits > 32 {
        return Err(GribError::Unsupported(format!("{bits}-bit packed values")));
    }
    ensure_bits(data, 0, want, bits)?;
    let mut reader = BitStream::new(data);
    let mut out = vec![0f32; want];
    reader.read_into(bits, &mut out, |x| scaling.apply(f64::from(x)));
    reader.check()?;
    Ok(out)
}

/// The layout of complex packing (5.2, 5.3): spatial-differencing descriptors, then each
/// group's reference, width and length, all before the packed values.
struct Groups {
    order: u8,
    descriptors: [i64; 3],
    missing_management: u8,
    references: Vec<u32>,
    widths: Vec<u32>,
    lengths: Vec<u64>,
    /// Byte offset of the packed values in the data.
    values_start: usize,
}

impl Groups {
    /// The group descriptors of complex packing (templates 5.2/5.3), read in the order the WMO
    /// templates list them, each read checked.
    fn parse(packed: &Packed<'_>) -> Result<Self, GribError> {
        let (section, data, count) = (packed.representation, packed.data, packed.count);
        let bits = u32::from(section.u8(20)?);
        let missing_management = section.u8(23)?;
        let groups = section.u32(32)? as usize;
        let width_reference = u32::from(section.u8(36)?);
        let width_bits = u32::from(section.u8(37)?);
        let length_reference = u64::from(section.u32(38)?);
        let length_increment = u64::from(section.u8(42)?);
        let last_length = u64::from(section.u32(43)?);
        let length_bits = u32::from(section.u8(47)?);
        let (order, extra_octets) = if packed.template == 3 {
            (section.u8(48)?, usize::from(section.u8(49)?))
        } else {
            (0, 0)
        };
        if order > 2 {
            return Err(GribError::Unsupported(format!(
                "spatial differencing of order {order}"
            )));
        }
        // `count` is at most MAX_POINTS, so the vectors below are bounded.
        if groups > count.max(1) {
            return Err(GribError::Inconsistent(format!(
                "{groups} groups for {count} values"
            )));
        }
        let (descriptors, skipped) = spatial_descriptors(order, extra_octets, data)?;
        for n in [bits, width_bits, length_bits] {
            if n > 32 {
                return Err(GribError::Unsupported(format!("{n}-bit group descriptors")));
            }
        }
        let descriptors_data = data.get(skipped..).unwrap_or(&[]);
        let mut reader = BitStream::new(descriptors_data);
        // Each array is checked to be present before it is read, then byte-aligned.
        let mut array = |n: u32| -> Result<Vec<u32>, GribError> {
            ensure_bits(descriptors_data, reader.consumed() as u64, groups, n)?;
            let values = (0..groups).map(|_| reader.read(n)).collect();
            reader.align();
            Ok(values)
        };
        let references = array(bits)?;
        let widths: Vec<u32> = array(width_bits)?
            .into_iter()
            .map(|w| w.saturating_add(width_reference))
            .collect();
        let mut lengths: Vec<u64> = array(length_bits)?
            .into_iter()
            .map(|l| length_reference + u64::from(l) * length_increment)
            .collect();
        if let Some(last) = lengths.last_mut() {
            *last = last_length;
        }
        check_groups(&widths, &lengths, count)?;
        Ok(Self {
            order,
            descriptors,
            missing_management,
            references,
            widths,
            lengths,
            values_start: skipped + reader.consumed().div_ceil(8),
        })
    }

    /// Where the bits of the first `want` values end, counted from the start of the data.
    fn bits_for(&self, want: usize) -> u64 {
        let mut total = (self.values_start as u64) * 8;
        let mut left = want as u64;
        for (&width, &length) in self.widths.iter().zip(&self.lengths) {
            if left == 0 {
                break;
            }
            let take = length.min(left);
            total = total.saturating_add(take * u64::from(width));
            left -= take;
        }
        total
    }
}

/// The extra descriptors of template 5.3 at the start of the data: the first value(s) and the
/// minimum of the differences of spatial differencing of `order` (at most 2), each
/// `extra_octets` long; with the number of octets they take. Order 0 (template 5.2) has none.
fn spatial_descriptors(
    order: u8,
    extra_octets: usize,
    data: &[u8],
) -> Result<([i64; 3], usize), GribError> {
    let mut descriptors = [0i64; 3];
    if order == 0 {
        return Ok((descriptors, 0));
    }
    if extra_octets == 0 || extra_octets > 8 {
        return Err(GribError::Inconsistent(format!(
            "{extra_octets} octets per spatial-differencing descriptor"
        )));
    }
    let octets = Octets::new(data, 7);
    for (k, d) in descriptors
        .iter_mut()
        .take(usize::from(order) + 1)
        .enumerate()
    {
        let raw = octets
            .uint(1 + k * extra_octets, extra_octets)
            .map_err(|_| GribError::DataTooShort {
                needed_bits: (k + 1) * extra_octets * 8,
                available_bits: data.len() * 8,
            })?;
        *d = sign_magnitude(raw, (extra_octets * 8) as u32);
    }
    Ok((descriptors, extra_octets * (usize::from(order) + 1)))
}

/// Fails unless the group lengths sum to the `count` values section 5 announces and every
/// group width fits 32 bits.
fn check_groups(widths: &[u32], lengths: &[u64], count: usize) -> Result<(), GribError> {
    // Sums in u64: on wasm32 a usize sum of corrupt lengths would wrap.
    let total = lengths.iter().try_fold(0u64, |a, &l| a.checked_add(l));
    if total != Some(count as u64) {
        return Err(GribError::Inconsistent(format!(
            "groups hold {} values but section 5 announces {count}",
            total.map_or_else(|| "more than 2^64".to_string(), |t| t.to_string())
        )));
    }
    if let Some(w) = widths.iter().find(|&&w| w > 32) {
        return Err(GribError::Inconsistent(format!("group width {w} bits")));
    }
    Ok(())
}

/// Templates 5.2 and 5.3: values in groups, each with a reference, a width and a length.
fn unpack_complex(
    field: &Packed<'_>,
    scaling: &Scaling,
    want: usize,
) -> Result<Vec<f32>, GribError> {
    let bits = u32::from(scaling.bits);
    let groups = Groups::parse(field)?;
    let packed = field.data.get(groups.values_start..).unwrap_or(&[]);
    let mut stream = BitStream::new(packed);
    let mut out = vec![0f32; want];
    // The primary and secondary missing-value codes of `w`-bit integers (all ones, and all
    // ones minus one under management 2).
    let missing_codes = |w: u32| {
        let primary = if w >= 32 { u32::MAX } else { (1u32 << w) - 1 };
        let secondary = if groups.missing_management == 2 {
            primary.wrapping_sub(1)
        } else {
            primary
        };
        (primary, secondary)
    };
    let mut undo = Undifferencing::new(groups.order, groups.descriptors);
    let mut at = 0usize;
    for ((&reference, &width), &length) in groups
        .references
        .iter()
        .zip(&groups.widths)
        .zip(&groups.lengths)
    {
        if at == want {
            break;
        }
        // `length` fits: the lengths sum to `count`, a usize. A group cut by `want` is read
        // only up to it.
        let take = (length as usize).min(want - at);
        let dst = &mut out[at..at + take];
        at += take;
        let missing = match (groups.missing_management, width) {
            (0, _) => None,
            // A constant group is missing as a whole when its reference is a missing code.
            (1 | 2, 0) => {
                let (primary, secondary) = missing_codes(bits);
                if reference == primary || reference == secondary {
                    dst.fill(f32::NAN);
                    continue;
                }
                None
            }
            (_, 0) => None,
            _ => Some(missing_codes(width)),
        };
        ensure_bits(packed, stream.consumed() as u64, take, width)?;
        let group = Group {
            reference: i64::from(reference),
            width,
            missing,
        };
        // The first `order` values restore to the descriptors: only the group(s) holding
        // them take the general path, every later group a loop specialised by order.
        stream = match groups.order {
            _ if !undo.steady() => group.read(stream, dst, scaling, &mut undo),
            0 => group.read(stream, dst, scaling, &mut Steady::<0>::from(&undo)),
            1 => undo.run_steady::<1, _>(|s| group.read(stream, dst, scaling, s)),
            _ => undo.run_steady::<2, _>(|s| group.read(stream, dst, scaling, s)),
        };
    }
    stream.check()?;
    Ok(out)
}

/// One group of complex packing, as its values are read (a constant group has width 0).
struct Group {
    reference: i64,
    width: u32,
    /// The packed integers that mean "missing" (primary, secondary), under missing-value
    /// management.
    missing: Option<(u32, u32)>,
}

impl Group {
    /// Reads `dst.len()` values of the group from `stream` and writes each, undifferenced by
    /// `restore` and scaled, to `dst` (NaN for missing values, which `restore` never sees);
    /// returns the stream after them. Generic over `restore`, so that each order of spatial
    /// differencing has its own loop; the stream is passed by value so that it stays in
    /// registers (in wasm, a reader behind a reference is loaded and stored through memory).
    #[inline(always)]
    fn read<'a>(
        &self,
        mut stream: BitStream<'a>,
        dst: &mut [f32],
        scaling: &Scaling,
        restore: &mut impl Restore,
    ) -> BitStream<'a> {
        let (reference, width) = (self.reference, self.width);
        match self.missing {
            _ if width == 0 => {
                for o in dst.iter_mut() {
                    *o = scaling.apply(restore.restore(reference) as f64);
                }
            }
            None => stream.read_into(width, dst, |x| {
                scaling.apply(restore.restore(reference + i64::from(x)) as f64)
            }),
            Some((primary, secondary)) => stream.read_into(width, dst, |x| {
                if x == primary || x == secondary {
                    f32::NAN
                } else {
                    scaling.apply(restore.restore(reference + i64::from(x)) as f64)
                }
            }),
        }
        stream
    }
}

/// Undoing spatial differencing, one non-missing value at a time.
trait Restore {
    /// The original value whose packed (differenced) value is `x`.
    fn restore(&mut self, x: i64) -> i64;
}

/// Reverses first- or second-order spatial differencing over the non-missing values, one
/// value at a time (order 0: values pass through), the first values included.
struct Undifferencing {
    order: u8,
    descriptors: [i64; 3],
    previous: i64,
    before_previous: i64,
    seen: usize,
}

impl Undifferencing {
    fn new(order: u8, descriptors: [i64; 3]) -> Self {
        Self {
            order,
            descriptors,
            previous: 0,
            before_previous: 0,
            seen: 0,
        }
    }

    /// Whether the first values (the descriptors) are out: from then on every value follows
    /// the order's recurrence ([`Steady`]).
    fn steady(&self) -> bool {
        self.seen >= usize::from(self.order)
    }

    /// Runs `f` with the steady state of order `ORDER` (which must be this one's), then takes
    /// its state back.
    #[inline(always)]
    fn run_steady<const ORDER: u8, T>(&mut self, f: impl FnOnce(&mut Steady<ORDER>) -> T) -> T {
        let mut steady = Steady::<ORDER>::from(&*self);
        let result = f(&mut steady);
        (self.previous, self.before_previous) = (steady.previous, steady.before_previous);
        result
    }
}

impl Restore for Undifferencing {
    #[inline(always)]
    fn restore(&mut self, x: i64) -> i64 {
        let order = usize::from(self.order);
        if order == 0 {
            return x;
        }
        let minimum = self.descriptors[order];
        let restored = if self.seen < order {
            self.descriptors[self.seen]
        } else if order == 1 {
            x.wrapping_add(minimum).wrapping_add(self.previous)
        } else {
            x.wrapping_add(minimum)
                .wrapping_add(self.previous.wrapping_mul(2))
                .wrapping_sub(self.before_previous)
        };
        self.before_previous = self.previous;
        self.previous = restored;
        self.seen += 1;
        restored
    }
}

/// Spatial differencing of order `ORDER` once its first values are out: no test per value
/// but the recurrence itself, in a loop of its own for each order.
struct Steady<const ORDER: u8> {
    minimum: i64,
    previous: i64,
    before_previous: i64,
}

impl<const ORDER: u8> From<&Undifferencing> for Steady<ORDER> {
    fn from(u: &Undifferencing) -> Self {
        Self {
            minimum: u.descriptors[usize::from(ORDER)],
            previous: u.previous,
            before_previous: u.before_previous,
        }
    }
}

impl<const ORDER: u8> Restore for Steady<ORDER> {
    #[inline(always)]
    fn restore(&mut self, x: i64) -> i64 {
        let restored = match ORDER {
            0 => return x,
            1 => x.wrapping_add(self.minimum).wrapping_add(self.previous),
            _ => x
                .wrapping_add(self.minimum)
                .wrapping_add(self.previous.wrapping_mul(2))
                .wrapping_sub(self.before_previous),
        };
        self.before_previous = self.previous;
        self.previous = restored;
        restored
    }
}

/// Template 5.41: the packed integers are the samples of a greyscale or colour PNG image, read
/// row by row until `want` values are out.
fn unpack_png(field: &Packed<'_>, scaling: &Scaling, want: usize) -> Result<Vec<f32>, GribError> {
    let count = field.count;
    let mut decoder = png::Decoder::new(std::io::Cursor::new(field.data));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder
        .read_info()
        .map_err(|e| GribError::Compression(format!("PNG header: {e}")))?;
    let info = reader.info();
    let (width, height) = (u64::from(info.width), u64::from(info.height));
    let bits_per_pixel = info.bit_depth as u32 * info.color_type.samples() as u32;
    // The image must hold the values, and is never allowed to be much larger: its size comes
    // from its own header and must not decide what we allocate.
    let (pixels, count64) = (width.saturating_mul(height), count as u64);
    if width > count64 || pixels < count64 || pixels - count64 >= width {
        return Err(GribError::Inconsistent(format!(
            "PNG image has {width}x{height} pixels for {count} values"
        )));
    }
    if bits_per_pixel > 32 {
        return Err(GribError::Unsupported(format!(
            "PNG with {bits_per_pixel} bits per pixel"
        )));
    }
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let row = reader
            .next_row()
            .map_err(|e| GribError::Compression(format!("PNG: {e}")))?
            .ok_or_else(|| GribError::Inconsistent("PNG image ends early".into()))?;
        let mut bits = BitStream::new(row.data());
        let take = (want - out.len()).min(width as usize);
        for _ in 0..take {
            out.push(scaling.apply(f64::from(bits.read(bits_per_pixel))));
        }
        bits.check()?;
    }
    Ok(out)
}

/// Template 5.42: CCSDS, with our own decoder.
fn unpack_ccsds(field: &Packed<'_>, scaling: &Scaling, want: usize) -> Result<Vec<f32>, GribError> {
    let representation = field.representation;
    // Octets 21-25 of template 5.42; checked here so that a short section is an error naming it.
    let params = ccsds::Params {
        bits: scaling.bits,
        flags: representation.u8(22)?,
        block_size: u16::from(representation.u8(23)?),
        rsi: representation.u16(24)?,
    };
    let mut out = vec![0f32; want];
    ccsds::decode(params, field.data, &mut out, |x| {
        scaling.apply(f64::from(x))
    })?;
    Ok(out)
}

/// Template 5.40 (JPEG 2000, native builds only): the whole data section is needed (JPEG 2000
/// has no row order), then the first `want` values are kept.
#[cfg(not(target_arch = "wasm32"))]
fn unpack_jpeg2000(
    field: &Packed<'_>,
    scaling: &Scaling,
    want: usize,
) -> Result<Vec<f32>, GribError> {
    // Section 5 of template 5.40 has 23 octets (the type of compression and the target ratio
    // are not needed to decode).
    field.representation.u8(23)?;
    let samples = super::jpeg2000::decode(field.data, field.count)?;
    Ok(samples
        .into_iter()
        .take(want)
        .map(|x| scaling.apply(f64::from(x)))
        .collect())
}

#[cfg(target_arch = "wasm32")]
fn unpack_jpeg2000(_: &Packed<'_>, _: &Scaling, _: usize) -> Result<Vec<f32>, GribError> {
    Err(GribError::Unsupported(
        "data representation template 5.40 in this build (JPEG 2000 is native-only)".into(),
    ))
}
