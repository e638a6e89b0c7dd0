//! The supervisor pattern (`pattern.supervisor`): a coordinator agent routes each unit of a
//! job to one of its workers, collects the results in unit order, and may iterate.
//!
//! The workers are the coordinator's supervised team ([`crate::member::spawn_team`]; ids
//! `<pattern id>/<group>/<i>`, groups in name order). A worker that crashes is restarted by the
//! team supervisor per the team policy, and the unit it held is re-routed: to another eligible
//! worker when one runs, else to the crashed one once its new incarnation runs (the crashed
//! incarnation is never given another unit). Each unit has a re-route budget
//! (`max_reroutes`); past it the job fails naming the unit and the last failure. A team that
//! exceeds its restart intensity gives up: the job fails with that cause, and the pattern agent
//! fails right after, escalating to its own supervisor. A worker stopped for good (e.g. with
//! `Runtime::stop_agent`) is dropped from routing; a unit no remaining worker can take fails
//! the job.
//!
//! # Config
//!
//! ```json
//! {
//!   "members": {"search": {"type": "util.echo", "count": 2, "capabilities": ["search"]},
//!               "write":  {"type": "util.echo", "capabilities": ["write"]}},
//!   "team": {"strategy": "one_for_one", "max_restarts": 10, "within_seconds": 10},
//!   "routing": "round_robin",
//!   "max_in_flight": 3,
//!   "max_reroutes": 3,
//!   "unit_timeout_seconds": 30,
//!   "rounds": 1,
//!   "report": false
//! }
//! ```
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `members` | *required* | worker groups ([`MemberSpec`]): kind, count, config, capabilities |
//! | `team` | one_for_one, 10 in 10 s | the worker team's [`TeamPolicy`] |
//! | `routing` | `round_robin` | `round_robin`: workers in turn; `least_loaded`: fewest units in flight; `by_capability`: every unit must name a capability, least loaded among the capable |
//! | `max_in_flight` | number of workers | units sent and not yet answered, at most |
//! | `max_reroutes` | 3 | re-routes per unit after failed attempts (crash, timeout, transient error) |
//! | `unit_timeout_seconds` | none | deadline per call; a late call is a failed attempt |
//! | `rounds` | 1 | rounds per job: round *k+1*'s inputs are round *k*'s results (each unit keeps its capability); the answer is the last round's results |
//! | `report` | false | answer `{"result": ..., "rounds": [[{"unit", "worker", "attempts"}, ...], ...]}` |
//! | `coordinator` | none | a member group of one agent that plans and judges each job (below); it is not a worker, and `rounds` becomes the most rounds a job may run |
//!
//! Whatever the routing, a unit that names a capability only goes to workers whose group lists
//! it; a unit naming a capability no worker has fails the job before anything runs. A
//! permanent error from a worker fails the job at once (it is not re-routed).
//!
//! # Jobs
//!
//! A request is `{"units": [{"input": ..., "capability": "search"}, ...]}` ([`Job`]) or a
//! plain array of inputs. The answer is the array of results in unit order. Jobs to one
//! pattern agent run one after the other; the units of a job run concurrently.
//!
//! # A coordinator member (an LLM supervisor)
//!
//! With `coordinator: plan`, the `plan` member decides instead of a fixed job: a request is
//! any task, the pattern asks `plan` `{"task", "round": 0}`, and `plan` answers
//! `{"units": [...]}` (run them) or `{"done": answer}`; after each round it is asked again
//! with `{"task", "round", "units", "results"}`. An `llm.chat` member with `supervisor:` config
//! produces these answers through its `assign_units` and `finish` tools, so a model really
//! splits the work and judges the results.
//!
//! # Rust only
//!
//! [`SupervisorPattern::builder`] adds what plain data cannot express: a routing function
//! ([`Routing::custom`], given the unit and the candidate workers) and a [`Decider`] that looks
//! at each round's results and either finishes the job with any value or continues with new
//! units, under a `max_rounds` guard.
//!
//! ```
//! use serde_json::json;
//! use troupe_patterns::member::MemberSpec;
//! use troupe_patterns::supervisor::{Decision, SupervisorPattern};
//! use troupe_runtime::Runtime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let rt = Runtime::start(Default::default()).await.unwrap();
//! troupe_agents::register_all(rt.kinds());
//! let pattern = SupervisorPattern::builder()
//!     .workers("echo", MemberSpec::new("util.echo", 2))
//!     .decider(5, |round, results| match round {
//!         3 => Decision::Done(json!(results.len() * 3)),
//!         _ => Decision::Continue(results.iter().cloned().map(Into::into).collect()),
//!     })
//!     .build()
//!     .unwrap();
//! let sup = rt.spawn("sup", pattern).await.unwrap();
//! assert_eq!(sup.ask(json!([1, 2])).await.unwrap(), json!(6));
//! rt.shutdown().await;
//! # }
//! ```

