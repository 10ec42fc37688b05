//! `gik build`: one forecast run's member manifests from index files alone.
//!
//! The three stages of the GIK method, without its template archives:
//!
//! 1. **Structure** — the zarr tree comes from the product definition (variables, steps), the
//!    index records, and the header of *one message per variable* (a small Range request for
//!    the grid). A new grid or variable set is followed automatically.
//! 2. **Index** — every index file of the run is fetched concurrently (bounded, retried), with
//!    a HEAD of its GRIB2 file for the size (the length of the last NOAA message; a record
//!    ending past it means a stale index, reported and skipped). What is not published yet is
//!    reported per member and step. Records a byte range cannot reference (NOAA sub-fields
//!    after the first) are reported too (see [`crate::fetch_limits`]).
//! 3. **Manifests** — one parquet per member is written, then the ensemble manifest (every
//!    member in one, with a leading `number` dimension, for notebooks and `gik stream`), then
//!    the catalog
//!    (last, so it never points at a manifest that is not there).
//!
//! Publishing never loses a run: the catalog is merged with a conditional write
//! ([`Destination::update`]), so builds of other runs into the same destination at the same
//! time all land; a manifest the catalog names is never overwritten while the catalog names it
//! (a changed one is written beside it, the catalog is merged, and only then is it moved back
//! to its usual path and the files no run names deleted: `publish`), so a build that dies
//! half-way leaves the published run as it was; a rebuild that would lose
//! what the published run has is not published without `force`
//! ([`Catalog::publish`](gik_core::catalog::Catalog::publish)).
//!
//! [`build_run`] reads as the stages; stage 2 (fetching index files and matching their
//! records) is in `index`, where manifests are written and how the catalog is merged in
//! `publish`.

mod index;
mod publish;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use gik_core::catalog::{MissingEntry, RunEntry, VariableEntry};
use gik_core::grib::Grid;
use gik_core::manifest::Manifest;
use gik_core::member::{
    build_member_manifest, variable_steps, MemberIdentity, MessageRef, VariableMessages,
};
use gik_core::product::{Member, Product, VariableSpec};
use gik_core::subset::SubsetEntry;
use gik_core::time::RunTime;

use crate::destination::Destination;
use crate::fetch_limits::fetch_grid;
use crate::http::HttpClient;
use crate::progress::Progress;
use crate::subset::MemberMessages;
use index::RunIndex;
use publish::{publish_catalog, ManifestWriter, Slot};

/// Everything `gik build` needs for one run, validated before any I/O.
pub struct BuildPlan {
    /// The product.
    pub product: Box<dyn Product>,
    /// The run.
    pub run: RunTime,
    /// Members to build.
    pub members: Vec<Member>,
    /// Variables to include.
    pub variables: Vec<VariableSpec>,
    /// Steps to include (hours).
    pub steps: Vec<u32>,
    /// Runs kept per product in the catalog (0: all); the run built is never dropped.
    pub keep_runs: usize,
    /// Publish even if the run already published is more complete than this build.
    pub force: bool,
    /// Regional subsets to cut and publish with the run (`--subset`).
    pub subsets: Vec<crate::subset::SubsetPlan>,
}

/// What a build produced.
#[derive(Debug, Default)]
pub struct BuildReport {
    /// Members with a manifest.
    pub members_written: usize,
    /// (member, step) pairs whose messages were found.
    pub found: usize,
    /// What was asked for and is missing.
    pub missing: Vec<MissingEntry>,
    /// Bytes of GRIB2 referenced.
    pub bytes_referenced: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Set when the catalog kept the published run instead of this build's: what this build
    /// would have lost. Its manifests were removed again.
    pub kept_published: Option<String>,
    /// The run is older than the newest `keep_runs` runs; it stays until the next build.
    pub beyond_keep: bool,
    /// Runs dropped from the catalog (and their manifests deleted) to respect `keep_runs`.
    pub dropped_runs: Vec<String>,
    /// Subsets published with the run: name, bytes read, bytes written, members.
    pub subsets: Vec<(String, u64, u64, usize)>,
    /// What the manifests reference, per member number, for other outputs of the run
    /// (`--icechunk`).
    pub messages: Vec<(u16, Vec<VariableMessages>)>,
}

/// Relative path of a member's manifest at the destination.
pub fn manifest_path(product: &str, run: RunTime, member: &str) -> String {
    format!(
        "{product}/{date}/{hour}z/{date}{hour}z-{member}.parquet",
        date = run.date_string(),
        hour = run.hour_string()
    )
}

