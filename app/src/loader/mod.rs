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

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::rc::Rc;
use std::sync::Arc;

use gik_core::grib::{Grid, MessageInfo, MessageMetadata};
use gik_core::identity;
use gik_core::manifest::ByteRange;
use gik_core::member::MemberManifest;
use gik_core::origin::{AllowedUrl, UrlPolicy};
use gik_core::product::{product_by_name, Hosts, Member};
use leptos::prelude::{RwSignal, Set};

use crate::coalesce::Coalescer;
use crate::compute::{convert, Crop, Ensemble, Frame, MemberSource, ViewPlan};
use crate::data::{self, FetchFailure, Want, MAX_MANIFEST_BYTES};
use crate::prefix::{read_rows, Hints, ReadRowsError};
use crate::store::{self, Store, StoreUsage};
use crate::tasks::{join_all, Gate, Limiter, OpenOnDrop};
use crate::view_state::BBox;
use crate::worker::{decode_cropped, Pool, WorkerError};

/// Most HTTP requests in flight at once.
pub const MAX_IN_FLIGHT: usize = 6;

/// Most parsed manifests kept.
const MANIFEST_CACHE: usize = 256;

/// Most cropped field values kept in the message cache (floats; 4 bytes each).
const FIELD_CACHE_FLOATS: usize = 12_000_000;

/// Longest wait of a view's messages for its first one to size their reads, in ms.
const PROBE_WAIT_MS: i32 = 1000;

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

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FieldKey {
    url: String,
    offset: u64,
    length: u64,
    bbox: String,
    max_points: usize,
}

type CachedField = (Arc<Crop>, Rc<Vec<f32>>);

/// A crop built for a (grid, box, point budget).
type CropEntry = (Grid, BBox, usize, Arc<Crop>);

/// Why a message gave no field.
enum MessageError {
    /// The job was cancelled: say nothing.
    Aborted,
    /// A failure to show.
    Failed(String),
}

impl From<FetchFailure> for MessageError {
    fn from(f: FetchFailure) -> Self {
        if f.is_aborted() {
            Self::Aborted
        } else {
            Self::Failed(f.to_string())
        }
    }
}

/// Fetches, decodes and combines views; owns the caches.
pub struct Loader {
    policy: UrlPolicy,
    catalog_url: AllowedUrl,
    outputs: Outputs,
    manifests: RefCell<BoundedCache<AllowedUrl, Rc<MemberManifest>>>,
    fields: RefCell<BoundedCache<FieldKey, CachedField>>,
    crops: RefCell<Vec<CropEntry>>,
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
    coalescer: Coalescer<FetchFailure>,
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
            crops: RefCell::new(Vec::new()),
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

