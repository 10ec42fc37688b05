//! ECMWF IFS ENS at 0.25°, as published in ECMWF open data.
//!
//! All 51 members of one step are packed in a single file of the `enfo` stream, with a JSON-lines
//! `.index` beside it: `{host}/YYYYMMDD/HHz/ifs/0p25/enfo/YYYYMMDDHH0000-{step}h-enfo-ef.grib2`,
//! holding the control (`type` `cf`) and perturbed members 1–50 (`type` `pf`, `number` 1–50).
//! Runs at 00 and 12z go to 360 h (3-hourly to 144 h, then 6-hourly); runs at 06 and 18z go to
//! 144 h, 3-hourly.
//!
//! Why the control is special: from the 2026-05-12 06z run on ([`ECMWF_CONTROL_IN_OPER_FROM`]),
//! ECMWF publishes the control in the `oper` stream file instead
//! (`.../ifs/0p25/oper/YYYYMMDDHH0000-{step}h-oper-fc.grib2`), where its records have `type` `fc`
//! and no ensemble number. [`Product::record_belongs_to`] therefore also accepts records without a
//! member label (or labelled `fc`) as the control's.
//!
//! Precipitation (`tp`) accumulates from the start of the run, in metres.

use crate::index::{IndexFormat, IndexRecord};
use crate::time::RunTime;
use crate::Result;

use super::layout::{layout_at, FileLayout, Label, Layout};
use super::variable::{ecmwf_type_of_level, is_index_name, KnownVariable};
use super::{
    Accumulation, AccumulationKind, Credits, Facts, IndexMatcher, LevelMatcher, Member, Product,
    StepType, VariableSpec, ECMWF_DEFAULT_HOST, ECMWF_SOURCES,
};

/// The first run whose control forecast is published in the `oper` stream (type `fc`) rather
/// than in the `enfo` file with the perturbed members.
pub const ECMWF_CONTROL_IN_OPER_FROM: RunTime = RunTime {
    year: 2026,
    month: 5,
    day: 12,
    hour: 6,
};

/// The ensemble file of a step: control (`cf`) and perturbed members (`pf`).
const ENFO: FileLayout = FileLayout {
    path: "ifs/0p25/{stream}/{date}{hh}0000-{step}h-{stream}-{type}.grib2",
    index_suffix: ".index",
    strip: ".grib2",
    stream: "enfo",
    kind: "ef",
    labels: &[Label::Control, Label::Perturbed],
};

/// The high-resolution forecast file of a step, which holds the control from
/// [`ECMWF_CONTROL_IN_OPER_FROM`] on (type `fc`, no ensemble number).
const OPER: FileLayout = FileLayout {
    stream: "oper",
    kind: "fc",
    labels: &[Label::Unlabelled, Label::Control],
    ..ENFO
};

/// File layouts by the run they apply from (see [`super::layout`]).
const LAYOUTS: &[Layout] = &[
    Layout {
        from: RunTime {
            year: 2000,
            month: 1,
            day: 1,
            hour: 0,
        },
        control: ENFO,
        perturbed: ENFO,
    },
    Layout {
        from: ECMWF_CONTROL_IN_OPER_FROM,
        control: OPER,
        perturbed: ENFO,
    },
];

/// The product's name.
pub(crate) const NAME: &str = "ecmwf";
const FORMAT_HINT: &str =
    "expected an ecCodes short name, with a pressure level where needed: \"2t\", \"tp\", \"u:700\" (or \"u@700\", \"u:pl:700\")";

