//! The Savina benchmarks on raw ractor actors: the same messages, topology and work as
//! [`super::troupe`], sent with `cast` (and `call` where the benchmark waits for an answer).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{await_signals, complement, Side, Sizes};
use crate::bench::scenario::{reason, Reason};
use crate::bench::suites::err;

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

async fn spawn<A: Actor>(actor: A, args: A::Arguments, all: &mut Vec<ActorCell>) -> Result<ActorRef<A::Msg>, Reason> {
    let (a, _) = Actor::spawn(None, actor, args).await.map_err(reason)?;
    all.push(a.get_cell());
    Ok(a)
}

fn stop_all(all: Vec<ActorCell>) -> impl std::future::Future<Output = ()> + Send {
    async move {
        for a in all {
            a.stop(None);
        }
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

// ---- pingpong ----------------------------------------------------------------------------

pub(super) enum PingMsg {
    Start(ActorRef<PongMsg>, u64, oneshot::Sender<()>),
    Pong,
}
pub(super) struct PongMsg;
struct Pinger;
struct Ponger;
type PingGame = Option<(ActorRef<PongMsg>, u64, Option<oneshot::Sender<()>>)>;

actor!(Pinger, PingMsg, PingGame, (), |_a| None, |myself, st, msg| {
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
});

actor!(Ponger, PongMsg, ActorRef<PingMsg>, ActorRef<PingMsg>, |a| a, |myself, ping, msg| {
    Ok(ping.cast(PingMsg::Pong)?)
});

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

actor!(RingNode, Ring, Option<ActorRef<Ring>>, (), |_a| None, |myself, next, msg| {
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
});

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

// ---- fork-join throughput ----------------------------------------------------------------

pub(super) enum Fj {
    Work(u64),
    Flush(RpcReplyPort<u64>),
}
struct FjWorker;

actor!(FjWorker, Fj, u64, (), |_a| 0, |myself, count, msg| {
    match msg {
        Fj::Work(n) => {
            black_box((n as f64).sqrt());
            *count += 1;
        }
        Fj::Flush(reply) => {
            let _ = reply.send(std::mem::take(count));
        }
    }
    Ok(())
});

pub(super) async fn fork_join(z: Sizes) -> Result<Side, Reason> {
    let mut all = Vec::new();
    let mut workers = Vec::with_capacity(z.fj_workers);
    for _ in 0..z.fj_workers {
        workers.push(spawn(FjWorker, (), &mut all).await?);
    }
    let workers = Arc::new(workers);
    let per = z.fj_messages / z.fj_workers as u64;
    let op = move || {
        let workers = workers.clone();
        async move {
            let start = Instant::now();
            for m in 0..per {
                for w in workers.iter() {
                    w.cast(Fj::Work(m)).map_err(|e| err("cast", e))?;
                }
            }
            for w in workers.iter() {
                let got = ask(w, Fj::Flush).await?;
                if got != per {
                    return Err(format!("a worker handled {got} messages, not {per}"));
                }
            }
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, stop_all(all)))
}

// ---- fork-join creation ------------------------------------------------------------------

pub(super) struct Work(u64);
struct FjCreate;

actor!(FjCreate, Work, mpsc::UnboundedSender<()>, mpsc::UnboundedSender<()>, |a| a, |myself, done, msg| {
    black_box((msg.0 as f64).sqrt());
    Ok(done.send(())?)
});

pub(super) async fn fork_join_create(z: Sizes) -> Result<Side, Reason> {
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let op = move || {
        let (tx, rx) = (tx.clone(), rx.clone());
        async move {
            let mut rx = rx.lock().await;
            let mut actors = Vec::with_capacity(z.fj_create as usize);
            let start = Instant::now();
            for i in 0..z.fj_create {
                let (a, _) = Actor::spawn(None, FjCreate, tx.clone())
                    .await
                    .map_err(|e| err("spawn", e))?;
                a.cast(Work(i)).map_err(|e| err("cast", e))?;
                actors.push(a);
            }
            await_signals(&mut rx, z.fj_create).await?;
            let took = start.elapsed();
            for a in actors {
                a.stop_and_wait(None, None).await.map_err(reason)?;
            }
            Ok(took)
        }
    };
    Ok(Side::new(op, async {}))
}

// ---- chameneos ---------------------------------------------------------------------------

pub(super) enum MallMsg {
    Start(u64, u64, oneshot::Sender<()>),
    Meet(u64, ActorRef<CreatureMsg>, u8),
}
pub(super) enum CreatureMsg {
    Go(u64, u8),
    Met(u64, u8),
}
struct Mall;
struct Creature;

#[derive(Default)]
pub(super) struct MallState {
    epoch: u64,
    left: u64,
    waiting: Option<(ActorRef<CreatureMsg>, u8)>,
    done: Option<oneshot::Sender<()>>,
}

actor!(Mall, MallMsg, MallState, (), |_a| MallState::default(), |myself, st, msg| {
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
                    other.cast(CreatureMsg::Met(epoch, color))?;
                    who.cast(CreatureMsg::Met(epoch, other_color))?;
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

type CreatureState = (ActorRef<MallMsg>, u64, u8);

actor!(Creature, CreatureMsg, CreatureState, ActorRef<MallMsg>, |a| (a, 0, 0), |myself, st, msg| {
    let (epoch, color) = match msg {
        CreatureMsg::Go(epoch, color) => {
            (st.1, st.2) = (epoch, color);
            (epoch, color)
        }
        CreatureMsg::Met(epoch, other) if epoch == st.1 => {
            st.2 = complement(st.2, other);
            (epoch, st.2)
        }
        CreatureMsg::Met(..) => return Ok(()),
    };
    Ok(st.0.cast(MallMsg::Meet(epoch, myself, color))?)
});

pub(super) async fn chameneos(z: Sizes) -> Result<Side, Reason> {
    let mut all = Vec::new();
    let mall = spawn(Mall, (), &mut all).await?;
    let mut creatures = Vec::with_capacity(z.creatures);
    for _ in 0..z.creatures {
        creatures.push(spawn(Creature, mall.clone(), &mut all).await?);
    }
    let creatures = Arc::new(creatures);
    let epochs = Arc::new(AtomicU64::new(0));
    let op = move || {
        let (mall, creatures, epochs) = (mall.clone(), creatures.clone(), epochs.clone());
        async move {
            let epoch = epochs.fetch_add(1, Ordering::Relaxed) + 1;
            let start = Instant::now();
            let (tx, rx) = oneshot::channel();
            mall.cast(MallMsg::Start(epoch, z.meetings, tx))
                .map_err(|e| err("cast", e))?;
            for (i, c) in creatures.iter().enumerate() {
                c.cast(CreatureMsg::Go(epoch, (i % 3) as u8))
                    .map_err(|e| err("cast", e))?;
            }
            done(rx).await?;
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, stop_all(all)))
}

// ---- big ---------------------------------------------------------------------------------

pub(super) enum BigMsg {
    Link(Arc<Vec<ActorRef<BigMsg>>>, usize, RpcReplyPort<()>),
    Start(u64, mpsc::UnboundedSender<()>),
    Ping(usize),
    Pong,
}
struct BigWorker;

#[derive(Default)]
pub(super) struct BigState {
    peers: Arc<Vec<ActorRef<BigMsg>>>,
    me: usize,
    left: u64,
    sink: Option<mpsc::UnboundedSender<()>>,
    rng: fastrand::Rng,
}

impl BigState {
    fn ping_someone(&mut self) -> Result<(), ActorProcessingErr> {
        let n = self.peers.len();
        let to = (self.me + 1 + self.rng.usize(0..n - 1)) % n;
        Ok(self.peers[to].cast(BigMsg::Ping(self.me))?)
    }
}

actor!(BigWorker, BigMsg, BigState, (), |_a| BigState::default(), |myself, st, msg| {
    match msg {
        BigMsg::Link(peers, me, reply) => {
            st.rng = fastrand::Rng::with_seed(me as u64);
            (st.peers, st.me) = (peers, me);
            let _ = reply.send(());
        }
        BigMsg::Start(pings, sink) => {
            (st.left, st.sink) = (pings, Some(sink));
            st.ping_someone()?;
        }
        BigMsg::Ping(from) => st.peers[from].cast(BigMsg::Pong)?,
        BigMsg::Pong => {
            st.left -= 1;
            if st.left == 0 {
                if let Some(sink) = &st.sink {
                    sink.send(())?;
                }
            } else {
                st.ping_someone()?;
            }
        }
    }
    Ok(())
});

pub(super) async fn big(z: Sizes) -> Result<Side, Reason> {
    let mut all = Vec::new();
    let mut workers = Vec::with_capacity(z.big_actors);
    for _ in 0..z.big_actors {
        workers.push(spawn(BigWorker, (), &mut all).await?);
    }
    let workers = Arc::new(workers);
    for (i, w) in workers.iter().enumerate() {
        let peers = workers.clone();
        ask(w, |r| BigMsg::Link(peers, i, r)).await?;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let op = move || {
        let (workers, tx, rx) = (workers.clone(), tx.clone(), rx.clone());
        async move {
            let mut rx = rx.lock().await;
            let start = Instant::now();
            for w in workers.iter() {
                w.cast(BigMsg::Start(z.big_pings, tx.clone()))
                    .map_err(|e| err("cast", e))?;
            }
            await_signals(&mut rx, workers.len() as u64).await?;
            Ok(start.elapsed())
        }
    };
    Ok(Side::new(op, stop_all(all)))
}
