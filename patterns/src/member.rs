//! Members of a pattern: agents of registered kinds, described as plain data (the same shape as
//! a workflow file's agent pool), spawned as the pattern agent's own supervised team.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{
    AgentContext, AgentId, DynAgentRef, SpawnOptions, SupervisorConfig, SupervisorRef,
};

/// One kind of member: `count` agents of `kind`, configured by `config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// The agent kind (a registered kind; patterns are kinds too, so members can be patterns).
    #[serde(rename = "type")]
    pub kind: String,
    /// How many agents (default 1).
    #[serde(default = "one")]
    pub count: usize,
    /// The kind's configuration.
    #[serde(default)]
    pub config: Value,
    /// What the members can do (used for routing by capability).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

fn one() -> usize {
    1
}

impl MemberSpec {
    /// `count` agents of `kind` with a null config and no capabilities.
    pub fn new(kind: impl Into<String>, count: usize) -> Self {
        Self {
            kind: kind.into(),
            count,
            config: Value::Null,
            capabilities: Vec::new(),
        }
    }

    /// Sets the config.
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// Sets the capabilities.
    pub fn capabilities<I: IntoIterator<Item = S>, S: Into<String>>(mut self, caps: I) -> Self {
        self.capabilities = caps.into_iter().map(Into::into).collect();
        self
    }
}

/// A running member agent.
#[derive(Debug, Clone)]
pub struct Member {
    /// The member's group name (the key in the pattern's `members`).
    pub group: String,
    /// Its index within the group.
    pub index: usize,
    /// What it can do.
    pub capabilities: Vec<String>,
    /// The agent.
    pub agent: DynAgentRef,
}

/// The supervision settings of a pattern's team (its members' supervisor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamPolicy {
    /// `one_for_one` (default), `one_for_all` or `rest_for_one`.
    #[serde(default)]
    pub strategy: StrategyName,
    /// Restarts allowed within `within_seconds` before the team gives up and the pattern agent
    /// fails to its own supervisor (default 10 in 10 s).
    #[serde(default = "ten")]
    pub max_restarts: u32,
    /// The intensity window in seconds.
    #[serde(default = "ten_f")]
    pub within_seconds: f64,
}

fn ten() -> u32 {
    10
}
fn ten_f() -> f64 {
    10.0
}

impl Default for TeamPolicy {
    fn default() -> Self {
        Self {
            strategy: StrategyName::OneForOne,
            max_restarts: 10,
            within_seconds: 10.0,
        }
    }
}

/// A restart strategy by name, for configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    /// Restart only the failed member.
    #[default]
    OneForOne,
    /// Restart every member.
    OneForAll,
    /// Restart the failed member and those started after it.
    RestForOne,
}

impl TeamPolicy {
    /// The supervisor config for a team called `name`.
    pub fn config(&self, name: impl Into<String>) -> SupervisorConfig {
        let strategy = match self.strategy {
            StrategyName::OneForOne => troupe_runtime::Strategy::OneForOne,
            StrategyName::OneForAll => troupe_runtime::Strategy::OneForAll,
            StrategyName::RestForOne => troupe_runtime::Strategy::RestForOne,
        };
        SupervisorConfig::new(name).strategy(strategy).intensity(
            self.max_restarts,
            Duration::from_secs_f64(self.within_seconds.max(0.0)),
        )
    }
}

/// Spawns every member of `members` as the team of the agent owning `ctx` (a supervisor linked
/// to that agent: a member that crashes is restarted per `policy`; a team that gives up fails
/// the pattern agent). Member ids are `<agent id>/<group>/<index>`. Groups come in name order.
pub async fn spawn_team(
    ctx: &AgentContext,
    members: &BTreeMap<String, MemberSpec>,
    policy: &TeamPolicy,
) -> Result<(SupervisorRef, Vec<Member>), String> {
    let runtime = ctx.runtime().ok_or("the runtime is gone")?;
    let team = ctx
        .start_team(policy.config(format!("{}/team", ctx.id())), vec![])
        .await?;
    let mut out = Vec::new();
    for (group, spec) in members {
        if spec.count == 0 {
            return Err(format!("member group {group:?}: count must be at least 1"));
        }
        for index in 0..spec.count {
            let id = AgentId::new(format!("{}/{}/{}", ctx.id(), group, index));
            let agent = runtime
                .spawn_kind_with(
                    &spec.kind,
                    id,
                    spec.config.clone(),
                    SpawnOptions::default().under(team.clone()),
                )
                .await
                .map_err(|e| format!("member group {group:?}: {e}"))?;
            out.push(Member {
                group: group.clone(),
                index,
                capabilities: spec.capabilities.clone(),
                agent,
            });
        }
    }
    Ok((team, out))
}

/// Decodes a pattern's JSON config into `T`, naming the offending field on error (including
/// for type errors: `pattern.swarm config: field `peers`: invalid type: ...`).
pub fn decode_config<T: serde::de::DeserializeOwned>(
    kind: &str,
    config: &Value,
) -> Result<T, String> {
    let config = if config.is_null() {
        Value::Object(Default::default())
    } else {
        config.clone()
    };
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("{kind} config: {}", e.inner())
        } else {
            format!("{kind} config: field `{path}`: {}", e.inner())
        }
    })
}