/// Everything about IFS ENS that is plain data.
static FACTS: Facts = Facts {
    name: NAME,
    variable_noun: "ECMWF variable",
    default_host: ECMWF_DEFAULT_HOST,
    public_sources: ECMWF_SOURCES,
    run_path: "/{date}/{hh}z/",
    layouts: LAYOUTS,
    run_hours: &[0, 6, 12, 18],
    perturbed: 50,
    control_name: "control",
    perturbed_prefix: "ens",
    index_format: IndexFormat::Ecmwf,
    default_variables: &[
        "tp", "2t", "10u", "10v", "msl", "sp", "ssr", "ssrd", "tcw", "tcwv", "tcc", "sf", "ro",
        "u:700", "v:700",
    ],
    precipitation: Accumulation {
        variable: "tp",
        kind: AccumulationKind::FromRunStart,
        scale_to_mm: 1000.0,
    },
    credits: Credits {
        label: "ECMWF IFS ensemble",
        institution: "European Centre for Medium-Range Weather Forecasts (ECMWF)",
        attribution: "© ECMWF, CC BY 4.0, derived from ECMWF open data",
        licence: "CC-BY-4.0 (https://creativecommons.org/licenses/by/4.0/); ECMWF accepts \
                  no responsibility for derived products",
    },
};

#[rustfmt::skip]
const TABLE: &[KnownVariable] = &[
    KnownVariable::new("tp", "sfc", "tp", StepType::Accum, "surface", None, "m", "Total precipitation", true),
    KnownVariable::new("2t", "sfc", "t2m", StepType::Instant, "heightAboveGround", Some(2.0), "K", "2 metre temperature", false),
    KnownVariable::new("10u", "sfc", "u10", StepType::Instant, "heightAboveGround", Some(10.0), "m s**-1", "10 metre U wind component", false),
    KnownVariable::new("10v", "sfc", "v10", StepType::Instant, "heightAboveGround", Some(10.0), "m s**-1", "10 metre V wind component", false),
    KnownVariable::new("msl", "sfc", "msl", StepType::Instant, "meanSea", None, "Pa", "Mean sea level pressure", false),
    KnownVariable::new("sp", "sfc", "sp", StepType::Instant, "surface", None, "Pa", "Surface pressure", false),
    KnownVariable::new("ssr", "sfc", "ssr", StepType::Accum, "surface", None, "J m**-2", "Surface net short-wave (solar) radiation", false),
    KnownVariable::new("ssrd", "sfc", "ssrd", StepType::Accum, "surface", None, "J m**-2", "Surface short-wave (solar) radiation downwards", false),
    KnownVariable::new("tcw", "sfc", "tcw", StepType::Instant, "entireAtmosphere", None, "kg m**-2", "Total column water", true),
    KnownVariable::new("tcwv", "sfc", "tcwv", StepType::Instant, "entireAtmosphere", None, "kg m**-2", "Total column vertically-integrated water vapour", true),
    KnownVariable::new("tcc", "sfc", "tcc", StepType::Instant, "entireAtmosphere", None, "(0 - 1)", "Total cloud cover", false),
    KnownVariable::new("sf", "sfc", "sf", StepType::Accum, "surface", None, "m of water equivalent", "Snowfall", true),
    KnownVariable::new("ro", "sfc", "ro", StepType::Accum, "surface", None, "m", "Runoff", true),
    KnownVariable::new("u", "pl", "u", StepType::Instant, "isobaricInhPa", None, "m s**-1", "U component of wind", false),
    KnownVariable::new("v", "pl", "v", StepType::Instant, "isobaricInhPa", None, "m s**-1", "V component of wind", false),
];

/// A requested level: ECMWF `levtype` (never `sfc`) and value; `None` for single-level
/// parameters.
type RequestedLevel<'a> = Option<(&'a str, f64)>;

/// ECMWF IFS ENS (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ecmwf {
    host: String,
}

impl Default for Ecmwf {
    /// IFS ENS on the public ECMWF open-data bucket.
    fn default() -> Self {
        Self {
            host: ECMWF_DEFAULT_HOST.to_string(),
        }
    }
}

impl Ecmwf {
    /// IFS ENS at `host` (a mirror base URL; trailing slash tolerated), or at
    /// [`ECMWF_DEFAULT_HOST`] when `None`.
    pub fn new(host: Option<&str>) -> Result<Self> {
        Ok(Self {
            host: FACTS.host(host)?,
        })
    }

    /// Whether `run`'s control forecast is in the `oper` stream file (from
    /// [`ECMWF_CONTROL_IN_OPER_FROM`] on, by the layout table) rather than in the `enfo` file.
    pub fn control_in_oper(run: RunTime) -> bool {
        layout_at(LAYOUTS, run).is_some_and(|l| l.control.stream == OPER.stream)
    }
}

