//! One message of a view: from the caches, or fetched as the prefix its rows need, checked and
//! decoded.
//!
//! Why apart from the rest of the loader: a message goes through more steps than anything
//! else the loader does — the in-memory and persistent field caches, the probe that lets a
//! view's first message of an array size the reads of the others, Range reads through the
//! coalescer and the product's mirrors, the identity check on the header, the crop and its
//! raster check, and the decode in a worker. [`crate::prefix::read_rows`] drives the reads
//! and the decode through callbacks; [`MessageRead`] holds them, one method each.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use gik_core::geo::GeoError;
use gik_core::grib::{Grid, MessageInfo, MessageMetadata};
use gik_core::identity;
use gik_core::manifest::ByteRange;
use gik_core::origin::AllowedUrl;
use gik_core::product::{product_by_name, Hosts, Member};

use super::{Job, Loader, MemberFailure, MessageError};
use crate::compute::Crop;
use crate::data::{self, Answer, FetchFailure, Want};
use crate::prefix::{read_rows, ReadRowsError};
use crate::store;
use crate::tasks::{Gate, OpenOnDrop};
use crate::version::Parts;
use crate::worker::{decode_cropped, DecodeError, WorkerError};

/// Longest wait of a view's messages for its first one to size their reads, in ms.
const PROBE_WAIT_MS: i32 = 1000;

/// What identifies a cropped field: the message's bytes, the box and the point budget.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct FieldKey {
    url: String,
    offset: u64,
    length: u64,
    bbox: String,
    max_points: usize,
}

impl FieldKey {
    /// The key of the field in the persistent store.
    fn store_key(&self) -> String {
        format!(
            "field {} {}+{} {} {}",
            self.url, self.offset, self.length, self.bbox, self.max_points
        )
    }
}

/// A cropped field in the message cache, with its crop.
pub(super) type CachedField = (Arc<Crop>, Rc<Vec<f32>>);

/// What a message was fetched as: the manifest array, step and member of the view.
#[derive(Clone, Copy, Debug)]
pub(super) struct Asked<'a> {
    /// Data array path in the member manifest (`tp/accum/surface/tp`).
    pub(super) array: &'a str,
    /// Step, hours.
    pub(super) step: u32,
    /// Member name (`gep05`, `ens07`).
    pub(super) member: &'a str,
}

impl Loader {
    /// One message, cropped to the box: from the cache, or the prefix its rows need fetched
    /// with Range requests ([`read_rows`]) and decoded.
    pub(super) async fn message(
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
        if let Some(field) = self.stored_field(job, &key).await? {
            return Ok(field);
        }
        // Only the prefix the box's rows need (rows run north to south): sized from what the
        // view's earlier messages needed, completed by a second request if it falls short.
        let hint_key = format!("{}|{}|{}", asked.array, key.bbox, key.max_points);
        let _probe = self.probe_turn(job, &hint_key).await?;
        let first = self.hints.borrow().first_read(&hint_key, loc.length);
        let reading = &MessageRead {
            loader: self,
            job,
            url: &url,
            loc,
            asked,
            signal: job.signal(),
            parts: RefCell::new(Parts::new()),
        };
        let got = read_rows(
            loc.length,
            first,
            |from, to| reading.read(from, to),
            |info| reading.rows_of(info),
            |prefix, rows, crop| reading.decode(prefix, rows, crop),
        )
        .await
        .map_err(|e| match e {
            ReadRowsError::Other(e) => e,
            ReadRowsError::Decode(error) => MessageError::from(MemberFailure::Decode {
                place: reading.place(),
                error,
            }),
        })?;
        self.hints
            .borrow_mut()
            .learn(&hint_key, loc.length, got.need);
        self.progress(job, |p| {
            p.messages_fetched += 1;
            p.message_lengths += loc.length;
        });
        let (crop, values) = got.decoded;
        let field = Rc::new(values);
        let store_key = key.store_key();
        self.fields
            .borrow_mut()
            .insert(key, (crop, Rc::clone(&field)), field.len());
        self.progress(job, |p| p.messages_decoded += 1);
        if let Some(version) = reading.parts.borrow().version() {
            let bytes = store::encode_field(&got.head, &field);
            self.store_put(store_key, bytes, version.clone());
        }
        Ok(field)
    }

    /// Every message of a view starts at once: while nothing is known about the array's
    /// messages (`hint_key`), the first one goes alone (a small head, then what its rows need)
    /// and the others wait for it to teach the hints, so they take one request each. Returns,
    /// for that first message, the guard that lets the others go when it is dropped; the
    /// others wait at most [`PROBE_WAIT_MS`] (a slow first message must not stall the view).
    async fn probe_turn(
        &self,
        job: &Job,
        hint_key: &str,
    ) -> Result<Option<OpenOnDrop>, MessageError> {
        if self.hints.borrow().knows(hint_key) {
            return Ok(None);
        }
        let running = job.probe.borrow().clone();
        let turn = match running {
            Some(gate) => {
                wait_at_most(gate.wait(), PROBE_WAIT_MS).await;
                None
            }
            None => {
                let gate = Rc::new(Gate::default());
                *job.probe.borrow_mut() = Some(Rc::clone(&gate));
                Some(OpenOnDrop(gate))
            }
        };
        if job.cancelled.get() {
            return Err(MessageError::Aborted);
        }
        Ok(turn)
    }

