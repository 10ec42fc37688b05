//! The horizontal grid of a message (GRIB2 section 3), so that every value has coordinates.
//!
//! gik's products (GEFS 0.25°, ECMWF 0.25°) use the regular latitude/longitude grid (template
//! 3.0). Its first and last points, increments and scanning mode are enough to give each value,
//! in file scan order, a latitude and longitude. Other templates are described (template number,
//! shape) but have no coordinates here.

use serde::Serialize;

use super::bits::Octets;
use super::GribError;

/// A message's grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Grid {
    /// Grid definition template number (0 = regular lat/lon, 40 = Gaussian, 30 = Lambert...).
    pub template: u16,
    /// Number of grid points in the message (section 3).
    pub num_points: usize,
    /// Points along a parallel (`Ni`), when the template has a fixed row length.
    pub ni: Option<usize>,
    /// Points along a meridian (`Nj`).
    pub nj: Option<usize>,
    /// Regular lat/lon geometry, for templates 3.0 (and 3.40 where only rows differ).
    pub latlon: Option<LatLonGrid>,
}

/// Geometry of a regular latitude/longitude grid, in degrees as encoded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LatLonGrid {
    /// Latitude of the first grid point.
    pub lat_first: f64,
    /// Longitude of the first grid point.
    pub lon_first: f64,
    /// Latitude of the last grid point.
    pub lat_last: f64,
    /// Longitude of the last grid point.
    pub lon_last: f64,
    /// `i` (longitude) increment, positive.
    pub di: f64,
    /// `j` (latitude) increment, positive (for Gaussian grids: the mean spacing).
    pub dj: f64,
    /// Scanning mode flags (WMO flag table 3.4).
    pub scanning_mode: u8,
    /// Whether rows are Gaussian latitudes (template 3.40): not evenly spaced.
    pub gaussian: bool,
}

impl Grid {
    /// The grid of section 3.
    ///
    /// Not split: it reads the octets of templates 3.0 and 3.40 in the order the WMO tables
    /// list them, each read checked, so it can be compared line by line with the tables.
    pub(crate) fn parse(section: Octets<'_>) -> Result<Self, GribError> {
        let num_points = section.u32(7)?;
        if num_points == 0 || num_points as u64 > MAX_POINTS as u64 {
            return Err(GribError::Inconsistent(format!(
                "grid of {num_points} points (gik decodes 1 to {MAX_POINTS})"
            )));
        }
        // Fits: at most MAX_POINTS, which fits a 32-bit usize.
        let num_points = num_points as usize;
        let template = section.u16(13)?;
        let mut grid = Grid {
            template,
            num_points,
            ni: None,
            nj: None,
            latlon: None,
        };
        if !matches!(template, 0 | 40) {
            // Lambert (30), polar stereographic (20), Mercator (10): Nx/Ny at octets 31-38.
            if matches!(template, 10 | 20 | 30) {
                let (nx, ny) = (section.u32(31)?, section.u32(35)?);
                check_shape(nx, ny, num_points)?;
                grid.ni = Some(nx as usize);
                grid.nj = Some(ny as usize);
            }
            return Ok(grid);
        }
        let ni = section.u32(31)?;
        let nj = section.u32(35)?;
        if ni == u32::MAX {
            // Reduced grid (rows of varying length): no fixed Ni, at least one point per row.
            if nj == 0 || nj as usize > num_points {
                return Err(GribError::Inconsistent(format!(
                    "reduced grid with Nj {nj} rows for {num_points} points"
                )));
            }
            grid.nj = Some(nj as usize);
            return Ok(grid);
        }
        check_shape(ni, nj, num_points)?;
        grid.ni = Some(ni as usize);
        grid.nj = Some(nj as usize);
        let basic_angle = section.u32(39)?;
        let subdivisions = section.u32(43)?;
        let unit = if basic_angle == 0 || basic_angle == u32::MAX || subdivisions == u32::MAX {
            1e-6
        } else {
            f64::from(basic_angle) / f64::from(subdivisions.max(1))
        };
        let angle = |octet: usize| -> Result<f64, GribError> {
            Ok(section.signed(octet, 4)? as f64 * unit)
        };
        let lat_first = angle(47)?;
        let mut lon_first = angle(51)?;
        let lat_last = angle(56)?;
        let lon_last = angle(60)?;
        let scanning_mode = section.u8(72)?;
        let raw_di = section.u32(64)?;
        let di = if raw_di == u32::MAX || ni < 2 {
            let mut span = lon_last - lon_first;
            if scanning_mode & 0x80 == 0 && span < 0.0 {
                span += 360.0;
            }
            span.abs() / f64::from(ni.saturating_sub(1).max(1))
        } else {
            f64::from(raw_di) * unit
        };
        // ECMWF encodes its global grids as starting at 180°E and wrapping to 179.75°E; present
        // them as -180..179.75 so that longitudes increase monotonically along a row.
        if scanning_mode & 0x80 == 0 && lon_first >= 180.0 && lon_last < lon_first {
            lon_first -= 360.0;
        }
        let gaussian = template == 40;
        let dj = if gaussian || section.u32(68)? == u32::MAX {
            (lat_last - lat_first).abs() / f64::from(nj.saturating_sub(1).max(1))
        } else {
            f64::from(section.u32(68)?) * unit
        };
        grid.latlon = Some(LatLonGrid {
            lat_first,
            lon_first,
            lat_last,
            lon_last,
            di,
            dj,
            scanning_mode,
            gaussian,
        });
        Ok(grid)
    }

