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
//!    member in one, with a leading `number` dimension, for notebooks), then the catalog
//!    (last, so it never points at a manifest that is not there).
//!
//! Publishing never loses a run: the catalog is merged with a conditional write
//! ([`Destination::update`]), so builds of other runs into the same destination at the same
//! time all land; a manifest the catalog names is never overwritten with other content (a
//! changed one is written beside it and the old one deleted once the catalog has moved on), so
//! a build that dies half-way leaves the published run as it was; a rebuild that would lose
//! what the published run has is not published without `force`
//! ([`Catalog::publish`](gik_core::catalog::Catalog::publish)).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use gik_core::catalog::{
    Catalog, MissingEntry, Publication, RunEntry, VariableEntry, CATALOG_FILE,
};
use gik_core::grib::Grid;
use gik_core::index::IndexRecord;
use gik_core::manifest::ByteRange;
use gik_core::member::{
    build_member_manifest, variable_steps, MemberIdentity, MessageRef, VariableMessages,
};
use gik_core::product::{explain_unmapped, records_for, Member, Product, VariableSpec};
use gik_core::time::RunTime;

use crate::clock::now_iso;
use crate::destination::{Destination, Update};
use crate::fetch_limits::{fetch_grid, unreferenceable};
use crate::http::{FetchError, HttpClient, ObjectKind};
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
    let parsed: HashMap<String, IndexResult> = stream::iter(files.values())
        .map(|file| async move {
            let result = fetch_index(client, product, file).await;
            progress.inc(1);
            (file.index_url.clone(), result)
        })
        .buffer_unordered(1024)
        .collect()
        .await;
    progress.finish_stage();

    // Match records to members, variables and steps. A variable's spec is resolved against
    // the first record found for it (generic variables take their step type and level from
    // it); whether a step is expected at all is only decided once the run is read, with the
    // resolved spec (an average is absent at f000, an instant is not).
    let mut report = BuildReport::default();
    let mut per_member: BTreeMap<Member, BTreeMap<String, Vec<MessageRef>>> = BTreeMap::new();
    let mut first_message: BTreeMap<String, MessageRef> = BTreeMap::new();
    let mut resolved: BTreeMap<String, VariableSpec> = BTreeMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    for file in files.values() {
        let Some(result) = parsed.get(&file.index_url) else {
            continue;
        };
        for &member in &file.members {
            let member_name = product.member_name(member);
            let records = match result {
                Ok(records) => records,
                Err(reason) => {
                    pending.push(Pending::Missing(MissingEntry {
                        member: member_name,
                        step: Some(file.step),
                        reason: reason.clone(),
                    }));
                    continue;
                }
            };
            // An index the product's layout cannot map (renamed stream or type): say what it
            // holds and what was expected, once, instead of every variable missing.
            if let Some(reason) = explain_unmapped(
                product.layouts(),
                plan.run,
                member,
                &file.index_url,
                records,
            ) {
                pending.push(Pending::Missing(MissingEntry {
                    member: member_name,
                    step: Some(file.step),
                    reason,
                }));
                continue;
            }
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
                if let Some(reason) = unreferenceable(&record, &file.index_url) {
                    report.missing.push(MissingEntry {
                        member: member_name.clone(),
                        step: Some(file.step),
                        reason,
                    });
                    continue;
                }
                let Some(length) = record.length else {
                    continue;
                };
                let message = MessageRef {
                    step: file.step,
                    range: ByteRange::new(file.grib_url.clone(), record.offset, length),
                };
                first_message
                    .entry(spec.request.clone())
                    .or_insert_with(|| message.clone());
                report.bytes_referenced += length;
                refs.entry(spec.request.clone()).or_default().push(message);
                resolved.entry(spec.request.clone()).or_insert(spec);
            }
            pending.push(Pending::Check {
                member: member_name,
                step: file.step,
                seen,
            });
        }
    }
    // Each variable as published: resolved where a record was found, as asked otherwise.
    let variables: Vec<VariableSpec> = plan
        .variables
        .iter()
        .map(|spec| resolved.get(&spec.request).unwrap_or(spec).clone())
        .collect();
    for item in pending {
        match item {
            Pending::Missing(entry) => report.missing.push(entry),
            Pending::Check { member, step, seen } => {
                for spec in &variables {
                    if !variable_steps(spec, &[step]).is_empty() && !seen.contains(&spec.request) {
                        report.missing.push(MissingEntry {
                            member: member.clone(),
                            step: Some(step),
                            reason: format!("{} not in the index", spec.request),
                        });
                    }
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

    // Stage 3: one manifest per member, then the catalog.
    progress.stage(
        &format!("{name} {}: manifests", plan.run),
        per_member.len() as u64,
    );
    let published = published_run(dest, name, plan.run).await?;
    let mut manifests = BTreeMap::new();
    let mut built: Vec<(u32, gik_core::manifest::Manifest)> = Vec::new();
    let mut moved = Vec::new();
    let mut variables_entry: BTreeMap<String, VariableEntry> = BTreeMap::new();
    for (member, refs) in &per_member {
        let member_name = product.member_name(*member);
        let mut vars = Vec::new();
        for spec in &variables {
            let (Some(grid), Some(messages)) = (grids.get(&spec.request), refs.get(&spec.request))
            else {
                continue;
            };
            variables_entry
                .entry(spec.request.clone())
                .or_insert_with(|| VariableEntry::of_spec(spec));
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
        report.messages.push((member.number(), vars));
        let bytes = gik_core::manifest::write_parquet(&manifest)?;
        let slot = Slot::Member(member_name.clone());
        let path = put_unpublished(dest, published.as_ref(), plan, slot, bytes, &mut moved).await?;
        manifests.insert(member_name, path);
        built.push((u32::from(member.number()), manifest));
        progress.inc(1);
    }
    progress.finish_stage();
    report.members_written = manifests.len();
    let ensemble = if built.is_empty() {
        None
    } else {
        let bytes = ensemble_manifest(product, &built)?;
        let slot = Slot::Ensemble;
        Some(put_unpublished(dest, published.as_ref(), plan, slot, bytes, &mut moved).await?)
    };
    drop(built);

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
    let mut subsets = BTreeMap::new();
    for subset in &plan.subsets {
        let cut = crate::subset::build_subset(
            subset,
            product,
            plan.run,
            &plan.steps,
            &per_member,
            client,
            dest,
            progress,
        )
        .await
        .with_context(|| format!("subset {}", subset.definition.name))?;
        report.subsets.push((
            subset.definition.name.to_string(),
            cut.bytes_read,
            cut.bytes_written,
            cut.run.members.len(),
        ));
        subsets.insert(subset.definition.name.to_string(), cut);
    }
    let entry = RunEntry {
        run: plan.run,
        members: manifests.keys().cloned().collect(),
        steps: plan.steps.clone(),
        variables: variables_entry.into_values().collect(),
        manifests,
        missing: report.missing.clone(),
        bytes_referenced: report.bytes_referenced,
        subsets,
        ensemble,
    };
    let publication = publish_catalog(plan, dest, entry, moved).await?;
    report.kept_published = publication.kept;
    report.beyond_keep = publication.beyond_keep;
    report.dropped_runs = publication
        .dropped
        .into_iter()
        .map(|r| r.run.compact())
        .collect();
    report.elapsed = start.elapsed();
    Ok(report)
}

/// A (member, step) of the run whose index was read, checked for missing variables once every
/// variable is resolved; or a member-step already known to be missing.
enum Pending {
    Missing(MissingEntry),
    Check {
        member: String,
        step: u32,
        seen: BTreeSet<String>,
    },
}

/// The run as the catalog at `dest` lists it now, if it does.
async fn published_run(
    dest: &Destination,
    product: &str,
    run: RunTime,
) -> Result<Option<RunEntry>> {
    let current = dest.get(CATALOG_FILE).await?;
    let catalog = parse_catalog(dest, current.as_deref())?;
    Ok(catalog.run(product, Some(run)).cloned())
}

/// Name of the ensemble manifest in [`manifest_path`]'s member position
/// (`{YYYYMMDD}{HH}z-ensemble.parquet`); no product has a member of that name.
pub const ENSEMBLE_FILE_TAG: &str = "ensemble";

/// The ensemble manifest of a run (every member's manifest with a leading `number` dimension,
/// see [`gik_core::manifest::ensemble`]) as parquet bytes.
fn ensemble_manifest(
    product: &dyn Product,
    members: &[(u32, gik_core::manifest::Manifest)],
) -> Result<Vec<u8>> {
    let mut sorted: Vec<(u32, &gik_core::manifest::Manifest)> =
        members.iter().map(|(n, m)| (*n, m)).collect();
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

/// Writes a new manifest at [`unpublished_path`], recording it in `moved` when it had to go
/// beside its usual path; returns where it was written.
async fn put_unpublished(
    dest: &Destination,
    published: Option<&RunEntry>,
    plan: &BuildPlan,
    slot: Slot,
    bytes: Vec<u8>,
    moved: &mut Vec<Moved>,
) -> Result<String> {
    let (name, run) = (plan.product.name(), plan.run);
    let path = unpublished_path(dest, published, name, run, slot.file_tag(), &bytes).await?;
    let stable = manifest_path(name, run, slot.file_tag());
    if path == stable {
        dest.put(&path, bytes).await?;
    } else {
        dest.put(&path, bytes.clone()).await?;
        moved.push(Moved {
            slot,
            beside: path.clone(),
            stable,
            bytes,
        });
    }
    Ok(path)
}

/// Where a new manifest is written: at [`manifest_path`], unless the published run
/// names that path and the bytes there differ from `bytes`; then beside it, under a name
/// carrying a hash of `bytes`. So a manifest the catalog names is never overwritten with other
/// content, and a build that fails half-way leaves the published run intact.
async fn unpublished_path(
    dest: &Destination,
    published: Option<&RunEntry>,
    product: &str,
    run: RunTime,
    member: &str,
    bytes: &[u8],
) -> Result<String> {
    let stable = manifest_path(product, run, member);
    let in_use = published.is_some_and(|p| p.owned_paths().any(|m| m == stable));
    if !in_use || dest.get(&stable).await?.as_deref() == Some(bytes) {
        return Ok(stable);
    }
    let tag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        h.finish()
    };
    Ok(format!(
        "{}.{tag:016x}.parquet",
        stable.trim_end_matches(".parquet")
    ))
}

/// Which manifest of a run: a member's, or the ensemble manifest.
enum Slot {
    Member(String),
    Ensemble,
}

impl Slot {
    /// The name in the manifest's file name.
    fn file_tag(&self) -> &str {
        match self {
            Self::Member(name) => name,
            Self::Ensemble => ENSEMBLE_FILE_TAG,
        }
    }

    /// The catalog's path for this manifest in `entry`.
    fn path_in<'a>(&self, entry: &'a mut RunEntry) -> Option<&'a mut String> {
        match self {
            Self::Member(name) => entry.manifests.get_mut(name),
            Self::Ensemble => entry.ensemble.as_mut(),
        }
    }
}

/// A manifest written beside its usual path because the published run names that path
/// with other content.
struct Moved {
    slot: Slot,
    beside: String,
    stable: String,
    bytes: Vec<u8>,
}

/// Merges `entry` into the catalog at `dest` (conditionally, merging again if another build
/// published meanwhile). Manifests written beside their usual path are then moved there: once
/// the catalog names the new ones, the usual paths are free, so they are rewritten and the
/// catalog pointed back at them (a second conditional write). Last, the manifests no run names
/// any more are deleted: those of runs trimmed by `keep_runs` or replaced, the ones moved, or
/// this build's own if the published run was kept.
///
/// Builds of *different* runs may run concurrently; two builds of the same run with different
/// content at the same time are not coordinated beyond the catalog merge (the later one wins).
async fn publish_catalog(
    plan: &BuildPlan,
    dest: &Destination,
    entry: RunEntry,
    moved: Vec<Moved>,
) -> Result<Publication> {
    let credit = plan.product.credits();
    let product = plan.product.name();
    let run = entry.run;
    let written: Vec<String> = entry.owned_paths().map(str::to_string).collect();
    let (publication, mut referenced) = dest
        .update(CATALOG_FILE, |current| {
            let mut catalog = parse_catalog(dest, current)?;
            let publication =
                catalog.publish(product, &credit, entry.clone(), plan.keep_runs, plan.force);
            let referenced = owned_paths(&catalog);
            if publication.kept.is_some() {
                return Ok(Update::Keep((publication, referenced)));
            }
            catalog.generated_at = now_iso();
            Ok(Update::Write(catalog.to_json()?, (publication, referenced)))
        })
        .await?;
    let mut stale: Vec<String> = publication
        .dropped
        .iter()
        .chain(&publication.replaced)
        .flat_map(|r| r.owned_paths().map(str::to_string))
        .collect();
    if publication.kept.is_some() {
        stale.extend(written);
    } else if !moved.is_empty() {
        for m in &moved {
            dest.put(&m.stable, m.bytes.clone()).await?;
        }
        referenced = dest
            .update(CATALOG_FILE, |current| {
                let mut catalog = parse_catalog(dest, current)?;
                let mut changed = false;
                if let Some(entry) = catalog.run_mut(product, run) {
                    for m in &moved {
                        if let Some(path) = m.slot.path_in(entry) {
                            if *path == m.beside {
                                path.clone_from(&m.stable);
                                changed = true;
                            }
                        }
                    }
                }
                let referenced = owned_paths(&catalog);
                if !changed {
                    return Ok(Update::Keep(referenced));
                }
                catalog.generated_at = now_iso();
                Ok(Update::Write(catalog.to_json()?, referenced))
            })
            .await?;
        stale.extend(moved.into_iter().map(|m| m.beside));
    }
    // The catalog no longer names these (or never did): no reader can reach them.
    for path in stale {
        if !referenced.contains(&path) {
            dest.delete(&path).await?;
        }
    }
    Ok(publication)
}

/// The catalog in `current` (a new one if there is none).
fn parse_catalog(dest: &Destination, current: Option<&[u8]>) -> Result<Catalog> {
    match current {
        Some(bytes) => Catalog::from_json(bytes)
            .with_context(|| format!("reading {CATALOG_FILE} at {}", dest.display)),
        None => Ok(Catalog::new()),
    }
}

/// Every manifest path `catalog` names.
fn owned_paths(catalog: &Catalog) -> BTreeSet<String> {
    catalog
        .manifest_paths()
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Fetches and parses one index file. The GRIB2 file's size (a HEAD) bounds every record:
/// NOAA needs it for the last message's length, and a record of either format ending past it
/// means the index is stale, so the whole file is reported and skipped.
async fn fetch_index(client: &HttpClient, product: &dyn Product, file: &IndexFile) -> IndexResult {
    let describe = |e: FetchError| {
        if e.is_not_found() {
            "not published (404)".to_string()
        } else {
            e.to_string()
        }
    };
    let text = async {
        let bytes = client
            .get_object(&file.index_url, ObjectKind::Index)
            .await
            .map_err(describe)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{}: not UTF-8 text", file.index_url))
    };
    let size = async { client.head_size(&file.grib_url).await.map_err(describe) };
    let (text, size) = futures::join!(text, size);
    let (text, size) = (text?, size?);
    product
        .index_format()
        .parse(&text, &file.index_url, Some(size))
        .map_err(|e| format!("{e} (GRIB2 file {})", file.grib_url))
}
