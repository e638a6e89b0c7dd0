//! The typed events of a run's journal, and their encoding to the store's entries.
//!
//! A run is event-sourced: everything that happens to it is one [`JournalEvent`], appended to
//! its journal in the [`Store`] as a [`NewEntry`] whose `kind` is the
//! event's tag and whose payload is the event in MessagePack. Replaying the events in order
//! rebuilds the run's state.
//!
//! # Wire format (versioned, explicit)
//!
//! A payload is the map `{ "v": FORMAT, "event": { "type": TAG, field: value, ... } }`
//! (rmp-serde with named fields). Tags and field names are written out here, never derived
//! from Rust names, so renaming a type or a variant cannot change what is stored. The rules
//! for changing it:
//!
//! - a new event is a new variant with a new tag; a tag is never reused or renamed;
//! - a new field must have a default (`#[serde(default)]`), so older entries still decode;
//! - anything incompatible bumps [`FORMAT`]; an entry from a newer format is refused with a
//!   [`JournalDecodeError`] saying so, never misread.

use serde::{Deserialize, Serialize};

use super::file::PackedTree;
use crate::ids::{RunId, TaskId};
use crate::store::{AppendAck, JournalEntry, NewEntry, RunSnapshot, Store, StoreError, Timestamp};

/// The payload format this build writes and the newest it reads.
pub const FORMAT: u16 = 1;

/// A failure with its chain of causes, as the journal keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorChain {
    /// The error class (as matched by `retry_on`: `timeout`, `agent_failed`, ...).
    #[serde(rename = "class")]
    pub class: String,
    /// Whether a retry might succeed.
    #[serde(rename = "retryable")]
    pub retryable: bool,
    /// The messages, outermost first.
    #[serde(rename = "messages")]
    pub messages: Vec<String>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FinalStatus {
    /// Every required task completed.
    #[serde(rename = "completed")]
    Completed,
    /// A required task failed for good.
    #[serde(rename = "failed")]
    Failed,
    /// A user cancelled it.
    #[serde(rename = "cancelled")]
    Cancelled,
}

