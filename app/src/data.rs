//! The web fetch layer: `config.json`, the catalog, manifests and HTTP Range requests.
//!
//! Why it is apart: everything that touches the network (and so can fail in ways the user must
//! see) is here, with failures classified by kind — refused URL, 404, other HTTP status, network
//! or CORS, a proxy that ignored `Range`, an answer over its size cap, aborted — never by message
//! text (`docs/STYLE.md`, "Errors").
//!
//! Every fetch takes a [`gik_core::origin::AllowedUrl`], which only the page's
//! [`UrlPolicy`] makes (WHATWG parsing, exact origin comparison, no user-info; see
//! `gik_core::origin`): config → catalog → manifests → messages → borders are all checked, and
//! the normalised URL is what is fetched. Requests refuse redirects (`redirect: "error"`), so an
//! allowed host cannot bounce the page elsewhere.
//!
//! Bodies are bounded: each kind of file has a size cap ([`MAX_CONFIG_BYTES`] …), checked
//! against `Content-Length` before the body is read and again while it streams in; a `200`
//! answer to a Range request (a proxy that dropped `Range`) is abandoned without reading its
//! body, and a `206`'s `Content-Range`, when the server exposes it, must be the range asked for.
//!
//! Requests go through `gloo-net`. What it cannot do is done with `web-sys` here, and said so
//! where it happens: reading a body with a size cap (gloo reads whole bodies only) and
//! cancelling an unread body.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use gik_core::origin::{AllowedUrl, PolicyError, Refused, UrlPolicy};
use gloo_net::http::{Request, Response};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCache, RequestMode, RequestRedirect};

use crate::coalesce::Span;
use crate::sources::{DoctorOrder, SourceRouter, NOTE_PREFIX};
use crate::version::Version;

/// Largest `config.json` read (it holds a few URLs).
pub const MAX_CONFIG_BYTES: u64 = 64 << 10;
/// Largest `catalog.json` read: a month of four daily runs of both products lists about 20 000
/// manifests (≈ 2 MB); 16 MiB leaves room without letting a bad file exhaust memory.
pub const MAX_CATALOG_BYTES: u64 = 16 << 20;
/// Largest member manifest read: a full GEFS or ECMWF member is well under 1 MB of parquet.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Largest GRIB2 message fetched: 0.25° global fields are 0.5–3 MB; a manifest naming a longer
/// range is refused before any request.
pub const MAX_MESSAGE_BYTES: u64 = 64 << 20;
/// Largest borders file read (`static/borders/borders-50m.json` is about 0.5 MB).
pub const MAX_BORDERS_BYTES: u64 = 8 << 20;

/// Where the app finds its data, read from `config.json` next to the page.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Config {
    /// URL of `catalog.json`, relative to the page or absolute.
    #[serde(default = "default_catalog")]
    pub catalog: String,
    /// Origins (`https://host[:port]`) data may be read from, besides the page's own.
    #[serde(default = "default_allowed_hosts")]
    pub allowed_hosts: Vec<String>,
    /// A mirror or proxy of the public buckets (`http://127.0.0.1:8080`, or a path on the
    /// page's own server such as `/buckets`). When set, references into the S3 buckets are read
    /// from `{mirror}/{bucket}/{key}` instead, and the mirror's origin is allowed.
    #[serde(default)]
    pub mirror: Option<String>,
    /// Mirrors of each product's files (base URLs, in order; each one's host is allowed). A
    /// message URL under one of them is read from the first whose host has not failed in this
    /// page (see [`crate::sources`]). Default: every public source of each product.
    #[serde(default = "default_sources")]
    pub sources: BTreeMap<String, Vec<String>>,
    /// A `gik doctor --json` report (URL relative to the page, or absolute on an allowed
    /// host) that orders the sources; optional.
    #[serde(default)]
    pub doctor: Option<String>,
}

fn default_sources() -> BTreeMap<String, Vec<String>> {
    gik_core::product::all_products()
        .iter()
        .map(|p| {
            (
                p.name().to_string(),
                gik_core::product::sources::bases(p.public_sources()),
            )
        })
        .collect()
}

fn default_catalog() -> String {
    "catalog.json".into()
}

