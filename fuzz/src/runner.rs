//! The fuzz loop: pick a seed, mutate it, run the target under `catch_unwind`, keep what
//! panics.
//!
//! A panic's message and location are captured by a panic hook (instead of being printed for
//! every mutant); crashes are told apart by location, and the first input of each is written
//! to the output folder with a `.txt` beside it saying what happened, ready to be copied into
//! `fuzz/regressions/<target>/`.
//!
//! A hang is a finding too: a watchdog thread ([`Watchdog`]) saves an input that runs longer
//! than [`hang_limit`] (`hang-<hash>.bin`) and ends the process with an error, so a fixed-budget
//! run in CI fails naming the input instead of never finishing.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gik_core::fnv::fnv1a64;

use crate::alloc;
use crate::mutate::Mutator;
use crate::seeds::Seed;
use crate::targets::Target;

/// How long or how many iterations one target runs.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// Exactly this many mutants (reproducible with the same seed).
    Iterations(u64),
    /// As many mutants as fit in this time.
    Time(Duration),
}

/// A distinct crash.
#[derive(Clone, Debug)]
pub struct Crash {
    /// Panic location (`file:line:column`), the key crashes are told apart by.
    pub location: String,
    /// Panic message.
    pub message: String,
    /// Where the first input was saved.
    pub saved: PathBuf,
    /// How many mutants hit it.
    pub hits: u64,
}

/// What one target's run did.
#[derive(Clone, Debug)]
pub struct Report {
    /// Target name.
    pub target: &'static str,
    /// Seeds in its corpus.
    pub seeds: usize,
    /// Mutated inputs executed.
    pub executions: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Highest live heap during the run, in bytes (0 without the counting allocator).
    pub peak_heap: usize,
    /// Distinct crashes.
    pub crashes: Vec<Crash>,
}

thread_local! {
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

/// Installs the capturing panic hook (idempotent enough: later calls replace it).
pub fn capture_panics() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".into());
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_else(|| "(unknown location)".into());
        LAST_PANIC.with(|p| *p.borrow_mut() = Some((location, message)));
    }));
}

/// Runs `target` on `input`; `Err((location, message))` if it panicked.
pub fn run_one(target: &Target, input: &[u8]) -> Result<(), (String, String)> {
    alloc::set_current_input(Some(input));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    alloc::set_current_input(None);
    outcome.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| ("(unknown location)".into(), "(no message)".into()))
    })
}

