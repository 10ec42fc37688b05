//! Cropping decoded fields to the output box, whatever longitude convention the source uses.
//!
//! Why this is its own module: GEFS grids run 0…359.75°E, ECMWF grids −180…179.75°E, regional
//! grids start anywhere, and users ask for boxes in −180…180 — sometimes across 0° (West Africa
//! to the Horn) or across 180°. Getting one column wrong shifts a whole map silently, so the
//! mapping from an output longitude to a source column is one pure function
//! ([`source_column`]) with its own tests, and everything else here is built on it.
//!
//! The output grid is the part of the source lattice (same spacing, same alignment) that lies
//! inside the box: latitudes from north to south, longitudes from west to east, every longitude
//! written in −180…180 (a box crossing 180° therefore has longitudes that jump from 179.75 to
//! −180 — they still increase eastwards along the row). A [`CropMap`] is computed per message
//! from that message's own grid, so a field is cropped the moment it is decoded and the global
//! field is dropped straight away; output points the source grid does not cover are NaN.

use std::fmt;
use std::str::FromStr;

use gik_core::grib::Grid;

/// Tolerance, in grid steps, for deciding that a coordinate lies on the lattice.
const ON_LATTICE: f64 = 1e-3;

/// Why a box or a crop could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CropError {
    /// The `--bbox` text or values are not a valid box.
    #[error("invalid box {text:?}: {reason}")]
    BadBox {
        /// The box as given.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// The source grid cannot be cropped (not a regular lat/lon grid, unsupported scanning).
    #[error("cannot crop this grid: {0}")]
    Unsupported(String),
    /// The source grid's spacing or alignment differs from the output grid's.
    #[error("grid does not match the output grid: {0}")]
    Mismatch(String),
    /// A field has a different number of values than its grid.
    #[error("field has {found} values, its grid {expected}")]
    WrongLength {
        /// Values in the grid.
        expected: usize,
        /// Values given.
        found: usize,
    },
}

/// A latitude/longitude box, edges included. Longitudes are kept in −180…180; a box whose
/// `east` is smaller than its `west` crosses the 180° meridian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BBox {
    /// Southern edge, degrees north.
    pub south: f64,
    /// Northern edge, degrees north.
    pub north: f64,
    /// Western edge, degrees east in −180…180.
    pub west: f64,
    /// Eastern edge, degrees east in −180…180.
    pub east: f64,
}

impl BBox {
    /// A box from its edges. Longitudes may be given in either convention (−180…180 or
    /// 0…360) and are brought to −180…180; `west == east` (after wrapping) means all the way
    /// round.
    pub fn new(south: f64, north: f64, west: f64, east: f64) -> Result<Self, CropError> {
        let text = format!("{south},{north},{west},{east}");
        let bad = |reason: &str| CropError::BadBox {
            text: text.clone(),
            reason: reason.to_string(),
        };
        if ![south, north, west, east].iter().all(|v| v.is_finite()) {
            return Err(bad("edges must be finite numbers"));
        }
        if !(-90.0..=90.0).contains(&south) || !(-90.0..=90.0).contains(&north) {
            return Err(bad("latitudes must be within -90..90"));
        }
        if south > north {
            return Err(bad("south is north of north (expected S,N,W,E)"));
        }
        if !(-180.0..=360.0).contains(&west) || !(-180.0..=360.0).contains(&east) {
            return Err(bad("longitudes must be within -180..180 (or 0..360)"));
        }
        // West in [-180, 180), east in (-180, 180] so that 180 as an east edge stays 180.
        let west = wrap_lon(west);
        let mut east = wrap_lon(east);
        if east == -180.0 {
            east = 180.0;
        }
        Ok(Self {
            south,
            north,
            west,
            east,
        })
    }

    /// Whether the box crosses the 180° meridian.
    pub fn crosses_antimeridian(&self) -> bool {
        self.east < self.west
    }

    /// Width in degrees of longitude (360 for a box all the way round).
    pub fn width(&self) -> f64 {
        let w = self.east - self.west;
        if w > 0.0 {
            w
        } else {
            w + 360.0
        }
    }
}

impl FromStr for BBox {
    type Err = CropError;

