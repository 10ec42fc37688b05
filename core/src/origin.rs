//! Which URLs the browser app may fetch: parse with a WHATWG URL parser, compare origins exactly.
//!
//! Why it is here and pure: the app's page decides from a few untrusted strings (catalog entries,
//! manifest references) where visitors' browsers send requests. A check that reads the host by
//! hand disagrees with the browser on inputs such as `https://evil.example\@allowed/x` (the
//! browser treats `\` as `/`, so the host is `evil.example`). This module parses every URL with
//! the [`url`] crate (the WHATWG URL Standard, the browser's own algorithm), refuses user-info
//! and every scheme but `http`/`https`, compares the parsed [`url::Origin`] with the allowed
//! origins exactly, and hands back the *normalised* URL as an [`AllowedUrl`] — the only value the
//! app's fetch layer accepts, so no fetch can skip the check. It does no I/O and is tested
//! natively, including by a seeded differential fuzz loop (`FUZZING.md`, "URL policy").
//!
//! Allowed origins are the page's own origin (its `config.json`, catalog, manifests and borders
//! sit next to it), the `allowed_hosts` of `config.json`, and the mirror's origin. Chunk
//! references may be `s3://bucket/key` (rewritten to the bucket's HTTPS host) and, with a mirror,
//! virtual-hosted S3 URLs are re-rooted on it (`{mirror}/{bucket}/{key}`); the rewritten URL is
//! checked like any other.

use std::fmt;

use url::{Origin, Url};

/// Why a URL may not be fetched (nothing was requested).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// The text is not a URL (or not one relative to its base).
    #[error("refused {url:?}: not a valid URL ({reason})")]
    Invalid {
        /// The text as given.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// Only `http` and `https` may be fetched (`data:`, `blob:`, `javascript:`, `file:` … are
    /// refused).
    #[error("refused {url}: scheme {scheme:?} is not http or https")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// The URL carries a user name or password (`https://user@host/`).
    #[error("refused {url}: URLs with user-info (user@ or :password@) are not fetched")]
    UserInfo {
        /// The URL.
        url: String,
    },
    /// An `s3://` URL whose bucket is not a valid S3 bucket name, or with user-info or a port.
    #[error("refused {url}: {reason}")]
    BadS3 {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL's origin is not the page's, the mirror's or in `allowed_hosts`.
    #[error("refused {url}: {origin} is not in allowed_hosts of config.json")]
    NotAllowed {
        /// The (normalised) URL.
        url: String,
        /// Its origin, serialised (`https://host[:port]`, or `null` for opaque origins).
        origin: String,
    },
}

/// A configuration entry (`allowed_hosts`, `mirror`, the page URL) that is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("config.json: {field} entry {value:?}: {reason}")]
pub struct PolicyError {
    /// Which setting (`allowed_hosts`, `mirror`, `page`).
    pub field: &'static str,
    /// The entry as written.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

/// A URL the policy accepted: absolute, `http`/`https`, no user-info, on an allowed origin,
/// normalised by the WHATWG parser. Only [`UrlPolicy`] makes these.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AllowedUrl(Url);

impl AllowedUrl {
    /// The normalised URL text (what must be fetched).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The URL's origin, serialised (`https://host[:port]`).
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }
}

impl fmt::Display for AllowedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// The allowed origins of one page, and the `s3://`/mirror rewriting of chunk references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlPolicy {
    page: Url,
    allowed: Vec<Origin>,
    /// Mirror base, with a trailing `/`.
    mirror: Option<Url>,
}

