//! `gik-fuzz`: runs gik-core's fuzz targets within a budget and reports executions and
//! findings per target.
//!
//! ```text
//! gik-fuzz                      # every target, GIK_FUZZ_SECONDS (default 10) each
//! gik-fuzz grib noaa-idx        # some targets
//! gik-fuzz --list               # the targets
//! gik-fuzz --replay grib FILE…  # run one target on saved inputs (e.g. fuzz/regressions/open/grib/*)
//! ```
//!
//! Environment: `GIK_FUZZ_SECONDS` (time per target), `GIK_FUZZ_ITERS` (mutants per target
//! instead of a time budget: the run is then reproducible), `GIK_FUZZ_SEED` (generator seed),
//! `GIK_FUZZ_OUT` (where crash inputs go; default `$CARGO_TARGET_DIR/gik-fuzz` or the temp
//! folder), `GIK_FUZZ_STRICT=1` (known open findings fail the run too).
//!
//! Exit status 1 when a target panicked on an input that is not a known open finding (an input
//! under `fuzz/regressions/open/<target>/` panicking at the same place), or when an allocation
//! over 1 GiB aborted the process (status 134, with the input saved).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use gik_fuzz::{fuzz, regressions_dir, run_one, seeds, target, Budget, CappedAlloc, TARGETS};

#[global_allocator]
static ALLOC: CappedAlloc = CappedAlloc;

fn env_u64(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{name}={v:?} is not a whole number")),
        Err(_) => Ok(None),
    }
}

fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIK_FUZZ_OUT") {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("gik-fuzz")
}

/// Panic locations of the known open findings of `target`.
fn open_locations(target: &'static gik_fuzz::Target) -> Vec<String> {
    let dir = regressions_dir().join("open").join(target.name);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry
            .path()
            .extension()
            .is_some_and(|e| e == "md" || e == "txt")
        {
            continue;
        }
        if let Ok(bytes) = std::fs::read(entry.path()) {
            if let Err((location, _)) = run_one(target, &bytes) {
                out.push(location);
            }
        }
    }
    out
}

fn replay(name: &str, files: &[String]) -> Result<ExitCode, String> {
    let target = target(name).ok_or_else(|| format!("no target called {name:?}"))?;
    let mut failed = false;
    for file in files {
        let bytes = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        match run_one(target, &bytes) {
            Ok(()) => println!("ok     {file}"),
            Err((location, message)) => {
                failed = true;
                println!("PANIC  {file}: at {location}: {message}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gik-fuzz: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    gik_fuzz::runner::capture_panics();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for t in TARGETS {
            println!("{:12} {}", t.name, t.about);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.first().map(String::as_str) == Some("--replay") {
        let name = args.get(1).ok_or("--replay TARGET FILE…")?;
        return replay(name, args.get(2..).unwrap_or_default());
    }
    let chosen: Vec<&'static gik_fuzz::Target> = if args.is_empty() {
        TARGETS.iter().collect()
    } else {
        args.iter()
            .map(|a| target(a).ok_or_else(|| format!("no target called {a:?} (see --list)")))
            .collect::<Result<_, _>>()?
    };
    let budget = match env_u64("GIK_FUZZ_ITERS")? {
        Some(n) => Budget::Iterations(n),
        None => Budget::Time(Duration::from_secs(
            env_u64("GIK_FUZZ_SECONDS")?.unwrap_or(10),
        )),
    };
    let rng_seed = env_u64("GIK_FUZZ_SEED")?.unwrap_or(0x6769_6b2d_6675_7a7a);
    let strict = std::env::var("GIK_FUZZ_STRICT").is_ok_and(|v| v == "1");
    let out = out_dir();
    println!(
        "gik-fuzz: budget {budget:?} per target, seed {rng_seed:#x}, crashes to {}",
        out.display()
    );
    println!("| target | seeds | executions | time | exec/s | peak heap | findings |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut new_findings = 0;
    let mut details = Vec::new();
    for (i, target) in chosen.into_iter().enumerate() {
        let corpus = seeds::seeds(target.name)?;
        let open = open_locations(target);
        let report = fuzz(
            target,
            &corpus,
            budget,
            rng_seed.wrapping_add(i as u64),
            &out,
        )
        .map_err(|e| format!("{}: writing to {}: {e}", target.name, out.display()))?;
        let secs = report.elapsed.as_secs_f64();
        let mut summary = Vec::new();
        for crash in &report.crashes {
            let known = open.contains(&crash.location);
            if !known || strict {
                new_findings += 1;
            }
            let tag = if known { "open (known)" } else { "NEW" };
            summary.push(format!("{tag}: {}", crash.location));
            details.push(format!(
                "{} {tag}: panic at {} ({} hits): {}\n    input: {}",
                target.name,
                crash.location,
                crash.hits,
                crash.message,
                crash.saved.display()
            ));
        }
        println!(
            "| {} | {} | {} | {:.1} s | {:.0} | {:.1} MB | {} |",
            target.name,
            report.seeds,
            report.executions,
            secs,
            report.executions as f64 / secs.max(1e-9),
            report.peak_heap as f64 / 1e6,
            if summary.is_empty() {
                "none".to_string()
            } else {
                summary.join("; ")
            }
        );
    }
    for d in &details {
        println!("{d}");
    }
    Ok(if new_findings > 0 {
        println!("gik-fuzz: {new_findings} finding(s); copy each input into fuzz/regressions/<target>/ once fixed");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
