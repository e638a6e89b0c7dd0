//! The tool loop's journal and the conversation memory.
//!
//! **Journal.** Every completed model turn and tool result of a call that has an idempotency
//! key (a workflow task's attempt: `run/task/attempt[/item]`) is recorded as entry
//! `<step>.model.json` or `<step>.tool.<call id>.json`, and a repeated call with the same key
//! (a resumed run repeats an attempt that was in flight with the same key) replays them and
//! only calls what was not completed: no completed tool call runs twice. Where entries go:
//!
//! - with `journal_dir`, to files `<journal_dir>/<key>/<entry>` (written to a temporary file,
//!   synced, then renamed: a crash leaves an entry whole or absent);
//! - else, when the runtime has a durable store (`troupe run`, `troupe resume` and `troupe
//!   serve` give it the run store), to that store, beside the run's journal: each entry is an
//!   agent-state record with id `troupe.llm-journal/<key>/<entry>` (version 1, written once;
//!   the store commits it before the loop goes on), so the journal lives and moves with the
//!   store (SQLite file or PostgreSQL) and needs no directory. The runtime hands agents no
//!   handle on the run's own journal (its entries are the engine's typed events), so the
//!   store's agent-state table is the durable record used;
//! - else nowhere (nothing recorded, nothing replayed).
//!
//! **Memory.** An agent with `memory:` keeps the user messages and final answers of its requests
//! (not the tool exchanges) in its snapshot, oldest dropped first past `max_messages` or
//! `max_tokens` (estimated).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use troupe_runtime::store::{AgentSnapshot, Store, StoreError, Timestamp};
use troupe_runtime::AgentId;

use super::config::MemoryConfig;
use super::wire::Message;

/// The prefix of the store records of journal entries.
const STORE_PREFIX: &str = "troupe.llm-journal";

/// Where one keyed call's journal lives.
enum Place {
    /// Nothing recorded, nothing replayed.
    Nowhere,
    /// Files in this directory.
    Dir(PathBuf),
    /// Records of this store, ids `<prefix>/<entry>`.
    Store(Arc<dyn Store>, String),
}

/// The journal of one keyed call (absent: nothing recorded, nothing replayed).
pub(crate) struct Journal {
    place: Place,
}

impl Journal {
    /// The journal of the call `key`: in `root` if set, else in `store` if any.
    pub(crate) fn open(
        root: Option<&Path>,
        store: Option<Arc<dyn Store>>,
        key: Option<&str>,
    ) -> Self {
        let place = match (root, store, key) {
            (_, _, None) => Place::Nowhere,
            (Some(root), _, Some(key)) => Place::Dir(root.join(escape(key))),
            (None, Some(store), Some(key)) => Place::Store(store, format!("{STORE_PREFIX}/{key}")),
            (None, None, Some(_)) => Place::Nowhere,
        };
        Self { place }
    }

    /// The recorded entry `name`, if any. An entry that does not decode is an error (a damaged
    /// journal is not silently ignored).
    pub(crate) async fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        let (bytes, at) = match &self.place {
            Place::Nowhere => return Ok(None),
            Place::Dir(dir) => {
                let path = dir.join(name);
                match std::fs::read(&path) {
                    Ok(bytes) => (bytes, path.display().to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(format!("journal entry {}: {e}", path.display())),
                }
            }
            Place::Store(store, prefix) => {
                let id = AgentId::new(format!("{prefix}/{name}"));
                let at = format!("{id} in store {}", store.location());
                match store.get_agent_snapshot(id).await {
                    Ok(Some(s)) => (s.data, at),
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(format!("journal entry {at}: {e}")),
                }
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("journal entry {at}: {e}"))
    }

    /// Records entry `name`, durably.
    pub(crate) async fn put<T: Serialize>(&self, name: &str, value: &T) -> Result<(), String> {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        match &self.place {
            Place::Nowhere => Ok(()),
            Place::Dir(dir) => put_file(dir, name, &bytes),
            Place::Store(store, prefix) => {
                let id = AgentId::new(format!("{prefix}/{name}"));
                let at = format!("{id} in store {}", store.location());
                let record = AgentSnapshot {
                    agent: id,
                    version: 1,
                    at: Timestamp::now(),
                    data: bytes,
                };
                match store.put_agent_snapshot(record).await {
                    // Recorded before (by an attempt that crashed right after): the entry is
                    // the same completed step, kept as first written.
                    Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
                    Err(e) => Err(format!("journal entry {at}: {e}")),
                }
            }
        }
    }
}

fn put_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    let fail = |e: std::io::Error| format!("journal entry {}: {e}", path.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(fail)?;
    Ok(())
}

/// A key as one safe file name: letters, digits, `-` and `.` kept, others as `_XX`.
fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// An agent's conversation, kept in its snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// User messages and final answers, oldest first.
    pub messages: Vec<Message>,
}