    /// Parses `S,N,W,E` (degrees; commas or spaces between the four numbers).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text
            .split([',', ' '])
            .filter(|p| !p.trim().is_empty())
            .collect();
        let values: Option<Vec<f64>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
        match values.as_deref() {
            Some(&[s, n, w, e]) => Self::new(s, n, w, e).map_err(|e| match e {
                CropError::BadBox { reason, .. } => CropError::BadBox {
                    text: text.to_string(),
                    reason,
                },
                other => other,
            }),
            _ => Err(CropError::BadBox {
                text: text.to_string(),
                reason: "expected four numbers S,N,W,E, e.g. -12,23,21,53".into(),
            }),
        }
    }
}

impl fmt::Display for BBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.south, self.north, self.west, self.east
        )
    }
}

/// A longitude in −180…180 (180 itself becomes −180).
pub fn wrap_lon(lon: f64) -> f64 {
    round_micro((lon + 180.0).rem_euclid(360.0) - 180.0)
}

/// Rounds to a micro-degree, GRIB2's precision, hiding float noise in `origin + k·step`.
fn round_micro(x: f64) -> f64 {
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 {
        0.0 // no -0.0
    } else {
        r
    }
}

/// The regular lattice of a source grid: one point and the spacing along each axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lattice {
    /// A latitude on the lattice.
    pub lat0: f64,
    /// Latitude spacing, positive.
    pub dlat: f64,
    /// A longitude on the lattice.
    pub lon0: f64,
    /// Longitude spacing, positive.
    pub dlon: f64,
}

impl Lattice {
    /// The lattice of coordinate axes (as a manifest stores them); `None` for axes of fewer than
    /// two points or with a zero spacing.
    pub fn from_axes(latitudes: &[f64], longitudes: &[f64]) -> Option<Self> {
        let (&la, &lb) = (latitudes.first()?, latitudes.get(1)?);
        let (&oa, &ob) = (longitudes.first()?, longitudes.get(1)?);
        let (dlat, dlon) = ((lb - la).abs(), (ob - oa).abs());
        (dlat > 0.0 && dlon > 0.0).then_some(Self {
            lat0: la,
            dlat,
            lon0: oa,
            dlon,
        })
    }

    /// Whether `other` has the same spacing and alignment (longitudes modulo 360).
    pub fn same_as(&self, other: &Lattice) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        close(self.dlat, other.dlat)
            && close(self.dlon, other.dlon)
            && on_lattice((other.lat0 - self.lat0) / self.dlat)
            && on_lattice((other.lon0 - self.lon0).rem_euclid(360.0) / self.dlon)
    }
}

fn on_lattice(k: f64) -> bool {
    (k - k.round()).abs() < ON_LATTICE
}

/// The output grid: the lattice points inside the box.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputGrid {
    /// Latitudes, north to south.
    pub latitudes: Vec<f64>,
    /// Longitudes, west to east, each in −180…180.
    pub longitudes: Vec<f64>,
    /// The lattice they come from.
    pub lattice: Lattice,
}

impl OutputGrid {
    /// The points of `lattice` inside `bbox` (edges included).
    pub fn new(bbox: &BBox, lattice: Lattice) -> Result<Self, CropError> {
        let empty = |what: &str| CropError::BadBox {
            text: bbox.to_string(),
            reason: format!(
                "no {what} of the {}°×{}° grid inside the box",
                lattice.dlat, lattice.dlon
            ),
        };
        let l = lattice;
        let first = ((bbox.south - l.lat0) / l.dlat - ON_LATTICE).ceil() as i64;
        let last = ((bbox.north - l.lat0) / l.dlat + ON_LATTICE).floor() as i64;
        if last < first {
            return Err(empty("latitude"));
        }
        let latitudes: Vec<f64> = (first..=last)
            .rev()
            .map(|k| round_micro(l.lat0 + k as f64 * l.dlat))
            .filter(|lat| (-90.0..=90.0).contains(lat))
            .collect();
        let west = bbox.west;
        let east = west + bbox.width();
        let per_circle = (360.0 / l.dlon).round() as i64;
        let first = ((west - l.lon0) / l.dlon - ON_LATTICE).ceil() as i64;
        let mut last = ((east - l.lon0) / l.dlon + ON_LATTICE).floor() as i64;
        if last - first + 1 > per_circle {
            last = first + per_circle - 1;
        }
        if last < first || latitudes.is_empty() {
            return Err(empty(if latitudes.is_empty() {
                "latitude"
            } else {
                "longitude"
            }));
        }
        let longitudes = (first..=last)
            .map(|k| wrap_lon(l.lon0 + k as f64 * l.dlon))
            .collect();
        Ok(Self {
            latitudes,
            longitudes,
            lattice,
        })
    }

