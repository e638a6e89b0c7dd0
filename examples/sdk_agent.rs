//! The Rust SDK in one file: define an agent kind, spawn it under supervision, call it, watch it
//! recover from a crash, and run a workflow that uses it next to the ready-made kinds.
//!
//!     cargo run --example sdk_agent

use serde::{Deserialize, Serialize};
use serde_json::json;
use troupe::{
    Agent, AgentContext, AgentError, EventKind, Persistence, PoolSpec, Runtime, RuntimeConfig,
    Snapshot, TaskSpec, WorkflowSpec,
};

/// Keeps a running total; its state survives restarts.
struct Accumulator;

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Request {
    Add(f64),
    Many(Vec<f64>),
}

impl Agent for Accumulator {
    type Request = Request;
    type Reply = f64;
    type State = f64;

    async fn init(
        &self,
        ctx: &AgentContext,
        restored: Option<Snapshot>,
    ) -> Result<f64, AgentError> {
        let total = match restored {
            Some(s) => s
                .decode()
                .map_err(|e| AgentError::permanent(e.to_string()))?,
            None => 0.0,
        };
        println!(
            "  [{}] start #{} with total {total}",
            ctx.id(),
            ctx.starts()
        );
        Ok(total)
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        total: &mut f64,
        req: Request,
    ) -> Result<f64, AgentError> {
        match req {
            Request::Add(x) if x.is_nan() => panic!("NaN is not a number I can add"),
            Request::Add(x) => *total += x,
            Request::Many(xs) => *total += xs.iter().sum::<f64>(),
        }
        Ok(*total)
    }

    fn snapshot(&self, total: &f64) -> Result<Option<Snapshot>, AgentError> {
        Snapshot::encode(total)
            .map(Some)
            .map_err(|e| AgentError::permanent(e.to_string()))
    }

    fn persistence(&self) -> Persistence {
        Persistence::AfterEachRequest
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::start(RuntimeConfig::named("sdk-demo")).await?;
    troupe::agents::register_all(rt.kinds());
    rt.kinds()
        .register("demo.accumulate", "keeps a running total", |_config| {
            Ok(Accumulator)
        });

    println!("typed agent:");
    let acc = rt.spawn("acc", Accumulator).await?;
    println!("  add 40 -> {}", acc.ask(Request::Add(40.0)).await?);
    println!("  add 2  -> {}", acc.ask(Request::Add(2.0)).await?);
    let mut events = rt.subscribe();
    println!(
        "  add NaN -> {:?}",
        acc.ask(Request::Add(f64::NAN)).await.unwrap_err()
    );
    while let Ok(e) = events.recv().await {
        if let EventKind::AgentRestarted { restarts } = e.kind {
            println!("  supervisor restarted it (restart #{restarts})");
            break;
        }
    }
    println!(
        "  add 0  -> {} (state restored from its snapshot)",
        acc.ask(Request::Add(0.0)).await?
    );

    println!("workflow:");
    let spec = WorkflowSpec::builder("sum_of_lengths")
        .pool(
            "split",
            PoolSpec::new("text.split", 1).config(json!({"by": "words"})),
        )
        .pool("count", PoolSpec::new("text.count", 2))
        .pool(
            "pick",
            PoolSpec::new("json.pick", 1).config(json!({"path": "chars"})),
        )
        .pool("sum", PoolSpec::new("demo.accumulate", 1))
        .task(
            TaskSpec::new("words", "split").input(json!("supervised actors recover by themselves")),
        )
        .task(TaskSpec::new("stats", "count").after(["words"]).parallel())
        .task(TaskSpec::new("lengths", "pick").after(["stats"]).parallel())
        .task(TaskSpec::new("total", "sum").after(["lengths"]))
        .build();
    let report = rt.run(spec).await?;
    println!("  word lengths: {}", report.output("lengths").unwrap());
    println!("  total letters: {}", report.output("total").unwrap());
    rt.shutdown().await;
    Ok(())
}
