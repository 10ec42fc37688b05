//! The app's browser-only code in a real browser: drawing a frame on a canvas, the fetch
//! layer's failure classification, size caps and URL checks, and yielding to the event loop. Run in headless Chromium by
//! `wasm-bindgen-test-runner` (`app/webdriver.json`):
//!
//! ```sh
//! cargo test -p gik-app --target wasm32-unknown-unknown --test web
//! ```
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use gik_app::compute::{plan_view, Crop, Frame, FrameData};
use gik_app::data::{self, Config, FetchFailure, Want};
use gik_app::render::{self, Borders};
use gik_app::tasks::{join_all, Limiter};
use gik_app::timers;
use gik_app::view_state::ViewState;
use gik_core::catalog::Catalog;
use gik_core::grib::{Grid, LatLonGrid};
use gik_core::origin::UrlPolicy;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const CATALOG: &str = r#"{
  "version": 1,
  "products": {"gefs": {"label": "NOAA GEFS", "runs": [{
    "run": "2025080100",
    "members": ["gec00", "gep01"],
    "steps": [0, 6, 12, 18, 24],
    "variables": [{"name": "APCP:surface", "path": "tp/accum/surface", "array": "tp",
                   "units": "kg m**-2"}],
    "manifests": {"gec00": "gefs/gec00.parquet", "gep01": "gefs/gep01.parquet"}
  }]}}
}"#;

/// A 1° global grid laid out as GEFS's (0…359 east, north first).
fn grid() -> Grid {
    Grid {
        template: 0,
        num_points: 360 * 181,
        ni: Some(360),
        nj: Some(181),
        latlon: Some(LatLonGrid {
            lat_first: 90.0,
            lon_first: 0.0,
            lat_last: -90.0,
            lon_last: 359.0,
            di: 1.0,
            dj: 1.0,
            scanning_mode: 0,
            gaussian: false,
        }),
    }
}

fn frame(data: impl Fn(&Crop) -> FrameData) -> Frame {
    let catalog = Catalog::from_json(CATALOG.as_bytes()).unwrap();
    let plan = plan_view(&catalog, &ViewState::default()).unwrap().plan;
    let crop = Crop::new(&grid(), &plan.bbox, 100_000).unwrap();
    Frame {
        data: data(&crop),
        crop: Arc::new(crop),
        members_done: 2,
        members_total: 2,
        complete: true,
        plan: Arc::new(plan),
    }
}

fn canvas() -> web_sys::HtmlCanvasElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let c: web_sys::HtmlCanvasElement = document
        .create_element("canvas")
        .unwrap()
        .dyn_into()
        .unwrap();
    document.body().unwrap().append_child(&c).unwrap();
    c
}

fn pixel(c: &web_sys::HtmlCanvasElement, x: f64, y: f64) -> Vec<u8> {
    let ctx: web_sys::CanvasRenderingContext2d =
        c.get_context("2d").unwrap().unwrap().dyn_into().unwrap();
    ctx.get_image_data(x, y, 1.0, 1.0).unwrap().data().to_vec()
}

