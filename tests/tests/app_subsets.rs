//! The web app with a regional subset, end to end in headless Chromium: a view inside the
//! East Africa subset is served from the subset (no byte from the bucket mirror), a view
//! reaching outside it from the bucket mirror, the status line says which, and both show the
//! same values where they overlap — the values gik-core decodes from the bucket.
//!
//! The site (Trunk-built `dist/`, `config.json`, catalog, manifests, subset) and the synthetic
//! buckets are served by one mirror on 127.0.0.1, as in `app_browser.rs`. Needs `dist/`
//! (`scripts/build-app.sh`) and Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use gik_builder::subset::SubsetPlan;
use gik_core::grib;
use gik_core::member::MemberManifest;
use gik_tests::mirror::MirrorServer;
use gik_tests::synthetic::ECMWF_BUCKET;

/// The site with an ECMWF run (5 members, 0–24 h, `tp` and `2t`) and its East Africa subset.
fn serve_site() -> (MirrorServer, tempfile::TempDir) {
    let (server, site) = common::browser::site_on_mirror();
    let mut plan = common::plan(&server, "ecmwf", "0-4", "0-24", &["tp", "2t"]);
    plan.subsets = vec![SubsetPlan::new("east-africa", plan.product.as_ref(), &[]).unwrap()];
    let report = common::build_to_dir(&plan, site.path());
    assert_eq!(report.subsets.len(), 1);
    (server, site)
}

/// The readout's text (`1.25°S, 36.75°E · 24.3 °C`) after its `·`.
fn readout(dom: &str) -> String {
    let start =
        dom.find(r#"class="readout">"#).expect("readout element") + r#"class="readout">"#.len();
    let text = &dom[start..start + dom[start..].find('<').unwrap()];
    text.split('·')
        .nth(1)
        .unwrap_or_else(|| panic!("no value in readout {text:?}"))
        .trim()
        .to_string()
}

/// Loads `query` (in real time, until the map is finished or the page shows an error) and
/// returns the DOM and the paths the page requested.
fn visit(server: &MirrorServer, query: &str) -> (String, Vec<String>) {
    assert!(server.wait_idle(std::time::Duration::from_secs(5)));
    server.reset_stats();
    let url = format!("{}/?{query}", server.base_url());
    let dom = String::from_utf8(common::browser::chromium(&url, &["--dump-dom"])).unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert!(
        dom.contains(r#"class="progress done""#),
        "{query}: map did not finish; requests {paths:?}:\n{dom}"
    );
    assert!(!dom.contains(r#"class="error""#), "{dom}");
    (dom, paths)
}

/// 2 m temperature of member `ens01` at step 12 at the grid point of (`lat`, `lon`), decoded
/// natively from the bucket, in °C as the page shows it.
fn native_t2m(server: &MirrorServer, site: &Path, lat: f64, lon: f64) -> f32 {
    let catalog = common::read_catalog(site).unwrap();
    let run = catalog.run("ecmwf", None).unwrap();
    let member = common::read_member(site, &run.manifests["ens01"]);
    let array = MemberManifest::array_of_group("t2m/instant/heightAboveGround");
    let chunk = member.chunk(&array, 12).unwrap().unwrap();
    assert!(chunk.url.contains(ECMWF_BUCKET));
    let bytes = common::range_read(server, &chunk.url, chunk.offset, chunk.length);
    let decoded = grib::decode(&bytes).unwrap();
    let index = decoded.info.grid.nearest_index(lat, lon).unwrap();
    decoded.values[index] - 273.15
}

#[test]
fn a_view_inside_the_subset_is_served_from_it_and_equals_the_bucket() {
    let (server, site) = serve_site();
    let bucket = format!("{ECMWF_BUCKET}/");
    // A member's 2 m temperature: a real global message in the bucket, cut to the box in the
    // subset; the page must show gik-core's decode of the bucket's message.
    for (lat, lon) in [(-1.25, 36.75), (9.0, 38.75), (2.0, 45.25)] {
        let view = format!(
            "product=ecmwf&var=2t&step=12&view=member&member=ens01&probe={lat},{lon}\
             &bbox=-12,23,21,53"
        );
        let (dom, paths) = visit(&server, &view);
        assert!(dom.contains("data from the east-africa subset"), "{dom}");
        assert!(
            paths.iter().all(|p| !p.starts_with(&bucket)),
            "a view inside the subset reads nothing from the bucket: {paths:?}"
        );
        assert!(paths.iter().any(|p| p.starts_with("subsets/east-africa/")));
        let native = native_t2m(&server, site.path(), lat, lon);
        let shown: f32 = readout(&dom)
            .trim_end_matches("°C")
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("readout {:?}", readout(&dom)));
        assert!(
            (shown - native).abs() <= 0.051,
            "({lat}, {lon}): page {shown}, native {native}"
        );
    }

    // The 24-h rain probability of every member, inside the subset's box (from the subset)
    // and over a box reaching west of it (from the bucket mirror): the same at each point.
    for (lat, lon) in [(0.5, 35.25), (-6.75, 39.25), (15.5, 32.5)] {
        let view = format!("product=ecmwf&view=prob&threshold=1&step=24&probe={lat},{lon}");
        let (inside, inside_paths) = visit(&server, &format!("{view}&bbox=-12,23,21,53"));
        let (outside, outside_paths) = visit(&server, &format!("{view}&bbox=-12,23,10,53"));
        for dom in [&inside, &outside] {
            assert!(dom.contains("5 of 5 members on the map"), "{dom}");
        }
        assert!(inside.contains("data from the east-africa subset"));
        assert!(outside.contains("data from the public buckets"));
        assert!(inside_paths.iter().all(|p| !p.starts_with(&bucket)));
        assert!(outside_paths.iter().any(|p| p.starts_with(&bucket)));
        assert!(outside_paths.iter().all(|p| !p.starts_with("subsets/")));
        assert_eq!(readout(&inside), readout(&outside), "({lat}, {lon})");
    }
}
