//! `llm.chat` as the coordinator of a supervisor pattern (`pattern.supervisor` with
//! `coordinator:`): with `supervisor: {capabilities: [search, ...]}` the model gets two tools,
//! `assign_units` (split the task into units of work for the team, each optionally naming a
//! capability) and `finish` (the job's answer). The request is the pattern's coordinator input
//! (`{"task", "round", "units"?, "results"?}`): the task is the user message (through `prompt`
//! if set), and after a round its units and their results are shown to the model as a second
//! user message. A call of `assign_units` ends the loop with the protocol's `{"units": [...]}`,
//! a call of `finish` — or a final answer without a tool call — with `{"done": answer}`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::wire::ToolCall;

/// The coordinator tools of an LLM member of a supervisor pattern.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorTools {
    /// The capabilities of the team's groups a unit may ask for (empty: units name none).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

const ASSIGN: &str = "assign_units";
const FINISH: &str = "finish";

impl SupervisorTools {
    /// The `assign_units` and `finish` tool definitions.
    pub(crate) fn definitions(&self) -> Vec<Value> {
        let mut unit = json!({"type": "object", "required": ["input"], "properties": {
            "input": {"description": "what the worker is asked (text or JSON)"}
        }});
        if !self.capabilities.is_empty() {
            unit["properties"]["capability"] = json!({
                "type": "string", "enum": self.capabilities,
                "description": "the kind of worker the unit needs"
            });
        }
        vec![
            json!({"type": "function", "function": {
                "name": ASSIGN,
                "description": "splits the task into units of work; the team answers them in parallel and you see the results",
                "parameters": {"type": "object", "required": ["units"], "properties": {
                    "units": {"type": "array", "minItems": 1, "items": unit}
                }}
            }}),
            json!({"type": "function", "function": {
                "name": FINISH,
                "description": "ends the task with its final answer",
                "parameters": {"type": "object", "required": ["answer"], "properties": {
                    "answer": {"description": "the final answer (text or JSON)"}
                }}
            }}),
        ]
    }

    /// The protocol's answer if the turn calls `assign_units` or `finish` (the first such call
    /// wins). Arguments that do not decode are answered as an error the model sees (`Err`).
    pub(crate) fn decide(&self, calls: &[ToolCall]) -> Option<Result<Value, (String, String)>> {
        calls.iter().find_map(|c| {
            let name = c.function.name.as_str();
            if name != ASSIGN && name != FINISH {
                return None;
            }
            let args: Value = match serde_json::from_str(&c.function.arguments) {
                Ok(v) => v,
                Err(e) => return Some(Err((c.id.clone(), format!("arguments are not JSON: {e}")))),
            };
            Some(match name {
                FINISH => Ok(json!({"done": args.get("answer").cloned().unwrap_or(Value::Null)})),
                _ => self.units(&args).map_err(|e| (c.id.clone(), e)),
            })
        })
    }

    fn units(&self, args: &Value) -> Result<Value, String> {
        let Some(units) = args
            .get("units")
            .and_then(Value::as_array)
            .filter(|u| !u.is_empty())
        else {
            return Err("`units` must be a non-empty array of {input, capability?}".into());
        };
        let mut out = Vec::with_capacity(units.len());
        for (i, u) in units.iter().enumerate() {
            let (input, capability) = match u {
                Value::Object(o) if o.contains_key("input") => {
                    (o["input"].clone(), o.get("capability").cloned())
                }
                other => (other.clone(), None),
            };
            let mut unit = json!({ "input": input });
            match capability {
                None | Some(Value::Null) => {}
                Some(Value::String(c)) if self.capabilities.contains(&c) => {
                    unit["capability"] = Value::String(c)
                }
                Some(c) => {
                    return Err(format!(
                        "unit {i}: capability {c} is not one of {:?}",
                        self.capabilities
                    ))
                }
            }
            out.push(unit);
        }
        Ok(json!({ "units": out }))
    }

    /// The task and the previous round's report of a coordinator input (other requests as
    /// they are, with no report).
    pub(crate) fn unwrap_input(request: &Value) -> (Value, Option<String>) {
        match request {
            Value::Object(o) if o.contains_key("task") && o.contains_key("round") => {
                let report = o.get("results").map(|results| {
                    let units = o.get("units").and_then(Value::as_array);
                    let rows: Vec<Value> = results
                        .as_array()
                        .map(|r| r.as_slice())
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            let input = units
                                .and_then(|u| u.get(i))
                                .map(|u| u["input"].clone())
                                .unwrap_or(Value::Null);
                            json!({"input": input, "result": r})
                        })
                        .collect();
                    format!(
                        "Round {} is done. The units you assigned and their results (JSON): {}\n\
                         Call `finish` with the answer, or `assign_units` for another round.",
                        o["round"],
                        Value::Array(rows)
                    )
                });
                (o["task"].clone(), report)
            }
            other => (other.clone(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::wire::FunctionCall;

    fn call(name: &str, args: Value) -> ToolCall {
        ToolCall {
            id: "c1".into(),
            kind: "function".into(),
            function: FunctionCall {
                name: name.into(),
                arguments: args.to_string(),
            },
        }
    }

    #[test]
    fn tool_calls_become_the_protocol_answers() {
        let t = SupervisorTools {
            capabilities: vec!["search".into()],
        };
        let units = json!({"units": [{"input": "a", "capability": "search"}, "b"]});
        assert_eq!(
            t.decide(&[call(ASSIGN, units)]).unwrap().unwrap(),
            json!({"units": [{"input": "a", "capability": "search"}, {"input": "b"}]})
        );
        assert_eq!(
            t.decide(&[
                call("other", json!({})),
                call(FINISH, json!({"answer": 42}))
            ])
            .unwrap()
            .unwrap(),
            json!({"done": 42})
        );
        let bad = json!({"units": [{"input": "a", "capability": "write"}]});
        let (id, why) = t.decide(&[call(ASSIGN, bad)]).unwrap().unwrap_err();
        assert_eq!(id, "c1");
        assert!(why.contains("capability \"write\" is not one of"), "{why}");
        assert!(t
            .decide(&[call(ASSIGN, json!({"units": []}))])
            .unwrap()
            .is_err());
        assert!(t.decide(&[call("word_count", json!({}))]).is_none());
    }

    #[test]
    fn a_round_report_pairs_units_with_results() {
        let (task, report) = SupervisorTools::unwrap_input(&json!({"task": "q", "round": 0}));
        assert_eq!((task, report), (json!("q"), None));
        let (_, report) = SupervisorTools::unwrap_input(&json!({
            "task": "q", "round": 1, "units": [{"input": "a"}], "results": ["A"]
        }));
        let report = report.unwrap();
        assert!(report.starts_with("Round 1 is done"), "{report}");
        assert!(
            report.contains(r#"[{"input":"a","result":"A"}]"#),
            "{report}"
        );
    }
}
