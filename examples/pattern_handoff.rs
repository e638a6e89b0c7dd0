//! The handoff pattern as a support desk: triage hands a refund to billing (with the case as
//! context), billing asks three reviewers at once and goes with the majority, then hands the
//! customer back to triage for an unrelated question. A second run shows the loop guard.
//!
//!     cargo run --example pattern_handoff

use serde_json::{json, Value};
use troupe::patterns::handoff::{self, HandoffClient, HandoffConfig, Join, Merge, Turn};
use troupe::{Runtime, RuntimeConfig};

/// Registers the desk's member kinds: each is a plain function of its input.
fn register_desk(rt: &Runtime) {
    let kinds = rt.kinds();
    handoff::register_member(kinds, "desk.triage", "routes customers", |input| {
        let text = input.message.as_str().unwrap_or_default().to_lowercase();
        Ok(match &input.from {
            // Billing handed the customer back: answer what is left.
            Some(from) if text.contains("address") => Turn::reply(format!(
                "(triage, back from {}) You can change your address under Settings > Profile.",
                from.agent
            )),
            _ if text.contains("charged") || text.contains("refund") => Turn::handoff(
                "billing",
                json!({"case": {"order": 42, "issue": "double charge"}}),
            ),
            _ => Turn::reply("(triage) How can I help?"),
        })
    });
    handoff::register_member(kinds, "desk.billing", "refunds", |input| {
        if let Some(joined) = &input.joined {
            let verdict = joined.result.as_str().unwrap_or("?");
            return Ok(Turn::reply(format!(
                "(billing) Refund of {} EUR for order {}: {verdict} by majority of the reviewers.",
                input.context["amount"], input.context["case"]["order"]
            ))
            .with_context(json!({"refund": verdict})));
        }
        let text = input.message.as_str().unwrap_or_default();
        if text.contains("address") {
            return Ok(Turn::handback()); // not billing's business: back to triage
        }
        Ok(
            Turn::fork(["reviewer1", "reviewer2", "reviewer3"], Merge::Majority)
                .join(Join::Back)
                .with_context(json!({"amount": 30})),
        )
    });
    for (name, limit) in [
        ("desk.reviewer1", 50),
        ("desk.reviewer2", 20),
        ("desk.reviewer3", 100),
    ] {
        handoff::register_member(
            kinds,
            name,
            "approves refunds up to a limit",
            move |input| {
                let amount = input.context["amount"].as_i64().unwrap_or(i64::MAX);
                let verdict = if amount <= limit {
                    "approved"
                } else {
                    "rejected"
                };
                Ok(Turn::reply(verdict))
            },
        );
    }
    handoff::register_member(kinds, "desk.ping", "always passes on", |_| {
        Ok(Turn::handoff("pong", Value::Null))
    });
    handoff::register_member(kinds, "desk.pong", "always passes back", |_| {
        Ok(Turn::handoff("ping", Value::Null))
    });
}

fn desk() -> HandoffConfig {
    let mut config = HandoffConfig::new("triage")
        .member("triage", "desk.triage", Value::Null)
        .member("billing", "desk.billing", Value::Null);
    for i in 1..=3 {
        let kind = format!("desk.reviewer{i}");
        config = config.member(format!("reviewer{i}"), &kind, Value::Null);
    }
    config
}

async fn say(desk: &HandoffClient, conversation: &str, text: &str) {
    println!("customer: {text}");
    match desk.turn(conversation, text).await {
        Ok(out) => {
            println!("  reply:  {}", out.reply.as_str().unwrap_or_default());
            println!(
                "  path:   {}   (active now: {})",
                out.path.join(" -> "),
                out.active
            );
        }
        Err(e) => println!("  error:  {e}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::start(RuntimeConfig::named("support")).await?;
    troupe::patterns::register_all(rt.kinds());
    troupe::agents::register_all(rt.kinds());
    register_desk(&rt);

    println!("== a support conversation ==");
    let support = HandoffClient::spawn(&rt, "desk", desk()).await?;
    say(&support, "c1", "Hi, I was charged twice for my order").await;
    say(&support, "c1", "Thanks! And how do I change my address?").await;
    say(&support, "c1", "That's all").await;

    let view = support.query("c1").await?;
    println!(
        "\nconversation c1 after {} turns, context {}",
        view.turns,
        json!(view.context)
    );
    for step in &view.history {
        let to = if step.to.is_empty() {
            String::new()
        } else {
            format!(" -> {}", step.to.join(", "))
        };
        println!("  turn {}: {} {:?}{to}", step.turn, step.agent, step.action);
    }

    println!("\n== a handoff loop, stopped by max_handoffs ==");
    let loop_config = HandoffConfig::new("ping")
        .member("ping", "desk.ping", Value::Null)
        .member("pong", "desk.pong", Value::Null)
        .max_handoffs(5);
    let looping = HandoffClient::spawn(&rt, "loop", loop_config).await?;
    say(&looping, "c2", "hello?").await;

    rt.shutdown().await;
    Ok(())
}
