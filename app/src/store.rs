//! The persistent cache: manifests and decoded, cropped fields kept in the browser (Cache API),
//! so reopening the page or returning to a view downloads nothing.
//!
//! Why the Cache API: it stores binary bodies without the structured-clone copies of IndexedDB,
//! is there in every browser the app supports, and a service worker can read the same storage.
//! Entries live in the cache [`STORE_NAME`] under synthetic URLs on the page's own origin
//! (`/.gik-store/<key>`); nothing is ever fetched from those URLs.
//!
//! Keys: a manifest by its URL and the array it was read for; a field by the URL and byte
//! range of its message, the box and the point budget. Each entry also records the version of
//! the file it was read from ([`crate::version::Version`]: the URL that answered and its
//! `ETag`, where the server sends one the page may read). A stored entry is served without
//! asking the server — a run's files are not rewritten on the buckets, and the builder never
//! rewrites a manifest the catalog names with other content — so reopening a view downloads
//! nothing. But a mirror or a regional subset can be rebuilt in place, so whenever the page
//! reads any part of a file from the network and its `ETag` differs from the one its entries
//! were read under, every entry of that file is evicted ([`Store::observe`]): the next view
//! that needs them reads the new version. Entries from servers that send no `ETag` are never
//! evicted that way. The last catalog is kept here too ([`crate::offline`]), untagged: every
//! read of it from the network replaces it, and it is read from the store only when the
//! network gives no answer, so a new run is always seen.
//!
//! Bounded: [`StoreIndex`] (least recently used first, kept in `localStorage`) evicts entries
//! beyond [`STORE_BUDGET_BYTES`]. The page shows what it holds and can clear it. Entries of an
//! index saved before versions were recorded are deleted when the store opens.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::version::Version;

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

/// One stored entry: its key, its size, and the file version it was read from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    key: String,
    size: u64,
    /// The URL the bytes were read from (`None` in an index written before versions were
    /// kept: such entries are dropped when the store opens, see [`StoreIndex::take_unversioned`]).
    #[serde(default)]
    file: Option<String>,
    /// That file's `ETag` when it was read, if the server sent one.
    #[serde(default)]
    etag: Option<String>,
}

impl Entry {
    /// Whether the entry was read from a version of `version`'s file other than `version`.
    fn outdated_by(&self, version: &Version) -> bool {
        self.file.as_deref() == Some(version.url.as_str())
            && matches!((&self.etag, &version.etag), (Some(a), Some(b)) if a != b)
    }
}

/// The entries, their sizes and file versions, least recently used first: decides evictions.
///
/// Serialised as JSON in `localStorage`; an index saved before versions were kept (entries as
/// `[key, size]` pairs) still loads, its entries without a file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreIndex {
    entries: VecDeque<Entry>,
}

impl StoreIndex {
    /// Entries and bytes held.
    pub fn usage(&self) -> StoreUsage {
        StoreUsage {
            entries: self.entries.len(),
            bytes: self.entries.iter().map(|e| e.size).sum(),
        }
    }

    /// Marks `key` as just used; whether it is held.
    pub fn touch(&mut self, key: &str) -> bool {
        match self.entries.iter().position(|e| e.key == key) {
            Some(i) => {
                if let Some(e) = self.entries.remove(i) {
                    self.entries.push_back(e);
                }
                true
            }
            None => false,
        }
    }

    /// Records `key` (`size` bytes, read from `version`) as the newest entry and returns the
    /// keys to evict so that at most `budget` bytes are held (never the new entry itself,
    /// unless it alone is over).
    ///
    /// Entries of the same file under another tag mean that two reads of different versions
    /// were stored in the order they finished, not the order they were read (the read that saw
    /// the newer tag has already evicted what was stored before it): which one is current
    /// cannot be told, so both are evicted (the next view reads the file again).
    pub fn insert(&mut self, key: &str, size: u64, version: &Version, budget: u64) -> Vec<String> {
        self.remove(key);
        let mut evicted = self.observe(version);
        if size > budget || !evicted.is_empty() {
            evicted.push(key.to_string());
            return evicted;
        }
        self.entries.push_back(Entry {
            key: key.to_string(),
            size,
            file: Some(version.url.clone()),
            etag: version.etag.clone(),
        });
        while self.usage().bytes > budget {
            match self.entries.pop_front() {
                Some(e) => evicted.push(e.key),
                None => break,
            }
        }
        evicted
    }

    /// A read of `version`'s file from the network saw `version`: evicts (and returns) the
    /// keys of the entries read from another version of it. An untagged read evicts nothing.
    pub fn observe(&mut self, version: &Version) -> Vec<String> {
        let mut evicted = Vec::new();
        self.entries.retain(|e| {
            let outdated = e.outdated_by(version);
            if outdated {
                evicted.push(e.key.clone());
            }
            !outdated
        });
        evicted
    }