impl Product for Ecmwf {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn host(&self) -> &str {
        &self.host
    }

    fn steps(&self, run: RunTime) -> Vec<u32> {
        let short = (0..=144).step_by(3);
        if matches!(run.hour, 0 | 12) {
            short.chain((150..=360).step_by(6)).collect()
        } else {
            short.collect()
        }
    }

    fn variable(&self, text: &str) -> Result<VariableSpec> {
        let lower = text.trim().to_ascii_lowercase();
        let (name, level) = parse_request(text, &lower)?;
        let request = match level {
            None => name.to_string(),
            Some(("pl", v)) => format!("{name}:{v}"),
            Some((lt, v)) => format!("{name}:{lt}:{v}"),
        };
        let by_value = |levtype: &str, value: f64| LevelMatcher::Value {
            levtype: levtype.to_string(),
            value,
        };
        if let Some(row) = TABLE.iter().find(|k| k.index_name == name) {
            let invalid = |reason: String| FACTS.invalid_variable(text, reason);
            return match (row.level, level) {
                ("sfc", None) => Ok(row.spec(request, LevelMatcher::Any, None)),
                ("sfc", Some(_)) => Err(invalid(format!(
                    "{name} is a single-level parameter: write it without a level"
                ))),
                (_, Some((lt, v))) if lt == row.level => {
                    Ok(row.spec(request, by_value(lt, v), Some(v)))
                }
                (want, _) => Err(invalid(format!(
                    "{name} is on {want} levels: write e.g. {name}:700"
                ))),
            };
        }
        let (matcher, type_of_level, level_value) = match level {
            None => (LevelMatcher::Any, "surface", None),
            Some((lt, v)) => (
                by_value(lt, v),
                ecmwf_type_of_level(lt).unwrap_or("unknown"),
                Some(v),
            ),
        };
        let matcher = IndexMatcher {
            variable: name.to_string(),
            level: matcher,
        };
        Ok(VariableSpec::generic(
            request,
            matcher,
            name.to_string(),
            type_of_level.to_string(),
            level_value,
        ))
    }

    /// Labelled records (`cf`, `pf` number n) belong to their member. Records without an
    /// ensemble label, or of type `fc`, come from the `oper` stream file and are the control's.
    fn record_belongs_to(&self, member: Member, record: &IndexRecord) -> bool {
        member.matches(record)
            || (member == Member::Control && Label::of(record) == Some(Label::Unlabelled))
    }
}

