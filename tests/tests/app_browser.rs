//! The web app end to end, in headless Chromium: the Trunk-built site (`dist/`) and manifests
//! built from the synthetic mirror, all served on 127.0.0.1; the page fetches every member's
//! manifest and messages itself, as it would from the public buckets.
//!
//! Chromium runs with `--virtual-time-budget`, which lets the page's fetches and decoding run
//! to completion before `--dump-dom` / `--screenshot` read it. Screenshots are kept under
//! `$GIK_CACHE/artifacts/` (not in git).
//!
//! Needs `dist/` (`scripts/build-app.sh`, run by `scripts/test.sh` first) and Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use gik_tests::mirror::{DirContent, FaultRule, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{Synthetic, SyntheticConfig};

fn dist() -> PathBuf {
    let dist = std::env::var("GIK_APP_DIST")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist"));
    assert!(
        dist.join("index.html").is_file(),
        "{} has no index.html: build the app first (scripts/build-app.sh)",
        dist.display()
    );
    dist
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The site (app + config + catalog + manifests) and the synthetic buckets on one server.
fn serve_site() -> (MirrorServer, tempfile::TempDir) {
    let site = tempfile::tempdir().unwrap();
    copy_dir(&dist(), site.path());
    let synthetic = Synthetic::load(SyntheticConfig::new([common::run()])).unwrap();
    let mount = synthetic
        .mount()
        .at("", DirContent::new(site.path().to_path_buf()));
    let server = MirrorServer::start(MirrorConfig::new(mount)).unwrap();
    let base = server.base_url();
    std::fs::write(
        site.path().join("config.json"),
        format!(
            r#"{{"catalog": "catalog.json", "mirror": "{base}", "allowed_hosts": ["{base}"]}}"#
        ),
    )
    .unwrap();
    let plan = common::plan(&server, "gefs", "all", "0-48", &["APCP:surface"]);
    let report = common::build_to_dir(&plan, site.path());
    assert_eq!(report.members_written, 31);
    (server, site)
}

fn chromium(url: &str, output: &[&str]) -> Vec<u8> {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1200,1000",
            "--virtual-time-budget=90000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(output)
        .arg(url)
        .output()
        .expect("chromium (apt: chromium) must be installed: run scripts/setup.sh");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn artifacts() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let dir = std::env::var("GIK_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(home).join(".cache/gik"));
    let dir = dir.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn probability_view_finishes_with_every_member_and_draws_a_varied_map() {
    let (server, _site) = serve_site();
    let url = format!(
        "{}/?product=gefs&view=prob&threshold=10&step=24",
        server.base_url()
    );
    let dom = String::from_utf8(chromium(&url, &["--dump-dom"])).unwrap();
    assert!(
        dom.contains(r#"class="progress done""#),
        "map did not finish:\n{dom}"
    );
    assert!(dom.contains("31 of 31 members on the map"), "{dom}");
    assert!(!dom.contains(r#"class="error""#), "{dom}");
    assert!(
        dom.contains("ECMWF") && dom.contains("NOAA"),
        "attribution missing"
    );

    let shot = artifacts().join("app-gefs-prob10.png");
    chromium(&url, &[&format!("--screenshot={}", shot.display())]);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    // The map occupies the middle of the page: it must not be blank, and must vary.
    let mut colours = std::collections::BTreeSet::new();
    for y in (frame.height / 3..frame.height * 9 / 10).step_by(7) {
        for x in (frame.width / 4..frame.width * 3 / 4).step_by(7) {
            let i = (y as usize * frame.width as usize + x as usize) * channels;
            colours.insert((pixels[i], pixels[i + 1], pixels[i + 2]));
        }
    }
    assert!(
        colours.len() > 20,
        "only {} colours in the map area of {}",
        colours.len(),
        shot.display()
    );
}

#[test]
fn a_missing_member_is_named_and_left_out_of_the_ensemble() {
    let (server, _site) = serve_site();
    server.faults().add(FaultRule::not_found().path("*gep05*"));
    let url = format!(
        "{}/?product=gefs&view=prob&threshold=5&step=24",
        server.base_url()
    );
    let dom = String::from_utf8(chromium(&url, &["--dump-dom"])).unwrap();
    assert!(dom.contains("30 of 31 members on the map"), "{dom}");
    assert!(
        dom.contains("gep05"),
        "the failed member is not named:\n{dom}"
    );
    assert!(dom.contains("404"), "the reason is not given:\n{dom}");
    let shot = artifacts().join("app-gefs-missing-member.png");
    chromium(&url, &[&format!("--screenshot={}", shot.display())]);
}
