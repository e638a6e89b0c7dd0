//! The configuration of `llm.chat`, decoded with the runtime's one config decoder.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::ConfigError;

/// Configuration of `llm.chat`.
///
/// The API key is never part of it: `api_key_env` names the environment variable that holds it,
/// read when the agent is made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// The endpoint's base URL, up to `/v1` (*required*): `https://api.openai.com/v1`,
    /// `http://localhost:11434/v1` (Ollama), ... `/chat/completions` is appended.
    pub base_url: String,
    /// The model name (*required*).
    pub model: String,
    /// The name of the environment variable holding the API key (sent as a bearer token).
    pub api_key_env: Option<String>,
    /// The system prompt.
    pub system: Option<String>,
    /// The user message, a template over the request: `{input}`, `{input.field}` (as
    /// `text.transform`'s). Without it a string request is the message and other JSON is sent
    /// as its JSON text.
    pub prompt: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Most completion tokens.
    pub max_tokens: Option<u32>,
    /// Presence penalty.
    pub presence_penalty: Option<f64>,
    /// Frequency penalty.
    pub frequency_penalty: Option<f64>,
    /// Seed, for endpoints that sample deterministically with one.
    pub seed: Option<i64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Deadline of one HTTP exchange (default 60s).
    #[serde(with = "crate::shape::duration")]
    pub timeout: Duration,
    /// Structured output: the reply must be JSON fitting this schema, and becomes the output.
    pub response_format: Option<ResponseFormat>,
    /// Stream the reply (SSE); each token is published as an `LlmToken` event (default false).
    pub stream: bool,
    /// Attempts after the first on 429, 5xx and connection failures (default 3).
    pub retries: u32,
    /// The first wait between attempts when the endpoint gives no `Retry-After` (default
    /// 500ms, doubling up to 30s).
    #[serde(with = "crate::shape::duration")]
    pub retry_backoff: Duration,
    /// Tools the model may call (pools or agents of the workflow).
    pub tools: Vec<ToolSpec>,
    /// MCP servers (stdio) whose tools the model may call, as `<name>__<tool>`.
    pub mcp: Vec<super::mcp::McpServerConfig>,
    /// As a member of a handoff pattern: the members it may transfer to.
    pub handoff: Option<super::handoff::HandoffTools>,
    /// As the coordinator of a supervisor pattern: the capabilities its units may ask for
    /// (the model gets `assign_units` and `finish` tools).
    pub supervisor: Option<super::supervise::SupervisorTools>,
    /// Most model turns in one request's tool loop (default 8).
    pub max_steps: u32,
    /// Deadline of one tool call (default 30s).
    #[serde(with = "crate::shape::duration")]
    pub tool_timeout: Duration,
    /// Keep the conversation across requests, in the agent's snapshot.
    pub memory: Option<MemoryConfig>,
    /// Requests and tokens per minute for this endpoint and model, shared by every agent of the
    /// runtime that names the same endpoint and model.
    pub budget: Option<BudgetConfig>,
    /// A directory where each completed model turn and tool result of a keyed call is
    /// recorded, so that a repeated call (a resumed run) replays them instead of calling again.
    /// Without it they are recorded in the runtime's durable store when it has one (the run
    /// store under `troupe run`/`resume`/`serve`).
    pub journal_dir: Option<PathBuf>,
    /// What the reply is: `content` (default: the text, or the JSON of structured output) or
    /// `full` (`{content, usage, steps, tool_calls}`).
    pub reply: ReplyShape,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            model: String::new(),
            api_key_env: None,
            system: None,
            prompt: None,
            temperature: None,
            top_p: None,
            max_tokens: None,
            presence_penalty: None,
            frequency_penalty: None,
            seed: None,
            stop: Vec::new(),
            timeout: Duration::from_secs(60),
            response_format: None,
            stream: false,
            retries: 3,
            retry_backoff: Duration::from_millis(500),
            tools: Vec::new(),
            mcp: Vec::new(),
            handoff: None,
            supervisor: None,
            max_steps: 8,
            tool_timeout: Duration::from_secs(30),
            memory: None,
            budget: None,
            journal_dir: None,
            reply: ReplyShape::Content,
        }
    }
}

/// Structured output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFormat {
    /// The schema's name (default `output`).
    #[serde(default = "output")]
    pub name: String,
    /// The JSON schema the reply must fit.
    pub schema: Value,
}

fn output() -> String {
    "output".into()
}

/// A tool: a pool or agent name, or the name with its description and argument schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolSpec {
    /// Just the name: the request is `{"input": ...}` and `input` is sent to the agent.
    Name(String),
    /// Name, description and the JSON schema of the arguments (then the arguments object is the
    /// request sent to the agent).
    Full {
        /// The pool or agent.
        agent: String,
        /// What it does, for the model.
        #[serde(default)]
        description: Option<String>,
        /// The JSON schema of its request.
        #[serde(default)]
        parameters: Option<Value>,
    },
}

/// Conversation memory limits: the oldest exchanges go first.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Most messages kept (default 40).
    pub max_messages: usize,
    /// Most estimated tokens kept (4 characters a token; default 8000).
    pub max_tokens: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_messages: 40,
            max_tokens: 8000,
        }
    }
}