mod config;
mod coordinator;
mod dispatch;
mod job;
mod routing;
mod run;
pub(crate) mod team;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use troupe_runtime::{Agent, AgentContext, AgentError, KindRegistry, Snapshot};

pub use config::SupervisorPatternConfig;
pub(crate) use config::{check_member, check_team, culprit};
pub use job::{Decider, Decision, Job, SupervisorError, Unit, UnitReport};
pub use routing::{RouteFn, Routing, RoutingName, WorkerView};

use crate::member::{spawn_team, MemberSpec, TeamPolicy};
use dispatch::{Limits, WorkerMeta};
pub use run::Crew;
use run::{run_round, RoundRules};

/// The kind name.
pub const KIND: &str = "pattern.supervisor";

/// Registers the `pattern.supervisor` kind.
pub fn register(registry: &KindRegistry) {
    registry.register_pattern(
        "supervisor",
        "a coordinator routes units of work to its supervised worker team (re-routing the units of crashed workers) and collects the results",
        |config| SupervisorPattern::from_config(config).map_err(config_message),
        troupe_runtime::workflow::PatternAdapter::members(),
    );
    registry.nested_agents(KIND, |config| crate::member::nested_in(config, "members"));
}

/// The message of a config error without the kind prefix (the registry adds its own).
fn config_message(e: SupervisorError) -> troupe_runtime::ConfigError {
    match e {
        SupervisorError::Config(e) => e,
        other => troupe_runtime::ConfigError::new(KIND, "", other.to_string()),
    }
}

impl From<Value> for Unit {
    fn from(input: Value) -> Unit {
        Unit::new(input)
    }
}

/// The supervisor pattern agent. Request: a job (JSON); reply: the results (JSON).
#[derive(Clone)]
pub struct SupervisorPattern {
    config: SupervisorPatternConfig,
    routing: Routing,
    decider: Option<(u32, Decider)>,
}

impl std::fmt::Debug for SupervisorPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupervisorPattern")
            .field("config", &self.config)
            .field("routing", &self.routing)
            .field("decider", &self.decider.as_ref().map(|(max, _)| max))
            .finish()
    }
}

impl SupervisorPattern {
    /// A builder (the Rust API, with routing functions and deciders).
    pub fn builder() -> SupervisorPatternBuilder {
        SupervisorPatternBuilder {
            config: SupervisorPatternConfig::new(BTreeMap::new()),
            routing: None,
            decider: None,
        }
    }

    /// The agent from a checked config.
    pub fn new(config: SupervisorPatternConfig) -> Result<Self, SupervisorError> {
        config.validate()?;
        Ok(Self {
            routing: config.routing.into(),
            config,
            decider: None,
        })
    }

    /// The agent from a JSON config (what the kind registry calls).
    pub fn from_config(config: &Value) -> Result<Self, SupervisorError> {
        Self::new(SupervisorPatternConfig::from_value(config)?)
    }

    /// Its configuration.
    pub fn config(&self) -> &SupervisorPatternConfig {
        &self.config
    }

