//! Which version of a file a read saw: the URL that answered and the `ETag` it sent.
//!
//! Why: the persistent store ([`crate::store`]) keeps what was read from a file (a manifest's
//! parts, a decoded message) and serves it again without asking the server. That is right only
//! while the file is the one that was read. A run's files are not rewritten on the buckets, but
//! a mirror or a regional subset can be rebuilt in place; the `ETag` a server sends with every
//! answer (a `206` carries the whole file's tag) tells the versions apart, so the store drops
//! what it holds of a file whose tag changed, and a read made of several requests (a message's
//! head and rest, a manifest's tail and row groups) refuses to mix two versions ([`Parts`]).
//!
//! Tags are compared only between answers of the same URL: two mirrors of a product serve the
//! same bytes under unrelated tags (S3, Azure and Google Cloud compute them differently). A
//! server that sends no `ETag` — or a cross-origin one that does not list it in
//! `Access-Control-Expose-Headers`, which hides it from the page — gives reads without a
//! version, which never count as a change.
//!
//! Pure: no browser API here, tested natively.

use serde::{Deserialize, Serialize};

/// The version of a file one answer came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The URL that answered (for a message, the product mirror's that served it).
    pub url: String,
    /// Its `ETag` header, when the server sent one the page may read.
    pub etag: Option<String>,
}

impl Version {
    /// A version of `url` tagged `etag`.
    pub fn new(url: impl Into<String>, etag: Option<String>) -> Self {
        Self {
            url: url.into(),
            etag,
        }
    }

    /// The tags of `self` and `later` when they show that the file changed in between: the
    /// same URL, both tagged, and the tags differ.
    pub fn change_to<'a>(&'a self, later: &'a Version) -> Option<(&'a str, &'a str)> {
        match (&self.etag, &later.etag) {
            (Some(a), Some(b)) if self.url == later.url && a != b => Some((a, b)),
            _ => None,
        }
    }
}

/// A file was replaced between two requests of one read: its parts are of two versions.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{url} changed while it was read (ETag {before} → {after})")]
pub struct Changed {
    /// The file.
    pub url: String,
    /// The tag of the earlier part.
    pub before: String,
    /// The tag of the later one.
    pub after: String,
}

/// The versions of the parts of one read, which must be one version of the file.
///
/// A read that finds its parts of two versions fails with [`Changed`] rather than being retried
/// from scratch: the file changed under a page that was reading it, which is rare (a mirror
/// rebuilt in place) and not made right by one retry when it is being rewritten; the failure
/// names the file, the member is left out and said so, and the view's next run reads the new
/// version (the read that saw the new tag has evicted the old version from the store).
#[derive(Clone, Debug, Default)]
pub struct Parts {
    seen: Vec<Version>,
}

impl Parts {
    /// No parts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the version of the next part; an error when an earlier part of the same URL had
    /// another tag.
    pub fn check(&mut self, part: &Version) -> Result<(), Changed> {
        if let Some((before, after)) = self.seen.iter().find_map(|v| v.change_to(part)) {
            return Err(Changed {
                url: part.url.clone(),
                before: before.to_string(),
                after: after.to_string(),
            });
        }
        if !self.seen.contains(part) {
            self.seen.push(part.clone());
        }
        Ok(())
    }

    /// The version the read is recorded under: its first tagged part's (the parts of one URL
    /// all have that tag), else its first part's; `None` before any part.
    pub fn version(&self) -> Option<&Version> {
        self.seen
            .iter()
            .find(|v| v.etag.is_some())
            .or(self.seen.first())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(url: &str, etag: Option<&str>) -> Version {
        Version::new(url, etag.map(str::to_string))
    }

    #[test]
    fn only_two_tags_of_one_url_are_a_change() {
        let a = v("https://m/f", Some("\"1\""));
        assert_eq!(
            a.change_to(&v("https://m/f", Some("\"2\""))),
            Some(("\"1\"", "\"2\""))
        );
        assert_eq!(a.change_to(&a.clone()), None);
        assert_eq!(a.change_to(&v("https://m/f", None)), None);
        assert_eq!(v("https://m/f", None).change_to(&a), None);
        // Another mirror's tag says nothing about this one's file.
        assert_eq!(a.change_to(&v("https://other/f", Some("\"2\""))), None);
    }

    #[test]
    fn parts_of_two_versions_are_refused_naming_the_file() {
        let mut parts = Parts::new();
        assert_eq!(parts.version(), None);
        parts.check(&v("https://m/f", None)).unwrap();
        parts.check(&v("https://m/f", Some("\"1\""))).unwrap();
        parts.check(&v("https://m/f", Some("\"1\""))).unwrap();
        // A part from another mirror (failover) is not compared.
        parts.check(&v("https://n/f", Some("\"9\""))).unwrap();
        assert_eq!(parts.version(), Some(&v("https://m/f", Some("\"1\""))));
        let err = parts.check(&v("https://m/f", Some("\"2\""))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "https://m/f changed while it was read (ETag \"1\" → \"2\")"
        );
        // Untagged parts only: the first.
        let mut untagged = Parts::new();
        untagged.check(&v("https://m/f", None)).unwrap();
        untagged.check(&v("https://m/f", None)).unwrap();
        assert_eq!(untagged.version(), Some(&v("https://m/f", None)));
    }
}