fn default_allowed_hosts() -> Vec<String> {
    gik_core::product::default_hosts()
        .into_iter()
        .map(String::from)
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            catalog: default_catalog(),
            allowed_hosts: default_allowed_hosts(),
            mirror: None,
            sources: default_sources(),
            doctor: None,
        }
    }
}

impl Config {
    /// Parses `config.json`; absent fields take their defaults.
    pub fn from_json(bytes: &[u8]) -> Result<Self, LoadError> {
        let mut c: Config =
            serde_json::from_slice(bytes).map_err(|e| LoadError::malformed("config.json", e))?;
        if c.mirror.as_deref().is_some_and(|m| m.trim().is_empty()) {
            c.mirror = None;
        }
        Ok(c)
    }

    /// The URL policy of the page at `page_url` under this configuration: the allowed hosts
    /// and the hosts of every source.
    pub fn policy(&self, page_url: &str) -> Result<UrlPolicy, PolicyError> {
        let mut hosts = self.allowed_hosts.clone();
        for origin in SourceRouter::new(&self.sources, None).origins() {
            if !hosts.contains(&origin) {
                hosts.push(origin);
            }
        }
        UrlPolicy::new(page_url, &hosts, self.mirror.as_deref())
    }
}

/// Why a file the page reads whole (`config.json`, the catalog, the doctor report, the borders)
/// cannot be used. Each names the file; a fetch failure also names the URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The page's URL, or an entry of `config.json`, makes no URL policy.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The file could not be fetched (a refused URL, 404, another status, the network…).
    #[error("cannot read {file}: {failure}")]
    Fetch {
        /// The file (`config.json`, `the catalog`, …).
        file: String,
        /// Why.
        failure: FetchFailure,
    },
    /// The file was read but is not what it should be.
    #[error("{file}: {reason}")]
    Malformed {
        /// The file (its name, or its URL).
        file: String,
        /// The parser's reason.
        reason: String,
    },
}

impl LoadError {
    /// Whether the file's host could not be reached at all (no answer: offline, DNS, a refused
    /// connection or CORS), as opposed to an answer saying no.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Fetch {
                failure: FetchFailure::Network { .. } | FetchFailure::CrossOrigin { .. },
                ..
            }
        )
    }

    /// A fetch of `file` that failed.
    fn fetch(file: impl Into<String>, failure: impl Into<FetchFailure>) -> Self {
        Self::Fetch {
            file: file.into(),
            failure: failure.into(),
        }
    }

    /// `file`, read but unparsable for `reason`.
    fn malformed(file: impl Into<String>, reason: impl fmt::Display) -> Self {
        Self::Malformed {
            file: file.into(),
            reason: reason.to_string(),
        }
    }
}

/// What a fetch asks for, and so how much it may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// The whole file, at most this many bytes.
    Whole {
        /// Size cap in bytes.
        max: u64,
    },
    /// Exactly `length` bytes from `offset`, with a Range request (at most
    /// [`MAX_MESSAGE_BYTES`]).
    Range {
        /// First byte.
        offset: u64,
        /// Number of bytes.
        length: u64,
    },
    /// The last `length` bytes (a suffix Range request, `bytes=-length`). A shorter file comes
    /// whole, and so does a `200` (a server that ignores `Range`), read up to `max` bytes.
    Tail {
        /// Bytes asked for.
        length: u64,
        /// Size cap in bytes.
        max: u64,
    },
}

