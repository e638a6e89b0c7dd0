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
                reply(&inner, &from, Msg::Reply { id, result }).await;
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
                reply(&inner, &from, Msg::Reply { id, result }).await;
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
                    reply(&inner, &from, Msg::Reply { id, result }).await;
                }
            });
        }
    }
}

/// Sends a reply to `to`. A request can arrive on a session whose other side is not yet
/// registered here (the two ends finish their handshake at slightly different times), so wait
/// briefly for the link instead of dropping the reply.
pub(crate) async fn reply(inner: &Arc<Inner>, to: &crate::registry::NodeName, msg: Msg) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut msg = Some(msg);
    while let Some(m) = msg.take() {
        if inner.transport.is_linked(to) || tokio::time::Instant::now() >= deadline {
            if let Err(e) = inner.transport.send(to, m) {
                tracing::debug!(target: "troupe::cluster", %to, "reply dropped: {e}");
            }
            return;
        }
        msg = Some(m);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Shorthand for handlers that answer with an error.
pub(crate) fn unavailable(reason: impl Into<String>) -> WireError {
    WireError::Unavailable {
        reason: reason.into(),
    }
}
