//! A moto S3 server (from the test virtualenv, `moto[server]`) on 127.0.0.1: the S3-compatible
//! server of the publishing and Icechunk tests. A child process, killed on drop.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gik_builder::destination::Destination;
use gik_tests::client;

use super::venv_program;

pub const BUCKET: &str = "gik-test";
pub const PREFIX: &str = "published";

/// A moto S3 server, killed on drop.
pub struct Moto {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto (see [`Moto::start`]) and creates the test bucket.
    pub fn with_bucket() -> Moto {
        let moto = Moto::start();
        let r = client::request(
            moto.addr,
            "PUT",
            &format!("/{BUCKET}"),
            &[("Content-Length", "0")],
        )
        .unwrap();
        assert_eq!(r.status, 200, "creating the bucket: {}", r.text());
        moto
    }

    /// Starts `moto_server` on a free port with its request recorder on, and waits until it
    /// answers as moto.
    pub fn start() -> Moto {
        let program = venv_program("moto_server");
        let mut last_log = String::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = std::fs::File::create(dir.path().join("moto.log")).unwrap();
            let child = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_ENABLE_RECORDING", "true")
                .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording.jsonl"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
            let mut moto = Moto {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                dir,
            };
            if moto.wait_ready(Duration::from_secs(30)) {
                return moto;
            }
            last_log =
                std::fs::read_to_string(moto.dir.path().join("moto.log")).unwrap_or_default();
            // Dropping `moto` kills it; try another port (another process may have taken it).
        }
        panic!("moto_server did not start:\n{last_log}");
    }

    /// Whether moto answers on its port before `timeout` (false if it exited).
    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                if let Ok(r) = client::request(self.addr, "GET", "/", &[]) {
                    // moto answers S3's ListBuckets at `/`.
                    if r.status == 200 && r.text().contains("ListAllMyBucketsResult") {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn recording(&self) -> PathBuf {
        self.dir.path().join("recording.jsonl")
    }

    /// Paths (`/bucket/key`) of the PUT requests recorded since the last call, in order.
    pub fn take_puts(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.recording()).unwrap_or_default();
        std::fs::write(self.recording(), "").unwrap();
        text.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|entry| entry["method"] == "PUT")
            .map(|entry| {
                let url = entry["url"].as_str().unwrap();
                let path = url.strip_prefix(&self.endpoint()).unwrap_or(url);
                path.split('?').next().unwrap().to_string()
            })
            .collect()
    }

    /// Keys under `prefix` with their ETags (S3 ListObjectsV2).
    pub fn list(&self, prefix: &str) -> BTreeMap<String, String> {
        let r = client::request(
            self.addr,
            "GET",
            &format!("/{BUCKET}?list-type=2&prefix={prefix}/"),
            &[],
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        assert!(text.contains("<IsTruncated>false</IsTruncated>"), "{text}");
        text.split("<Contents>")
            .skip(1)
            .map(|item| (between(item, "Key"), between(item, "ETag")))
            .collect()
    }

    /// The object at `key` under the prefix, read through the builder's own (signed) S3
    /// client: moto refuses anonymous object reads.
    pub fn get(&self, key: &str) -> Vec<u8> {
        let dest = destination(self);
        super::runtime()
            .block_on(dest.get(key))
            .unwrap()
            .unwrap_or_else(|| panic!("{key}: not in the bucket"))
            .to_vec()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of the first `<tag>…</tag>` in `xml`, with `&quot;` unescaped.
pub fn between(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap() + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap();
    xml[start..end].replace("&quot;", "\"")
}

/// The S3 settings of moto, named as the `AWS_*` environment variables.
pub fn s3_settings(moto: &Moto) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT", moto.endpoint()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

pub fn destination(moto: &Moto) -> Destination {
    let settings = s3_settings(moto);
    let options: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Destination::open_with_options(&format!("s3://{BUCKET}/{PREFIX}"), &options).unwrap()
}
