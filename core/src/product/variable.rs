//! Variable selection: from the words users type to the records of an index and the names of our
//! manifests.
//!
//! Users name variables in their product's own vocabulary — GEFS users write the `.idx` text
//! (`TMP:2 m above ground`), ECMWF users write ecCodes short names (`2t`, `u:700`). Manifests,
//! on the other hand, use the cfgrib / kerchunk `grib_tree` names (`t2m/instant/heightAboveGround`)
//! so that they open like any kerchunk dataset. A [`VariableSpec`] joins the two: it says which
//! [`IndexRecord`]s belong to the variable ([`IndexMatcher`]), what the zarr group is called,
//! its units and long name, and how the app should display it ([`DisplayConversion`]).
//!
//! Products resolve well-known variables from a table ([`SpecOrigin::Table`]). Any other
//! well-formed request still works ([`SpecOrigin::Generic`]): its cf name is the index name in
//! lower case, and its step type and level come from the matching index record
//! ([`VariableSpec::for_record`]), because only the record knows whether `RH:850 mb` is an
//! instant and that `850 mb` is `isobaricInhPa` 850.

use std::fmt;

use crate::index::{ForecastTime, IndexRecord, Statistic};

/// cfgrib's `stepType`: how a field relates to its forecast time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepType {
    /// Valid at one instant (`instant`).
    Instant,
    /// Accumulated over a window (`accum`).
    Accum,
    /// Averaged over a window (`avg`).
    Avg,
    /// Maximum over a window (`max`).
    Max,
    /// Minimum over a window (`min`).
    Min,
}

impl StepType {
    /// cfgrib's name: `instant`, `accum`, `avg`, `max`, `min`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instant => "instant",
            Self::Accum => "accum",
            Self::Avg => "avg",
            Self::Max => "max",
            Self::Min => "min",
        }
    }

    /// The step type of a message valid at `time` (a window's statistic, otherwise instant).
    pub fn of(time: &ForecastTime) -> Self {
        match time {
            ForecastTime::Window {
                statistic: Statistic::Accumulation,
                ..
            } => Self::Accum,
            ForecastTime::Window {
                statistic: Statistic::Average,
                ..
            } => Self::Avg,
            ForecastTime::Window {
                statistic: Statistic::Maximum,
                ..
            } => Self::Max,
            ForecastTime::Window {
                statistic: Statistic::Minimum,
                ..
            } => Self::Min,
            _ => Self::Instant,
        }
    }
}

impl fmt::Display for StepType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which levels of an index a variable takes.
#[derive(Clone, Debug, PartialEq)]
pub enum LevelMatcher {
    /// Any level (ECMWF single-level parameters, whose names are unique).
    Any,
    /// The NOAA level text, e.g. `2 m above ground`; compared ignoring case and repeated spaces.
    Label(String),
    /// An ECMWF level: `levtype` (`pl`, `sol`, `ml`) and value (`700`). A record matches when its
    /// value is equal and its label starts with `levtype/` or its `type_of_level` is the ecCodes
    /// name of `levtype` (`isobaricInhPa`, `soilLayer`, `hybrid`).
    Value {
        /// ECMWF `levtype`.
        levtype: String,
        /// Level value (hPa for `pl`).
        value: f64,
    },
}

impl LevelMatcher {
    /// Whether `level` is one of the levels this matcher takes.
    pub fn matches(&self, level: &crate::index::Level) -> bool {
        match self {
            Self::Any => true,
            Self::Label(label) => normalise_words(&level.label).eq_ignore_ascii_case(label),
            Self::Value { levtype, value } => {
                let same_value = level
                    .value
                    .is_some_and(|v| (v - value).abs() <= 1e-9 * value.abs().max(1.0));
                let label_type = level.label.split('/').next().unwrap_or_default();
                same_value
                    && (label_type.eq_ignore_ascii_case(levtype)
                        || ecmwf_type_of_level(levtype) == Some(level.type_of_level.as_str()))
            }
        }
    }
}

/// Which index records belong to a variable: name (in the index's vocabulary) and level.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexMatcher {
    /// Variable name as written in the index: `TMP`, `2t`. Compared ignoring ASCII case.
    pub variable: String,
    /// Which levels.
    pub level: LevelMatcher,
}

