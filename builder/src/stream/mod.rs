//! `gik stream`: the messages a job needs, read straight from the buckets into one NetCDF file.
//!
//! Why: a forecaster's daily job needs a few variables, a few steps and a box — megabytes out of
//! the hundreds of gigabytes a run publishes. The manifests already say where every message is,
//! so this module plans exactly which messages to read, range-reads them concurrently through
//! the builder's [`HttpClient`] (bounded, retried, 404s reported at once), decodes each with
//! `gik-core`, crops it to the box *as soon as it is decoded* and hands the small field to the
//! NetCDF writer. No global field outlives its decode, so memory stays flat whatever the member
//! count.
//!
//! The flow:
//!
//! 1. **Plan** ([`StreamArgs`] → `Plan`, in `plan`): the catalog (`catalog.json`, a folder or an
//!    http(s) URL) gives the run's manifests, relative to the catalog; presets ([`presets`]) fill
//!    in what the user left out; variables, steps, members and windows are checked against the
//!    product before anything large is read.
//! 2. **Manifests** ([`CatalogLocation`], in `source`): for several members the run's ensemble
//!    manifest (one file, every member in it), else (or when the run has none, or it cannot be
//!    read) one small parquet per member; they give the grid (for the output lattice) and each
//!    message's `[url, offset, length]`. With `--source`, URLs are re-rooted on the first mirror
//!    ([`gik_core::product::reroot_url`]) and read from the mirrors in turn
//!    ([`crate::sources`]).
//! 3. **Pipeline** (`jobs`, `rain`): one task per message (`--concurrency` in flight), decoding on a pool the
//!    size of the machine, cropping with [`gik_core::geo::CropMap`]; fields go to the writer thread
//!    ([`netcdf_out::Writer`]) or, for rainfall windows, to an accumulator that combines them
//!    with [`gik_core::product::AccumulationPlan::combine`] and counts exceedances with
//!    [`gik_core::stats::EnsembleAccumulator`].
//! 4. **Publish** (`attributes`): attributes listing what was missing, then the partial file is renamed.
//!
//! A message that cannot be had (404, not in the manifest, undecodable) is reported by
//! variable, member and step; its field stays NaN and the variable's `gik_missing` attribute
//! lists it. With `--strict` the first such message fails the command and no file is left.

mod args;
mod attributes;
mod from_subset;
mod jobs;
pub mod netcdf_out;
mod plan;
pub mod presets;
mod rain;
mod report;
mod source;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use futures::stream::{self as futures_stream, StreamExt};
use gik_core::geo::OutputGrid;
use gik_core::manifest::ByteRange;

use crate::http::{HttpClient, RetryConfig};
use crate::progress::Progress;

pub use args::StreamArgs;
pub use report::{group_missing, MissingMessage, StreamReport};
pub use source::{CatalogLocation, ReadError};

use jobs::{read_field, Asked, DecodePool, JobError, JobList};
use netcdf_out::{AttrValue, Attrs, Layout, Writer};
use plan::{Mode, Plan, Planned};
use source::MemberToRead;

/// `gik stream` as the command line runs it: a client, a progress bar, the stream, a summary.
pub async fn run_cli(args: StreamArgs, quiet: bool) -> Result<()> {
    let client = source::client_with_sources(
        &HttpClient::new(args.concurrency, RetryConfig::default())?,
        &args.sources,
    )?;
    let progress = Progress::new(quiet);
    let report = stream(&args, &client, &progress).await?;
    if let Some(sources) = client.sources() {
        for line in crate::sources::describe_summary(&sources.summary()) {
            println!("  {line}");
        }
    }
    let groups = group_missing(&report.missing);
    for line in groups.iter().take(50) {
        println!("  missing: {line}");
    }
    if groups.len() > 50 {
        println!("  ... and {} more", groups.len() - 50);
    }
    println!("{}", report.summary());
    Ok(())
}

