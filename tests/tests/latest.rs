//! `gik latest` against the mirror: the newest run whose index files are *all* published.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use gik_builder::http::{HttpClient, RetryConfig};
use gik_builder::latest::latest_complete_run;
use gik_core::time::RunTime;
use gik_tests::mirror::FaultRule;

fn client() -> HttpClient {
    let retry = RetryConfig {
        max_retries: 1,
        ..RetryConfig::default()
    };
    HttpClient::new(32, retry).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_served_run_and_skips_later_unpublished_ones() {
    let server = common::mirror();
    // The mirror serves only 2025-08-01 00z: at 07z the 06z run is not published yet.
    let now = RunTime::parse("20250801", "07").unwrap();
    for name in ["gefs", "ecmwf"] {
        let product = common::product(&server, name);
        let run = latest_complete_run(product.as_ref(), &client(), now, 4)
            .await
            .unwrap();
        assert_eq!(run, common::run(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_missing_index_file_makes_a_run_incomplete() {
    let server = common::mirror();
    server
        .faults()
        .add(FaultRule::not_found().path("*gep17.t00z.pgrb2s.0p25.f240.idx"));
    let product = common::product(&server, "gefs");
    let now = RunTime::parse("20250801", "00").unwrap();
    let err = latest_complete_run(product.as_ref(), &client(), now, 3)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no complete run"), "{err}");
}
