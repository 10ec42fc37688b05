//! Runs a view: fetches each member's manifest and messages, decodes, crops, combines and
//! accumulates, publishing the map as it sharpens.
//!
//! Why a job object: every change of the view (a slider step, a new threshold) starts a new
//! job and cancels the previous one — its flag is set and its in-flight requests aborted — so a
//! stale job never overwrites the map. Members run concurrently, but at most
//! [`MAX_IN_FLIGHT`] HTTP requests are in flight ([`Limiter`]), and the page yields to the event
//! loop before every decode so it stays responsive. Decoded, cropped messages and parsed
//! manifests are cached (bounded), so going back to a step or changing only the threshold
//! costs no request.
//!
//! Failures are collected per member and step with their reason ([`Failure`]); a member with a
//! failure is left out and the map says how many members it holds.
//!
//! Here: the job, its members and the map; one message's way from the caches or the network
//! to a cropped field (probe, prefix reads, identity check, decode) is the `message` submodule.

mod message;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::rc::Rc;
use std::sync::Arc;

use gik_core::member::MemberManifest;
use gik_core::origin::{AllowedUrl, UrlPolicy};
use leptos::prelude::{RwSignal, Set};

use crate::coalesce::Coalescer;
use crate::compute::{convert, Crop, CropCache, Ensemble, Frame, MemberSource, ViewPlan};
use crate::data::{self, Answer, FetchFailure, Want};
use crate::manifest_fetch::{self, ManifestFetchError};
use crate::prefix::Hints;
use crate::store::{Store, StoreUsage};
use crate::tasks::{join_all, Gate, Limiter};
use crate::version::Version;
use crate::worker::Pool;
use message::{Asked, CachedField, FieldKey};

/// Most HTTP requests in flight at once.
pub const MAX_IN_FLIGHT: usize = 6;

/// Most parsed manifests kept.
const MANIFEST_CACHE: usize = 256;

/// Most crops kept (one per grid, box and point budget seen recently).
const CROPS_KEPT: usize = 16;

/// Most cropped field values kept in the message cache (floats; 4 bytes each).
const FIELD_CACHE_FLOATS: usize = 12_000_000;

/// Shortest time between two map updates while members arrive, in ms.
const PUBLISH_EVERY_MS: f64 = 250.0;

/// How far a view has got.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    /// Members the view needs.
    pub members_total: usize,
    /// Members on the map.
    pub members_done: usize,
    /// Members left out after a failure.
    pub members_failed: usize,
    /// Messages the view needs.
    pub messages_total: usize,
    /// Messages fetched (or found in the cache).
    pub messages_fetched: usize,
    /// Messages decoded (or found in the cache).
    pub messages_decoded: usize,
    /// Messages found in the cache.
    pub from_cache: usize,
    /// Bytes downloaded (GRIB2 messages and manifests).
    pub bytes: u64,
    /// HTTP requests made (manifests and message ranges).
    pub requests: usize,
    /// Bytes of GRIB2 messages downloaded (prefixes of the messages).
    pub message_bytes: u64,
    /// Whole lengths of the messages fetched (what reading them whole would have cost).
    pub message_lengths: u64,
    /// Whether every member has been tried.
    pub complete: bool,
}

/// What went wrong for one member (and step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Member name.
    pub member: String,
    /// Step (hours), when the failure is about one message.
    pub step: Option<u32>,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            Some(s) => write!(f, "{}, +{s} h: {}", self.member, self.reason),
            None => write!(f, "{}: {}", self.member, self.reason),
        }
    }
}

/// The signals a job writes.
#[derive(Clone, Copy, Debug)]
pub struct Outputs {
    /// The map.
    pub frame: RwSignal<Option<Arc<Frame>>>,
    /// Progress.
    pub progress: RwSignal<Progress>,
    /// Failures.
    pub failures: RwSignal<Vec<Failure>>,
    /// What the persistent store holds.
    pub stored: RwSignal<StoreUsage>,
}