impl IndexMatcher {
    /// Whether `record` is this variable at one of these levels (members are checked elsewhere,
    /// by [`Product::record_belongs_to`](super::Product::record_belongs_to)).
    pub fn matches(&self, record: &IndexRecord) -> bool {
        record.variable.eq_ignore_ascii_case(&self.variable) && self.level.matches(&record.level)
    }
}

/// How the app shows values: `display = value * scale + offset`, in `unit`.
#[derive(Clone, Debug, PartialEq)]
pub struct DisplayConversion {
    /// Unit after conversion (`°C`, `hPa`, `mm`, or the data's own unit).
    pub unit: String,
    /// Multiplier.
    pub scale: f32,
    /// Added after scaling.
    pub offset: f32,
}

impl DisplayConversion {
    /// No conversion: show values in `unit`.
    pub fn identity(unit: &str) -> Self {
        Self {
            unit: unit.to_string(),
            scale: 1.0,
            offset: 0.0,
        }
    }

    /// The conversion for data in `units`: K → °C, Pa → hPa, and for liquid-water amounts
    /// (`water`: precipitation, snowfall, runoff, precipitable water) m → mm and kg m**-2 → mm.
    /// Anything else is shown as is.
    pub fn for_units(units: &str, water: bool) -> Self {
        match (units, water) {
            ("K", _) => Self {
                unit: "°C".into(),
                scale: 1.0,
                offset: -273.15,
            },
            ("Pa", _) => Self {
                unit: "hPa".into(),
                scale: 0.01,
                offset: 0.0,
            },
            ("m" | "m of water equivalent", true) => Self {
                unit: "mm".into(),
                scale: 1000.0,
                offset: 0.0,
            },
            ("kg m**-2", true) => Self {
                unit: "mm".into(),
                scale: 1.0,
                offset: 0.0,
            },
            _ => Self::identity(units),
        }
    }

    /// Converts one value (NaN stays NaN).
    pub fn apply(&self, value: f32) -> f32 {
        value * self.scale + self.offset
    }
}

/// Where a [`VariableSpec`]'s names came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecOrigin {
    /// The product's table of known variables: every field is final.
    Table,
    /// Derived from the request: `step_type`, `type_of_level` and `level` are provisional until
    /// [`VariableSpec::for_record`] reads them from a matching index record.
    Generic,
}

/// One selected variable, resolved for a product.
#[derive(Clone, Debug, PartialEq)]
pub struct VariableSpec {
    /// The request in canonical form (`TMP:2 m above ground`, `u:700`); the product parses it
    /// back to this same spec.
    pub request: String,
    /// Which index records belong to this variable.
    pub matcher: IndexMatcher,
    /// cfgrib variable name (`t2m`, `tp`, `u`).
    pub cf_name: String,
    /// cfgrib step type.
    pub step_type: StepType,
    /// ecCodes `typeOfLevel` (`heightAboveGround`, `isobaricInhPa`, ...).
    pub type_of_level: String,
    /// Level value in `type_of_level`'s unit (2 for 2 m, 700 for 700 hPa); `None` for levels
    /// without a value (`surface`, `meanSea`).
    pub level: Option<f64>,
    /// Units of the data, as ecCodes writes them (`K`, `m s**-1`, `kg m**-2`, `unknown`).
    pub units: String,
    /// Human-readable name (`2 metre temperature`; the request itself for generic variables).
    pub long_name: String,
    /// How the app displays it.
    pub display: DisplayConversion,
    /// Table or generic.
    pub origin: SpecOrigin,
}

impl VariableSpec {
    /// The manifest (kerchunk `grib_tree`) group of this variable:
    /// `{cf_name}/{stepType}/{typeOfLevel}`, e.g. `t2m/instant/heightAboveGround`.
    pub fn zarr_path(&self) -> String {
        format!("{}/{}/{}", self.cf_name, self.step_type, self.type_of_level)
    }

    /// Whether `record` holds this variable (name and level; not member).
    pub fn matches(&self, record: &IndexRecord) -> bool {
        self.matcher.matches(record)
    }

    /// This spec as it applies to `record`. Table specs are returned unchanged; generic specs
    /// take their step type from the record's forecast time (accumulation → `accum`, average →
    /// `avg`, ...) and their `typeOfLevel` and level value from the record's parsed level.
    pub fn for_record(&self, record: &IndexRecord) -> VariableSpec {
        let mut spec = self.clone();
        if self.origin == SpecOrigin::Generic {
            spec.step_type = StepType::of(&record.time);
            spec.type_of_level = record.level.type_of_level.clone();
            spec.level = record.level.value;
        }
        spec
    }

