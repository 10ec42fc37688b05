//! Range coalescing: byte ranges of one file that wait for a request slot at the same time, and
//! lie next to each other (or nearly), are fetched with one request and shared out.
//!
//! Why: a request costs a round trip (30 ms and more on the lines the app is for) and a slot
//! of the [`Limiter`]; the bytes between two ranges cost `gap ÷ bandwidth`. Reading a gap of
//! [`GAP_BYTES`] (32 KiB) takes 26 ms at 10 Mbit/s — less than a round trip — so ranges at most
//! that far apart are merged (Herbie and icechunk-js merge ranges the same way). A merged
//! request is at most [`MAX_MERGED_BYTES`].
//!
//! When it wins: ECMWF puts all members of a step in one file, so the members' messages of one
//! view can be neighbours; GEFS has one file per member and step, so nothing merges there.
//! With prefix reads ([`crate::prefix`]) the gap between two neighbours' prefixes is the
//! unread tail of the first message (for East Africa ~40 % of it, hundreds of KB on real data),
//! far over the threshold: prefixes are not merged and merging wins only when the box needs
//! (nearly) whole messages — a box reaching the south of the grid, or the small cropped
//! messages of a regional subset, where prefixes are whole messages and gaps are zero.
//!
//! Only first reads of messages are coalesced (the follow-up read of a message that fell short
//! goes alone), and only ranges already waiting: nothing is delayed to wait for a neighbour.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::tasks::{Limiter, Permit};

/// Largest gap (bytes) read between two ranges merged into one request.
pub const GAP_BYTES: u64 = 32 << 10;

/// Largest merged request (bytes).
pub const MAX_MERGED_BYTES: u64 = 16 << 20;

/// Which of `ranges` (`start..end`, any order) merge with `ranges[anchor]`: those reachable
/// from it through gaps of at most `gap` bytes, as long as the merged span stays within `max`
/// bytes. Returns their indices (the anchor included) and the merged span.
pub fn merge_with(
    ranges: &[(u64, u64)],
    anchor: usize,
    gap: u64,
    max: u64,
) -> (Vec<usize>, (u64, u64)) {
    let Some(&(mut lo, mut hi)) = ranges.get(anchor) else {
        return (Vec::new(), (0, 0));
    };
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| ranges[i]);
    let mut taken = vec![false; ranges.len()];
    taken[anchor] = true;
    // Grow the span outward from the anchor, in start order, until a gap or the cap stops it.
    let pos = order.iter().position(|&i| i == anchor).unwrap_or(0);
    for &i in order[pos + 1..].iter() {
        let (a, b) = ranges[i];
        if a > hi.saturating_add(gap) || b.max(hi) - lo > max {
            break;
        }
        hi = hi.max(b);
        taken[i] = true;
    }
    for &i in order[..pos].iter().rev() {
        let (a, b) = ranges[i];
        if b.saturating_add(gap) < lo || hi.max(b) - a.min(lo) > max {
            break;
        }
        lo = lo.min(a);
        hi = hi.max(b);
        taken[i] = true;
    }
    let members = (0..ranges.len()).filter(|&i| taken[i]).collect();
    (members, (lo, hi))
}

/// What a request returns (its bytes, and anything that goes with them, such as the file's
/// version), cut into the parts of the ranges it served.
pub trait Span {
    /// Bytes `from..to` of the answer (empty when they are not all there), with what goes with
    /// them.
    fn cut(&self, from: usize, to: usize) -> Self;
}

impl Span for Vec<u8> {
    fn cut(&self, from: usize, to: usize) -> Self {
        self.get(from..to).map(<[u8]>::to_vec).unwrap_or_default()
    }
}

/// One range waiting to be read.
struct Wanted<E, T> {
    file: String,
    range: (u64, u64),
    /// Set once another read took this range into its request.
    taken: Cell<bool>,
    result: RefCell<Option<Result<T, E>>>,
    waker: RefCell<Option<Waker>>,
}

/// Reads that wait for a request slot, by file; see the module doc. `T`: what a request
/// returns (bytes, or bytes and the file's version).
pub struct Coalescer<E, T = Vec<u8>> {
    waiting: RefCell<Vec<Rc<Wanted<E, T>>>>,
    /// Requests made and ranges served.
    stats: Cell<(usize, usize)>,
}

