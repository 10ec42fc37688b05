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
    assert_eq!(want.len(), 2);

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

#[test]
fn the_command_line_takes_sources_a_canonical_base_and_reports_per_source() {
    let (m1, m2) = two_mirrors();
    m1.faults().set(vec![FaultRule::status(403)]);
    let out = tempfile::tempdir().unwrap();
    let canonical = "https://noaa-gefs-pds.s3.amazonaws.com";
    let output = Command::new(gik_binary())
        .args([
            "build",
            "--product",
            "gefs",
            "--date",
            "20250801",
            "--run",
            "00",
        ])
        .args([
            "--members",
            "0-1",
            "--steps",
            "0-6",
            "--vars",
            "APCP:surface",
        ])
        .args(["--source", &m1.url(GEFS_BUCKET)])
        .args([
            "--canonical",
            canonical,
            "--out",
            out.path().to_str().unwrap(),
        ])
        .env("GIK_SOURCES", "http://unused.invalid") // the option wins over the variable
        .env("GIK_SOURCE", "http://unused.invalid")
        // The second source through a comma list in a second --source.
        .args(["--source", &format!("{},", m2.url(GEFS_BUCKET))])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let line = |base: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("source {base}:")))
            .unwrap_or_else(|| panic!("no line for {base} in\n{stdout}"))
            .to_string()
    };
    let first = line(&m1.url(GEFS_BUCKET));
    assert!(
        first.contains(" 0 served") && first.contains("403"),
        "{first}"
    );
    let second = line(&m2.url(GEFS_BUCKET));
    assert!(!second.contains(" 0 served"), "{second}");
    let catalog = read_catalog(out.path()).unwrap();
    let path = catalog.products["gefs"].runs[0].manifests["gep01"].clone();
    let urls = message_urls(out.path(), &path);
    assert!(!urls.is_empty());
    for url in urls {
        assert!(url.starts_with(canonical), "{url}");
    }

    // GIK_SOURCES alone (no --source) is a comma list too.
    m1.faults().clear();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(gik_binary())
        .args([
            "build",
            "--product",
            "gefs",
            "--date",
            "20250801",
            "--run",
            "00",
        ])
        .args(["--members", "0", "--steps", "0-3", "--vars", "APCP:surface"])
        .args(["--out", out.path().to_str().unwrap()])
        .env(
            "GIK_SOURCES",
            format!("{},{}", m1.url(GEFS_BUCKET), m2.url(GEFS_BUCKET)),
        )
        .env_remove("GIK_SOURCE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("source {}:", m2.url(GEFS_BUCKET))),
        "{stdout}"
    );
}
