//! The hierarchical pattern (`pattern.hierarchical`): supervisors of supervisors to any depth —
//! teams of teams. A job sent to the root is split down the tree and the results are combined
//! back up.
//!
//! # The tree
//!
//! A team is a pattern agent with its own supervised team ([`TeamPolicy`]). Its member groups
//! are agents of registered kinds (patterns included: a member may be a `pattern.supervisor`),
//! sub-teams (each one more team agent — a [`SubTeam`], kind name `SubTeam` — with its own
//! policy and members), or, from Rust only, [`FunctionLeaf`]s: stateless functions run as
//! tasks of their team agent, the lightest member there is (no actor of their own). Ids are
//! `<team id>/<group>/<i>`. Groups are ordered by name; the team supervisor starts the agent
//! groups first, then the sub-team groups (what `rest_for_one` follows). A team whose members
//! are all function leaves starts its supervisor only when a leaf first fails.
//!
//! The whole tree is built when the root is spawned (a failure anywhere fails the spawn):
//! each team starts its members, then tells all its sub-teams at once to do the same, so
//! sibling subtrees are built in parallel. A restarted sub-team rebuilds its subtree before it
//! takes another request.
//!
//! # Failures escalate up the tree
//!
//! - A member that crashes (an agent's panic, a function leaf's panic) is restarted by its
//!   team's supervisor per that team's policy, and the job gives its part to it again once a
//!   new incarnation runs (at most `max_retries` times per child and job; transient errors are
//!   retried too, permanent ones fail the job at once). A function leaf's panic reaches the
//!   team supervisor as the failure of a transient child standing for the leaf (id
//!   `<leaf id>#<attempt>`, reason `function leaf <id> panicked: <message>`): it counts against
//!   the same intensity, waits the same backoff, follows the same strategy.
//! - A team that exceeds its restart intensity gives up: the job it was running fails with the
//!   cause, and the team agent fails right after — a failure of a member of its parent team,
//!   which the parent's policy handles in turn: restart the sub-team (its whole subtree starts
//!   afresh and the parent's job gives it its part again) or give up itself.
//! - When the root gives up, the job fails with the chain of causes, and the root agent fails
//!   to its own supervisor.
//!
//! # Split and combine
//!
//! | `split` | each child gets |
//! |---|---|
//! | `broadcast` (default) | the team's whole input |
//! | `scatter` | element *k* of the input array (one element per child, in child order) |
//! | `by_group` | `input[group]` of the input object (one key per group) |
//!
//! | `combine` | the team answers |
//! |---|---|
//! | `array` (default) | the children's results in child order |
//! | `sum` | their sum (numbers; exact for integers) |
//! | `concat` | array results concatenated in child order |
//! | `object` | `{group: result}`, or `{group: [results]}` for groups of more than one |
//!
//! From Rust, [`Split::custom`] and [`Combine::custom`] take any function of the children.
//!
//! # Scale: the skynet tree
//!
//! A 10-ary tree of 1,000,000 function leaves (each answers its index; every team sums its ten
//! children) is 111,111 team agents (actors) and 11,111 team supervisors (the bottom teams have
//! only leaves, so no supervisor until a leaf fails), built in parallel and torn down by the
//! runtime's shutdown. It is a real supervised hierarchy: every team agent is supervised by its
//! parent's team, every leaf's panic is a supervised failure. Raw ractor needs an actor per
//! leaf as well (1,111,111); tokio tasks need no supervision at all. `examples/skynet.rs`
//! measures the three side by side.
//!
//! # Config
//!
//! A team, recursively (a member group with `type` is agents, one with `members` a sub-team):
//!
//! ```json
//! {
//!   "team": {"strategy": "one_for_one", "max_restarts": 3, "within_seconds": 10},
//!   "split": "broadcast",
//!   "combine": "sum",
//!   "max_retries": 3,
//!   "members": {
//!     "leaf": {"type": "util.echo", "count": 2},
//!     "sub": {"count": 2, "team": {"max_restarts": 1}, "combine": "sum",
//!             "members": {"leaf": {"type": "util.echo", "count": 3}}}
//!   }
//! }
//! ```
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `members` | *required* | member groups by name: agents (`type`, `count`, `config`, `capabilities`) or sub-teams (a team, plus `count`, default 1) |
//! | `team` | one_for_one, 10 in 10 s | the team's [`TeamPolicy`] |
//! | `split` | `broadcast` | `broadcast`, `scatter` or `by_group` |
//! | `combine` | `array` | `array`, `sum`, `concat` or `object` |
//! | `max_retries` | 3 | retries of a child's part per job, after a crash or a transient error |
//!
//! Function leaves, custom splits and custom combines are Rust only.
//!
//! # Rust
//!
//! ```
//! use serde_json::json;
//! use troupe_patterns::hierarchical::{Combine, FunctionLeaf, HierarchicalPattern, TeamSpec};
//! use troupe_runtime::Runtime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let rt = Runtime::start(Default::default()).await.unwrap();
//! let double = FunctionLeaf::sync(|call| Ok(json!(call.input.as_i64().unwrap_or(0) * 2)));
//! let sub = TeamSpec::new().combine(Combine::Sum).functions("double", 3, double);
//! let root = TeamSpec::new().combine(Combine::Sum).teams("sub", 2, sub);
//! let tree = rt.spawn("tree", HierarchicalPattern::new(root).unwrap()).await.unwrap();
//! assert_eq!(tree.ask(json!(5)).await.unwrap(), json!(60));
//! rt.shutdown().await;
//! # }
//! ```

