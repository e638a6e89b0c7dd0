//! `ask`: the agent's basic costs beside the layers below it.
//!
//! | scenario | subject | baselines (first: the ratio's) |
//! |---|---|---|
//! | ask round trip | `AgentRef::ask` | ractor `call`; tokio mpsc + oneshot |
//! | one-way tell | 1000 × `AgentRef::tell` + one `ask` (so all were handled) | ractor `cast`; tokio mpsc |
//! | spawn | `Runtime::spawn` of a supervised agent (stopped after the round, untimed) | ractor `spawn_linked` under a supervisor; ractor `spawn`; `tokio::spawn` |
//! | ask at 10x offered load | 1,280 asks to an agent with a 32-request mailbox from 320 callers | the same from 32 callers (1x) |
//!
//! Every server does the same work: reply with the request + 1, count one-way messages.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::{mpsc, oneshot};

use super::{err, Context};
use crate::scenario::{reason, time_each, Plan, Prepared, Reason, Scenario, Unit, Variant};
use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

mod overload;

/// Messages per one-way operation.
const ONE_WAY: u64 = 1_000;

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let size = ctx.size;
    vec![
        Scenario::new(
            "ask",
            "ask round trip",
            Unit::per_op("ask"),
            Plan::batch(size.pick(2_000, 5_000)),
            ask_round_trip,
        )
        .describe("one request and its reply, from a task on a worker"),
        Scenario::new(
            "ask",
            "one-way tell",
            Unit::batch(ONE_WAY, "msg"),
            Plan::batch(50).warmup(5),
            one_way,
        )
        .describe("1000 one-way messages, then one round trip so all were handled"),
        Scenario::new(
            "ask",
            "spawn",
            Unit::per_op("agent"),
            Plan::batch(size.pick(300, 1_000)),
            spawn,
        )
        .describe("spawn one (supervised) actor and wait until it runs; stopped after the round"),
        Scenario::new(
            "ask",
            "ask at 10x offered load",
            Unit::batch(overload::WORK, "ask"),
            Plan::batch(size.pick(20, 50)).warmup(3),
            overload::prepare,
        )
        .describe(
            "1280 asks to an agent whose mailbox holds 32, from 320 callers (10x) vs 32 (1x)",
        ),
    ]
}

/// A Troupe agent answering n + 1.
pub(crate) struct Plus1;

impl Agent for Plus1 {
    type Request = u64;
    type Reply = u64;
    type State = u64;

    async fn init(&self, _: &AgentContext, _: Option<Snapshot>) -> Result<u64, AgentError> {
        Ok(0)
    }

    async fn handle(&self, _: &AgentContext, seen: &mut u64, n: u64) -> Result<u64, AgentError> {
        *seen += 1;
        Ok(n + 1)
    }
}

/// A raw ractor actor doing the same.
pub(crate) struct RawPlus1;

/// Its messages.
pub(crate) enum RawMsg {
    Ask(u64, RpcReplyPort<u64>),
    Tell(u64),
}

impl ractor::Message for RawMsg {}

impl Actor for RawPlus1 {
    type Msg = RawMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<RawMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<RawMsg>,
        msg: RawMsg,
        seen: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        *seen += 1;
        match msg {
            RawMsg::Ask(n, reply) => {
                let _ = reply.send(n + 1);
            }
            RawMsg::Tell(n) => {
                black_box(n);
            }
        }
        Ok(())
    }
}

enum TokioMsg {
    Ask(u64, oneshot::Sender<u64>),
    Tell(u64),
}

/// A tokio task doing the same; it ends when every sender is gone.
fn spawn_tokio_server() -> mpsc::UnboundedSender<TokioMsg> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut seen = 0u64;
        while let Some(msg) = rx.recv().await {
            seen += 1;
            match msg {
                TokioMsg::Ask(n, reply) => {
                    let _ = reply.send(n + 1);
                }
                TokioMsg::Tell(n) => {
                    black_box(n);
                }
            }
        }
        black_box(seen);
    });
    tx
}

async fn tokio_ask(tx: &mpsc::UnboundedSender<TokioMsg>, n: u64) -> Result<u64, Reason> {
    let (reply, rx) = oneshot::channel();
    tx.send(TokioMsg::Ask(n, reply))
        .map_err(|_| "the tokio server is gone".to_string())?;
    rx.await
        .map_err(|_| "the tokio server dropped the reply".into())
}

pub(crate) async fn ractor_ask(actor: &ActorRef<RawMsg>, n: u64) -> Result<u64, Reason> {
    match actor.call(|r| RawMsg::Ask(n, r), None).await {
        Ok(CallResult::Success(v)) => Ok(v),
        Ok(_) => Err("ractor call: no reply".into()),
        Err(e) => Err(err("ractor call", e)),
    }
}

struct Servers {
    rt: Runtime,
    agent: troupe_runtime::AgentRef<Plus1>,
    raw: ActorRef<RawMsg>,
    tx: mpsc::UnboundedSender<TokioMsg>,
}

async fn servers(name: &str) -> Result<Servers, Reason> {
    let rt = Runtime::start(RuntimeConfig::named(name))
        .await
        .map_err(reason)?;
    let agent = rt.spawn("plus1", Plus1).await.map_err(reason)?;
    let (raw, _) = Actor::spawn(None, RawPlus1, ()).await.map_err(reason)?;
    Ok(Servers {
        rt,
        agent,
        raw,
        tx: spawn_tokio_server(),
    })
}

