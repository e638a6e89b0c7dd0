//! Routing policies: which of the candidate workers takes a unit. Pure: no IO, no tokio.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use troupe_runtime::AgentId;

use super::job::{SupervisorError, Unit};

/// A worker as a routing decision sees it.
#[derive(Debug, Clone, Copy)]
pub struct WorkerView<'a> {
    /// The worker agent's id (`<pattern id>/<group>/<i>`).
    pub id: &'a AgentId,
    /// Its member group.
    pub group: &'a str,
    /// Its position among all the team's workers (groups in name order).
    pub index: usize,
    /// Its group's capabilities.
    pub capabilities: &'a [String],
    /// Units of the current job it is serving now.
    pub in_flight: usize,
    /// Units it has answered since the pattern agent started.
    pub served: u64,
}

/// A user routing function: given a unit and the candidate workers (capable, running, never
/// empty), the position in that slice of the worker to use. Rust only: not available from
/// config.
pub type RouteFn = Arc<dyn Fn(&Unit, &[WorkerView<'_>]) -> usize + Send + Sync>;

/// How the coordinator picks a worker for a unit. Whatever the policy, a unit that names a
/// capability only ever goes to workers whose group lists it.
#[derive(Clone, Default)]
pub enum Routing {
    /// Workers in turn (skipping the ineligible).
    #[default]
    RoundRobin,
    /// The worker with the fewest units in flight (ties in turn).
    LeastLoaded,
    /// Every unit must name a capability; the least-loaded capable worker takes it.
    ByCapability,
    /// A user function ([`RouteFn`]).
    Custom(RouteFn),
}

impl Routing {
    /// A routing policy from a function.
    pub fn custom(f: impl Fn(&Unit, &[WorkerView<'_>]) -> usize + Send + Sync + 'static) -> Self {
        Self::Custom(Arc::new(f))
    }

    /// The policy's config name (`custom` for a function).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::LeastLoaded => "least_loaded",
            Self::ByCapability => "by_capability",
            Self::Custom(_) => "custom",
        }
    }

    /// Picks among `candidates` (worker indices, not empty) for unit number `unit_index`;
    /// returns a position in `candidates`. `load` is each worker's units in flight, `view`
    /// describes a worker (built only for a custom router), `cursor` is the turn order's
    /// position (a worker index), kept across jobs.
    pub(crate) fn choose<'a>(
        &self,
        unit_index: usize,
        unit: &Unit,
        candidates: &[usize],
        load: &[usize],
        view: impl Fn(usize) -> WorkerView<'a>,
        cursor: &mut usize,
    ) -> Result<usize, SupervisorError> {
        let n = load.len().max(1);
        let turn = |w: usize| (w + n - *cursor % n) % n;
        let chosen = match self {
            Self::RoundRobin => (0..candidates.len()).min_by_key(|&i| turn(candidates[i])),
            Self::LeastLoaded | Self::ByCapability => {
                (0..candidates.len()).min_by_key(|&i| (load[candidates[i]], turn(candidates[i])))
            }
            Self::Custom(f) => {
                let views: Vec<WorkerView<'a>> = candidates.iter().map(|&w| view(w)).collect();
                let chosen = f(unit, &views);
                if chosen >= candidates.len() {
                    return Err(SupervisorError::BadRoute {
                        unit: unit_index,
                        chosen,
                        candidates: candidates.len(),
                    });
                }
                Some(chosen)
            }
        };
        let chosen = chosen.unwrap_or(0);
        *cursor = candidates[chosen] + 1;
        Ok(chosen)
    }
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A routing policy by name, for configs (`custom` is Rust only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingName {
    /// [`Routing::RoundRobin`].
    #[default]
    RoundRobin,
    /// [`Routing::LeastLoaded`].
    LeastLoaded,
    /// [`Routing::ByCapability`].
    ByCapability,
}

impl From<RoutingName> for Routing {
    fn from(name: RoutingName) -> Routing {
        match name {
            RoutingName::RoundRobin => Routing::RoundRobin,
            RoutingName::LeastLoaded => Routing::LeastLoaded,
            RoutingName::ByCapability => Routing::ByCapability,
        }
    }
}