/// One thing that happened to a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum JournalEvent {
    /// The run was accepted: what to run and with what.
    #[serde(rename = "submitted")]
    Submitted {
        /// The workflow's name.
        #[serde(rename = "workflow")]
        workflow: String,
        /// The definition's text.
        #[serde(rename = "definition")]
        definition: String,
        /// The definition's version.
        #[serde(rename = "definition_version")]
        definition_version: String,
        /// The run's input.
        #[serde(rename = "input")]
        input: serde_json::Value,
        /// The run's options.
        #[serde(rename = "options", default)]
        options: serde_json::Value,
        /// The definition's parsed tree (see [`PackedTree`]), so that a resume reads it
        /// without parsing the YAML again; `None` in journals written before it was kept, or
        /// for a definition built in code.
        #[serde(rename = "tree", default, skip_serializing_if = "Option::is_none")]
        tree: Option<PackedTree>,
    },
    /// An attempt of a task (or of one item of a parallel task) started.
    #[serde(rename = "attempt_started")]
    AttemptStarted {
        /// The task.
        #[serde(rename = "task")]
        task: TaskId,
        /// The attempt, from 1.
        #[serde(rename = "attempt")]
        attempt: u32,
        /// The item of a parallel task, if it is one.
        #[serde(rename = "item", default)]
        item: Option<u32>,
        /// The stable key `run/task/attempt/item` the agent sees.
        #[serde(rename = "idempotency_key")]
        idempotency_key: String,
    },
    /// A task completed with its output.
    #[serde(rename = "task_completed")]
    TaskCompleted {
        /// The task.
        #[serde(rename = "task")]
        task: TaskId,
        /// The attempt that succeeded.
        #[serde(rename = "attempt")]
        attempt: u32,
        /// Its output.
        #[serde(rename = "output")]
        output: serde_json::Value,
    },
    /// An attempt of a task failed.
    #[serde(rename = "task_failed")]
    TaskFailed {
        /// The task.
        #[serde(rename = "task")]
        task: TaskId,
        /// The attempt that failed.
        #[serde(rename = "attempt")]
        attempt: u32,
        /// Why.
        #[serde(rename = "error")]
        error: ErrorChain,
        /// When the next attempt is due (`None`: no retry, the task failed for good).
        #[serde(rename = "retry_at", default)]
        retry_at: Option<Timestamp>,
    },
    /// A durable timer was set (a `sleep` task, a retry backoff, a signal's timeout).
    #[serde(rename = "timer_set")]
    TimerSet {
        /// The timer's name (unique in the run).
        #[serde(rename = "timer")]
        timer: String,
        /// When it fires.
        #[serde(rename = "fires_at")]
        fires_at: Timestamp,
    },
    /// A durable timer fired.
    #[serde(rename = "timer_fired")]
    TimerFired {
        /// The timer's name.
        #[serde(rename = "timer")]
        timer: String,
    },
    /// A named signal arrived with its value.
    #[serde(rename = "signal_received")]
    SignalReceived {
        /// The signal's name.
        #[serde(rename = "name")]
        name: String,
        /// Its value.
        #[serde(rename = "value")]
        value: serde_json::Value,
    },
    /// The run was paused: no new attempt starts.
    #[serde(rename = "paused")]
    Paused {
        /// Who paused it.
        #[serde(rename = "by", default)]
        by: Option<String>,
    },
    /// The run was resumed after a pause.
    #[serde(rename = "resumed")]
    Resumed {
        /// Who resumed it.
        #[serde(rename = "by", default)]
        by: Option<String>,
    },
    /// The run was cancelled.
    #[serde(rename = "cancelled")]
    Cancelled {
        /// Who cancelled it.
        #[serde(rename = "by", default)]
        by: Option<String>,
        /// Why, if given.
        #[serde(rename = "reason", default)]
        reason: Option<String>,
    },
    /// A completed task's compensation started (saga rollback).
    #[serde(rename = "compensation_started")]
    CompensationStarted {
        /// The task being compensated.
        #[serde(rename = "task")]
        task: TaskId,
        /// The compensation's attempt, from 1.
        #[serde(rename = "attempt")]
        attempt: u32,
    },
    /// A task's compensation finished.
    #[serde(rename = "compensation_finished")]
    CompensationFinished {
        /// The task compensated.
        #[serde(rename = "task")]
        task: TaskId,
        /// Why it failed, if it did.
        #[serde(rename = "error", default)]
        error: Option<ErrorChain>,
        /// The compensation's attempt that finished (0 in entries written before it was
        /// recorded: the latest one started).
        #[serde(rename = "attempt", default)]
        attempt: u32,
        /// When a failed attempt's retry is due (`None`: succeeded, or failed for good).
        #[serde(rename = "retry_at", default)]
        retry_at: Option<Timestamp>,
    },
    /// The run ended.
    #[serde(rename = "run_finished")]
    RunFinished {
        /// How.
        #[serde(rename = "status")]
        status: FinalStatus,
        /// The cause of a failure.
        #[serde(rename = "error", default)]
        error: Option<ErrorChain>,
    },
}

