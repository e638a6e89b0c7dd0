//! `llm.chat`: a chat-completions call to any OpenAI-compatible endpoint (OpenAI, Ollama,
//! vLLM, llama.cpp's server, LM Studio, ...), with structured output, streaming, retries,
//! token budgets, agents as tools, a journaled tool loop and conversation memory.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | [`LlmConfig`] and its parts |
//! | `wire.rs` | the wire format: messages, tool calls, usage, SSE |
//! | `client.rs` | one exchange: retries on 429/5xx with `Retry-After`, streaming, [`LlmError`] |
//! | `budget.rs` | [`Budgets`]: per endpoint+model requests/tokens per minute, fair queue |
//! | `split.rs` | [`BudgetSplit`]: a cluster node's share of each budget, from membership events |
//! | `tools.rs` | agents as tools, run concurrently with a deadline |
//! | `handoff.rs` | `transfer_to_<member>` tools for a handoff pattern's LLM members |
//! | `supervise.rs` | `assign_units`/`finish` tools for a supervisor pattern's LLM coordinator |
//! | `mcp.rs` | MCP servers' tools over stdio (`rmcp`) |
//! | `journal.rs` | the tool loop's journal (replay without repeats) and [`Conversation`] memory |
//! | `schema.rs` | structured output checked against its JSON schema |
//! | `testing.rs` | (feature `testing`) a scripted OpenAI-compatible server |

mod budget;
mod client;
mod config;
pub mod decode;
mod handoff;
mod journal;
mod mcp;
mod schema;
mod split;
mod supervise;
mod tools;
mod wire;

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{
    Agent, AgentContext, AgentError, ConfigError, EventKind, Persistence, RunId, Snapshot, TaskId,
};

pub use budget::{share, Budgets};
pub use client::LlmError;
pub use config::{BudgetConfig, LlmConfig, MemoryConfig, ReplyShape, ResponseFormat, ToolSpec};
pub use handoff::HandoffTools;
pub use journal::Conversation;
pub use mcp::McpServerConfig;
pub use split::BudgetSplit;
pub use supervise::SupervisorTools;
pub use wire::{FunctionCall, Message, ToolCall, Usage};

use crate::text::transform::{fill, parse_template, Piece};
use budget::Limiter;
use client::{Endpoint, Tokens};
use journal::Journal;
use tools::{ToolResult, Tools};
use wire::Turn;

/// The `full` reply of `llm.chat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmReply {
    /// The final text, or the structured output's JSON.
    pub content: Value,
    /// Tokens used by every model turn of the request.
    pub usage: Usage,
    /// Model turns taken.
    pub steps: u32,
    /// The tool calls made, in order: `{name, arguments, result, failed}`.
    pub tool_calls: Vec<Value>,
}

/// `llm.chat`: see the [module docs](self) and the crate's kind table.
pub struct LlmChat {
    config: LlmConfig,
    endpoint: Endpoint,
    limiter: Option<Arc<Limiter>>,
    template: Option<Vec<Piece>>,
    tools: Tools,
    calls: AtomicU64,
}

