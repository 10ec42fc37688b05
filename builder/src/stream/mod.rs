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
//! 1. **Plan** ([`StreamArgs`] → `Plan`): the catalog (`catalog.json`, a folder or an http(s)
//!    URL) gives the run's member manifests, relative to the catalog; presets
//!    ([`presets`]) fill in what the user left out; variables, steps, members and windows are
//!    checked against the product before anything large is read.
//! 2. **Manifests**: one small parquet per member; they give the grid (for the output lattice)
//!    and each message's `[url, offset, length]`. With `--source`, URLs are re-rooted on a
//!    mirror ([`UrlPrefix`]).
//! 3. **Pipeline**: one task per message (`--concurrency` in flight), decoding on a pool the
//!    size of the machine, cropping with [`crop::CropMap`]; fields go to the writer thread
//!    ([`netcdf_out::Writer`]) or, for rainfall windows, to an accumulator that combines them
//!    with [`gik_core::product::AccumulationPlan::combine`] and counts exceedances with
//!    [`gik_core::stats::EnsembleAccumulator`].
//! 4. **Publish**: attributes listing what was missing, then the partial file is renamed.
//!
//! A message that cannot be had (404, not in the manifest, undecodable) is reported by
//! variable, member and step; its field stays NaN and the variable's `gik_missing` attribute
//! lists it. With `--strict` the first such message fails the command and no file is left.

pub mod crop;
pub mod netcdf_out;
pub mod presets;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures::stream::{self, StreamExt};
use gik_core::catalog::{Catalog, RunEntry, CATALOG_FILE};
use gik_core::grib;
use gik_core::manifest::Reference;
use gik_core::member::{ChunkLocation, MemberManifest};
use gik_core::product::{
    parse_members, parse_steps, precipitation_plan, product_by_name, AccumulationKind,
    AccumulationPlan, Hosts, Member, Product, StepType, VariableSpec,
};
use gik_core::stats::EnsembleAccumulator;
use gik_core::time::RunTime;
use tokio::sync::oneshot;

use crate::http::{HttpClient, RetryConfig};
use crate::progress::Progress;

use crop::{BBox, CropMap, Lattice, OutputGrid};
use netcdf_out::{AttrValue, Attrs, Layout, VarDef, VarDims, Writer};
use presets::Preset;

/// Missing messages listed in full in a variable's `gik_missing` attribute; more are counted.
const MISSING_LISTED: usize = 500;

/// `gik stream`: read the messages of a run that a job needs, crop them to a box and write
/// one CF NetCDF-4 file.
///
/// Examples:
///
/// ```text
/// gik stream --catalog https://host/gik --preset cgan --date 20250801 --out cgan.nc
/// gik stream --catalog ./published --product gefs --preset rain-probability --out rain.nc
/// gik stream --catalog ./published --product gefs --vars "TMP:2 m above ground" \
///            --steps 0-48 --members 0-4 --bbox=-12,23,21,53 --out t2m.nc
/// ```
#[derive(clap::Parser, Debug, Clone)]
pub struct StreamArgs {
    /// The catalog: a folder or http(s) URL holding catalog.json, or the catalog file itself.
    #[arg(long)]
    pub catalog: String,
    /// Product: gefs or ecmwf (the cgan preset implies ecmwf).
    #[arg(long)]
    pub product: Option<String>,
    /// Run date YYYYMMDD (default: the newest run of the product in the catalog).
    #[arg(long)]
    pub date: Option<String>,
    /// Run hour: 00, 06, 12 or 18 (default 00 with --date).
    #[arg(long)]
    pub run: Option<String>,
    /// A named request: cgan or rain-probability. Explicit options win over the preset's.
    #[arg(long)]
    pub preset: Option<Preset>,
    /// Variables, comma-separated, in the product's vocabulary (default: all in the catalog).
    #[arg(long, value_delimiter = ',')]
    pub vars: Vec<String>,
    /// Steps: `all`, `0-48`, `0-240/6`, `24,48` (default: the steps in the catalog).
    #[arg(long)]
    pub steps: Option<String>,
    /// Members: `all`, names, numbers or ranges (default: the members in the catalog; presets:
    /// all).
    #[arg(long)]
    pub members: Option<String>,
    /// Box `S,N,W,E` in degrees, e.g. `-12,23,21,53` (longitudes −180…180 or 0…360; W > E
    /// crosses 180°). Default: the preset's, else the whole globe.
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    /// Exceedance thresholds in mm (rain-probability; default 1,5,10,25,50).
    #[arg(long, value_delimiter = ',')]
    pub thresholds: Vec<f32>,
    /// Only the 24-hour window ending at this step (rain-probability).
    #[arg(long, conflicts_with = "windows")]
    pub window_end: Option<u32>,
    /// Windows (rain-probability): window ends (`24,48`) or `A-B` windows; default every 24-h
    /// window from 0 to the last step.
    #[arg(long)]
    pub windows: Option<String>,
    /// Output NetCDF file (written as FILE.partial, then renamed).
    #[arg(long)]
    pub out: PathBuf,
    /// Read the messages from this base URL instead of the one recorded in the manifests (a
    /// mirror of the product's bucket, e.g. http://127.0.0.1:8765/ecmwf-forecasts).
    #[arg(long)]
    pub source: Option<String>,
    /// Fail, writing nothing, if any message is missing.
    #[arg(long)]
    pub strict: bool,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Deflate level of the data variables, 0 (none) to 9.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(0..=9))]
    pub deflate: u8,
}

impl StreamArgs {
    /// Parses arguments as the command line does (`args` without the program name).
    pub fn from_args<I, S>(args: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let all = std::iter::once(std::ffi::OsString::from("gik-stream"))
            .chain(args.into_iter().map(Into::into));
        Ok(Self::try_parse_from(all)?)
    }
}

