//! NOAA GEFS v12, 0.25° "secondary" files (`pgrb2sp25`), as published on the NODD bucket.
//!
//! One GRIB2 file per member and step, each with a wgrib2 `.idx` beside it:
//! `{host}/gefs.YYYYMMDD/HH/atmos/pgrb2sp25/gep01.tHHz.pgrb2s.0p25.f015`. Runs at 00, 06, 12
//! and 18z; steps 0–240 h every 3 h; members `gec00` (control) and `gep01`..`gep30`.
//! Precipitation (`APCP`) is accumulated in buckets that restart every 6 hours.

use crate::index::{IndexFormat, IndexRecord};
use crate::time::RunTime;
use crate::Result;

use super::layout::{FileLayout, Label, Layout};
use super::variable::{is_index_name, normalise_words, KnownVariable};
use super::{
    Accumulation, AccumulationKind, Credits, Facts, IndexMatcher, LevelMatcher, Member, Product,
    StepType, VariableSpec, GEFS_DEFAULT_HOST, GEFS_SOURCES,
};

/// GEFS v12 "secondary" 0.25° files, one per member and step, with a wgrib2 `.idx` beside.
/// GEFSv13's renaming of `pgrb2sp25` is one more entry in [`LAYOUTS`].
const PGRB2SP25: FileLayout = FileLayout {
    path: "atmos/{stream}/{member}.t{hh}z.pgrb2s.0p25.f{step3}",
    index_suffix: ".idx",
    strip: "",
    stream: "pgrb2sp25",
    kind: "",
    labels: &[Label::Control, Label::Perturbed, Label::Unlabelled],
};

/// File layouts by the run they apply from (see [`super::layout`]).
const LAYOUTS: &[Layout] = &[Layout {
    from: RunTime {
        year: 2000,
        month: 1,
        day: 1,
        hour: 0,
    },
    control: PGRB2SP25,
    perturbed: PGRB2SP25,
}];

/// The product's name.
pub(crate) const NAME: &str = "gefs";
const LAST_STEP: u32 = 240;
const STRIDE: u32 = 3;
const FORMAT_HINT: &str = "expected VAR:LEVEL as written in a GEFS .idx file, e.g. \"TMP:2 m above ground\" or \"APCP:surface\"";

/// Everything about GEFS that is plain data.
static FACTS: Facts = Facts {
    name: NAME,
    variable_noun: "GEFS variable",
    default_host: GEFS_DEFAULT_HOST,
    public_sources: GEFS_SOURCES,
    run_path: "/gefs.{date}/{hh}/",
    layouts: LAYOUTS,
    run_hours: &[0, 6, 12, 18],
    perturbed: 30,
    control_name: "gec00",
    perturbed_prefix: "gep",
    index_format: IndexFormat::Noaa,
    default_variables: &[
        "PRES:surface",
        "TMP:2 m above ground",
        "UGRD:10 m above ground",
        "VGRD:10 m above ground",
        "PWAT:entire atmosphere (considered as a single layer)",
        "CAPE:surface",
        "MSLET:mean sea level",
        "APCP:surface",
    ],
    precipitation: Accumulation {
        variable: "APCP:surface",
        kind: AccumulationKind::ResettingBuckets { period_hours: 6 },
        scale_to_mm: 1.0,
    },
    credits: Credits {
        label: "NOAA GEFS",
        institution: "NOAA/NCEP",
        attribution: "NOAA Global Ensemble Forecast System (GEFS), NOAA/NCEP, via the NOAA \
                      Open Data Dissemination (NODD) program; derived from NOAA GEFS data",
        licence: "NOAA open data: no restrictions on use (credit NOAA/NCEP)",
    },
};

