//! Admission of new executions: limits per node (runs at once, tasks of those runs) and per
//! tenant (runs at once). A run over a tenant's limit is refused with 429, one the node has no
//! room for with 503; both say when to try again (`Retry-After`). A run admitted holds its
//! ticket until it ends, so an admitted run is never dropped for load: refusal happens
//! only at the door, before anything is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ApiError;
use crate::state::lock;

/// The limits; `None`: no limit. The default limits nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Executions this node drives at once (503 beyond).
    pub max_runs: Option<usize>,
    /// Executions one tenant has at once on this node (429 beyond). Callers without a tenant
    /// count as one tenant.
    pub max_runs_per_tenant: Option<usize>,
    /// Tasks of the executions admitted and not yet finished, summed (503 beyond): bounds the
    /// work queued on the node, whatever the size of each workflow.
    pub max_queued_tasks: Option<usize>,
    /// What `Retry-After` says when a run is refused.
    pub retry_after: Duration,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        Self {
            max_runs: None,
            max_runs_per_tenant: None,
            max_queued_tasks: None,
            retry_after: Duration::from_secs(1),
        }
    }
}

#[derive(Default)]
struct Load {
    runs: usize,
    tasks: usize,
    by_tenant: HashMap<String, usize>,
}

/// The node's admission state (shared by the requests of one [`crate::Service`]).
#[derive(Default)]
pub(crate) struct Admission {
    limits: Mutex<AdmissionLimits>,
    load: Arc<Mutex<Load>>,
}

/// An admitted run's share of the limits; dropping it (when the run ends) gives it back.
pub(crate) struct Ticket {
    load: Arc<Mutex<Load>>,
    tenant: String,
    tasks: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut load = lock(&self.load);
        load.runs = load.runs.saturating_sub(1);
        load.tasks = load.tasks.saturating_sub(self.tasks);
        if let Some(n) = load.by_tenant.get_mut(&self.tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                load.by_tenant.remove(&self.tenant);
            }
        }
    }
}

impl Admission {
    /// Replaces the limits (runs already admitted keep their tickets).
    pub(crate) fn set_limits(&self, limits: AdmissionLimits) {
        *lock(&self.limits) = limits;
    }

    /// Runs admitted and not finished, and their tasks.
    pub(crate) fn load(&self) -> (usize, usize) {
        let load = lock(&self.load);
        (load.runs, load.tasks)
    }

    /// Admits a run of `tasks` tasks for `tenant`, or says why not (429 or 503).
    pub(crate) fn admit(&self, tenant: Option<&str>, tasks: usize) -> Result<Ticket, ApiError> {
        let limits = lock(&self.limits).clone();
        let retry_after = limits.retry_after;
        let tenant = tenant.unwrap_or("").to_owned();
        let mut load = lock(&self.load);
        let mine = load.by_tenant.get(&tenant).copied().unwrap_or(0);
        if let Some(max) = limits.max_runs_per_tenant {
            if mine >= max {
                let who = match tenant.as_str() {
                    "" => "callers without a tenant have".to_string(),
                    t => format!("tenant {t:?} has"),
                };
                return Err(ApiError::TooManyRequests {
                    message: format!(
                        "{who} {mine} executions running, the limit per tenant on this node \
                         (--max-runs-per-tenant {max}); retry after {}s",
                        retry_after.as_secs().max(1)
                    ),
                    retry_after,
                });
            }
        }
        if let Some(max) = limits.max_runs {
            if load.runs >= max {
                return Err(ApiError::Overloaded {
                    message: format!(
                        "this node runs {} executions, its limit (--max-runs {max}); retry \
                         after {}s",
                        load.runs,
                        retry_after.as_secs().max(1)
                    ),
                    retry_after,
                });
            }
        }
        if let Some(max) = limits.max_queued_tasks {
            // A run bigger than the whole limit is still admitted on an idle node (else it
            // could never run); otherwise the node takes it only with room for all its tasks.
            if load.tasks > 0 && load.tasks + tasks > max {
                return Err(ApiError::Overloaded {
                    message: format!(
                        "this node has {} tasks of running executions and this one brings \
                         {tasks}: over its limit (--max-queued-tasks {max}); retry after {}s",
                        load.tasks,
                        retry_after.as_secs().max(1)
                    ),
                    retry_after,
                });
            }
        }
        load.runs += 1;
        load.tasks += tasks;
        *load.by_tenant.entry(tenant.clone()).or_insert(0) += 1;
        Ok(Ticket {
            load: self.load.clone(),
            tenant,
            tasks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(runs: usize, per_tenant: usize, tasks: usize) -> Admission {
        let a = Admission::default();
        a.set_limits(AdmissionLimits {
            max_runs: Some(runs),
            max_runs_per_tenant: Some(per_tenant),
            max_queued_tasks: Some(tasks),
            retry_after: Duration::from_secs(3),
        });
        a
    }

    #[test]
    fn a_tenant_over_its_share_gets_429_and_the_node_full_503() {
        let a = limits(3, 2, 100);
        let _a1 = a.admit(Some("a"), 1).unwrap();
        let _a2 = a.admit(Some("a"), 1).unwrap();
        let e = a.admit(Some("a"), 1).err().unwrap();
        assert_eq!(e.status().as_u16(), 429, "{e}");
        assert!(e.to_string().contains("tenant \"a\""), "{e}");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let _b1 = a.admit(Some("b"), 1).unwrap();
        let e = a.admit(Some("c"), 1).err().unwrap();
        assert_eq!(e.status().as_u16(), 503, "{e}");
        assert!(e.to_string().contains("--max-runs 3"), "{e}");
    }

    #[test]
    fn tickets_give_their_share_back_when_runs_end() {
        let a = limits(1, 1, 100);
        let t = a.admit(None, 4).unwrap();
        assert_eq!(a.load(), (1, 4));
        assert!(a.admit(None, 1).is_err());
        drop(t);
        assert_eq!(a.load(), (0, 0));
        assert!(a.admit(None, 1).is_ok());
    }

    #[test]
    fn queued_tasks_bound_the_node_but_an_idle_node_takes_a_big_run() {
        let a = limits(10, 10, 5);
        let big = a
            .admit(None, 8)
            .expect("an idle node takes a run bigger than the limit");
        let e = a.admit(None, 1).err().unwrap();
        assert_eq!(e.status().as_u16(), 503);
        assert!(e.to_string().contains("--max-queued-tasks 5"), "{e}");
        drop(big);
        let _three = a.admit(None, 3).unwrap();
        let _two = a.admit(None, 2).unwrap();
        assert!(a.admit(None, 1).is_err(), "5 of 5 tasks taken");
    }

    #[test]
    fn no_limits_admit_everything() {
        let a = Admission::default();
        let tickets: Vec<_> = (0..1000).map(|_| a.admit(Some("t"), 10).unwrap()).collect();
        assert_eq!(a.load(), (1000, 10_000));
        drop(tickets);
        assert_eq!(a.load(), (0, 0));
    }
}
