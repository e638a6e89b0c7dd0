//! The swarm pattern: a recursive job whose pieces split themselves, all seeded on one peer,
//! spread over four peers by work stealing; the swarm detects the end on its own.
//!
//!     cargo run --release --example pattern_swarm
//!
//! The job counts the primes below 1 000 000: an item is a range; a member splits a range
//! wider than 10 000 into two halves (`{"spawn": [...]}`) and counts a narrow one itself
//! (`{"result": n}`). The swarm sums the results.

use std::time::Instant;

use serde_json::{json, Value};
use troupe::patterns::member::MemberSpec;
use troupe::patterns::swarm::{self, Directive, Reducer, Swarm, SwarmReport};
use troupe::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

const LIMIT: u64 = 1_000_000;
const LEAF: u64 = 10_000;

/// Splits wide ranges, counts primes in narrow ones.
struct PrimeCounter;

impl Agent for PrimeCounter {
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
        range: Value,
    ) -> Result<Value, AgentError> {
        let bound = |k: &str| {
            range[k]
                .as_u64()
                .ok_or_else(|| AgentError::permanent(format!("`{k}` is missing")))
        };
        let (lo, hi) = (bound("lo")?, bound("hi")?);
        if hi - lo > LEAF {
            let mid = lo + (hi - lo) / 2;
            return Ok(Directive::spawn([
                json!({"lo": lo, "hi": mid}),
                json!({"lo": mid, "hi": hi}),
            ])
            .into_value());
        }
        let count = (lo..hi).filter(|&n| is_prime(n)).count();
        Ok(Directive::result(count).into_value())
    }
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::start(RuntimeConfig::named("swarm-demo")).await?;
    troupe::agents::register_all(rt.kinds());
    troupe::patterns::register_all(rt.kinds());
    rt.kinds().register(
        "demo.primes",
        "counts primes in a range, splitting wide ones",
        |_| Ok(PrimeCounter),
    );

    let swarm = Swarm::builder()
        .members("counter", MemberSpec::new("demo.primes", 4))
        .reducer(Reducer::Sum)
        .report(true)
        .build()?;
    let swarm = rt.spawn("primes", swarm).await?;

    println!("counting primes below {LIMIT} with 4 peers; every piece starts on peer 0");
    let start = Instant::now();
    let request = swarm::items_to([json!({"lo": 0, "hi": LIMIT})], 0);
    let report = SwarmReport::from_value(swarm.ask(request).await?)?;
    println!(
        "result: {} primes in {:.2?}\n",
        report.result,
        start.elapsed()
    );

    println!(
        "{:<22} {:>6} {:>8} {:>7} {:>14}",
        "peer (member)", "ran", "stolen", "given", "steal asks"
    );
    for p in &report.peers {
        let s = p.stats;
        println!(
            "{:<22} {:>6} {:>8} {:>7} {:>14}",
            p.member, s.ran, s.stolen, s.given, s.steal_requests
        );
    }
    let ran: u64 = report.peers.iter().map(|p| p.stats.ran).sum();
    println!(
        "\n{ran} items ran (ranges split and counted); failed: {}",
        report.failed.len()
    );
    rt.shutdown().await;
    Ok(())
}
