//! # gik-app
//!
//! The browser app: ensemble forecast maps for East Africa straight from the public buckets.
//! It reads `config.json` and the builder's `catalog.json`, then for the chosen view fetches each
//! member's parquet manifest and, with HTTP Range requests, exactly the GRIB2 messages it needs,
//! decodes them with `gik-core` in wasm and draws the map as members arrive.
//!
//! Modules, by job (the pure ones are tested natively with `cargo test -p gik-app`):
//! - [`view_state`] — the view as typed state and its URL query form (pure);
//! - [`compute`] — which members and messages a view needs, cropping, combining (pure);
//! - [`render`] — colour scales, layout and drawing to a canvas;
//! - [`data`] — `config.json`, the catalog, and the Range-request fetch layer;
//! - [`data_origin`] — whether a view reads a regional subset or the public buckets (pure);
//! - [`sources`] — which mirror of a product each message is read from (pure);
//! - [`coalesce`] — neighbouring ranges of one file fetched with one request;
//! - [`prefix`] — prefix range reads: only the rows a box needs, with a safe retry;
//! - [`manifest_fetch`] — only the parts of a member manifest a view needs (its tail, then
//!   its variable's row groups);
//! - [`store`] — manifests and cropped fields kept in the browser (Cache API, bounded);
//! - [`offline`] — the last catalog and view kept for visits without a network;
//! - [`version`] — which version of a file a read saw (URL and `ETag`), so that the store and
//!   multi-request reads never mix two versions (pure);
//! - [`loader`] — runs a view: concurrency, caching, cancellation, progress, failures;
//! - [`worker`] — the Web Worker pool that decodes off the main thread;
//! - [`tasks`] — small single-threaded async helpers; [`timers`] — yielding to the event loop;
//! - [`components`] — the Leptos components; [`App`] wires them.
//!
//! State flows one way: URL → [`ViewState`] signal → plan (a memo over the catalog) → loader
//! job → frame signal → canvas. The page writes the resolved state back to the URL, so the
//! address bar always reproduces the view.

pub mod coalesce;
pub mod components;
pub mod compute;
pub mod data;
pub mod data_origin;
pub mod loader;
pub mod manifest_fetch;
pub mod offline;
pub mod prefix;
pub mod render;
pub mod sources;
pub mod store;
pub mod tasks;
pub mod timers;
pub mod version;
pub mod view_state;
pub mod worker;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use gik_core::catalog::Catalog;
use leptos::prelude::*;

use crate::compute::{plan_view, Frame, PlanError, Planned, ViewPlan};
use crate::loader::{Failure, Loader, Outputs, Progress};
use crate::offline::CatalogSource;
use crate::render::Borders;
use crate::store::{Store, StoreUsage};
use crate::view_state::ViewState;

/// Where the page is in its start-up.
#[derive(Clone, Debug, PartialEq)]
pub enum Boot {
    /// Reading `config.json` and the catalog.
    Loading,
    /// Ready, with the catalog.
    Ready(Arc<Catalog>),
    /// Start-up failed (shown to the user).
    Failed(data::LoadError),
}

/// The page's shared state: signals and memos, all `Copy`.
#[derive(Clone, Copy, Debug)]
pub struct AppState {
    /// The view, mirrored in the URL.
    pub state: RwSignal<ViewState>,
    /// Notes about adjustments (bad URL values, fallbacks), cleared on the next user edit.
    pub notes: RwSignal<Vec<String>>,
    /// Start-up.
    pub boot: RwSignal<Boot>,
    /// The state resolved against the catalog; `None` until the catalog is read (or when it
    /// could not be: see [`AppState::boot`]).
    pub planned: Memo<Option<Result<Arc<Planned>, PlanError>>>,
    /// Just the plan (changes only when the view does).
    pub plan: Memo<Option<Arc<ViewPlan>>>,
    /// The map.
    pub frame: RwSignal<Option<Arc<Frame>>>,
    /// Loading progress.
    pub progress: RwSignal<Progress>,
    /// Failures of the current view.
    pub failures: RwSignal<Vec<Failure>>,
    /// Country borders, once loaded.
    pub borders: RwSignal<Option<Arc<Borders>>>,
    /// Whether the forecast time is animating.
    pub playing: RwSignal<bool>,
    /// What the persistent store holds.
    pub stored: RwSignal<StoreUsage>,
    /// Bumped by the user to clear the persistent store.
    pub clear_requests: RwSignal<u32>,
}

