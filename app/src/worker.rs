//! The decode pool: GRIB2 messages are decoded and cropped in Web Workers, so the main thread
//! only draws.
//!
//! Why plain workers: each runs its own wasm instance (the `gik-worker` binary, which Trunk
//! builds from the `data-type="worker"` link in `index.html`) and gets the message bytes as a
//! transferred buffer; no `SharedArrayBuffer`, so no cross-origin isolation headers, and GitHub
//! Pages (or any static host) works. The pool has one worker fewer than
//! `navigator.hardwareConcurrency` (at least one, at most [`MAX_WORKERS`]: [`default_pool_size`]); `?workers=N` in the page's URL sets another number (0 decodes on the
//! main thread; the benchmark compares 1 and 2).
//!
//! Protocol (one message each way, plain JS objects): the page posts
//! `{id, rows, bbox: [S, N, W, E], maxPoints, bytes: Uint8Array}` (the buffer transferred); the
//! worker answers `{id, values: Float32Array}` (transferred) or `{id, error}`, after a first
//! `{ready: true}`. A message is never sent to a worker before it said it is ready (until one
//! is, the main thread decodes), and a worker that fails is left out: its pending decodes fail
//! over to the main thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use gik_core::geo::GeoError;
use gik_core::grib::{self, GribError};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::compute::{Crop, CropCache};
use crate::view_state::BBox;

/// Most workers in the pool.
pub const MAX_WORKERS: usize = 8;

/// The worker script Trunk writes beside the page (`data-loader-shim`).
pub const WORKER_SCRIPT: &str = "gik-worker_loader.js";

/// Crops a worker keeps (one per grid, box and point budget seen recently).
const WORKER_CROPS: usize = 8;

/// Why a message's rows gave no cropped values.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes do not decode: a bad message, or a prefix too short for the rows.
    #[error(transparent)]
    Grib(#[from] GribError),
    /// The message's grid cannot be cropped to the box.
    #[error(transparent)]
    Crop(#[from] GeoError),
    /// A worker's decode failed: its error, as the text it posted back.
    #[error("{0}")]
    InWorker(String),
    /// A request to a worker without a usable box (`[south, north, west, east]`).
    #[error("bad request: bbox")]
    BadRequest,
    /// The decode gave another number of values than the crop has points.
    #[error("{decoded} values decoded for a crop of {crop}")]
    WrongCount {
        /// Values decoded.
        decoded: usize,
        /// Points of the crop.
        crop: usize,
    },
}

/// The first `rows` rows of a message prefix, decoded and cropped: the one computation the
/// pool moves off the main thread (and the main thread runs itself without a pool).
pub fn decode_cropped(prefix: &[u8], rows: usize, crop: &Crop) -> Result<Vec<f32>, DecodeError> {
    let decoded = grib::decode_rows(prefix, rows)?;
    Ok(crop.apply(&decoded.values)?)
}

/// A worker's side: the crops it built, by (grid, box, point budget).
pub struct WorkerCrops {
    crops: CropCache,
}

impl Default for WorkerCrops {
    fn default() -> Self {
        Self {
            crops: CropCache::new(WORKER_CROPS),
        }
    }
}

impl WorkerCrops {
    /// Decodes and crops `prefix` for `bbox` / `max_points` (the crop is built from the
    /// message's own grid, exactly as the page builds it).
    pub fn run(
        &mut self,
        prefix: &[u8],
        rows: usize,
        bbox: &BBox,
        max_points: usize,
    ) -> Result<Vec<f32>, DecodeError> {
        let info = grib::describe_header(prefix)?;
        let crop = self.crops.get(&info.grid, bbox, max_points)?;
        decode_cropped(prefix, rows, &crop)
    }
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    js_sys::Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(obj: &js_sys::Object, key: &str, value: &JsValue) {
    let _ = js_sys::Reflect::set(obj, &JsValue::from_str(key), value);
}

/// The worker binary's entry point: answers decode requests until the page closes.
pub fn serve() {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let crops = RefCell::new(WorkerCrops::default());
    let reply_scope = scope.clone();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let data = e.data();
            let id = get(&data, "id");
            let rows = get(&data, "rows").as_f64().unwrap_or(0.0) as usize;
            let max_points = get(&data, "maxPoints").as_f64().unwrap_or(0.0) as usize;
            let b: Vec<f64> = js_sys::Float64Array::new(&get(&data, "bbox")).to_vec();
            let bytes = js_sys::Uint8Array::new(&get(&data, "bytes")).to_vec();
            let result = match b.as_slice() {
                // The page's own box, field for field (so the crop is the page's).
                &[south, north, west, east] => {
                    let bbox = BBox {
                        south,
                        north,
                        west,
                        east,
                    };
                    crops.borrow_mut().run(&bytes, rows, &bbox, max_points)
                }
                _ => Err(DecodeError::BadRequest),
            };
            let answer = js_sys::Object::new();
            set(&answer, "id", &id);
            let transfer = js_sys::Array::new();
            match result {
                Ok(values) => {
                    let array = js_sys::Float32Array::from(values.as_slice());
                    transfer.push(&array.buffer());
                    set(&answer, "values", &array);
                }
                Err(e) => set(&answer, "error", &JsValue::from_str(&e.to_string())),
            }
            let _ = reply_scope.post_message_with_transfer(&answer, &transfer);
        });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    let ready = js_sys::Object::new();
    set(&ready, "ready", &JsValue::TRUE);
    let _ = scope.post_message(&ready);
}

