//! A global allocator that counts and caps: any single allocation above [`ALLOCATION_CAP`] is
//! a finding.
//!
//! Decoders that trust a size read from their input (`Vec::with_capacity(n)` with `n` from a
//! header) are the classic way to turn a few bytes into gigabytes: on a server that is a
//! denial of service, in the browser it kills the page. `catch_unwind` cannot see an
//! allocation failure (it aborts), so this allocator checks the size *before* asking the system:
//! above the cap it writes the input being tested to the crash folder, says so on stderr and
//! aborts the process, leaving a reproducer behind. It also counts live and peak bytes, which
//! the runner reports per target.
//!
//! Installed with `#[global_allocator]` by the `gik-fuzz` binary and the regression tests only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The largest single allocation a target may make: 1 GiB.
pub const ALLOCATION_CAP: usize = 1 << 30;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INPUT_PTR: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
/// Where to save the input of an over-cap allocation (set once per target by the runner).
static SAVE_TO: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The system allocator with a per-allocation cap and live/peak counters.
pub struct CappedAlloc;

// SAFETY: every method forwards to `System` with the same layout; the bookkeeping only touches
// atomics, except on the way to an abort.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        let p = System.alloc(layout);
        if !p.is_null() {
            count(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            count(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            count(new_size);
        }
        p
    }
}

fn count(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

/// Aborts, leaving the current input behind, when `size` is over the cap.
fn check(size: usize) {
    if size <= ALLOCATION_CAP {
        return;
    }
    let ptr = INPUT_PTR.load(Ordering::SeqCst);
    let len = INPUT_LEN.load(Ordering::SeqCst);
    // The small allocations below (a path, a message) are under the cap and do not recurse.
    let saved = SAVE_TO.try_lock().ok().and_then(|path| path.clone());
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "gik-fuzz: FINDING: a single allocation of {size} bytes (cap {ALLOCATION_CAP})"
    );
    if let (Some(path), false) = (saved, ptr.is_null()) {
        // SAFETY: the runner publishes the input with `set_current_input` and clears it before
        // the buffer is dropped; we are inside the target call that reads it.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        if std::fs::write(&path, input).is_ok() {
            let _ = writeln!(stderr, "gik-fuzz: input saved to {}", path.display());
        }
    }
    std::process::abort();
}

/// Publishes the input being tested (for the over-cap report); `None` clears it.
pub fn set_current_input(input: Option<&[u8]>) {
    let (ptr, len) = input.map_or((std::ptr::null_mut(), 0), |i| {
        (i.as_ptr().cast_mut(), i.len())
    });
    INPUT_LEN.store(len, Ordering::SeqCst);
    INPUT_PTR.store(ptr, Ordering::SeqCst);
}

/// Where an over-cap allocation's input is written.
pub fn set_save_path(path: Option<PathBuf>) {
    if let Ok(mut slot) = SAVE_TO.lock() {
        *slot = path;
    }
}

/// Bytes live now (0 unless [`CappedAlloc`] is the global allocator).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Highest live byte count since the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from the current live count.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}
