//! Fork-Join throughput and creation, Chameneos and Big on raw ractor actors: the benchmarks
//! with many actors.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::super::{await_signals, complement, Side, Sizes};
use super::{ask, done, spawn, stop_all};
use crate::scenario::{reason, Reason};
use crate::suites::err;

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

pub(crate) async fn fork_join(z: Sizes) -> Result<Side, Reason> {
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

actor!(
    FjCreate,
    Work,
    mpsc::UnboundedSender<()>,
    mpsc::UnboundedSender<()>,
    |a| a,
    |myself, done, msg| {
        black_box((msg.0 as f64).sqrt());
        Ok(done.send(())?)
    }
);

pub(crate) async fn fork_join_create(z: Sizes) -> Result<Side, Reason> {
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

actor!(
    Mall,
    MallMsg,
    MallState,
    (),
    |_a| MallState::default(),
    |myself, st, msg| {
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
    }
);

type CreatureState = (ActorRef<MallMsg>, u64, u8);

actor!(
    Creature,
    CreatureMsg,
    CreatureState,
    ActorRef<MallMsg>,
    |a| (a, 0, 0),
    |myself, st, msg| {
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
    }
);

pub(crate) async fn chameneos(z: Sizes) -> Result<Side, Reason> {
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

actor!(
    BigWorker,
    BigMsg,
    BigState,
    (),
    |_a| BigState::default(),
    |myself, st, msg| {
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
    }
);

pub(crate) async fn big(z: Sizes) -> Result<Side, Reason> {
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
