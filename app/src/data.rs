//! The web fetch layer: `config.json`, the catalog, manifests and HTTP Range requests.
//!
//! Why it is apart: everything that touches the network (and so can fail in ways the user must
//! see) is here, with failures classified by kind — refused host, 404, other HTTP status,
//! network or CORS, aborted — never by message text (`docs/STYLE.md`, "Errors"). The URL policy
//! ([`Config::chunk_url`]: `s3://` to HTTPS, public bucket to mirror, the `allowed_hosts`
//! check) is pure and tested natively; the `fetch` calls are thin wrappers over the browser's
//! Fetch API.
//!
//! Manifests name GRIB2 files by absolute URL. The app reads only from hosts the page's
//! `config.json` allows, so a tampered or mistaken catalog cannot make visitors' browsers fetch
//! from anywhere else.

use std::fmt;

use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use gik_core::product::{ECMWF_DEFAULT_HOST, GEFS_DEFAULT_HOST};

/// Where the app finds its data, read from `config.json` next to the page.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Config {
    /// URL of `catalog.json`, relative to the page or absolute.
    #[serde(default = "default_catalog")]
    pub catalog: String,
    /// Origins (`https://host[:port]`) chunk references may point at.
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// A mirror or proxy of the public buckets (`http://127.0.0.1:8080`, or a path on the
    /// page's own server such as `/buckets`). When set, references into the S3 buckets are read
    /// from `{mirror}/{bucket}/{key}` instead, and the mirror's origin is allowed.
    #[serde(default)]
    pub mirror: Option<String>,
}

fn default_catalog() -> String {
    "catalog.json".into()
}

fn default_allowed_hosts() -> Vec<String> {
    vec![GEFS_DEFAULT_HOST.into(), ECMWF_DEFAULT_HOST.into()]
}

impl Default for Config {
    fn default() -> Self {
        Self {
            catalog: default_catalog(),
            allowed_hosts: default_allowed_hosts(),
            mirror: None,
        }
    }
}

impl Config {
    /// Parses `config.json`; absent fields take their defaults.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let mut c: Config =
            serde_json::from_slice(bytes).map_err(|e| format!("config.json: {e}"))?;
        if c.mirror.as_deref().is_some_and(|m| m.trim().is_empty()) {
            c.mirror = None;
        }
        Ok(c)
    }

    /// The mirror's base URL, absolute (resolved against `page_origin`), without a trailing
    /// slash.
    pub fn mirror_base(&self, page_origin: &str) -> Option<String> {
        let m = self.mirror.as_deref()?.trim();
        let base = if m.contains("://") {
            m.to_string()
        } else {
            let path = m.trim_matches('/');
            if path.is_empty() {
                page_origin.to_string()
            } else {
                format!("{page_origin}/{path}")
            }
        };
        Some(base.trim_end_matches('/').to_string())
    }

    /// The URL to fetch for a chunk reference, or why it is refused: `s3://bucket/key` becomes
    /// the bucket's HTTPS URL, S3 URLs go to the mirror when one is configured, and the result
    /// must be on an allowed host.
    pub fn chunk_url(&self, url: &str, page_origin: &str) -> Result<String, FetchFailure> {
        let mut url = s3_to_https(url);
        let mirror = self.mirror_base(page_origin);
        if let Some(base) = &mirror {
            if let Some((bucket, key)) = s3_bucket_and_key(&url) {
                url = format!("{base}/{bucket}/{key}");
            }
        }
        let Some(origin) = origin_of(&url) else {
            return Err(FetchFailure::NotAllowed {
                url,
                origin: "(no http(s) origin)".into(),
            });
        };
        let allowed = self
            .allowed_hosts
            .iter()
            .filter_map(|h| origin_of(h))
            .chain(mirror.as_deref().and_then(origin_of))
            .any(|h| h == origin);
        if allowed {
            Ok(url)
        } else {
            Err(FetchFailure::NotAllowed { url, origin })
        }
    }
}

/// `scheme://host[:port]` of an http(s) URL, lowercased; `None` for other schemes.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    // Drop credentials, and the default port.
    let host = host.rsplit('@').next().unwrap_or(host).to_ascii_lowercase();
    let host = match (
        scheme.as_str(),
        host.strip_suffix(":443"),
        host.strip_suffix(":80"),
    ) {
        ("https", Some(h), _) | ("http", _, Some(h)) => h.to_string(),
        _ => host,
    };
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// `s3://bucket/key` as the bucket's virtual-hosted HTTPS URL (the two public buckets get their
/// regional hosts); other URLs unchanged.
pub fn s3_to_https(url: &str) -> String {
    let Some(rest) = url.strip_prefix("s3://") else {
        return url.to_string();
    };
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let host = [GEFS_DEFAULT_HOST, ECMWF_DEFAULT_HOST]
        .into_iter()
        .find(|h| s3_bucket_and_key(&format!("{h}/")).is_some_and(|(b, _)| b == bucket))
        .map(str::to_string)
        .unwrap_or_else(|| format!("https://{bucket}.s3.amazonaws.com"));
    format!("{host}/{key}")
}

