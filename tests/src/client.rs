//! A tiny blocking HTTP/1.1 client over `std::net`, for tests that must see exactly what the
//! mirror put on the wire (a reset, a short body, a reused connection) — things a full HTTP
//! client library retries or hides.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A response as read off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields with lower-cased names, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes received (fewer than `Content-Length` when `complete` is false).
    pub body: Vec<u8>,
    /// Whether the whole announced body arrived.
    pub complete: bool,
}

impl Response {
    /// First value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The announced `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

/// One keep-alive connection to a server.
pub struct Connection {
    stream: TcpStream,
    pending: Vec<u8>,
}

impl Connection {
    /// Connects to `addr` (e.g. `server.addr()`), with a 10 s read timeout.
    pub fn open(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            pending: Vec::new(),
        })
    }

    /// Sends raw bytes (for malformed requests).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends `method path` with `headers` and reads the answer. A `Host` header is added.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> io::Result<Response> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: mirror\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.stream.write_all(head.as_bytes())?;
        self.read_response(method == "HEAD")
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> io::Result<Response> {
        self.request("GET", path, &[])
    }

    /// `GET path` with `Range: bytes=start-end_inclusive`.
    pub fn get_range(
        &mut self,
        path: &str,
        start: u64,
        end_inclusive: u64,
    ) -> io::Result<Response> {
        let range = format!("bytes={start}-{end_inclusive}");
        self.request("GET", path, &[("Range", &range)])
    }

    /// Reads one response. An `UnexpectedEof` error means the server closed the connection
    /// before sending a status line (a reset, for the client).
    pub fn read_response(&mut self, head_only: bool) -> io::Result<Response> {
        let head_end = loop {
            if let Some(i) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !self.fill()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.pending[..head_end]).into_owned();
        self.pending.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            complete: true,
        };
        let length = if head_only || status == 204 || status == 304 {
            0
        } else {
            response.content_length().unwrap_or(0)
        };
        while (self.pending.len() as u64) < length {
            match self.fill() {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    response.complete = false;
                    break;
                }
            }
        }
        let take = (length as usize).min(self.pending.len());
        response.body = self.pending.drain(..take).collect();
        Ok(response)
    }

    /// Whether the server has closed the connection (reads EOF within `wait`).
    pub fn is_closed(&mut self, wait: Duration) -> bool {
        let _ = self.stream.set_read_timeout(Some(wait));
        let mut byte = [0u8; 1];
        let closed = match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => {
                self.pending.push(byte[0]);
                false
            }
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ),
        };
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(10)));
        closed
    }

    fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

/// One request on a fresh connection.
pub fn request(
    addr: impl ToSocketAddrs,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    Connection::open(addr)?.request(method, path, headers)
}

/// `GET path` on a fresh connection; `range` is an inclusive byte range.
pub fn get(
    addr: impl ToSocketAddrs,
    path: &str,
    range: Option<(u64, u64)>,
) -> io::Result<Response> {
    let mut c = Connection::open(addr)?;
    match range {
        Some((a, b)) => c.get_range(path, a, b),
        None => c.get(path),
    }
}
