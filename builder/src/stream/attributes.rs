//! The NetCDF attributes of a stream's file: CF conventions, provenance, licence, and what each
//! variable means (or lacks).

use std::collections::{BTreeMap, BTreeSet};

use gik_core::geo::OutputGrid;
use gik_core::product::{AccumulationKind, Product, StepType, VariableSpec};
use gik_core::time::RunTime;

use super::args::StreamArgs;
use super::netcdf_out::{Attrs, VarDef, VarDims};
use super::plan::{Mode, Plan, SourceVar};
use super::report::{group_missing, MissingMessage};
use super::source::CatalogLocation;

/// Missing messages listed in full in a variable's `gik_missing` attribute; more are counted.
const MISSING_LISTED: usize = 500;

fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let hour = RunTime::from_unix_seconds(secs);
    hour.iso_after_hours((secs - hour.unix_seconds()) as f64 / 3600.0)
}

/// `gik_missing_count` and `gik_missing` (`member fSTEP…: reason; …`) of a variable.
pub(super) fn missing_attrs(missing: &[&MissingMessage]) -> Attrs {
    let mut attrs: Attrs = vec![("gik_missing_count".into(), (missing.len() as i64).into())];
    if !missing.is_empty() {
        let groups = group_missing(missing.iter().copied());
        let mut lines: Vec<String> = groups
            .iter()
            .take(MISSING_LISTED)
            // Drop the variable name: the attribute is on the variable.
            .map(|g| {
                g.split_once(' ')
                    .map_or(g.clone(), |(_, rest)| rest.to_string())
            })
            .collect();
        if groups.len() > MISSING_LISTED {
            lines.push(format!("... and {} more", groups.len() - MISSING_LISTED));
        }
        attrs.push(("gik_missing".into(), lines.join("; ").into()));
    }
    attrs
}

/// The file's global attributes, in the order they appear in the file: CF conventions,
/// product, run, where the data came from and the attribution its licence requires.
pub(super) fn global_attrs(
    args: &StreamArgs,
    plan: &Plan,
    location: &CatalogLocation,
    grid: &OutputGrid,
    hosts: &BTreeSet<String>,
    catalog_attribution: String,
) -> Attrs {
    let product = plan.product.as_ref();
    let credits = product.credits();
    let label = credits.label;
    let run_iso = plan.run.iso_after_hours(0.0);
    let what = match &plan.mode {
        Mode::Fields { .. } => "forecast fields".to_string(),
        Mode::Rain { .. } => "precipitation totals and exceedance probabilities".to_string(),
    };
    let mut global: Attrs = vec![
        ("Conventions".into(), "CF-1.8".into()),
        (
            "title".into(),
            format!("{label}, run {run_iso}: {what} over {}", plan.bbox).into(),
        ),
        ("institution".into(), credits.institution.into()),
        ("product".into(), product.name().into()),
        ("product_label".into(), label.into()),
        ("run".into(), run_iso.clone().into()),
        ("forecast_reference_time".into(), run_iso.into()),
        (
            "source".into(),
            format!(
                "{label} open data; GRIB2 messages range-read from {}",
                hosts.iter().cloned().collect::<Vec<_>>().join(", ")
            )
            .into(),
        ),
        (
            "catalog".into(),
            location.describe("").trim_end_matches('/').into(),
        ),
        ("attribution".into(), credits.attribution.into()),
        ("license".into(), credits.licence.into()),
        ("history".into(), history(args).into()),
        ("gik_version".into(), env!("CARGO_PKG_VERSION").into()),
        ("gik_bbox".into(), plan.bbox.to_string().into()),
        (
            "geospatial_lat_min".into(),
            grid.latitudes
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .into(),
        ),
        (
            "geospatial_lat_max".into(),
            grid.latitudes
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
                .into(),
        ),
        ("geospatial_lon_min".into(), plan.bbox.west.into()),
        ("geospatial_lon_max".into(), plan.bbox.east.into()),
    ];
    if let Some(p) = args.preset {
        global.push(("gik_preset".into(), p.name().into()));
    }
    if !catalog_attribution.is_empty() {
        global.push(("source_attribution".into(), catalog_attribution.into()));
    }
    global
}

/// `history`: when and how the file was made.
fn history(args: &StreamArgs) -> String {
    format!(
        "{} gik {} stream{}",
        now_iso(),
        env!("CARGO_PKG_VERSION"),
        args.preset
            .map_or(String::new(), |p| format!(" --preset {p}"))
    )
}

