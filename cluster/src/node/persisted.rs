//! The checkpoints a node keeps in its own store ([`Persister`]), so that a node started
//! again on the same store (after a crash, or the whole cluster at once) still has them.
//!
//! Each checkpoint is one agent snapshot record of the store (the seam every store
//! implements: SQLite, PostgreSQL, memory), under a key of this node's own
//! (`troupe.cluster/NODE/agent/AGENT`), so nodes sharing one database never overwrite each
//! other's. The record holds the wire's [`AgentRecord`] and whether this node ran the agent
//! (its *own* checkpoint) or held it as a backup. A per-node index record
//! (`troupe.cluster/NODE/index`) lists the agents, since the store looks snapshots up by key
//! only. Writes go through one task per node, in the order they were asked for; a caller
//! that needs one on disk waits with [`Persister::flush`].

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use troupe_runtime::store::{AgentSnapshot, Timestamp};
use troupe_runtime::{AgentId, Store, StoreError};

use crate::wire::AgentRecord;

/// A checkpoint read back from the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    /// Whether this node ran the agent when it was written (else it held it as a backup).
    pub(crate) own: bool,
    /// The agent's record (kind, config, snapshot, version).
    pub(crate) record: AgentRecord,
}

/// The store version of a checkpoint: the record's version, an own checkpoint after a
/// backup's of the same version (the store keeps only newer versions).
fn store_version(stored: &Stored) -> u64 {
    stored.record.version.saturating_mul(2) + u64::from(stored.own)
}

enum Write {
    Put(Stored),
    Delete(AgentId),
    Flush(oneshot::Sender<()>),
}

/// Writes this node's checkpoints to its store, in order, from one task.
pub(crate) struct Persister {
    tx: mpsc::UnboundedSender<Write>,
}