impl<E, T> Default for Coalescer<E, T> {
    fn default() -> Self {
        Self {
            waiting: RefCell::new(Vec::new()),
            stats: Cell::new((0, 0)),
        }
    }
}

/// Takes a waiting range out of the list if its read is dropped before it was served.
struct Unlist<'a, E, T> {
    coalescer: &'a Coalescer<E, T>,
    wanted: Rc<Wanted<E, T>>,
}

impl<E, T> Drop for Unlist<'_, E, T> {
    fn drop(&mut self) {
        self.coalescer
            .waiting
            .borrow_mut()
            .retain(|w| !Rc::ptr_eq(w, &self.wanted));
    }
}

impl<E: Clone, T: Span> Coalescer<E, T> {
    /// No reads waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// (requests made, ranges served) so far.
    pub fn stats(&self) -> (usize, usize) {
        self.stats.get()
    }

    /// Bytes `start..end` of `file`: waits for a slot of `limiter` (or for another read to
    /// serve it), then fetches, with `fetch(start, end)`, this range merged with the waiting
    /// neighbours of the same file, and hands them their bytes.
    pub async fn read<F, Fut>(
        &self,
        limiter: &Limiter,
        file: &str,
        start: u64,
        end: u64,
        fetch: F,
    ) -> Result<T, E>
    where
        F: FnOnce(u64, u64) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let wanted = Rc::new(Wanted {
            file: file.to_string(),
            range: (start, end),
            taken: Cell::new(false),
            result: RefCell::new(None),
            waker: RefCell::new(None),
        });
        self.waiting.borrow_mut().push(Rc::clone(&wanted));
        let unlist = Unlist {
            coalescer: self,
            wanted: Rc::clone(&wanted),
        };
        let permit = match (SlotOrServed {
            acquire: Box::pin(limiter.acquire()),
            wanted: &wanted,
        })
        .await
        {
            Turn::Served(result) => return result,
            Turn::Slot(p) => p,
        };
        // This read's turn: take the waiting neighbours along.
        let group: Vec<Rc<Wanted<E, T>>> = {
            let mut waiting = self.waiting.borrow_mut();
            let same: Vec<usize> = (0..waiting.len())
                .filter(|&i| waiting[i].file == file)
                .collect();
            let ranges: Vec<(u64, u64)> = same.iter().map(|&i| waiting[i].range).collect();
            let anchor = same
                .iter()
                .position(|&i| Rc::ptr_eq(&waiting[i], &wanted))
                .unwrap_or(0);
            let (members, _) = merge_with(&ranges, anchor, GAP_BYTES, MAX_MERGED_BYTES);
            let mut picked: Vec<usize> = members.iter().map(|&m| same[m]).collect();
            picked.sort_unstable();
            picked.iter().rev().map(|&i| waiting.remove(i)).collect()
        };
        drop(unlist);
        let lo = group.iter().map(|w| w.range.0).min().unwrap_or(start);
        let hi = group.iter().map(|w| w.range.1).max().unwrap_or(end);
        for w in &group {
            w.taken.set(true);
        }
        let (requests, served) = self.stats.get();
        self.stats.set((requests + 1, served + group.len()));
        let fetched = fetch(lo, hi).await;
        drop(permit);
        let slice = |w: &Wanted<E, T>| match &fetched {
            Ok(answer) => {
                let (a, b) = ((w.range.0 - lo) as usize, (w.range.1 - lo) as usize);
                Ok(answer.cut(a, b))
            }
            Err(e) => Err(e.clone()),
        };
        for w in group.iter().filter(|w| !Rc::ptr_eq(w, &wanted)) {
            *w.result.borrow_mut() = Some(slice(w));
            if let Some(waker) = w.waker.borrow_mut().take() {
                waker.wake();
            }
        }
        slice(&wanted)
    }
}

enum Turn<E, T> {
    Slot(Permit),
    Served(Result<T, E>),
}

/// Waits for whichever comes first: a request slot, or another read serving this range.
struct SlotOrServed<'a, E, T> {
    acquire: Pin<Box<crate::tasks::Acquire>>,
    wanted: &'a Rc<Wanted<E, T>>,
}