/// Runs the three stages for one run and publishes to `dest`.
pub async fn build_run(
    plan: &BuildPlan,
    client: &HttpClient,
    dest: &Destination,
    progress: &Progress,
) -> Result<BuildReport> {
    let start = Instant::now();
    let index = index::read_run_index(plan, client, progress).await?;
    let grids = fetch_grids(plan, client, &index.first_message, progress).await?;
    let mut writer = ManifestWriter::open(dest, plan).await?;
    let MemberManifests {
        paths,
        built,
        variables,
        messages,
    } = write_member_manifests(plan, &index, &grids, &mut writer, progress).await?;
    if paths.is_empty() {
        return Err(nothing_built(plan, &index.missing));
    }
    let ensemble = ensemble_manifest(plan.product.as_ref(), &built)?;
    drop(built);
    let ensemble = writer.put(Slot::Ensemble, ensemble).await?;
    let subsets = cut_subsets(plan, &index.per_member, client, dest, progress).await?;
    let report = BuildReport {
        members_written: paths.len(),
        found: index.found,
        missing: index.missing,
        bytes_referenced: index.bytes_referenced,
        subsets: subsets
            .iter()
            .map(|(name, cut)| {
                let members = cut.run.members.len();
                (name.clone(), cut.bytes_read, cut.bytes_written, members)
            })
            .collect(),
        messages,
        ..BuildReport::default()
    };
    let entry = RunEntry {
        run: plan.run,
        members: paths.keys().cloned().collect(),
        steps: plan.steps.clone(),
        variables: variables.into_values().collect(),
        manifests: paths,
        missing: report.missing.clone(),
        bytes_referenced: report.bytes_referenced,
        subsets: subsets.into_iter().collect(),
        ensemble: Some(ensemble),
    };
    let publication = publish_catalog(plan, dest, entry, writer.into_moved()).await?;
    Ok(BuildReport {
        kept_published: publication.kept,
        beyond_keep: publication.beyond_keep,
        dropped_runs: publication
            .dropped
            .into_iter()
            .map(|r| r.run.compact())
            .collect(),
        elapsed: start.elapsed(),
        ..report
    })
}

/// Stage 1: the grid of each variable, from the header of one of its messages (`first`, by
/// variable request).
async fn fetch_grids(
    plan: &BuildPlan,
    client: &HttpClient,
    first: &BTreeMap<String, MessageRef>,
    progress: &Progress,
) -> Result<BTreeMap<String, Grid>> {
    progress.stage(
        &format!("{} {}: grids", plan.product.name(), plan.run),
        first.len() as u64,
    );
    // All at once (one round trip, not one per variable); the client bounds concurrency.
    let grids = futures::future::try_join_all(first.iter().map(|(request, message)| async move {
        let grid = fetch_grid(client, &message.range)
            .await
            .with_context(|| format!("{request}: reading the grid of {}", message.range.url))?;
        progress.inc(1);
        Ok::<_, anyhow::Error>((request.clone(), grid))
    }))
    .await?
    .into_iter()
    .collect();
    progress.finish_stage();
    Ok(grids)
}

/// The member manifests a build wrote.
#[derive(Default)]
struct MemberManifests {
    /// Where each member's manifest was written, by member name.
    paths: BTreeMap<String, String>,
    /// Each manifest with its member number, for the ensemble manifest.
    built: Vec<(u32, Manifest)>,
    /// The catalog's entry of each variable some manifest holds, by request.
    variables: BTreeMap<String, VariableEntry>,
    /// What each manifest references, by member number ([`BuildReport::messages`]).
    messages: Vec<(u16, Vec<VariableMessages>)>,
}

/// Stage 3: one manifest per member that has a message of a variable with a grid, written
/// where it cannot disturb the published run.
async fn write_member_manifests(
    plan: &BuildPlan,
    index: &RunIndex,
    grids: &BTreeMap<String, Grid>,
    writer: &mut ManifestWriter<'_>,
    progress: &Progress,
) -> Result<MemberManifests> {
    let product = plan.product.as_ref();
    progress.stage(
        &format!("{} {}: manifests", product.name(), plan.run),
        index.per_member.len() as u64,
    );
    let mut out = MemberManifests::default();
    for (member, refs) in &index.per_member {
        let vars = member_variables(
            &index.variables,
            &plan.steps,
            grids,
            |request| refs.get(request).cloned(),
            &mut out.variables,
        );
        if vars.is_empty() {
            continue;
        }
        let member_name = product.member_name(*member);
        let who = MemberIdentity {
            product: product.name().to_string(),
            run: plan.run,
            member: member_name.clone(),
        };
        let manifest = build_member_manifest(&who, &vars)
            .with_context(|| format!("building the manifest of {member_name}"))?;
        out.messages.push((member.number(), vars));
        let bytes = gik_core::manifest::write_parquet(&manifest)?;
        let path = writer.put(Slot::Member(member_name.clone()), bytes).await?;
        out.paths.insert(member_name, path);
        out.built.push((u32::from(member.number()), manifest));
        progress.inc(1);
    }
    progress.finish_stage();
    Ok(out)
}

