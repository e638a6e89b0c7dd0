//! The node's task scheduler: workflow pool calls become queued tasks; `task_slots` local
//! workers run them; idle nodes steal from busy ones; results are applied once per
//! idempotency key.
//!
//! * The node that accepted a task (its *owner*, where the workflow runs) keeps a waiter per
//!   key. A task lent to a thief is remembered with the thief's name; if the thief is declared
//!   down, the task goes back to the front of the owner's queue.
//! * A thief runs a stolen task and reports `TaskDone { key, result }`; the owner applies the
//!   first result for a key and ignores any later one.
//! * A node has one steal in flight at a time and asks for a batch: enough to keep its slots
//!   busy while the next steal travels (from the running averages of its task time and steal
//!   round trip; two rounds of its slots at least, [`MAX_STEAL`] at most). While it runs
//!   stolen tasks it steals the next batch before its queue runs dry. The victim gives at most
//!   half of what it can spare (see [`crate::stealing`]), so the last tasks of a workflow still
//!   spread over the idle nodes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::{oneshot, Notify};
use troupe_runtime::{AgentError, AgentId, BoxFuture, CallError, DispatchedCall, TaskDispatcher};

use super::Inner;
use crate::registry::NodeName;
use crate::stealing::{pick_for_thief, Queued};
use crate::wire::{Control, Msg, RemoteTask, WireError};

#[derive(Default)]
pub(crate) struct Scheduler {
    queue: Mutex<VecDeque<Queued>>,
    running: AtomicUsize,
    /// Owner side: key → the workflow's pending call.
    waiters: DashMap<String, oneshot::Sender<Result<Value, WireError>>>,
    /// Owner side: key → (thief, task) for tasks lent out.
    pub(crate) lent: DashMap<String, (NodeName, RemoteTask)>,
    /// Thief side: key → owner, for stolen tasks.
    origin: DashMap<String, NodeName>,
    wake: Notify,
    /// The peer that most recently said it has work to spare.
    hinted: Mutex<Option<NodeName>>,
    /// Hints received so far (idle workers re-check after a hint they might have missed).
    hints: std::sync::atomic::AtomicU64,
    /// When this node last told its peers it has work to spare.
    last_hint: Mutex<Option<tokio::time::Instant>>,
    /// Whether a hint held back by the rate limit is due.
    hint_pending: AtomicBool,
    /// Stolen tasks run here so far (for tests and stats).
    pub(crate) stolen: AtomicUsize,
    /// Tasks run here so far.
    pub(crate) executed: AtomicUsize,
    /// Whether a worker is asking peers for work right now (one steal in flight per node).
    stealing: AtomicBool,
    /// Running average of a task's execution time here, in ns (0: none run yet).
    task_ns: AtomicU64,
    /// Running average of a successful steal's round trip, in ns (0: none yet).
    steal_ns: AtomicU64,
}

/// How often a busy node tells its peers at most that it has work to spare.
const HINT_EVERY: Duration = Duration::from_millis(1);

/// The most tasks one steal asks for.
pub(crate) const MAX_STEAL: usize = 64;

/// Folds `sample` into a running average (weight 1/8; the first sample sets it).
fn average_in(avg: &AtomicU64, sample: Duration) {
    let sample = (sample.as_nanos() as u64).max(1);
    let _ = avg.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
        Some(if old == 0 {
            sample
        } else {
            (old * 7 + sample) / 8
        })
    });
}

impl Scheduler {
    fn push(&self, q: Queued, front: bool) {
        let mut queue = self.queue.lock();
        if front {
            queue.push_front(q);
        } else {
            queue.push_back(q);
        }
        drop(queue);
        self.wake.notify_one();
    }

    fn pop(&self) -> Option<Queued> {
        let mut queue = self.queue.lock();
        while let Some(q) = queue.pop_front() {
            // An own task whose caller is gone (timed out, or already answered) is dropped.
            if q.own && !self.waiters.contains_key(&q.task.key) {
                continue;
            }
            return Some(q);
        }
        None
    }

    /// Tasks queued here and not started.
    pub(crate) fn queued(&self) -> usize {
        self.queue.lock().len()
    }
}

/// The dispatcher a node installs in its runtime: pool calls of workflows become tasks.
pub(crate) struct NodeDispatcher(pub(crate) Weak<Inner>);

impl TaskDispatcher for NodeDispatcher {
    fn dispatch(&self, call: DispatchedCall) -> BoxFuture<'static, Result<Value, CallError>> {
        let inner = self.0.clone();
        Box::pin(async move {
            let key = AgentId::new(call.key.clone());
            let Some(inner) = inner.upgrade() else {
                return Err(CallError::AgentStopped { agent: key });
            };
            submit(&inner, call).await.map_err(|e| {
                e.to_call(&key).unwrap_or_else(|| CallError::Rejected {
                    agent: key.clone(),
                    error: AgentError::transient(e.to_string()),
                })
            })
        })
    }
}

