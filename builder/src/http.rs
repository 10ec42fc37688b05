//! Range and index fetching over HTTP(S), with bounded concurrency, timeouts and retries.
//!
//! One [`HttpClient`] is shared by a whole build (or stream job) so connections are reused. Every
//! request has a connect timeout and an overall timeout. Transient failures — 5xx (including
//! S3's `503 SlowDown`), 429, 408, timeouts, connection resets and bodies cut short — are retried
//! with exponential backoff and full jitter, up to [`RetryConfig::max_retries`]. A 404 means "not
//! published (yet)" and is reported at once, never retried.
//!
//! Bodies are bounded. Sizes come from places gik does not control — an index file's offsets,
//! a manifest's lengths, a server's `Content-Length` — so every body has a cap by what it is
//! ([`BodyLimits`], defaults [`MAX_INDEX_BYTES`], [`MAX_MANIFEST_BYTES`], [`MAX_CATALOG_BYTES`],
//! [`MAX_MESSAGE_BYTES`]). A body is read chunk by chunk and reading stops at the cap (or, for a
//! Range request, at the length asked for): an over-cap answer is a [`FetchError::TooLarge`]
//! naming the URL and the size, never a multi-GB download. A server that ignores `Range` and
//! answers `200` with the whole object is an error at once; its body is not read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use tokio::sync::Semaphore;

/// Cap on an index file (`.idx`, `.index`): the largest real ones (an ECMWF ensemble step,
/// 51 members × ~100 fields, JSON lines) are a few MB.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// Cap on a member manifest (parquet): a whole ECMWF member with every variable and step is
/// ~150 KB today.
pub const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// Cap on `catalog.json`: a few KB per run, and runs are pruned.
pub const MAX_CATALOG_BYTES: u64 = 64 << 20;
/// Cap on one GRIB2 message (one Range request): a global 0.25° field is 0.5–4 MB, and even a
/// 0.01° grid of 32-bit values stays under this.
pub const MAX_MESSAGE_BYTES: u64 = 1 << 30;

/// What a whole-object GET fetches, which decides its size cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectKind {
    /// An index file beside a GRIB2 file.
    Index,
    /// A member manifest.
    Manifest,
    /// `catalog.json`.
    Catalog,
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.noun())
    }
}

impl ObjectKind {
    fn noun(self) -> &'static str {
        match self {
            Self::Index => "index file",
            Self::Manifest => "manifest",
            Self::Catalog => "catalog",
        }
    }
}

/// Size caps on bodies, by what they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// Index files ([`MAX_INDEX_BYTES`]).
    pub index: u64,
    /// Member manifests ([`MAX_MANIFEST_BYTES`]).
    pub manifest: u64,
    /// Catalogs ([`MAX_CATALOG_BYTES`]).
    pub catalog: u64,
    /// One GRIB2 message read with a Range request ([`MAX_MESSAGE_BYTES`]).
    pub message: u64,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            index: MAX_INDEX_BYTES,
            manifest: MAX_MANIFEST_BYTES,
            catalog: MAX_CATALOG_BYTES,
            message: MAX_MESSAGE_BYTES,
        }
    }
}

impl BodyLimits {
    /// The cap for a whole object of `kind`.
    pub fn for_kind(&self, kind: ObjectKind) -> u64 {
        match kind {
            ObjectKind::Index => self.index,
            ObjectKind::Manifest => self.manifest,
            ObjectKind::Catalog => self.catalog,
        }
    }

    /// The cap of [`HttpClient::get`], which does not say what it fetches: the largest.
    fn any_object(&self) -> u64 {
        self.index.max(self.manifest).max(self.catalog)
    }
}

