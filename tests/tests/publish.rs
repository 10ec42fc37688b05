//! Publishing to a real S3-compatible server: moto's, from the test virtualenv, on 127.0.0.1.
//!
//! The builder writes GEFS and ECMWF runs to `s3://gik-test/published` through
//! [`Destination::open_with_options`] (endpoint, plain HTTP, test credentials), and the test
//! checks through the S3 API that
//!
//! - every manifest the catalog names is there and parses, and nothing else was written;
//! - the catalog was written last: moto's request recorder lists the PUTs in arrival order, and
//!   the catalog's is the last of each build (S3's `LastModified` has only second resolution);
//! - building again is idempotent: the same keys, byte-identical manifests (same ETags), and
//!   the same catalog apart from `generated_at`.
//!
//! moto comes from `scripts/requirements-test.txt` (`moto[server]`); without it the test fails.
//! The server is a child process killed when the test ends, passed or not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gik_builder::build::BuildPlan;
use gik_builder::destination::Destination;
use gik_core::catalog::Catalog;
use gik_core::member::MemberManifest;
use gik_tests::client;

use common::{build_into, mirror, plan, quick_retries, venv_program};

const BUCKET: &str = "gik-test";
const PREFIX: &str = "published";

/// A moto S3 server, killed on drop.
struct Moto {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Moto {
    /// Starts `moto_server` on a free port with its request recorder on, and waits until it
    /// answers as moto.
    fn start() -> Moto {
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

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn recording(&self) -> PathBuf {
        self.dir.path().join("recording.jsonl")
    }

    /// Paths (`/bucket/key`) of the PUT requests recorded since the last call, in order.
    fn take_puts(&self) -> Vec<String> {
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
    fn list(&self, prefix: &str) -> BTreeMap<String, String> {
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
    fn get(&self, key: &str) -> Vec<u8> {
        let dest = destination(self);
        common::runtime()
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
fn between(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap() + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).unwrap();
    xml[start..end].replace("&quot;", "\"")
}

fn destination(moto: &Moto) -> Destination {
    let endpoint = moto.endpoint();
    Destination::open_with_options(
        &format!("s3://{BUCKET}/{PREFIX}"),
        &[
            ("AWS_ENDPOINT", endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    )
    .unwrap()
}

/// Builds `plan` to moto and checks the order of its writes: every manifest, then the
/// catalog, last. Returns the number of manifests written.
fn build_and_check_order(moto: &Moto, plan: &BuildPlan) -> usize {
    let dest = destination(moto);
    moto.take_puts();
    let (result, _) = build_into(plan, &dest, quick_retries(), 32);
    let report = result.unwrap_or_else(|e| panic!("{e:#}"));
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let puts = moto.take_puts();
    let catalog = format!("/{BUCKET}/{PREFIX}/catalog.json");
    assert_eq!(
        puts.last(),
        Some(&catalog),
        "the catalog must be written last: {puts:#?}"
    );
    assert_eq!(
        puts.iter().filter(|p| **p == catalog).count(),
        1,
        "{puts:#?}"
    );
    let manifests: Vec<&String> = puts.iter().filter(|p| p.ends_with(".parquet")).collect();
    assert_eq!(manifests.len(), report.members_written, "{puts:#?}");
    assert_eq!(
        manifests.len() + 1,
        puts.len(),
        "unexpected writes: {puts:#?}"
    );
    report.members_written
}

/// Everything published, checked against the catalog: keys (without the prefix) and ETags.
fn check_published(moto: &Moto) -> (BTreeMap<String, String>, Catalog) {
    let listed = moto.list(PREFIX);
    let catalog = Catalog::from_json(&moto.get("catalog.json")).unwrap();
    let mut expected = vec![format!("{PREFIX}/catalog.json")];
    for (name, product) in &catalog.products {
        assert_eq!(product.runs.len(), 1, "{name}");
        for (member, path) in &product.runs[0].manifests {
            let key = format!("{PREFIX}/{path}");
            let bytes = moto.get(path);
            let manifest = MemberManifest::from_parquet(&bytes)
                .unwrap_or_else(|e| panic!("{key} ({member}): {e}"));
            assert!(!manifest.data_arrays().is_empty(), "{key}");
            assert_eq!(
                manifest
                    .manifest()
                    .zattrs("")
                    .unwrap()
                    .unwrap()
                    .other
                    .get("member")
                    .and_then(|v| v.as_str()),
                Some(member.as_str())
            );
            expected.push(key);
        }
    }
    expected.sort();
    let keys: Vec<String> = listed.keys().cloned().collect();
    assert_eq!(keys, expected, "objects in the bucket vs. the catalog");
    (listed, catalog)
}

#[test]
fn builds_publish_to_s3_catalog_last_and_idempotently() {
    let moto = Moto::start();
    let r = client::request(
        moto.addr,
        "PUT",
        &format!("/{BUCKET}"),
        &[("Content-Length", "0")],
    )
    .unwrap();
    assert_eq!(r.status, 200, "creating the bucket: {}", r.text());

    let server = mirror();
    let gefs = plan(
        &server,
        "gefs",
        "0-2",
        "0-6",
        &["APCP:surface", "TMP:2 m above ground"],
    );
    let ecmwf = plan(&server, "ecmwf", "0-1", "0-6", &["tp", "2t"]);

    assert_eq!(build_and_check_order(&moto, &gefs), 3);
    assert_eq!(build_and_check_order(&moto, &ecmwf), 2);
    let (first_keys, first_catalog) = check_published(&moto);
    assert_eq!(first_keys.len(), 3 + 2 + 1);
    assert_eq!(
        first_catalog.products.keys().collect::<Vec<_>>(),
        ["ecmwf", "gefs"]
    );

    // Again: same objects, byte for byte, and the same catalog but for its time stamp.
    assert_eq!(build_and_check_order(&moto, &gefs), 3);
    assert_eq!(build_and_check_order(&moto, &ecmwf), 2);
    let (second_keys, second_catalog) = check_published(&moto);
    let manifests = |keys: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        keys.iter()
            .filter(|(k, _)| k.ends_with(".parquet"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        first_keys.keys().collect::<Vec<_>>(),
        second_keys.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        manifests(&first_keys),
        manifests(&second_keys),
        "manifests changed on a rebuild (ETags differ)"
    );
    let strip = |mut c: Catalog| {
        c.generated_at.clear();
        c
    };
    assert!(!second_catalog.generated_at.is_empty());
    assert_eq!(strip(first_catalog), strip(second_catalog));
}
