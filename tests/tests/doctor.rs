//! `gik doctor` offline, against local mirrors that misbehave as public ones do: no CORS
//! headers, `403`, `200` instead of `206`, an index whose ranges run past its re-uploaded
//! (shorter) file. Each must be reported for what it is; a healthy mirror must pass; the exit
//! status says whether a browser could draw the product's map.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;

use gik_builder::doctor::{doctor, DoctorOptions, DoctorReport, SourceCheck};
use gik_tests::mirror::{Content, FaultRule, MemContent, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{ecmwf_key, Synthetic, SyntheticConfig, ECMWF_BUCKET};

use common::{gik_binary, quick_retries, run, runtime};

struct Mirrors {
    good: MirrorServer,
    no_cors: MirrorServer,
    forbidden: MirrorServer,
    no_range: MirrorServer,
    stale: MirrorServer,
}

fn mirrors() -> Mirrors {
    let synthetic = Synthetic::load(SyntheticConfig::new([run()])).unwrap();
    let content: Arc<dyn Content> = Arc::new(synthetic.mount());
    let start = |config: MirrorConfig| MirrorServer::start(config).unwrap();
    // The doctor reads step 3 (the first after 0): its GRIB2 file re-uploaded at half size.
    let mut stale = synthetic.mount();
    let path = format!("{ECMWF_BUCKET}/{}", ecmwf_key(run(), 3));
    let len = stale.len(&path).unwrap();
    let half = stale.read(&path, 0..len / 2).unwrap();
    let (dir, file) = path.rsplit_once('/').unwrap();
    stale.add(dir, Arc::new(MemContent::new().with(file, half)));
    Mirrors {
        good: start(MirrorConfig::shared(content.clone())),
        no_cors: start(MirrorConfig::shared(content.clone()).no_cors()),
        forbidden: start(MirrorConfig::shared(content.clone()).fault(FaultRule::status(403))),
        no_range: start(MirrorConfig::shared(content).fault(FaultRule::ignore_range())),
        stale: start(MirrorConfig::new(stale)),
    }
}

fn bucket(server: &MirrorServer) -> String {
    server.url(ECMWF_BUCKET)
}

fn options() -> DoctorOptions {
    let mut options = DoctorOptions::new(run());
    options.retry = quick_retries();
    options.max_runs = 1;
    options.concurrency = 16;
    options
}

fn check<'a>(report: &'a DoctorReport, server: &MirrorServer) -> &'a SourceCheck {
    report.products["ecmwf"]
        .sources
        .iter()
        .find(|s| s.base == bucket(server))
        .unwrap()
}

#[test]
fn each_misbehaviour_is_reported_for_what_it_is() {
    let m = mirrors();
    let order = [&m.forbidden, &m.no_cors, &m.no_range, &m.stale, &m.good];
    let plan = vec![(
        "ecmwf".to_string(),
        order.iter().map(|s| bucket(s)).collect::<Vec<_>>(),
    )];
    let report = runtime().block_on(doctor(&plan, &options())).unwrap();
    let sources = &report.products["ecmwf"].sources;
    assert_eq!(sources.len(), 5);
    let problems = |c: &SourceCheck| c.problems.join(" | ");

    let good = check(&report, &m.good);
    assert!(good.builder_ok && good.browser_ok, "{good:?}");
    assert_eq!(good.latest_run.as_deref(), Some("2025080100"));
    assert_eq!(
        (good.head_status, good.range_status),
        (Some(200), Some(206))
    );
    assert_eq!(good.allow_origin.as_deref(), Some("*"));
    assert!(good
        .expose_headers
        .as_deref()
        .unwrap()
        .contains("Content-Range"));
    assert!(good.range_bytes.unwrap() > 0 && good.throughput_mb_s.unwrap() > 0.0);
    let decoded = good.decoded.as_deref().unwrap();
    assert!(
        decoded.contains("at 3 h") && decoded.contains("points"),
        "{decoded}"
    );
    assert!(good.problems.is_empty(), "{}", problems(good));

    let no_cors = check(&report, &m.no_cors);
    assert!(no_cors.builder_ok && !no_cors.browser_ok, "{no_cors:?}");
    assert_eq!(no_cors.allow_origin, None);
    assert!(
        problems(no_cors).contains("no CORS"),
        "{}",
        problems(no_cors)
    );

    let forbidden = check(&report, &m.forbidden);
    assert!(!forbidden.builder_ok && !forbidden.browser_ok);
    assert!(
        problems(forbidden).contains("403") && problems(forbidden).contains(&bucket(&m.forbidden)),
        "{}",
        problems(forbidden)
    );

    let no_range = check(&report, &m.no_range);
    assert!(!no_range.builder_ok && !no_range.browser_ok);
    assert_eq!(no_range.range_status, Some(200));
    assert!(
        problems(no_range).contains("instead of 206"),
        "{}",
        problems(no_range)
    );

    let stale = check(&report, &m.stale);
    assert!(!stale.builder_ok && !stale.browser_ok);
    assert!(
        problems(stale).contains("stale") && problems(stale).contains(".index"),
        "{}",
        problems(stale)
    );

    assert!(report.app_can_draw);
    assert_eq!(
        report.products["ecmwf"].builder_sources(),
        [bucket(&m.no_cors), bucket(&m.good)]
    );
    assert_eq!(
        report.products["ecmwf"].browser_sources(),
        [bucket(&m.good)]
    );
}

#[test]
fn the_command_writes_json_and_fails_when_no_browser_can_draw() {
    let m = mirrors();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("doctor.json");
    let doctor_cmd = |sources: &[&MirrorServer]| {
        let list: Vec<String> = sources.iter().map(|s| bucket(s)).collect();
        Command::new(gik_binary())
            .args(["doctor", "--product", "ecmwf", "--now", "2025080100"])
            .args(["--max-runs", "1", "--source", &list.join(",")])
            .arg("--json")
            .arg(&json)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let ok = doctor_cmd(&[&m.no_cors, &m.good]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains(&bucket(&m.good)) && stdout.contains("no CORS"),
        "{stdout}"
    );
    let report: DoctorReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(report.app_can_draw);
    assert_eq!(
        report.products["ecmwf"].browser_sources(),
        [bucket(&m.good)]
    );

    let bad = doctor_cmd(&[&m.no_cors, &m.forbidden]);
    assert!(!bad.status.success());
    let report: DoctorReport = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(!report.app_can_draw);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no source a browser can read"));
}
