//! Durable runs: a run started with a [`Store`] journals every fact about it (submitted with its
//! definition, input and options; each attempt started; each task completed or failed; the
//! run finished), so that another process can resume it after a crash.
//!
//! - **Recording.** The workflow actor journals the engine's decisions (failures with their
//!   retry time, the finish) before carrying them out; a task actor journals its result before
//!   reporting it, so a result counts as done only once it is durable, and results that are
//!   ready at the same moment share one group commit. Attempt starts are journaled with the
//!   run's next write (at the latest the attempt's own result), not waited for: replay does not
//!   need them, so a chain step costs one commit.
//! - **Limits** ([`JournalLimits`]): a cap on a run's journal (a run that reaches it fails
//!   with [`JournalCapError`], and that end is journaled) and compaction behind a snapshot
//!   ([`compact_run`]) once enough entries are live; resume replays the snapshot's events and
//!   the entries after it.
//! - **Replay** ([`replay()`]): the journal fed back through a fresh engine rebuilds the run:
//!   completed tasks keep their outputs, in-flight attempts run again with the same
//!   idempotency key (`run/task/attempt[/item]`), retry backoffs keep the time they had left.
//! - **Agents' state** is not journaled here: agents that persist write their snapshots to the
//!   runtime's own store ([`RuntimeConfig::store`](crate::RuntimeConfig::store)).
//! - **One driver.** Whoever drives a run holds its lease in the store (renewed every third
//!   of its TTL) and every journal write is fenced by the lease's token: a second process
//!   refuses to drive a run with [`StoreError::LeaseHeld`] naming the holder, and a process
//!   whose lease was taken over can no longer write.
//!
//! - **Control** ([`post_request`], [`signal`], [`cancel_undriven`]; in process
//!   [`RunControl`](crate::workflow::RunControl)): pause, resume, cancel and signals reach the
//!   driver through the run's inbox in the store, which it polls every
//!   [`Durability::inbox_poll`]; each is journaled before it takes effect and replayed after
//!   a crash, so a paused run resumes paused and a signal that arrived is kept. Durable timers
//!   (`sleep` tasks, signal timeouts) journal their due time and wait only for what is left.
//! - **Rollback.** A saga rollback's compensation attempts and their ends are journaled too
//!   ([`crate::workflow::saga`]): a resumed rollback goes on without running finished
//!   compensations again. Tasks and compensations that fail for good are kept as dead letters
//!   in the store (after their failure is journaled).
//!
//! Agents are called at least once per attempt: an attempt in flight at a crash runs again
//! (as the same attempt, with the same key), a completed one never does.

mod compact;
mod control;
mod limits;
mod recorder;
mod replay;
mod waits;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

pub use compact::{compact_events, compact_run, snapshot_events, Compaction};
pub use control::{cancel_undriven, post_request, signal};
pub(crate) use control::{parse_timer, poll_inbox, timer_name, SIGNAL_TIMEOUT, SLEEP};
pub use limits::{JournalCapError, JournalLimits};
pub(crate) use recorder::Recorder;
pub use replay::{replay, Replayed};
pub use waits::{stored_waits, waits, Waiting};

use super::file::{parse_workflow, read_packed};
use super::journal::{append_events, read_events, FinalStatus, JournalError, JournalEvent};
use super::plan::{plan, Plan, PlanErrors};
use super::run::{WorkflowError, WorkflowHandle};
use crate::ids::{RunId, TaskId};
use crate::runtime::Runtime;
use crate::store::{Lease, LeaseRequest, NewRun, RunStatus, Store, StoreError, Timestamp};

/// The idempotency key of attempt `attempt` of task `task` in run `run` (a parallel task's
/// items add `/item`): the same after a resume, so an agent can recognise a repeated call.
pub fn idempotency_key(run: &RunId, task: &TaskId, attempt: u32) -> String {
    format!("{run}/{task}/{attempt}")
}

