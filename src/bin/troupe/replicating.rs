//! The node's store as its runs see it: every operation goes to the node's own store, and a
//! journal append of a run owned here returns only once the run's backups hold it too
//! ([`Replicas::replicate`]); an append to a run a higher epoch owns fails with
//! [`StoreError::LeaseLost`], which stops its driver (the fencing rule).

use std::sync::Arc;

use troupe::runtime::store::{
    AgentSnapshot, AppendAck, DeadLetter, DeadLetterFilter, JournalRead, KeyedFilter, KeyedRecord,
    Lease, LeaseRequest, NewDeadLetter, NewEntry, NewRun, NewRunRequest, Retention, RunFilter,
    RunPage, RunRecord, RunRequest, RunSnapshot, RunStatus, Store, StoreError, StoreFuture,
    StoreStats, Timestamp,
};
use troupe::{AgentId, RunId};

use crate::replicas::{Replicas, REPLICA_WORKFLOW};

/// A store whose journal appends are replicated to the runs' backups.
pub struct Replicating {
    /// The node's own store.
    pub inner: Arc<dyn Store>,
    /// The replicas and owned runs.
    pub replicas: Arc<Replicas>,
}

impl Store for Replicating {
    fn location(&self) -> &str {
        self.inner.location()
    }
    fn take_commit_latencies(&self) -> Vec<std::time::Duration> {
        self.inner.take_commit_latencies()
    }
    fn put_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, ()> {
        self.inner.put_keyed(record)
    }
    fn insert_keyed(&self, record: KeyedRecord) -> StoreFuture<'_, bool> {
        self.inner.insert_keyed(record)
    }
    fn get_keyed(&self, kind: String, key: String) -> StoreFuture<'_, Option<KeyedRecord>> {
        self.inner.get_keyed(kind, key)
    }
    fn list_keyed(&self, filter: KeyedFilter) -> StoreFuture<'_, Vec<KeyedRecord>> {
        self.inner.list_keyed(filter)
    }
    fn delete_keyed(&self, kind: String, key: String) -> StoreFuture<'_, bool> {
        self.inner.delete_keyed(kind, key)
    }
    fn stats(&self) -> StoreStats {
        self.inner.stats()
    }
    fn schema_version(&self) -> StoreFuture<'_, u32> {
        self.inner.schema_version()
    }
    fn create_run(&self, run: NewRun) -> StoreFuture<'_, RunRecord> {
        Box::pin(async move {
            let id = run.id.clone();
            let record = self.inner.create_run(run).await?;
            if record.workflow != REPLICA_WORKFLOW {
                let epoch = troupe::cluster::replica::Epoch::new(1, self.replicas.me());
                self.replicas
                    .own(id.as_str(), epoch, 0)
                    .await
                    .map_err(|reason| StoreError::Backend {
                        location: self.inner.location().to_string(),
                        reason,
                    })?;
            }
            Ok(record)
        })
    }
    fn get_run(&self, run: RunId) -> StoreFuture<'_, Option<RunRecord>> {
        self.inner.get_run(run)
    }
    fn list_runs(&self, filter: RunFilter) -> StoreFuture<'_, RunPage> {
        self.inner.list_runs(filter)
    }
    fn set_run_status(&self, run: RunId, status: RunStatus, at: Timestamp) -> StoreFuture<'_, ()> {
        self.inner.set_run_status(run, status, at)
    }
    fn set_run_owner(&self, run: RunId, owner: Option<String>) -> StoreFuture<'_, ()> {
        self.inner.set_run_owner(run, owner)
    }
    fn prune_runs(&self, rule: Retention) -> StoreFuture<'_, u64> {
        self.inner.prune_runs(rule)
    }
    fn append(
        &self,
        run: RunId,
        fence: Option<u64>,
        entries: Vec<NewEntry>,
    ) -> StoreFuture<'_, AppendAck> {
        Box::pin(async move {
            let lost = |run: &RunId| StoreError::LeaseLost {
                run: run.clone(),
                token: fence.unwrap_or(0),
            };
            if !self.replicas.may_drive(run.as_str()) {
                return Err(lost(&run));
            }
            let ack = self
                .inner
                .append(run.clone(), fence, entries.clone())
                .await?;
            match self.replicas.replicate(&run, ack.first, &entries).await {
                Ok(()) => Ok(ack),
                Err(_) => Err(lost(&run)),
            }
        })
    }
    fn read_journal(&self, run: RunId, from: u64) -> StoreFuture<'_, JournalRead> {
        self.inner.read_journal(run, from)
    }
    fn compact(&self, run: RunId, snapshot: RunSnapshot) -> StoreFuture<'_, ()> {
        self.inner.compact(run, snapshot)
    }
    fn put_agent_snapshot(&self, snapshot: AgentSnapshot) -> StoreFuture<'_, ()> {
        self.inner.put_agent_snapshot(snapshot)
    }
    fn get_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, Option<AgentSnapshot>> {
        self.inner.get_agent_snapshot(agent)
    }
    fn delete_agent_snapshot(&self, agent: AgentId) -> StoreFuture<'_, bool> {
        self.inner.delete_agent_snapshot(agent)
    }
    fn put_dead_letter(&self, letter: NewDeadLetter) -> StoreFuture<'_, DeadLetter> {
        self.inner.put_dead_letter(letter)
    }
    fn list_dead_letters(&self, filter: DeadLetterFilter) -> StoreFuture<'_, Vec<DeadLetter>> {
        self.inner.list_dead_letters(filter)
    }
    fn get_dead_letter(&self, id: u64) -> StoreFuture<'_, Option<DeadLetter>> {
        self.inner.get_dead_letter(id)
    }
    fn drop_dead_letter(&self, id: u64) -> StoreFuture<'_, bool> {
        self.inner.drop_dead_letter(id)
    }
    fn acquire_lease(&self, request: LeaseRequest) -> StoreFuture<'_, Lease> {
        self.inner.acquire_lease(request)
    }
    fn renew_lease(
        &self,
        lease: Lease,
        ttl: std::time::Duration,
        now: Timestamp,
    ) -> StoreFuture<'_, Lease> {
        self.inner.renew_lease(lease, ttl, now)
    }
    fn release_lease(&self, lease: Lease) -> StoreFuture<'_, ()> {
        self.inner.release_lease(lease)
    }
    fn get_lease(&self, run: RunId) -> StoreFuture<'_, Option<Lease>> {
        self.inner.get_lease(run)
    }
    fn post_request(&self, request: NewRunRequest) -> StoreFuture<'_, RunRequest> {
        self.inner.post_request(request)
    }
    fn pending_requests(&self, run: RunId) -> StoreFuture<'_, Vec<RunRequest>> {
        self.inner.pending_requests(run)
    }
    fn ack_requests(&self, run: RunId, through: u64) -> StoreFuture<'_, u64> {
        self.inner.ack_requests(run, through)
    }
}
