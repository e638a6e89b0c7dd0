//! The custom pattern: a review pipeline with a conditional route, defined as plain JSON (as a
//! workflow file would), plus what validation says about a topology with a cycle.
//!
//!     cargo run --example pattern_custom
//!
//! ```text
//! draft ──▶ review ──approve──▶ publish ──▶ announce
//!              │
//!              └────reject───▶ revise
//! ```

use serde_json::{json, Value};
use troupe::patterns::custom::{self, Custom, NodeSpec};
use troupe::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

/// Approves drafts that mention tests; rejects the rest with a reason.
struct Reviewer;

impl Agent for Reviewer {
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
        draft: Value,
    ) -> Result<Value, AgentError> {
        let text = draft
            .as_str()
            .ok_or_else(|| AgentError::permanent("a draft is a string"))?;
        Ok(if text.to_lowercase().contains("test") {
            custom::route("approve", text)
        } else {
            custom::route("reject", format!("{text} [reviewer: where are the tests?]"))
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::start(RuntimeConfig::named("custom-demo")).await?;
    troupe::agents::register_all(rt.kinds());
    troupe::patterns::register_all(rt.kinds());
    rt.kinds()
        .register("demo.review", "approves drafts that mention tests", |_| {
            Ok(Reviewer)
        });

    let pipeline = json!({
        "nodes": {
            "draft":    {"type": "text.transform", "config": {"op": "trim"}},
            "review":   {"type": "demo.review"},
            "publish":  {"type": "text.transform", "config": {"op": "uppercase"}},
            "announce": {"type": "text.transform", "config": {"op": "template", "template": "published: {input}"}},
            "revise":   {"type": "text.transform", "config": {"op": "template", "template": "back to the author: {input}"}},
        },
        "edges": [
            {"from": "draft", "to": "review"},
            {"from": "review", "to": "publish", "when": "approve"},
            {"from": "review", "to": "revise", "when": "reject"},
            {"from": "publish", "to": "announce"},
        ],
    });
    let review = rt.spawn_kind("pattern.custom", "review", pipeline).await?;
    for draft in ["  Add retries, with tests  ", "  Rewrite everything  "] {
        let reply = review.ask_value(json!(draft), None).await?;
        println!("{draft:?}\n  -> {reply}");
    }

    // Validation: a route back from `revise` to `review` would make a cycle.
    let looping = Custom::builder()
        .node("review", NodeSpec::new("demo.review"))
        .node(
            "revise",
            NodeSpec::new("text.transform").config(json!({"op": "trim"})),
        )
        .route("review", "revise", "reject")
        .edge("revise", "review")
        .edge("revise", "publish")
        .build();
    match looping {
        Ok(_) => println!("unexpected: the looping topology validated"),
        Err(errors) => println!("\na looping topology is refused:\n{errors}"),
    }
    rt.shutdown().await;
    Ok(())
}
