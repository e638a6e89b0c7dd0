//! The network pattern: agents route questions among themselves by name. A router picks a
//! specialist; the librarian and the sage keep passing a question they cannot answer, until the
//! hop budget stops them; "everyone" fans a question out and the first answer wins.
//!
//!     cargo run --example pattern_network

use serde_json::{json, Value};
use troupe::patterns::network::{self, NetworkClient, NetworkConfig, Step};
use troupe::{Runtime, RuntimeConfig};

/// Registers the member kinds: each is a plain function of the message it receives.
fn register_members(rt: &Runtime) {
    let kinds = rt.kinds();
    network::register_member(
        kinds,
        "qa.router",
        "sends a question to a specialist",
        |input| {
            let q = input.message.as_str().unwrap_or_default().to_lowercase();
            Ok(if q.contains("everyone") {
                Step::fan_out([
                    ("calculator", input.message.clone()),
                    ("librarian", input.message.clone()),
                    ("forecaster", input.message.clone()),
                ])
            } else if q.contains('+') {
                Step::forward("calculator")
            } else if q.contains("weather") {
                Step::forward("forecaster")
            } else {
                Step::forward("librarian")
            })
        },
    );
    network::register_member(kinds, "qa.calculator", "adds numbers", |input| {
        let q = input.message.as_str().unwrap_or_default();
        let terms: Vec<f64> = q
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|t| t.parse().ok())
            .collect();
        Ok(match terms.len() {
            0 => Step::end(), // nothing to add: this branch stays silent
            _ => {
                let sum: Vec<String> = terms.iter().map(f64::to_string).collect();
                Step::reply(format!(
                    "{} = {}",
                    sum.join(" + "),
                    terms.iter().sum::<f64>()
                ))
            }
        })
    });
    network::register_member(kinds, "qa.forecaster", "knows the weather", |input| {
        let q = input.message.as_str().unwrap_or_default();
        Ok(match q.contains("weather") {
            true => Step::reply("sunny, 21 °C"),
            false => Step::end(),
        })
    });
    network::register_member(
        kinds,
        "qa.librarian",
        "looks things up, or asks the sage",
        |input| {
            let q = input.message.as_str().unwrap_or_default();
            Ok(if q.contains("capital of France") {
                Step::reply("Paris")
            } else if input.from.as_deref() == Some("sage") {
                Step::send("sage", json!(format!("{q} (the sage asked me back)")))
            } else {
                Step::forward("sage")
            })
        },
    );
    network::register_member(
        kinds,
        "qa.sage",
        "answers riddles, else asks the librarian",
        |input| {
            let q = input.message.as_str().unwrap_or_default();
            Ok(if q.contains("riddle") {
                Step::reply("the answer is a map")
            } else {
                Step::forward("librarian")
            })
        },
    );
}

async fn ask(net: &NetworkClient, question: &str) {
    println!("question: {question}");
    match net.ask(question).await {
        Ok(out) => println!(
            "  answer: {}   (path: {})",
            out.answer,
            out.path.join(" -> ")
        ),
        Err(e) => println!("  error:  {e}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::start(RuntimeConfig::named("qa")).await?;
    troupe::patterns::register_all(rt.kinds());
    troupe::agents::register_all(rt.kinds());
    register_members(&rt);

    let names = ["router", "calculator", "forecaster", "librarian", "sage"];
    let config = names
        .iter()
        .fold(NetworkConfig::new("router"), |c, n| {
            c.member(*n, &format!("qa.{n}"), Value::Null)
        })
        .hop_budget(6);
    let net = NetworkClient::spawn(&rt, "qa-net", config).await?;

    ask(&net, "what is 2 + 40?").await;
    ask(&net, "what is the weather tomorrow?").await;
    ask(&net, "what is the capital of France?").await;
    ask(&net, "here is a riddle: what has cities but no houses?").await;
    ask(&net, "everyone: 19 + 23").await;
    println!(
        "\n-- a question nobody can answer travels in a cycle until the hop budget is spent --"
    );
    ask(&net, "what is the meaning of life?").await;

    rt.shutdown().await;
    Ok(())
}
