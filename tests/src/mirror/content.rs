//! What the mirror serves: the [`Content`] trait and its backends.
//!
//! The server only needs two things from a backend: how long an object is and the bytes of a
//! range of it. Keeping the trait that small lets the synthetic runs describe multi-gigabyte
//! files as lists of shared messages without ever building them, and lets a directory of static
//! files (the browser app) sit beside them under a [`Mount`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// A source of objects addressed by path.
///
/// Paths are the request path, percent-decoded, without the leading `/` and without the query
/// string (`noaa-gefs-pds/gefs.20250801/00/...`). Implementations return `None` for objects
/// they do not have; the server then answers 404.
pub trait Content: Send + Sync {
    /// Size in bytes of the object at `path`, or `None` if there is no such object.
    fn len(&self, path: &str) -> Option<u64>;

    /// Bytes `range` of the object at `path`. `range` lies within `0..len(path)`; returning
    /// fewer bytes than asked, or `None`, makes the server abort the response.
    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>>;

    /// `Content-Type` for the object at `path` (by default from its extension).
    fn content_type(&self, path: &str) -> &'static str {
        content_type_for(path)
    }
}

impl<T: Content + ?Sized> Content for Arc<T> {
    fn len(&self, path: &str) -> Option<u64> {
        (**self).len(path)
    }

    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>> {
        (**self).read(path, range)
    }

    fn content_type(&self, path: &str) -> &'static str {
        (**self).content_type(path)
    }
}

/// The `Content-Type` the mirror sends for a path, from its extension: the static-site types a
/// browser is strict about (`.wasm` must be `application/wasm` for streaming compilation,
/// `.js` must be JavaScript for module scripts), index files as text, the rest as bytes.
pub fn content_type_for(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "css" => "text/css; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" | "md" | "idx" | "index" => "text/plain; charset=utf-8",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

/// A directory on disk, e.g. a built static site or the fixtures folder.
///
/// `""` and paths ending in `/` serve `index.html` of that folder, as do paths naming a folder.
/// Paths with `..` components are refused (404), so nothing outside the root is reachable.
#[derive(Clone, Debug)]
pub struct DirContent {
    root: PathBuf,
}

impl DirContent {
    /// Serves the files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, path: &str) -> Option<PathBuf> {
        let mut out = self.root.clone();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(c) => out.push(c),
                Component::CurDir => {}
                _ => return None,
            }
        }
        if path.is_empty() || path.ends_with('/') || out.is_dir() {
            out.push("index.html");
        }
        out.is_file().then_some(out)
    }

    fn index_aware_path<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        match self.resolve(path) {
            Some(p)
                if p.file_name().is_some_and(|n| n == "index.html") && !path.ends_with(".html") =>
            {
                std::borrow::Cow::Owned(format!("{path}/index.html"))
            }
            _ => std::borrow::Cow::Borrowed(path),
        }
    }
}

impl Content for DirContent {
    fn len(&self, path: &str) -> Option<u64> {
        let file = self.resolve(path)?;
        std::fs::metadata(file).ok().map(|m| m.len())
    }

    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>> {
        let mut file = File::open(self.resolve(path)?).ok()?;
        file.seek(SeekFrom::Start(range.start)).ok()?;
        let mut buf = vec![0; usize::try_from(range.end.saturating_sub(range.start)).ok()?];
        file.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    fn content_type(&self, path: &str) -> &'static str {
        content_type_for(&self.index_aware_path(path))
    }
}

/// Objects held in memory, for small test files.
#[derive(Clone, Debug, Default)]
pub struct MemContent {
    objects: HashMap<String, Arc<[u8]>>,
}

impl MemContent {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the object at `path` (leading `/` optional).
    pub fn insert(&mut self, path: &str, bytes: impl Into<Arc<[u8]>>) -> &mut Self {
        self.objects
            .insert(path.trim_start_matches('/').to_string(), bytes.into());
        self
    }

    /// Builder form of [`MemContent::insert`].
    pub fn with(mut self, path: &str, bytes: impl Into<Arc<[u8]>>) -> Self {
        self.insert(path, bytes);
        self
    }
}

impl Content for MemContent {
    fn len(&self, path: &str) -> Option<u64> {
        self.objects.get(path).map(|b| b.len() as u64)
    }

    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>> {
        let bytes = self.objects.get(path)?;
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        bytes.get(start..end).map(<[u8]>::to_vec)
    }
}

/// Several backends under path prefixes, like buckets on one host.
///
/// A request is offered to the mounts whose prefix matches at a `/` boundary, longest prefix
/// first, with the prefix stripped; the first that has the object serves it. A mount at `""`
/// sees every path, so a static site mounted there is the fallback.
#[derive(Clone, Default)]
pub struct Mount {
    mounts: Vec<(String, Arc<dyn Content>)>,
}

impl Mount {
    /// No mounts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `content` under `prefix` (e.g. `"noaa-gefs-pds"`; `""` for the root).
    pub fn at(mut self, prefix: &str, content: impl Content + 'static) -> Self {
        self.add(prefix, Arc::new(content));
        self
    }

    /// Adds an already shared backend under `prefix`.
    pub fn add(&mut self, prefix: &str, content: Arc<dyn Content>) {
        let prefix = prefix.trim_matches('/').to_string();
        self.mounts.push((prefix, content));
        self.mounts
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
    }

    /// The prefixes mounted, longest first.
    pub fn prefixes(&self) -> Vec<&str> {
        self.mounts.iter().map(|(p, _)| p.as_str()).collect()
    }

