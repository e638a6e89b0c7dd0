//! `savina`: the micro-benchmarks of the Savina actor benchmark suite (Imam & Sarkar, 2014)
//! that fit an actor runtime, each written twice — against Troupe agents (the [`Agent`] trait,
//! `AgentRef::ask`/`tell`) in `troupe/`, and against raw ractor actors in `raw/` — with the
//! same messages, the same topology and the same work.
//!
//! | scenario | one operation |
//! |---|---|
//! | pingpong | two actors exchange N pings and pongs |
//! | counting | a producer actor sends N increments to a counter, then asks for the count |
//! | threadring | a token passed N hops around a ring of 100 actors |
//! | fork-join throughput | 8 workers receive N/8 messages each (a square root per message) |
//! | fork-join creation | create N actors and send each one message, until all handled |
//! | chameneos | 16 creatures meet N times through one mall actor (contention on one mailbox) |
//! | big | 32 actors each send N pings to random peers, each answered with a pong (many-to-many) |
//!
//! Every benchmark checks its result (the count, the number of meetings) so a broken run fails
//! instead of reporting a figure.
//!
//! [`Agent`]: troupe_runtime::Agent

mod raw;
mod troupe;

use std::sync::Arc;
use std::time::Duration;

use super::Context;
use crate::scenario::{Plan, Prepared, Reason, Scenario, Unit, Variant};
use troupe_runtime::BoxFuture;

/// One side of a benchmark: `op()` runs one whole benchmark iteration and returns the time it
/// measured (cleanup such as stopping created actors is left out of it).
pub(crate) struct Side {
    pub op: Arc<dyn Fn() -> BoxFuture<'static, Result<Duration, Reason>> + Send + Sync>,
    pub teardown: BoxFuture<'static, ()>,
}

impl Side {
    pub(crate) fn new<F, Fut, T>(op: F, teardown: T) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Duration, Reason>> + Send + 'static,
        T: std::future::Future<Output = ()> + Send + 'static,
    {
        Self {
            op: Arc::new(move || Box::pin(op())),
            teardown: Box::pin(teardown),
        }
    }
}

/// The sizes of the benchmarks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub pingpong: u64,
    pub counting: u64,
    pub ring_nodes: usize,
    pub ring_hops: u64,
    pub fj_workers: usize,
    pub fj_messages: u64,
    pub fj_create: u64,
    pub creatures: usize,
    pub meetings: u64,
    pub big_actors: usize,
    pub big_pings: u64,
}

impl Sizes {
    fn new(ctx: &Context) -> Self {
        let s = ctx.size;
        Self {
            pingpong: s.pick(2_000, 10_000),
            counting: s.pick(10_000, 100_000),
            ring_nodes: 100,
            ring_hops: s.pick(5_000, 50_000),
            fj_workers: 8,
            fj_messages: s.pick(10_000, 80_000),
            fj_create: s.pick(200, 1_000),
            creatures: 16,
            meetings: s.pick(2_000, 20_000),
            big_actors: 32,
            big_pings: s.pick(50, 300),
        }
    }
}

type Build = fn(Sizes) -> BoxFuture<'static, Result<Side, Reason>>;

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let z = Sizes::new(ctx);
    let plan = Plan::batch(20).warmup(2);
    let bench = |name: &str, unit: Unit, what: String, t: Build, r: Build| {
        Scenario::new("savina", name, unit, plan, move || pair(z, t, r)).describe(what)
    };
    vec![
        bench(
            "pingpong",
            Unit::batch(2 * z.pingpong, "msg"),
            format!(
                "{} pings and {} pongs between two actors",
                z.pingpong, z.pingpong
            ),
            |z| Box::pin(troupe::pingpong(z)),
            |z| Box::pin(raw::pingpong(z)),
        ),
        bench(
            "counting",
            Unit::batch(z.counting, "msg"),
            format!(
                "a producer sends {} increments, then asks the count",
                z.counting
            ),
            |z| Box::pin(troupe::counting(z)),
            |z| Box::pin(raw::counting(z)),
        ),
        bench(
            "threadring",
            Unit::batch(z.ring_hops, "hop"),
            format!(
                "a token passed {} hops around {} actors",
                z.ring_hops, z.ring_nodes
            ),
            |z| Box::pin(troupe::threadring(z)),
            |z| Box::pin(raw::threadring(z)),
        ),
        bench(
            "fork-join throughput",
            Unit::batch(z.fj_messages, "msg"),
            format!("{} messages over {} workers", z.fj_messages, z.fj_workers),
            |z| Box::pin(troupe::fork_join(z)),
            |z| Box::pin(raw::fork_join(z)),
        ),
        bench(
            "fork-join creation",
            Unit::batch(z.fj_create, "actor"),
            format!(
                "create {} actors, one message each, until handled",
                z.fj_create
            ),
            |z| Box::pin(troupe::fork_join_create(z)),
            |z| Box::pin(raw::fork_join_create(z)),
        ),
        bench(
            "chameneos",
            Unit::batch(z.meetings, "meeting"),
            format!(
                "{} creatures meet {} times through one mall",
                z.creatures, z.meetings
            ),
            |z| Box::pin(troupe::chameneos(z)),
            |z| Box::pin(raw::chameneos(z)),
        ),
        bench(
            "big",
            Unit::batch(2 * z.big_pings * z.big_actors as u64, "msg"),
            format!(
                "{} actors each ping random peers {} times (ping + pong)",
                z.big_actors, z.big_pings
            ),
            |z| Box::pin(troupe::big(z)),
            |z| Box::pin(raw::big(z)),
        ),
    ]
}

async fn pair(z: Sizes, troupe: Build, raw: Build) -> Result<Prepared, Reason> {
    let t = troupe(z).await?;
    let r = match raw(z).await {
        Ok(r) => r,
        Err(e) => {
            t.teardown.await;
            return Err(e);
        }
    };
    let (t_op, r_op) = (t.op, r.op);
    let (t_down, r_down) = (t.teardown, r.teardown);
    Ok(Prepared::new(vec![
        Variant::subject("troupe agents", move |ops| measure(t_op.clone(), ops)),
        Variant::baseline("raw ractor", move |ops| measure(r_op.clone(), ops)),
    ])
    .teardown(async move {
        t_down.await;
        r_down.await;
    }))
}

async fn measure(
    op: Arc<dyn Fn() -> BoxFuture<'static, Result<Duration, Reason>> + Send + Sync>,
    ops: u64,
) -> Result<Vec<u64>, Reason> {
    let mut samples = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        samples.push(op().await?.as_nanos() as u64);
    }
    Ok(samples)
}

/// The next color of a chameneos creature that met one of `other` color (3 colors).
pub(crate) fn complement(mine: u8, other: u8) -> u8 {
    if mine == other {
        mine
    } else {
        3 - mine - other
    }
}

/// Waits for `n` signals on `rx`.
pub(crate) async fn await_signals(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>,
    n: u64,
) -> Result<(), Reason> {
    for _ in 0..n {
        rx.recv()
            .await
            .ok_or_else(|| "the actors stopped before finishing".to_string())?;
    }
    Ok(())
}
