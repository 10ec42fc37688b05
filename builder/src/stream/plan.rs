//! Planning a stream: the raw arguments, checked against the product and the catalog, become
//! a [`Plan`] before anything large is read.
//!
//! Presets ([`super::presets`]) fill in what the user left out; variables, steps, members and
//! windows are checked against the product (and the run's catalog entry), so a typo fails in
//! milliseconds, not after reading manifests. The output lattice comes from the coordinates the
//! manifests store, so every variable of one file must be on the same grid.

use std::collections::BTreeSet;

use gik_core::catalog::{Catalog, ProductEntry, RunEntry};
use gik_core::geo::{BBox, GeoError, Lattice};
use gik_core::member::MemberManifest;
use gik_core::product::{
    parse_members, parse_steps, precipitation_plan, product_by_name, AccumulationPlan, Hosts,
    Member, Product, VariableSpec,
};
use gik_core::time::RunTime;

use super::args::StreamArgs;
use super::presets::{self, Preset, PresetError};
use super::source::{ManifestResult, ManifestUnavailable};

/// Why a stream's arguments cannot be planned against the product and the catalog, found
/// before anything large is read. Each names what was asked for and what there is.
#[derive(Debug, thiserror::Error)]
pub(super) enum PlanError {
    /// A product, run, member, step or variable the product does not have.
    #[error(transparent)]
    Product(#[from] gik_core::Error),
    /// `--bbox` does not parse.
    #[error(transparent)]
    BBox(#[from] GeoError),
    /// A preset name or rainfall window that does not parse.
    #[error(transparent)]
    Preset(#[from] PresetError),
    /// Neither `--product` nor a preset names the product.
    #[error("--product is required (gefs or ecmwf)")]
    NoProduct,
    /// `--product` is not the preset's product.
    #[error("the {preset} preset is for {expected}, not {given}")]
    PresetProduct {
        /// The preset.
        preset: Preset,
        /// The preset's product.
        expected: &'static str,
        /// `--product`.
        given: String,
    },
    /// The catalog lists no run of the product.
    #[error("the catalog has no {product} runs (it has: {})", products.join(", "))]
    ProductNotInCatalog {
        /// The product asked for.
        product: String,
        /// The products the catalog has.
        products: Vec<String>,
    },
    /// `--run` without `--date`.
    #[error("--run needs --date")]
    RunWithoutDate,
    /// The product's entry in the catalog has no run.
    #[error("the catalog has no {product} runs")]
    NoRuns {
        /// The product.
        product: String,
    },
    /// The run asked for is not in the catalog.
    #[error("{product}: run {run} is not in the catalog (runs: {})", runs.join(", "))]
    RunNotInCatalog {
        /// The product.
        product: String,
        /// The run asked for.
        run: RunTime,
        /// The runs the catalog has (`YYYYMMDDHH`).
        runs: Vec<String>,
    },
    /// A variable the run's manifests do not hold.
    #[error("{product}: variable {variable} is not in the run's manifests (they hold: {})", held.join(", "))]
    VariableNotInRun {
        /// The product.
        product: String,
        /// The variable, as the product resolved the request.
        variable: String,
        /// The variables the run's manifests hold.
        held: Vec<String>,
    },
    /// `--members` selects none.
    #[error("no members selected")]
    NoMembers,
    /// `--vars` (or the catalog) selects none.
    #[error("no variables selected")]
    NoVariables,
    /// `--steps` (or the catalog) selects none.
    #[error("no steps selected")]
    NoSteps,
    /// Rainfall options without the rain-probability preset.
    #[error("--window-end, --windows and --thresholds go with --preset rain-probability")]
    RainOptionsWithoutPreset,
    /// Field options with the rain-probability preset.
    #[error(
        "the rain-probability preset reads precipitation over windows: use --windows or \
         --window-end, not --vars or --steps"
    )]
    FieldOptionsWithRain,
    /// The run is too short for a default rainfall window.
    #[error(
        "the run's last step is {last} h: no whole {}-hour window",
        presets::WINDOW_HOURS
    )]
    NoWholeWindow {
        /// The run's last step (hours).
        last: u32,
    },
    /// A threshold is negative or not a number.
    #[error("thresholds must be non-negative numbers of mm")]
    BadThresholds,
    /// No member manifest could be read (the first three reasons).
    #[error("no member manifest could be read: {}", join(reasons))]
    NoManifest {
        /// Why, for the first three members.
        reasons: Vec<ManifestUnavailable>,
    },
    /// No manifest has the coordinates of a variable.
    #[error("{product}: no manifest gives the latitude/longitude of {variable}")]
    NoCoordinates {
        /// The product.
        product: String,
        /// The variable request.
        variable: String,
    },
    /// Two variables are on different grids.
    #[error(
        "{variable} is on a {}°×{}° grid, {first} on {}°×{}°: stream them separately",
        lattice.dlat, lattice.dlon, first_lattice.dlat, first_lattice.dlon
    )]
    MixedGrids {
        /// The variable on another grid.
        variable: String,
        /// Its grid.
        lattice: Lattice,
        /// The first variable.
        first: String,
        /// Its grid.
        first_lattice: Lattice,
    },
    /// The plan reads no variable.
    #[error("no variables to read")]
    NothingToRead,
}