/// Parses `lower` (`text` trimmed and in lower case): `name[:levtype][:value]`, with `@` or `/`
/// for `:` and `name:value` meaning a pressure level. Checks each rule in the order the text is
/// read, each error naming one rule; `sfc` becomes no level.
fn parse_request<'a>(text: &str, lower: &'a str) -> Result<(&'a str, RequestedLevel<'a>)> {
    let invalid = |reason: String| FACTS.invalid_variable(text, reason);
    let parts: Vec<&str> = lower.split([':', '@', '/']).map(str::trim).collect();
    let parse_value = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| invalid(format!("bad level value {s:?}; {FORMAT_HINT}")))
    };
    let (name, levtype, value) = match parts.as_slice() {
        [name] => (*name, None, None),
        [name, x] if x.parse::<f64>().is_ok() => (*name, Some("pl"), Some(parse_value(x)?)),
        [name, levtype] => (*name, Some(*levtype), None),
        [name, levtype, value] => (*name, Some(*levtype), Some(parse_value(value)?)),
        _ => return Err(invalid(FORMAT_HINT.to_string())),
    };
    if !is_index_name(name) {
        return Err(invalid(format!(
            "bad parameter name {name:?}; {FORMAT_HINT}"
        )));
    }
    let levtype = match levtype {
        Some(lt) if ecmwf_type_of_level(lt).is_none() => {
            return Err(invalid(format!(
                "unknown levtype {lt:?} (expected sfc, pl, sol or ml)"
            )))
        }
        Some("sfc") if value.is_some() => {
            return Err(invalid("sfc levels take no value".to_string()))
        }
        Some("sfc") => None,
        Some(lt) if value.is_none() => {
            return Err(invalid(format!(
                "levtype {lt} needs a level value, e.g. {name}:{lt}:700"
            )))
        }
        other => other,
    };
    Ok((name, levtype.zip(value)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::index::{EnsembleMember, ForecastTime, Level};
    use crate::product::{
        conformance, product_by_name, records_for, select_variables, DisplayConversion, Hosts,
        SpecOrigin,
    };
    use crate::test_support::read_fixture;

    fn run(day: u32, hour: u32) -> RunTime {
        RunTime::new(2026, 5, day, hour).unwrap()
    }

    #[test]
    fn conforms() {
        conformance::check(&Ecmwf::default());
    }

    #[test]
    fn urls_by_hand_including_the_oper_switch() {
        let e = Ecmwf::default();
        let h = "https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com";
        // Before the switch the control shares the enfo file with the perturbed members.
        assert_eq!(
            e.grib_url(run(12, 0), Member::Control, 24).unwrap(),
            format!("{h}/20260512/00z/ifs/0p25/enfo/20260512000000-24h-enfo-ef.grib2")
        );
        assert_eq!(
            e.index_url(run(12, 0), Member::Perturbed(7), 24).unwrap(),
            format!("{h}/20260512/00z/ifs/0p25/enfo/20260512000000-24h-enfo-ef.index")
        );
        assert_eq!(
            e.grib_url(run(11, 18), Member::Control, 144).unwrap(),
            format!("{h}/20260511/18z/ifs/0p25/enfo/20260511180000-144h-enfo-ef.grib2")
        );
        // From 2026-05-12 06z on the control is in the oper stream.
        assert_eq!(
            e.grib_url(run(12, 6), Member::Control, 0).unwrap(),
            format!("{h}/20260512/06z/ifs/0p25/oper/20260512060000-0h-oper-fc.grib2")
        );
        assert_eq!(
            e.index_url(run(12, 6), Member::Control, 3).unwrap(),
            format!("{h}/20260512/06z/ifs/0p25/oper/20260512060000-3h-oper-fc.index")
        );
        assert_eq!(
            e.grib_url(run(12, 6), Member::Perturbed(50), 3).unwrap(),
            format!("{h}/20260512/06z/ifs/0p25/enfo/20260512060000-3h-enfo-ef.grib2")
        );
        assert_eq!(
            e.grib_url(run(13, 12), Member::Control, 360).unwrap(),
            format!("{h}/20260513/12z/ifs/0p25/oper/20260513120000-360h-oper-fc.grib2")
        );
        assert!(!Ecmwf::control_in_oper(run(12, 0)));
        assert!(Ecmwf::control_in_oper(run(12, 6)));
        assert!(Ecmwf::control_in_oper(RunTime::new(2027, 1, 1, 0).unwrap()));
        assert!(!Ecmwf::control_in_oper(
            RunTime::new(2025, 12, 31, 18).unwrap()
        ));
    }

    #[test]
    fn steps_depend_on_the_run_hour() {
        let e = Ecmwf::default();
        assert_eq!(e.members().len(), 51);
        assert_eq!(e.steps(run(12, 0)).len(), 85);
        assert_eq!(e.steps(run(12, 12)).len(), 85);
        assert_eq!(e.steps(run(12, 6)).len(), 49);
        assert_eq!(e.steps(run(12, 18)).len(), 49);
        assert!(e.grib_url(run(12, 0), Member::Control, 150).is_ok());
        assert!(e.grib_url(run(12, 0), Member::Control, 147).is_err());
        let err = e
            .grib_url(run(12, 6), Member::Control, 150)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("ecmwf:") && err.contains("0-144/3"),
            "{err}"
        );
        assert!(e.grib_url(run(12, 0), Member::Perturbed(51), 0).is_err());
    }

    #[test]
    fn mirror_host() {
        let hosts = Hosts::default().with("ecmwf", "http://127.0.0.1:8080/ecmwf-forecasts/");
        let mirror = product_by_name("ecmwf", &hosts).unwrap();
        assert_eq!(
            mirror.grib_url(run(12, 6), Member::Control, 0).unwrap(),
            "http://127.0.0.1:8080/ecmwf-forecasts/20260512/06z/ifs/0p25/oper/20260512060000-0h-oper-fc.grib2"
        );
        conformance::check_host_override(
            &Ecmwf::default(),
            mirror.as_ref(),
            "http://127.0.0.1:8080/ecmwf-forecasts",
        );
    }

    #[test]
    fn default_variables_resolve_to_cfgrib_names() {
        let e = Ecmwf::default();
        conformance::check_default_variables(
            &e,
            &[
                ("tp/accum/surface", None, "m"),
                ("t2m/instant/heightAboveGround", Some(2.0), "K"),
                ("u10/instant/heightAboveGround", Some(10.0), "m s**-1"),
                ("v10/instant/heightAboveGround", Some(10.0), "m s**-1"),
                ("msl/instant/meanSea", None, "Pa"),
                ("sp/instant/surface", None, "Pa"),
                ("ssr/accum/surface", None, "J m**-2"),
                ("ssrd/accum/surface", None, "J m**-2"),
                ("tcw/instant/entireAtmosphere", None, "kg m**-2"),
                ("tcwv/instant/entireAtmosphere", None, "kg m**-2"),
                ("tcc/instant/entireAtmosphere", None, "(0 - 1)"),
                ("sf/accum/surface", None, "m of water equivalent"),
                ("ro/accum/surface", None, "m"),
                ("u/instant/isobaricInhPa", Some(700.0), "m s**-1"),
                ("v/instant/isobaricInhPa", Some(700.0), "m s**-1"),
            ],
        );
        let tp = e.variable("TP").unwrap();
        assert_eq!(tp.display.unit, "mm");
        assert!((tp.display.apply(0.0123) - 12.3).abs() < 1e-4);
        assert_eq!(e.variable("2t").unwrap().display.unit, "°C");
        assert_eq!(e.variable("msl").unwrap().display.unit, "hPa");
        assert_eq!(
            e.variable("tcc").unwrap().display,
            DisplayConversion::identity("(0 - 1)")
        );
    }

    #[test]
    fn level_syntaxes() {
        let e = Ecmwf::default();
        let u = e.variable("u:700").unwrap();
        for same in ["u@700", "u:pl:700", "U : 700", "u:pl/700", "u@700.0"] {
            assert_eq!(e.variable(same).unwrap(), u, "{same}");
        }
        assert_eq!(
            u.matcher.level,
            LevelMatcher::Value {
                levtype: "pl".into(),
                value: 700.0
            }
        );
        assert_eq!(e.variable("2t:sfc").unwrap(), e.variable("2t").unwrap());
        let t = e.variable("t:500").unwrap();
        assert_eq!(
            (t.origin, t.zarr_path().as_str(), t.level),
            (SpecOrigin::Generic, "t/instant/isobaricInhPa", Some(500.0))
        );
        assert_eq!((t.units.as_str(), t.display.unit.as_str()), ("K", "°C"));
        let q = e.variable("q@850").unwrap();
        assert_eq!(
            (q.request.as_str(), q.zarr_path().as_str()),
            ("q:850", "q/instant/isobaricInhPa")
        );
        let sot = e.variable("sot:sol:1").unwrap();
        assert_eq!(
            (sot.request.as_str(), sot.type_of_level.as_str()),
            ("sot:sol:1", "soilLayer")
        );
        assert_eq!(
            e.variable("skt").unwrap().zarr_path(),
            "skt/instant/surface"
        );
        for bad in [
            "",
            "u",
            "u:sfc",
            "2t:700",
            "u:sol:1",
            "u:xx:700",
            "u:pl",
            "u:-5",
            "u:700:1:2",
            "2 t",
            "u:sfc:3",
        ] {
            assert!(e.variable(bad).is_err(), "{bad:?}");
        }
        let err = e.variable("u").unwrap_err().to_string();
        assert!(err.contains("u:700"), "{err}");
    }

    fn rec(param: &str, level: Level, member: Option<EnsembleMember>) -> IndexRecord {
        IndexRecord {
            variable: param.into(),
            level,
            time: ForecastTime::hours(24),
            member,
            reference_time: None,
            offset: 0,
            length: Some(10),
            line: 1,
            sub_field: None,
        }
    }

    fn sfc() -> Level {
        Level {
            type_of_level: "surface".into(),
            value: None,
            second_value: None,
            label: "sfc".into(),
        }
    }

    fn pl(v: f64) -> Level {
        Level {
            type_of_level: "isobaricInhPa".into(),
            value: Some(v),
            second_value: None,
            label: format!("pl/{v}"),
        }
    }

    #[test]
    fn control_records_in_enfo_and_oper_files() {
        let e = Ecmwf::default();
        let vars = select_variables(&e, &["2t", "u:700", "t:500"]).unwrap();
        let enfo = vec![
            rec("2t", sfc(), Some(EnsembleMember::Control)),
            rec("2t", sfc(), Some(EnsembleMember::Perturbed(1))),
            rec("u", pl(500.0), Some(EnsembleMember::Perturbed(1))),
            rec("u", pl(700.0), Some(EnsembleMember::Perturbed(1))),
            rec("t", pl(500.0), Some(EnsembleMember::Perturbed(1))),
            rec("2t", sfc(), Some(EnsembleMember::Perturbed(2))),
        ];
        let lines = |m: Member, records: &[IndexRecord]| -> Vec<String> {
            records_for(&e, m, &vars, records)
                .into_iter()
                .map(|(s, r)| format!("{} {:?}", s.zarr_path(), r.member))
                .collect()
        };
        assert_eq!(
            lines(Member::Control, &enfo),
            ["t2m/instant/heightAboveGround Some(Control)"]
        );
        assert_eq!(
            lines(Member::Perturbed(1), &enfo),
            [
                "t2m/instant/heightAboveGround Some(Perturbed(1))",
                "u/instant/isobaricInhPa Some(Perturbed(1))",
                "t/instant/isobaricInhPa Some(Perturbed(1))",
            ]
        );
        // The oper-stream file: type fc, no ensemble number.
        let oper = vec![
            rec("2t", sfc(), None),
            rec("u", pl(700.0), Some(EnsembleMember::Derived("fc".into()))),
            rec("2t", sfc(), Some(EnsembleMember::Derived("em".into()))),
        ];
        assert_eq!(
            lines(Member::Control, &oper),
            [
                "t2m/instant/heightAboveGround None",
                "u/instant/isobaricInhPa Some(Derived(\"fc\"))"
            ]
        );
        assert!(lines(Member::Perturbed(1), &oper).is_empty());
    }

    /// Needs the ECMWF `.index` parser (`index::ecmwf`), written concurrently. The fixture is an
    /// AIFS `oper`/`fc` index: the same shape as the control's file after the oper switch.
    #[test]
    fn control_found_in_real_oper_fc_index() {
        let name = "ecmwf/index/aifs_single_20250301_00z_0h.index";
        let text = String::from_utf8(read_fixture(name)).unwrap();
        let records = IndexFormat::Ecmwf.parse(&text, name, None).unwrap();
        assert_eq!(records.len(), 106, "index::ecmwf parser not ready?");
        let e = Ecmwf::default();
        let vars = select_variables(&e, &[]).unwrap();
        let found: Vec<String> = records_for(&e, Member::Control, &vars, &records)
            .iter()
            .map(|(s, _)| s.request.clone())
            .collect();
        let mut found_sorted = found.clone();
        found_sorted.sort();
        let mut want = vec![
            "10u", "10v", "2t", "msl", "sf", "sp", "ssrd", "tcc", "tcw", "tp", "u:700", "v:700",
        ];
        want.sort_unstable();
        assert_eq!(found_sorted, want);
        assert!(records_for(&e, Member::Perturbed(1), &vars, &records).is_empty());
    }
}
