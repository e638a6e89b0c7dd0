//! The recorder: what a durable run writes to its journal while it runs, fenced by its lease.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::super::engine::{Command, Outcome};
use super::super::journal::{encode_events, ErrorChain, FinalStatus, JournalError, JournalEvent};
use super::super::plan::Plan;
use super::super::spec::TaskWait;
use super::limits::{JournalLimits, Meter};
use super::replay::error_chain;
use crate::ids::RunId;
use crate::store::{Lease, NewEntry, RunStatus, Store, Timestamp};

/// Journals one run's facts. Shared by the workflow actor (starts, failures, the finish) and
/// its task actors (results: a result counts only once its append is durable, and results that
/// are ready together share one commit).
pub(crate) struct Recorder {
    store: Arc<dyn Store>,
    run: RunId,
    plan: Arc<Plan>,
    lease: Lease,
    /// Set once a write failed (the lease was lost, the store broke): nothing more is written.
    broken: AtomicBool,
    renewal: tokio::task::AbortHandle,
    /// The journal's cap and compaction threshold, and the count against them.
    limits: JournalLimits,
    meter: Arc<Meter>,
    /// Attempt starts not journaled yet: they go with the run's next write (see
    /// [`Recorder::record`]).
    starts: parking_lot::Mutex<Vec<JournalEvent>>,
    /// Results waiting for the append in flight (see [`Recorder::completed`]).
    results: parking_lot::Mutex<Results>,
}

/// Results queued for the next append of results.
#[derive(Default)]
struct Results {
    queued: Vec<(
        JournalEvent,
        tokio::sync::oneshot::Sender<Result<(), JournalError>>,
    )>,
    /// Whether a flush runs (it takes what is queued before it stops).
    flushing: bool,
}

