//! The output grid inside a box, and the map from one message's grid onto it.
//!
//! The output grid is the part of the source lattice (same spacing, same alignment) that lies
//! inside the box: latitudes from north to south, longitudes from west to east, every longitude
//! written in −180…180 (a box crossing 180° therefore has longitudes that jump from 179.75 to
//! −180 — they still increase eastwards along the row). A screen cannot show more points than
//! it has pixels, so the app thins the grid (every k-th row and column, [`OutputGrid::thinned`]);
//! a NetCDF file keeps every point. A [`CropMap`] is computed per message from that message's
//! own grid, so a field is cropped the moment it is decoded and the global field can be dropped
//! straight away; output points the source grid does not cover are NaN.

use crate::grib::Grid;

use super::{round_micro, wrap_lon, BBox, GeoError};

/// Tolerance, in grid steps, for deciding that a coordinate lies on the lattice.
const ON_LATTICE: f64 = 1e-3;

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

    /// The lattice of a message's grid; `None` unless it is a regular latitude/longitude grid
    /// with non-zero increments.
    pub fn of_grid(grid: &Grid) -> Option<Self> {
        let g = grid.latlon.as_ref()?;
        (!g.gaussian && g.di > 0.0 && g.dj > 0.0).then_some(Self {
            lat0: g.lat_first,
            dlat: g.dj,
            lon0: g.lon_first,
            dlon: g.di,
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

/// The output grid: the lattice points inside the box, possibly thinned.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputGrid {
    /// Latitudes, north to south.
    pub latitudes: Vec<f64>,
    /// Longitudes, west to east, each in −180…180.
    pub longitudes: Vec<f64>,
    /// The lattice they come from.
    pub lattice: Lattice,
    /// Thinning factor: every `stride`-th lattice row and column is kept (1: all).
    pub stride: usize,
}

impl OutputGrid {
    /// The points of `lattice` inside `bbox` (edges included).
    pub fn new(bbox: &BBox, lattice: Lattice) -> Result<Self, GeoError> {
        let empty = |what: &str| GeoError::BadBox {
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
            stride: 1,
        })
    }

    /// The grid keeping every k-th row and column, k the smallest factor that leaves at most
    /// `max_points` points (at least one point is always kept).
    #[must_use]
    pub fn thinned(mut self, max_points: usize) -> Self {
        let (rows, cols) = (self.latitudes.len(), self.longitudes.len());
        let mut k = 1usize;
        while rows.div_ceil(k) * cols.div_ceil(k) > max_points.max(1) {
            k += 1;
        }
        if k > 1 {
            self.latitudes = self.latitudes.into_iter().step_by(k).collect();
            self.longitudes = self.longitudes.into_iter().step_by(k).collect();
            self.stride *= k;
        }
        self
    }

    /// Number of points.
    pub fn points(&self) -> usize {
        self.latitudes.len() * self.longitudes.len()
    }

    /// Number of rows (latitudes).
    pub fn rows(&self) -> usize {
        self.latitudes.len()
    }

    /// Number of columns (longitudes).
    pub fn cols(&self) -> usize {
        self.longitudes.len()
    }

    /// Row spacing in degrees (lattice spacing times the thinning factor).
    pub fn dlat(&self) -> f64 {
        self.lattice.dlat * self.stride as f64
    }

    /// Column spacing in degrees (lattice spacing times the thinning factor).
    pub fn dlon(&self) -> f64 {
        self.lattice.dlon * self.stride as f64
    }

    /// Whether two grids have the same points (so their fields can be combined).
    pub fn same_points(&self, other: &OutputGrid) -> bool {
        self.latitudes == other.latitudes && self.longitudes == other.longitudes
    }

    /// Index (row by row) of the point nearest to (`lat`, `lon`), if within half a cell of the
    /// grid; longitudes in either convention.
    pub fn index_at(&self, lat: f64, lon: f64) -> Option<usize> {
        let nearest = |axis: &[f64], distance: &dyn Fn(f64) -> f64, step: f64| {
            let (i, d) = axis
                .iter()
                .map(|&a| distance(a))
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(&b.1))?;
            (d <= step / 2.0 + 1e-9).then_some(i)
        };
        let row = nearest(&self.latitudes, &|a| (a - lat).abs(), self.dlat())?;
        let col = nearest(&self.longitudes, &|a| wrap_lon(a - lon).abs(), self.dlon())?;
        Some(row * self.cols() + col)
    }
}

