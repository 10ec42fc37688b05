//! What a message *is* (GRIB2 sections 1 and 4): variable, level, forecast time, member.
//!
//! Product definition templates 4.0–4.15 share one layout for octets 10–34 (parameter, forecast
//! time, fixed surfaces); ensemble, derived-ensemble, probability, percentile and statistical
//! templates append their own fields. We read the shared part for every such template and the
//! ensemble and time-window parts where the template has them; the chemical templates 4.40–4.43
//! are those with two more octets. Any other template is not refused: its parameter is read
//! (octets 10–11 are common to all templates) and `unknown` says what was not. Names follow ecCodes'
//! `shortName` for the parameters gik's products carry, and the WMO abbreviation otherwise.

use serde::Serialize;

use super::bits::Octets;
use super::GribError;
use crate::index::{EnsembleMember, ForecastTime, Statistic};
use crate::time::RunTime;

/// Everything about a message except its grid and values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessageMetadata {
    /// Discipline (section 0).
    pub discipline: u8,
    /// Parameter category (section 4).
    pub category: u8,
    /// Parameter number (section 4).
    pub number: u8,
    /// ecCodes-style short name (`2t`, `tp`, `10u`, `msl`...), or the WMO abbreviation.
    pub short_name: String,
    /// Long name from the WMO tables, when known.
    pub long_name: String,
    /// Units from the WMO tables, when known.
    pub units: String,
    /// Product definition template number (4.x).
    pub product_template: u16,
    /// First fixed surface: type code (WMO table 4.5) and value.
    pub level: LevelInfo,
    /// Forecast time or window.
    #[serde(serialize_with = "serialize_display")]
    pub time: ForecastTime,
    /// Ensemble member, for ensemble templates.
    #[serde(serialize_with = "serialize_member")]
    pub member: Option<EnsembleMember>,
    /// Reference time (section 1), when valid.
    #[serde(serialize_with = "serialize_run")]
    pub reference_time: Option<RunTime>,
    /// What gik could not read, when the product definition template is one it does not
    /// describe (the values still decode: they do not depend on section 4). Then `level` is
    /// `unknown`, `time` is [`ForecastTime::Analysis`] and `member` is `None`, placeholders only.
    pub unknown: Option<String>,
}

/// The level of a message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelInfo {
    /// Type of first fixed surface (WMO code table 4.5).
    pub first_type: u8,
    /// Type of second fixed surface (255: none).
    pub second_type: u8,
    /// ecCodes `typeOfLevel` name (`surface`, `heightAboveGround`, `isobaricInhPa`...).
    pub type_of_level: String,
    /// First surface value in ecCodes units (hPa for isobaric levels, m for heights).
    pub value: Option<f64>,
    /// Second surface value (layers).
    pub second_value: Option<f64>,
}

impl std::fmt::Display for LevelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.value, self.second_value) {
            (Some(a), Some(b)) => write!(f, "{} {a}-{b}", self.type_of_level),
            (Some(a), None) => write!(f, "{} {a}", self.type_of_level),
            _ => write!(f, "{}", self.type_of_level),
        }
    }
}

fn serialize_display<S: serde::Serializer>(t: &ForecastTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

fn serialize_member<S: serde::Serializer>(
    m: &Option<EnsembleMember>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.collect_str(m),
        None => s.serialize_none(),
    }
}

fn serialize_run<S: serde::Serializer>(r: &Option<RunTime>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Some(r) => s.serialize_str(&r.iso_after_hours(0.0)),
        None => s.serialize_none(),
    }
}

/// Octet of the end-of-overall-time-interval year in statistical templates, by template.
fn statistics_octet(template: u16) -> Option<usize> {
    match template {
        8 => Some(35),
        9 => Some(48),
        10 => Some(36),
        11 => Some(38),
        12 => Some(37),
        _ => None,
    }
}