/// `items` joined by `; `.
fn join(items: &[ManifestUnavailable]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A plan, or why not.
type Result<T, E = PlanError> = std::result::Result<T, E>;

/// One variable read from the manifests.
#[derive(Clone, Debug)]
pub(super) struct SourceVar {
    pub spec: VariableSpec,
    /// Data array path in the manifests (`t2m/instant/heightAboveGround/t2m`).
    pub array: String,
    /// Output variable name.
    pub name: String,
}

/// What the file holds.
pub(super) enum Mode {
    /// Variables at steps, per member.
    Fields {
        vars: Vec<SourceVar>,
        steps: Vec<u32>,
    },
    /// Precipitation window totals per member, and exceedance probabilities.
    Rain {
        var: Box<SourceVar>,
        plans: Vec<AccumulationPlan>,
        thresholds: Vec<f32>,
    },
}

/// A validated request.
pub(super) struct Plan {
    pub product: Box<dyn Product>,
    pub run: RunTime,
    pub members: Vec<Member>,
    pub bbox: BBox,
    pub mode: Mode,
}

impl Plan {
    /// The variables read from the manifests.
    pub fn source_vars(&self) -> Vec<&SourceVar> {
        match &self.mode {
            Mode::Fields { vars, .. } => vars.iter().collect(),
            Mode::Rain { var, .. } => vec![var.as_ref()],
        }
    }
}

/// The output name of a variable: its cfgrib name, with the level for pressure levels
/// (`u700`), as the cGAN inputs name them.
pub(super) fn output_name(spec: &VariableSpec) -> String {
    match (spec.type_of_level.as_str(), spec.level) {
        ("isobaricInhPa" | "isobaricInPa", Some(level)) => {
            format!("{}{}", spec.cf_name, level.round() as i64)
        }
        _ => spec.cf_name.clone(),
    }
}

fn resolve_var(product: &dyn Product, entry: &RunEntry, text: &str) -> Result<SourceVar> {
    let spec = product.variable(text)?;
    let found = entry
        .variables
        .iter()
        .find(|v| v.name == spec.request)
        .or_else(|| {
            entry
                .variables
                .iter()
                .find(|v| v.path == spec.zarr_path() && spec.level.is_none())
        });
    let Some(found) = found else {
        return Err(PlanError::VariableNotInRun {
            product: product.name().to_owned(),
            variable: spec.request,
            held: entry.variables.iter().map(|v| v.name.clone()).collect(),
        });
    };
    Ok(SourceVar {
        name: output_name(&spec),
        array: MemberManifest::array_path(&found.path, &found.array),
        spec,
    })
}

fn default_members(product: &dyn Product, entry: &RunEntry) -> Vec<Member> {
    let mut members: BTreeSet<Member> = entry
        .members
        .iter()
        .chain(
            entry
                .missing
                .iter()
                .filter(|m| m.step.is_none())
                .map(|m| &m.member),
        )
        .filter_map(|name| Member::parse(product, name).ok())
        .collect();
    if members.is_empty() {
        members.extend(product.members());
    }
    members.into_iter().collect()
}

/// Everything `stream` needs to know before reading messages, checked against the product
/// and the catalog.
pub(super) struct Planned {
    /// The request.
    pub plan: Plan,
    /// The run's catalog entry (members' manifests, steps).
    pub entry: RunEntry,
    /// The catalog's attribution text for the product (may be empty).
    pub catalog_attribution: String,
}

/// Validates the arguments against the catalog: product, run, box, members and what to read.
pub(super) fn make_plan(args: &StreamArgs, catalog: &Catalog) -> Result<Planned> {
    let product = choose_product(args)?;
    let product_entry =
        catalog
            .products
            .get(product.name())
            .ok_or_else(|| PlanError::ProductNotInCatalog {
                product: product.name().to_owned(),
                products: catalog.products.keys().cloned().collect(),
            })?;
    let (run, entry) = choose_run(args, product.as_ref(), product_entry)?;
    let bbox = match (&args.bbox, args.preset) {
        (Some(text), _) => text.parse::<BBox>()?,
        (None, Some(p)) => p.bbox(),
        (None, None) => BBox::GLOBE,
    };
    let members = match (&args.members, args.preset) {
        (Some(text), _) => parse_members(product.as_ref(), text)?,
        (None, Some(_)) => product.members(),
        (None, None) => default_members(product.as_ref(), &entry),
    };
    if members.is_empty() {
        return Err(PlanError::NoMembers);
    }
    let rain = args.preset == Some(Preset::RainProbability);
    if !rain && (args.window_end.is_some() || args.windows.is_some() || !args.thresholds.is_empty())
    {
        return Err(PlanError::RainOptionsWithoutPreset);
    }
    let mode = if rain {
        rain_mode(args, product.as_ref(), run, &entry)?
    } else {
        fields_mode(args, product.as_ref(), run, &entry)?
    };
    Ok(Planned {
        catalog_attribution: product_entry.attribution.clone(),
        plan: Plan {
            product,
            run,
            members,
            bbox,
            mode,
        },
        entry,
    })
}

/// The product named by `--product`, or implied by the preset.
fn choose_product(args: &StreamArgs) -> Result<Box<dyn Product>> {
    let implied = args.preset.and_then(|p| Some((p, p.product()?)));
    let name = match (args.product.as_deref(), implied) {
        (Some(p), Some((preset, q))) if !p.trim().eq_ignore_ascii_case(q) => {
            return Err(PlanError::PresetProduct {
                preset,
                expected: q,
                given: p.to_owned(),
            });
        }
        (Some(p), _) => p.trim().to_ascii_lowercase(),
        (None, Some((_, q))) => q.to_string(),
        (None, None) => return Err(PlanError::NoProduct),
    };
    Ok(product_by_name(&name, &Hosts::default())?)
}

/// The run of `--date`/`--run`, or the newest in the catalog, and its catalog entry.
fn choose_run(
    args: &StreamArgs,
    product: &dyn Product,
    product_entry: &ProductEntry,
) -> Result<(RunTime, RunEntry)> {
    let run = match &args.date {
        Some(date) => RunTime::parse(date, args.run.as_deref().unwrap_or("00"))?,
        None => {
            if args.run.is_some() {
                return Err(PlanError::RunWithoutDate);
            }
            let newest = product_entry
                .runs
                .first()
                .ok_or_else(|| PlanError::NoRuns {
                    product: product.name().to_owned(),
                })?;
            newest.run
        }
    };
    let entry = product_entry
        .runs
        .iter()
        .find(|r| r.run == run)
        .cloned()
        .ok_or_else(|| PlanError::RunNotInCatalog {
            product: product.name().to_owned(),
            run,
            runs: product_entry.runs.iter().map(|r| r.run.compact()).collect(),
        })?;
    Ok((run, entry))
}

/// Precipitation over windows, and the thresholds to count (the rain-probability preset).
fn rain_mode(
    args: &StreamArgs,
    product: &dyn Product,
    run: RunTime,
    entry: &RunEntry,
) -> Result<Mode> {
    if !args.vars.is_empty() || args.steps.is_some() {
        return Err(PlanError::FieldOptionsWithRain);
    }
    let windows = match (args.window_end, &args.windows) {
        (Some(end), _) => vec![presets::window_ending(end)?],
        (None, Some(text)) => presets::parse_windows(text)?,
        (None, None) => {
            let last = entry.steps.iter().copied().max().unwrap_or(0);
            let windows = presets::default_windows(last);
            if windows.is_empty() {
                return Err(PlanError::NoWholeWindow { last });
            }
            windows
        }
    };
    let plans = windows
        .iter()
        .map(|&(a, b)| precipitation_plan(product, run, a, b))
        .collect::<gik_core::Result<Vec<_>>>()?;
    let thresholds = if args.thresholds.is_empty() {
        presets::DEFAULT_THRESHOLDS_MM.to_vec()
    } else {
        let mut t = args.thresholds.clone();
        if t.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(PlanError::BadThresholds);
        }
        t.sort_by(f32::total_cmp);
        t.dedup();
        t
    };
    let variable = plans
        .first()
        .map_or(product.precipitation().variable, |p| p.variable);
    let mut var = resolve_var(product, entry, variable)?;
    var.name = "precipitation".into();
    Ok(Mode::Rain {
        var: Box::new(var),
        plans,
        thresholds,
    })
}

