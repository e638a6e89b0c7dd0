//! The hierarchical pattern: teams of teams, a job split down the tree and combined up, and
//! failures escalating per each level's policy.
//!
//! 1. A company from config: departments are sub-teams; one is a `pattern.supervisor` crew.
//! 2. Escalation: a sub-team that allows no restart gives up when its member crashes; the
//!    root's policy restarts the sub-team and the job completes.
//! 3. The root gives up: the job fails with the chain of causes.
//! 4. From Rust: function leaves (tasks of their team); a panicking leaf is restarted per policy.
//!
//!     cargo run --example pattern_hierarchical

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use troupe::patterns::hierarchical::{Combine, FunctionLeaf, HierarchicalPattern, TeamSpec};
use troupe::{
    Agent, AgentContext, AgentError, EventKind, EventStream, Runtime, RuntimeConfig, Snapshot,
};

/// Answers `"<its id>: <input>"`, printing what it does.
struct Clerk;

impl Agent for Clerk {
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
        println!("    {} <- {input}", ctx.id());
        Ok(json!(format!(
            "{}: {}",
            ctx.id(),
            input.as_str().unwrap_or("?")
        )))
    }
}

/// Panics on the first call made to any agent of the kind (the count survives restarts), then
/// echoes.
struct CrashOnce {
    left: Arc<AtomicU64>,
}

impl Agent for CrashOnce {
    type Request = Value;
    type Reply = Value;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _: &AgentContext,
        _: &mut (),
        input: Value,
    ) -> Result<Value, AgentError> {
        if self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("demo.crash_once: crashing on purpose");
        }
        Ok(input)
    }
}

/// Prints the supervision events published since the last call.
fn show_events(events: &mut EventStream) {
    while let Ok(e) = events.try_recv() {
        let agent = e.agent.map(|a| a.to_string()).unwrap_or_default();
        match e.kind {
            EventKind::AgentFailed { reason, .. } => {
                println!("    event: {agent} failed: {reason}")
            }
            EventKind::AgentRestarted { .. } => println!("    event: {agent} restarted"),
            EventKind::SupervisorEscalated { supervisor, .. } => {
                println!("    event: {supervisor} gave up (escalates)")
            }
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("?");
        eprintln!("    (panic: {msg})");
    }));
    let rt = Runtime::start(RuntimeConfig::named("hierarchy-demo")).await?;
    troupe::agents::register_all(rt.kinds());
    troupe::patterns::register_all(rt.kinds());
    rt.kinds()
        .register("demo.clerk", "says what it does", |_| Ok(Clerk));
    let crashes = Arc::new(AtomicU64::new(1));
    let left = crashes.clone();
    rt.kinds()
        .register("demo.crash_once", "crashes once", move |_| {
            Ok(CrashOnce { left: left.clone() })
        });
    let mut events = rt.subscribe();

    println!(
        "1. a company: each department gets its part of the job (split by_group, combine object)"
    );
    let company = json!({
        "split": "by_group",
        "combine": "object",
        "members": {
            "legal": {"combine": "array", "members": {"clerk": {"type": "demo.clerk", "count": 2}}},
            "research": {"type": "pattern.supervisor", "config": {
                "members": {"analyst": {"type": "demo.clerk", "count": 2}},
            }},
        }
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "company", company)
        .await?;
    let job =
        json!({"legal": "review contract", "research": ["market size", "competitors", "pricing"]});
    let result = root.ask_value(job, None).await?;
    println!("  result: {}", serde_json::to_string_pretty(&result)?);

    println!("\n2. escalation: the ops team allows no restart; its member crashes once");
    let tree = json!({
        "team": {"max_restarts": 3},
        "members": {"ops": {"team": {"max_restarts": 0}, "members": {"worker": {"type": "demo.crash_once"}}}}
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "escalation", tree)
        .await?;
    println!("  result: {}", root.ask_value(json!("deploy"), None).await?);
    show_events(&mut events);

    println!("\n3. the root gives up too: the job fails with the causes");
    let tree = json!({
        "team": {"max_restarts": 0},
        "members": {"ops": {"team": {"max_restarts": 0}, "members": {"worker": {"type": "util.crash", "config": {"starts": 100}}}}}
    });
    let root = rt
        .spawn_kind("pattern.hierarchical", "doomed", tree)
        .await?;
    match root.ask_value(json!("deploy"), None).await {
        Ok(v) => println!("  unexpected result {v}"),
        Err(e) => println!("  job failed: {e}"),
    }
    show_events(&mut events);

    println!(
        "\n4. from Rust: 3 teams x 4 function leaves, summed; leaf 2 of each team panics once"
    );
    let panics = Arc::new(AtomicU64::new(3));
    let left = panics.clone();
    let leaf = FunctionLeaf::sync(move |call| {
        if call.index == 2
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("leaf {} panics on purpose", call.index);
        }
        Ok(json!(
            call.input.as_i64().unwrap_or(0) * 10 + call.index as i64
        ))
    });
    let team = TeamSpec::new()
        .combine(Combine::Sum)
        .functions("leaf", 4, leaf);
    let spec = TeamSpec::new()
        .combine(Combine::Array)
        .teams("team", 3, team);
    let root = rt.spawn("numbers", HierarchicalPattern::new(spec)?).await?;
    println!(
        "  result: {} (each team: 4 x 10 + 0+1+2+3 = 46)",
        root.ask(json!(1)).await?
    );
    show_events(&mut events);

    rt.shutdown().await;
    Ok(())
}
