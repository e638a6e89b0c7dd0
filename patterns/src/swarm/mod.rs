//! The swarm pattern (`pattern.swarm`): peers with no central coordinator share a pool of
//! work. Any peer can run work, hand it off, or add sub-work; idle peers steal from busy ones;
//! the swarm detects termination (no work left anywhere, nothing in flight) and replies with the
//! combined result.
//!
//! **Topology.** One peer actor per member agent (the members are the swarm agent's supervised
//! team). Each peer has its own deque and runs its items by calling its member, one at a time.
//! Peers talk to each other directly: hand-offs, steal requests, grants and wake-ups. The swarm
//! agent is the *entry*: it seeds the request's items onto the peers, collects completions and
//! their credit, and reduces the results.
//!
//! **Protocol.** Members reply with a [`Directive`] (`{"result"}`, `{"spawn"}`, `{"handoff"}`
//! or a combination). Work stealing and the deque discipline are described in [`PeerCore`]:
//! the owner runs its newest item, a thief takes the oldest half (rounded up). Termination is
//! detected by credit recovery ([`credit`]): exact, with no counter shared by the peers.
//!
//! **Failures.** A member that crashes on an item is restarted by the team and the item is
//! re-queued, until it has been tried `max_attempts` times (default 3); transient errors and
//! timeouts retry the same way; permanent errors and replies that are not directives fail the
//! item at once. Failed items are listed in the error (or, with `report: true`, in the reply's
//! `failed`), never dropped silently.
//!
//! **Config** (`pattern.swarm`):
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `members` | *required* | `{group: {"type", "count", "config"}}`: one peer per member agent |
//! | `team` | 10 restarts in 10 s | the members' supervision ([`TeamPolicy`]) |
//! | `reducer` | `collect` | `collect` (array in item order), `sum`, `count` |
//! | `max_attempts` | 3 | member calls per item before a crashing item fails |
//! | `item_timeout` | none | seconds per member call (a timeout is a retryable failure) |
//! | `member_wait` | 10 | seconds to wait for a crashed member to restart |
//! | `replies` | `directives` | `results`: take any member reply as the item's result |
//! | `report` | false | reply `{"result", "failed", "peers"}` instead of the bare result |
//! | `rng_seed` | fixed | seed of the peers' random choices |
//!
//! **Request.** `{"items": [..]}` seeds those items round-robin over the peers (`"to": i` or
//! `"to": "group"` seeds them on one peer or one group); any other value is one item.
//!
//! **Reply.** The reducer's result over the items' results, in item order (seeds in request
//! order, each item's sub-items right after it, depth first: the same for every schedule). If
//! any item finally failed, the call fails instead with a permanent error listing them
//! (`swarm: 1 item(s) failed: item 0.3 (4): member s/w/1 crashed (gave up after 3 attempts)`);
//! with `report: true` it answers a [`SwarmReport`] (`result` over the items that completed,
//! `failed`, per-peer counters). A peer actor lost mid-run fails the run with a transient error
//! (its items are gone; the next request starts fresh peers).

pub mod credit;
mod engine;
mod entry;
mod item;
mod peer;
mod protocol;
mod run;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::workflow::PatternAdapter;
use troupe_runtime::ConfigError;
use troupe_runtime::{Agent, AgentContext, AgentError, KindRegistry, Snapshot};

pub use self::engine::{CallOutcome, PeerCommand, PeerCore, PeerInput, PeerSettings, PeerStats};
pub use self::entry::{EntryCore, RunOutcome};
pub use self::item::{Item, ItemFailure, ItemId};
pub use self::protocol::{Directive, Handoff, ReduceFn, Reducer, Target};
pub use self::run::{PeerReport, SwarmReport};
use crate::member::{self, MemberSpec, TeamPolicy};

/// The kind name.
pub const KIND: &str = "pattern.swarm";

/// Registers the `pattern.swarm` kind.
pub fn register(registry: &KindRegistry) {
    registry.register_pattern(
        "swarm",
        "peers share a pool of work, steal from each other, and detect termination",
        Swarm::from_config,
        PatternAdapter::members(),
    );
    registry.nested_agents(KIND, |config| crate::member::nested_in(config, "members"));
}

