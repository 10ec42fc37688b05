//! Prefix reads on real messages: the rows decoded from a prefix equal a full decode's, in the
//! East Africa box, for GEFS-style complex packing (5.3) and ECMWF's CCSDS (5.42); and how much
//! of each message they read (printed: `cargo test -p gik-app prefix -- --nocapture`).

use std::cell::Cell;
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gik_core::icpac::EAST_AFRICA;

use super::*;
use crate::compute::Crop;
use crate::worker::DecodeError;

/// The shared real fixtures (`$GIK_FIXTURES`, else beside the workspace, else /work/shared).
pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let dirs = [
        std::env::var_os("GIK_FIXTURES").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    for dir in dirs.into_iter().flatten() {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            return bytes;
        }
    }
    panic!("fixture {name} not found (set GIK_FIXTURES)");
}

/// Polls a future whose reads are all ready (no executor needed).
pub(crate) fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fake reads are always ready"),
    }
}

/// The global 0.25° messages of the fixtures, with their packing.
fn messages(files: &[&str]) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for file in files {
        let bytes = fixture(file);
        for (offset, length) in grib::scan(&bytes).unwrap() {
            let m = bytes[offset as usize..(offset + length) as usize].to_vec();
            let info = grib::describe(&m).unwrap();
            // Global grids only (the box is a real share of their rows), not constant fields.
            let global = info.grid.nj.is_some_and(|nj| nj > 360) && info.grid.ni.is_some();
            if global && m.len() > 4096 {
                let key = format!("{file}:{}", info.metadata.short_name);
                out.push((format!("{file}@{offset}"), key, m));
            }
        }
    }
    assert!(!out.is_empty(), "no global 0.25° message in {files:?}");
    out
}

/// Reads each message through [`read_rows`] (learning hints per file and variable, as the
/// app does per array) and checks the box's values against a full decode; returns the share of the bytes
/// read over all messages. A message may need all its bytes (ECMWF's snow albedo carries its
/// information in the north: the CCSDS estimate falls short and the reads step on to the end).
fn box_reads(files: &[&str]) -> f64 {
    let mut hints = Hints::new();
    let (mut read_total, mut message_total) = (0u64, 0u64);
    for (label, key, message) in messages(files) {
        let length = message.len() as u64;
        let full = grib::decode(&message).unwrap();
        let crop = Crop::new(&full.info.grid, &EAST_AFRICA, usize::MAX).unwrap();
        let expected = crop.apply(&full.values).unwrap();
        let served = Cell::new(0u64);
        let first = hints.first_read(&key, length);
        let read = |from: u64, to: u64| {
            assert!(
                from < to && to <= length,
                "{label}: read {from}..{to} of {length}"
            );
            served.set(served.get() + (to - from));
            std::future::ready(Ok::<_, String>(
                message[from as usize..to as usize].to_vec(),
            ))
        };
        let decode = |prefix: &[u8], rows: usize, _: &()| {
            std::future::ready(
                grib::decode_rows(prefix, rows)
                    .map_err(DecodeError::from)
                    .and_then(|d| Ok(crop.apply(&d.values)?)),
            )
        };
        let rows_of = |_: &grib::MessageInfo| Ok((crop.rows_needed(), ()));
        let got = run(read_rows(length, first, read, rows_of, decode)).unwrap();
        assert_eq!(got.fetched, served.get(), "{label}");
        let values = got.decoded;
        assert_eq!(values.len(), expected.len(), "{label}");
        for (a, b) in values.iter().zip(&expected) {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{label}"
            );
        }
        println!(
            "{label}: {} of {length} bytes ({:.0} %), {} request(s), rows {} of {}, {:?}",
            got.fetched,
            100.0 * got.fetched as f64 / length as f64,
            got.requests,
            crop.rows_needed(),
            full.info.grid.nj.unwrap_or(0),
            got.need
        );
        assert!(got.requests <= 10, "{label}: {} requests", got.requests);
        hints.learn(&key, length, got.need);
        read_total += got.fetched;
        message_total += length;
    }
    read_total as f64 / message_total as f64
}

