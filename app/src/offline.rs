//! Visits without a network: the page keeps the last catalog it read and the last view it
//! finished, and uses them when the catalog's host cannot be reached.
//!
//! Why the page and not the service worker: the service worker (`static/sw.js`) keeps the app
//! shell, so the page opens; but the catalog may live on another origin than the page, and a
//! catalog answered from a cache would hide that the page is offline. Kept here, in the page's
//! own store ([`crate::store`]), the catalog is read from the network whenever it can be (so a
//! new run is always seen) and from the store only when the network gives no answer, and the
//! page then says that it shows what it kept. The maps themselves come from the same store
//! (manifests and decoded fields), each titled with its run.

use gik_core::catalog::Catalog;
use gik_core::origin::AllowedUrl;

use crate::data::{self, LoadError, Site};
use crate::store::Store;
use crate::version::Version;

/// `localStorage` key of the last finished view (its URL query).
const LAST_VIEW_KEY: &str = "gik-last-view-v1";

/// The note shown when the catalog came from the store.
pub const OFFLINE_NOTE: &str = "Offline: showing the forecasts this browser kept from an \
    earlier visit (each map names its run); new runs appear once the network is back.";

/// Where the catalog the page uses came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CatalogSource {
    /// Read from its host just now.
    Network,
    /// The host gave no answer: the copy kept by an earlier visit.
    Kept,
}

/// The store key of the catalog read from `url`.
fn catalog_key(url: &AllowedUrl) -> String {
    format!("catalog {}", url.as_str())
}

/// Reads the catalog from the network and keeps a copy in `store`; when its host cannot be
/// reached (see [`LoadError::is_unreachable`]), returns the copy an earlier visit kept. Any
/// other failure (404, a malformed catalog) is returned as it is: the host answered.
pub async fn load_catalog(
    site: &Site,
    store: Option<&std::rc::Rc<Store>>,
) -> Result<(Catalog, AllowedUrl, CatalogSource), LoadError> {
    match data::fetch_catalog(site).await {
        Ok((url, bytes)) => {
            let catalog = data::parse_catalog(&url, &bytes)?;
            if let Some(store) = store {
                let (store, key) = (std::rc::Rc::clone(store), catalog_key(&url));
                // Stored untagged: every read from the network replaces the copy, so its
                // `ETag` plays no part.
                let version = Version::new(url.as_str(), None);
                wasm_bindgen_futures::spawn_local(async move {
                    crate::timers::when_idle().await;
                    store.put(&key, &bytes, &version).await;
                });
            }
            Ok((catalog, url, CatalogSource::Network))
        }
        Err(e) if e.is_unreachable() => {
            let url = data::catalog_url(site)?;
            let Some(kept) = (match store {
                Some(s) => s.get(&catalog_key(&url)).await,
                None => None,
            }) else {
                return Err(e);
            };
            let catalog = data::parse_catalog(&url, &kept)?;
            Ok((catalog, url, CatalogSource::Kept))
        }
        Err(e) => Err(e),
    }
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Remembers `query` (a finished view's URL query) as the last view.
pub fn remember_view(query: &str) {
    if let Some(s) = local_storage() {
        let _ = s.set_item(LAST_VIEW_KEY, query);
    }
}

/// The last finished view's URL query, if one was remembered.
pub fn last_view() -> Option<String> {
    local_storage()?.get_item(LAST_VIEW_KEY).ok().flatten()
}
