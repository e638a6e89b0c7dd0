//! Agents as tools: a tool named `search` calls the workflow's pool `search` (agents
//! `<run>/search/<i>`, picked round robin) when the `llm.chat` agent belongs to a workflow run,
//! else the agent with that id. The calls of one model turn run concurrently, each with the
//! per-tool deadline; a failure or timeout goes back to the model as the tool's result (so it can
//! recover), never as the request's error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use troupe_runtime::{DynAgentRef, Runtime};

use super::config::ToolSpec;
use super::mcp::{self, Mcp};
use super::wire::ToolCall;

/// What one tool call answered: the content sent back to the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ToolResult {
    /// The call's id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The reply as JSON text, or `error: ...`.
    pub content: String,
    /// Whether the tool failed.
    pub failed: bool,
}

/// The tools of one agent.
pub(crate) struct Tools {
    specs: Vec<ToolSpec>,
    next: AtomicUsize,
    /// The MCP servers' tools.
    pub(crate) mcp: Arc<Mcp>,
}

impl Tools {
    pub(crate) fn new(specs: Vec<ToolSpec>, mcp: Mcp) -> Self {
        Self {
            specs,
            next: AtomicUsize::new(0),
            mcp: Arc::new(mcp),
        }
    }

    /// The OpenAI `tools` list: the agents', then the MCP servers' (started on first use).
    pub(crate) async fn definitions(&self) -> Result<Vec<Value>, String> {
        let mut defs: Vec<Value> = self.specs.iter().map(ToolSpec::definition).collect();
        defs.extend(self.mcp.definitions().await?);
        Ok(defs)
    }

    /// Runs `calls` concurrently; results in the calls' order. `key` (the request's idempotency
    /// key + step) is passed on to the tool agents as `<key>/<call id>`.
    pub(crate) async fn run(
        &self,
        runtime: Option<&Runtime>,
        me: &str,
        calls: &[ToolCall],
        key: Option<&str>,
        timeout: Duration,
    ) -> Vec<ToolResult> {
        let mut set = tokio::task::JoinSet::new();
        for (i, call) in calls.iter().enumerate() {
            let remote = self.mcp.find(&call.function.name).await;
            let prepared = match remote {
                Some((client, tool)) => arguments(call).map(|a| Target::Mcp(client, tool, a)),
                None => self
                    .prepare(runtime, me, call)
                    .map(|(agent, request)| Target::Agent(agent, request)),
            };
            let call = call.clone();
            let key = key.map(|k| format!("{k}/{}", call.id));
            set.spawn(async move {
                let outcome = match prepared {
                    Err(e) => Err(e),
                    Ok(Target::Agent(agent, request)) => invoke(agent, request, key, timeout).await,
                    Ok(Target::Mcp(client, tool, args)) => {
                        match tokio::time::timeout(timeout, mcp::call(&client, &tool, args)).await {
                            Err(_) => Err(format!(
                                "no reply within {timeout:?} (config `tool_timeout`)"
                            )),
                            Ok(r) => r,
                        }
                    }
                };
                let (content, failed) = match outcome {
                    Ok(v) => (v.to_string(), false),
                    Err(e) => (format!("error: {e}"), true),
                };
                let result = ToolResult {
                    id: call.id,
                    name: call.function.name,
                    content,
                    failed,
                };
                (i, result)
            });
        }
        let mut results: Vec<Option<ToolResult>> = vec![None; calls.len()];
        while let Some(done) = set.join_next().await {
            if let Ok((i, r)) = done {
                results[i] = Some(r);
            }
        }
        results
            .into_iter()
            .zip(calls)
            .map(|(r, c)| {
                r.unwrap_or_else(|| ToolResult {
                    id: c.id.clone(),
                    name: c.function.name.clone(),
                    content: "error: the tool call panicked".into(),
                    failed: true,
                })
            })
            .collect()
    }

    /// Finds the agent and builds its request.
    fn prepare(
        &self,
        runtime: Option<&Runtime>,
        me: &str,
        call: &ToolCall,
    ) -> Result<(DynAgentRef, Value), String> {
        let name = &call.function.name;
        let spec = self
            .specs
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = self.specs.iter().map(ToolSpec::name).collect();
                format!("no tool `{name}` (tools: {})", known.join(", "))
            })?;
        let arguments = arguments(call)?;
        let runtime = runtime.ok_or("the runtime has stopped")?;
        let agent = self.resolve(runtime, me, name)?;
        Ok((agent, spec.request(arguments)))
    }

    /// The pool `name` of my workflow run, or the agent `name`.
    fn resolve(&self, runtime: &Runtime, me: &str, name: &str) -> Result<DynAgentRef, String> {
        let mut parts = me.rsplitn(3, '/');
        let (_, _, run) = (parts.next(), parts.next(), parts.next());
        if let Some(run) = run {
            let members: Vec<DynAgentRef> = (0..)
                .map_while(|i| runtime.dyn_agent(&format!("{run}/{name}/{i}")).ok())
                .collect();
            if !members.is_empty() {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % members.len();
                return Ok(members[i].clone());
            }
        }
        runtime
            .dyn_agent(name)
            .map_err(|e| format!("tool `{name}`: {e}"))
    }
}

/// Where a tool call goes.
enum Target {
    Agent(DynAgentRef, Value),
    Mcp(
        Arc<rmcp::service::RunningService<rmcp::RoleClient, ()>>,
        String,
        Value,
    ),
}

/// A call's arguments as JSON (empty: `{}`).
fn arguments(call: &ToolCall) -> Result<Value, String> {
    let name = &call.function.name;
    if call.function.arguments.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(&call.function.arguments)
        .map_err(|e| format!("arguments of `{name}` are not JSON: {e}"))
}

async fn invoke(
    agent: DynAgentRef,
    request: Value,
    key: Option<String>,
    timeout: Duration,
) -> Result<Value, String> {
    let agent: Arc<_> = agent;
    let call = async {
        match &key {
            Some(k) => agent.ask_value_keyed(request, k, Some(timeout)).await,
            None => agent.ask_value(request, Some(timeout)).await,
        }
    };
    // The outer deadline backs up the call's own (a remote call may not keep it); either way
    // the message names the agent (the two raced under load with different messages).
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(format!(
            "agent {} did not reply within {timeout:?} (config `tool_timeout`)",
            agent.id()
        )),
        Ok(r) => r.map_err(|e| e.to_string()),
    }
}
