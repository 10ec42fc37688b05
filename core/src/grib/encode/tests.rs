//! The encoder on every regular lat/lon fixture message: crops equal the full decode in the
//! box, bit for bit, with both packings; hand-made fields round-trip; bad input is an error.

use super::*;
use crate::geo::BBox;
use crate::grib::tests::GRIB_FIXTURES;
use crate::grib::{decode, scan};
use crate::icpac::EAST_AFRICA;
use crate::test_support::read_fixture;

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// A box of about 4 × 4 grid steps around the middle point of a lat/lon grid.
fn middle_box(grid: &crate::grib::Grid) -> Option<BBox> {
    let g = grid.latlon.as_ref()?;
    let (ni, nj) = (grid.ni?, grid.nj?);
    let (lat, lon) = grid.coordinates((nj / 2) * ni + ni / 2)?;
    Some(BBox {
        south: (lat - 2.0 * g.dj).max(-90.0),
        north: (lat + 2.0 * g.dj).min(90.0),
        west: crate::geo::wrap_lon(lon - 2.0 * g.di),
        east: crate::geo::wrap_lon(lon + 2.0 * g.di),
    })
}

#[test]
fn crops_equal_the_full_decode_on_every_fixture() {
    let mut checked = std::collections::BTreeMap::<u16, usize>::new();
    let mut sizes = Vec::new();
    for file in GRIB_FIXTURES {
        let bytes = read_fixture(file);
        for (offset, length) in scan(&bytes).unwrap() {
            let message = &bytes[offset as usize..(offset + length) as usize];
            let Ok(full) = decode(message) else { continue };
            let Some(g) = full.info.grid.latlon.clone() else {
                continue;
            };
            // Increments that are not whole thousandths of a degree (1/6°: 0.166667) do not
            // land on geo's lattice exactly over a whole grid: geo does not crop them.
            let thousandths = |d: f64| ((d * 1e3) - (d * 1e3).round()).abs() < 1e-6;
            if g.gaussian
                || g.scanning_mode & 0x30 != 0
                || full.info.grid.template != 0
                || !thousandths(g.di)
                || !thousandths(g.dj)
            {
                continue;
            }
            let label = format!("{file}@{offset}");
            let mut boxes: Vec<BBox> = middle_box(&full.info.grid).into_iter().collect();
            let global = full
                .info
                .grid
                .ni
                .is_some_and(|ni| ni as f64 * g.di >= 359.0);
            if global {
                boxes.push(EAST_AFRICA);
            }
            for bbox in boxes {
                let simple = crop_message(message, &bbox, DataPacking::Simple)
                    .unwrap_or_else(|e| panic!("{label} {bbox}: {e}"));
                let complex = crop_message(message, &bbox, DataPacking::ComplexSpatial)
                    .unwrap_or_else(|e| panic!("{label} {bbox}: {e}"));
                for cropped in [&simple, &complex] {
                    let again = decode(&cropped.bytes).unwrap();
                    assert_eq!(again.info.metadata, full.info.metadata, "{label}");
                    assert_eq!(again.values.len(), cropped.grid.points(), "{label}");
                    let (lats, lons) = (
                        again.info.grid.latitudes().unwrap(),
                        again.info.grid.longitudes().unwrap(),
                    );
                    assert_eq!(lats.len(), cropped.grid.rows(), "{label}");
                    for (i, &v) in again.values.iter().enumerate() {
                        let (lat, lon) = (lats[i / lons.len()], lons[i % lons.len()]);
                        let Some(source) = full.info.grid.nearest_index(lat, lon) else {
                            assert!(v.is_nan(), "{label}: ({lat}, {lon}) is outside the source");
                            continue;
                        };
                        assert!(
                            same(v, full.values[source]),
                            "{label} {bbox} point {i} ({lat}, {lon}): {v} vs {}",
                            full.values[source]
                        );
                        assert!((lat - cropped.grid.latitudes[i / lons.len()]).abs() < 1e-5);
                        let dlon =
                            crate::geo::wrap_lon(lon - cropped.grid.longitudes[i % lons.len()]);
                        assert!(dlon.abs() < 1e-5, "{label}: longitude {lon}");
                    }
                }
                if bbox == EAST_AFRICA {
                    sizes.push((
                        label.clone(),
                        full.info.packing.template,
                        length,
                        simple.bytes.len(),
                        complex.bytes.len(),
                    ));
                }
                *checked.entry(full.info.packing.template).or_default() += 1;
            }
        }
    }
    for template in [0, 3, 42] {
        assert!(
            checked.get(&template).copied().unwrap_or(0) >= 2,
            "too few 5.{template} messages cropped: {checked:?}"
        );
    }
    assert!(sizes.len() >= 5, "{sizes:?}");
    for (label, template, length, simple, complex) in &sizes {
        assert!(complex <= simple, "{label}: 5.3 {complex} > 5.0 {simple}");
        println!("{label} (5.{template}): {length} bytes, East Africa 5.0 {simple}, 5.3 {complex}");
    }
}

fn sections_1_and_4() -> (Vec<u8>, Vec<u8>) {
    let mut s1 = vec![
        0, 0, 0, 21, 1, 0, 98, 0, 0, 30, 0, 1, 7, 233, 8, 1, 0, 0, 0, 0, 2,
    ];
    s1.truncate(21);
    // Template 4.0: temperature (0.0.0) at 2 m, step 6 h.
    let s4 = vec![
        0, 0, 0, 34, 4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 6, 103, 0, 0, 0, 0, 2, 255,
        255, 255, 255, 255, 255,
    ];
    (s1, s4)
}