/// Queues a task owned by this node and waits for its result (from here or a thief).
pub(crate) async fn submit(inner: &Arc<Inner>, call: DispatchedCall) -> Result<Value, WireError> {
    let task = RemoteTask {
        key: call.key.clone(),
        kind: call.kind,
        config: call.config,
        input: call.input,
        timeout_ms: call.timeout.map(|t| t.as_millis() as u64),
        affinity: None,
    };
    let (tx, rx) = oneshot::channel();
    let s = &inner.scheduler;
    s.waiters.insert(task.key.clone(), tx);
    s.push(Queued { task, own: true }, false);
    hint_if_busy(inner);
    // A deadline only as a guard: the attempt's own timeout is enforced where it runs.
    let limit = call.timeout.map_or(inner.config.call_timeout, |t| {
        t * 4 + Duration::from_secs(5)
    });
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(WireError::Unavailable {
            reason: "the task was dropped".into(),
        }),
        Err(_) => {
            s.waiters.remove(&call.key);
            s.lent.remove(&call.key);
            Err(WireError::Timeout {
                after_ms: limit.as_millis() as u64,
            })
        }
    }
}

/// Tells peers there is work to steal when this node cannot start everything it has queued:
/// at most once per [`HINT_EVERY`], and a hint held back by that limit is sent when the window
/// ends (so work queued just after a hint does not wait for idle peers' next poll).
fn hint_if_busy(inner: &Arc<Inner>) {
    let s = &inner.scheduler;
    let busy = s.queued() + s.running.load(Ordering::Relaxed) > inner.config.task_slots;
    if !busy {
        return;
    }
    let held_until = {
        let mut last = s.last_hint.lock();
        let now = tokio::time::Instant::now();
        match *last {
            Some(t) if now < t + HINT_EVERY => Some(t + HINT_EVERY),
            _ => {
                *last = Some(now);
                None
            }
        }
    };
    if let Some(at) = held_until {
        if !s.hint_pending.swap(true, Ordering::AcqRel) {
            let inner = Arc::downgrade(inner);
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                if let Some(inner) = inner.upgrade() {
                    inner.scheduler.hint_pending.store(false, Ordering::Release);
                    hint_if_busy(&inner);
                }
            });
        }
        return;
    }
    for peer in inner.transport.peers() {
        let id = inner.next_id();
        let _ = inner.transport.send(
            &peer,
            Msg::Control {
                id,
                op: Control::WorkAvailable,
            },
        );
    }
}

/// A peer has work to spare: wake the idle workers and steal from it first.
pub(crate) fn on_hint(inner: &Arc<Inner>, from: &NodeName) {
    *inner.scheduler.hinted.lock() = Some(from.clone());
    inner.scheduler.hints.fetch_add(1, Ordering::Release);
    inner.scheduler.wake.notify_waiters();
}

/// Applies a result for an own task: the first one per key wins.
fn complete(inner: &Inner, key: &str, result: Result<Value, WireError>) {
    inner.scheduler.lent.remove(key);
    if let Some((_, tx)) = inner.scheduler.waiters.remove(key) {
        let _ = tx.send(result);
    }
}

/// Starts the node's task workers.
pub(crate) fn start_workers(inner: &Arc<Inner>) {
    for slot in 0..inner.config.task_slots {
        tokio::spawn(worker(Arc::downgrade(inner), slot));
    }
}

async fn worker(inner: Weak<Inner>, slot: usize) {
    let mut idle_rounds = 0u32;
    loop {
        let Some(node) = inner.upgrade() else { return };
        if node.stopping.load(Ordering::Relaxed) {
            return;
        }
        if let Some(q) = node.scheduler.pop() {
            idle_rounds = 0;
            let s = &node.scheduler;
            if !q.own && s.queued() < node.config.task_slots && !s.stealing.load(Ordering::Relaxed)
            {
                // Running stolen work and about to run dry: fetch the next batch meanwhile.
                let node = node.clone();
                tokio::spawn(async move { steal(&node).await });
            }
            s.running.fetch_add(1, Ordering::Relaxed);
            let started = tokio::time::Instant::now();
            let result = execute(&node, slot, &q.task).await;
            average_in(&s.task_ns, started.elapsed());
            s.running.fetch_sub(1, Ordering::Relaxed);
            node.scheduler.executed.fetch_add(1, Ordering::Relaxed);
            deliver(&node, q, result);
            continue;
        }
        // Idle: steal a batch (unless another worker here is already asking), else wait for
        // work (or a hint that a peer has some).
        let hints = node.scheduler.hints.load(Ordering::Acquire);
        if steal(&node).await {
            idle_rounds = 0;
            continue;
        }
        if node.scheduler.hints.load(Ordering::Acquire) != hints {
            // A peer said it has work while we were asking around: ask again now.
            idle_rounds = 0;
            continue;
        }
        idle_rounds = (idle_rounds + 1).min(5);
        let pause = Duration::from_millis(5 << idle_rounds);
        let wake = node.scheduler.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        if node.scheduler.hints.load(Ordering::Acquire) != hints || node.scheduler.queued() > 0 {
            continue;
        }
        let _ = tokio::time::timeout(pause, wake).await;
    }
}