impl AppState {
    /// Applies a user's change to the view (and clears old notes).
    pub fn edit(&self, f: impl FnOnce(&mut ViewState)) {
        self.notes.set(Vec::new());
        self.state.update(f);
    }
}

/// The value of `name` in the page's URL query, if present (settings that are not part of the
/// view: `workers=N`, `store=0`).
pub fn page_param(name: &str) -> Option<String> {
    let query = web_sys::window()?.location().search().ok()?;
    query.trim_start_matches('?').split('&').find_map(|kv| {
        kv.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::to_string)
    })
}

/// Registers the service worker (`sw.js`, beside the page) that keeps the app shell for offline
/// visits. Called once the first map is finished, so that it never competes with the page's
/// own start-up requests.
fn register_service_worker() {
    if let Some(w) = web_sys::window() {
        // Without a service worker (an old browser, a non-secure origin: `serviceWorker` is
        // then absent) the page simply needs the network.
        let navigator = w.navigator();
        let present = js_sys::Reflect::get(&navigator, &"serviceWorker".into())
            .is_ok_and(|v| !v.is_undefined() && !v.is_null());
        if present {
            let _ = navigator.service_worker().register("sw.js");
        }
    }
}

/// Mounts the app on the page body.
pub fn mount() {
    leptos::mount::mount_to_body(App);
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default();
    let (initial, url_notes) = ViewState::from_query(&query);
    let opened_without_view = initial == ViewState::from_query("").0;
    // Settings outside the view, read before the page rewrites its URL from the view state.
    let workers = worker::pool_size();
    let keep = page_param("store").as_deref() != Some("0");
    let embed = initial.embed;
    let state = RwSignal::new(initial);
    let notes = RwSignal::new(url_notes);
    let boot = RwSignal::new(Boot::Loading);
    let planned = Memo::new(move |_| match boot.get() {
        Boot::Loading | Boot::Failed(_) => None,
        Boot::Ready(catalog) => Some(state.with(|s| plan_view(&catalog, s)).map(Arc::new)),
    });
    let plan = Memo::new(move |_| {
        planned.with(|p| match p {
            Some(Ok(p)) => Some(Arc::new(p.plan.clone())),
            _ => None,
        })
    });
    let app = AppState {
        state,
        notes,
        boot,
        planned,
        plan,
        frame: RwSignal::new(None),
        progress: RwSignal::new(Progress::default()),
        failures: RwSignal::new(Vec::new()),
        borders: RwSignal::new(None),
        playing: RwSignal::new(false),
        stored: RwSignal::new(StoreUsage::default()),
        clear_requests: RwSignal::new(0),
    };
    let outputs = Outputs {
        frame: app.frame,
        progress: app.progress,
        failures: app.failures,
        stored: app.stored,
    };

    // Start-up: config, catalog, then the loader; borders in parallel.
    let loader: Rc<RefCell<Option<Rc<Loader>>>> = Rc::new(RefCell::new(None));
    {
        let loader = Rc::clone(&loader);
        leptos::task::spawn_local(async move {
            data::report_sources_to(notes);
            let site = match data::load_config().await {
                Ok(c) => c,
                Err(e) => return boot.set(Boot::Failed(e)),
            };
            if let Some(n) = site.note.clone() {
                notes.update(|v| v.push(n));
            }
            // Opened before the catalog: offline, the catalog comes from it (`store=0` in
            // the URL: no persistent store).
            let store = if keep {
                Store::open().await.map(Rc::new)
            } else {
                None
            };
            match offline::load_catalog(&site, store.as_ref()).await {
                Ok((catalog, url, source)) => {
                    let l = Rc::new(Loader::new(site.policy, url, outputs, workers));
                    // Before the first view starts, so that it reads what earlier visits kept.
                    if let Some(store) = store {
                        l.set_store(store);
                    }
                    *loader.borrow_mut() = Some(l);
                    if source == CatalogSource::Kept {
                        notes.update(|v| v.push(offline::OFFLINE_NOTE.to_string()));
                        // A page opened offline without a view shows the last one finished.
                        if opened_without_view {
                            if let Some(query) = offline::last_view() {
                                state.set(ViewState::from_query(&query).0);
                            }
                        }
                    }
                    boot.set(Boot::Ready(Arc::new(catalog)));
                }
                Err(e) => boot.set(Boot::Failed(e)),
            }
        });
    }
    leptos::task::spawn_local(async move {
        let not_shown = |e: &dyn std::fmt::Display| {
            notes.update(|v| v.push(format!("country borders not shown: {e}")));
        };
        match data::load_page_file("borders/borders-50m.json", data::MAX_BORDERS_BYTES).await {
            Ok(bytes) => match Borders::from_json(&bytes) {
                Ok(b) => app.borders.set(Some(Arc::new(b))),
                Err(e) => not_shown(&e),
            },
            Err(e) => not_shown(&e),
        }
    });

    // Pin what the catalog decided into the state (and so the URL); keep its notes.
    Effect::new(move |_| {
        if let Some(Ok(p)) = app.planned.get() {
            if !p.notes.is_empty() {
                notes.update(|v| {
                    for n in &p.notes {
                        if !v.contains(n) {
                            v.push(n.clone());
                        }
                    }
                });
            }
            let current = state.get_untracked();
            let pinned = p.plan.pinned(&current);
            if pinned != current {
                state.set(pinned);
            }
        }
    });

    // Mirror the state in the address bar (replace, so the slider does not flood history).
    Effect::new(move |_| {
        let query = state.with(ViewState::to_query);
        if let Some(w) = web_sys::window() {
            let path = w.location().pathname().unwrap_or_default();
            let url = if query.is_empty() {
                path
            } else {
                format!("{path}?{query}")
            };
            if let Ok(history) = w.history() {
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        }
    });

    // Each finished view is remembered (for offline visits); the service worker is registered
    // once the first map is finished.
    {
        let registered = std::cell::Cell::new(false);
        Effect::new(move |_| {
            if !app.progress.with(|p| p.complete) {
                return;
            }
            offline::remember_view(&state.with_untracked(ViewState::to_query));
            if !registered.get() {
                registered.set(true);
                register_service_worker();
            }
        });
    }

    // Clear the persistent store when asked.
    {
        let loader = Rc::clone(&loader);
        Effect::new(move |_| {
            if app.clear_requests.get() == 0 {
                return;
            }
            if let Some(l) = loader.borrow().clone() {
                leptos::task::spawn_local(async move { l.clear_store().await });
            }
        });
    }

    // Load each new view.
    Effect::new(move |_| {
        let plan = app.plan.get();
        let Some(l) = loader.borrow().clone() else {
            return;
        };
        match plan {
            Some(p) => l.start(p),
            None => {
                l.stop();
                app.frame.set(None);
            }
        }
    });

    if embed {
        view! {
            <main class="gik embed">
                <components::map::MapView app=app />
                <components::status::Problems app=app />
            </main>
        }
        .into_any()
    } else {
        view! {
            <main class="gik">
                <header>
                    <h1>"Ensemble forecasts for East Africa"</h1>
                    <p class="lead">
                        "NOAA GEFS and ECMWF ensemble forecasts, read straight from the public buckets: "
                        "only the GRIB2 messages a map needs are downloaded."
                    </p>
                </header>
                <components::controls::Controls app=app />
                <components::time::TimeSlider app=app />
                <components::status::Status app=app />
                <components::map::MapView app=app />
                <components::storage::Storage app=app />
                <components::attribution::Attribution />
            </main>
        }
        .into_any()
    }
}