impl<E, T> Future for SlotOrServed<'_, E, T> {
    type Output = Turn<E, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Turn<E, T>> {
        if self.wanted.taken.get() {
            return match self.wanted.result.borrow_mut().take() {
                Some(r) => Poll::Ready(Turn::Served(r)),
                None => {
                    *self.wanted.waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
            };
        }
        match self.acquire.as_mut().poll(cx) {
            Poll::Ready(p) => Poll::Ready(Turn::Slot(p)),
            Poll::Pending => {
                *self.wanted.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::join_all;

    #[test]
    fn merges_neighbours_within_the_gap_and_the_cap() {
        let r = [(0, 100), (150, 200), (1000, 1100), (90, 120), (5000, 5100)];
        let (m, span) = merge_with(&r, 0, 50, 10_000);
        assert_eq!((m, span), (vec![0, 1, 3], (0, 200)));
        // From the middle, both ways.
        let (m, span) = merge_with(&r, 1, 50, 10_000);
        assert_eq!((m, span), (vec![0, 1, 3], (0, 200)));
        // A gap of 800 joins the third only with a larger threshold.
        let (m, _) = merge_with(&r, 0, 800, 10_000);
        assert_eq!(m, vec![0, 1, 2, 3]);
        // The cap stops growth.
        let (m, span) = merge_with(&r, 0, 800, 150);
        assert_eq!((m, span), (vec![0, 3], (0, 120)));
        assert_eq!(merge_with(&r, 9, 50, 100), (vec![], (0, 0)));
    }

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Runs `reads` while `limiter`'s only slot is held (so they all queue up), then frees the
    /// slot and polls them to the end.
    fn queued_then_run<F: Future>(limiter: &Limiter, reads: Vec<F>) -> Vec<F::Output> {
        let held = match poll(&mut limiter.acquire()) {
            Poll::Ready(p) => p,
            Poll::Pending => panic!("free"),
        };
        let mut all = join_all(reads);
        assert!(poll(&mut all).is_pending());
        drop(held);
        for _ in 0..10 {
            if let Poll::Ready(out) = poll(&mut all) {
                return out;
            }
        }
        panic!("reads did not finish")
    }

    #[test]
    fn waiting_neighbours_share_one_request() {
        let file: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
        let c: Coalescer<String> = Coalescer::new();
        let limiter = Limiter::new(1);
        let fetches = Cell::new(0);
        let fetch = |a: u64, b: u64| {
            fetches.set(fetches.get() + 1);
            std::future::ready(Ok::<_, String>(file[a as usize..b as usize].to_vec()))
        };
        let reads = vec![
            Box::pin(c.read(&limiter, "f", 100, 200, fetch)),
            Box::pin(c.read(&limiter, "f", 210, 400, fetch)),
            Box::pin(c.read(&limiter, "g", 400, 500, fetch)),
            Box::pin(c.read(&limiter, "f", 150_000, 150_100, fetch)),
        ];
        let out = queued_then_run(&limiter, reads);
        assert_eq!(out[0].as_deref(), Ok(&file[100..200]));
        assert_eq!(out[1].as_deref(), Ok(&file[210..400]));
        assert_eq!(out[2].as_deref(), Ok(&file[400..500]));
        assert_eq!(out[3].as_deref(), Ok(&file[150_000..150_100]));
        // 100..400 of "f" in one request (a 10-byte gap); "g", and the range of "f" more than
        // GAP_BYTES away, alone.
        assert_eq!(fetches.get(), 3);
        assert_eq!(c.stats(), (3, 4));
        assert!(c.waiting.borrow().is_empty());
    }

    #[test]
    fn an_error_reaches_every_range_of_the_request() {
        let c: Coalescer<String> = Coalescer::new();
        let limiter = Limiter::new(1);
        let fetch = |_: u64, _: u64| std::future::ready(Err::<Vec<u8>, _>("404".to_string()));
        let reads = vec![
            Box::pin(c.read(&limiter, "f", 0, 10, fetch)),
            Box::pin(c.read(&limiter, "f", 10, 20, fetch)),
        ];
        let out = queued_then_run(&limiter, reads);
        assert_eq!(out, vec![Err("404".to_string()), Err("404".to_string())]);
        assert_eq!(c.stats(), (1, 2));
    }
}
