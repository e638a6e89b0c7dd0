//! The supervisor pattern on a real runtime: results, routing policies, crash recovery with
//! re-routing, escalation, iteration, bad configs and jobs. No mocks, no sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use troupe_patterns::member::MemberSpec;
use troupe_patterns::supervisor::{self, Decision, Routing, SupervisorPattern};
use troupe_runtime::{Agent, AgentContext, AgentError, CallError, EventKind, Runtime, Snapshot};

/// Replies `{"worker": <its id>, "input": <request>}`: who served a unit.
struct WhoAmI;

impl Agent for WhoAmI {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        _: &mut (),
        input: Value,
    ) -> Result<Value, AgentError> {
        Ok(json!({"worker": ctx.id().as_str(), "input": input}))
    }
}

/// Adds one to a number.
struct AddOne;

impl Agent for AddOne {
    type Request = i64;
    type Reply = i64;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(&self, _: &AgentContext, _: &mut (), n: i64) -> Result<i64, AgentError> {
        Ok(n + 1)
    }
}

/// `slow` holds its unit until `fast` has answered `release_after` units.
struct Gate {
    slow: bool,
    gate: Arc<Semaphore>,
    fast_served: Arc<AtomicU64>,
    release_after: u64,
}

impl Agent for Gate {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        _: &mut (),
        input: Value,
    ) -> Result<Value, AgentError> {
        if self.slow {
            self.gate
                .acquire()
                .await
                .map_err(|e| AgentError::permanent(e.to_string()))?
                .forget();
        } else if self.fast_served.fetch_add(1, Ordering::SeqCst) + 1 == self.release_after {
            self.gate.add_permits(1);
        }
        Ok(json!({"worker": ctx.id().as_str(), "input": input}))
    }
}

async fn runtime() -> Runtime {
    let rt = Runtime::start(Default::default()).await.unwrap();
    troupe_agents::register_all(rt.kinds());
    supervisor::register(rt.kinds());
    rt.kinds()
        .register("test.whoami", "who served", |_| Ok(WhoAmI));
    rt.kinds().register("test.add_one", "n + 1", |_| Ok(AddOne));
    let gate = Arc::new(Semaphore::new(0));
    let fast_served = Arc::new(AtomicU64::new(0));
    rt.kinds()
        .register("test.gate", "slow or fast", move |config: &Value| {
            Ok(Gate {
                slow: config["role"] == "slow",
                gate: gate.clone(),
                fast_served: fast_served.clone(),
                release_after: 4,
            })
        });
    rt
}

