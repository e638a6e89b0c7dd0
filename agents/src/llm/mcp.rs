//! MCP tools (the `rmcp` crate; stdio and streamable-HTTP transports): on the agent's first
//! request each configured server is started as a child process (`command`) or connected to
//! over streamable HTTP (`url`, e.g. `http://127.0.0.1:8931/mcp`), its tools listed, and offered
//! to the model as `<server>__<tool>` with the server's own input schema. A call's text content (or structured
//! content) is the tool's result; `isError` results are failures the model sees.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::model::{CallToolRequestParams, Tool};
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::RoleClient;
use rmcp::ServiceExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;

/// An MCP server: a program spoken to over stdio (`command`), or a server at a streamable-HTTP
/// endpoint (`url`); exactly one of the two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// The prefix of its tools' names (`<name>__<tool>`): letters, digits, `_`, `-`.
    pub name: String,
    /// The program and its arguments (stdio transport).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Extra environment variables for the program.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The server's streamable-HTTP endpoint (`http://` or `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The environment variable holding a bearer token for `url` (never in the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_env: Option<String>,
}

/// A connected server and its tools.
struct Connected {
    client: Arc<RunningService<RoleClient, ()>>,
    tools: Vec<Tool>,
}

/// The MCP servers of one agent, connected once (on first use) and shared by its requests.
pub(crate) struct Mcp {
    configs: Vec<McpServerConfig>,
    connected: OnceCell<Result<Vec<(String, Connected)>, String>>,
}

impl Mcp {
    pub(crate) fn new(configs: Vec<McpServerConfig>) -> Self {
        Self {
            configs,
            connected: OnceCell::new(),
        }
    }

    async fn servers(&self) -> Result<&Vec<(String, Connected)>, String> {
        let r = self
            .connected
            .get_or_init(|| async {
                let mut out = Vec::new();
                for c in &self.configs {
                    out.push((c.name.clone(), connect(c).await?));
                }
                Ok(out)
            })
            .await;
        r.as_ref().map_err(Clone::clone)
    }

    /// The OpenAI `tools` entries of every server's tools (starting the servers if needed).
    pub(crate) async fn definitions(&self) -> Result<Vec<Value>, String> {
        if self.configs.is_empty() {
            return Ok(Vec::new());
        }
        let mut defs = Vec::new();
        for (server, c) in self.servers().await? {
            for t in &c.tools {
                defs.push(serde_json::json!({
                    "type": "function",
                    "function": {
                        "name": format!("{server}__{}", t.name),
                        "description": t.description.as_deref().unwrap_or(""),
                        "parameters": Value::Object((*t.input_schema).clone()),
                    }
                }));
            }
        }
        Ok(defs)
    }

    /// The client and tool name for a model's tool name, if it is an MCP tool.
    pub(crate) async fn find(
        &self,
        name: &str,
    ) -> Option<(Arc<RunningService<RoleClient, ()>>, String)> {
        let (server, tool) = name.split_once("__")?;
        let servers = self.servers().await.ok()?;
        let (_, c) = servers.iter().find(|(s, _)| s == server)?;
        c.tools
            .iter()
            .any(|t| t.name == tool)
            .then(|| (c.client.clone(), tool.to_string()))
    }
}

async fn connect(c: &McpServerConfig) -> Result<Connected, String> {
    let at = match &c.url {
        Some(url) => url.clone(),
        None => c.command.join(" "),
    };
    let fail = |e: String| format!("MCP server `{}` ({at}): {e}", c.name);
    let client = match &c.url {
        Some(url) => {
            let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
            if let Some(var) = &c.bearer_env {
                let token = std::env::var(var)
                    .map_err(|_| fail(format!("environment variable `{var}` is not set")))?;
                config = config.auth_header(token);
            }
            let transport = StreamableHttpClientTransport::from_config(config);
            ().serve(transport).await.map_err(|e| fail(e.to_string()))?
        }
        None => {
            let (program, args) = c
                .command
                .split_first()
                .ok_or_else(|| fail("no command".into()))?;
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args).envs(&c.env);
            let transport = TokioChildProcess::new(cmd).map_err(|e| fail(e.to_string()))?;
            ().serve(transport).await.map_err(|e| fail(e.to_string()))?
        }
    };
    let tools = client
        .list_all_tools()
        .await
        .map_err(|e| fail(e.to_string()))?;
    Ok(Connected {
        client: Arc::new(client),
        tools,
    })
}

/// Calls `tool` with `arguments`; the reply is the structured content, or the text content.
pub(crate) async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> Result<Value, String> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    match arguments {
        Value::Object(o) => params = params.with_arguments(o),
        Value::Null => {}
        other => return Err(format!("MCP tool `{tool}` takes an object, got {other}")),
    }
    let result = client.call_tool(params).await.map_err(|e| e.to_string())?;
    let text: Vec<String> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    if result.is_error == Some(true) {
        return Err(text.join("\n"));
    }
    Ok(match result.structured_content {
        Some(v) => v,
        None => Value::String(text.join("\n")),
    })
}
