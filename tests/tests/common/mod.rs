//! Shared support of the builder's end-to-end tests: the synthetic mirror, build plans over
//! it, plain range reads, and the Python virtualenv.
//!
//! Each integration test file compiles its own copy of this module and uses part of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;
pub mod moto;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use gik_builder::build::{build_run, BuildPlan, BuildReport};
use gik_builder::destination::Destination;
use gik_builder::http::{HttpClient, RetryConfig};
use gik_builder::progress::Progress;
use gik_core::catalog::{Catalog, CATALOG_FILE};
use gik_core::member::MemberManifest;
use gik_core::product::{
    parse_members, parse_steps, product_by_name, select_variables, Hosts, Product,
};
use gik_core::time::RunTime;
use gik_tests::mirror::MirrorServer;
use gik_tests::synthetic::{Synthetic, SyntheticConfig, ECMWF_BUCKET, GEFS_BUCKET};

/// The run every test builds.
pub fn run() -> RunTime {
    RunTime::parse("20250801", "00").unwrap()
}

/// The synthetic buckets for [`run`], served on a free port (stopped when dropped).
pub fn mirror() -> MirrorServer {
    let synthetic = Synthetic::load(SyntheticConfig::new([run()]))
        .expect("loading the shared GRIB2 fixtures (GIK_FIXTURES)");
    synthetic.serve().expect("starting the mirror")
}

/// `gefs` or `ecmwf` reading from `server`.
pub fn product(server: &MirrorServer, name: &str) -> Box<dyn Product> {
    let hosts = Hosts::default()
        .with("gefs", server.url(GEFS_BUCKET))
        .with("ecmwf", server.url(ECMWF_BUCKET));
    product_by_name(name, &hosts).unwrap()
}

/// A build plan of [`run`]: `members` and `steps` as `gik build` takes them, `vars` in the
/// product's vocabulary (empty: its default set).
pub fn plan(
    server: &MirrorServer,
    name: &str,
    members: &str,
    steps: &str,
    vars: &[&str],
) -> BuildPlan {
    let product = product(server, name);
    BuildPlan {
        members: parse_members(product.as_ref(), members).unwrap(),
        variables: select_variables(product.as_ref(), vars).unwrap(),
        steps: parse_steps(product.as_ref(), run(), steps).unwrap(),
        run: run(),
        keep_runs: 0,
        force: false,
        subsets: Vec::new(),
        product,
    }
}

/// Retries quick enough for tests: 6 retries from 5 ms, capped at 50 ms.
pub fn quick_retries() -> RetryConfig {
    RetryConfig {
        max_retries: 6,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(20),
        connect_timeout: Duration::from_secs(5),
    }
}

/// A multi-threaded runtime for the async builder.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `plan` with a fresh client (`concurrency` requests in flight) into `dest`.
pub fn build_into(
    plan: &BuildPlan,
    dest: &Destination,
    retry: RetryConfig,
    concurrency: usize,
) -> (anyhow::Result<BuildReport>, HttpClient) {
    let client = HttpClient::new(concurrency, retry).unwrap();
    let progress = Progress::new(true);
    let result = runtime().block_on(build_run(plan, &client, dest, &progress));
    (result, client)
}

/// Shared by every build of a test binary, taken alone by a test that measures how long the
/// page's main-thread tasks take: on two cores, another test's build running beside the page
/// stretches its tasks.
#[allow(dead_code)] // Not every test binary measures.
pub static QUIET: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Runs `plan` into the local folder `dir`, panicking on failure.
pub fn build_to_dir(plan: &BuildPlan, dir: &Path) -> BuildReport {
    let _quiet = QUIET
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dest = Destination::open(dir.to_str().unwrap()).unwrap();
    let (result, _) = build_into(plan, &dest, quick_retries(), 32);
    result.unwrap_or_else(|e| panic!("build of {} failed: {e:#}", plan.product.name()))
}

