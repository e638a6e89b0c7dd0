//! Frames from peers: decode, check, and hand each message to its handler. A bad frame is
//! logged and dropped with a typed reason; it never takes the node down.

use std::sync::{Arc, OnceLock, Weak};

use super::Inner;
use crate::transport::FrameSink;
use crate::wire::{Frame, Msg, WireError};

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
        for msg in frame.msgs {
            handle(&inner, &frame.from, msg);
        }
    }
}

fn handle(inner: &Arc<Inner>, from: &crate::registry::NodeName, msg: Msg) {
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
                let _ = inner.transport.send(&from, Msg::Reply { id, result });
            });
        }
        Msg::Tell { agent, body, hops } => {
            if let Err(e) = inner.tell(agent.clone(), body, hops) {
                tracing::debug!(target: "troupe::cluster", %agent, "tell dropped: {e}");
            }
        }
        Msg::Reply { id, result } => inner.complete(id, result),
        Msg::Activate { id, spec } => {
            let inner = inner.clone();
            let from = from.clone();
            tokio::spawn(async move {
                let result = inner
                    .activate_local(spec, true)
                    .await
                    .map(|()| serde_json::Value::Null);
                let _ = inner.transport.send(&from, Msg::Reply { id, result });
            });
        }
        Msg::Registry { delta, want_reply } => {
            super::gossip::on_delta(inner, from, &delta, want_reply);
        }
        Msg::Replica { record } => super::moves::store_replica(inner, record),
        Msg::DropReplica { agent, version } => {
            inner
                .replicas
                .remove_if(&agent, |_, r| r.version <= version && !inner.local.contains_key(&agent));
        }
        Msg::Control { id, op } => {
            let inner = inner.clone();
            let from = from.clone();
            tokio::spawn(async move {
                let result = super::moves::control(&inner, &from, op).await;
                if let Some(result) = result {
                    let _ = inner.transport.send(&from, Msg::Reply { id, result });
                }
            });
        }
    }
}

/// Shorthand for handlers that answer with an error.
pub(crate) fn unavailable(reason: impl Into<String>) -> WireError {
    WireError::Unavailable {
        reason: reason.into(),
    }
}