#[wasm_bindgen_test]
fn draws_a_field_with_legend_and_borders() {
    // 60 mm everywhere: the darkest rain classes, never the transparent dry class.
    let f = frame(|crop| FrameData::Field(vec![60.0; crop.len()]));
    let borders =
        Borders::from_json(include_bytes!("../../static/borders/borders-50m.json")).unwrap();
    let c = canvas();
    let layout = render::draw(&c, &f, Some(&borders), 800.0, 680.0, 1.0).unwrap();
    assert_eq!(c.width(), 800);
    assert_eq!(f64::from(c.height()), layout.height.round());
    let p = layout.panels[0];
    // Somewhere in the map, away from borders, the colour of the 50–75 mm class.
    let scale = render::ColourScale::for_frame(f.plan.quantity, &f.plan.unit, &f.data);
    let want = scale.colour(60.0);
    let mut hits = 0;
    for k in 1..10 {
        let px = pixel(&c, p.x + p.w * f64::from(k) / 10.0, p.y + p.h / 2.0);
        if px[..3] == want[..3] {
            hits += 1;
        }
    }
    assert!(
        hits >= 5,
        "only {hits} of 9 samples have the field's colour"
    );
    // The title band stays white at its right end.
    assert_eq!(pixel(&c, 790.0, 5.0), [255, 255, 255, 255]);
    // The cursor maps back to the field.
    let (x, y) = layout.to_pixel(&p, 0.0, 37.0);
    let (panel, lat, lon) = layout.locate(x, y).unwrap();
    let i = f.crop.index_at(lat, lon).unwrap();
    assert_eq!(f.value(panel, i), Some((60.0, None)));
}

#[wasm_bindgen_test]
fn draws_postage_stamps() {
    let f = frame(|crop| {
        FrameData::Stamps(vec![
            ("gec00".into(), vec![0.0; crop.len()]),
            ("gep01".into(), vec![20.0; crop.len()]),
        ])
    });
    let c = canvas();
    let layout = render::draw(&c, &f, None, 900.0, 680.0, 2.0).unwrap();
    assert_eq!(layout.panels.len(), 2);
    // Device pixel ratio 2: the backing store is twice the CSS size.
    assert_eq!(c.width(), 1800);
    // The PNG export works (same canvas).
    let url = c.to_data_url_with_type("image/png").unwrap();
    assert!(url.starts_with("data:image/png;base64,"));
}

#[wasm_bindgen_test]
async fn fetch_failures_are_classified() {
    let page = data::page_policy().unwrap();
    let whole = Want::Whole { max: 1 << 20 };
    let missing = page.resolve("no-such-file.parquet", None).unwrap();
    match data::fetch_bytes(&missing, whole, None).await {
        Err(FetchFailure::NotFound { url }) => assert_eq!(url, missing.as_str()),
        other => panic!("expected 404, got {other:?}"),
    }
    // Nothing listens on port 1: a rejected cross-origin fetch, reported as possible CORS.
    let policy = UrlPolicy::new(&data::page_url(), &["http://127.0.0.1:1".into()], None).unwrap();
    let closed = policy.chunk_url("http://127.0.0.1:1/x.grib2").unwrap();
    let range = Want::Range {
        offset: 0,
        length: 10,
    };
    match data::fetch_bytes(&closed, range, None).await {
        Err(e @ FetchFailure::CrossOrigin { .. }) => assert!(e.to_string().contains("CORS")),
        other => panic!("expected a cross-origin failure, got {other:?}"),
    }
    // An aborted request is a cancellation, not a failure.
    let abort = web_sys::AbortController::new().unwrap();
    abort.abort();
    let r = data::fetch_bytes(&missing, whole, Some(&abort.signal())).await;
    assert_eq!(r, Err(FetchFailure::Aborted));
}

