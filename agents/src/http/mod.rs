//! `http.request`: one HTTP/1.1 call per request, over a plain `tokio` TCP connection.
//!
//! The client is small on purpose: plain `http://` only (no TLS), one connection per request
//! (`Connection: close`), `Content-Length`, chunked and read-until-close bodies, no redirects
//! followed. The wire format lives in the I/O-free [`wire`] module; this file is the socket shell.

mod url;
mod wire;

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use crate::shape::{decode, describe, parse_config};
use url::{check_header, check_method, Url};
use wire::{encode_request, ResponseDecoder, WireError};

/// How `http.request` reads its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpInput {
    /// `null`, a URL string, or an object `{url, method, headers, body}` overriding the config
    /// (default).
    #[default]
    Fields,
    /// The whole request is the body to send.
    Body,
}

/// Configuration of `http.request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The URL (`http://host[:port]/path?query`), unless each request gives one.
    pub url: Option<String>,
    /// The method (default `GET`).
    pub method: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// The body: a string is sent as is (`text/plain`), other JSON encoded (`application/json`),
    /// unless a `content-type` header says otherwise.
    pub body: Option<Value>,
    /// How the request is read: `fields` (default) or `body`.
    pub input: HttpInput,
    /// Deadline for the whole exchange: `"500ms"`, `"30s"`, ... or a number of seconds
    /// (default 30s).
    #[serde(with = "crate::shape::duration")]
    pub timeout: Duration,
    /// Deadline for connecting (default 10s).
    #[serde(with = "crate::shape::duration")]
    pub connect_timeout: Duration,
    /// Largest response body accepted (default 16 MiB).
    pub max_body_bytes: usize,
    /// Answer statuses 4xx (permanent) and 5xx (transient) with an error (default true); when
    /// false every status is a normal reply.
    pub error_for_status: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            url: None,
            method: "GET".into(),
            headers: BTreeMap::new(),
            body: None,
            input: HttpInput::Fields,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 16 * 1024 * 1024,
            error_for_status: true,
        }
    }
}

/// The reply of `http.request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// Response headers, names lowercased; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body: parsed JSON when the content type says JSON (and it parses; an empty body is
    /// `null`), otherwise a string (invalid UTF-8 replaced by U+FFFD).
    pub body: Value,
}

/// Why an `http.request` call failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("{0}")]
    BadRequest(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error("{what} {url} did not complete within {after:?} (config `{field}`)")]
    Timeout {
        what: &'static str,
        url: String,
        after: Duration,
        field: &'static str,
    },
    #[error("{url}: {source}")]
    Io { url: String, source: io::Error },
    #[error("{url}: {source}")]
    Wire { url: String, source: WireError },
    #[error("{method} {url} answered {status} {reason}{body}")]
    Status {
        method: String,
        url: String,
        status: u16,
        reason: String,
        body: String,
    },
}

impl From<HttpError> for AgentError {
    fn from(e: HttpError) -> Self {
        let permanent = match &e {
            HttpError::BadRequest(_) => true,
            HttpError::Wire { source, .. } => matches!(source, WireError::TooLarge(_)),
            HttpError::Status { status, .. } => *status < 500,
            _ => false,
        };
        if permanent {
            AgentError::permanent(e.to_string())
        } else {
            AgentError::transient(e.to_string())
        }
    }
}

/// One prepared call.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    url: String,
    method: String,
    headers: BTreeMap<String, String>,
    body: Option<Value>,
}

/// `http.request`: makes one HTTP call per request and replies with an [`HttpReply`].
#[derive(Debug, Clone)]
pub struct HttpRequest {
    config: HttpConfig,
}