/// A message that could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingMessage {
    /// Output variable name.
    pub variable: String,
    /// Member name.
    pub member: String,
    /// Step (hours).
    pub step: u32,
    /// Why.
    pub reason: String,
}

impl fmt::Display for MissingMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} f{:03}: {}",
            self.variable, self.member, self.step, self.reason
        )
    }
}

/// What a stream produced.
#[derive(Debug, Clone)]
pub struct StreamReport {
    /// The file written.
    pub path: PathBuf,
    /// Product name.
    pub product: String,
    /// The run.
    pub run: RunTime,
    /// Messages the request needed.
    pub messages: usize,
    /// Messages read and decoded.
    pub read: usize,
    /// Messages missing.
    pub missing: Vec<MissingMessage>,
    /// Bytes of GRIB2 read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Output variables.
    pub variables: Vec<String>,
}

impl StreamReport {
    /// One line for the end of a run.
    pub fn summary(&self) -> String {
        format!(
            "{} {}: {} messages ({} read, {} missing), {:.1} MB read in {:.1} s -> {} ({})",
            self.product,
            self.run,
            self.messages,
            self.read,
            self.missing.len(),
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.path.display(),
            self.variables.join(", ")
        )
    }
}

/// `gik stream` as the command line runs it: a client, a progress bar, the stream, a summary.
pub async fn run_cli(args: StreamArgs, quiet: bool) -> Result<()> {
    let client = HttpClient::new(args.concurrency, RetryConfig::default())?;
    let progress = Progress::new(quiet);
    let report = stream(&args, &client, &progress).await?;
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

// ---------------------------------------------------------------------------------------------
// Catalog and manifests.

/// Where the catalog and the manifests (paths relative to it) are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogLocation {
    /// An http(s) base URL, without a trailing slash.
    Http {
        /// Base URL of the folder holding the catalog.
        base: String,
        /// File name of the catalog.
        file: String,
    },
    /// A local folder.
    Dir {
        /// The folder holding the catalog.
        dir: PathBuf,
        /// File name of the catalog.
        file: String,
    },
}

impl CatalogLocation {
    /// A folder, a `file://` URL or an http(s) URL, of the catalog's folder or of the catalog
    /// file itself (a name ending in `.json`).
    pub fn parse(text: &str) -> Self {
        let t = text.trim();
        if t.starts_with("http://") || t.starts_with("https://") {
            let t = t.trim_end_matches('/');
            if t.ends_with(".json") {
                if let Some((base, file)) = t.rsplit_once('/') {
                    return Self::Http {
                        base: base.to_string(),
                        file: file.to_string(),
                    };
                }
            }
            return Self::Http {
                base: t.to_string(),
                file: CATALOG_FILE.to_string(),
            };
        }
        let path = PathBuf::from(t.strip_prefix("file://").unwrap_or(t));
        if path.extension().is_some_and(|e| e == "json") && !path.is_dir() {
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let file = path.file_name().map_or(CATALOG_FILE.to_string(), |f| {
                f.to_string_lossy().into_owned()
            });
            return Self::Dir { dir, file };
        }
        Self::Dir {
            dir: path,
            file: CATALOG_FILE.to_string(),
        }
    }

    /// Where `relative` is (URL or path), for messages.
    pub fn describe(&self, relative: &str) -> String {
        match self {
            Self::Http { base, .. } => format!("{base}/{relative}"),
            Self::Dir { dir, .. } => dir.join(relative).display().to_string(),
        }
    }

    /// Reads a file relative to the catalog's folder.
    pub async fn read(&self, client: &HttpClient, relative: &str) -> Result<bytes::Bytes> {
        match self {
            Self::Http { base, .. } => Ok(client.get(&format!("{base}/{relative}")).await?),
            Self::Dir { dir, .. } => {
                let path = dir.join(relative);
                let data = tokio::fs::read(&path)
                    .await
                    .with_context(|| format!("reading {}", path.display()))?;
                Ok(bytes::Bytes::from(data))
            }
        }
    }

    /// Reads and parses the catalog.
    pub async fn catalog(&self, client: &HttpClient) -> Result<Catalog> {
        let file = match self {
            Self::Http { file, .. } | Self::Dir { file, .. } => file.clone(),
        };
        let bytes = self
            .read(client, &file)
            .await
            .with_context(|| format!("reading the catalog {}", self.describe(&file)))?;
        Catalog::from_json(&bytes).with_context(|| format!("catalog {}", self.describe(&file)))
    }
}

/// The scheme + host + bucket prefix of the message URLs of one run, so that `--source` can put
/// a mirror in its place.
///
/// Rule, in order: a URL starting with the product's public host
/// ([`gik_core::product::GEFS_DEFAULT_HOST`] / [`gik_core::product::ECMWF_DEFAULT_HOST`]) has
/// that host replaced; otherwise the prefix is everything before the run's key, the first two
/// path segments the product puts after its host (`/20250801/00z/` for ECMWF,
/// `/gefs.20250801/00/` for GEFS). So a manifest built from the public bucket or from any
/// mirror can be read from any other mirror laid out like the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlPrefix {
    default_host: String,
    marker: String,
}