#[rustfmt::skip]
const TABLE: &[KnownVariable] = &[
    KnownVariable::new("PRES", "surface", "sp", StepType::Instant, "surface", None, "Pa", "Surface pressure", false),
    KnownVariable::new("TMP", "2 m above ground", "t2m", StepType::Instant, "heightAboveGround", Some(2.0), "K", "2 metre temperature", false),
    KnownVariable::new("UGRD", "10 m above ground", "u10", StepType::Instant, "heightAboveGround", Some(10.0), "m s**-1", "10 metre U wind component", false),
    KnownVariable::new("VGRD", "10 m above ground", "v10", StepType::Instant, "heightAboveGround", Some(10.0), "m s**-1", "10 metre V wind component", false),
    KnownVariable::new("PWAT", "entire atmosphere (considered as a single layer)", "pwat", StepType::Instant, "atmosphereSingleLayer", None, "kg m**-2", "Precipitable water", true),
    KnownVariable::new("CAPE", "surface", "cape", StepType::Instant, "surface", None, "J kg**-1", "Convective available potential energy", false),
    KnownVariable::new("MSLET", "mean sea level", "mslet", StepType::Instant, "meanSea", None, "Pa", "MSLP (Eta model reduction)", false),
    KnownVariable::new("APCP", "surface", "tp", StepType::Accum, "surface", None, "kg m**-2", "Total Precipitation", true),
];

/// NOAA GEFS (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gefs {
    host: String,
}

impl Default for Gefs {
    /// GEFS on the public NODD bucket.
    fn default() -> Self {
        Self {
            host: GEFS_DEFAULT_HOST.to_string(),
        }
    }
}

impl Gefs {
    /// GEFS at `host` (a mirror base URL; trailing slash tolerated), or at
    /// [`GEFS_DEFAULT_HOST`] when `None`.
    pub fn new(host: Option<&str>) -> Result<Self> {
        Ok(Self {
            host: FACTS.host(host)?,
        })
    }
}

impl Product for Gefs {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }

    fn host(&self) -> &str {
        &self.host
    }

    fn steps(&self, _run: RunTime) -> Vec<u32> {
        (0..=LAST_STEP).step_by(STRIDE as usize).collect()
    }

    fn variable(&self, text: &str) -> Result<VariableSpec> {
        let invalid = |reason: String| FACTS.invalid_variable(text, reason);
        let Some((var, level)) = text.split_once(':') else {
            return Err(invalid(FORMAT_HINT.to_string()));
        };
        let var = var.trim().to_ascii_uppercase();
        let level = normalise_words(level);
        if !is_index_name(&var) {
            return Err(invalid(format!("bad variable name {var:?}; {FORMAT_HINT}")));
        }
        if level.is_empty() {
            return Err(invalid(format!("missing level; {FORMAT_HINT}")));
        }
        if level.contains(':') {
            return Err(invalid(format!(
                "only VAR:LEVEL, without the forecast time; {FORMAT_HINT}"
            )));
        }
        let request = format!("{var}:{level}");
        let matcher = LevelMatcher::Label(level.clone());
        if let Some(row) = TABLE
            .iter()
            .find(|k| k.index_name == var && k.level.eq_ignore_ascii_case(&level))
        {
            return Ok(row.spec(request, matcher, None));
        }
        let (type_of_level, value) = provisional_level(&level);
        let cf_name = var.to_ascii_lowercase();
        let matcher = IndexMatcher {
            variable: var,
            level: matcher,
        };
        Ok(VariableSpec::generic(
            request,
            matcher,
            cf_name,
            type_of_level,
            value,
        ))
    }

    /// GEFS files hold one member each: a record belongs to `member` when it is labelled so, or
    /// when it carries no member label at all (it can only have come from that member's file).
    fn record_belongs_to(&self, member: Member, record: &IndexRecord) -> bool {
        record.member.is_none() || member.matches(record)
    }
}

