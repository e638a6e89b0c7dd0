//! One round of a job as a pure state machine: units in, "send unit u to worker w" out, results
//! and failures back in. It applies the capability filter, the routing policy, the in-flight
//! bound and the re-route budget; the agent ([`super::run`]) only makes the calls. No IO here.

use std::collections::VecDeque;

use serde_json::Value;
use troupe_runtime::AgentId;

use super::job::{SupervisorError, Unit, UnitReport};
use super::routing::{Routing, WorkerView};
use super::team::Failure;

/// What routing needs to know of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkerMeta {
    pub(crate) id: AgentId,
    pub(crate) group: String,
    pub(crate) capabilities: Vec<String>,
}

impl WorkerMeta {
    fn can_take(&self, unit: &Unit) -> bool {
        unit.capability
            .as_ref()
            .is_none_or(|c| self.capabilities.iter().any(|have| have == c))
    }
}

/// The bounds of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Units sent and not yet answered, at most.
    pub(crate) max_in_flight: usize,
    /// Re-routes per unit after a failed attempt, at most.
    pub(crate) max_reroutes: u32,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Send unit `unit` to worker `worker`.
    Send { unit: usize, worker: usize },
    /// Units are waiting but no eligible worker runs: wait for a restart (or a reply).
    Wait,
    /// Nothing to send now (all sent, or the in-flight bound is reached).
    Idle,
}

/// The state of one round.
#[derive(Debug)]
pub(crate) struct Dispatch {
    units: Vec<Unit>,
    pending: VecDeque<usize>,
    attempts: Vec<u32>,
    avoid: Vec<Option<usize>>,
    results: Vec<Option<Value>>,
    served_by: Vec<usize>,
    load: Vec<usize>,
    in_flight: usize,
    open: usize,
    limits: Limits,
    last_failure: Option<String>,
}

impl Dispatch {
    /// A round of `units` over `workers`. Fails before anything runs when a unit can never be
    /// routed (a capability nobody has; no capability under `by_capability`).
    pub(crate) fn new(
        units: Vec<Unit>,
        workers: &[WorkerMeta],
        limits: Limits,
        routing: &Routing,
    ) -> Result<Self, SupervisorError> {
        for (i, unit) in units.iter().enumerate() {
            match &unit.capability {
                None if matches!(routing, Routing::ByCapability) => {
                    return Err(SupervisorError::NoCapability { unit: i })
                }
                Some(c) if !workers.iter().any(|w| w.can_take(unit)) => {
                    let mut known: Vec<&str> = workers
                        .iter()
                        .flat_map(|w| w.capabilities.iter().map(String::as_str))
                        .collect();
                    known.sort_unstable();
                    known.dedup();
                    return Err(SupervisorError::NoCapableWorker {
                        unit: i,
                        capability: c.clone(),
                        known: known.join(", "),
                    });
                }
                _ => {}
            }
        }
        let n = units.len();
        Ok(Self {
            pending: (0..n).collect(),
            attempts: vec![0; n],
            avoid: vec![None; n],
            results: vec![None; n],
            served_by: vec![usize::MAX; n],
            load: vec![0; workers.len()],
            in_flight: 0,
            open: n,
            units,
            limits,
            last_failure: None,
        })
    }

    /// The input of unit `unit`.
    pub(crate) fn input(&self, unit: usize) -> &Value {
        &self.units[unit].input
    }

    /// The next step. `running(w)` says whether worker `w` runs now; `served` counts answers
    /// per worker; `cursor` is the routing turn, kept across rounds.
    pub(crate) fn next(
        &mut self,
        workers: &[WorkerMeta],
        running: &dyn Fn(usize) -> bool,
        served: &[u64],
        routing: &Routing,
        cursor: &mut usize,
    ) -> Result<Step, SupervisorError> {
        if self.in_flight >= self.limits.max_in_flight.max(1) || self.pending.is_empty() {
            return Ok(Step::Idle);
        }
        let mut views: Vec<WorkerView<'_>> = Vec::with_capacity(workers.len());
        for pos in 0..self.pending.len() {
            let u = self.pending[pos];
            let unit = &self.units[u];
            views.clear();
            views.extend(
                workers
                    .iter()
                    .enumerate()
                    .filter(|&(w, meta)| meta.can_take(unit) && running(w))
                    .map(|(w, meta)| WorkerView {
                        id: &meta.id,
                        group: &meta.group,
                        index: w,
                        capabilities: &meta.capabilities,
                        in_flight: self.load[w],
                        served: served.get(w).copied().unwrap_or(0),
                    }),
            );
            if let Some(avoid) = self.avoid[u] {
                if views.len() > 1 {
                    views.retain(|v| v.index != avoid);
                }
            }
            if views.is_empty() {
                continue;
            }
            let chosen = routing.choose(u, unit, &views, workers.len(), cursor)?;
            let w = views[chosen].index;
            self.pending.remove(pos);
            self.attempts[u] += 1;
            self.load[w] += 1;
            self.in_flight += 1;
            return Ok(Step::Send { unit: u, worker: w });
        }
        Ok(Step::Wait)
    }

    /// Worker `worker` answered unit `unit`.
    pub(crate) fn succeeded(&mut self, unit: usize, worker: usize, value: Value) {
        self.release(worker);
        if self.results[unit].is_none() {
            self.open -= 1;
        }
        self.results[unit] = Some(value);
        self.served_by[unit] = worker;
    }

    /// Worker `worker` failed unit `unit`: the unit goes back to the front of the queue (to
    /// another worker if there is one), or fails the round when its budget is spent or the
    /// failure cannot pass.
    pub(crate) fn failed(
        &mut self,
        unit: usize,
        worker: usize,
        workers: &[WorkerMeta],
        failure: &Failure,
    ) -> Result<(), SupervisorError> {
        self.release(worker);
        let worker_id = workers[worker].id.clone();
        self.last_failure = Some(format!(
            "unit {unit} on worker {worker_id}: {}",
            failure.text()
        ));
        if !failure.is_retryable() {
            return Err(SupervisorError::UnitRejected {
                unit,
                worker: worker_id,
                reason: failure.text().to_string(),
            });
        }
        if self.attempts[unit] > self.limits.max_reroutes {
            return Err(SupervisorError::UnitFailed {
                unit,
                attempts: self.attempts[unit],
                max_reroutes: self.limits.max_reroutes,
                last: failure.text().to_string(),
            });
        }
        self.avoid[unit] = Some(worker);
        self.pending.push_front(unit);
        Ok(())
    }

    fn release(&mut self, worker: usize) {
        self.load[worker] = self.load[worker].saturating_sub(1);
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Every unit is answered.
    pub(crate) fn is_finished(&self) -> bool {
        self.open == 0
    }

    /// The last failure seen, for error messages.
    pub(crate) fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }

    /// The results in unit order, and who served each unit.
    pub(crate) fn finish(self, workers: &[WorkerMeta]) -> (Vec<Value>, Vec<UnitReport>) {
        let reports = (0..self.units.len())
            .filter(|&u| self.served_by[u] != usize::MAX)
            .map(|u| UnitReport {
                unit: u,
                worker: workers[self.served_by[u]].id.clone(),
                attempts: self.attempts[u],
            })
            .collect();
        let results = self
            .results
            .into_iter()
            .map(|r| r.unwrap_or(Value::Null))
            .collect();
        (results, reports)
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