/// A map from key to value that forgets the oldest entries beyond a budget.
struct BoundedCache<K, V> {
    map: HashMap<K, (V, usize)>,
    order: VecDeque<K>,
    used: usize,
    budget: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedCache<K, V> {
    fn new(budget: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            used: 0,
            budget,
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).map(|(v, _)| v.clone())
    }

    fn insert(&mut self, key: K, value: V, cost: usize) {
        if let Some((_, old)) = self.map.insert(key.clone(), (value, cost)) {
            self.used = self.used.saturating_sub(old);
        } else {
            self.order.push_back(key);
        }
        self.used += cost;
        while self.used > self.budget && self.order.len() > 1 {
            if let Some(oldest) = self.order.pop_front() {
                if let Some((_, c)) = self.map.remove(&oldest) {
                    self.used = self.used.saturating_sub(c);
                }
            }
        }
    }
}

/// Why a member's manifest or one of its messages gave no field (shown with the member, and
/// the step when there is one).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemberFailure {
    /// A URL the page may not read.
    #[error(transparent)]
    Refused(#[from] gik_core::origin::Refused),
    /// A request failed.
    #[error("{0}")]
    Fetch(FetchFailure),
    /// The manifest was read but cannot be used.
    #[error("{url}: {error}")]
    Manifest {
        /// The manifest.
        url: String,
        /// Why.
        error: ManifestFetchError,
    },
    /// A file changed on its server between two reads of it (the error names the file).
    #[error(transparent)]
    Changed(#[from] crate::version::Changed),
    /// The message is not the one the manifest says (a stale or wrong manifest).
    #[error("{error} ({place})")]
    Identity {
        /// Member, step and URL of the message.
        place: String,
        /// What differs.
        error: gik_core::identity::IdentityMismatch,
    },
    /// The message does not decode.
    #[error("decode error in {place}: {error}")]
    Decode {
        /// Member, step and URL of the message.
        place: String,
        /// Why.
        error: crate::worker::DecodeError,
    },
    /// The message's grid cannot be cropped to the view's box.
    #[error(transparent)]
    Crop(#[from] gik_core::geo::GeoError),
    /// The message's grid is not the other members'.
    #[error("its grid ({rows}×{cols} points in the box) differs from the other members' ({other_rows}×{other_cols})")]
    OtherGrid {
        /// Rows in the box of this message.
        rows: usize,
        /// Columns in the box of this message.
        cols: usize,
        /// Rows in the box of the members before it.
        other_rows: usize,
        /// Columns in the box of the members before it.
        other_cols: usize,
    },
}

/// Why a message gave no field.
enum MessageError {
    /// The job was cancelled: say nothing.
    Aborted,
    /// A failure to show.
    Failed(MemberFailure),
}

/// A fetch failure, unless it is the job's own cancellation.
impl From<FetchFailure> for MessageError {
    fn from(f: FetchFailure) -> Self {
        if f.is_aborted() {
            Self::Aborted
        } else {
            Self::Failed(MemberFailure::Fetch(f))
        }
    }
}

/// Failures that are never a cancellation.
macro_rules! failed_from {
    ($($t:ty),*) => {$(
        impl From<$t> for MessageError {
            fn from(e: $t) -> Self {
                Self::Failed(e.into())
            }
        }
    )*};
}
failed_from!(
    MemberFailure,
    gik_core::origin::Refused,
    crate::version::Changed,
    gik_core::geo::GeoError
);

/// Fetches, decodes and combines views; owns the caches.
pub struct Loader {
    policy: UrlPolicy,
    catalog_url: AllowedUrl,
    outputs: Outputs,
    manifests: RefCell<BoundedCache<String, Rc<MemberManifest>>>,
    fields: RefCell<BoundedCache<FieldKey, CachedField>>,
    crops: RefCell<CropCache>,
    hints: RefCell<Hints>,
    store: RefCell<Option<Rc<Store>>>,
    pool: Pool,
    current: RefCell<Option<Rc<Job>>>,
}

/// One view being loaded.
struct Job {
    plan: Arc<ViewPlan>,
    cancelled: Cell<bool>,
    abort: Option<web_sys::AbortController>,
    limiter: Limiter,
    coalescer: Coalescer<FetchFailure, Answer>,
    /// Opened when the view's first message has taught the hints (see `message`).
    probe: RefCell<Option<Rc<Gate>>>,
    crop: RefCell<Option<Arc<Crop>>>,
    ensemble: RefCell<Option<Ensemble>>,
    progress: RefCell<Progress>,
    failures: RefCell<Vec<Failure>>,
    last_publish: Cell<f64>,
}

impl Job {
    fn cancel(&self) {
        self.cancelled.set(true);
        if let Some(a) = &self.abort {
            a.abort();
        }
    }

    fn signal(&self) -> Option<web_sys::AbortSignal> {
        self.abort.as_ref().map(web_sys::AbortController::signal)
    }
}

impl Loader {
    /// A loader reading manifests (relative to `catalog_url`) and chunk references that
    /// `policy` allows, writing to `outputs`, decoding in `workers` Web Workers (0: on the main
    /// thread).
    pub fn new(
        policy: UrlPolicy,
        catalog_url: AllowedUrl,
        outputs: Outputs,
        workers: usize,
    ) -> Self {
        Self {
            policy,
            catalog_url,
            outputs,
            manifests: RefCell::new(BoundedCache::new(MANIFEST_CACHE)),
            fields: RefCell::new(BoundedCache::new(FIELD_CACHE_FLOATS)),
            crops: RefCell::new(CropCache::new(CROPS_KEPT)),
            hints: RefCell::new(Hints::new()),
            store: RefCell::new(None),
            pool: Pool::new(workers),
            current: RefCell::new(None),
        }
    }

    /// Keeps manifests and fields in `store` too (and reads them from it).
    pub fn set_store(&self, store: Rc<Store>) {
        self.outputs.stored.set(store.usage());
        *self.store.borrow_mut() = Some(store);
    }

    /// Empties the persistent store and the in-memory caches.
    pub async fn clear_store(&self) {
        self.manifests.replace(BoundedCache::new(MANIFEST_CACHE));
        self.fields.replace(BoundedCache::new(FIELD_CACHE_FLOATS));
        let store = self.store.borrow().clone();
        if let Some(store) = store {
            store.clear().await;
            self.outputs.stored.set(store.usage());
        }
    }

    fn store(&self) -> Option<Rc<Store>> {
        self.store.borrow().clone()
    }

    /// Stores `bytes`, read from `version`, under `key` in the background, when the page is
    /// idle: the view never waits for storage, and a view's fifty writes (each copies its body
    /// on the main thread) are spread over idle tasks instead of running in one long task.
    fn store_put(&self, key: String, bytes: Vec<u8>, version: Version) {
        if let Some(store) = self.store() {
            let stored = self.outputs.stored;
            wasm_bindgen_futures::spawn_local(async move {
                crate::timers::when_idle().await;
                store.put(&key, &bytes, &version).await;
                stored.set(store.usage());
            });
        }
    }

    /// A request answered from `version`: the store drops what it holds of another version of
    /// that file ([`Store::observe`]).
    fn observe(&self, version: &Version) {
        if let Some(store) = self.store() {
            if store.observe(version) {
                self.outputs.stored.set(store.usage());
            }
        }
    }

    /// Cancels the running job, if any.
    pub fn stop(&self) {
        if let Some(job) = self.current.borrow_mut().take() {
            job.cancel();
        }
    }

    /// Cancels the running job and starts loading `plan`. The current map stays until the
    /// first member of the new view arrives.
    pub fn start(self: &Rc<Self>, plan: Arc<ViewPlan>) {
        self.stop();
        let job = Rc::new(Job {
            cancelled: Cell::new(false),
            abort: web_sys::AbortController::new().ok(),
            limiter: Limiter::new(MAX_IN_FLIGHT),
            coalescer: Coalescer::new(),
            probe: RefCell::new(None),
            crop: RefCell::new(None),
            ensemble: RefCell::new(None),
            progress: RefCell::new(Progress {
                members_total: plan.members.len(),
                messages_total: plan.message_count(),
                ..Progress::default()
            }),
            failures: RefCell::new(Vec::new()),
            last_publish: Cell::new(0.0),
            plan,
        });
        *self.current.borrow_mut() = Some(Rc::clone(&job));
        self.outputs.progress.set(job.progress.borrow().clone());
        self.outputs.failures.set(Vec::new());
        let loader = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move { loader.run(job).await });
    }

    async fn run(self: Rc<Self>, job: Rc<Job>) {
        let members = job.plan.members.clone();
        let tasks: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(order, m)| self.member(&job, order, m))
            .collect();
        join_all(tasks).await;
        if job.cancelled.get() {
            return;
        }
        job.progress.borrow_mut().complete = true;
        self.outputs.progress.set(job.progress.borrow().clone());
        if job.progress.borrow().members_done == 0 {
            self.outputs.frame.set(None);
        } else {
            self.publish(&job, true);
        }
    }

    fn fail(&self, job: &Job, member: &str, step: Option<u32>, reason: String) {
        if job.cancelled.get() {
            return;
        }
        job.failures.borrow_mut().push(Failure {
            member: member.to_string(),
            step,
            reason,
        });
        job.progress.borrow_mut().members_failed += 1;
        self.outputs.failures.set(job.failures.borrow().clone());
        self.outputs.progress.set(job.progress.borrow().clone());
    }

    fn progress(&self, job: &Job, update: impl FnOnce(&mut Progress)) {
        if job.cancelled.get() {
            return;
        }
        update(&mut job.progress.borrow_mut());
        self.outputs.progress.set(job.progress.borrow().clone());
    }

    /// Loads one member and adds it to the ensemble.
    async fn member(&self, job: &Rc<Job>, order: usize, source: &MemberSource) {
        let name = source.name.as_str();
        let manifest = match self.manifest(job, source).await {
            Ok(m) => m,
            Err(MessageError::Aborted) => return,
            Err(MessageError::Failed(reason)) => {
                return self.fail(job, name, None, format!("manifest: {reason}"))
            }
        };
        let array = job.plan.recipe.array();
        let mut locations = Vec::new();
        for step in job.plan.recipe.steps() {
            match manifest.chunk(array, step) {
                Ok(Some(loc)) => locations.push((step, loc)),
                Ok(None) => {
                    return self.fail(
                        job,
                        name,
                        Some(step),
                        format!(
                        "{array}: no message (it was not published when the manifest was built)"
                    ),
                    )
                }
                Err(e) => return self.fail(job, name, Some(step), e.to_string()),
            }
        }
        let results = join_all(
            locations
                .iter()
                .map(|(step, loc)| {
                    let asked = Asked {
                        array,
                        step: *step,
                        member: name,
                    };
                    self.message(job, loc, asked)
                })
                .collect(),
        )
        .await;
        let mut fields: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
        for ((step, _), result) in locations.iter().zip(results) {
            match result {
                Ok(field) => {
                    fields.insert(*step, field.as_ref().clone());
                }
                Err(MessageError::Aborted) => return,
                Err(MessageError::Failed(reason)) => {
                    return self.fail(job, name, Some(*step), reason.to_string())
                }
            }
        }
        if job.cancelled.get() {
            return;
        }
        let mut field = match job.plan.recipe.combine(&fields) {
            Ok(f) => f,
            Err(reason) => return self.fail(job, name, None, reason.to_string()),
        };
        convert(&job.plan.display, &mut field);
        let added = {
            let crop = job.crop.borrow().clone();
            let mut ensemble = job.ensemble.borrow_mut();
            let ensemble = ensemble.get_or_insert_with(|| {
                Ensemble::new(
                    job.plan.kind,
                    crop.as_ref().map_or(field.len(), |c| c.len()),
                    job.plan.threshold,
                )
            });
            ensemble.add(order, name, field)
        };
        if let Err(reason) = added {
            return self.fail(job, name, None, reason.to_string());
        }
        self.progress(job, |p| p.members_done += 1);
        self.publish(job, false);
    }

    /// Publishes the current map (at most every [`PUBLISH_EVERY_MS`] unless `force`).
    fn publish(&self, job: &Job, force: bool) {
        if job.cancelled.get() {
            return;
        }
        let now = js_sys::Date::now();
        let first = job.progress.borrow().members_done <= 1;
        if !force && !first && now - job.last_publish.get() < PUBLISH_EVERY_MS {
            return;
        }
        job.last_publish.set(now);
        let (Some(crop), Some(data)) = (
            job.crop.borrow().clone(),
            job.ensemble.borrow().as_ref().and_then(Ensemble::frame),
        ) else {
            return;
        };
        let p = job.progress.borrow();
        self.outputs.frame.set(Some(Arc::new(Frame {
            plan: Arc::clone(&job.plan),
            crop,
            data,
            members_done: p.members_done,
            members_total: p.members_total,
            complete: p.complete,
        })));
    }

    /// A member's manifest (the view's array's group), from the caches or read by parts.
    async fn manifest(
        &self,
        job: &Job,
        source: &MemberSource,
    ) -> Result<Rc<MemberManifest>, MessageError> {
        let url = self
            .policy
            .resolve(&source.manifest, Some(&self.catalog_url))?;
        let array = job.plan.recipe.array();
        let key = manifest_fetch::cache_key(&url, array);
        let cached = self.manifests.borrow().get(&key);
        if let Some(m) = cached {
            return Ok(m);
        }
        if let Some(store) = self.store() {
            if let Some(bytes) = store.get(&key).await {
                if let Ok(m) = manifest_fetch::from_stored(array, &bytes) {
                    let m = Rc::new(m);
                    self.manifests.borrow_mut().insert(key, Rc::clone(&m), 1);
                    return Ok(m);
                }
            }
        }
        let signal = job.signal();
        let fetch = |want: Want| {
            let (url, signal) = (&url, signal.as_ref());
            async move {
                let answer = {
                    let _permit = job.limiter.acquire().await;
                    if job.cancelled.get() {
                        return Err(FetchFailure::Aborted);
                    }
                    data::fetch_bytes(url, want, signal).await?
                };
                self.observe(&answer.version);
                self.progress(job, |p| {
                    p.bytes += answer.bytes.len() as u64;
                    p.requests += 1;
                });
                crate::timers::yield_now().await;
                if job.cancelled.get() {
                    return Err(FetchFailure::Aborted);
                }
                Ok(answer)
            }
        };
        let fetched = manifest_fetch::fetch_member(array, manifest_fetch::TAIL_BYTES, fetch)
            .await
            .map_err(|e| match e {
                ManifestFetchError::Fetch(f) => MessageError::from(f),
                ManifestFetchError::Changed(c) => MessageError::from(c),
                error => MessageError::from(MemberFailure::Manifest {
                    url: url.to_string(),
                    error,
                }),
            })?;
        let manifest = Rc::new(fetched.manifest);
        self.store_put(key.clone(), fetched.stored, fetched.version);
        self.manifests
            .borrow_mut()
            .insert(key, Rc::clone(&manifest), 1);
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cache_forgets_the_oldest() {
        let mut c: BoundedCache<u32, u32> = BoundedCache::new(10);
        c.insert(1, 10, 4);
        c.insert(2, 20, 4);
        assert_eq!(c.get(&1), Some(10));
        c.insert(3, 30, 4);
        assert_eq!(c.get(&1), None);
        assert_eq!((c.get(&2), c.get(&3)), (Some(20), Some(30)));
        c.insert(3, 31, 2);
        assert_eq!(c.used, 6);
        // One entry bigger than the budget is still kept (the newest).
        c.insert(4, 40, 100);
        assert_eq!(c.get(&4), Some(40));
        assert_eq!(c.order.len(), 1);
    }

    #[test]
    fn failures_name_member_and_step() {
        let f = Failure {
            member: "gep05".into(),
            step: Some(24),
            reason: "404 Not Found: u".into(),
        };
        assert_eq!(f.to_string(), "gep05, +24 h: 404 Not Found: u");
        let g = Failure {
            member: "ens01".into(),
            step: None,
            reason: "manifest: x".into(),
        };
        assert_eq!(g.to_string(), "ens01: manifest: x");
    }
}