/// Runs a stream: plans it, reads the catalog and manifests, reads the messages and writes
/// `args.out`. Missing messages are in the report (and in the file's attributes); with
/// `args.strict` any missing message is an error and no file is written.
pub async fn stream(
    args: &StreamArgs,
    client: &HttpClient,
    progress: &Progress,
) -> Result<StreamReport> {
    let start = Instant::now();
    let location = CatalogLocation::parse(&args.catalog);
    let catalog = location.catalog(client).await?;
    let Planned {
        plan,
        entry,
        catalog_attribution,
    } = plan::make_plan(args, &catalog)?;
    let names = Names::of(&plan);
    let what = format!("{} {}", plan.product.name(), plan.run);
    let subset = from_subset::choose_for(&plan, &entry, &names.members);
    let entry = subset.as_ref().map_or(entry, |s| s.entry.clone());

    progress.stage(&format!("{what}: manifests"), names.members.len() as u64);
    let to_read: Vec<MemberToRead<'_>> = plan
        .members
        .iter()
        .zip(&names.members)
        .map(|(m, name)| MemberToRead {
            number: u32::from(m.number()),
            name,
        })
        .collect();
    let manifests = source::read_manifests(client, &location, &entry, &to_read).await;
    progress.finish_stage();

    let grid = OutputGrid::new(&plan.bbox, plan::output_lattice(&plan, &manifests)?)?;
    let mut jobs = JobList::new(&plan, &manifests, grid.points());
    let client = &source::client_with_sources(client, &args.sources)?;
    let hosts = locate_messages(&mut jobs, &plan, subset.is_some(), &location, client, args);
    if args.strict {
        refuse_known_missing(&jobs, &names)?;
    }

    let global =
        attributes::global_attrs(args, &plan, &location, &grid, &hosts, catalog_attribution);
    let (writer, out_names) = start_writer(args, &plan, &names, &mut jobs, &grid, global)?;

    progress.stage(&format!("{what}: messages"), jobs.jobs.len() as u64);
    let tally = read_all(args, client, progress, &mut jobs, grid, &writer, &names).await;
    progress.finish_stage();
    let mut tally = match tally {
        Ok(t) => t,
        Err(e) => {
            writer.abort().await.ok();
            return Err(e);
        }
    };
    names.sort(&mut tally.missing);
    write_missing_attrs(&plan, &names, &tally.missing, &writer).await?;
    let path = writer.commit().await?;
    Ok(StreamReport {
        path,
        product: plan.product.name().to_string(),
        run: plan.run,
        messages: jobs.jobs.len(),
        read: tally.read,
        missing: tally.missing,
        bytes: tally.bytes,
        elapsed: start.elapsed(),
        variables: out_names,
        subset: subset.map(|s| s.name),
    })
}

/// Makes every job's URL one to read from: a subset's relative paths are made absolute
/// against the catalog (`from_subset`: a subset is read where the catalog is); otherwise, with
/// `--source`, bucket URLs are re-rooted on the first mirror. Returns the (at most four) hosts
/// the messages will be read from.
fn locate_messages(
    jobs: &mut JobList,
    plan: &Plan,
    from_subset: bool,
    location: &CatalogLocation,
    client: &HttpClient,
    args: &StreamArgs,
) -> BTreeSet<String> {
    if from_subset {
        from_subset::localise(jobs, location);
        return jobs.reroot(plan, None);
    }
    let first_source = client
        .sources()
        .filter(|_| !args.sources.is_empty())
        .map(|s| s.canonical().to_string());
    jobs.reroot(plan, first_source.as_deref())
}

/// Starts writing `args.out`: its axes (taken from `jobs`), its variables and the `global`
/// attributes. Returns the writer and the output variables' names.
fn start_writer(
    args: &StreamArgs,
    plan: &Plan,
    names: &Names,
    jobs: &mut JobList,
    grid: &OutputGrid,
    global: Attrs,
) -> Result<(Writer, Vec<String>)> {
    let variables = attributes::variable_defs(plan, &jobs.not_applicable);
    let out_names: Vec<String> = variables.iter().map(|v| v.name.clone()).collect();
    let layout = Layout {
        run: plan.run,
        members: plan
            .members
            .iter()
            .zip(&names.members)
            .map(|(m, n)| (m.number(), n.clone()))
            .collect(),
        steps: std::mem::take(&mut jobs.steps),
        step_bounds: jobs.step_bounds.take(),
        grid: grid.clone(),
        thresholds: std::mem::take(&mut jobs.thresholds),
        variables,
        global_attrs: global,
        deflate: args.deflate,
    };
    Ok((Writer::start(&args.out, layout)?, out_names))
}

/// Output variable and member names, for reports.
struct Names {
    vars: Vec<String>,
    members: Vec<String>,
}

impl Names {
    fn of(plan: &Plan) -> Self {
        Self {
            vars: plan.source_vars().iter().map(|v| v.name.clone()).collect(),
            members: plan
                .members
                .iter()
                .map(|m| plan.product.member_name(*m))
                .collect(),
        }
    }

    fn missing(&self, job: &jobs::Job, reason: String) -> MissingMessage {
        MissingMessage {
            variable: self.vars.get(job.var).cloned().unwrap_or_default(),
            member: self.members.get(job.member).cloned().unwrap_or_default(),
            step: job.step,
            reason,
        }
    }

    /// Sorts missing messages by variable, member (plan order) and step.
    fn sort(&self, missing: &mut [MissingMessage]) {
        let member_order: HashMap<&str, usize> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        missing.sort_by_key(|m| {
            (
                self.vars.iter().position(|v| *v == m.variable),
                member_order.get(m.member.as_str()).copied(),
                m.step,
            )
        });
    }
}

