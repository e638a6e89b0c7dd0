//! The HTTP/1.1 wire codec of `http.request`, free of I/O: request encoding, and an incremental
//! response decoder fed with whatever bytes the socket produced.

use std::fmt::Write as _;

use super::url::Url;

/// Largest response head (status line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Encodes a request. `headers` were checked with
/// [`check_header`](super::url::check_header); `Host`, `Connection` and
/// `Content-Length` are set here.
pub(crate) fn encode_request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = String::new();
    let _ = write!(
        head,
        "{method} {} HTTP/1.1\r\nHost: {}\r\n",
        url.target,
        url.host_header()
    );
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("user-agent") {
        head.push_str("User-Agent: troupe-agents\r\n");
    }
    if !has("accept") {
        head.push_str("Accept: */*\r\n");
    }
    for (name, value) in headers {
        let managed = ["host", "connection", "content-length", "transfer-encoding"];
        if !managed.iter().any(|m| name.eq_ignore_ascii_case(m)) {
            let _ = write!(head, "{name}: {value}\r\n");
        }
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub reason: String,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a response could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WireError {
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error("connection closed {0}")]
    Truncated(&'static str),
    #[error("response body is larger than {0} bytes (config `max_body_bytes`)")]
    TooLarge(usize),
}

#[derive(Debug)]
enum Body {
    Length(usize),
    UntilClose,
    /// Chunked: waiting for a size line, for `n` more data bytes, or for the trailer section.
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailers,
}

/// Incremental response decoder: [`feed`](Self::feed) bytes until it returns a response; at end of
/// stream call [`finish`](Self::finish).
#[derive(Debug)]
pub(crate) struct ResponseDecoder {
    buf: Vec<u8>,
    pos: usize,
    max_body: usize,
    no_body: bool,
    /// The parsed head (status, reason, headers), its body still empty.
    head: Option<Response>,
    body_mode: Option<Body>,
    body: Vec<u8>,
}

impl ResponseDecoder {
    /// A decoder for the response to a request; `head_request` when the method was `HEAD`.
    pub fn new(max_body: usize, head_request: bool) -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            max_body,
            no_body: head_request,
            head: None,
            body_mode: None,
            body: Vec::new(),
        }
    }

    /// Adds bytes; returns the response once complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<Response>, WireError> {
        self.buf.extend_from_slice(bytes);
        while self.head.is_none() {
            if !self.parse_head()? {
                return Ok(None);
            }
        }
        self.parse_body()
    }

    /// The connection closed: the response if it is complete without more bytes.
    pub fn finish(&mut self) -> Result<Response, WireError> {
        if let Some(done) = self.feed(&[])? {
            return Ok(done);
        }
        match self.body_mode {
            None => Err(WireError::Truncated("before the end of the response head")),
            Some(Body::UntilClose) => Ok(self.take()),
            Some(Body::Length(_)) => Err(WireError::Truncated(
                "before the end of the body (Content-Length)",
            )),
            Some(_) => Err(WireError::Truncated("in the middle of a chunked body")),
        }
    }

    /// Parses one head if complete (skipping 1xx interim responses). Returns whether progress
    /// was made.
    fn parse_head(&mut self) -> Result<bool, WireError> {
        let malformed = |m: String| WireError::Malformed(m);
        let Some((head_end, next)) = find_blank_line(&self.buf[self.pos..]) else {
            if self.buf.len() - self.pos > MAX_HEAD_BYTES {
                return Err(malformed(format!(
                    "head larger than {MAX_HEAD_BYTES} bytes"
                )));
            }
            return Ok(false);
        };
        let head = String::from_utf8_lossy(&self.buf[self.pos..self.pos + head_end]).into_owned();
        self.pos += next;
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(malformed(format!("bad status line `{status_line}`")));
        }
        let status: u16 = match parts.next().map(str::parse) {
            Some(Ok(s)) if (100..600).contains(&s) => s,
            _ => return Err(malformed(format!("bad status line `{status_line}`"))),
        };
        let reason = parts.next().unwrap_or_default().trim().to_owned();
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(malformed(format!("bad header line `{line}`")));
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        if (100..200).contains(&status) {
            return Ok(true); // interim response: the real head follows
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        let mode = if self.no_body || status == 204 || status == 304 {
            Body::Length(0)
        } else if get("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            Body::ChunkSize
        } else if let Some(len) = get("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| malformed(format!("bad Content-Length `{len}`")))?;
            if len > self.max_body {
                return Err(WireError::TooLarge(self.max_body));
            }
            Body::Length(len)
        } else {
            Body::UntilClose
        };
        self.head = Some(Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        });
        self.body_mode = Some(mode);
        Ok(true)
    }

    fn parse_body(&mut self) -> Result<Option<Response>, WireError> {
        loop {
            let avail = &self.buf[self.pos..];
            let mode = self.body_mode.as_mut().expect("head parsed");
            match mode {
                Body::Length(n) => {
                    if avail.len() < *n {
                        return Ok(None);
                    }
                    let n = *n;
                    self.body.extend_from_slice(&avail[..n]);
                    self.pos += n;
                    return Ok(Some(self.take()));
                }
                Body::UntilClose => {
                    let n = avail.len();
                    self.push_body(n)?;
                    return Ok(None);
                }
                Body::ChunkSize => {
                    let Some((line, next)) = take_line(avail) else {
                        return Ok(None);
                    };
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| WireError::Malformed(format!("bad chunk size `{size}`")))?;
                    self.pos += next;
                    *mode = if size == 0 {
                        Body::Trailers
                    } else {
                        Body::ChunkData(size)
                    };
                }
                Body::ChunkData(left) => {
                    let n = (*left).min(avail.len());
                    if n == 0 {
                        return Ok(None);
                    }
                    *left -= n;
                    if *left == 0 {
                        *mode = Body::ChunkEnd;
                    }
                    self.push_body(n)?;
                }
                Body::ChunkEnd => {
                    let Some((line, next)) = take_line(avail) else {
                        return Ok(None);
                    };
                    if !line.is_empty() {
                        return Err(WireError::Malformed("chunk not followed by CRLF".into()));
                    }
                    self.pos += next;
                    *mode = Body::ChunkSize;
                }
                Body::Trailers => {
                    let Some((line, next)) = take_line(avail) else {
                        return Ok(None);
                    };
                    self.pos += next;
                    if line.is_empty() {
                        return Ok(Some(self.take()));
                    }
                }
            }
        }
    }

    /// Moves `n` available bytes into the body, enforcing the size limit.
    fn push_body(&mut self, n: usize) -> Result<(), WireError> {
        if self.body.len() + n > self.max_body {
            return Err(WireError::TooLarge(self.max_body));
        }
        self.body
            .extend_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(())
    }

    fn take(&mut self) -> Response {
        let mut response = self.head.take().expect("head parsed");
        response.body = std::mem::take(&mut self.body);
        response
    }
}

/// The end of the head (index of the blank line) and the index after it; accepts CRLF or LF.
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while let Some((line, next)) = take_line(&buf[start..]) {
        if line.is_empty() {
            return Some((start, start + next));
        }
        start += next;
    }
    None
}

/// The first line of `buf` (without its CRLF or LF) and the index after its end.
fn take_line(buf: &[u8]) -> Option<(String, usize)> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let line = buf[..nl].strip_suffix(b"\r").unwrap_or(&buf[..nl]);
    Some((String::from_utf8_lossy(line).into_owned(), nl + 1))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