/// The variables of one member's manifest: each of `variables` that has a grid in `grids` and
/// messages (`messages` of its request), on its steps among `steps`. Each is added to
/// `entries` (the catalog's list of variables) the first time.
pub(crate) fn member_variables(
    variables: &[VariableSpec],
    steps: &[u32],
    grids: &BTreeMap<String, Grid>,
    mut messages: impl FnMut(&str) -> Option<Vec<MessageRef>>,
    entries: &mut BTreeMap<String, VariableEntry>,
) -> Vec<VariableMessages> {
    variables
        .iter()
        .filter_map(|spec| {
            let (grid, messages) = (grids.get(&spec.request)?, messages(&spec.request)?);
            entries
                .entry(spec.request.clone())
                .or_insert_with(|| VariableEntry::of_spec(spec));
            Some(VariableMessages {
                spec: spec.clone(),
                grid: grid.clone(),
                steps: variable_steps(spec, steps),
                messages,
            })
        })
        .collect()
}

/// Why nothing is published when no manifest could be built: an error, so a scheduled job
/// fails loudly instead of leaving an old catalog in place as if all were well. The catalog
/// is not touched.
fn nothing_built(plan: &BuildPlan, missing: &[MissingEntry]) -> anyhow::Error {
    let first = missing
        .first()
        .map(|m| {
            let step = m.step.map_or(String::new(), |s| format!(" f{s:03}"));
            format!("; first: {}{step}: {}", m.member, m.reason)
        })
        .unwrap_or_default();
    anyhow::anyhow!(
        "{} {}: no manifest could be built ({} missing over {} member-steps asked{first}); \
         nothing published",
        plan.product.name(),
        plan.run,
        missing.len(),
        plan.members.len() * plan.steps.len()
    )
}

/// Cuts and writes each subset of the plan, in order; returns their catalog entries by name
/// (published with the run).
async fn cut_subsets(
    plan: &BuildPlan,
    per_member: &BTreeMap<Member, MemberMessages>,
    client: &HttpClient,
    dest: &Destination,
    progress: &Progress,
) -> Result<Vec<(String, SubsetEntry)>> {
    let mut cuts = Vec::new();
    for subset in &plan.subsets {
        let cut = crate::subset::build_subset(
            subset,
            plan.product.as_ref(),
            plan.run,
            &plan.steps,
            per_member,
            client,
            dest,
            progress,
        )
        .await
        .with_context(|| format!("subset {}", subset.definition.name))?;
        cuts.push((subset.definition.name.to_string(), cut));
    }
    Ok(cuts)
}

/// Name of the ensemble manifest in [`manifest_path`]'s member position
/// (`{YYYYMMDD}{HH}z-ensemble.parquet`); no product has a member of that name.
pub const ENSEMBLE_FILE_TAG: &str = "ensemble";

/// The ensemble manifest of a run (every member's manifest with a leading `number` dimension,
/// see [`gik_core::manifest::combine_members`]) as parquet bytes.
fn ensemble_manifest(product: &dyn Product, members: &[(u32, Manifest)]) -> Result<Vec<u8>> {
    let mut sorted: Vec<(u32, &Manifest)> = members.iter().map(|(n, m)| (*n, m)).collect();
    sorted.sort_by_key(|(n, _)| *n);
    let names: Vec<String> = product
        .members()
        .into_iter()
        .filter(|m| sorted.iter().any(|(n, _)| *n == u32::from(m.number())))
        .map(|m| product.member_name(m))
        .collect();
    let mut attrs = gik_core::manifest::Attrs::new();
    attrs.insert("members".to_string(), names.into());
    let manifest = gik_core::manifest::combine_members(&sorted, &attrs)
        .context("building the ensemble manifest")?;
    Ok(gik_core::manifest::write_parquet(&manifest)?)
}
