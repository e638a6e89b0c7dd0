//! Fork-Join throughput and creation, Chameneos and Big on Troupe agents: the benchmarks with
//! many actors.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Mutex};

use super::super::{await_signals, complement, Side, Sizes};
use super::{done, fail, runtime};
use crate::scenario::{reason, Reason};
use crate::suites::err;
use troupe_runtime::{Agent, AgentContext, AgentError, AgentRef, Snapshot};

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

pub(crate) async fn fork_join(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("fork-join").await?;
    let mut workers = Vec::with_capacity(z.fj_workers);
    for i in 0..z.fj_workers {
        workers.push(
            rt.spawn(format!("fj-{i}").as_str(), FjWorker)
                .await
                .map_err(reason)?,
        );
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

pub(crate) async fn fork_join_create(z: Sizes) -> Result<Side, Reason> {
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
            let ids: Vec<String> = (0..z.fj_create)
                .map(|i| format!("fjc-{}", base + i))
                .collect();
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

agent!(
    Mall,
    MallMsg,
    (),
    MallState,
    MallState::default(),
    |_me, st, msg| {
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
                        who.tell(CreatureMsg::Met(epoch, other_color))
                            .map_err(fail)?;
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

pub(super) enum CreatureMsg {
    Go(u64, AgentRef<Creature>, u8),
    Met(u64, u8),
}

pub(super) struct Creature {
    mall: AgentRef<Mall>,
}
type CreatureState = (u64, Option<AgentRef<Creature>>, u8);

agent!(
    Creature,
    CreatureMsg,
    (),
    CreatureState,
    (0, None, 0),
    |me, st, msg| {
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
        me.mall
            .tell(MallMsg::Meet(epoch, myself, color))
            .map_err(fail)
    }
);

pub(crate) async fn chameneos(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("chameneos").await?;
    let mall = rt.spawn("mall", Mall).await.map_err(reason)?;
    let mut creatures = Vec::with_capacity(z.creatures);
    for i in 0..z.creatures {
        let c = Creature { mall: mall.clone() };
        creatures.push(
            rt.spawn(format!("creature-{i}").as_str(), c)
                .await
                .map_err(reason)?,
        );
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

agent!(
    BigWorker,
    BigMsg,
    (),
    BigState,
    BigState::default(),
    |_me, st, msg| {
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
    }
);

pub(crate) async fn big(z: Sizes) -> Result<Side, Reason> {
    let rt = runtime("big").await?;
    let mut workers = Vec::with_capacity(z.big_actors);
    for i in 0..z.big_actors {
        workers.push(
            rt.spawn(format!("big-{i}").as_str(), BigWorker)
                .await
                .map_err(reason)?,
        );
    }
    let workers = Arc::new(workers);
    for (i, w) in workers.iter().enumerate() {
        w.ask(BigMsg::Link(workers.clone(), i))
            .await
            .map_err(reason)?;
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
