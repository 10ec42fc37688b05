//! `gik build`: one forecast run's member manifests from index files alone.
//!
//! The three stages of the GIK method, without its template archives:
//!
//! 1. **Structure** — the zarr tree comes from the product definition (variables, steps), the
//!    index records, and the header of *one message per variable* (a small Range request for
//!    the grid). A new grid or variable set is followed automatically.
//! 2. **Index** — every index file of the run is fetched concurrently (bounded, retried); GEFS
//!    files also need a HEAD for the size of the last message. What is not published yet is
//!    reported per member and step.
//! 3. **Manifests** — one parquet per member is written, then the catalog (last, so it never
//!    points at a manifest that is not there).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use gik_core::catalog::{Catalog, MissingEntry, RunEntry, VariableEntry, CATALOG_FILE};
use gik_core::grib::{self, Grid};
use gik_core::index::IndexRecord;
use gik_core::member::{
    build_member_manifest, variable_steps, MemberIdentity, MessageRef, VariableMessages,
};
use gik_core::product::{records_for, Member, Product, VariableSpec};
use gik_core::time::RunTime;

use crate::destination::Destination;
use crate::http::{FetchError, HttpClient};
use crate::progress::Progress;

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
    /// Runs kept per product in the catalog (0: all).
    pub keep_runs: usize,
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
}

/// Relative path of a member's manifest at the destination.
pub fn manifest_path(product: &str, run: RunTime, member: &str) -> String {
    format!(
        "{product}/{date}/{hour}z/{date}{hour}z-{member}.parquet",
        date = run.date_string(),
        hour = run.hour_string()
    )
}

/// One index file of the run and who needs it.
struct IndexFile {
    index_url: String,
    grib_url: String,
    step: u32,
    members: Vec<Member>,
}

/// The parsed content of one index file, or why it is missing.
type IndexResult = Result<Vec<IndexRecord>, String>;

/// Runs the three stages for one run and publishes to `dest`.
pub async fn build_run(
    plan: &BuildPlan,
    client: &HttpClient,
    dest: &Destination,
    progress: &Progress,
) -> Result<BuildReport> {
    let start = Instant::now();
    let product = plan.product.as_ref();
    let name = product.name();

    // Which index files exist for this run (ECMWF packs all members of a step in one file).
    let mut files: BTreeMap<String, IndexFile> = BTreeMap::new();
    for &member in &plan.members {
        for &step in &plan.steps {
            let index_url = product.index_url(plan.run, member, step)?;
            let grib_url = product.grib_url(plan.run, member, step)?;
            files
                .entry(index_url.clone())
                .or_insert_with(|| IndexFile {
                    index_url,
                    grib_url,
                    step,
                    members: Vec::new(),
                })
                .members
                .push(member);
        }
    }

    // Stage 2: fetch and parse every index file concurrently.
    progress.stage(
        &format!("{name} {}: index files", plan.run),
        files.len() as u64,
    );
    let needs_size = product.index_format() == gik_core::index::IndexFormat::Noaa;
    let parsed: HashMap<String, IndexResult> = stream::iter(files.values())
        .map(|file| async move {
            let result = fetch_index(client, product, file, needs_size).await;
            progress.inc(1);
            (file.index_url.clone(), result)
        })
        .buffer_unordered(1024)
        .collect()
        .await;
    progress.finish_stage();

    // Match records to members, variables and steps.
    let mut report = BuildReport::default();
    let mut per_member: BTreeMap<Member, BTreeMap<String, Vec<MessageRef>>> = BTreeMap::new();
    let mut first_message: BTreeMap<String, MessageRef> = BTreeMap::new();
    for file in files.values() {
        let Some(result) = parsed.get(&file.index_url) else {
            continue;
        };
        for &member in &file.members {
            let member_name = product.member_name(member);
            let records = match result {
                Ok(records) => records,
                Err(reason) => {
                    report.missing.push(MissingEntry {
                        member: member_name,
                        step: Some(file.step),
                        reason: reason.clone(),
                    });
                    continue;
                }
            };
            report.found += 1;
            let refs = per_member.entry(member).or_default();
            let mut seen = BTreeSet::new();
            for (spec, record) in records_for(product, member, &plan.variables, records) {
                if record.time.end_whole_hours() != Some(file.step)
                    || !seen.insert(spec.request.clone())
                {
                    continue;
                }
                // Off the variable's step axis (ECMWF's all-zero tp at step 0): not referenced.
                if variable_steps(&spec, &[file.step]).is_empty() {
                    continue;
                }
                let Some(length) = record.length else {
                    continue;
                };
                let message = MessageRef {
                    step: file.step,
                    url: file.grib_url.clone(),
                    offset: record.offset,
                    length,
                };
                first_message
                    .entry(spec.request.clone())
                    .or_insert_with(|| message.clone());
                report.bytes_referenced += length;
                refs.entry(spec.request.clone()).or_default().push(message);
            }
            for spec in &plan.variables {
                let expected = variable_steps(spec, &[file.step]);
                if !expected.is_empty() && !seen.contains(&spec.request) {
                    report.missing.push(MissingEntry {
                        member: member_name.clone(),
                        step: Some(file.step),
                        reason: format!("{} not in the index", spec.request),
                    });
                }
            }
        }
    }

    // Stage 1: the grid of each variable, from the header of one of its messages.
    progress.stage(
        &format!("{name} {}: grids", plan.run),
        first_message.len() as u64,
    );
    // All at once (one round trip, not one per variable); the client bounds concurrency.
    let grids: BTreeMap<String, Grid> =
        futures::future::try_join_all(first_message.iter().map(|(request, message)| async move {
            let grid = fetch_grid(client, message)
                .await
                .with_context(|| format!("{request}: reading the grid of {}", message.url))?;
            progress.inc(1);
            Ok::<_, anyhow::Error>((request.clone(), grid))
        }))
        .await?
        .into_iter()
        .collect();
    progress.finish_stage();

    // Stage 3: one manifest per member, then the catalog.
    progress.stage(
        &format!("{name} {}: manifests", plan.run),
        per_member.len() as u64,
    );
    let mut manifests = BTreeMap::new();
    let mut variables_entry: BTreeMap<String, VariableEntry> = BTreeMap::new();
    for (member, refs) in &per_member {
        let member_name = product.member_name(*member);
        let mut vars = Vec::new();
        for spec in &plan.variables {
            let (Some(grid), Some(messages)) = (grids.get(&spec.request), refs.get(&spec.request))
            else {
                continue;
            };
            variables_entry
                .entry(spec.request.clone())
                .or_insert_with(|| VariableEntry {
                    name: spec.request.clone(),
                    path: spec.zarr_path(),
                    array: spec.cf_name.clone(),
                    units: spec.units.clone(),
                    long_name: spec.long_name.clone(),
                });
            vars.push(VariableMessages {
                spec: spec.clone(),
                grid: grid.clone(),
                steps: variable_steps(spec, &plan.steps),
                messages: messages.clone(),
            });
        }
        if vars.is_empty() {
            continue;
        }
        let who = MemberIdentity {
            product: name.to_string(),
            run: plan.run,
            member: member_name.clone(),
        };
        let manifest = build_member_manifest(&who, &vars)
            .with_context(|| format!("building the manifest of {member_name}"))?;
        let bytes = gik_core::manifest::write_parquet(&manifest)?;
        let path = manifest_path(name, plan.run, &member_name);
        dest.put(&path, bytes).await?;
        manifests.insert(member_name, path);
        progress.inc(1);
    }
    progress.finish_stage();
    report.members_written = manifests.len();

    if manifests.is_empty() {
        // Nothing to publish: an error, so a scheduled job fails loudly instead of leaving an
        // old catalog in place as if all were well. The catalog is not touched.
        let first = report
            .missing
            .first()
            .map(|m| {
                let step = m.step.map_or(String::new(), |s| format!(" f{s:03}"));
                format!("; first: {}{step}: {}", m.member, m.reason)
            })
            .unwrap_or_default();
        anyhow::bail!(
            "{name} {}: no manifest could be built ({} missing over {} member-steps \
             asked{first}); nothing published",
            plan.run,
            report.missing.len(),
            plan.members.len() * plan.steps.len()
        );
    }
    publish_catalog(
        plan,
        dest,
        manifests,
        variables_entry.into_values().collect(),
        &report,
    )
    .await?;
    report.elapsed = start.elapsed();
    Ok(report)
}