impl JournalEvent {
    /// The event's tag: the entry's `kind` in the store, and `type` in the payload.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Submitted { .. } => "submitted",
            Self::AttemptStarted { .. } => "attempt_started",
            Self::TaskCompleted { .. } => "task_completed",
            Self::TaskFailed { .. } => "task_failed",
            Self::TimerSet { .. } => "timer_set",
            Self::TimerFired { .. } => "timer_fired",
            Self::SignalReceived { .. } => "signal_received",
            Self::Paused { .. } => "paused",
            Self::Resumed { .. } => "resumed",
            Self::Cancelled { .. } => "cancelled",
            Self::CompensationStarted { .. } => "compensation_started",
            Self::CompensationFinished { .. } => "compensation_finished",
            Self::RunFinished { .. } => "run_finished",
        }
    }

    /// The event as a journal entry at time `at`.
    pub fn encode(&self, at: Timestamp) -> Result<NewEntry, JournalEncodeError> {
        let envelope = Envelope {
            v: FORMAT,
            event: self,
        };
        let payload = rmp_serde::to_vec_named(&envelope).map_err(|e| JournalEncodeError {
            kind: self.kind(),
            reason: e.to_string(),
        })?;
        Ok(NewEntry::new(at, self.kind(), payload))
    }

    /// Decodes the stored entry `entry` of run `run`.
    pub fn decode(run: &RunId, entry: &JournalEntry) -> Result<Self, JournalDecodeError> {
        let fail = |reason: String| JournalDecodeError {
            run: run.clone(),
            seq: entry.seq,
            reason,
        };
        let head: Head = rmp_serde::from_slice(&entry.payload)
            .map_err(|e| fail(format!("not a journal event payload: {e}")))?;
        if head.v > FORMAT {
            return Err(fail(format!(
                "written in journal format {}, newer than format {FORMAT} that this build reads: \
                 use a newer troupe",
                head.v
            )));
        }
        let envelope: Owned = rmp_serde::from_slice(&entry.payload).map_err(|e| {
            fail(format!(
                "event of kind {:?} does not decode: {e}",
                entry.kind
            ))
        })?;
        if envelope.event.kind() != entry.kind {
            return Err(fail(format!(
                "the entry's kind is {:?} but its payload holds a {:?} event",
                entry.kind,
                envelope.event.kind()
            )));
        }
        Ok(envelope.event)
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "v")]
    v: u16,
    #[serde(rename = "event")]
    event: &'a JournalEvent,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "v")]
    v: u16,
}

#[derive(Deserialize)]
struct Owned {
    #[serde(rename = "event")]
    event: JournalEvent,
}

/// An event could not be encoded (a value MessagePack cannot hold).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode a {kind} journal event: {reason}")]
pub struct JournalEncodeError {
    /// The event's tag.
    pub kind: &'static str,
    /// Why.
    pub reason: String,
}

/// A stored journal entry could not be decoded: it names the run and the entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("journal of run {run}, entry {seq}: {reason}")]
pub struct JournalDecodeError {
    /// The run.
    pub run: RunId,
    /// The entry's sequence number.
    pub seq: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// Why a typed journal operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event could not be encoded.
    #[error(transparent)]
    Encode(#[from] JournalEncodeError),
    /// A stored entry could not be decoded.
    #[error(transparent)]
    Decode(#[from] JournalDecodeError),
    /// The run's journal reached its cap (the run fails; see
    /// [`JournalLimits`](super::durable::JournalLimits)).
    #[error(transparent)]
    Cap(#[from] super::durable::JournalCapError),
}

/// A run's journal as typed events: its snapshot (if the read started before it) and the
/// events after it, with their sequence numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct RunHistory {
    /// The snapshot standing in for the entries up to its seq.
    pub snapshot: Option<RunSnapshot>,
    /// The events after it, in order.
    pub events: Vec<(u64, JournalEvent)>,
}

/// Appends `events` (all at time `at`) to run `run`'s journal as one batch, fenced by the
/// lease token `fence` when given; returns once they are durable.
pub async fn append_events(
    store: &dyn Store,
    run: &RunId,
    fence: Option<u64>,
    at: Timestamp,
    events: &[JournalEvent],
) -> Result<AppendAck, JournalError> {
    let entries = encode_events(at, events)?;
    Ok(store.append(run.clone(), fence, entries).await?)
}

/// `events` (all at time `at`) as journal entries.
pub fn encode_events(
    at: Timestamp,
    events: &[JournalEvent],
) -> Result<Vec<NewEntry>, JournalEncodeError> {
    events.iter().map(|e| e.encode(at)).collect()
}

/// Reads run `run`'s journal from seq `from` as typed events.
pub async fn read_events(
    store: &dyn Store,
    run: &RunId,
    from: u64,
) -> Result<RunHistory, JournalError> {
    let read = store.read_journal(run.clone(), from).await?;
    let events = read
        .entries
        .iter()
        .map(|entry| Ok((entry.seq, JournalEvent::decode(run, entry)?)))
        .collect::<Result<Vec<_>, JournalDecodeError>>()?;
    Ok(RunHistory {
        snapshot: read.snapshot,
        events,
    })
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
