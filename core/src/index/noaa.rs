//! NOAA wgrib2 inventory (`.idx`) parser.
//!
//! An inventory has one line per GRIB2 field:
//!
//! ```text
//! 18:8838298:d=2025080100:APCP:surface:12-15 hour acc fcst:ENS=+1
//! n :offset :reference    :VAR :LEVEL  :FCST               :[more fields...]
//! ```
//!
//! * `n` is the message number; `5.1`, `5.2`, ... are several fields packed in one GRIB message
//!   (they share its offset).
//! * The inventory gives no lengths: a message ends where the next message (the next *different*
//!   offset) starts, and the last one ends at the end of the GRIB2 file, so its length is only
//!   known when the caller supplies the file size.
//! * Fields after `FCST` are optional; the ensemble member is taken from an `ENS=...` field
//!   (`ENS=low-res ctl`, `ENS=+3`, `ENS=-3`) or from a derived-product field (`ens mean`,
//!   `ens spread`).
//!
//! Level texts are translated to ecCodes `typeOfLevel` names (see [`Level`]); a level nobody
//! recognises keeps its text. Forecast texts (`anl`, `15 hour fcst`, `12-15 hour acc fcst`,
//! `0-15 min ave fcst`, `1-2 day max fcst`) become [`ForecastTime`]s; a forecast text whose
//! leading `N unit` or `N-M unit` cannot be read, or whose unit has no fixed length (`month`), is
//! an [`Error::IndexLine`].

use super::{EnsembleMember, ForecastTime, IndexRecord, Level, Statistic};
use crate::time::RunTime;
use crate::{Error, Result};

/// Fewest colon-separated fields a line may have: `n:offset:d=date:VAR:LEVEL:FCST`.
const MIN_FIELDS: usize = 6;

/// Parses a wgrib2 inventory.
///
/// `source_name` (the index's path or URL) is used in error messages. `file_size` is the size of
/// the GRIB2 file the inventory describes; without it the last message's `length` is `None`.
///
/// Blank lines are skipped and CRLF line ends are accepted. Errors ([`Error::IndexLine`], with
/// the 1-based line number): fewer than six fields, a message number or offset that is not a
/// number, a reference time that is not `d=YYYYMMDDHH`, an empty variable, an unreadable
/// forecast time or `ENS=` field, an offset smaller than the previous line's, and a last offset
/// that is not inside a file of `file_size` bytes.
pub fn parse(text: &str, source_name: &str, file_size: Option<u64>) -> Result<Vec<IndexRecord>> {
    let error = |line: usize, reason: String| Error::IndexLine {
        source_name: source_name.to_string(),
        line,
        reason,
    };

    let mut records: Vec<IndexRecord> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_line(line, line_no).map_err(|reason| error(line_no, reason))?;
        if let Some(prev) = records.last() {
            if record.offset < prev.offset {
                return Err(error(
                    line_no,
                    format!(
                        "offset {} is smaller than the offset {} on line {}: offsets must not \
                         decrease",
                        record.offset, prev.offset, prev.line
                    ),
                ));
            }
        }
        records.push(record);
    }

    // Lengths: walk backwards remembering where the next *different* offset starts, so the
    // sub-fields of one message (`5.1`, `5.2`, same offset) all get the whole message's length.
    let mut next_start: Option<u64> = file_size;
    let mut next_offset: Option<u64> = None;
    for record in records.iter_mut().rev() {
        if let Some(next) = next_offset {
            if next != record.offset {
                next_start = Some(next);
            }
        }
        next_offset = Some(record.offset);
        record.length = match next_start {
            Some(end) if end > record.offset => Some(end - record.offset),
            Some(end) => {
                // Only reachable for the last message (offsets are non-decreasing and equal
                // offsets are skipped above), i.e. `end` is the file size.
                return Err(error(
                    record.line,
                    format!(
                        "offset {} is not inside the GRIB2 file of {} bytes: the index is \
                         stale (the GRIB2 file was replaced after it) or corrupt",
                        record.offset, end
                    ),
                ));
            }
            None => None,
        };
    }
    Ok(records)
}

/// Parses one non-blank line; the error is the reason only (the caller adds file and line).
fn parse_line(line: &str, line_no: usize) -> Result<IndexRecord, String> {
    let fields: Vec<&str> = line.split(':').collect();
    if fields.len() < MIN_FIELDS {
        return Err(format!(
            "expected at least {MIN_FIELDS} colon-separated fields \
             (n:offset:d=YYYYMMDDHH:VAR:LEVEL:FCST), found {}",
            fields.len()
        ));
    }
    let field = |i: usize| fields.get(i).map_or("", |f| f.trim());

    let number = field(0);
    let Some(sub_field) = parse_message_number(number) else {
        return Err(format!(
            "message number {number:?} is not a number like 5 or 5.2"
        ));
    };
    let offset_text = field(1);
    let offset = offset_text
        .parse::<u64>()
        .map_err(|_| format!("byte offset {offset_text:?} is not a non-negative integer"))?;
    let reference_time = parse_reference_time(field(2))?;
    let variable = field(3);
    if variable.is_empty() {
        return Err("empty variable name".to_string());
    }
    let level = parse_level(field(4));
    let time = parse_forecast_time(field(5))?;
    let member = parse_member(fields.get(MIN_FIELDS..).unwrap_or(&[]))?;

    Ok(IndexRecord {
        variable: variable.to_string(),
        level,
        time,
        member,
        reference_time: Some(reference_time),
        offset,
        length: None,
        line: line_no,
        sub_field,
    })
}

/// `5` (`Some(None)`) or `5.2` (`Some(Some(2))`); `None` when it is neither.
fn parse_message_number(s: &str) -> Option<Option<u32>> {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        Some((whole, sub)) if digits(whole) && digits(sub) => sub.parse().ok().map(Some),
        Some(_) => None,
        None => digits(s).then_some(None),
    }
}

