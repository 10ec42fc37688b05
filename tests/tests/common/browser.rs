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
pub static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Opens `url` in headless Chromium (through chromedriver, in real time) and waits until the map
/// is finished or the page shows an error (at most 120 s); then, for `--dump-dom`, returns the
/// page's HTML, or for `--screenshot=PATH`, writes a PNG of the window there.
pub fn chromium(url: &str, output: &[&str]) -> Vec<u8> {
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let driver = Driver::start();
    driver.post("/url", serde_json::json!({"url": url}));
    let settled = "return !!document.querySelector('p.progress.done') \
        || !!document.querySelector('p.error');";
    let start = std::time::Instant::now();
    while start.elapsed().as_secs() < 120 && driver.script(settled) != serde_json::Value::Bool(true)
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Let a last render (or the failure list after an error) land.
    std::thread::sleep(std::time::Duration::from_millis(300));
    match output {
        ["--dump-dom"] => driver
            .script("return document.documentElement.outerHTML;")
            .as_str()
            .unwrap()
            .as_bytes()
            .to_vec(),
        [shot] if shot.starts_with("--screenshot=") => {
            let path = &shot["--screenshot=".len()..];
            let session = format!("/session/{}/screenshot", driver.session);
            let png = Driver::call(driver.addr, "GET", &session, "");
            std::fs::write(path, base64_decode(png.as_str().unwrap())).unwrap();
            Vec::new()
        }
        other => panic!("unknown output {other:?}"),
    }
}

/// Standard base64 (WebDriver screenshots).
pub fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .map(value)
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// A minimal W3C WebDriver client over the test HTTP client (real time, unlike
/// `--virtual-time-budget`, under which a task's duration is not measured).
pub struct Driver {
    /// chromedriver's address.
    pub addr: std::net::SocketAddr,
    /// The WebDriver session.
    pub session: String,
    process: std::process::Child,
}

impl Driver {
    /// See the W3C WebDriver protocol.
    pub fn call(
        addr: std::net::SocketAddr,
        method: &str,
        path: &str,
        body: &str,
    ) -> serde_json::Value {
        let mut c = gik_tests::client::Connection::open(addr).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        c.send_raw(head.as_bytes()).unwrap();
        let response = c.read_response(false).unwrap();
        let value: serde_json::Value = serde_json::from_str(&response.text()).unwrap();
        value["value"].clone()
    }

    /// See the W3C WebDriver protocol.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(std::env::var("CHROMEDRIVER").unwrap_or("chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver (apt: chromium-driver) must be installed: run scripts/setup.sh");
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "none",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1200,900"]}}}});
        let session = Self::call(addr, "POST", "/session", &caps.to_string())["sessionId"]
            .as_str()
            .unwrap()
            .to_string();
        Self {
            addr,
            session,
            process,
        }
    }

    /// See the W3C WebDriver protocol.
    pub fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let path = format!("/session/{}{path}", self.session);
        Self::call(self.addr, "POST", &path, &body.to_string())
    }

    /// See the W3C WebDriver protocol.
    pub fn script(&self, js: &str) -> serde_json::Value {
        self.post(
            "/execute/sync",
            serde_json::json!({"script": js, "args": []}),
        )
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| Self::call(self.addr, "DELETE", &path, ""));
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The Trunk-built app copied into a fresh folder and served, with the synthetic buckets, by
/// one mirror on 127.0.0.1; `config.json` reads `catalog.json` beside the page and allows only
/// that mirror. The caller builds the catalog and manifests into the folder.
pub fn site_on_mirror() -> (gik_tests::mirror::MirrorServer, tempfile::TempDir) {
    let (server, site, _) = replaceable_site_on_mirror();
    (server, site)
}

/// [`site_on_mirror`], with the handle that replaces files on the mirror while it runs.
pub fn replaceable_site_on_mirror() -> (
    gik_tests::mirror::MirrorServer,
    tempfile::TempDir,
    gik_tests::mirror::Replaceable,
) {
    use gik_tests::mirror::{DirContent, MirrorConfig, MirrorServer, Replaceable};
    use gik_tests::synthetic::{Synthetic, SyntheticConfig};
    let site = tempfile::tempdir().unwrap();
    copy_dir(&dist(), site.path());
    let synthetic = Synthetic::load(SyntheticConfig::new([super::run()])).unwrap();
    let content = Replaceable::new(
        synthetic
            .mount()
            .at("", DirContent::new(site.path().to_path_buf())),
    );
    let server = MirrorServer::start(MirrorConfig::new(content.clone())).unwrap();
    let base = server.base_url();
    std::fs::write(
        site.path().join("config.json"),
        format!(
            r#"{{"catalog": "catalog.json", "mirror": "{base}", "allowed_hosts": ["{base}"]}}"#
        ),
    )
    .unwrap();
    (server, site, content)
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
