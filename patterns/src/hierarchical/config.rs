//! A team tree from JSON. A team is `{"members": {...}, "team", "split", "combine",
//! "max_retries"}`; a member group is either agents (`{"type", "count", "config",
//! "capabilities"}`) or sub-teams (a team with an optional `"count"`). Errors give the path of
//! the offending field (`members.sub.members.leaf.count`).

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::combine::{describe, CombineName, SplitName};
use super::spec::{join, TeamSpec};
use crate::member::{MemberSpec, TeamPolicy};
use crate::supervisor::culprit;

const TEAM_FIELDS: &str = "members, team, split, combine, max_retries";

/// The agents a team config starts, its sub-teams' included (a group with a `type` is
/// agents, one with `members` a sub-team), for validation
/// ([`troupe_runtime::KindRegistry::nested_agents`]).
pub(crate) fn nested_agents(config: &Value) -> Vec<troupe_runtime::NestedAgent> {
    let mut out = Vec::new();
    nested_in_team("", config, &mut out);
    out
}

fn nested_in_team(path: &str, team: &Value, out: &mut Vec<troupe_runtime::NestedAgent>) {
    out.extend(crate::member::nested_at(path, team, "members"));
    if let Some(Value::Object(groups)) = team.get("members") {
        for (group, member) in groups {
            if member.get("type").is_none() && member.get("members").is_some() {
                let at = format!("{path}/members/{}", crate::member::pointer_token(group));
                nested_in_team(&at, member, out);
            }
        }
    }
}

/// Decodes (not yet validates) the root team.
pub(crate) fn decode(config: &Value) -> Result<TeamSpec, String> {
    match config {
        Value::Object(team) => decode_team("", team, false).map(|(spec, _)| spec),
        Value::Null => Err("field `members`: missing (a team needs member groups)".into()),
        other => Err(format!(
            "the config must be an object (a team), not {}",
            describe(other)
        )),
    }
}

fn decode_team(
    path: &str,
    team: &Map<String, Value>,
    sub: bool,
) -> Result<(TeamSpec, usize), String> {
    let mut spec = TeamSpec::new();
    let mut count = 1;
    for (key, value) in team {
        let at = join(path, key);
        match key.as_str() {
            "members" => {}
            "team" => spec = spec.policy(field::<TeamPolicy>(&at, value)?),
            "split" => spec = spec.split(field::<SplitName>(&at, value)?.into()),
            "combine" => spec = spec.combine(field::<CombineName>(&at, value)?.into()),
            "max_retries" => spec = spec.max_retries(field::<u32>(&at, value)?),
            "count" if sub => count = field::<usize>(&at, value)?,
            _ => {
                let also = if sub { ", count" } else { "" };
                return Err(format!(
                    "field `{at}`: unknown field (a team has {TEAM_FIELDS}{also})"
                ));
            }
        }
    }
    let at = join(path, "members");
    let members = match team.get("members") {
        Some(Value::Object(members)) => members,
        Some(other) => {
            return Err(format!(
                "field `{at}`: must be an object of member groups, not {}",
                describe(other)
            ))
        }
        None => {
            return Err(format!(
                "field `{at}`: missing (a team needs member groups)"
            ))
        }
    };
    for (group, member) in members {
        let at = format!("{at}.{group}");
        let Value::Object(fields) = member else {
            return Err(format!(
                "field `{at}`: a member group is an object, not {}",
                describe(member)
            ));
        };
        spec = if fields.contains_key("type") {
            spec.agents(group, field::<MemberSpec>(&at, member)?)
        } else if fields.contains_key("members") {
            let (sub, count) = decode_team(&at, fields, true)?;
            spec.teams(group, count, sub)
        } else {
            return Err(format!(
                "field `{at}`: a member group needs `type` (agents of a kind) or `members` (a sub-team)"
            ));
        };
    }
    Ok((spec, count))
}

/// Decodes one field; an error names it, or the field inside it that is wrong.
fn field<T: DeserializeOwned>(path: &str, value: &Value) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|e| {
        let e = e.to_string();
        match value {
            Value::Object(fields) if !e.contains("field `") => match culprit::<T>(fields) {
                Some(key) => format!("field `{path}.{key}`: {e}"),
                None => format!("field `{path}`: {e}"),
            },
            _ => format!("field `{path}`: {e}"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(config: Value) -> String {
        match decode(&config) {
            Ok(spec) => spec.validate().unwrap_err().to_string(),
            Err(e) => e,
        }
    }

    #[test]
    fn errors_give_the_path() {
        let leaf = json!({"type": "util.echo"});
        assert_eq!(
            err(
                json!({"members": {"sub": {"members": {"leaf": {"type": "util.echo", "count": "x"}}}}})
            ),
            "field `members.sub.members.leaf.count`: invalid type: string \"x\", expected usize"
        );
        assert!(err(
            json!({"members": {"sub": {"members": {"leaf": {"type": "util.echo", "cnt": 1}}}}})
        )
        .starts_with("field `members.sub.members.leaf`: unknown field `cnt`"));
        assert_eq!(
            err(json!({"members": {"a": leaf}, "combine": "product"})),
            "field `combine`: unknown variant `product`, expected one of `array`, `sum`, `concat`, `object`"
        );
        assert_eq!(
            err(json!({"members": {"a": leaf}, "count": 2})),
            "field `count`: unknown field (a team has members, team, split, combine, max_retries)"
        );
        assert_eq!(
            err(json!({"members": {"a": {"count": 2}}})),
            "field `members.a`: a member group needs `type` (agents of a kind) or `members` (a sub-team)"
        );
        assert_eq!(
            err(json!(null)),
            "field `members`: missing (a team needs member groups)"
        );
        assert!(err(json!({"members": {"s": {"members": {}}}}))
            .contains("field `members.s.members`: a team needs at least one member group"));
        assert!(
            err(json!({"members": {"s": {"count": 0, "members": {"a": leaf}}}}))
                .contains("field `members.s.count`: must be at least 1")
        );
        assert!(
            err(json!({"members": {"a": leaf}, "team": {"max_restarts": "x"}}))
                .starts_with("field `team.max_restarts`: invalid type")
        );
    }

    #[test]
    fn a_config_error_carries_the_path_of_its_field() {
        use crate::hierarchical::{HierarchicalError, HierarchicalPattern};
        let config =
            json!({"members": {"s": {"count": 0, "members": {"a": {"type": "util.echo"}}}}});
        let Err(HierarchicalError::Config(e)) = HierarchicalPattern::from_config(&config) else {
            panic!("count 0 must be refused as a config error");
        };
        assert_eq!(e.kind, "pattern.hierarchical");
        assert_eq!(e.path, "/members/s/count");
        assert_eq!(e.reason, "must be at least 1");
        let Err(HierarchicalError::Config(e)) = HierarchicalPattern::from_config(&json!(null))
        else {
            panic!("a null tree must be refused as a config error");
        };
        assert_eq!(e.path, "/members");
    }

    #[test]
    fn a_tree_decodes() {
        let spec = decode(&json!({
            "combine": "sum",
            "members": {
                "leaf": {"type": "util.echo", "count": 2},
                "sub": {"count": 3, "split": "scatter", "members": {"x": {"type": "util.echo"}}},
            }
        }))
        .unwrap();
        spec.validate().unwrap();
        assert_eq!(spec.children().len(), 5);
    }
}