impl UrlPrefix {
    /// The prefix rule of `product`'s `run`.
    pub fn new(product: &str, run: RunTime) -> Result<Self> {
        const PROBE: &str = "http://gik.invalid";
        let default_host = product_by_name(product, &Hosts::default())?
            .host()
            .to_string();
        let probe = product_by_name(
            product,
            &Hosts {
                gefs: Some(PROBE.into()),
                ecmwf: Some(PROBE.into()),
            },
        )?;
        let step = probe.steps(run).first().copied().unwrap_or(0);
        let url = probe.grib_url(run, Member::Control, step)?;
        let key = url
            .strip_prefix(PROBE)
            .ok_or_else(|| anyhow!("{product}: URL {url} does not start with its host"))?;
        let segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).take(2).collect();
        if segments.len() < 2 {
            bail!("{product}: cannot tell the run's key in {url}");
        }
        Ok(Self {
            default_host,
            marker: format!("/{}/", segments.join("/")),
        })
    }

    /// The scheme + host + bucket part of `url`, if it is a URL of this run.
    pub fn prefix<'a>(&self, url: &'a str) -> Option<&'a str> {
        if url.starts_with(&self.default_host) {
            return url.get(..self.default_host.len());
        }
        url.find(&self.marker).and_then(|i| url.get(..i))
    }

    /// `url` with its prefix replaced by `base`; `None` when `url` is not a URL of this run.
    pub fn rewrite(&self, url: &str, base: &str) -> Option<String> {
        let prefix = self.prefix(url)?;
        let rest = url.get(prefix.len()..)?;
        Some(format!("{}{rest}", base.trim_end_matches('/')))
    }
}

fn read_axis(manifest: &MemberManifest, group: &str, name: &str) -> Option<Vec<f64>> {
    match manifest.manifest().get(&format!("{group}/{name}/0"))? {
        Reference::Inline(bytes) if bytes.len() % 8 == 0 => bytes
            .chunks_exact(8)
            .map(|c| <[u8; 8]>::try_from(c).ok().map(f64::from_le_bytes))
            .collect(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Planning.

/// One variable read from the manifests.
#[derive(Clone, Debug)]
struct SourceVar {
    spec: VariableSpec,
    /// Data array path in the manifests (`t2m/instant/heightAboveGround/t2m`).
    array: String,
    /// Output variable name.
    name: String,
}

enum Mode {
    Fields {
        vars: Vec<SourceVar>,
        steps: Vec<u32>,
    },
    Rain {
        var: Box<SourceVar>,
        plans: Vec<AccumulationPlan>,
        thresholds: Vec<f32>,
    },
}

struct Plan {
    product: Box<dyn Product>,
    run: RunTime,
    members: Vec<Member>,
    bbox: BBox,
    mode: Mode,
}

/// The output name of a variable: its cfgrib name, with the level for pressure levels
/// (`u700`), as the cGAN inputs name them.
fn output_name(spec: &VariableSpec) -> String {
    match (spec.type_of_level.as_str(), spec.level) {
        ("isobaricInhPa" | "isobaricInPa", Some(level)) => {
            format!("{}{}", spec.cf_name, level.round() as i64)
        }
        _ => spec.cf_name.clone(),
    }
}

/// CF standard names of the variables gik knows well enough to name.
fn standard_name(spec: &VariableSpec) -> Option<&'static str> {
    Some(match (spec.cf_name.as_str(), spec.units.as_str()) {
        ("t2m", "K") => "air_temperature",
        ("d2m", "K") => "dew_point_temperature",
        ("tp", "m") => "lwe_thickness_of_precipitation_amount",
        ("tp", "kg m**-2") => "precipitation_amount",
        ("sp", "Pa") => "surface_air_pressure",
        ("msl" | "prmsl", "Pa") => "air_pressure_at_mean_sea_level",
        ("u" | "u10", _) => "eastward_wind",
        ("v" | "v10", _) => "northward_wind",
        ("tcc", "(0 - 1)") => "cloud_area_fraction",
        ("tcwv" | "pwat", "kg m**-2") => "atmosphere_mass_content_of_water_vapor",
        ("sf", "m of water equivalent") => "lwe_thickness_of_snowfall_amount",
        ("ssrd", "J m**-2") => "integral_wrt_time_of_surface_downwelling_shortwave_flux_in_air",
        ("ssr", "J m**-2") => "integral_wrt_time_of_surface_net_downward_shortwave_flux",
        _ => return None,
    })
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
        array: format!("{}/{}", found.path, found.array),
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

fn make_plan(args: &StreamArgs, catalog: &Catalog) -> Result<(Plan, RunEntry, String)> {
    let product_name = match (
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
    let product = product_by_name(&product_name, &Hosts::default())?;
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
            RunTime::parse_compact(&newest.run)?
        }
    };
    let key = format!("{}{}", run.date_string(), run.hour_string());
    let entry = catalog
        .run(product.name(), Some(&key))
        .cloned()
        .ok_or_else(|| {
            let runs: Vec<&str> = product_entry.runs.iter().map(|r| r.run.as_str()).collect();
            anyhow!(
                "{}: run {run} is not in the catalog (runs: {})",
                product.name(),
                runs.join(", ")
            )
        })?;

    let bbox = match (&args.bbox, args.preset) {
        (Some(text), _) => text.parse::<BBox>()?,
        (None, Some(p)) => p.bbox(),
        (None, None) => BBox::new(-90.0, 90.0, -180.0, 180.0)?,
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
            .map(|&(a, b)| precipitation_plan(product.as_ref(), run, a, b))
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
        let mut var = resolve_var(product.as_ref(), &entry, variable)?;
        var.name = "precipitation".into();
        Mode::Rain {
            var: Box::new(var),
            plans,
            thresholds,
        }
    } else {
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
            let var = resolve_var(product.as_ref(), &entry, text)?;
            if vars.iter().any(|v: &SourceVar| v.name == var.name) {
                continue;
            }
            vars.push(var);
        }
        if vars.is_empty() {
            bail!("no variables selected");
        }
        let steps = match (&args.steps, args.preset) {
            (Some(text), _) => parse_steps(product.as_ref(), run, text)?,
            (None, Some(Preset::Cgan)) => parse_steps(product.as_ref(), run, presets::CGAN_STEPS)?,
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
        Mode::Fields { vars, steps }
    };
    let attribution = product_entry.attribution.clone();
    Ok((
        Plan {
            product,
            run,
            members,
            bbox,
            mode,
        },
        entry,
        attribution,
    ))
}

// ---------------------------------------------------------------------------------------------
// Jobs.

/// One message to read (or known to be missing), and where its field goes.
struct Job {
    var: usize,
    member: usize,
    /// Index on the output step axis (fields) or on the list of precipitation steps (rain).
    step_index: usize,
    step: u32,
    source: Result<ChunkLocation, String>,
}

/// What one member/variable/step of the manifests says.
enum Lookup {
    Found(ChunkLocation),
    /// Not on the variable's axis for a good reason (accumulations at step 0).
    NotApplicable,
    Missing(String),
}

fn lookup(manifest: &Result<MemberManifest, String>, var: &SourceVar, step: u32) -> Lookup {
    let manifest = match manifest {
        Ok(m) => m,
        Err(reason) => return Lookup::Missing(reason.clone()),
    };
    let steps = match manifest.steps(&var.array) {
        Ok(s) => s,
        Err(_) => {
            return Lookup::Missing(format!(
                "{} is not in the member's manifest",
                var.spec.request
            ))
        }
    };
    if !steps.contains(&step) {
        if step == 0 && var.spec.step_type != StepType::Instant {
            return Lookup::NotApplicable;
        }
        return Lookup::Missing(format!("step {step} h is not in the member's manifest"));
    }
    match manifest.chunk(&var.array, step) {
        Ok(Some(loc)) => Lookup::Found(loc),
        Ok(None) => Lookup::Missing("not published when the manifest was built".into()),
        Err(e) => Lookup::Missing(e.to_string()),
    }
}

/// One message to decode and crop, and where to send the field.
struct DecodeJob {
    bytes: bytes::Bytes,
    /// `url @offset`, for errors.
    what: String,
    reply: oneshot::Sender<Result<Vec<f32>, String>>,
}

/// A fixed set of decoding threads, one per core.
///
/// Why not `spawn_blocking`: tokio's blocking pool grows a thread whenever none is idle at the
/// instant of a call, and each new thread gets its own allocator arena that keeps the freed
/// multi-megabyte buffers of global fields. A fixed pool keeps both the CPU share and the
/// memory of decoding bounded.
struct DecodePool {
    tx: mpsc::Sender<DecodeJob>,
}

impl DecodePool {
    /// `threads` decoding threads cropping to `grid`. They stop by themselves once the pool
    /// and every sender taken from it are dropped.
    fn new(threads: usize, grid: Arc<OutputGrid>) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<DecodeJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let grid = Arc::clone(&grid);
            std::thread::Builder::new()
                .name(format!("gik-decode-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let _ = job
                        .reply
                        .send(decode_and_crop(&job.bytes, &job.what, &grid));
                })
                .context("starting a decoding thread")?;
        }
        Ok(Self { tx })
    }

    /// A handle for tasks.
    fn sender(&self) -> mpsc::Sender<DecodeJob> {
        self.tx.clone()
    }
}