/// A first guess of the ecCodes level of a NOAA level text, for generic specs before a record
/// is seen: `850 mb`, `N m above ground`, `surface`, `mean sea level`; otherwise the text itself.
fn provisional_level(level: &str) -> (String, Option<f64>) {
    let lower = level.to_ascii_lowercase();
    let number = |s: &str| s.trim().parse::<f64>().ok();
    if let Some(v) = lower.strip_suffix(" mb").and_then(number) {
        return ("isobaricInhPa".into(), Some(v));
    }
    if let Some(v) = lower.strip_suffix(" m above ground").and_then(number) {
        return ("heightAboveGround".into(), Some(v));
    }
    match lower.as_str() {
        "surface" => ("surface".into(), None),
        "mean sea level" => ("meanSea".into(), None),
        _ => (level.to_string(), None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::index::{EnsembleMember, ForecastTime, Level, Statistic};
    use crate::product::{conformance, records_for, select_variables, Hosts, SpecOrigin};
    use crate::test_support::read_fixture;
    use crate::test_support::switch_day_run as run;

    #[test]
    fn conforms() {
        conformance::check(&Gefs::default());
    }

    #[test]
    fn urls_by_hand() {
        let g = Gefs::default();
        assert_eq!(
            g.grib_url(run(6), Member::Perturbed(1), 15).unwrap(),
            "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20260512/06/atmos/pgrb2sp25/gep01.t06z.pgrb2s.0p25.f015"
        );
        assert_eq!(
            g.index_url(run(0), Member::Control, 240).unwrap(),
            "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20260512/00/atmos/pgrb2sp25/gec00.t00z.pgrb2s.0p25.f240.idx"
        );
        assert_eq!(
            g.grib_url(run(18), Member::Perturbed(30), 0).unwrap(),
            "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20260512/18/atmos/pgrb2sp25/gep30.t18z.pgrb2s.0p25.f000"
        );
        assert!(g.grib_url(run(6), Member::Perturbed(31), 15).is_err());
        assert!(g.grib_url(run(6), Member::Perturbed(1), 16).is_err());
        assert!(g.grib_url(run(6), Member::Perturbed(1), 243).is_err());
        assert!(g
            .grib_url(RunTime::new(2026, 5, 12, 3).unwrap(), Member::Control, 0)
            .is_err());
    }

    #[test]
    fn counts() {
        let g = Gefs::default();
        assert_eq!(g.members().len(), 31);
        assert_eq!(g.steps(run(0)).len(), 81);
        assert_eq!(g.steps(run(6)), g.steps(run(0)));
    }

    #[test]
    fn mirror_host() {
        let hosts = Hosts::default().with("gefs", "http://127.0.0.1:8080/noaa-gefs-pds/");
        let mirror = crate::product::product_by_name("gefs", &hosts).unwrap();
        assert_eq!(
            mirror.grib_url(run(0), Member::Control, 3).unwrap(),
            "http://127.0.0.1:8080/noaa-gefs-pds/gefs.20260512/00/atmos/pgrb2sp25/gec00.t00z.pgrb2s.0p25.f003"
        );
        conformance::check_host_override(
            &Gefs::default(),
            mirror.as_ref(),
            "http://127.0.0.1:8080/noaa-gefs-pds",
        );
    }

    #[test]
    fn default_variables_resolve_to_cfgrib_names() {
        let g = Gefs::default();
        conformance::check_default_variables(
            &g,
            &[
                ("sp/instant/surface", None, "Pa"),
                ("t2m/instant/heightAboveGround", Some(2.0), "K"),
                ("u10/instant/heightAboveGround", Some(10.0), "m s**-1"),
                ("v10/instant/heightAboveGround", Some(10.0), "m s**-1"),
                ("pwat/instant/atmosphereSingleLayer", None, "kg m**-2"),
                ("cape/instant/surface", None, "J kg**-1"),
                ("mslet/instant/meanSea", None, "Pa"),
                ("tp/accum/surface", None, "kg m**-2"),
            ],
        );
        let t = g.variable("tmp: 2 m  above ground").unwrap();
        assert_eq!(t.request, "TMP:2 m above ground");
        assert_eq!(
            (t.display.unit.as_str(), t.long_name.as_str()),
            ("°C", "2 metre temperature")
        );
        assert_eq!(g.variable("APCP:surface").unwrap().display.unit, "mm");
        assert_eq!(
            g.variable("MSLET:mean sea level").unwrap().display.unit,
            "hPa"
        );
    }

    #[test]
    fn variable_errors_name_the_format() {
        let g = Gefs::default();
        for bad in [
            "TMP",
            "TMP:",
            ":surface",
            "T MP:surface",
            "TMP:2 m above ground:15 hour fcst",
        ] {
            let err = g.variable(bad).unwrap_err().to_string();
            assert!(
                err.contains("VAR:LEVEL") && err.contains("TMP:2 m above ground"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn generic_variables_take_level_and_step_type_from_the_record() {
        let g = Gefs::default();
        let rh = g.variable("RH:850 mb").unwrap();
        assert_eq!(rh.origin, SpecOrigin::Generic);
        assert_eq!(
            (rh.zarr_path().as_str(), rh.level),
            ("rh/instant/isobaricInhPa", Some(850.0))
        );
        assert_eq!(rh.units, "%");
        let rec = |var: &str, label: &str, tol: &str, value, time| IndexRecord {
            variable: var.into(),
            level: Level {
                type_of_level: tol.into(),
                value,
                second_value: None,
                label: label.into(),
            },
            time,
            member: Some(EnsembleMember::Perturbed(1)),
            reference_time: None,
            offset: 0,
            length: None,
            line: 1,
            sub_field: None,
        };
        let r = rec(
            "RH",
            "850 mb",
            "isobaricInhPa",
            Some(850.0),
            ForecastTime::hours(15),
        );
        assert!(rh.matches(&r));
        assert_eq!(rh.for_record(&r).zarr_path(), "rh/instant/isobaricInhPa");
        let dswrf = g.variable("DSWRF:surface").unwrap();
        let r = rec(
            "DSWRF",
            "surface",
            "surface",
            None,
            ForecastTime::window_hours(12, 15, Statistic::Average),
        );
        assert_eq!(dswrf.for_record(&r).zarr_path(), "dswrf/avg/surface");
        let odd = g.variable("HLCY:3000-0 m above ground").unwrap();
        let r = rec(
            "HLCY",
            "3000-0 m above ground",
            "heightAboveGroundLayer",
            Some(3000.0),
            ForecastTime::hours(15),
        );
        assert!(odd.matches(&r));
        let spec = odd.for_record(&r);
        assert_eq!(
            (spec.zarr_path().as_str(), spec.level),
            ("hlcy/instant/heightAboveGroundLayer", Some(3000.0))
        );
    }

    /// Needs the NOAA `.idx` parser (`index::noaa`), written concurrently.
    #[test]
    fn default_variables_found_in_real_idx_fixture() {
        let name = "gefs/idx/gep01.t00z.pgrb2s.0p25.f015.idx";
        let bytes = read_fixture(name);
        let text = String::from_utf8(bytes).unwrap();
        let records = IndexFormat::Noaa.parse(&text, name, None).unwrap();
        assert_eq!(records.len(), 38, "index::noaa parser not ready?");
        let g = Gefs::default();
        let vars = select_variables(&g, &[]).unwrap();
        let found = records_for(&g, Member::Perturbed(1), &vars, &records);
        let summary: Vec<(String, Option<f64>, usize)> = found
            .iter()
            .map(|(s, r)| (s.zarr_path(), s.level, r.line))
            .collect();
        let expect = |p: &str, l: Option<f64>, line| (p.to_string(), l, line);
        assert_eq!(
            summary,
            [
                expect("mslet/instant/meanSea", None, 3),
                expect("sp/instant/surface", None, 4),
                expect("t2m/instant/heightAboveGround", Some(2.0), 10),
                expect("u10/instant/heightAboveGround", Some(10.0), 15),
                expect("v10/instant/heightAboveGround", Some(10.0), 16),
                expect("tp/accum/surface", None, 18),
                expect("cape/instant/surface", None, 25),
                expect("pwat/instant/atmosphereSingleLayer", None, 27),
            ]
        );
        // The table agrees with what the index parser makes of each record.
        for (spec, record) in &found {
            assert_eq!(
                record.level.type_of_level, spec.type_of_level,
                "line {}",
                record.line
            );
            assert_eq!(
                record.level.value.filter(|v| *v != 0.0),
                spec.level,
                "line {}",
                record.line
            );
            assert_eq!(
                StepType::of(&record.time),
                spec.step_type,
                "line {}",
                record.line
            );
            assert_eq!(record.member, Some(EnsembleMember::Perturbed(1)));
        }
        let apcp = &found[5].1;
        assert_eq!(
            apcp.time,
            ForecastTime::window_hours(12, 15, Statistic::Accumulation)
        );
        assert_eq!(apcp.offset, 8_838_298);
        assert_eq!(apcp.length, Some(9_080_634 - 8_838_298));
        // Generic variables resolve against the same records; other members get nothing.
        let rh = select_variables(&g, &["RH:2 m above ground", "TMAX:2 m above ground"]).unwrap();
        let found: Vec<String> = records_for(&g, Member::Perturbed(1), &rh, &records)
            .iter()
            .map(|(s, _)| s.zarr_path())
            .collect();
        assert_eq!(
            found,
            ["rh/instant/heightAboveGround", "tmax/max/heightAboveGround"]
        );
        assert!(records_for(&g, Member::Perturbed(2), &vars, &records).is_empty());
        assert!(records_for(&g, Member::Control, &vars, &records).is_empty());
    }
}
