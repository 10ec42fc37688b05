//! The messages of a plan as jobs, and reading them: range request, then decoding and cropping
//! on a fixed pool of threads.
//!
//! Why a fixed pool: see [`DecodePool`]. Each field is cropped the moment it is decoded, so no
//! global field outlives its decode and memory stays flat whatever the member count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{Context, Result};
use gik_core::geo::{CropMap, OutputGrid};
use gik_core::grib;
use gik_core::member::{ChunkLocation, MemberManifest};
use gik_core::product::{reroot_url, url_base, AccumulationPlan, StepType};
use tokio::sync::oneshot;

use super::plan::{Mode, Plan, SourceVar};
use super::rain::RainState;
use crate::http::HttpClient;

/// One message to read (or known to be missing), and where its field goes.
pub(super) struct Job {
    /// Index of the output variable.
    pub var: usize,
    /// Index of the member.
    pub member: usize,
    /// Index on the output step axis (fields) or on the list of precipitation steps (rain).
    pub step_index: usize,
    /// Step (hours).
    pub step: u32,
    /// Where the message is, or why it cannot be had.
    pub source: Result<ChunkLocation, String>,
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
pub(super) struct DecodeJob {
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
pub(super) struct DecodePool {
    tx: mpsc::Sender<DecodeJob>,
}

impl DecodePool {
    /// `threads` decoding threads cropping to `grid`. They stop by themselves once the pool
    /// and every sender taken from it are dropped.
    pub fn new(threads: usize, grid: Arc<OutputGrid>) -> Result<Self> {
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
    pub fn sender(&self) -> mpsc::Sender<DecodeJob> {
        self.tx.clone()
    }
}

/// Decodes one message and crops it; the global field is dropped before returning. Rows are
/// decoded only down to the box's last one ([`grib::decode_rows`]): for East Africa on the
/// 0.25° grids that is 417 of 721 rows.
fn decode_and_crop(bytes: &[u8], what: &str, grid: &OutputGrid) -> Result<Vec<f32>, String> {
    let info = grib::describe(bytes).map_err(|e| format!("{what}: cannot decode: {e}"))?;
    let map = CropMap::new(&info.grid, grid).map_err(|e| format!("{what}: {e}"))?;
    let message = grib::decode_rows(bytes, map.rows_needed().max(1))
        .map_err(|e| format!("{what}: cannot decode: {e}"))?;
    map.apply(&message.values)
        .map_err(|e| format!("{what}: {e}"))
}

/// Reads one message and has it decoded and cropped by the pool.
pub(super) async fn read_field(
    client: &HttpClient,
    loc: &ChunkLocation,
    decoder: mpsc::Sender<DecodeJob>,
) -> Result<Vec<f32>, String> {
    let bytes = match loc.url.strip_prefix("file://") {
        Some(path) => super::from_subset::read_local_range(path, loc.offset, loc.length)
            .await
            .map_err(|e| format!("{e:#}"))?,
        None => client
            .get_range(&loc.url, loc.offset, loc.length)
            .await
            .map_err(|e| e.to_string())?,
    };
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

/// Every message of a plan: one job per variable, member and step, and what the file's axes
/// are.
pub(super) struct JobList {
    /// The jobs, in output order.
    pub jobs: Vec<Job>,
    /// Steps at which a variable has nothing to read for a good reason (accumulations at 0).
    pub not_applicable: BTreeMap<usize, Vec<u32>>,
    /// Rainfall windows, when the plan is the rain-probability one.
    pub rain: Option<RainState>,
    /// The output step axis (window ends for rainfall).
    pub steps: Vec<u32>,
    /// Window bounds of the step axis, for rainfall.
    pub step_bounds: Option<Vec<(u32, u32)>>,
    /// Exceedance thresholds (rainfall), in mm.
    pub thresholds: Vec<f32>,
}

impl JobList {
    /// The jobs of `plan` given the member manifests (in the plan's member order) and the
    /// number of points of the output grid.
    pub fn new(plan: &Plan, manifests: &[Result<MemberManifest, String>], points: usize) -> Self {
        match &plan.mode {
            Mode::Fields { vars, steps } => Self::fields(vars, steps, manifests),
            Mode::Rain {
                var,
                plans,
                thresholds,
            } => Self::rain(var, plans, thresholds, manifests, points),
        }
    }

    fn fields(
        vars: &[SourceVar],
        steps: &[u32],
        manifests: &[Result<MemberManifest, String>],
    ) -> Self {
        let mut jobs = Vec::new();
        let mut not_applicable: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
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
        Self {
            jobs,
            not_applicable,
            rain: None,
            steps: steps.to_vec(),
            step_bounds: None,
            thresholds: Vec::new(),
        }
    }

    fn rain(
        var: &SourceVar,
        plans: &[AccumulationPlan],
        thresholds: &[f32],
        manifests: &[Result<MemberManifest, String>],
        points: usize,
    ) -> Self {
        let state = RainState::new(plans.to_vec(), thresholds.to_vec(), manifests.len(), points);
        let mut jobs = Vec::new();
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
        Self {
            jobs,
            not_applicable: BTreeMap::new(),
            rain: Some(state),
            steps: plans.iter().map(|p| p.window.1).collect(),
            step_bounds: Some(plans.iter().map(|p| p.window).collect()),
            thresholds: thresholds.to_vec(),
        }
    }

    /// Re-roots every message URL on `source` (a mirror) when given; returns the (at most
    /// four) hosts the messages will be read from, for the file's `source` attribute.
    pub fn reroot(&mut self, plan: &Plan, source: Option<&str>) -> BTreeSet<String> {
        let (product, run) = (plan.product.as_ref(), plan.run);
        let mut hosts: BTreeSet<String> = BTreeSet::new();
        for job in &mut self.jobs {
            if let (Ok(loc), Some(base)) = (&mut job.source, source) {
                match reroot_url(product, run, &loc.url, base) {
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
            if let Ok(loc) = &job.source {
                if let Some(p) = url_base(product, run, &loc.url) {
                    if hosts.len() < 4 {
                        hosts.insert(p.to_string());
                    }
                }
            }
        }
        hosts
    }
}
