//! A local HTTP/1.1 stand-in for the S3 buckets gik reads, with knobs for bad days.
//!
//! There is no internet here, and tests against the real buckets would be slow and flaky
//! anyway. The builder and the browser app only need what S3 gives them — `GET`/`HEAD`, single
//! byte ranges (`206`, `Content-Range`, `416`), keep-alive, CORS — so this server gives exactly
//! that, over plain `std::net`, and adds what the real service does only sometimes: latency,
//! a bandwidth cap, `503 SlowDown` bursts, resets, truncated bodies and vanished objects
//! ([`faults`]). It counts everything ([`Stats`], [`RequestRecord`]) so tests can assert how
//! many requests and bytes a build cost.
//!
//! ```no_run
//! use gik_tests::mirror::{MemContent, MirrorConfig, MirrorServer, FaultRule};
//! let content = MemContent::new().with("bucket/a.idx", b"1:0:d=2025080100:TMP".to_vec());
//! let server = MirrorServer::start(MirrorConfig::new(content)).unwrap();
//! let url = format!("{}/bucket/a.idx", server.base_url());
//! server.faults().add(FaultRule::slow_down().times(2)); // the next two requests get 503
//! # drop(url);
//! ```
//!
//! One thread accepts, one thread serves each connection; the server stops (and its port is
//! released) when the [`MirrorServer`] is dropped.

pub mod content;
pub mod faults;
pub mod http;

pub use content::{content_type_for, Content, DirContent, MemContent, Mount, Replaceable};
pub use faults::{FaultKind, FaultRule, Faults};

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use gik_core::fnv::fnv1a64;
use http::{RangeRequest, Request};

/// How often blocked reads wake up to check for shutdown and idle timeout.
const POLL: Duration = Duration::from_millis(50);
/// Largest request head accepted (431 beyond).
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read and discarded (413 beyond).
const MAX_BODY: u64 = 1 << 20;
/// Body bytes read from the content and written per step.
const CHUNK: u64 = 256 * 1024;
/// Requests kept in the log (statistics keep counting past it).
const MAX_LOG: usize = 2_000_000;

/// How to start a [`MirrorServer`].
#[derive(Clone)]
pub struct MirrorConfig {
    /// Address to bind (default `127.0.0.1`; `0.0.0.0` to serve other machines).
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// What to serve.
    pub content: Arc<dyn Content>,
    /// Delay before every answer.
    pub latency: Duration,
    /// Total body bandwidth over all connections in bytes per second (`None`: unlimited).
    pub bandwidth: Option<u64>,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
    /// An idle keep-alive connection is closed after this long.
    pub idle_timeout: Duration,
    /// Send CORS headers (`Access-Control-Allow-Origin: *` and friends, preflights answered);
    /// `false` is a bucket without a CORS configuration, which browsers cannot read.
    pub cors: bool,
}

impl MirrorConfig {
    /// Serves `content` on `127.0.0.1`, a free port, no latency, no limits, no faults.
    pub fn new(content: impl Content + 'static) -> Self {
        Self::shared(Arc::new(content))
    }

    /// Like [`MirrorConfig::new`] with an already shared backend.
    pub fn shared(content: Arc<dyn Content>) -> Self {
        Self {
            host: Ipv4Addr::LOCALHOST.to_string(),
            port: 0,
            content,
            latency: Duration::ZERO,
            bandwidth: None,
            faults: Vec::new(),
            idle_timeout: Duration::from_secs(30),
            cors: true,
        }
    }

    /// No CORS headers at all (see [`MirrorConfig::cors`]).
    pub fn no_cors(mut self) -> Self {
        self.cors = false;
        self
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the bind address.
    pub fn host(mut self, host: &str) -> Self {
        self.host = host.to_string();
        self
    }

    /// Sets the per-request latency.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the bandwidth limit in bytes per second.
    pub fn bandwidth(mut self, bytes_per_second: Option<u64>) -> Self {
        self.bandwidth = bytes_per_second;
        self
    }

    /// Adds a fault rule.
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }
}