/// Per-minute budgets of one endpoint and model.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    /// Requests per minute (none: unlimited).
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute, counting the prompt's estimate plus `max_tokens` when admitted and the
    /// reported usage after (none: unlimited).
    pub tokens_per_minute: Option<u64>,
}

/// The shape of `llm.chat`'s reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyShape {
    /// The text, or the structured output's JSON.
    #[default]
    Content,
    /// `{content, usage, steps, tool_calls}`.
    Full,
}

impl LlmConfig {
    /// Checks what serde cannot.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let err = |path: &str, reason: String| Err(ConfigError::new("llm.chat", path, reason));
        if self.base_url.is_empty() {
            return err(
                "/base_url",
                "required: the endpoint, e.g. http://localhost:11434/v1".into(),
            );
        }
        if let Err(e) = reqwest::Url::parse(&self.base_url) {
            return err("/base_url", format!("not a URL: {e}"));
        }
        if !self.base_url.starts_with("http://") && !self.base_url.starts_with("https://") {
            return err("/base_url", "must start with http:// or https://".into());
        }
        if self.model.is_empty() {
            return err("/model", "required: the model name".into());
        }
        if let Some(name) = &self.api_key_env {
            if name.is_empty() || name.contains('=') {
                return err(
                    "/api_key_env",
                    "must be an environment variable name".into(),
                );
            }
        }
        if let Some(f) = &self.response_format {
            if !f.schema.is_object() {
                return err(
                    "/response_format/schema",
                    "must be a JSON schema object".into(),
                );
            }
        }
        if self.handoff.is_some() && self.supervisor.is_some() {
            return err(
                "/supervisor",
                "a member is in a handoff or a supervisor pattern, not both (`handoff` is set too)"
                    .into(),
            );
        }
        if self.max_steps == 0 {
            return err("/max_steps", "must be at least 1".into());
        }
        for (i, t) in self.tools.iter().enumerate() {
            let name = t.name();
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
            if !ok {
                return err(
                    &format!("/tools/{i}"),
                    format!("tool name {name:?} must be letters, digits, `_`, `-` or `.`"),
                );
            }
            if let ToolSpec::Full {
                parameters: Some(p),
                ..
            } = t
            {
                if !p.is_object() {
                    return err(
                        &format!("/tools/{i}/parameters"),
                        "must be a JSON schema object".into(),
                    );
                }
            }
        }
        for (i, m) in self.mcp.iter().enumerate() {
            let ok = !m.name.is_empty()
                && !m.name.contains("__")
                && m.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return err(
                    &format!("/mcp/{i}/name"),
                    format!("{:?} must be letters, digits, `_` or `-` (no `__`)", m.name),
                );
            }
            match (&m.url, m.command.is_empty()) {
                (None, true) => {
                    return err(
                        &format!("/mcp/{i}"),
                        "needs `command` (the program to run, stdio) or `url` (streamable HTTP)"
                            .into(),
                    )
                }
                (Some(_), false) => {
                    return err(
                        &format!("/mcp/{i}"),
                        "has both `command` and `url`: one transport per server".into(),
                    )
                }
                (Some(url), true)
                    if !(url.starts_with("http://") || url.starts_with("https://")) =>
                {
                    return err(
                        &format!("/mcp/{i}/url"),
                        format!("{url:?} must start with http:// or https://"),
                    )
                }
                _ => {}
            }
        }
        if let Some(m) = &self.memory {
            if m.max_messages == 0 {
                return err("/memory/max_messages", "must be at least 1".into());
            }
        }
        if let Some(b) = &self.budget {
            if b.requests_per_minute == Some(0) || b.tokens_per_minute == Some(0) {
                return err("/budget", "a budget of zero admits nothing".into());
            }
        }
        Ok(())
    }
}

impl ToolSpec {
    /// The pool or agent the tool calls.
    pub fn name(&self) -> &str {
        match self {
            ToolSpec::Name(n) => n,
            ToolSpec::Full { agent, .. } => agent,
        }
    }

    /// The OpenAI `tools` entry.
    pub(crate) fn definition(&self) -> Value {
        let (description, parameters) = match self {
            ToolSpec::Name(n) => (
                format!("calls agent `{n}` with `input` as its request"),
                None,
            ),
            ToolSpec::Full {
                agent,
                description,
                parameters,
            } => (
                description
                    .clone()
                    .unwrap_or_else(|| format!("calls agent `{agent}`")),
                parameters.clone(),
            ),
        };
        let parameters = parameters.unwrap_or_else(|| {
            serde_json::json!({
                "type": "object",
                "properties": { "input": { "description": "the request sent to the agent" } },
                "required": ["input"]
            })
        });
        serde_json::json!({
            "type": "function",
            "function": { "name": self.name(), "description": description, "parameters": parameters }
        })
    }

    /// The request sent to the agent for `arguments`: the arguments object when the tool has
    /// its own schema, else their `input`.
    pub(crate) fn request(&self, arguments: Value) -> Value {
        let own_schema = matches!(
            self,
            ToolSpec::Full {
                parameters: Some(_),
                ..
            }
        );
        match arguments {
            Value::Object(mut o) if !own_schema && o.contains_key("input") => {
                o.remove("input").unwrap_or_default()
            }
            other => other,
        }
    }
}
