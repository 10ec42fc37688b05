//! Row-limited decoding: on every fixture message with rows, the first rows decoded alone
//! (from the whole message and from a prefix cut after them) equal a full decode's.

use super::tests::GRIB_FIXTURES;
use super::*;
use crate::test_support::read_fixture;

/// Same values, NaN (missing) included.
fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[test]
fn first_rows_equal_a_full_decode_on_every_fixture() {
    let mut checked = std::collections::BTreeMap::<u16, usize>::new();
    let mut failures = Vec::new();
    for file in GRIB_FIXTURES {
        let bytes = read_fixture(file);
        for (offset, length) in scan(&bytes).unwrap() {
            let message = &bytes[offset as usize..(offset + length) as usize];
            let Ok(full) = decode(message) else { continue };
            let grid = &full.info.grid;
            let (Some(ni), Some(nj)) = (grid.ni, grid.nj) else {
                assert!(decode_rows(message, 1).is_err(), "{file}@{offset}");
                continue;
            };
            if grid
                .latlon
                .as_ref()
                .is_some_and(|g| g.scanning_mode & 0x20 != 0)
            {
                assert!(decode_rows(message, 1).is_err(), "{file}@{offset}");
                continue;
            }
            let template = full.info.packing.template;
            let label = format!("{file}@{offset} (5.{template})");
            for rows in [1, nj / 2 + 1, nj] {
                let n = rows * ni;
                let part = match decode_rows(message, rows) {
                    Ok(p) => p,
                    Err(e) => {
                        failures.push(format!("{label} {rows} rows: {e}"));
                        continue;
                    }
                };
                if !same(&part.values, &full.values[..n]) {
                    failures.push(format!("{label}: {rows} rows differ from a full decode"));
                    continue;
                }
                // From a prefix: exact lengths are exact (one byte less fails); otherwise the
                // guess either decodes the same values or says the data is too short.
                let need = bytes_for_rows(message, rows).unwrap();
                let prefix = match need {
                    BytesForRows::Exact(len) => {
                        let len = len as usize;
                        if len < message.len() && decode_rows(&message[..len - 1], rows).is_ok() {
                            failures.push(format!("{label}: {len} - 1 bytes decode {rows} rows"));
                        }
                        len
                    }
                    BytesForRows::Unknown { at_least, guess } => {
                        assert!(at_least <= guess && guess <= length, "{label}");
                        guess as usize
                    }
                };
                match decode_rows(&message[..prefix], rows) {
                    Ok(p) if same(&p.values, &full.values[..n]) => {}
                    Ok(_) => failures.push(format!("{label}: {rows} rows from a prefix differ")),
                    Err(GribError::DataTooShort { .. } | GribError::Compression(_))
                        if !matches!(need, BytesForRows::Exact(_)) => {}
                    Err(e) => failures.push(format!("{label}: {rows} rows from {prefix} B: {e}")),
                }
            }
            *checked.entry(template).or_default() += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Every packing gik decodes with rows is covered.
    for template in [0, 2, 3, 41, 42] {
        assert!(
            checked.get(&template).is_some_and(|&n| n > 0),
            "5.{template}: {checked:?}"
        );
    }
}

/// The East Africa box on an ECMWF 0.25° CCSDS message: rows 0–408 from about 60 % of the bytes.
#[test]
fn ccsds_rows_decode_from_a_prefix() {
    let bytes = read_fixture("ecmwf/aifs-ens-cf-t500.grib2");
    let full = decode(&bytes).unwrap();
    let rows = 409;
    let BytesForRows::Unknown { guess, .. } = bytes_for_rows(&bytes, rows).unwrap() else {
        panic!("CCSDS cannot know its byte count in advance");
    };
    assert!((guess as f64) < 0.7 * bytes.len() as f64, "{guess}");
    let part = decode_rows(&bytes[..guess as usize], rows).unwrap();
    assert!(same(&part.values, &full.values[..rows * 1440]));
    // Cut well before the rows' bits: an error, not wrong values.
    assert!(matches!(
        decode_rows(&bytes[..guess as usize / 2], rows),
        Err(GribError::DataTooShort { .. })
    ));
    // Too many rows.
    assert!(decode_rows(&bytes, 722).is_err());
}

/// Row-limited decoding of one field of a multi-field message.
#[test]
fn rows_of_a_later_field() {
    let file = "misc/Z__C_RJTD_20170221120000_MSG_GPV_Gll0p5deg_Pys_B20170221120000_F2017022115-2017022212_grib2.bin";
    let bytes = read_fixture(file);
    let full = decode_field(&bytes, 3).unwrap();
    let ni = full.info.grid.ni.unwrap();
    let part = decode_field_rows(&bytes, 3, 5).unwrap();
    assert!(same(&part.values, &full.values[..5 * ni]));
    assert!(!same(
        &decode_field_rows(&bytes, 0, 5).unwrap().values,
        &part.values
    ));
}
