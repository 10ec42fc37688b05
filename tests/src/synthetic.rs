//! Full-size GEFS and ECMWF IFS ENS runs, generated on the fly in the real bucket layouts.
//!
//! Why: gik's builder walks thousands of index files (31 GEFS members × 81 steps, 85 ECMWF
//! steps × 51 members) and the app range-reads single messages out of multi-hundred-megabyte
//! files. Tests of that machinery need the real *shape* — paths, index formats, offsets, file
//! sizes — but nothing that large can live on disk or in git. So every file here is a list of
//! `(offset, message)` pieces computed from a small table and served by slicing, never
//! materialised:
//!
//! * most variables reuse REAL 0.25° GRIB2 fields from the shared fixtures (GFS/GDAS
//!   complex-packed messages stand in for GEFS, ECMWF open-data CCSDS messages for ECMWF):
//!   grid, packing, bitmap and data byte for byte, relabelled ([`grib_writer::relabel`]) so that
//!   sections 1 and 4 say truthfully which variable, level, step, member and run the slot holds
//!   (a reader that checks what it decoded — the app, `gik stream` — accepts them);
//! * precipitation (GEFS `APCP`, ECMWF `tp`) is written by [`crate::grib_writer`] on a regional
//!   0.25° grid ([`Region::EAST_AFRICA`] by default) from a deterministic function of model,
//!   run, member, 3-hour block and grid point, so a test can compute every expected value,
//!   24-hour total and exceedance probability with [`expected_precip`] and friends.
//!
//! Precipitation truth: rain falls in 3-hour blocks; each block's amount at a point is a
//! whole number of 0.1 mm that is either 0 or ends in 1 (…, 3.1, 4.1 mm). A total over at most
//! 9 blocks (any 24-h window) is therefore never a whole number of millimetres unless it is 0,
//! so `> 1/5/10/25/50 mm` comparisons never tie and survive float rounding. GEFS `APCP` is in
//! kg m⁻² over windows that reset every 6 hours (`0-3`, `0-6`, `6-9`, `6-12`, …; absent at
//! f000); ECMWF `tp` is in metres accumulated from the run start (present at step 0, all
//! zero). Values are packed exactly (decimal scale 1 for GEFS, 4 for ECMWF; 16 bits; binary
//! scale 0), so decoded values equal `tenths / 10` kg m⁻² and `tenths × 10⁻⁴` m up to the
//! decoder's last-bit float rounding.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use gik_core::time::RunTime;

use crate::grib_writer::{
    self, coordinates, grid_from_corners, point_count, Ensemble, Identification, Message, Product,
    ProductTime, RegularGrid, SimplePacking, Surface, STAT_ACCUMULATION, STAT_AVERAGE,
};
use crate::mirror::{Content, MirrorConfig, MirrorServer, Mount};

pub use crate::fixtures_dir;

/// Bucket name of GEFS (path prefix on the mirror, as in path-style S3 URLs).
pub const GEFS_BUCKET: &str = "noaa-gefs-pds";
/// Bucket name of ECMWF open data.
pub const ECMWF_BUCKET: &str = "ecmwf-forecasts";
/// GEFS members: control `gec00` (member 0) and `gep01`..`gep30`.
pub const GEFS_MEMBERS: u16 = 31;
/// ECMWF ENS members: control `cf` (member 0) and `pf` 1..50.
pub const ECMWF_MEMBERS: u16 = 51;

/// Which ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Model {
    /// NOAA GEFS 0.25° (`pgrb2sp25`).
    Gefs,
    /// ECMWF IFS ENS 0.25° open data (`enfo`).
    Ecmwf,
}

impl Model {
    /// Number of members including the control.
    pub fn members(self) -> u16 {
        match self {
            Self::Gefs => GEFS_MEMBERS,
            Self::Ecmwf => ECMWF_MEMBERS,
        }
    }
}

/// A latitude/longitude box in degrees (the precipitation messages' grid, at 0.25°).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Region {
    /// Northern edge.
    pub north: f64,
    /// Southern edge.
    pub south: f64,
    /// Western edge (either longitude convention).
    pub west: f64,
    /// Eastern edge (either convention; east of `west`).
    pub east: f64,
}

impl Region {
    /// East Africa: 12°S–23°N, 21°E–53°E (141 × 129 points at 0.25°).
    pub const EAST_AFRICA: Region = Region {
        north: 23.0,
        south: -12.0,
        west: 21.0,
        east: 53.0,
    };
}

/// What the synthetic buckets serve.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    /// Runs served; requests for other runs get 404 (unless `any_run`).
    pub runs: Vec<RunTime>,
    /// Serve every syntactically valid run, whatever `runs` says.
    pub any_run: bool,
    /// Grid box of the precipitation messages.
    pub region: Region,
    /// Folder of the shared real GRIB2 fixtures.
    pub fixtures: PathBuf,
    /// Memory budget in bytes for generated precipitation messages (oldest dropped first).
    pub cache_bytes: usize,
}

impl SyntheticConfig {
    /// Serves `runs` over East Africa with fixtures from [`fixtures_dir`] and a 256 MiB cache.
    pub fn new(runs: impl IntoIterator<Item = RunTime>) -> Self {
        Self {
            runs: runs.into_iter().collect(),
            any_run: false,
            region: Region::EAST_AFRICA,
            fixtures: fixtures_dir(),
            cache_bytes: 256 << 20,
        }
    }

    /// Whether `run` is served.
    pub fn serves(&self, run: &RunTime) -> bool {
        self.any_run || self.runs.contains(run)
    }
}

/// GEFS `pgrb2sp25` steps: 0..=240 every 3 hours (81 steps).
pub fn gefs_steps() -> Vec<u32> {
    (0..=240).step_by(3).collect()
}

/// ECMWF ENS steps: 0..=144 every 3 hours then 150..=360 every 6 hours (85 steps) for the 00
/// and 12 UTC runs; 0..=144 every 3 hours for 06 and 18 UTC.
pub fn ecmwf_steps(run_hour: u32) -> Vec<u32> {
    let mut steps: Vec<u32> = (0..=144).step_by(3).collect();
    if run_hour.is_multiple_of(12) {
        steps.extend((150..=360).step_by(6));
    }
    steps
}

