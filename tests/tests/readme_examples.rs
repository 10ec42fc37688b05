//! Every `gik …` command of README.md's command-line sections (Inspecting a file, Building
//! manifests, Streaming to NetCDF) runs, as written, against the local mirror.
//!
//! The commands are read from the README itself, so an example that stops working — or a new
//! one — fails here. Each runs as a separate `gik` process with only these changes:
//!
//! - placeholders become real things: `file.grib2` a fixture GRIB2 file, the `.idx` example the
//!   fixture of that name, `./site` (and `site/…`) a temporary folder, `s3://…` the moto S3
//!   server (as the publishing tests use), `https://host/gik` that folder served over HTTP;
//! - `--source` points builds at the synthetic mirror, and `GIK_NOW` sets "now" to 2025-08-01
//!   00z, so `--latest` finds that run (the mirror has no `oper` stream for today's ECMWF runs);
//! - to keep it fast, `--members 0-1` and `--steps 0-6` are added where the example does not
//!   set them (an example's own flags are never changed).
//!
//! What cannot run here is listed, with the reason, in [`SKIPPED`]; the test checks that
//! exactly those were skipped, so they are never counted as passing. The stream examples need
//! an ECMWF run of 20250801 00z in the folder that no README build command makes (the README
//! builds ECMWF to object stores): the test builds it first, with the cgan preset's variables.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use gik_tests::mirror::{DirContent, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{Synthetic, SyntheticConfig, ECMWF_BUCKET, GEFS_BUCKET};

use common::{gik_binary, read_catalog, venv_program, workspace_root};

/// README commands that are not run, and why.
const SKIPPED: &[(&str, &str)] = &[(
    "gik build --product ecmwf --date 20250810 --run 00 --days-back 30 --out gs://bucket/gik",
    "no Google Cloud Storage emulator on a test machine",
)];

/// The README sections whose `sh` blocks hold `gik` commands.
const SECTIONS: &[&str] = &[
    "## Inspecting a file",
    "## Building manifests (`gik build`)",
    "## Streaming to NetCDF (`gik stream`)",
];

/// The `gik` command lines of `section` in `readme`: continuation lines joined, comments
/// dropped, split into words as a POSIX shell would (quotes, backslashes).
fn commands(readme: &str, section: &str) -> Vec<Vec<String>> {
    let start = readme
        .find(section)
        .unwrap_or_else(|| panic!("README.md has no section {section:?}"));
    let body = &readme[start + section.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let mut out = Vec::new();
    let mut in_block = false;
    let mut line = String::new();
    for raw in body.lines() {
        if raw.trim_start().starts_with("```") {
            in_block = !in_block && raw.trim_start().starts_with("```sh");
            continue;
        }
        if !in_block {
            continue;
        }
        let text = strip_comment(raw);
        if let Some(head) = text.trim_end().strip_suffix('\\') {
            line.push_str(head);
            line.push(' ');
            continue;
        }
        line.push_str(&text);
        let words = shell_words(&line);
        line.clear();
        if words.first().is_some_and(|w| w == "gik") {
            out.push(words);
        }
    }
    out
}

/// `line` without a `#` comment (a `#` that starts a word outside quotes).
fn strip_comment(line: &str) -> String {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => return line[..i].to_string(),
            _ => {}
        }
        prev = c;
    }
    line.to_string()
}

