//! Named requests that ICPAC runs every day, so that a daily job is one short command.
//!
//! * `cgan`: the inputs of the cGAN downscaling model — twelve ECMWF IFS ENS fields at steps
//!   36 to 60 for all 51 members over the cGAN domain (14°S–25°N, 19°E–55°E).
//! * `rain-probability`: 24-hour rainfall totals per member (the product's accumulation rules,
//!   [`gik_core::product::precipitation_plan`]) and the probability of exceeding thresholds
//!   over East Africa (12°S–23°N, 21°E–53°E), for GEFS or ECMWF.
//!
//! A preset only fills in what the user left out: `--vars`, `--steps`, `--members`, `--bbox`
//! and `--thresholds` given on the command line win.

use std::fmt;
use std::str::FromStr;

use gik_core::geo::BBox;
use gik_core::icpac;
use gik_core::product::{Ecmwf, Product};

/// A named request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// ECMWF inputs of the cGAN downscaling model.
    Cgan,
    /// 24-hour rainfall totals and exceedance probabilities over East Africa.
    RainProbability,
}

/// Names accepted by [`Preset::from_str`].
pub const PRESET_NAMES: [&str; 2] = ["cgan", "rain-probability"];

/// The cGAN variables, in the ECMWF vocabulary.
pub const CGAN_VARIABLES: [&str; 12] = [
    "tp", "2t", "sp", "ssr", "ssrd", "tcw", "tcwv", "tcc", "u:700", "v:700", "sf", "ro",
];

/// The cGAN steps: 36 to 60 hours every 3 hours.
pub const CGAN_STEPS: &str = "36-60/3";

/// The cGAN domain.
pub const CGAN_BBOX: BBox = BBox {
    south: -14.0,
    north: 25.0,
    west: 19.0,
    east: 55.0,
};

/// Default exceedance thresholds in mm (ICPAC's).
pub const DEFAULT_THRESHOLDS_MM: [f32; 5] = icpac::THRESHOLDS_MM;

/// Length of the default rainfall windows (ICPAC's).
pub const WINDOW_HOURS: u32 = icpac::WINDOW_HOURS;

impl Preset {
    /// The preset's product, if it has only one.
    pub fn product(self) -> Option<&'static str> {
        match self {
            Self::Cgan => Some(Ecmwf::default().name()),
            Self::RainProbability => None,
        }
    }

    /// The preset's box.
    pub fn bbox(self) -> BBox {
        match self {
            Self::Cgan => CGAN_BBOX,
            Self::RainProbability => icpac::EAST_AFRICA,
        }
    }

    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cgan => "cgan",
            Self::RainProbability => "rain-probability",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = PresetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cgan" => Ok(Self::Cgan),
            "rain-probability" | "rain_probability" | "rain" => Ok(Self::RainProbability),
            other => Err(PresetError::UnknownPreset {
                name: other.to_owned(),
            }),
        }
    }
}

/// A preset name or a rainfall window that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// No preset has this name.
    #[error("unknown preset {name:?} (expected one of {})", PRESET_NAMES.join(", "))]
    UnknownPreset {
        /// The name given (trimmed, lower case).
        name: String,
    },
    /// An item of `--windows` is neither an end hour nor `A-B`.
    #[error("window {item:?}: expected an end hour (48) or A-B (24-48)")]
    BadWindow {
        /// The item.
        item: String,
    },
    /// A window of `--windows` does not start before it ends.
    #[error("window {item:?}: the start must be before the end")]
    EmptyWindow {
        /// The item.
        item: String,
    },
    /// `--windows` lists no window.
    #[error("no window given")]
    NoWindow,
    /// A [`WINDOW_HOURS`] window would start before the run.
    #[error("a {WINDOW_HOURS}-hour window cannot end at {end} h (before hour {WINDOW_HOURS})")]
    EndTooEarly {
        /// The end asked for (hours).
        end: u32,
    },
}

/// Every whole [`WINDOW_HOURS`] window from 0 to `last_step`: `(0, 24), (24, 48), …`.
pub fn default_windows(last_step: u32) -> Vec<(u32, u32)> {
    (1..=last_step / WINDOW_HOURS)
        .map(|k| ((k - 1) * WINDOW_HOURS, k * WINDOW_HOURS))
        .collect()
}

/// Parses `--windows`: comma-separated window ends (`24,48`: the 24 hours before each) or
/// explicit `A-B` windows (`12-36`). Sorted, without duplicates.
pub fn parse_windows(text: &str) -> Result<Vec<(u32, u32)>, PresetError> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || PresetError::BadWindow {
            item: item.to_owned(),
        };
        let window = match item.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a.trim().parse().map_err(|_| bad())?;
                let b: u32 = b.trim().parse().map_err(|_| bad())?;
                (a, b)
            }
            None => window_ending(item.parse().map_err(|_| bad())?)?,
        };
        if window.0 >= window.1 {
            return Err(PresetError::EmptyWindow {
                item: item.to_owned(),
            });
        }
        out.push(window);
    }
    if out.is_empty() {
        return Err(PresetError::NoWindow);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The [`WINDOW_HOURS`] window ending at `end`.
pub fn window_ending(end: u32) -> Result<(u32, u32), PresetError> {
    if end < WINDOW_HOURS {
        return Err(PresetError::EndTooEarly { end });
    }
    Ok((end - WINDOW_HOURS, end))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn names_and_boxes() {
        assert_eq!("cgan".parse::<Preset>().unwrap(), Preset::Cgan);
        assert_eq!(
            "Rain-Probability".parse::<Preset>().unwrap(),
            Preset::RainProbability
        );
        assert!("other"
            .parse::<Preset>()
            .unwrap_err()
            .to_string()
            .contains("cgan"));
        assert_eq!(Preset::Cgan.product(), Some("ecmwf"));
        let b = Preset::RainProbability.bbox();
        assert_eq!(
            (b.south, b.north, b.west, b.east),
            (-12.0, 23.0, 21.0, 53.0)
        );
        assert_eq!(CGAN_VARIABLES.len(), 12);
    }

    #[test]
    fn windows() {
        assert_eq!(default_windows(240).len(), 10);
        assert_eq!(default_windows(60), [(0, 24), (24, 48)]);
        assert!(default_windows(12).is_empty());
        assert_eq!(parse_windows("48,24").unwrap(), [(0, 24), (24, 48)]);
        assert_eq!(parse_windows("12-36, 36").unwrap(), [(12, 36)]);
        assert!(parse_windows("12").is_err());
        assert!(parse_windows("36-12").is_err());
        assert!(parse_windows("x").is_err());
        assert!(parse_windows("").is_err());
    }
}
