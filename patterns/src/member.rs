//! Members of a pattern: agents of registered kinds, described as plain data (the same shape as
//! a workflow file's agent pool), spawned as the pattern agent's own supervised team.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::{
    AgentContext, AgentId, ConfigError, DynAgentRef, NestedAgent, SpawnOptions, Strategy,
    SupervisorConfig, SupervisorRef,
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
    pub strategy: Strategy,
    /// Restarts allowed within `within_seconds` before the team gives up and the pattern agent
    /// fails to its own supervisor (default 10 in 10 s).
    #[serde(default = "ten")]
    pub max_restarts: u32,
    /// The intensity window in seconds (a number, or a duration like `"30s"`).
    #[serde(default = "ten_f", with = "troupe_runtime::config::seconds")]
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
            strategy: Strategy::OneForOne,
            max_restarts: 10,
            within_seconds: 10.0,
        }
    }
}

impl TeamPolicy {
    /// The supervisor config for a team called `name`.
    pub fn config(&self, name: impl Into<String>) -> SupervisorConfig {
        SupervisorConfig::new(name)
            .strategy(self.strategy)
            .intensity(
                self.max_restarts,
                Duration::from_secs_f64(self.within_seconds.max(0.0)),
            )
    }
}

/// Why a pattern's team could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TeamError {
    /// The runtime hosting the pattern agent is gone.
    #[error("the runtime is gone")]
    RuntimeGone,
    /// The team's supervisor could not be started.
    #[error(transparent)]
    Supervision(#[from] troupe_runtime::SupervisionError),
    /// A member group of no agents.
    #[error("member group {group:?}: count must be at least 1")]
    EmptyGroup {
        /// The group.
        group: String,
    },
    /// A member could not be spawned (an unknown kind, a bad config, a failed start).
    #[error("member group {group:?}: {error}")]
    Spawn {
        /// The group.
        group: String,
        /// Why.
        error: troupe_runtime::SpawnError,
    },
}

/// A team that could not be spawned fails the pattern agent's start, permanently.
impl From<TeamError> for troupe_runtime::AgentError {
    fn from(e: TeamError) -> Self {
        troupe_runtime::AgentError::permanent(e.to_string())
    }
}

