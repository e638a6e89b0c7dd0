//! The supervisor pattern: a coordinator routes units of work to its worker team.
//!
//! 1. Routing by capability: units that need `search` or `write` go only to workers that can.
//! 2. A worker crash: each worker crashes on its first unit; the team supervisor restarts it
//!    and the coordinator re-routes the unit; the job still completes.
//! 3. Iteration: a Rust decider runs rounds until every draft is long enough.
//!
//!     cargo run --example pattern_supervisor

use serde_json::{json, Value};
use troupe::patterns::member::MemberSpec;
use troupe::patterns::supervisor::{Decision, Routing, SupervisorPattern, Unit};
use troupe::{
    Agent, AgentContext, AgentError, EventKind, EventStream, Runtime, RuntimeConfig, Snapshot,
};

/// A worker that says what it does, and answers `"<input> (by <its id>)"`.
struct Worker;

impl Agent for Worker {
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
            "{} (by {})",
            input.as_str().unwrap_or("?"),
            ctx.id()
        )))
    }
}

/// Appends a `+` to a draft.
struct Refine;

impl Agent for Refine {
    type Request = String;
    type Reply = String;
    type State = ();

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<(), AgentError> {
        Ok(())
    }

    async fn handle(
        &self,
        _: &AgentContext,
        _: &mut (),
        draft: String,
    ) -> Result<String, AgentError> {
        Ok(format!("{draft}+"))
    }
}

/// Prints the supervision events published since the last call.
fn show_events(events: &mut EventStream) {
    while let Ok(e) = events.try_recv() {
        let agent = e.agent.map(|a| a.to_string()).unwrap_or_default();
        match e.kind {
            EventKind::AgentFailed { reason, .. } => {
                println!("    event: {agent} crashed ({reason})")
            }
            EventKind::AgentRestarted { restarts } => {
                println!("    event: {agent} restarted (restart #{restarts})")
            }
            EventKind::SupervisorEscalated { supervisor, .. } => {
                println!("    event: {supervisor} gave up")
            }
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the demo's deliberate panics to one line each.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("?");
        eprintln!("    (panic: {msg})");
    }));
    let rt = Runtime::start(RuntimeConfig::named("supervisor-demo")).await?;
    troupe::agents::register_all(rt.kinds());
    troupe::patterns::register_all(rt.kinds());
    rt.kinds()
        .register("demo.worker", "says what it does", |_| Ok(Worker));
    rt.kinds()
        .register("demo.refine", "appends a +", |_| Ok(Refine));
    let mut events = rt.subscribe();

    println!("1. routing by capability (config: routing = by_capability)");
    let config = json!({
        "members": {
            "search": {"type": "demo.worker", "count": 2, "capabilities": ["search"]},
            "write": {"type": "demo.worker", "capabilities": ["write"]},
        },
        "routing": "by_capability",
        "report": true,
    });
    let crew = rt.spawn_kind("pattern.supervisor", "crew", config).await?;
    let job = json!({"units": [
        {"input": "find papers", "capability": "search"},
        {"input": "draft intro", "capability": "write"},
        {"input": "find data", "capability": "search"},
        {"input": "find quotes", "capability": "search"},
    ]});
    let reply = crew.ask_value(job, None).await?;
    for unit in reply["rounds"][0].as_array().into_iter().flatten() {
        println!("  unit {} was served by {}", unit["unit"], unit["worker"]);
    }
    println!("  result: {}", reply["result"]);

    println!("\n2. a worker crash: restart and re-route (each util.crash worker panics on its first unit)");
    let config = json!({
        "members": {"w": {"type": "util.crash", "count": 2}},
        "routing": "least_loaded",
        "max_reroutes": 3,
        "report": true,
    });
    let flaky = rt.spawn_kind("pattern.supervisor", "flaky", config).await?;
    let reply = flaky.ask_value(json!(["a", "b", "c", "d"]), None).await?;
    for unit in reply["rounds"][0].as_array().into_iter().flatten() {
        println!(
            "  unit {} served by {} after {} attempt(s)",
            unit["unit"], unit["worker"], unit["attempts"]
        );
    }
    println!("  result: {}", reply["result"]);
    show_events(&mut events);

    println!("\n3. iteration: a Rust decider refines drafts until each has three +");
    let editor = SupervisorPattern::builder()
        .workers("editor", MemberSpec::new("demo.refine", 2))
        .routing(Routing::RoundRobin)
        .decider(10, |round, drafts| {
            let done = drafts
                .iter()
                .all(|d| d.as_str().is_some_and(|s| s.ends_with("+++")));
            println!("  round {round}: {}", Value::from(drafts.to_vec()));
            if done {
                Decision::Done(json!({"rounds": round, "drafts": drafts}))
            } else {
                Decision::Continue(drafts.iter().cloned().map(Unit::new).collect())
            }
        })
        .build()?;
    let editor = rt.spawn("editor", editor).await?;
    println!("  result: {}", editor.ask(json!(["intro", "body+"])).await?);

    rt.shutdown().await;
    Ok(())
}
