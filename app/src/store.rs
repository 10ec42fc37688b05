//! The persistent cache: manifests and decoded, cropped fields kept in the browser (Cache API),
//! so reopening the page or returning to a view downloads nothing.
//!
//! Why the Cache API: it stores binary bodies without the structured-clone copies of IndexedDB,
//! is there in every browser the app supports, and a service worker can read the same storage.
//! Entries live in the cache [`STORE_NAME`] under synthetic URLs on the page's own origin
//! (`/.gik-store/<key>`); nothing is ever fetched from those URLs.
//!
//! Keys: a manifest by its URL; a field by the URL and byte range of its message, the box and
//! the point budget. Both are immutable under their key: the builder never rewrites a manifest
//! the catalog names with other content (a changed one gets a new name), and a run's GRIB2 files
//! are not rewritten on the buckets. The catalog itself is not stored here (the service worker
//! keeps the last one for offline use), so a new run is always seen.
//!
//! Bounded: [`StoreIndex`] (least recently used first, kept in `localStorage`) evicts entries
//! beyond [`STORE_BUDGET_BYTES`]. The page shows what it holds and can clear it.

use std::cell::RefCell;
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Name of the Cache API cache holding the entries.
pub const STORE_NAME: &str = "gik-data-v1";

/// Most bytes kept (manifests and fields together).
pub const STORE_BUDGET_BYTES: u64 = 96 << 20;

/// `localStorage` key of the index.
const INDEX_KEY: &str = "gik-store-index-v1";

/// What the store holds, for the page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Entries.
    pub entries: usize,
    /// Bytes.
    pub bytes: u64,
}

/// The entries and their sizes, least recently used first: decides evictions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreIndex {
    entries: VecDeque<(String, u64)>,
}

impl StoreIndex {
    /// Entries and bytes held.
    pub fn usage(&self) -> StoreUsage {
        StoreUsage {
            entries: self.entries.len(),
            bytes: self.entries.iter().map(|(_, s)| s).sum(),
        }
    }

    /// Marks `key` as just used; whether it is held.
    pub fn touch(&mut self, key: &str) -> bool {
        match self.entries.iter().position(|(k, _)| k == key) {
            Some(i) => {
                if let Some(e) = self.entries.remove(i) {
                    self.entries.push_back(e);
                }
                true
            }
            None => false,
        }
    }

    /// Records `key` (`size` bytes) as the newest entry and returns the keys to evict so that
    /// at most `budget` bytes are held (never the new entry itself, unless it alone is over).
    pub fn insert(&mut self, key: &str, size: u64, budget: u64) -> Vec<String> {
        self.remove(key);
        let mut evicted = Vec::new();
        if size > budget {
            evicted.push(key.to_string());
            return evicted;
        }
        self.entries.push_back((key.to_string(), size));
        while self.usage().bytes > budget {
            match self.entries.pop_front() {
                Some((k, _)) => evicted.push(k),
                None => break,
            }
        }
        evicted
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }
}

/// The page's persistent store (absent when the browser gives no Cache API, e.g. on a page
/// served over plain HTTP from another host than localhost).
pub struct Store {
    cache: RefCell<web_sys::Cache>,
    index: RefCell<StoreIndex>,
    origin: String,
}

