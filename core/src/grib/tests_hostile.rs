//! Hostile messages (issue 8): tiny messages whose headers ask for huge allocations or wrap
//! size products on wasm32, and sections too short for their template. Each is built here by
//! patching a real fixture message and must be a clean error.

use super::*;
use crate::test_support::read_fixture;

/// A message as its section 0 and its numbered sections (without `7777`).
struct Parts {
    section0: Vec<u8>,
    sections: Vec<Vec<u8>>,
}

impl Parts {
    fn of(message: &[u8]) -> Self {
        let mut sections = Vec::new();
        let mut pos = 16;
        while &message[pos..pos + 4] != b"7777" {
            let len = u32::from_be_bytes(message[pos..pos + 4].try_into().unwrap()) as usize;
            sections.push(message[pos..pos + len].to_vec());
            pos += len;
        }
        Self {
            section0: message[..16].to_vec(),
            sections,
        }
    }

    fn first(&mut self, number: u8) -> &mut Vec<u8> {
        self.sections.iter_mut().find(|s| s[4] == number).unwrap()
    }

    /// Writes `value` big-endian over `len` octets from 1-based `octet` of section `number`.
    fn put(&mut self, number: u8, octet: usize, len: usize, value: u64) -> &mut Self {
        let s = self.first(number);
        for i in 0..len {
            s[octet - 1 + i] = (value >> (8 * (len - 1 - i))) as u8;
        }
        self
    }

    /// The message with every section length and the total length recomputed.
    fn bytes(&mut self) -> Vec<u8> {
        let mut out = self.section0.clone();
        for s in &mut self.sections {
            let len = s.len() as u32;
            s[..4].copy_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s);
        }
        out.extend_from_slice(b"7777");
        let total = out.len() as u64;
        out[8..16].copy_from_slice(&total.to_be_bytes());
        out
    }
}

fn first_message(file: &str) -> Vec<u8> {
    let bytes = read_fixture(file);
    let (offset, length) = scan(&bytes).unwrap()[0];
    bytes[offset as usize..(offset + length) as usize].to_vec()
}

/// Every way of reading the message is an error (and none allocates what the header asks).
fn refused(message: &[u8], what: &str) {
    assert!(decode(message).is_err(), "{what}: decode");
    assert!(decode_rows(message, 1).is_err(), "{what}: decode_rows");
    assert!(describe(message).is_err(), "{what}: describe");
}

const SIDE: u64 = 65535;

#[test]
fn constant_field_of_65535_squared_points() {
    // Simple packing, zero bits per value: a 188-byte message.
    let message = first_message("misc/hrrr.t06z.wrfsfcf01-CFRZR.grib2");
    let mut parts = Parts::of(&message);
    parts
        .put(3, 7, 4, SIDE * SIDE)
        .put(3, 31, 4, SIDE)
        .put(3, 35, 4, SIDE)
        .put(5, 6, 4, SIDE * SIDE);
    let hostile = parts.bytes();
    assert!(hostile.len() < 200);
    refused(&hostile, "constant field");
}

#[test]
fn complex_packing_with_one_zero_width_group_of_four_billion_values() {
    // 5.3 constant field (210 bytes), regular lat/lon grid.
    let message = first_message("gfs/gdas.t12z.pgrb2.0p25.f000.46");
    let mut parts = Parts::of(&message);
    parts
        .put(3, 7, 4, SIDE * SIDE)
        .put(3, 31, 4, SIDE)
        .put(3, 35, 4, SIDE)
        .put(5, 6, 4, SIDE * SIDE)
        .put(5, 32, 4, 1)
        .put(5, 43, 4, SIDE * SIDE);
    refused(&parts.bytes(), "one zero-width group");
}

#[test]
fn group_lengths_whose_sum_wraps_32_bits() {
    // Two groups of 2^31 and 2^31 + 1,038,240 values sum to 1,038,240 modulo 2^32.
    let message = first_message("gfs/gdas.t12z.pgrb2.0p25.f000.46");
    let points = 1440 * 721u64;
    let mut parts = Parts::of(&message);
    parts
        .put(5, 32, 4, 2)
        .put(5, 38, 4, 1 << 31)
        .put(5, 42, 1, 0)
        .put(5, 43, 4, (1 << 31) + points);
    let hostile = parts.bytes();
    assert!(describe(&hostile).is_ok());
    assert!(matches!(decode(&hostile), Err(GribError::Inconsistent(_))));
    assert!(decode_rows(&hostile, 1).is_err());
}