impl Conversation {
    /// Appends one exchange and drops the oldest exchanges past the limits (always keeping the
    /// newest one).
    pub(crate) fn remember(&mut self, user: Message, answer: Message, limits: &MemoryConfig) {
        self.messages.push(user);
        self.messages.push(answer);
        let tokens = |m: &[Message]| m.iter().map(Message::estimated_tokens).sum::<u64>();
        while self.messages.len() > 2
            && (self.messages.len() > limits.max_messages
                || tokens(&self.messages) > limits.max_tokens)
        {
            let n = if self.messages.len() >= 2 { 2 } else { 1 };
            self.messages.drain(..n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_drops_the_oldest_exchanges_past_the_limits() {
        let limits = MemoryConfig {
            max_messages: 4,
            max_tokens: 1000,
        };
        let mut c = Conversation::default();
        for i in 0..3 {
            c.remember(
                Message::new("user", format!("q{i}")),
                Message::new("assistant", format!("a{i}")),
                &limits,
            );
        }
        let texts: Vec<_> = c
            .messages
            .iter()
            .map(|m| m.content.clone().unwrap())
            .collect();
        assert_eq!(texts, ["q1", "a1", "q2", "a2"]);
        let tight = MemoryConfig {
            max_messages: 100,
            max_tokens: 10,
        };
        c.remember(
            Message::new("user", "x".repeat(100)),
            Message::new("assistant", "y"),
            &tight,
        );
        assert_eq!(
            c.messages.len(),
            2,
            "the newest exchange stays even past max_tokens"
        );
    }

    #[tokio::test]
    async fn journal_entries_survive_and_keys_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(Some(dir.path()), None, Some("run-1/task/1"));
        assert_eq!(j.get::<u32>("0.model.json").await.unwrap(), None);
        j.put("0.model.json", &7u32).await.unwrap();
        let again = Journal::open(Some(dir.path()), None, Some("run-1/task/1"));
        assert_eq!(again.get::<u32>("0.model.json").await.unwrap(), Some(7));
        assert!(dir.path().join("run-1_2ftask_2f1").is_dir());
    }

    #[tokio::test]
    async fn journal_entries_in_a_store_survive_and_a_second_write_keeps_the_first() {
        let store: Arc<dyn Store> = Arc::new(troupe_runtime::store::MemoryStore::new());
        let j = Journal::open(None, Some(store.clone()), Some("run-1/ask/1"));
        assert_eq!(j.get::<u32>("0.model.json").await.unwrap(), None);
        j.put("0.model.json", &7u32).await.unwrap();
        j.put("0.model.json", &8u32).await.unwrap();
        let again = Journal::open(None, Some(store.clone()), Some("run-1/ask/1"));
        assert_eq!(again.get::<u32>("0.model.json").await.unwrap(), Some(7));
        let other = Journal::open(None, Some(store.clone()), Some("run-1/ask/2"));
        assert_eq!(other.get::<u32>("0.model.json").await.unwrap(), None);
        let raw = store
            .get_agent_snapshot(AgentId::new("troupe.llm-journal/run-1/ask/1/0.model.json"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(raw.data, b"7");
        let none = Journal::open(None, Some(store), None);
        none.put("0.model.json", &1u32).await.unwrap();
        assert_eq!(none.get::<u32>("0.model.json").await.unwrap(), None);
    }
}
