//! `gik`: the command line of the Grib-Index-Kerchunk toolkit.
//!
//! This file turns arguments into typed plans and wires subcommands to their modules; formats
//! and products live in `gik-core`. Errors become `anyhow` errors here (and only here) and a
//! non-zero exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use gik_core::product::sources::bases as public_bases;
use gik_core::product::{
    all_products, parse_members, parse_steps, product_by_name, public_source_of, select_variables,
    Hosts, Product,
};
use gik_core::time::RunTime;

use gik_builder::build::{build_run, BuildPlan, BuildReport};
use gik_builder::destination::Destination;
use gik_builder::http::{HttpClient, RetryConfig};
use gik_builder::progress::Progress;
use gik_builder::sources::{describe_summary, split_list, SourceSet};
use gik_builder::{clock, doctor, inspect, latest, tasks, validate};

/// Grib-Index-Kerchunk: ensemble forecast manifests from GRIB2 index files.
#[derive(Parser, Debug)]
#[command(name = "gik", version, about)]
struct Cli {
    /// Log lines as JSON (for CI and batch engines).
    #[arg(long, global = true, env = "GIK_LOG_JSON")]
    log_json: bool,
    /// No progress bar.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every message of a GRIB2 file (offset, length, name, level, step, member, packing,
    /// grid, min/max/mean), or every record of an index file (`.idx`, `.index`).
    Inspect {
        /// A GRIB2 file, or an index file.
        file: PathBuf,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Build one run's member manifests (or a backfill) and publish them with the catalog.
    Build(Box<BuildArgs>),
    /// Print the newest run whose index files are all published.
    Latest {
        #[command(flatten)]
        source: SourceArgs,
        /// Pretend the current time is this (`YYYYMMDDHH`), for tests and replays.
        #[arg(long, env = "GIK_NOW")]
        now: Option<String>,
        /// How many runs back to probe.
        #[arg(long, default_value_t = 8)]
        max_runs: usize,
    },
    /// Read the messages a job needs (variables, steps, members, box) from a run's manifests
    /// and write them, cropped, to one CF NetCDF-4 file. Presets: cgan, rain-probability.
    #[cfg(feature = "stream")]
    Stream(Box<gik_builder::stream::StreamArgs>),
    /// Check each source of each product (needs internet): newest complete run, HEAD, one
    /// message read with a Range GET from a browser's origin (206? CORS?), latency,
    /// throughput, and the message decoded against its index. Prints a table; exits non-zero
    /// when a product has no source a browser can read.
    Doctor(DoctorArgs),
    /// Check a published manifest: structure, and every reference inside its file.
    Validate {
        /// Manifest path or http(s) URL.
        manifest: String,
        /// Also read every referenced range and check it is exactly one GRIB2 message.
        #[arg(long)]
        deep: bool,
        /// Requests in flight.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
}

#[derive(Args, Debug)]
struct SourceArgs {
    /// Product: gefs or ecmwf.
    #[arg(long)]
    product: String,
    /// Base URLs of mirrors of the product's files, tried in order per request (repeat the
    /// option or give a comma list; default: the product's public sources, see `gik doctor`).
    /// `GIK_SOURCE` (one URL) is read too.
    #[arg(long = "source", env = "GIK_SOURCES", value_delimiter = ',')]
    sources: Vec<String>,
    /// Base URL the manifests record for every message (default: the first --source, or the
    /// product's public bucket without --source), whichever source served the build.
    #[arg(long)]
    canonical: Option<String>,
    /// Read from the sources this `gik doctor --json` report found usable by the builder (in
    /// its order), unless --source is given; a report without any keeps the public sources.
    #[arg(long, env = "GIK_DOCTOR")]
    doctor: Option<PathBuf>,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[derive(Args, Debug)]
struct BuildArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Run date `YYYYMMDD` (with --latest: not needed).
    #[arg(long, required_unless_present = "latest")]
    date: Option<String>,
    /// Run hour: 00, 06, 12 or 18.
    #[arg(long, default_value = "00")]
    run: String,
    /// Build the newest complete run (probed as `gik latest` does).
    #[arg(long)]
    latest: bool,
    /// With --latest: pretend the current time is this (`YYYYMMDDHH`), for tests and replays.
    #[arg(long, env = "GIK_NOW")]
    now: Option<String>,
    /// Members: `all`, names (`gec00,gep01`, `control,ens01`), numbers or ranges (`0-10`).
    #[arg(long, default_value = "all")]
    members: String,
    /// Variables, comma-separated, in the product's vocabulary (default: the product's set).
    #[arg(long, value_delimiter = ',')]
    vars: Vec<String>,
    /// Steps: `all`, `0-48`, `0-240/6`, `24,48`.
    #[arg(long, default_value = "all")]
    steps: String,
    /// Destination: folder, file://, s3://bucket/prefix or gs://bucket/prefix.
    #[arg(long)]
    out: String,
    /// Also build the N days before --date (same run hour).
    #[arg(long, default_value_t = 0)]
    days_back: u32,
    /// This task's share of a backfill (0-based). Also read from CLOUD_RUN_TASK_INDEX,
    /// JOB_COMPLETION_INDEX (Kubernetes) or AWS_BATCH_JOB_ARRAY_INDEX.
    #[arg(long)]
    task_index: Option<usize>,
    /// Number of tasks sharing a backfill. Also read from CLOUD_RUN_TASK_COUNT.
    #[arg(long)]
    task_count: Option<usize>,
    /// Runs kept per product in the catalog; older ones are dropped (0: keep all). The run
    /// just built is never dropped, even when older: the next build drops it.
    #[arg(long, default_value_t = 0)]
    keep_runs: usize,
    /// Replace the published run even if it is more complete than this build (by default a
    /// rebuild that would lose members, steps or variables leaves the published run in place).
    #[arg(long)]
    force: bool,
    /// Also publish the regional subset NAME (repeatable; `east-africa`): its messages cropped
    /// to the box as GRIB2 files beside the manifests, with manifests of their own.
    #[arg(long = "subset", value_name = "NAME")]
    subsets: Vec<String>,
    /// The subsets' variables in the product's vocabulary (default: each subset's own set,
    /// precipitation and 2 m temperature for `east-africa`).
    #[arg(long, value_delimiter = ',')]
    subset_vars: Vec<String>,
    /// Also append each run to the virtual Icechunk repository in this folder (one commit per
    /// run, along `init_time`; chunks reference the source buckets).
    #[cfg(feature = "icechunk")]
    #[arg(long)]
    icechunk: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json, cli.quiet);
    let result = match cli.command {
        Command::Inspect { file, json } => inspect::run(&file, json),
        Command::Build(args) => runtime().and_then(|rt| rt.block_on(run_build(*args, cli.quiet))),
        Command::Latest {
            source,
            now,
            max_runs,
        } => runtime().and_then(|rt| rt.block_on(run_latest(source, now, max_runs))),
        #[cfg(feature = "stream")]
        Command::Stream(args) => {
            runtime().and_then(|rt| rt.block_on(gik_builder::stream::run_cli(*args, cli.quiet)))
        }
        Command::Doctor(args) => runtime().and_then(|rt| rt.block_on(run_doctor(args))),
        Command::Validate {
            manifest,
            deep,
            concurrency,
        } => runtime().and_then(|rt| rt.block_on(run_validate(&manifest, deep, concurrency))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gik: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging(json: bool, quiet: bool) {
    use std::io::IsTerminal;
    let default = if quiet || std::io::stderr().is_terminal() {
        "warn"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GIK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The sources of `args`: `--source` / `GIK_SOURCES` / `GIK_SOURCE`, else those `--doctor`
/// found usable, else the product's public sources; URLs are written under `--canonical`, else
/// the product's public bucket when the first source is a public one, else the first source.
fn open_sources(args: &SourceArgs) -> Result<Arc<SourceSet>> {
    let mut given = split_list(&args.sources);
    if given.is_empty() {
        if let Ok(one) = std::env::var("GIK_SOURCE") {
            given = split_list(&[one]);
        }
    }
    let public = product_by_name(&args.product, &Hosts::default())?;
    if given.is_empty() {
        if let Some(path) = &args.doctor {
            given = doctor::builder_sources_from(path, public.name())?;
            if given.is_empty() {
                tracing::warn!(
                    report = %path.display(),
                    "no source passed the doctor's checks; trying the public sources"
                );
            }
        }
    }
    let bases: Vec<String> = if given.is_empty() {
        public_bases(public.public_sources())
    } else {
        given
    };
    // Public sources are interchangeable: URLs on any of them are written on the product's
    // public bucket. A private mirror first in the list is its own canonical base.
    let canonical = args.canonical.as_deref().or_else(|| {
        bases
            .first()
            .and_then(|first| {
                public_source_of(public.public_sources(), first.trim_end_matches('/'))
            })
            .map(|_| public.default_host())
    });
    Ok(Arc::new(SourceSet::new(&bases, canonical)?))
}

/// The product with its URLs written under the sources' canonical base.
fn open_product(args: &SourceArgs, sources: &SourceSet) -> Result<Box<dyn Product>> {
    let hosts = Hosts::default().with(&args.product, sources.canonical());
    Ok(product_by_name(&args.product, &hosts)?)
}

/// A client for `args` reading from `sources`.
fn open_client(args: &SourceArgs, sources: &Arc<SourceSet>) -> Result<HttpClient> {
    Ok(HttpClient::new(args.concurrency, RetryConfig::default())?.with_sources(sources.clone()))
}

/// `--now` (`YYYYMMDDHH`) if given, else the clock's current hour.
fn now_or_clock(now: Option<&str>) -> Result<RunTime> {
    match now {
        Some(t) => t
            .parse::<RunTime>()
            .with_context(|| format!("--now / GIK_NOW {t:?}")),
        None => Ok(clock::now_hour()),
    }
}

async fn run_latest(source: SourceArgs, now: Option<String>, max_runs: usize) -> Result<()> {
    let sources = open_sources(&source)?;
    let product = open_product(&source, &sources)?;
    let client = open_client(&source, &sources)?;
    let now = now_or_clock(now.as_deref())?;
    let run = latest::latest_complete_run(product.as_ref(), &client, now, max_runs).await?;
    println!("{} {}", run.date_string(), run.hour_string());
    Ok(())
}

/// `gik doctor`'s arguments.
#[derive(Args, Debug)]
struct DoctorArgs {
    /// Products to check (repeat; default: all).
    #[arg(long = "product")]
    products: Vec<String>,
    /// Sources to check instead of the product's public ones (repeat or comma list; with
    /// exactly one --product).
    #[arg(long = "source", value_delimiter = ',')]
    sources: Vec<String>,
    /// Also write the report as JSON to this file (`-`: standard output, instead of the
    /// table).
    #[arg(long)]
    json: Option<PathBuf>,
    /// The Origin header of the browser-like request.
    #[arg(long, default_value = gik_builder::doctor::DEFAULT_ORIGIN)]
    origin: String,
    /// Pretend the current time is this (`YYYYMMDDHH`), for tests and replays.
    #[arg(long, env = "GIK_NOW")]
    now: Option<String>,
    /// How many runs back to probe for the newest complete run.
    #[arg(long, default_value_t = 4)]
    max_runs: usize,
}

async fn run_doctor(args: DoctorArgs) -> Result<()> {
    let products: Vec<Box<dyn Product>> = if args.products.is_empty() {
        all_products()
    } else {
        args.products
            .iter()
            .map(|name| product_by_name(name, &Hosts::default()))
            .collect::<Result<_, _>>()?
    };
    let given = split_list(&args.sources);
    if !given.is_empty() && products.len() != 1 {
        bail!("--source needs exactly one --product (the sources are that product's)");
    }
    let plan: Vec<(String, Vec<String>)> = products
        .iter()
        .map(|product| {
            let bases = if given.is_empty() {
                public_bases(product.public_sources())
            } else {
                given.clone()
            };
            (product.name().to_string(), bases)
        })
        .collect();
    let mut options = doctor::DoctorOptions::new(now_or_clock(args.now.as_deref())?);
    options.origin = args.origin;
    options.max_runs = args.max_runs;
    let report = doctor::doctor(&plan, &options).await?;
    let json = serde_json::to_string_pretty(&report)?;
    match &args.json {
        Some(path) if path.as_os_str() == "-" => println!("{json}"),
        Some(path) => {
            print!("{}", doctor::table(&report));
            let partial = path.with_extension("json.partial");
            std::fs::write(&partial, json.as_bytes())
                .and_then(|()| std::fs::rename(&partial, path))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => print!("{}", doctor::table(&report)),
    }
    if !report.app_can_draw {
        bail!("a product has no source a browser can read (see the table)");
    }
    Ok(())
}

async fn run_validate(location: &str, deep: bool, concurrency: usize) -> Result<()> {
    let client = HttpClient::new(concurrency, RetryConfig::default())?;
    let v = validate::validate(&client, location, deep).await?;
    if v.problems.is_empty() {
        println!("{location}: ok ({} references checked)", v.references);
        return Ok(());
    }
    for p in &v.problems {
        println!("{location}: {p}");
    }
    bail!("{location}: {} problem(s)", v.problems.len())
}

async fn run_build(args: BuildArgs, quiet: bool) -> Result<()> {
    let sources = open_sources(&args.source)?;
    let client = open_client(&args.source, &sources)?;
    let runs = runs_to_build(&args, &sources, &client).await?;
    if runs.is_empty() {
        return Ok(());
    }
    let dest = Destination::open(&args.out)?;
    let progress = Progress::new(quiet);
    let mut failed = Vec::new();
    for run in runs {
        let plan = build_plan(&args, &sources, run)?;
        let report = build_run(&plan, &client, &dest, &progress)
            .await
            .with_context(|| format!("{} {run}", plan.product.name()))?;
        print_build(&plan, &report, &client);
        #[cfg(feature = "icechunk")]
        if let (Some(repo), None) = (&args.icechunk, &report.kept_published) {
            append_icechunk(repo, &plan, &report).await?;
        }
        print_publication(&plan, &report);
        if !report.missing.is_empty() {
            failed.push(run);
        }
    }
    for line in describe_summary(&sources.summary()) {
        println!("  {line}");
    }
    if !failed.is_empty() {
        bail!(
            "{} run(s) incomplete: {:?}",
            failed.len(),
            failed.iter().map(ToString::to_string).collect::<Vec<_>>()
        );
    }
    Ok(())
}

/// The runs this task builds: `--date`/`--run` (or the newest complete run with `--latest`)
/// and the `--days-back` days before it, this task's share of them. Says so when the share is
/// empty.
async fn runs_to_build(
    args: &BuildArgs,
    sources: &SourceSet,
    client: &HttpClient,
) -> Result<Vec<RunTime>> {
    let first = if args.latest {
        let product = open_product(&args.source, sources)?;
        let now = now_or_clock(args.now.as_deref())?;
        latest::latest_complete_run(product.as_ref(), client, now, 8).await?
    } else {
        let date = args.date.as_deref().context("--date is required")?;
        RunTime::parse(date, &args.run)?
    };
    let runs: Vec<RunTime> = (0..=i64::from(args.days_back))
        .map(|d| first.days_before(d))
        .collect();
    let share = tasks::TaskShare::from_args_or_env(args.task_index, args.task_count)?;
    let runs = share.select(&runs);
    if runs.is_empty() {
        println!("task {share}: nothing to do");
    }
    Ok(runs)
}

/// The plan of one run. Each run is planned on its own: ECMWF's steps and members depend on
/// the run.
fn build_plan(args: &BuildArgs, sources: &SourceSet, run: RunTime) -> Result<BuildPlan> {
    let product = open_product(&args.source, sources)?;
    let var_refs: Vec<&str> = args.vars.iter().map(String::as_str).collect();
    let subset_vars: Vec<&str> = args.subset_vars.iter().map(String::as_str).collect();
    Ok(BuildPlan {
        members: parse_members(product.as_ref(), &args.members)?,
        variables: select_variables(product.as_ref(), &var_refs)?,
        steps: parse_steps(product.as_ref(), run, &args.steps)?,
        run,
        keep_runs: args.keep_runs,
        force: args.force,
        subsets: args
            .subsets
            .iter()
            .map(|name| gik_builder::subset::SubsetPlan::new(name, product.as_ref(), &subset_vars))
            .collect::<Result<_>>()?,
        product,
    })
}

/// What a run's build found and wrote: one line, then one per subset.
fn print_build(plan: &BuildPlan, report: &BuildReport, client: &HttpClient) {
    let stats = client.stats();
    let requested = plan.members.len() * plan.steps.len();
    println!(
        "{} {}: {} members written; {}/{requested} member-steps found, {} missing; \
         {:.1} MB referenced; {} requests ({} retries); {:.1?}",
        plan.product.name(),
        plan.run,
        report.members_written,
        report.found,
        report.missing.len(),
        report.bytes_referenced as f64 / 1e6,
        stats.requests.load(std::sync::atomic::Ordering::Relaxed),
        stats.retries.load(std::sync::atomic::Ordering::Relaxed),
        report.elapsed
    );
    for (name, read, written, members) in &report.subsets {
        println!(
            "  subset {name}: {members} members; read {:.1} MB, wrote {:.2} MB",
            *read as f64 / 1e6,
            *written as f64 / 1e6
        );
    }
}

/// `--icechunk`: appends the run's references to the repository.
#[cfg(feature = "icechunk")]
async fn append_icechunk(repo: &str, plan: &BuildPlan, report: &BuildReport) -> Result<()> {
    let (product, run) = (plan.product.as_ref(), plan.run);
    let ice = gik_builder::icechunk::write_run(repo, product, run, &report.messages)
        .await
        .with_context(|| format!("{} {run}: Icechunk repository {repo}", product.name()))?;
    println!(
        "  icechunk {repo}: {} virtual references, commit {} ({} attempt(s))",
        ice.references, ice.snapshot, ice.attempts
    );
    Ok(())
}

/// What the catalog did with the run (kept the published one, dropped old runs) and the first
/// 50 missing messages.
fn print_publication(plan: &BuildPlan, report: &BuildReport) {
    if let Some(lost) = &report.kept_published {
        println!(
            "  not published: {lost}; the published run was kept and this build's \
             manifests removed (--force replaces it)"
        );
    }
    if report.beyond_keep {
        println!(
            "  kept although older than the newest {} runs (--keep-runs): it was just \
             built; the next build drops it",
            plan.keep_runs
        );
    }
    if !report.dropped_runs.is_empty() {
        println!(
            "  dropped (--keep-runs {}): {}",
            plan.keep_runs,
            report.dropped_runs.join(", ")
        );
    }
    for m in report.missing.iter().take(50) {
        let step = m.step.map_or(String::new(), |s| format!(" f{s:03}"));
        println!("  missing: {}{step}: {}", m.member, m.reason);
    }
    if report.missing.len() > 50 {
        println!("  ... and {} more", report.missing.len() - 50);
    }
}
