//! Several sources per product in the browser: which mirror each message is read from.
//!
//! Why: the same files are on several public mirrors (`config.json` `sources`, by default every
//! public source of each product, [`gik_core::product::sources`]), and whether a mirror answers
//! this page (CORS headers, `403`, throttling) is only known by trying. Manifests name each
//! message by one canonical URL; a message URL under any source of a product is read from the
//! first source whose host has not failed in this page. A CORS or network failure, a `403`,
//! a `5xx`/`429` or a server that ignores `Range` moves that host down for the rest of the
//! session and the message is tried on the next source; a `404` is checked on the next source.
//! The order starts from `config.json`, re-ordered by the `gik doctor` report when the
//! configuration names one (sources a browser could read first), so a mirror that stopped
//! sending CORS headers is avoided without a redeploy. The page says which source served the
//! map ([`SourceRouter::describe`]).

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::Deserialize;

/// What the app reads of a `gik doctor --json` report: per product, sources in order with
/// whether a browser could read them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct DoctorOrder {
    /// Per product name.
    #[serde(default)]
    pub products: BTreeMap<String, DoctorProduct>,
}

/// One product of a doctor report.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct DoctorProduct {
    /// Its sources, as checked.
    #[serde(default)]
    pub sources: Vec<DoctorSource>,
}

/// One source of a doctor report.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct DoctorSource {
    /// Base URL.
    pub base: String,
    /// A browser page could read it.
    #[serde(default)]
    pub browser_ok: bool,
}