impl std::fmt::Debug for LlmChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config has no secret (only the variable's name); the endpoint's key is redacted.
        f.debug_struct("LlmChat")
            .field("config", &self.config)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl LlmChat {
    /// An agent with this configuration; its budget (if any) is shared through `budgets`.
    pub fn new(config: LlmConfig, budgets: &Budgets) -> Result<Self, ConfigError> {
        config.check()?;
        let key = match &config.api_key_env {
            None => None,
            Some(var) => Some(std::env::var(var).map_err(|_| {
                ConfigError::new(
                    "llm.chat",
                    "/api_key_env",
                    format!("environment variable `{var}` is not set (or not UTF-8)"),
                )
            })?),
        };
        let template = match &config.prompt {
            Some(t) => {
                Some(parse_template(t).map_err(|e| ConfigError::new("llm.chat", "/prompt", e))?)
            }
            None => None,
        };
        let endpoint = budgets
            .client()
            .and_then(|client| Endpoint::new(&config, key, client))
            .map_err(|e| ConfigError::new("llm.chat", "", format!("HTTP client: {e}")))?;
        let limiter = config
            .budget
            .map(|b| budgets.limiter(&config.base_url, &config.model, b));
        Ok(Self {
            tools: Tools::new(config.tools.clone(), mcp::Mcp::new(config.mcp.clone())),
            config,
            endpoint,
            limiter,
            template,
            calls: AtomicU64::new(0),
        })
    }

    /// An agent built from a pool's JSON `config:`, sharing `budgets`.
    pub fn from_config(config: &Value, budgets: &Budgets) -> Result<Self, ConfigError> {
        Self::new(crate::shape::parse_config(config)?, budgets)
    }

    fn user_message(&self, request: &Value) -> Result<Message, LlmError> {
        let text = match (&self.template, request) {
            (Some(t), input) => {
                fill(t, input).map_err(|e| LlmError::BadRequest(format!("config `prompt`: {e}")))?
            }
            (None, Value::String(s)) => s.clone(),
            (None, other) => other.to_string(),
        };
        Ok(Message::new("user", text))
    }

    /// One model turn: admitted by the budget, called, usage published.
    async fn turn(
        &self,
        ctx: &AgentContext,
        messages: &[Message],
        call: &str,
    ) -> Result<Turn, LlmError> {
        let mut tools = self.tools.definitions().await.map_err(LlmError::Tools)?;
        if let Some(h) = &self.config.handoff {
            tools.extend(h.definitions());
        }
        if let Some(s) = &self.config.supervisor {
            tools.extend(s.definitions());
        }
        let body = wire::request_body(&self.config, messages, &tools);
        let estimate = messages.iter().map(Message::estimated_tokens).sum::<u64>()
            + u64::from(self.config.max_tokens.unwrap_or(256));
        let ticket = match &self.limiter {
            Some(l) => Some(l.admit(estimate).await),
            None => None,
        };
        let runtime = ctx.runtime();
        let tokens = runtime.as_ref().map(|r| Tokens {
            bus: r.events(),
            agent: ctx.id(),
            call,
            next: 0,
        });
        let turn = self.endpoint.call(&body, tokens).await;
        if let (Some(l), Some(t)) = (&self.limiter, ticket) {
            let used = turn
                .as_ref()
                .ok()
                .and_then(|t| t.usage)
                .map(|u| u.total_tokens);
            l.settle(t, used.unwrap_or(estimate));
        }
        let turn = turn?;
        if let (Some(r), Some(u)) = (&runtime, turn.usage) {
            let (run, task) = task_of(ctx.idempotency_key());
            r.events().emit(
                run.as_ref(),
                task.as_ref(),
                Some(ctx.id()),
                EventKind::LlmUsage {
                    call: call.to_string(),
                    model: self.config.model.clone(),
                    prompt_tokens: u.prompt_tokens,
                    completion_tokens: u.completion_tokens,
                    total_tokens: u.total_tokens,
                },
            );
        }
        Ok(turn)
    }

    /// The tool loop: model turns until one answers without tool calls.
    async fn converse(
        &self,
        ctx: &AgentContext,
        mut messages: Vec<Message>,
    ) -> Result<(Turn, LlmReply), AgentError> {
        let key = ctx.idempotency_key();
        let store = ctx.runtime().and_then(|r| r.store().cloned());
        let journal = Journal::open(self.config.journal_dir.as_deref(), store, key);
        let call = match key {
            Some(k) => k.to_string(),
            None => format!(
                "{}#{}",
                ctx.id(),
                self.calls.fetch_add(1, Ordering::Relaxed) + 1
            ),
        };
        let mut reply = LlmReply {
            content: Value::Null,
            usage: Usage::default(),
            steps: 0,
            tool_calls: Vec::new(),
        };
        let runtime = ctx.runtime();
        for step in 0..self.config.max_steps {
            let name = format!("{step}.model.json");
            let turn = match journal
                .get::<Turn>(&name)
                .await
                .map_err(AgentError::permanent)?
            {
                Some(t) => t,
                None => {
                    let t = self.turn(ctx, &messages, &call).await?;
                    journal
                        .put(&name, &t)
                        .await
                        .map_err(AgentError::transient)?;
                    t
                }
            };
            reply.steps = step + 1;
            if let Some(u) = turn.usage {
                reply.usage.add(u);
            }
            messages.push(turn.message());
            if turn.tool_calls.is_empty() {
                return Ok((turn, reply));
            }
            if let Some(handoff) = self
                .config
                .handoff
                .as_ref()
                .and_then(|h| h.transfer(&turn.tool_calls))
            {
                reply.content = handoff;
                return Ok((turn, reply));
            }
            match self
                .config
                .supervisor
                .as_ref()
                .and_then(|s| s.decide(&turn.tool_calls))
            {
                Some(Ok(decided)) => {
                    reply.content = decided;
                    return Ok((turn, reply));
                }
                Some(Err((bad, why))) => {
                    // Every call of the turn needs a result: the bad one gets why, the others
                    // that they did not run; the model tries again.
                    for c in &turn.tool_calls {
                        let text = match c.id == bad {
                            true => format!("error: {why}"),
                            false => "not run: a coordinator tool call of this turn failed".into(),
                        };
                        messages.push(Message::tool(&c.id, text));
                    }
                    continue;
                }
                None => {}
            }
            let mut results: Vec<Option<ToolResult>> = Vec::new();
            let mut missing = Vec::new();
            for c in &turn.tool_calls {
                let r = journal
                    .get::<ToolResult>(&format!("{step}.tool.{}.json", c.id))
                    .await
                    .map_err(AgentError::permanent)?;
                if r.is_none() {
                    missing.push(c.clone());
                }
                results.push(r);
            }
            let step_key = key.map(|k| format!("{k}/llm/{step}"));
            let ran = self
                .tools
                .run(
                    runtime.as_ref(),
                    ctx.id().as_str(),
                    &missing,
                    step_key.as_deref(),
                    self.config.tool_timeout,
                )
                .await;
            for r in ran {
                journal
                    .put(&format!("{step}.tool.{}.json", r.id), &r)
                    .await
                    .map_err(AgentError::transient)?;
                if let Some(slot) = turn
                    .tool_calls
                    .iter()
                    .position(|c| c.id == r.id)
                    .and_then(|i| results.get_mut(i))
                {
                    *slot = Some(r);
                }
            }
            for (c, r) in turn.tool_calls.iter().zip(results) {
                let r = r.expect("every call has a result");
                reply.tool_calls.push(serde_json::json!({
                    "name": c.function.name, "arguments": c.function.arguments,
                    "result": r.content, "failed": r.failed,
                }));
                messages.push(Message::tool(&c.id, r.content));
            }
        }
        let last = messages
            .last()
            .map(|_| {
                reply
                    .tool_calls
                    .iter()
                    .rev()
                    .filter_map(|c| c["name"].as_str())
                    .next()
                    .unwrap_or("nothing")
                    .to_string()
            })
            .unwrap_or_default();
        Err(LlmError::Steps {
            max: self.config.max_steps,
            last,
        }
        .into())
    }

    /// The final text as the output: structured output parsed and checked.
    fn output(&self, turn: &Turn) -> Result<Value, LlmError> {
        let Some(format) = &self.config.response_format else {
            return Ok(Value::String(turn.content.clone()));
        };
        let snippet = || turn.content.chars().take(200).collect::<String>();
        let text = strip_fence(&turn.content);
        let value: Value = serde_json::from_str(text).map_err(|e| LlmError::Schema {
            reason: format!("not JSON: {e}"),
            reply: snippet(),
        })?;
        schema::check(&format.schema, &value).map_err(|reason| LlmError::Schema {
            reason,
            reply: snippet(),
        })?;
        Ok(value)
    }
}

/// The run and task of a workflow task's idempotency key (`run/task/attempt[/item]`, the
/// attempt a number); nothing for other keys.
fn task_of(key: Option<&str>) -> (Option<RunId>, Option<TaskId>) {
    let Some(key) = key else {
        return (None, None);
    };
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [run, task, attempt] | [run, task, attempt, _]
            if !run.is_empty() && !task.is_empty() && attempt.parse::<u32>().is_ok() =>
        {
            (Some(RunId::new(*run)), Some(TaskId::new(*task)))
        }
        _ => (None, None),
    }
}