/// Counters over all requests since start (or [`MirrorServer::reset_stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests parsed (any method, including ones answered 400 for a bad head).
    pub requests: u64,
    /// `GET` requests.
    pub get: u64,
    /// `HEAD` requests.
    pub head: u64,
    /// `OPTIONS` requests (CORS preflights).
    pub options: u64,
    /// Requests with any other method.
    pub other_methods: u64,
    /// Requests that could not be parsed (answered 400, 413 or 431).
    pub bad_requests: u64,
    /// `GET` requests that carried a `Range` header.
    pub range_requests: u64,
    /// Response body bytes handed to sockets (counted just before each write, so a client
    /// that has received a body sees it counted).
    pub bytes_sent: u64,
    /// TCP connections accepted.
    pub connections: u64,
    /// Requests a fault rule fired on.
    pub faults: u64,
    /// Answers by status code (resets are not answers and are not counted here).
    pub by_status: BTreeMap<u16, u64>,
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// 1-based ordinal over all parsed requests.
    pub ordinal: u64,
    /// 1-based number of the connection it came on.
    pub connection: u64,
    /// Method.
    pub method: String,
    /// Decoded path without the leading `/`.
    pub path: String,
    /// The `Range` header as sent.
    pub range: Option<String>,
    /// Status answered; `None` when the connection was closed without an answer.
    pub status: Option<u16>,
    /// Body bytes written.
    pub body_bytes: u64,
    /// The fault that fired on it, if any.
    pub fault: Option<FaultKind>,
}

struct Shared {
    content: Arc<dyn Content>,
    faults: Faults,
    latency_us: AtomicU64,
    bandwidth: AtomicU64,
    throttle_clock: Mutex<Instant>,
    stats: Mutex<Stats>,
    log: Mutex<Vec<RequestRecord>>,
    ordinal: AtomicU64,
    connection_ids: AtomicU64,
    open_connections: AtomicUsize,
    in_flight: AtomicUsize,
    shutdown: AtomicBool,
    idle_timeout: Duration,
    cors: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running mirror. Dropping it stops the server.
pub struct MirrorServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl MirrorServer {
    /// Binds and starts serving on a background thread.
    pub fn start(config: MirrorConfig) -> io::Result<MirrorServer> {
        let listener = TcpListener::bind((config.host.as_str(), config.port))?;
        let addr = listener.local_addr()?;
        let faults = Faults::new();
        faults.set(config.faults);
        let shared = Arc::new(Shared {
            content: config.content,
            faults,
            latency_us: AtomicU64::new(config.latency.as_micros() as u64),
            bandwidth: AtomicU64::new(config.bandwidth.unwrap_or(0)),
            throttle_clock: Mutex::new(Instant::now()),
            stats: Mutex::new(Stats::default()),
            log: Mutex::new(Vec::new()),
            ordinal: AtomicU64::new(0),
            connection_ids: AtomicU64::new(0),
            open_connections: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            idle_timeout: config.idle_timeout,
            cors: AtomicBool::new(config.cors),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("gik-mirror-{}", addr.port()))
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(MirrorServer {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    /// `base_url()` joined with `path` (leading `/` optional).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url(), path.trim_start_matches('/'))
    }

    /// Turns CORS headers on or off while the server runs (see [`MirrorConfig::cors`]).
    pub fn set_cors(&self, on: bool) {
        self.shared.cors.store(on, Ordering::SeqCst);
    }

    /// The fault rules, changeable while the server runs.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.stats).clone()
    }

    /// The requests answered so far, by ordinal. A request still being answered is not
    /// listed yet (its record is written once its response is).
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut log = lock(&self.shared.log).clone();
        log.sort_by_key(|r| r.ordinal);
        log
    }

    /// Zeroes the counters, empties the request log and restarts request ordinals at 1.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
        lock(&self.shared.log).clear();
        self.shared.ordinal.store(0, Ordering::SeqCst);
    }

    /// Changes the per-request latency.
    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_us
            .store(latency.as_micros() as u64, Ordering::SeqCst);
    }

