//! `troupe-mcp-demo`: a small MCP server (`rmcp`), for `llm.chat`'s MCP tests and demos. It
//! speaks stdio by default; `troupe-mcp-demo --http 127.0.0.1:0` serves streamable HTTP at
//! `/mcp` instead and prints `listening http://<addr>/mcp` on its first line. Tools:
//!
//! - `word_count {text}`: the number of words of `text`, as structured content `{"words": n}`;
//! - `append_line {line}`: appends `line` to the file named by `$TROUPE_MCP_DEMO_LOG` (a side
//!   effect tests count) and answers `appended`.

use std::io::Write;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};

struct Demo;

fn schema(field: &str) -> serde_json::Map<String, Value> {
    match json!({"type": "object", "required": [field], "properties": {field: {"type": "string"}}})
    {
        Value::Object(o) => o,
        _ => unreachable!("an object literal"),
    }
}

fn text_of(request: &CallToolRequestParams, field: &str) -> Option<String> {
    let v = request.arguments.as_ref()?.get(field)?;
    v.as_str().map(str::to_string)
}

impl ServerHandler for Demo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new("word_count", "counts the words of a text", schema("text")),
            Tool::new(
                "append_line",
                "appends a line to the demo log",
                schema("line"),
            ),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let result = match request.name.as_ref() {
            "word_count" => match text_of(&request, "text") {
                Some(t) => {
                    let n = t.split_whitespace().count();
                    let mut r =
                        CallToolResult::success(vec![ContentBlock::text(format!("{n} words"))]);
                    r.structured_content = Some(json!({ "words": n }));
                    r
                }
                None => CallToolResult::error(vec![ContentBlock::text("missing `text`")]),
            },
            "append_line" => match (
                text_of(&request, "line"),
                std::env::var("TROUPE_MCP_DEMO_LOG"),
            ) {
                (Some(line), Ok(path)) => {
                    let written = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .and_then(|mut f| writeln!(f, "{line}"));
                    match written {
                        Ok(()) => CallToolResult::success(vec![ContentBlock::text("appended")]),
                        Err(e) => {
                            CallToolResult::error(vec![ContentBlock::text(format!("{path}: {e}"))])
                        }
                    }
                }
                (None, _) => CallToolResult::error(vec![ContentBlock::text("missing `line`")]),
                (_, Err(_)) => CallToolResult::error(vec![ContentBlock::text(
                    "TROUPE_MCP_DEMO_LOG is not set",
                )]),
            },
            other => CallToolResult::error(vec![ContentBlock::text(format!("no tool {other}"))]),
        };
        Ok(result.into())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            let service = Demo.serve(rmcp::transport::stdio()).await?;
            service.waiting().await?;
        }
        [flag, addr] if flag == "--http" => serve_http(addr).await?,
        _ => return Err("usage: troupe-mcp-demo [--http <address:port>]".into()),
    }
    Ok(())
}

/// Serves the tools over streamable HTTP at `/mcp` until killed.
async fn serve_http(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--http {addr}: {e}"))?;
    let service = StreamableHttpService::new(
        || Ok(Demo),
        LocalSessionManager::default().into(),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", service);
    println!("listening http://{}/mcp", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
