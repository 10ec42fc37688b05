//! Section 5 and the packed data of section 7: simple packing (5.0) and complex packing with
//! second-order spatial differencing (5.3), both from integers already scaled (R, E, D kept).

use super::write::{put_u16, put_u32, sign_magnitude, BitWriter, DataPacking, Scale};
use super::EncodeError;

/// Section 5 and the data of section 7.
type Packed = (Vec<u8>, Vec<u8>);

/// Group lengths tried for complex packing; the one giving the fewest bits wins.
const GROUP_LENGTHS: [usize; 5] = [8, 16, 32, 64, 128];

/// Section 5 and section 7's data (after its 5-octet header) for `integers`.
pub(super) fn pack(
    scale: &Scale,
    integers: &[u32],
    packing: DataPacking,
) -> Result<Packed, EncodeError> {
    let bits = scale.bits;
    if let Some(x) = integers.iter().find(|&&x| bits < 32 && x >> bits != 0) {
        return Err(EncodeError::Overflow(format!(
            "packed integer {x} wider than {bits} bits"
        )));
    }
    if packing == DataPacking::ComplexSpatial {
        let simple_len = 21 + (integers.len() as u64 * u64::from(bits)).div_ceil(8);
        if let Some(packed) = complex(scale, integers)? {
            if ((packed.0.len() + packed.1.len()) as u64) < simple_len {
                return Ok(packed);
            }
        }
    }
    let mut data = BitWriter::default();
    for &x in integers {
        data.push(u64::from(x), bits);
    }
    Ok((simple_section(scale, integers.len())?, data.finish()))
}

/// Section 5, template 5.0 (21 octets), for `count` packed values.
pub(super) fn simple_section(scale: &Scale, count: usize) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(21);
    put_u32(&mut out, 21);
    out.push(5);
    put_u32(&mut out, count_u32(count)?);
    put_u16(&mut out, 0);
    scale_octets(&mut out, scale)?;
    out.push(scale.original_type);
    Ok(out)
}

fn count_u32(count: usize) -> Result<u32, EncodeError> {
    u32::try_from(count).map_err(|_| EncodeError::Overflow(format!("{count} values")))
}

/// Octets 12–20: R, E, D, bits per value.
fn scale_octets(out: &mut Vec<u8>, scale: &Scale) -> Result<(), EncodeError> {
    let signed16 = |v: i16| {
        sign_magnitude(i64::from(v), 16)
            .map(|v| v as u16)
            .ok_or_else(|| EncodeError::Overflow(format!("scale factor {v}")))
    };
    out.extend_from_slice(&scale.reference.to_be_bytes());
    put_u16(out, signed16(scale.binary_scale)?);
    put_u16(out, signed16(scale.decimal_scale)?);
    out.push(scale.bits);
    Ok(())
}

/// Number of bits needed to write `v` (0 for 0).
fn width(v: u64) -> u8 {
    (64 - v.leading_zeros()) as u8
}

/// One way to split the differenced values into groups of `length`.
struct Layout {
    length: usize,
    references: Vec<u64>,
    widths: Vec<u8>,
    reference_bits: u8,
    width_reference: u8,
    width_bits: u8,
    bits: u64,
}

fn layout(values: &[u64], length: usize) -> Option<Layout> {
    let mut references = Vec::with_capacity(values.len().div_ceil(length));
    let mut widths = Vec::with_capacity(references.capacity());
    let mut value_bits = 0u64;
    for group in values.chunks(length) {
        let min = group.iter().copied().min().unwrap_or(0);
        let max = group.iter().copied().max().unwrap_or(0);
        let w = width(max - min);
        if w > 32 {
            return None;
        }
        references.push(min);
        widths.push(w);
        value_bits += group.len() as u64 * u64::from(w);
    }
    let reference_bits = width(references.iter().copied().max().unwrap_or(0)).max(1);
    let width_reference = widths.iter().copied().min().unwrap_or(0);
    let width_bits = width(u64::from(
        widths.iter().copied().max().unwrap_or(0) - width_reference,
    ));
    if reference_bits > 32 {
        return None;
    }
    let groups = references.len() as u64;
    let padded = |bits: u64| bits.div_ceil(8) * 8;
    let bits = padded(groups * u64::from(reference_bits))
        + padded(groups * u64::from(width_bits))
        + value_bits;
    Some(Layout {
        length,
        references,
        widths,
        reference_bits,
        width_reference,
        width_bits,
        bits,
    })
}