/// Parses `text` as an absolute URL and checks scheme and user-info (not the origin).
fn parse_http(text: &str, base: Option<&Url>) -> Result<Url, Refused> {
    let parsed = match base {
        Some(b) => b.join(text),
        None => Url::parse(text),
    };
    let url = parsed.map_err(|e| Refused::Invalid {
        url: text.to_string(),
        reason: e.to_string(),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Refused::Scheme {
            url: url.to_string(),
            scheme: url.scheme().to_string(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::UserInfo {
            url: url.to_string(),
        });
    }
    Ok(url)
}

/// An `allowed_hosts`/`mirror` entry as an origin: an absolute http(s) URL with no user-info,
/// query or fragment (and, for `allowed_hosts`, no path).
fn origin_entry(field: &'static str, value: &str, path_allowed: bool) -> Result<Url, PolicyError> {
    let err = |reason: String| PolicyError {
        field,
        value: value.to_string(),
        reason,
    };
    let url = parse_http(value.trim(), None).map_err(|e| err(e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("must not have a query or fragment".into()));
    }
    if !path_allowed && url.path() != "/" {
        return Err(err(
            "must be an origin (scheme://host[:port]) without a path".into(),
        ));
    }
    Ok(url)
}

/// Whether `name` is a valid S3 bucket name (3–63 of `a-z 0-9 . -`, starting and ending with a
/// letter or digit).
fn valid_bucket(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// The HTTPS base (`https://host`, no trailing slash) of a bucket: the public buckets' regional
/// hosts, otherwise the global virtual-hosted endpoint.
fn bucket_host(bucket: &str) -> String {
    crate::product::default_hosts()
        .into_iter()
        .find(|h| {
            Url::parse(h)
                .ok()
                .and_then(|u| s3_bucket(&u))
                .is_some_and(|b| b == bucket)
        })
        .map(|h| h.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("https://{bucket}.s3.amazonaws.com"))
}

/// The bucket of a virtual-hosted S3 URL (`https://{bucket}.s3[.region|-region].amazonaws.com/`).
fn s3_bucket(url: &Url) -> Option<String> {
    let host = url.host_str()?;
    let rest = host.strip_suffix(".amazonaws.com")?;
    let (bucket, _) = rest.split_once(".s3.").or_else(|| {
        rest.strip_suffix(".s3")
            .map(|b| (b, ""))
            .or_else(|| rest.split_once(".s3-"))
    })?;
    valid_bucket(bucket).then(|| bucket.to_string())
}

impl UrlPolicy {
    /// The policy of the page at `page_url`: its own origin, each of `allowed_hosts`
    /// (`https://host[:port]`) and the mirror's origin are allowed. `mirror` is an absolute URL
    /// (`http://127.0.0.1:9000/`, `https://proxy.example/buckets`) or a path on the page's server
    /// (`/buckets`, `buckets/`); blank means none.
    pub fn new(
        page_url: &str,
        allowed_hosts: &[String],
        mirror: Option<&str>,
    ) -> Result<Self, PolicyError> {
        let page = parse_http(page_url, None).map_err(|e| PolicyError {
            field: "page",
            value: page_url.to_string(),
            reason: e.to_string(),
        })?;
        let mut allowed = vec![page.origin()];
        for h in allowed_hosts {
            allowed.push(origin_entry("allowed_hosts", h, false)?.origin());
        }
        let mirror = match mirror.map(str::trim).filter(|m| !m.is_empty()) {
            None => None,
            Some(m) => {
                let mut url = if Url::parse(m).is_ok() {
                    origin_entry("mirror", m, true)?
                } else {
                    // A path on the page's own server, from its root.
                    let path = format!("/{}", m.trim_matches('/'));
                    page.join(&path).map_err(|e| PolicyError {
                        field: "mirror",
                        value: m.to_string(),
                        reason: e.to_string(),
                    })?
                };
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                allowed.push(url.origin());
                Some(url)
            }
        };
        Ok(Self {
            page,
            allowed,
            mirror,
        })
    }

    /// The page's URL.
    pub fn page(&self) -> &Url {
        &self.page
    }

    /// The mirror's base URL (with a trailing `/`), if one is configured.
    pub fn mirror(&self) -> Option<&Url> {
        self.mirror.as_ref()
    }

    /// The allowed origins, serialised.
    pub fn allowed_origins(&self) -> Vec<String> {
        self.allowed
            .iter()
            .map(Origin::ascii_serialization)
            .collect()
    }

    /// Checks an absolute or relative URL (`catalog.json`, `gefs/…/gep01.parquet`,
    /// `//host/x`, `https://host/x`) resolved against `base` (default: the page).
    pub fn resolve(
        &self,
        reference: &str,
        base: Option<&AllowedUrl>,
    ) -> Result<AllowedUrl, Refused> {
        let base = base.map_or(&self.page, AllowedUrl::url);
        let url = parse_http(reference, Some(base))?;
        self.check(url)
    }

    /// The URL to fetch for a chunk reference from a manifest: `s3://bucket/key` becomes the
    /// bucket's HTTPS URL, virtual-hosted S3 URLs are re-rooted on the mirror when one is set,
    /// and the result must be on an allowed origin. Relative references are refused (manifests
    /// name messages by absolute URL).
    pub fn chunk_url(&self, reference: &str) -> Result<AllowedUrl, Refused> {
        let text = reference.trim();
        let mut url = if text
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("s3://"))
        {
            self.s3_to_https(text)?
        } else {
            parse_http(text, None)?
        };
        if let Some(mirror) = &self.mirror {
            if let Some(bucket) = s3_bucket(&url) {
                let mut key = url.path().trim_start_matches('/').to_string();
                if let Some(q) = url.query() {
                    key = format!("{key}?{q}");
                }
                // `bucket` is [a-z0-9.-] and `key` an already-encoded path: the join stays
                // under the mirror's base.
                url = mirror
                    .join(&format!("{bucket}/{key}"))
                    .map_err(|e| Refused::Invalid {
                        url: reference.to_string(),
                        reason: e.to_string(),
                    })?;
            }
        }
        self.check(url)
    }

    /// `s3://bucket/key` as an HTTPS URL (checked for user-info, port and bucket name).
    fn s3_to_https(&self, text: &str) -> Result<Url, Refused> {
        let bad = |reason: &str| Refused::BadS3 {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let s3 = Url::parse(text).map_err(|e| Refused::Invalid {
            url: text.to_string(),
            reason: e.to_string(),
        })?;
        if !s3.username().is_empty() || s3.password().is_some() {
            return Err(Refused::UserInfo {
                url: text.to_string(),
            });
        }
        if s3.port().is_some() {
            return Err(bad("an s3:// URL has no port"));
        }
        let bucket = s3.host_str().unwrap_or_default();
        if !valid_bucket(bucket) {
            return Err(bad("not a valid S3 bucket name"));
        }
        let mut https = format!("{}{}", bucket_host(bucket), s3.path());
        if let Some(q) = s3.query() {
            https = format!("{https}?{q}");
        }
        parse_http(&https, None)
    }

    /// Accepts `url` if its origin is allowed.
    fn check(&self, mut url: Url) -> Result<AllowedUrl, Refused> {
        // The fragment is never sent; drop it so equal requests have equal URLs.
        url.set_fragment(None);
        let origin = url.origin();
        if origin.is_tuple() && self.allowed.contains(&origin) {
            Ok(AllowedUrl(url))
        } else {
            Err(Refused::NotAllowed {
                origin: origin.ascii_serialization(),
                url: url.into(),
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