impl MessageMetadata {
    /// The metadata of one message from its sections 0, 1 and 4.
    ///
    /// Not split: it reads the octets in the order the WMO templates list them, each read
    /// checked, so it can be compared line by line with the tables.
    pub(crate) fn parse(
        discipline: u8,
        identification: Octets<'_>,
        product: Octets<'_>,
    ) -> Result<Self, GribError> {
        let template = product.u16(8)?;
        let category = product.u8(10)?;
        let number = product.u8(11)?;
        // Chemical-constituent templates 4.40-4.43 are 4.0, 4.1, 4.8 and 4.11 with the
        // constituent type inserted at octets 12-13.
        let chemical;
        let (layout, product) = match template {
            0..=15 => (Some(template), product),
            40..=43 => {
                let bytes = product.tail_from(1)?;
                let tail = product.tail_from(14)?;
                chemical = [&bytes[..11], tail].concat();
                (
                    Some([0, 1, 8, 11][usize::from(template - 40)]),
                    Octets::new(&chemical, 4),
                )
            }
            _ => (None, product),
        };
        let (level, time, member, unknown) = match layout {
            Some(layout) => {
                let (level, time, member) = described(layout, product)?;
                (level, time, member, None)
            }
            None => (
                LevelInfo {
                    first_type: 255,
                    second_type: 255,
                    type_of_level: "unknown".into(),
                    value: None,
                    second_value: None,
                },
                ForecastTime::Analysis,
                None,
                Some(format!(
                    "product definition template 4.{template}: level, time and member not read"
                )),
            ),
        };
        let reference_time = RunTime::new(
            i32::from(identification.u16(13)?),
            u32::from(identification.u8(15)?),
            u32::from(identification.u8(16)?),
            u32::from(identification.u8(17)?),
        )
        .ok();
        let centre = identification.u16(6)?;
        // Parameter numbers 192-254 are local to the originating centre; gribberish's table
        // holds NCEP's (centre 7) local entries, which must not name other centres' fields.
        let parameter = if number >= 192 && centre != 7 {
            None
        } else {
            gribberish::templates::product::parameters::parameter(discipline, category, number)
        };
        let (abbrev, long_name, units) = match parameter {
            Some(p) => (p.abbrev, p.name, p.unit),
            None => (
                format!("param{discipline}.{category}.{number}"),
                String::new(),
                String::new(),
            ),
        };
        let short_name = short_name(centre, discipline, category, number, &level, &time)
            .map(str::to_string)
            .unwrap_or(abbrev);
        Ok(Self {
            discipline,
            category,
            number,
            short_name,
            long_name,
            units,
            product_template: template,
            level,
            time,
            member,
            reference_time,
            unknown,
        })
    }
}

/// Level, forecast time and member of a product definition template laid out as 4.0–4.15.
fn described(
    template: u16,
    product: Octets<'_>,
) -> Result<(LevelInfo, ForecastTime, Option<EnsembleMember>), GribError> {
    let level = parse_level(product)?;
    let unit = product.u8(18)?;
    let forecast = product.u32(19)?;
    let start_minutes = minutes(unit, forecast)
        .ok_or_else(|| GribError::Unsupported(format!("time unit {unit} (code table 4.4)")))?;
    let time = match statistics_octet(template) {
        Some(base) => {
            let statistic = match product.u8(base + 12)? {
                0 => Statistic::Average,
                1 => Statistic::Accumulation,
                2 => Statistic::Maximum,
                3 => Statistic::Minimum,
                _ => Statistic::Other,
            };
            let range_unit = product.u8(base + 14)?;
            let length = product.u32(base + 15)?;
            let length = minutes(range_unit, length)
                .ok_or_else(|| GribError::Unsupported(format!("time range unit {range_unit}")))?;
            ForecastTime::Window {
                start_minutes,
                end_minutes: start_minutes.saturating_add(length),
                statistic,
            }
        }
        None => ForecastTime::Lead {
            minutes: start_minutes,
        },
    };
    let member = match template {
        1 | 11 => {
            let kind = product.u8(35)?;
            let n = u16::from(product.u8(36)?);
            Some(match kind {
                0 | 1 => EnsembleMember::Control,
                2 => EnsembleMember::NegativelyPerturbed(n),
                3 => EnsembleMember::Perturbed(n),
                _ if n == 0 => EnsembleMember::Control,
                _ => EnsembleMember::Perturbed(n),
            })
        }
        2 | 12 => Some(EnsembleMember::Derived(
            match product.u8(35)? {
                0 | 1 => "ens mean",
                2 | 3 => "ens std dev",
                4 | 5 => "ens spread",
                _ => "ens derived",
            }
            .to_string(),
        )),
        _ => None,
    };
    Ok((level, time, member))
}

