//! The tool loop's journal and the conversation memory.
//!
//! **Journal.** The runtime gives agents no store handle ([`AgentContext`] carries the id, the
//! runtime and the call's idempotency key, not the run's [`Store`](troupe_runtime::Store)), so
//! `llm.chat` keeps its own: with `journal_dir` set, every completed model turn and tool result
//! of a call that has an idempotency key is written to
//! `<journal_dir>/<key>/<step>.model.json` and `<step>.tool.<call id>.json` (written to a
//! temporary file, synced, then renamed: a crash leaves the entry whole or absent). A repeated
//! call with the same key (a resumed run repeats an attempt that was in flight with the same key)
//! replays the recorded turns and results and only calls what was not completed: no completed
//! tool call runs twice.
//!
//! **Memory.** An agent with `memory:` keeps the user messages and final answers of its requests
//! (not the tool exchanges) in its snapshot, oldest dropped first past `max_messages` or
//! `max_tokens` (estimated).
//!
//! [`AgentContext`]: troupe_runtime::AgentContext

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::config::MemoryConfig;
use super::wire::Message;

/// The journal of one keyed call (absent: nothing recorded, nothing replayed).
pub(crate) struct Journal {
    dir: Option<PathBuf>,
}

impl Journal {
    pub(crate) fn open(root: Option<&Path>, key: Option<&str>) -> Self {
        let dir = match (root, key) {
            (Some(root), Some(key)) => Some(root.join(escape(key))),
            _ => None,
        };
        Self { dir }
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(name))
    }

    /// The recorded entry `name`, if any. An entry that does not decode is an error (a damaged
    /// journal is not silently ignored).
    pub(crate) fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        let Some(path) = self.path(name) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("journal entry {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("journal entry {}: {e}", path.display())),
        }
    }

    /// Records entry `name`, durably.
    pub(crate) fn put<T: Serialize>(&self, name: &str, value: &T) -> Result<(), String> {
        let (Some(dir), Some(path)) = (&self.dir, self.path(name)) else {
            return Ok(());
        };
        let fail = |e: std::io::Error| format!("journal entry {}: {e}", path.display());
        std::fs::create_dir_all(dir).map_err(fail)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        let mut f = std::fs::File::create(&tmp).map_err(fail)?;
        f.write_all(&bytes).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        std::fs::rename(&tmp, &path).map_err(fail)?;
        Ok(())
    }
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

    #[test]
    fn journal_entries_survive_and_keys_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(Some(dir.path()), Some("run-1/task/1"));
        assert_eq!(j.get::<u32>("0.model.json").unwrap(), None);
        j.put("0.model.json", &7u32).unwrap();
        let again = Journal::open(Some(dir.path()), Some("run-1/task/1"));
        assert_eq!(again.get::<u32>("0.model.json").unwrap(), Some(7));
        assert!(dir.path().join("run-1_2ftask_2f1").is_dir());
    }
}