/// How requests are retried.
#[derive(Clone, Debug)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Upper bound of one backoff.
    pub max_backoff: Duration,
    /// Deadline of one attempt (connect + response + body).
    pub request_timeout: Duration,
    /// Deadline for establishing a connection.
    pub connect_timeout: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 6,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a fetch failed, after retries.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered 404: the file is not published (yet).
    #[error("{url}: not found (404)")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// The server answered with an error status that is not retried, or kept failing.
    #[error("{url}: HTTP {status} after {attempts} attempt(s)")]
    Status {
        /// The URL.
        url: String,
        /// Last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// Network failure (connect, reset, timeout, truncated body) that kept happening.
    #[error("{url}: {reason} after {attempts} attempt(s) in {elapsed:.1?}")]
    Network {
        /// The URL.
        url: String,
        /// What went wrong the last time.
        reason: String,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
    },
    /// The body is larger than its cap (declared by `Content-Length`, or counted while
    /// reading, which stopped there), or a Range request asks for more than a message's cap.
    #[error("{url}: {what} of {size} bytes or more is over the cap of {cap} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// What was fetched (`index file`, `manifest`, `catalog`, `GRIB2 message`).
        what: &'static str,
        /// The size declared, asked for, or read before stopping.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The server ignored the Range header or returned the wrong number of bytes.
    #[error("{url}: asked for bytes {offset}+{length}, {reason}")]
    BadRange {
        /// The URL.
        url: String,
        /// Requested offset.
        offset: u64,
        /// Requested length.
        length: u64,
        /// What came back.
        reason: String,
    },
}

impl FetchError {
    /// Whether the failure means the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// Counters for the end-of-run summary and benchmarks.
#[derive(Debug, Default)]
pub struct FetchStats {
    /// Requests sent, including retries.
    pub requests: AtomicU64,
    /// Retries.
    pub retries: AtomicU64,
    /// Body bytes received.
    pub bytes: AtomicU64,
}

/// A shared HTTP client with a concurrency limit and retries.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    retry: RetryConfig,
    permits: Arc<Semaphore>,
    stats: Arc<FetchStats>,
    limits: BodyLimits,
}

enum Attempt<T> {
    Done(T),
    Fatal(FetchError),
    Retry(String, Option<u16>),
}

impl HttpClient {
    /// A client allowing `concurrency` requests in flight.
    pub fn new(concurrency: usize, retry: RetryConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(retry.connect_timeout)
            .timeout(retry.request_timeout)
            .pool_max_idle_per_host(concurrency.max(1))
            .user_agent(concat!("gik/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            retry,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            stats: Arc::new(FetchStats::default()),
            limits: BodyLimits::default(),
        })
    }

