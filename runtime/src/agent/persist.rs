//! Agent snapshots in the runtime's [`Store`]: what makes an agent with
//! [`Persistence::AfterEachRequest`] or [`Persistence::Every`] survive its process.
//!
//! - **Loading.** On an agent's first start, when its runtime has a store and the agent
//!   persists, its stored snapshot (if any) is read: its data is what `init` gets (unless the
//!   spawn gave a snapshot itself), its version is where the agent's versions go on from.
//! - **Writing.** Each agent has one persister task (started on first use, ending with the
//!   agent's slot) that writes snapshots in order. Snapshots that queue up while a write is in
//!   flight are coalesced: only the newest is written, and every request waiting on the older
//!   ones is answered by that write. Writes of different agents share the store's group commit,
//!   so a busy agent costs about one commit per batch of requests, not one per request.
//! - **Replies.** With `AfterEachRequest`, a request's reply is sent once the snapshot taken
//!   after it is durable (the request counts only once its effect on the state survives a
//!   crash); if the write fails, the caller gets a transient error naming the agent and the
//!   store. With `Every(period)`, replies go out at once and the state is written at most once
//!   per period (and when the agent stops cleanly): a crash loses at most one period.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use crate::error::AgentError;
use crate::ids::AgentId;
use crate::snapshot::Snapshot;
use crate::store::{AgentSnapshot, Store, StoreError, Timestamp};

/// Called once the snapshot a reply waited for is durable (or could not be written).
pub(crate) type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One snapshot to write, with whoever waits for it.
struct Pending {
    snapshot: Snapshot,
    done: Option<Done>,
}

/// An agent's link to its runtime's store: kept in its slot, shared by its incarnations.
pub(crate) struct SlotStore {
    store: Option<Arc<dyn Store>>,
    /// The version of the agent's latest stored snapshot (each write uses the next one).
    version: Arc<AtomicU64>,
    writer: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl SlotStore {
    /// A link to `store` (none: nothing is written or read).
    pub(crate) fn new(store: Option<Arc<dyn Store>>) -> Self {
        Self {
            store,
            version: Arc::new(AtomicU64::new(0)),
            writer: OnceLock::new(),
        }
    }

    /// Whether there is a store to write to.
    pub(crate) fn is_enabled(&self) -> bool {
        self.store.is_some()
    }

    /// Reads agent `agent`'s stored snapshot (continuing from its version); `None` without a
    /// store or a snapshot.
    pub(crate) async fn load(&self, agent: &AgentId) -> Result<Option<Snapshot>, AgentError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        match store.get_agent_snapshot(agent.clone()).await {
            Ok(Some(stored)) => {
                self.version.fetch_max(stored.version, Ordering::AcqRel);
                Ok(Some(Snapshot::from_bytes(stored.data)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(AgentError::transient(format!(
                "agent {agent}: cannot read its snapshot from store {}: {e}",
                store.location()
            ))),
        }
    }

    /// Queues `snapshot` for writing; `done` (if any) is called once it (or a newer one) is
    /// durable. Without a store, `done` is called at once.
    pub(crate) fn write(&self, agent: &AgentId, snapshot: Snapshot, done: Option<Done>) {
        let Some(store) = &self.store else {
            if let Some(done) = done {
                done(Ok(()));
            }
            return;
        };
        let writer = self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(persister(
                store.clone(),
                agent.clone(),
                self.version.clone(),
                rx,
            ));
            tx
        });
        if let Err(mpsc::error::SendError(pending)) = writer.send(Pending { snapshot, done }) {
            if let Some(done) = pending.done {
                done(Err(StoreError::Closed {
                    location: store.location().to_string(),
                }));
            }
        }
    }

    /// The store's location, for messages.
    pub(crate) fn location(&self) -> &str {
        self.store.as_ref().map_or("none", |s| s.location())
    }
}

/// Writes one agent's snapshots in order, coalescing those that queued up meanwhile.
async fn persister(
    store: Arc<dyn Store>,
    agent: AgentId,
    version: Arc<AtomicU64>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
) {
    while let Some(first) = queue.recv().await {
        let mut newest = first.snapshot;
        let mut waiting: Vec<Done> = first.done.into_iter().collect();
        while let Ok(next) = queue.try_recv() {
            newest = next.snapshot;
            waiting.extend(next.done);
        }
        let next_version = version.load(Ordering::Acquire) + 1;
        let result = store
            .put_agent_snapshot(AgentSnapshot {
                agent: agent.clone(),
                version: next_version,
                at: Timestamp::now(),
                data: newest.as_bytes().to_vec(),
            })
            .await;
        match &result {
            Ok(()) => {
                version.fetch_max(next_version, Ordering::AcqRel);
            }
            Err(e) => {
                tracing::warn!(%agent, store = store.location(), error = %e, "agent snapshot not stored");
            }
        }
        for done in waiting {
            done(result.clone());
        }
    }
}
