//! `kill -9` in the middle of an `llm.chat` tool loop, then `troupe resume`: the tool call that
//! had completed is not repeated (its result comes from the agent's journal, kept in the run
//! store: no `journal_dir`), the one in flight
//! runs at most once more, and the model is not asked again for the turns it had answered.
//! The endpoint is the scripted OpenAI-compatible server in this test process (real HTTP).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use troupe_agents::llm::testing::{Reply, ScriptedServer};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("troupe-llm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn troupe(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_troupe"));
    c.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("XDG_DATA_HOME", dir)
        .env("TROUPE_STORE", dir.join("runs.db"))
        .env("TROUPE_LEASE_TTL_MS", "1000");
    c
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_tool_loop_resumes_without_repeating_a_completed_tool_call() {
    let dir = scratch("kill");
    let (log, gate) = (dir.join("log"), dir.join("gate"));
    let server = ScriptedServer::start().await;
    server.push(Reply::tool_calls([("w", "write", json!({"input": null}))]));
    server.push(Reply::tool_calls([("b", "block", json!({"input": null}))]));
    let yaml = format!(
        r#"workflow:
  name: llm_kill
  agents:
    model:
      type: llm.chat
      config: {{ base_url: "{url}", model: m, tools: [write, block], retries: 0, timeout: 120s, tool_timeout: 120s }}
    write: {{ type: cmd.run, config: {{ shell: true, program: "echo write >> {log}; echo ok" }} }}
    block: {{ type: cmd.run, config: {{ shell: true, timeout: 120s, program: "echo block >> {log}; while [ ! -f {gate} ]; do sleep 0.02; done; echo unblocked" }} }}
  tasks:
    - {{ id: ask, agent: model, input: go }}
"#,
        url = server.base_url(),
        log = log.display(),
        gate = gate.display(),
    );
    let file = dir.join("llm_kill.yaml");
    std::fs::write(&file, yaml).unwrap();

    let mut run = troupe(&dir);
    run.args(["run", "--no-progress"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = run.spawn().expect("troupe run starts");
    // The event to wait for: the second tool is running (so the first one has completed).
    let deadline = Instant::now() + Duration::from_secs(120);
    while !lines(&log).contains(&"block".to_string()) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("troupe exited ({status}) before the blocking tool ran");
        }
        assert!(Instant::now() < deadline, "the blocking tool never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let runs = troupe(&dir).arg("runs").output().unwrap();
    let listed = String::from_utf8_lossy(&runs.stdout).into_owned();
    let id = listed
        .lines()
        .find(|l| l.contains("llm_kill"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run listed:\n{listed}"))
        .to_string();
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert_eq!(server.requests().len(), 2);

    std::fs::write(&gate, "").unwrap();
    server.push(Reply::text("both tools ran"));
    let resume = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            troupe(&dir)
                .args(["resume", "--no-progress", &id])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        resume.status.success(),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );

    let effects = lines(&log);
    assert_eq!(
        effects.iter().filter(|l| *l == "write").count(),
        1,
        "completed before the kill: once ({effects:?})"
    );
    let blocks = effects.iter().filter(|l| *l == "block").count();
    assert!(
        (1..=2).contains(&blocks),
        "in flight at the kill: at most twice ({effects:?})"
    );
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        3,
        "the two answered turns were replayed, not asked again"
    );
    let last = requests[2].body["messages"].as_array().unwrap();
    let ids: Vec<_> = last
        .iter()
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    assert_eq!(ids, ["w", "b"]);
    assert!(
        !dir.join("journal").exists(),
        "the journal went to the run store, not to files"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
