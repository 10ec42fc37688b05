//! Unpacking the data section (GRIB2 section 7) according to section 5's template.
//!
//! Our own code handles simple packing (5.0), complex packing (5.2), complex packing with
//! spatial differencing (5.3) and PNG (5.41): the gribberish crate mishandles missing-value
//! management in 5.3, constant fields, PNG sample widths and 5.2 without spatial differencing
//! (see `shared/fixtures/SOURCES.md`), and these templates are short to write from the WMO
//! tables. CCSDS (5.42) and, natively, JPEG 2000 (5.40) are delegated to gribberish, whose
//! decoders agree with ecCodes on every fixture. All templates share `Y = (R + X·2^E) / 10^D`.

use super::bits::{sign_magnitude, BitReader, Octets};
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

    /// The value every point has in a constant field (`bits == 0`): the reference value
    /// itself, unscaled, as ecCodes and NCEP's g2clib read it.
    pub(crate) fn constant(&self) -> f32 {
        self.reference as f32
    }
}

/// Unpacks `count` values (the points that the bitmap marks present), NaN where the packing's
/// own missing-value management says so.
pub(crate) fn unpack(
    template: u16,
    representation: Octets<'_>,
    data: &[u8],
    count: usize,
) -> Result<Vec<f32>, GribError> {
    let scaling = Scaling::parse(representation)?;
    match template {
        // In every template but 5.2/5.3 (whose groups can mark missing values), zero bits per
        // value means every point is the reference value R.
        0 | 40 | 41 | 42 if scaling.bits == 0 => Ok(vec![scaling.constant(); count]),
        0 => unpack_simple(&scaling, data, count),
        2 | 3 => unpack_complex(template, representation, &scaling, data, count),
        41 => unpack_png(&scaling, data, count),
        40 | 42 => unpack_with_gribberish(representation, data, count),
        t => Err(GribError::Unsupported(format!(
            "data representation template 5.{t}"
        ))),
    }
}

fn unpack_simple(scaling: &Scaling, data: &[u8], count: usize) -> Result<Vec<f32>, GribError> {
    let mut reader = BitReader::new(data);
    let bits = u32::from(scaling.bits);
    reader.ensure(count, bits)?;
    (0..count)
        .map(|_| Ok(scaling.apply(f64::from(reader.read(bits)?))))
        .collect()
}

/// Templates 5.2 and 5.3: values in groups, each with a reference, a width and a length.
fn unpack_complex(
    template: u16,
    section: Octets<'_>,
    scaling: &Scaling,
    data: &[u8],
    count: usize,
) -> Result<Vec<f32>, GribError> {
    let missing_management = section.u8(23)?;
    let groups = section.u32(32)? as usize;
    let width_reference = u32::from(section.u8(36)?);
    let width_bits = u32::from(section.u8(37)?);
    let length_reference = section.u32(38)?;
    let length_increment = u32::from(section.u8(42)?);
    let last_length = section.u32(43)?;
    let length_bits = u32::from(section.u8(47)?);
    let (order, extra_octets) = if template == 3 {
        (section.u8(48)?, usize::from(section.u8(49)?))
    } else {
        (0, 0)
    };
    if order > 2 {
        return Err(GribError::Unsupported(format!(
            "spatial differencing of order {order}"
        )));
    }
    if groups > count.max(1) {
        return Err(GribError::Inconsistent(format!(
            "{groups} groups for {count} values"
        )));
    }
    let bits = u32::from(scaling.bits);
    let mut reader = BitReader::new(data);

    // Extra descriptors of 5.3: first value(s) and the minimum of the differences.
    let mut descriptors = [0i64; 3];
    if template == 3 && order > 0 {
        let octets = Octets::new(data, 7);
        for (k, d) in descriptors
            .iter_mut()
            .take(usize::from(order) + 1)
            .enumerate()
        {
            if extra_octets == 0 || extra_octets > 8 {
                return Err(GribError::Inconsistent(format!(
                    "{extra_octets} octets per spatial-differencing descriptor"
                )));
            }
            let raw = octets.uint(1 + k * extra_octets, extra_octets)?;
            *d = sign_magnitude(raw, (extra_octets * 8) as u32);
        }
        reader = BitReader::new(
            data.get(extra_octets * (usize::from(order) + 1)..)
                .unwrap_or(&[]),
        );
    }

    reader.ensure(groups, bits)?;
    let references: Vec<u32> = (0..groups)
        .map(|_| reader.read(bits))
        .collect::<Result<_, _>>()?;
    reader.align();
    reader.ensure(groups, width_bits)?;
    let widths: Vec<u32> = (0..groups)
        .map(|_| Ok(reader.read(width_bits)? + width_reference))
        .collect::<Result<_, GribError>>()?;
    reader.align();
    reader.ensure(groups, length_bits)?;
    let mut lengths: Vec<usize> = (0..groups)
        .map(|_| Ok((length_reference + reader.read(length_bits)? * length_increment) as usize))
        .collect::<Result<_, GribError>>()?;
    reader.align();
    if let Some(last) = lengths.last_mut() {
        *last = last_length as usize;
    }
    let total: usize = lengths.iter().sum();
    if total != count {
        return Err(GribError::Inconsistent(format!(
            "groups hold {total} values but section 5 announces {count}"
        )));
    }

    // Integer values (None = missing) before spatial differencing.
    let mut values: Vec<Option<i64>> = Vec::with_capacity(count);
    let all_ones = |w: u32| if w >= 32 { u32::MAX } else { (1u32 << w) - 1 };
    for ((&reference, &width), &length) in references.iter().zip(&widths).zip(&lengths) {
        if width > 32 {
            return Err(GribError::Inconsistent(format!("group width {width} bits")));
        }
        if width == 0 {
            let missing = match missing_management {
                1 => reference == all_ones(bits),
                2 => reference == all_ones(bits) || reference == all_ones(bits).wrapping_sub(1),
                _ => false,
            };
            let v = if missing {
                None
            } else {
                Some(i64::from(reference))
            };
            values.extend(std::iter::repeat_n(v, length));
            continue;
        }
        reader.ensure(length, width)?;
        let primary = all_ones(width);
        let secondary = primary.wrapping_sub(1);
        for _ in 0..length {
            let x = reader.read(width)?;
            let missing = match missing_management {
                1 => x == primary,
                2 => x == primary || x == secondary,
                _ => false,
            };
            values.push(if missing {
                None
            } else {
                Some(i64::from(reference) + i64::from(x))
            });
        }
    }

    if template == 3 && order > 0 {
        undo_spatial_differencing(&mut values, order, descriptors);
    }
    Ok(values
        .into_iter()
        .map(|v| v.map_or(f32::NAN, |x| scaling.apply(x as f64)))
        .collect())
}