/// GEFS file-name member: `gec00` for member 0, `gep01`..`gep30`.
pub fn gefs_member_name(member: u16) -> String {
    if member == 0 {
        "gec00".to_string()
    } else {
        format!("gep{member:02}")
    }
}

/// Key (path inside [`GEFS_BUCKET`]) of a GEFS GRIB2 file; append `.idx` for its index.
/// `gefs.20250801/00/atmos/pgrb2sp25/gep01.t00z.pgrb2s.0p25.f015`.
pub fn gefs_key(run: RunTime, member: u16, step: u32) -> String {
    let hh = run.hour_string();
    format!(
        "gefs.{}/{hh}/atmos/pgrb2sp25/{}.t{hh}z.pgrb2s.0p25.f{step:03}",
        run.date_string(),
        gefs_member_name(member)
    )
}

/// Key (path inside [`ECMWF_BUCKET`]) of an ECMWF ENS GRIB2 file (all 51 members); replace
/// `.grib2` by `.index` for its index.
/// `20250801/00z/ifs/0p25/enfo/20250801000000-15h-enfo-ef.grib2`.
pub fn ecmwf_key(run: RunTime, step: u32) -> String {
    let (date, hh) = (run.date_string(), run.hour_string());
    format!("{date}/{hh}z/ifs/0p25/enfo/{date}{hh}0000-{step}h-enfo-ef.grib2")
}

/// The window of GEFS `APCP` at `step`: accumulations reset every 6 hours, so f003 is `0-3`,
/// f006 `0-6`, f009 `6-9`, f012 `6-12`. `None` at f000 (no APCP in the file).
pub fn gefs_apcp_window(step: u32) -> Option<(u32, u32)> {
    match step {
        0 => None,
        s if s.is_multiple_of(6) => Some((s - 6, s)),
        s => Some((s - s % 6, s)),
    }
}

/// The precipitation messages' grid for `model` over `region`: GEFS longitudes in 0..360,
/// ECMWF in −180..180 (as each centre's global grids are presented).
pub fn precip_grid(model: Model, region: Region) -> RegularGrid {
    let span = region.east - region.west;
    let west = match model {
        Model::Gefs => region.west.rem_euclid(360.0),
        Model::Ecmwf => (region.west + 180.0).rem_euclid(360.0) - 180.0,
    };
    grid_from_corners(region.north, west, region.south, west + span, 0.25)
}

// ---------------------------------------------------------------------------------------------
// Precipitation truth.

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x5eed_u64, |h, &p| mix(h ^ mix(p)))
}

fn seed(model: Model, run: RunTime, member: u16) -> [u64; 3] {
    let model = match model {
        Model::Gefs => 1,
        Model::Ecmwf => 2,
    };
    [model, run.unix_seconds() as u64, u64::from(member)]
}

/// Quarter-degree indices of the grid point nearest `(lat, lon)`, longitude in [-720, 720).
fn quarter(lat: f64, lon: f64) -> (i64, i64) {
    let qlat = (lat * 4.0).round() as i64;
    let qlon = ((lon * 4.0).round() as i64 + 720).rem_euclid(1440) - 720;
    (qlat, qlon)
}

/// A member's spatial rain pattern: a run-wide wave shifted by up to 5° per member, so
/// members disagree spatially.
struct Pattern {
    dy: i64,
    dx: i64,
    phase: f64,
}

impl Pattern {
    fn new(model: Model, run: RunTime, member: u16) -> Self {
        let [m, r, n] = seed(model, run, member);
        Self {
            dy: (hash(&[m, r, n, 11]) % 41) as i64 - 20,
            dx: (hash(&[m, r, n, 12]) % 41) as i64 - 20,
            phase: (hash(&[m, r, 13]) % 628) as f64 / 100.0,
        }
    }

    /// How wet the pattern is at a quarter-degree point, 0..=100.
    fn wetness(&self, qlat: i64, qlon: i64) -> u32 {
        let lat = (qlat + self.dy) as f64 / 4.0;
        let lon = (qlon + self.dx) as f64 / 4.0;
        let w =
            40.0 + 80.0 * (lat * 0.35 + self.phase).sin() * (lon * 0.25 - 0.5 * self.phase).cos();
        w.round().clamp(0.0, 100.0) as u32
    }
}

/// The point-independent factor of 3-hour block `block` (hours `3b..3b+3`): a daily member
/// intensity 40..=160 % times a block intensity 0 or 3..=10.
fn block_factor(model: Model, run: RunTime, member: u16, block: u32) -> u32 {
    let [m, r, n] = seed(model, run, member);
    let day = u64::from(block / 8);
    let intensity = 40 + (hash(&[m, r, n, 1000 + day]) % 121) as u32;
    let cycle = (hash(&[m, r, n, 2000 + u64::from(block)]) % 11) as u32;
    let cycle = if cycle < 3 { 0 } else { cycle };
    intensity * cycle
}

/// Rain of one block in tenths of a millimetre: 0 or `10k + 1`.
fn block_rain(wet: u32, factor: u32) -> u32 {
    let raw = wet * factor / 600;
    if raw == 0 {
        0
    } else {
        raw / 10 * 10 + 1
    }
}

/// Exact precipitation in tenths of a millimetre (0.1 kg m⁻²) that `member` of `model`'s
/// `run` has at the grid point nearest `(lat, lon)` between `start_h` and `end_h` hours after
/// the run (hours are taken down to multiples of 3). Member 0 is the control.
pub fn rain_tenths(
    model: Model,
    run: RunTime,
    member: u16,
    start_h: u32,
    end_h: u32,
    lat: f64,
    lon: f64,
) -> u32 {
    let (qlat, qlon) = quarter(lat, lon);
    let wet = Pattern::new(model, run, member).wetness(qlat, qlon);
    (start_h / 3..end_h / 3)
        .map(|b| block_rain(wet, block_factor(model, run, member, b)))
        .sum()
}

/// Precipitation in millimetres over `(start_h, end_h)` (see [`rain_tenths`]).
pub fn expected_precip(
    model: Model,
    run: RunTime,
    member: u16,
    window_h: (u32, u32),
    lat: f64,
    lon: f64,
) -> f32 {
    (f64::from(rain_tenths(
        model, run, member, window_h.0, window_h.1, lat, lon,
    )) / 10.0) as f32
}

