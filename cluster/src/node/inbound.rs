//! Frames from peers: decode, check, and hand each message to its handler; node-level
//! [`Control`] requests are dispatched here too. A bad frame is logged and dropped with a
//! typed reason; it never takes the node down. This is the top of the shell's handlers: it
//! imports them, none of them imports it.

use std::sync::{Arc, OnceLock, Weak};

use super::state::{Answer, Inner};
use super::{gossip, moves, runs, tasks};
use crate::registry::NodeName;
use crate::transport::FrameSink;
use crate::wire::{Control, ControlReply, Frame, Msg, WireError};

#[derive(Default)]
pub(crate) struct Sink {
    inner: OnceLock<Weak<Inner>>,
}

impl Sink {
    pub(crate) fn attach(&self, inner: Weak<Inner>) {
        let _ = self.inner.set(inner);
    }
}

impl FrameSink for Sink {
    fn on_frame(&self, bytes: Vec<u8>) {
        let Some(inner) = self.inner.get().and_then(Weak::upgrade) else {
            return;
        };
        let frame = match Frame::decode(&bytes) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(target: "troupe::cluster", node = %inner.name, "dropped a frame: {e}");
                return;
            }
        };
        if frame.to != inner.name {
            tracing::warn!(target: "troupe::cluster", node = %inner.name, to = %frame.to,
                "dropped a frame addressed to another node");
            return;
        }
        let Frame { from, msgs, .. } = frame;
        let mut msgs = msgs.into_iter().peekable();
        while let Some(msg) = msgs.next() {
            let Msg::Tell { agent, body, hops } = msg else {
                handle(&inner, &from, msg);
                continue;
            };
            // One-way messages to one agent come in runs: deliver a run together.
            let mut run = vec![(body, hops)];
            while let Some(Msg::Tell { agent: next, .. }) = msgs.peek() {
                if *next != agent {
                    break;
                }
                if let Some(Msg::Tell { body, hops, .. }) = msgs.next() {
                    run.push((body, hops));
                }
            }
            inner.tell_run(agent, run);
        }
    }
}

fn handle(inner: &Arc<Inner>, from: &NodeName, msg: Msg) {
    match msg {
        Msg::Call {
            id,
            agent,
            kind,
            body,
            hops,
            timeout_ms,
        } => {
            let inner = inner.clone();
            let from = from.clone();
            tokio::spawn(async move {
                let timeout = timeout_ms.map(std::time::Duration::from_millis);
                let result = inner.route(agent, kind, body, hops, timeout).await;
                inner.reply(&from, Msg::Reply { id, result }).await;
            });
        }
        Msg::Tell { agent, body, hops } => inner.tell_run(agent, vec![(body, hops)]),
        Msg::Reply { id, result } => inner.complete(id, result.map(Answer::Value)),
        Msg::ControlReply { id, result } => inner.complete(id, result.map(Answer::Control)),
        Msg::Activate { id, spec } => {
            let inner = inner.clone();
            let from = from.clone();
            tokio::spawn(async move {
                let result = inner
                    .activate_local(spec, true)
                    .await
                    .map(|()| serde_json::Value::Null);
                inner.reply(&from, Msg::Reply { id, result }).await;
            });
        }
        Msg::Registry { delta, want_reply } => {
            for agent in gossip::on_delta(inner, from, &delta, want_reply) {
                let inner = inner.clone();
                tokio::spawn(async move { moves::yield_ownership(&inner, agent).await });
            }
        }
        Msg::Replica { record } => moves::store_replica(inner, record),
        Msg::DropReplica { agent, version } => {
            let dropped = inner
                .checkpoints
                .drop_up_to(&agent, version, || inner.locals.contains(&agent));
            if dropped {
                inner.registry_changed();
            }
        }
        Msg::Control { id, op } => {
            let inner = inner.clone();
            let from = from.clone();
            tokio::spawn(async move {
                if let Some(result) = control(&inner, &from, op).await {
                    inner.reply(&from, Msg::ControlReply { id, result }).await;
                }
            });
        }
    }
}

/// Node-level requests from peers. `None`: no reply expected.
async fn control(
    inner: &Arc<Inner>,
    from: &NodeName,
    op: Control,
) -> Option<Result<ControlReply, WireError>> {
    let done = |r: Result<(), WireError>| Some(r.map(|()| ControlReply::Done));
    match op {
        Control::Migrate { agent, to } => done(moves::migrate_local(inner, agent, to).await),
        Control::Locate { agent } => {
            let slot = inner.registry.lock().winner(&agent).cloned();
            Some(Ok(ControlReply::Slot { slot }))
        }
        Control::Steal { max } => Some(Ok(ControlReply::Tasks {
            tasks: tasks::on_steal(inner, from, max),
        })),
        Control::Stop { agent } => done(moves::stop(inner, &agent).await),
        Control::Checkpoint { agent } => Some(
            moves::checkpoint_now(inner, &agent)
                .await
                .map(|version| ControlReply::Checkpointed { version }),
        ),
        Control::Run { request } => Some(runs::serve(inner, request).await),
        Control::WorkAvailable => {
            tasks::on_hint(inner, from);
            None
        }
        Control::TaskDone { key, result } => {
            tasks::on_task_done(inner, from, &key, result);
            None
        }
    }
}
