//! The node's task scheduler: workflow pool calls become queued tasks; `task_slots` local
//! workers run them; idle nodes steal from busy ones; results are applied once per
//! idempotency key.
//!
//! * The node that accepted a task (its *owner*, where the workflow runs) keeps a waiter per
//!   key. A task lent to a thief is remembered with the thief's name; if the thief is declared
//!   down, the task goes back to the front of the owner's queue.
//! * A thief runs a stolen task and reports `TaskDone { key, result }`; the owner applies the
//!   first result for a key and ignores any later one.
//! * A node has one steal in flight at a time and asks for a batch (sizes, order and hints
//!   are decided by [`super::core::tasks`]); the victim gives at most half of what it can
//!   spare (see [`crate::stealing`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use troupe_runtime::{AgentError, AgentId, BoxFuture, CallError, DispatchedCall, TaskDispatcher};

use super::core::tasks::{self as decide, Hint, Outcome};
use super::state::{self, Inner};
use crate::registry::NodeName;
use crate::stealing::{pick_for_thief, Queued};
use crate::wire::{Control, ControlReply, Msg, RemoteTask, WireError};

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
        need: call
            .resources
            .map(crate::packing::Need::from)
            .filter(|n| !n.is_nothing() && declares_resources(inner)),
        priority: call.priority,
        tenant: call.tenant,
    };
    if let Some(need) = &task.need {
        if !placeable(inner, need) {
            return Err(WireError::Unavailable {
                reason: format!(
                    "pool {:?} needs {need} per agent, and no live node offers that",
                    call.pool
                ),
            });
        }
    }
    let s = &inner.scheduler;
    let rx = s.expect(&task.key);
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
            s.forget(&call.key);
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
    if !decide::busy(s.queued(), s.running(), inner.config.task_slots) {
        return;
    }
    let hint = s.hint_limiter.lock().on_busy(state::now());
    match hint {
        Hint::Nothing => {}
        Hint::Later(at) => {
            let inner = Arc::downgrade(inner);
            tokio::spawn(async move {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                if let Some(inner) = inner.upgrade() {
                    inner.scheduler.hint_limiter.lock().on_timer();
                    hint_if_busy(&inner);
                }
            });
        }
        Hint::SendNow => {
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
    }
}

/// A peer has work to spare: wake the idle workers and steal from it first.
pub(crate) fn on_hint(inner: &Arc<Inner>, from: &NodeName) {
    *inner.scheduler.hinted.lock() = Some(from.clone());
    wake_idle(inner);
}

/// Wakes the idle workers (and makes one that is asking around right now ask again).
fn wake_idle(inner: &Inner) {
    inner.scheduler.wake_idle();
}

/// A peer linked ([`crate::node::core::Command::ShareWork`]): idle workers ask it too, and it
/// is told if this node has work to spare.
pub(crate) fn on_link_up(inner: &Arc<Inner>, peer: &NodeName) {
    tracing::trace!(target: "troupe::cluster", node = %inner.name, %peer, "share work");
    wake_idle(inner);
    hint_if_busy(inner);
}

/// Answers the workflow's call for an own task (the core's ledger decided the result is the
/// first for its key).
fn complete(inner: &Inner, key: &str, result: Result<Value, WireError>) {
    inner.scheduler.answer(key, result);
}

/// Starts the node's task workers.
pub(crate) fn start_workers(inner: &Arc<Inner>) {
    for slot in 0..inner.config.task_slots {
        tokio::spawn(worker(Arc::downgrade(inner), slot));
    }
}

