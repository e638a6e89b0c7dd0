//! No secret ever in logs, reports or responses: two `troupe node` processes sharing a known
//! cookie, `troupe serve` with a known JWT secret (and a bearer token signed with it), and an
//! `llm.chat` workflow whose API key is known (a scripted OpenAI-compatible server, feature
//! `testing`), run through the API and with `troupe run --report`, everything at debug log
//! level. Every log line, the report, the audit log, the store's file, the chat journal and
//! every response body are searched for each secret.

#[path = "common/durable.rs"]
mod common;
#[path = "common/nodes.rs"]
mod nodes;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use troupe::cluster::node::{ClusterConfig, ClusterNode};
use troupe::{Runtime, RuntimeConfig};
use troupe_agents::llm::testing::{Reply, ScriptedServer};
use troupe_service::auth::{expiry_in, sign_hs256};
use troupe_service::Claims;

use common::{scratch, troupe, PATIENCE};
use nodes::NodeProc;

const COOKIE: &str = "cookie-s3cr3t-5b1e7d";
const JWT_SECRET: &str = "jwt-s3cr3t-0c4f9a2e";
const API_KEY: &str = "sk-s3cr3t-77d2e0b9a1";
const KEY_ENV: &str = "TROUPE_TEST_LLM_KEY";

fn workflow(server: &ScriptedServer, dir: &Path) -> String {
    format!(
        r#"workflow:
  name: secret_chat
  agents:
    model:
      type: llm.chat
      config: {{ base_url: "{url}", model: m, api_key_env: {KEY_ENV}, journal_dir: "{journal}", retries: 0 }}
  tasks:
    - {{ id: ask, agent: model, input: hello }}
"#,
        url = server.base_url(),
        journal = dir.join("journal").display(),
    )
}

/// Every file under `dir` (recursively).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_no_secret(what: &str, bytes: &[u8], secrets: &[&str]) {
    let text = String::from_utf8_lossy(bytes);
    for s in secrets {
        assert!(!text.contains(s), "a secret ({s}) in {what}:\n{text}");
    }
}

struct Api {
    base: String,
    token: String,
    bodies: Vec<(String, String)>,
}