/// Runs a task on a local executor agent of its kind (one per worker slot, kind and config).
async fn execute(inner: &Arc<Inner>, slot: usize, task: &RemoteTask) -> Result<Value, WireError> {
    let config_hash = crate::placement::stable_hash(&task.kind, &task.config.to_string());
    let id = format!("task-exec/{}/{config_hash:016x}/{slot}", task.kind);
    let agent = match inner.rt.dyn_agent(&id) {
        Ok(a) => a,
        Err(_) => inner
            .rt
            .spawn_kind(&task.kind, id.as_str(), task.config.clone())
            .await
            .map_err(|e| WireError::Activation {
                reason: e.to_string(),
            })?,
    };
    let timeout = task.timeout_ms.map(Duration::from_millis);
    agent
        .ask_value(task.input.clone(), timeout)
        .await
        .map_err(|e| WireError::from_call(&e))
}

fn deliver(inner: &Arc<Inner>, q: Queued, result: Result<Value, WireError>) {
    if q.own {
        complete(inner, &q.task.key, result);
        return;
    }
    if let Some((_, owner)) = inner.scheduler.origin.remove(&q.task.key) {
        let id = inner.next_id();
        let op = Control::TaskDone {
            key: q.task.key,
            result,
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            super::inbound::reply(&inner, &owner, Msg::Control { id, op }).await;
        });
    }
}

/// Asks peers for a batch of tasks, the one that last hinted it has work first, then the
/// others in a random order, until one gives some. Returns whether tasks were queued here
/// (false too when another worker of this node is already asking).
async fn steal(inner: &Arc<Inner>) -> bool {
    if inner.config.kinds.as_ref().is_some_and(Vec::is_empty) {
        return false;
    }
    let s = &inner.scheduler;
    if s.stealing.swap(true, Ordering::AcqRel) {
        return false;
    }
    let got = steal_batch(inner).await;
    s.stealing.store(false, Ordering::Release);
    got
}

/// How many tasks a node asks for: enough rounds of its slots to cover a steal's round trip
/// (at least two rounds; `task_ns`/`steal_ns` are running averages, 0 when unknown), less what
/// it already has queued or running; at least 1, at most [`MAX_STEAL`].
fn batch_wanted(slots: usize, queued: usize, running: usize, task_ns: u64, steal_ns: u64) -> u32 {
    let rounds = if task_ns == 0 || steal_ns == 0 {
        2
    } else {
        (steal_ns.div_ceil(task_ns) as usize + 1).clamp(2, MAX_STEAL)
    };
    (slots.saturating_mul(rounds))
        .saturating_sub(queued + running)
        .clamp(1, MAX_STEAL) as u32
}

async fn steal_batch(inner: &Arc<Inner>) -> bool {
    let mut peers: Vec<NodeName> = inner
        .transport
        .peers()
        .into_iter()
        .filter(|p| inner.is_live(p))
        .collect();
    if peers.is_empty() {
        return false;
    }
    fastrand::shuffle(&mut peers);
    if let Some(h) = inner.scheduler.hinted.lock().clone() {
        if let Some(pos) = peers.iter().position(|p| *p == h) {
            peers.swap(0, pos);
        }
    }
    for victim in peers {
        let s = &inner.scheduler;
        let max = batch_wanted(
            inner.config.task_slots,
            s.queued(),
            s.running.load(Ordering::Relaxed),
            s.task_ns.load(Ordering::Relaxed),
            s.steal_ns.load(Ordering::Relaxed),
        );
        let id = inner.next_id();
        let op = Control::Steal { max };
        let asked = tokio::time::Instant::now();
        let Ok(answer) = inner
            .request(
                &victim,
                id,
                Msg::Control { id, op },
                Some(Duration::from_secs(2)),
            )
            .await
        else {
            continue;
        };
        let tasks = serde_json::from_value::<Vec<RemoteTask>>(answer).unwrap_or_default();
        if tasks.is_empty() {
            let mut hinted = inner.scheduler.hinted.lock();
            if hinted.as_ref() == Some(&victim) {
                *hinted = None;
            }
            continue;
        }
        average_in(&s.steal_ns, asked.elapsed());
        for task in tasks {
            inner
                .scheduler
                .origin
                .insert(task.key.clone(), victim.clone());
            inner.scheduler.stolen.fetch_add(1, Ordering::Relaxed);
            inner.scheduler.push(Queued { task, own: false }, false);
        }
        return true;
    }
    false
}

