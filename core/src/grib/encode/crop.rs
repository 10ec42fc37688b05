//! The crop of one message to a box, re-encoded without loss.

use super::write::{write_message, DataPacking, PackedField, RegularGrid, Scale};
use super::EncodeError;
use crate::geo::{BBox, CropMap, Lattice, OutputGrid};
use crate::grib::sections::{split_field, Cut};
use crate::grib::unpack::Scaling;
use crate::grib::{decode, decode_rows, describe};

/// A message cropped to a box.
#[derive(Clone, Debug, PartialEq)]
pub struct Cropped {
    /// The new message (sections 0–8).
    pub bytes: Vec<u8>,
    /// Its grid: the source lattice's points inside the box.
    pub grid: OutputGrid,
    /// Its values, row by row from the north (NaN: missing), equal bit for bit to the source
    /// message's values at the same points.
    pub values: Vec<f32>,
}

/// Crops the message at the start of `message` (its first field) to `bbox` and writes it with
/// `packing`: sections 1 and 4 copied (so the variable, level, step and member are the
/// source's), a regular lat/lon grid for the box's points, the source's R, E and D and each
/// value's packed integer. The result is decoded again and must give the source's values bit
/// for bit ([`EncodeError::NotLossless`] otherwise). Points of the box outside a regional
/// source grid are missing (bitmap).
pub fn crop_message(
    message: &[u8],
    bbox: &BBox,
    packing: DataPacking,
) -> Result<Cropped, EncodeError> {
    let info = describe(message)?;
    let lattice = Lattice::of_grid(&info.grid).ok_or_else(|| {
        crate::geo::GeoError::Unsupported(format!(
            "grid template 3.{} is not a regular latitude/longitude grid",
            info.grid.template
        ))
    })?;
    let out = OutputGrid::new(bbox, lattice)?;
    let map = CropMap::new(&info.grid, &out)?;
    if map.covered() == 0 {
        return Err(crate::geo::GeoError::BadBox {
            text: bbox.to_string(),
            reason: "the message's grid has no point inside the box".into(),
        }
        .into());
    }
    let values = map.apply(&decode_rows(message, map.rows_needed())?.values)?;

    let s = split_field(message, 0, Cut::Whole)?;
    let r = s.representation;
    let template = r.u16(10)?;
    let source_bits = r.u8(20)?;
    let reference = r.f32(12)?;
    let constant = source_bits == 0 && matches!(template, 0 | 40 | 41 | 42);
    let present: Vec<bool> = values.iter().map(|v| !v.is_nan()).collect();
    let scaling = Scaling::parse(r)?;
    let mut integers = Vec::with_capacity(if constant { 0 } else { values.len() });
    if !constant {
        for (index, &v) in values.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
            let x = scaling
                .packed_of(v)
                .ok_or_else(|| EncodeError::NotLossless {
                    index,
                    reason: format!("value {v} has no packed integer under the source's R, E, D"),
                })?;
            integers.push(x);
        }
    }
    let max = integers.iter().copied().max().unwrap_or(0);
    let bits = if constant {
        0
    } else {
        ((32 - max.leading_zeros()) as u8).max(1)
    };
    let scale = Scale {
        reference,
        binary_scale: i16::try_from(r.signed(16, 2)?).unwrap_or(0),
        decimal_scale: i16::try_from(r.signed(18, 2)?).unwrap_or(0),
        bits,
        original_type: r.u8(21)?,
    };
    let field = PackedField {
        scale,
        present: present.iter().any(|p| !p).then_some(present),
        integers,
    };
    let grid = regular_grid(&out, s.grid.tail_from(15)?, s.grid.u8(55).unwrap_or(0x30))?;
    let bytes = write_message(
        s.discipline,
        s.identification.tail_from(1)?,
        &grid,
        s.product.tail_from(1)?,
        &field,
        packing,
    )?;
    verify(&bytes, &values)?;
    Ok(Cropped {
        bytes,
        grid: out,
        values,
    })
}

/// The template 3.0 grid of `out`, with the source's Earth (`earth`: octets 15– of its
/// section 3) and resolution flags.
fn regular_grid(out: &OutputGrid, earth: &[u8], flags: u8) -> Result<RegularGrid, EncodeError> {
    let micro = |x: f64| (x * 1e6).round() as i64;
    let count = |n: usize| {
        u32::try_from(n).map_err(|_| EncodeError::Overflow(format!("{n} rows or columns")))
    };
    let (Some(&north), Some(&south), Some(&west), Some(&east)) = (
        out.latitudes.first(),
        out.latitudes.last(),
        out.longitudes.first(),
        out.longitudes.last(),
    ) else {
        return Err(EncodeError::Overflow("an empty grid".into()));
    };
    let mut shape = RegularGrid::SPHERE_6371229;
    if let Some(e) = earth.get(..16) {
        shape.copy_from_slice(e);
    }
    let lat = |x: f64| {
        i32::try_from(micro(x)).map_err(|_| EncodeError::Overflow(format!("latitude {x}")))
    };
    let step = |x: f64| {
        u32::try_from(micro(x)).map_err(|_| EncodeError::Overflow(format!("increment {x}")))
    };
    Ok(RegularGrid {
        ni: count(out.cols())?,
        nj: count(out.rows())?,
        la1: lat(north)?,
        lo1: micro(west),
        la2: lat(south)?,
        lo2: micro(east),
        di: step(out.dlon())?,
        dj: step(out.dlat())?,
        earth: shape,
        flags,
    })
}

/// Decodes `bytes` and checks that it gives `values` bit for bit (NaN where NaN).
fn verify(bytes: &[u8], values: &[f32]) -> Result<(), EncodeError> {
    let decoded = decode(bytes)?;
    if decoded.values.len() != values.len() {
        return Err(EncodeError::NotLossless {
            index: decoded.values.len().min(values.len()),
            reason: format!(
                "wrote {} points, the crop has {}",
                decoded.values.len(),
                values.len()
            ),
        });
    }
    let same = |a: f32, b: f32| (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
    match decoded
        .values
        .iter()
        .zip(values)
        .position(|(&a, &b)| !same(a, b))
    {
        None => Ok(()),
        Some(index) => Err(EncodeError::NotLossless {
            index,
            reason: format!(
                "decodes to {}, the source has {}",
                decoded.values[index], values[index]
            ),
        }),
    }
}