/// Why a fetch failed, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchFailure {
    /// The URL is not allowed (nothing was requested).
    Refused(Refused),
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
    /// The request failed before an answer to a URL on another origin: typically CORS (or a
    /// refused redirect).
    CrossOrigin {
        /// The URL.
        url: String,
    },
    /// The request failed before an answer (network down, DNS, refused connection, a refused
    /// redirect).
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
    /// A Range request was answered `200` (the whole file): a server or proxy that drops
    /// `Range`. The body was not read.
    RangeIgnored {
        /// The URL.
        url: String,
    },
    /// A `206` whose `Content-Range` is not the range asked for.
    WrongRange {
        /// The URL.
        url: String,
        /// `bytes a-b` asked for.
        asked: String,
        /// The `Content-Range` received.
        got: String,
    },
    /// The answer (or the range asked for) is over its size cap; the rest was not read.
    TooLarge {
        /// The URL.
        url: String,
        /// The cap in bytes.
        limit: u64,
        /// The announced or asked size, when known.
        size: Option<u64>,
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

impl From<Refused> for FetchFailure {
    fn from(r: Refused) -> Self {
        Self::Refused(r)
    }
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "{r}"),
            Self::NotFound { url } => {
                write!(f, "404 Not Found: {url} (not published yet, or removed)")
            }
            Self::Status { url, status, text } => write!(f, "HTTP {status} {text} for {url}"),
            Self::CrossOrigin { url } => write!(
                f,
                "network error for {url}: the bucket may not send CORS headers for this page's \
                 origin, or it redirected (redirects are refused), or the network is down. A \
                 mirror or proxy that sends CORS headers can be set as \"mirror\" in config.json"
            ),
            Self::Network { url, message } => write!(
                f,
                "network error for {url}: {message} (or a redirect, which is refused)"
            ),
            Self::Short { url, expected, got } => {
                write!(f, "{url}: expected {expected} bytes, received {got}")
            }
            Self::RangeIgnored { url } => write!(
                f,
                "{url}: the server ignored the Range request and started sending the whole file \
                 (a proxy that drops the Range header?); the download was stopped"
            ),
            Self::WrongRange { url, asked, got } => {
                write!(
                    f,
                    "{url}: asked for {asked}, the server sent Content-Range {got}"
                )
            }
            Self::TooLarge { url, limit, size } => match size {
                Some(s) => write!(f, "{url}: {s} bytes is over the {limit}-byte limit"),
                None => write!(f, "{url}: the answer is over the {limit}-byte limit"),
            },
            Self::Aborted => f.write_str("cancelled"),
        }
    }
}

/// `(first, last)` byte of a `Content-Range: bytes first-last/total` value (`total` may be `*`).
pub fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.trim().split_once('-')?;
    let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
    let total = total.trim();
    if total != "*" && total.parse::<u64>().ok()? <= b {
        return None;
    }
    (a <= b).then_some((a, b))
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

/// The page's URL.
pub fn page_url() -> String {
    web_sys::window()
        .and_then(|w| w.location().href().ok())
        .unwrap_or_default()
}

/// The policy before `config.json` is read: the page's own origin only.
pub fn page_policy() -> Result<UrlPolicy, PolicyError> {
    UrlPolicy::new(&page_url(), &[], None)
}

/// Classifies a rejected fetch or body read by the error's kind (its JS `name`): abort,
/// cross-origin (probably CORS) or other network failure.
fn classify(url: &AllowedUrl, name: &str, message: String) -> FetchFailure {
    if name == "AbortError" {
        return FetchFailure::Aborted;
    }
    let page_origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default();
    if name == "TypeError" && url.origin() != page_origin {
        return FetchFailure::CrossOrigin {
            url: url.to_string(),
        };
    }
    FetchFailure::Network {
        url: url.to_string(),
        message,
    }
}

/// Stops a body that will not be read (the browser stops downloading it).
fn discard(response: &Response) {
    // gloo-net has no way to cancel a body: use the raw stream.
    if let Some(body) = response.body() {
        let _ = body.cancel();
    }
}

/// The bytes of an answer and the version of the file they are from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// The body.
    pub bytes: Vec<u8>,
    /// The URL that answered and its `ETag` (read when the server exposes it).
    pub version: Version,
}

impl Span for Answer {
    fn cut(&self, from: usize, to: usize) -> Self {
        Self {
            bytes: self.bytes.cut(from, to),
            version: self.version.clone(),
        }
    }
}