/// Decodes one message and crops it; the global field is dropped before returning.
fn decode_and_crop(bytes: &[u8], what: &str, grid: &OutputGrid) -> Result<Vec<f32>, String> {
    let message = grib::decode(bytes).map_err(|e| format!("{what}: cannot decode: {e}"))?;
    let map = CropMap::new(&message.info.grid, grid).map_err(|e| format!("{what}: {e}"))?;
    map.apply(&message.values)
        .map_err(|e| format!("{what}: {e}"))
}

/// Reads one message and has it decoded and cropped by the pool.
async fn read_field(
    client: &HttpClient,
    loc: &ChunkLocation,
    decoder: mpsc::Sender<DecodeJob>,
) -> Result<Vec<f32>, String> {
    let bytes = client
        .get_range(&loc.url, loc.offset, loc.length)
        .await
        .map_err(|e| e.to_string())?;
    let (reply, answer) = oneshot::channel();
    let job = DecodeJob {
        bytes,
        what: format!("{} @{}", loc.url, loc.offset),
        reply,
    };
    decoder
        .send(job)
        .map_err(|_| "decoder pool closed".to_string())?;
    answer
        .await
        .map_err(|_| "decoding thread failed".to_string())?
}

// ---------------------------------------------------------------------------------------------
// Rainfall windows.

/// Combines precipitation messages into window totals per member as they arrive, and counts
/// exceedances per window; every field is dropped as soon as the windows that need it are done.
struct RainState {
    plans: Vec<AccumulationPlan>,
    /// Distinct steps of each plan.
    plan_steps: Vec<Vec<u32>>,
    /// Windows using each step.
    windows_of: BTreeMap<u32, Vec<usize>>,
    thresholds: Vec<f32>,
    members: usize,
    points: usize,
    /// `(member, step)` → field (None: missing) and windows still needing it.
    fields: HashMap<(usize, u32), Pending>,
    /// `[member][window]` → steps still to arrive.
    pending: Vec<Vec<usize>>,
    accumulators: Vec<Option<EnsembleAccumulator>>,
    done: Vec<usize>,
}

/// A member's field at a step (None: missing), and how many windows still need it.
type Pending = (Option<Vec<f32>>, usize);

/// A field for the writer: variable, `[outer, step]`, values.
type Output = (usize, [usize; 2], Vec<f32>);

