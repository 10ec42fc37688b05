//! Seed corpora: every fixture of the right kind, read from the shared fixture folder and the
//! repository.
//!
//! * `grib`: every GRIB2 file under the fixtures, split into its messages ([`grib::scan`]),
//!   keeping the smallest message of each packing (template, constant or not, bitmap or not)
//!   per file; a file that does not scan (a deliberately truncated one) is a seed as a whole.
//! * `noaa-idx`: every `.idx` file (GEFS, GFS, kerchunk's sub-field fixtures).
//! * `ecmwf-index`: every `.index` file.
//! * `manifest`: every `.parquet` file (gik's own test manifests in `core/src/manifest/testdata`,
//!   pandas/pyarrow variants, kerchunk's reference parquets), and an ensemble manifest combined
//!   from the first of them.
//! * `catalog`: catalogs made with gik-core's own API (an empty one, GEFS and ECMWF runs with
//!   missing entries) and every kerchunk JSON reference file as structure-bending input.
//!
//! The fixture folder is `GIK_FIXTURES` (set by `scripts/env.sh`), else `../shared/fixtures`
//! beside the repository, else `/work/shared/fixtures`. A missing folder is an error, never an
//! empty corpus.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gik_core::catalog::{Catalog, MissingEntry, RunEntry, VariableEntry};
use gik_core::{grib, manifest};

/// The repository root (parent of this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The shared fixture folder.
pub fn fixtures_dir() -> Result<PathBuf, String> {
    let candidates = [
        std::env::var_os("GIK_FIXTURES").map(PathBuf::from),
        Some(repo_root().join("../shared/fixtures")),
        Some(PathBuf::from("/work/shared/fixtures")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("SOURCES.md").is_file())
        .ok_or_else(|| {
            "shared GRIB2 fixtures not found: set GIK_FIXTURES (scripts/env.sh does)".to_string()
        })
}

/// One seed: where it came from and its bytes.
#[derive(Clone, Debug)]
pub struct Seed {
    /// File (and message number) it was taken from.
    pub origin: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Rough cost of one execution (bytes, or grid points for GRIB2): seeds are picked with
    /// probability inversely proportional to it, so each gets a similar share of the time.
    pub cost: u64,
}

impl Seed {
    fn new(origin: String, bytes: Vec<u8>) -> Self {
        let cost = bytes.len() as u64;
        Self {
            origin,
            bytes,
            cost,
        }
    }

    /// A GRIB2 seed: its cost is its grid size (a 200-byte constant field may have millions
    /// of points).
    fn grib(origin: String, bytes: Vec<u8>) -> Self {
        let points = grib::describe_header(&bytes).map_or(0, |i| i.grid.num_points as u64);
        let cost = bytes.len() as u64 + points;
        Self {
            origin,
            bytes,
            cost,
        }
    }
}

/// Every regular file under `dir`, sorted.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read_all(paths: impl IntoIterator<Item = PathBuf>, root: &Path) -> Vec<Seed> {
    paths
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let origin = p.strip_prefix(root).unwrap_or(&p).display().to_string();
            Some(Seed::new(origin, bytes))
        })
        .collect()
}

/// Whether a file starts like GRIB2 (`GRIB`, edition 2).
fn is_grib2(path: &Path) -> bool {
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head[..4] == b"GRIB"
        && head[7] == 2
}

/// The seed corpus of target `name`.
pub fn seeds(name: &str) -> Result<Vec<Seed>, String> {
    let fixtures = fixtures_dir()?;
    let files = walk(&fixtures);
    let ext = |p: &Path, e: &str| p.extension().is_some_and(|x| x == e);
    let seeds = match name {
        "grib" => {
            let mut out = Vec::new();
            for path in files.into_iter().filter(|p| is_grib2(p)) {
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                let origin = path.strip_prefix(&fixtures).unwrap_or(&path).display();
                match grib::scan(&bytes) {
                    Ok(spans) if !spans.is_empty() => {
                        out.extend(smallest_per_packing(&bytes, &spans, &origin.to_string()))
                    }
                    _ => out.push(Seed::grib(origin.to_string(), bytes)),
                }
            }
            out
        }
        "noaa-idx" => read_all(files.into_iter().filter(|p| ext(p, "idx")), &fixtures),
        "ecmwf-index" => read_all(files.into_iter().filter(|p| ext(p, "index")), &fixtures),
        "manifest" => {
            let root = repo_root();
            let mut out = read_all(
                walk(&root.join("core/src/manifest/testdata"))
                    .into_iter()
                    .filter(|p| ext(p, "parquet")),
                &root,
            );
            out.extend(made_ensemble(&out)?);
            out.extend(read_all(
                files.into_iter().filter(|p| ext(p, "parquet")),
                &fixtures,
            ));
            out
        }
        "catalog" => {
            let mut out = made_catalogs()?;
            out.extend(read_all(
                files
                    .into_iter()
                    .filter(|p| ext(p, "json") && !p.to_string_lossy().ends_with(".summary.json")),
                &fixtures,
            ));
            out
        }
        other => return Err(format!("no target called {other:?}")),
    };
    if seeds.is_empty() {
        return Err(format!(
            "no seeds for target {name} under {}",
            fixtures.display()
        ));
    }
    Ok(seeds)
}