    /// Number of points.
    pub fn points(&self) -> usize {
        self.latitudes.len() * self.longitudes.len()
    }
}

/// The source column holding longitude `lon` on a row of `ni` points starting at `lon_first`
/// and `step` degrees apart (negative when columns run westwards); `None` when `lon` is not
/// on the row (outside a regional grid, or between two columns). Longitudes compare modulo
/// 360, so either convention works on either side.
pub fn source_column(lon: f64, lon_first: f64, step: f64, ni: usize) -> Option<usize> {
    if step == 0.0 || !lon.is_finite() || !lon_first.is_finite() {
        return None;
    }
    let mut delta = (lon - lon_first).rem_euclid(360.0);
    if step < 0.0 {
        delta = (360.0 - delta).rem_euclid(360.0);
    }
    let k = delta / step.abs();
    if !on_lattice(k) {
        return None;
    }
    let mut k = k.round();
    let per_circle = 360.0 / step.abs();
    if (k - per_circle).abs() < ON_LATTICE {
        k = 0.0; // 359.9999… is 0
    }
    let k = k as usize;
    (k < ni).then_some(k)
}

/// The source row holding latitude `lat` on a column of `nj` points starting at `lat_first`
/// and `step` degrees apart (negative when rows run southwards); `None` when `lat` is not on
/// the column.
pub fn source_row(lat: f64, lat_first: f64, step: f64, nj: usize) -> Option<usize> {
    if step == 0.0 || !lat.is_finite() {
        return None;
    }
    let k = (lat - lat_first) / step;
    if k < -ON_LATTICE || !on_lattice(k) {
        return None;
    }
    let k = k.round() as usize;
    (k < nj).then_some(k)
}

/// Which source value lands on each output point, for one source grid.
#[derive(Clone, Debug, PartialEq)]
pub struct CropMap {
    rows: Vec<Option<usize>>,
    cols: Vec<Option<usize>>,
    ni: usize,
    points: usize,
}

impl CropMap {
    /// The map from `grid` (a regular lat/lon grid scanned row by row) to `out`. Fails when the
    /// grid has another spacing or alignment than the output grid.
    pub fn new(grid: &Grid, out: &OutputGrid) -> Result<Self, CropError> {
        let Some(g) = grid.latlon.as_ref() else {
            return Err(CropError::Unsupported(format!(
                "grid template 3.{} is not a regular latitude/longitude grid",
                grid.template
            )));
        };
        let (Some(ni), Some(nj)) = (grid.ni, grid.nj) else {
            return Err(CropError::Unsupported("rows of varying length".into()));
        };
        if g.gaussian {
            return Err(CropError::Unsupported("Gaussian latitudes".into()));
        }
        if g.scanning_mode & 0x30 != 0 {
            return Err(CropError::Unsupported(format!(
                "scanning mode {:#04x} (only row by row, all rows the same way)",
                g.scanning_mode
            )));
        }
        let lat_step = if g.lat_last >= g.lat_first {
            g.dj
        } else {
            -g.dj
        };
        let lon_step = if g.scanning_mode & 0x80 != 0 {
            -g.di
        } else {
            g.di
        };
        let source = Lattice {
            lat0: g.lat_first,
            dlat: g.dj,
            lon0: g.lon_first,
            dlon: g.di,
        };
        if !out.lattice.same_as(&source) {
            return Err(CropError::Mismatch(format!(
                "source {}°×{}° from ({}, {}), output {}°×{}° through ({}, {})",
                g.dj,
                g.di,
                g.lat_first,
                g.lon_first,
                out.lattice.dlat,
                out.lattice.dlon,
                out.lattice.lat0,
                out.lattice.lon0
            )));
        }
        Ok(Self {
            rows: out
                .latitudes
                .iter()
                .map(|&lat| source_row(lat, g.lat_first, lat_step, nj))
                .collect(),
            cols: out
                .longitudes
                .iter()
                .map(|&lon| source_column(lon, g.lon_first, lon_step, ni))
                .collect(),
            ni,
            points: ni * nj,
        })
    }