impl HttpRequest {
    /// An agent with this configuration.
    pub fn new(mut config: HttpConfig) -> Result<Self, String> {
        if let Some(url) = &config.url {
            Url::parse(url).map_err(|e| format!("field `url`: {e}"))?;
        }
        config.method = check_method(&config.method).map_err(|e| format!("field `method`: {e}"))?;
        for (name, value) in &config.headers {
            check_header(name, value).map_err(|e| format!("field `headers`: {e}"))?;
        }
        Ok(Self { config })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, String> {
        Self::new(parse_config(config)?)
    }

    /// Merges the request into the configured call.
    fn prepare(&self, request: Value) -> Result<Call, HttpError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            url: Option<String>,
            method: Option<String>,
            #[serde(default)]
            headers: BTreeMap<String, String>,
            body: Option<Value>,
        }
        let c = &self.config;
        let mut call = Call {
            url: c.url.clone().unwrap_or_default(),
            method: c.method.clone(),
            headers: c.headers.clone(),
            body: c.body.clone(),
        };
        let bad = HttpError::BadRequest;
        match (c.input, request) {
            (HttpInput::Body, body) => call.body = Some(body),
            (HttpInput::Fields, Value::Null) => {}
            (HttpInput::Fields, Value::String(url)) => call.url = url,
            (HttpInput::Fields, v @ Value::Object(_)) => {
                let f: Fields = decode(v).map_err(bad)?;
                if let Some(url) = f.url {
                    call.url = url;
                }
                if let Some(m) = f.method {
                    call.method = check_method(&m).map_err(bad)?;
                }
                for (name, value) in f.headers {
                    check_header(&name, &value).map_err(bad)?;
                    call.headers.retain(|k, _| !k.eq_ignore_ascii_case(&name));
                    call.headers.insert(name, value);
                }
                if f.body.is_some() {
                    call.body = f.body;
                }
            }
            (HttpInput::Fields, other) => {
                return Err(bad(format!(
                "expected null, a url string or an object {{url, method, headers, body}}, got {}",
                describe(&other)
            )))
            }
        }
        if call.url.is_empty() {
            return Err(bad("no url: set `url` in the config or the request".into()));
        }
        Ok(call)
    }

    /// Performs the call.
    async fn call(&self, call: Call) -> Result<HttpReply, HttpError> {
        let c = &self.config;
        let url = Url::parse(&call.url).map_err(HttpError::BadRequest)?;
        let mut headers: Vec<(String, String)> = call.headers.into_iter().collect();
        let has_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        let body = match call.body {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => {
                if !has_type {
                    headers.push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
                }
                s.into_bytes()
            }
            Some(v) => {
                if !has_type {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                v.to_string().into_bytes()
            }
        };
        let bytes = encode_request(&call.method, &url, &headers, &body);
        let decoder = ResponseDecoder::new(c.max_body_bytes, call.method == "HEAD");
        let exchange = exchange(&url, &call.url, bytes, decoder, c.connect_timeout);
        let response = tokio::time::timeout(c.timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout {
                what: "request to",
                url: call.url.clone(),
                after: c.timeout,
                field: "timeout",
            })??;
        if c.error_for_status && response.status >= 400 {
            let text = String::from_utf8_lossy(&response.body);
            let text = text.trim();
            let snippet: String = text.chars().take(200).collect();
            return Err(HttpError::Status {
                method: call.method,
                url: call.url,
                status: response.status,
                reason: response.reason,
                body: if snippet.is_empty() {
                    String::new()
                } else {
                    format!(": {snippet}")
                },
            });
        }
        Ok(to_reply(response))
    }
}

impl Agent for HttpRequest {
    type Request = Value;
    type Reply = HttpReply;
    type State = ();

    async fn init(
        &self,
        _ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        _state: &mut (),
        request: Value,
    ) -> Result<HttpReply, AgentError> {
        let call = self.prepare(request)?;
        Ok(self.call(call).await?)
    }
}

/// Connects, writes the request, reads until the decoder has a response.
async fn exchange(
    url: &Url,
    shown: &str,
    request: Vec<u8>,
    mut decoder: ResponseDecoder,
    connect_timeout: Duration,
) -> Result<wire::Response, HttpError> {
    let addr = format!("{}:{}", url.host, url.port);
    let connect = TcpStream::connect((url.host.as_str(), url.port));
    let mut stream = tokio::time::timeout(connect_timeout, connect)
        .await
        .map_err(|_| HttpError::Timeout {
            what: "connecting for",
            url: shown.to_owned(),
            after: connect_timeout,
            field: "connect_timeout",
        })?
        .map_err(|source| HttpError::Connect { addr, source })?;
    let io = |source| HttpError::Io {
        url: shown.to_owned(),
        source,
    };
    stream.write_all(&request).await.map_err(io)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(io)?;
        let decoded = if n == 0 {
            decoder.finish().map(Some)
        } else {
            decoder.feed(&buf[..n])
        };
        match decoded {
            Ok(Some(response)) => return Ok(response),
            Ok(None) => {}
            Err(source) => {
                return Err(HttpError::Wire {
                    url: shown.to_owned(),
                    source,
                })
            }
        }
    }
}

fn to_reply(response: wire::Response) -> HttpReply {
    let is_json = response.header("content-type").is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        let mime = t.split(';').next().unwrap_or_default().trim();
        mime == "application/json" || mime.ends_with("+json")
    });
    let body = if is_json && response.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else if let Some(v) = is_json
        .then(|| serde_json::from_slice(&response.body).ok())
        .flatten()
    {
        v
    } else {
        Value::String(String::from_utf8_lossy(&response.body).into_owned())
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers {
        match headers.entry(name) {
            Entry::Occupied(mut e) => {
                let v = e.get_mut();
                v.push_str(", ");
                v.push_str(&value);
            }
            Entry::Vacant(e) => {
                e.insert(value);
            }
        }
    }
    HttpReply {
        status: response.status,
        headers,
        body,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
