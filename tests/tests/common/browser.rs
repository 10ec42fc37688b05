//! Headless Chromium and the Trunk-built app, shared by the browser tests (`app_browser`,
//! `app_sources`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Trunk-built site: `$GIK_APP_DIST`, else `dist/` at the workspace root.
pub fn dist() -> PathBuf {
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

/// Copies the folder `from` into `to` (created).
pub fn copy_dir(from: &Path, to: &Path) {
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

/// One Chromium at a time: five pages decoding at once on a 2-core machine made a page run out
/// of its virtual-time budget before its last members were drawn (seen once in three runs).
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Loads `url` in headless Chromium with a 90 s virtual-time budget and returns its standard
/// output (`--dump-dom`: the DOM; `--screenshot=FILE`: nothing).
pub fn chromium(url: &str, output: &[&str]) -> Vec<u8> {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
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

/// `$GIK_CACHE/artifacts/` (screenshots; not in git), created.
pub fn artifacts() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let dir = std::env::var("GIK_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(home).join(".cache/gik"));
    let dir = dir.join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
