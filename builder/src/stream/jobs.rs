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
use gik_core::identity;
use gik_core::manifest::ByteRange;
use gik_core::product::{
    reroot_url, url_base, AccumulationPlan, Member, Product, StepType, VariableSpec,
};
use gik_core::time::RunTime;
use tokio::sync::oneshot;

use super::plan::{Mode, Plan, SourceVar};
use super::rain::RainState;
use super::source::{ManifestResult, ManifestUnavailable, ReadError};
use crate::http::HttpClient;

/// Why one message of a stream is not in the file. The text (`Display`) is what the report
/// and the file's `missing` attribute say.
#[derive(Debug, thiserror::Error)]
pub(super) enum JobError {
    /// The member's manifest cannot be had.
    #[error("{0}")]
    Manifest(ManifestUnavailable),
    /// The variable has no array (or no step axis) in the member's manifest.
    #[error("{variable} is not in the member's manifest")]
    VariableAbsent {
        /// The variable as requested.
        variable: String,
    },
    /// The step is not on the variable's axis.
    #[error("step {step} h is not in the member's manifest")]
    StepAbsent {
        /// The step (hours).
        step: u32,
    },
    /// The step is on the axis, but its message was not published when the manifest was built.
    #[error("not published when the manifest was built")]
    NotPublished,
    /// The manifest's reference for the message cannot be read (the error names the key).
    #[error("{0}")]
    BadReference(#[source] gik_core::Error),
    /// A window needs a step the variable cannot have (an accumulation at step 0).
    #[error("no {variable} at step {step}")]
    NotApplicable {
        /// The output variable name.
        variable: String,
        /// The step (hours).
        step: u32,
    },
    /// `--source` was given, and the message's URL is not under the run's path.
    #[error("{url}: not a URL of the {product} {run} run, cannot re-root it on {base}")]
    NotReroutable {
        /// The message's URL.
        url: String,
        /// The product name.
        product: String,
        /// The run.
        run: RunTime,
        /// The mirror's base URL.
        base: String,
    },
    /// The message's bytes could not be read (the error names the URL or the path, and the
    /// byte range).
    #[error("{0}")]
    Fetch(#[from] ReadError),
    /// The message could not be decoded or cropped.
    #[error("{what}: {reason}")]
    Decode {
        /// `url @offset` of the message.
        what: String,
        /// Why.
        reason: String,
    },
    /// The decoding pool stopped before answering.
    #[error("decoder pool closed")]
    PoolClosed,
    /// The task reading the message panicked or was cancelled.
    #[error("reading task failed: {0}")]
    TaskFailed(#[source] tokio::task::JoinError),
    /// The decoding thread stopped before answering (it panicked).
    #[error("decoding thread failed")]
    DecoderFailed(#[source] oneshot::error::RecvError),
}

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
    pub source: Result<ByteRange, JobError>,
    /// What the message must be, checked when it is decoded.
    pub asked: Asked,
}

/// What a job's message must be: variable, step and member, compared with the message's own
/// sections 0–4 before it is used ([`gik_core::identity`]).
#[derive(Clone, Debug)]
pub(super) struct Asked {
    spec: Arc<VariableSpec>,
    array: Arc<str>,
    step: u32,
    member: Option<Member>,
    member_name: String,
}

impl Asked {
    fn new(product: &dyn Product, var: &SourceVar, step: u32, member: Option<Member>) -> Self {
        Self {
            spec: Arc::new(var.spec.clone()),
            array: Arc::from(var.array.as_str()),
            step,
            member,
            member_name: member.map_or_else(|| "?".into(), |m| product.member_name(m)),
        }
    }

    fn check(&self, found: &grib::MessageMetadata) -> Result<(), identity::IdentityMismatch> {
        identity::check(
            &identity::Expected {
                spec: Some(&self.spec),
                array: &self.array,
                step_hours: self.step,
                member: self.member,
                member_name: &self.member_name,
            },
            found,
        )
    }
}

/// The plan's product and members, to say what each job asks for.
struct MemberNames<'a> {
    product: &'a dyn Product,
    members: &'a [Member],
}

impl MemberNames<'_> {
    /// What the message of `var` at `step` for the plan's member `m` must be.
    fn asked(&self, var: &SourceVar, step: u32, m: usize) -> Asked {
        // Manifests are read in the plan's member order, so `m` is always in range.
        Asked::new(self.product, var, step, self.members.get(m).copied())
    }
}

/// What one member/variable/step of the manifests says.
enum Lookup {
    Found(ByteRange),
    /// Not on the variable's axis for a good reason (accumulations at step 0).
    NotApplicable,
    Missing(JobError),
}

fn lookup(manifest: &ManifestResult, var: &SourceVar, step: u32) -> Lookup {
    let manifest = match manifest {
        Ok(m) => m,
        Err(reason) => return Lookup::Missing(JobError::Manifest(reason.clone())),
    };
    let steps = match manifest.steps(&var.array) {
        Ok(s) => s,
        Err(_) => {
            return Lookup::Missing(JobError::VariableAbsent {
                variable: var.spec.request.clone(),
            })
        }
    };
    if !steps.contains(&step) {
        if step == 0 && var.spec.step_type != StepType::Instant {
            return Lookup::NotApplicable;
        }
        return Lookup::Missing(JobError::StepAbsent { step });
    }
    match manifest.chunk(&var.array, step) {
        Ok(Some(loc)) => Lookup::Found(loc),
        Ok(None) => Lookup::Missing(JobError::NotPublished),
        Err(e) => Lookup::Missing(JobError::BadReference(e)),
    }
}

/// The jobs of output variable `v` (`var`) for every member and step, member by member. A
/// step the variable cannot have (an accumulation at step 0) becomes the job failing with
/// what `not_applicable` says, or no job when it says `None`.
fn variable_jobs(
    v: usize,
    var: &SourceVar,
    steps: &[u32],
    manifests: &[ManifestResult],
    members: &MemberNames<'_>,
    mut not_applicable: impl FnMut(u32) -> Option<JobError>,
) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (member, manifest) in manifests.iter().enumerate() {
        for (step_index, &step) in steps.iter().enumerate() {
            let source = match lookup(manifest, var, step) {
                Lookup::Found(range) => Ok(range),
                Lookup::Missing(reason) => Err(reason),
                Lookup::NotApplicable => match not_applicable(step) {
                    Some(reason) => Err(reason),
                    None => continue,
                },
            };
            jobs.push(Job {
                var: v,
                member,
                step_index,
                step,
                source,
                asked: members.asked(var, step, member),
            });
        }
    }
    jobs
}

