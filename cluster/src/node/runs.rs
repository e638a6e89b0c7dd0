//! Runs that belong to the cluster (the shell's side of [`crate::runs`]): serving a peer's
//! run requests with the installed [`RunService`], and sending run requests to the nodes
//! [`core::runs::run_order`](super::core::runs::run_order) names.

use std::sync::Arc;
use std::time::Duration;

use super::core::runs::{run_order, takeover_after};
use super::state::Inner;
use super::{ClusterError, ClusterNode};
use crate::registry::NodeName;
use crate::replica::{Epoch, RunReplica};
use crate::runs::{Replication, RunInfo, RunRequest, RunService};
use crate::wire::{Control, ControlReply, WireError};

/// Answers a peer's run request with this node's service.
pub(crate) async fn serve(
    inner: &Arc<Inner>,
    request: RunRequest,
) -> Result<ControlReply, WireError> {
    let Some(service) = inner.run_service.get().cloned() else {
        return Err(WireError::NoRunService {
            node: inner.name.clone(),
        });
    };
    let refused = |reason: String| WireError::RunRefused {
        node: inner.name.clone(),
        reason,
    };
    match request {
        RunRequest::Submit { definition, source } => service
            .submit(definition, source)
            .await
            .map(|info| ControlReply::Run { info })
            .map_err(refused),
        RunRequest::Status { run, wait } => match service.status(run, wait).await {
            Ok(Some(info)) => Ok(ControlReply::Run { info }),
            Ok(None) => Ok(ControlReply::NoRun),
            Err(e) => Err(refused(e)),
        },
        RunRequest::Replicate { epoch, delta } => {
            let run = delta.run.clone();
            match service.replicate(epoch, *delta).await {
                Ok(have) => Ok(ControlReply::Replicated { have }),
                Err(Replication::Fenced(owner)) => Err(WireError::Fenced {
                    node: inner.name.clone(),
                    run,
                    owner,
                }),
                Err(Replication::Failed(e)) => Err(refused(e)),
            }
        }
    }
}

impl ClusterNode {
    /// Serves run requests ([`RunRequest`]) from peers with `service` (once; a second call is
    /// ignored and returns `false`).
    pub fn serve_runs(&self, service: Arc<dyn RunService>) -> bool {
        self.inner.run_service.set(service).is_ok()
    }

    /// The live nodes that may own a run keyed `key` (a run id, or a submission's key), best
    /// first: nodes hosting agents, this node excluded.
    pub fn run_nodes(&self, key: &str) -> Vec<NodeName> {
        run_order(key, &self.inner.name, &self.inner.candidates(None))
    }

    /// When this node takes over run `run` after its owner was declared down: at once for the
    /// first live node of the run's order, a turn later for each place after it (`None`: this
    /// node hosts no runs). The store's lease decides between nodes that try together.
    pub fn run_takeover_after(&self, run: &str) -> Option<Duration> {
        takeover_after(run, &self.inner.name, &self.inner.candidates(None))
    }

    /// The backups of run `run` owned here: the first `backups` live nodes hosting runs in
    /// the run's order, this node excluded.
    pub fn run_backups(&self, run: &str) -> Vec<NodeName> {
        let mut order = self.run_nodes(run);
        order.truncate(self.inner.config.backups);
        order
    }

    /// Sends a replica delta of a run, written under `epoch`, to backup `node` and waits (at
    /// most `timeout`) until it is durable there: the last journal position the backup holds
    /// without a gap. A backup that knows a higher epoch answers [`WireError::Fenced`].
    pub async fn replicate_run(
        &self,
        node: &NodeName,
        epoch: Epoch,
        delta: RunReplica,
        timeout: Duration,
    ) -> Result<u64, ClusterError> {
        let failed = |cause: WireError| ClusterError::Run {
            node: node.clone(),
            cause,
        };
        let request = RunRequest::Replicate {
            epoch,
            delta: Box::new(delta),
        };
        let reply = self
            .inner
            .request_control(node, Control::Run { request }, Some(timeout))
            .await
            .map_err(failed)?;
        match reply {
            ControlReply::Replicated { have } => Ok(have),
            other => Err(failed(WireError::UnexpectedReply {
                node: node.clone(),
                request: "a replica delta".into(),
                got: format!("a control reply ({})", other.name()),
            })),
        }
    }

    /// Waits until a member of `known` is no longer live, and returns those that went (then
    /// `known` is the live members). Call it with the live members first.
    pub async fn members_lost(
        &self,
        known: &mut std::collections::BTreeSet<NodeName>,
    ) -> Vec<NodeName> {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let live: std::collections::BTreeSet<NodeName> =
                self.members().into_iter().map(|m| m.name).collect();
            let lost: Vec<NodeName> = known.difference(&live).cloned().collect();
            *known = live;
            if !lost.is_empty() {
                return lost;
            }
            changed.await;
        }
    }

    /// Waits until `known` lacks a live member, and returns those that came (then `known` is
    /// the live members): nodes that joined, or came back after a partition healed.
    pub async fn members_gained(
        &self,
        known: &mut std::collections::BTreeSet<NodeName>,
    ) -> Vec<NodeName> {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let live: std::collections::BTreeSet<NodeName> =
                self.members().into_iter().map(|m| m.name).collect();
            let gained: Vec<NodeName> = live.difference(known).cloned().collect();
            *known = live;
            if !gained.is_empty() {
                return gained;
            }
            changed.await;
        }
    }

    /// Sends run request `request` to `node` and waits (at most `timeout`) for its answer:
    /// `None` when the node knows no such run.
    pub async fn run_request(
        &self,
        node: &NodeName,
        request: RunRequest,
        timeout: Duration,
    ) -> Result<Option<RunInfo>, ClusterError> {
        let failed = |cause: WireError| ClusterError::Run {
            node: node.clone(),
            cause,
        };
        let reply = self
            .inner
            .request_control(node, Control::Run { request }, Some(timeout))
            .await
            .map_err(failed)?;
        match reply {
            ControlReply::Run { info } => Ok(Some(info)),
            ControlReply::NoRun => Ok(None),
            other => Err(failed(WireError::UnexpectedReply {
                node: node.clone(),
                request: "a run request".into(),
                got: format!("a control reply ({})", other.name()),
            })),
        }
    }
}