    /// The same client with other body caps (tests use small ones).
    #[must_use]
    pub fn with_limits(mut self, limits: BodyLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The body caps in force.
    pub fn limits(&self) -> BodyLimits {
        self.limits
    }

    /// Request counters.
    pub fn stats(&self) -> &FetchStats {
        &self.stats
    }

    /// GET a whole small object whose kind is not stated, capped at the largest of the
    /// whole-object caps. Prefer [`HttpClient::get_object`], which caps by kind.
    pub async fn get(&self, url: &str) -> Result<Bytes, FetchError> {
        self.get_capped(url, self.limits.any_object(), "object")
            .await
    }

    /// GET a whole index file, manifest or catalog, capped by its kind ([`BodyLimits`]).
    pub async fn get_object(&self, url: &str, kind: ObjectKind) -> Result<Bytes, FetchError> {
        self.get_capped(url, self.limits.for_kind(kind), kind.noun())
            .await
    }

    async fn get_capped(
        &self,
        url: &str,
        cap: u64,
        what: &'static str,
    ) -> Result<Bytes, FetchError> {
        let too_large = |size: u64| {
            Attempt::Fatal(FetchError::TooLarge {
                url: url.to_string(),
                what,
                size,
                cap,
            })
        };
        self.with_retries(url, || async {
            let response = match self.client.get(url).send().await {
                Ok(r) => r,
                Err(e) => return Attempt::Retry(describe(&e), None),
            };
            if let Some(outcome) = classify(url, response.status()) {
                return outcome;
            }
            let expected = response.content_length();
            match read_capped(response, cap).await {
                Ok(body) if expected.is_none_or(|n| n == body.len() as u64) => Attempt::Done(body),
                Ok(body) => Attempt::Retry(
                    format!("body cut short ({} of {:?} bytes)", body.len(), expected),
                    None,
                ),
                Err(BodyError::OverCap(size)) => too_large(size),
                Err(BodyError::Network(e)) => Attempt::Retry(describe(&e), None),
            }
        })
        .await
    }

    /// GET bytes `offset .. offset + length` of an object with a Range request; checks that
    /// exactly those bytes came back, and never reads more than `length` body bytes. A length
    /// over the message cap ([`BodyLimits::message`]) is refused before any request.
    pub async fn get_range(
        &self,
        url: &str,
        offset: u64,
        length: u64,
    ) -> Result<Bytes, FetchError> {
        let bad_range = |reason: String| FetchError::BadRange {
            url: url.to_string(),
            offset,
            length,
            reason,
        };
        if length > self.limits.message {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                what: "GRIB2 message",
                size: length,
                cap: self.limits.message,
            });
        }
        let last = offset
            .checked_add(length.max(1) - 1)
            .ok_or_else(|| bad_range("the range ends past 2^64 bytes".into()))?;
        let range = format!("bytes={offset}-{last}");
        self.with_retries(url, || async {
            let response = match self.client.get(url).header("Range", &range).send().await {
                Ok(r) => r,
                Err(e) => return Attempt::Retry(describe(&e), None),
            };
            let status = response.status();
            if let Some(outcome) = classify(url, status) {
                return outcome;
            }
            if status != StatusCode::PARTIAL_CONTENT {
                // The body (possibly the whole multi-GB object) is not read: dropping the
                // response closes the connection.
                let size = response
                    .content_length()
                    .map_or(String::new(), |n| format!(" of {n} bytes"));
                return Attempt::Fatal(bad_range(format!(
                    "server answered {status}{size} instead of 206 (Range ignored?)"
                )));
            }
            if let Some(n) = response.content_length().filter(|&n| n > length) {
                return Attempt::Fatal(bad_range(format!(
                    "server announced a {n}-byte body for the range"
                )));
            }
            match read_capped(response, length).await {
                Ok(body) if body.len() as u64 == length => Attempt::Done(body),
                Ok(body) => Attempt::Retry(
                    format!("range body cut short ({} of {length} bytes)", body.len()),
                    None,
                ),
                Err(BodyError::OverCap(_)) => {
                    Attempt::Fatal(bad_range("server sent more bytes than asked for".into()))
                }
                Err(BodyError::Network(e)) => Attempt::Retry(describe(&e), None),
            }
        })
        .await
    }

    /// HEAD an object and return its size.
    pub async fn head_size(&self, url: &str) -> Result<u64, FetchError> {
        self.with_retries(url, || async {
            let response = match self.client.head(url).send().await {
                Ok(r) => r,
                Err(e) => return Attempt::Retry(describe(&e), None),
            };
            if let Some(outcome) = classify(url, response.status()) {
                return outcome;
            }
            match response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
            {
                Some(n) => Attempt::Done(n),
                None => Attempt::Fatal(FetchError::Status {
                    url: url.to_string(),
                    status: response.status().as_u16(),
                    attempts: 1,
                }),
            }
        })
        .await
    }

    async fn with_retries<T, F, Fut>(&self, url: &str, mut attempt: F) -> Result<T, FetchError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
        T: BodyLen,
    {
        let start = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = {
                let _permit = self.permits.acquire().await;
                self.stats.requests.fetch_add(1, Ordering::Relaxed);
                attempt().await
            };
            match outcome {
                Attempt::Done(value) => {
                    self.stats
                        .bytes
                        .fetch_add(value.body_len(), Ordering::Relaxed);
                    return Ok(value);
                }
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry(reason, status) => {
                    if attempts > self.retry.max_retries {
                        return Err(match status {
                            Some(status) => FetchError::Status {
                                url: url.to_string(),
                                status,
                                attempts,
                            },
                            None => FetchError::Network {
                                url: url.to_string(),
                                reason,
                                attempts,
                                elapsed: start.elapsed(),
                            },
                        });
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let delay = backoff(&self.retry, attempts);
                    tracing::debug!(url, %reason, attempt = attempts, ?delay, "retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// Why a body could not be read whole.
enum BodyError {
    /// More than the cap: the size declared, or read when reading stopped.
    OverCap(u64),
    /// The connection failed while reading.
    Network(reqwest::Error),
}

/// Reads a response body chunk by chunk, stopping as soon as it passes `cap` bytes (and at
/// once if `Content-Length` already says it will).
async fn read_capped(mut response: reqwest::Response, cap: u64) -> Result<Bytes, BodyError> {
    if let Some(n) = response.content_length().filter(|&n| n > cap) {
        return Err(BodyError::OverCap(n));
    }
    // Preallocate what was announced, up to 8 MiB (an announcement is not a promise).
    let announced = response.content_length().unwrap_or(0).min(8 << 20);
    let mut body = bytes::BytesMut::with_capacity(announced as usize);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Network)? {
        let size = body.len() as u64 + chunk.len() as u64;
        if size > cap {
            return Err(BodyError::OverCap(size));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Sizes of successful results, for the byte counter.
trait BodyLen {
    fn body_len(&self) -> u64;
}

impl BodyLen for Bytes {
    fn body_len(&self) -> u64 {
        self.len() as u64
    }
}

impl BodyLen for u64 {
    fn body_len(&self) -> u64 {
        0
    }
}

/// `None` when the status is a success; otherwise whether to give up or retry.
fn classify<T>(url: &str, status: StatusCode) -> Option<Attempt<T>> {
    if status.is_success() {
        return None;
    }
    if status == StatusCode::NOT_FOUND {
        return Some(Attempt::Fatal(FetchError::NotFound {
            url: url.to_string(),
        }));
    }
    let transient = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT;
    Some(if transient {
        Attempt::Retry(format!("HTTP {status}"), Some(status.as_u16()))
    } else {
        Attempt::Fatal(FetchError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            attempts: 1,
        })
    })
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("connection failed: {e}")
    } else {
        format!("connection error: {e}")
    }
}

/// Exponential backoff with full jitter: a uniform delay in `[0, min(max, initial·2^n)]`.
pub(crate) fn backoff(config: &RetryConfig, attempt: u32) -> Duration {
    let ceiling = config
        .initial_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(config.max_backoff);
    ceiling.mul_f64(jitter())
}

/// A number in [0.1, 1): cheap randomness, enough to spread retries apart.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    0.1 + 0.9 * (h.finish() % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(800),
            ..RetryConfig::default()
        };
        for attempt in 1..20 {
            let d = backoff(&c, attempt);
            let cap = Duration::from_millis(100 * (1u64 << (attempt - 1).min(3)));
            assert!(d <= cap.min(Duration::from_millis(800)), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn statuses_are_classified() {
        assert!(classify::<()>("u", StatusCode::OK).is_none());
        assert!(matches!(
            classify::<()>("u", StatusCode::NOT_FOUND),
            Some(Attempt::Fatal(FetchError::NotFound { .. }))
        ));
        assert!(matches!(
            classify::<()>("u", StatusCode::SERVICE_UNAVAILABLE),
            Some(Attempt::Retry(_, Some(503)))
        ));
        assert!(matches!(
            classify::<()>("u", StatusCode::FORBIDDEN),
            Some(Attempt::Fatal(FetchError::Status { status: 403, .. }))
        ));
    }
}
