//! `ask` under overload: the same admitted work (asks to one agent whose mailbox holds
//! [`CAPACITY`] requests) offered by as many callers as the mailbox holds (1×) and by ten
//! times as many (10×, nine in ten of them waiting for room at any moment). The ratio says
//! whether a node at ten times its capacity still serves admitted work at its normal rate.

use std::hint::black_box;

use tokio::task::JoinSet;
use troupe_runtime::{AgentRef, Runtime, RuntimeConfig, SpawnOptions};

use super::Plus1;
use crate::scenario::{reason, time_each, Prepared, Reason, Variant};

/// The agent's mailbox capacity in this scenario.
pub(super) const CAPACITY: u64 = 32;
/// Asks completed per operation (divisible by 10 × [`CAPACITY`]).
pub(super) const WORK: u64 = 1_280;

/// Offers [`WORK`] asks from `callers` concurrent callers; returns when all were answered.
async fn offer(agent: &AgentRef<Plus1>, callers: u64) -> Result<u64, Reason> {
    let per = WORK / callers;
    let mut set = JoinSet::new();
    for _ in 0..callers {
        let a = agent.clone();
        set.spawn(async move {
            let mut sum = 0;
            for i in 0..per {
                sum += a.ask(i).await?;
            }
            Ok::<u64, troupe_runtime::CallError>(sum)
        });
    }
    let mut total = 0;
    while let Some(r) = set.join_next().await {
        total += r.map_err(reason)?.map_err(reason)?;
    }
    Ok(total)
}

/// The scenario's variants: 10× offered (subject) beside 1× offered (baseline).
pub(super) async fn prepare() -> Result<Prepared, Reason> {
    let rt = Runtime::start(RuntimeConfig::named("bench-overload"))
        .await
        .map_err(reason)?;
    let options = SpawnOptions::default().mailbox(CAPACITY as usize);
    let agent = rt
        .spawn_with("busy", Plus1, options)
        .await
        .map_err(reason)?;
    let offered = |callers: u64| {
        let agent = agent.clone();
        move |ops| {
            let a = agent.clone();
            async move { Ok(time_each!(ops, |_i| black_box(offer(&a, callers).await?))) }
        }
    };
    Ok(Prepared::new(vec![
        Variant::subject("10x offered", offered(10 * CAPACITY)),
        Variant::baseline("1x offered", offered(CAPACITY)),
    ])
    .teardown(async move { rt.shutdown().await }))
}