async fn worker(inner: Weak<Inner>, slot: usize) {
    loop {
        let Some(node) = inner.upgrade() else { return };
        if node.stopping.load(Ordering::Relaxed) {
            return;
        }
        if let Some(q) = node.scheduler.pop() {
            let s = &node.scheduler;
            if decide::prefetch(q.own, s.queued(), node.config.task_slots, s.is_stealing()) {
                // Running stolen work and about to run dry: fetch the next batch meanwhile.
                let node = node.clone();
                tokio::spawn(async move { steal(&node).await });
            }
            s.task_started();
            let started = tokio::time::Instant::now();
            let result = execute(&node, slot, &q.task).await;
            s.task_finished(started.elapsed());
            deliver(&node, q, result);
            continue;
        }
        // Idle: steal a batch (unless another worker here is already asking), else wait to
        // be told of work: queued here, hinted by a peer, or a new peer linked
        // ([`decide::IDLE_RECHECK`] bounds the wait for what no event reports).
        let hints = node.scheduler.hints();
        if steal(&node).await {
            continue;
        }
        if node.scheduler.hints() != hints {
            // A peer said it has work while we were asking around: ask again now.
            continue;
        }
        let wake = node.scheduler.wake.notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        if node.scheduler.hints() != hints || node.scheduler.runnable() {
            continue;
        }
        let _ = tokio::time::timeout(decide::IDLE_RECHECK, wake).await;
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
        inner.scheduler.ledger.lock().settled(&q.task.key);
        complete(inner, &q.task.key, result);
        return;
    }
    let owner = inner.scheduler.ledger.lock().finished(&q.task.key);
    if let Some(owner) = owner {
        let id = inner.next_id();
        let op = Control::TaskDone {
            key: q.task.key,
            result,
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            inner.reply(&owner, Msg::Control { id, op }).await;
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
    if !s.begin_steal() {
        return false;
    }
    let got = steal_batch(inner).await;
    s.end_steal();
    got
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
    let hinted = inner.scheduler.hinted.lock().clone();
    for victim in decide::steal_order(peers, hinted.as_ref()) {
        let s = &inner.scheduler;
        let max = decide::batch_wanted(
            inner.config.task_slots,
            s.queued(),
            s.running(),
            s.task_ns(),
            s.steal_ns(),
        );
        let op = Control::Steal { max };
        let asked = tokio::time::Instant::now();
        let tasks = match inner
            .request_control(&victim, op, Some(Duration::from_secs(2)))
            .await
        {
            Ok(ControlReply::Tasks { tasks }) => tasks,
            Ok(other) => {
                tracing::debug!(target: "troupe::cluster", %victim,
                    "a steal was answered with {}", other.name());
                continue;
            }
            Err(_) => continue,
        };
        if tasks.is_empty() {
            let mut hinted = inner.scheduler.hinted.lock();
            if hinted.as_ref() == Some(&victim) {
                *hinted = None;
            }
            continue;
        }
        let took = asked.elapsed();
        {
            let mut ledger = s.ledger.lock();
            for task in &tasks {
                ledger.stolen(&task.key, &victim);
            }
        }
        s.stole(tasks.len(), took);
        for task in tasks {
            s.push(Queued { task, own: false }, false);
        }
        return true;
    }
    false
}

/// Victim side of a steal: hand over up to `max` own tasks the thief can run. If this node
/// still has work to spare after that, it tells its peers (idle ones wait to be told).
pub(crate) fn on_steal(inner: &Arc<Inner>, thief: &NodeName, max: u32) -> Vec<RemoteTask> {
    let tasks = lend(inner, thief, max);
    if !tasks.is_empty() {
        hint_if_busy(inner);
    }
    tasks
}

fn lend(inner: &Arc<Inner>, thief: &NodeName, max: u32) -> Vec<RemoteTask> {
    let thief_meta = inner.members.read().get(thief).map(|m| m.meta.clone());
    let Some(crate::membership::NodeMeta {
        kinds: thief_kinds,
        resources: thief_resources,
        ..
    }) = thief_meta
    else {
        return Vec::new();
    };
    let s = &inner.scheduler;
    // The victim keeps tasks for its idle slots only among those it can run itself.
    let runnable_here = s
        .queue
        .lock()
        .as_deque()
        .iter()
        .filter(|q| q.own && s.runs_here(&q.task))
        .count();
    let free_here = inner
        .config
        .task_slots
        .saturating_sub(s.running())
        .min(runnable_here);
    let registry = inner.registry.lock();
    let mut queue = s.queue.lock();
    let picked = pick_for_thief(
        queue.as_deque(),
        max as usize,
        free_here,
        |task| {
            thief_kinds
                .as_ref()
                .is_none_or(|k| k.iter().any(|x| x == &task.kind))
                && task
                    .need
                    .as_ref()
                    .is_none_or(|need| crate::packing::fits(thief_resources.as_ref(), need))
        },
        |agent| {
            registry
                .winner(agent)
                .is_some_and(|slot| slot.is_active_on(thief))
        },
    );
    let mut ledger = s.ledger.lock();
    queue
        .take(picked)
        .into_iter()
        .map(|q| {
            ledger.lend(thief, &q.task);
            q.task
        })
        .collect()
}

/// Owner side: a thief finished a lent task.
pub(crate) fn on_task_done(
    inner: &Arc<Inner>,
    from: &NodeName,
    key: &str,
    result: Result<Value, WireError>,
) {
    let outcome = inner.scheduler.ledger.lock().result_from(from, key);
    if outcome == Outcome::Apply {
        complete(inner, key, result);
    }
}

/// A member went down: take back what was lent to it, forget what was stolen from it.
pub(crate) fn on_member_down(inner: &Arc<Inner>, node: &NodeName) {
    let s = &inner.scheduler;
    let back = s.ledger.lock().member_down(node);
    let requeued = !back.is_empty();
    for task in back.into_iter().rev() {
        tracing::info!(target: "troupe::cluster", node = %inner.name, key = %task.key,
            down = %node, "re-queued a task lent to a node that went down");
        s.push(Queued { task, own: true }, true);
    }
    if requeued {
        hint_if_busy(inner);
    }
}

/// Whether a live member declares resources (a cluster where none does runs every pool
/// anywhere, as before resources were checked).
fn declares_resources(inner: &Inner) -> bool {
    inner
        .members
        .read()
        .live()
        .any(|m| m.meta.resources.is_some())
}

/// Whether a live member that runs tasks offers what `need` asks for.
fn placeable(inner: &Inner, need: &crate::packing::Need) -> bool {
    inner
        .members
        .read()
        .live()
        .any(|m| crate::packing::fits(m.meta.resources.as_ref(), need))
}
