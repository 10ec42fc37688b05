//! [`BBox`]: a latitude/longitude box in either longitude convention, possibly across 180°.

use std::fmt;
use std::str::FromStr;

use super::{round_micro, GeoError};

/// A latitude/longitude box, edges included. Longitudes are kept in −180…180; a box whose
/// `east` is smaller than its `west` crosses the 180° meridian, and `west == east` means all
/// the way round.
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
    /// The whole globe.
    pub const GLOBE: BBox = BBox {
        south: -90.0,
        north: 90.0,
        west: -180.0,
        east: 180.0,
    };

    /// A box from its edges. Longitudes may be given in either convention (−180…180 or
    /// 0…360) and are brought to −180…180; `west == east` (after wrapping) means all the way
    /// round.
    pub fn new(south: f64, north: f64, west: f64, east: f64) -> Result<Self, GeoError> {
        let bad = |reason: &str| GeoError::BadBox {
            text: format!("{south},{north},{west},{east}"),
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

    /// Height in degrees of latitude.
    pub fn height(&self) -> f64 {
        self.north - self.south
    }

    /// Whether `other` lies entirely inside this box (edges included; longitudes in either
    /// convention, boxes across 180° too).
    pub fn contains_box(&self, other: &BBox) -> bool {
        const EPS: f64 = 1e-9;
        let offset = (other.west - self.west).rem_euclid(360.0);
        let offset = if offset > 360.0 - EPS { 0.0 } else { offset };
        other.south >= self.south - EPS
            && other.north <= self.north + EPS
            && offset + other.width() <= self.width() + EPS
    }

    /// `lon` (either convention) as degrees east of the western edge, choosing the turn that
    /// puts it nearest the box's middle: 0 at the western edge, [`BBox::width`] at the eastern
    /// one, slightly negative just west of the box. Maps and axes of a box across 180° are
    /// drawn with it.
    pub fn east_of_west(&self, lon: f64) -> f64 {
        let half = self.width() / 2.0;
        let from_middle = (lon - self.west - half + 180.0).rem_euclid(360.0) - 180.0;
        from_middle + half
    }
}

impl FromStr for BBox {
    type Err = GeoError;

    /// Parses `S,N,W,E` (degrees; commas or spaces between the four numbers).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text
            .split([',', ' '])
            .filter(|p| !p.trim().is_empty())
            .collect();
        let values: Option<Vec<f64>> = parts.iter().map(|p| p.trim().parse().ok()).collect();
        let reason = match values.as_deref() {
            Some(&[s, n, w, e]) => match Self::new(s, n, w, e) {
                Ok(b) => return Ok(b),
                Err(GeoError::BadBox { reason, .. }) => reason,
                Err(other) => return Err(other),
            },
            _ => "expected four numbers S,N,W,E, e.g. -12,23,21,53".into(),
        };
        Err(GeoError::BadBox {
            text: text.to_string(),
            reason,
        })
    }
}

impl fmt::Display for BBox {
    /// `S,N,W,E` with at most six decimals (the form [`BBox::from_str`] reads back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            round_micro(self.south),
            round_micro(self.north),
            round_micro(self.west),
            round_micro(self.east)
        )
    }
}

/// A longitude in −180…180 (180 itself becomes −180), rounded to a micro-degree.
pub fn wrap_lon(lon: f64) -> f64 {
    round_micro((lon + 180.0).rem_euclid(360.0) - 180.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
        assert_eq!(BBox::new(-90.0, 90.0, -180.0, 180.0).unwrap(), BBox::GLOBE);
        assert_eq!(BBox::GLOBE.width(), 360.0);
        for bad in [
            "1,2,3",
            "10,-10,0,5",
            "-91,0,0,1",
            "0,1,0,400",
            "a,b,c,d",
            "nan,1,2,3",
        ] {
            let err = bad.parse::<BBox>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn display_reads_back() {
        for text in ["-12,23,21,53", "0.1,0.6,-179.75,179.5", "-5,5,170,-170"] {
            let b: BBox = text.parse().unwrap();
            assert_eq!(b.to_string(), text);
            assert_eq!(b.to_string().parse::<BBox>().unwrap(), b);
        }
        assert_eq!(
            "0,1,350,10".parse::<BBox>().unwrap().to_string(),
            "0,1,-10,10"
        );
    }

    #[test]
    fn longitudes_east_of_the_western_edge() {
        let across: BBox = "-10,10,170,-170".parse().unwrap();
        assert_eq!(across.east_of_west(170.0), 0.0);
        assert_eq!(across.east_of_west(180.0), 10.0);
        assert_eq!(across.east_of_west(-180.0), 10.0);
        assert_eq!(across.east_of_west(-170.0), 20.0);
        assert_eq!(across.east_of_west(190.0), 20.0);
        assert_eq!(across.east_of_west(169.5), -0.5);
        let africa: BBox = "-12,23,21,53".parse().unwrap();
        assert_eq!(africa.east_of_west(36.0), 15.0);
        assert_eq!(africa.east_of_west(396.0), 15.0);
        assert_eq!(africa.east_of_west(20.875), -0.125);
        assert_eq!(africa.east_of_west(53.125), 32.125);
    }
}