/// `d=YYYYMMDDHH` (also `D=YYYYMMDDHHmmss`-style forms with zero minutes and seconds).
fn parse_reference_time(field: &str) -> Result<RunTime, String> {
    let bad = || format!("reference time {field:?} is not d=YYYYMMDDHH");
    let digits = field
        .strip_prefix("d=")
        .or_else(|| field.strip_prefix("D="))
        .ok_or_else(bad)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let compact = match digits.len() {
        10 => digits,
        12 | 14 if digits.bytes().skip(10).all(|b| b == b'0') => {
            digits.get(..10).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    };
    RunTime::parse_compact(compact).map_err(|e| format!("reference time {field:?}: {e}"))
}

/// The ensemble member from the fields after `FCST`: the first `ENS=` field wins, then a
/// derived-product field such as `ens mean`; nothing means `None`.
fn parse_member(extra: &[&str]) -> Result<Option<EnsembleMember>, String> {
    for f in extra {
        if let Some(value) = f.trim().strip_prefix("ENS=") {
            return parse_ens_value(value.trim()).map(Some);
        }
    }
    for f in extra {
        let f = f.trim();
        let is_derived = f
            .split_whitespace()
            .any(|word| word.eq_ignore_ascii_case("ens"));
        if is_derived {
            return Ok(Some(EnsembleMember::Derived(f.to_string())));
        }
    }
    Ok(None)
}

/// The value of `ENS=`: `low-res ctl`, `hi-res ctl`, `+3`, `-3`.
fn parse_ens_value(value: &str) -> Result<EnsembleMember, String> {
    let bad = || format!("ensemble member ENS={value:?} is not a control (ctl) or +N / -N");
    if value.ends_with("ctl") {
        return Ok(EnsembleMember::Control);
    }
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u16>().map_err(|_| bad())
    };
    if let Some(n) = value.strip_prefix('+') {
        Ok(EnsembleMember::Perturbed(number(n)?))
    } else if let Some(n) = value.strip_prefix('-') {
        Ok(EnsembleMember::NegativelyPerturbed(number(n)?))
    } else {
        Ok(EnsembleMember::Perturbed(number(value)?))
    }
}

/// The unit of a forecast time, as a number of minutes or seconds.
enum TimeUnit {
    /// This many minutes per unit.
    Minutes(u32),
    /// Seconds (only whole minutes can be represented).
    Seconds,
}

/// Reads a wgrib2 time unit. Units of varying length (month, year) are an error.
fn parse_time_unit(unit: &str) -> Result<TimeUnit, String> {
    match unit {
        "min" | "mins" | "minute" | "minutes" => Ok(TimeUnit::Minutes(1)),
        "hour" | "hours" | "hr" | "hrs" => Ok(TimeUnit::Minutes(60)),
        "day" | "days" => Ok(TimeUnit::Minutes(24 * 60)),
        "sec" | "secs" | "second" | "seconds" => Ok(TimeUnit::Seconds),
        "month" | "months" | "mon" | "year" | "years" | "decade" | "normal" | "century" => Err(
            format!("forecast time unit {unit:?} has no fixed length and cannot be converted to minutes"),
        ),
        _ => Err(format!("unknown forecast time unit {unit:?}")),
    }
}

/// Converts `value` units to minutes, checking overflow and whole minutes.
fn to_minutes(value: u32, unit: &TimeUnit) -> Result<u32, String> {
    match *unit {
        TimeUnit::Minutes(per) => value
            .checked_mul(per)
            .ok_or_else(|| format!("forecast time {value} is too large")),
        TimeUnit::Seconds if value.is_multiple_of(60) => Ok(value / 60),
        TimeUnit::Seconds => Err(format!(
            "forecast time of {value} seconds is not a whole number of minutes"
        )),
    }
}

/// A statistic word (`acc`, `ave`, `min`, `max`), also when followed by more text
/// (`ave@(...)`); any other word is [`Statistic::Other`].
fn parse_statistic(word: &str) -> Statistic {
    let known = [
        ("acc", Statistic::Accumulation),
        ("ave", Statistic::Average),
        ("avg", Statistic::Average),
        ("min", Statistic::Minimum),
        ("max", Statistic::Maximum),
    ];
    for (name, statistic) in known {
        if let Some(rest) = word.strip_prefix(name) {
            if rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_alphanumeric()) {
                return statistic;
            }
        }
    }
    Statistic::Other
}

/// A non-negative integer made of ASCII digits only.
fn parse_count(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses the `FCST` field: `anl`, `N unit fcst`, `N-M unit STAT fcst`.
///
/// Only the leading `N unit` / `N-M unit` and the statistic word after it are read; anything
/// further (`fcst`, ensemble notes) is ignored. A single time with a statistic (`0 day max fcst`)
/// is a zero-width window.
fn parse_forecast_time(text: &str) -> Result<ForecastTime, String> {
    let text = text.trim();
    if text == "anl" {
        return Ok(ForecastTime::Analysis);
    }
    let unreadable =
        || format!("forecast time {text:?} is not anl, `N unit fcst` or `N-M unit STAT fcst`");
    let mut words = text.split_whitespace();
    let range = words.next().ok_or_else(unreadable)?;
    let unit_word = words.next().ok_or_else(unreadable)?;
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (
            parse_count(a).ok_or_else(unreadable)?,
            Some(parse_count(b).ok_or_else(unreadable)?),
        ),
        None => (parse_count(range).ok_or_else(unreadable)?, None),
    };
    let unit = parse_time_unit(unit_word).map_err(|e| format!("{}: {e}", unreadable()))?;
    let statistic = match words.next() {
        None | Some("fcst") | Some("anl") => None,
        Some(word) => Some(parse_statistic(word)),
    };
    let start_minutes = to_minutes(start, &unit)?;
    match (end, statistic) {
        (Some(end), statistic) => {
            let end_minutes = to_minutes(end, &unit)?;
            if end_minutes < start_minutes {
                return Err(format!("forecast window {text:?} ends before it starts"));
            }
            Ok(ForecastTime::Window {
                start_minutes,
                end_minutes,
                statistic: statistic.unwrap_or(Statistic::Other),
            })
        }
        (None, Some(statistic)) => Ok(ForecastTime::Window {
            start_minutes,
            end_minutes: start_minutes,
            statistic,
        }),
        (None, None) => Ok(ForecastTime::Lead {
            minutes: start_minutes,
        }),
    }
}

