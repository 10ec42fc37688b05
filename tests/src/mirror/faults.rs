//! Injected failures: what S3 and flaky networks do to a client that fetches thousands of
//! ranges, reproduced on demand.
//!
//! A [`FaultRule`] says *what* goes wrong ([`FaultKind`]) and *to which requests* (a path glob,
//! a number of matching requests to let through first, how many times, or request ordinals).
//! Rules live behind a shared [`Faults`] handle so a test can add one while a build is running,
//! e.g. make one ensemble member's file disappear halfway through.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What happens to a request a rule fires on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `503 Slow Down` with S3's XML body (`<Code>SlowDown</Code>`).
    SlowDown,
    /// `404 Not Found` with S3's `NoSuchKey` XML body, as if the object did not exist.
    NotFound,
    /// Any other status with an S3-style XML error body (e.g. 500 `InternalError`, 403).
    Status(u16),
    /// The connection is closed without an answer (the client sees EOF or a reset).
    Reset,
    /// Headers announce the full `Content-Length`, then only `keep` body bytes are sent and
    /// the connection is closed.
    Truncate {
        /// Body bytes sent before closing.
        keep: u64,
    },
    /// The answer is delayed by this much on top of the configured latency, then sent
    /// normally (for client timeouts).
    Delay(Duration),
    /// The `Range` header is ignored: `200` with the whole object, as a proxy that drops
    /// `Range` answers.
    IgnoreRange,
    /// As [`FaultKind::IgnoreRange`], with the whole object sent at this pace: a client that
    /// does not stop the download is still downloading long after it had what it needed, and
    /// the request's log record (written when the connection ends) shows how far it got.
    IgnoreRangeSlowly {
        /// Body bytes per second.
        bytes_per_second: u64,
    },
    /// `302 Found` to this URL (the path of the request appended), as a bucket or proxy that
    /// redirects.
    Redirect(String),
}

/// One fault and the requests it applies to. Only `GET` and `HEAD` requests are considered
/// (CORS preflights are never faulted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    kind: FaultKind,
    pattern: String,
    skip: u64,
    times: Option<u64>,
    request_numbers: Option<Vec<u64>>,
    every: Option<u64>,
    seen: u64,
    fired: u64,
}

impl FaultRule {
    /// A rule of `kind` matching every path, every time.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            pattern: "*".into(),
            skip: 0,
            times: None,
            request_numbers: None,
            every: None,
            seen: 0,
            fired: 0,
        }
    }

    /// `503 SlowDown` answers.
    pub fn slow_down() -> Self {
        Self::new(FaultKind::SlowDown)
    }

    /// `404 NoSuchKey` answers.
    pub fn not_found() -> Self {
        Self::new(FaultKind::NotFound)
    }

    /// Answers with `status` and an S3-style error body.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status(status))
    }

    /// Connections closed without an answer.
    pub fn reset() -> Self {
        Self::new(FaultKind::Reset)
    }

    /// Bodies cut after `keep` bytes.
    pub fn truncate(keep: u64) -> Self {
        Self::new(FaultKind::Truncate { keep })
    }

    /// Answers delayed by `delay`.
    pub fn delay(delay: Duration) -> Self {
        Self::new(FaultKind::Delay(delay))
    }

    /// Whole-object `200` answers to Range requests.
    pub fn ignore_range() -> Self {
        Self::new(FaultKind::IgnoreRange)
    }

    /// Whole-object `200` answers to Range requests, sent at `bytes_per_second`.
    pub fn ignore_range_slowly(bytes_per_second: u64) -> Self {
        Self::new(FaultKind::IgnoreRangeSlowly {
            bytes_per_second: bytes_per_second.max(1),
        })
    }

    /// `302` redirects to `base` followed by the request's path.
    pub fn redirect(base: &str) -> Self {
        Self::new(FaultKind::Redirect(base.trim_end_matches('/').to_string()))
    }

    /// Only paths matching `glob` (`*` any run of characters, `?` one character), matched
    /// against the whole path without its leading `/`, e.g. `"*gep05*"` or
    /// `"noaa-gefs-pds/gefs.20250801/00/*f240.idx"`.
    pub fn path(mut self, glob: &str) -> Self {
        self.pattern = glob.trim_start_matches('/').to_string();
        self
    }

    /// Fire at most `n` times (a burst), then let requests through.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Let the first `n` matching requests through before firing.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    /// Only requests with these 1-based ordinals (counted over all requests the server has
    /// parsed since it started or since its statistics were last reset).
    pub fn on_requests(mut self, ordinals: impl IntoIterator<Item = u64>) -> Self {
        self.request_numbers = Some(ordinals.into_iter().collect());
        self
    }

    /// Only requests whose ordinal is a multiple of `n` (every n-th request).
    pub fn every(mut self, n: u64) -> Self {
        self.every = Some(n.max(1));
        self
    }

    /// What this rule does.
    pub fn kind(&self) -> &FaultKind {
        &self.kind
    }

    /// How many times this rule has fired.
    pub fn fired(&self) -> u64 {
        self.fired
    }

    /// Whether the rule fires for this request, updating its counters.
    fn check(&mut self, path: &str, ordinal: u64) -> bool {
        if let Some(numbers) = &self.request_numbers {
            if !numbers.contains(&ordinal) {
                return false;
            }
        }
        if self.every.is_some_and(|n| !ordinal.is_multiple_of(n)) {
            return false;
        }
        if !glob_match(self.pattern.as_bytes(), path.as_bytes()) {
            return false;
        }
        self.seen += 1;
        if self.seen <= self.skip {
            return false;
        }
        if self.times.is_some_and(|t| self.fired >= t) {
            return false;
        }
        self.fired += 1;
        true
    }
}

