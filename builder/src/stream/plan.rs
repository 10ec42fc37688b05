//! Planning a stream: the raw arguments, checked against the product and the catalog, become
//! a [`Plan`] before anything large is read.
//!
//! Presets ([`super::presets`]) fill in what the user left out; variables, steps, members and
//! windows are checked against the product (and the run's catalog entry), so a typo fails in
//! milliseconds, not after reading manifests. The output lattice comes from the coordinates the
//! manifests store, so every variable of one file must be on the same grid.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Result};
use gik_core::catalog::{Catalog, ProductEntry, RunEntry};
use gik_core::geo::{BBox, Lattice};
use gik_core::member::MemberManifest;
use gik_core::product::{
    parse_members, parse_steps, precipitation_plan, product_by_name, AccumulationPlan, Hosts,
    Member, Product, VariableSpec,
};
use gik_core::time::RunTime;

use super::args::StreamArgs;
use super::presets::{self, Preset};

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
        let names: Vec<&str> = entry.variables.iter().map(|v| v.name.as_str()).collect();
        bail!(
            "{}: variable {} is not in the run's manifests (they hold: {})",
            product.name(),
            spec.request,
            names.join(", ")
        );
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
    let product_entry = catalog.products.get(product.name()).ok_or_else(|| {
        anyhow!(
            "the catalog has no {} runs (it has: {})",
            product.name(),
            catalog
                .products
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
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
        bail!("no members selected");
    }
    let rain = args.preset == Some(Preset::RainProbability);
    if !rain && (args.window_end.is_some() || args.windows.is_some() || !args.thresholds.is_empty())
    {
        bail!("--window-end, --windows and --thresholds go with --preset rain-probability");
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
    let name = match (
        args.product.as_deref(),
        args.preset.and_then(Preset::product),
    ) {
        (Some(p), Some(q)) if !p.trim().eq_ignore_ascii_case(q) => {
            bail!(
                "the {} preset is for {q}, not {p}",
                args.preset.map_or("", Preset::name)
            )
        }
        (Some(p), _) => p.trim().to_ascii_lowercase(),
        (None, Some(q)) => q.to_string(),
        (None, None) => bail!("--product is required (gefs or ecmwf)"),
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
                bail!("--run needs --date");
            }
            let newest = product_entry
                .runs
                .first()
                .ok_or_else(|| anyhow!("the catalog has no {} runs", product.name()))?;
            newest.run
        }
    };
    let entry = product_entry
        .runs
        .iter()
        .find(|r| r.run == run)
        .cloned()
        .ok_or_else(|| {
            let runs: Vec<String> = product_entry.runs.iter().map(|r| r.run.compact()).collect();
            anyhow!(
                "{}: run {run} is not in the catalog (runs: {})",
                product.name(),
                runs.join(", ")
            )
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
        bail!("the rain-probability preset reads precipitation over windows: use --windows or --window-end, not --vars or --steps");
    }
    let windows = match (args.window_end, &args.windows) {
        (Some(end), _) => vec![presets::window_ending(end).map_err(|e| anyhow!(e))?],
        (None, Some(text)) => presets::parse_windows(text).map_err(|e| anyhow!(e))?,
        (None, None) => {
            let last = entry.steps.iter().copied().max().unwrap_or(0);
            let windows = presets::default_windows(last);
            if windows.is_empty() {
                bail!(
                    "the run's last step is {last} h: no whole {}-hour window",
                    presets::WINDOW_HOURS
                );
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
            bail!("thresholds must be non-negative numbers of mm");
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
        bail!("no variables selected");
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
        bail!("no steps selected");
    }
    Ok(Mode::Fields { vars, steps })
}

/// The lattice of the output grid, from the coordinates in the manifests; every variable must
/// be on the same one (one latitude/longitude pair of dimensions per file).
pub(super) fn output_lattice(
    plan: &Plan,
    manifests: &[Result<MemberManifest, String>],
) -> Result<Lattice> {
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
            if manifests.iter().all(Result::is_err) {
                let reasons: Vec<&str> = manifests
                    .iter()
                    .filter_map(|m| m.as_ref().err())
                    .map(String::as_str)
                    .take(3)
                    .collect();
                bail!("no member manifest could be read: {}", reasons.join("; "));
            }
            bail!(
                "{}: no manifest gives the latitude/longitude of {}",
                plan.product.name(),
                var.spec.request
            );
        };
        match &lattice {
            None => lattice = Some((l, var.name.clone())),
            Some((first, name)) if !first.same_as(&l) => bail!(
                "{} is on a {}°×{}° grid, {name} on {}°×{}°: stream them separately",
                var.name,
                l.dlat,
                l.dlon,
                first.dlat,
                first.dlon
            ),
            Some(_) => {}
        }
    }
    lattice
        .map(|(l, _)| l)
        .ok_or_else(|| anyhow!("no variables to read"))
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