/// wgrib2 level names without a value, and their ecCodes `typeOfLevel`.
///
/// The names are wgrib2's code table 4.5 texts (WMO entries and NCEP's local 192-254), the
/// ecCodes names those of `typeOfLevelConcept.def` (WMO and `localConcepts/kwbc`).
const NAMED_LEVELS: &[(&str, &str)] = &[
    ("surface", "surface"),
    ("cloud base", "cloudBase"),
    ("cloud top", "cloudTop"),
    ("0C isotherm", "isothermZero"),
    (
        "level of adiabatic condensation from sfc",
        "adiabaticCondensation",
    ),
    ("max wind", "maxWind"),
    ("tropopause", "tropopause"),
    ("top of atmosphere", "nominalTop"),
    ("nominal top", "nominalTop"),
    ("sea bottom", "seaBottom"),
    ("entire atmosphere", "atmosphere"),
    ("cumulonimbus base", "cumulonimbusBase"),
    ("cumulonimbus top", "cumulonimbusTop"),
    ("level of free convection", "freeConvection"),
    ("convection condensation level", "convectiveCondensation"),
    ("level of neutral buoyancy", "neutralBuoyancy"),
    ("mean sea level", "meanSea"),
    ("atmos col", "entireAtmosphere"),
    (
        "entire atmosphere (considered as a single layer)",
        "atmosphereSingleLayer",
    ),
    (
        "highest tropospheric freezing level",
        "highestTroposphericFreezing",
    ),
    ("grid scale cloud bottom level", "gridScaleCloudBottom"),
    ("grid scale cloud top level", "gridScaleCloudTop"),
    (
        "boundary layer cloud bottom level",
        "boundaryLayerCloudBottom",
    ),
    ("boundary layer cloud top level", "boundaryLayerCloudTop"),
    ("boundary layer cloud layer", "boundaryLayerCloudLayer"),
    ("low cloud bottom level", "lowCloudBottom"),
    ("low cloud top level", "lowCloudTop"),
    ("low cloud layer", "lowCloudLayer"),
    ("cloud ceiling", "cloudCeiling"),
    ("planetary boundary layer", "planetaryBoundaryLayer"),
    ("middle cloud bottom level", "middleCloudBottom"),
    ("middle cloud top level", "middleCloudTop"),
    ("middle cloud layer", "middleCloudLayer"),
    ("high cloud bottom level", "highCloudBottom"),
    ("high cloud top level", "highCloudTop"),
    ("high cloud layer", "highCloudLayer"),
    ("convective cloud bottom level", "convectiveCloudBottom"),
    ("convective cloud top level", "convectiveCloudTop"),
    ("convective cloud layer", "convectiveCloudLayer"),
    ("lowest level of the wet bulb zero", "lowestLevelWetBulb0"),
    ("equilibrium level", "equilibrium"),
    (
        "shallow convective cloud bottom level",
        "shallowConvectiveCloudBottom",
    ),
    (
        "shallow convective cloud top level",
        "shallowConvectiveCloudTop",
    ),
    (
        "deep convective cloud bottom level",
        "deepConvectiveCloudBottom",
    ),
    ("deep convective cloud top level", "deepConvectiveCloudTop"),
];

/// wgrib2 level texts of the form `VALUE SUFFIX` or `V1-V2 SUFFIX`: the suffix, the ecCodes
/// name of the single level, the ecCodes name of the layer.
const VALUED_LEVELS: &[(&str, Option<&str>, Option<&str>)] = &[
    (" mb", Some("isobaricInhPa"), Some("isobaricLayer")),
    (
        " mb above ground",
        Some("pressureFromGround"),
        Some("pressureFromGroundLayer"),
    ),
    (
        " m above ground",
        Some("heightAboveGround"),
        Some("heightAboveGroundLayer"),
    ),
    (
        " m above mean sea level",
        Some("heightAboveSea"),
        Some("heightAboveSeaLayer"),
    ),
    (
        " m below ground",
        Some("depthBelowLand"),
        Some("depthBelowLandLayer"),
    ),
    (
        " m underground",
        Some("depthBelowLand"),
        Some("depthBelowLandLayer"),
    ),
    (
        " m below sea level",
        Some("depthBelowSea"),
        Some("depthBelowSeaLayer"),
    ),
    (" sigma level", Some("sigma"), None),
    (" sigma layer", None, Some("sigmaLayer")),
    (" hybrid level", Some("hybrid"), None),
    (" hybrid layer", None, Some("hybridLayer")),
    (" K isentropic level", Some("theta"), None),
    (" K isentropic layer", None, Some("thetaLayer")),
    (" K level", Some("isothermal"), None),
    (" Eta level", Some("eta"), None),
    (" in sequence", Some("orderedSequenceData"), None),
];

/// Rounds away the noise of decimal unit conversions (`0.07 * 100` = `7.000000000000001`).
fn tidy(x: f64) -> f64 {
    let r = (x * 1e6).round() / 1e6;
    if r.is_finite() {
        r
    } else {
        x
    }
}

/// A finite number as wgrib2 prints it with `%g` (`2`, `0.1`, `2e-06`).
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    // Rust also accepts `inf`, `nan` and `infinity`; wgrib2 never prints them as levels.
    if !s.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.') {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `A-B` where both sides are numbers (the `-` of an exponent, `1e-06`, is not a separator).
fn parse_number_range(s: &str) -> Option<(f64, f64)> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate().skip(1) {
        let after_exponent = matches!(bytes.get(i - 1), Some(b'e' | b'E'));
        if b == b'-' && !after_exponent {
            let a = parse_number(s.get(..i)?)?;
            let b = parse_number(s.get(i + 1..)?)?;
            return Some((a, b));
        }
    }
    None
}