/// How a process drives durable runs.
#[derive(Clone)]
pub struct Durability {
    /// The store holding the runs.
    pub store: Arc<dyn Store>,
    /// Who drives (recorded as the run's owner and the lease holder), e.g. `host/pid`.
    pub owner: String,
    /// How long the lease lasts without renewal (a crashed driver's runs can be resumed by
    /// another process once it expires).
    pub lease_ttl: Duration,
    /// Whether a lease held by `holder` belongs to a driver known to be gone (e.g. a dead
    /// process on this host): then resuming waits for it to expire instead of refusing.
    pub holder_is_gone: fn(&str) -> bool,
    /// How often the driver reads the run's inbox for requests from other processes (pause,
    /// resume, cancel, signals; see [`post_request`]).
    pub inbox_poll: Duration,
    /// The journal's cap and compaction threshold for runs submitted this way (a resumed run
    /// keeps the cap it was submitted with).
    pub limits: JournalLimits,
    /// The tenant new runs are recorded under ([`RunRecord::tenant`](crate::store::RunRecord),
    /// filtered with [`RunFilter::tenant`](crate::store::RunFilter)); `None`: no tenant.
    pub tenant: Option<String>,
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("store", &self.store.location())
            .field("owner", &self.owner)
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

impl Durability {
    /// Runs in `store`, driven by `owner`, with a 10 s lease, no holder known to be gone and
    /// the inbox read every 100 ms.
    pub fn new(store: Arc<dyn Store>, owner: impl Into<String>) -> Self {
        Self {
            store,
            owner: owner.into(),
            lease_ttl: Duration::from_secs(10),
            holder_is_gone: |_| false,
            inbox_poll: Duration::from_millis(100),
            limits: JournalLimits::default(),
            tenant: None,
        }
    }
}

/// The text a run was defined by, kept in its journal so it can be resumed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// The workflow file's text.
    pub text: String,
    /// Where it came from (a path), for messages.
    pub source: String,
}

/// Why a durable run could not start or resume.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DurableError {
    /// The store refused or failed (a held lease names its holder).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal could not be written or read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The run could not start.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    /// No run with this id in the store.
    #[error("no run {run} in store {store}")]
    NotFound {
        /// The run.
        run: RunId,
        /// The store's location.
        store: String,
    },
    /// The run is over: there is nothing to resume.
    #[error("run {run} is already {status}: nothing to resume")]
    Finished {
        /// The run.
        run: RunId,
        /// How it ended.
        status: RunStatus,
    },
    /// A signal no task of the run awaits (a typo would otherwise wait forever unnoticed).
    #[error("run {run} has no task awaiting signal {name:?} (awaited: {})", if awaited.is_empty() { "none".to_string() } else { awaited.join(", ") })]
    UnknownSignal {
        /// The run.
        run: RunId,
        /// The signal's name.
        name: String,
        /// The signals its tasks await.
        awaited: Vec<String>,
    },
    /// The run's stored definition is no longer valid here (a kind is missing, ...).
    #[error("run {run}: its stored definition is not valid here:\n{errors}")]
    Invalid {
        /// The run.
        run: RunId,
        /// What is wrong.
        errors: String,
    },
}

impl From<PlanErrors> for DurableError {
    fn from(e: PlanErrors) -> Self {
        Self::Workflow(WorkflowError::Invalid(e))
    }
}

/// Run `run`'s record: [`DurableError::NotFound`] if the store has no such run,
/// [`DurableError::Finished`] if it is over (what resuming and cancelling refuse alike).
pub(crate) async fn unfinished_run(
    store: &dyn Store,
    run: &RunId,
) -> Result<crate::store::RunRecord, DurableError> {
    let record = store
        .get_run(run.clone())
        .await?
        .ok_or_else(|| DurableError::NotFound {
            run: run.clone(),
            store: store.location().to_string(),
        })?;
    if record.status.is_finished() {
        return Err(DurableError::Finished {
            run: run.clone(),
            status: record.status,
        });
    }
    Ok(record)
}

impl Runtime {
    /// Starts `plan` as a durable run in `durability.store`: the run is created, leased by
    /// `durability.owner` and journaled from its submission to its end.
    pub async fn submit_durable(
        &self,
        plan: Arc<Plan>,
        definition: Definition,
        durability: Durability,
    ) -> Result<WorkflowHandle, DurableError> {
        self.submit_durable_with_input(plan, definition, Value::Null, durability)
            .await
    }