/// Spawns every member of `members` as the team of the agent owning `ctx` (a supervisor linked
/// to that agent: a member that crashes is restarted per `policy`; a team that gives up fails
/// the pattern agent). Member ids are `<agent id>/<group>/<index>`. Groups come in name order.
pub async fn spawn_team(
    ctx: &AgentContext,
    members: &BTreeMap<String, MemberSpec>,
    policy: &TeamPolicy,
) -> Result<(SupervisorRef, Vec<Member>), TeamError> {
    let runtime = ctx.runtime().ok_or(TeamError::RuntimeGone)?;
    let team = ctx
        .start_team(policy.config(format!("{}/team", ctx.id())), vec![])
        .await?;
    let mut out = Vec::new();
    for (group, spec) in members {
        if spec.count == 0 {
            let group = group.clone();
            return Err(TeamError::EmptyGroup { group });
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
                .map_err(|error| TeamError::Spawn {
                    group: group.clone(),
                    error,
                })?;
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

/// Decodes a pattern's JSON config into `T` with the runtime's one config decoder, naming the
/// offending field's path on error (`pattern.swarm config at /peers: invalid type: ...`).
pub use troupe_runtime::config::decode_config;

/// A pattern's config error from a message `"<kind> config: <reason>"` (or a bare reason). A
/// reason in the words of the pattern checks, `field `a.b`: what`, gets its path (`/a/b`)
/// filled in and the rest as its reason: the inverse of [`field_message`].
pub(crate) fn config_error(kind: &str, message: impl Into<String>) -> ConfigError {
    let message = message.into();
    let prefix = format!("{kind} config: ");
    let reason = message.strip_prefix(&prefix).unwrap_or(&message);
    let located = reason
        .strip_prefix("field `")
        .and_then(|rest| rest.split_once("`: "))
        .filter(|(field, _)| !field.is_empty());
    match located {
        Some((field, rest)) => {
            ConfigError::new(kind, format!("/{}", field.replace('.', "/")), rest)
        }
        None => ConfigError::new(kind, "", reason),
    }
}

/// A pattern's config error from a check message `"<kind> config: a.b: what"` whose reason
/// starts with the dotted path of its field (the handoff and network checks): path `/a/b`,
/// reason `what`. A message without such a prefix is an error about the whole config.
pub(crate) fn dotted_config_error(kind: &str, message: impl Into<String>) -> ConfigError {
    let message = message.into();
    let prefix = format!("{kind} config: ");
    let reason = message.strip_prefix(&prefix).unwrap_or(&message);
    let is_path = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && !p.ends_with('.')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    match reason.split_once(": ") {
        Some((field, rest)) if is_path(field) => {
            ConfigError::new(kind, format!("/{}", field.replace('.', "/")), rest)
        }
        _ => ConfigError::new(kind, "", reason),
    }
}

/// A config error in the words of the handoff and network checks: `a.b: reason`.
pub(crate) fn dotted_message(e: &ConfigError) -> String {
    match e.path.is_empty() {
        true => e.reason.clone(),
        false => {
            let dotted = e.path.trim_start_matches('/').replace('/', ".");
            format!("{dotted}: {}", e.reason)
        }
    }
}

/// A decoder error in the words the pattern checks use: `field `a.b`: reason`.
pub(crate) fn field_message(e: &ConfigError) -> String {
    if e.path.is_empty() {
        return e.reason.clone();
    }
    let dotted = e.path.trim_start_matches('/').replace('/', ".");
    format!("field `{dotted}`: {}", e.reason)
}

/// The agents a pattern config's `field` map starts (`{name: {type, config, ...}}`: members,
/// custom nodes), for validation ([`troupe_runtime::KindRegistry::nested_agents`]): each with
/// the path of its config inside `config` (`/members/fetch/config`).
pub(crate) fn nested_in(config: &Value, field: &str) -> Vec<NestedAgent> {
    nested_at("", config, field)
}

/// [`nested_in`] for a map at `prefix` inside the pattern's config.
pub(crate) fn nested_at(prefix: &str, config: &Value, field: &str) -> Vec<NestedAgent> {
    let Some(Value::Object(map)) = config.get(field) else {
        return Vec::new();
    };
    map.iter()
        .filter_map(|(name, member)| {
            let kind = member.get("type")?.as_str()?;
            let at = format!("{prefix}/{field}/{}", pointer_token(name));
            Some(NestedAgent {
                path: format!("{at}/config"),
                kind_path: format!("{at}/type"),
                kind: kind.to_string(),
                config: member.get("config").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// A name as one token of a JSON pointer (`~` and `/` escaped).
pub(crate) fn pointer_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn team_policies_take_the_runtime_strategy_and_duration_strings() {
        let policy: TeamPolicy = decode_config(
            "pattern.x",
            &json!({"strategy": "rest_for_one", "within_seconds": "1m30s"}),
        )
        .unwrap();
        assert_eq!(policy.strategy, Strategy::RestForOne);
        assert_eq!(policy.within_seconds, 90.0);
        let numbers: TeamPolicy =
            decode_config("pattern.x", &json!({"within_seconds": 2.5})).unwrap();
        assert_eq!(numbers.within_seconds, 2.5);
        let err = decode_config::<TeamPolicy>("pattern.x", &json!({"strategy": "all_for_one"}))
            .unwrap_err();
        assert_eq!(err.path, "/strategy");
        assert!(err.reason.contains("one_for_one"), "{err}");
    }

    #[test]
    fn a_bad_crash_policy_is_a_config_error_at_its_field() {
        let policy = crate::handoff::CrashPolicy {
            retries: 1,
            restart_timeout_seconds: 0.0,
        };
        let e = policy.validate("crash").unwrap_err();
        assert_eq!(e.path, "/crash/restart_timeout_seconds");
        assert!(e.reason.starts_with("must be a number of seconds"), "{e}");
        assert_eq!(
            policy.validate("").unwrap_err().path,
            "/restart_timeout_seconds"
        );
        assert!(crate::handoff::CrashPolicy::default()
            .validate("crash")
            .is_ok());
    }

    #[test]
    fn a_check_message_naming_its_field_becomes_a_config_error_with_that_path() {
        let e = config_error(
            "pattern.x",
            "pattern.x config: field `members.w.count`: must be 1+",
        );
        assert_eq!(
            (e.kind.as_str(), e.path.as_str()),
            ("pattern.x", "/members/w/count")
        );
        assert_eq!(e.reason, "must be 1+");
        assert_eq!(field_message(&e), "field `members.w.count`: must be 1+");
        let whole = config_error("pattern.x", "unknown field `cnt`, expected `count`");
        assert_eq!(whole.path, "");
        let dotted = dotted_config_error("pattern.y", "pattern.y config: team.within_seconds: bad");
        assert_eq!(
            (dotted.path.as_str(), dotted.reason.as_str()),
            ("/team/within_seconds", "bad")
        );
        assert_eq!(dotted_message(&dotted), "team.within_seconds: bad");
        let plain = dotted_config_error("pattern.y", "unknown field `x`: no");
        assert_eq!(
            (plain.path.as_str(), plain.reason.as_str()),
            ("", "unknown field `x`: no")
        );
        assert_eq!(whole.reason, "unknown field `cnt`, expected `count`");
    }
}
