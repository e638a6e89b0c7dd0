//! The network pattern's configuration: plain data, a builder, and `validate()`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use troupe_runtime::ConfigError;

use crate::handoff::{check_members, check_seconds, check_team, names, CrashPolicy};
use crate::member::{decode_config, MemberSpec, TeamPolicy};

/// The kind name of the network pattern.
pub const KIND: &str = "pattern.network";

/// The largest hop budget accepted.
pub const MAX_HOP_BUDGET: u32 = 1024;

/// Configuration of a network pattern.
///
/// ```json
/// {"members": {"a": {"type": "router"}, "b": {"type": "expert"}}, "entry": "a", "hop_budget": 8}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The members by name (*required*); each is one agent (`count` 1) of any kind.
    pub members: BTreeMap<String, MemberSpec>,
    /// The member every request is delivered to first (*required*).
    pub entry: String,
    /// Sends allowed along one path of a request (default 8, at most 1024).
    #[serde(default = "eight")]
    pub hop_budget: u32,
    /// Deliveries allowed for one request, all fan-out branches together (default 64).
    #[serde(default = "sixty_four")]
    pub message_budget: u32,
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
    /// The supervision of members and their peers.
    #[serde(default)]
    pub team: TeamPolicy,
}

fn eight() -> u32 {
    8
}
fn sixty_four() -> u32 {
    64
}

impl NetworkConfig {
    /// A config whose requests enter at member `entry`, with defaults and no members yet.
    pub fn new(entry: impl Into<String>) -> Self {
        Self {
            members: BTreeMap::new(),
            entry: entry.into(),
            hop_budget: eight(),
            message_budget: sixty_four(),
            member_timeout_seconds: None,
            crash: CrashPolicy::default(),
            team: TeamPolicy::default(),
        }
    }

    /// Adds member `name`: one agent of kind `kind` with `config`.
    pub fn member(mut self, name: impl Into<String>, kind: &str, config: Value) -> Self {
        self.members
            .insert(name.into(), MemberSpec::new(kind, 1).config(config));
        self
    }

    /// Sets the hop budget.
    pub fn hop_budget(mut self, hops: u32) -> Self {
        self.hop_budget = hops;
        self
    }

    /// Sets the message budget.
    pub fn message_budget(mut self, messages: u32) -> Self {
        self.message_budget = messages;
        self
    }

    /// Sets the crash policy.
    pub fn crash(mut self, policy: CrashPolicy) -> Self {
        self.crash = policy;
        self
    }

    /// Sets the supervision of members and peers.
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
        if !self.members.contains_key(&self.entry) {
            return fail(format!(
                "entry: {:?} is not a member (members: {})",
                self.entry,
                names(&self.members)
            ));
        }
        if !(1..=MAX_HOP_BUDGET).contains(&self.hop_budget) {
            return fail(format!(
                "hop_budget: must be in 1..={MAX_HOP_BUDGET}, got {}",
                self.hop_budget
            ));
        }
        if self.message_budget == 0 {
            return fail("message_budget: must be at least 1".into());
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