    /// Takes out (and returns) the keys of entries saved without their file (by a page from
    /// before versions were kept): the store cannot tell when they go out of date.
    pub fn take_unversioned(&mut self) -> Vec<String> {
        let (kept, old): (VecDeque<Entry>, VecDeque<Entry>) =
            self.entries.drain(..).partition(|e| e.file.is_some());
        self.entries = kept;
        old.into_iter().map(|e| e.key).collect()
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|e| e.key != key);
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
        let mut index: StoreIndex = local_storage()
            .and_then(|s| s.get_item(INDEX_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let unversioned = index.take_unversioned();
        let store = Self {
            cache: RefCell::new(cache),
            index: RefCell::new(index),
            origin,
        };
        if !unversioned.is_empty() {
            store.delete(unversioned).await;
            store.save_index();
        }
        Some(store)
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

    /// Deletes the bodies of `keys` (already out of the index).
    async fn delete(&self, keys: Vec<String>) {
        let cache = self.cache.borrow().clone();
        for key in keys {
            let _ = JsFuture::from(cache.delete_with_str(&self.url(&key))).await;
        }
    }

    /// A read from the network saw `version` of its file: the entries read from another
    /// version of it leave the index at once (a later [`Store::get`] misses them) and the
    /// cache soon after. Returns whether any did.
    pub fn observe(self: &Rc<Self>, version: &Version) -> bool {
        let evicted = self.index.borrow_mut().observe(version);
        if evicted.is_empty() {
            return false;
        }
        // Saved at once, so that a page opened next never serves them; a page closed before
        // the bodies are deleted leaves them in the cache, unlisted (never served).
        self.save_index();
        let store = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move { store.delete(evicted).await });
        true
    }

    /// Stores `bytes`, read from `version`, under `key`, evicting the least recently used
    /// entries beyond the budget (and entries of another version of the file, see
    /// [`StoreIndex::insert`]). A failure (quota, private mode) only means the entry is not
    /// kept.
    pub async fn put(&self, key: &str, bytes: &[u8], version: &Version) {
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
        let evicted =
            self.index
                .borrow_mut()
                .insert(key, bytes.len() as u64, version, STORE_BUDGET_BYTES);
        self.delete(evicted).await;
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

    fn v(url: &str, etag: Option<&str>) -> Version {
        Version::new(url, etag.map(str::to_string))
    }

    fn keys(i: &StoreIndex) -> Vec<&str> {
        i.entries.iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn index_evicts_the_least_recently_used_beyond_the_budget() {
        let mut i = StoreIndex::default();
        let f = v("https://m/f", Some("\"1\""));
        assert!(i.insert("a", 40, &f, 100).is_empty());
        assert!(i.insert("b", 40, &f, 100).is_empty());
        assert!(i.touch("a"));
        assert!(!i.touch("zz"));
        // "b" is now the oldest.
        assert_eq!(i.insert("c", 40, &f, 100), vec!["b".to_string()]);
        assert_eq!(
            i.usage(),
            StoreUsage {
                entries: 2,
                bytes: 80
            }
        );
        // Re-inserting replaces the size; an entry over the budget is not kept.
        assert!(i.insert("a", 10, &f, 100).is_empty());
        assert_eq!(i.usage().bytes, 50);
        assert_eq!(i.insert("huge", 101, &f, 100), vec!["huge".to_string()]);
        assert!(!i.touch("huge"));
        let text = serde_json::to_string(&i).unwrap();
        assert_eq!(serde_json::from_str::<StoreIndex>(&text).unwrap(), i);
    }

    #[test]
    fn a_new_tag_evicts_exactly_that_files_entries() {
        let mut i = StoreIndex::default();
        let (f1, g1) = (
            v("https://m/f", Some("\"1\"")),
            v("https://m/g", Some("\"1\"")),
        );
        let untagged = v("https://m/h", None);
        for (key, version) in [("f a", &f1), ("g a", &g1), ("f b", &f1), ("h a", &untagged)] {
            assert!(i.insert(key, 10, version, 100).is_empty());
        }
        // The same tag, no tag, or another file's tag: nothing goes.
        assert!(i.observe(&f1).is_empty());
        assert!(i.observe(&v("https://m/f", None)).is_empty());
        assert!(i.observe(&v("https://other/f", Some("\"2\""))).is_empty());
        assert!(i.observe(&v("https://m/h", Some("\"2\""))).is_empty());
        assert_eq!(i.usage().entries, 4);
        // Another tag of f: f's entries, and only them.
        let f2 = v("https://m/f", Some("\"2\""));
        assert_eq!(i.observe(&f2), vec!["f a".to_string(), "f b".to_string()]);
        assert_eq!(keys(&i), ["g a", "h a"]);
        // Entries of the new version are kept from then on.
        assert!(i.insert("f c", 10, &f2, 100).is_empty());
        assert!(i.observe(&f2).is_empty());
        assert_eq!(keys(&i), ["g a", "h a", "f c"]);
    }

    #[test]
    fn entries_of_two_versions_stored_out_of_order_are_both_dropped() {
        let mut i = StoreIndex::default();
        let (f1, f2) = (
            v("https://m/f", Some("\"1\"")),
            v("https://m/f", Some("\"2\"")),
        );
        assert!(i.insert("new", 10, &f2, 100).is_empty());
        // A read of the older version finishes last.
        assert_eq!(
            i.insert("old", 10, &f1, 100),
            vec!["new".to_string(), "old".to_string()]
        );
        assert_eq!(i.usage().entries, 0);
    }

    #[test]
    fn an_index_saved_before_versions_loads_and_its_entries_are_taken_out() {
        let old = r#"{"entries":[["manifest https://m/f.parquet t2m",100],["field x",20]]}"#;
        let mut i: StoreIndex = serde_json::from_str(old).unwrap();
        assert_eq!(
            i.usage(),
            StoreUsage {
                entries: 2,
                bytes: 120
            }
        );
        assert!(i
            .insert("new", 5, &v("https://m/f", Some("\"1\"")), 1000)
            .is_empty());
        assert_eq!(
            i.take_unversioned(),
            vec![
                "manifest https://m/f.parquet t2m".to_string(),
                "field x".to_string()
            ]
        );
        assert_eq!(keys(&i), ["new"]);
        assert!(i.take_unversioned().is_empty());
        // The new form round-trips.
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