/// The smallest message of each packing (template, and constant or not) in a file: every
/// packing of every fixture, without the hundreds of near-identical messages some files hold
/// (a 0.25° message takes tens of milliseconds to decode in a debug build).
fn smallest_per_packing(bytes: &[u8], spans: &[(u64, u64)], origin: &str) -> Vec<Seed> {
    let mut best: BTreeMap<(u16, bool, bool), (usize, &[u8])> = BTreeMap::new();
    for (i, &(offset, length)) in spans.iter().enumerate() {
        let (Ok(start), Ok(end)) = (usize::try_from(offset), usize::try_from(offset + length))
        else {
            continue;
        };
        let Some(message) = bytes.get(start..end) else {
            continue;
        };
        let key = match grib::describe(message) {
            Ok(info) => (
                info.packing.template,
                info.packing.bits_per_value == 0,
                info.has_bitmap,
            ),
            Err(_) => (u16::MAX, false, false),
        };
        let slot = best.entry(key).or_insert((i, message));
        if message.len() < slot.1.len() {
            *slot = (i, message);
        }
    }
    best.into_values()
        .map(|(i, message)| Seed::grib(format!("{origin}#{i}"), message.to_vec()))
        .collect()
}

/// Catalogs written by gik-core itself: empty, and with one GEFS and one ECMWF run.
/// An ensemble manifest (two members) combined from the first of `seeds` that reads as a
/// manifest and combines, so that the ensemble reader starts from a valid one.
fn made_ensemble(seeds: &[Seed]) -> Result<Vec<Seed>, String> {
    for seed in seeds {
        let Ok(member) = manifest::read_parquet(&seed.bytes) else {
            continue;
        };
        let Ok(ensemble) =
            manifest::combine_members(&[(0, &member), (3, &member)], &manifest::Attrs::new())
        else {
            continue;
        };
        let bytes = manifest::write_parquet(&ensemble).map_err(|e| e.to_string())?;
        return Ok(vec![Seed::new(
            format!("ensemble of two {}", seed.origin),
            bytes,
        )]);
    }
    Err("no manifest seed combines into an ensemble manifest".into())
}

fn made_catalogs() -> Result<Vec<Seed>, String> {
    let mut catalog = Catalog::new();
    let mut out = vec![Seed::new(
        "catalog (empty)".into(),
        catalog.to_json().map_err(|e| e.to_string())?,
    )];
    for (product, members, variable) in [
        (
            "gefs",
            ["gec00", "gep01"],
            ("TMP:2 m above ground", "t2m", "K"),
        ),
        ("ecmwf", ["control", "ens01"], ("tp", "tp", "m")),
    ] {
        let manifests: BTreeMap<String, String> = members
            .iter()
            .map(|m| {
                (
                    m.to_string(),
                    format!("{product}/20250801/00z/2025080100z-{m}.parquet"),
                )
            })
            .collect();
        let run = RunEntry {
            run: gik_core::time::RunTime::parse_compact("2025080100").map_err(|e| e.to_string())?,
            members: members.iter().map(|m| m.to_string()).collect(),
            steps: vec![0, 3, 6, 240],
            variables: vec![VariableEntry {
                name: variable.0.into(),
                path: format!("{}/instant/surface", variable.1),
                array: variable.1.into(),
                units: variable.2.into(),
                long_name: "a variable".into(),
            }],
            manifests,
            missing: vec![MissingEntry {
                member: members[1].into(),
                step: Some(6),
                reason: "not published (404)".into(),
            }],
            bytes_referenced: 123_456_789,
            ensemble: Some(format!(
                "{product}/20250801/00z/2025080100z-ensemble.parquet"
            )),
            ..RunEntry::default()
        };
        let credit = gik_core::product::product_by_name(product, &Default::default())
            .map_err(|e| e.to_string())?
            .credits();
        let _ = catalog.publish(product, &credit, run, 0, true);
        catalog.generated_at = "2025-08-01T06:00:00Z".into();
        out.push(Seed::new(
            format!("catalog ({product})"),
            catalog.to_json().map_err(|e| e.to_string())?,
        ));
    }
    Ok(out)
}
