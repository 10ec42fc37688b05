//! ICPAC's defaults: the region and the rainfall questions its forecasters ask every day.
//!
//! Why one home: the web app opens on these values and `gik stream`'s `rain-probability`
//! preset writes files for them; when ICPAC changes its region or thresholds, both must follow
//! from one edit.

use crate::geo::BBox;

/// East Africa, ICPAC's region: 12°S–23°N, 21°E–53°E.
pub const EAST_AFRICA: BBox = BBox {
    south: -12.0,
    north: 23.0,
    west: 21.0,
    east: 53.0,
};

/// Exceedance thresholds of 24-hour rainfall, in mm.
pub const THRESHOLDS_MM: [f32; 5] = [1.0, 5.0, 10.0, 25.0, 50.0];

/// The threshold shown first, in mm.
pub const DEFAULT_THRESHOLD_MM: f32 = 10.0;

/// Length of the rainfall windows, in hours.
pub const WINDOW_HOURS: u32 = 24;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_region_is_a_valid_box() {
        assert_eq!("-12,23,21,53".parse::<BBox>().unwrap(), EAST_AFRICA);
        assert!(THRESHOLDS_MM.contains(&DEFAULT_THRESHOLD_MM));
    }
}
