//! The Savina benchmarks on Troupe agents: each actor an [`Agent`], messages sent with
//! `AgentRef::tell` (and `ask` where the benchmark waits for an answer).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Mutex};

use super::{await_signals, complement, Side, Sizes};
use crate::bench::scenario::{reason, Reason};
use crate::bench::suites::err;
use crate::{Agent, AgentContext, AgentError, AgentRef, Runtime, RuntimeConfig, Snapshot};

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
            async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<$state, AgentError> {
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

agent!(Producer, (AgentRef<Counter>, u64), u64, (), (), |_me, _st, msg| {
    let (counter, n) = msg;
    for _ in 0..n {
        counter.tell(Count::Inc).map_err(fail)?;
    }
    counter.ask(Count::Get).await.map_err(fail)
});

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

agent!(RingNode, Ring, (), Option<AgentRef<RingNode>>, None, |_me, next, msg| {
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
});

pub(super) async fn threadring(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("threadring").await?;
    let mut nodes = Vec::with_capacity(z.ring_nodes);
    for i in 0..z.ring_nodes {
        nodes.push(rt.spawn(format!("ring-{i}").as_str(), RingNode).await.map_err(reason)?);
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

// ---- fork-join throughput ----------------------------------------------------------------

pub(super) enum Fj {
    Work(u64),
    Flush,
}

pub(super) struct FjWorker;

agent!(FjWorker, Fj, u64, u64, 0, |_me, count, msg| {
    Ok(match msg {
        Fj::Work(n) => {
            black_box((n as f64).sqrt());
            *count += 1;
            0
        }
        Fj::Flush => std::mem::take(count),
    })
});

pub(super) async fn fork_join(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("fork-join").await?;
    let mut workers = Vec::with_capacity(z.fj_workers);
    for i in 0..z.fj_workers {
        workers.push(rt.spawn(format!("fj-{i}").as_str(), FjWorker).await.map_err(reason)?);
    }
    let workers = Arc::new(workers);
    let per = z.fj_messages / z.fj_workers as u64;
    let op = move || {
        let workers = workers.clone();
        async move {
            let start = Instant::now();
            for m in 0..per {
                for w in workers.iter() {
                    w.tell(Fj::Work(m)).map_err(|e| err("tell", e))?;
                }
            }
            for w in workers.iter() {
                let got = w.ask(Fj::Flush).await.map_err(|e| err("ask", e))?;
                if got != per {
                    return Err(format!("a worker handled {got} messages, not {per}"));
                }
            }
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, async move { rt.shutdown().await }))
}

// ---- fork-join creation ------------------------------------------------------------------

pub(super) struct FjCreate {
    done: mpsc::UnboundedSender<()>,
}

agent!(FjCreate, u64, (), (), (), |me, _st, n| {
    black_box((n as f64).sqrt());
    me.done.send(()).map_err(fail)
});

pub(super) async fn fork_join_create(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("fork-join-create").await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let created = Arc::new(AtomicU64::new(0));
    let troupe = rt.clone();
    let op = move || {
        let (rt, tx, rx, created) = (troupe.clone(), tx.clone(), rx.clone(), created.clone());
        async move {
            let mut rx = rx.lock().await;
            let base = created.fetch_add(z.fj_create, Ordering::Relaxed);
            let ids: Vec<String> = (0..z.fj_create).map(|i| format!("fjc-{}", base + i)).collect();
            let start = Instant::now();
            for (i, id) in ids.iter().enumerate() {
                let agent = rt
                    .spawn(id.as_str(), FjCreate { done: tx.clone() })
                    .await
                    .map_err(|e| err("spawn", e))?;
                agent.tell(i as u64).map_err(|e| err("tell", e))?;
            }
            await_signals(&mut rx, z.fj_create).await?;
            let took = start.elapsed();
            for id in &ids {
                rt.stop_agent(id).await;
            }
            Ok(took)
        }
    };
    Ok(Side::new(op, async move { rt.shutdown().await }))
}

// ---- chameneos ---------------------------------------------------------------------------

pub(super) enum MallMsg {
    Start(u64, u64, oneshot::Sender<()>),
    Meet(u64, AgentRef<Creature>, u8),
}

#[derive(Default)]
pub(super) struct MallState {
    epoch: u64,
    left: u64,
    waiting: Option<(AgentRef<Creature>, u8)>,
    done: Option<oneshot::Sender<()>>,
}

pub(super) struct Mall;

agent!(Mall, MallMsg, (), MallState, MallState::default(), |_me, st, msg| {
    match msg {
        MallMsg::Start(epoch, meetings, done) => {
            *st = MallState {
                epoch,
                left: meetings,
                waiting: None,
                done: Some(done),
            };
        }
        MallMsg::Meet(epoch, who, color) if epoch == st.epoch && st.left > 0 => {
            match st.waiting.take() {
                None => st.waiting = Some((who, color)),
                Some((other, other_color)) => {
                    st.left -= 1;
                    other.tell(CreatureMsg::Met(epoch, color)).map_err(fail)?;
                    who.tell(CreatureMsg::Met(epoch, other_color)).map_err(fail)?;
                    if st.left == 0 {
                        if let Some(d) = st.done.take() {
                            let _ = d.send(());
                        }
                    }
                }
            }
        }
        MallMsg::Meet(..) => {}
    }
    Ok(())
});

pub(super) enum CreatureMsg {
    Go(u64, AgentRef<Creature>, u8),
    Met(u64, u8),
}

pub(super) struct Creature {
    mall: AgentRef<Mall>,
}
type CreatureState = (u64, Option<AgentRef<Creature>>, u8);

agent!(Creature, CreatureMsg, (), CreatureState, (0, None, 0), |me, st, msg| {
    let (epoch, color) = match msg {
        CreatureMsg::Go(epoch, myself, color) => {
            *st = (epoch, Some(myself), color);
            (epoch, color)
        }
        CreatureMsg::Met(epoch, other) if epoch == st.0 => {
            st.2 = complement(st.2, other);
            (epoch, st.2)
        }
        CreatureMsg::Met(..) => return Ok(()),
    };
    let myself = st.1.clone().ok_or_else(|| fail("met before go"))?;
    me.mall.tell(MallMsg::Meet(epoch, myself, color)).map_err(fail)
});

pub(super) async fn chameneos(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("chameneos").await?;
    let mall = rt.spawn("mall", Mall).await.map_err(reason)?;
    let mut creatures = Vec::with_capacity(z.creatures);
    for i in 0..z.creatures {
        let c = Creature { mall: mall.clone() };
        creatures.push(rt.spawn(format!("creature-{i}").as_str(), c).await.map_err(reason)?);
    }
    let creatures = Arc::new(creatures);
    let epochs = Arc::new(AtomicU64::new(0));
    let op = move || {
        let (mall, creatures, epochs) = (mall.clone(), creatures.clone(), epochs.clone());
        async move {
            let epoch = epochs.fetch_add(1, Ordering::Relaxed) + 1;
            let start = Instant::now();
            let (tx, rx) = oneshot::channel();
            mall.tell(MallMsg::Start(epoch, z.meetings, tx))
                .map_err(|e| err("tell", e))?;
            for (i, c) in creatures.iter().enumerate() {
                c.tell(CreatureMsg::Go(epoch, c.clone(), (i % 3) as u8))
                    .map_err(|e| err("tell", e))?;
            }
            done(rx).await?;
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, async move { rt.shutdown().await }))
}

// ---- big ---------------------------------------------------------------------------------

pub(super) enum BigMsg {
    Link(Arc<Vec<AgentRef<BigWorker>>>, usize),
    Start(u64, mpsc::UnboundedSender<()>),
    Ping(usize),
    Pong,
}

#[derive(Default)]
pub(super) struct BigState {
    peers: Arc<Vec<AgentRef<BigWorker>>>,
    me: usize,
    left: u64,
    sink: Option<mpsc::UnboundedSender<()>>,
    rng: fastrand::Rng,
}

impl BigState {
    fn ping_someone(&mut self) -> Result<(), AgentError> {
        let n = self.peers.len();
        let to = (self.me + 1 + self.rng.usize(0..n - 1)) % n;
        self.peers[to].tell(BigMsg::Ping(self.me)).map_err(fail)
    }
}

pub(super) struct BigWorker;

agent!(BigWorker, BigMsg, (), BigState, BigState::default(), |_me, st, msg| {
    match msg {
        BigMsg::Link(peers, me) => {
            st.rng = fastrand::Rng::with_seed(me as u64);
            (st.peers, st.me) = (peers, me);
        }
        BigMsg::Start(pings, sink) => {
            (st.left, st.sink) = (pings, Some(sink));
            st.ping_someone()?;
        }
        BigMsg::Ping(from) => st.peers[from].tell(BigMsg::Pong).map_err(fail)?,
        BigMsg::Pong => {
            st.left -= 1;
            if st.left == 0 {
                if let Some(sink) = &st.sink {
                    sink.send(()).map_err(fail)?;
                }
            } else {
                st.ping_someone()?;
            }
        }
    }
    Ok(())
});

pub(super) async fn big(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("big").await?;
    let mut workers = Vec::with_capacity(z.big_actors);
    for i in 0..z.big_actors {
        workers.push(rt.spawn(format!("big-{i}").as_str(), BigWorker).await.map_err(reason)?);
    }
    let workers = Arc::new(workers);
    for (i, w) in workers.iter().enumerate() {
        w.ask(BigMsg::Link(workers.clone(), i)).await.map_err(reason)?;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let op = move || {
        let (workers, tx, rx) = (workers.clone(), tx.clone(), rx.clone());
        async move {
            let mut rx = rx.lock().await;
            let start = Instant::now();
            for w in workers.iter() {
                w.tell(BigMsg::Start(z.big_pings, tx.clone()))
                    .map_err(|e| err("tell", e))?;
            }
            await_signals(&mut rx, workers.len() as u64).await?;
            Ok(start.elapsed())
        }
    };
    let teardown = async move { rt.shutdown().await };
    Ok(Side::new(op, teardown))
}
