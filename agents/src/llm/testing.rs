//! A scripted OpenAI-compatible chat-completions server over real HTTP (axum on
//! `127.0.0.1:0`), for tests and benchmarks of `llm.chat` (feature `testing`).
//!
//! It serves `POST /v1/chat/completions`: each request is recorded ([`Recorded`]: body,
//! headers, arrival time on tokio's clock) and answered by the next [`Reply`] of its queue, or,
//! when the queue is empty, by its responder (a function of the request), or else with a 500.
//! Replies speak the documented format: plain completions, streamed ones (`data: {chunk}` events,
//! a usage chunk, `data: [DONE]`), tool calls (`tool_calls`, `finish_reason: tool_calls`),
//! `usage`, and error statuses with an optional `Retry-After`.
//!
//! ```no_run
//! # async fn demo() {
//! use troupe_agents::llm::testing::{Reply, ScriptedServer};
//! let server = ScriptedServer::start().await;
//! server.push(Reply::status(429).retry_after(1));
//! server.push(Reply::text("hello").usage(3, 1));
//! // point `base_url` at server.base_url() ...
//! # }
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{json, Value};

/// A canned answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    status: u16,
    retry_after: Option<u64>,
    content: Option<String>,
    tool_calls: Vec<(String, String, Value)>,
    usage: Option<(u64, u64)>,
    stream: bool,
    raw: Option<String>,
}

impl Reply {
    fn empty(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            content: None,
            tool_calls: Vec::new(),
            usage: None,
            stream: false,
            raw: None,
        }
    }

    /// A final answer with `content` (`finish_reason: stop`).
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: Some(content.into()),
            ..Self::empty(200)
        }
    }

    /// A turn calling tools: `(id, function name, arguments)` each.
    pub fn tool_calls<I, S, N>(calls: I) -> Self
    where
        I: IntoIterator<Item = (S, N, Value)>,
        S: Into<String>,
        N: Into<String>,
    {
        Self {
            tool_calls: calls
                .into_iter()
                .map(|(id, name, args)| (id.into(), name.into(), args))
                .collect(),
            ..Self::empty(200)
        }
    }

    /// An error status with a JSON error body.
    pub fn status(status: u16) -> Self {
        Self::empty(status)
    }

    /// A 200 whose body is `raw`, as is (for malformed replies).
    pub fn raw(body: impl Into<String>) -> Self {
        Self {
            raw: Some(body.into()),
            ..Self::empty(200)
        }
    }

    /// Sets `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Reports this usage (else: the request's characters / 4 and the reply's).
    pub fn usage(mut self, prompt: u64, completion: u64) -> Self {
        self.usage = Some((prompt, completion));
        self
    }

    /// Answers as a stream even if the request did not ask for one (a streamed request always
    /// gets a stream).
    pub fn streamed(mut self) -> Self {
        self.stream = true;
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The JSON body.
    pub body: Value,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// When it arrived (tokio's clock: paused time in tests).
    pub at: tokio::time::Instant,
}

type Responder = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    responder: Mutex<Option<Responder>>,
}

/// The running server; stopped when dropped.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    /// Starts on `127.0.0.1` at a free port.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(serve))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// The `base_url` to configure: `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a reply.
    pub fn push(&self, reply: Reply) {
        self.shared.queue.lock().expect("queue").push_back(reply);
    }

    /// Answers requests that find the queue empty with `f(request body)`.
    pub fn respond_with(&self, f: impl Fn(&Value) -> Reply + Send + Sync + 'static) {
        *self.shared.responder.lock().expect("responder") = Some(Arc::new(f));
    }

    /// Forgets the requests received so far (a benchmark's long runs would keep them all).
    pub fn clear_requests(&self) {
        self.shared.requests.lock().expect("requests").clear();
    }

    /// The requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("requests").clone()
    }
}

async fn serve(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let request: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let recorded = Recorded {
        body: request.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into(),
                )
            })
            .collect(),
        at: tokio::time::Instant::now(),
    };
    shared.requests.lock().expect("requests").push(recorded);
    let queued = shared.queue.lock().expect("queue").pop_front();
    let responder = shared.responder.lock().expect("responder").clone();
    let reply = match (queued, responder) {
        (Some(r), _) => r,
        (None, Some(f)) => f(&request),
        (None, None) => Reply::status(500),
    };
    render(&reply, &request, body.len())
}

fn render(reply: &Reply, request: &Value, request_len: usize) -> Response {
    let builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if reply.status >= 400 {
        let mut b = builder.header("content-type", "application/json");
        if let Some(s) = reply.retry_after {
            b = b.header("retry-after", s.to_string());
        }
        let error = json!({"error": {"message": format!("scripted status {}", reply.status), "type": "scripted"}});
        return b.body(Body::from(error.to_string())).expect("response");
    }
    if let Some(raw) = &reply.raw {
        return builder
            .header("content-type", "application/json")
            .body(Body::from(raw.clone()))
            .expect("response");
    }
    let model = request["model"].as_str().unwrap_or("scripted").to_string();
    let content = reply.content.clone().unwrap_or_default();
    let (prompt, completion) = reply.usage.unwrap_or((
        (request_len as u64).div_ceil(4),
        (content.len() as u64).div_ceil(4).max(1),
    ));
    let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion});
    let calls: Vec<Value> = reply
        .tool_calls
        .iter()
        .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}}))
        .collect();
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    if reply.stream || request["stream"] == Value::Bool(true) {
        let mut out = String::new();
        let mut event = |v: Value| out.push_str(&format!("data: {v}\n\n"));
        let chunk = |delta: Value, finish: Value| json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        event(chunk(json!({"role": "assistant"}), Value::Null));
        for piece in tokens(&content) {
            event(chunk(json!({"content": piece}), Value::Null));
        }
        for (i, c) in calls.iter().enumerate() {
            let mut c = c.clone();
            c["index"] = json!(i);
            event(chunk(json!({"tool_calls": [c]}), Value::Null));
        }
        event(chunk(json!({}), json!(finish)));
        event(
            json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}),
        );
        out.push_str("data: [DONE]\n\n");
        return builder
            .header("content-type", "text/event-stream")
            .body(Body::from(out))
            .expect("response");
    }
    let mut message = json!({"role": "assistant", "content": reply.content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::from(calls);
    }
    let body = json!({
        "id": "chatcmpl-scripted", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    });
    builder
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("response")
}

/// Splits text into word-ish tokens (each word with its leading space), as a stream would.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        out.push(if i == 0 {
            word.to_string()
        } else {
            format!(" {word}")
        });
    }
    out.retain(|t| !t.is_empty());
    out
}