    /// The spec of a well-formed request that no table row knows ([`SpecOrigin::Generic`]):
    /// named after the index name in `matcher`, with generic units, an instant step type and
    /// a provisional level that [`VariableSpec::for_record`] replaces by the record's.
    pub(crate) fn generic(
        request: String,
        matcher: IndexMatcher,
        cf_name: String,
        type_of_level: String,
        level: Option<f64>,
    ) -> VariableSpec {
        let units = generic_units(&matcher.variable);
        VariableSpec {
            long_name: request.clone(),
            request,
            matcher,
            cf_name,
            step_type: StepType::Instant,
            type_of_level,
            level,
            units: units.to_string(),
            display: DisplayConversion::for_units(units, false),
            origin: SpecOrigin::Generic,
        }
    }

    /// Whether two specs land in the same manifest array at the same level.
    pub(crate) fn same_target(&self, other: &VariableSpec) -> bool {
        self.zarr_path() == other.zarr_path()
            && self.level == other.level
            && self.matcher == other.matcher
    }
}

/// A row of a product's table of known variables.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KnownVariable {
    /// Name in the index (`TMP`, `2t`).
    pub index_name: &'static str,
    /// NOAA level text, or ECMWF levtype (`sfc`, `pl`).
    pub level: &'static str,
    /// cfgrib name.
    pub cf_name: &'static str,
    pub step_type: StepType,
    pub type_of_level: &'static str,
    pub level_value: Option<f64>,
    pub units: &'static str,
    pub long_name: &'static str,
    /// Liquid-water amount, shown in mm.
    pub water: bool,
}

impl KnownVariable {
    /// A table row (argument order = field order).
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        index_name: &'static str,
        level: &'static str,
        cf_name: &'static str,
        step_type: StepType,
        type_of_level: &'static str,
        level_value: Option<f64>,
        units: &'static str,
        long_name: &'static str,
        water: bool,
    ) -> Self {
        Self {
            index_name,
            level,
            cf_name,
            step_type,
            type_of_level,
            level_value,
            units,
            long_name,
            water,
        }
    }

    /// The spec of this row for `request`, matched by `level`.
    pub fn spec(
        &self,
        request: String,
        level: LevelMatcher,
        level_value: Option<f64>,
    ) -> VariableSpec {
        VariableSpec {
            request,
            matcher: IndexMatcher {
                variable: self.index_name.to_string(),
                level,
            },
            cf_name: self.cf_name.to_string(),
            step_type: self.step_type,
            type_of_level: self.type_of_level.to_string(),
            level: level_value.or(self.level_value),
            units: self.units.to_string(),
            long_name: self.long_name.to_string(),
            display: DisplayConversion::for_units(self.units, self.water),
            origin: SpecOrigin::Table,
        }
    }
}

/// Whether `name` can be a variable's name in an index: ASCII letters, digits and `_`, not
/// empty.
pub(crate) fn is_index_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Units of common variables, for generic specs (`unknown` otherwise, as cfgrib writes).
pub(crate) fn generic_units(index_name: &str) -> &'static str {
    match index_name.to_ascii_uppercase().as_str() {
        "TMP" | "DPT" | "TMAX" | "TMIN" | "TSOIL" | "T" | "2D" | "2T" | "SKT" | "STL1" => "K",
        "RH" | "R" | "TCDC" | "LCDC" | "MCDC" | "HCDC" => "%",
        "UGRD" | "VGRD" | "GUST" | "U" | "V" | "10FG" | "100U" | "100V" => "m s**-1",
        "HGT" | "GH" => "gpm",
        "Z" => "m**2 s**-2",
        "SPFH" | "Q" => "kg kg**-1",
        "VVEL" | "W" => "Pa s**-1",
        "PRES" | "PRMSL" | "MSLET" | "SP" | "MSL" => "Pa",
        "CAPE" | "CIN" | "MUCAPE" => "J kg**-1",
        "VO" | "D" => "s**-1",
        "VIS" | "SNOD" | "SD" => "m",
        "WEASD" | "PWAT" | "APCP" => "kg m**-2",
        _ => "unknown",
    }
}

/// ecCodes `typeOfLevel` of an ECMWF `levtype`.
pub(crate) fn ecmwf_type_of_level(levtype: &str) -> Option<&'static str> {
    match levtype.to_ascii_lowercase().as_str() {
        "pl" => Some("isobaricInhPa"),
        "sol" => Some("soilLayer"),
        "ml" => Some("hybrid"),
        "sfc" => Some("surface"),
        _ => None,
    }
}