fn workers(results: &Value) -> Vec<String> {
    results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["worker"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_back_in_unit_order() {
    let rt = runtime().await;
    let cfg = json!({"members": {"echo": {"type": "util.echo", "count": 3}}});
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let inputs: Vec<Value> = (0..20).map(|i| json!({"n": i})).collect();
    assert_eq!(
        sup.ask_value(json!(inputs), None).await.unwrap(),
        json!(inputs)
    );
    let job = json!({"units": [{"input": "a"}, {"input": "b"}]});
    assert_eq!(sup.ask_value(job, None).await.unwrap(), json!(["a", "b"]));
    assert_eq!(sup.ask_value(json!([]), None).await.unwrap(), json!([]));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_worker_is_restarted_and_its_unit_rerouted() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    // Each worker crashes on the first unit it gets (during its first start), then works.
    let cfg = json!({
        "members": {"w": {"type": "util.crash", "count": 2}},
        "max_reroutes": 3,
        "report": true,
    });
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let reply = sup.ask_value(json!([1, 2, 3, 4]), None).await.unwrap();
    assert_eq!(reply["result"], json!([1, 2, 3, 4]));
    let report = reply["rounds"][0].as_array().unwrap();
    let attempts: u64 = report.iter().map(|u| u["attempts"].as_u64().unwrap()).sum();
    assert!(
        attempts >= 6,
        "two crashed units must have been re-routed: {report:?}"
    );
    // Both workers crashed; the team supervisor restarts both (the job may finish on the
    // first one back, so wait for the second restart's event).
    let mut crashed = Vec::new();
    let mut restarted = Vec::new();
    while restarted.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("a crashed worker was never restarted")
            .unwrap();
        let agent = e.agent.map(|a| a.to_string()).unwrap_or_default();
        match e.kind {
            EventKind::AgentFailed { .. } => crashed.push(agent),
            EventKind::AgentRestarted { .. } => restarted.push(agent),
            _ => {}
        }
    }
    crashed.sort();
    restarted.sort();
    assert_eq!(crashed, vec!["sup/w/0", "sup/w/1"]);
    assert_eq!(restarted, vec!["sup/w/0", "sup/w/1"]);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_fails_with_a_clear_error_when_its_reroutes_are_spent() {
    let rt = runtime().await;
    let cfg = json!({
        "members": {"w": {"type": "util.crash", "config": {"starts": 1000}}},
        "team": {"max_restarts": 100},
        "max_reroutes": 2,
    });
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let err = sup.ask_value(json!(["x"]), None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent sup: unit 0 failed after 3 attempts (max_reroutes 2); last: agent sup/w/0 failed while handling the request"
    );
    assert!(err.is_retryable());
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_fails_with_the_cause_when_the_team_gives_up_and_the_pattern_restarts() {
    let rt = runtime().await;
    let mut events = rt.subscribe();
    let cfg = json!({
        "members": {"w": {"type": "util.crash", "config": {"starts": 1000}}},
        "team": {"max_restarts": 1},
        "max_reroutes": 10,
    });
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let err = sup
        .ask_value(json!(["x"]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("agent sup: its team gave up (more than 1 restarts within 10 s); last failure: unit 0 on worker sup/w/0"),
        "{err}"
    );
    // The pattern agent fails right after (escalation) and its supervisor restarts it.
    let mut escalated = false;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("the pattern agent was never restarted")
            .unwrap();
        let agent = e.agent.as_ref().map(|a| a.as_str());
        match e.kind {
            EventKind::SupervisorEscalated { supervisor, .. } if supervisor == "sup/team" => {
                escalated = true
            }
            EventKind::AgentRestarted { .. } if agent == Some("sup") => break,
            _ => {}
        }
    }
    assert!(escalated);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_capability_only_hits_capable_workers() {
    let rt = runtime().await;
    let cfg = json!({
        "members": {
            "search": {"type": "test.whoami", "count": 2, "capabilities": ["search"]},
            "write": {"type": "test.whoami", "capabilities": ["write"]},
            "both": {"type": "test.whoami", "capabilities": ["search", "write"]},
        },
        "routing": "by_capability",
    });
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let caps = ["search", "write", "search", "search", "write", "search"];
    let units: Vec<Value> = (0..60)
        .map(|i| json!({"input": i, "capability": caps[i % caps.len()]}))
        .collect();
    let results = sup.ask_value(json!({"units": units}), None).await.unwrap();
    for (i, worker) in workers(&results).iter().enumerate() {
        let group = worker.split('/').nth(1).unwrap();
        let ok = match caps[i % caps.len()] {
            "search" => group == "search" || group == "both",
            _ => group == "write" || group == "both",
        };
        assert!(ok, "unit {i} ({}) went to {worker}", caps[i % caps.len()]);
        assert_eq!(results[i]["input"], json!(i));
    }
    let err = sup
        .ask_value(json!([1]), None)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unit 0 names no capability"), "{err}");
    let err = sup
        .ask_value(
            json!({"units": [{"input": 1, "capability": "paint"}]}),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no worker has capability \"paint\" (workers have: search, write)"),
        "{err}"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_takes_workers_in_turn() {
    let rt = runtime().await;
    let cfg = json!({
        "members": {"w": {"type": "test.whoami", "count": 3}},
        "routing": "round_robin",
        "max_in_flight": 1,
    });
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let results = sup
        .ask_value(json!([0, 1, 2, 3, 4, 5, 6]), None)
        .await
        .unwrap();
    let expected: Vec<String> = (0..7).map(|i| format!("sup/w/{}", i % 3)).collect();
    assert_eq!(workers(&results), expected);
    // The turn carries over to the next job.
    let results = sup.ask_value(json!([7]), None).await.unwrap();
    assert_eq!(workers(&results), vec!["sup/w/1"]);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_loaded_keeps_units_off_a_busy_worker() {
    let rt = runtime().await;
    // `slow` holds its unit until `fast` has served four: only least-loaded routing finishes.
    let cfg = json!({
        "members": {
            "fast": {"type": "test.gate", "config": {"role": "fast"}},
            "slow": {"type": "test.gate", "config": {"role": "slow"}},
        },
        "routing": "least_loaded",
        "max_in_flight": 2,
    });
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let results = tokio::time::timeout(
        Duration::from_secs(30),
        sup.ask_value(json!([0, 1, 2, 3, 4]), None),
    )
    .await
    .expect("a unit was queued behind the busy worker")
    .unwrap();
    assert_eq!(
        workers(&results),
        vec![
            "sup/fast/0",
            "sup/slow/0",
            "sup/fast/0",
            "sup/fast/0",
            "sup/fast/0"
        ]
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_function_decides_where_units_go() {
    let rt = runtime().await;
    // Unit n goes to the worker of index (n * 2) % 3, when it is a candidate.
    let pattern = SupervisorPattern::builder()
        .workers("w", MemberSpec::new("test.whoami", 3))
        .routing(Routing::custom(|unit, candidates| {
            let want = (unit.input.as_u64().unwrap_or(0) as usize * 2) % 3;
            candidates.iter().position(|w| w.index == want).unwrap_or(0)
        }))
        .build()
        .unwrap();
    let sup = rt.spawn("sup", pattern).await.unwrap();
    let results = sup.ask(json!([0, 1, 2, 3, 4, 5])).await.unwrap();
    let expected: Vec<String> = (0..6).map(|n| format!("sup/w/{}", (n * 2) % 3)).collect();
    assert_eq!(workers(&results), expected);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_from_config_feed_results_back() {
    let rt = runtime().await;
    let cfg = json!({"members": {"inc": {"type": "test.add_one", "count": 2}}, "rounds": 3, "report": true});
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let reply = sup.ask_value(json!([0, 10, 20]), None).await.unwrap();
    assert_eq!(reply["result"], json!([3, 13, 23]));
    assert_eq!(reply["rounds"].as_array().unwrap().len(), 3);
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decider_iterates_until_done_under_a_round_guard() {
    let rt = runtime().await;
    let until_ten = SupervisorPattern::builder()
        .workers("inc", MemberSpec::new("test.add_one", 2))
        .decider(100, |round, results| {
            if results.iter().all(|r| r.as_i64() >= Some(10)) {
                Decision::Done(json!({"rounds": round, "results": results}))
            } else {
                Decision::Continue(results.iter().cloned().map(Into::into).collect())
            }
        })
        .build()
        .unwrap();
    let sup = rt.spawn("sup", until_ten).await.unwrap();
    let reply = sup.ask(json!([0, 5])).await.unwrap();
    assert_eq!(reply, json!({"rounds": 10, "results": [10, 15]}));

    let forever = SupervisorPattern::builder()
        .workers("inc", MemberSpec::new("test.add_one", 1))
        .decider(4, |_, results| {
            Decision::Continue(results.iter().cloned().map(Into::into).collect())
        })
        .build()
        .unwrap();
    let sup = rt.spawn("forever", forever).await.unwrap();
    let err = sup.ask(json!([0])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent forever: the job was not done after max_rounds = 4 rounds"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_are_rejected_naming_the_field() {
    let rt = runtime().await;
    let cases = [
        (
            json!({"members": {"w": {"type": "util.echo"}}, "max_in_flight": "many"}),
            "at /max_in_flight: invalid type",
        ),
        (
            json!({"members": {"w": {"type": "util.echo", "cnt": 2}}}),
            "unknown field `cnt`",
        ),
        (
            json!({"members": {"w": {"type": "util.echo"}}, "routing": "random"}),
            "at /routing: unknown variant `random`",
        ),
        (json!({"workers": {}}), "unknown field `workers`"),
        (
            json!({"members": {"w": {"type": "util.echo", "count": 0}}}),
            "at /members/w/count: must be at least 1",
        ),
        (
            json!({"members": {"w": {"type": "util.echo"}}, "team": {"strategy": "all"}}),
            "at /team/strategy: ",
        ),
    ];
    for (cfg, expected) in cases {
        let err = rt
            .spawn_kind("pattern.supervisor", "sup", cfg.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("agent kind pattern.supervisor: bad config"),
            "{err}"
        );
        assert!(err.contains(expected), "{cfg}: {err}");
    }
    let err = rt
        .spawn_kind(
            "pattern.supervisor",
            "sup",
            json!({"members": {"w": {"type": "no.such"}}}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("member group \"w\": unknown agent kind \"no.such\""),
        "{err}"
    );
    let err = SupervisorPattern::builder()
        .build()
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "pattern.supervisor config: field `members`: at least one worker group is needed"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jobs_and_permanent_worker_errors_fail_the_job() {
    let rt = runtime().await;
    let cfg = json!({"members": {"w": {"type": "util.echo"}}});
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let err = sup.ask_value(json!("hello"), None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent sup: bad job: a job is {\"units\": [...]} or an array of inputs, not a string"
    );
    assert!(!err.is_retryable());
    let err = sup
        .ask_value(json!({"units": [{"inputs": 1}]}), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `inputs`"), "{err}");

    let cfg = json!({"members": {"w": {"type": "util.fail", "config": {"message": "nope"}}}});
    let sup = rt
        .spawn_kind("pattern.supervisor", "failing", cfg)
        .await
        .unwrap();
    let err = sup.ask_value(json!([1]), None).await.unwrap_err();
    assert!(matches!(err, CallError::Rejected { .. }));
    assert_eq!(
        err.to_string(),
        "agent failing: unit 0 failed on worker failing/w/0: agent failing/w/0: nope"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_fails_when_its_only_capable_worker_is_stopped_for_good() {
    let rt = runtime().await;
    // The worker crashes on every unit and keeps being restarted; then it is stopped for good.
    let cfg = json!({
        "members": {"w": {"type": "util.crash", "config": {"starts": 1000000}}},
        "team": {"max_restarts": 1000000},
        "max_reroutes": 1000000,
    });
    let sup = rt
        .spawn_kind("pattern.supervisor", "sup", cfg)
        .await
        .unwrap();
    let job = tokio::spawn(async move { sup.ask_value(json!(["x"]), None).await });
    assert!(rt.stop_agent("sup/w/0").await);
    let err = job.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent sup: unit 0: every worker that could take it has left the team"
    );
    rt.shutdown().await;
}