async fn open_cache() -> Option<web_sys::Cache> {
    let caches = web_sys::window()?.caches().ok()?;
    JsFuture::from(caches.open(STORE_NAME))
        .await
        .ok()?
        .dyn_into::<web_sys::Cache>()
        .ok()
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

impl Store {
    /// Opens the store, with the index saved by earlier visits.
    pub async fn open() -> Option<Self> {
        let origin = web_sys::window()?.location().origin().ok()?;
        let cache = open_cache().await?;
        let index = local_storage()
            .and_then(|s| s.get_item(INDEX_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        Some(Self {
            cache: RefCell::new(cache),
            index: RefCell::new(index),
            origin,
        })
    }

    /// What the store holds.
    pub fn usage(&self) -> StoreUsage {
        self.index.borrow().usage()
    }

    fn url(&self, key: &str) -> String {
        format!(
            "{}/.gik-store/{}",
            self.origin,
            String::from(js_sys::encode_uri_component(key))
        )
    }

    fn save_index(&self) {
        if let (Some(storage), Ok(text)) = (
            local_storage(),
            serde_json::to_string(&*self.index.borrow()),
        ) {
            let _ = storage.set_item(INDEX_KEY, &text);
        }
    }

    /// The bytes stored under `key`, if any.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        if !self.index.borrow_mut().touch(key) {
            return None;
        }
        let cache = self.cache.borrow().clone();
        let found = JsFuture::from(cache.match_with_str(&self.url(key)))
            .await
            .ok()?;
        let Ok(response) = found.dyn_into::<web_sys::Response>() else {
            // Evicted by the browser: forget it.
            self.index.borrow_mut().remove(key);
            self.save_index();
            return None;
        };
        let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
        Some(js_sys::Uint8Array::new(&buffer).to_vec())
    }

    /// Stores `bytes` under `key`, evicting the least recently used entries beyond the budget.
    /// A failure (quota, private mode) only means the entry is not kept.
    pub async fn put(&self, key: &str, bytes: &[u8]) {
        let body = js_sys::Uint8Array::from(bytes);
        let Ok(response) = web_sys::Response::new_with_opt_buffer_source(Some(&body)) else {
            return;
        };
        let cache = self.cache.borrow().clone();
        if JsFuture::from(cache.put_with_str(&self.url(key), &response))
            .await
            .is_err()
        {
            return;
        }
        let evicted = self
            .index
            .borrow_mut()
            .insert(key, bytes.len() as u64, STORE_BUDGET_BYTES);
        for old in evicted {
            let _ = JsFuture::from(cache.delete_with_str(&self.url(&old))).await;
        }
        self.save_index();
    }

    /// Deletes every entry.
    pub async fn clear(&self) {
        if let Some(caches) = web_sys::window().and_then(|w| w.caches().ok()) {
            let _ = JsFuture::from(caches.delete(STORE_NAME)).await;
        }
        *self.index.borrow_mut() = StoreIndex::default();
        self.save_index();
        if let Some(cache) = open_cache().await {
            *self.cache.borrow_mut() = cache;
        }
    }
}

/// A decoded, cropped field as stored: the message's first bytes (its sections 0–5, to
/// rebuild the crop) and the values.
pub fn encode_field(head: &[u8], values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + head.len() + 4 * values.len());
    out.extend_from_slice(&(head.len() as u32).to_le_bytes());
    out.extend_from_slice(head);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The inverse of [`encode_field`]; `None` for bytes it did not write.
pub fn decode_field(bytes: &[u8]) -> Option<(&[u8], Vec<f32>)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let head = bytes.get(4..4usize.checked_add(len)?)?;
    let rest = &bytes[4 + len..];
    if !rest.len().is_multiple_of(4) {
        return None;
    }
    let values = rest
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some((head, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_evicts_the_least_recently_used_beyond_the_budget() {
        let mut i = StoreIndex::default();
        assert!(i.insert("a", 40, 100).is_empty());
        assert!(i.insert("b", 40, 100).is_empty());
        assert!(i.touch("a"));
        assert!(!i.touch("zz"));
        // "b" is now the oldest.
        assert_eq!(i.insert("c", 40, 100), vec!["b".to_string()]);
        assert_eq!(
            i.usage(),
            StoreUsage {
                entries: 2,
                bytes: 80
            }
        );
        // Re-inserting replaces the size; an entry over the budget is not kept.
        assert!(i.insert("a", 10, 100).is_empty());
        assert_eq!(i.usage().bytes, 50);
        assert_eq!(i.insert("huge", 101, 100), vec!["huge".to_string()]);
        assert!(!i.touch("huge"));
        let text = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<StoreIndex>(&text).unwrap(), i);
    }

    #[test]
    fn fields_round_trip_and_garbage_is_refused() {
        let values = [1.5f32, f32::NAN, -3.0];
        let bytes = encode_field(b"GRIB....", &values);
        let (head, back) = decode_field(&bytes).unwrap();
        assert_eq!(head, b"GRIB....");
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], 1.5);
        assert!(back[1].is_nan());
        assert!(decode_field(&bytes[..bytes.len() - 1]).is_none());
        assert!(decode_field(&[255, 255, 255, 255, 0]).is_none());
        assert!(decode_field(&[]).is_none());
    }
}