fn grid(ni: u32, nj: u32) -> RegularGrid {
    RegularGrid {
        ni,
        nj,
        la1: 10_000_000,
        lo1: -5_000_000,
        la2: 10_000_000 - (nj as i32 - 1) * 1_000_000,
        lo2: -5_000_000 + (i64::from(ni) - 1) * 1_000_000,
        di: 1_000_000,
        dj: 1_000_000,
        earth: RegularGrid::SPHERE_6371229,
        flags: 0,
    }
}

#[test]
fn written_fields_decode_to_their_values() {
    let (s1, s4) = sections_1_and_4();
    let g = grid(20, 10);
    let scale = Scale {
        reference: 250.0,
        binary_scale: -2,
        decimal_scale: 1,
        bits: 12,
        original_type: 0,
    };
    // A smooth field (what spatial differencing is for) with a bump, two points missing.
    let integers: Vec<u32> = (0..200u32)
        .map(|i| 40 * (i / 20) + 3 * (i % 20) + u32::from(i == 77) * 900)
        .collect();
    let mut present: Vec<bool> = vec![true; 200];
    present[3] = false;
    present[120] = false;
    let field = PackedField {
        scale,
        present: Some(present.clone()),
        integers: integers[..198].to_vec(),
    };
    for packing in [DataPacking::Simple, DataPacking::ComplexSpatial] {
        let bytes = write_message(0, &s1, &g, &s4, &field, packing).unwrap();
        let d = decode(&bytes).unwrap();
        assert_eq!(
            d.info.packing.template,
            if packing == DataPacking::Simple { 0 } else { 3 }
        );
        assert_eq!((d.info.grid.ni, d.info.grid.nj), (Some(20), Some(10)));
        assert_eq!(
            d.info.metadata.time,
            crate::index::ForecastTime::Lead { minutes: 360 }
        );
        let mut x = field.integers.iter();
        for (i, v) in d.values.iter().enumerate() {
            if !present[i] {
                assert!(v.is_nan(), "{packing:?} point {i}");
                continue;
            }
            let want = ((250.0 + f64::from(*x.next().unwrap()) * 0.25) * 0.1) as f32;
            assert_eq!(*v, want, "{packing:?} point {i}");
        }
        let (lat, lon) = d.info.grid.coordinates(199).unwrap();
        assert_eq!((lat, crate::geo::wrap_lon(lon)), (1.0, 14.0));
    }
    // A constant field: every point is R.
    let constant = PackedField {
        scale: Scale { bits: 0, ..scale },
        present: None,
        integers: Vec::new(),
    };
    let d =
        decode(&write_message(0, &s1, &g, &s4, &constant, DataPacking::ComplexSpatial).unwrap())
            .unwrap();
    assert!(d.values.iter().all(|&v| v == 250.0));
    // Zeros compress to group descriptors only.
    let zeros = PackedField {
        scale,
        present: None,
        integers: vec![0; 200],
    };
    let small = write_message(0, &s1, &g, &s4, &zeros, DataPacking::ComplexSpatial).unwrap();
    let d = decode(&small).unwrap();
    assert!(d.values.iter().all(|&v| v == 25.0));
}

#[test]
fn bad_input_is_an_error() {
    let (s1, s4) = sections_1_and_4();
    let g = grid(3, 2);
    let scale = Scale {
        reference: 0.0,
        binary_scale: 0,
        decimal_scale: 0,
        bits: 4,
        original_type: 0,
    };
    let field = |integers: Vec<u32>| PackedField {
        scale,
        present: None,
        integers,
    };
    let simple = DataPacking::Simple;
    assert!(matches!(
        write_message(0, &s1, &g, &s4, &field(vec![1; 5]), simple),
        Err(EncodeError::Overflow(_))
    ));
    assert!(matches!(
        write_message(0, &s1, &g, &s4, &field(vec![16; 6]), simple),
        Err(EncodeError::Overflow(_))
    ));
    assert!(matches!(
        write_message(0, &s4, &g, &s4, &field(vec![1; 6]), simple),
        Err(EncodeError::BadSection { section: 1, .. })
    ));
    assert!(matches!(
        write_message(0, &s1, &g, &s1[..10], &field(vec![1; 6]), simple),
        Err(EncodeError::BadSection { section: 4, .. })
    ));
    // A box outside a regional grid, and a non-GRIB source.
    let bytes = write_message(0, &s1, &g, &s4, &field(vec![1; 6]), simple).unwrap();
    let far = BBox {
        south: -50.0,
        north: -40.0,
        west: 100.0,
        east: 110.0,
    };
    assert!(matches!(
        crop_message(&bytes, &far, DataPacking::ComplexSpatial),
        Err(EncodeError::Geometry(_))
    ));
    assert!(matches!(
        crop_message(b"not grib at all, no", &EAST_AFRICA, DataPacking::Simple),
        Err(EncodeError::Source(_))
    ));
    assert_eq!(sign_magnitude(-5, 8), Some(0x85));
    assert_eq!(sign_magnitude(128, 8), None);
}