/// Fetches `url` (whole, or one byte range) with `redirect: "error"`, CORS mode and the abort
/// `signal`, reading at most the bytes `want` allows: the request is sent (`send`), the
/// answer's status and headers are checked before its body is read (`check_answer`; the body
/// of a refused answer is abandoned unread), then the body is read up to the cap
/// (`read_capped`). The answer's `ETag` comes with the bytes (cross-origin, only when the
/// server lists it in `Access-Control-Expose-Headers`; see [`crate::version`]).
pub async fn fetch_bytes(
    url: &AllowedUrl,
    want: Want,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<Answer, FetchFailure> {
    let untagged = || Answer {
        bytes: Vec::new(),
        version: Version::new(url.as_str(), None),
    };
    if let Want::Range { length, .. } = want {
        if length > MAX_MESSAGE_BYTES {
            return Err(FetchFailure::TooLarge {
                url: url.to_string(),
                limit: MAX_MESSAGE_BYTES,
                size: Some(length),
            });
        }
        if length == 0 {
            return Ok(untagged());
        }
    }
    if let Want::Tail { length: 0, .. } = want {
        return Ok(untagged());
    }
    // Each request starts in a task of its own: a view starts fifty at once, and a `fetch`
    // call costs about a millisecond of the page's thread, so together they would be one
    // long task.
    crate::timers::yield_now().await;
    let response = send(url, want, signal).await?;
    if let Err(failure) = check_answer(&response, url, want) {
        discard(&response);
        return Err(failure);
    }
    let version = Version::new(url.as_str(), response.headers().get("etag"));
    let bytes = read_capped(&response, want.limit(), url).await?;
    if let Want::Range { length, .. } = want {
        if (bytes.len() as u64) < length {
            return Err(FetchFailure::Short {
                url: url.to_string(),
                expected: length,
                got: bytes.len() as u64,
            });
        }
    }
    Ok(Answer { bytes, version })
}

impl Want {
    /// The most bytes the answer may have: the cap of a whole file (or of a tail, which may
    /// come whole), the length of a range.
    pub fn limit(&self) -> u64 {
        match *self {
            Self::Whole { max } | Self::Tail { max, .. } => max,
            Self::Range { length, .. } => length,
        }
    }

    /// The first and last byte of a range (`None` for a whole file or a tail).
    pub fn bytes(&self) -> Option<(u64, u64)> {
        match *self {
            Self::Whole { .. } | Self::Tail { .. } => None,
            Self::Range { offset, length } => {
                Some((offset, offset.saturating_add(length.saturating_sub(1))))
            }
        }
    }

    /// The `Range` header asking for it, if any.
    pub fn range_header(&self) -> Option<String> {
        match *self {
            Self::Whole { .. } => None,
            Self::Range { .. } => self.bytes().map(|(a, b)| format!("bytes={a}-{b}")),
            Self::Tail { length, .. } => Some(format!("bytes=-{length}")),
        }
    }
}

/// Sends the GET request for `want` of `url` (a `Range` header for a range); a rejection is
/// classified by its kind ([`classify`]).
async fn send(
    url: &AllowedUrl,
    want: Want,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<Response, FetchFailure> {
    let mut request = Request::get(url.as_str())
        .mode(RequestMode::Cors)
        .redirect(RequestRedirect::Error)
        .abort_signal(signal);
    if let Some(range) = want.range_header() {
        request = request.header("Range", &range);
    }
    // Files read whole (`config.json`, the catalog, the borders) change in place: asked of the
    // server each time (a `304` when unchanged), or a browser could keep showing a catalog
    // without the newest run (a file served without `Cache-Control` counts as fresh for a tenth
    // of its age). Ranges are of files that do not change under their name.
    if matches!(want, Want::Whole { .. }) {
        request = request.cache(RequestCache::NoCache);
    }
    // gloo-net turns the rejection into its `JsError` (name + message), which keeps the kind.
    // (Its conversion assumes an `Error` object: true of fetch rejections, which are
    // `TypeError` or the `AbortError` DOMException as long as no abort reason is given — the
    // app never passes one.)
    request.send().await.map_err(|e| match e {
        gloo_net::Error::JsError(js) => classify(url, &js.name, js.message),
        other => FetchFailure::Network {
            url: url.to_string(),
            message: other.to_string(),
        },
    })
}

/// Checks an answer before its body is read: the status `want` calls for (`206` for a range,
/// `200` for a whole file, either for a tail; a `200` to a range is a server that dropped
/// `Range`), the
/// `Content-Range` of a `206` when the server exposes it, and a `Content-Length` within the
/// cap.
fn check_answer(response: &Response, url: &AllowedUrl, want: Want) -> Result<(), FetchFailure> {
    let status = response.status();
    match (status, want) {
        (206, Want::Range { .. }) | (200, Want::Whole { .. }) | (200 | 206, Want::Tail { .. }) => {}
        (200, Want::Range { .. }) => {
            return Err(FetchFailure::RangeIgnored {
                url: url.to_string(),
            })
        }
        (404, _) => {
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
    let headers = response.headers();
    if let Some(asked) = want.bytes() {
        // Content-Range is readable cross-origin only when the server exposes it.
        if let Some(got) = headers.get("content-range") {
            if parse_content_range(&got) != Some(asked) {
                return Err(FetchFailure::WrongRange {
                    url: url.to_string(),
                    asked: format!("bytes {}-{}", asked.0, asked.1),
                    got,
                });
            }
        }
    }
    let limit = want.limit();
    let announced = headers
        .get("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced.filter(|&n| n > limit) {
        Some(n) => Err(FetchFailure::TooLarge {
            url: url.to_string(),
            limit,
            size: Some(n),
        }),
        None => Ok(()),
    }
}

/// Reads a body chunk by chunk, cancelling it once it passes `limit` bytes. (gloo-net's
/// `binary()` reads the whole body whatever its size, so the stream is read with `web-sys`.)
async fn read_capped(
    response: &Response,
    limit: u64,
    url: &AllowedUrl,
) -> Result<Vec<u8>, FetchFailure> {
    let read_error = |e: JsValue| classify(url, &js_name(&e), js_error("body", &e));
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    let reader: web_sys::ReadableStreamDefaultReader = body
        .get_reader()
        .dyn_into()
        .map_err(|e| read_error(e.into()))?;
    let mut out = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(read_error)?;
        let done = js_sys::Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return Ok(out);
        }
        let value = js_sys::Reflect::get(&chunk, &JsValue::from_str("value"))
            .map_err(read_error)?
            .dyn_into::<js_sys::Uint8Array>()
            .map_err(read_error)?;
        if out.len() as u64 + u64::from(value.length()) > limit {
            let _ = reader.cancel();
            return Err(FetchFailure::TooLarge {
                url: url.to_string(),
                limit,
                size: None,
            });
        }
        let start = out.len();
        out.resize(start + value.length() as usize, 0);
        value.copy_to(&mut out[start..]);
    }
}

/// `config.json`, its URL policy, and a note when it was absent (defaults used).
pub struct Site {
    /// The configuration.
    pub config: Config,
    /// The URLs the page may fetch.
    pub policy: UrlPolicy,
    /// Shown to the user when `config.json` was not found.
    pub note: Option<String>,
}

/// Fetches and parses `config.json` next to the page. A missing file gives the defaults and a
/// note.
pub async fn load_config() -> Result<Site, LoadError> {
    let page = page_policy()?;
    let read = read_whole(&page, "config.json", MAX_CONFIG_BYTES, "config.json").await;
    let (config, note) = match read {
        Ok((_, bytes)) => (Config::from_json(&bytes)?, None),
        Err(LoadError::Fetch {
            failure: FetchFailure::NotFound { .. },
            ..
        }) => (
            Config::default(),
            Some("config.json not found: reading catalog.json next to the page, from the public buckets".into()),
        ),
        Err(e) => return Err(e),
    };
    let policy = config.policy(&page_url())?;
    let mut note = note;
    let doctor = match &config.doctor {
        None => None,
        Some(path) => match read_doctor(&policy, path).await {
            Ok(report) => Some(report),
            Err(e) => {
                note = Some(format!("{e}; the sources are tried in config.json's order"));
                None
            }
        },
    };
    ROUTER.with(|r| {
        *r.borrow_mut() = Some(Rc::new(SourceRouter::new(&config.sources, doctor.as_ref())))
    });
    Ok(Site {
        config,
        policy,
        note,
    })
}

/// Largest doctor report read (a few KB per source).
pub const MAX_DOCTOR_BYTES: u64 = 1 << 20;

/// Reads the `gik doctor` report at `path` (relative to the page).
async fn read_doctor(policy: &UrlPolicy, path: &str) -> Result<DoctorOrder, LoadError> {
    let file = format!("the doctor report {path}");
    let (_, bytes) = read_whole(policy, path, MAX_DOCTOR_BYTES, &file).await?;
    DoctorOrder::from_json(&bytes).map_err(|e| LoadError::malformed(file, e))
}

/// Fetches the whole file at `path` (relative to the page, or absolute on an allowed host), at
/// most `max` bytes; returns its URL and bytes. `file` names it in errors.
async fn read_whole(
    policy: &UrlPolicy,
    path: &str,
    max: u64,
    file: &str,
) -> Result<(AllowedUrl, Vec<u8>), LoadError> {
    let url = policy
        .resolve(path, None)
        .map_err(|e| LoadError::fetch(file, e))?;
    let answer = fetch_bytes(&url, Want::Whole { max }, None)
        .await
        .map_err(|e| LoadError::fetch(file, e))?;
    Ok((url, answer.bytes))
}

thread_local! {
    /// The page's sources, set when `config.json` is read (the page is single-threaded).
    static ROUTER: RefCell<Option<Rc<SourceRouter>>> = const { RefCell::new(None) };
    /// Where the page shows which source served the map.
    static NOTES: RefCell<Option<leptos::prelude::RwSignal<Vec<String>>>> = const { RefCell::new(None) };
}

/// Shows which source served the map (and which hosts failed) as one line of `notes`.
pub fn report_sources_to(notes: leptos::prelude::RwSignal<Vec<String>>) {
    NOTES.with(|n| *n.borrow_mut() = Some(notes));
}

/// Replaces the sources line of the notes, if it changed.
fn show_sources(router: &SourceRouter) {
    use leptos::prelude::{Update, WithUntracked};
    let Some(line) = router.describe() else {
        return;
    };
    NOTES.with(|n| {
        if let Some(notes) = *n.borrow() {
            if notes.with_untracked(|v| v.contains(&line)) {
                return;
            }
            notes.update(|v| {
                v.retain(|x| !x.starts_with(NOTE_PREFIX));
                v.push(line);
            });
        }
    });
}

/// Whether a failure says the host (not the file) is the problem for this page.
fn host_failed(f: &FetchFailure) -> bool {
    match f {
        FetchFailure::CrossOrigin { .. }
        | FetchFailure::Network { .. }
        | FetchFailure::RangeIgnored { .. } => true,
        FetchFailure::Status { status, .. } => *status == 403 || *status == 429 || *status >= 500,
        _ => false,
    }
}

/// Fetches one message (a byte range of `url`, a canonical URL from a manifest) from the
/// product's sources in turn (see [`crate::sources`]); a URL under no source is fetched as it
/// is. A host that fails is moved down for the rest of the page's life. The answer's version
/// names the URL that served it.
pub async fn fetch_message(
    policy: &UrlPolicy,
    url: &AllowedUrl,
    want: Want,
    signal: Option<&web_sys::AbortSignal>,
) -> Result<Answer, FetchFailure> {
    let router = ROUTER.with(|r| r.borrow().clone());
    let candidates = router
        .as_ref()
        .map(|r| r.candidates(url.as_str()))
        .unwrap_or_default();
    let Some(router) = router.filter(|_| !candidates.is_empty()) else {
        return fetch_bytes(url, want, signal).await;
    };
    let (mut not_found, mut last) = (None, None);
    for (base, candidate) in candidates {
        let allowed = match policy.resolve(&candidate, None) {
            Ok(u) => u,
            Err(e) => {
                last = Some(FetchFailure::from(e));
                continue;
            }
        };
        match fetch_bytes(&allowed, want, signal).await {
            Ok(answer) => {
                router.record_served(&base);
                show_sources(&router);
                return Ok(answer);
            }
            Err(e) if e.is_aborted() => return Err(e),
            Err(e @ FetchFailure::NotFound { .. }) => {
                not_found.get_or_insert(e);
            }
            Err(e) if host_failed(&e) => {
                router.mark_failed(&base);
                show_sources(&router);
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(not_found.or(last).unwrap_or(FetchFailure::NotFound {
        url: url.to_string(),
    }))
}

/// The catalog's URL, as `config.json` names it.
pub fn catalog_url(site: &Site) -> Result<AllowedUrl, LoadError> {
    site.policy
        .resolve(&site.config.catalog, None)
        .map_err(|e| LoadError::fetch("the catalog", e))
}

/// Fetches the catalog's bytes (at most [`MAX_CATALOG_BYTES`]); returns them with its URL.
pub async fn fetch_catalog(site: &Site) -> Result<(AllowedUrl, Vec<u8>), LoadError> {
    read_whole(
        &site.policy,
        &site.config.catalog,
        MAX_CATALOG_BYTES,
        "the catalog",
    )
    .await
}

/// Parses catalog bytes read from `url`.
pub fn parse_catalog(
    url: &AllowedUrl,
    bytes: &[u8],
) -> Result<gik_core::catalog::Catalog, LoadError> {
    gik_core::catalog::Catalog::from_json(bytes).map_err(|e| LoadError::malformed(url.as_str(), e))
}

/// Fetches a file served with the page (`borders/borders-50m.json`), at most `max` bytes.
pub async fn load_page_file(path: &str, max: u64) -> Result<Vec<u8>, LoadError> {
    let (_, bytes) = read_whole(&page_policy()?, path, max, path).await?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_parsing() {
        let c = Config::from_json(b"{}").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.catalog, "catalog.json");
        assert_eq!(c.allowed_hosts.len(), 2);
        use gik_core::product::{ECMWF_SOURCES, GEFS_SOURCES};
        assert_eq!(c.sources["gefs"].len(), GEFS_SOURCES.len());
        assert_eq!(c.sources["ecmwf"][0], ECMWF_SOURCES[0].base);
        assert!(c.doctor.is_none());
        let c = Config::from_json(
            br#"{"catalog": "data/catalog.json", "allowed_hosts": [], "mirror": ""}"#,
        )
        .unwrap();
        assert_eq!(c.catalog, "data/catalog.json");
        assert!(c.allowed_hosts.is_empty() && c.mirror.is_none());
        assert!(Config::from_json(b"[1]")
            .unwrap_err()
            .to_string()
            .contains("config.json"));
        assert!(Config::default().policy("http://127.0.0.1:8080/").is_ok());
        let bad = Config {
            allowed_hosts: vec!["noaa-gefs-pds.s3.amazonaws.com".into()],
            ..Config::default()
        };
        assert!(bad
            .policy("http://127.0.0.1:8080/")
            .unwrap_err()
            .to_string()
            .contains("allowed_hosts"));
    }

    #[test]
    fn wants_say_their_cap_and_bytes() {
        let range = Want::Range {
            offset: 10,
            length: 5,
        };
        assert_eq!((range.limit(), range.bytes()), (5, Some((10, 14))));
        let whole = Want::Whole { max: 7 };
        assert_eq!((whole.limit(), whole.bytes()), (7, None));
        let tail = Want::Tail {
            length: 8192,
            max: 1 << 20,
        };
        assert_eq!((tail.limit(), tail.bytes()), (1 << 20, None));
        assert_eq!(range.range_header().as_deref(), Some("bytes=10-14"));
        assert_eq!(tail.range_header().as_deref(), Some("bytes=-8192"));
        assert_eq!(whole.range_header(), None);
    }

    #[test]
    fn load_errors_name_the_file_and_why() {
        let missing = LoadError::fetch(
            "the catalog",
            FetchFailure::NotFound {
                url: "https://site.example/catalog.json".into(),
            },
        );
        assert_eq!(
            missing.to_string(),
            "cannot read the catalog: 404 Not Found: https://site.example/catalog.json \
             (not published yet, or removed)"
        );
        let bad = LoadError::malformed("the doctor report doctor.json", "expected value");
        assert_eq!(
            bad.to_string(),
            "the doctor report doctor.json: expected value"
        );
    }

    #[test]
    fn a_shared_answer_is_cut_with_its_version() {
        let answer = Answer {
            bytes: (0..10).collect(),
            version: Version::new("https://m/f", Some("\"1\"".into())),
        };
        let part = answer.cut(2, 5);
        assert_eq!(part.bytes, [2, 3, 4]);
        assert_eq!(part.version, answer.version);
        assert!(answer.cut(8, 12).bytes.is_empty());
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99)));
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5, 5)));
        assert_eq!(parse_content_range("bytes 10-99/50"), None);
        assert_eq!(parse_content_range("bytes 9-3/50"), None);
        assert_eq!(parse_content_range("bytes */1000"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
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
        assert!(FetchFailure::RangeIgnored { url: "u".into() }
            .to_string()
            .contains("ignored the Range"));
        assert!(FetchFailure::Aborted.is_aborted());
    }
}