/// The value the precipitation message of `member` at `step` holds at the grid point nearest
/// `(lat, lon)`, in the message's own unit: GEFS `APCP` in kg m⁻² over
/// [`gefs_apcp_window`]`(step)` (`None` at f000), ECMWF `tp` in metres from 0 to `step`.
pub fn expected_field_value(
    model: Model,
    run: RunTime,
    member: u16,
    step: u32,
    lat: f64,
    lon: f64,
) -> Option<f32> {
    match model {
        Model::Gefs => {
            let (a, b) = gefs_apcp_window(step)?;
            Some((f64::from(rain_tenths(model, run, member, a, b, lat, lon)) / 10.0) as f32)
        }
        Model::Ecmwf => {
            Some((f64::from(rain_tenths(model, run, member, 0, step, lat, lon)) * 1e-4) as f32)
        }
    }
}

/// Percentage (0–100) of all members whose precipitation over `window_h` at the point exceeds
/// `threshold_mm` strictly, as gik's statistics define exceedance.
pub fn expected_exceedance(
    model: Model,
    run: RunTime,
    window_h: (u32, u32),
    threshold_mm: f64,
    lat: f64,
    lon: f64,
) -> f32 {
    let members = model.members();
    let above = (0..members)
        .filter(|&m| {
            f64::from(rain_tenths(model, run, m, window_h.0, window_h.1, lat, lon))
                > threshold_mm * 10.0
        })
        .count();
    (above as f64 * 100.0 / f64::from(members)) as f32
}

/// The precipitation field of one member over a window on `grid`, in tenths of a mm, scan order.
fn field_tenths(
    model: Model,
    run: RunTime,
    member: u16,
    window_h: (u32, u32),
    grid: &RegularGrid,
) -> Vec<u32> {
    let factors: Vec<u32> = (window_h.0 / 3..window_h.1 / 3)
        .map(|b| block_factor(model, run, member, b))
        .collect();
    // The total depends on the point only through its wetness: tabulate the 101 totals.
    let totals: Vec<u32> = (0..=100)
        .map(|wet| factors.iter().map(|&f| block_rain(wet, f)).sum())
        .collect();
    let pattern = Pattern::new(model, run, member);
    (0..point_count(grid))
        .map(|i| {
            let (lat, lon) = coordinates(grid, i);
            let (qlat, qlon) = quarter(lat, lon);
            totals[pattern.wetness(qlat, qlon) as usize]
        })
        .collect()
}

/// The message header (everything but values) of a precipitation message.
fn precip_spec(
    model: Model,
    run: RunTime,
    member: u16,
    window_h: (u32, u32),
    region: Region,
) -> Message {
    let members = model.members() as u8;
    let ensemble = if member == 0 {
        Ensemble::control(members)
    } else {
        Ensemble::perturbed(member as u8, members)
    };
    let (mut identification, number, process_id, background, decimal_scale) = match model {
        Model::Gefs => (Identification::ncep(run), 8, 107, 0, 1),
        Model::Ecmwf => (Identification::ecmwf(run), 193, 255, 255, 4),
    };
    identification.data_type = if member == 0 { 3 } else { 4 };
    Message {
        discipline: 0,
        identification,
        grid: precip_grid(model, region),
        product: Product {
            category: 1,
            number,
            generating_process: 4,
            background_process: background,
            process_id,
            first_surface: Surface::ground(),
            second_surface: None,
            time: ProductTime::Statistical {
                start_hours: window_h.0,
                end_hours: window_h.1,
                statistic: STAT_ACCUMULATION,
            },
            ensemble: Some(ensemble),
        },
        packing: SimplePacking {
            decimal_scale,
            bits: 16,
            binary_scale: Some(0),
        },
    }
}

/// Writes the precipitation message of `member` over `window_h` (GEFS: an APCP window;
/// ECMWF: `(0, step)`).
pub fn precip_message(
    model: Model,
    run: RunTime,
    member: u16,
    window_h: (u32, u32),
    region: Region,
) -> Result<Vec<u8>, grib_writer::WriteError> {
    let spec = precip_spec(model, run, member, window_h, region);
    let unit = match model {
        Model::Gefs => 0.1,
        Model::Ecmwf => 1e-4,
    };
    let values: Vec<f32> = field_tenths(model, run, member, window_h, &spec.grid)
        .into_iter()
        .map(|t| (f64::from(t) * unit) as f32)
        .collect();
    spec.encode(&values)
}

// ---------------------------------------------------------------------------------------------
// File layouts.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct PrecipKey {
    model: Model,
    run: RunTime,
    member: u16,
    start: u32,
    end: u32,
}

/// A real fixture field relabelled as one slot of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct RelabelKey {
    model: Model,
    /// Index into [`GEFS_VARS`] or [`ECMWF_PARAMS`].
    slot: usize,
    run: RunTime,
    member: u16,
    step: u32,
}

#[derive(Clone)]
enum Piece {
    Relabelled(RelabelKey),
    Precip(PrecipKey),
}

/// One virtual file: pieces at offsets, plus its index text.
struct Layout {
    offsets: Vec<u64>,
    lens: Vec<u64>,
    pieces: Vec<Piece>,
    total: u64,
    index: Arc<[u8]>,
}

impl Layout {
    /// Length of the GRIB2 file, or (`is_index`) of its index.
    fn len(&self, is_index: bool) -> u64 {
        if is_index {
            self.index.len() as u64
        } else {
            self.total
        }
    }

    fn new() -> Self {
        Self {
            offsets: Vec::new(),
            lens: Vec::new(),
            pieces: Vec::new(),
            total: 0,
            index: Arc::from(&b""[..]),
        }
    }

    /// Appends a piece, returning its offset.
    fn push(&mut self, piece: Piece, len: u64) -> u64 {
        let offset = self.total;
        self.offsets.push(offset);
        self.lens.push(len);
        self.pieces.push(piece);
        self.total += len;
        offset
    }
}

#[derive(Clone, Copy)]
enum GefsTime {
    Instant,
    Accumulation,
    Average,
}