#[test]
fn zero_columns_and_four_billion_rows() {
    let message = first_message("gfs/gdas.t12z.pgrb2.0p25.f000.46");
    let mut parts = Parts::of(&message);
    parts
        .put(3, 7, 4, 0)
        .put(3, 31, 4, 0)
        .put(3, 35, 4, u64::from(u32::MAX))
        .put(5, 6, 4, 0);
    let hostile = parts.bytes();
    refused(&hostile, "Ni = 0");
    // Before: describe succeeded and Grid::latitudes() allocated 2^32 f64.
    assert!(describe(&hostile).map(|i| i.grid.latitudes()).is_err());
}

#[test]
fn reduced_grid_with_more_rows_than_points() {
    let message = first_message("gfs/gdas.t12z.pgrb2.0p25.f000.46");
    let mut parts = Parts::of(&message);
    parts
        .put(3, 31, 4, u64::from(u32::MAX))
        .put(3, 35, 4, u64::from(u32::MAX));
    refused(&parts.bytes(), "reduced grid");
}

/// CRC-32 (PNG's), to keep a patched IHDR chunk valid.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn png_whose_header_claims_a_huge_image() {
    let message = first_message("misc/MRMS_MergedRhoHV_19.00_20260219-042039.grib2");
    let mut parts = Parts::of(&message);
    let data = parts.first(7);
    // Section 7: 5 octets, then the PNG: 8-byte signature, IHDR length, "IHDR", width, height.
    let ihdr = 5 + 8 + 4;
    assert_eq!(&data[ihdr..ihdr + 4], b"IHDR");
    data[ihdr + 4..ihdr + 8].copy_from_slice(&65535u32.to_be_bytes());
    data[ihdr + 8..ihdr + 12].copy_from_slice(&65535u32.to_be_bytes());
    let crc = crc32(&data[ihdr..ihdr + 17]);
    data[ihdr + 17..ihdr + 21].copy_from_slice(&crc.to_be_bytes());
    let hostile = parts.bytes();
    assert!(describe(&hostile).is_ok());
    assert!(decode(&hostile).is_err());
    assert!(decode_rows(&hostile, 1).is_err());
}

#[test]
fn ccsds_section_5_shorter_than_its_template() {
    let message = first_message("misc/chem_ll.grib2");
    for keep in [11, 20, 21, 22, 23, 24] {
        let mut parts = Parts::of(&message);
        parts.first(5).truncate(keep);
        let hostile = parts.bytes();
        assert!(decode(&hostile).is_err(), "section 5 of {keep} octets");
        assert!(
            decode_rows(&hostile, 1).is_err(),
            "section 5 of {keep} octets"
        );
    }
}

#[test]
fn jpeg2000_section_5_shorter_than_its_template() {
    let message = first_message("misc/CMC_reg_DEPR_ISBL_10_ps10km_2022072000_P000.grib2");
    let mut parts = Parts::of(&message);
    // Non-constant, so that the JPEG 2000 decoder would be reached.
    parts.put(5, 20, 1, 12);
    parts.first(5).truncate(21);
    assert!(decode(&parts.bytes()).is_err());
}

/// A JPEG 2000 codestream cut short (a truncated or lying message) is an error, never a
/// decoder that waits forever for the rest: each cut is decoded in a thread given 20 s. Before
/// `grib::jpeg2000`, cuts within the main header or before the final EOC marker hung openjpeg
/// (gribberish's stream never reported the end of its input).
#[test]
fn truncated_jpeg2000_codestreams_are_errors() {
    let message = first_message("misc/CMC_glb_TMP_ISBL_1_latlon.24x.24_2021051800_P000.grib2");
    let full = Parts::of(&message).first(7).len();
    assert!(full > 1000, "the fixture's section 7 has {full} octets");
    for keep in [6, 7, 20, 100, 400, full / 2, full - 10, full - 2, full - 1] {
        let mut parts = Parts::of(&message);
        parts.first(7).truncate(keep);
        let bytes = parts.bytes();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(decode(&bytes).map(|d| d.values.len()));
        });
        match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(result) => assert!(
                result.is_err(),
                "section 7 cut to {keep} of {full}: {result:?}"
            ),
            Err(_) => panic!("section 7 cut to {keep} of {full} octets: the decoder hangs"),
        }
    }
}