async fn publish_catalog(
    plan: &BuildPlan,
    dest: &Destination,
    manifests: BTreeMap<String, String>,
    variables: Vec<VariableEntry>,
    report: &BuildReport,
) -> Result<()> {
    let product = plan.product.as_ref();
    let mut catalog = match dest.get(CATALOG_FILE).await? {
        Some(bytes) => Catalog::from_json(&bytes)?,
        None => Catalog::new(),
    };
    let entry = RunEntry {
        run: format!("{}{}", plan.run.date_string(), plan.run.hour_string()),
        members: manifests.keys().cloned().collect(),
        steps: plan.steps.clone(),
        variables,
        manifests,
        missing: report.missing.clone(),
        bytes_referenced: report.bytes_referenced,
    };
    let credits = product.credits();
    let (label, attribution) = (credits.label, credits.full_text());
    let dropped = catalog.upsert_run(product.name(), label, &attribution, entry, plan.keep_runs);
    catalog.generated_at = now_iso();
    dest.put(CATALOG_FILE, catalog.to_json()?).await?;
    // Old runs leave the catalog first, then their manifests go.
    for run in dropped {
        for path in run.manifests.values() {
            dest.delete(path).await?;
        }
    }
    Ok(())
}

fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let hour = RunTime::from_unix_seconds(secs);
    hour.iso_after_hours((secs - hour.unix_seconds()) as f64 / 3600.0)
}

async fn fetch_index(
    client: &HttpClient,
    product: &dyn Product,
    file: &IndexFile,
    needs_size: bool,
) -> IndexResult {
    let describe = |e: FetchError| {
        if e.is_not_found() {
            "not published (404)".to_string()
        } else {
            e.to_string()
        }
    };
    let text = async {
        let bytes = client.get(&file.index_url).await.map_err(describe)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{}: not UTF-8 text", file.index_url))
    };
    let size = async {
        if needs_size {
            client
                .head_size(&file.grib_url)
                .await
                .map(Some)
                .map_err(describe)
        } else {
            Ok(None)
        }
    };
    let (text, size) = futures::join!(text, size);
    let (text, size) = (text?, size?);
    product
        .index_format()
        .parse(&text, &file.index_url, size)
        .map_err(|e| e.to_string())
}

/// The grid of a message, from its first bytes (the whole message if section 2 is large).
async fn fetch_grid(client: &HttpClient, message: &MessageRef) -> Result<Grid> {
    let prefix = message.length.min(8192);
    let bytes = client
        .get_range(&message.url, message.offset, prefix)
        .await?;
    match grib::describe_header(&bytes) {
        Ok(info) => Ok(info.grid),
        Err(_) if prefix < message.length => {
            let bytes = client
                .get_range(&message.url, message.offset, message.length)
                .await?;
            Ok(grib::describe(&bytes)?.grid)
        }
        Err(e) => Err(e.into()),
    }
}