/// Bucket and key of a virtual-hosted S3 URL (`https://{bucket}.s3[.region].amazonaws.com/{key}`).
pub fn s3_bucket_and_key(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, key) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.to_ascii_lowercase();
    if !host.ends_with(".amazonaws.com") {
        return None;
    }
    let (bucket, _) = host
        .split_once(".s3.")
        .or_else(|| host.split_once(".s3-"))?;
    (!bucket.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

/// Why a fetch failed, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchFailure {
    /// The URL's host is not in `allowed_hosts` (nothing was requested).
    NotAllowed {
        /// The URL refused.
        url: String,
        /// Its origin.
        origin: String,
    },
    /// 404: not published (yet), or removed.
    NotFound {
        /// The URL.
        url: String,
    },
    /// Another HTTP status.
    Status {
        /// The URL.
        url: String,
        /// Status code.
        status: u16,
        /// Status text.
        text: String,
    },
    /// The request failed before an answer to a URL on another origin: typically CORS.
    CrossOrigin {
        /// The URL.
        url: String,
    },
    /// The request failed before an answer (network down, DNS, refused connection).
    Network {
        /// The URL.
        url: String,
        /// The browser's message.
        message: String,
    },
    /// The answer had fewer bytes than the range asked for.
    Short {
        /// The URL.
        url: String,
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The view changed and the request was cancelled (not shown to the user).
    Aborted,
}

impl FetchFailure {
    /// Whether this is a cancellation rather than a failure.
    pub fn is_aborted(&self) -> bool {
        matches!(self, Self::Aborted)
    }
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAllowed { url, origin } => write!(
                f,
                "refused {url}: {origin} is not in allowed_hosts of config.json"
            ),
            Self::NotFound { url } => {
                write!(f, "404 Not Found: {url} (not published yet, or removed)")
            }
            Self::Status { url, status, text } => write!(f, "HTTP {status} {text} for {url}"),
            Self::CrossOrigin { url } => write!(
                f,
                "network error for {url}: the bucket may not send CORS headers for this page's \
                 origin (or the network is down). A mirror or proxy that does can be set as \
                 \"mirror\" in config.json"
            ),
            Self::Network { url, message } => write!(f, "network error for {url}: {message}"),
            Self::Short { url, expected, got } => {
                write!(f, "{url}: expected {expected} bytes, received {got}")
            }
            Self::Aborted => f.write_str("cancelled"),
        }
    }
}

