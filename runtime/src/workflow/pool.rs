//! An agent pool: `count` agents of one kind, calls routed to the least-loaded one, behind an
//! optional circuit breaker. Calls beyond what the members can take at once wait in the
//! pool's queue, higher task priority first ([`super::pool_gate`]); a remote pool's calls
//! carry their priority and tenant to the dispatcher's queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use crate::agent::DynAgentRef;
use crate::error::CallError;
use crate::events::{EventBus, EventKind};
use crate::ids::RunId;
use crate::policy::{CircuitBreaker, CircuitBreakerConfig, CircuitTransition};

/// Where a remote pool sends its calls.
pub(crate) struct Remote {
    pub(crate) dispatcher: std::sync::Arc<dyn super::TaskDispatcher>,
    pub(crate) kind: String,
    pub(crate) config: Value,
    /// What each agent of the pool needs (its `resources`).
    pub(crate) resources: Option<super::resources::Resources>,
}

/// Agents of one kind serving one workflow run (local members, or a dispatcher).
pub(crate) struct Pool {
    name: String,
    remote: Option<Remote>,
    members: Vec<DynAgentRef>,
    in_flight: Vec<AtomicUsize>,
    next: AtomicUsize,
    breaker: Option<Mutex<CircuitBreaker>>,
    /// Where call latencies go (`troupe_agent_call_duration_seconds{kind, outcome}`).
    metrics: Option<crate::metrics::Metrics>,
    events: EventBus,
    run: RunId,
    /// The run's tenant, for fair sharing of queues.
    tenant: Option<std::sync::Arc<str>>,
    gate: super::pool_gate::PoolGate,
}

impl Pool {
    pub(crate) fn new(
        name: String,
        members: Vec<DynAgentRef>,
        breaker: Option<CircuitBreakerConfig>,
        events: EventBus,
        run: RunId,
    ) -> Self {
        let in_flight = members.iter().map(|_| AtomicUsize::new(0)).collect();
        let gate = super::pool_gate::PoolGate::new(members.len());
        Self {
            tenant: None,
            gate,
            name,
            remote: None,
            members,
            in_flight,
            next: AtomicUsize::new(0),
            breaker: breaker.map(|c| Mutex::new(CircuitBreaker::new(c))),
            metrics: None,
            events,
            run,
        }
    }

    /// Records the latency of its calls in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Option<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Says whose run the pool serves (for fair sharing between tenants).
    pub(crate) fn with_tenant(mut self, tenant: Option<std::sync::Arc<str>>) -> Self {
        self.tenant = tenant;
        self
    }

    /// A pool whose calls go to a dispatcher (no local members).
    pub(crate) fn remote(
        name: String,
        remote: Remote,
        breaker: Option<CircuitBreakerConfig>,
        events: EventBus,
        run: RunId,
    ) -> Self {
        let mut pool = Self::new(name, Vec::new(), breaker, events, run);
        pool.remote = Some(remote);
        pool
    }

    /// Calls one agent of the pool: the one with the fewest calls in flight (ties broken round
    /// robin), or hands the call to the dispatcher. `key` identifies the call for idempotency;
    /// `priority` (0–9) orders it among the calls waiting for a member.
    pub(crate) async fn call(
        &self,
        request: Value,
        timeout: Option<Duration>,
        key: String,
        priority: u8,
    ) -> Result<Value, CallError> {
        if let Some(b) = &self.breaker {
            if let Err(retry_in) = b.lock().try_acquire(Instant::now()) {
                return Err(CallError::CircuitOpen {
                    pool: self.name.clone(),
                    retry_in,
                });
            }
        }
        let started = Instant::now();
        let kind: &str;
        let result = match &self.remote {
            Some(r) => {
                kind = &r.kind;
                let call = super::DispatchedCall {
                    key,
                    pool: self.name.clone(),
                    kind: r.kind.clone(),
                    config: r.config.clone(),
                    input: request,
                    timeout,
                    resources: r.resources,
                    priority,
                    tenant: self.tenant.as_deref().map(str::to_owned),
                };
                let span = tracing::info_span!("agent_call", pool = %self.name, kind = %r.kind);
                tracing::Instrument::instrument(r.dispatcher.dispatch(call), span).await
            }
            None => {
                kind = self.members[0].kind();
                self.call_member(request, timeout, &key, priority).await
            }
        };
        if let Some(m) = &self.metrics {
            let outcome = if result.is_ok() { "ok" } else { "error" };
            m.observe_seconds(
                "troupe_agent_call_duration_seconds",
                &[("kind", kind.to_string()), ("outcome", outcome.to_string())],
                started.elapsed(),
            );
        }
        if let Some(b) = &self.breaker {
            let transition = match &result {
                Ok(_) => b.lock().on_success(),
                Err(_) => b.lock().on_failure(Instant::now()),
            };
            match transition {
                Some(CircuitTransition::Opened) => self.emit(EventKind::CircuitOpened {
                    pool: self.name.clone(),
                }),
                Some(CircuitTransition::Closed) => self.emit(EventKind::CircuitClosed {
                    pool: self.name.clone(),
                }),
                None => {}
            }
        }
        result
    }

    /// Waits for a place in the pool (by priority), then asks the least-loaded member.
    /// Waiting for the place counts against `timeout`.
    async fn call_member(
        &self,
        request: Value,
        timeout: Option<Duration>,
        key: &str,
        priority: u8,
    ) -> Result<Value, CallError> {
        let started = Instant::now();
        let enter = self.gate.enter(priority, self.tenant.as_deref());
        let (_place, left) = match timeout {
            None => (enter.await, None),
            Some(t) => match tokio::time::timeout(t, enter).await {
                Ok(place) => (place, Some(t.saturating_sub(started.elapsed()))),
                Err(_) => {
                    return Err(CallError::Timeout {
                        agent: crate::ids::AgentId::new(format!("{}/{}", self.run, self.name)),
                        after: t,
                    })
                }
            },
        };
        let i = self.pick();
        self.in_flight[i].fetch_add(1, Ordering::Relaxed);
        let member = &self.members[i];
        let span = tracing::info_span!("agent_call", agent = %member.id(), kind = member.kind());
        let call = member.ask_value_keyed(request, key, left);
        let result = tracing::Instrument::instrument(call, span).await;
        self.in_flight[i].fetch_sub(1, Ordering::Relaxed);
        // A timeout names the attempt's deadline, not what was left of it after the wait.
        result.map_err(|e| match (e, timeout) {
            (CallError::Timeout { agent, .. }, Some(after)) => CallError::Timeout { agent, after },
            (e, _) => e,
        })
    }

    fn pick(&self) -> usize {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut best = start;
        let mut best_load = usize::MAX;
        for k in 0..n {
            let i = (start + k) % n;
            let load = self.in_flight[i].load(Ordering::Relaxed);
            if load < best_load {
                best = i;
                best_load = load;
                if load == 0 {
                    break;
                }
            }
        }
        best
    }

    fn emit(&self, kind: EventKind) {
        self.events.emit(Some(&self.run), None, None, kind);
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
