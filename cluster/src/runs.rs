//! Runs that belong to the cluster, not to the client: the control protocol a client (or any
//! node) uses to submit a workflow run to a node and to ask a node about a run, and the
//! [`RunService`] a node serves them with.
//!
//! The cluster crate only carries these requests: what a run *is* (a durable run in the
//! node's store, driven by its runtime) is the service's business, installed with
//! [`crate::node::ClusterNode::serve_runs`] (the `troupe node` binary installs one over its
//! store). A node without a service refuses run requests with [`WireError::NoRunService`].
//!
//! [`WireError::NoRunService`]: crate::wire::WireError::NoRunService

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request about runs, carried by [`crate::wire::Control::Run`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "run_op")]
pub enum RunRequest {
    /// Start a durable run of this workflow definition on the receiver, which then owns it
    /// (journals it in its store and drives it to its end, whatever the sender does).
    #[serde(rename = "submit")]
    Submit {
        /// The workflow file's text.
        definition: String,
        /// Where it came from (a path), for messages.
        source: String,
    },
    /// What the receiver knows of run `run`: `None` if its store has no such run. With
    /// `wait`, a receiver that drives the run answers once it has ended.
    #[serde(rename = "status")]
    Status {
        /// The run's id.
        run: String,
        /// Answer once the run has ended (if the receiver drives it).
        wait: bool,
    },
    /// Merge this delta of a run's replicated state ([`crate::replica::RunReplica`]) and keep
    /// it in the receiver's store, as a backup of the run; answered with
    /// [`crate::wire::ControlReply::Replicated`] once it is durable there, or refused with
    /// [`crate::wire::WireError::Fenced`] when a higher epoch owns the run.
    #[serde(rename = "replicate")]
    Replicate {
        /// The epoch the sender writes under.
        epoch: crate::replica::Epoch,
        /// The delta.
        delta: Box<crate::replica::RunReplica>,
    },
}

/// What a node knows of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run's id.
    #[serde(rename = "run")]
    pub run: String,
    /// Its status as the store has it (`running`, `interrupted`, `completed`, ...).
    #[serde(rename = "status")]
    pub status: String,
    /// Whether the answering node drives the run now.
    #[serde(rename = "driving")]
    pub driving: bool,
    /// The node that answered.
    #[serde(rename = "node")]
    pub node: String,
    /// The run's report (JSON, as `troupe run --report` writes it), once it has ended on the
    /// answering node in this process's lifetime.
    #[serde(rename = "report", default)]
    pub report: Option<Value>,
}

impl RunInfo {
    /// Whether the run has ended (completed, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }
}

/// A boxed future, as a [`RunService`] returns them.
pub type RunFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a node serves [`RunRequest`]s: installed with
/// [`crate::node::ClusterNode::serve_runs`]. Errors are texts naming what went wrong (a
/// definition that is not valid, a store that failed); they reach the asker as
/// [`crate::wire::WireError::RunRefused`].
pub trait RunService: Send + Sync + 'static {
    /// Starts a durable run of `definition` here; answers once it is journaled.
    fn submit(&self, definition: String, source: String) -> RunFuture<Result<RunInfo, String>>;
    /// What this node's store says of `run` (`None`: unknown here); with `wait`, if this node
    /// drives it, once it has ended.
    fn status(&self, run: String, wait: bool) -> RunFuture<Result<Option<RunInfo>, String>>;
    /// Merges a replica delta of a run written under `epoch` and persists it (see
    /// [`RunRequest::Replicate`]); answers the last journal position held without a gap.
    /// The default refuses: a service that keeps no replicas.
    fn replicate(
        &self,
        epoch: crate::replica::Epoch,
        delta: crate::replica::RunReplica,
    ) -> RunFuture<Result<u64, Replication>> {
        let _ = (epoch, delta);
        Box::pin(async { Err(Replication::Failed("this node keeps no replicas".into())) })
    }
}

/// Why a [`RunService::replicate`] did not take a delta.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replication {
    /// A higher epoch owns the run (the fencing rule of [`crate::replica`]).
    Fenced(crate::replica::Epoch),
    /// The delta could not be kept (the store failed): the reason.
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Control, ControlReply, Msg, WireError};

    #[test]
    fn run_requests_and_replies_round_trip_tagged_by_name() {
        let msgs = [
            Msg::Control {
                id: 1,
                op: Control::Run {
                    request: RunRequest::Submit {
                        definition: "workflow: {}".into(),
                        source: "w.yaml".into(),
                    },
                },
            },
            Msg::Control {
                id: 2,
                op: Control::Run {
                    request: RunRequest::Status {
                        run: "w-1".into(),
                        wait: true,
                    },
                },
            },
            Msg::ControlReply {
                id: 2,
                result: Ok(ControlReply::Run {
                    info: RunInfo {
                        run: "w-1".into(),
                        status: "completed".into(),
                        driving: false,
                        node: "n1".into(),
                        report: Some(serde_json::json!({"outcome": "succeeded"})),
                    },
                }),
            },
            Msg::ControlReply {
                id: 3,
                result: Ok(ControlReply::NoRun),
            },
            Msg::ControlReply {
                id: 4,
                result: Err(WireError::RunRefused {
                    node: "n1".into(),
                    reason: "not valid".into(),
                }),
            },
        ];
        let tags = ["submit", "status", "run", "no_run", "run_refused"];
        for (msg, tag) in msgs.iter().zip(tags) {
            let bytes = rmp_serde::to_vec_named(msg).unwrap();
            assert!(String::from_utf8_lossy(&bytes).contains(tag), "{tag}");
            let back: Msg = rmp_serde::from_slice(&bytes).unwrap();
            assert_eq!(&back, msg);
        }
    }

    #[test]
    fn a_run_is_finished_once_completed_failed_or_cancelled() {
        let info = |status: &str| RunInfo {
            run: "r".into(),
            status: status.into(),
            driving: true,
            node: "n".into(),
            report: None,
        };
        for s in ["completed", "failed", "cancelled"] {
            assert!(info(s).is_finished(), "{s}");
        }
        for s in ["running", "interrupted", "paused", "pending"] {
            assert!(!info(s).is_finished(), "{s}");
        }
    }
}