    /// [`submit_durable`](Self::submit_durable) with the run's `input`, journaled in its
    /// `submitted` event (`troupe run --input`).
    pub async fn submit_durable_with_input(
        &self,
        plan: Arc<Plan>,
        definition: Definition,
        input: Value,
        durability: Durability,
    ) -> Result<WorkflowHandle, DurableError> {
        // A run that cannot fit is refused before it is recorded.
        self.check_capacity(&plan)?;
        let now = Timestamp::now();
        let run = new_run_id(&plan.spec.name, now);
        let seed = fastrand::u64(..);
        let store = durability.store.clone();
        let lease = store
            .acquire_lease(lease_request(&run, &durability, now))
            .await?;
        let version = definition_version(&definition.text);
        let options = json!({
            "seed": seed,
            "source": definition.source,
            "journal_cap_bytes": durability.limits.cap_bytes,
        });
        let mut new = NewRun::new(run.clone(), plan.spec.name.clone(), now)
            .definition(definition.text.clone(), version.clone())
            .options(options.clone());
        if let Some(tenant) = &durability.tenant {
            new = new.tenant(tenant.clone());
        }
        store.create_run(new).await?;
        let submitted = JournalEvent::Submitted {
            workflow: plan.spec.name.clone(),
            definition: definition.text,
            definition_version: version,
            input,
            options,
            tree: plan.spec.tree.packed(),
        };
        append_events(store.as_ref(), &run, Some(lease.token), now, &[submitted]).await?;
        self.drive(plan, run, seed, lease, durability, None).await
    }

    /// Resumes run `run` from its journal: completed tasks keep their outputs, in-flight ones
    /// run again as the same attempts, waiting retries keep the time they had left.
    /// [`StoreError::LeaseHeld`] if another driver holds the run.
    pub async fn resume_durable(
        &self,
        run: RunId,
        durability: Durability,
    ) -> Result<WorkflowHandle, DurableError> {
        let store = durability.store.clone();
        let record = unfinished_run(store.as_ref(), &run).await?;
        let lease = acquire(&run, &durability).await?;
        match self.prepare_resume(store.as_ref(), &run, &record).await {
            Ok((plan, seed, replayed, held)) => {
                if let Some(status) = replayed.finished {
                    let status = match status {
                        FinalStatus::Completed => RunStatus::Completed,
                        FinalStatus::Failed => RunStatus::Failed,
                        FinalStatus::Cancelled => RunStatus::Cancelled,
                    };
                    let marked = store
                        .set_run_status(run.clone(), status, Timestamp::now())
                        .await;
                    let _ = store.release_lease(lease).await;
                    marked?;
                    return Err(DurableError::Finished { run, status });
                }
                let mut durability = durability;
                if let Some(cap) = record
                    .options
                    .get("journal_cap_bytes")
                    .and_then(Value::as_u64)
                {
                    durability.limits.cap_bytes = cap;
                }
                self.drive(plan, run, seed, lease, durability, Some((replayed, held)))
                    .await
            }
            Err(e) => {
                // Nobody drives the run: let the next attempt have it at once.
                let _ = store.release_lease(lease).await;
                Err(e)
            }
        }
    }

    /// The plan, seed and replayed state of a stored run.
    async fn prepare_resume(
        &self,
        store: &dyn Store,
        run: &RunId,
        record: &crate::store::RunRecord,
    ) -> Result<(Arc<Plan>, u64, Replayed, Held), DurableError> {
        let invalid = |errors: String| DurableError::Invalid {
            run: run.clone(),
            errors,
        };
        let history = read_events(store, run, 1).await?;
        // A compacted journal: the snapshot's events, then the live ones.
        let (mut events, held) = match &history.snapshot {
            Some(s) => (
                snapshot_events(run, s).map_err(JournalError::from)?,
                Held {
                    snapshot_seq: s.seq,
                    snapshot_bytes: s.data.len() as u64,
                },
            ),
            None => (Vec::new(), Held::default()),
        };
        events.extend(history.events.into_iter().map(|(_, e)| e));
        let spec = stored_spec(run, record, &mut events).map_err(invalid)?;
        let plan = plan(spec, self.kinds()).map_err(|e| invalid(e.to_string()))?;
        let plan = Arc::new(plan);
        let seed = record
            .options
            .get("seed")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let replayed = replay(plan.clone(), seed, &events, Timestamp::now());
        Ok((plan, seed, replayed, held))
    }

