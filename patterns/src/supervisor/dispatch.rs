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

/// What a round knows of one unit.
#[derive(Debug, Clone, Default)]
struct Slot {
    attempts: u32,
    avoid: Option<usize>,
    result: Option<Value>,
    served_by: Option<usize>,
}

/// The state of one round.
#[derive(Debug)]
pub(crate) struct Dispatch {
    units: Vec<Unit>,
    slots: Vec<Slot>,
    pending: VecDeque<usize>,
    load: Vec<usize>,
    candidates: Vec<usize>,
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
            slots: vec![Slot::default(); n],
            pending: (0..n).collect(),
            load: vec![0; workers.len()],
            candidates: Vec::with_capacity(workers.len()),
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

    /// The next step. `running(w)` says whether worker `w` can take a unit now; `served`
    /// counts answers per worker; `cursor` is the routing turn, kept across rounds.
    pub(crate) fn next(
        &mut self,
        workers: &[WorkerMeta],
        running: &dyn Fn(usize) -> bool,
        served: &[u64],
        routing: &Routing,
        cursor: &mut usize,
    ) -> Result<Step, SupervisorError> {
        if self.in_flight >= self.limits.max_in_flight.max(1) {
            return Ok(Step::Idle);
        }
        for pos in 0..self.pending.len() {
            let u = self.pending[pos];
            let unit = &self.units[u];
            self.candidates.clear();
            self.candidates
                .extend((0..workers.len()).filter(|&w| workers[w].can_take(unit) && running(w)));
            if let Some(avoid) = self.slots[u].avoid {
                if self.candidates.len() > 1 {
                    self.candidates.retain(|&w| w != avoid);
                }
            }
            if self.candidates.is_empty() {
                continue;
            }
            let load = &self.load;
            let view = |w: usize| WorkerView {
                id: &workers[w].id,
                group: &workers[w].group,
                index: w,
                capabilities: &workers[w].capabilities,
                in_flight: load[w],
                served: served.get(w).copied().unwrap_or(0),
            };
            let chosen = routing.choose(u, unit, &self.candidates, load, view, cursor)?;
            let w = self.candidates[chosen];
            self.pending.remove(pos);
            self.slots[u].attempts += 1;
            self.load[w] += 1;
            self.in_flight += 1;
            return Ok(Step::Send { unit: u, worker: w });
        }
        Ok(if self.pending.is_empty() {
            Step::Idle
        } else {
            Step::Wait
        })
    }

    /// A waiting unit that none of the workers still `present` can take, if any.
    pub(crate) fn stranded(
        &self,
        workers: &[WorkerMeta],
        present: &dyn Fn(usize) -> bool,
    ) -> Option<usize> {
        self.pending.iter().copied().find(|&u| {
            !(0..workers.len()).any(|w| present(w) && workers[w].can_take(&self.units[u]))
        })
    }

    /// Worker `worker` answered unit `unit`.
    pub(crate) fn succeeded(&mut self, unit: usize, worker: usize, value: Value) {
        self.release(worker);
        let slot = &mut self.slots[unit];
        if slot.result.is_none() {
            self.open -= 1;
        }
        slot.result = Some(value);
        slot.served_by = Some(worker);
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
        let slot = &mut self.slots[unit];
        if slot.attempts > self.limits.max_reroutes {
            return Err(SupervisorError::UnitFailed {
                unit,
                attempts: slot.attempts,
                max_reroutes: self.limits.max_reroutes,
                last: failure.text().to_string(),
            });
        }
        slot.avoid = Some(worker);
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

    /// The results in unit order, and (when `report`) who served each unit.
    pub(crate) fn finish(
        self,
        workers: &[WorkerMeta],
        report: bool,
    ) -> (Vec<Value>, Vec<UnitReport>) {
        let reports = if report {
            (self.slots.iter().enumerate())
                .filter_map(|(u, slot)| {
                    slot.served_by.map(|w| UnitReport {
                        unit: u,
                        worker: workers[w].id.clone(),
                        attempts: slot.attempts,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let results = self
            .slots
            .into_iter()
            .map(|slot| slot.result.unwrap_or(Value::Null))
            .collect();
        (results, reports)
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod tests;