impl Recorder {
    /// A recorder for `run` holding `lease`, which it renews every third of `ttl` until dropped.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        run: RunId,
        plan: Arc<Plan>,
        lease: Lease,
        ttl: Duration,
    ) -> Self {
        let renewal = tokio::spawn(renew(store.clone(), lease.clone(), ttl)).abort_handle();
        Self {
            store,
            run,
            plan,
            lease,
            broken: AtomicBool::new(false),
            renewal,
            limits: JournalLimits {
                cap_bytes: u64::MAX,
                compact_after: None,
            },
            meter: Arc::new(Meter::default()),
            starts: parking_lot::Mutex::new(Vec::new()),
            results: parking_lot::Mutex::new(Results::default()),
        }
    }

    /// Enforces `limits` on the run's journal, which holds `bytes` (entries and snapshot) and
    /// `live` entries after its snapshot now.
    pub(crate) fn with_limits(mut self, limits: JournalLimits, bytes: u64, live: u64) -> Self {
        self.limits = limits;
        self.meter = Arc::new(Meter::new(bytes, live));
        self
    }

    /// Journals what `commands` decide (attempt starts, failures with their retry time, the
    /// run's end), as one batch, before they are carried out. The end also sets the run's
    /// status and releases the lease.
    pub(crate) async fn record(&self, commands: &[Command]) -> Result<(), JournalError> {
        if self.broken.load(Ordering::Acquire) {
            return Ok(());
        }
        let now = Timestamp::now();
        let mut events = Vec::new();
        let mut end = None;
        for command in commands {
            match command {
                Command::Start { task, attempt, .. } => {
                    self.started(&mut events, *task, *attempt);
                }
                Command::Retry {
                    task,
                    attempt,
                    error,
                    delay,
                } => events.push(JournalEvent::TaskFailed {
                    task: self.plan.spec.tasks[*task].id.clone(),
                    attempt: *attempt,
                    error: error_chain(error),
                    retry_at: Some(now.after(*delay)),
                }),
                Command::Failed {
                    task,
                    attempt,
                    error,
                } => events.push(JournalEvent::TaskFailed {
                    task: self.plan.spec.tasks[*task].id.clone(),
                    attempt: *attempt,
                    error: error_chain(error),
                    retry_at: None,
                }),
                Command::Skip { .. } => {}
                Command::Sleep {
                    task,
                    attempt,
                    duration,
                } => {
                    self.started(&mut events, *task, *attempt);
                    events.push(JournalEvent::TimerSet {
                        timer: super::timer_name(super::SLEEP, &self.task_id(*task), *attempt),
                        fires_at: now.after(*duration),
                    });
                }
                Command::AwaitSignal {
                    task,
                    attempt,
                    timeout,
                    ..
                } => {
                    self.started(&mut events, *task, *attempt);
                    if let Some(timeout) = timeout {
                        let id = self.task_id(*task);
                        events.push(JournalEvent::TimerSet {
                            timer: super::timer_name(super::SIGNAL_TIMEOUT, &id, *attempt),
                            fires_at: now.after(*timeout),
                        });
                    }
                }
                Command::Completed {
                    task,
                    attempt,
                    output,
                } => {
                    let id = self.task_id(*task);
                    if matches!(self.plan.spec.tasks[*task].wait, Some(TaskWait::Sleep(_))) {
                        events.push(JournalEvent::TimerFired {
                            timer: super::timer_name(super::SLEEP, &id, *attempt),
                        });
                    }
                    events.push(JournalEvent::TaskCompleted {
                        task: id,
                        attempt: *attempt,
                        output: output.clone(),
                    });
                }
                Command::Compensate { task, attempt, .. } => {
                    events.push(JournalEvent::CompensationStarted {
                        task: self.plan.spec.tasks[*task].id.clone(),
                        attempt: *attempt,
                    })
                }
                Command::CompensationRetry {
                    task,
                    attempt,
                    error,
                    delay,
                } => events.push(JournalEvent::CompensationFinished {
                    task: self.plan.spec.tasks[*task].id.clone(),
                    error: Some(error_chain(error)),
                    attempt: *attempt,
                    retry_at: Some(now.after(*delay)),
                }),
                Command::Compensated { task, attempt } => {
                    events.push(JournalEvent::CompensationFinished {
                        task: self.plan.spec.tasks[*task].id.clone(),
                        error: None,
                        attempt: *attempt,
                        retry_at: None,
                    })
                }
                Command::CompensationFailed {
                    task,
                    attempt,
                    error,
                } => events.push(JournalEvent::CompensationFinished {
                    task: self.plan.spec.tasks[*task].id.clone(),
                    error: Some(error_chain(error)),
                    attempt: *attempt,
                    retry_at: None,
                }),
                Command::Finish(outcome) => {
                    let (status, error) = final_status(outcome);
                    end = Some(status);
                    events.push(JournalEvent::RunFinished { status, error });
                }
            }
        }
        // Attempt starts alone are not written (nor waited for) now: they go with the run's
        // next write, at the latest the attempt's own result. Replay does not need them (an
        // attempt launched without a result runs again as the same attempt, with the same
        // key), so a chain step costs one commit (its result) instead of two.
        if !events.is_empty()
            && end.is_none()
            && events
                .iter()
                .all(|e| matches!(e, JournalEvent::AttemptStarted { .. }))
        {
            self.starts.lock().extend(events);
            return Ok(());
        }
        if !events.is_empty() {
            self.guard(self.append(now, &events).await)?;
        }
        if let Some(status) = end {
            let status = match status {
                FinalStatus::Completed => RunStatus::Completed,
                FinalStatus::Failed => RunStatus::Failed,
                FinalStatus::Cancelled => RunStatus::Cancelled,
            };
            self.guard(
                self.store
                    .set_run_status(self.run.clone(), status, Timestamp::now())
                    .await
                    .map_err(JournalError::from),
            )?;
            self.close().await;
        }
        Ok(())
    }

    fn task_id(&self, task: usize) -> crate::ids::TaskId {
        self.plan.spec.tasks[task].id.clone()
    }

    fn started(&self, events: &mut Vec<JournalEvent>, task: usize, attempt: u32) {
        let id = self.task_id(task);
        events.push(JournalEvent::AttemptStarted {
            idempotency_key: super::idempotency_key(&self.run, &id, attempt),
            task: id,
            attempt,
            item: None,
        });
    }

    /// Journals control events (paused, resumed, a signal received, cancelled) as one batch;
    /// returns once they are durable. Nothing is written once the recorder is closed.
    pub(crate) async fn note(&self, events: &[JournalEvent]) -> Result<(), JournalError> {
        if self.broken.load(Ordering::Acquire) {
            return Ok(());
        }
        let result = self.append(Timestamp::now(), events).await;
        self.guard(result)
    }

    /// Records the run's status (paused, running) in the store, unless the run is closed.
    pub(crate) async fn set_status(&self, status: RunStatus) -> Result<(), JournalError> {
        if self.broken.load(Ordering::Acquire) {
            return Ok(());
        }
        let result = self
            .store
            .set_run_status(self.run.clone(), status, Timestamp::now())
            .await
            .map_err(JournalError::from);
        self.guard(result)
    }

    /// The store the run is journaled in.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The run.
    pub(crate) fn run(&self) -> &RunId {
        &self.run
    }

    /// Journals that attempt `attempt` of task `task` completed with `output`; returns once
    /// that is durable.
    ///
    /// Results that arrive while an append of results is in flight are queued and written
    /// together by the next one (one store job with all their entries instead of one job
    /// each): a fan-out's results cost the store one fence check and one run update per batch.
    pub(crate) async fn completed(
        self: &Arc<Self>,
        task: usize,
        attempt: u32,
        output: &Value,
    ) -> Result<(), JournalError> {
        if self.broken.load(Ordering::Acquire) {
            return Err(JournalError::Store(crate::store::StoreError::LeaseLost {
                run: self.run.clone(),
                token: self.lease.token,
            }));
        }
        let event = JournalEvent::TaskCompleted {
            task: self.plan.spec.tasks[task].id.clone(),
            attempt,
            output: output.clone(),
        };
        let (done, written) = tokio::sync::oneshot::channel();
        let lead = {
            let mut results = self.results.lock();
            results.queued.push((event, done));
            !std::mem::replace(&mut results.flushing, true)
        };
        if lead {
            tokio::spawn(self.clone().flush_results());
        }
        written.await.unwrap_or_else(|_| {
            Err(JournalError::Store(crate::store::StoreError::Closed {
                location: self.store.location().to_string(),
            }))
        })
    }

    /// Writes the queued results, batch after batch, until none is queued.
    async fn flush_results(self: Arc<Self>) {
        loop {
            let batch = {
                let mut results = self.results.lock();
                if results.queued.is_empty() {
                    results.flushing = false;
                    return;
                }
                std::mem::take(&mut results.queued)
            };
            let (events, waiting): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let result = if self.broken.load(Ordering::Acquire) {
                Err(JournalError::Store(crate::store::StoreError::LeaseLost {
                    run: self.run.clone(),
                    token: self.lease.token,
                }))
            } else {
                let appended = self.append(Timestamp::now(), &events).await;
                self.guard(appended)
            };
            for done in waiting {
                let _ = done.send(result.clone());
            }
        }
    }

    /// Keeps work that was given up (`what`: the task, or `task/compensate` for a compensation)
    /// in the store's dead-letter table; returns the letter's id. Not fenced: a letter is kept
    /// even when the run's lease was lost meanwhile.
    pub(crate) async fn dead_letter(
        &self,
        what: crate::ids::TaskId,
        input: Value,
        error: &super::super::engine::TaskError,
        attempts: u32,
    ) -> Result<u64, crate::store::StoreError> {
        let letter = crate::store::NewDeadLetter {
            run: Some(self.run.clone()),
            task: Some(what),
            input,
            errors: vec![format!("{}: {}", error.class, error.message)],
            attempts,
            at: Timestamp::now(),
        };
        Ok(self.store.put_dead_letter(letter).await?.id)
    }

    /// The run stops without ending (its runtime shuts down): it is marked interrupted, to be
    /// resumed, and the lease is released.
    pub(crate) async fn interrupted(&self) {
        if self.broken.load(Ordering::Acquire) {
            return;
        }
        // The starts still held are the attempts in flight now: journal them (best effort).
        if !self.starts.lock().is_empty() {
            let _ = self.append(Timestamp::now(), &[]).await;
        }
        if self.broken.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self
            .store
            .set_run_status(self.run.clone(), RunStatus::Interrupted, Timestamp::now())
            .await;
        self.close().await;
    }

    /// Appends `events` within the journal's cap (the run's final event may pass it), then
    /// starts a compaction in the background when enough entries are live.
    ///
    /// The attempt starts held back go first, in the same batch: they are taken and the append
    /// is issued under one lock, so the journal keeps the order in which things happened.
    async fn append(&self, at: Timestamp, events: &[JournalEvent]) -> Result<(), JournalError> {
        let fence = Some(self.lease.token);
        let end = events
            .iter()
            .any(|e| matches!(e, JournalEvent::RunFinished { .. }));
        let (written, adding, n) = {
            let mut starts = self.starts.lock();
            let mut all = std::mem::take(&mut *starts);
            all.extend_from_slice(events);
            if all.is_empty() {
                return Ok(());
            }
            let entries = match encode_events(at, &all) {
                Ok(entries) => entries,
                Err(e) => {
                    all.truncate(all.len() - events.len());
                    *starts = all;
                    return Err(e.into());
                }
            };
            let adding: u64 = entries.iter().map(NewEntry::size).sum();
            let n = entries.len() as u64;
            if let Err(e) = self
                .meter
                .reserve(&self.run, self.limits.cap_bytes, adding, end)
            {
                all.truncate(all.len() - events.len());
                *starts = all;
                return Err(e.into());
            }
            // Issued now (the store queues it when called), awaited below without the lock.
            let written = self.store.append(self.run.clone(), fence, entries);
            (written, adding, n)
        };
        if let Err(e) = written.await {
            self.meter.release(adding);
            return Err(e.into());
        }
        if !end && self.meter.appended(n, self.limits.compact_after) {
            self.compact_in_background();
        }
        Ok(())
    }

    fn compact_in_background(&self) {
        let (store, run, meter) = (self.store.clone(), self.run.clone(), self.meter.clone());
        tokio::spawn(async move {
            match super::compact::compact_run(store.as_ref(), &run).await {
                Ok(Some(done)) => {
                    tracing::debug!(%run, seq = done.seq, entries = done.entries, kept = done.kept, freed = done.freed, "journal compacted");
                    meter.compacted(done.entries, done.freed);
                }
                Ok(None) => meter.compacted(0, 0),
                // Left marked as compacting: this driver does not try again.
                Err(e) => tracing::warn!(%run, error = %e, "journal compaction failed"),
            }
        });
    }

    /// Marks the recorder broken after a failed write, unless it was the cap: then the run
    /// fails and its end is still journaled.
    fn guard(&self, result: Result<(), JournalError>) -> Result<(), JournalError> {
        if matches!(&result, Err(e) if !matches!(e, JournalError::Cap(_))) {
            self.broken.store(true, Ordering::Release);
        }
        result
    }

    async fn close(&self) {
        self.broken.store(true, Ordering::Release);
        self.renewal.abort();
        let _ = self.store.release_lease(self.lease.clone()).await;
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

fn final_status(outcome: &Outcome) -> (FinalStatus, Option<ErrorChain>) {
    match outcome {
        Outcome::Succeeded => (FinalStatus::Completed, None),
        Outcome::Cancelled => (FinalStatus::Cancelled, None),
        Outcome::Failed { cause } => (
            FinalStatus::Failed,
            Some(ErrorChain {
                class: "run_failed".into(),
                retryable: false,
                messages: vec![cause.clone()],
            }),
        ),
    }
}

/// Keeps the lease alive: renews it every third of its TTL, stops once it is lost.
async fn renew(store: Arc<dyn Store>, mut lease: Lease, ttl: Duration) {
    let every = (ttl / 3).max(Duration::from_millis(50));
    loop {
        tokio::time::sleep(every).await;
        match store
            .renew_lease(lease.clone(), ttl, Timestamp::now())
            .await
        {
            Ok(renewed) => lease = renewed,
            Err(e) if e.is_retryable() => {}
            Err(e) => {
                tracing::warn!(run = %lease.run, error = %e, "lease renewal failed: the run's journal writes will be refused");
                return;
            }
        }
    }
}