    /// A field from the persistent store, if it holds it (and its header still describes a
    /// grid this job can crop).
    async fn stored_field(
        &self,
        job: &Job,
        key: &FieldKey,
    ) -> Result<Option<Rc<Vec<f32>>>, MessageError> {
        let Some(store) = self.store() else {
            return Ok(None);
        };
        let Some(bytes) = store.get(&key.store_key()).await else {
            return Ok(None);
        };
        let Some((head, values)) = store::decode_field(&bytes) else {
            return Ok(None);
        };
        let Ok(info) = gik_core::grib::describe_header(head) else {
            return Ok(None);
        };
        let Ok(crop) = self.crop_for(job, &info.grid) else {
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

    /// The crop of `grid` for the job's box and point budget (built once per grid).
    fn crop_for(&self, job: &Job, grid: &Grid) -> Result<Arc<Crop>, GeoError> {
        self.crops
            .borrow_mut()
            .get(grid, &job.plan.bbox, job.plan.max_points())
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
            Some(c) => Err(MessageError::from(MemberFailure::OtherGrid {
                rows: crop.rows(),
                cols: crop.cols(),
                other_rows: c.rows(),
                other_cols: c.cols(),
            })),
        }
    }
}

/// One message being read: what [`read_rows`]'s callbacks need, and the callbacks.
struct MessageRead<'a> {
    loader: &'a Loader,
    job: &'a Job,
    /// The message's file, as fetched (before the mirrors).
    url: &'a AllowedUrl,
    /// Its bytes in the file.
    loc: &'a ByteRange,
    asked: Asked<'a>,
    signal: Option<web_sys::AbortSignal>,
    /// The versions of the file the reads were answered from: one, or the read fails.
    parts: RefCell<Parts>,
}

impl MessageRead<'_> {
    /// The message's bytes, for errors: `bytes a–b of URL`.
    fn place(&self) -> String {
        format!(
            "bytes {}–{} of {}",
            self.loc.offset,
            self.loc.offset + self.loc.length.saturating_sub(1),
            self.url
        )
    }

    /// One Range request for bytes `a..b` of the file, through the product's mirrors (the
    /// first whose host has not failed).
    async fn fetch(&self, a: u64, b: u64) -> Result<Answer, FetchFailure> {
        if self.job.cancelled.get() {
            return Err(FetchFailure::Aborted);
        }
        let want = Want::Range {
            offset: a,
            length: b - a,
        };
        let policy = &self.loader.policy;
        let answer = data::fetch_message(policy, self.url, want, self.signal.as_ref()).await?;
        self.loader.observe(&answer.version);
        self.loader.progress(self.job, |p| {
            p.requests += 1;
            p.bytes += answer.bytes.len() as u64;
        });
        Ok(answer)
    }

    /// Bytes `from..to` of the message, within the job's request limit. A message's first
    /// read may share a request with its waiting neighbours (the coalescer). Every read must
    /// come from the version of the file the first came from ([`Parts`]): a message is never
    /// decoded from the bytes of two versions.
    async fn read(&self, from: u64, to: u64) -> Result<Vec<u8>, MessageError> {
        let job = self.job;
        let (a, b) = (self.loc.offset + from, self.loc.offset + to);
        let answer = if from == 0 {
            let fetch = |a, b| self.fetch(a, b);
            job.coalescer
                .read(&job.limiter, self.url.as_str(), a, b, fetch)
                .await?
        } else {
            let _permit = job.limiter.acquire().await;
            self.fetch(a, b).await?
        };
        self.parts.borrow_mut().check(&answer.version)?;
        let bytes = answer.bytes;
        self.loader
            .progress(job, |p| p.message_bytes += bytes.len() as u64);
        crate::timers::yield_now().await;
        if job.cancelled.get() {
            return Err(MessageError::Aborted);
        }
        Ok(bytes)
    }

    /// From the header (sections 0–4, cheap): the message must be the one asked for, on the
    /// job's raster. Returns the rows the box needs and the crop.
    fn rows_of(&self, info: &MessageInfo) -> Result<(usize, Arc<Crop>), MessageError> {
        let plan = &self.job.plan;
        check_identity(&plan.product, &plan.variable, &self.asked, &info.metadata).map_err(
            |error| MemberFailure::Identity {
                place: self.place(),
                error,
            },
        )?;
        let crop = self.loader.crop_for(self.job, &info.grid)?;
        self.loader.check_raster(self.job, &crop)?;
        Ok((crop.rows_needed().max(1), crop))
    }

    /// Decodes the first `rows` rows of `prefix` and crops them: decoding stops after the
    /// box's last row, in a worker of the pool when one is ready (the main thread only draws),
    /// else here.
    fn decode(
        &self,
        prefix: &[u8],
        rows: usize,
        crop: &Arc<Crop>,
    ) -> impl Future<Output = Result<(Arc<Crop>, Vec<f32>), DecodeError>> {
        let plan = &self.job.plan;
        let sent = self
            .loader
            .pool
            .decode(prefix, rows, &plan.bbox, plan.max_points());
        let (copy, crop) = (prefix.to_vec(), Arc::clone(crop));
        async move {
            let values = match sent {
                Some(decoding) => match decoding.await {
                    Ok(v) => Ok(v),
                    Err(WorkerError::Decode(e)) => Err(DecodeError::InWorker(e)),
                    Err(WorkerError::Gone) => decode_cropped(&copy, rows, &crop),
                },
                None => {
                    crate::timers::yield_now().await;
                    decode_cropped(&copy, rows, &crop)
                }
            }?;
            if values.len() != crop.len() {
                return Err(DecodeError::WrongCount {
                    decoded: values.len(),
                    crop: crop.len(),
                });
            }
            Ok((crop, values))
        }
    }
}

/// Waits for `event`, at most `ms` milliseconds.
async fn wait_at_most(event: impl Future<Output = ()>, ms: i32) {
    let mut event = std::pin::pin!(event);
    let mut timer = std::pin::pin!(crate::timers::sleep_ms(ms));
    std::future::poll_fn(|cx| {
        if event.as_mut().poll(cx).is_ready() || timer.as_mut().poll(cx).is_ready() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
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