/// A failure of the page's own set-up (no window, a JS exception), as text.
fn js_error(what: &str, e: &JsValue) -> String {
    let text = e
        .dyn_ref::<js_sys::Error>()
        .map(|err| String::from(err.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    format!("{what}: {text}")
}

fn js_name(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default()
}

/// The page's origin (`http://127.0.0.1:8080`).
pub fn page_origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// The page's URL.
pub fn page_url() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// `relative` resolved against `base` (as the browser does).
pub fn resolve_url(relative: &str, base: &str) -> Result<String, String> {
    web_sys::Url::new_with_base(relative, base)
        .map(|u| u.href())
        .map_err(|e| js_error(&format!("bad URL {relative:?}"), &e))
}

/// GETs `url`, or with `range = Some((offset, length))` exactly those bytes with an HTTP Range
/// request (a `206` answer; a server that ignores Range and answers `200` with the whole file
/// also works, the range is cut out of it).
pub async fn fetch_bytes(
    url: &str,
    range: Option<(u64, u64)>,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<Vec<u8>, FetchFailure> {
    let network = |message: String| FetchFailure::Network {
        url: url.to_string(),
        message,
    };
    let window = web_sys::window().ok_or_else(|| network("no window".into()))?;
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    init.set_mode(web_sys::RequestMode::Cors);
    if let Some(s) = signal {
        init.set_signal(Some(s));
    }
    let headers = web_sys::Headers::new().map_err(|e| network(js_error("headers", &e)))?;
    if let Some((offset, length)) = range {
        let last = offset.saturating_add(length.max(1) - 1);
        headers
            .set("Range", &format!("bytes={offset}-{last}"))
            .map_err(|e| network(js_error("headers", &e)))?;
    }
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init)
        .map_err(|e| network(js_error("request", &e)))?;
    let answer = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| classify_rejection(url, &e))?;
    let response: web_sys::Response = answer
        .dyn_into()
        .map_err(|e| network(js_error("response", &e)))?;
    let status = response.status();
    match status {
        200 | 206 => {}
        404 => {
            return Err(FetchFailure::NotFound {
                url: url.to_string(),
            })
        }
        _ => {
            return Err(FetchFailure::Status {
                url: url.to_string(),
                status,
                text: response.status_text(),
            })
        }
    }
    let body = response
        .array_buffer()
        .map_err(|e| network(js_error("body", &e)))?;
    let body = JsFuture::from(body)
        .await
        .map_err(|e| classify_rejection(url, &e))?;
    let bytes = js_sys::Uint8Array::new(&body).to_vec();
    let Some((offset, length)) = range else {
        return Ok(bytes);
    };
    let got = bytes.len() as u64;
    let short = |got: u64| FetchFailure::Short {
        url: url.to_string(),
        expected: length,
        got,
    };
    if status == 206 {
        if got < length {
            return Err(short(got));
        }
        let mut bytes = bytes;
        bytes.truncate(length as usize);
        return Ok(bytes);
    }
    // 200: the whole file.
    let start = usize::try_from(offset).map_err(|_| short(0))?;
    let end = offset
        .checked_add(length)
        .and_then(|e| usize::try_from(e).ok())
        .ok_or_else(|| short(0))?;
    bytes
        .get(start..end)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| short(got.saturating_sub(offset)))
}

/// Classifies a rejected fetch: abort, cross-origin (probably CORS) or other network failure.
fn classify_rejection(url: &str, e: &JsValue) -> FetchFailure {
    if js_name(e) == "AbortError" {
        return FetchFailure::Aborted;
    }
    let cross_origin = origin_of(url).is_some_and(|o| o != page_origin().to_ascii_lowercase());
    if e.is_instance_of::<js_sys::TypeError>() && cross_origin {
        return FetchFailure::CrossOrigin {
            url: url.to_string(),
        };
    }
    FetchFailure::Network {
        url: url.to_string(),
        message: js_error("fetch", e),
    }
}

/// Fetches and parses `config.json` next to the page. A missing file gives the defaults and a
/// note.
pub async fn load_config() -> Result<(Config, Option<String>), String> {
    let url = resolve_url("config.json", &page_url())?;
    match fetch_bytes(&url, None, None).await {
        Ok(bytes) => Ok((Config::from_json(&bytes)?, None)),
        Err(FetchFailure::NotFound { .. }) => Ok((
            Config::default(),
            Some("config.json not found: reading catalog.json next to the page, from the public buckets".into()),
        )),
        Err(e) => Err(format!("cannot read config.json: {e}")),
    }
}

/// Fetches and parses the catalog; returns it with its absolute URL (manifest paths are
/// relative to it).
pub async fn load_catalog(config: &Config) -> Result<(gik_core::catalog::Catalog, String), String> {
    let url = resolve_url(&config.catalog, &page_url())?;
    let bytes = fetch_bytes(&url, None, None)
        .await
        .map_err(|e| format!("cannot read the catalog: {e}"))?;
    let catalog =
        gik_core::catalog::Catalog::from_json(&bytes).map_err(|e| format!("{url}: {e}"))?;
    Ok((catalog, url))
}

