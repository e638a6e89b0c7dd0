//! Token usage of a `troupe run`: per task and in total in the summary and in the JSON report
//! (`--report`), from the `LlmUsage` events the `llm.chat` calls publish. The endpoint is the
//! scripted OpenAI-compatible server in this test process (real HTTP, a real `troupe` process).

use std::process::Command;

use serde_json::{json, Value};
use troupe_agents::llm::testing::{Reply, ScriptedServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_summary_and_report_show_tokens_per_task_and_in_total() {
    let dir = std::env::temp_dir().join(format!("troupe-llm-usage-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = ScriptedServer::start().await;
    server.respond_with(|request| {
        let user = request["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string();
        match user.as_str() {
            // `ask` takes two model turns: a tool call, then the answer.
            "question" => Reply::tool_calls([("t", "shout", json!({"input": "hi"}))]).usage(10, 2),
            _ if request["messages"].as_array().unwrap().len() > 2 => {
                Reply::text("done").usage(20, 3)
            }
            _ => Reply::text("summary").usage(7, 1),
        }
    });
    let yaml = format!(
        r#"workflow:
  name: llm_usage
  agents:
    model: {{ type: llm.chat, config: {{ base_url: "{url}", model: m, tools: [shout] }} }}
    shout: {{ type: text.transform, config: {{ op: uppercase }} }}
  tasks:
    - {{ id: ask, agent: model, input: question }}
    - {{ id: sum, agent: model, depends_on: [ask] }}
"#,
        url = server.base_url()
    );
    let file = dir.join("llm_usage.yaml");
    std::fs::write(&file, yaml).unwrap();
    let report = dir.join("report.json");
    let out = tokio::task::spawn_blocking({
        let (file, report, dir) = (file.clone(), report.clone(), dir.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_troupe"))
                .current_dir(&dir)
                .env("XDG_DATA_HOME", &dir)
                .env_remove("RUST_LOG")
                .args(["run", "--no-progress", "--store", "memory", "--report"])
                .arg(&report)
                .arg(&file)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.requests().len(), 3);
    assert!(
        stdout.contains("llm tokens (prompt + completion = total, calls):"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  ask    30 + 5 = 35 (2 calls)"),
        "{stdout}"
    );
    assert!(stdout.contains("  sum    7 + 1 = 8 (1 call)"), "{stdout}");
    assert!(
        stdout.contains("  total  37 + 6 = 43 (3 calls)"),
        "{stdout}"
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        doc["llm_usage"]["tasks"]["ask"],
        json!({"calls": 2, "prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35})
    );
    assert_eq!(doc["llm_usage"]["total"]["total_tokens"], 43);
    let _ = std::fs::remove_dir_all(&dir);
}
