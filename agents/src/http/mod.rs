//! `http.request`: one HTTP call per request, through the agent's own reqwest client.
//!
//! Each agent builds one client ([`client`]) when it is made and reuses it for every request:
//! `http` and `https` (rustls, the system's verifier and roots plus an optional `ca_file`),
//! pooled keep-alive connections, HTTP/2 when the server offers it, proxies from the environment
//! (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`), up to `max_redirects` redirects followed and gzip
//! bodies decoded. Errors keep their classes: bad requests, client errors (4xx), too large bodies,
//! redirect loops and untrusted certificates are permanent; connection failures, timeouts and
//! server errors (5xx) transient.

mod client;
mod url;

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use troupe_runtime::ConfigError;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{Agent, AgentContext, AgentError, Snapshot};

use crate::shape::{decode, describe, parse_config};
use url::{check_header, check_method, Url};

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
    /// The URL (`http[s]://host[:port]/path?query`), unless each request gives one.
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
    /// A PEM file of CA certificates trusted for `https`, besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Redirects followed before giving up (default 10; 0: none followed, a 3xx is the reply).
    pub max_redirects: usize,
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
            ca_file: None,
            max_redirects: 10,
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
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("TLS with {addr} failed: {reason}")]
    Tls {
        addr: String,
        reason: String,
        /// The server's certificate was refused (untrusted, expired, wrong name): retrying
        /// cannot help.
        certificate: bool,
    },
    #[error("{what} {url} did not complete within {after:?} (config `{field}`)")]
    Timeout {
        what: &'static str,
        url: String,
        after: Duration,
        field: &'static str,
    },
    #[error("{url}: {reason}")]
    Io { url: String, reason: String },
    #[error("{url}: response body is larger than {max} bytes (config `max_body_bytes`)")]
    TooLarge { url: String, max: usize },
    #[error("{url}: more than {max} redirects (config `max_redirects`): {reason}")]
    Redirects {
        url: String,
        max: usize,
        reason: String,
    },
    #[error("{method} {url} answered {status}{reason}{body}")]
    Status {
        method: String,
        url: String,
        status: u16,
        /// The reason phrase with a space in front, or nothing.
        reason: String,
        body: String,
    },
}