/// Variables at steps (`--vars`, `--steps`, the cgan preset, or everything in the catalog).
fn fields_mode(
    args: &StreamArgs,
    product: &dyn Product,
    run: RunTime,
    entry: &RunEntry,
) -> Result<Mode> {
    let texts: Vec<String> = if !args.vars.is_empty() {
        args.vars.clone()
    } else if args.preset == Some(Preset::Cgan) {
        presets::CGAN_VARIABLES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        entry.variables.iter().map(|v| v.name.clone()).collect()
    };
    let mut vars = Vec::new();
    for text in &texts {
        let var = resolve_var(product, entry, text)?;
        if vars.iter().any(|v: &SourceVar| v.name == var.name) {
            continue;
        }
        vars.push(var);
    }
    if vars.is_empty() {
        return Err(PlanError::NoVariables);
    }
    let steps = match (&args.steps, args.preset) {
        (Some(text), _) => parse_steps(product, run, text)?,
        (None, Some(Preset::Cgan)) => parse_steps(product, run, presets::CGAN_STEPS)?,
        _ => {
            let mut s = entry.steps.clone();
            s.sort_unstable();
            s.dedup();
            s
        }
    };
    if steps.is_empty() {
        return Err(PlanError::NoSteps);
    }
    Ok(Mode::Fields { vars, steps })
}

