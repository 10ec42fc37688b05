//! The little HTTP/1.1 the mirror needs: request heads, byte ranges, status texts.
//!
//! Parsing never panics: whatever a client sends is either a [`Request`] or a reason for a
//! `400 Bad Request`.

use std::ops::Range;

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method as sent (`GET`, `HEAD`, `OPTIONS`, ...).
    pub method: String,
    /// Percent-decoded path without the leading `/` and without the query string.
    pub path: String,
    /// `HTTP/1.1` (true) or `HTTP/1.0` (false).
    pub http11: bool,
    /// Header fields with lower-cased names, in order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// First value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client wants the connection kept open after the response.
    pub fn keep_alive(&self) -> bool {
        let connection = self
            .header("connection")
            .map(|c| c.to_ascii_lowercase())
            .unwrap_or_default();
        let has = |token: &str| connection.split(',').any(|t| t.trim() == token);
        if self.http11 {
            !has("close")
        } else {
            has("keep-alive")
        }
    }
}

/// Where the request head ends: `(head_len, consumed)` with `consumed` including the blank line.
pub fn find_head_end(buf: &[u8]) -> Option<(usize, usize)> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) if b + 1 < a => Some((b, b + 2)),
        (Some(a), _) => Some((a, a + 4)),
        (None, Some(b)) => Some((b, b + 2)),
        (None, None) => None,
    }
}

/// Parses a request head (request line and header fields, without the blank line).
pub fn parse_head(head: &[u8]) -> Result<Request, &'static str> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8")?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().ok_or("empty request")?;
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) => (m, t, v),
        _ => return Err("malformed request line"),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err("malformed method");
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err("unsupported HTTP version"),
    };
    // Origin form `/path?query`, or absolute form `http://host/path`.
    let target = if let Some(rest) = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        rest.find('/').map_or("/", |i| &rest[i..])
    } else if target == "*" && method == "OPTIONS" {
        "/"
    } else {
        target
    };
    if !target.starts_with('/') {
        return Err("request target must start with '/'");
    }
    let raw_path = target.split(['?', '#']).next().unwrap_or("");
    let path = percent_decode(raw_path).ok_or("bad percent-encoding in path")?;
    let path = path.trim_start_matches('/').to_string();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or("header line without ':'")?;
        if name.is_empty()
            || name
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("malformed header name");
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path,
        http11,
        headers,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What a `Range` header asks of an object of a given length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send the whole object with 200. Multi-range and malformed headers
    /// land here too, as RFC 9110 allows a server to ignore them.
    Full,
    /// One satisfiable range (end exclusive): 206.
    Partial(Range<u64>),
    /// A well-formed range that selects nothing: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header value against an object of `len` bytes.
pub fn resolve_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(header) = header else {
        return RangeRequest::Full;
    };
    let header = header.trim();
    let Some(spec) = header
        .get(..6)
        .filter(|unit| unit.eq_ignore_ascii_case("bytes="))
        .map(|_| header[6..].trim())
    else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeRequest::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.is_empty(), last.is_empty()) {
        // bytes=-n: the last n bytes.
        (true, false) => match num(last) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if len == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial(len - n.min(len)..len),
            None => RangeRequest::Full,
        },
        // bytes=a-
        (false, true) => match num(first) {
            Some(a) if a >= len => RangeRequest::Unsatisfiable,
            Some(a) => RangeRequest::Partial(a..len),
            None => RangeRequest::Full,
        },
        // bytes=a-b
        (false, false) => match (num(first), num(last)) {
            (Some(a), Some(b)) if a > b => RangeRequest::Full,
            (Some(a), Some(_)) if a >= len => RangeRequest::Unsatisfiable,
            (Some(a), Some(b)) => RangeRequest::Partial(a..b.saturating_add(1).min(len)),
            _ => RangeRequest::Full,
        },
        (true, true) => RangeRequest::Full,
    }
}

/// Reason phrase for a status code (S3's `Slow Down` for 503).
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        416 => "Requested Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Slow Down",
        _ => "Error",
    }
}

/// S3's error code for a status used with [`crate::mirror::FaultKind::Status`].
pub fn s3_code(status: u16) -> &'static str {
    match status {
        400 => "InvalidRequest",
        403 => "AccessDenied",
        404 => "NoSuchKey",
        405 => "MethodNotAllowed",
        416 => "InvalidRange",
        500 => "InternalError",
        501 => "NotImplemented",
        503 => "SlowDown",
        _ => "ServiceError",
    }
}

/// Escapes text for an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        let r = |h: &str| resolve_range(Some(h), 100);
        assert_eq!(resolve_range(None, 100), Full);
        assert_eq!(r("bytes=0-9"), Partial(0..10));
        assert_eq!(r("bytes=90-200"), Partial(90..100));
        assert_eq!(r("bytes=99-"), Partial(99..100));
        assert_eq!(r("bytes=100-"), Unsatisfiable);
        assert_eq!(r("bytes=100-150"), Unsatisfiable);
        assert_eq!(r("bytes=-10"), Partial(90..100));
        assert_eq!(r("bytes=-1000"), Partial(0..100));
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=5-2"), Full);
        assert_eq!(r("bytes=0-1,5-6"), Full);
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(r("bytes=x-1"), Full);
        assert_eq!(r("bytes=-"), Full);
        assert_eq!(r("BYTES=1-1"), Partial(1..2));
        assert_eq!(resolve_range(Some("bytes=0-0"), 0), Unsatisfiable);
        assert_eq!(resolve_range(Some("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn heads() {
        let req =
            parse_head(b"GET /a%20b/c.idx?x=1 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1").unwrap();
        assert_eq!(req.path, "a b/c.idx");
        assert_eq!(req.header("range"), Some("bytes=0-1"));
        assert!(req.keep_alive());
        let req = parse_head(b"HEAD http://h:1/k HTTP/1.0\r\nConnection: Keep-Alive").unwrap();
        assert_eq!(req.path, "k");
        assert!(req.keep_alive());
        assert!(parse_head(b"GARBAGE").is_err());
        assert!(parse_head(b"GET / HTTP/2.0").is_err());
        assert!(parse_head(b"GET noslash HTTP/1.1").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\r\nno colon").is_err());
        assert!(parse_head(b"GET /%zz HTTP/1.1").is_err());
        assert!(parse_head(&[0xff, 0xfe]).is_err());
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some((14, 18)));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\nrest"), Some((14, 16)));
    }
}