/// A reply wrapped in a Markdown code fence (some local models do that) without the fence.
fn strip_fence(text: &str) -> &str {
    let t = text.trim();
    match t.strip_prefix("```") {
        Some(rest) => {
            let rest = rest.strip_prefix("json").unwrap_or(rest);
            rest.strip_suffix("```").unwrap_or(rest).trim()
        }
        None => t,
    }
}

impl Agent for LlmChat {
    type Request = Value;
    type Reply = Value;
    type State = Conversation;

    async fn init(
        &self,
        _ctx: &AgentContext,
        restored: Option<Snapshot>,
    ) -> Result<Conversation, AgentError> {
        match restored {
            Some(s) if self.config.memory.is_some() => s
                .decode()
                .map_err(|e| AgentError::permanent(format!("llm.chat memory snapshot: {e}"))),
            _ => Ok(Conversation::default()),
        }
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        memory: &mut Conversation,
        request: Value,
    ) -> Result<Value, AgentError> {
        let (request, context, report) = match (&self.config.handoff, &self.config.supervisor) {
            (Some(_), _) => {
                let (r, c) = HandoffTools::unwrap_input(&request);
                (r, c, None)
            }
            (None, Some(_)) => {
                let (r, report) = SupervisorTools::unwrap_input(&request);
                (r, None, report)
            }
            (None, None) => (request, None, None),
        };
        let user = self.user_message(&request)?;
        let mut messages = Vec::new();
        if let Some(system) = &self.config.system {
            messages.push(Message::new("system", system.clone()));
        }
        if let Some(context) = context {
            messages.push(Message::new("system", context));
        }
        messages.extend(memory.messages.iter().cloned());
        messages.push(user.clone());
        if let Some(report) = report {
            messages.push(Message::new("user", report));
        }
        let (turn, mut reply) = self.converse(ctx, messages).await?;
        // A handoff or coordinator tool call already set the protocol's answer.
        let decided = !reply.content.is_null();
        if !decided {
            reply.content = self.output(&turn)?;
            if self.config.handoff.is_some() {
                reply.content = serde_json::json!({ "reply": reply.content });
            } else if self.config.supervisor.is_some() {
                reply.content = serde_json::json!({ "done": reply.content });
            }
        }
        if let Some(limits) = &self.config.memory {
            memory.remember(
                user,
                Message::new("assistant", turn.content.clone()),
                limits,
            );
        }
        Ok(match self.config.reply {
            ReplyShape::Content => reply.content,
            ReplyShape::Full => {
                serde_json::to_value(reply).map_err(|e| AgentError::permanent(e.to_string()))?
            }
        })
    }

    fn snapshot(&self, memory: &Conversation) -> Result<Option<Snapshot>, AgentError> {
        if self.config.memory.is_none() {
            return Ok(None);
        }
        Snapshot::encode(memory)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        match self.config.memory {
            Some(_) => Persistence::AfterEachRequest,
            None => Persistence::Never,
        }
    }
}
