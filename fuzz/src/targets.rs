//! The fuzz targets: one public entry point of gik-core each, plus the invariants its output
//! must keep.
//!
//! A target returns normally whatever the input; a panic (from gik-core, or from an invariant
//! check here) is a finding. Errors are the expected outcome for most mutated inputs and are
//! ignored. Invariants checked on success:
//!
//! * `grib`: [`grib::decode`] gives one value per grid point; [`grib::describe`] agrees with
//!   the decoded message's description; [`grib::decode_rows`] gives the first rows of
//!   `decode`, also from the prefix an exact [`grib::bytes_for_rows`] names; the header-only [`grib::describe_header`] on the first
//!   bytes and [`grib::decode_field`] of a second field never panic; [`grib::scan`]'s spans lie
//!   inside the input.
//! * `noaa-idx`, `ecmwf-index`: offsets never decrease (NOAA), lengths are positive and every
//!   record ends inside the GRIB2 file size given to the parser, without overflow.
//! * `manifest`: a manifest read from parquet writes back to parquet and reads back equal; the
//!   member-manifest accessors (`data_arrays`, `steps`, `chunk`, `chunk_ranges`, `Manifest::array` values,
//!   `validate_structure`) never panic, nor do they on the members read out of it as an ensemble
//!   manifest (`EnsembleManifest::member`); a read by parts ([`manifest::ManifestTail`], from
//!   tails of several lengths) never panics and holds only keys of the whole read, with their
//!   values.
//! * `catalog`: a catalog that parses serialises and parses back equal.
//!
//! The app's `config.json` is parsed in `app/`, not in gik-core, so it has no target here; the
//! app's URL check is fuzzed differentially by its own target (see `FUZZING.md`).

use gik_core::catalog::Catalog;
use gik_core::grib;
use gik_core::index::{ecmwf, noaa};
use gik_core::manifest;
use gik_core::member::{EnsembleManifest, MemberManifest};

/// One fuzz target.
pub struct Target {
    /// Short name, used on the command line and as the regression folder name.
    pub name: &'static str,
    /// What it exercises.
    pub about: &'static str,
    /// Tokens the mutator may insert.
    pub dictionary: &'static [&'static [u8]],
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
}