    /// Latitude and longitude of the value at `index` in file scan order, for regular lat/lon
    /// grids (Gaussian grids get evenly spaced approximations). Longitudes are as encoded
    /// (`lon_first + i·di`), not wrapped.
    pub fn coordinates(&self, index: usize) -> Option<(f64, f64)> {
        let g = self.latlon.as_ref()?;
        let (ni, nj) = (self.ni?, self.nj?);
        if index >= ni * nj {
            return None;
        }
        let (row, col) = if g.scanning_mode & 0x20 == 0 {
            (index / ni, index % ni)
        } else {
            (index % nj, index / nj)
        };
        let col = if g.scanning_mode & 0x10 != 0 && row % 2 == 1 {
            ni - 1 - col
        } else {
            col
        };
        Some((g.row_latitude(row), g.column_longitude(col)))
    }

    /// Latitudes of the rows (`Nj` values, first row first).
    pub fn latitudes(&self) -> Option<Vec<f64>> {
        let g = self.latlon.as_ref()?;
        Some((0..self.nj?).map(|j| g.row_latitude(j)).collect())
    }

    /// Longitudes of the columns (`Ni` values, first column first), as encoded.
    pub fn longitudes(&self) -> Option<Vec<f64>> {
        let g = self.latlon.as_ref()?;
        Some((0..self.ni?).map(|i| g.column_longitude(i)).collect())
    }

    /// Index in file scan order of the grid point nearest to (`lat`, `lon`), for regular
    /// lat/lon grids whose points run along rows (`i` consecutive). Longitudes compare modulo
    /// 360, so −10 and 350 are the same meridian.
    pub fn nearest_index(&self, lat: f64, lon: f64) -> Option<usize> {
        use crate::geo::{column_of, row_of, Snap};
        let g = self.latlon.as_ref()?;
        let (ni, nj) = (self.ni?, self.nj?);
        if g.scanning_mode & 0x30 != 0 {
            return None;
        }
        let row = row_of(lat, g.lat_first, g.row_step(), nj, Snap::Nearest)?;
        let col = column_of(lon, g.lon_first, g.column_step(), ni, Snap::Nearest)?;
        Some(row * ni + col)
    }
}

/// Largest number of points in a grid gik decodes: 10⁸ (a 0.25° global grid has 1,038,240;
/// MRMS's 7000 × 3500, the largest seen, 24.5 million). Corrupt or hostile headers must not
/// decide how much memory a decode allocates, nor make a size product wrap on wasm32.
pub const MAX_POINTS: usize = 100_000_000;

/// `Ni` and `Nj` must both be positive and multiply (in u64, so nothing wraps on wasm32) to the
/// grid's number of points.
fn check_shape(ni: u32, nj: u32, num_points: usize) -> Result<(), GribError> {
    if ni == 0 || nj == 0 || u64::from(ni) * u64::from(nj) != num_points as u64 {
        return Err(GribError::Inconsistent(format!(
            "grid has Ni {ni} x Nj {nj} but {num_points} points"
        )));
    }
    Ok(())
}

impl LatLonGrid {
    /// Latitude step from one row to the next (negative when rows run southwards).
    pub(crate) fn row_step(&self) -> f64 {
        if self.lat_last >= self.lat_first {
            self.dj
        } else {
            -self.dj
        }
    }

    /// Longitude step from one column to the next (negative when columns run westwards).
    pub(crate) fn column_step(&self) -> f64 {
        if self.scanning_mode & 0x80 != 0 {
            -self.di
        } else {
            self.di
        }
    }

    fn row_latitude(&self, row: usize) -> f64 {
        round_micro(self.lat_first + row as f64 * self.row_step())
    }

    fn column_longitude(&self, col: usize) -> f64 {
        round_micro(self.lon_first + col as f64 * self.column_step())
    }
}

/// Rounds to a micro-degree, the precision GRIB2 encodes, to hide float noise (0.25·n).
fn round_micro(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
