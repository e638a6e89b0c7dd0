//! Language-model token usage of a run, added up from its `LlmUsage` events: per task (the
//! calls of a task's attempts carry the run and task) and in total (calls of agents that serve
//! no task directly, e.g. a pattern's members, count in the total only). Pure, so it is tested
//! without running anything.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};
use troupe::{Event, EventKind};

/// Tokens of some calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Chat-completions calls.
    pub calls: u64,
    /// Prompt tokens.
    pub prompt: u64,
    /// Completion tokens.
    pub completion: u64,
    /// Total tokens (as the endpoints reported them).
    pub total: u64,
}

impl Usage {
    fn json(&self) -> Value {
        json!({"calls": self.calls, "prompt_tokens": self.prompt,
               "completion_tokens": self.completion, "total_tokens": self.total})
    }
}

/// The usage seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Per task id.
    pub tasks: BTreeMap<String, Usage>,
    /// Every call seen.
    pub total: Usage,
}

impl Tally {
    /// Counts an event (others than `LlmUsage` are ignored).
    pub fn apply(&mut self, e: &Event) {
        let EventKind::LlmUsage {
            prompt_tokens,
            completion_tokens,
            total_tokens,
            ..
        } = &e.kind
        else {
            return;
        };
        let add = |u: &mut Usage| {
            u.calls += 1;
            u.prompt += prompt_tokens;
            u.completion += completion_tokens;
            u.total += total_tokens;
        };
        add(&mut self.total);
        if let Some(task) = &e.task {
            add(self.tasks.entry(task.to_string()).or_default());
        }
    }

    /// The summary's token lines (nothing when no model was called).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.total.calls == 0 {
            return out;
        }
        let _ = writeln!(out, "\nllm tokens (prompt + completion = total, calls):");
        let width = self
            .tasks
            .keys()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut line = |name: &str, u: &Usage| {
            let _ = writeln!(
                out,
                "  {name:<width$}  {} + {} = {} ({} call{})",
                u.prompt,
                u.completion,
                u.total,
                u.calls,
                if u.calls == 1 { "" } else { "s" }
            );
        };
        for (task, u) in &self.tasks {
            line(task, u);
        }
        line("total", &self.total);
        out
    }

    /// The `llm_usage` member of the JSON report.
    pub fn json(&self) -> Value {
        let tasks: serde_json::Map<String, Value> = self
            .tasks
            .iter()
            .map(|(t, u)| (t.clone(), u.json()))
            .collect();
        json!({"tasks": tasks, "total": self.total.json()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use troupe::{AgentId, RunId, TaskId};

    fn usage(task: Option<&str>, prompt: u64, completion: u64) -> Event {
        Event {
            seq: 1,
            at: Duration::ZERO,
            workflow: Some(RunId::new("r1")),
            task: task.map(TaskId::new),
            agent: Some(AgentId::new("model")),
            kind: EventKind::LlmUsage {
                call: "r1/ask/1".into(),
                model: "m".into(),
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
            },
        }
    }

    #[test]
    fn usage_adds_up_per_task_and_in_total() {
        let mut t = Tally::default();
        assert_eq!(t.render(), "");
        t.apply(&usage(Some("ask"), 10, 2));
        t.apply(&usage(Some("ask"), 20, 3));
        t.apply(&usage(Some("sum"), 5, 5));
        t.apply(&usage(None, 1, 1));
        assert_eq!(
            t.tasks["ask"],
            Usage {
                calls: 2,
                prompt: 30,
                completion: 5,
                total: 35
            }
        );
        assert_eq!(t.total.total, 47);
        assert_eq!(
            t.render(),
            "\nllm tokens (prompt + completion = total, calls):\n  ask    30 + 5 = 35 (2 calls)\n  sum    5 + 5 = 10 (1 call)\n  total  36 + 11 = 47 (4 calls)\n"
        );
        assert_eq!(t.json()["tasks"]["sum"]["total_tokens"], 10);
        assert_eq!(t.json()["total"]["calls"], 4);
    }
}