/// Converts a time in code-table-4.4 units to minutes.
fn minutes(unit: u8, value: u32) -> Option<u32> {
    let per_unit: u32 = match unit {
        0 => 1,
        1 => 60,
        2 => 1440,
        10 => 180,
        11 => 360,
        12 => 720,
        13 => return Some(value / 60),
        _ => return None,
    };
    value.checked_mul(per_unit)
}

fn surface_value(product: Octets<'_>, type_octet: usize) -> Result<(u8, Option<f64>), GribError> {
    let kind = product.u8(type_octet)?;
    let scale = product.u8(type_octet + 1)?;
    let raw = product.u32(type_octet + 2)?;
    if kind == 255 || raw == u32::MAX || scale == 255 {
        return Ok((kind, None));
    }
    let scale = super::bits::sign_magnitude(u64::from(scale), 8) as i32;
    let value = f64::from(raw as i32) / 10f64.powi(scale);
    Ok((kind, Some(value)))
}

fn parse_level(product: Octets<'_>) -> Result<LevelInfo, GribError> {
    let (first_type, first) = surface_value(product, 23)?;
    let (second_type, second) = surface_value(product, 29)?;
    let layer = second_type != 255 && second_type == first_type;
    let (name, factor): (String, f64) = match (first_type, second_type) {
        (1, 8) => ("entireAtmosphere".into(), 1.0),
        (1, _) => ("surface".into(), 1.0),
        (2, _) => ("cloudBase".into(), 1.0),
        (3, _) => ("cloudTop".into(), 1.0),
        (4, _) => ("isothermZero".into(), 1.0),
        (6, _) => ("maxWind".into(), 1.0),
        (7, _) => ("tropopause".into(), 1.0),
        (8, _) => ("nominalTop".into(), 1.0),
        (10, _) => ("atmosphere".into(), 1.0),
        (100, _) if layer => ("isobaricLayer".into(), 0.01),
        // ecCodes switches to Pa for levels that are not whole hectopascals (e.g. 40 Pa).
        (100, _) if first.is_some_and(|pa| pa % 100.0 != 0.0) => ("isobaricInPa".into(), 1.0),
        (100, _) => ("isobaricInhPa".into(), 0.01),
        (101, _) => ("meanSea".into(), 1.0),
        (102, _) => ("heightAboveSea".into(), 1.0),
        (103, _) if layer => ("heightAboveGroundLayer".into(), 1.0),
        (103, _) => ("heightAboveGround".into(), 1.0),
        (104, _) if layer => ("sigmaLayer".into(), 1.0),
        (104, _) => ("sigma".into(), 1.0),
        (105, _) => ("hybrid".into(), 1.0),
        (106, _) if layer => ("depthBelowLandLayer".into(), 1.0),
        (106, _) => ("depthBelowLand".into(), 1.0),
        (107, _) => ("theta".into(), 1.0),
        (108, _) => ("pressureFromGroundLayer".into(), 0.01),
        // PV levels are stored in K m2 kg-1 s-1; ecCodes and ECMWF count them in 1e-9 units.
        (109, _) => ("potentialVorticity".into(), 1e9),
        (151, _) => ("soilLayer".into(), 1.0),
        (200, _) => ("atmosphereSingleLayer".into(), 1.0),
        (204, _) => ("highestTroposphericFreezing".into(), 1.0),
        (211, _) => ("boundaryLayerCloudLayer".into(), 1.0),
        (212, _) => ("lowCloudBottom".into(), 1.0),
        (213, _) => ("lowCloudTop".into(), 1.0),
        (214, _) => ("lowCloudLayer".into(), 1.0),
        (215, _) => ("cloudCeiling".into(), 1.0),
        (220, _) => ("planetaryBoundaryLayer".into(), 1.0),
        (241, _) => ("orderedSequenceData".into(), 1.0),
        (222, _) => ("middleCloudBottom".into(), 1.0),
        (223, _) => ("middleCloudTop".into(), 1.0),
        (224, _) => ("middleCloudLayer".into(), 1.0),
        (232, _) => ("highCloudBottom".into(), 1.0),
        (233, _) => ("highCloudTop".into(), 1.0),
        (234, _) => ("highCloudLayer".into(), 1.0),
        (242, _) => ("convectiveCloudBottom".into(), 1.0),
        (243, _) => ("convectiveCloudTop".into(), 1.0),
        (244, _) => ("convectiveCloudLayer".into(), 1.0),
        (t, _) => (format!("level{t}"), 1.0),
    };
    let keep_value = !matches!(
        name.as_str(),
        "surface"
            | "meanSea"
            | "entireAtmosphere"
            | "atmosphere"
            | "atmosphereSingleLayer"
            | "nominalTop"
    );
    Ok(LevelInfo {
        first_type,
        second_type,
        type_of_level: name,
        value: if keep_value {
            first.map(|v| v * factor)
        } else {
            None
        },
        second_value: if layer {
            second.map(|v| v * factor)
        } else {
            None
        },
    })
}