/// GEFS variables in file order: (name, level, time kind, real message used). APCP is the
/// synthetic one. The default set plus a few others (VIS, GUST, TCDC, PRMSL) so that a builder
/// must filter.
const GEFS_VARS: [(&str, &str, GefsTime, usize); 12] = [
    ("VIS", "surface", GefsTime::Instant, 1),
    ("GUST", "surface", GefsTime::Instant, 5),
    ("MSLET", "mean sea level", GefsTime::Instant, 5),
    ("PRES", "surface", GefsTime::Instant, 0),
    ("TMP", "2 m above ground", GefsTime::Instant, 0),
    ("UGRD", "10 m above ground", GefsTime::Instant, 2),
    ("VGRD", "10 m above ground", GefsTime::Instant, 3),
    ("APCP", "surface", GefsTime::Accumulation, usize::MAX),
    ("CAPE", "surface", GefsTime::Instant, 4),
    (
        "PWAT",
        "entire atmosphere (considered as a single layer)",
        GefsTime::Instant,
        0,
    ),
    ("TCDC", "entire atmosphere", GefsTime::Average, 4),
    ("PRMSL", "mean sea level", GefsTime::Instant, 0),
];

/// What each [`GEFS_VARS`] slot is in GRIB2 terms: (category, number, first surface type, its
/// value), discipline 0. (APCP's entry is unused: it is written, not relabelled.)
const GEFS_IDS: [(u8, u8, u8, i32); 12] = [
    (19, 0, 1, 0),    // VIS surface
    (2, 22, 1, 0),    // GUST surface
    (3, 192, 101, 0), // MSLET mean sea level
    (3, 0, 1, 0),     // PRES surface
    (0, 0, 103, 2),   // TMP 2 m
    (2, 2, 103, 10),  // UGRD 10 m
    (2, 3, 103, 10),  // VGRD 10 m
    (1, 8, 1, 0),     // APCP surface
    (7, 6, 1, 0),     // CAPE surface
    (1, 3, 200, 0),   // PWAT entire atmosphere (considered as a single layer)
    (6, 1, 10, 0),    // TCDC entire atmosphere
    (3, 1, 101, 0),   // PRMSL mean sea level
];

/// Real GEFS stand-in messages: (fixture file, messages taken).
const GEFS_SOURCES: [&str; 5] = [
    "gfs/gdas.t12z.pgrb2.0p25.f000.12",
    "gfs/gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2",
    "gfs/gfs.20200325.t18z.pgrb2.0p25.f006",
    "gfs/gdas.t12z.pgrb2.0p25.f000.46",
    "gfs/gfs.t18z.pgrb2.0p25.f186-RH.grib2",
];

/// ECMWF parameters in file order per member: (param, levtype, levelist, real message used).
/// `tp` is the synthetic one.
const ECMWF_PARAMS: [(&str, &str, Option<&str>, usize); 17] = [
    ("tp", "sfc", None, usize::MAX),
    ("2t", "sfc", None, 5),
    ("10u", "sfc", None, 0),
    ("10v", "sfc", None, 1),
    ("msl", "sfc", None, 2),
    ("sp", "sfc", None, 3),
    ("ssr", "sfc", None, 4),
    ("ssrd", "sfc", None, 0),
    ("tcw", "sfc", None, 1),
    ("tcwv", "sfc", None, 2),
    ("tcc", "sfc", None, 4),
    ("sf", "sfc", None, 3),
    ("ro", "sfc", None, 1),
    ("u", "pl", Some("700"), 5),
    ("v", "pl", Some("700"), 5),
    ("u", "pl", Some("850"), 5),
    ("v", "pl", Some("850"), 5),
];

/// What each [`ECMWF_PARAMS`] slot is in GRIB2 terms: (discipline, category, number, first
/// surface type and value, second surface type or 255, accumulated from the run start).
const ECMWF_IDS: [(u8, u8, u8, u8, i32, u8, bool); 17] = [
    (0, 1, 193, 1, 0, 255, true),       // tp
    (0, 0, 0, 103, 2, 255, false),      // 2t
    (0, 2, 2, 103, 10, 255, false),     // 10u
    (0, 2, 3, 103, 10, 255, false),     // 10v
    (0, 3, 0, 101, 0, 255, false),      // msl
    (0, 3, 0, 1, 0, 255, false),        // sp
    (0, 4, 9, 1, 0, 255, true),         // ssr
    (0, 4, 7, 1, 0, 255, true),         // ssrd
    (0, 1, 51, 1, 0, 8, false),         // tcw
    (0, 1, 64, 1, 0, 8, false),         // tcwv
    (0, 6, 1, 1, 0, 8, false),          // tcc
    (0, 1, 53, 1, 0, 255, true),        // sf
    (2, 0, 34, 1, 0, 255, true),        // ro
    (0, 2, 2, 100, 70_000, 255, false), // u 700 hPa
    (0, 2, 3, 100, 70_000, 255, false), // v 700 hPa
    (0, 2, 2, 100, 85_000, 255, false), // u 850 hPa
    (0, 2, 3, 100, 85_000, 255, false), // v 850 hPa
];

/// The header a relabelled field carries (its grid and packing are the real message's).
fn relabel_spec(key: RelabelKey) -> Message {
    let members = key.model.members() as u8;
    let ensemble = if key.member == 0 {
        Ensemble::control(members)
    } else {
        Ensemble::perturbed(key.member as u8, members)
    };
    let surface = |kind: u8, value: i32| Surface {
        kind,
        scale: 0,
        value,
    };
    let (discipline, category, number, first, second, time, mut identification, process) =
        match key.model {
            Model::Gefs => {
                let (category, number, kind, value) = GEFS_IDS[key.slot % GEFS_IDS.len()];
                let time = match (
                    GEFS_VARS[key.slot % GEFS_VARS.len()].2,
                    gefs_apcp_window(key.step),
                ) {
                    (GefsTime::Average, Some((a, b))) => ProductTime::Statistical {
                        start_hours: a,
                        end_hours: b,
                        statistic: STAT_AVERAGE,
                    },
                    _ => ProductTime::Instant { hours: key.step },
                };
                let id = Identification::ncep(key.run);
                (
                    0,
                    category,
                    number,
                    surface(kind, value),
                    None,
                    time,
                    id,
                    (0, 107),
                )
            }
            Model::Ecmwf => {
                let (discipline, category, number, kind, value, second, accum) =
                    ECMWF_IDS[key.slot % ECMWF_IDS.len()];
                let time = if accum {
                    ProductTime::Statistical {
                        start_hours: 0,
                        end_hours: key.step,
                        statistic: STAT_ACCUMULATION,
                    }
                } else {
                    ProductTime::Instant { hours: key.step }
                };
                let second = (second != 255).then(|| surface(second, 0));
                let id = Identification::ecmwf(key.run);
                let first = surface(kind, value);
                (
                    discipline,
                    category,
                    number,
                    first,
                    second,
                    time,
                    id,
                    (255, 255),
                )
            }
        };
    identification.data_type = if key.member == 0 { 3 } else { 4 };
    Message {
        discipline,
        identification,
        grid: grid_from_corners(0.0, 0.0, 0.0, 0.0, 1.0),
        product: Product {
            category,
            number,
            generating_process: 4,
            background_process: process.0,
            process_id: process.1,
            first_surface: first,
            second_surface: second,
            time,
            ensemble: Some(ensemble),
        },
        packing: SimplePacking {
            decimal_scale: 0,
            bits: 0,
            binary_scale: Some(0),
        },
    }
}