/// One message to decode and crop, and where to send the field.
pub(super) struct DecodeJob {
    bytes: bytes::Bytes,
    /// `url @offset`, for errors.
    what: String,
    asked: Asked,
    reply: oneshot::Sender<Result<Vec<f32>, JobError>>,
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
                        .send(decode_and_crop(&job.bytes, &job.what, &job.asked, &grid));
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

/// Decodes one message and crops it; the global field is dropped before returning. The message
/// must first be the one asked for (sections 0–4, cheap). Rows are decoded only down to the
/// box's last one ([`grib::decode_rows`]): for East Africa on the 0.25° grids that is 417 of 721
/// rows.
fn decode_and_crop(
    bytes: &[u8],
    what: &str,
    asked: &Asked,
    grid: &OutputGrid,
) -> Result<Vec<f32>, JobError> {
    let fail = |reason: String| JobError::Decode {
        what: what.to_owned(),
        reason,
    };
    let info = grib::describe(bytes).map_err(|e| fail(format!("cannot decode: {e}")))?;
    asked
        .check(&info.metadata)
        .map_err(|e| fail(e.to_string()))?;
    let map = CropMap::new(&info.grid, grid).map_err(|e| fail(e.to_string()))?;
    let message = grib::decode_rows(bytes, map.rows_needed().max(1))
        .map_err(|e| fail(format!("cannot decode: {e}")))?;
    map.apply(&message.values).map_err(|e| fail(e.to_string()))
}

/// Reads one message and has it decoded and cropped by the pool.
pub(super) async fn read_field(
    client: &HttpClient,
    loc: &ByteRange,
    asked: Asked,
    decoder: mpsc::Sender<DecodeJob>,
) -> Result<Vec<f32>, JobError> {
    let bytes = match loc.url.strip_prefix("file://") {
        Some(path) => super::from_subset::read_local_range(path, loc.offset, loc.length).await?,
        None => client
            .get_range(&loc.url, loc.offset, loc.length)
            .await
            .map_err(ReadError::from)?,
    };
    let (reply, answer) = oneshot::channel();
    let job = DecodeJob {
        bytes,
        what: format!("{} @{}", loc.url, loc.offset),
        asked,
        reply,
    };
    decoder.send(job).map_err(|_| JobError::PoolClosed)?;
    answer.await.map_err(JobError::DecoderFailed)?
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
    pub fn new(plan: &Plan, manifests: &[ManifestResult], points: usize) -> Self {
        let members = MemberNames {
            product: plan.product.as_ref(),
            members: &plan.members,
        };
        match &plan.mode {
            Mode::Fields { vars, steps } => Self::fields(vars, steps, manifests, &members),
            Mode::Rain {
                var,
                plans,
                thresholds,
            } => Self::rain(var, plans, thresholds, manifests, points, &members),
        }
    }

    fn fields(
        vars: &[SourceVar],
        steps: &[u32],
        manifests: &[ManifestResult],
        members: &MemberNames<'_>,
    ) -> Self {
        let mut jobs = Vec::new();
        let mut not_applicable: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for (v, var) in vars.iter().enumerate() {
            jobs.extend(variable_jobs(v, var, steps, manifests, members, |step| {
                let steps = not_applicable.entry(v).or_default();
                if !steps.contains(&step) {
                    steps.push(step);
                }
                None
            }));
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
        manifests: &[ManifestResult],
        points: usize,
        members: &MemberNames<'_>,
    ) -> Self {
        let state = RainState::new(plans.to_vec(), thresholds.to_vec(), manifests.len(), points);
        // A window needs every one of its steps: one that cannot exist is a missing message.
        let jobs = variable_jobs(0, var, &state.steps(), manifests, members, |step| {
            Some(JobError::NotApplicable {
                variable: var.name.clone(),
                step,
            })
        });
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
                        job.source = Err(JobError::NotReroutable {
                            url: loc.url.clone(),
                            product: product.name().to_owned(),
                            run,
                            base: base.to_owned(),
                        })
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