/// Template 5.3 with second-order differencing, or `None` when the field does not suit it.
fn complex(scale: &Scale, integers: &[u32]) -> Result<Option<Packed>, EncodeError> {
    let n = integers.len();
    if n < 3 {
        return Ok(None);
    }
    let (values, descriptors) = second_order(integers);
    let Some(octets) = (1..=4u32).find(|&o| {
        descriptors
            .iter()
            .all(|&d| sign_magnitude(d, o * 8).is_some())
    }) else {
        return Ok(None);
    };
    let Some(best) = GROUP_LENGTHS
        .iter()
        .filter_map(|&l| layout(&values, l))
        .min_by_key(|l| l.bits)
    else {
        return Ok(None);
    };
    let data = complex_data(&descriptors, octets, &best, &values);
    let section5 = complex_section(scale, n, &best, octets)?;
    Ok(Some((section5, data)))
}

/// The second-order differences of `integers` (at least 3) minus their minimum, after two
/// zero slots for the first two values, and the extra descriptors: the first two values and
/// the minimum.
fn second_order(integers: &[u32]) -> (Vec<u64>, [i64; 3]) {
    let x = |i: usize| i64::from(integers[i]);
    let differences: Vec<i64> = (2..integers.len())
        .map(|i| x(i) - 2 * x(i - 1) + x(i - 2))
        .collect();
    let minimum = differences.iter().copied().min().unwrap_or(0);
    // The first two values are restored from the descriptors; their slots are written as 0.
    let values: Vec<u64> = [0, 0]
        .into_iter()
        .chain(differences.iter().map(|&d| (d - minimum) as u64))
        .collect();
    (values, [x(0), x(1), minimum])
}

/// The data of section 7 for template 5.3: the extra descriptors on `octets` octets each, the
/// group references, the group widths, then the values of each group.
fn complex_data(descriptors: &[i64], octets: u32, best: &Layout, values: &[u64]) -> Vec<u8> {
    let mut data = Vec::new();
    for &d in descriptors {
        let raw = sign_magnitude(d, octets * 8).unwrap_or(0);
        data.extend_from_slice(&raw.to_be_bytes()[8 - octets as usize..]);
    }
    let mut references = BitWriter::default();
    for &r in &best.references {
        references.push(r, best.reference_bits);
    }
    data.extend(references.finish());
    let mut widths = BitWriter::default();
    for &w in &best.widths {
        widths.push(u64::from(w - best.width_reference), best.width_bits);
    }
    data.extend(widths.finish());
    // Group lengths: all `length` (0 bits each), the last one in octets 43–46.
    let mut packed = BitWriter::default();
    for ((group, &r), &w) in values
        .chunks(best.length)
        .zip(&best.references)
        .zip(&best.widths)
    {
        for &v in group {
            packed.push(v - r, w);
        }
    }
    data.extend(packed.finish());
    data
}

/// Section 5, template 5.3 (49 octets), for `n` values in the groups of `best`.
fn complex_section(
    scale: &Scale,
    n: usize,
    best: &Layout,
    octets: u32,
) -> Result<Vec<u8>, EncodeError> {
    let groups = best.references.len();
    let last = n - (groups - 1) * best.length;
    let scale = Scale {
        bits: best.reference_bits,
        ..*scale
    };
    let mut s5 = Vec::with_capacity(49);
    put_u32(&mut s5, 49);
    s5.push(5);
    put_u32(&mut s5, count_u32(n)?);
    put_u16(&mut s5, 3);
    scale_octets(&mut s5, &scale)?;
    s5.push(scale.original_type); // 21
    s5.push(1); // 22: group splitting method: general
    s5.push(0); // 23: no missing value management (a bitmap marks missing points)
    put_u32(&mut s5, u32::MAX); // 24-27: primary missing value substitute (unused)
    put_u32(&mut s5, u32::MAX); // 28-31: secondary
    put_u32(&mut s5, count_u32(groups)?); // 32-35
    s5.push(best.width_reference); // 36
    s5.push(best.width_bits); // 37
    put_u32(&mut s5, count_u32(best.length)?); // 38-41: reference for group lengths
    s5.push(1); // 42: length increment
    put_u32(&mut s5, count_u32(last)?); // 43-46: true length of the last group
    s5.push(0); // 47: bits for the scaled group lengths (all equal)
    s5.push(2); // 48: second-order spatial differencing
    s5.push(octets as u8); // 49: octets per extra descriptor
    Ok(s5)
}