/// The URL of the test's own wasm module (served by the test runner next to the page).
fn own_wasm_url() -> String {
    let performance =
        js_sys::Reflect::get(&web_sys::window().unwrap(), &"performance".into()).unwrap();
    let entries: js_sys::Function = js_sys::Reflect::get(&performance, &"getEntriesByType".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    let list: js_sys::Array = entries
        .call1(&performance, &"resource".into())
        .unwrap()
        .dyn_into()
        .unwrap();
    list.iter()
        .filter_map(|e| js_sys::Reflect::get(&e, &"name".into()).ok()?.as_string())
        .find(|name| name.ends_with(".wasm"))
        .expect("the test's wasm module among the page's resources")
}

#[wasm_bindgen_test]
async fn bodies_over_their_cap_are_not_read() {
    let page = data::page_policy().unwrap();
    let wasm = page.resolve(&own_wasm_url(), None).unwrap();
    // The module is far larger than 1000 bytes: refused from Content-Length or while streaming.
    match data::fetch_bytes(&wasm, Want::Whole { max: 1000 }, None).await {
        Err(FetchFailure::TooLarge { url, limit, .. }) => {
            assert_eq!((url.as_str(), limit), (wasm.as_str(), 1000));
        }
        other => panic!("expected TooLarge, got {:?}", other.map(|a| a.bytes.len())),
    }
    // Under a generous cap it is read whole and is a wasm module.
    let answer = data::fetch_bytes(&wasm, Want::Whole { max: 256 << 20 }, None)
        .await
        .unwrap();
    assert_eq!(&answer.bytes[..4], b"\0asm");
    // The answer names the file it came from (its ETag is whatever the test server sends).
    assert_eq!(answer.version.url, wasm.as_str());
    // A range longer than the message cap is refused before any request.
    let huge = Want::Range {
        offset: 0,
        length: data::MAX_MESSAGE_BYTES + 1,
    };
    assert!(matches!(
        data::fetch_bytes(&wasm, huge, None).await,
        Err(FetchFailure::TooLarge { size: Some(_), .. })
    ));
}

#[wasm_bindgen_test]
fn urls_are_checked_before_any_fetch() {
    let config = Config {
        allowed_hosts: vec!["https://noaa-gefs-pds.s3.amazonaws.com".into()],
        ..Config::default()
    };
    let policy = config.policy(&data::page_url()).unwrap();
    for hostile in [
        "https://evil.example\\@noaa-gefs-pds.s3.amazonaws.com/x",
        "s3://evil.example\\@noaa-gefs-pds/x",
        "https://user@noaa-gefs-pds.s3.amazonaws.com/x",
        "//evil.example/x",
        "blob:https://noaa-gefs-pds.s3.amazonaws.com/uuid",
    ] {
        let refused = policy.chunk_url(hostile).unwrap_err();
        let failure = FetchFailure::from(refused);
        assert!(failure.to_string().starts_with("refused "), "{failure}");
    }
    // The browser's own parser agrees on where the backslash case would have gone.
    let browser =
        web_sys::Url::new("https://evil.example\\@noaa-gefs-pds.s3.amazonaws.com/x").unwrap();
    assert_eq!(browser.host(), "evil.example");
    assert_eq!(data::parse_content_range("bytes 10-19/100"), Some((10, 19)));
    assert_eq!(data::parse_content_range("bytes 10-19/15"), None);
}

#[wasm_bindgen_test]
async fn limiter_and_yield_work_on_the_event_loop() {
    let limiter = Limiter::new(2);
    let in_flight = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let peak = std::rc::Rc::new(std::cell::Cell::new(0usize));
    let tasks = (0..6)
        .map(|i| {
            let (l, n, p) = (limiter.clone(), in_flight.clone(), peak.clone());
            async move {
                let _permit = l.acquire().await;
                n.set(n.get() + 1);
                p.set(p.get().max(n.get()));
                timers::yield_now().await;
                n.set(n.get() - 1);
                i
            }
        })
        .collect();
    assert_eq!(join_all(tasks).await, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(peak.get(), 2);
    assert_eq!(limiter.free(), 2);
}

/// Work deferred to idle time runs, in a task after the one that deferred it.
#[wasm_bindgen_test]
async fn idle_work_runs_after_the_current_task() {
    let ran = std::rc::Rc::new(std::cell::Cell::new(false));
    let r = ran.clone();
    wasm_bindgen_futures::spawn_local(async move {
        timers::when_idle().await;
        r.set(true);
    });
    // Still in the task that deferred it.
    assert!(!ran.get());
    let start = js_sys::Date::now();
    while !ran.get() && js_sys::Date::now() - start < 5_000.0 {
        timers::sleep_ms(20).await;
    }
    assert!(ran.get(), "idle work did not run within 5 s");
}