impl Api {
    async fn call(&mut self, method: reqwest::Method, path: &str, body: Option<String>) -> Value {
        let mut r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.body(b);
        }
        let r = r.send().await.unwrap();
        let headers = format!("{:?}", r.headers());
        let text = r.text().await.unwrap();
        self.bodies
            .push((path.to_string(), format!("{headers}\n{text}")));
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_log_report_or_response() {
    let dir = scratch("secrets");
    let server = ScriptedServer::start().await;
    server.respond_with(|_| Reply::text("the answer"));
    let token = sign_hs256(
        &Claims {
            sub: "tester".into(),
            scope: "admin".into(),
            tenant: None,
            exp: expiry_in(Duration::from_secs(3600)),
        },
        JWT_SECRET.as_bytes(),
    )
    .unwrap();
    let secrets = [COOKIE, JWT_SECRET, API_KEY, token.as_str()];

    // Two nodes that authenticate each other with the cookie, and a client that links both.
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let a = NodeProc::start_logged("secret-a", "127.0.0.1", &[], COOKIE, &logs.join("a.log"));
    let b = NodeProc::start_logged("secret-b", "127.0.0.2", &[&a], COOKIE, &logs.join("b.log"));
    let rt = Runtime::start(RuntimeConfig::named("secret-client"))
        .await
        .unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = ClusterConfig::new("secret-client", any, any, COOKIE).with_seeds([a.gossip]);
    config.kinds = Some(Vec::new());
    config.task_slots = 0;
    let client = ClusterNode::start(config, rt).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while client.linked().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the client never linked both nodes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // `troupe serve` with the JWT secret, the workflow executed through the API.
    let secret_file = dir.join("jwt.secret");
    std::fs::write(&secret_file, JWT_SECRET).unwrap();
    let yaml = workflow(&server, &dir);
    let serve_log = logs.join("serve.log");
    let mut serve = troupe(&dir)
        .args(["--log", "debug", "serve", "--listen", "127.0.0.1:0"])
        .arg("--jwt-secret-file")
        .arg(&secret_file)
        .arg("--audit-log")
        .arg(dir.join("audit.jsonl"))
        .env(KEY_ENV, API_KEY)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&serve_log).unwrap())
        .spawn()
        .expect("troupe serve starts");
    let mut out = BufReader::new(serve.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let mut api = Api {
        base,
        token: token.clone(),
        bodies: Vec::new(),
    };
    let wf = api
        .call(
            reqwest::Method::POST,
            "/api/v1/workflows",
            Some(yaml.clone()),
        )
        .await;
    let id = wf["workflow_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{wf}"))
        .to_string();
    let ex = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/workflows/{id}/execute"),
            Some("{}".into()),
        )
        .await;
    let run = ex["execution_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{ex}"))
        .to_string();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let st = api
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/executions/{run}"),
                None,
            )
            .await;
        if st["status"] == "completed" {
            break;
        }
        assert!(
            !st["finished_at"].is_string(),
            "the run did not complete: {st}"
        );
        assert!(Instant::now() < deadline, "the run never finished: {st}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The run's event stream, up to its final event.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/executions/{run}/events", api.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let mut stream = r.bytes_stream();
    let mut events = String::new();
    while !events.contains("\"final\":true") {
        let chunk = stream
            .next()
            .await
            .expect("the stream ends with a final event");
        events.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    api.bodies.push(("events".into(), events));
    api.call(reqwest::Method::GET, "/api/v1/executions", None)
        .await;
    // A refused call's error body, too.
    api.token = format!("{token}x");
    api.call(reqwest::Method::GET, "/api/v1/executions", None)
        .await;
    serve.kill().unwrap();
    serve.wait().unwrap();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut out, &mut rest).unwrap();

    // The same workflow with `troupe run`, its report written.
    let file = dir.join("secret_chat.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let report = dir.join("report.json");
    let run_out = troupe(&dir)
        .args(["--log", "debug", "run", "--no-progress", "--report"])
        .arg(&report)
        .arg(&file)
        .env(KEY_ENV, API_KEY)
        .output()
        .unwrap();
    assert!(
        run_out.status.success(),
        "{}",
        String::from_utf8_lossy(&run_out.stderr)
    );

    // The key was used: every model request carried it.
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one model call per run");
    for r in &requests {
        assert_eq!(r.headers["authorization"], format!("Bearer {API_KEY}"));
        assert_no_secret(
            "a model request's body",
            r.body.to_string().as_bytes(),
            &secrets,
        );
    }
    drop((client, a, b));

    // Nothing anywhere else holds a secret.
    let mut searched = 0;
    for f in files(&dir) {
        if f == secret_file || f == file {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        assert_no_secret(&f.display().to_string(), &bytes, &secrets);
        searched += 1;
    }
    for name in ["a.log", "b.log", "serve.log"] {
        let log = std::fs::read_to_string(logs.join(name)).unwrap();
        assert!(
            log.contains("DEBUG"),
            "{name} is not at debug level:\n{log}"
        );
    }
    assert!(report.exists() && dir.join("audit.jsonl").exists());
    assert!(searched >= 6, "only {searched} files searched");
    assert_no_secret(
        "serve's stdout",
        format!("{first}{}", String::from_utf8_lossy(&rest)).as_bytes(),
        &secrets,
    );
    assert_no_secret("troupe run's stdout", &run_out.stdout, &secrets);
    assert_no_secret("troupe run's stderr", &run_out.stderr, &secrets);
    for (path, body) in &api.bodies {
        assert_no_secret(
            &format!("the response to {path}"),
            body.as_bytes(),
            &secrets,
        );
    }
    assert!(api.bodies.len() >= 6);
}
