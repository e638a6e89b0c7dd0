//! `troupe node … --api ADDR` over real HTTP with three real node processes (127.0.0.1-3):
//! the cluster endpoints (members with state and resources, where agents live, calling an
//! agent by id, migrating one, the cluster event stream) with the same auth as `serve`, and
//! executions submitted to a node's API run in the cluster.

#[path = "common/nodes.rs"]
mod nodes;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use nodes::NodeProc;

const PATIENCE: Duration = Duration::from_secs(60);

struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Polls `path` until `done` holds for its body (failing after [`PATIENCE`]).
    async fn until(&self, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let v = self.get(path).await;
            if done(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "never: {what}; last {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Reads the cluster event stream from the start until `stop` holds for an event.
    async fn event(&self, stop: impl Fn(&Value) -> bool) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/cluster/events", self.base))
            .bearer_auth(&self.token)
            .header("Last-Event-ID", "0")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let mut body = r.bytes_stream();
        let mut buf = String::new();
        let mut last = 0;
        let read = async {
            while let Some(chunk) = body.next().await {
                buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) else {
                        continue;
                    };
                    let e: Value = serde_json::from_str(data.trim()).unwrap();
                    let seq = e["seq"].as_u64().unwrap();
                    assert!(seq > last, "event {seq} after {last}");
                    last = seq;
                    if stop(&e) {
                        return e;
                    }
                }
            }
            panic!("the cluster event stream ended");
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("the awaited cluster event")
    }
}

fn member<'a>(members: &'a Value, name: &str) -> Option<&'a Value> {
    members["members"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_api_serves_the_cluster_its_agents_and_runs() {
    let (n1, base, token) = NodeProc::start_with_api("napi1", "127.0.0.1", &[]);
    let (n2, base2, token2) = NodeProc::start_with_api("napi2", "127.0.0.2", &[&n1]);
    let mut n3 = NodeProc::start("napi3", "127.0.0.3", &[&n1]);
    let http = reqwest::Client::new();
    let api = Api {
        base,
        token,
        http: http.clone(),
    };

    // Same auth as `serve`: no token, 401 as JSON; another node's admin token, 401 too.
    let r = http
        .get(format!("{}/api/v1/cluster/members", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let r = http
        .get(format!("{}/api/v1/cluster/members", api.base))
        .bearer_auth(&token2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // Members with their state and declared resources.
    let members = api
        .until("three alive members", "/api/v1/cluster/members", |v| {
            ["napi1", "napi2", "napi3"]
                .iter()
                .all(|n| member(v, n).is_some_and(|m| m["state"] == "alive"))
        })
        .await;
    let me = member(&members, "napi1").unwrap();
    assert_eq!(me["self"], true);
    assert_eq!(me["resources"]["capacity"], 1);
    assert_eq!(me["resources"]["task_slots"], 2);
    assert_eq!(me["transport"], n1.listen.to_string());
    assert_eq!(
        member(&members, "napi3").unwrap()["gossip"],
        n3.gossip.to_string()
    );

    // Calling an agent by id: unknown without a kind (404), activated as a virtual agent with one.
    let (status, e) = api
        .post("/api/v1/agents/nobody/call", json!({"request": {}}))
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );
    let (status, e) = api
        .post(
            "/api/v1/agents/w/call",
            json!({"kind": "no.such.kind", "request": {}}),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    let (status, first) = api
        .post(
            "/api/v1/agents/w/call",
            json!({"kind": "util.where", "request": {}}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let agents = api
        .until("agent w in the registry", "/api/v1/cluster/agents", |v| {
            v["agents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == "w" && a["state"] == "active")
        })
        .await;
    let home = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "w")
        .unwrap()["node"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        first["response"].to_string().contains(&home),
        "util.where answered {first} but the registry says {home}"
    );

    // Migrating it: bad bodies and unknown targets are refused by name; then it moves.
    let (status, e) = api
        .post("/api/v1/agents/w/migrate", json!({"node": "napi2"}))
        .await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("\"to\""),
        "{e}"
    );
    let (status, _) = api
        .post("/api/v1/agents/w/migrate", json!({"to": "nowhere"}))
        .await;
    assert_eq!(status, 404);
    let target = if home == "napi2" { "napi1" } else { "napi2" };
    let (status, moved) = api
        .post("/api/v1/agents/w/migrate", json!({ "to": target }))
        .await;
    assert_eq!(status, 200, "{moved}");
    let (_, again) = api
        .post("/api/v1/agents/w/call", json!({"request": {}}))
        .await;
    assert!(again["response"].to_string().contains(target), "{again}");
    let e = api
        .event(|e| e["type"] == "agent.migrated" && e["data"]["agent"] == "w")
        .await;
    assert_eq!(
        (e["data"]["from"].as_str(), e["data"]["to"].as_str()),
        (Some(home.as_str()), Some(target))
    );

    // An execution submitted to another node's API runs in the cluster and is listed there.
    let api2 = Api {
        base: base2,
        token: token2,
        http: http.clone(),
    };
    let yaml = "workflow:\n  name: via-node\n  agents:\n    shout: { type: text.transform, config: { op: uppercase } }\n  tasks:\n    - { id: a, agent: shout, input: \"hello\" }\n    - { id: b, agent: shout, depends_on: [a] }\n";
    let r = http
        .post(format!("{}/api/v1/workflows", api2.base))
        .bearer_auth(&api2.token)
        .header("content-type", "application/yaml")
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let wf: Value = r.json().await.unwrap();
    let id = wf["workflow_id"].as_str().unwrap();
    let (status, ex) = api2
        .post(&format!("/api/v1/workflows/{id}/execute"), json!({}))
        .await;
    assert_eq!(status, 202, "{ex}");
    let run = ex["execution_id"].as_str().unwrap().to_string();
    let done = api2
        .until(
            "the run completed",
            &format!("/api/v1/executions/{run}"),
            |v| v["status"] == "completed",
        )
        .await;
    assert_eq!(done["tasks"][1]["state"], "completed", "{done}");
    let list = api2.get("/api/v1/executions").await;
    assert!(
        list["executions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["execution_id"] == run.as_str()),
        "{list}"
    );

    // A member killed with SIGKILL is shown down, and the stream says so.
    n3.kill9();
    api.until("napi3 down", "/api/v1/cluster/members", |v| {
        member(v, "napi3").is_some_and(|m| m["state"] == "down")
    })
    .await;
    let e = api
        .event(|e| e["type"] == "member.down" && e["data"]["node"] == "napi3")
        .await;
    assert!(e["timestamp"].is_string());
    drop(n2);
}
