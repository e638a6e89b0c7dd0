//! One-way messages held for agents that cannot be reached yet ([`Held`]), in arrival order,
//! until their resolver (one per agent) hands them on; calls wait behind them.

use dashmap::DashMap;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;
use troupe_runtime::AgentId;

use super::core::route::put_back;

/// A held one-way message: its body and the forwards it took so far.
pub(crate) type Message = (Value, u8);

/// The one-way messages held per agent.
#[derive(Default)]
pub(crate) struct Held {
    queues: DashMap<AgentId, Vec<Message>>,
    /// Notified when the messages held for an agent were all handed on.
    done: Notify,
}

impl Held {
    /// Whether messages are held for `agent`.
    pub(crate) fn is_held(&self, agent: &AgentId) -> bool {
        self.queues.contains_key(agent)
    }

    /// Appends `message` if messages are held for `agent` already (so it keeps its place);
    /// hands it back otherwise.
    pub(crate) fn append(&self, agent: &AgentId, message: Message) -> Option<Message> {
        match self.queues.get_mut(agent) {
            Some(mut held) => {
                held.push(message);
                None
            }
            None => Some(message),
        }
    }

    /// Holds `message`; returns whether it is the first held for `agent` (then a resolver
    /// must be started).
    pub(crate) fn hold(&self, agent: &AgentId, message: Message) -> bool {
        let mut first = false;
        self.queues
            .entry(agent.clone())
            .or_insert_with(|| {
                first = true;
                Vec::new()
            })
            .push(message);
        first
    }

    /// Takes what is held for `agent` now (`None`: nothing is held any more).
    pub(crate) fn take(&self, agent: &AgentId) -> Option<Vec<Message>> {
        self.queues
            .get_mut(agent)
            .map(|mut h| h.drain(..).collect())
    }

    /// Puts `back` and the `rest` of a batch in front of what arrived meanwhile
    /// ([`put_back`]).
    pub(crate) fn put_back(
        &self,
        agent: &AgentId,
        back: Message,
        rest: impl IntoIterator<Item = Message>,
    ) {
        if let Some(mut held) = self.queues.get_mut(agent) {
            put_back(&mut held, back, rest);
        }
    }

    /// Ends holding for `agent` if nothing arrived meanwhile (and tells waiting calls);
    /// returns whether it ended.
    pub(crate) fn finish(&self, agent: &AgentId) -> bool {
        let ended = self.queues.remove_if(agent, |_, v| v.is_empty()).is_some();
        if ended {
            self.done.notify_waiters();
        }
        ended
    }

    /// Waits (at most until `deadline`) until nothing is held for `agent`: its resolver has
    /// handed everything on, and tells when it is done.
    pub(crate) async fn wait_released(&self, agent: &AgentId, deadline: Instant) {
        if !self.queues.contains_key(agent) {
            return;
        }
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if !self.queues.contains_key(agent) {
                return;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                return;
            }
        }
    }
}
