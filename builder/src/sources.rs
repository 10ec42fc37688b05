//! Several mirrors of one product's files, tried in order per request, with counts per source.
//!
//! Why: the public data is on several mirrors with the same key layout
//! ([`gik_core::product::sources`]), and they fail in different ways (throttling, `403`,
//! retention). A build names one *canonical* base URL — the one its manifests record, so they
//! stay valid whichever mirror served the build — and a [`SourceSet`] of bases to read from.
//! [`crate::http::HttpClient`] sends every request for a URL under the canonical base (or under
//! any source) to the sources in turn:
//!
//! - a source is left for the next once its retries are spent (5xx, 429, timeouts, resets), at
//!   once on `403` and on a server that ignores `Range`;
//! - a `404` is checked on the next source before the file counts as missing;
//! - a source that failed [`DEMOTE_AFTER`] requests in a row (not counting 404s) is tried after
//!   the others until it serves again, so a throttling mirror does not cost every request its
//!   whole retry budget.
//!
//! Each source counts what it served and what failed, for the build's summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Result};

/// Consecutive failed requests after which a source is tried last.
pub const DEMOTE_AFTER: u64 = 3;

/// Counters of one source.
#[derive(Debug, Default)]
struct Counters {
    served: AtomicU64,
    not_found: AtomicU64,
    failed: AtomicU64,
    failing_in_a_row: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// The ordered sources of one product and the canonical base its URLs are written with.
#[derive(Debug)]
pub struct SourceSet {
    canonical: String,
    bases: Vec<String>,
    counters: Vec<Counters>,
}

/// What one source did, for summaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceSummary {
    /// The source's base URL.
    pub base: String,
    /// Requests it answered successfully.
    pub served: u64,
    /// Requests it answered 404 to.
    pub not_found: u64,
    /// Requests it failed (after its retries), moved on to the next source.
    pub failed: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl SourceSet {
    /// Sources `bases` (in order; at least one; each an http(s) base URL, trailing slashes
    /// dropped, duplicates dropped), with URLs written under `canonical` (default: the first
    /// source).
    pub fn new(bases: &[String], canonical: Option<&str>) -> Result<Self> {
        let mut clean: Vec<String> = Vec::new();
        for base in bases {
            let b = normalise(base)?;
            if !clean.contains(&b) {
                clean.push(b);
            }
        }
        let Some(first) = clean.first().cloned() else {
            bail!("no source given");
        };
        let canonical = match canonical {
            Some(c) => normalise(c)?,
            None => first,
        };
        Ok(Self {
            canonical,
            counters: clean.iter().map(|_| Counters::default()).collect(),
            bases: clean,
        })
    }

    /// The base URL manifests record.
    pub fn canonical(&self) -> &str {
        &self.canonical
    }

    /// The sources, in configured order.
    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    /// The path of `url` after the canonical base or a source's base (the longest that
    /// matches at a path boundary); `None` for a URL under none of them.
    pub fn rest_of<'a>(&self, url: &'a str) -> Option<&'a str> {
        std::iter::once(&self.canonical)
            .chain(&self.bases)
            .filter_map(|base| {
                url.strip_prefix(base.as_str())
                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .min_by_key(|rest| rest.len())
    }

    /// Indices of the sources in the order to try them now: configured order, sources failing
    /// [`DEMOTE_AFTER`] times in a row last.
    pub(crate) fn order(&self) -> Vec<usize> {
        let (mut healthy, demoted): (Vec<usize>, Vec<usize>) =
            (0..self.bases.len()).partition(|&i| {
                self.counters[i].failing_in_a_row.load(Ordering::Relaxed) < DEMOTE_AFTER
            });
        healthy.extend(demoted);
        healthy
    }

    /// The URL of `rest` on source `i`.
    pub(crate) fn url(&self, i: usize, rest: &str) -> String {
        format!("{}{rest}", self.bases[i])
    }

    pub(crate) fn record_served(&self, i: usize) {
        let c = &self.counters[i];
        c.served.fetch_add(1, Ordering::Relaxed);
        c.failing_in_a_row.store(0, Ordering::Relaxed);
    }

    pub(crate) fn record_not_found(&self, i: usize) {
        self.counters[i].not_found.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_failure(&self, i: usize, error: &str) {
        let c = &self.counters[i];
        c.failed.fetch_add(1, Ordering::Relaxed);
        let in_a_row = c.failing_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if in_a_row == DEMOTE_AFTER && self.bases.len() > 1 {
            tracing::warn!(
                source = %self.bases[i],
                %error,
                "source failed {DEMOTE_AFTER} requests in a row; trying it after the others"
            );
        }
        if let Ok(mut last) = c.last_error.lock() {
            *last = Some(error.to_string());
        }
    }

    /// What each source did so far, in configured order.
    pub fn summary(&self) -> Vec<SourceSummary> {
        self.bases
            .iter()
            .zip(&self.counters)
            .map(|(base, c)| SourceSummary {
                base: base.clone(),
                served: c.served.load(Ordering::Relaxed),
                not_found: c.not_found.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
            })
            .collect()
    }
}

/// Splits `--source` values (each possibly a comma list) into base URLs, dropping blanks.
pub fn split_list<S: AsRef<str>>(values: &[S]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.as_ref().split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One line per source: what it served and what failed.
pub fn describe_summary(summary: &[SourceSummary]) -> Vec<String> {
    summary
        .iter()
        .map(|s| {
            let mut line = format!(
                "source {}: {} served, {} not found, {} failed",
                s.base, s.served, s.not_found, s.failed
            );
            if let Some(e) = &s.last_error {
                line.push_str(&format!(" (last: {e})"));
            }
            line
        })
        .collect()
}

fn normalise(base: &str) -> Result<String> {
    let b = base.trim().trim_end_matches('/');
    let ok = ["http://", "https://"]
        .iter()
        .any(|scheme| b.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()));
    if !ok {
        bail!("source {base:?}: expected an http(s) base URL such as http://127.0.0.1:8080/bucket");
    }
    Ok(b.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_and_normalise() {
        assert_eq!(
            split_list(&["http://a/x/, http://b", "", "http://c"]),
            ["http://a/x/", "http://b", "http://c"]
        );
        let set = SourceSet::new(&split_list(&["http://a/x/,http://b,http://a/x"]), None).unwrap();
        assert_eq!(set.bases(), ["http://a/x", "http://b"]);
        assert_eq!(set.canonical(), "http://a/x");
        assert!(SourceSet::new(&[], None).is_err());
        assert!(SourceSet::new(&["ftp://x".to_string()], None).is_err());
        assert!(SourceSet::new(&["127.0.0.1:80".to_string()], None).is_err());
    }

    #[test]
    fn urls_map_onto_every_source() {
        let set = SourceSet::new(
            &["http://m1/b".into(), "http://m2".into()],
            Some("https://bucket.example/"),
        )
        .unwrap();
        assert_eq!(set.canonical(), "https://bucket.example");
        assert_eq!(
            set.rest_of("https://bucket.example/a/b.idx"),
            Some("/a/b.idx")
        );
        assert_eq!(set.rest_of("http://m1/b/a"), Some("/a"));
        assert_eq!(set.rest_of("http://m1/bb/a"), None);
        assert_eq!(set.rest_of("http://other/a"), None);
        assert_eq!(set.url(1, "/a/b.idx"), "http://m2/a/b.idx");
    }

    #[test]
    fn failing_sources_are_tried_last_until_they_serve() {
        let set = SourceSet::new(&["http://a".into(), "http://b".into()], None).unwrap();
        assert_eq!(set.order(), [0, 1]);
        for _ in 0..DEMOTE_AFTER {
            set.record_failure(0, "HTTP 503");
        }
        set.record_not_found(1);
        assert_eq!(set.order(), [1, 0]);
        set.record_served(0);
        assert_eq!(set.order(), [0, 1]);
        let s = set.summary();
        assert_eq!((s[0].served, s[0].failed, s[1].not_found), (1, 3, 1));
        assert_eq!(s[0].last_error.as_deref(), Some("HTTP 503"));
        let lines = describe_summary(&s);
        assert!(lines[0].contains("http://a: 1 served, 0 not found, 3 failed (last: HTTP 503)"));
    }
}
