//! Small async helpers for the browser's single thread: a concurrency [`Limiter`], a one-shot
//! [`Gate`] and [`join_all`].
//!
//! Why not a crate: the browser runs every future on one thread through
//! `wasm_bindgen_futures::spawn_local`, so neither needs locks or `Send`, and together they are
//! a few dozen lines — less than the code size of pulling in `futures` for the wasm build.
//! They are tested natively by polling futures by hand.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// At most `n` holders of a [`Permit`] at once (e.g. HTTP requests in flight).
#[derive(Clone, Debug)]
pub struct Limiter {
    inner: Rc<RefCell<LimiterState>>,
}

#[derive(Debug)]
struct LimiterState {
    free: usize,
    waiters: VecDeque<Waker>,
}

/// A slot of a [`Limiter`], given back when dropped.
#[derive(Debug)]
pub struct Permit {
    inner: Rc<RefCell<LimiterState>>,
}

impl Limiter {
    /// A limiter with `n` slots (at least 1).
    pub fn new(n: usize) -> Self {
        Self {
            inner: Rc::new(RefCell::new(LimiterState {
                free: n.max(1),
                waiters: VecDeque::new(),
            })),
        }
    }

    /// Waits for a free slot.
    pub fn acquire(&self) -> Acquire {
        Acquire {
            inner: Rc::clone(&self.inner),
        }
    }

    /// Slots free right now.
    pub fn free(&self) -> usize {
        self.inner.borrow().free
    }
}

/// The future returned by [`Limiter::acquire`].
#[derive(Debug)]
pub struct Acquire {
    inner: Rc<RefCell<LimiterState>>,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let mut state = self.inner.borrow_mut();
        if state.free > 0 {
            state.free -= 1;
            Poll::Ready(Permit {
                inner: Rc::clone(&self.inner),
            })
        } else {
            state.waiters.push_back(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Wake every waiter: a woken future that was dropped meanwhile must not swallow the
        // slot; the others re-register when they find none.
        let waiters: Vec<Waker> = {
            let mut state = self.inner.borrow_mut();
            state.free += 1;
            state.waiters.drain(..).collect()
        };
        for w in waiters {
            w.wake();
        }
    }
}

/// A gate that opens once: [`Gate::wait`] resolves when it is open (e.g. the other messages
/// of a view wait for the first one to size their reads).
#[derive(Debug, Default)]
pub struct Gate {
    open: std::cell::Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Gate {
    /// Opens the gate and wakes every waiter.
    pub fn open(&self) {
        self.open.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            w.wake();
        }
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.open.get()
    }

    /// Resolves once the gate is open.
    pub fn wait(&self) -> GateWait<'_> {
        GateWait { gate: self }
    }
}

/// The future returned by [`Gate::wait`].
#[derive(Debug)]
pub struct GateWait<'a> {
    gate: &'a Gate,
}

impl Future for GateWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.gate.is_open() {
            Poll::Ready(())
        } else {
            self.gate.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Opens its gate when dropped (whatever way the holder's work ended).
#[derive(Debug)]
pub struct OpenOnDrop(pub Rc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Runs futures concurrently and returns their outputs in order.
pub fn join_all<F: Future>(futures: Vec<F>) -> JoinAll<F> {
    let len = futures.len();
    JoinAll {
        futures: futures.into_iter().map(|f| Some(Box::pin(f))).collect(),
        outputs: (0..len).map(|_| None).collect(),
    }
}

/// The future returned by [`join_all`].
pub struct JoinAll<F: Future> {
    futures: Vec<Option<Pin<Box<F>>>>,
    outputs: Vec<Option<F::Output>>,
}

impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        for (slot, out) in this.futures.iter_mut().zip(this.outputs.iter_mut()) {
            if let Some(f) = slot {
                if let Poll::Ready(v) = f.as_mut().poll(cx) {
                    *out = Some(v);
                    *slot = None;
                }
            }
        }
        if this.futures.iter().all(Option::is_none) {
            Poll::Ready(this.outputs.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(f).poll(&mut cx)
    }

    #[test]
    fn limiter_hands_out_n_permits() {
        let limiter = Limiter::new(2);
        let (mut a, mut b, mut c) = (limiter.acquire(), limiter.acquire(), limiter.acquire());
        let Poll::Ready(pa) = poll(&mut a) else {
            panic!("first permit")
        };
        let Poll::Ready(_pb) = poll(&mut b) else {
            panic!("second permit")
        };
        assert!(poll(&mut c).is_pending());
        assert_eq!(limiter.free(), 0);
        drop(pa);
        assert_eq!(limiter.free(), 1);
        let Poll::Ready(_pc) = poll(&mut c) else {
            panic!("third permit after a release")
        };
        assert_eq!(limiter.free(), 0);
        assert_eq!(Limiter::new(0).free(), 1);
    }

    #[test]
    fn a_gate_holds_waiters_until_opened() {
        let gate = Rc::new(Gate::default());
        let mut w = gate.wait();
        assert!(poll(&mut w).is_pending());
        let guard = OpenOnDrop(Rc::clone(&gate));
        assert!(!gate.is_open());
        drop(guard);
        assert!(gate.is_open());
        assert!(poll(&mut w).is_ready());
        assert!(poll(&mut gate.wait()).is_ready());
    }

    #[test]
    fn join_all_keeps_order() {
        let limiter = Limiter::new(1);
        let held = match poll(&mut limiter.acquire()) {
            Poll::Ready(p) => p,
            Poll::Pending => panic!("free"),
        };
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let l = limiter.clone();
                async move {
                    let _p = l.acquire().await;
                    i * 10
                }
            })
            .collect();
        let mut all = join_all(tasks);
        assert!(poll(&mut all).is_pending());
        drop(held);
        let mut out = poll(&mut all);
        for _ in 0..5 {
            if out.is_ready() {
                break;
            }
            out = poll(&mut all);
        }
        assert_eq!(out, Poll::Ready(vec![0, 10, 20]));
        let empty: Vec<std::future::Ready<u8>> = Vec::new();
        assert_eq!(poll(&mut join_all(empty)), Poll::Ready(vec![]));
    }
}