mod build;
mod combine;
mod config;
mod leaf;
mod run;
mod spec;

use std::sync::Arc;

use serde_json::Value;
use troupe_runtime::ConfigError;
use troupe_runtime::{Agent, AgentContext, AgentError, KindRegistry, Snapshot};

pub use build::{SubTeam, SubTeamRequest, TeamState};
pub use combine::{Combine, CombineFn, CombineName, Split, SplitFn, SplitName};
pub use spec::{ChildKind, ChildView, FunctionLeaf, LeafCall, LeafFuture, TeamMember, TeamSpec};

pub use crate::member::TeamPolicy;

/// The kind name.
pub const KIND: &str = "pattern.hierarchical";

/// Registers the `pattern.hierarchical` kind.
pub fn register(registry: &KindRegistry) {
    registry.register_pattern(
        "hierarchical",
        "teams of teams to any depth: a job is split down the tree and the results combined up; failures escalate per each level's policy",
        |config| {
            HierarchicalPattern::from_config(config).map_err(|e| match e {
                HierarchicalError::Config(e) => e,
                other => ConfigError::new(KIND, "", other.to_string()),
            })
        },
        troupe_runtime::workflow::PatternAdapter::members(),
    );
    registry.nested_agents(KIND, config::nested_agents);
}

/// Why the hierarchical pattern could not be built or could not finish a job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HierarchicalError {
    /// The tree is invalid: the error's `path` names the field (`/members/sub/count`).
    #[error("{} config: {}", .0.kind, crate::member::field_message(.0))]
    Config(ConfigError),
    /// The input cannot be split among the children (the error's kind is kept).
    #[error("{0}")]
    Split(AgentError),
    /// The results cannot be combined (the error's kind is kept).
    #[error("{0}")]
    Combine(AgentError),
    /// A child answered with an error a retry cannot fix.
    #[error("child {child} failed: {reason}")]
    ChildRejected {
        /// The child.
        child: troupe_runtime::AgentId,
        /// Its answer.
        reason: String,
    },
    /// A child failed on every attempt its budget allowed.
    #[error("child {child} failed after {attempts} attempts (max_retries {max_retries}); last: {reason}")]
    ChildFailed {
        /// The child.
        child: troupe_runtime::AgentId,
        /// Calls made.
        attempts: u32,
        /// The budget.
        max_retries: u32,
        /// The last failure.
        reason: String,
    },
    /// The team exceeded its restart intensity: the agent fails right after answering.
    #[error("{0}")]
    TeamGaveUp(String),
}

impl From<HierarchicalError> for AgentError {
    fn from(e: HierarchicalError) -> AgentError {
        match e {
            HierarchicalError::Split(e) | HierarchicalError::Combine(e) => e,
            HierarchicalError::ChildFailed { .. } | HierarchicalError::TeamGaveUp(_) => {
                AgentError::transient(e.to_string())
            }
            _ => AgentError::permanent(e.to_string()),
        }
    }
}

/// A team of the hierarchy as an agent. Request: the job's input (JSON); reply: the combined
/// result (JSON).
#[derive(Debug, Clone)]
pub struct HierarchicalPattern {
    spec: Arc<TeamSpec>,
}

impl HierarchicalPattern {
    /// The root of a tree (checked).
    pub fn new(spec: impl Into<Arc<TeamSpec>>) -> Result<Self, HierarchicalError> {
        let spec = spec.into();
        spec.validate()?;
        Ok(Self { spec })
    }

    /// The root of a tree from a JSON config.
    pub fn from_config(config: &Value) -> Result<Self, HierarchicalError> {
        Self::new(config::decode(config).map_err(spec::invalid)?)
    }

    /// The tree.
    pub fn spec(&self) -> &TeamSpec {
        &self.spec
    }
}

impl Agent for HierarchicalPattern {
    type Request = Value;
    type Reply = Value;
    type State = TeamState;

    async fn init(
        &self,
        ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<TeamState, AgentError> {
        build::build(ctx, &self.spec).await
    }

    async fn handle(
        &self,
        ctx: &AgentContext,
        st: &mut TeamState,
        input: Value,
    ) -> Result<Value, AgentError> {
        st.job(&self.spec, ctx, input).await
    }
}