    async fn drive(
        &self,
        plan: Arc<Plan>,
        run: RunId,
        seed: u64,
        lease: Lease,
        durability: Durability,
        resumed: Option<(Replayed, Held)>,
    ) -> Result<WorkflowHandle, DurableError> {
        let (replayed, held) = match resumed {
            Some((replayed, held)) => (Some(replayed), held),
            None => (None, Held::default()),
        };
        let store = durability.store.clone();
        let (bytes, live, tenant) = match store.get_run(run.clone()).await? {
            Some(r) => (
                r.journal_bytes + held.snapshot_bytes,
                r.last_seq.saturating_sub(held.snapshot_seq),
                r.tenant,
            ),
            None => (held.snapshot_bytes, 0, durability.tenant.clone()),
        };
        store
            .set_run_owner(run.clone(), Some(durability.owner.clone()))
            .await?;
        // A run paused before its driver went away stays paused until resumed.
        let status = match replayed.as_ref().is_some_and(|r| r.engine.is_paused()) {
            true => RunStatus::Paused,
            false => RunStatus::Running,
        };
        store
            .set_run_status(run.clone(), status, Timestamp::now())
            .await?;
        let held = lease.clone();
        let recorder = Recorder::new(
            store.clone(),
            run.clone(),
            plan.clone(),
            lease,
            durability.lease_ttl,
        )
        .with_limits(durability.limits, bytes, live);
        let durable = super::actor::DurableArgs {
            recorder: Arc::new(recorder),
            replayed,
            inbox_poll: durability.inbox_poll,
            tenant,
        };
        match self.spawn_run(plan, run.clone(), seed, Some(durable)).await {
            Ok(handle) => Ok(handle),
            Err(e) => {
                let _ = store
                    .set_run_status(run, RunStatus::Interrupted, Timestamp::now())
                    .await;
                let _ = store.release_lease(held).await;
                Err(e.into())
            }
        }
    }
}

/// The spec of stored run `run`: read from the parsed tree its `submitted` event keeps (taken
/// out of `events`; replay does not need it) when there is one in a format this build reads,
/// else parsed from the definition's text (journals written before the tree was kept).
fn stored_spec(
    run: &RunId,
    record: &crate::store::RunRecord,
    events: &mut [JournalEvent],
) -> Result<super::spec::WorkflowSpec, String> {
    let source = format!("run {run}");
    let packed = events.iter_mut().find_map(|e| match e {
        JournalEvent::Submitted {
            tree, definition, ..
        } => Some((tree.take(), definition)),
        _ => None,
    });
    if let Some((Some(tree), text)) = packed {
        if let Some(read) = read_packed(tree, text, &source) {
            return read.map_err(|e| e.to_string());
        }
    }
    parse_workflow(&record.definition, &source).map_err(|e| e.to_string())
}

/// What a run's snapshot holds when it is resumed (zero: no snapshot).
#[derive(Clone, Copy, Debug, Default)]
struct Held {
    snapshot_seq: u64,
    snapshot_bytes: u64,
}

fn lease_request(run: &RunId, durability: &Durability, now: Timestamp) -> LeaseRequest {
    LeaseRequest {
        run: run.clone(),
        owner: durability.owner.clone(),
        ttl: durability.lease_ttl,
        now,
    }
}

/// Acquires the run's lease; a lease of a holder known to be gone is waited out.
async fn acquire(run: &RunId, durability: &Durability) -> Result<Lease, StoreError> {
    loop {
        let now = Timestamp::now();
        match durability
            .store
            .acquire_lease(lease_request(run, durability, now))
            .await
        {
            Err(StoreError::LeaseHeld { holder, until, .. })
                if (durability.holder_is_gone)(&holder) =>
            {
                let left = until.as_millis().saturating_sub(now.as_millis());
                tracing::info!(%run, %holder, %until, "the run's lease belongs to a driver that is gone: waiting for it to expire");
                tokio::time::sleep(Duration::from_millis(left + 10)).await;
            }
            other => return other,
        }
    }
}

/// A run id unique across processes: the workflow's name, the time and a random part.
fn new_run_id(workflow: &str, now: Timestamp) -> RunId {
    let name: String = workflow
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    RunId::new(format!(
        "{name}-{:x}{:04x}",
        now.as_millis(),
        fastrand::u16(..)
    ))
}

/// The definition's version: a hash of its text (FNV-1a, 64 bits, in hex).
fn definition_version(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv1a:{h:016x}")
}