/// Every target, in the order a full run visits them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "grib",
        about: "core::grib decode, decode_rows, bytes_for_rows, describe, describe_header, decode_field, scan",
        dictionary: &[
            b"GRIB",
            b"7777",
            b"\x00\x00\x00\x15\x01",
            b"\x00\x00\x00\x05\x07",
        ],
        run: run_grib,
    },
    Target {
        name: "noaa-idx",
        about: "core::index::noaa::parse (wgrib2 .idx)",
        dictionary: &[
            b":",
            b"\n",
            b".2",
            b"d=2025080100",
            b"ENS=+3",
            b"ENS=low-res ctl",
            b"hour fcst",
            b"-",
            b" acc fcst",
            b"mb",
            b"m above ground",
            b"18446744073709551615",
            b"4294967295",
            b"anl",
            b"min",
            b"day",
            b"sec",
            b"ens mean",
        ],
        run: run_noaa,
    },
    Target {
        name: "ecmwf-index",
        about: "core::index::ecmwf::parse (ECMWF open-data .index JSON lines)",
        dictionary: &[
            b"\"_offset\": ",
            b"\"_length\": ",
            b"18446744073709551615",
            b"\"step\": \"0-6\"",
            b"\"type\": \"pf\"",
            b"\"number\": ",
            b"\"levtype\": \"pl\"",
            b"\"levelist\": ",
            b"null",
            b"{",
            b"}",
            b"\n",
            b"-1",
            b"1e308",
        ],
        run: run_ecmwf,
    },
    Target {
        name: "manifest",
        about: "core::manifest::read_parquet and the member-manifest accessors",
        dictionary: &[b"PAR1", b"\xff\xff\xff\x7f", b"\x15\x00", b"\x19\x1c"],
        run: run_manifest,
    },
    Target {
        name: "catalog",
        about: "core::catalog::Catalog::from_json (catalog.json)",
        dictionary: &[
            b"\"version\": 1",
            b"\"products\"",
            b"\"runs\"",
            b"\"manifests\"",
            b"\"steps\"",
            b"4294967296",
            b"-1",
            b"null",
            b"[]",
            b"{}",
            b"\"\"",
            b"1e400",
        ],
        run: run_catalog,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn run_grib(input: &[u8]) {
    if let Ok(decoded) = grib::decode(input) {
        assert_eq!(
            decoded.values.len(),
            decoded.info.grid.num_points,
            "decode: one value per grid point"
        );
        let described = grib::describe(input);
        assert_eq!(
            described.as_ref().ok(),
            Some(&decoded.info),
            "describe agrees with decode"
        );
        let _ = decoded.stats();
    } else {
        let _ = grib::describe(input);
    }
    rows_agree(input);
    let _ = grib::describe_header(input.get(..input.len().min(8192)).unwrap_or(input));
    let _ = grib::decode_field(input, 1);
    if let Ok(spans) = grib::scan(input) {
        for (offset, length) in spans {
            let end = offset.checked_add(length);
            assert!(
                end.is_some_and(|e| e <= input.len() as u64),
                "scan: span {offset}+{length} outside {} bytes",
                input.len()
            );
        }
    }
}

/// Row-limited decoding: the first rows of the whole message are those of [`grib::decode`],
/// and an `Exact` answer of [`grib::bytes_for_rows`] is a prefix that decodes the same rows.
fn rows_agree(input: &[u8]) {
    let rows = 1 + input.len() % 7;
    let Ok(part) = grib::decode_rows(input, rows) else {
        return;
    };
    let same = |a: &[f32], b: &[f32]| {
        a.len() <= b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    };
    if let Ok(whole) = grib::decode(input) {
        assert!(
            same(&part.values, &whole.values),
            "decode_rows({rows}) differs from the first rows of decode"
        );
    }
    if let Ok(grib::BytesForRows::Exact(n)) = grib::bytes_for_rows(input, rows) {
        let prefix = input.get(..usize::try_from(n).unwrap_or(usize::MAX).min(input.len()));
        let again = grib::decode_rows(prefix.unwrap_or(input), rows);
        assert!(
            again.as_ref().is_ok_and(|a| same(&a.values, &part.values) && a.values.len() == part.values.len()),
            "decode_rows({rows}) on the {n}-byte prefix bytes_for_rows asked for: {:?}",
            again.err()
        );
    }
}

/// The file size handed to the index parsers: taken from the input's length so that it varies
/// with the input and is sometimes smaller than the offsets.
fn file_size_for(input: &[u8]) -> Option<u64> {
    match input.len() % 3 {
        0 => None,
        1 => Some(input.len() as u64 * 1_000_003),
        _ => Some(u64::MAX),
    }
}

fn run_noaa(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let size = file_size_for(input);
    let Ok(records) = noaa::parse(&text, "fuzz.idx", size) else {
        return;
    };
    for pair in records.windows(2) {
        assert!(pair[0].offset <= pair[1].offset, "NOAA offsets decrease");
    }
    for r in &records {
        if let Some(length) = r.length {
            assert!(length > 0, "line {}: zero length", r.line);
            let end = r.offset.checked_add(length);
            assert!(end.is_some(), "line {}: offset + length overflows", r.line);
            if let (Some(size), Some(end)) = (size, end) {
                assert!(end <= size, "line {}: ends at {end} past {size}", r.line);
            }
        }
    }
}

fn run_ecmwf(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let Ok(records) = ecmwf::parse(&text, "fuzz.index") else {
        return;
    };
    for r in &records {
        let length = r.length.unwrap_or(0);
        assert!(length > 0, "line {}: ECMWF records carry a length", r.line);
        assert!(
            r.offset.checked_add(length).is_some(),
            "line {}: offset + length overflows",
            r.line
        );
    }
}

fn run_manifest(input: &[u8]) {
    let whole = manifest::read_parquet(input);
    read_by_parts(input, whole.as_ref().ok());
    let Ok(read) = whole else {
        return;
    };
    let _ = read.validate_structure();
    let _ = read.chunk_ranges().count();
    for path in read.array_paths() {
        if let Ok(array) = read.array(path) {
            let _ = array.values();
        }
    }
    if let Ok(written) = manifest::write_parquet(&read) {
        let again = manifest::read_parquet(&written);
        assert_eq!(again.as_ref().ok(), Some(&read), "parquet round trip");
    }
    if let Ok(ensemble) = EnsembleManifest::new(read.clone()) {
        for &number in ensemble.numbers().iter().take(8) {
            if let Ok(member) = ensemble.member(number) {
                read_member(&member);
            }
        }
    }
    let Ok(member) = MemberManifest::new(read) else {
        return;
    };
    read_member(&member);
}

/// Every accessor `gik stream` and the app use on a member manifest, on its first steps.
fn read_member(member: &MemberManifest) {
    for array in member.data_arrays() {
        if let Ok(steps) = member.steps(&array) {
            for step in steps.into_iter().take(64) {
                let _ = member.chunk(&array, step);
            }
        }
    }
}

/// Reads `input` by parts for each of its top-level groups (as named in `whole`, or a guess),
/// from tails of several lengths. When the file is as long as its footer says (the layout its
/// row-group index promises; a mutated file may break that and read other bytes), what is read
/// must be part of `whole`.
fn read_by_parts(input: &[u8], whole: Option<&manifest::Manifest>) {
    let Ok(footer) = manifest::ManifestTail::footer_size(input) else {
        return;
    };
    let mut groups: Vec<String> = whole
        .into_iter()
        .flat_map(|m| m.keys())
        .filter_map(|k| k.split_once('/').map(|(g, _)| g.to_owned()))
        .collect();
    groups.dedup();
    groups.truncate(8);
    groups.push("tp".into());
    let len = input.len() as u64;
    for held in [footer, footer + 100, len] {
        let Some(start) = len.checked_sub(held) else {
            continue;
        };
        let Ok(tail) = manifest::ManifestTail::new(input[start as usize..].to_vec().into()) else {
            continue;
        };
        let whole = whole.filter(|_| tail.tail_offset() == start);
        for group in &groups {
            let Some(ranges) = tail.ranges(&[group.as_str()]) else {
                return;
            };
            let parts = ranges.iter().filter_map(|r| {
                let bytes = input.get(r.start as usize..r.end as usize)?;
                Some((r.start, bytes.to_vec().into()))
            });
            if let (Ok(part), Some(whole)) = (tail.read(&[group.as_str()], parts), whole) {
                for (key, value) in part.iter() {
                    assert_eq!(whole.get(key), Some(value), "{key} read by parts");
                }
            }
        }
    }
}

fn run_catalog(input: &[u8]) {
    let Ok(catalog) = Catalog::from_json(input) else {
        return;
    };
    for (name, product) in &catalog.products {
        let _ = catalog.run(name, None);
        for run in product.runs.iter().take(8) {
            let _ = catalog.run(name, Some(run.run));
        }
    }
    if let Ok(json) = catalog.to_json() {
        let again = Catalog::from_json(&json);
        assert_eq!(again.as_ref().ok(), Some(&catalog), "catalog round trip");
    }
}
