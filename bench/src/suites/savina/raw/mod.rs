//! The Savina benchmarks on raw ractor actors: the same messages, topology and work as
//! [`super::troupe`], sent with `cast` (and `call` where the benchmark waits for an answer).

use std::time::Instant;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::oneshot;

use super::{Side, Sizes};
use crate::scenario::{reason, Reason};
use crate::suites::err;

/// The common shape of the actors below.
macro_rules! actor {
    ($name:ident, $msg:ty, $state:ty, $args:ty, |$a:ident| $init:expr,
     |$myself:ident, $st:ident, $m:ident| $body:block) => {
        impl ractor::Message for $msg {}
        impl Actor for $name {
            type Msg = $msg;
            type State = $state;
            type Arguments = $args;
            async fn pre_start(
                &self,
                _: ActorRef<$msg>,
                $a: $args,
            ) -> Result<$state, ActorProcessingErr> {
                Ok($init)
            }
            #[allow(unused_variables)]
            async fn handle(
                &self,
                $myself: ActorRef<$msg>,
                $m: $msg,
                $st: &mut $state,
            ) -> Result<(), ActorProcessingErr> {
                $body
            }
        }
    };
}

async fn spawn<A: Actor>(
    actor: A,
    args: A::Arguments,
    all: &mut Vec<ActorCell>,
) -> Result<ActorRef<A::Msg>, Reason> {
    let (a, _) = Actor::spawn(None, actor, args).await.map_err(reason)?;
    all.push(a.get_cell());
    Ok(a)
}

async fn stop_all(all: Vec<ActorCell>) {
    for a in all {
        a.stop(None);
    }
}

async fn done(rx: oneshot::Receiver<()>) -> Result<(), Reason> {
    rx.await
        .map_err(|_| "an actor dropped the benchmark before its end".to_string())
}

async fn ask<T: ractor::Message, R: Send + 'static>(
    a: &ActorRef<T>,
    msg: impl FnOnce(RpcReplyPort<R>) -> T,
) -> Result<R, Reason> {
    match a.call(msg, None).await {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(_) => Err("ractor call: no reply".into()),
        Err(e) => Err(err("ractor call", e)),
    }
}

mod crowds;

pub(super) use crowds::{big, chameneos, fork_join, fork_join_create};

// ---- pingpong ----------------------------------------------------------------------------

pub(super) enum PingMsg {
    Start(ActorRef<PongMsg>, u64, oneshot::Sender<()>),
    Pong,
}
pub(super) struct PongMsg;
struct Pinger;
struct Ponger;
type PingGame = Option<(ActorRef<PongMsg>, u64, Option<oneshot::Sender<()>>)>;

actor!(
    Pinger,
    PingMsg,
    PingGame,
    (),
    |_a| None,
    |myself, st, msg| {
        match msg {
            PingMsg::Start(pong, n, done) => {
                pong.cast(PongMsg)?;
                *st = Some((pong, n - 1, Some(done)));
            }
            PingMsg::Pong => {
                let Some((pong, left, done)) = st else {
                    return Err("pong before start".into());
                };
                if *left == 0 {
                    if let Some(d) = done.take() {
                        let _ = d.send(());
                    }
                } else {
                    *left -= 1;
                    pong.cast(PongMsg)?;
                }
            }
        }
        Ok(())
    }
);

actor!(
    Ponger,
    PongMsg,
    ActorRef<PingMsg>,
    ActorRef<PingMsg>,
    |a| a,
    |myself, ping, msg| { Ok(ping.cast(PingMsg::Pong)?) }
);

pub(super) async fn pingpong(z: Sizes) -> Result<Side, Reason> {
    let mut all = Vec::new();
    let ping = spawn(Pinger, (), &mut all).await?;
    let pong = spawn(Ponger, ping.clone(), &mut all).await?;
    let op = move || {
        let (ping, pong) = (ping.clone(), pong.clone());
        async move {
            let start = Instant::now();
            let (tx, rx) = oneshot::channel();
            ping.cast(PingMsg::Start(pong, z.pingpong.max(1), tx))
                .map_err(|e| err("cast", e))?;
            done(rx).await?;
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, stop_all(all)))
}

// ---- counting ----------------------------------------------------------------------------

pub(super) enum Count {
    Inc,
    Get(RpcReplyPort<u64>),
}
pub(super) struct Produce(ActorRef<Count>, u64, RpcReplyPort<u64>);
struct Counter;
struct Producer;

actor!(Counter, Count, u64, (), |_a| 0, |myself, count, msg| {
    match msg {
        Count::Inc => *count += 1,
        Count::Get(reply) => {
            let _ = reply.send(std::mem::take(count));
        }
    }
    Ok(())
});

actor!(Producer, Produce, (), (), |_a| (), |myself, st, msg| {
    let Produce(counter, n, reply) = msg;
    for _ in 0..n {
        counter.cast(Count::Inc)?;
    }
    let got = ask(&counter, Count::Get).await?;
    let _ = reply.send(got);
    Ok(())
});

pub(super) async fn counting(z: Sizes) -> Result<Side, Reason> {
    let mut all = Vec::new();
    let counter = spawn(Counter, (), &mut all).await?;
    let producer = spawn(Producer, (), &mut all).await?;
    let op = move || {
        let (counter, producer) = (counter.clone(), producer.clone());
        async move {
            let start = Instant::now();
            let got = ask(&producer, |r| Produce(counter, z.counting, r)).await?;
            let took = start.elapsed();
            if got != z.counting {
                return Err(format!("counted {got}, sent {}", z.counting));
            }
            Ok(took)
        }
    };
    Ok(Side::new(op, stop_all(all)))
}

// ---- threadring --------------------------------------------------------------------------

pub(super) enum Ring {
    Link(ActorRef<Ring>, RpcReplyPort<()>),
    Token(u64, oneshot::Sender<()>),
}
struct RingNode;

actor!(
    RingNode,
    Ring,
    Option<ActorRef<Ring>>,
    (),
    |_a| None,
    |myself, next, msg| {
        match msg {
            Ring::Link(n, reply) => {
                *next = Some(n);
                let _ = reply.send(());
            }
            Ring::Token(0, done) => {
                let _ = done.send(());
            }
            Ring::Token(hops, done) => {
                let next = next.as_ref().ok_or("token before link")?;
                next.cast(Ring::Token(hops - 1, done))?;
            }
        }
        Ok(())
    }
);

pub(super) async fn threadring(z: Sizes) -> Result<Side, Reason> {
    let mut all = Vec::new();
    let mut nodes = Vec::with_capacity(z.ring_nodes);
    for _ in 0..z.ring_nodes {
        nodes.push(spawn(RingNode, (), &mut all).await?);
    }
    for (i, node) in nodes.iter().enumerate() {
        let next = nodes[(i + 1) % nodes.len()].clone();
        ask(node, |r| Ring::Link(next, r)).await?;
    }
    let head = nodes[0].clone();
    let op = move || {
        let head = head.clone();
        async move {
            let start = Instant::now();
            let (tx, rx) = oneshot::channel();
            head.cast(Ring::Token(z.ring_hops, tx))
                .map_err(|e| err("cast", e))?;
            done(rx).await?;
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, stop_all(all)))
}