    /// How this agent's rounds are run.
    fn rules(&self, crew: &Crew) -> RoundRules<'_> {
        RoundRules {
            routing: &self.routing,
            limits: Limits {
                max_in_flight: self.config.max_in_flight.unwrap_or(crew.workers.len()),
                max_reroutes: self.config.max_reroutes,
            },
            timeout: self
                .config
                .unit_timeout_seconds
                .map(Duration::from_secs_f64),
            report: self.config.report,
        }
    }

    async fn run_job(&self, crew: &mut Crew, request: Value) -> Result<Value, SupervisorError> {
        let rules = self.rules(crew);
        if let Some(c) = crew.coordinator.clone() {
            return self.run_coordinated(crew, &c, request, &rules).await;
        }
        let mut units = job::decode_job(request)?;
        let max_rounds = match &self.decider {
            Some((max, _)) => *max,
            None => self.config.rounds,
        };
        let mut reports = Vec::new();
        let mut round = 1;
        loop {
            let capabilities: Vec<Option<String>> = match (&self.decider, round < max_rounds) {
                (None, true) => units.iter().map(|u| u.capability.clone()).collect(),
                _ => Vec::new(),
            };
            let (results, report) = run_round(crew, units, &rules).await?;
            if self.config.report {
                reports.push(report);
            }
            let decision = match &self.decider {
                Some((_, decide)) => decide(round, &results),
                None if round >= max_rounds => Decision::Done(Value::Array(results)),
                None => Decision::Continue(
                    results
                        .into_iter()
                        .zip(capabilities)
                        .map(|(input, capability)| Unit { input, capability })
                        .collect(),
                ),
            };
            match decision {
                Decision::Done(result) if self.config.report => {
                    return Ok(json!({"result": result, "rounds": reports}))
                }
                Decision::Done(result) => return Ok(result),
                Decision::Continue(_) if round >= max_rounds => {
                    return Err(SupervisorError::TooManyRounds(max_rounds))
                }
                Decision::Continue(next) => {
                    units = next;
                    round += 1;
                }
            }
        }
    }
}

impl SupervisorPattern {
    /// A job planned and judged by the coordinator member: it assigns each round's units and
    /// says when the job is done (at most `rounds` rounds).
    async fn run_coordinated(
        &self,
        crew: &mut Crew,
        coordinator: &troupe_runtime::DynAgentRef,
        task: Value,
        rules: &RoundRules<'_>,
    ) -> Result<Value, SupervisorError> {
        let max_rounds = self.config.rounds;
        let mut reports = Vec::new();
        let mut request = coordinator::request(&task, 0, &[], &[]);
        let mut round = 0;
        loop {
            let decision = coordinator::ask(coordinator, request, rules.timeout).await?;
            let units = match decision {
                Decision::Done(result) if self.config.report => {
                    return Ok(json!({"result": result, "rounds": reports}))
                }
                Decision::Done(result) => return Ok(result),
                Decision::Continue(_) if round >= max_rounds => {
                    return Err(SupervisorError::TooManyRounds(max_rounds))
                }
                Decision::Continue(units) => units,
            };
            round += 1;
            let (results, report) = run_round(crew, units.clone(), rules).await?;
            if self.config.report {
                reports.push(report);
            }
            request = coordinator::request(&task, round, &units, &results);
        }
    }
}

impl Agent for SupervisorPattern {
    type Request = Value;
    type Reply = Value;
    type State = Crew;