/// Victim side of a steal: hand over up to `max` own tasks the thief can run.
pub(crate) fn on_steal(inner: &Arc<Inner>, thief: &NodeName, max: u32) -> Value {
    let thief_kinds = inner
        .members
        .read()
        .get(thief)
        .map(|m| m.meta.kinds.clone());
    let Some(thief_kinds) = thief_kinds else {
        return Value::Array(Vec::new());
    };
    let s = &inner.scheduler;
    let free_here = inner
        .config
        .task_slots
        .saturating_sub(s.running.load(Ordering::Relaxed));
    let registry = inner.registry.lock();
    let mut queue = s.queue.lock();
    let picked = pick_for_thief(
        &queue,
        max as usize,
        free_here,
        |kind| {
            thief_kinds
                .as_ref()
                .is_none_or(|k| k.iter().any(|x| x == kind))
        },
        |agent| {
            registry
                .winner(agent)
                .is_some_and(|slot| slot.is_active_on(thief))
        },
    );
    let mut given = Vec::with_capacity(picked.len());
    for i in picked.into_iter().rev() {
        if let Some(q) = queue.remove(i) {
            s.lent
                .insert(q.task.key.clone(), (thief.clone(), q.task.clone()));
            given.push(q.task);
        }
    }
    given.reverse();
    serde_json::to_value(given).unwrap_or(Value::Array(Vec::new()))
}

/// Owner side: a thief finished a lent task.
pub(crate) fn on_task_done(
    inner: &Arc<Inner>,
    from: &NodeName,
    key: &str,
    result: Result<Value, WireError>,
) {
    let lent_to_sender = inner
        .scheduler
        .lent
        .get(key)
        .is_some_and(|e| &e.value().0 == from);
    if lent_to_sender {
        complete(inner, key, result);
    }
}

/// A member went down: take back what was lent to it, forget what was stolen from it.
pub(crate) fn on_member_down(inner: &Arc<Inner>, node: &NodeName) {
    let s = &inner.scheduler;
    let back: Vec<String> = s
        .lent
        .iter()
        .filter(|e| &e.value().0 == node)
        .map(|e| e.key().clone())
        .collect();
    for key in back {
        if let Some((_, (_, task))) = s.lent.remove(&key) {
            tracing::info!(target: "troupe::cluster", node = %inner.name, %key, down = %node,
                "re-queued a task lent to a node that went down");
            s.push(Queued { task, own: true }, true);
        }
    }
    s.origin.retain(|_, owner| owner != node);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::{average_in, batch_wanted, MAX_STEAL};

    #[test]
    fn a_node_asks_for_two_rounds_of_its_slots_less_what_it_has_when_times_are_unknown() {
        assert_eq!(batch_wanted(4, 0, 0, 0, 0), 8);
        assert_eq!(batch_wanted(4, 2, 3, 0, 0), 3);
        assert_eq!(batch_wanted(4, 10, 0, 0, 0), 1);
        assert_eq!(batch_wanted(1, 0, 0, 0, 100), 2);
    }

    #[test]
    fn short_tasks_and_slow_steals_make_bigger_batches_up_to_the_cap() {
        // Tasks as long as a steal: two rounds.
        assert_eq!(batch_wanted(4, 0, 0, 1_000, 1_000), 8);
        // A steal costs ten tasks: eleven rounds of the slots.
        assert_eq!(batch_wanted(2, 0, 0, 10_000, 100_000), 22);
        assert_eq!(batch_wanted(2, 5, 1, 10_000, 100_000), 16);
        // Very short tasks: capped.
        assert_eq!(batch_wanted(4, 0, 0, 1, 1_000_000), MAX_STEAL as u32);
        // Long tasks: two rounds still.
        assert_eq!(batch_wanted(4, 0, 0, 1_000_000_000, 100_000), 8);
    }

    #[test]
    fn running_averages_start_at_the_first_sample_and_move_by_an_eighth() {
        let avg = AtomicU64::new(0);
        average_in(&avg, Duration::from_nanos(800));
        assert_eq!(avg.load(Ordering::Relaxed), 800);
        average_in(&avg, Duration::from_nanos(1_600));
        assert_eq!(avg.load(Ordering::Relaxed), 900);
    }
}