/// A decode waiting for its worker's answer.
#[derive(Default)]
struct Pending {
    result: RefCell<Option<Result<Vec<f32>, WorkerError>>>,
    waker: RefCell<Option<Waker>>,
}

/// Why a worker gave no values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkerError {
    /// The decode failed (the message, or a prefix too short): the worker's error.
    Decode(String),
    /// The worker failed (its wasm did not load, or it crashed): decode on the main thread.
    Gone,
}

struct Slot {
    worker: web_sys::Worker,
    ready: Cell<bool>,
    dead: Cell<bool>,
    busy: Cell<usize>,
    /// Ids sent to this worker and not answered yet.
    sent: RefCell<Vec<u32>>,
}

/// The page's decode workers.
pub struct Pool {
    slots: Vec<Rc<Slot>>,
    pending: Rc<RefCell<HashMap<u32, Rc<Pending>>>>,
    next_id: Cell<u32>,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

fn finish(
    pending: &RefCell<HashMap<u32, Rc<Pending>>>,
    id: u32,
    result: Result<Vec<f32>, WorkerError>,
) {
    if let Some(p) = pending.borrow_mut().remove(&id) {
        *p.result.borrow_mut() = Some(result);
        if let Some(w) = p.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Number of workers for this page: `?workers=N` in its URL, else
/// [`default_pool_size`] of `navigator.hardwareConcurrency`.
pub fn pool_size() -> usize {
    let Some(window) = web_sys::window() else {
        return 0;
    };
    crate::page_param("workers")
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n.min(MAX_WORKERS))
        .unwrap_or_else(|| default_pool_size(window.navigator().hardware_concurrency()))
}

/// Workers for a machine with `cores` logical cores: one core is left to the page's own
/// thread (drawing, fetching, storing), so a busy pool never stretches the page's tasks; at
/// least one worker, at most [`MAX_WORKERS`]. On a 2-core machine 2 workers decoded a view no
/// faster than 1 (BENCHMARKS.md, "decode workers"), and made the page's tasks longer.
pub fn default_pool_size(cores: f64) -> usize {
    let cores = if cores.is_finite() && cores >= 1.0 {
        cores as usize
    } else {
        1
    };
    cores.saturating_sub(1).clamp(1, MAX_WORKERS)
}

impl Pool {
    /// Starts `n` workers (none if the browser cannot start them).
    pub fn new(n: usize) -> Self {
        let pending: Rc<RefCell<HashMap<u32, Rc<Pending>>>> = Rc::default();
        let mut slots = Vec::new();
        let mut handlers = Vec::new();
        for _ in 0..n {
            let Ok(worker) = web_sys::Worker::new(WORKER_SCRIPT) else {
                break;
            };
            let slot = Rc::new(Slot {
                worker,
                ready: Cell::new(false),
                dead: Cell::new(false),
                busy: Cell::new(0),
                sent: RefCell::new(Vec::new()),
            });
            let (s, p) = (Rc::clone(&slot), Rc::clone(&pending));
            let on_message = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
                let data = get(&e, "data");
                if get(&data, "ready").is_truthy() {
                    s.ready.set(true);
                    return;
                }
                let Some(id) = get(&data, "id").as_f64().map(|v| v as u32) else {
                    return;
                };
                s.busy.set(s.busy.get().saturating_sub(1));
                s.sent.borrow_mut().retain(|&x| x != id);
                let values = get(&data, "values");
                let result = if values.is_undefined() {
                    let e = get(&data, "error").as_string().unwrap_or_default();
                    Err(WorkerError::Decode(e))
                } else {
                    Ok(js_sys::Float32Array::new(&values).to_vec())
                };
                finish(&p, id, result);
            });
            let (s, p) = (Rc::clone(&slot), Rc::clone(&pending));
            let on_error = Closure::<dyn FnMut(JsValue)>::new(move |_e: JsValue| {
                // The worker failed (its wasm did not load, or it crashed): leave it out.
                s.dead.set(true);
                for id in s.sent.borrow_mut().drain(..) {
                    finish(&p, id, Err(WorkerError::Gone));
                }
            });
            slot.worker
                .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            slot.worker
                .set_onerror(Some(on_error.as_ref().unchecked_ref()));
            handlers.push(on_message);
            handlers.push(on_error);
            slots.push(slot);
        }
        Self {
            slots,
            pending,
            next_id: Cell::new(1),
            _handlers: handlers,
        }
    }