const ECMWF_SOURCES: [&str; 2] = [
    "ecmwf/ecmwf-ifs-oper-surface.grib2",
    "ecmwf/aifs-ens-cf-t500.grib2",
];

fn load_messages(fixtures: &Path, files: &[&str]) -> io::Result<Vec<Arc<[u8]>>> {
    let mut out = Vec::new();
    for file in files {
        let path = fixtures.join(file);
        let bytes = std::fs::read(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("fixture {}: {e}", path.display())))?;
        let ranges = grib_writer::split_messages(&bytes);
        if ranges.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("fixture {} holds no GRIB2 message", path.display()),
            ));
        }
        out.extend(ranges.into_iter().map(|r| Arc::from(&bytes[r])));
    }
    Ok(out)
}

struct Cache {
    map: HashMap<PrecipKey, Arc<[u8]>>,
    order: VecDeque<PrecipKey>,
    bytes: usize,
}

struct Inner {
    config: SyntheticConfig,
    gefs_real: Vec<Arc<[u8]>>,
    ecmwf_real: Vec<Arc<[u8]>>,
    precip_len: u64,
    relabelled: Mutex<HashMap<RelabelKey, Arc<[u8]>>>,
    cache: Mutex<Cache>,
    gefs_layouts: Mutex<HashMap<(RunTime, u16, u32), Arc<Layout>>>,
    ecmwf_layouts: Mutex<HashMap<(RunTime, u32), Arc<Layout>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Layout caches are cleared past this many entries (only reachable with `any_run`).
const MAX_LAYOUTS: usize = 50_000;

/// Relabelled fields kept (each up to a few MB); the cache is emptied when full.
const MAX_RELABELLED: usize = 24;

/// Octets of a message's grid, packing, bitmap and data sections (what relabelling keeps).
fn kept_len(message: &[u8]) -> Option<u64> {
    let spans = grib_writer::sections(message).ok()?;
    Some(
        spans
            .iter()
            .filter(|s| matches!(s.number, 3 | 5 | 6 | 7))
            .map(|s| s.len as u64)
            .sum(),
    )
}

impl Inner {
    fn real_of(&self, key: RelabelKey) -> Option<&Arc<[u8]>> {
        match key.model {
            Model::Gefs => self.gefs_real.get(GEFS_VARS.get(key.slot)?.3),
            Model::Ecmwf => self.ecmwf_real.get(ECMWF_PARAMS.get(key.slot)?.3),
        }
    }

    /// Length of a relabelled field: section 0, the writer's sections 1 and 4, the real
    /// message's sections 3 and 5–7, and `7777`.
    fn relabelled_len(&self, key: RelabelKey) -> u64 {
        let kept = self.real_of(key).and_then(|m| kept_len(m)).unwrap_or(0);
        let spec = relabel_spec(key);
        16 + 21 + kept + spec.product.section_len() as u64 + 4
    }

    fn relabelled_bytes(&self, key: RelabelKey) -> Option<Arc<[u8]>> {
        if let Some(hit) = lock(&self.relabelled).get(&key) {
            return Some(Arc::clone(hit));
        }
        let bytes: Arc<[u8]> =
            Arc::from(grib_writer::relabel(self.real_of(key)?, &relabel_spec(key)).ok()?);
        let mut cache = lock(&self.relabelled);
        if cache.len() >= MAX_RELABELLED {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&bytes));
        Some(bytes)
    }

    fn precip_bytes(&self, key: PrecipKey) -> Option<Arc<[u8]>> {
        if let Some(hit) = lock(&self.cache).map.get(&key) {
            return Some(Arc::clone(hit));
        }
        let bytes = precip_message(
            key.model,
            key.run,
            key.member,
            (key.start, key.end),
            self.config.region,
        )
        .ok()?;
        if bytes.len() as u64 != self.precip_len {
            return None;
        }
        let bytes: Arc<[u8]> = Arc::from(bytes);
        let mut cache = lock(&self.cache);
        if !cache.map.contains_key(&key) {
            cache.bytes += bytes.len();
            cache.map.insert(key, Arc::clone(&bytes));
            cache.order.push_back(key);
            while cache.bytes > self.config.cache_bytes {
                let Some(old) = cache.order.pop_front() else {
                    break;
                };
                if let Some(dropped) = cache.map.remove(&old) {
                    cache.bytes -= dropped.len();
                }
            }
        }
        Some(bytes)
    }

    fn gefs_layout(&self, run: RunTime, member: u16, step: u32) -> Arc<Layout> {
        if let Some(hit) = lock(&self.gefs_layouts).get(&(run, member, step)) {
            return Arc::clone(hit);
        }
        let mut layout = Layout::new();
        let mut idx = String::new();
        let d = format!("{}{}", run.date_string(), run.hour_string());
        let ens = if member == 0 {
            "ENS=low-res ctl".to_string()
        } else {
            format!("ENS=+{member}")
        };
        let window = gefs_apcp_window(step);
        for (slot, (name, level, time, _)) in GEFS_VARS.into_iter().enumerate() {
            let relabelled = RelabelKey {
                model: Model::Gefs,
                slot,
                run,
                member,
                step,
            };
            let (piece, len, time_text) = match (time, window) {
                (GefsTime::Instant, _) => {
                    let len = self.relabelled_len(relabelled);
                    let text = if step == 0 {
                        "anl".to_string()
                    } else {
                        format!("{step} hour fcst")
                    };
                    (Piece::Relabelled(relabelled), len, text)
                }
                (_, None) => continue,
                (GefsTime::Accumulation, Some((a, b))) => {
                    let key = PrecipKey {
                        model: Model::Gefs,
                        run,
                        member,
                        start: a,
                        end: b,
                    };
                    (
                        Piece::Precip(key),
                        self.precip_len,
                        format!("{a}-{b} hour acc fcst"),
                    )
                }
                (GefsTime::Average, Some((a, b))) => {
                    let len = self.relabelled_len(relabelled);
                    (
                        Piece::Relabelled(relabelled),
                        len,
                        format!("{a}-{b} hour ave fcst"),
                    )
                }
            };
            let offset = layout.push(piece, len);
            idx.push_str(&format!(
                "{}:{offset}:d={d}:{name}:{level}:{time_text}:{ens}\n",
                layout.pieces.len()
            ));
        }
        layout.index = Arc::from(idx.into_bytes());
        let layout = Arc::new(layout);
        let mut layouts = lock(&self.gefs_layouts);
        if layouts.len() > MAX_LAYOUTS {
            layouts.clear();
        }
        layouts.insert((run, member, step), Arc::clone(&layout));
        layout
    }