/// Reverses first- or second-order spatial differencing over the non-missing values.
fn undo_spatial_differencing(values: &mut [Option<i64>], order: u8, descriptors: [i64; 3]) {
    let minimum = descriptors[usize::from(order)];
    let (mut previous, mut before_previous) = (0i64, 0i64);
    let mut n = 0usize;
    for value in values.iter_mut() {
        let Some(x) = value.as_mut() else { continue };
        let restored = if n < usize::from(order) {
            descriptors[n]
        } else if order == 1 {
            x.wrapping_add(minimum).wrapping_add(previous)
        } else {
            x.wrapping_add(minimum)
                .wrapping_add(previous.wrapping_mul(2))
                .wrapping_sub(before_previous)
        };
        *x = restored;
        before_previous = previous;
        previous = restored;
        n += 1;
    }
}

/// Template 5.41: the packed integers are the samples of a greyscale or colour PNG image.
fn unpack_png(scaling: &Scaling, data: &[u8], count: usize) -> Result<Vec<f32>, GribError> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder
        .read_info()
        .map_err(|e| GribError::Compression(format!("PNG header: {e}")))?;
    let mut buffer = vec![0u8; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buffer)
        .map_err(|e| GribError::Compression(format!("PNG: {e}")))?;
    let bits_per_pixel = frame.bit_depth as u32 * frame.color_type.samples() as u32;
    let (width, height) = (frame.width as usize, frame.height as usize);
    if width * height < count {
        return Err(GribError::Inconsistent(format!(
            "PNG image has {width}x{height} pixels for {count} values"
        )));
    }
    let mut out = Vec::with_capacity(count);
    for row in buffer.chunks(frame.line_size).take(height) {
        let mut bits = BitReader::new(row);
        for _ in 0..width {
            if out.len() == count {
                break;
            }
            out.push(scaling.apply(f64::from(bits.read(bits_per_pixel)?)));
        }
    }
    Ok(out)
}

/// Templates 5.42 (CCSDS) and 5.40 (JPEG 2000, native builds only) through gribberish.
fn unpack_with_gribberish(
    representation: Octets<'_>,
    data: &[u8],
    count: usize,
) -> Result<Vec<f32>, GribError> {
    use bitvec::prelude::*;
    use gribberish::sections::data_representation::DataRepresentationSection;
    let section_bytes = representation.tail_from(1)?;
    let section = DataRepresentationSection::from_data(section_bytes);
    let template = section.data_representation_template().ok_or_else(|| {
        GribError::Unsupported(format!(
            "data representation template 5.{} in this build (JPEG 2000 is native-only)",
            section.data_representation_template_number()
        ))
    })?;
    if data.is_empty() {
        return Err(GribError::DataTooShort {
            needed_bits: 8,
            available_bits: 0,
        });
    }
    let values = template
        .unpack(data.view_bits::<Msb0>())
        .map_err(|e| GribError::Compression(e.to_string()))?;
    if values.len() < count {
        return Err(GribError::Inconsistent(format!(
            "decompressed {} values, section 5 announces {count}",
            values.len()
        )));
    }
    Ok(values.into_iter().take(count).map(|v| v as f32).collect())
}