/// Translates a wgrib2 level text into a [`Level`]. Never fails: unknown texts are kept.
///
/// Values are in ecCodes' units: `N mb` is `isobaricInhPa` in hPa, except for levels that are
/// not whole hectopascals, where ecCodes switches to `isobaricInPa` with the value in Pa (GFS
/// `0.01 mb` ... `0.7 mb`; the same rule as [`crate::grib`]'s level decoding);
/// `PV=2e-06 (Km^2/kg/s) surface` is `potentialVorticity` 2000 (units of 1e-9 K m2 kg-1 s-1,
/// as ecCodes and ECMWF's `levelist` write it); `N-M mb above ground` keeps hPa.
pub(crate) fn parse_level(text: &str) -> Level {
    let text = text.trim();
    let level = |type_of_level: &str, value: Option<f64>, second_value: Option<f64>| Level {
        type_of_level: type_of_level.to_string(),
        value,
        second_value,
        label: text.to_string(),
    };

    if let Some((_, name)) = NAMED_LEVELS.iter().find(|(t, _)| *t == text) {
        return level(name, None, None);
    }
    if let Some(pv) = text
        .strip_prefix("PV=")
        .and_then(|rest| rest.strip_suffix(" (Km^2/kg/s) surface"))
        .and_then(parse_number)
    {
        return level("potentialVorticity", Some(tidy(pv * 1e9)), None);
    }
    for (suffix, single, layer) in VALUED_LEVELS {
        let Some(number_text) = text.strip_suffix(suffix) else {
            continue;
        };
        if let (Some(name), Some(v)) = (single, parse_number(number_text)) {
            let pascals = tidy(v * 100.0);
            if *suffix == " mb" && pascals % 100.0 != 0.0 {
                return level("isobaricInPa", Some(pascals), None);
            }
            return level(name, Some(v), None);
        }
        if let (Some(name), Some((a, b))) = (layer, parse_number_range(number_text)) {
            return level(name, Some(a), Some(b));
        }
    }
    level(text, None, None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::test_support::{fixture, line_error, read_fixture};
    use proptest::prelude::*;

    fn text(relative: &str) -> String {
        String::from_utf8(read_fixture(relative)).unwrap()
    }

    fn parse_fixture(relative: &str, file_size: Option<u64>) -> Vec<IndexRecord> {
        parse(&text(relative), relative, file_size)
            .unwrap_or_else(|e| panic!("{relative} failed to parse: {e}"))
    }

    const FIXTURES: &[(&str, usize)] = &[
        ("gefs/idx/geavg.t00z.pgrb2s.0p25.f000.idx", 26),
        ("gefs/idx/geavg.t00z.pgrb2s.0p25.f009.idx", 38),
        ("gefs/idx/gec00.t00z.pgrb2a.0p50.f432.idx", 85),
        ("gefs/idx/gep01.t00z.pgrb2s.0p25.f015.idx", 38),
        ("gefs/idx/pres_msl_2019010100_c00.grib2.idx", 80),
        ("gfs/idx/gfs.t00z.pgrb2.0p25.anl.idx", 610),
        ("gfs/idx/gfs.t00z.pgrb2.0p25.f000.idx", 696),
        ("gfs/gfswave.t18z.atlocn.0p16.f001.grib2.idx", 19),
    ];

    #[test]
    fn every_fixture_parses_with_one_record_per_line() {
        for (name, count) in FIXTURES {
            let records = parse_fixture(name, None);
            assert_eq!(records.len(), *count, "{name}");
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.line, i + 1, "{name}");
                assert!(r.reference_time.is_some(), "{name}");
                assert!(!r.variable.is_empty(), "{name}");
                assert!(!r.level.label.is_empty(), "{name}");
                if i + 1 < records.len() {
                    assert!(r.length.is_some_and(|l| l > 0), "{name} line {}", r.line);
                } else {
                    assert_eq!(r.length, None, "{name}: last length needs the file size");
                }
            }
        }
    }

    #[test]
    fn kerchunk_fixture_inventories_parse() {
        // Older GFS and HRRR inventories (subhourly `min` times, `m underground`, PV levels).
        let dir = fixture("kerchunk/grib_idx_fixtures");
        let mut parsed = 0;
        for sub in ["20221014", "20231104"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "idx") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let name = path.display().to_string();
                    let records = parse(&text, &name, None).unwrap_or_else(|e| panic!("{e}"));
                    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
                    assert_eq!(records.len(), lines, "{name}");
                    parsed += 1;
                }
            }
        }
        assert!(parsed >= 10, "only {parsed} kerchunk inventories found");
    }

    #[test]
    fn gep01_f015_apcp_is_a_perturbed_accumulation_window() {
        let records = parse_fixture("gefs/idx/gep01.t00z.pgrb2s.0p25.f015.idx", None);
        let apcp: Vec<_> = records.iter().filter(|r| r.variable == "APCP").collect();
        assert_eq!(apcp.len(), 1);
        let apcp = apcp[0];
        assert_eq!(apcp.line, 18);
        assert_eq!(
            apcp.time,
            ForecastTime::window_hours(12, 15, Statistic::Accumulation)
        );
        assert_eq!(apcp.member, Some(EnsembleMember::Perturbed(1)));
        assert_eq!(apcp.level.type_of_level, "surface");
        assert_eq!(apcp.level.value, None);
        assert_eq!(apcp.level.label, "surface");
        assert_eq!(
            apcp.reference_time,
            Some(RunTime::new(2025, 8, 1, 0).unwrap())
        );
        // 18:8838298 ... 19:9080634 (CSNOW)
        assert_eq!(apcp.offset, 8_838_298);
        assert_eq!(apcp.length, Some(9_080_634 - 8_838_298));

        let tmp = &records[9];
        assert_eq!(tmp.variable, "TMP");
        assert_eq!(tmp.time, ForecastTime::hours(15));
        assert_eq!(tmp.level.type_of_level, "heightAboveGround");
        assert_eq!(tmp.level.value, Some(2.0));
        assert_eq!(tmp.level.label, "2 m above ground");

        let tmax = &records[12];
        assert_eq!(tmax.variable, "TMAX");
        assert_eq!(
            tmax.time,
            ForecastTime::window_hours(12, 15, Statistic::Maximum)
        );
        assert_eq!(
            records[13].time,
            ForecastTime::window_hours(12, 15, Statistic::Minimum)
        );
        assert_eq!(
            records[18].time,
            ForecastTime::window_hours(12, 15, Statistic::Average)
        );
        assert!(records
            .iter()
            .all(|r| r.member == Some(EnsembleMember::Perturbed(1))));

        // The last message, with and without the GRIB2 file size.
        let last = records.last().unwrap();
        assert_eq!(last.variable, "PRMSL");
        assert_eq!(last.level.type_of_level, "meanSea");
        assert_eq!(last.length, None);
        let sized = parse_fixture("gefs/idx/gep01.t00z.pgrb2s.0p25.f015.idx", Some(17_500_000));
        assert_eq!(sized.last().unwrap().length, Some(17_500_000 - 17_007_489));
    }

    #[test]
    fn gefs_levels_and_members() {
        let records = parse_fixture("gefs/idx/geavg.t00z.pgrb2s.0p25.f000.idx", None);
        let mean = Some(EnsembleMember::Derived("ens mean".into()));
        assert!(records.iter().all(|r| r.member == mean));
        assert!(records
            .iter()
            .filter(|r| r.variable != "TMAX" && r.variable != "TMIN")
            .all(|r| r.time == ForecastTime::Analysis));
        // `0-0 day max fcst`
        assert_eq!(
            records[13].time,
            ForecastTime::window_hours(0, 0, Statistic::Maximum)
        );
        let by_line = |n: usize| &records[n - 1].level;
        let tsoil = by_line(6);
        assert_eq!(tsoil.type_of_level, "depthBelowLandLayer");
        assert_eq!((tsoil.value, tsoil.second_value), (Some(0.0), Some(0.1)));
        assert_eq!(by_line(21).type_of_level, "atmosphereSingleLayer");
        assert_eq!(by_line(22).type_of_level, "cloudCeiling");
        assert_eq!(by_line(22).label, "cloud ceiling");
        let hlcy = by_line(23);
        assert_eq!(hlcy.type_of_level, "heightAboveGroundLayer");
        assert_eq!((hlcy.value, hlcy.second_value), (Some(3000.0), Some(0.0)));
        let cape = by_line(24);
        assert_eq!(cape.type_of_level, "pressureFromGroundLayer");
        assert_eq!((cape.value, cape.second_value), (Some(180.0), Some(0.0)));

        let ctl = parse_fixture("gefs/idx/gec00.t00z.pgrb2a.0p50.f432.idx", None);
        assert!(ctl
            .iter()
            .all(|r| r.member == Some(EnsembleMember::Control)));
        assert_eq!(ctl[0].level.type_of_level, "isobaricInhPa");
        assert_eq!(ctl[0].level.value, Some(10.0));
        assert_eq!(ctl[0].time, ForecastTime::hours(432));
        assert_eq!(
            ctl[68].time,
            ForecastTime::window_hours(426, 432, Statistic::Accumulation)
        );
        assert_eq!(ctl[76].level.type_of_level, "atmosphere");
        assert_eq!(ctl[81].level.type_of_level, "nominalTop");

        let msl = parse_fixture("gefs/idx/pres_msl_2019010100_c00.grib2.idx", None);
        assert_eq!(
            msl[0].reference_time,
            Some(RunTime::new(2019, 1, 1, 0).unwrap())
        );
        for (i, r) in msl.iter().enumerate() {
            assert_eq!(r.time, ForecastTime::hours(3 * (i as u32 + 1)));
        }
    }

    #[test]
    fn gfs_analysis_levels() {
        let records = parse_fixture("gfs/idx/gfs.t00z.pgrb2.0p25.anl.idx", None);
        let find = |var: &str, label: &str| {
            records
                .iter()
                .find(|r| r.variable == var && r.level.label == label)
                .unwrap_or_else(|| panic!("{var} at {label} not found"))
        };
        let hybrid = &find("CLMR", "1 hybrid level").level;
        assert_eq!(
            (hybrid.type_of_level.as_str(), hybrid.value),
            ("hybrid", Some(1.0))
        );
        let top = &find("HGT", "0.01 mb").level;
        assert_eq!(
            (top.type_of_level.as_str(), top.value),
            ("isobaricInPa", Some(1.0))
        );
        let p07 = &find("TMP", "0.7 mb").level;
        assert_eq!(
            (p07.type_of_level.as_str(), p07.value),
            ("isobaricInPa", Some(70.0))
        );
        let p1 = &find("TMP", "1 mb").level;
        assert_eq!(
            (p1.type_of_level.as_str(), p1.value),
            ("isobaricInhPa", Some(1.0))
        );
        let p500 = &find("TMP", "500 mb").level;
        assert_eq!(
            (p500.type_of_level.as_str(), p500.value),
            ("isobaricInhPa", Some(500.0))
        );
        let pv = &find("TMP", "PV=2e-06 (Km^2/kg/s) surface").level;
        assert_eq!(
            (pv.type_of_level.as_str(), pv.value),
            ("potentialVorticity", Some(2000.0))
        );
        let npv = &find("TMP", "PV=-2e-06 (Km^2/kg/s) surface").level;
        assert_eq!(npv.value, Some(-2000.0));
        let sigma = &find("TMP", "0.995 sigma level").level;
        assert_eq!(
            (sigma.type_of_level.as_str(), sigma.value),
            ("sigma", Some(0.995))
        );
        let layer = &find("RH", "0.44-1 sigma layer").level;
        assert_eq!(layer.type_of_level, "sigmaLayer");
        assert_eq!((layer.value, layer.second_value), (Some(0.44), Some(1.0)));
        assert_eq!(find("TMP", "tropopause").level.type_of_level, "tropopause");
        assert_eq!(find("TMP", "max wind").level.type_of_level, "maxWind");
        let asl = &find("TMP", "1829 m above mean sea level").level;
        assert_eq!(
            (asl.type_of_level.as_str(), asl.value),
            ("heightAboveSea", Some(1829.0))
        );
        assert!(records.iter().all(|r| r.time == ForecastTime::Analysis));
        assert!(records.iter().all(|r| r.member.is_none()));
    }

    #[test]
    fn gfs_f000_inventory_is_all_analysis() {
        let records = parse_fixture("gfs/idx/gfs.t00z.pgrb2.0p25.f000.idx", None);
        assert_eq!(records.len(), 696);
        assert!(records.iter().all(|r| r.member.is_none()));
        assert!(records.iter().all(|r| r.time == ForecastTime::Analysis));
        for pair in records.windows(2) {
            assert!(pair[0].offset < pair[1].offset);
            assert_eq!(pair[0].length, Some(pair[1].offset - pair[0].offset));
        }
    }

    #[test]
    fn hrrr_subhourly_minute_windows() {
        let name = "kerchunk/grib_idx_fixtures/20221014/hrrr.t03z.wrfsubhf09.grib2.idx";
        let records = parse_fixture(name, None);
        let apcp: Vec<_> = records.iter().filter(|r| r.variable == "APCP").collect();
        assert_eq!(apcp.len(), 4);
        assert_eq!(apcp[0].line, 26);
        assert_eq!(apcp[0].offset, 27_095_522);
        assert_eq!(
            apcp[0].reference_time,
            Some(RunTime::new(2022, 10, 14, 3).unwrap())
        );
        let windows: Vec<_> = apcp.iter().map(|r| r.time).collect();
        let acc = |a: u32, b: u32| ForecastTime::Window {
            start_minutes: a,
            end_minutes: b,
            statistic: Statistic::Accumulation,
        };
        assert_eq!(
            windows,
            vec![acc(480, 495), acc(495, 510), acc(510, 525), acc(525, 540)]
        );
        assert_eq!(apcp[3].time.end_whole_hours(), Some(9));
    }

    #[test]
    fn gfswave_offsets_and_lengths_match_the_grib_file() {
        let grib_size = std::fs::metadata(fixture("gfs/gfswave.t18z.atlocn.0p16.f001.grib2"))
            .unwrap()
            .len();
        assert_eq!(grib_size, 690_200);
        let records = parse_fixture(
            "gfs/gfswave.t18z.atlocn.0p16.f001.grib2.idx",
            Some(grib_size),
        );
        let summary: serde_json::Value = serde_json::from_slice(&read_fixture(
            "gfs/gfswave.t18z.atlocn.0p16.f001.grib2.summary.json",
        ))
        .unwrap();
        let messages = summary["messages"].as_array().unwrap();
        assert_eq!(records.len(), messages.len());
        for (r, m) in records.iter().zip(messages) {
            assert_eq!(Some(r.offset), m["offset"].as_u64(), "line {}", r.line);
            assert_eq!(r.length, m["length"].as_u64(), "line {}", r.line);
            // The summary was made by ecCodes: the level names agree.
            assert_eq!(
                r.level.type_of_level,
                m["typeOfLevel"].as_str().unwrap(),
                "line {}",
                r.line
            );
            assert_eq!(r.time, ForecastTime::hours(1));
            assert_eq!(r.member, None, "empty trailing field is no member");
        }
        assert_eq!(records[8].level.label, "1 in sequence");
        assert_eq!(records[8].level.value, Some(1.0));
    }

    #[test]
    fn sub_messages_share_the_whole_message_length() {
        let text = "1:0:d=2025080100:HGT:500 mb:anl:\n\
                    2.1:100:d=2025080100:UGRD:500 mb:anl:\n\
                    2.2:100:d=2025080100:VGRD:500 mb:anl:\n\
                    3:250:d=2025080100:TMP:500 mb:anl:\n\
                    4.1:400:d=2025080100:UGRD:10 m above ground:anl:\n\
                    4.2:400:d=2025080100:VGRD:10 m above ground:anl:\n";
        let records = parse(text, "sub.idx", Some(1000)).unwrap();
        let lengths: Vec<_> = records.iter().map(|r| (r.offset, r.length)).collect();
        assert_eq!(
            lengths,
            vec![
                (0, Some(100)),
                (100, Some(150)),
                (100, Some(150)),
                (250, Some(150)),
                (400, Some(600)),
                (400, Some(600)),
            ]
        );
        let no_size = parse(text, "sub.idx", None).unwrap();
        assert_eq!(no_size[4].length, None);
        assert_eq!(no_size[5].length, None);
        assert_eq!(no_size[3].length, Some(150));
    }

    #[test]
    fn sub_fields_are_numbered() {
        // kerchunk's GFS inventory fixture with its last message turned into a two-field
        // message, as wgrib2 writes one (`11.1` UGRD and `11.2` VGRD share the offset).
        let text = String::from_utf8(read_fixture(
            "kerchunk/grib_idx_fixtures/20231104/gfs.t00z.pgrb2.0p25.f000.test-limit-10.idx",
        ))
        .unwrap();
        let last = "11:4945324:d=2023110400:UGRD:planetary boundary layer:anl:";
        assert!(text.contains(last), "fixture changed");
        let text = text.replace(
            last,
            "11.1:4945324:d=2023110400:UGRD:planetary boundary layer:anl:\n\
             11.2:4945324:d=2023110400:VGRD:planetary boundary layer:anl:",
        );
        let records = parse(&text, "gfs.idx", Some(5_900_000)).unwrap();
        assert_eq!(records.len(), 12);
        let fields: Vec<_> = records.iter().map(|r| r.sub_field).collect();
        assert_eq!(&fields[..10], &[None; 10]);
        assert_eq!(&fields[10..], &[Some(1), Some(2)]);
        assert!(records[9].is_first_field() && records[10].is_first_field());
        assert!(
            !records[11].is_first_field(),
            "VGRD is field 2 of message 11"
        );
        assert_eq!(records[10].offset, records[11].offset);
        assert_eq!(records[11].length, Some(5_900_000 - 4_945_324));
        // A sub-field number that does not fit is an error, not a panic or a wrap.
        let bad = "1.99999999999:0:d=2023110400:UGRD:surface:anl:";
        let (_, line, display) = line_error(parse(bad, "x.idx", None));
        assert_eq!(line, 1);
        assert!(display.contains("message number"), "{display}");
    }

    #[test]
    fn a_stale_index_is_refused_with_its_line() {
        // The real GEFS inventory against a GRIB2 file that shrank under it.
        let text =
            String::from_utf8(read_fixture("gefs/idx/gep01.t00z.pgrb2s.0p25.f015.idx")).unwrap();
        let records = parse(&text, "gep01.idx", None).unwrap();
        let last = records.last().unwrap();
        let (_, line, display) = line_error(crate::index::IndexFormat::Noaa.parse(
            &text,
            "gep01.idx",
            Some(last.offset),
        ));
        assert_eq!(line, last.line);
        assert!(display.contains("stale"), "{display}");
    }

    #[test]
    fn blank_lines_and_crlf_are_tolerated() {
        let text = "1:0:d=2025080100:TMP:2 m above ground:anl:ENS=+2\r\n\r\n\
                    2:10:d=2025080100:RH:2 m above ground:3 hour fcst:ENS=-2\r\n\n  \n";
        let records = parse(text, "crlf.idx", Some(25)).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].member, Some(EnsembleMember::Perturbed(2)));
        assert_eq!(
            records[1].member,
            Some(EnsembleMember::NegativelyPerturbed(2))
        );
        assert_eq!(records[1].line, 3);
        assert_eq!(records[1].length, Some(15));
        assert!(parse("", "empty.idx", None).unwrap().is_empty());
        assert!(parse("\n\n", "empty.idx", Some(0)).unwrap().is_empty());
    }

    #[test]
    fn forecast_times() {
        let ok = |s: &str| parse_forecast_time(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("anl"), ForecastTime::Analysis);
        assert_eq!(ok("15 hour fcst"), ForecastTime::hours(15));
        assert_eq!(ok("0 hour fcst"), ForecastTime::hours(0));
        assert_eq!(ok("12 hr fcst"), ForecastTime::hours(12));
        assert_eq!(
            ok("12-15 hour acc fcst"),
            ForecastTime::window_hours(12, 15, Statistic::Accumulation)
        );
        assert_eq!(
            ok("0-6 hour ave fcst"),
            ForecastTime::window_hours(0, 6, Statistic::Average)
        );
        assert_eq!(
            ok("1-2 day acc fcst"),
            ForecastTime::window_hours(24, 48, Statistic::Accumulation)
        );
        assert_eq!(ok("3 day fcst"), ForecastTime::hours(72));
        assert_eq!(ok("15 min fcst"), ForecastTime::Lead { minutes: 15 });
        assert_eq!(
            ok("0-15 min acc fcst"),
            ForecastTime::Window {
                start_minutes: 0,
                end_minutes: 15,
                statistic: Statistic::Accumulation
            }
        );
        assert_eq!(ok("120 sec fcst"), ForecastTime::Lead { minutes: 2 });
        assert_eq!(
            ok("174-180 hour RMS fcst"),
            ForecastTime::window_hours(174, 180, Statistic::Other)
        );
        assert_eq!(
            ok("0-6 hour fcst"),
            ForecastTime::window_hours(0, 6, Statistic::Other)
        );
        assert_eq!(
            ok("0-6 hour ave@(fcst,dt=1 hour)"),
            ForecastTime::window_hours(0, 6, Statistic::Average)
        );

        let err = |s: &str| parse_forecast_time(s).unwrap_err();
        assert!(err("1-2 month ave fcst").contains("month"));
        assert!(err("1 year fcst").contains("year"));
        for bad in [
            "",
            "prob fcst",
            "hour fcst",
            "15",
            "15 fortnight fcst",
            "-3 hour fcst",
            "6-3 hour acc fcst",
            "240@3 hour ave(anl),missing=0",
            "90 sec fcst",
            "99999999 day fcst",
            "1.5 hour fcst",
        ] {
            assert!(
                parse_forecast_time(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn levels() {
        let l = |s: &str| parse_level(s);
        let check = |s: &str, t: &str, v: Option<f64>, v2: Option<f64>| {
            let level = l(s);
            assert_eq!(level.type_of_level, t, "{s}");
            assert_eq!(level.value, v, "{s}");
            assert_eq!(level.second_value, v2, "{s}");
            assert_eq!(level.label, s, "{s}");
        };
        check("surface", "surface", None, None);
        check("2 m above ground", "heightAboveGround", Some(2.0), None);
        check(
            "0-6000 m above ground",
            "heightAboveGroundLayer",
            Some(0.0),
            Some(6000.0),
        );
        check("850 mb", "isobaricInhPa", Some(850.0), None);
        check("0.4 mb", "isobaricInPa", Some(40.0), None);
        check("1.5 mb", "isobaricInPa", Some(150.0), None);
        check("1 mb", "isobaricInhPa", Some(1.0), None);
        check("500-1000 mb", "isobaricLayer", Some(500.0), Some(1000.0));
        check("mean sea level", "meanSea", None, None);
        check(
            "entire atmosphere (considered as a single layer)",
            "atmosphereSingleLayer",
            None,
            None,
        );
        check("entire atmosphere", "atmosphere", None, None);
        check(
            "0.1-0.4 m below ground",
            "depthBelowLandLayer",
            Some(0.1),
            Some(0.4),
        );
        check("1 m below ground", "depthBelowLand", Some(1.0), None);
        check("0 m underground", "depthBelowLand", Some(0.0), None);
        check(
            "30-0 mb above ground",
            "pressureFromGroundLayer",
            Some(30.0),
            Some(0.0),
        );
        check("top of atmosphere", "nominalTop", None, None);
        check("nominal top", "nominalTop", None, None);
        check("tropopause", "tropopause", None, None);
        check("max wind", "maxWind", None, None);
        check("320 K isentropic level", "theta", Some(320.0), None);
        check("263 K level", "isothermal", Some(263.0), None);
        check(
            "PV=2e-06 (Km^2/kg/s) surface",
            "potentialVorticity",
            Some(2000.0),
            None,
        );
        check("0.995 sigma level", "sigma", Some(0.995), None);
        check("1 hybrid level", "hybrid", Some(1.0), None);
        check("low cloud layer", "lowCloudLayer", None, None);
        check(
            "planetary boundary layer",
            "planetaryBoundaryLayer",
            None,
            None,
        );
        check("0C isotherm", "isothermZero", None, None);
        check("2 in sequence", "orderedSequenceData", Some(2.0), None);
        check(
            "1e-06-2e-06 m above ground",
            "heightAboveGroundLayer",
            Some(1e-6),
            Some(2e-6),
        );
        // Unknown vocabulary keeps its text.
        for unknown in [
            "261 K level - 256 K level",
            "something new",
            "inf mb",
            "nan m above ground",
            "x-y m above ground",
            " mb",
            "",
        ] {
            let level = l(unknown);
            assert_eq!(level.type_of_level, unknown.trim(), "{unknown:?}");
            assert_eq!(level.value, None, "{unknown:?}");
        }
    }

    #[test]
    fn members() {
        let m = |fields: &[&str]| parse_member(fields).unwrap();
        assert_eq!(m(&["ENS=low-res ctl"]), Some(EnsembleMember::Control));
        assert_eq!(m(&["ENS=hi-res ctl"]), Some(EnsembleMember::Control));
        assert_eq!(m(&["ENS=+30"]), Some(EnsembleMember::Perturbed(30)));
        assert_eq!(m(&["ENS=-3"]), Some(EnsembleMember::NegativelyPerturbed(3)));
        assert_eq!(
            m(&["ens spread"]),
            Some(EnsembleMember::Derived("ens spread".into()))
        );
        assert_eq!(
            m(&["prob >2.5", "ENS=+1"]),
            Some(EnsembleMember::Perturbed(1))
        );
        assert_eq!(m(&[""]), None);
        assert_eq!(m(&[]), None);
        assert_eq!(m(&["prob fcst 0/20"]), None);
        assert!(parse_member(&["ENS=+x"]).is_err());
        assert!(parse_member(&["ENS=+99999"]).is_err());
        assert!(parse_member(&["ENS="]).is_err());
    }

    #[test]
    fn reference_time_forms() {
        assert_eq!(
            parse_reference_time("d=2025080106").unwrap(),
            RunTime::new(2025, 8, 1, 6).unwrap()
        );
        assert_eq!(
            parse_reference_time("D=20250801060000").unwrap(),
            RunTime::new(2025, 8, 1, 6).unwrap()
        );
        for bad in [
            "2025080106",
            "d=20250801",
            "d=2025080124",
            "d=20250801063000",
            "d=2025０801",
        ] {
            assert!(parse_reference_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let good = "1:0:d=2025080100:TMP:2 m above ground:anl:\n";
        let cases = [
            ("2:abc:d=2025080100:RH:2 m above ground:anl:", "offset"),
            ("2:-5:d=2025080100:RH:2 m above ground:anl:", "offset"),
            ("2:100:d=2025080100:RH", "fields"),
            ("2:100:d=2025080100:RH:2 m above ground", "fields"),
            (
                "x:100:d=2025080100:RH:2 m above ground:anl:",
                "message number",
            ),
            (
                "2:100:2025080100:RH:2 m above ground:anl:",
                "reference time",
            ),
            (
                "2:100:d=2025133100:RH:2 m above ground:anl:",
                "reference time",
            ),
            ("2:100:d=2025080100::2 m above ground:anl:", "variable"),
            (
                "2:100:d=2025080100:RH:2 m above ground:prob fcst:",
                "forecast time",
            ),
            (
                "2:100:d=2025080100:RH:2 m above ground:1 month fcst:",
                "month",
            ),
            ("2:100:d=2025080100:RH:2 m above ground:anl:ENS=what", "ENS"),
        ];
        for (bad, word) in cases {
            let text = format!("{good}\n{bad}\n{good}");
            let (source, line, display) = line_error(parse(&text, "https://x/a.idx", None));
            assert_eq!(source, "https://x/a.idx");
            assert_eq!(line, 3, "{bad}");
            assert!(
                display.starts_with("https://x/a.idx, line 3: "),
                "{display}"
            );
            assert!(
                display.contains(word),
                "{display:?} should mention {word:?}"
            );
        }
    }

    #[test]
    fn decreasing_offsets_are_rejected() {
        let text = "1:0:d=2025080100:TMP:2 m above ground:anl:\n\
                    2:500:d=2025080100:RH:2 m above ground:anl:\n\
                    3:400:d=2025080100:DPT:2 m above ground:anl:\n";
        let (source, line, display) = line_error(parse(text, "dec.idx", None));
        assert_eq!((source.as_str(), line), ("dec.idx", 3));
        assert!(
            display.contains("400") && display.contains("500"),
            "{display}"
        );
    }

    #[test]
    fn last_offset_must_be_inside_the_file() {
        let text = "1:0:d=2025080100:TMP:2 m above ground:anl:\n\
                    2:500:d=2025080100:RH:2 m above ground:anl:\n";
        let (_, line, display) = line_error(parse(text, "small.idx", Some(500)));
        assert_eq!(line, 2);
        assert!(display.contains("500 bytes"), "{display}");
        assert!(parse(text, "small.idx", Some(501)).is_ok());
    }

    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[0-9]{1,12}",
            "[0-9]{1,3}\\.[0-9]{1,2}",
            "d=[0-9]{8,11}",
            Just("d=2025080100".to_string()),
            "[A-Z]{1,6}",
            Just("anl".to_string()),
            "[0-9]{1,4}(-[0-9]{1,4})? (hour|min|day|month|sec|year|x) (acc|ave|min|max|fcst|RMS)? ?fcst",
            "[0-9.e-]{1,8} (mb|m above ground|m below ground|sigma layer|K level|mb above ground)",
            "PV=[0-9e.+-]{0,8} \\(Km\\^2/kg/s\\) surface",
            "ENS=[+-]?[0-9a-z -]{0,8}",
            Just("ens mean".to_string()),
            "\\PC{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,300}", size in proptest::option::of(any::<u64>())) {
            let _ = parse(&text, "prop.idx", size);
        }

        #[test]
        fn arbitrary_bytes_as_text_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text, "prop.idx", Some(1 << 20));
        }

        #[test]
        fn colon_joined_fragments_never_panic(
            lines in proptest::collection::vec(proptest::collection::vec(fragment(), 0..10), 0..8),
            size in proptest::option::of(0u64..100_000_000),
        ) {
            let text = lines
                .iter()
                .map(|fields| fields.join(":"))
                .collect::<Vec<_>>()
                .join("\n");
            if let Ok(records) = parse(&text, "prop.idx", size) {
                for pair in records.windows(2) {
                    prop_assert!(pair[0].offset <= pair[1].offset);
                }
                for r in &records {
                    if let Some(len) = r.length {
                        prop_assert!(len > 0);
                    }
                }
            }
        }

        #[test]
        fn well_formed_lines_round_trip(
            steps in proptest::collection::vec((0u32..1000, 1u64..1_000_000), 1..20),
            member in 1u16..100,
        ) {
            let mut offset = 0u64;
            let mut text = String::new();
            let mut expected = Vec::new();
            for (i, (hour, len)) in steps.iter().enumerate() {
                text.push_str(&format!(
                    "{}:{offset}:d=2025080100:TMP:2 m above ground:{hour} hour fcst:ENS=+{member}\n",
                    i + 1
                ));
                expected.push((offset, *len, *hour));
                offset += len;
            }
            let records = parse(&text, "prop.idx", Some(offset)).unwrap();
            prop_assert_eq!(records.len(), expected.len());
            for (r, (off, len, hour)) in records.iter().zip(expected) {
                prop_assert_eq!(r.offset, off);
                prop_assert_eq!(r.length, Some(len));
                prop_assert_eq!(r.time, ForecastTime::hours(hour));
                prop_assert_eq!(r.member.clone(), Some(EnsembleMember::Perturbed(member)));
            }
        }
    }
}