/// The data variables and their attributes (units, names, what the values mean), in the order
/// they appear in the file.
pub(super) fn variable_defs(
    plan: &Plan,
    not_applicable: &BTreeMap<usize, Vec<u32>>,
) -> Vec<VarDef> {
    let product = plan.product.as_ref();
    match &plan.mode {
        Mode::Fields { vars, .. } => vars
            .iter()
            .enumerate()
            .map(|(v, var)| VarDef {
                name: var.name.clone(),
                dims: VarDims::MemberStep,
                attrs: field_attrs(product, &var.spec, not_applicable.get(&v)),
            })
            .collect(),
        Mode::Rain { var, .. } => rain_variables(var),
    }
}

/// The attributes of a field variable of `spec`; `not_applicable`: the steps where nothing
/// has accumulated yet.
fn field_attrs(
    product: &dyn Product,
    spec: &VariableSpec,
    not_applicable: Option<&Vec<u32>>,
) -> Attrs {
    let mut attrs: Attrs = vec![
        ("units".into(), spec.units.clone().into()),
        ("long_name".into(), spec.long_name.clone().into()),
    ];
    if let Some(sn) = product.standard_name(spec) {
        attrs.push(("standard_name".into(), sn.into()));
    }
    attrs.push(("GRIB_stepType".into(), spec.step_type.as_str().into()));
    attrs.push(("GRIB_typeOfLevel".into(), spec.type_of_level.clone().into()));
    if let Some(level) = spec.level {
        attrs.push(("level".into(), level.into()));
    }
    attrs.push(("gik_variable".into(), spec.request.clone().into()));
    if spec.step_type == StepType::Accum {
        let note = match product.precipitation().kind {
            AccumulationKind::FromRunStart => "accumulated from the start of the run to the step",
            AccumulationKind::ResettingBuckets { .. } => {
                "accumulated over the product's window ending at the step (GEFS: restarts \
                 every 6 h)"
            }
        };
        attrs.push(("comment".into(), note.into()));
    }
    if let Some(steps) = not_applicable {
        attrs.push((
            "gik_not_applicable".into(),
            format!("steps {steps:?}: nothing has accumulated at the start of the run (NaN)")
                .into(),
        ));
    }
    attrs
}

/// The two variables of the rain-probability preset: window totals of `var` per member, and
/// exceedance probabilities per threshold.
fn rain_variables(var: &SourceVar) -> Vec<VarDef> {
    vec![
        VarDef {
            name: var.name.clone(),
            dims: VarDims::MemberStep,
            attrs: vec![
                ("units".into(), "mm".into()),
                (
                    "long_name".into(),
                    "total precipitation over the window ending at the step".into(),
                ),
                (
                    "standard_name".into(),
                    "lwe_thickness_of_precipitation_amount".into(),
                ),
                ("cell_methods".into(), "step: sum".into()),
                ("gik_variable".into(), var.spec.request.clone().into()),
                (
                    "comment".into(),
                    "window bounds in step_bnds; combined from the product's accumulated \
                     messages by gik-core precipitation_plan"
                        .into(),
                ),
            ],
        },
        VarDef {
            name: "exceedance_probability".into(),
            dims: VarDims::ThresholdStep,
            attrs: vec![
                ("units".into(), "%".into()),
                (
                    "long_name".into(),
                    "percentage of members whose window precipitation exceeds the threshold".into(),
                ),
                (
                    "comment".into(),
                    "strictly greater than the threshold; members whose total is missing \
                     (NaN) are left out of the percentage"
                        .into(),
                ),
            ],
        },
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::netcdf_out::AttrValue;
    use super::*;

    #[test]
    fn missing_messages_are_grouped() {
        let m = |member: &str, step, reason: &str| MissingMessage {
            variable: "tp".into(),
            member: member.into(),
            step,
            reason: reason.into(),
        };
        let missing = [
            m("ens05", 36, "no manifest"),
            m("ens05", 39, "no manifest"),
            m("ens07", 36, "http://h/x: not found (404)"),
        ];
        assert_eq!(
            group_missing(&missing),
            [
                "tp ens05 f036 f039: no manifest",
                "tp ens07 f036: http://h/x: not found (404)"
            ]
        );
        let refs: Vec<&MissingMessage> = missing.iter().collect();
        let attrs = missing_attrs(&refs);
        assert_eq!(
            attrs[0],
            ("gik_missing_count".to_string(), AttrValue::Int(3))
        );
        assert_eq!(
            attrs[1].1,
            AttrValue::Text(
                "ens05 f036 f039: no manifest; ens07 f036: http://h/x: not found (404)".into()
            )
        );
    }
}