/// Collapses runs of whitespace to one space and trims.
pub(crate) fn normalise_words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// CF standard names of the variables gik knows well enough to name, by cfgrib name and units.
pub(crate) fn cf_standard_name(spec: &VariableSpec) -> Option<&'static str> {
    Some(match (spec.cf_name.as_str(), spec.units.as_str()) {
        ("t2m", "K") => "air_temperature",
        ("d2m", "K") => "dew_point_temperature",
        ("tp", "m") => "lwe_thickness_of_precipitation_amount",
        ("tp", "kg m**-2") => "precipitation_amount",
        ("sp", "Pa") => "surface_air_pressure",
        ("msl" | "prmsl", "Pa") => "air_pressure_at_mean_sea_level",
        ("u" | "u10", _) => "eastward_wind",
        ("v" | "v10", _) => "northward_wind",
        ("tcc", "(0 - 1)") => "cloud_area_fraction",
        ("tcwv" | "pwat", "kg m**-2") => "atmosphere_mass_content_of_water_vapor",
        ("sf", "m of water equivalent") => "lwe_thickness_of_snowfall_amount",
        ("ssrd", "J m**-2") => "integral_wrt_time_of_surface_downwelling_shortwave_flux_in_air",
        ("ssr", "J m**-2") => "integral_wrt_time_of_surface_net_downward_shortwave_flux",
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::index::Level;

    fn level(label: &str, type_of_level: &str, value: Option<f64>) -> Level {
        Level {
            type_of_level: type_of_level.into(),
            value,
            second_value: None,
            label: label.into(),
        }
    }

    #[test]
    fn level_matchers() {
        let two_m = level("2 m above ground", "heightAboveGround", Some(2.0));
        assert!(LevelMatcher::Label("2 m above ground".into()).matches(&two_m));
        assert!(
            LevelMatcher::Label("2 M ABOVE GROUND".into()).matches(&level(
                " 2  m above ground",
                "x",
                None
            ))
        );
        assert!(!LevelMatcher::Label("10 m above ground".into()).matches(&two_m));
        let pl = LevelMatcher::Value {
            levtype: "pl".into(),
            value: 700.0,
        };
        assert!(pl.matches(&level("pl/700", "isobaricInhPa", Some(700.0))));
        assert!(pl.matches(&level("pl", "pl", Some(700.0))));
        assert!(pl.matches(&level("700 mb", "isobaricInhPa", Some(700.0))));
        assert!(!pl.matches(&level("pl/500", "isobaricInhPa", Some(500.0))));
        assert!(!pl.matches(&level("sol/700", "soilLayer", Some(700.0))));
        assert!(LevelMatcher::Any.matches(&two_m));
    }

    #[test]
    fn step_types_from_forecast_times() {
        assert_eq!(StepType::of(&ForecastTime::hours(3)), StepType::Instant);
        assert_eq!(StepType::of(&ForecastTime::Analysis), StepType::Instant);
        let w = |s| ForecastTime::window_hours(0, 6, s);
        assert_eq!(StepType::of(&w(Statistic::Accumulation)), StepType::Accum);
        assert_eq!(StepType::of(&w(Statistic::Average)), StepType::Avg);
        assert_eq!(StepType::of(&w(Statistic::Maximum)), StepType::Max);
        assert_eq!(StepType::of(&w(Statistic::Minimum)), StepType::Min);
        assert_eq!(StepType::of(&w(Statistic::Other)), StepType::Instant);
    }

    #[test]
    fn display_conversions() {
        let c = DisplayConversion::for_units("K", false);
        assert_eq!(c.unit, "°C");
        assert!((c.apply(273.15) - 0.0).abs() < 1e-4);
        assert_eq!(
            DisplayConversion::for_units("Pa", false).apply(101_325.0),
            1013.25
        );
        assert_eq!(DisplayConversion::for_units("m", true).apply(0.0125), 12.5);
        assert_eq!(
            DisplayConversion::for_units("m", false),
            DisplayConversion::identity("m")
        );
        assert_eq!(DisplayConversion::for_units("kg m**-2", true).unit, "mm");
        assert!(DisplayConversion::for_units("K", false)
            .apply(f32::NAN)
            .is_nan());
    }
}