impl From<HttpError> for AgentError {
    fn from(e: HttpError) -> Self {
        let permanent = match &e {
            HttpError::BadRequest(_) | HttpError::TooLarge { .. } => true,
            HttpError::Redirects { .. } => true,
            HttpError::Tls { certificate, .. } => *certificate,
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
    /// Built once, cloned cheaply: its connection pool is shared by every call of the agent.
    client: reqwest::Client,
}

impl HttpRequest {
    /// An agent with this configuration.
    pub fn new(mut config: HttpConfig) -> Result<Self, ConfigError> {
        if let Some(url) = &config.url {
            Url::parse(url).map_err(|e| ConfigError::new("http.request", "/url", e.to_string()))?;
        }
        config.method = check_method(&config.method)
            .map_err(|e| ConfigError::new("http.request", "/method", e))?;
        for (name, value) in &config.headers {
            check_header(name, value)
                .map_err(|e| ConfigError::new("http.request", "/headers", e))?;
        }
        let client = client::build(&config)?;
        Ok(Self { config, client })
    }

    /// An agent built from a pool's JSON `config:`.
    pub fn from_config(config: &Value) -> Result<Self, ConfigError> {
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
        let url = Url::parse(&call.url).map_err(|e| HttpError::BadRequest(e.to_string()))?;
        let exchange = self.exchange(&call, &url);
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
                reason: match response.reason.is_empty() {
                    true => String::new(),
                    false => format!(" {}", response.reason),
                },
                body: if snippet.is_empty() {
                    String::new()
                } else {
                    format!(": {snippet}")
                },
            });
        }
        Ok(to_reply(response))
    }

    /// Sends the request and reads the whole response (at most `max_body_bytes` of body).
    async fn exchange(&self, call: &Call, url: &Url) -> Result<Response, HttpError> {
        let c = &self.config;
        let bad = |e: String| HttpError::BadRequest(e);
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|e| bad(format!("bad method `{}`: {e}", call.method)))?;
        let mut request = self.client.request(method, url.0.clone());
        // The client manages these itself (and keeps connections alive).
        let managed = ["host", "connection", "content-length", "transfer-encoding"];
        let mut has_type = false;
        for (name, value) in &call.headers {
            if managed.iter().any(|m| name.eq_ignore_ascii_case(m)) {
                continue;
            }
            has_type |= name.eq_ignore_ascii_case("content-type");
            request = request.header(name.as_str(), value.as_str());
        }
        let body = match &call.body {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some((s.clone().into_bytes(), "text/plain; charset=utf-8")),
            Some(v) => Some((v.to_string().into_bytes(), "application/json")),
        };
        if let Some((bytes, content_type)) = body {
            if !has_type {
                request = request.header("Content-Type", content_type);
            }
            request = request.body(bytes);
        } else if matches!(call.method.as_str(), "POST" | "PUT" | "PATCH") {
            request = request.body(Vec::new());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| self.send_error(&e, call, url))?;
        let status = response.status();
        let too_large = || HttpError::TooLarge {
            url: call.url.clone(),
            max: c.max_body_bytes,
        };
        if response
            .content_length()
            .is_some_and(|n| n > c.max_body_bytes as u64)
        {
            return Err(too_large());
        }
        let mut headers = Vec::with_capacity(response.headers().len());
        for (name, value) in response.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers.push((name.as_str().to_owned(), value));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.send_error(&e, call, url))?
        {
            if body.len() + chunk.len() > c.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or_default().to_owned(),
            headers,
            body,
        })
    }

    /// Classifies a reqwest failure.
    fn send_error(&self, e: &reqwest::Error, call: &Call, url: &Url) -> HttpError {
        let c = &self.config;
        // reqwest's own top line ("error sending request for url (...)") says nothing the
        // variants do not: its causes do.
        let reason = match std::error::Error::source(e) {
            Some(cause) => error_chain(cause),
            None => e.to_string(),
        };
        if let Some(tls) = tls_error(e) {
            return HttpError::Tls {
                addr: url.authority(),
                reason,
                certificate: matches!(
                    tls,
                    rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
                ),
            };
        }
        if e.is_redirect() {
            return HttpError::Redirects {
                url: call.url.clone(),
                max: c.max_redirects,
                reason,
            };
        }
        if e.is_connect() && e.is_timeout() {
            return HttpError::Timeout {
                what: "connecting for",
                url: call.url.clone(),
                after: c.connect_timeout,
                field: "connect_timeout",
            };
        }
        if e.is_connect() {
            return HttpError::Connect {
                addr: url.authority(),
                reason,
            };
        }
        if e.is_builder() {
            return HttpError::BadRequest(format!("{}: {reason}", call.url));
        }
        HttpError::Io {
            url: call.url.clone(),
            reason,
        }
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

/// A whole response, before it becomes an [`HttpReply`].
#[derive(Debug, Clone, PartialEq)]
struct Response {
    status: u16,
    /// The standard reason phrase of the status, or empty.
    reason: String,
    /// Names lowercased, in the order received.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An error and its sources, `: `-separated (reqwest's own message alone says little); the
/// inner error of an `io::Error` is included.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        next = cause.source();
    }
    text
}

/// The rustls error somewhere in `e`'s sources, if the failure was TLS. An `io::Error` hides
/// the error it wraps from `source()` (and they nest), so those are looked into as well.
fn tls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let wrapped = e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .map(|inner| inner as &(dyn std::error::Error + 'static));
    wrapped
        .and_then(tls_error)
        .or_else(|| e.source().and_then(tls_error))
}

fn to_reply(response: Response) -> HttpReply {
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
#[cfg(test)]
#[path = "tls_tests.rs"]
mod tls_tests;