    async fn init(
        &self,
        ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<Crew, AgentError> {
        let (team, mut members) = spawn_team(ctx, &self.config.members, &self.config.team).await?;
        let coordinator = match &self.config.coordinator {
            Some(group) => members
                .iter()
                .position(|m| &m.group == group)
                .map(|i| members.remove(i).agent),
            None => None,
        };
        let metas = members
            .iter()
            .map(|m| WorkerMeta {
                id: m.agent.id().clone(),
                group: m.group.clone(),
                capabilities: m.capabilities.clone(),
            })
            .collect();
        let workers: Vec<_> = members.into_iter().map(|m| m.agent).collect();
        // A spawned worker is marked running a moment after its spawn returns: wait, so that
        // the first job's routing sees every worker.
        for worker in workers.iter().chain(&coordinator) {
            let id = worker.id().as_str();
            if team::until_running(|| worker.is_running(), worker.watch_starts(), &team, id)
                .await
                .is_err()
            {
                return Err(AgentError::permanent(format!(
                    "{}: worker {id} did not start",
                    ctx.id()
                )));
            }
        }
        Ok(Crew {
            agent: ctx.id().to_string(),
            team,
            policy: self.config.team.clone(),
            metas,
            served: vec![0; workers.len()],
            crashed: vec![0; workers.len()],
            workers,
            cursor: 0,
            coordinator,
        })
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        crew: &mut Crew,
        job: Value,
    ) -> Result<Value, AgentError> {
        // Boxed: the job's state would otherwise be moved around inside the agent actor's task.
        Box::pin(self.run_job(crew, job))
            .await
            .map_err(AgentError::from)
    }
}

/// Builds a [`SupervisorPattern`] in Rust.
#[derive(Clone)]
pub struct SupervisorPatternBuilder {
    config: SupervisorPatternConfig,
    routing: Option<Routing>,
    decider: Option<(u32, Decider)>,
}

impl SupervisorPatternBuilder {
    /// Adds (or replaces) a worker group.
    pub fn workers(mut self, group: impl Into<String>, spec: MemberSpec) -> Self {
        self.config.members.insert(group.into(), spec);
        self
    }

    /// Sets the worker team's supervision.
    pub fn team(mut self, policy: TeamPolicy) -> Self {
        self.config.team = policy;
        self
    }

    /// Sets the routing policy (a [`Routing::custom`] function included).
    pub fn routing(mut self, routing: Routing) -> Self {
        self.routing = Some(routing);
        self
    }

    /// Bounds the units in flight.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = Some(n);
        self
    }

    /// Sets the re-route budget per unit.
    pub fn max_reroutes(mut self, n: u32) -> Self {
        self.config.max_reroutes = n;
        self
    }

    /// Sets a deadline per call to a worker.
    pub fn unit_timeout(mut self, timeout: Duration) -> Self {
        self.config.unit_timeout_seconds = Some(timeout.as_secs_f64());
        self
    }

    /// Runs `n` rounds per job, each feeding its results to the next (as the config's
    /// `rounds`). Replaced by [`Self::decider`].
    pub fn rounds(mut self, n: u32) -> Self {
        self.config.rounds = n;
        self
    }

    /// Decides after each round whether the job is done; more than `max_rounds` rounds fail
    /// the job.
    pub fn decider(
        mut self,
        max_rounds: u32,
        decide: impl Fn(u32, &[Value]) -> Decision + Send + Sync + 'static,
    ) -> Self {
        self.decider = Some((max_rounds, Arc::new(decide)));
        self
    }

    /// Answers with a routing report.
    pub fn report(mut self, report: bool) -> Self {
        self.config.report = report;
        self
    }

    /// Checks and builds.
    pub fn build(mut self) -> Result<SupervisorPattern, SupervisorError> {
        let routing = self.routing.unwrap_or_else(|| self.config.routing.into());
        self.config.routing = match routing {
            Routing::LeastLoaded => RoutingName::LeastLoaded,
            Routing::ByCapability => RoutingName::ByCapability,
            Routing::RoundRobin | Routing::Custom(_) => RoutingName::RoundRobin,
        };
        if let Some((0, _)) = self.decider {
            return Err(config::invalid(
                "field `max_rounds`: must be at least 1".into(),
            ));
        }
        self.config.validate()?;
        Ok(SupervisorPattern {
            config: self.config,
            routing,
            decider: self.decider,
        })
    }
}
