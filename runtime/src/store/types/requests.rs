//! The run inbox: requests for a run (pause, resume, cancel, a signal) that any process posts
//! and the run's driver takes.

use super::Timestamp;
use crate::ids::RunId;

/// What a request asks of a run.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestKind {
    /// Start no new attempt until resumed (running attempts finish).
    Pause,
    /// Start attempts again after a pause.
    Resume,
    /// End the run as cancelled.
    Cancel,
    /// Deliver the named signal with its value (the output of the tasks awaiting it).
    Signal {
        /// The signal's name.
        name: String,
        /// Its value.
        value: serde_json::Value,
    },
}

impl RequestKind {
    /// The stable tag stored for this kind.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
            Self::Signal { .. } => "signal",
        }
    }
}

/// A request to post with [`Store::post_request`](crate::store::Store::post_request).
#[derive(Clone, Debug, PartialEq)]
pub struct NewRunRequest {
    /// The run it is for.
    pub run: RunId,
    /// What it asks.
    pub kind: RequestKind,
    /// Who asks (e.g. `host/pid`), for the journal.
    pub by: Option<String>,
    /// When it was posted.
    pub at: Timestamp,
}

/// A stored request.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRequest {
    /// Its store-assigned id (increasing across the store: the order requests are applied in).
    pub id: u64,
    /// The request.
    pub request: NewRunRequest,
}