async fn ask_round_trip() -> Result<Prepared, Reason> {
    let Servers { rt, agent, raw, tx } = servers("bench-ask").await?;
    let raw2 = raw.clone();
    Ok(Prepared::new(vec![
        Variant::subject("troupe ask", move |ops| {
            let a = agent.clone();
            async move {
                Ok(time_each!(ops, |i| {
                    black_box(a.ask(i).await.map_err(|e| err("ask", e))?)
                }))
            }
        }),
        Variant::baseline("ractor call", move |ops| {
            let a = raw2.clone();
            async move { Ok(time_each!(ops, |i| black_box(ractor_ask(&a, i).await?))) }
        }),
        Variant::baseline("tokio mpsc+oneshot", move |ops| {
            let tx = tx.clone();
            async move { Ok(time_each!(ops, |i| black_box(tokio_ask(&tx, i).await?))) }
        }),
    ])
    .teardown(async move {
        raw.stop(None);
        rt.shutdown().await;
    }))
}

async fn one_way() -> Result<Prepared, Reason> {
    let Servers { rt, agent, raw, tx } = servers("bench-tell").await?;
    let raw2 = raw.clone();
    Ok(Prepared::new(vec![
        Variant::subject("troupe tell", move |ops| {
            let a = agent.clone();
            async move {
                Ok(time_each!(ops, |_i| {
                    for n in 0..ONE_WAY {
                        a.tell(n).map_err(|e| err("tell", e))?;
                    }
                    black_box(a.ask(0).await.map_err(|e| err("ask", e))?)
                }))
            }
        }),
        Variant::baseline("ractor cast", move |ops| {
            let a = raw2.clone();
            async move {
                Ok(time_each!(ops, |_i| {
                    for n in 0..ONE_WAY {
                        a.cast(RawMsg::Tell(n)).map_err(|e| err("cast", e))?;
                    }
                    black_box(ractor_ask(&a, 0).await?)
                }))
            }
        }),
        Variant::baseline("tokio mpsc", move |ops| {
            let tx = tx.clone();
            async move {
                Ok(time_each!(ops, |_i| {
                    for n in 0..ONE_WAY {
                        tx.send(TokioMsg::Tell(n))
                            .map_err(|_| "the tokio server is gone".to_string())?;
                    }
                    black_box(tokio_ask(&tx, 0).await?)
                }))
            }
        }),
    ])
    .teardown(async move {
        raw.stop(None);
        rt.shutdown().await;
    }))
}

/// A raw supervisor that ignores its children's exits (ractor's default would stop it).
struct RawSupervisor;

impl Actor for RawSupervisor {
    type Msg = RawMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<RawMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<RawMsg>,
        event: SupervisionEvent,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        black_box(event);
        Ok(())
    }
}

/// An actor that does nothing: what the raw spawns create.
struct Idle;

impl Actor for Idle {
    type Msg = RawMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<RawMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

static SPAWNED: AtomicU64 = AtomicU64::new(0);

async fn spawn() -> Result<Prepared, Reason> {
    let rt = Runtime::start(RuntimeConfig::named("bench-spawn"))
        .await
        .map_err(reason)?;
    let (sup, _) = Actor::spawn(None, RawSupervisor, ())
        .await
        .map_err(reason)?;
    let troupe = rt.clone();
    let sup_cell = sup.get_cell();
    Ok(Prepared::new(vec![
        Variant::subject("troupe spawn", move |ops| {
            let rt = troupe.clone();
            async move {
                let base = SPAWNED.fetch_add(ops, Ordering::Relaxed);
                let ids: Vec<String> = (0..ops).map(|i| format!("spawn-{}", base + i)).collect();
                let samples = time_each!(ops, |i| {
                    let id = ids[i as usize].as_str();
                    black_box(rt.spawn(id, Plus1).await.map_err(|e| err("spawn", e))?)
                });
                for id in &ids {
                    if !rt.stop_agent(id).await {
                        return Err(format!("agent {id} was not running"));
                    }
                }
                Ok(samples)
            }
        }),
        Variant::baseline("ractor spawn_linked", move |ops| {
            let sup = sup_cell.clone();
            async move {
                let mut actors = Vec::with_capacity(ops as usize);
                let samples = time_each!(ops, |_i| {
                    let (a, _) = Actor::spawn_linked(None, Idle, (), sup.clone())
                        .await
                        .map_err(|e| err("spawn_linked", e))?;
                    actors.push(a)
                });
                stop_all(actors).await?;
                Ok(samples)
            }
        }),
        Variant::baseline("ractor spawn", |ops| async move {
            let mut actors = Vec::with_capacity(ops as usize);
            let samples = time_each!(ops, |_i| {
                let (a, _) = Actor::spawn(None, Idle, ())
                    .await
                    .map_err(|e| err("spawn", e))?;
                actors.push(a)
            });
            stop_all(actors).await?;
            Ok(samples)
        }),
        Variant::baseline("tokio task", |ops| async move {
            let mut tasks = Vec::with_capacity(ops as usize);
            let samples = time_each!(ops, |_i| {
                let (stop, rx) = oneshot::channel::<()>();
                tasks.push((stop, tokio::spawn(async move { black_box(rx.await) })))
            });
            for (stop, task) in tasks {
                let _ = stop.send(());
                let _ = task.await.map_err(reason)?;
            }
            Ok(samples)
        }),
    ])
    .teardown(async move {
        sup.stop(None);
        rt.shutdown().await;
    }))
}

async fn stop_all(actors: Vec<ActorRef<RawMsg>>) -> Result<(), Reason> {
    for a in actors {
        a.stop_and_wait(None, None).await.map_err(reason)?;
    }
    Ok(())
}