impl Persister {
    /// Reads this node's checkpoints from `store` and starts the writer; returns it with
    /// what was read. Records that cannot be decoded are skipped with a warning.
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        node: &str,
    ) -> Result<(Persister, Vec<Stored>), StoreError> {
        let keys = Keys {
            node: node.to_string(),
        };
        let (index, index_version) = match store.get_agent_snapshot(keys.index()).await? {
            Some(s) => match serde_json::from_slice::<BTreeSet<String>>(&s.data) {
                Ok(set) => (set, s.version),
                Err(e) => {
                    tracing::warn!(target: "troupe::cluster", node, "checkpoint index unreadable, starting empty: {e}");
                    (BTreeSet::new(), s.version)
                }
            },
            None => (BTreeSet::new(), 0),
        };
        let mut found = Vec::new();
        for agent in &index {
            let Some(s) = store.get_agent_snapshot(keys.agent(agent)).await? else {
                continue;
            };
            match rmp_serde::from_slice::<Stored>(&s.data) {
                Ok(stored) => found.push(stored),
                Err(e) => tracing::warn!(target: "troupe::cluster", node, agent,
                    "persisted checkpoint unreadable, skipped: {e}"),
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            store,
            keys,
            index,
            index_version,
        };
        tokio::spawn(writer.run(rx));
        Ok((Persister { tx }, found))
    }

    /// Writes `record` (an own checkpoint when `own`); a newer one stored already is kept.
    pub(crate) fn put(&self, own: bool, record: &AgentRecord) {
        let stored = Stored {
            own,
            record: record.clone(),
        };
        let _ = self.tx.send(Write::Put(stored));
    }

    /// Deletes the checkpoint of `agent`.
    pub(crate) fn delete(&self, agent: &AgentId) {
        let _ = self.tx.send(Write::Delete(agent.clone()));
    }

    /// Waits until every write asked for before is done (or failed, with a warning).
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Write::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Keys {
    node: String,
}

impl Keys {
    fn index(&self) -> AgentId {
        AgentId::new(format!("troupe.cluster/{}/index", self.node))
    }

    fn agent(&self, agent: &str) -> AgentId {
        AgentId::new(format!("troupe.cluster/{}/agent/{agent}", self.node))
    }
}

struct Writer {
    store: Arc<dyn Store>,
    keys: Keys,
    /// The agents with a checkpoint in the store, as the index record says.
    index: BTreeSet<String>,
    index_version: u64,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Write>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 256).await > 0 {
            let mut index_changed = false;
            let mut flushed = Vec::new();
            for write in batch.drain(..) {
                match write {
                    Write::Put(stored) => {
                        let agent = stored.record.agent.as_str().to_string();
                        if self.put(stored).await {
                            index_changed |= self.index.insert(agent);
                        }
                    }
                    Write::Delete(agent) => {
                        let key = self.keys.agent(agent.as_str());
                        if let Err(e) = self.store.delete_agent_snapshot(key).await {
                            self.warn(agent.as_str(), "delete", &e);
                        }
                        index_changed |= self.index.remove(agent.as_str());
                    }
                    Write::Flush(done) => flushed.push(done),
                }
            }
            if index_changed {
                self.write_index().await;
            }
            for done in flushed {
                let _ = done.send(());
            }
        }
    }

    /// Writes one checkpoint; returns whether the store holds it (or a newer one) now.
    async fn put(&self, stored: Stored) -> bool {
        let agent = stored.record.agent.clone();
        let key = self.keys.agent(agent.as_str());
        let version = store_version(&stored);
        let data = match rmp_serde::to_vec_named(&stored) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target: "troupe::cluster", %agent, "cannot encode checkpoint: {e}");
                return false;
            }
        };
        let snapshot = |data| AgentSnapshot {
            agent: key.clone(),
            version,
            at: Timestamp::now(),
            data,
        };
        match self.store.put_agent_snapshot(snapshot(data.clone())).await {
            Ok(()) => true,
            Err(StoreError::Conflict { .. }) => {
                // The same version is there already (nothing to do), or a newer one left by
                // an earlier life of the agent (stopped, then started fresh under its id, with
                // the stop's delete lost to a crash): this checkpoint replaces that one.
                match self.store.get_agent_snapshot(key.clone()).await {
                    Ok(Some(s)) if s.version > version => {
                        let replaced = async {
                            self.store.delete_agent_snapshot(key.clone()).await?;
                            self.store.put_agent_snapshot(snapshot(data)).await
                        };
                        match replaced.await {
                            Ok(()) => true,
                            Err(e) => {
                                self.warn(agent.as_str(), "replace", &e);
                                false
                            }
                        }
                    }
                    _ => true,
                }
            }
            Err(e) => {
                self.warn(agent.as_str(), "write", &e);
                false
            }
        }
    }

    async fn write_index(&mut self) {
        let data = match serde_json::to_vec(&self.index) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target: "troupe::cluster", "cannot encode checkpoint index: {e}");
                return;
            }
        };
        self.index_version += 1;
        let snapshot = AgentSnapshot {
            agent: self.keys.index(),
            version: self.index_version,
            at: Timestamp::now(),
            data,
        };
        if let Err(e) = self.store.put_agent_snapshot(snapshot).await {
            self.warn("(index)", "write the index for", &e);
        }
    }

    fn warn(&self, agent: &str, what: &str, e: &StoreError) {
        tracing::warn!(target: "troupe::cluster", node = %self.keys.node, agent,
            "cannot {what} checkpoint in {}: {e}", self.store.location());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe_runtime::store::MemoryStore;

    fn record(agent: &str, version: u64, state: &[u8]) -> AgentRecord {
        AgentRecord {
            agent: AgentId::new(agent),
            kind: "util.counter".into(),
            config: serde_json::Value::Null,
            snapshot: Some(state.to_vec()),
            version,
            movable: true,
        }
    }

    async fn reopen(store: &Arc<dyn Store>, node: &str) -> Vec<Stored> {
        let (_, mut found) = Persister::open(store.clone(), node).await.unwrap();
        found.sort_by(|a, b| a.record.agent.as_str().cmp(b.record.agent.as_str()));
        found
    }

    #[tokio::test]
    async fn checkpoints_written_are_read_back_by_the_same_node_only() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (p, found) = Persister::open(store.clone(), "n1").await.unwrap();
        assert!(found.is_empty());
        p.put(true, &record("a", 1, b"one"));
        p.put(false, &record("b", 3, b"three"));
        p.put(true, &record("a", 2, b"two"));
        p.flush().await;
        let found = reopen(&store, "n1").await;
        assert_eq!(found.len(), 2);
        assert!(found[0].own);
        assert_eq!(found[0].record.snapshot.as_deref(), Some(&b"two"[..]));
        assert!(!found[1].own);
        assert_eq!(found[1].record.version, 3);
        assert!(reopen(&store, "n2").await.is_empty(), "another node's keys");
    }

    #[tokio::test]
    async fn an_own_checkpoint_replaces_a_backups_of_the_same_version_and_deletes_stick() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (p, _) = Persister::open(store.clone(), "n1").await.unwrap();
        p.put(false, &record("a", 4, b"backup"));
        p.put(true, &record("a", 4, b"own"));
        p.put(false, &record("gone", 1, b"x"));
        p.delete(&AgentId::new("gone"));
        p.flush().await;
        let found = reopen(&store, "n1").await;
        assert_eq!(found.len(), 1);
        assert!(found[0].own, "taken over here: now its own");
    }

    #[tokio::test]
    async fn a_fresh_life_under_an_old_id_replaces_the_stale_checkpoint() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let (p, _) = Persister::open(store.clone(), "n1").await.unwrap();
        p.put(true, &record("a", 9, b"old life"));
        p.flush().await;
        drop(p);
        let (p, _) = Persister::open(store.clone(), "n1").await.unwrap();
        p.put(true, &record("a", 1, b"new life"));
        p.flush().await;
        let found = reopen(&store, "n1").await;
        assert_eq!(found[0].record.snapshot.as_deref(), Some(&b"new life"[..]));
    }
}