    /// Output points that the source grid covers.
    pub fn covered(&self) -> usize {
        self.rows.iter().flatten().count() * self.cols.iter().flatten().count()
    }

    /// The output field (row by row, north first) from a source field in scan order.
    pub fn apply(&self, values: &[f32]) -> Result<Vec<f32>, CropError> {
        if values.len() != self.points {
            return Err(CropError::WrongLength {
                expected: self.points,
                found: values.len(),
            });
        }
        let mut out = Vec::with_capacity(self.rows.len() * self.cols.len());
        for row in &self.rows {
            match row {
                Some(r) => {
                    let base = r * self.ni;
                    out.extend(self.cols.iter().map(|c| match c {
                        Some(c) => values.get(base + c).copied().unwrap_or(f32::NAN),
                        None => f32::NAN,
                    }));
                }
                None => out.extend(std::iter::repeat_n(f32::NAN, self.cols.len())),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use gik_core::grib::LatLonGrid;

    const Q: f64 = 0.25;

    #[test]
    fn columns_on_gefs_and_ecmwf_grids() {
        // GEFS: 0 … 359.75.
        assert_eq!(source_column(0.0, 0.0, Q, 1440), Some(0));
        assert_eq!(source_column(19.0, 0.0, Q, 1440), Some(76));
        assert_eq!(source_column(-0.25, 0.0, Q, 1440), Some(1439));
        assert_eq!(source_column(-10.0, 0.0, Q, 1440), Some(1400));
        assert_eq!(source_column(-180.0, 0.0, Q, 1440), Some(720));
        assert_eq!(source_column(179.75, 0.0, Q, 1440), Some(719));
        // ECMWF: −180 … 179.75.
        assert_eq!(source_column(-180.0, -180.0, Q, 1440), Some(0));
        assert_eq!(source_column(0.0, -180.0, Q, 1440), Some(720));
        assert_eq!(source_column(19.0, -180.0, Q, 1440), Some(796));
        assert_eq!(source_column(-0.25, -180.0, Q, 1440), Some(719));
        assert_eq!(source_column(179.75, -180.0, Q, 1440), Some(1439));
        // ECMWF as encoded (starting at 180°E): the same meridians.
        assert_eq!(source_column(-180.0, 180.0, Q, 1440), Some(0));
        // Either convention for the output longitude.
        assert_eq!(source_column(350.0, 0.0, Q, 1440), Some(1400));
        assert_eq!(source_column(350.0, -180.0, Q, 1440), Some(680));
        // Float noise near a full turn.
        assert_eq!(source_column(-1e-9, 0.0, Q, 1440), Some(0));
        // Between columns, or outside a regional grid.
        assert_eq!(source_column(19.1, 0.0, Q, 1440), None);
        assert_eq!(source_column(20.75, 21.0, Q, 129), None);
        assert_eq!(source_column(53.25, 21.0, Q, 129), None);
        assert_eq!(source_column(53.0, 21.0, Q, 129), Some(128));
        // Columns running westwards.
        assert_eq!(source_column(359.0, 0.0, -Q, 1440), Some(4));
        assert_eq!(source_column(1.0, 0.0, -Q, 1440), Some(1436));
        assert_eq!(source_column(1.0, 0.0, 0.0, 1440), None);
    }

    #[test]
    fn rows_both_ways() {
        assert_eq!(source_row(90.0, 90.0, -Q, 721), Some(0));
        assert_eq!(source_row(-90.0, 90.0, -Q, 721), Some(720));
        assert_eq!(source_row(25.0, 90.0, -Q, 721), Some(260));
        assert_eq!(source_row(25.0, -90.0, Q, 721), Some(460));
        assert_eq!(source_row(23.25, 23.0, -Q, 141), None);
        assert_eq!(source_row(-12.25, 23.0, -Q, 141), None);
        assert_eq!(source_row(25.1, 90.0, -Q, 721), None);
    }

    #[test]
    fn boxes_parse_and_wrap() {
        let b: BBox = "-14,25,19,55".parse().unwrap();
        assert_eq!(
            (b.south, b.north, b.west, b.east),
            (-14.0, 25.0, 19.0, 55.0)
        );
        assert!(!b.crosses_antimeridian());
        let b: BBox = "0 10 350 10".parse().unwrap();
        assert_eq!((b.west, b.east, b.width()), (-10.0, 10.0, 20.0));
        let b = BBox::new(-10.0, 10.0, 170.0, -170.0).unwrap();
        assert!(b.crosses_antimeridian());
        assert_eq!(b.width(), 20.0);
        let b = BBox::new(-10.0, 10.0, 0.0, 180.0).unwrap();
        assert_eq!((b.east, b.width()), (180.0, 180.0));
        assert_eq!(
            BBox::new(-90.0, 90.0, -180.0, 180.0).unwrap().width(),
            360.0
        );
        for bad in ["1,2,3", "10,-10,0,5", "-91,0,0,1", "0,1,0,400", "a,b,c,d"] {
            let err = bad.parse::<BBox>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    fn quarter() -> Lattice {
        Lattice {
            lat0: 90.0,
            dlat: Q,
            lon0: -180.0,
            dlon: Q,
        }
    }

    #[test]
    fn output_grids() {
        let g = OutputGrid::new(&"-14,25,19,55".parse().unwrap(), quarter()).unwrap();
        assert_eq!(g.latitudes.len(), 157);
        assert_eq!(
            (g.latitudes[0], *g.latitudes.last().unwrap()),
            (25.0, -14.0)
        );
        assert_eq!(g.longitudes.len(), 145);
        assert_eq!(
            (g.longitudes[0], *g.longitudes.last().unwrap()),
            (19.0, 55.0)
        );
        // Across 0°: -2 .. 2.
        let g = OutputGrid::new(&"0,1,-2,2".parse().unwrap(), quarter()).unwrap();
        assert_eq!(g.longitudes.len(), 17);
        assert_eq!(g.longitudes[8], 0.0);
        assert_eq!(g.longitudes[0], -2.0);
        // Across 180°: 179 .. -179, written in -180..180.
        let g = OutputGrid::new(&"0,1,179,-179".parse().unwrap(), quarter()).unwrap();
        assert_eq!(g.longitudes.len(), 9);
        assert_eq!(g.longitudes[3], 179.75);
        assert_eq!(g.longitudes[4], -180.0);
        assert_eq!(g.longitudes[8], -179.0);
        // The whole circle, once.
        let g = OutputGrid::new(&"-90,90,-180,180".parse().unwrap(), quarter()).unwrap();
        assert_eq!((g.latitudes.len(), g.longitudes.len()), (721, 1440));
        // Edges between lattice points.
        let g = OutputGrid::new(&"0.1,0.6,0.1,0.6".parse().unwrap(), quarter()).unwrap();
        assert_eq!(g.latitudes, [0.5, 0.25]);
        assert_eq!(g.longitudes, [0.25, 0.5]);
        assert!(OutputGrid::new(&"0.1,0.2,0,1".parse().unwrap(), quarter()).is_err());
    }

    /// A global grid whose value at each point encodes its (lat, lon): `lat * 1000 + lon360`.
    fn global(lon_first: f64, scanning_mode: u8) -> (Grid, Vec<f32>) {
        let (ni, nj) = (1440usize, 721usize);
        let grid = Grid {
            template: 0,
            num_points: ni * nj,
            ni: Some(ni),
            nj: Some(nj),
            latlon: Some(LatLonGrid {
                lat_first: 90.0,
                lon_first,
                lat_last: -90.0,
                lon_last: lon_first + 359.75,
                di: Q,
                dj: Q,
                scanning_mode,
                gaussian: false,
            }),
        };
        let values = (0..ni * nj)
            .map(|i| {
                let (lat, lon) = grid.coordinates(i).unwrap();
                code(lat, lon)
            })
            .collect();
        (grid, values)
    }

    fn code(lat: f64, lon: f64) -> f32 {
        ((lat + 90.0) * 10_000.0 + lon.rem_euclid(360.0) * 4.0) as f32
    }

    fn check_crop(bbox: &str, lon_first: f64) {
        let (grid, values) = global(lon_first, 0);
        let out = OutputGrid::new(&bbox.parse().unwrap(), quarter()).unwrap();
        let map = CropMap::new(&grid, &out).unwrap();
        assert_eq!(map.covered(), out.points());
        let cropped = map.apply(&values).unwrap();
        assert_eq!(cropped.len(), out.points());
        for (r, &lat) in out.latitudes.iter().enumerate() {
            for (c, &lon) in out.longitudes.iter().enumerate() {
                assert!((-180.0..180.0).contains(&lon));
                let got = cropped[r * out.longitudes.len() + c];
                assert_eq!(
                    got,
                    code(lat, lon),
                    "{bbox} from {lon_first}: ({lat}, {lon})"
                );
            }
        }
    }

    #[test]
    fn crops_across_0_and_180_from_either_convention() {
        for lon_first in [0.0, -180.0] {
            check_crop("-14,25,19,55", lon_first);
            check_crop("-5,5,-10,10", lon_first); // crosses 0°
            check_crop("-5,5,170,-170", lon_first); // crosses 180°
            check_crop("-5,5,350,10", lon_first); // 0..360 input
            check_crop("80,90,-180,180", lon_first); // all the way round
        }
    }

    #[test]
    fn regional_grids_leave_nan_outside() {
        // East Africa at 0.25°, GEFS convention, inside a larger box.
        let (ni, nj) = (129usize, 141usize);
        let grid = Grid {
            template: 0,
            num_points: ni * nj,
            ni: Some(ni),
            nj: Some(nj),
            latlon: Some(LatLonGrid {
                lat_first: 23.0,
                lon_first: 21.0,
                lat_last: -12.0,
                lon_last: 53.0,
                di: Q,
                dj: Q,
                scanning_mode: 0,
                gaussian: false,
            }),
        };
        let values: Vec<f32> = (0..ni * nj).map(|i| i as f32).collect();
        let out = OutputGrid::new(&"-14,25,19,55".parse().unwrap(), quarter()).unwrap();
        let map = CropMap::new(&grid, &out).unwrap();
        assert_eq!(map.covered(), ni * nj);
        let cropped = map.apply(&values).unwrap();
        let at = |lat: f64, lon: f64| {
            let r = out.latitudes.iter().position(|&x| x == lat).unwrap();
            let c = out.longitudes.iter().position(|&x| x == lon).unwrap();
            cropped[r * out.longitudes.len() + c]
        };
        assert_eq!(at(23.0, 21.0), 0.0);
        assert_eq!(at(-12.0, 53.0), (ni * nj - 1) as f32);
        assert!(at(25.0, 30.0).is_nan());
        assert!(at(0.0, 55.0).is_nan());
        assert!(map.apply(&values[1..]).is_err());
    }

    #[test]
    fn mismatched_grids_are_refused() {
        let (grid, _) = global(0.0, 0);
        let half = Lattice {
            dlat: 0.5,
            dlon: 0.5,
            ..quarter()
        };
        let out = OutputGrid::new(&"0,10,0,10".parse().unwrap(), half).unwrap();
        assert!(matches!(
            CropMap::new(&grid, &out),
            Err(CropError::Mismatch(_))
        ));
        let shifted = Lattice {
            lon0: 0.125,
            ..quarter()
        };
        let out = OutputGrid::new(&"0,10,0,10".parse().unwrap(), shifted).unwrap();
        assert!(CropMap::new(&grid, &out).is_err());
        let (grid, _) = global(0.0, 0x20);
        let out = OutputGrid::new(&"0,10,0,10".parse().unwrap(), quarter()).unwrap();
        assert!(matches!(
            CropMap::new(&grid, &out),
            Err(CropError::Unsupported(_))
        ));
    }

    #[test]
    fn westward_columns_crop_too() {
        let (mut grid, _) = global(0.0, 0);
        if let Some(g) = grid.latlon.as_mut() {
            g.lon_first = 359.75;
            g.scanning_mode = 0x80;
        }
        let values: Vec<f32> = (0..grid.num_points)
            .map(|i| {
                let (lat, lon) = grid.coordinates(i).unwrap();
                code(lat, lon)
            })
            .collect();
        let out = OutputGrid::new(&"-1,1,-1,1".parse().unwrap(), quarter()).unwrap();
        let cropped = CropMap::new(&grid, &out).unwrap().apply(&values).unwrap();
        assert_eq!(cropped[0], code(1.0, -1.0));
        assert_eq!(*cropped.last().unwrap(), code(-1.0, 1.0));
    }
}
