//! The swarm pattern on a real runtime: results, recursive work, stealing, crashes.
//! No sleeps: concurrency is forced with a barrier, crashes are counted with events.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::Barrier;
use troupe_patterns::member::MemberSpec;
use troupe_patterns::swarm::{self, Directive, Reducer, Swarm, SwarmReport};
use troupe_runtime::{
    Agent, AgentContext, AgentError, EventKind, Runtime, RuntimeConfig, Snapshot, SpawnError,
};

/// Guards every test against a hang (a failure, not a synchronisation).
const LIMIT: Duration = Duration::from_secs(60);

/// A member agent from a closure over (its context, the item).
struct Member<F>(F);

impl<F> Agent for Member<F>
where
    F: Fn(&AgentContext, Value) -> Option<Value> + Send + Sync + 'static,
{
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
        item: Value,
    ) -> Result<Value, AgentError> {
        (self.0)(ctx, item).ok_or_else(|| AgentError::permanent("refused"))
    }
}

/// A member that records who ran what, then waits until `parties` members are running.
struct Gate {
    barrier: Arc<Barrier>,
    ran: Arc<Mutex<Vec<(String, Value)>>>,
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
        item: Value,
    ) -> Result<Value, AgentError> {
        self.ran.lock().push((ctx.id().to_string(), item.clone()));
        self.barrier.wait().await;
        Ok(Directive::result(item).into_value())
    }
}

fn fib_member(_: &AgentContext, item: Value) -> Option<Value> {
    let n = item.as_i64()?;
    Some(if n < 2 {
        Directive::result(n).into_value()
    } else {
        Directive::spawn([json!(n - 1), json!(n - 2)]).into_value()
    })
}

async fn runtime() -> Runtime {
    let rt = Runtime::start(RuntimeConfig::named("swarm-test"))
        .await
        .expect("runtime");
    troupe_agents::register_all(rt.kinds());
    swarm::register(rt.kinds());
    rt.kinds()
        .register("test.fib", "fib by spawning", |_| Ok(Member(fib_member)));
    rt
}

