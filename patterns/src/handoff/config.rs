//! The handoff pattern's configuration: plain data (what a workflow file writes under the
//! pattern's `config:`), a builder for Rust users, and `validate()`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::ConfigError;

use super::crash::CrashPolicy;
use crate::member::{decode_config, MemberSpec, TeamPolicy};

/// The kind name of the handoff pattern.
pub const KIND: &str = "pattern.handoff";

/// Configuration of a handoff pattern.
///
/// ```json
/// {"members": {"triage": {"type": "desk.triage"}, "billing": {"type": "desk.billing"}},
///  "start": "triage", "max_handoffs": 8}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffConfig {
    /// The members by name (*required*); each is one agent (`count` 1) of any kind.
    pub members: BTreeMap<String, MemberSpec>,
    /// The member a new conversation starts at (*required*).
    pub start: String,
    /// Transfers (handoffs, continuing handbacks, forks) allowed in one turn (default 8).
    #[serde(default = "eight")]
    pub max_handoffs: u32,
    /// Whether members receive the conversation's history (default false).
    #[serde(default)]
    pub share_history: bool,
    /// History steps kept per conversation, oldest dropped first (default 100).
    #[serde(default = "hundred")]
    pub max_history: usize,
    /// Conversations kept at once; a new one past it is refused (default 10 000).
    #[serde(default = "ten_thousand")]
    pub max_conversations: usize,
    /// Deadline of each member call in seconds (default none).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "troupe_runtime::config::seconds::option"
    )]
    pub member_timeout_seconds: Option<f64>,
    /// What happens when a member crashes on a call.
    #[serde(default)]
    pub crash: CrashPolicy,
    /// The members' supervision.
    #[serde(default)]
    pub team: TeamPolicy,
    /// Snapshot every conversation after each request, so they survive a restart of the
    /// pattern agent (default false; costs a full snapshot per request).
    #[serde(default)]
    pub persist: bool,
}

fn eight() -> u32 {
    8
}
fn hundred() -> usize {
    100
}
fn ten_thousand() -> usize {
    10_000
}

impl HandoffConfig {
    /// A config starting conversations at member `start`, with defaults and no members yet.
    pub fn new(start: impl Into<String>) -> Self {
        Self {
            members: BTreeMap::new(),
            start: start.into(),
            max_handoffs: eight(),
            share_history: false,
            max_history: hundred(),
            max_conversations: ten_thousand(),
            member_timeout_seconds: None,
            crash: CrashPolicy::default(),
            team: TeamPolicy::default(),
            persist: false,
        }
    }

    /// Adds member `name`: one agent of kind `kind` with `config`.
    pub fn member(mut self, name: impl Into<String>, kind: &str, config: Value) -> Self {
        self.members
            .insert(name.into(), MemberSpec::new(kind, 1).config(config));
        self
    }

    /// Sets the transfer limit per turn.
    pub fn max_handoffs(mut self, n: u32) -> Self {
        self.max_handoffs = n;
        self
    }

    /// Shares the history with members.
    pub fn share_history(mut self, yes: bool) -> Self {
        self.share_history = yes;
        self
    }

    /// Sets the crash policy.
    pub fn crash(mut self, policy: CrashPolicy) -> Self {
        self.crash = policy;
        self
    }

    /// Sets the members' supervision.
    pub fn team(mut self, team: TeamPolicy) -> Self {
        self.team = team;
        self
    }

    /// Decodes and validates a JSON config.
    pub fn from_value(config: &Value) -> Result<Self, ConfigError> {
        let config: Self = decode_config(KIND, config)?;
        config.validate()?;
        Ok(config)
    }

    /// The JSON form.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Checks the values; the error names the field (its reason starts with the field's path).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check()
            .map_err(|m| crate::member::dotted_config_error(KIND, m))
    }

    fn check(&self) -> Result<(), String> {
        let fail = |m: String| Err(format!("{KIND} config: {m}"));
        if let Err(m) = check_members(&self.members) {
            return fail(m);
        }
        if !self.members.contains_key(&self.start) {
            return fail(format!(
                "start: {:?} is not a member (members: {})",
                self.start,
                names(&self.members)
            ));
        }
        if self.max_handoffs == 0 {
            return fail("max_handoffs: must be at least 1".into());
        }
        if self.max_conversations == 0 {
            return fail("max_conversations: must be at least 1".into());
        }
        let checks = [
            check_seconds("member_timeout_seconds", self.member_timeout_seconds),
            self.crash
                .validate("crash")
                .map_err(|e| crate::member::dotted_message(&e)),
            check_team(&self.team),
        ];
        match checks.into_iter().find_map(Result::err) {
            Some(m) => fail(m),
            None => Ok(()),
        }
    }
}

/// Member names: non-empty, no `/`, `#`, whitespace or control characters; each one agent.
pub(crate) fn check_members(members: &BTreeMap<String, MemberSpec>) -> Result<(), String> {
    if members.is_empty() {
        return Err("members: at least one member is required".into());
    }
    for (name, spec) in members {
        let bad = |c: char| c == '/' || c == '#' || c.is_whitespace() || c.is_control();
        if name.is_empty() || name.chars().any(bad) {
            return Err(format!(
                "members: {name:?} is not a usable name (non-empty, no '/', '#' or whitespace)"
            ));
        }
        if spec.count != 1 {
            return Err(format!(
                "members.{name}.count: must be 1 (a member is one agent, addressed by name), got {}",
                spec.count
            ));
        }
    }
    Ok(())
}

/// The member names, comma separated.
pub(crate) fn names(members: &BTreeMap<String, MemberSpec>) -> String {
    members.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// An optional number of seconds: positive, finite, at most a day.
pub(crate) fn check_seconds(field: &str, value: Option<f64>) -> Result<(), String> {
    match value {
        Some(s) if !(s.is_finite() && s > 0.0 && s <= 86_400.0) => Err(format!(
            "{field}: must be a number of seconds in (0, 86400], got {s}"
        )),
        _ => Ok(()),
    }
}

/// The team's window must convert to a duration without overflow.
pub(crate) fn check_team(team: &TeamPolicy) -> Result<(), String> {
    let w = team.within_seconds;
    if !(w.is_finite() && (0.0..=86_400.0).contains(&w)) {
        return Err(format!(
            "team.within_seconds: must be a number of seconds in [0, 86400], got {w}"
        ));
    }
    Ok(())
}
