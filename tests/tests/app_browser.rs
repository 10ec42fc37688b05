//! The web app end to end, in headless Chromium: the Trunk-built site (`dist/`) and manifests
//! built from the synthetic mirror, all served on 127.0.0.1; the page fetches every member's
//! manifest and messages itself, as it would from the public buckets.
//!
//! Chromium runs headless through chromedriver (a minimal W3C WebDriver client below), in real
//! time: each page is read once its map is finished or it shows an error. (`--virtual-time-budget`
//! does not wait for Web Workers or the Cache API, which the page now uses.) Screenshots are kept under
//! `$GIK_CACHE/artifacts/` (not in git).
//!
//! Needs `dist/` (`scripts/build-app.sh`, run by `scripts/test.sh` first) and Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::{artifacts, chromium, Driver, ONE_BROWSER};
use std::path::Path;

use gik_core::grib;
use gik_core::member::MemberManifest;
use gik_core::product::precipitation_plan;
use gik_core::stats::EnsembleAccumulator;
use gik_tests::mirror::{DirContent, FaultRule, MirrorConfig, MirrorServer, Replaceable};
use gik_tests::synthetic::{expected_exceedance, Model, Synthetic, SyntheticConfig};

/// What gik-core computes natively from the published manifests: the percentage of GEFS
/// members whose 0–24 h precipitation exceeds `threshold` mm at the grid point nearest
/// (`lat`, `lon`).
fn native_probability(
    server: &MirrorServer,
    site: &Path,
    threshold: f32,
    lat: f64,
    lon: f64,
) -> f32 {
    let catalog = common::read_catalog(site).unwrap();
    let entry = catalog.run("gefs", None).unwrap();
    let product = common::product(server, "gefs");
    let plan = precipitation_plan(product.as_ref(), common::run(), 0, 24).unwrap();
    let mut acc = None;
    for path in entry.manifests.values() {
        let member = common::read_member(site, path);
        let array = MemberManifest::array_of_group("tp/accum/surface");
        let mut fields = Vec::new();
        let mut index = None;
        for term in &plan.terms {
            let chunk = member.chunk(&array, term.step).unwrap().unwrap();
            let bytes = common::range_read(server, &chunk.url, chunk.offset, chunk.length);
            let decoded = grib::decode(&bytes).unwrap();
            index = decoded.info.grid.nearest_index(lat, lon);
            fields.push(vec![decoded.values[index.unwrap()]]);
        }
        let refs: Vec<&[f32]> = fields.iter().map(Vec::as_slice).collect();
        let total = plan.combine(&refs).unwrap();
        acc.get_or_insert_with(|| EnsembleAccumulator::new(1, &[threshold]))
            .add(&total)
            .unwrap();
        assert!(index.is_some());
    }
    let acc = acc.unwrap();
    assert_eq!(acc.members(), 31);
    acc.probability(0).unwrap()[0]
}

/// The number in the readout text (`1.25°S, 36.75°E · 35.5 %`).
fn readout_value(dom: &str) -> f32 {
    let start =
        dom.find(r#"class="readout">"#).expect("readout element") + r#"class="readout">"#.len();
    let text = &dom[start..start + dom[start..].find('<').unwrap()];
    let after = text
        .split('·')
        .nth(1)
        .unwrap_or_else(|| panic!("no value in readout {text:?}"));
    after
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("readout {text:?}"))
}

/// The site (app + config + catalog + manifests) and the synthetic buckets on one server.
fn serve_site() -> (MirrorServer, tempfile::TempDir) {
    let (server, site, _) = serve_site_with(&["APCP:surface"]);
    (server, site)
}

/// [`serve_site`] with the GEFS `variables` given, and the handle that replaces files on the
/// server.
fn serve_site_with(variables: &[&str]) -> (MirrorServer, tempfile::TempDir, Replaceable) {
    let (server, site, content) = common::browser::replaceable_site_on_mirror();
    let plan = common::plan(&server, "gefs", "all", "0-48", variables);
    let report = common::build_to_dir(&plan, site.path());
    assert_eq!(report.members_written, 31);
    (server, site, content)
}