    /// Stores `bytes` under `key` in the background: the view never waits for storage.
    fn store_put(&self, key: String, bytes: Vec<u8>) {
        if let Some(store) = self.store() {
            let stored = self.outputs.stored;
            wasm_bindgen_futures::spawn_local(async move {
                store.put(&key, &bytes).await;
                stored.set(store.usage());
            });
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
                    return self.fail(job, name, Some(*step), reason)
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

    /// A member's manifest, from the cache or fetched and parsed.
    async fn manifest(
        &self,
        job: &Job,
        source: &MemberSource,
    ) -> Result<Rc<MemberManifest>, MessageError> {
        let url = self
            .policy
            .resolve(&source.manifest, Some(&self.catalog_url))
            .map_err(|e| MessageError::Failed(e.to_string()))?;
        let cached = self.manifests.borrow().get(&url);
        if let Some(m) = cached {
            return Ok(m);
        }
        let store_key = format!("manifest {url}");
        if let Some(store) = self.store() {
            if let Some(bytes) = store.get(&store_key).await {
                if let Ok(m) = MemberManifest::from_parquet(&bytes) {
                    let m = Rc::new(m);
                    self.manifests.borrow_mut().insert(url, Rc::clone(&m), 1);
                    return Ok(m);
                }
            }
        }
        let bytes = {
            let _permit = job.limiter.acquire().await;
            if job.cancelled.get() {
                return Err(MessageError::Aborted);
            }
            let want = Want::Whole {
                max: MAX_MANIFEST_BYTES,
            };
            data::fetch_bytes(&url, want, job.signal().as_ref()).await?
        };
        self.progress(job, |p| {
            p.bytes += bytes.len() as u64;
            p.requests += 1;
        });
        data::yield_now().await;
        if job.cancelled.get() {
            return Err(MessageError::Aborted);
        }
        let manifest = MemberManifest::from_parquet(&bytes)
            .map_err(|e| MessageError::Failed(format!("{url}: {e}")))?;
        let manifest = Rc::new(manifest);
        self.store_put(store_key, bytes);
        self.manifests
            .borrow_mut()
            .insert(url, Rc::clone(&manifest), 1);
        Ok(manifest)
    }

    /// The crop of `grid` for the job's box, built once per grid.
    fn crop_for(&self, grid: &Grid, bbox: &BBox, max_points: usize) -> Result<Arc<Crop>, String> {
        let mut crops = self.crops.borrow_mut();
        if let Some((_, _, _, c)) = crops
            .iter()
            .find(|(g, b, m, _)| g == grid && b == bbox && *m == max_points)
        {
            return Ok(Arc::clone(c));
        }
        let crop = Arc::new(Crop::new(grid, bbox, max_points).map_err(|e| e.to_string())?);
        if crops.len() >= 16 {
            crops.remove(0);
        }
        crops.push((grid.clone(), *bbox, max_points, Arc::clone(&crop)));
        Ok(crop)
    }

    /// Checks that a message's raster is the job's (set by the first message).
    fn check_raster(&self, job: &Job, crop: &Arc<Crop>) -> Result<(), MessageError> {
        let mut current = job.crop.borrow_mut();
        match current.as_ref() {
            None => {
                *current = Some(Arc::clone(crop));
                Ok(())
            }
            Some(c) if c.same_raster(crop) => Ok(()),
            Some(c) => Err(MessageError::Failed(format!(
                "its grid ({}×{} points in the box) differs from the other members' ({}×{})",
                crop.rows(),
                crop.cols(),
                c.rows(),
                c.cols()
            ))),
        }
    }

    /// One message, cropped to the box: from the cache, or the prefix its rows need fetched
    /// with Range requests ([`read_rows`]) and decoded.
    async fn message(
        &self,
        job: &Job,
        loc: &ByteRange,
        asked: Asked<'_>,
    ) -> Result<Rc<Vec<f32>>, MessageError> {
        let url = crate::data_origin::message_url(&self.policy, &loc.url, &self.catalog_url)
            .map_err(FetchFailure::from)?;
        let key = FieldKey {
            url: url.to_string(),
            offset: loc.offset,
            length: loc.length,
            bbox: job.plan.bbox.to_string(),
            max_points: job.plan.max_points(),
        };
        let cached = self.fields.borrow().get(&key);
        if let Some((crop, field)) = cached {
            self.check_raster(job, &crop)?;
            self.progress(job, |p| {
                p.messages_fetched += 1;
                p.messages_decoded += 1;
                p.from_cache += 1;
            });
            return Ok(field);
        }
        let store_key = format!(
            "field {} {}+{} {} {}",
            key.url, key.offset, key.length, key.bbox, key.max_points
        );
        if let Some(field) = self.stored_field(job, &store_key, &key).await? {
            return Ok(field);
        }
        let where_ = || {
            format!(
                "bytes {}–{} of {url}",
                loc.offset,
                loc.offset + loc.length.saturating_sub(1)
            )
        };
        // Only the prefix the box's rows need (rows run north to south): sized from what the
        // view's earlier messages needed, completed by a second request if it falls short.
        let hint_key = format!("{}|{}|{}", asked.array, key.bbox, key.max_points);
        // Every message of a view starts at once: while nothing is known about the array's
        // messages, the first one goes alone (a small head, then what its rows need) and the
        // others wait for it to teach the hints, so they take one request each.
        let mut _probe = None;
        if !self.hints.borrow().knows(&hint_key) {
            let running = job.probe.borrow().clone();
            match running {
                // At most PROBE_WAIT_MS: a slow first message must not stall the view.
                Some(gate) => {
                    let mut opened = std::pin::pin!(gate.wait());
                    let mut timer = std::pin::pin!(sleep_ms(PROBE_WAIT_MS));
                    std::future::poll_fn(|cx| {
                        if opened.as_mut().poll(cx).is_ready() || timer.as_mut().poll(cx).is_ready()
                        {
                            std::task::Poll::Ready(())
                        } else {
                            std::task::Poll::Pending
                        }
                    })
                    .await;
                }
                None => {
                    let gate = Rc::new(Gate::default());
                    *job.probe.borrow_mut() = Some(Rc::clone(&gate));
                    _probe = Some(OpenOnDrop(gate));
                }
            }
            if job.cancelled.get() {
                return Err(MessageError::Aborted);
            }
        }
        let first = self.hints.borrow().first_read(&hint_key, loc.length);
        let crop_found: RefCell<Option<Arc<Crop>>> = RefCell::new(None);
        let signal = job.signal();
        // One Range request (the coalescer may serve several reads with one).
        let fetch = |a: u64, b: u64| {
            let (url, signal) = (&url, signal.as_ref());
            async move {
                if job.cancelled.get() {
                    return Err(FetchFailure::Aborted);
                }
                let want = Want::Range {
                    offset: a,
                    length: b - a,
                };
                // Through the product's mirrors (the first whose host has not failed).
                let bytes = data::fetch_message(&self.policy, url, want, signal).await?;
                self.progress(job, |p| {
                    p.requests += 1;
                    p.bytes += bytes.len() as u64;
                });
                Ok(bytes)
            }
        };
        let (url_ref, fetch_ref) = (&url, &fetch);
        let read = |from: u64, to: u64| async move {
            let (url, fetch) = (url_ref, fetch_ref);
            let (a, b) = (loc.offset + from, loc.offset + to);
            let bytes = if from == 0 {
                // A message's first read may share a request with its waiting neighbours.
                job.coalescer
                    .read(&job.limiter, url.as_str(), a, b, fetch)
                    .await?
            } else {
                let _permit = job.limiter.acquire().await;
                fetch(a, b).await?
            };
            self.progress(job, |p| p.message_bytes += bytes.len() as u64);
            data::yield_now().await;
            if job.cancelled.get() {
                return Err(MessageError::Aborted);
            }
            Ok(bytes)
        };
        let rows_of = |info: &MessageInfo| {
            // Sections 0–4 (cheap): the message must be the one asked for.
            check_identity(
                &job.plan.product,
                &job.plan.variable,
                &asked,
                &info.metadata,
            )
            .map_err(|e| MessageError::Failed(format!("{e} ({})", where_())))?;
            let crop = self
                .crop_for(&info.grid, &job.plan.bbox, job.plan.max_points())
                .map_err(MessageError::Failed)?;
            self.check_raster(job, &crop)?;
            let rows = crop.rows_needed().max(1);
            *crop_found.borrow_mut() = Some(crop);
            Ok(rows)
        };
        // Decoding stops after the box's last row and crops at once, in a worker of the pool
        // when one is ready (the main thread only draws), else here.
        let decode = |prefix: &[u8], rows: usize| {
            let crop = crop_found.borrow().clone();
            let sent = self
                .pool
                .decode(prefix, rows, &job.plan.bbox, job.plan.max_points());
            let copy = prefix.to_vec();
            async move {
                let crop = crop.ok_or_else(|| "no header".to_string())?;
                let values = match sent {
                    Some(decoding) => match decoding.await {
                        Ok(v) => Ok(v),
                        Err(WorkerError::Decode(e)) => Err(e),
                        Err(WorkerError::Gone) => decode_cropped(&copy, rows, &crop),
                    },
                    None => {
                        data::yield_now().await;
                        decode_cropped(&copy, rows, &crop)
                    }
                }?;
                if values.len() != crop.len() {
                    return Err(format!(
                        "{} values decoded for a crop of {}",
                        values.len(),
                        crop.len()
                    ));
                }
                Ok(values)
            }
        };
        let got = read_rows(loc.length, first, read, rows_of, decode)
            .await
            .map_err(|e| match e {
                ReadRowsError::Other(e) => e,
                ReadRowsError::Decode(e) => {
                    MessageError::Failed(format!("decode error in {}: {e}", where_()))
                }
            })?;
        self.hints
            .borrow_mut()
            .learn(&hint_key, loc.length, got.need);
        self.progress(job, |p| {
            p.messages_fetched += 1;
            p.message_lengths += loc.length;
        });
        let crop = crop_found
            .into_inner()
            .ok_or_else(|| MessageError::Failed(format!("no header in {}", where_())))?;
        let field = Rc::new(got.decoded);
        self.fields
            .borrow_mut()
            .insert(key, (crop, Rc::clone(&field)), field.len());
        self.progress(job, |p| p.messages_decoded += 1);
        self.store_put(store_key, store::encode_field(&got.head, &field));
        Ok(field)
    }

    /// A field from the persistent store, if it holds it (and its header still describes a
    /// grid this job can crop).
    async fn stored_field(
        &self,
        job: &Job,
        store_key: &str,
        key: &FieldKey,
    ) -> Result<Option<Rc<Vec<f32>>>, MessageError> {
        let Some(store) = self.store() else {
            return Ok(None);
        };
        let Some(bytes) = store.get(store_key).await else {
            return Ok(None);
        };
        let Some((head, values)) = store::decode_field(&bytes) else {
            return Ok(None);
        };
        let Ok(info) = gik_core::grib::describe_header(head) else {
            return Ok(None);
        };
        let Ok(crop) = self.crop_for(&info.grid, &job.plan.bbox, job.plan.max_points()) else {
            return Ok(None);
        };
        if values.len() != crop.len() {
            return Ok(None);
        }
        self.check_raster(job, &crop)?;
        let field = Rc::new(values);
        self.fields
            .borrow_mut()
            .insert(key.clone(), (crop, Rc::clone(&field)), field.len());
        self.progress(job, |p| {
            p.messages_fetched += 1;
            p.messages_decoded += 1;
            p.from_cache += 1;
        });
        Ok(Some(field))
    }
}

/// Resolves after `ms` milliseconds (a browser timer; at once without a window).
async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let set = web_sys::window().map(|w| {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
                .is_ok()
        });
        if set != Some(true) {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// What a message was fetched as: the manifest array, step and member of the view.
#[derive(Clone, Copy, Debug)]
struct Asked<'a> {
    /// Data array path in the member manifest (`tp/accum/surface/tp`).
    array: &'a str,
    /// Step, hours.
    step: u32,
    /// Member name (`gep05`, `ens07`).
    member: &'a str,
}

/// Checks, from a message's sections 0–4, that it is the variable, step and member the view
/// asked for ([`gik_core::identity`]): a manifest that points at the wrong bytes (a stale or
/// tampered reference, a mirror serving another file) must not be drawn as the asked field.
fn check_identity(
    product: &str,
    variable: &str,
    asked: &Asked<'_>,
    found: &MessageMetadata,
) -> Result<(), identity::IdentityMismatch> {
    let product = product_by_name(product, &Hosts::default()).ok();
    let spec = product.as_ref().and_then(|p| p.variable(variable).ok());
    let member = product
        .as_ref()
        .and_then(|p| Member::parse(p.as_ref(), asked.member).ok());
    identity::check(
        &identity::Expected {
            spec: spec.as_ref(),
            array: asked.array,
            step_hours: asked.step,
            member,
            member_name: asked.member,
        },
        found,
    )
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
