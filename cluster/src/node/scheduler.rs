//! The task scheduler's state (the shell's side of [`super::core::tasks`]): the queue behind
//! its lock, the waiting callers, what was lent and stolen, and the counters and running
//! averages the core's decisions read.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};

use super::core::tasks::{average, HintLimiter, Ledger, TaskQueue};
use crate::packing::{fits, NodeResources};
use crate::registry::NodeName;
use crate::stealing::Queued;
use crate::wire::{RemoteTask, WireError};

#[derive(Default)]
pub(crate) struct Scheduler {
    pub(crate) queue: Mutex<TaskQueue>,
    running: AtomicUsize,
    /// Owner side: key → the workflow's pending call.
    waiters: DashMap<String, oneshot::Sender<Result<Value, WireError>>>,
    /// What was lent to thieves and stolen from owners (the core's decisions on results and
    /// members that went down).
    pub(crate) ledger: Mutex<Ledger>,
    pub(crate) wake: Notify,
    /// The peer that most recently said it has work to spare.
    pub(crate) hinted: Mutex<Option<NodeName>>,
    /// Hints received so far (idle workers re-check after a hint they might have missed).
    hints: AtomicU64,
    /// When to tell peers this node has work to spare.
    pub(crate) hint_limiter: Mutex<HintLimiter>,
    /// Stolen tasks run here so far (for tests and stats).
    stolen: AtomicUsize,
    /// Tasks run here so far.
    executed: AtomicUsize,
    /// Whether a worker is asking peers for work right now (one steal in flight per node).
    stealing: AtomicBool,
    /// Running average of a task's execution time here, in ns (0: none run yet).
    task_ns: AtomicU64,
    /// Running average of a successful steal's round trip, in ns (0: none yet).
    steal_ns: AtomicU64,
    /// What this node offers to pools that need resources (set once at start; unset or
    /// `None`: nothing declared).
    resources: std::sync::OnceLock<Option<NodeResources>>,
}

/// Folds `sample` into the running average `avg` ([`average`]).
fn average_in(avg: &AtomicU64, sample: Duration) {
    let _ = avg.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(average(old, sample))
    });
}

impl Scheduler {
    pub(crate) fn push(&self, q: Queued, front: bool) {
        self.queue.lock().push(q, front);
        self.wake.notify_one();
    }

    pub(crate) fn pop(&self) -> Option<Queued> {
        self.queue
            .lock()
            .pop_where(|key| self.waiters.contains_key(key), |t| self.runs_here(t))
    }

    /// Declares what this node offers to pools that need resources (once, at start).
    pub(crate) fn set_resources(&self, resources: Option<NodeResources>) {
        let _ = self.resources.set(resources);
    }

    /// Whether this node may run `task`: its pool needs nothing, or what this node offers
    /// holds it.
    pub(crate) fn runs_here(&self, task: &RemoteTask) -> bool {
        task.need
            .as_ref()
            .is_none_or(|need| fits(self.resources.get().and_then(Option::as_ref), need))
    }

    /// Whether a queued task may run here.
    pub(crate) fn runnable(&self) -> bool {
        self.queue.lock().any(|t| self.runs_here(t))
    }

    /// Waits for the result of own task `key` (queued here).
    pub(crate) fn expect(&self, key: &str) -> oneshot::Receiver<Result<Value, WireError>> {
        let (tx, rx) = oneshot::channel();
        self.waiters.insert(key.to_owned(), tx);
        rx
    }

    /// Answers the workflow's call for own task `key` (once: later answers find no waiter).
    pub(crate) fn answer(&self, key: &str, result: Result<Value, WireError>) {
        if let Some((_, tx)) = self.waiters.remove(key) {
            let _ = tx.send(result);
        }
    }

    /// The caller of own task `key` gave up: forget it (the queue then drops the task).
    pub(crate) fn forget(&self, key: &str) {
        self.waiters.remove(key);
        self.ledger.lock().settled(key);
    }

    /// Tasks running here now.
    pub(crate) fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// A worker starts a task.
    pub(crate) fn task_started(&self) {
        self.running.fetch_add(1, Ordering::Relaxed);
    }

    /// A worker finished a task that ran for `took`.
    pub(crate) fn task_finished(&self, took: Duration) {
        average_in(&self.task_ns, took);
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.executed.fetch_add(1, Ordering::Relaxed);
    }

    /// Running average of a task's execution time here, in ns (0: none run yet).
    pub(crate) fn task_ns(&self) -> u64 {
        self.task_ns.load(Ordering::Relaxed)
    }

    /// Running average of a successful steal's round trip, in ns (0: none yet).
    pub(crate) fn steal_ns(&self) -> u64 {
        self.steal_ns.load(Ordering::Relaxed)
    }

    /// Wakes the idle workers (a hint, a new peer): one asking around right now asks again.
    pub(crate) fn wake_idle(&self) {
        self.hints.fetch_add(1, Ordering::Release);
        self.wake.notify_waiters();
    }

    /// How many times idle workers were woken so far (compare before and after a steal).
    pub(crate) fn hints(&self) -> u64 {
        self.hints.load(Ordering::Acquire)
    }

    /// Whether a worker is asking peers for work right now.
    pub(crate) fn is_stealing(&self) -> bool {
        self.stealing.load(Ordering::Relaxed)
    }

    /// Marks a steal under way; false when another worker is already asking.
    pub(crate) fn begin_steal(&self) -> bool {
        !self.stealing.swap(true, Ordering::AcqRel)
    }

    /// The steal under way is over.
    pub(crate) fn end_steal(&self) {
        self.stealing.store(false, Ordering::Release);
    }

    /// A steal brought `count` tasks after a round trip of `took`.
    pub(crate) fn stole(&self, count: usize, took: Duration) {
        average_in(&self.steal_ns, took);
        self.stolen.fetch_add(count, Ordering::Relaxed);
    }

    /// Tasks run here so far.
    pub(crate) fn executed(&self) -> usize {
        self.executed.load(Ordering::Relaxed)
    }

    /// Stolen tasks run here so far.
    pub(crate) fn stolen(&self) -> usize {
        self.stolen.load(Ordering::Relaxed)
    }

    /// Tasks queued here and not started.
    pub(crate) fn queued(&self) -> usize {
        self.queue.lock().len()
    }
}
