//! Is a decoded message the one a manifest said it is?
//!
//! A manifest reference is only `[url, offset, length]`: an index that went stale (a GRIB file
//! re-uploaded with an old `.idx`), a tampered or mistaken manifest, or a mirror serving another
//! file makes those bytes a different, perfectly valid message. Drawn or written out, it would be
//! a wrong map nobody notices. Sections 0–4 of every message say what it is, and reading them
//! costs nothing next to decoding; so the app and `gik stream` check every message they decode
//! against what they asked for — variable (name, step type, level), step and member — and report
//! a mismatch naming all four, asked and found.

use std::fmt;

use thiserror::Error;

use crate::grib::MessageMetadata;
use crate::index::{EnsembleMember, ForecastTime};
use crate::product::{Member, SpecOrigin, StepType, VariableSpec};

/// What a message was fetched as.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The variable, as the product resolved the request. `None` when the request is not one
    /// the product knows (then only the array path is compared).
    pub spec: Option<&'a VariableSpec>,
    /// Data array path in the member manifest (`tp/accum/surface/tp`): its groups are
    /// `{cf_name}/{stepType}/{typeOfLevel}`.
    pub array: &'a str,
    /// Step, hours.
    pub step_hours: u32,
    /// The member, when the member name parsed for the product.
    pub member: Option<Member>,
    /// The member as the user or manifest named it (`gep05`, `ens07`), for messages.
    pub member_name: &'a str,
}

/// A message that is not the one asked for: what was asked and what was found.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "the message is not the one asked for: asked {asked}; found {found} \
     (mismatch in {mismatch})"
)]
pub struct IdentityMismatch {
    /// Variable, step and member asked for.
    pub asked: String,
    /// Variable, step and member the message's sections 0–4 describe.
    pub found: String,
    /// Which of variable, step and member differ (`variable, member`).
    pub mismatch: String,
}