/// Lets the browser handle events and paint before the next piece of work (a zero-delay
/// timer, so a run of decodes never freezes the page).
pub async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        let scheduled = web_sys::window().is_some_and(|w| {
            w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0)
                .is_ok()
        });
        if !scheduled {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = JsFuture::from(promise).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "http://127.0.0.1:8080";

    #[test]
    fn config_defaults_and_parsing() {
        let c = Config::from_json(b"{}").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.catalog, "catalog.json");
        assert_eq!(c.allowed_hosts.len(), 2);
        let c = Config::from_json(
            br#"{"catalog": "data/catalog.json", "allowed_hosts": [], "mirror": ""}"#,
        )
        .unwrap();
        assert_eq!(c.catalog, "data/catalog.json");
        assert!(c.allowed_hosts.is_empty() && c.mirror.is_none());
        assert!(Config::from_json(b"[1]")
            .unwrap_err()
            .contains("config.json"));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/00/x").as_deref(),
            Some("https://noaa-gefs-pds.s3.amazonaws.com")
        );
        assert_eq!(
            origin_of("HTTP://Host:8080/a?b").as_deref(),
            Some("http://host:8080")
        );
        assert_eq!(origin_of("https://h:443/").as_deref(), Some("https://h"));
        assert_eq!(origin_of("https://user@h/x").as_deref(), Some("https://h"));
        assert_eq!(origin_of("s3://bucket/key"), None);
        assert_eq!(origin_of("/local/path"), None);
        assert_eq!(origin_of("https:///x"), None);
    }

    #[test]
    fn public_bucket_urls_are_allowed_and_others_refused() {
        let c = Config::default();
        let gefs = "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/00/atmos/pgrb2sp25/gep01.t00z.pgrb2s.0p25.f024";
        assert_eq!(c.chunk_url(gefs, PAGE).unwrap(), gefs);
        let ecmwf =
            "s3://ecmwf-forecasts/20250801/00z/ifs/0p25/enfo/20250801000000-24h-enfo-ef.grib2";
        assert_eq!(
            c.chunk_url(ecmwf, PAGE).unwrap(),
            "https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com/20250801/00z/ifs/0p25/enfo/20250801000000-24h-enfo-ef.grib2"
        );
        let err = c
            .chunk_url("https://evil.example/x.grib2", PAGE)
            .unwrap_err();
        assert_eq!(
            err,
            FetchFailure::NotAllowed {
                url: "https://evil.example/x.grib2".into(),
                origin: "https://evil.example".into()
            }
        );
        assert!(err.to_string().contains("allowed_hosts"));
        // The page's own origin is not allowed implicitly.
        assert!(c
            .chunk_url("http://127.0.0.1:8080/noaa-gefs-pds/x", PAGE)
            .is_err());
        assert!(c.chunk_url("file:///etc/passwd", PAGE).is_err());
    }

    #[test]
    fn mirror_rewrites_bucket_urls_and_is_allowed() {
        let c = Config {
            mirror: Some("http://127.0.0.1:9000/".into()),
            ..Config::default()
        };
        assert_eq!(
            c.chunk_url(
                "https://noaa-gefs-pds.s3.amazonaws.com/gefs.20250801/x",
                PAGE
            )
            .unwrap(),
            "http://127.0.0.1:9000/noaa-gefs-pds/gefs.20250801/x"
        );
        assert_eq!(
            c.chunk_url("s3://ecmwf-forecasts/a/b.grib2", PAGE).unwrap(),
            "http://127.0.0.1:9000/ecmwf-forecasts/a/b.grib2"
        );
        // Manifests built against the mirror already point at it.
        assert!(c
            .chunk_url("http://127.0.0.1:9000/noaa-gefs-pds/x", PAGE)
            .is_ok());
        let same_origin = Config {
            mirror: Some("/".into()),
            allowed_hosts: vec![],
            ..Config::default()
        };
        assert_eq!(same_origin.mirror_base(PAGE).as_deref(), Some(PAGE));
        assert_eq!(
            same_origin
                .chunk_url("https://noaa-gefs-pds.s3.amazonaws.com/k", PAGE)
                .unwrap(),
            "http://127.0.0.1:8080/noaa-gefs-pds/k"
        );
        let proxied = Config {
            mirror: Some("buckets/".into()),
            ..Config::default()
        };
        assert_eq!(
            proxied.mirror_base(PAGE).as_deref(),
            Some("http://127.0.0.1:8080/buckets")
        );
    }

    #[test]
    fn s3_helpers() {
        assert_eq!(
            s3_bucket_and_key("https://noaa-gefs-pds.s3.amazonaws.com/a/b"),
            Some(("noaa-gefs-pds".into(), "a/b".into()))
        );
        assert_eq!(
            s3_bucket_and_key("https://ecmwf-forecasts.s3.eu-central-1.amazonaws.com/k"),
            Some(("ecmwf-forecasts".into(), "k".into()))
        );
        assert_eq!(s3_bucket_and_key("https://example.com/a"), None);
        assert_eq!(
            s3_to_https("s3://other-bucket/k/x"),
            "https://other-bucket.s3.amazonaws.com/k/x"
        );
        assert_eq!(s3_to_https("https://x/y"), "https://x/y");
    }

    #[test]
    fn failure_messages_are_specific() {
        let cors = FetchFailure::CrossOrigin {
            url: "https://b/x".into(),
        };
        let text = cors.to_string();
        assert!(text.contains("CORS") && text.contains("mirror"), "{text}");
        assert!(FetchFailure::NotFound { url: "u".into() }
            .to_string()
            .starts_with("404"));
        assert!(FetchFailure::Aborted.is_aborted());
    }
}