impl DoctorOrder {
    /// Parses a report (only the fields above are read); the caller names the file in the
    /// error ([`crate::data`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// `scheme://host[:port]` of a base URL, if it has one.
pub fn origin_of(base: &str) -> Option<String> {
    let (scheme, rest) = base.trim().split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!scheme.is_empty() && !host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// The ordered sources of each product, the hosts that failed in this page, and which source
/// served the messages.
#[derive(Debug, Default)]
pub struct SourceRouter {
    products: Vec<(String, Vec<String>)>,
    failed: RefCell<Vec<String>>,
    served: RefCell<BTreeMap<String, usize>>,
}

impl SourceRouter {
    /// Sources per product (bases; trailing slashes dropped), ordered by `doctor` when given:
    /// sources it found readable from a browser first (in its order), then those it did not
    /// check, then those it found unreadable.
    pub fn new(sources: &BTreeMap<String, Vec<String>>, doctor: Option<&DoctorOrder>) -> Self {
        let products = sources
            .iter()
            .map(|(name, bases)| {
                let mut bases: Vec<String> = bases
                    .iter()
                    .map(|b| b.trim().trim_end_matches('/').to_string())
                    .filter(|b| origin_of(b).is_some())
                    .collect();
                if let Some(report) = doctor.and_then(|d| d.products.get(name)) {
                    let rank = |base: &String| match report
                        .sources
                        .iter()
                        .position(|s| s.base.trim_end_matches('/') == base)
                    {
                        Some(i) if report.sources[i].browser_ok => (0, i),
                        Some(i) => (2, i),
                        None => (1, 0),
                    };
                    bases.sort_by_key(rank);
                }
                (name.clone(), bases)
            })
            .collect();
        Self {
            products,
            ..Self::default()
        }
    }

    /// The origins of every source (each is an allowed host of the page).
    pub fn origins(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .products
            .iter()
            .flat_map(|(_, bases)| bases.iter().filter_map(|b| origin_of(b)))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Where to read `url` from, in order: `(source base, URL)` for each source of the product
    /// whose sources `url` lies under — hosts that have not failed first, in order, then the
    /// failed ones in the order they failed. Empty when `url` is under no source.
    pub fn candidates(&self, url: &str) -> Vec<(String, String)> {
        let Some((bases, rest)) = self.products.iter().find_map(|(_, bases)| {
            bases.iter().find_map(|b| {
                url.strip_prefix(b.as_str())
                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                    .map(|rest| (bases, rest))
            })
        }) else {
            return Vec::new();
        };
        let failed = self.failed.borrow();
        let failed_rank =
            |base: &String| origin_of(base).and_then(|o| failed.iter().position(|f| *f == o));
        let mut ordered: Vec<&String> = bases.iter().collect();
        ordered.sort_by_key(|b| failed_rank(b).map_or((0, 0), |i| (1, i)));
        ordered
            .into_iter()
            .map(|b| (b.clone(), format!("{b}{rest}")))
            .collect()
    }

    /// The host of `base` failed: it is tried after the others from now on.
    pub fn mark_failed(&self, base: &str) {
        if let Some(origin) = origin_of(base) {
            let mut failed = self.failed.borrow_mut();
            if !failed.contains(&origin) {
                failed.push(origin);
            }
        }
    }

    /// `base` served one message.
    pub fn record_served(&self, base: &str) {
        *self
            .served
            .borrow_mut()
            .entry(base.to_string())
            .or_default() += 1;
    }

    /// One line for the page: which sources served the map, and which hosts failed.
    pub fn describe(&self) -> Option<String> {
        let served = self.served.borrow();
        let failed = self.failed.borrow();
        if served.is_empty() && failed.is_empty() {
            return None;
        }
        let mut line = if served.is_empty() {
            "Map data: no source has served a message yet".to_string()
        } else {
            let list: Vec<String> = served
                .iter()
                .map(|(base, n)| format!("{base} ({n} messages)"))
                .collect();
            format!("Map data from {}", list.join(", "))
        };
        if !failed.is_empty() {
            line.push_str(&format!(
                "; tried last after failing in this page: {}",
                failed.join(", ")
            ));
        }
        Some(line)
    }
}

/// The note prefix of [`SourceRouter::describe`] lines (one such note is kept).
pub const NOTE_PREFIX: &str = "Map data";

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            (
                "gefs".to_string(),
                vec!["http://a:1/g/".to_string(), "http://b:2/g".to_string()],
            ),
            ("ecmwf".to_string(), vec!["http://c:3/e".to_string()]),
        ])
    }

    #[test]
    fn urls_are_read_from_the_first_source_that_has_not_failed() {
        let r = SourceRouter::new(&sources(), None);
        assert_eq!(r.origins(), ["http://a:1", "http://b:2", "http://c:3"]);
        let urls = |u: &str| -> Vec<String> { r.candidates(u).into_iter().map(|c| c.1).collect() };
        assert_eq!(
            urls("http://b:2/g/x/f1"),
            ["http://a:1/g/x/f1", "http://b:2/g/x/f1"]
        );
        assert!(r.candidates("http://a:1/gg/x").is_empty());
        assert!(r.candidates("http://z/g/x").is_empty());
        r.mark_failed("http://a:1/g");
        assert_eq!(urls("http://a:1/g/x"), ["http://b:2/g/x", "http://a:1/g/x"]);
        assert_eq!(urls("http://c:3/e/y"), ["http://c:3/e/y"]);
        assert_eq!(r.describe().unwrap(), "Map data: no source has served a message yet; tried last after failing in this page: http://a:1");
        r.record_served("http://b:2/g");
        r.record_served("http://b:2/g");
        let line = r.describe().unwrap();
        assert!(
            line.starts_with(NOTE_PREFIX) && line.contains("http://b:2/g (2 messages)"),
            "{line}"
        );
    }

    #[test]
    fn the_doctor_report_orders_sources() {
        let report = DoctorOrder::from_json(
            br#"{"generated_at": "x", "products": {"gefs": {"sources": [
                {"base": "http://a:1/g", "browser_ok": false, "problems": ["no CORS"]},
                {"base": "http://b:2/g", "browser_ok": true}]}}}"#,
        )
        .unwrap();
        let r = SourceRouter::new(&sources(), Some(&report));
        let first = r.candidates("http://a:1/g/x").remove(0).1;
        assert_eq!(first, "http://b:2/g/x");
        assert!(DoctorOrder::from_json(br#"{"products": 3}"#).is_err());
        assert_eq!(
            origin_of("https://h.example/p/q"),
            Some("https://h.example".into())
        );
        assert_eq!(origin_of("nope"), None);
    }
}
