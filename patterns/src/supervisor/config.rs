//! The supervisor pattern's configuration: plain data (what a workflow file writes), checked
//! with messages that name the offending field.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::job::SupervisorError;
use super::routing::RoutingName;
use crate::member::{decode_config, MemberSpec, TeamPolicy};

/// The config of a `pattern.supervisor` agent. See the [module docs](super) for the shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorPatternConfig {
    /// The worker groups (*required*, at least one): `{group: {"type", "count", "config",
    /// "capabilities"}}`.
    pub members: BTreeMap<String, MemberSpec>,
    /// The worker team's supervision (restart strategy and intensity).
    #[serde(default)]
    pub team: TeamPolicy,
    /// `round_robin` (default), `least_loaded` or `by_capability`.
    #[serde(default)]
    pub routing: RoutingName,
    /// Units in flight at once, at most (default: the number of workers).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Re-routes of one unit after failed attempts before the unit fails the job (default 3).
    #[serde(default = "three")]
    pub max_reroutes: u32,
    /// A deadline per call to a worker, in seconds; a call past it counts as a failed attempt
    /// (default: none).
    #[serde(default, with = "troupe_runtime::config::seconds::option")]
    pub unit_timeout_seconds: Option<f64>,
    /// Rounds per job (default 1): each round's results are the next round's inputs, each
    /// unit keeping its capability; the answer is the last round's results.
    #[serde(default = "one")]
    pub rounds: u32,
    /// Answer `{"result", "rounds": [[{"unit", "worker", "attempts"}]]}` instead of the bare
    /// result (default false).
    #[serde(default)]
    pub report: bool,
    /// The member group (of one agent) that plans each job's units and decides after each
    /// round whether it is done (see `coordinator.rs`); it is not a worker. With it, `rounds`
    /// is the most rounds a job may run. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<String>,
}

fn three() -> u32 {
    3
}

fn one() -> u32 {
    1
}

impl SupervisorPatternConfig {
    /// A config with these worker groups and every default.
    pub fn new(members: BTreeMap<String, MemberSpec>) -> Self {
        Self {
            members,
            team: TeamPolicy::default(),
            routing: RoutingName::default(),
            max_in_flight: None,
            max_reroutes: three(),
            unit_timeout_seconds: None,
            rounds: one(),
            report: false,
            coordinator: None,
        }
    }

