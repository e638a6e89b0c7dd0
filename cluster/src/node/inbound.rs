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
        Msg::Tell { agent, body, hops } => inner.tell_run(agent, vec![(body, hops)]),
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
            inner.replicas.remove_if(&agent, |_, r| {
                r.version <= version && !inner.local.contains_key(&agent)
            });
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{json, Value};
    use troupe_runtime::{Agent, AgentContext, AgentError, Runtime, RuntimeConfig, Snapshot};

    use crate::node::{ClusterConfig, ClusterNode};

    /// Checks that the numbers it is told come in order: 0, 1, 2, ...
    struct Sequence;

    impl Agent for Sequence {
        type Request = u64;
        type Reply = Value;
        type State = (u64, bool);

        async fn init(
            &self,
            _: &AgentContext,
            _: Option<Snapshot>,
        ) -> Result<(u64, bool), AgentError> {
            Ok((0, true))
        }

        async fn handle(
            &self,
            _: &AgentContext,
            (next, in_order): &mut (u64, bool),
            n: u64,
        ) -> Result<Value, AgentError> {
            *in_order &= n == *next;
            *next = n + 1;
            Ok(json!({ "next": *next, "in_order": *in_order }))
        }
    }

    async fn node(name: &str, seed: Option<&ClusterNode>) -> ClusterNode {
        let rt = Runtime::start(RuntimeConfig::named(name)).await.unwrap();
        rt.kinds()
            .register("test.sequence", "checks order", |_| Ok(Sequence));
        let any = "127.0.0.1:0".parse().unwrap();
        let config = ClusterConfig::new(name, any, any, "inbound-test")
            .with_seeds(seed.map(|s| s.gossip_addr()));
        ClusterNode::start(config, rt).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_way_messages_to_another_node_all_arrive_in_order_in_runs_and_interleaved() {
        let a = node("inbound-a", None).await;
        let b = node("inbound-b", Some(&a)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while a.linked().is_empty() || b.linked().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the nodes never linked"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for id in ["s1", "s2"] {
            b.spawn_on(b.name(), "test.sequence", id, Value::Null, false)
                .await
                .unwrap();
        }
        // `a` has not heard of the agents yet (`b` started them), so its first tells are held
        // until it finds them, and later ones queue behind. Long runs to one agent (they share
        // frames), then the two agents interleaved (runs of one), then a call: it is handled
        // after every tell before it, held or not.
        let n = 5_000u64;
        for i in 0..n {
            a.tell("s1", json!(i)).unwrap();
        }
        for i in 0..n {
            a.tell("s1", json!(n + i)).unwrap();
            a.tell("s2", json!(i)).unwrap();
        }
        let s1 = a.call("s1", json!(2 * n)).await.unwrap();
        assert_eq!(s1, json!({ "next": 2 * n + 1, "in_order": true }));
        let s2 = a.call("s2", json!(n)).await.unwrap();
        assert_eq!(s2, json!({ "next": n + 1, "in_order": true }));
        a.shutdown().await;
        b.shutdown().await;
    }
}