/// A swarm request seeding `items` round-robin over the peers.
pub fn items<I: IntoIterator<Item = Value>>(items: I) -> Value {
    serde_json::json!({ "items": items.into_iter().collect::<Vec<_>>() })
}

/// A swarm request seeding every item on peer (or group) `to`.
pub fn items_to<I: IntoIterator<Item = Value>>(items: I, to: impl Into<Target>) -> Value {
    serde_json::json!({ "items": items.into_iter().collect::<Vec<_>>(), "to": to.into() })
}

/// A built-in reducer by name, for configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReducerName {
    /// [`Reducer::Collect`].
    #[default]
    Collect,
    /// [`Reducer::Sum`].
    Sum,
    /// [`Reducer::Count`].
    Count,
}

/// How member replies are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replies {
    /// As [`Directive`]s.
    #[default]
    Directives,
    /// Every reply is the item's result (plain agents as members).
    Results,
}

/// The JSON config of `pattern.swarm` (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmConfig {
    /// The members by group; one peer per member agent.
    pub members: BTreeMap<String, MemberSpec>,
    /// The members' supervision.
    #[serde(default)]
    pub team: TeamPolicy,
    /// The built-in reducer.
    #[serde(default)]
    pub reducer: ReducerName,
    /// Member calls per item before a crashing (or retryably failing) item fails.
    #[serde(default = "three")]
    pub max_attempts: u32,
    /// Seconds per member call (a number, or a duration like `"30s"`).
    #[serde(default, with = "troupe_runtime::config::seconds::option")]
    pub item_timeout: Option<f64>,
    /// Seconds to wait for a crashed member to restart.
    #[serde(default = "ten", with = "troupe_runtime::config::seconds")]
    pub member_wait: f64,
    /// How member replies are read.
    #[serde(default)]
    pub replies: Replies,
    /// Reply with a [`SwarmReport`] instead of the bare result.
    #[serde(default)]
    pub report: bool,
    /// Seed of the peers' random choices.
    #[serde(default)]
    pub rng_seed: Option<u64>,
}

fn three() -> u32 {
    3
}
fn ten() -> f64 {
    10.0
}

/// A swarm definition that does not hold together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwarmError {
    /// No member groups.
    #[error("pattern.swarm config: `members` is empty; a swarm needs at least one member")]
    NoMembers,
    /// A group of zero members.
    #[error("pattern.swarm config: member group {0:?}: count must be at least 1")]
    EmptyGroup(String),
    /// `max_attempts` of 0.
    #[error("pattern.swarm config: `max_attempts` must be at least 1")]
    NoAttempts,
    /// A duration that is negative, zero where it must not be, or not finite.
    #[error("pattern.swarm config: `{field}` must be a positive number of seconds, not {value}")]
    BadSeconds {
        /// The field.
        field: &'static str,
        /// The value given.
        value: f64,
    },
}

impl SwarmConfig {
    /// A config with `members` and every default.
    pub fn new(members: BTreeMap<String, MemberSpec>) -> Self {
        Self {
            members,
            team: TeamPolicy::default(),
            reducer: ReducerName::default(),
            max_attempts: 3,
            item_timeout: None,
            member_wait: 10.0,
            replies: Replies::default(),
            report: false,
            rng_seed: None,
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), SwarmError> {
        if self.members.is_empty() {
            return Err(SwarmError::NoMembers);
        }
        if let Some((g, _)) = self.members.iter().find(|(_, m)| m.count == 0) {
            return Err(SwarmError::EmptyGroup(g.clone()));
        }
        if self.max_attempts == 0 {
            return Err(SwarmError::NoAttempts);
        }
        let positive = |field, value: f64| {
            (value.is_finite() && value > 0.0)
                .then_some(())
                .ok_or(SwarmError::BadSeconds { field, value })
        };
        if let Some(t) = self.item_timeout {
            positive("item_timeout", t)?;
        }
        positive("member_wait", self.member_wait)
    }
}

/// The swarm agent (the entry). Build it with [`Swarm::builder`] or from JSON with
/// [`Swarm::from_config`]; spawn it like any agent.
#[derive(Debug, Clone)]
pub struct Swarm {
    config: SwarmConfig,
    reducer: Reducer,
}

impl Swarm {
    /// A swarm from a validated config (its reducer named there).
    pub fn new(config: SwarmConfig) -> Result<Swarm, SwarmError> {
        config.validate()?;
        let reducer = match config.reducer {
            ReducerName::Collect => Reducer::Collect,
            ReducerName::Sum => Reducer::Sum,
            ReducerName::Count => Reducer::Count,
        };
        Ok(Swarm { config, reducer })
    }