/// The paths of the manifest and Range requests the server saw since the last `reset_stats`.
fn data_requests(server: &MirrorServer) -> Vec<String> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(".parquet") || r.range.is_some())
        .map(|r| r.path)
        .collect()
}

/// Opens `url` in `driver`'s browser and waits (at most 240 s) for the view to finish; returns
/// the progress line. `label` names the visit in a failure.
fn load_view(driver: &Driver, url: &str, label: &str) -> String {
    let status = "const p = document.querySelector('p.progress'); \
        return p && p.classList.contains('done') ? p.textContent : null;";
    driver.post("/url", serde_json::json!({"url": url}));
    let text = wait_for(driver, status, 240, label);
    text.as_str().unwrap().to_string()
}

/// Waits (at most 90 s) until the page's store lists at least `at_least` entries and their
/// number has stopped changing (the page writes to it when idle, after the view is done).
fn wait_for_store(driver: &Driver, at_least: u64) {
    let count = "const t = localStorage.getItem('gik-store-index-v1'); \
        return t ? JSON.parse(t).entries.length : 0;";
    let (mut last, mut stable) = (0, 0);
    let start = std::time::Instant::now();
    while stable < 3 {
        let n = driver.script(count).as_u64().unwrap();
        stable = if n >= at_least && n == last {
            stable + 1
        } else {
            0
        };
        last = n;
        assert!(
            start.elapsed().as_secs() < 90,
            "the store lists {n} entries, still changing or under {at_least}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Empties the browser's HTTP cache, which would answer the page's requests itself (the
/// mirror's files are old enough to count as fresh).
fn clear_http_cache(driver: &Driver) {
    driver.post(
        "/goog/cdp/execute",
        serde_json::json!({"cmd": "Network.clearBrowserCache", "params": {}}),
    );
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

/// `(path, offset, length)` of the messages of `group` at `steps` in every member manifest of
/// `product`'s run in `site`.
fn view_messages(
    server: &MirrorServer,
    site: &Path,
    product: &str,
    group: &str,
    steps: &[u32],
) -> Vec<(String, u64, u64)> {
    let catalog = common::read_catalog(site).unwrap();
    let entry = catalog.run(product, None).unwrap();
    let array = MemberManifest::array_of_group(group);
    let mut messages = Vec::new();
    for path in entry.manifests.values() {
        let member = common::read_member(site, path);
        for &step in steps {
            let chunk = member.chunk(&array, step).unwrap().unwrap();
            let path = chunk.url.strip_prefix(&server.base_url()).unwrap();
            messages.push((
                path.trim_start_matches('/').to_string(),
                chunk.offset,
                chunk.length,
            ));
        }
    }
    messages
}

/// The GRIB2 bytes the page asked for since the last `reset_stats`, checking that every Range
/// request lies inside one of `messages` (prefix reads never read past a message). Manifests,
/// read by parts with Range requests too, are counted by [`manifest_bytes_read`].
fn range_bytes_read(server: &MirrorServer, messages: &[(String, u64, u64)]) -> u64 {
    let mut read = 0;
    for r in server.requests() {
        let Some(range) = r.range.as_deref() else {
            continue;
        };
        if r.path.ends_with(".parquet") {
            continue;
        }
        let (a, b) = range
            .strip_prefix("bytes=")
            .and_then(|x| x.split_once('-'))
            .map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()))
            .unwrap_or_else(|| panic!("range {range}"));
        assert!(
            messages
                .iter()
                .any(|(p, o, l)| *p == r.path && a >= *o && b < o + l),
            "{} {range} is not inside a message of the view",
            r.path
        );
        read += b + 1 - a;
    }
    read
}

/// The bytes of `product`'s member manifests the page read since the last `reset_stats`, the
/// requests it took, and the manifests' total size (from the site folder).
fn manifest_bytes_read(server: &MirrorServer, site: &Path, product: &str) -> (u64, usize, u64) {
    let catalog = common::read_catalog(site).unwrap();
    let paths: Vec<String> = catalog
        .run(product, None)
        .unwrap()
        .manifests
        .values()
        .cloned()
        .collect();
    let total = paths
        .iter()
        .map(|p| std::fs::metadata(site.join(p)).unwrap().len())
        .sum();
    let requests: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| paths.iter().any(|p| r.path.ends_with(p.as_str())))
        .collect();
    let read = requests.iter().map(|r| r.body_bytes).sum();
    (read, requests.len(), total)
}

/// Every Range request of the GEFS probability view lies inside one of its messages. (The
/// synthetic precipitation grid is the East Africa box itself, so every row is needed; the
/// share read is checked on the global ECMWF 2 m temperature messages below.)
fn assert_prefix_reads(server: &MirrorServer, site: &Path) {
    let product = common::product(server, "gefs");
    let plan = precipitation_plan(product.as_ref(), common::run(), 0, 24).unwrap();
    let steps: Vec<u32> = plan.terms.iter().map(|t| t.step).collect();
    let messages = view_messages(server, site, "gefs", "tp/accum/surface", &steps);
    assert!(range_bytes_read(server, &messages) > 0);
}

#[test]
fn readout_at_a_point_equals_the_native_computation() {
    let (server, site) = serve_site();
    let mut checked = 0;
    let mut first_page = true;
    for (lat, lon) in [
        (-1.25, 36.75),
        (9.0, 38.75),
        (2.0, 45.25),
        (-6.75, 39.25),
        (15.5, 32.5),
    ] {
        let native = native_probability(&server, site.path(), 10.0, lat, lon);
        let url = format!(
            "{}/?product=gefs&view=prob&threshold=10&step=24&probe={lat},{lon}",
            server.base_url()
        );
        server.reset_stats();
        let dom = String::from_utf8(chromium(&url, &["--dump-dom"])).unwrap();
        assert!(
            dom.contains(r#"class="progress done""#),
            "map did not finish:\n{dom}"
        );
        if std::mem::take(&mut first_page) {
            assert_prefix_reads(&server, site.path());
        }
        let shown = readout_value(&dom);
        // The same numbers as the synthetic truth that `gik stream`'s test checks against, so the
        // app, the native computation and the stream job agree.
        let truth = expected_exceedance(Model::Gefs, common::run(), (0, 24), 10.0, lat, lon);
        assert!(
            (native - truth).abs() < 1e-3,
            "({lat}, {lon}): native {native} %, truth {truth} %"
        );
        // The readout rounds to one decimal (10..100) or two (below 10).
        assert!(
            (shown - native).abs() <= 0.051,
            "({lat}, {lon}): page {shown} %, native {native} %"
        );
        checked += usize::from(native > 0.0 && native < 100.0);
    }
    assert!(
        checked >= 2,
        "only {checked} points with a probability strictly between 0 and 100"
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

/// Rewrites the GEFS run's manifest path of each `(member, path)` in the site's catalog.
fn repoint_manifests(site: &Path, changes: &[(&str, String)]) {
    let path = site.join("catalog.json");
    let mut catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let manifests = &mut catalog["products"]["gefs"]["runs"][0]["manifests"];
    for (member, to) in changes {
        assert!(manifests.get(*member).is_some(), "no manifest for {member}");
        manifests[*member] = serde_json::Value::String(to.clone());
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&catalog).unwrap()).unwrap();
}

/// The catalog's manifest path of a GEFS member.
fn manifest_path(site: &Path, member: &str) -> String {
    let catalog = common::read_catalog(site).unwrap();
    catalog.run("gefs", None).unwrap().manifests[member].clone()
}

#[test]
fn nothing_is_fetched_from_a_host_the_config_does_not_allow() {
    let (server, site) = serve_site();
    // A second server that would answer every request (the same site and buckets).
    let synthetic = Synthetic::load(SyntheticConfig::new([common::run()])).unwrap();
    let other = MirrorServer::start(MirrorConfig::new(
        synthetic
            .mount()
            .at("", DirContent::new(site.path().to_path_buf())),
    ))
    .unwrap();
    let other_base = other.base_url();
    let other_authority = other_base.trim_start_matches("http://").to_string();
    // gep02: an absolute manifest URL on the other server; gep03: protocol-relative; gep04: a
    // manifest whose messages are on the other server; gep06: a redirect to the other server;
    // gep07: a backslash URL that the browser would send to the other server.
    let gep04 = manifest_path(site.path(), "gep04");
    let elsewhere = tempfile::tempdir().unwrap();
    let report = common::build_to_dir(
        &common::plan(&other, "gefs", "4", "0-48", &["APCP:surface"]),
        elsewhere.path(),
    );
    assert_eq!(report.members_written, 1);
    std::fs::copy(elsewhere.path().join(&gep04), site.path().join(&gep04)).unwrap();
    repoint_manifests(
        site.path(),
        &[
            (
                "gep02",
                format!("{other_base}/{}", manifest_path(site.path(), "gep02")),
            ),
            (
                "gep03",
                format!(
                    "//{other_authority}/{}",
                    manifest_path(site.path(), "gep03")
                ),
            ),
            (
                "gep07",
                format!(
                    "\\\\{other_authority}\\{}",
                    manifest_path(site.path(), "gep07")
                ),
            ),
        ],
    );
    server
        .faults()
        .add(FaultRule::redirect(&other_base).path("*gep06.t00z*"));
    // The build's last header reads on `other` are logged once their answers are written: let
    // them land before counting the page's requests.
    std::thread::sleep(std::time::Duration::from_secs(1));
    other.reset_stats();
    let url = format!(
        "{}/?product=gefs&view=prob&threshold=5&step=24",
        server.base_url()
    );
    let dom = String::from_utf8(chromium(&url, &["--dump-dom"])).unwrap();
    assert!(dom.contains(r#"class="progress done""#), "{dom}");
    assert!(dom.contains("26 of 31 members on the map"), "{dom}");
    for member in ["gep02", "gep03", "gep04", "gep06", "gep07"] {
        assert!(dom.contains(member), "{member} is not named:\n{dom}");
    }
    assert!(dom.contains("allowed_hosts"), "no refusal shown:\n{dom}");
    assert!(
        other.requests().is_empty(),
        "the page sent requests to a host it was not allowed: {:?}",
        other.requests()
    );
    assert_eq!(other.stats().requests, 0);
}

/// A proxy that drops `Range` must not start a whole-file download: the mirror answers gep07's
/// Range requests with `200` and the whole file, sent slowly (64 KiB/s), and the page must
/// close those connections itself, while it is still open, having read a small part of the
/// file. (A page that read or merely left the body open would keep the request running for
/// minutes: the mirror logs a request only when its connection ends.)
#[test]
fn a_range_answered_with_the_whole_file_is_stopped_and_a_wrong_message_is_named() {
    const PACE: u64 = 64 * 1024;
    let (server, site) = serve_site();
    server
        .faults()
        .add(FaultRule::ignore_range_slowly(PACE).path("*gep07.t00z*"));
    // gep08's manifest is gep09's: every message is member 9, not the member 8 asked for.
    let gep09 = manifest_path(site.path(), "gep09");
    repoint_manifests(site.path(), &[("gep08", gep09)]);
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let driver = Driver::start();
    server.reset_stats();
    let url = format!(
        "{}/?product=gefs&view=prob&threshold=5&step=24",
        server.base_url()
    );
    driver.post("/url", serde_json::json!({"url": url}));
    let started = std::time::Instant::now();
    let done = "const p = document.querySelector('p.progress'); \
        return p && p.classList.contains('done') ? document.body.innerHTML : null;";
    let dom = loop {
        if let Some(html) = driver.script(done).as_str() {
            break html.to_string();
        }
        assert!(started.elapsed().as_secs() < 120, "the view did not finish");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(dom.contains("29 of 31 members on the map"), "{dom}");
    assert!(
        dom.contains("gep07") && dom.contains("ignored the Range"),
        "the 200-to-Range answer is not reported:\n{dom}"
    );
    assert!(
        dom.contains("gep08") && dom.contains("not the one asked for"),
        "the wrong member is not reported:\n{dom}"
    );
    let mismatch = dom
        .split("not the one asked for")
        .nth(1)
        .map(|t| &t[..t.find('<').unwrap_or(t.len())])
        .unwrap();
    for word in ["APCP:surface", "step +", "member gep08", "member +9"] {
        assert!(
            mismatch.contains(word),
            "{word:?} missing from {mismatch:?}"
        );
    }

    // With the page still open, no request is being answered any more: every 200 answer to a
    // gep07 Range request has ended, the page having closed the connection early.
    assert!(
        server.wait_idle(std::time::Duration::from_secs(10)),
        "downloads still running with the page open (a 200 answer not stopped?)"
    );
    let ignored: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("gep07.t00z") && r.range.is_some())
        .collect();
    assert!(!ignored.is_empty());
    for r in &ignored {
        assert_eq!(r.status, Some(200), "{r:?}");
        let size = gik_tests::client::request(server.addr(), "HEAD", &format!("/{}", r.path), &[])
            .unwrap()
            .content_length()
            .unwrap();
        assert!(
            r.body_bytes < size / 4 && r.body_bytes < 30 * PACE,
            "{}: the page read {} of the file's {size} bytes",
            r.path,
            r.body_bytes
        );
    }
    drop(driver);
}

/// A 51-member ECMWF view (real-size global CCSDS 2 m temperature messages) in real time, with
/// the decode pool: it finishes, reads well under the messages' bytes (prefix reads) and well
/// under the manifests' bytes (manifests of the product's 15 default variables, of which the
/// view reads the footer and the 2 m temperature row groups), and reopening the page downloads
/// no manifest and no message (the persistent store).
///
/// While it loads, the page's main thread runs no task over 50 ms (Long Tasks API).
#[test]
fn a_51_member_view_loads_without_long_tasks_reads_prefixes_and_reopens_from_the_store() {
    let (server, site) = serve_site();
    let plan = common::plan(&server, "ecmwf", "all", "0-48", &[]);
    assert_eq!(plan.variables.len(), 15);
    let report = common::build_to_dir(&plan, site.path());
    assert_eq!(report.members_written, 51);
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let driver = Driver::start();
    let observe = "window.__longTasks = []; try { new PerformanceObserver((l) => { \
        for (const e of l.getEntries()) window.__longTasks.push([e.startTime, e.duration]); \
        }).observe({type: 'longtask', buffered: true}); } catch (e) {}";
    driver.post(
        "/goog/cdp/execute",
        serde_json::json!({"cmd": "Page.addScriptToEvaluateOnNewDocument",
                           "params": {"source": observe}}),
    );
    let url = format!(
        "{}/?product=ecmwf&view=mean&var=2t&step=24",
        server.base_url()
    );
    let load = |label: &str| load_view(&driver, &url, label);
    // Nothing else of this test binary runs while the page is measured.
    let quiet = common::QUIET
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    server.reset_stats();
    let text = load("first visit");
    assert!(text.contains("51 of 51 members on the map"), "{text}");
    // Prefix reads: the box ends at 12° S, 57 % of the rows of these global 0.25° messages.
    let messages = view_messages(
        &server,
        site.path(),
        "ecmwf",
        "t2m/instant/heightAboveGround",
        &[24],
    );
    let whole: u64 = messages.iter().map(|m| m.2).sum();
    let read = range_bytes_read(&server, &messages);
    println!("ECMWF 2 m temperature: read {read} of {whole} message bytes");
    assert!(read < whole * 3 / 4, "read {read} of {whole} message bytes");
    let (read, requests, whole) = manifest_bytes_read(&server, site.path(), "ecmwf");
    println!(
        "ECMWF 2 m temperature: read {read} of {whole} manifest bytes in {requests} requests \
         ({} of {} bytes per member)",
        read / 51,
        whole / 51
    );
    assert!(read * 4 < whole, "read {read} of {whole} manifest bytes");
    assert!(requests <= 2 * 51, "{requests} manifest requests");

    // No main-thread task over 50 ms while the view loads (decoding is in the workers, requests
    // and store writes each in a task of their own). A browser's own hiccup (a garbage
    // collection, the machine's other processes) can still make one task long, so the cold
    // load is repeated, at most three times, until one shows none; a page that does a view's
    // work in long tasks shows them every time.
    let mut attempts = vec![long_tasks_while_loading(&driver)];
    while !attempts.last().unwrap().is_empty() && attempts.len() < 3 {
        wait_for_store(&driver, 51);
        clear_site_data(&driver, &server.base_url());
        clear_http_cache(&driver);
        let text = load("cold visit again");
        assert!(text.contains("51 of 51 members on the map"), "{text}");
        assert!(!text.contains("from cache"), "{text}");
        attempts.push(long_tasks_while_loading(&driver));
    }
    drop(quiet);
    println!("main-thread tasks over 50 ms while the view loaded, per cold load: {attempts:?}");
    assert!(
        attempts.last().unwrap().is_empty(),
        "every cold load had main-thread tasks over 50 ms: {attempts:?}"
    );

    // Reopen: everything the view needs is in the store.
    wait_for_store(&driver, 51);
    server.reset_stats();
    let again = load("second visit");
    assert!(again.contains("51 of 51 members on the map"), "{again}");
    assert!(again.contains("51 from cache"), "{again}");
    let data = data_requests(&server);
    assert!(data.is_empty(), "reopening downloaded {data:?}");
}

/// Durations of the page's main-thread tasks over 50 ms (Long Tasks API, installed by the
/// test's `PerformanceObserver`) that started after its first manifest request.
fn long_tasks_while_loading(driver: &Driver) -> Vec<f64> {
    let tasks = driver.script(
        "const m = performance.getEntriesByType('resource')
           .filter(r => r.name.endsWith('.parquet')).map(r => r.startTime);
         const from = Math.min(...m);
         return {from: Number.isFinite(from) ? from : null,
                 observed: Array.isArray(window.__longTasks),
                 tasks: window.__longTasks.filter(([t, d]) => t >= from).map(([t, d]) => d)};",
    );
    assert!(
        tasks["from"].is_number(),
        "no manifest request seen: {tasks}"
    );
    assert_eq!(tasks["observed"], serde_json::Value::Bool(true), "{tasks}");
    tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect()
}

/// Empties the page's store (Cache API and `localStorage`) for `origin`, as on a first visit.
fn clear_site_data(driver: &Driver, origin: &str) {
    driver.post(
        "/goog/cdp/execute",
        serde_json::json!({"cmd": "Storage.clearDataForOrigin",
                           "params": {"origin": origin,
                                      "storageTypes": "cache_storage,local_storage"}}),
    );
}

/// Polls `js` (a WebDriver script) every 250 ms until it returns something other than `null`,
/// for at most `secs` seconds.
fn wait_for(driver: &Driver, js: &str, secs: u64, what: &str) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let v = driver.script(js);
        if !v.is_null() {
            return v;
        }
        assert!(
            start.elapsed().as_secs() < secs,
            "{what}: not within {secs} s"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// Once a view has been seen, the page opens with no network at all — every request to the
/// site is cut off — from its service worker (the app shell) and its store (the catalog, the
/// manifests, the fields), shows the last finished view although it is opened without one,
/// says it is offline, and names the run.
#[test]
fn a_page_visited_once_opens_offline_with_its_last_map() {
    let (server, _site) = serve_site();
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let driver = Driver::start();
    let view = format!(
        "{}/?product=gefs&view=prob&threshold=5&step=48",
        server.base_url()
    );
    let finished = "const p = document.querySelector('p.progress'); \
        const e = document.querySelector('.error'); \
        return (p && p.classList.contains('done')) || e ? document.body.innerText : null;";
    driver.post("/url", serde_json::json!({ "url": view }));
    let online = wait_for(&driver, finished, 120, "the online visit");
    let online = online.as_str().unwrap();
    assert!(online.contains("31 of 31 members on the map"), "{online}");
    assert!(!online.contains("Offline"), "{online}");

    // The service worker installed (its shell cached) and the page's writes to its store done.
    let shell = "if (window.__shell === undefined) { window.__shell = null; \
          navigator.serviceWorker.ready.then(() => caches.open('gik-shell-v1')) \
            .then(c => c.keys()).then(k => { window.__shell = k.length; }); } \
        return window.__shell;";
    let files = wait_for(&driver, shell, 60, "the service worker")
        .as_u64()
        .unwrap();
    assert!(files >= 5, "the service worker cached {files} files");
    // 31 fields, their manifests and the catalog.
    wait_for_store(&driver, 32);

    // No network: every request to the site (page, shell, catalog, manifests, messages) is
    // answered by closing the connection.
    // The browser's HTTP cache would answer most of it (the mirror's files are old enough to
    // count as fresh): emptied, so what answers is the service worker and the page's store.
    server.faults().set(vec![FaultRule::reset()]);
    driver.post("/url", serde_json::json!({ "url": "about:blank" }));
    clear_http_cache(&driver);
    driver.post(
        "/url",
        serde_json::json!({ "url": format!("{}/", server.base_url()) }),
    );
    let offline = wait_for(&driver, finished, 120, "the offline visit");
    let offline = offline.as_str().unwrap();
    assert!(server.faults().fired() > 0, "no request reached the site");
    assert!(offline.contains("Offline"), "{offline}");
    assert!(offline.contains("31 of 31 members on the map"), "{offline}");
    assert!(
        offline.contains("(124 from cache)") && offline.contains("in 0 requests"),
        "{offline}"
    );
    assert!(!offline.contains("failed"), "{offline}");
    // The last view, not the default one, and the run it was seen with.
    let run = |text: &str| {
        text.lines()
            .skip_while(|l| l.trim() != "Run")
            .nth(1)
            .map(str::to_string)
    };
    assert!(run(online).is_some(), "{online}");
    assert_eq!(run(offline), run(online), "{offline}");
    let query = driver.script("return location.search;");
    let query = query.as_str().unwrap();
    assert!(
        ["view=prob", "threshold=5", "step=48"]
            .iter()
            .all(|p| query.contains(p)),
        "{query}"
    );
}

/// The store follows the files' `ETag`s: a view's fields are stored; one member's GRIB2 file is
/// then replaced on the server by a longer one (the same messages at the same offsets, another
/// `ETag`); a view of another variable reads other bytes of that file, sees the new tag, and
/// the store drops what it held of the file; reopening the first view reads that member's
/// message again and takes every other one from the store.
#[test]
fn a_file_replaced_on_the_server_is_read_again_once_a_read_sees_its_new_etag() {
    let (server, site, content) = serve_site_with(&["APCP:surface", "TMP:2 m above ground"]);
    // gep05's step-24 file holds both views' messages, at different offsets.
    let gep05 = |group: &str| {
        view_messages(&server, site.path(), "gefs", group, &[24])
            .into_iter()
            .find(|(path, _, _)| path.contains("gep05.t00z"))
            .unwrap()
    };
    let (file, t2m_offset, _) = gep05("t2m/instant/heightAboveGround");
    let (rain_file, rain_offset, _) = gep05("tp/accum/surface");
    assert_eq!(file, rain_file);
    assert_ne!(t2m_offset, rain_offset);
    let _one = ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let driver = Driver::start();
    let base = server.base_url();
    let temperature = format!("{base}/?product=gefs&view=mean&var=TMP:2+m+above+ground&step=24");
    let rain = format!("{base}/?product=gefs&view=mean&var=APCP:surface&step=24&window=6");

    let first = load_view(&driver, &temperature, "first visit");
    assert!(first.contains("31 of 31 members on the map"), "{first}");
    // Each member's manifest and field.
    wait_for_store(&driver, 62);
    assert!(
        content.append(&file, &[0; 64]),
        "{file} is not on the mirror"
    );
    // Every read below reaches the server (not the browser's HTTP cache, which would answer
    // with the old file's headers).
    clear_http_cache(&driver);
    server.reset_stats();
    let other = load_view(&driver, &rain, "the other variable");
    assert!(other.contains("31 of 31 members on the map"), "{other}");
    assert!(
        data_requests(&server).contains(&file),
        "the other view did not read {file}"
    );

    clear_http_cache(&driver);
    server.reset_stats();
    let again = load_view(&driver, &temperature, "second visit");
    assert!(again.contains("31 of 31 members on the map"), "{again}");
    assert!(again.contains("(30 from cache)"), "{again}");
    // gep05's message, and nothing else, was read again.
    let data = data_requests(&server);
    assert!(
        !data.is_empty() && data.iter().all(|p| *p == file),
        "reopening read {data:?}"
    );
}