/// Checks, from a message's sections 0–4, that it is the variable, step and member `expected`
/// names.
///
/// Names are compared as cfgrib names (`2t` → `t2m`); a message whose parameter gik-core has no
/// ecCodes short name for (upper-case WMO abbreviations, `paramD.C.N`) cannot be compared by
/// name, so only a *known* name that differs is a mismatch. Levels are compared for the
/// products' table variables, whose level is known exactly; a generic variable's level name
/// comes from the index text. A message whose product definition template gik does not
/// describe (`found.unknown`) has no level, time or member to compare, and is refused.
pub fn check(expected: &Expected<'_>, found: &MessageMetadata) -> Result<(), IdentityMismatch> {
    let mut groups = expected.array.split('/');
    let (cf_name, step_type, type_of_level) = (groups.next(), groups.next(), groups.next());
    let table = expected
        .spec
        .filter(|spec| spec.origin == SpecOrigin::Table);

    let found_cf = cf_var_name(&found.short_name);
    let found_step_type = StepType::of(&found.time);
    let known_name = found
        .short_name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let name_ok = !known_name || cf_name.is_some_and(|n| n.eq_ignore_ascii_case(&found_cf));
    let level_ok = table.is_none_or(|spec| {
        type_of_level.is_none_or(|t| t == found.level.type_of_level)
            && spec.level.is_none_or(|v| {
                found
                    .level
                    .value
                    .is_some_and(|f| (f - v).abs() <= 1e-6 * v.abs().max(1.0))
            })
    });
    let step_type_ok = step_type.is_none_or(|t| t == found_step_type.as_str());
    let variable_ok = found.unknown.is_none() && name_ok && level_ok && step_type_ok;
    let step_ok = found.unknown.is_none()
        && step_minutes(&found.time) == expected.step_hours.saturating_mul(60);
    let member_ok = match (expected.member, &found.member) {
        (Some(Member::Control), Some(EnsembleMember::Control)) => true,
        (Some(Member::Perturbed(n)), Some(EnsembleMember::Perturbed(m))) => n == *m,
        // A member name the product does not know: nothing to compare against.
        (None, _) => true,
        _ => false,
    };
    if variable_ok && step_ok && member_ok {
        return Ok(());
    }
    let mismatch: Vec<&str> = [
        (!variable_ok).then_some("variable"),
        (!step_ok).then_some("step"),
        (!member_ok).then_some("member"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let asked_variable = expected
        .spec
        .map_or(expected.array, |spec| spec.request.as_str());
    Err(IdentityMismatch {
        asked: format!(
            "variable {asked_variable} ({}), step +{} h, member {}",
            expected.array, expected.step_hours, expected.member_name
        ),
        found: format!(
            "variable {found_cf} ({}, {found_step_type}, {}), {}, member {}",
            found.short_name,
            FoundLevel(found),
            found.time,
            found
                .member
                .as_ref()
                .map_or_else(|| "none".to_string(), ToString::to_string),
        ),
        mismatch: mismatch.join(", "),
    })
}

/// cfgrib's variable name (`cfVarName`) of an ecCodes short name: the height-prefixed names are
/// turned round (`2t` → `t2m`, `10u` → `u10`); others are the short name in lower case.
pub fn cf_var_name(short_name: &str) -> String {
    match short_name {
        "2t" => "t2m".into(),
        "2d" => "d2m".into(),
        "2r" => "r2".into(),
        "2sh" => "sh2".into(),
        "10u" => "u10".into(),
        "10v" => "v10".into(),
        "100u" => "u100".into(),
        "100v" => "v100".into(),
        "10fg" => "fg10".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// The minutes a message is valid for: its lead time, or its window's end (the step cfgrib and
/// the manifests give an accumulation).
fn step_minutes(time: &ForecastTime) -> u32 {
    match time {
        ForecastTime::Analysis => 0,
        ForecastTime::Lead { minutes } => *minutes,
        ForecastTime::Window { end_minutes, .. } => *end_minutes,
    }
}

/// A message's level as `typeOfLevel value`.
struct FoundLevel<'a>(&'a MessageMetadata);

impl fmt::Display for FoundLevel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = &self.0.level;
        match level.value {
            Some(v) => write!(f, "{} {v}", level.type_of_level),
            None => f.write_str(&level.type_of_level),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grib::{describe, scan};
    use crate::product::{Gefs, Product};
    use crate::test_support::read_fixture;

    /// Message 2 of the GEFS fixture: `tp`, accumulated 6–12 h, surface, member 8.
    fn gefs_tp() -> MessageMetadata {
        let bytes = read_fixture("gefs/gep08.t00z.pgrb2a.0p50.f012");
        let found = scan(&bytes).unwrap();
        describe(&bytes[found[1].0 as usize..]).unwrap().metadata
    }

    fn spec(product: &dyn Product, cf_name: &str) -> VariableSpec {
        product
            .default_variables()
            .iter()
            .map(|v| product.variable(v).unwrap())
            .find(|s| s.cf_name == cf_name)
            .unwrap()
    }

    fn array(spec: &VariableSpec) -> String {
        format!("{}/{}", spec.zarr_path(), spec.cf_name)
    }

    fn expected<'a>(
        spec: &'a VariableSpec,
        array: &'a str,
        step: u32,
        member: u16,
        name: &'a str,
    ) -> Expected<'a> {
        Expected {
            spec: Some(spec),
            array,
            step_hours: step,
            member: Some(Member::Perturbed(member)),
            member_name: name,
        }
    }

    #[test]
    fn the_message_asked_for_passes() {
        let gefs = Gefs::default();
        let tp = spec(&gefs, "tp");
        let a_tp = array(&tp);
        check(&expected(&tp, &a_tp, 12, 8, "gep08"), &gefs_tp()).unwrap();
    }

    #[test]
    fn another_member_step_or_variable_is_named() {
        let gefs = Gefs::default();
        let (tp, t2m) = (spec(&gefs, "tp"), spec(&gefs, "t2m"));
        let (a_tp, a_t2m) = (array(&tp), array(&t2m));
        let found = gefs_tp();

        let e = check(&expected(&tp, &a_tp, 12, 9, "gep09"), &found).unwrap_err();
        assert_eq!(e.mismatch, "member");
        assert!(e.asked.contains("member gep09"), "{e}");
        assert!(e.found.contains("member 8") || e.found.contains('8'), "{e}");

        let e = check(&expected(&tp, &a_tp, 18, 8, "gep08"), &found).unwrap_err();
        assert_eq!(e.mismatch, "step");
        assert!(e.asked.contains("+18 h"), "{e}");

        let e = check(&expected(&t2m, &a_t2m, 12, 8, "gep08"), &found).unwrap_err();
        assert_eq!(e.mismatch, "variable");
        assert!(
            e.to_string().contains("t2m") && e.found.contains("tp"),
            "{e}"
        );

        let e = check(&expected(&t2m, &a_t2m, 6, 3, "gep03"), &found).unwrap_err();
        assert_eq!(e.mismatch, "variable, step, member");
    }

    #[test]
    fn a_level_that_differs_is_a_variable_mismatch() {
        let gefs = Gefs::default();
        let tp = spec(&gefs, "tp");
        let a_tp = array(&tp);
        let mut found = gefs_tp();
        found.level.type_of_level = "isobaricInhPa".into();
        let e = check(&expected(&tp, &a_tp, 12, 8, "gep08"), &found).unwrap_err();
        assert_eq!(e.mismatch, "variable");
    }

    #[test]
    fn unnamed_parameters_are_not_compared_by_name_but_unknown_templates_are_refused() {
        let gefs = Gefs::default();
        let tp = spec(&gefs, "tp");
        let a_tp = array(&tp);
        let mut found = gefs_tp();
        found.short_name = "param0.1.8".into();
        check(&expected(&tp, &a_tp, 12, 8, "gep08"), &found).unwrap();
        found.short_name = "APCP".into();
        check(&expected(&tp, &a_tp, 12, 8, "gep08"), &found).unwrap();

        let mut found = gefs_tp();
        found.unknown = Some("product definition template 4.40".into());
        let e = check(&expected(&tp, &a_tp, 12, 8, "gep08"), &found).unwrap_err();
        assert_eq!(e.mismatch, "variable, step");
    }

    #[test]
    fn cf_names_turn_height_prefixes_round() {
        assert_eq!(cf_var_name("2t"), "t2m");
        assert_eq!(cf_var_name("10u"), "u10");
        assert_eq!(cf_var_name("MSL"), "msl");
    }
}