    fn ecmwf_layout(&self, run: RunTime, step: u32) -> Arc<Layout> {
        if let Some(hit) = lock(&self.ecmwf_layouts).get(&(run, step)) {
            return Arc::clone(hit);
        }
        let mut layout = Layout::new();
        let mut index = String::new();
        let (date, time) = (run.date_string(), format!("{:02}00", run.hour));
        for member in 0..ECMWF_MEMBERS {
            for (slot, (param, levtype, levelist, source)) in ECMWF_PARAMS.into_iter().enumerate() {
                let (piece, len) = if source == usize::MAX {
                    let key = PrecipKey {
                        model: Model::Ecmwf,
                        run,
                        member,
                        start: 0,
                        end: step,
                    };
                    (Piece::Precip(key), self.precip_len)
                } else {
                    let key = RelabelKey {
                        model: Model::Ecmwf,
                        slot,
                        run,
                        member,
                        step,
                    };
                    (Piece::Relabelled(key), self.relabelled_len(key))
                };
                let offset = layout.push(piece, len);
                let kind = if member == 0 { "cf" } else { "pf" };
                index.push_str(&format!(
                    "{{\"domain\": \"g\", \"date\": \"{date}\", \"time\": \"{time}\", \
                     \"expver\": \"0001\", \"class\": \"od\", \"type\": \"{kind}\", \
                     \"stream\": \"enfo\", \"step\": \"{step}\", "
                ));
                if let Some(level) = levelist {
                    index.push_str(&format!("\"levelist\": \"{level}\", "));
                }
                index.push_str(&format!("\"levtype\": \"{levtype}\", "));
                if member > 0 {
                    index.push_str(&format!("\"number\": \"{member}\", "));
                }
                index.push_str(&format!(
                    "\"param\": \"{param}\", \"_offset\": {offset}, \"_length\": {len}}}\n"
                ));
            }
        }
        layout.index = Arc::from(index.into_bytes());
        let layout = Arc::new(layout);
        let mut layouts = lock(&self.ecmwf_layouts);
        if layouts.len() > MAX_LAYOUTS {
            layouts.clear();
        }
        layouts.insert((run, step), Arc::clone(&layout));
        layout
    }

    /// Bytes `range` of the GRIB2 file `layout` describes, or (`is_index`) of its index.
    fn read_file(&self, layout: &Layout, is_index: bool, range: Range<u64>) -> Option<Vec<u8>> {
        if is_index {
            return layout
                .index
                .get(usize::try_from(range.start).ok()?..usize::try_from(range.end).ok()?)
                .map(<[u8]>::to_vec);
        }
        self.read_layout(layout, range)
    }

    fn read_layout(&self, layout: &Layout, range: Range<u64>) -> Option<Vec<u8>> {
        if range.end > layout.total || range.start > range.end {
            return None;
        }
        let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).ok()?);
        let mut i = layout
            .offsets
            .partition_point(|&o| o <= range.start)
            .checked_sub(1)?;
        while i < layout.pieces.len() && layout.offsets[i] < range.end {
            let offset = layout.offsets[i];
            let from = range.start.max(offset) - offset;
            let to = range.end.min(offset + layout.lens[i]) - offset;
            let bytes = match &layout.pieces[i] {
                Piece::Relabelled(key) => self.relabelled_bytes(*key)?,
                Piece::Precip(key) => self.precip_bytes(*key)?,
            };
            out.extend_from_slice(bytes.get(from as usize..to as usize)?);
            i += 1;
        }
        Some(out)
    }
}

/// Both synthetic buckets over one set of loaded fixtures and one message cache.
#[derive(Clone)]
pub struct Synthetic {
    inner: Arc<Inner>,
}