/// The catalog in `dir`, if any.
pub fn read_catalog(dir: &Path) -> Option<Catalog> {
    let bytes = std::fs::read(dir.join(CATALOG_FILE)).ok()?;
    Some(Catalog::from_json(&bytes).unwrap())
}

/// The member manifest at `relative` inside `dir`.
pub fn read_member(dir: &Path, relative: &str) -> MemberManifest {
    let path = dir.join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    MemberManifest::from_parquet(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Bytes `offset .. offset + length` of `url` (on `server`), read with the plain test client
/// (no retries, no library between the test and the wire); the answer must be a 206 of exactly
/// that many bytes.
pub fn range_read(server: &MirrorServer, url: &str, offset: u64, length: u64) -> Vec<u8> {
    let base = server.base_url();
    let path = url
        .strip_prefix(&base)
        .unwrap_or_else(|| panic!("{url} is not on the mirror {base}"));
    let response =
        gik_tests::client::get(server.addr(), path, Some((offset, offset + length - 1))).unwrap();
    assert_eq!(response.status, 206, "{url} bytes {offset}+{length}");
    assert!(response.complete, "{url}: body cut short");
    assert_eq!(response.body.len() as u64, length, "{url}");
    response.body
}

/// The interop virtualenv: `$GIK_VENV`, else `~/.cache/gik/venv`.
pub fn venv() -> PathBuf {
    if let Some(dir) = std::env::var_os("GIK_VENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/gik/venv")
}

/// A program of the virtualenv (`python`, `moto_server`, `actionlint`). Fails the test, with
/// the remedy, when it is not installed: these tests are never skipped.
pub fn venv_program(name: &str) -> PathBuf {
    let path = venv().join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup.sh (it creates the Python test virtualenv \
         $GIK_VENV from scripts/requirements-test.txt)",
        path.display()
    );
    path
}

/// The workspace root (parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `gik` binary, built first (`cargo build -p gik-builder --bin gik`, a no-op when it is
/// up to date), for tests that run it as users do: as separate processes. `GIK_BIN` names
/// another binary instead (to check an older build against the same tests).
pub fn gik_binary() -> PathBuf {
    static GIK: OnceLock<PathBuf> = OnceLock::new();
    GIK.get_or_init(|| {
        if let Some(path) = std::env::var_os("GIK_BIN") {
            return PathBuf::from(path);
        }
        // This test runs from <target>/<profile>/deps/.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", "gik-builder", "--bin", "gik"])
            .current_dir(workspace_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        // The same features as this test binary's gik-builder, so that cargo reuses the
        // workspace build instead of building gik-builder (and its dependencies) a second time.
        if cfg!(feature = "icechunk") {
            build.args(["--features", "icechunk"]);
        }
        let status = build.status().unwrap();
        assert!(status.success(), "building gik: {status}");
        let gik = profile_dir.join(format!("gik{}", std::env::consts::EXE_SUFFIX));
        assert!(
            gik.is_file(),
            "{} is missing after the build",
            gik.display()
        );
        gik
    })
    .clone()
}

/// `gik build` of GEFS `run` (`members`, `steps`, `APCP:surface`) from `server`, to run as a
/// separate process the way users do: quiet, `GIK_SOURCE` unset, no input, output piped. The
/// caller adds where it writes (`--out`, `--icechunk`) and its environment.
pub fn gik_build_gefs(server: &MirrorServer, run: RunTime, members: &str, steps: &str) -> Command {
    let mut cmd = Command::new(gik_binary());
    cmd.args(["--quiet", "build", "--product", "gefs", "--date"])
        .arg(run.date_string())
        .args(["--run", &run.hour_string(), "--members", members])
        .args([
            "--steps",
            steps,
            "--vars",
            "APCP:surface",
            "--concurrency",
            "16",
        ])
        .arg("--source")
        .arg(server.url(GEFS_BUCKET))
        .env_remove("GIK_SOURCE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Every file under `dir` (paths relative to it, sorted) with its bytes; empty when `dir` does
/// not exist.
pub fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}