/// The shared, runtime-changeable list of fault rules of one server.
///
/// Rules are tried in order; the first that fires decides what happens to a request.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    rules: Arc<Mutex<Vec<FaultRule>>>,
}

impl Faults {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<FaultRule>> {
        self.rules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces all rules.
    pub fn set(&self, rules: Vec<FaultRule>) {
        *self.lock() = rules;
    }

    /// Appends a rule.
    pub fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    /// Removes all rules.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// A snapshot of the rules with their counters.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.lock().clone()
    }

    /// Total number of times any current rule has fired.
    pub fn fired(&self) -> u64 {
        self.lock().iter().map(|r| r.fired).sum()
    }

    /// The fault for a request to `path` with the given ordinal, if any rule fires.
    pub(crate) fn pick(&self, path: &str, ordinal: u64) -> Option<FaultKind> {
        self.lock()
            .iter_mut()
            .find_map(|rule| rule.check(path, ordinal).then(|| rule.kind.clone()))
    }
}

/// Glob match with `*` (any run, including empty) and `?` (one byte).
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"*gep05*", b"noaa/gefs/gep05.t00z.f003"));
        assert!(!glob_match(b"*gep05*", b"noaa/gefs/gep06.t00z.f003"));
        assert!(glob_match(b"a?c*.idx", b"abc/x.idx"));
        assert!(!glob_match(b"a?c*.idx", b"abc/x.idxx"));
        assert!(glob_match(b"*a*b*c", b"xxaxxbxxbc"));
    }

    #[test]
    fn skip_times_and_ordinals() {
        let faults = Faults::new();
        faults.add(FaultRule::slow_down().path("*.idx").skip(1).times(2));
        faults.add(FaultRule::reset().on_requests([7]));
        let picks: Vec<_> = (1..=6).map(|i| faults.pick("a.idx", i)).collect();
        assert_eq!(
            picks,
            [
                None,
                Some(FaultKind::SlowDown),
                Some(FaultKind::SlowDown),
                None,
                None,
                None
            ]
        );
        assert_eq!(faults.pick("a.grib2", 7), Some(FaultKind::Reset));
        assert_eq!(faults.pick("a.grib2", 8), None);
        assert_eq!(faults.fired(), 3);
        faults.clear();
        assert_eq!(faults.pick("a.idx", 9), None);
    }
}