    /// Workers started.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Sends the decode to the least busy ready worker; `None` when no worker is ready (the
    /// caller decodes on the main thread).
    pub fn decode(
        &self,
        prefix: &[u8],
        rows: usize,
        bbox: &BBox,
        max_points: usize,
    ) -> Option<Decoding> {
        let slot = self
            .slots
            .iter()
            .filter(|s| s.ready.get() && !s.dead.get())
            .min_by_key(|s| s.busy.get())?;
        let id = self.next_id.get();
        self.next_id.set(id.wrapping_add(1));
        let request = js_sys::Object::new();
        set(&request, "id", &JsValue::from(id));
        set(&request, "rows", &JsValue::from(rows as f64));
        set(&request, "maxPoints", &JsValue::from(max_points as f64));
        let b = [bbox.south, bbox.north, bbox.west, bbox.east];
        set(&request, "bbox", &js_sys::Float64Array::from(&b[..]));
        let bytes = js_sys::Uint8Array::from(prefix);
        set(&request, "bytes", &bytes);
        let transfer = js_sys::Array::new();
        transfer.push(&bytes.buffer());
        let pending = Rc::new(Pending::default());
        self.pending.borrow_mut().insert(id, Rc::clone(&pending));
        if slot
            .worker
            .post_message_with_transfer(&request, &transfer)
            .is_err()
        {
            self.pending.borrow_mut().remove(&id);
            return None;
        }
        slot.busy.set(slot.busy.get() + 1);
        slot.sent.borrow_mut().push(id);
        Some(Decoding { pending })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for s in &self.slots {
            s.worker.terminate();
        }
    }
}

/// A decode in a worker; resolves to the cropped values, or why not.
pub struct Decoding {
    pending: Rc<Pending>,
}

impl Future for Decoding {
    type Output = Result<Vec<f32>, WorkerError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.pending.result.borrow_mut().take() {
            Some(r) => Poll::Ready(r),
            None => {
                *self.pending.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_crops_exactly_as_the_page() {
        let bytes = crate::prefix::tests::fixture("gfs/gfs.20200325.t18z.pgrb2.0p25.f006");
        let message = &bytes[..];
        let full = grib::decode(message).unwrap();
        let bbox = gik_core::icpac::EAST_AFRICA;
        let crop = Crop::new(&full.info.grid, &bbox, 5000).unwrap();
        let expected = crop.apply(&full.values).unwrap();
        let mut w = WorkerCrops::default();
        let got = w.run(message, crop.rows_needed(), &bbox, 5000).unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // The second message reuses the crop; a bad prefix is an error.
        assert_eq!(
            w.run(message, crop.rows_needed(), &bbox, 5000).unwrap(),
            got
        );
        assert_eq!(w.crops.len(), 1);
        assert!(w.run(&message[..10], 1, &bbox, 5000).is_err());
    }

    #[test]
    fn one_core_is_left_to_the_page() {
        assert_eq!(default_pool_size(1.0), 1);
        assert_eq!(default_pool_size(2.0), 1);
        assert_eq!(default_pool_size(4.0), 3);
        assert_eq!(default_pool_size(64.0), MAX_WORKERS);
        // Browsers that hide the figure report 0 or nothing.
        assert_eq!(default_pool_size(0.0), 1);
        assert_eq!(default_pool_size(f64::NAN), 1);
    }
}