fn fib(n: i64) -> i64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_members_results_come_back_in_item_order() {
    let rt = runtime().await;
    let config = json!({
        "members": {"w": {"type": "util.echo", "count": 3}},
        "replies": "results",
    });
    let s = rt
        .spawn_kind("pattern.swarm", "echoes", config)
        .await
        .expect("spawn");
    let items: Vec<Value> = (1..=10).map(|i| json!(i)).collect();
    let reply = tokio::time::timeout(LIMIT, s.ask_value(swarm::items(items.clone()), None)).await;
    assert_eq!(reply.expect("in time").expect("reply"), Value::Array(items));
    // Any other value is one item.
    let one = s
        .ask_value(json!({"not": "a batch"}), None)
        .await
        .expect("reply");
    assert_eq!(one, json!([{"not": "a batch"}]));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursive_job_terminates_with_the_exact_result() {
    let rt = runtime().await;
    let sum = Swarm::builder()
        .members("fib", MemberSpec::new("test.fib", 4))
        .reducer(Reducer::Sum)
        .build()
        .expect("swarm");
    let sum = rt.spawn("fib-sum", sum).await.expect("spawn");
    for n in [0, 1, 15, 18] {
        let got = tokio::time::timeout(LIMIT, sum.ask(json!(n)))
            .await
            .expect("in time");
        assert_eq!(got.expect("reply"), json!(fib(n)), "fib({n})");
    }
    // A closure reducer sees results in item order: fib(5)'s leaves, depth first.
    let leaves = Swarm::builder()
        .members("fib", MemberSpec::new("test.fib", 2))
        .reducer(Reducer::custom(|rs| {
            Ok(json!(rs.iter().map(|v| v.to_string()).collect::<String>()))
        }))
        .build()
        .expect("swarm");
    let leaves = rt.spawn("fib-leaves", leaves).await.expect("spawn");
    let got = tokio::time::timeout(LIMIT, leaves.ask(json!(5)))
        .await
        .expect("in time");
    assert_eq!(got.expect("reply"), json!("10110101"));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_peers_steal_work_seeded_into_one_peer() {
    let rt = runtime().await;
    let (peers, items) = (4, 16);
    let barrier = Arc::new(Barrier::new(peers));
    let ran = Arc::new(Mutex::new(Vec::new()));
    let (b, r) = (barrier.clone(), ran.clone());
    rt.kinds().register(
        "test.gate",
        "records, then waits for all peers",
        move |_| {
            Ok(Gate {
                barrier: b.clone(),
                ran: r.clone(),
            })
        },
    );
    let config = json!({
        "members": {"g": {"type": "test.gate", "count": peers}},
        "report": true,
        "rng_seed": 7,
    });
    let s = rt
        .spawn_kind("pattern.swarm", "gated", config)
        .await
        .expect("spawn");
    let all: Vec<Value> = (0..items).map(|i| json!(i)).collect();
    // Every item starts on peer 0. Each barrier generation needs all 4 members waiting at once,
    // and a peer runs one item at a time: the run can only finish if the other 3 peers stole.
    let reply = tokio::time::timeout(LIMIT, s.ask_value(swarm::items_to(all.clone(), 0), None))
        .await
        .expect("in time: stealing spreads the work")
        .expect("reply");
    let report = SwarmReport::from_value(reply).expect("report");
    assert_eq!(report.result, Value::Array(all));
    for p in &report.peers {
        assert_eq!(
            p.stats.ran,
            (items / peers) as u64,
            "peer {} ran one item per generation",
            p.peer
        );
    }
    assert!(
        report.peers[1..].iter().all(|p| p.stats.stolen > 0),
        "{:?}",
        report.peers
    );
    let ran = ran.lock().clone();
    let mut members: Vec<&str> = ran.iter().map(|(m, _)| m.as_str()).collect();
    members.sort();
    members.dedup();
    assert_eq!(
        members,
        ["gated/g/0", "gated/g/1", "gated/g/2", "gated/g/3"]
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_crash_mid_run_requeues_the_item_and_the_result_stays_exact() {
    let rt = runtime().await;
    let crashed = Arc::new(AtomicBool::new(false));
    let c = crashed.clone();
    rt.kinds().register(
        "test.crash_once",
        "panics the first time any member sees 7",
        move |_| {
            let c = c.clone();
            Ok(Member(move |_: &AgentContext, item: Value| {
                if item == json!(7) && !c.swap(true, Ordering::SeqCst) {
                    panic!("crash on item 7");
                }
                Some(Directive::result(item).into_value())
            }))
        },
    );
    let mut events = rt.subscribe();
    let config =
        json!({"members": {"w": {"type": "test.crash_once", "count": 3}}, "reducer": "sum"});
    let s = rt
        .spawn_kind("pattern.swarm", "crashy", config)
        .await
        .expect("spawn");
    let items = (1..=20).map(|i| json!(i));
    let got = tokio::time::timeout(LIMIT, s.ask_value(swarm::items(items), None)).await;
    assert_eq!(got.expect("in time").expect("reply"), json!(210));
    assert!(crashed.load(Ordering::SeqCst));
    let mut failed = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let EventKind::AgentFailed { .. } = e.kind {
            failed.push(e.agent.map(|a| a.to_string()).unwrap_or_default());
        }
    }
    assert_eq!(failed.len(), 1, "exactly one member crash: {failed:?}");
    assert!(failed[0].starts_with("crashy/w/"), "{failed:?}");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_that_always_crashes_is_reported_after_max_attempts() {
    let rt = runtime().await;
    rt.kinds().register("test.poison", "panics on 4", |_| {
        Ok(Member(|_: &AgentContext, item: Value| {
            assert_ne!(item, json!(4), "poisoned item");
            Some(Directive::result(item).into_value())
        }))
    });
    let members = json!({"w": {"type": "test.poison", "count": 2}});
    let plain = json!({"members": members, "reducer": "sum"});
    let s = rt
        .spawn_kind("pattern.swarm", "poisoned", plain)
        .await
        .expect("spawn");
    let items: Vec<Value> = (1..=5).map(|i| json!(i)).collect();
    let err = tokio::time::timeout(LIMIT, s.ask_value(swarm::items(items.clone()), None))
        .await
        .expect("in time")
        .expect_err("item 4 fails");
    let msg = err.to_string();
    assert!(
        msg.contains("swarm: 1 item(s) failed: item 3 (4): member poisoned/w/"),
        "{msg}"
    );
    assert!(msg.ends_with("crashed (gave up after 3 attempts)"), "{msg}");
    // With a report, the run answers with what completed and what failed.
    let reported = json!({"members": members, "reducer": "sum", "report": true});
    let s = rt
        .spawn_kind("pattern.swarm", "poisoned-report", reported)
        .await
        .expect("spawn");
    let reply = tokio::time::timeout(LIMIT, s.ask_value(swarm::items(items), None)).await;
    let report = SwarmReport::from_value(reply.expect("in time").expect("reply")).expect("report");
    assert_eq!(report.result, json!(11));
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        (report.failed[0].item.as_str(), report.failed[0].attempts),
        ("3", 3)
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoffs_reach_the_named_group() {
    let rt = runtime().await;
    // "split" hands each word to a "shout" peer, which returns it uppercased.
    rt.kinds().register("test.split", "hands words off", |_| {
        Ok(Member(|_: &AgentContext, item: Value| {
            let words = item.as_str()?.split(' ').map(|w| json!(w));
            Some(
                words
                    .fold(Directive::default(), |d, w| d.with_handoff("shout", w))
                    .into_value(),
            )
        }))
    });
    rt.kinds().register("test.shout", "uppercases", |_| {
        Ok(Member(|ctx: &AgentContext, item: Value| {
            assert!(
                ctx.id().as_str().contains("/shout/"),
                "only shout peers get hand-offs"
            );
            Some(Directive::result(item.as_str()?.to_uppercase()).into_value())
        }))
    });
    let config = json!({"members": {
        "split": {"type": "test.split"},
        "shout": {"type": "test.shout", "count": 2},
    }});
    let s = rt
        .spawn_kind("pattern.swarm", "words", config)
        .await
        .expect("spawn");
    let req = swarm::items_to([json!("a b c")], "split");
    let got = tokio::time::timeout(LIMIT, s.ask_value(req, None))
        .await
        .expect("in time");
    assert_eq!(got.expect("reply"), json!(["A", "B", "C"]));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configs_and_requests_are_typed_errors() {
    let rt = runtime().await;
    for (config, wanted) in [
        (json!({"members": {}}), "`members` is empty"),
        (
            json!({"members": {"w": {"type": "util.echo"}}, "reducer": "max"}),
            "unknown variant `max`",
        ),
        (
            json!({"members": {"w": {"type": "util.echo"}}, "max_attempts": 0}),
            "`max_attempts` must be at least 1",
        ),
        (
            json!({"members": {"w": {"type": "util.echo"}}, "worker": 1}),
            "unknown field `worker`",
        ),
    ] {
        let err = rt
            .spawn_kind("pattern.swarm", "bad", config)
            .await
            .expect_err("bad config");
        assert!(matches!(&err, SpawnError::BadConfig { .. }), "{err}");
        assert!(err.to_string().contains(wanted), "{err}");
    }
    let config = json!({"members": {"w": {"type": "no.such.kind"}}});
    let err = rt
        .spawn_kind("pattern.swarm", "bad", config)
        .await
        .expect_err("unknown kind");
    assert!(
        err.to_string()
            .contains("unknown agent kind \"no.such.kind\""),
        "{err}"
    );
    let ok = json!({"members": {"w": {"type": "util.echo"}}, "replies": "results"});
    let s = rt
        .spawn_kind("pattern.swarm", "ok", ok)
        .await
        .expect("spawn");
    let err = s
        .ask_value(swarm::items_to([json!(1)], 5), None)
        .await
        .expect_err("no peer 5");
    assert!(
        err.to_string()
            .contains("swarm request: bad `to`: no peer 5 (the swarm has 1 peers: 0..=0)"),
        "{err}"
    );
    rt.shutdown().await;
}