#[test]
fn complex_packing_prefix_gives_the_full_decode_in_the_box() {
    let share = box_reads(&[
        "gfs/gfs.20200325.t18z.pgrb2.0p25.f006",
        "gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2",
        "gfs/gdas.t12z.pgrb2.0p25.f000.12",
    ]);
    println!("5.3: {:.1} % of the bytes", share * 100.0);
    assert!(share < 0.8, "5.3 read {:.1} %", share * 100.0);
}

#[test]
fn ccsds_prefix_gives_the_full_decode_in_the_box() {
    let share = box_reads(&[
        "ecmwf/20240101000000-0h-oper-fc.grib2.0-10",
        "ecmwf/ecmwf-ifs-oper-surface.grib2",
        "ecmwf/aifs-ens-cf-t500.grib2",
    ]);
    println!("5.42: {:.1} % of the bytes", share * 100.0);
    assert!(share < 0.8, "5.42 read {:.1} %", share * 100.0);
}

#[test]
fn bad_bytes_and_failed_reads_are_errors_not_values() {
    let decode = |p: &[u8], r: usize, _: &()| std::future::ready(grib::decode_rows(p, r));
    let rows_of = |_: &grib::MessageInfo| Ok::<_, String>((1, ()));
    // Not a GRIB message: read to the end, then the header's error.
    let junk = vec![0u8; 40_000];
    let read = |a: u64, b: u64| std::future::ready(Ok(junk[a as usize..b as usize].to_vec()));
    match run(read_rows(40_000, 100, read, rows_of, decode)) {
        Err(ReadRowsError::Decode(e)) => assert!(e.to_string().contains("not a GRIB"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A failed read is the caller's error, unchanged.
    let failing = |_: u64, _: u64| std::future::ready(Err::<Vec<u8>, _>("404".to_string()));
    match run(read_rows(40_000, 100, failing, rows_of, decode)) {
        Err(ReadRowsError::Other(e)) => assert_eq!(e, "404"),
        other => panic!("{other:?}"),
    }
    // A message whose data section is cut short: reads on to its end, then decodes it.
    let message = messages(&["gfs/gfs.20200325.t18z.pgrb2.0p25.f006"])
        .remove(0)
        .2;
    let length = message.len() as u64;
    let read = |a: u64, b: u64| {
        std::future::ready(Ok::<_, String>(message[a as usize..b as usize].to_vec()))
    };
    let all_rows = |i: &grib::MessageInfo| Ok::<_, String>((i.grid.nj.unwrap_or(1), ()));
    let got = run(read_rows(length, 10, read, all_rows, decode)).unwrap();
    assert_eq!(got.fetched, length);
    assert_eq!(got.decoded.values, grib::decode(&message).unwrap().values);
}

#[test]
fn hints_size_the_first_read_from_what_was_needed() {
    let mut h = Hints::new();
    assert!(!h.knows("a"));
    assert_eq!(h.first_read("a", 1_000_000), HEAD_BYTES);
    assert_eq!(h.first_read("a", 100), 100);
    h.learn("a", 1_000_000, Need::Exact(600_000));
    assert!(h.knows("a"));
    let first = h.first_read("a", 1_000_000);
    assert!((620_000..=625_000).contains(&first), "{first}");
    // A smaller need lowers the hint only slowly; a larger one raises it at once.
    h.learn("a", 1_000_000, Need::Enough(100_000));
    assert!(h.first_read("a", 1_000_000) > 600_000);
    h.learn("a", 1_000_000, Need::Enough(900_000));
    assert!(h.first_read("a", 1_000_000) > 900_000);
    assert_eq!(h.first_read("b", 1_000_000), HEAD_BYTES);
}