    fn candidates<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a dyn Content, &'a str)> {
        self.mounts.iter().filter_map(move |(prefix, content)| {
            if prefix.is_empty() {
                return Some((content.as_ref(), path));
            }
            let rest = path.strip_prefix(prefix.as_str())?;
            if rest.is_empty() {
                Some((content.as_ref(), rest))
            } else {
                rest.strip_prefix('/').map(|r| (content.as_ref(), r))
            }
        })
    }

    fn find<'a>(&'a self, path: &'a str) -> Option<(&'a dyn Content, &'a str, u64)> {
        self.candidates(path)
            .find_map(|(content, inner)| content.len(inner).map(|len| (content, inner, len)))
    }
}

impl Content for Mount {
    fn len(&self, path: &str) -> Option<u64> {
        self.find(path).map(|(_, _, len)| len)
    }

    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>> {
        let (content, inner, _) = self.find(path)?;
        content.read(inner, range)
    }

    fn content_type(&self, path: &str) -> &'static str {
        match self.find(path) {
            Some((content, inner, _)) => content.content_type(inner),
            None => content_type_for(path),
        }
    }
}

/// A backend whose objects can be replaced while the server runs, like a file rebuilt in place
/// on a bucket (the mirror's `ETag` is a hash of the path and the length, so a replacement of
/// another length gets a new one). Clones share the replacements.
#[derive(Clone)]
pub struct Replaceable {
    inner: Arc<dyn Content>,
    replaced: Arc<RwLock<HashMap<String, Arc<[u8]>>>>,
}

impl Replaceable {
    /// Serves `inner`, until objects are replaced.
    pub fn new(inner: impl Content + 'static) -> Self {
        Self {
            inner: Arc::new(inner),
            replaced: Arc::default(),
        }
    }

    fn replacement(&self, path: &str) -> Option<Arc<[u8]>> {
        let replaced = self.replaced.read().unwrap_or_else(PoisonError::into_inner);
        replaced.get(path).cloned()
    }

    /// Replaces the object at `path` with its current bytes followed by `extra`: whatever lay
    /// at an offset is still there, but the object is longer. `false` when there is no object
    /// at `path`.
    pub fn append(&self, path: &str, extra: &[u8]) -> bool {
        let Some(len) = self.len(path) else {
            return false;
        };
        let Some(mut bytes) = self.read(path, 0..len) else {
            return false;
        };
        bytes.extend_from_slice(extra);
        self.replaced
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_string(), bytes.into());
        true
    }
}

impl Content for Replaceable {
    fn len(&self, path: &str) -> Option<u64> {
        match self.replacement(path) {
            Some(bytes) => Some(bytes.len() as u64),
            None => self.inner.len(path),
        }
    }

    fn read(&self, path: &str, range: Range<u64>) -> Option<Vec<u8>> {
        let Some(bytes) = self.replacement(path) else {
            return self.inner.read(path, range);
        };
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        bytes.get(start..end).map(<[u8]>::to_vec)
    }

    fn content_type(&self, path: &str) -> &'static str {
        self.inner.content_type(path)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn mount_strips_prefixes_and_falls_back_to_root() {
        let a = MemContent::new().with("x/y.idx", b"abc".to_vec());
        let root = MemContent::new()
            .with("index.html", b"<html>".to_vec())
            .with("bucket/z", b"zz".to_vec());
        let m = Mount::new().at("", root).at("/bucket/", a);
        assert_eq!(m.len("bucket/x/y.idx"), Some(3));
        assert_eq!(m.read("bucket/x/y.idx", 1..3).as_deref(), Some(&b"bc"[..]));
        assert_eq!(
            m.len("bucket/z"),
            Some(2),
            "falls through to the root mount"
        );
        assert_eq!(m.len("bucketx/y.idx"), None);
        assert_eq!(m.len("index.html"), Some(6));
        assert_eq!(
            m.content_type("bucket/x/y.idx"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(m.prefixes(), vec!["bucket", ""]);
    }

    #[test]
    fn replaced_objects_are_longer_and_keep_their_bytes() {
        let c = Replaceable::new(MemContent::new().with("b/f", b"abcd".to_vec()));
        let shared = c.clone();
        assert!(!c.append("b/missing", b"x"));
        assert!(c.append("b/f", b"xy"));
        assert_eq!(shared.len("b/f"), Some(6));
        assert_eq!(shared.read("b/f", 2..6).as_deref(), Some(&b"cdxy"[..]));
        assert_eq!(shared.read("b/f", 5..7), None);
    }

    #[test]
    fn dir_content_serves_index_and_refuses_parent_paths() {
        let dir = std::env::temp_dir().join(format!("gik-mirror-dir-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>hi</h1>").unwrap();
        std::fs::write(dir.join("sub/index.html"), "sub").unwrap();
        std::fs::write(dir.join("app.wasm"), [0u8, 97, 115, 109]).unwrap();
        let c = DirContent::new(&dir);
        assert_eq!(c.len(""), Some(11));
        assert_eq!(c.len("sub"), Some(3));
        assert_eq!(c.len("sub/"), Some(3));
        assert_eq!(c.content_type(""), "text/html; charset=utf-8");
        assert_eq!(c.content_type("sub"), "text/html; charset=utf-8");
        assert_eq!(c.content_type("app.wasm"), "application/wasm");
        assert_eq!(c.read("app.wasm", 1..4).as_deref(), Some(&b"asm"[..]));
        assert_eq!(c.len("../etc/passwd"), None);
        assert_eq!(c.len("/etc/passwd"), None);
        assert_eq!(c.len("missing.js"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