    /// The per-request latency.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.shared.latency_us.load(Ordering::SeqCst))
    }

    /// Changes the bandwidth limit (bytes per second, `None` = unlimited).
    pub fn set_bandwidth(&self, bytes_per_second: Option<u64>) {
        self.shared
            .bandwidth
            .store(bytes_per_second.unwrap_or(0), Ordering::SeqCst);
    }

    /// Connections currently open.
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections.load(Ordering::SeqCst)
    }

    /// Waits until no request is being answered (or `timeout` passes); returns whether the
    /// server is idle. Counters are updated before bytes go on the wire, but the request log
    /// entry of the last request is written just after its response: call this before
    /// asserting on [`MirrorServer::requests`].
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.in_flight.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stops the server (same as dropping it).
    pub fn stop(self) {}
}

impl Drop for MirrorServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Out of file descriptors or similar: back off briefly and go on.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = shared.connection_ids.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&shared.stats).connections += 1;
        let conn_shared = Arc::clone(&shared);
        conn_shared.open_connections.fetch_add(1, Ordering::SeqCst);
        let spawned = thread::Builder::new()
            .name(format!("gik-mirror-conn-{id}"))
            .spawn(move || {
                serve_connection(&conn_shared, stream, id);
                conn_shared.open_connections.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            shared.open_connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads requests off one connection until it closes, idles out or must be closed.
fn serve_connection(shared: &Shared, mut stream: TcpStream, connection: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(POLL));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut idle_since = Instant::now();
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        // Tolerate empty lines before a request line (RFC 9112 §2.2).
        let blank = buf
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        buf.drain(..blank);
        if let Some((head_len, consumed)) = http::find_head_end(&buf) {
            let parsed = http::parse_head(&buf[..head_len]);
            buf.drain(..consumed);
            let request = match parsed {
                Ok(request) => request,
                Err(why) => {
                    bad_request(shared, &mut stream, connection, 400, why);
                    return;
                }
            };
            if request
                .header("transfer-encoding")
                .is_some_and(|te| !te.eq_ignore_ascii_case("identity"))
            {
                bad_request(
                    shared,
                    &mut stream,
                    connection,
                    501,
                    "chunked request bodies",
                );
                return;
            }
            let body_len = match request.header("content-length").map(|v| v.parse::<u64>()) {
                None => 0,
                Some(Ok(n)) if n <= MAX_BODY => n,
                Some(Ok(_)) => {
                    bad_request(
                        shared,
                        &mut stream,
                        connection,
                        413,
                        "request body too large",
                    );
                    return;
                }
                Some(Err(_)) => {
                    bad_request(shared, &mut stream, connection, 400, "bad Content-Length");
                    return;
                }
            };
            if !discard_body(shared, &mut stream, &mut buf, body_len) {
                return;
            }
            if !handle(shared, &mut stream, &request, connection) {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            idle_since = Instant::now();
            continue;
        }
        if buf.len() > MAX_HEAD {
            bad_request(
                shared,
                &mut stream,
                connection,
                431,
                "request head too large",
            );
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => {
                if buf.is_empty() && idle_since.elapsed() > shared.idle_timeout {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads and drops a request body of `len` bytes (part of which may already be in `buf`).
fn discard_body(shared: &Shared, stream: &mut TcpStream, buf: &mut Vec<u8>, len: u64) -> bool {
    let from_buf = (len as usize).min(buf.len());
    buf.drain(..from_buf);
    let mut left = len - from_buf as u64;
    let mut chunk = [0u8; 16 * 1024];
    while left > 0 {
        if shared.shutdown.load(Ordering::SeqCst) {
            return false;
        }
        let want = (left as usize).min(chunk.len());
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return false,
            Ok(n) => left -= n as u64,
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

fn bad_request(shared: &Shared, stream: &mut TcpStream, connection: u64, status: u16, why: &str) {
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let ordinal = shared.ordinal.fetch_add(1, Ordering::SeqCst) + 1;
    {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        stats.bad_requests += 1;
    }
    let body = s3_error(http::s3_code(status), why, None, ordinal);
    let cors = shared.cors.load(Ordering::SeqCst);
    let head = response_head(
        status,
        body.len() as u64,
        "application/xml",
        &[],
        false,
        cors,
    );
    count_status(shared, status);
    count_bytes(shared, body.len() as u64);
    let ok = stream.write_all(head.as_bytes()).is_ok() && stream.write_all(body.as_bytes()).is_ok();
    let _ = stream.flush();
    linger_close(stream);
    finish(
        shared,
        RequestRecord {
            ordinal,
            connection,
            method: String::new(),
            path: String::new(),
            range: None,
            status: Some(status),
            body_bytes: if ok { body.len() as u64 } else { 0 },
            fault: None,
        },
    );
}

/// Closes our side, then reads and drops what the client still sends (for up to a second), so
/// that unread input does not turn the close into a reset that destroys the error response.
fn linger_close(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if is_timeout(&e) || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Counts an answer's status (before it is written, so a client that has the answer sees it
/// counted).
fn count_status(shared: &Shared, status: u16) {
    *lock(&shared.stats).by_status.entry(status).or_default() += 1;
}

/// Counts body bytes about to be written.
fn count_bytes(shared: &Shared, bytes: u64) {
    lock(&shared.stats).bytes_sent += bytes;
}

/// Logs a finished request.
fn finish(shared: &Shared, record: RequestRecord) {
    {
        let mut log = lock(&shared.log);
        if log.len() < MAX_LOG {
            log.push(record);
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
}

/// Answers one request. Returns whether the connection stays open.
fn handle(shared: &Shared, stream: &mut TcpStream, req: &Request, connection: u64) -> bool {
    shared.in_flight.fetch_add(1, Ordering::SeqCst);
    let ordinal = shared.ordinal.fetch_add(1, Ordering::SeqCst) + 1;
    let range_header = req.header("range").map(str::to_string);
    {
        let mut stats = lock(&shared.stats);
        stats.requests += 1;
        match req.method.as_str() {
            "GET" => {
                stats.get += 1;
                if range_header.is_some() {
                    stats.range_requests += 1;
                }
            }
            "HEAD" => stats.head += 1,
            "OPTIONS" => stats.options += 1,
            _ => stats.other_methods += 1,
        }
    }
    let mut record = RequestRecord {
        ordinal,
        connection,
        method: req.method.clone(),
        path: req.path.clone(),
        range: range_header.clone(),
        status: None,
        body_bytes: 0,
        fault: None,
    };
    let latency = Duration::from_micros(shared.latency_us.load(Ordering::SeqCst));
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    let keep_alive = req.keep_alive();
    let is_head = req.method == "HEAD";

    match req.method.as_str() {
        "GET" | "HEAD" => {}
        "OPTIONS" => {
            let allow_headers = match req.header("access-control-request-headers") {
                Some(asked) if !asked.is_empty() => format!("Range, {asked}"),
                _ => "Range".to_string(),
            };
            let cors = shared.cors.load(Ordering::SeqCst);
            let extra = [
                (
                    "Access-Control-Allow-Methods",
                    "GET, HEAD, OPTIONS".to_string(),
                ),
                ("Access-Control-Allow-Headers", allow_headers),
                ("Access-Control-Max-Age", "86400".to_string()),
            ];
            let extra: &[(&str, String)] = if cors { &extra } else { &[] };
            let head = response_head(204, 0, "text/plain", extra, keep_alive, cors);
            record.status = Some(204);
            count_status(shared, 204);
            let ok = stream.write_all(head.as_bytes()).is_ok();
            finish(shared, record);
            return ok && keep_alive;
        }
        _ => {
            let body = s3_error(
                "MethodNotAllowed",
                "The specified method is not allowed.",
                None,
                ordinal,
            );
            let extra = [("Allow", "GET, HEAD, OPTIONS".to_string())];
            return send_simple(
                shared, stream, record, 405, &body, &extra, keep_alive, false,
            );
        }
    }

    let mut truncate_at = None;
    let mut ignore_range = false;
    let mut pace = None;
    if let Some(fault) = shared.faults.pick(&req.path, ordinal) {
        record.fault = Some(fault.clone());
        lock(&shared.stats).faults += 1;
        match fault {
            FaultKind::SlowDown => {
                let body = s3_error(
                    "SlowDown",
                    "Please reduce your request rate.",
                    None,
                    ordinal,
                );
                return send_simple(shared, stream, record, 503, &body, &[], keep_alive, is_head);
            }
            FaultKind::NotFound => {
                let body = no_such_key(&req.path, ordinal);
                return send_simple(shared, stream, record, 404, &body, &[], keep_alive, is_head);
            }
            FaultKind::Status(status) => {
                let body = s3_error(http::s3_code(status), "Injected failure.", None, ordinal);
                return send_simple(
                    shared,
                    stream,
                    record,
                    status,
                    &body,
                    &[],
                    keep_alive,
                    is_head,
                );
            }
            FaultKind::Reset => {
                finish(shared, record);
                return false;
            }
            FaultKind::Truncate { keep } => truncate_at = Some(keep),
            FaultKind::Delay(delay) => thread::sleep(delay),
            FaultKind::IgnoreRange => ignore_range = true,
            FaultKind::IgnoreRangeSlowly { bytes_per_second } => {
                ignore_range = true;
                pace = Some(bytes_per_second);
            }
            FaultKind::Redirect(base) => {
                let extra = [(
                    "Location",
                    format!("{base}/{}", req.path.trim_start_matches('/')),
                )];
                return send_simple(shared, stream, record, 302, "", &extra, keep_alive, is_head);
            }
        }
    }

    let content = &shared.content;
    let Some(len) = content.len(&req.path) else {
        let body = no_such_key(&req.path, ordinal);
        return send_simple(shared, stream, record, 404, &body, &[], keep_alive, is_head);
    };
    let etag = format!(
        "\"{:016x}\"",
        fnv1a64(req.path.bytes().chain(len.to_le_bytes()))
    );
    let content_type = content.content_type(&req.path);
    let asked_range = range_header.as_deref().filter(|_| !ignore_range);
    let (status, range) = match http::resolve_range(asked_range, len) {
        RangeRequest::Full => (200, 0..len),
        RangeRequest::Partial(r) => (206, r),
        RangeRequest::Unsatisfiable => {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidRange</Code>\
                 <Message>The requested range is not satisfiable</Message>\
                 <RangeRequested>{}</RangeRequested><ActualObjectSize>{len}</ActualObjectSize>\
                 <RequestId>{ordinal:016X}</RequestId><HostId>gik-mirror</HostId></Error>",
                http::xml_escape(range_header.as_deref().unwrap_or_default())
            );
            let extra = [("Content-Range", format!("bytes */{len}"))];
            return send_simple(
                shared, stream, record, 416, &body, &extra, keep_alive, is_head,
            );
        }
    };
    let body_len = range.end - range.start;
    let mut extra = vec![("ETag", etag), ("Last-Modified", LAST_MODIFIED.to_string())];
    if status == 206 {
        extra.push((
            "Content-Range",
            format!("bytes {}-{}/{len}", range.start, range.end - 1),
        ));
    }
    let keep_alive = keep_alive && truncate_at.is_none();
    let cors = shared.cors.load(Ordering::SeqCst);
    let head = response_head(status, body_len, content_type, &extra, keep_alive, cors);
    record.status = Some(status);
    count_status(shared, status);
    if stream.write_all(head.as_bytes()).is_err() {
        finish(shared, record);
        return false;
    }
    if is_head {
        finish(shared, record);
        return keep_alive;
    }
    let send_len = truncate_at.map_or(body_len, |keep| keep.min(body_len));
    let mut pos = range.start;
    let end = range.start + send_len;
    let mut complete = true;
    while pos < end {
        if shared.shutdown.load(Ordering::SeqCst) {
            complete = false;
            break;
        }
        let bandwidth = shared.bandwidth.load(Ordering::SeqCst);
        let mut step = if bandwidth == 0 {
            CHUNK
        } else {
            (bandwidth / 50).clamp(1024, CHUNK)
        };
        if let Some(rate) = pace {
            step = step.min((rate / 20).max(512));
        }
        let next = (pos + step).min(end);
        let Some(bytes) = content.read(&req.path, pos..next) else {
            complete = false;
            break;
        };
        if bytes.len() as u64 != next - pos {
            complete = false;
            break;
        }
        throttle(shared, bytes.len() as u64);
        count_bytes(shared, bytes.len() as u64);
        if stream.write_all(&bytes).is_err() {
            complete = false;
            break;
        }
        record.body_bytes += bytes.len() as u64;
        pos = next;
        if let Some(rate) = pace {
            thread::sleep(Duration::from_secs_f64(bytes.len() as f64 / rate as f64));
        }
    }
    let _ = stream.flush();
    finish(shared, record);
    complete && keep_alive && send_len == body_len
}

/// `Last-Modified` sent for every object (the content is immutable test data).
const LAST_MODIFIED: &str = "Fri, 01 Aug 2025 06:00:00 GMT";

/// Sends a small complete response (errors, 404s) and records it.
#[allow(clippy::too_many_arguments)]
fn send_simple(
    shared: &Shared,
    stream: &mut TcpStream,
    mut record: RequestRecord,
    status: u16,
    body: &str,
    extra: &[(&str, String)],
    keep_alive: bool,
    is_head: bool,
) -> bool {
    let head = response_head(
        status,
        body.len() as u64,
        "application/xml",
        extra,
        keep_alive,
        shared.cors.load(Ordering::SeqCst),
    );
    record.status = Some(status);
    count_status(shared, status);
    let mut ok = stream.write_all(head.as_bytes()).is_ok();
    if ok && !is_head {
        throttle(shared, body.len() as u64);
        count_bytes(shared, body.len() as u64);
        ok = stream.write_all(body.as_bytes()).is_ok();
        if ok {
            record.body_bytes = body.len() as u64;
        }
    }
    finish(shared, record);
    ok && keep_alive
}

/// Waits so that the bytes written over all connections stay within the bandwidth limit.
fn throttle(shared: &Shared, bytes: u64) {
    let rate = shared.bandwidth.load(Ordering::SeqCst);
    if rate == 0 || bytes == 0 {
        return;
    }
    let cost = Duration::from_secs_f64(bytes as f64 / rate as f64);
    let now = Instant::now();
    let wake = {
        let mut clock = lock(&shared.throttle_clock);
        let start = (*clock).max(now);
        *clock = start + cost;
        *clock
    };
    if let Some(wait) = wake.checked_duration_since(now) {
        thread::sleep(wait);
    }
}

fn response_head(
    status: u16,
    content_length: u64,
    content_type: &str,
    extra: &[(&str, String)],
    keep_alive: bool,
    cors: bool,
) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nServer: gik-mirror\r\nContent-Length: {content_length}\r\n\
         Content-Type: {content_type}\r\nAccept-Ranges: bytes\r\n",
        http::reason(status)
    );
    if cors {
        head.push_str(
            "Access-Control-Allow-Origin: *\r\n\
             Access-Control-Expose-Headers: Content-Length, Content-Range, ETag, Accept-Ranges\r\n",
        );
    }
    for (name, value) in extra {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    head
}

fn s3_error(code: &str, message: &str, key: Option<&str>, ordinal: u64) -> String {
    let key = key
        .map(|k| format!("<Key>{}</Key>", http::xml_escape(k)))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
         <Message>{}</Message>{key}<RequestId>{ordinal:016X}</RequestId>\
         <HostId>gik-mirror</HostId></Error>",
        http::xml_escape(message)
    )
}

fn no_such_key(path: &str, ordinal: u64) -> String {
    // S3 path-style: the key is the path after the bucket name.
    let key = path.split_once('/').map_or(path, |(_, key)| key);
    s3_error(
        "NoSuchKey",
        "The specified key does not exist.",
        Some(key),
        ordinal,
    )
}