/// `--strict`: fails, before anything is read, when the manifests already say a message is
/// missing.
fn refuse_known_missing(jobs: &JobList, names: &Names) -> Result<()> {
    let known: Vec<MissingMessage> = jobs
        .jobs
        .iter()
        .filter_map(|j| {
            j.source
                .as_ref()
                .err()
                .map(|r| names.missing(j, r.to_string()))
        })
        .collect();
    if known.is_empty() {
        return Ok(());
    }
    bail!(
        "--strict: {} message(s) missing, nothing written; first: {}",
        known.len(),
        known
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// What reading the messages gave.
#[derive(Default)]
struct Tally {
    read: usize,
    bytes: u64,
    missing: Vec<MissingMessage>,
}

/// Reads every job's message (`--concurrency` in flight), decodes and crops it on a pool the
/// size of the machine, and hands each field to the writer (through the rainfall windows when
/// there are some).
async fn read_all(
    args: &StreamArgs,
    client: &HttpClient,
    progress: &Progress,
    jobs: &mut JobList,
    grid: OutputGrid,
    writer: &Writer,
    names: &Names,
) -> Result<Tally> {
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = DecodePool::new(parallelism, Arc::new(grid))?;
    // Jobs already known to be missing have nothing to read: their reason stays in the job.
    let sources: Vec<Option<(ByteRange, Asked)>> = jobs
        .jobs
        .iter()
        .map(|j| j.source.as_ref().ok().map(|r| (r.clone(), j.asked.clone())))
        .collect();
    let mut results = futures_stream::iter(sources.into_iter().enumerate())
        .map(|(i, source)| {
            let task = source.map(|(loc, asked)| {
                let client = client.clone();
                let decoder = pool.sender();
                tokio::spawn(async move {
                    read_field(&client, &loc, asked, decoder)
                        .await
                        .map(|f| (f, loc.length))
                })
            });
            async move {
                let result = match task {
                    Some(task) => Some(task.await.unwrap_or_else(|e| Err(JobError::TaskFailed(e)))),
                    None => None,
                };
                (i, result)
            }
        })
        .buffer_unordered(args.concurrency.max(1));
    let mut tally = Tally::default();
    while let Some((i, result)) = results.next().await {
        progress.inc(1);
        let job = jobs.jobs.get(i).ok_or_else(|| anyhow!("no job {i}"))?;
        let outcome = match (result, &job.source) {
            (Some(read), _) => read.map_err(|e| e.to_string()),
            (None, Err(known)) => Err(known.to_string()),
            (None, Ok(_)) => bail!("job {i} was not read"),
        };
        let field = match outcome {
            Ok((field, length)) => {
                tally.read += 1;
                tally.bytes += length;
                Some(field)
            }
            Err(reason) => {
                let m = names.missing(job, reason);
                tracing::debug!(missing = %m, "message missing");
                if args.strict {
                    bail!("--strict: message missing, nothing written: {m}");
                }
                tally.missing.push(m);
                None
            }
        };
        match jobs.rain.as_mut() {
            None => {
                if let Some(field) = field {
                    writer
                        .put(job.var, [job.member, job.step_index], field)
                        .await?;
                }
            }
            Some(state) => {
                for (var, outer, values) in state.add(job.member, job.step, field)? {
                    writer.put(var, outer, values).await?;
                }
            }
        }
    }
    Ok(tally)
}

/// The attributes naming what is missing: per variable for fields, on both variables for
/// rainfall windows.
async fn write_missing_attrs(
    plan: &Plan,
    names: &Names,
    missing: &[MissingMessage],
    writer: &Writer,
) -> Result<()> {
    match &plan.mode {
        Mode::Fields { .. } => {
            for (v, name) in names.vars.iter().enumerate() {
                let mine: Vec<&MissingMessage> =
                    missing.iter().filter(|m| &m.variable == name).collect();
                writer
                    .set_attrs(v, attributes::missing_attrs(&mine))
                    .await?;
            }
        }
        Mode::Rain { .. } => {
            let all: Vec<&MissingMessage> = missing.iter().collect();
            writer.set_attrs(0, attributes::missing_attrs(&all)).await?;
            let members: BTreeSet<&str> = all.iter().map(|m| m.member.as_str()).collect();
            let attrs = vec![
                (
                    "gik_members_missing".to_string(),
                    AttrValue::from(members.into_iter().collect::<Vec<_>>().join(", ")),
                ),
                ("gik_missing_count".into(), (all.len() as i64).into()),
            ];
            writer.set_attrs(1, attrs).await?;
        }
    }
    Ok(())
}