/// Splits a command line into words: whitespace separates, quotes group, a backslash escapes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut started = false;
    let mut quote = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => word.push(c),
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                    started = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// A moto S3 server (from the test virtualenv) with one bucket, killed on drop.
struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    fn start(bucket: &str) -> Moto {
        let program = venv_program("moto_server");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let moto = Moto {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&moto.addr, Duration::from_millis(200)).is_ok() {
                let r = gik_tests::client::request(
                    moto.addr,
                    "PUT",
                    &format!("/{bucket}"),
                    &[("Content-Length", "0")],
                );
                if r.is_ok_and(|r| r.status == 200) {
                    return moto;
                }
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", format!("http://{}", self.addr)),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the commands run.
struct World {
    data: MirrorServer,
    site: PathBuf,
    site_server: MirrorServer,
    work: PathBuf,
    moto: Moto,
}

impl World {
    /// `words` made runnable here (see the module docs), with the environment it needs.
    fn adapt(&self, words: &[String]) -> (Vec<String>, Vec<(&'static str, String)>) {
        let fixtures = gik_tests::fixtures_dir();
        let site = self.site.to_str().unwrap();
        let mut env = Vec::new();
        let mut args: Vec<String> = words[1..]
            .iter()
            .map(|w| {
                if w == "file.grib2" {
                    return fixtures
                        .join("gfs/gfs.20200330.t18z.pgrb2.0p25.f012")
                        .to_string_lossy()
                        .into_owned();
                }
                if w.ends_with(".idx") && !w.contains('/') {
                    return fixtures
                        .join("gefs/idx")
                        .join(w)
                        .to_string_lossy()
                        .into_owned();
                }
                if w == "./site" {
                    return site.to_string();
                }
                if let Some(rest) = w.strip_prefix("site/") {
                    return format!("{site}/{rest}");
                }
                if w.starts_with("https://host/gik") {
                    return self.site_server.url("gik");
                }
                if w.starts_with("s3://") {
                    env = self.moto.env();
                }
                if w.ends_with(".nc") {
                    return self.work.join(w).to_string_lossy().into_owned();
                }
                w.clone()
            })
            .collect();
        let has = |flag: &str| {
            words
                .iter()
                .any(|w| w == flag || w.starts_with(&format!("{flag}=")))
        };
        let product = words
            .iter()
            .position(|w| w == "--product")
            .map(|i| words[i + 1].clone());
        match words[1].as_str() {
            "build" | "latest" => {
                let bucket = match product.as_deref() {
                    Some("ecmwf") => ECMWF_BUCKET,
                    _ => GEFS_BUCKET,
                };
                args.extend(["--source".into(), self.data.url(bucket)]);
            }
            _ => {}
        }
        if matches!(words[1].as_str(), "build" | "stream") && !has("--members") {
            args.extend(["--members".into(), "0-1".into()]);
        }
        if words[1] == "build" && !has("--steps") {
            args.extend(["--steps".into(), "0-6".into()]);
        }
        (args, env)
    }
}

fn run_gik(args: &[String], env: &[(&'static str, String)], dir: &Path) -> Output {
    let mut cmd = Command::new(gik_binary());
    cmd.arg("--quiet")
        .args(args)
        .current_dir(dir)
        .env_remove("GIK_SOURCE")
        .env("GIK_NOW", "2025080100")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn readme_command_examples_run_against_the_mirror() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let sections: Vec<Vec<Vec<String>>> = SECTIONS.iter().map(|s| commands(&readme, s)).collect();
    for (name, cmds) in SECTIONS.iter().zip(&sections) {
        assert!(!cmds.is_empty(), "{name}: no gik command found");
    }

    let mut config = SyntheticConfig::new([common::run()]);
    config.any_run = true;
    let data = Synthetic::load(config).unwrap().serve().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let site_server = MirrorServer::start(MirrorConfig::new(
        gik_tests::mirror::Mount::new().at("gik", DirContent::new(&site)),
    ))
    .unwrap();
    let world = World {
        data,
        site: site.clone(),
        site_server,
        work: dir.path().to_path_buf(),
        moto: Moto::start("my-bucket"),
    };

    let mut skipped = Vec::new();
    let mut ran = 0;
    for (section, cmds) in SECTIONS.iter().zip(&sections) {
        if section.contains("gik stream") {
            // The ECMWF run the stream examples read (see the module docs).
            let setup: Vec<String> = "gik build --product ecmwf --date 20250801 --run 00 \
                 --vars tp,2t,sp,ssr,ssrd,tcw,tcwv,tcc,u:700,v:700,sf,ro --steps 0-60 --out ./site"
                .split(' ')
                .map(String::from)
                .collect();
            let (args, env) = world.adapt(&setup);
            let out = run_gik(&args, &env, dir.path());
            assert!(out.status.success(), "setup {args:?}: {out:?}");
        }
        for words in cmds {
            let text = words.join(" ");
            if let Some((_, why)) = SKIPPED.iter().find(|(c, _)| *c == text) {
                skipped.push((text, *why));
                continue;
            }
            let (args, env) = world.adapt(words);
            let started = Instant::now();
            let out = run_gik(&args, &env, dir.path());
            eprintln!("{:.1?}: gik {}", started.elapsed(), args.join(" "));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "README: {text}\nran: gik {}\n{stdout}\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            match words[1].as_str() {
                "inspect" => assert!(!stdout.trim().is_empty(), "{text}: no output"),
                // As the README's comment says.
                "latest" => assert_eq!(stdout.trim(), "20250801 00", "{text}"),
                "stream" => {
                    let nc = words.iter().find(|w| w.ends_with(".nc")).unwrap();
                    assert!(dir.path().join(nc).is_file(), "{text}: no {nc}");
                }
                _ => {}
            }
            ran += 1;
        }
    }
    let expected: Vec<(String, &str)> = SKIPPED.iter().map(|(c, w)| (c.to_string(), *w)).collect();
    assert_eq!(skipped, expected, "skipped commands");
    let total: usize = sections.iter().map(Vec::len).sum();
    assert_eq!(ran + skipped.len(), total);
    // The local builds landed: GEFS with the README's member list, ECMWF from the setup.
    let catalog = read_catalog(&site).unwrap();
    let gefs = catalog
        .run("gefs", Some("2025080100".parse().unwrap()))
        .unwrap();
    assert_eq!(
        gefs.members,
        ["gec00", "gep01", "gep02", "gep03", "gep04", "gep05"]
    );
}

#[test]
fn command_lines_are_split_as_a_shell_would() {
    let readme = "## A\n```sh\ngik x --vars \"TMP:2 m above ground,APCP:surface\" \\\n    \
                  --bbox=-5,5 --out a.nc   # a comment\necho no\n```\n## B\n```sh\ngik y\n```\n";
    assert_eq!(
        commands(readme, "## A"),
        [[
            "gik",
            "x",
            "--vars",
            "TMP:2 m above ground,APCP:surface",
            "--bbox=-5,5",
            "--out",
            "a.nc"
        ]]
    );
    assert_eq!(commands(readme, "## B"), [["gik", "y"]]);
    assert_eq!(shell_words("a 'b c' d\\ e"), ["a", "b c", "d e"]);
}