impl Synthetic {
    /// Loads the real fixture messages named in the module docs.
    pub fn load(config: SyntheticConfig) -> io::Result<Self> {
        let gefs_real = load_messages(&config.fixtures, &GEFS_SOURCES)?;
        let ecmwf_real = load_messages(&config.fixtures, &ECMWF_SOURCES)?;
        if gefs_real.len() < 6 || ecmwf_real.len() < 6 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "fixtures hold fewer messages than expected",
            ));
        }
        // Relabelling keeps one field's sections: every stand-in must hold exactly one.
        for m in gefs_real.iter().chain(&ecmwf_real) {
            let spans = grib_writer::sections(m)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if spans.iter().filter(|s| s.number == 4).count() != 1 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a stand-in fixture message holds several fields",
                ));
            }
        }
        let precip_len = precip_spec(
            Model::Gefs,
            RunTime::from_unix_seconds(0),
            0,
            (0, 0),
            config.region,
        )
        .encoded_len(point_count(&precip_grid(Model::Gefs, config.region)), false)
            as u64;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                gefs_real,
                ecmwf_real,
                precip_len,
                relabelled: Mutex::new(HashMap::new()),
                cache: Mutex::new(Cache {
                    map: HashMap::new(),
                    order: VecDeque::new(),
                    bytes: 0,
                }),
                gefs_layouts: Mutex::new(HashMap::new()),
                ecmwf_layouts: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SyntheticConfig {
        &self.inner.config
    }

    /// The GEFS bucket (paths as inside [`GEFS_BUCKET`]).
    pub fn gefs(&self) -> SyntheticGefs {
        SyntheticGefs {
            inner: Arc::clone(&self.inner),
        }
    }

    /// The ECMWF bucket (paths as inside [`ECMWF_BUCKET`]).
    pub fn ecmwf(&self) -> SyntheticEcmwf {
        SyntheticEcmwf {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Both buckets mounted under their real names, ready for [`crate::mirror::MirrorConfig`].
    pub fn mount(&self) -> Mount {
        Mount::new()
            .at(GEFS_BUCKET, self.gefs())
            .at(ECMWF_BUCKET, self.ecmwf())
    }

    /// Starts a mirror on a free local port serving [`Synthetic::mount`], no latency or faults.
    pub fn serve(&self) -> io::Result<MirrorServer> {
        MirrorServer::start(MirrorConfig::new(self.mount()))
    }

    /// Bytes of generated precipitation messages currently cached.
    pub fn cached_bytes(&self) -> usize {
        lock(&self.inner.cache).bytes
    }

    /// Length of every generated precipitation message.
    pub fn precip_message_len(&self) -> u64 {
        self.inner.precip_len
    }
}

/// The GEFS bucket: `gefs.YYYYMMDD/HH/atmos/pgrb2sp25/{gec00,gepNN}.tHHz.pgrb2s.0p25.fFFF[.idx]`.
#[derive(Clone)]
pub struct SyntheticGefs {
    inner: Arc<Inner>,
}

impl SyntheticGefs {
    /// `(run, member, step, is_index)` of a path, if it names a served file.
    fn parse(&self, path: &str) -> Option<(RunTime, u16, u32, bool)> {
        let parts: Vec<&str> = path.split('/').collect();
        let [day, hh, "atmos", "pgrb2sp25", file] = parts.as_slice() else {
            return None;
        };
        let date = day.strip_prefix("gefs.")?;
        if hh.len() != 2 {
            return None;
        }
        let run = RunTime::parse(date, hh).ok()?;
        if !self.inner.config.serves(&run) {
            return None;
        }
        let (file, is_index) = match file.strip_suffix(".idx") {
            Some(f) => (f, true),
            None => (*file, false),
        };
        let fields: Vec<&str> = file.split('.').collect();
        let [name, cycle, "pgrb2s", "0p25", fstep] = fields.as_slice() else {
            return None;
        };
        if *cycle != format!("t{hh}z") {
            return None;
        }
        let member = match *name {
            "gec00" => 0,
            n => {
                let digits = n.strip_prefix("gep").filter(|d| d.len() == 2)?;
                let m: u16 = digits.parse().ok()?;
                (1..GEFS_MEMBERS).contains(&m).then_some(m)?
            }
        };
        let digits = fstep.strip_prefix('f').filter(|d| d.len() == 3)?;
        let step: u32 = digits.parse().ok()?;
        (step <= 240 && step.is_multiple_of(3)).then_some((run, member, step, is_index))
    }
}

impl Content for SyntheticGefs {
    fn len(&self, path: &str) -> Option<u64> {
        let (run, member, step, is_index) = self.parse(path)?;
        Some(self.inner.gefs_layout(run, member, step).len(is_index))
    }

    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>> {
        let (run, member, step, is_index) = self.parse(path)?;
        let layout = self.inner.gefs_layout(run, member, step);
        self.inner.read_file(&layout, is_index, range)
    }
}

/// The ECMWF bucket: `YYYYMMDD/HHz/ifs/0p25/enfo/YYYYMMDDHH0000-{step}h-enfo-ef.{grib2,index}`.
#[derive(Clone)]
pub struct SyntheticEcmwf {
    inner: Arc<Inner>,
}

impl SyntheticEcmwf {
    /// `(run, step, is_index)` of a path, if it names a served file.
    fn parse(&self, path: &str) -> Option<(RunTime, u32, bool)> {
        let parts: Vec<&str> = path.split('/').collect();
        let [date, hhz, "ifs", "0p25", "enfo", file] = parts.as_slice() else {
            return None;
        };
        let hh = hhz.strip_suffix('z').filter(|h| h.len() == 2)?;
        let run = RunTime::parse(date, hh).ok()?;
        if !self.inner.config.serves(&run) {
            return None;
        }
        let (stem, is_index) = if let Some(s) = file.strip_suffix(".index") {
            (s, true)
        } else {
            (file.strip_suffix(".grib2")?, false)
        };
        let rest = stem.strip_prefix(&format!("{date}{hh}0000-"))?;
        let step_text = rest.strip_suffix("h-enfo-ef")?;
        if step_text.is_empty() || !step_text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let step: u32 = step_text.parse().ok()?;
        ecmwf_steps(run.hour)
            .contains(&step)
            .then_some((run, step, is_index))
    }
}

impl Content for SyntheticEcmwf {
    fn len(&self, path: &str) -> Option<u64> {
        let (run, step, is_index) = self.parse(path)?;
        Some(self.inner.ecmwf_layout(run, step).len(is_index))
    }

    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>> {
        let (run, step, is_index) = self.parse(path)?;
        let layout = self.inner.ecmwf_layout(run, step);
        self.inner.read_file(&layout, is_index, range)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn run() -> RunTime {
        RunTime::parse("20250801", "00").unwrap()
    }

    /// Short name, level value, member and step (window end) of every message of a file.
    fn identities(content: &dyn Content, path: &str) -> Vec<(String, Option<f64>, String, u32)> {
        use gik_core::index::{EnsembleMember, ForecastTime};
        let len = content.len(path).unwrap();
        let bytes = content.read(path, 0..len).unwrap();
        grib_writer::split_messages(&bytes)
            .into_iter()
            .map(|r| {
                let info = gik_core::grib::describe(&bytes[r]).unwrap();
                let m = info.metadata;
                assert_eq!(m.reference_time, Some(run()));
                let member = match m.member {
                    Some(EnsembleMember::Control) => "control".to_string(),
                    Some(EnsembleMember::Perturbed(n)) => format!("+{n}"),
                    other => format!("{other:?}"),
                };
                let minutes = match m.time {
                    ForecastTime::Analysis => 0,
                    ForecastTime::Lead { minutes } => minutes,
                    ForecastTime::Window { end_minutes, .. } => end_minutes,
                };
                (m.short_name, m.level.value, member, minutes / 60)
            })
            .collect()
    }

    #[test]
    fn every_message_says_which_variable_step_and_member_it_is() {
        let synthetic = Synthetic::load(SyntheticConfig::new([run()])).unwrap();
        let gefs = identities(&synthetic.gefs(), &gefs_key(run(), 5, 24));
        let names: Vec<&str> = gefs.iter().map(|(n, ..)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "VIS", "gust", "mslet", "sp", "2t", "10u", "10v", "tp", "cape", "pwat", "tcc",
                "prmsl"
            ]
        );
        assert!(
            gefs.iter().all(|(_, _, m, s)| m == "+5" && *s == 24),
            "{gefs:?}"
        );
        assert_eq!(gefs[4].1, Some(2.0));
        let control = identities(&synthetic.gefs(), &gefs_key(run(), 0, 0));
        assert!(control.iter().all(|(_, _, m, s)| m == "control" && *s == 0));
        let ecmwf = identities(&synthetic.ecmwf(), &ecmwf_key(run(), 24));
        assert_eq!(ecmwf.len(), 17 * usize::from(ECMWF_MEMBERS));
        let pf17 = &ecmwf[17 * 17..18 * 17];
        let names: Vec<&str> = pf17.iter().map(|(n, ..)| n.as_str()).collect();
        assert_eq!(
            &names[..11],
            ["tp", "2t", "10u", "10v", "msl", "sp", "ssr", "ssrd", "tcw", "tcwv", "tcc"]
        );
        assert_eq!(&names[13..], ["u", "v", "u", "v"]);
        assert_eq!(
            pf17[13..].iter().map(|e| e.1).collect::<Vec<_>>(),
            [Some(700.0), Some(700.0), Some(850.0), Some(850.0)]
        );
        assert!(
            pf17.iter().all(|(_, _, m, s)| m == "+17" && *s == 24),
            "{pf17:?}"
        );
        assert_eq!(ecmwf[0].2, "control");
    }

    #[test]
    fn keys_and_steps() {
        assert_eq!(
            gefs_key(run(), 1, 15),
            "gefs.20250801/00/atmos/pgrb2sp25/gep01.t00z.pgrb2s.0p25.f015"
        );
        assert_eq!(
            gefs_key(run(), 0, 0),
            "gefs.20250801/00/atmos/pgrb2sp25/gec00.t00z.pgrb2s.0p25.f000"
        );
        assert_eq!(
            ecmwf_key(run(), 15),
            "20250801/00z/ifs/0p25/enfo/20250801000000-15h-enfo-ef.grib2"
        );
        assert_eq!(gefs_steps().len(), 81);
        assert_eq!(ecmwf_steps(0).len(), 85);
        assert_eq!(ecmwf_steps(6).len(), 49);
        assert_eq!(gefs_apcp_window(3), Some((0, 3)));
        assert_eq!(gefs_apcp_window(6), Some((0, 6)));
        assert_eq!(gefs_apcp_window(9), Some((6, 9)));
        assert_eq!(gefs_apcp_window(12), Some((6, 12)));
        assert_eq!(gefs_apcp_window(0), None);
    }

    #[test]
    fn grids_use_each_centres_longitudes() {
        let g = precip_grid(Model::Gefs, Region::EAST_AFRICA);
        assert_eq!(
            (g.ni, g.nj, g.lo1, g.lo2),
            (129, 141, 21_000_000, 53_000_000)
        );
        let west = Region {
            west: -20.0,
            east: 10.0,
            ..Region::EAST_AFRICA
        };
        assert_eq!(precip_grid(Model::Gefs, west).lo1, 340_000_000);
        assert_eq!(precip_grid(Model::Ecmwf, west).lo1, -20_000_000);
    }

    #[test]
    fn windows_add_up_and_never_tie_whole_millimetres() {
        let r = run();
        for member in [0, 7, 30] {
            for (lat, lon) in [(0.0, 37.0), (10.25, 40.5), (-5.0, 30.0)] {
                let day = rain_tenths(Model::Gefs, r, member, 24, 48, lat, lon);
                let parts: u32 = [(24, 30), (30, 36), (36, 42), (42, 48)]
                    .iter()
                    .map(|&(a, b)| rain_tenths(Model::Gefs, r, member, a, b, lat, lon))
                    .sum();
                assert_eq!(day, parts);
                assert!(day == 0 || !day.is_multiple_of(10), "{day}");
                // GEFS 0..360 and ECMWF -180..180 longitudes name the same points.
                assert_eq!(
                    rain_tenths(Model::Ecmwf, r, member, 0, 24, lat, lon),
                    rain_tenths(Model::Ecmwf, r, member, 0, 24, lat, lon + 360.0)
                );
            }
        }
    }

    #[test]
    fn exceedance_probabilities_are_not_trivial() {
        let r = run();
        let grid = precip_grid(Model::Ecmwf, Region::EAST_AFRICA);
        for model in [Model::Gefs, Model::Ecmwf] {
            let fields: Vec<Vec<u32>> = (0..model.members())
                .map(|m| field_tenths(model, r, m, (24, 48), &grid))
                .collect();
            for threshold in [1u32, 5, 10, 25, 50] {
                let mut partial = 0;
                for i in 0..point_count(&grid) {
                    let above = fields.iter().filter(|f| f[i] > threshold * 10).count();
                    if above > 0 && above < fields.len() {
                        partial += 1;
                    }
                }
                let share = partial as f64 / point_count(&grid) as f64;
                assert!(share > 0.05, "{model:?} > {threshold} mm: {share}");
            }
        }
        // The point helper agrees with the field.
        let (lat, lon) = coordinates(&grid, 5000);
        let p = expected_exceedance(Model::Ecmwf, r, (24, 48), 5.0, lat, lon);
        assert!((0.0..=100.0).contains(&p));
    }

    #[test]
    fn precip_messages_have_the_announced_length() {
        let r = run();
        for (model, window) in [
            (Model::Gefs, (6, 9)),
            (Model::Ecmwf, (0, 360)),
            (Model::Ecmwf, (0, 0)),
        ] {
            let bytes = precip_message(model, r, 3, window, Region::EAST_AFRICA).unwrap();
            let spans = grib_writer::sections(&bytes).unwrap();
            assert_eq!(spans.len(), 8);
            let spec = precip_spec(model, r, 3, window, Region::EAST_AFRICA);
            assert_eq!(
                bytes.len(),
                spec.encoded_len(point_count(&spec.grid), false)
            );
        }
    }
}