impl RainState {
    fn new(
        plans: Vec<AccumulationPlan>,
        thresholds: Vec<f32>,
        members: usize,
        points: usize,
    ) -> Self {
        let plan_steps: Vec<Vec<u32>> = plans.iter().map(AccumulationPlan::steps).collect();
        let mut windows_of: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (w, steps) in plan_steps.iter().enumerate() {
            for &s in steps {
                windows_of.entry(s).or_default().push(w);
            }
        }
        let pending = vec![plan_steps.iter().map(Vec::len).collect(); members];
        let windows = plans.len();
        Self {
            plans,
            plan_steps,
            windows_of,
            thresholds,
            members,
            points,
            fields: HashMap::new(),
            pending,
            accumulators: (0..windows).map(|_| None).collect(),
            done: vec![0; windows],
        }
    }

    /// The distinct steps to read, ascending.
    fn steps(&self) -> Vec<u32> {
        self.windows_of.keys().copied().collect()
    }

    /// Takes one member's field at `step` (None: missing); returns what can now be written.
    fn add(&mut self, member: usize, step: u32, field: Option<Vec<f32>>) -> Result<Vec<Output>> {
        let windows = self.windows_of.get(&step).cloned().unwrap_or_default();
        self.fields.insert((member, step), (field, windows.len()));
        let mut out = Vec::new();
        for w in windows {
            let Some(left) = self.pending.get_mut(member).and_then(|p| p.get_mut(w)) else {
                continue;
            };
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.finish(member, w, &mut out)?;
            }
        }
        Ok(out)
    }

    fn finish(&mut self, member: usize, w: usize, out: &mut Vec<Output>) -> Result<()> {
        let Some(plan) = self.plans.get(w) else {
            return Ok(());
        };
        let terms: Option<Vec<&[f32]>> = plan
            .terms
            .iter()
            .map(|t| {
                self.fields
                    .get(&(member, t.step))
                    .and_then(|(f, _)| f.as_deref())
            })
            .collect();
        let total = match terms {
            Some(fields) => plan.combine(&fields)?,
            None => vec![f32::NAN; self.points],
        };
        for step in self.plan_steps.get(w).into_iter().flatten() {
            if let Some(entry) = self.fields.get_mut(&(member, *step)) {
                entry.1 = entry.1.saturating_sub(1);
                if entry.1 == 0 {
                    self.fields.remove(&(member, *step));
                }
            }
        }
        let points = self.points;
        let thresholds = self.thresholds.clone();
        let acc = self
            .accumulators
            .get_mut(w)
            .ok_or_else(|| anyhow!("no window {w}"))?
            .get_or_insert_with(|| EnsembleAccumulator::new(points, &thresholds));
        acc.add(&total)?;
        out.push((0, [member, w], total));
        if let Some(done) = self.done.get_mut(w) {
            *done += 1;
            if *done == self.members {
                if let Some(acc) = self.accumulators.get_mut(w).and_then(Option::take) {
                    for t in 0..self.thresholds.len() {
                        out.push((1, [t, w], acc.probability(t)?));
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The stream.

/// Attribution and licence attributes each data licence requires.
pub fn licence(product: &str) -> (&'static str, &'static str) {
    match product {
        "ecmwf" => (
            "© ECMWF, CC BY 4.0, derived from ECMWF open data",
            "CC-BY-4.0 (https://creativecommons.org/licenses/by/4.0/)",
        ),
        _ => (
            "NOAA Global Ensemble Forecast System (GEFS), NOAA/NCEP, via the NOAA Open Data \
             Dissemination (NODD) program; derived from NOAA GEFS data",
            "NOAA open data: no restrictions on use (credit NOAA/NCEP)",
        ),
    }
}

/// Missing messages grouped by variable, member and reason, in order: `tp ens05 f036 f039:
/// not found (404)`. One line per group, so a member whose manifest is absent is one line.
pub fn group_missing<'a>(missing: impl IntoIterator<Item = &'a MissingMessage>) -> Vec<String> {
    let mut groups: Vec<(&str, &str, &str, Vec<u32>)> = Vec::new();
    for m in missing {
        match groups.iter_mut().find(|(v, mem, r, _)| {
            *v == m.variable.as_str() && *mem == m.member.as_str() && *r == m.reason.as_str()
        }) {
            Some(group) => group.3.push(m.step),
            None => groups.push((&m.variable, &m.member, &m.reason, vec![m.step])),
        }
    }
    groups
        .into_iter()
        .map(|(variable, member, reason, steps)| {
            let steps: Vec<String> = steps.iter().map(|s| format!("f{s:03}")).collect();
            format!("{variable} {member} {}: {reason}", steps.join(" "))
        })
        .collect()
}

/// `gik_missing_count` and `gik_missing` (`member fSTEP…: reason; …`) of a variable.
fn missing_attrs(missing: &[&MissingMessage]) -> Attrs {
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

/// Reads the member manifests named in the run's catalog entry, 16 at a time; a manifest that
/// cannot be had is the reason why, for every message of its member.
async fn read_manifests(
    client: &HttpClient,
    location: &CatalogLocation,
    entry: &RunEntry,
    member_names: &[String],
) -> Vec<Result<MemberManifest, String>> {
    stream::iter(member_names.iter())
        .map(|name| async move {
            match entry.manifests.get(name) {
                None => Err(format!("no manifest for {name} in the catalog")),
                Some(path) => match location.read(client, path).await {
                    Ok(bytes) => MemberManifest::from_parquet(&bytes)
                        .map_err(|e| format!("manifest {}: {e}", location.describe(path))),
                    Err(e) => Err(format!("manifest {}: {e:#}", location.describe(path))),
                },
            }
        })
        .buffered(16)
        .collect()
        .await
}

/// The lattice of the output grid, from the coordinates in the manifests; every variable must
/// be on the same one (one latitude/longitude pair of dimensions per file).
fn output_lattice(plan: &Plan, manifests: &[Result<MemberManifest, String>]) -> Result<Lattice> {
    let source_vars: Vec<&SourceVar> = match &plan.mode {
        Mode::Fields { vars, .. } => vars.iter().collect(),
        Mode::Rain { var, .. } => vec![var.as_ref()],
    };
    let mut lattice: Option<(Lattice, String)> = None;
    for var in &source_vars {
        let group = var.array.rsplit_once('/').map_or("", |(g, _)| g);
        let found = manifests.iter().flatten().find_map(|m| {
            Lattice::from_axes(
                &read_axis(m, group, "latitude")?,
                &read_axis(m, group, "longitude")?,
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

/// The file's global attributes: CF conventions, product, run, where the data came from and the
/// attribution its licence requires.
fn global_attrs(
    args: &StreamArgs,
    plan: &Plan,
    location: &CatalogLocation,
    grid: &OutputGrid,
    hosts: &BTreeSet<String>,
    catalog_attribution: String,
) -> Attrs {
    let product = plan.product.as_ref();
    let (attribution, licence_text) = licence(product.name());
    let (label, institution) = match product.name() {
        "ecmwf" => (
            "ECMWF IFS ensemble (ENS)",
            "European Centre for Medium-Range Weather Forecasts (ECMWF)",
        ),
        _ => ("NOAA Global Ensemble Forecast System (GEFS)", "NOAA/NCEP"),
    };
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
        ("institution".into(), institution.into()),
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
        ("attribution".into(), attribution.into()),
        ("license".into(), licence_text.into()),
        (
            "history".into(),
            format!(
                "{} gik {} stream{}",
                crate::clock::now_iso(),
                env!("CARGO_PKG_VERSION"),
                args.preset
                    .map_or(String::new(), |p| format!(" --preset {p}"))
            )
            .into(),
        ),
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

/// The data variables and their attributes (units, names, what the values mean).
fn variable_defs(plan: &Plan, not_applicable: &BTreeMap<usize, Vec<u32>>) -> Vec<VarDef> {
    let product = plan.product.as_ref();
    let accumulation_note = match product.precipitation().kind {
        AccumulationKind::FromRunStart => "accumulated from the start of the run to the step",
        AccumulationKind::ResettingBuckets { .. } => {
            "accumulated over the product's window ending at the step (GEFS: restarts every 6 h)"
        }
    };
    match &plan.mode {
        Mode::Fields { vars, .. } => vars
            .iter()
            .enumerate()
            .map(|(v, var)| {
                let spec = &var.spec;
                let mut attrs: Attrs = vec![
                    ("units".into(), spec.units.clone().into()),
                    ("long_name".into(), spec.long_name.clone().into()),
                ];
                if let Some(sn) = standard_name(spec) {
                    attrs.push(("standard_name".into(), sn.into()));
                }
                attrs.push(("GRIB_stepType".into(), spec.step_type.as_str().into()));
                attrs.push(("GRIB_typeOfLevel".into(), spec.type_of_level.clone().into()));
                if let Some(level) = spec.level {
                    attrs.push(("level".into(), level.into()));
                }
                attrs.push(("gik_variable".into(), spec.request.clone().into()));
                if spec.step_type == StepType::Accum {
                    attrs.push(("comment".into(), accumulation_note.into()));
                }
                if let Some(steps) = not_applicable.get(&v) {
                    attrs.push((
                        "gik_not_applicable".into(),
                        format!(
                            "steps {steps:?}: nothing has accumulated at the start of the run (NaN)"
                        )
                        .into(),
                    ));
                }
                VarDef {
                    name: var.name.clone(),
                    dims: VarDims::MemberStep,
                    attrs,
                }
            })
            .collect(),
        Mode::Rain { var, .. } => vec![
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
                        "percentage of members whose window precipitation exceeds the threshold"
                            .into(),
                    ),
                    (
                        "comment".into(),
                        "strictly greater than the threshold; members whose total is missing \
                         (NaN) are left out of the percentage"
                            .into(),
                    ),
                ],
            },
        ],
    }
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
    let (plan, entry, catalog_attribution) = make_plan(args, &catalog)?;
    let product = plan.product.as_ref();
    let run = plan.run;
    let prefix = UrlPrefix::new(product.name(), run)?;
    if let Some(source) = &args.source {
        if !(source.starts_with("http://") || source.starts_with("https://")) {
            bail!("--source {source:?}: expected an http(s) base URL");
        }
    }

    // Member manifests, concurrently.
    let member_names: Vec<String> = plan
        .members
        .iter()
        .map(|m| product.member_name(*m))
        .collect();
    progress.stage(
        &format!("{} {run}: manifests", product.name()),
        member_names.len() as u64,
    );
    let manifests = read_manifests(client, &location, &entry, &member_names).await;
    progress.finish_stage();

    // The output grid, from the manifests' coordinates.
    let lattice = output_lattice(&plan, &manifests)?;
    let grid = OutputGrid::new(&plan.bbox, lattice)?;

    // Jobs.
    let mut jobs: Vec<Job> = Vec::new();
    let mut not_applicable: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    let mut rain_state = None;
    let (out_steps, step_bounds, thresholds) = match &plan.mode {
        Mode::Fields { vars, steps } => {
            for (v, var) in vars.iter().enumerate() {
                for (m, manifest) in manifests.iter().enumerate() {
                    for (si, &step) in steps.iter().enumerate() {
                        let source = match lookup(manifest, var, step) {
                            Lookup::Found(loc) => Ok(loc),
                            Lookup::Missing(reason) => Err(reason),
                            Lookup::NotApplicable => {
                                let steps = not_applicable.entry(v).or_default();
                                if !steps.contains(&step) {
                                    steps.push(step);
                                }
                                continue;
                            }
                        };
                        jobs.push(Job {
                            var: v,
                            member: m,
                            step_index: si,
                            step,
                            source,
                        });
                    }
                }
            }
            (steps.clone(), None, Vec::new())
        }
        Mode::Rain {
            var,
            plans,
            thresholds,
        } => {
            let state = RainState::new(
                plans.clone(),
                thresholds.clone(),
                manifests.len(),
                grid.points(),
            );
            for (m, manifest) in manifests.iter().enumerate() {
                for (si, step) in state.steps().into_iter().enumerate() {
                    let source = match lookup(manifest, var, step) {
                        Lookup::Found(loc) => Ok(loc),
                        Lookup::Missing(reason) => Err(reason),
                        Lookup::NotApplicable => Err(format!("no {} at step {step}", var.name)),
                    };
                    jobs.push(Job {
                        var: 0,
                        member: m,
                        step_index: si,
                        step,
                        source,
                    });
                }
            }
            rain_state = Some(state);
            let ends = plans.iter().map(|p| p.window.1).collect();
            let bounds = plans.iter().map(|p| p.window).collect();
            (ends, Some(bounds), thresholds.clone())
        }
    };
    // Re-root URLs on the mirror.
    let mut hosts: BTreeSet<String> = BTreeSet::new();
    for job in &mut jobs {
        if let Ok(loc) = &mut job.source {
            if let Some(base) = &args.source {
                match prefix.rewrite(&loc.url, base) {
                    Some(url) => loc.url = url,
                    None => {
                        job.source = Err(format!(
                            "{}: not a URL of the {} {run} run, cannot re-root it on {base}",
                            loc.url,
                            product.name()
                        ))
                    }
                }
            }
        }
        if let Ok(loc) = &job.source {
            if let Some(p) = prefix.prefix(&loc.url) {
                if hosts.len() < 4 {
                    hosts.insert(p.to_string());
                }
            }
        }
    }
    let var_names: Vec<String> = match &plan.mode {
        Mode::Fields { vars, .. } => vars.iter().map(|v| v.name.clone()).collect(),
        Mode::Rain { var, .. } => vec![var.name.clone()],
    };
    let missing_of = |job: &Job, reason: String| MissingMessage {
        variable: var_names.get(job.var).cloned().unwrap_or_default(),
        member: member_names.get(job.member).cloned().unwrap_or_default(),
        step: job.step,
        reason,
    };
    if args.strict {
        let known: Vec<MissingMessage> = jobs
            .iter()
            .filter_map(|j| j.source.as_ref().err().map(|r| missing_of(j, r.clone())))
            .collect();
        if !known.is_empty() {
            bail!(
                "--strict: {} message(s) missing, nothing written; first: {}",
                known.len(),
                known
                    .iter()
                    .take(5)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }

    // The file.
    let global = global_attrs(args, &plan, &location, &grid, &hosts, catalog_attribution);
    let variables = variable_defs(&plan, &not_applicable);
    let out_names: Vec<String> = variables.iter().map(|v| v.name.clone()).collect();
    let layout = Layout {
        run,
        members: plan
            .members
            .iter()
            .zip(&member_names)
            .map(|(m, n)| (m.number(), n.clone()))
            .collect(),
        steps: out_steps,
        step_bounds,
        grid: grid.clone(),
        thresholds,
        variables,
        global_attrs: global,
        deflate: args.deflate,
    };
    let writer = Writer::start(&args.out, layout)?;

    // The pipeline.
    let total = jobs.len();
    progress.stage(&format!("{} {run}: messages", product.name()), total as u64);
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pool = DecodePool::new(parallelism, Arc::new(grid))?;
    let sources: Vec<Result<ChunkLocation, String>> =
        jobs.iter().map(|j| j.source.clone()).collect();
    let mut results = stream::iter(sources.into_iter().enumerate())
        .map(|(i, source)| {
            let client = client.clone();
            let decoder = pool.sender();
            let task = tokio::spawn(async move {
                match source {
                    Ok(loc) => read_field(&client, &loc, decoder)
                        .await
                        .map(|f| (f, loc.length)),
                    Err(reason) => Err(reason),
                }
            });
            async move {
                let result = task
                    .await
                    .unwrap_or_else(|e| Err(format!("reading task failed: {e}")));
                (i, result)
            }
        })
        .buffer_unordered(args.concurrency.max(1));

    let mut missing: Vec<MissingMessage> = Vec::new();
    let mut read = 0usize;
    let mut bytes = 0u64;
    let outcome: Result<()> = async {
        while let Some((i, result)) = results.next().await {
            progress.inc(1);
            let job = jobs.get(i).ok_or_else(|| anyhow!("no job {i}"))?;
            let field = match result {
                Ok((field, length)) => {
                    read += 1;
                    bytes += length;
                    Some(field)
                }
                Err(reason) => {
                    let m = missing_of(job, reason);
                    tracing::debug!(missing = %m, "message missing");
                    if args.strict {
                        bail!("--strict: message missing, nothing written: {m}");
                    }
                    missing.push(m);
                    None
                }
            };
            match rain_state.as_mut() {
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
        Ok(())
    }
    .await;
    drop(results);
    progress.finish_stage();
    if let Err(e) = outcome {
        writer.abort().await.ok();
        return Err(e);
    }

    let member_order: HashMap<&str, usize> = member_names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    missing.sort_by_key(|m| {
        (
            var_names.iter().position(|v| *v == m.variable),
            member_order.get(m.member.as_str()).copied(),
            m.step,
        )
    });
    // Attributes naming what is missing, then publish.
    match &plan.mode {
        Mode::Fields { .. } => {
            for (v, name) in var_names.iter().enumerate() {
                let mine: Vec<&MissingMessage> =
                    missing.iter().filter(|m| &m.variable == name).collect();
                writer.set_attrs(v, missing_attrs(&mine)).await?;
            }
        }
        Mode::Rain { .. } => {
            let all: Vec<&MissingMessage> = missing.iter().collect();
            writer.set_attrs(0, missing_attrs(&all)).await?;
            let members: BTreeSet<&str> = all.iter().map(|m| m.member.as_str()).collect();
            let mut attrs = vec![(
                "gik_members_missing".to_string(),
                AttrValue::from(members.into_iter().collect::<Vec<_>>().join(", ")),
            )];
            attrs.push(("gik_missing_count".into(), (all.len() as i64).into()));
            writer.set_attrs(1, attrs).await?;
        }
    }
    let path = writer.commit().await?;
    Ok(StreamReport {
        path,
        product: product.name().to_string(),
        run,
        messages: total,
        read,
        missing,
        bytes,
        elapsed: start.elapsed(),
        variables: out_names,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn run() -> RunTime {
        RunTime::parse("20250801", "00").unwrap()
    }

    #[test]
    fn url_prefixes_are_found_and_replaced() {
        let e = UrlPrefix::new("ecmwf", run()).unwrap();
        let public = "https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com/20250801/00z/ifs/0p25/enfo/20250801000000-36h-enfo-ef.grib2";
        assert_eq!(
            e.rewrite(public, "http://127.0.0.1:8765/ecmwf-forecasts/").unwrap(),
            "http://127.0.0.1:8765/ecmwf-forecasts/20250801/00z/ifs/0p25/enfo/20250801000000-36h-enfo-ef.grib2"
        );
        let mirror = "http://10.1.2.3:9000/bucket/20250801/00z/ifs/0p25/enfo/x.grib2";
        assert_eq!(e.prefix(mirror), Some("http://10.1.2.3:9000/bucket"));
        assert_eq!(
            e.rewrite(mirror, "https://m.example/e").unwrap(),
            "https://m.example/e/20250801/00z/ifs/0p25/enfo/x.grib2"
        );
        assert!(e.rewrite("http://h/20250802/00z/x", "http://m").is_none());
        let g = UrlPrefix::new("gefs", run()).unwrap();
        let url = "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/00/atmos/pgrb2sp25/gep01.t00z.pgrb2s.0p25.f024";
        assert_eq!(
            g.prefix(url),
            Some("https://noaa-gefs-pds.s3.amazonaws.com")
        );
        assert_eq!(
            g.rewrite(
                "http://127.0.0.1:1/noaa-gefs-pds/gefs.20250801/00/atmos/f",
                "http://m:2/b"
            )
            .unwrap(),
            "http://m:2/b/gefs.20250801/00/atmos/f"
        );
    }

    #[test]
    fn catalog_locations() {
        assert_eq!(
            CatalogLocation::parse("http://h:1/pub/"),
            CatalogLocation::Http {
                base: "http://h:1/pub".into(),
                file: "catalog.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("https://h/pub/cat.json"),
            CatalogLocation::Http {
                base: "https://h/pub".into(),
                file: "cat.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("/tmp/x/catalog.json"),
            CatalogLocation::Dir {
                dir: "/tmp/x".into(),
                file: "catalog.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("file:///tmp/x"),
            CatalogLocation::Dir {
                dir: "/tmp/x".into(),
                file: "catalog.json".into()
            }
        );
        assert_eq!(
            CatalogLocation::parse("/tmp/x").describe("a/b.parquet"),
            "/tmp/x/a/b.parquet"
        );
    }

    #[test]
    fn names_and_arguments() {
        let ecmwf = product_by_name("ecmwf", &Hosts::default()).unwrap();
        assert_eq!(output_name(&ecmwf.variable("u:700").unwrap()), "u700");
        assert_eq!(output_name(&ecmwf.variable("2t").unwrap()), "t2m");
        assert_eq!(
            standard_name(&ecmwf.variable("tp").unwrap()),
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

    #[test]
    fn rain_state_combines_and_counts() {
        let gefs = product_by_name("gefs", &Hosts::default()).unwrap();
        let plans = vec![
            precipitation_plan(gefs.as_ref(), run(), 0, 12).unwrap(),
            precipitation_plan(gefs.as_ref(), run(), 6, 12).unwrap(),
        ];
        let mut s = RainState::new(plans, vec![1.0], 2, 2);
        assert_eq!(s.steps(), [6, 12]);
        // Member 0: 6 h bucket 2 mm / 0 mm, 12 h bucket 1 mm / 0.5 mm.
        let out = s.add(0, 12, Some(vec![1.0, 0.5])).unwrap();
        assert_eq!(out, [(0, [0, 1], vec![1.0, 0.5])]);
        let out = s.add(0, 6, Some(vec![2.0, 0.0])).unwrap();
        assert_eq!(out, [(0, [0, 0], vec![3.0, 0.5])]);
        assert!(s.fields.is_empty());
        // Member 1 misses step 6: NaN in window 0, and the probabilities leave it out.
        let out = s.add(1, 6, None).unwrap();
        assert!(out.is_empty());
        let out = s.add(1, 12, Some(vec![4.0, 4.0])).unwrap();
        let windows: Vec<_> = out.iter().map(|o| (o.0, o.1)).collect();
        assert_eq!(
            windows,
            [(0, [1, 0]), (1, [0, 0]), (0, [1, 1]), (1, [0, 1])]
        );
        assert!(out[0].2.iter().all(|v| v.is_nan()));
        assert_eq!(out[1].2, [100.0, 0.0]);
        assert_eq!(out[3].2, [50.0, 50.0]);
        assert!(s.fields.is_empty());
    }
}
