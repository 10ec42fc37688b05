//! The web app with two sources of the same files, in headless Chromium: the manifests name
//! every message on the first mirror, which answers the page without CORS headers, with `403`
//! or with `503`; the map must still complete, read from the second mirror, and the page must
//! say which source served it and which host failed.
//!
//! Needs `dist/` (`scripts/build-app.sh`, run by `scripts/test.sh` first) and Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::browser::{chromium, copy_dir, dist};
use gik_tests::mirror::{Content, DirContent, FaultRule, MirrorConfig, MirrorServer};
use gik_tests::synthetic::{Synthetic, SyntheticConfig, GEFS_BUCKET};

#[test]
fn the_map_completes_from_the_second_source_when_the_first_fails_the_page() {
    let synthetic = Synthetic::load(SyntheticConfig::new([common::run()])).unwrap();
    let buckets: Arc<dyn Content> = Arc::new(synthetic.mount());
    let first = MirrorServer::start(MirrorConfig::shared(buckets.clone())).unwrap();
    let second = MirrorServer::start(MirrorConfig::shared(buckets)).unwrap();

    // The site on its own origin; manifests built from (and naming) the first mirror.
    let site_dir = tempfile::tempdir().unwrap();
    copy_dir(&dist(), site_dir.path());
    let plan = common::plan(&first, "gefs", "all", "0-24", &["APCP:surface"]);
    let report = common::build_to_dir(&plan, site_dir.path());
    assert_eq!(report.members_written, 31);
    let (a, b) = (first.url(GEFS_BUCKET), second.url(GEFS_BUCKET));
    std::fs::write(
        site_dir.path().join("config.json"),
        format!(
            r#"{{"catalog": "catalog.json", "allowed_hosts": [], "sources": {{"gefs": ["{a}", "{b}"]}}}}"#
        ),
    )
    .unwrap();
    let site = MirrorServer::start(MirrorConfig::new(DirContent::new(
        site_dir.path().to_path_buf(),
    )))
    .unwrap();
    let url = format!(
        "{}/?product=gefs&view=prob&threshold=5&step=24",
        site.base_url()
    );

    for scenario in ["no CORS", "403", "503"] {
        first.faults().clear();
        first.set_cors(true);
        match scenario {
            "no CORS" => first.set_cors(false),
            "403" => first.faults().set(vec![FaultRule::status(403)]),
            _ => first.faults().set(vec![FaultRule::slow_down()]),
        }
        second.reset_stats();
        let dom = String::from_utf8(chromium(&url, &["--dump-dom"])).unwrap();
        assert!(
            dom.contains(r#"class="progress done""#) && dom.contains("31 of 31 members on the map"),
            "{scenario}: the map did not complete:\n{dom}"
        );
        assert!(
            dom.contains(&format!("Map data from {b} (")),
            "{scenario}: the page does not say the second source served the map:\n{dom}"
        );
        assert!(
            dom.contains(&format!("failing in this page: {}", first.base_url())),
            "{scenario}: the page does not name the failed host:\n{dom}"
        );
        assert!(
            !dom.contains(&format!("Map data from {a} (")),
            "{scenario}: the failing source is said to have served:\n{dom}"
        );
        // Every member's messages came from the second source.
        let served = second.stats().range_requests;
        assert!(
            served >= 31,
            "{scenario}: {served} range requests on the second source"
        );
    }
}