/// The lattice of the output grid, from the coordinates in the manifests; every variable must
/// be on the same one (one latitude/longitude pair of dimensions per file).
pub(super) fn output_lattice(plan: &Plan, manifests: &[ManifestResult]) -> Result<Lattice> {
    let source_vars = plan.source_vars();
    let mut lattice: Option<(Lattice, String)> = None;
    for var in &source_vars {
        let found = manifests.iter().flatten().find_map(|m| {
            Lattice::from_axes(
                &m.axis(&var.array, "latitude").ok()?,
                &m.axis(&var.array, "longitude").ok()?,
            )
        });
        let Some(l) = found else {
            if manifests.iter().all(|m| m.is_err()) {
                let reasons = manifests
                    .iter()
                    .filter_map(|m| m.as_ref().err())
                    .take(3)
                    .cloned()
                    .collect();
                return Err(PlanError::NoManifest { reasons });
            }
            return Err(PlanError::NoCoordinates {
                product: plan.product.name().to_owned(),
                variable: var.spec.request.clone(),
            });
        };
        match &lattice {
            None => lattice = Some((l, var.name.clone())),
            Some((first, name)) if !first.same_as(&l) => {
                return Err(PlanError::MixedGrids {
                    variable: var.name.clone(),
                    lattice: l,
                    first: name.clone(),
                    first_lattice: *first,
                })
            }
            Some(_) => {}
        }
    }
    lattice.map(|(l, _)| l).ok_or(PlanError::NothingToRead)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::presets::Preset;
    use super::*;

    #[test]
    fn names_and_arguments() {
        let ecmwf = product_by_name("ecmwf", &Hosts::default()).unwrap();
        assert_eq!(output_name(&ecmwf.variable("u:700").unwrap()), "u700");
        assert_eq!(output_name(&ecmwf.variable("2t").unwrap()), "t2m");
        assert_eq!(
            ecmwf.standard_name(&ecmwf.variable("tp").unwrap()),
            Some("lwe_thickness_of_precipitation_amount")
        );
        let a = StreamArgs::from_args([
            "--catalog",
            "/tmp/c",
            "--preset",
            "cgan",
            "--bbox",
            "-14,25,19,55",
            "--out",
            "x.nc",
        ])
        .unwrap();
        assert_eq!(a.preset, Some(Preset::Cgan));
        assert_eq!(a.bbox.as_deref(), Some("-14,25,19,55"));
        assert_eq!((a.concurrency, a.deflate, a.strict), (64, 4, false));
        assert!(
            StreamArgs::from_args(["--catalog", "c", "--out", "x", "--deflate", "12"]).is_err()
        );
        assert!(
            StreamArgs::from_args(["--catalog", "c", "--out", "x", "--preset", "nope"]).is_err()
        );
    }
}