/// How [`column_of`] and [`row_of`] treat a coordinate between two grid lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Snap {
    /// Only a coordinate on a grid line (within a thousandth of a step) has a column or row.
    Exact,
    /// The nearest grid line.
    Nearest,
}

impl Snap {
    fn index(self, k: f64) -> Option<f64> {
        match self {
            Self::Exact if !on_lattice(k) => None,
            _ => Some(k.round()),
        }
    }
}

/// The source column holding longitude `lon` on a row of `ni` points starting at `lon_first`
/// and `step` degrees apart (negative when columns run westwards); `None` when `lon` is not on
/// the row (outside a regional grid, or between two columns with [`Snap::Exact`]). Longitudes
/// compare modulo 360, so either convention works on either side.
pub fn column_of(lon: f64, lon_first: f64, step: f64, ni: usize, snap: Snap) -> Option<usize> {
    if step == 0.0 || !lon.is_finite() || !lon_first.is_finite() {
        return None;
    }
    let mut delta = (lon - lon_first).rem_euclid(360.0);
    if step < 0.0 {
        delta = (360.0 - delta).rem_euclid(360.0);
    }
    let mut k = snap.index(delta / step.abs())?;
    if (k - 360.0 / step.abs()).abs() < ON_LATTICE {
        k = 0.0; // 359.9999… is 0
    }
    let k = k as usize;
    (k < ni).then_some(k)
}

