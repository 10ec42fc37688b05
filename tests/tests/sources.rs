//! Several sources per product: a build reads from two local mirrors of the same files, the
//! first misbehaving (503 SlowDown, 403, resets, Range ignored, missing files), and must
//! produce exactly the manifests of a clean build from the first, with canonical URLs, and say
//! which source served what.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use gik_builder::build::{build_run, BuildReport};
use gik_builder::destination::Destination;
use gik_builder::http::HttpClient;
use gik_builder::progress::Progress;
use gik_builder::sources::{SourceSet, SourceSummary};
use gik_tests::mirror::{Content, FaultRule, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{Synthetic, SyntheticConfig, GEFS_BUCKET};

use common::{gik_binary, plan, quick_retries, read_catalog, read_member, run, runtime};

/// Two mirrors serving the same synthetic buckets.
fn two_mirrors() -> (MirrorServer, MirrorServer) {
    let synthetic = Synthetic::load(SyntheticConfig::new([run()])).unwrap();
    let content: Arc<dyn Content> = Arc::new(synthetic.mount());
    (
        MirrorServer::start(MirrorConfig::shared(content.clone())).unwrap(),
        MirrorServer::start(MirrorConfig::shared(content)).unwrap(),
    )
}

/// Builds GEFS members 0 and 5, steps 0–12, from `sources` (canonical: the first) into `dir`.
fn build(
    first: &MirrorServer,
    sources: &[String],
    dir: &Path,
) -> (anyhow::Result<BuildReport>, Vec<SourceSummary>) {
    let plan = plan(first, "gefs", "0,5", "0-12", &["APCP:surface"]);
    let set = Arc::new(SourceSet::new(sources, None).unwrap());
    let client = HttpClient::new(16, quick_retries())
        .unwrap()
        .with_sources(set.clone());
    let dest = Destination::open(dir.to_str().unwrap()).unwrap();
    let result = runtime().block_on(build_run(&plan, &client, &dest, &Progress::new(true)));
    (result, set.summary())
}

/// Every message URL of the member manifest at `relative` in `dir`.
fn message_urls(dir: &Path, relative: &str) -> Vec<String> {
    let member = read_member(dir, relative);
    let mut urls = Vec::new();
    for array in member.data_arrays() {
        for step in member.steps(&array).unwrap() {
            if let Some(chunk) = member.chunk(&array, step).unwrap() {
                urls.push(chunk.url);
            }
        }
    }
    urls
}

/// Every manifest under `dir` (relative path → bytes).
fn manifests(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    common::files_under(dir)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .collect()
}

/// A named misbehaviour of the first source.
type Scenario = (&'static str, fn() -> FaultRule);

#[test]
fn a_failing_first_source_is_left_for_the_second_and_manifests_stay_canonical() {
    let (m1, m2) = two_mirrors();
    let sources = vec![m1.url(GEFS_BUCKET), m2.url(GEFS_BUCKET)];
    let clean = tempfile::tempdir().unwrap();
    let (report, summary) = build(&m1, &sources, clean.path());
    let report = report.unwrap();
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    assert_eq!(summary[1].served, 0, "a healthy first source serves all");
    let want = manifests(clean.path());
    assert_eq!(
        want.len(),
        3,
        "two member manifests and the ensemble manifest"
    );

    let scenarios: [Scenario; 4] = [
        ("503 SlowDown", FaultRule::slow_down),
        ("403", || FaultRule::status(403)),
        ("reset", FaultRule::reset),
        ("Range ignored", || FaultRule::ignore_range().path("*f0??")),
    ];
    for (name, rule) in scenarios {
        m1.faults().set(vec![rule()]);
        m2.reset_stats();
        let out = tempfile::tempdir().unwrap();
        let (report, summary) = build(&m1, &sources, out.path());
        let report = report.unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(report.missing.is_empty(), "{name}: {:?}", report.missing);
        // Same bytes as the clean build: every URL is the first source's (canonical).
        assert_eq!(manifests(out.path()), want, "{name}");
        let urls = message_urls(out.path(), "gefs/20250801/00z/2025080100z-gep05.parquet");
        assert!(!urls.is_empty());
        for url in urls {
            assert!(url.starts_with(&sources[0]), "{name}: {url}");
        }
        assert!(summary[0].failed > 0, "{name}: {summary:?}");
        assert!(summary[1].served > 0, "{name}: {summary:?}");
        assert!(m2.stats().requests > 0, "{name}");
        assert!(
            summary[0]
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains(&sources[0])),
            "{name}: {summary:?}"
        );
    }
    m1.faults().clear();
}

#[test]
fn a_404_is_checked_on_the_next_source_before_the_file_is_missing() {
    let (m1, m2) = two_mirrors();
    let sources = vec![m1.url(GEFS_BUCKET), m2.url(GEFS_BUCKET)];
    // The first mirror lacks member 5's files; the second has them.
    m1.faults()
        .set(vec![FaultRule::not_found().path("*gep05*")]);
    let out = tempfile::tempdir().unwrap();
    let (report, summary) = build(&m1, &sources, out.path());
    let report = report.unwrap();
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    assert!(
        summary[0].not_found > 0 && summary[1].served > 0,
        "{summary:?}"
    );
    assert_eq!(summary[0].failed, 0, "a 404 is not a failure of the source");

    // Missing everywhere: reported as not published, with the canonical URL.
    m2.faults()
        .set(vec![FaultRule::not_found().path("*gep05*f006*")]);
    let out = tempfile::tempdir().unwrap();
    let (report, _) = build(&m1, &sources, out.path());
    let report = report.unwrap();
    let missing: Vec<_> = report
        .missing
        .iter()
        .filter(|m| m.member == "gep05")
        .collect();
    assert_eq!(missing.len(), 1, "{:?}", report.missing);
    assert_eq!(missing[0].step, Some(6));
    assert!(missing[0].reason.contains("404"), "{}", missing[0].reason);
}

/// Runs `gik build` of GEFS 20250801 00z, precipitation only, with `args` and `env` added.
fn gik_build(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(gik_binary());
    cmd.args([
        "build",
        "--product",
        "gefs",
        "--date",
        "20250801",
        "--run",
        "00",
    ])
    .args(["--vars", "APCP:surface"])
    .args(args)
    .env_remove("GIK_SOURCE")
    .env_remove("GIK_SOURCES")
    .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn the_command_line_takes_sources_a_canonical_base_and_reports_per_source() {
    let (m1, m2) = two_mirrors();
    let (b1, b2) = (m1.url(GEFS_BUCKET), m2.url(GEFS_BUCKET));
    m1.faults().set(vec![FaultRule::status(403)]);
    let out = tempfile::tempdir().unwrap();
    let canonical = "https://noaa-gefs-pds.s3.amazonaws.com";
    let second = format!("{b2},");
    // The second source through a comma list in a second --source; the option wins over
    // the variables.
    let (ok, stdout) = gik_build(
        &[
            "--members",
            "0-1",
            "--steps",
            "0-6",
            "--source",
            &b1,
            "--canonical",
            canonical,
            "--source",
            &second,
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[
            ("GIK_SOURCES", "http://unused.invalid"),
            ("GIK_SOURCE", "http://unused.invalid"),
        ],
    );
    assert!(ok, "{stdout}");
    let line = |base: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("source {base}:")))
            .unwrap_or_else(|| panic!("no line for {base} in\n{stdout}"))
            .to_string()
    };
    let first = line(&b1);
    assert!(
        first.contains(" 0 served") && first.contains("403"),
        "{first}"
    );
    assert!(!line(&b2).contains(" 0 served"), "{stdout}");
    let catalog = read_catalog(out.path()).unwrap();
    let path = catalog.products["gefs"].runs[0].manifests["gep01"].clone();
    let urls = message_urls(out.path(), &path);
    assert!(!urls.is_empty());
    for url in urls {
        assert!(url.starts_with(canonical), "{url}");
    }

    // GIK_SOURCES alone (no --source) is a comma list too; a private mirror first is the
    // canonical base.
    m1.faults().clear();
    let out = tempfile::tempdir().unwrap();
    let both = format!("{b1},{b2}");
    let (ok, stdout) = gik_build(
        &[
            "--members",
            "0",
            "--steps",
            "0-3",
            "--out",
            out.path().to_str().unwrap(),
        ],
        &[("GIK_SOURCES", &both)],
    );
    assert!(ok, "{stdout}");
    assert!(stdout.contains(&format!("source {b2}:")), "{stdout}");
    let path =
        read_catalog(out.path()).unwrap().products["gefs"].runs[0].manifests["gec00"].clone();
    for url in message_urls(out.path(), &path) {
        assert!(url.starts_with(&b1), "{url}");
    }
}