    /// Decodes and checks a JSON config.
    pub fn from_value(config: &Value) -> Result<Self, SupervisorError> {
        let parsed: Self = decode_config("pattern.supervisor", config).map_err(|e| {
            let e = crate::member::field_message(&e);
            invalid(locate::<Self>(config, &e).unwrap_or(e))
        })?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// Checks the values serde cannot: counts, bounds, durations.
    pub fn validate(&self) -> Result<(), SupervisorError> {
        let bad = |msg: String| Err(invalid(msg));
        if self.members.is_empty() {
            return bad("field `members`: at least one worker group is needed".into());
        }
        for (group, spec) in &self.members {
            check_member(&format!("members.{group}"), spec).map_err(invalid)?;
        }
        check_team("team", &self.team).map_err(invalid)?;
        if self.max_in_flight == Some(0) {
            return bad("field `max_in_flight`: must be at least 1".into());
        }
        if let Some(t) = self.unit_timeout_seconds {
            if !(t.is_finite() && t > 0.0) {
                return bad(format!(
                    "field `unit_timeout_seconds`: must be a positive number of seconds, not {t}"
                ));
            }
        }
        if self.rounds == 0 {
            return bad("field `rounds`: must be at least 1".into());
        }
        if let Some(c) = &self.coordinator {
            match self.members.get(c) {
                None => {
                    return bad(format!(
                        "field `coordinator`: names no member group (groups: {})",
                        self.members.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                }
                Some(spec) if spec.count != 1 => {
                    return bad(format!(
                        "field `members.{c}.count`: a coordinator group has one agent, not {}",
                        spec.count
                    ))
                }
                Some(_) if self.members.len() == 1 => return bad(
                    "field `coordinator`: the coordinator needs at least one other worker group"
                        .into(),
                ),
                Some(_) => {}
            }
        }
        if self.routing == RoutingName::ByCapability
            && self
                .members
                .iter()
                .filter(|(g, _)| Some(*g) != self.coordinator.as_ref())
                .all(|(_, m)| m.capabilities.is_empty())
        {
            return bad(
                "field `routing`: by_capability needs member groups that list `capabilities`"
                    .into(),
            );
        }
        Ok(())
    }
}

/// A config error of the supervisor pattern from a check's message (`field `a.b`: what`).
pub(crate) fn invalid(message: String) -> SupervisorError {
    SupervisorError::Config(crate::member::config_error("pattern.supervisor", message))
}

/// Checks a member group (shared with the hierarchical pattern).
pub(crate) fn check_member(path: &str, spec: &MemberSpec) -> Result<(), String> {
    if spec.kind.trim().is_empty() {
        return Err(format!("field `{path}.type`: must name an agent kind"));
    }
    if spec.count == 0 {
        return Err(format!("field `{path}.count`: must be at least 1"));
    }
    Ok(())
}

/// Checks a team policy (shared with the hierarchical pattern).
pub(crate) fn check_team(path: &str, team: &TeamPolicy) -> Result<(), String> {
    let w = team.within_seconds;
    if !(w.is_finite() && w >= 0.0) {
        return Err(format!(
            "field `{path}.within_seconds`: must be a number of seconds >= 0, not {w}"
        ));
    }
    Ok(())
}

/// Names the field behind a decoding error that serde reports without one (a value of the
/// wrong type): the field whose removal changes the error to "missing" or makes it go away.
/// Descends into `members.<group>` and `team`. `None` when the error already names its field.
pub(crate) fn locate<T: DeserializeOwned>(config: &Value, error: &str) -> Option<String> {
    if error.contains("field `") {
        return None;
    }
    let Value::Object(top) = config else {
        return None;
    };
    let key = culprit::<T>(top)?;
    let inner = match (key.as_str(), &top[&key]) {
        ("members", Value::Object(groups)) => groups.iter().find_map(|(group, spec)| {
            let Value::Object(spec) = spec else {
                return Some(group.clone());
            };
            serde_json::from_value::<MemberSpec>(Value::Object(spec.clone()))
                .err()
                .map(|_| match culprit::<MemberSpec>(spec) {
                    Some(field) => format!("{group}.{field}"),
                    None => group.clone(),
                })
        }),
        ("team", Value::Object(team)) => culprit::<TeamPolicy>(team),
        _ => None,
    };
    let path = match inner {
        Some(inner) => format!("{key}.{inner}"),
        None => key,
    };
    Some(format!("field `{path}`: {error}"))
}

/// The key of `object` whose value makes decoding `T` fail (see [`locate`]).
pub(crate) fn culprit<T: DeserializeOwned>(object: &Map<String, Value>) -> Option<String> {
    object.keys().find_map(|key| {
        let mut rest = object.clone();
        rest.remove(key);
        match serde_json::from_value::<T>(Value::Object(rest)) {
            Ok(_) => Some(key.clone()),
            Err(e) if e.to_string().starts_with(&format!("missing field `{key}`")) => {
                Some(key.clone())
            }
            Err(_) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(config: Value) -> String {
        SupervisorPatternConfig::from_value(&config)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_field() {
        let w = json!({"w": {"type": "util.echo"}});
        assert!(err(json!({"members": w, "route": "x"})).contains("unknown field `route`"));
        assert!(err(json!({})).contains("missing field `members`"));
        assert_eq!(
            err(json!({"members": w, "max_in_flight": "many"})),
            "pattern.supervisor config: field `max_in_flight`: invalid type: string \"many\", expected usize"
        );
        assert!(
            err(json!({"members": {"w": {"type": "util.echo", "count": "two"}}}))
                .starts_with("pattern.supervisor config: field `members.w.count`: invalid type")
        );
        assert!(err(json!({"members": w, "team": {"max_restarts": -1}}))
            .starts_with("pattern.supervisor config: field `team.max_restarts`"));
        assert!(
            err(json!({"members": w, "routing": "random"})).contains("unknown variant `random`")
        );
        assert!(err(json!({"members": w, "max_in_flight": 0})).contains("field `max_in_flight`"));
        assert!(err(json!({"members": w, "rounds": 0})).contains("field `rounds`"));
        assert!(err(json!({"members": {}})).contains("field `members`"));
        assert!(
            err(json!({"members": {"w": {"type": "util.echo", "count": 0}}}))
                .contains("field `members.w.count`")
        );
        assert!(err(json!({"members": w, "routing": "by_capability"})).contains("field `routing`"));
        assert!(
            err(json!({"members": w, "unit_timeout_seconds": -1})).contains("unit_timeout_seconds")
        );
        assert!(err(json!({"members": w, "coordinator": "plan"}))
            .contains("field `coordinator`: names no member group (groups: w)"));
        assert!(err(json!({"members": w, "coordinator": "w"}))
            .contains("needs at least one other worker group"));
        let two = json!({"w": {"type": "util.echo"}, "plan": {"type": "util.echo", "count": 2}});
        assert!(err(json!({"members": two, "coordinator": "plan"}))
            .contains("field `members.plan.count`"));
    }

    #[test]
    fn a_config_error_is_a_config_error_with_the_path_of_its_field() {
        let config = json!({"members": {"w": {"type": "util.echo", "count": 0}}});
        let Err(SupervisorError::Config(e)) = SupervisorPatternConfig::from_value(&config) else {
            panic!("count 0 must be refused as a config error");
        };
        assert_eq!(e.kind, "pattern.supervisor");
        assert_eq!(e.path, "/members/w/count");
        assert_eq!(e.reason, "must be at least 1");
        let typed = json!({"members": {"w": {"type": "util.echo"}}, "max_in_flight": "many"});
        let Err(SupervisorError::Config(e)) = SupervisorPatternConfig::from_value(&typed) else {
            panic!("a string max_in_flight must be refused as a config error");
        };
        assert_eq!(e.path, "/max_in_flight");
        assert!(e.reason.starts_with("invalid type"), "{e}");
    }

    #[test]
    fn defaults() {
        let c =
            SupervisorPatternConfig::from_value(&json!({"members": {"w": {"type": "util.echo"}}}))
                .unwrap();
        assert_eq!(c.max_reroutes, 3);
        assert_eq!(c.rounds, 1);
        assert_eq!(c.routing, RoutingName::RoundRobin);
        assert!(!c.report);
    }
}