/// The source row holding latitude `lat` on a column of `nj` points starting at `lat_first`
/// and `step` degrees apart (negative when rows run southwards); `None` when `lat` is not on
/// the column (or between two rows with [`Snap::Exact`]).
pub fn row_of(lat: f64, lat_first: f64, step: f64, nj: usize, snap: Snap) -> Option<usize> {
    if step == 0.0 || !lat.is_finite() {
        return None;
    }
    let k = snap.index((lat - lat_first) / step)?;
    if k < 0.0 {
        return None;
    }
    let k = k as usize;
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
    pub fn new(grid: &Grid, out: &OutputGrid) -> Result<Self, GeoError> {
        let Some(g) = grid.latlon.as_ref() else {
            return Err(GeoError::Unsupported(format!(
                "grid template 3.{} is not a regular latitude/longitude grid",
                grid.template
            )));
        };
        let (Some(ni), Some(nj)) = (grid.ni, grid.nj) else {
            return Err(GeoError::Unsupported("rows of varying length".into()));
        };
        if g.gaussian {
            return Err(GeoError::Unsupported("Gaussian latitudes".into()));
        }
        if g.scanning_mode & 0x30 != 0 {
            return Err(GeoError::Unsupported(format!(
                "scanning mode {:#04x} (only row by row, all rows the same way)",
                g.scanning_mode
            )));
        }
        let source = Lattice::of_grid(grid)
            .ok_or_else(|| GeoError::Unsupported("zero grid increments".into()))?;
        if !out.lattice.same_as(&source) {
            return Err(GeoError::Mismatch(format!(
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
        let (lat_step, lon_step) = (g.row_step(), g.column_step());
        Ok(Self {
            rows: out
                .latitudes
                .iter()
                .map(|&lat| row_of(lat, g.lat_first, lat_step, nj, Snap::Exact))
                .collect(),
            cols: out
                .longitudes
                .iter()
                .map(|&lon| column_of(lon, g.lon_first, lon_step, ni, Snap::Exact))
                .collect(),
            ni,
            points: ni * nj,
        })
    }

    /// Output points that the source grid covers.
    pub fn covered(&self) -> usize {
        self.rows.iter().flatten().count() * self.cols.iter().flatten().count()
    }

    /// Output points (covered or not).
    pub fn points(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// How many source rows, from the first in scan order, hold every point of the output:
    /// a decoder may stop after them ([`crate::grib::decode_rows`]), and
    /// [`apply`](Self::apply) accepts a field of just those rows.
    pub fn rows_needed(&self) -> usize {
        self.rows.iter().flatten().max().map_or(0, |r| r + 1)
    }

    /// The output field (row by row, north first) from a source field in scan order: the
    /// whole field, or its first rows as long as they include [`rows_needed`](Self::rows_needed).
    pub fn apply(&self, values: &[f32]) -> Result<Vec<f32>, GeoError> {
        let whole_rows = self.ni > 0 && values.len().is_multiple_of(self.ni);
        let enough = values.len() >= self.rows_needed() * self.ni;
        if values.len() > self.points || !whole_rows || !enough {
            return Err(GeoError::WrongLength {
                expected: self.points,
                found: values.len(),
            });
        }
        let mut out = Vec::with_capacity(self.points());
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

    const Q: f64 = 0.25;

    #[test]
    fn columns_on_gefs_and_ecmwf_grids() {
        // GEFS: 0 … 359.75.
        assert_eq!(column_of(0.0, 0.0, Q, 1440, Snap::Exact), Some(0));
        assert_eq!(column_of(19.0, 0.0, Q, 1440, Snap::Exact), Some(76));
        assert_eq!(column_of(-0.25, 0.0, Q, 1440, Snap::Exact), Some(1439));
        assert_eq!(column_of(-10.0, 0.0, Q, 1440, Snap::Exact), Some(1400));
        assert_eq!(column_of(-180.0, 0.0, Q, 1440, Snap::Exact), Some(720));
        assert_eq!(column_of(179.75, 0.0, Q, 1440, Snap::Exact), Some(719));
        // ECMWF: −180 … 179.75.
        assert_eq!(column_of(-180.0, -180.0, Q, 1440, Snap::Exact), Some(0));
        assert_eq!(column_of(0.0, -180.0, Q, 1440, Snap::Exact), Some(720));
        assert_eq!(column_of(19.0, -180.0, Q, 1440, Snap::Exact), Some(796));
        assert_eq!(column_of(-0.25, -180.0, Q, 1440, Snap::Exact), Some(719));
        assert_eq!(column_of(179.75, -180.0, Q, 1440, Snap::Exact), Some(1439));
        // ECMWF as encoded (starting at 180°E): the same meridians.
        assert_eq!(column_of(-180.0, 180.0, Q, 1440, Snap::Exact), Some(0));
        // Either convention for the output longitude.
        assert_eq!(column_of(350.0, 0.0, Q, 1440, Snap::Exact), Some(1400));
        assert_eq!(column_of(350.0, -180.0, Q, 1440, Snap::Exact), Some(680));
        // Float noise near a full turn.
        assert_eq!(column_of(-1e-9, 0.0, Q, 1440, Snap::Exact), Some(0));
        // Between columns, or outside a regional grid.
        assert_eq!(column_of(19.1, 0.0, Q, 1440, Snap::Exact), None);
        assert_eq!(column_of(20.75, 21.0, Q, 129, Snap::Exact), None);
        assert_eq!(column_of(53.25, 21.0, Q, 129, Snap::Exact), None);
        assert_eq!(column_of(53.0, 21.0, Q, 129, Snap::Exact), Some(128));
        // Columns running westwards.
        assert_eq!(column_of(359.0, 0.0, -Q, 1440, Snap::Exact), Some(4));
        assert_eq!(column_of(1.0, 0.0, -Q, 1440, Snap::Exact), Some(1436));
        assert_eq!(column_of(1.0, 0.0, 0.0, 1440, Snap::Exact), None);
    }

    #[test]
    fn rows_both_ways() {
        assert_eq!(row_of(90.0, 90.0, -Q, 721, Snap::Exact), Some(0));
        assert_eq!(row_of(-90.0, 90.0, -Q, 721, Snap::Exact), Some(720));
        assert_eq!(row_of(25.0, 90.0, -Q, 721, Snap::Exact), Some(260));
        assert_eq!(row_of(25.0, -90.0, Q, 721, Snap::Exact), Some(460));
        assert_eq!(row_of(23.25, 23.0, -Q, 141, Snap::Exact), None);
        assert_eq!(row_of(-12.25, 23.0, -Q, 141, Snap::Exact), None);
        assert_eq!(row_of(25.1, 90.0, -Q, 721, Snap::Exact), None);
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
        let grid = crate::test_support::quarter_degree_grid(90.0, lon_first, ni, nj, scanning_mode);
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
    fn the_first_rows_are_enough() {
        // Rows run north to south: 14°S–25°N ends at row 416 of 721 (90°N first).
        let (grid, values) = global(0.0, 0);
        let out = OutputGrid::new(&"-14,25,19,55".parse().unwrap(), quarter()).unwrap();
        let map = CropMap::new(&grid, &out).unwrap();
        assert_eq!(map.rows_needed(), 417);
        let ni = grid.ni.unwrap();
        let whole = map.apply(&values).unwrap();
        assert_eq!(map.apply(&values[..417 * ni]).unwrap(), whole);
        assert_eq!(map.apply(&values[..500 * ni]).unwrap(), whole);
        // One row short, or a partial row, is an error, not NaN.
        assert!(map.apply(&values[..416 * ni]).is_err());
        assert!(map.apply(&values[..417 * ni + 3]).is_err());
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
        let grid = crate::test_support::quarter_degree_grid(23.0, 21.0, ni, nj, 0);
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
            Err(GeoError::Mismatch(_))
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
            Err(GeoError::Unsupported(_))
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

    #[test]
    fn nearest_columns_and_rows() {
        assert_eq!(column_of(19.1, 0.0, Q, 1440, Snap::Nearest), Some(76));
        assert_eq!(column_of(359.9, 0.0, Q, 1440, Snap::Nearest), Some(0));
        assert_eq!(column_of(-0.1, -180.0, Q, 1440, Snap::Nearest), Some(720));
        assert_eq!(column_of(60.0, 21.0, Q, 129, Snap::Nearest), None);
        assert_eq!(row_of(25.1, 90.0, -Q, 721, Snap::Nearest), Some(260));
        assert_eq!(row_of(90.1, 90.0, -Q, 721, Snap::Nearest), Some(0));
        assert_eq!(row_of(90.2, 90.0, -Q, 721, Snap::Nearest), None);
    }

    #[test]
    fn thinning_keeps_every_kth_point() {
        let world = OutputGrid::new(&BBox::GLOBE, quarter()).unwrap();
        let thin = world.clone().thinned(100_000);
        assert_eq!(thin.stride, 4);
        assert!(thin.points() <= 100_000);
        assert_eq!((thin.rows(), thin.cols()), (181, 360));
        assert_eq!((thin.dlat(), thin.dlon()), (1.0, 1.0));
        assert_eq!(thin.longitudes[..3], [-180.0, -179.0, -178.0]);
        let k = thin.index_at(-30.2, 120.1).unwrap();
        assert_eq!(
            (
                thin.latitudes[k / thin.cols()],
                thin.longitudes[k % thin.cols()]
            ),
            (-30.0, 120.0)
        );
        assert_eq!(world.clone().thinned(usize::MAX), world);
        assert_eq!(world.thinned(0).points(), 1);
        // A thinned grid crops like any other: every value is the source's at that point.
        let (grid, values) = global(0.0, 0);
        let out = OutputGrid::new(&"-5,5,170,-170".parse().unwrap(), quarter())
            .unwrap()
            .thinned(200);
        assert_eq!((out.stride, out.rows(), out.cols()), (5, 9, 17));
        let cropped = CropMap::new(&grid, &out).unwrap().apply(&values).unwrap();
        for (r, &lat) in out.latitudes.iter().enumerate() {
            for (c, &lon) in out.longitudes.iter().enumerate() {
                assert_eq!(cropped[r * out.cols() + c], code(lat, lon));
            }
        }
    }

    #[test]
    fn points_are_found_across_180() {
        let out = OutputGrid::new(&"-1,1,179,-179".parse().unwrap(), quarter()).unwrap();
        assert_eq!(out.index_at(0.0, 179.9), Some(4 * out.cols() + 4));
        assert_eq!(out.index_at(0.0, -179.9), Some(4 * out.cols() + 4));
        assert_eq!(out.index_at(0.0, 180.9), Some(4 * out.cols() + 8));
        assert_eq!(out.index_at(0.0, -178.5), None);
        assert_eq!(out.index_at(1.2, 179.0), None);
    }
}