    /// The kind's factory: decodes and validates a JSON config.
    pub fn from_config(config: &Value) -> Result<Swarm, ConfigError> {
        let config: SwarmConfig = member::decode_config(KIND, config)?;
        Swarm::new(config).map_err(|e| member::config_error(KIND, e.to_string()))
    }

    /// Starts a definition in code.
    pub fn builder() -> SwarmBuilder {
        SwarmBuilder {
            config: SwarmConfig::new(BTreeMap::new()),
            reducer: None,
        }
    }

    /// The config.
    pub fn config(&self) -> &SwarmConfig {
        &self.config
    }
}

/// Builds a [`Swarm`] in code, including reducers that are Rust closures.
#[derive(Debug, Clone)]
pub struct SwarmBuilder {
    config: SwarmConfig,
    reducer: Option<Reducer>,
}

impl SwarmBuilder {
    /// Adds a member group (one peer per member).
    pub fn members(mut self, group: impl Into<String>, spec: MemberSpec) -> Self {
        self.config.members.insert(group.into(), spec);
        self
    }

    /// Sets the members' supervision.
    pub fn team(mut self, team: TeamPolicy) -> Self {
        self.config.team = team;
        self
    }

    /// Sets the reducer (built-in or [`Reducer::custom`]).
    pub fn reducer(mut self, reducer: Reducer) -> Self {
        self.reducer = Some(reducer);
        self
    }

    /// Sets the member calls per item before a crashing item fails.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.config.max_attempts = n;
        self
    }

    /// Sets a deadline per member call.
    pub fn item_timeout(mut self, timeout: Duration) -> Self {
        self.config.item_timeout = Some(timeout.as_secs_f64());
        self
    }

    /// Sets how long to wait for a crashed member to restart.
    pub fn member_wait(mut self, wait: Duration) -> Self {
        self.config.member_wait = wait.as_secs_f64();
        self
    }

    /// Takes every member reply as the item's result.
    pub fn replies(mut self, replies: Replies) -> Self {
        self.config.replies = replies;
        self
    }

    /// Replies with a [`SwarmReport`].
    pub fn report(mut self, report: bool) -> Self {
        self.config.report = report;
        self
    }

    /// Seeds the peers' random choices.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.config.rng_seed = Some(seed);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Swarm, SwarmError> {
        let mut swarm = Swarm::new(self.config)?;
        if let Some(r) = self.reducer {
            swarm.reducer = r;
        }
        Ok(swarm)
    }
}

impl Agent for Swarm {
    type Request = Value;
    type Reply = Value;
    type State = run::SwarmState;

    async fn init(
        &self,
        ctx: &AgentContext,
        _restored: Option<Snapshot>,
    ) -> Result<run::SwarmState, AgentError> {
        run::SwarmState::start(ctx, &self.config)
            .await
            .map_err(AgentError::permanent)
    }

    async fn handle(
        &self,
        _ctx: &AgentContext,
        state: &mut run::SwarmState,
        request: Value,
    ) -> Result<Value, AgentError> {
        state.run(&self.config, &self.reducer, request).await
    }

    async fn stopped(&self, _ctx: &AgentContext, state: &mut run::SwarmState) {
        state.stop_peers();
    }
}

/// The groups of the peers, by peer index (member order of [`member::spawn_team`]).
fn peer_groups(config: &SwarmConfig) -> Arc<[String]> {
    config
        .members
        .iter()
        .flat_map(|(g, m)| std::iter::repeat_n(g.clone(), m.count))
        .collect()
}