/// Longest one input may run before it counts as a hang: `GIK_FUZZ_HANG_SECONDS`, else 60 s
/// (the dev-profile build decodes the largest seed in well under a second).
pub fn hang_limit() -> Duration {
    std::env::var("GIK_FUZZ_HANG_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

/// The input being run, and since when.
#[derive(Default)]
struct Running {
    since: Option<Instant>,
    input: Vec<u8>,
}

/// Watches one target's run from another thread: an input running longer than the limit is
/// saved and the process ends (a hang cannot be interrupted from inside).
struct Watchdog {
    running: Arc<Mutex<Running>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    /// Watches from now; on a hang, saves the input under `dir`, then calls `then` (the fuzzer
    /// ends the process there).
    fn start(
        target: &'static str,
        dir: PathBuf,
        limit: Duration,
        then: impl Fn() + Send + 'static,
    ) -> Self {
        let running = Arc::new(Mutex::new(Running::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&running), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let now = r.lock().unwrap_or_else(PoisonError::into_inner);
                if now.since.is_some_and(|t| t.elapsed() > limit) {
                    let saved = dir.join(format!(
                        "hang-{:016x}.bin",
                        fnv1a64(now.input.iter().copied())
                    ));
                    let _ = std::fs::write(&saved, &now.input);
                    eprintln!(
                        "gik-fuzz: {target}: an input ran for more than {} s (a hang); saved to {}",
                        limit.as_secs(),
                        saved.display()
                    );
                    then();
                    return;
                }
            }
        });
        Self {
            running,
            stop,
            thread: Some(thread),
        }
    }

    /// Marks `input` as running from now.
    fn begin(&self, input: &[u8]) {
        let mut r = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        r.input.clear();
        r.input.extend_from_slice(input);
        r.since = Some(Instant::now());
    }

    /// Marks the input as finished.
    fn end(&self) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .since = None;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Fuzzes `target` from `seeds` within `budget`, saving crashes under `out/<target>/` (and
/// ending the process on a hang, see [`hang_limit`]).
pub fn fuzz(
    target: &'static Target,
    seeds: &[Seed],
    budget: Budget,
    rng_seed: u64,
    out: &Path,
) -> std::io::Result<Report> {
    let dir = out.join(target.name);
    std::fs::create_dir_all(&dir)?;
    alloc::set_save_path(Some(dir.join("oversize-allocation.bin")));
    alloc::reset_peak();
    let start = Instant::now();
    let mut report = Report {
        target: target.name,
        seeds: seeds.len(),
        executions: 0,
        elapsed: Duration::ZERO,
        peak_heap: 0,
        crashes: Vec::new(),
    };
    let mut record = |input: &[u8], (location, message): (String, String)| -> std::io::Result<()> {
        if let Some(known) = report.crashes.iter_mut().find(|c| c.location == location) {
            known.hits += 1;
            return Ok(());
        }
        let saved = dir.join(format!("crash-{:016x}.bin", fnv1a64(input.iter().copied())));
        std::fs::write(&saved, input)?;
        std::fs::write(
            saved.with_extension("txt"),
            format!("target: {}\npanic at {location}\n{message}\n", target.name),
        )?;
        report.crashes.push(Crash {
            location,
            message,
            saved,
            hits: 1,
        });
        Ok(())
    };

    // Seeds are picked with probability 1/cost (cumulative weights, binary search). The
    // corpus itself is replayed by the regression tests, not here.
    let mut cumulative = Vec::with_capacity(seeds.len());
    let mut total = 0.0f64;
    for seed in seeds {
        total += 1.0 / (seed.cost as f64 + 10_000.0);
        cumulative.push(total);
    }
    let mut mutator = Mutator::new(rng_seed, target.dictionary);
    let pick = |m: &mut Mutator<'_>| {
        let x = (m.rng().next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        cumulative.partition_point(|&c| c <= x).min(seeds.len() - 1)
    };
    let watchdog = Watchdog::start(target.name, dir.clone(), hang_limit(), || {
        std::process::exit(3)
    });
    let mut mutants = 0u64;
    loop {
        let done = match budget {
            Budget::Iterations(n) => mutants >= n,
            Budget::Time(t) => start.elapsed() >= t,
        };
        if done || seeds.is_empty() {
            break;
        }
        let a = pick(&mut mutator);
        let b = mutator.rng().below(seeds.len());
        let input = mutator.mutate(&seeds[a].bytes, &seeds[b].bytes);
        mutants += 1;
        watchdog.begin(&input);
        let outcome = run_one(target, &input);
        watchdog.end();
        if let Err(panic) = outcome {
            record(&input, panic)?;
        }
    }
    drop(watchdog);
    alloc::set_save_path(None);
    report.executions = mutants;
    report.elapsed = start.elapsed();
    report.peak_heap = alloc::peak_bytes();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_running_past_the_limit_is_saved_as_a_hang() {
        let dir = std::env::temp_dir().join(format!("gik-fuzz-watchdog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let hung = Arc::new(AtomicBool::new(false));
        let h = Arc::clone(&hung);
        let dog = Watchdog::start("test", dir.clone(), Duration::from_millis(300), move || {
            h.store(true, Ordering::Relaxed)
        });
        // A quick input is not a hang.
        dog.begin(b"quick");
        dog.end();
        std::thread::sleep(Duration::from_millis(600));
        assert!(!hung.load(Ordering::Relaxed));
        // One that runs past the limit is.
        dog.begin(b"slow input");
        let start = Instant::now();
        while !hung.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(hung.load(Ordering::Relaxed), "no hang seen");
        let saved: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(saved.len(), 1, "{saved:?}");
        assert_eq!(std::fs::read(&saved[0]).unwrap(), b"slow input");
        drop(dog);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
