//! Compaction: a run's old journal entries replaced by a [`RunSnapshot`] of the run.
//!
//! The snapshot is the run's state written as the shortest event history that replays to it:
//! the events it covers (after those of an earlier snapshot), in their order, minus those
//! replay does not need. An `attempt_started` of a task whose result is in the snapshot is
//! dropped (the result says everything the start did); every other event is kept (results,
//! failures with their retry times, and events this module does not know, so that it never
//! drops a fact another part of the engine replays). So resuming a compacted run is replaying
//! `snapshot events ++ live events`, exactly what it was before compaction.
//!
//! Snapshot format (versioned like the journal's): MessagePack map
//! `{ "v": 1, "events": [event, ...] }` with events in the journal's own encoding.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::super::journal::{JournalDecodeError, JournalError, JournalEvent};
use crate::ids::RunId;
use crate::store::{RunSnapshot, Store, Timestamp};

/// The snapshot format this build writes and the newest it reads.
const SNAPSHOT_FORMAT: u16 = 1;

#[derive(Serialize)]
struct Written<'a> {
    #[serde(rename = "v")]
    v: u16,
    #[serde(rename = "events")]
    events: &'a [JournalEvent],
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "v")]
    v: u16,
}

#[derive(Deserialize)]
struct Read {
    #[serde(rename = "events")]
    events: Vec<JournalEvent>,
}

/// What a compaction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compaction {
    /// The last journal entry the new snapshot covers.
    pub seq: u64,
    /// Journal entries it replaced.
    pub entries: u64,
    /// Events the snapshot keeps (of those it covers, earlier snapshot included).
    pub kept: u64,
    /// Bytes the run's journal holds less (entries and old snapshot, minus the new one).
    pub freed: u64,
}

/// The events run `run`'s snapshot stands for.
pub fn snapshot_events(
    run: &RunId,
    snapshot: &RunSnapshot,
) -> Result<Vec<JournalEvent>, JournalDecodeError> {
    let fail = |reason: String| JournalDecodeError {
        run: run.clone(),
        seq: snapshot.seq,
        reason: format!("snapshot: {reason}"),
    };
    let head: Head = rmp_serde::from_slice(&snapshot.data)
        .map_err(|e| fail(format!("not a run snapshot: {e}")))?;
    if head.v > SNAPSHOT_FORMAT {
        return Err(fail(format!(
            "written in snapshot format {}, newer than format {SNAPSHOT_FORMAT} that this build \
             reads: use a newer troupe",
            head.v
        )));
    }
    let read: Read =
        rmp_serde::from_slice(&snapshot.data).map_err(|e| fail(format!("does not decode: {e}")))?;
    Ok(read.events)
}

/// The events replay needs, of `events` (in order): drops the starts of tasks whose result
/// follows.
pub fn compact_events(events: Vec<JournalEvent>) -> Vec<JournalEvent> {
    let completed: HashSet<_> = events
        .iter()
        .filter_map(|e| match e {
            JournalEvent::TaskCompleted { task, .. } => Some(task.clone()),
            _ => None,
        })
        .collect();
    events
        .into_iter()
        .filter(
            |e| !matches!(e, JournalEvent::AttemptStarted { task, .. } if completed.contains(task)),
        )
        .collect()
}

/// Compacts run `run`'s journal behind a snapshot of everything journaled so far; `None` when
/// there is nothing new to compact. Entries appended meanwhile stay in the journal.
pub async fn compact_run(
    store: &dyn Store,
    run: &RunId,
) -> Result<Option<Compaction>, JournalError> {
    let read = store.read_journal(run.clone(), 1).await?;
    let Some(last) = read.entries.last().map(|e| e.seq) else {
        return Ok(None);
    };
    let mut events = match &read.snapshot {
        Some(s) => snapshot_events(run, s)?,
        None => Vec::new(),
    };
    let mut covered: u64 = read.snapshot.as_ref().map_or(0, |s| s.data.len() as u64);
    for entry in &read.entries {
        covered += (entry.kind.len() + entry.payload.len()) as u64;
        events.push(JournalEvent::decode(run, entry)?);
    }
    let kept = compact_events(events);
    let data = rmp_serde::to_vec_named(&Written {
        v: SNAPSHOT_FORMAT,
        events: &kept,
    })
    .map_err(|e| super::super::journal::JournalEncodeError {
        kind: "snapshot",
        reason: e.to_string(),
    })?;
    let size = data.len() as u64;
    let snapshot = RunSnapshot {
        seq: last,
        at: Timestamp::now(),
        data,
    };
    store.compact(run.clone(), snapshot).await?;
    Ok(Some(Compaction {
        seq: last,
        entries: read.entries.len() as u64,
        kept: kept.len() as u64,
        freed: covered.saturating_sub(size),
    }))
}
