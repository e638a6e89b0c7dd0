//! One run's input and retry policy written into a workflow definition, so the run's tasks get
//! them and a resumed run (which re-reads the stored definition) keeps them. Shared by
//! `troupe run --input` and the service's `POST …/execute` (`input_data`,
//! `execution_options.retry_policy`).

use serde_json::Value;

/// Why a definition could not be rewritten for a run.
#[derive(Debug)]
pub enum RewriteError {
    /// The definition text does not parse as YAML (or JSON).
    Parse(String),
    /// The definition has no `tasks` list to apply the input or policy to.
    NoTasks,
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => write!(f, "the workflow definition does not parse: {e}"),
            Self::NoTasks => write!(f, "the workflow has no task list to apply them to"),
        }
    }
}

impl std::error::Error for RewriteError {}

/// `text` (a workflow definition) rewritten for one run, as JSON (which is YAML too): with
/// `retry_policy`, every task's `retry_policy` is replaced by it; with `input`, every task
/// without dependencies (and not a signal wait or a sleep) and without an `input` of its own
/// takes `input`, and every string `"$input"` / `"$input.a.b"` in a task's `input` becomes that
/// part of it (`null` where the path leads nowhere).
pub fn rewrite_definition(
    text: &str,
    retry_policy: Option<&Value>,
    input: Option<&Value>,
) -> Result<String, RewriteError> {
    let mut doc: Value =
        serde_saphyr::from_str(text).map_err(|e| RewriteError::Parse(e.to_string()))?;
    let root = if doc.get("workflow").is_some() {
        &mut doc["workflow"]
    } else {
        &mut doc
    };
    let Some(tasks) = root.get_mut("tasks").and_then(Value::as_array_mut) else {
        return Err(RewriteError::NoTasks);
    };
    for task in tasks.iter_mut().filter_map(Value::as_object_mut) {
        if let Some(policy) = retry_policy {
            task.insert("retry_policy".into(), policy.clone());
        }
        let Some(input) = input else { continue };
        let takes_input = task
            .get("depends_on")
            .and_then(Value::as_array)
            .is_none_or(|d| d.is_empty())
            && task.get("await_signal").is_none()
            && task.get("sleep").is_none();
        match task.get_mut("input") {
            Some(given) => substitute_input(given, input),
            None if takes_input => {
                task.insert("input".into(), input.clone());
            }
            None => {}
        }
    }
    serde_json::to_string_pretty(&doc).map_err(|e| RewriteError::Parse(e.to_string()))
}

/// Replaces every string `"$input"` / `"$input.a.0"` in `value` by that part of `input`
/// (`null` where the path leads nowhere).
fn substitute_input(value: &mut Value, input: &Value) {
    match value {
        Value::String(s) if s == "$input" || s.starts_with("$input.") => {
            let mut at = input;
            for part in s["$input".len()..].split('.').filter(|p| !p.is_empty()) {
                at = match at {
                    Value::Object(m) => m.get(part).unwrap_or(&Value::Null),
                    Value::Array(a) => part
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| a.get(i))
                        .unwrap_or(&Value::Null),
                    _ => &Value::Null,
                };
            }
            *value = at.clone();
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute_input(v, input)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute_input(v, input)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_goes_to_root_tasks_and_substitutes_paths() {
        let text = "workflow:\n  tasks:\n    - { id: a, agent: x }\n    - { id: b, agent: x, input: \"$input.t.0\" }\n    - { id: c, agent: x, depends_on: [a] }\n";
        let out = rewrite_definition(text, None, Some(&json!({"t": ["v"]}))).unwrap();
        let doc: Value = serde_json::from_str(&out).unwrap();
        let tasks = &doc["workflow"]["tasks"];
        assert_eq!(tasks[0]["input"], json!({"t": ["v"]}));
        assert_eq!(tasks[1]["input"], json!("v"));
        assert!(tasks[2].get("input").is_none());
    }

    #[test]
    fn no_task_list_is_an_error() {
        let e = rewrite_definition("workflow: {name: x}", None, Some(&json!(1))).unwrap_err();
        assert!(matches!(e, RewriteError::NoTasks), "{e}");
    }
}