/// ecCodes short names of the parameters gik's products carry. `None`: use the WMO abbreviation.
fn short_name(
    centre: u16,
    discipline: u8,
    category: u8,
    number: u8,
    level: &LevelInfo,
    time: &ForecastTime,
) -> Option<&'static str> {
    let height = |h: f64| level.first_type == 103 && level.value == Some(h);
    let accumulated = matches!(
        time,
        ForecastTime::Window {
            statistic: Statistic::Accumulation,
            ..
        }
    );
    const ECMWF: u16 = 98;
    if centre == ECMWF {
        // ECMWF local parameters (ecCodes localConcepts/ecmf).
        match (discipline, category, number) {
            (0, 1, 193) => return Some("tp"),
            (0, 1, 192) => return Some("lsp"),
            (0, 6, 192) => return Some("tcc"),
            (0, 19, 192) => return Some("asn"),
            (0, 1, 254) => return Some("sd"),
            (0, 2, 2) if height(100.0) => return Some("100u"),
            (0, 2, 3) if height(100.0) => return Some("100v"),
            (0, 4, 192) if accumulated => return Some("ssr"),
            _ => {}
        }
    }
    Some(match (discipline, category, number) {
        (0, 0, 0) if height(2.0) => "2t",
        (0, 0, 0) => "t",
        (0, 0, 6) if height(2.0) => "2d",
        (0, 0, 6) => "dpt",
        (0, 1, 0) if height(2.0) => "2sh",
        (0, 1, 0) => "q",
        (0, 1, 1) if height(2.0) => "2r",
        (0, 1, 1) => "r",
        (0, 1, 3) => "pwat",
        (0, 1, 8) => "tp",
        (0, 1, 19) => "ptype",
        (0, 1, 61) => "rsn",
        (0, 1, 51) => "tcw",
        (0, 1, 64) => "tcwv",
        (0, 1, 52) if accumulated => "tp",
        (0, 1, 52) => "tprate",
        (0, 2, 2) if height(10.0) => "10u",
        (0, 2, 2) => "u",
        (0, 2, 3) if height(10.0) => "10v",
        (0, 2, 3) => "v",
        (0, 2, 8) => "w",
        (0, 2, 22) => "gust",
        (0, 3, 0) if level.first_type == 1 => "sp",
        (0, 3, 0) if level.first_type == 101 => "msl",
        (0, 3, 0) => "pres",
        (0, 3, 1) => "prmsl",
        (0, 3, 5) => "gh",
        (0, 3, 192) => "mslet",
        (0, 4, 7) if accumulated => "ssrd",
        (0, 4, 9) if accumulated => "ssr",
        (0, 6, 1) => "tcc",
        (0, 7, 6) => "cape",
        (0, 7, 7) => "cin",
        _ => return None,
    })
}
