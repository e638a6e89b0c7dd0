//! One chat-completions exchange, with retries on 429 and 5xx (honouring `Retry-After`, else
//! the runtime's [`Backoff`]) and streamed replies parsed as server-sent events.

use std::time::Duration;

use serde_json::Value;
use troupe_runtime::policy::Backoff;
use troupe_runtime::{AgentId, EventBus, EventKind};

use super::decode::{decode_completion, StreamDecoder};
use super::wire::Turn;
use super::LlmConfig;
use crate::http::error_chain;

/// Why a call to the endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The endpoint answered an error status.
    #[error("{url} answered {status}{body}")]
    Status {
        /// The URL called.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body, with `: ` in front (or nothing).
        body: String,
    },
    /// No connection, or it broke.
    #[error("{url}: {reason}")]
    Io {
        /// The URL called.
        url: String,
        /// What failed.
        reason: String,
    },
    /// No reply in time.
    #[error("{url} did not answer within {after:?} (config `timeout`)")]
    Timeout {
        /// The URL called.
        url: String,
        /// The deadline.
        after: Duration,
    },
    /// The reply was not the chat-completions format.
    #[error("{url}: the reply is not a chat completion: {reason}")]
    Decode {
        /// The URL called.
        url: String,
        /// What did not fit.
        reason: String,
    },
    /// Structured output that does not parse or fit the schema.
    #[error("structured output (config `response_format`): {reason}; the reply was: {reply}")]
    Schema {
        /// What is wrong, with the JSON path.
        reason: String,
        /// The start of the reply.
        reply: String,
    },
    /// The tool loop used every model turn without a final answer.
    #[error(
        "no final answer within {max} model turns (config `max_steps`); last turn called {last}"
    )]
    Steps {
        /// The budget.
        max: u32,
        /// The tools the last turn called.
        last: String,
    },
    /// An MCP server could not be started or listed.
    #[error("tools: {0}")]
    Tools(String),
    /// The request could not be turned into a prompt.
    #[error("{0}")]
    BadRequest(String),
}

impl LlmError {
    /// Whether trying again later may help.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Io { .. } | LlmError::Timeout { .. } | LlmError::Tools(_) => true,
            _ => false,
        }
    }
}

impl From<LlmError> for troupe_runtime::AgentError {
    fn from(e: LlmError) -> Self {
        if e.is_transient() {
            Self::transient(e.to_string())
        } else {
            Self::permanent(e.to_string())
        }
    }
}

/// The API key, never printed.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where token events go.
pub(crate) struct Tokens<'a> {
    pub bus: &'a EventBus,
    pub agent: &'a AgentId,
    pub call: &'a str,
    pub next: u64,
}

impl Tokens<'_> {
    fn emit(&mut self, text: String) {
        let kind = EventKind::LlmToken {
            call: self.call.to_string(),
            index: self.next,
            text,
        };
        self.next += 1;
        self.bus.agent(self.agent, kind);
    }
}

/// An endpoint: URL, key and reqwest client (one connection pool per agent).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    client: reqwest::Client,
    url: String,
    key: Option<Secret>,
    timeout: Duration,
    retries: u32,
    backoff: Backoff,
    stream: bool,
}

/// One attempt's failure: retry (after the endpoint's `Retry-After`, if it gave one) or not.
enum Failure {
    Retry(LlmError, Option<Duration>),
    Final(LlmError),
}

/// The HTTP client `llm.chat` agents share (pooled keep-alive connections, the system's
/// roots): connect timeout 10 s; each call sets its own deadline.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| error_chain(&e))
}

impl Endpoint {
    /// An endpoint calling through `client` (shared by a registry's agents: one connection
    /// pool, one TLS configuration; see [`http_client`]).
    pub(crate) fn new(
        config: &LlmConfig,
        key: Option<String>,
        client: reqwest::Client,
    ) -> Result<Self, String> {
        Ok(Self {
            client,
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            key: key.map(Secret),
            timeout: config.timeout,
            retries: config.retries,
            backoff: Backoff {
                initial: config.retry_backoff,
                max: Duration::from_secs(30),
                multiplier: 2.0,
            },
            stream: config.stream,
        })
    }

    /// Calls the endpoint until it answers, a failure is final, or the retries are used up.
    pub(crate) async fn call(
        &self,
        body: &Value,
        mut tokens: Option<Tokens<'_>>,
    ) -> Result<Turn, LlmError> {
        let mut attempt = 0;
        loop {
            match self.once(body, tokens.as_mut()).await {
                Ok(turn) => return Ok(turn),
                Err(Failure::Retry(e, after)) if attempt < self.retries => {
                    attempt += 1;
                    let wait = after.unwrap_or_else(|| self.backoff.delay(attempt));
                    tracing::debug!(target: "troupe::llm", url = %self.url, attempt, ?wait, error = %e, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(Failure::Retry(e, _) | Failure::Final(e)) => return Err(e),
            }
        }
    }

    async fn once(&self, body: &Value, tokens: Option<&mut Tokens<'_>>) -> Result<Turn, Failure> {
        let url = || self.url.clone();
        let timeout = || {
            Failure::Retry(
                LlmError::Timeout {
                    url: url(),
                    after: self.timeout,
                },
                None,
            )
        };
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(key) = &self.key {
            request = request.bearer_auth(&key.0);
        }
        let sent = tokio::time::timeout_at(deadline, request.send()).await;
        let mut response = match sent {
            Err(_) => return Err(timeout()),
            Ok(Err(e)) => {
                let e = LlmError::Io {
                    url: url(),
                    reason: error_chain(&e),
                };
                return Err(Failure::Retry(e, None));
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if status >= 400 {
            let after = retry_after(response.headers());
            let text = tokio::time::timeout_at(deadline, response.text())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let snippet: String = text.trim().chars().take(300).collect();
            let e = LlmError::Status {
                url: url(),
                status,
                body: if snippet.is_empty() {
                    String::new()
                } else {
                    format!(": {snippet}")
                },
            };
            return Err(match status == 429 || status >= 500 {
                true => Failure::Retry(e, after),
                false => Failure::Final(e),
            });
        }
        let io = |e: reqwest::Error| {
            Failure::Final(LlmError::Io {
                url: url(),
                reason: error_chain(&e),
            })
        };
        let decode = |reason: String| Failure::Final(LlmError::Decode { url: url(), reason });
        if !self.stream {
            let bytes = tokio::time::timeout_at(deadline, response.bytes())
                .await
                .map_err(|_| timeout())?
                .map_err(io)?;
            return decode_completion(&bytes).map_err(decode);
        }
        let mut stream = StreamDecoder::default();
        let mut tokens = tokens;
        loop {
            let chunk = tokio::time::timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| timeout())?
                .map_err(io)?;
            let Some(bytes) = chunk else { break };
            for text in stream.feed(&bytes).map_err(decode)? {
                if let Some(t) = tokens.as_deref_mut() {
                    t.emit(text);
                }
            }
            if stream.is_done() {
                break;
            }
        }
        Ok(stream.into_turn())
    }
}

/// `Retry-After` in seconds (an HTTP date is ignored: the backoff applies).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}
