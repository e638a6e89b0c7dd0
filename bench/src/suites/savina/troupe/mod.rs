//! The Savina benchmarks on Troupe agents: each actor an [`Agent`], messages sent with
//! `AgentRef::tell` (and `ask` where the benchmark waits for an answer).

use std::time::Instant;

use tokio::sync::oneshot;

use super::{Side, Sizes};
use crate::scenario::{reason, Reason};
use crate::suites::err;
use troupe_runtime::{Agent, AgentContext, AgentError, AgentRef, Runtime, RuntimeConfig, Snapshot};

fn fail(e: impl std::fmt::Display) -> AgentError {
    AgentError::permanent(e.to_string())
}

async fn runtime(name: &str) -> Result<Runtime, Reason> {
    Runtime::start(RuntimeConfig::named(format!("bench-savina-{name}")))
        .await
        .map_err(reason)
}

async fn done(rx: oneshot::Receiver<()>) -> Result<(), Reason> {
    rx.await
        .map_err(|_| "an agent dropped the benchmark before its end".to_string())
}

/// The common shape of the agents below: configuration `Self`, no snapshot.
macro_rules! agent {
    ($name:ident, $req:ty, $reply:ty, $state:ty, $init:expr,
     |$me:ident, $st:ident, $msg:ident| $body:block) => {
        impl Agent for $name {
            type Request = $req;
            type Reply = $reply;
            type State = $state;
            async fn init(
                &self,
                _: &AgentContext,
                _: Option<Snapshot>,
            ) -> Result<$state, AgentError> {
                Ok($init)
            }
            async fn handle(
                &self,
                _: &AgentContext,
                $st: &mut $state,
                $msg: $req,
            ) -> Result<$reply, AgentError> {
                let $me = self;
                $body
            }
        }
    };
}

mod crowds;

pub(super) use crowds::{big, chameneos, fork_join, fork_join_create};

// ---- pingpong ----------------------------------------------------------------------------

pub(super) enum PingMsg {
    Start {
        pong: AgentRef<Ponger>,
        n: u64,
        done: oneshot::Sender<()>,
    },
    Pong,
}

pub(super) struct Pinger;
pub(super) struct Ponger {
    ping: AgentRef<Pinger>,
}
type PingGame = Option<(AgentRef<Ponger>, u64, Option<oneshot::Sender<()>>)>;

agent!(Pinger, PingMsg, (), PingGame, None, |_me, st, msg| {
    match msg {
        PingMsg::Start { pong, n, done } => {
            pong.tell(()).map_err(fail)?;
            *st = Some((pong, n - 1, Some(done)));
        }
        PingMsg::Pong => {
            let Some((pong, left, done)) = st else {
                return Err(fail("pong before start"));
            };
            if *left == 0 {
                if let Some(d) = done.take() {
                    let _ = d.send(());
                }
            } else {
                *left -= 1;
                pong.tell(()).map_err(fail)?;
            }
        }
    }
    Ok(())
});

agent!(Ponger, (), (), (), (), |me, _st, _msg| {
    me.ping.tell(PingMsg::Pong).map_err(fail)
});

pub(super) async fn pingpong(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("pingpong").await?;
    let ping = rt.spawn("ping", Pinger).await.map_err(reason)?;
    let pong = rt
        .spawn("pong", Ponger { ping: ping.clone() })
        .await
        .map_err(reason)?;
    let op = move || {
        let (ping, pong) = (ping.clone(), pong.clone());
        async move {
            let start = Instant::now();
            let (tx, rx) = oneshot::channel();
            let n = z.pingpong.max(1);
            ping.tell(PingMsg::Start { pong, n, done: tx })
                .map_err(|e| err("tell", e))?;
            done(rx).await?;
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, async move { rt.shutdown().await }))
}

// ---- counting ----------------------------------------------------------------------------

pub(super) enum Count {
    Inc,
    Get,
}

pub(super) struct Counter;
pub(super) struct Producer;

agent!(Counter, Count, u64, u64, 0, |_me, st, msg| {
    Ok(match msg {
        Count::Inc => {
            *st += 1;
            0
        }
        Count::Get => std::mem::take(st),
    })
});

agent!(
    Producer,
    (AgentRef<Counter>, u64),
    u64,
    (),
    (),
    |_me, _st, msg| {
        let (counter, n) = msg;
        // More than a mailbox holds: wait for room rather than be refused.
        for _ in 0..n {
            counter.tell_wait(Count::Inc, None).await.map_err(fail)?;
        }
        counter.ask(Count::Get).await.map_err(fail)
    }
);

pub(super) async fn counting(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("counting").await?;
    let counter = rt.spawn("counter", Counter).await.map_err(reason)?;
    let producer = rt.spawn("producer", Producer).await.map_err(reason)?;
    let op = move || {
        let (counter, producer) = (counter.clone(), producer.clone());
        async move {
            let start = Instant::now();
            let got = producer
                .ask((counter, z.counting))
                .await
                .map_err(|e| err("ask", e))?;
            let took = start.elapsed();
            if got != z.counting {
                return Err(format!("counted {got}, sent {}", z.counting));
            }
            Ok(took)
        }
    };
    Ok(Side::new(op, async move { rt.shutdown().await }))
}

// ---- threadring --------------------------------------------------------------------------

pub(super) enum Ring {
    Link(AgentRef<RingNode>),
    Token(u64, oneshot::Sender<()>),
}

pub(super) struct RingNode;

agent!(
    RingNode,
    Ring,
    (),
    Option<AgentRef<RingNode>>,
    None,
    |_me, next, msg| {
        match msg {
            Ring::Link(n) => *next = Some(n),
            Ring::Token(0, done) => {
                let _ = done.send(());
            }
            Ring::Token(hops, done) => {
                let next = next.as_ref().ok_or_else(|| fail("token before link"))?;
                next.tell(Ring::Token(hops - 1, done)).map_err(fail)?;
            }
        }
        Ok(())
    }
);

pub(super) async fn threadring(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("threadring").await?;
    let mut nodes = Vec::with_capacity(z.ring_nodes);
    for i in 0..z.ring_nodes {
        nodes.push(
            rt.spawn(format!("ring-{i}").as_str(), RingNode)
                .await
                .map_err(reason)?,
        );
    }
    for (i, node) in nodes.iter().enumerate() {
        let next = nodes[(i + 1) % nodes.len()].clone();
        node.ask(Ring::Link(next)).await.map_err(reason)?;
    }
    let head = nodes[0].clone();
    let op = move || {
        let head = head.clone();
        async move {
            let start = Instant::now();
            let (tx, rx) = oneshot::channel();
            head.tell(Ring::Token(z.ring_hops, tx))
                .map_err(|e| err("tell", e))?;
            done(rx).await?;
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, async move { rt.shutdown().await }))
}
