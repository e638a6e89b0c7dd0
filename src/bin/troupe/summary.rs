//! The end-of-run summary: a task table, the critical path, the final outputs, and the outcome.
//! Pure formatting, so it is tested without running anything.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};
use troupe::workflow::plan::Plan;
use troupe::workflow::saga::CompensationStatus;
use troupe::{Outcome, TaskStatus, WorkflowReport};

/// Renders the summary printed after a run.
pub fn render(report: &WorkflowReport, plan: &Plan, output_lines: usize) -> String {
    let mut out = String::new();
    let width = report
        .tasks
        .iter()
        .map(|t| t.id.as_str().chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<9}  {:>8}  {:>10}  NOTE",
        "TASK", "STATUS", "ATTEMPTS", "DURATION"
    );
    for t in &report.tasks {
        let note = t.error.as_deref().unwrap_or("");
        let _ = writeln!(
            out,
            "{:<width$}  {:<9}  {:>8}  {:>10}  {}",
            t.id.as_str(),
            status(t.status),
            t.attempts,
            human(t.duration),
            one_line(note, 100)
        );
    }
    if !report.critical_path.tasks.is_empty() {
        let path: Vec<&str> = report
            .critical_path
            .tasks
            .iter()
            .map(|t| t.as_str())
            .collect();
        let _ = writeln!(
            out,
            "\ncritical path: {} ({})",
            path.join(" → "),
            human(report.critical_path.total)
        );
    }
    render_compensations(&mut out, report);
    if output_lines > 0 {
        for (i, t) in report.tasks.iter().enumerate() {
            let is_sink = plan.dependents.get(i).is_some_and(|d| d.is_empty());
            let Some(output) = t.output.as_ref().filter(|_| is_sink) else {
                continue;
            };
            let _ = writeln!(out, "\noutput of {}:", t.id);
            let text = match output {
                Value::String(s) => s.clone(),
                other => serde_json::to_string_pretty(other).unwrap_or_default(),
            };
            let lines: Vec<&str> = text.lines().collect();
            for line in lines.iter().take(output_lines) {
                let _ = writeln!(out, "  {line}");
            }
            if lines.len() > output_lines {
                let _ = writeln!(
                    out,
                    "  … ({} more lines; --report FILE keeps everything)",
                    lines.len() - output_lines
                );
            }
        }
    }
    let verdict = match &report.outcome {
        Outcome::Succeeded => format!(
            "workflow {} succeeded in {}",
            report.name,
            human(report.duration)
        ),
        Outcome::Failed { cause } => format!(
            "workflow {} FAILED after {}: {cause}",
            report.name,
            human(report.duration)
        ),
        Outcome::Cancelled => format!(
            "workflow {} was cancelled after {}",
            report.name,
            human(report.duration)
        ),
    };
    let _ = writeln!(out, "\n{verdict}");
    out
}

/// The saga rollback's compensations, in the order they ran.
fn render_compensations(out: &mut String, report: &WorkflowReport) {
    if report.compensations.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nsaga rollback (reverse order of completion):");
    for c in &report.compensations {
        let _ = writeln!(
            out,
            "  compensate {:<20} {:<12} {} attempt(s)",
            c.task.as_str(),
            compensation_status(&c.status),
            c.attempts
        );
    }
}

fn compensation_status(s: &CompensationStatus) -> String {
    match s {
        CompensationStatus::Pending => "not run".into(),
        CompensationStatus::Running => "running".into(),
        CompensationStatus::WaitingRetry => "waiting".into(),
        CompensationStatus::Compensated => "compensated".into(),
        CompensationStatus::Failed(e) => format!("FAILED: {}", one_line(&e.message, 80)),
    }
}

/// The full report as JSON.
pub fn json(report: &WorkflowReport) -> String {
    let tasks: Vec<Value> = report
        .tasks
        .iter()
        .map(|t| {
            json!({
                "id": t.id.as_str(),
                "status": status(t.status),
                "attempts": t.attempts,
                "duration_ms": t.duration.as_secs_f64() * 1e3,
                "output": t.output,
                "error": t.error,
            })
        })
        .collect();
    let (outcome, cause) = match &report.outcome {
        Outcome::Succeeded => ("succeeded", None),
        Outcome::Failed { cause } => ("failed", Some(cause.as_str())),
        Outcome::Cancelled => ("cancelled", None),
    };
    let compensations: Vec<Value> = report
        .compensations
        .iter()
        .map(|c| {
            json!({
                "task": c.task.as_str(),
                "attempts": c.attempts,
                "status": compensation_status(&c.status),
            })
        })
        .collect();
    let doc = json!({
        "compensations": compensations,
        "run": report.run_id.as_str(),
        "workflow": report.name,
        "outcome": outcome,
        "cause": cause,
        "duration_ms": report.duration.as_secs_f64() * 1e3,
        "critical_path": report.critical_path.tasks.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "warnings": report.warnings,
        "tasks": tasks,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn status(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Pending => "pending",
        TaskStatus::Running => "running",
        TaskStatus::WaitingRetry => "waiting",
        TaskStatus::Succeeded => "ok",
        TaskStatus::Failed => "FAILED",
        TaskStatus::Skipped => "skipped",
        TaskStatus::Cancelled => "cancelled",
    }
}

/// A duration the way a person reads it: `850µs`, `12.3ms`, `4.20s`, `2m05s`.
pub fn human(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else if us < 60_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn one_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() > max {
        let cut: String = first.chars().take(max).collect();
        format!("{cut}…")
    } else {
        first.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use troupe::workflow::plan::CriticalPath;
    use troupe::{PoolSpec, RunId, TaskReport, TaskSpec, WorkflowSpec};

    fn fixture() -> (WorkflowReport, Plan) {
        let spec = WorkflowSpec::builder("demo")
            .pool("p", PoolSpec::new("k", 1))
            .task(TaskSpec::new("split", "p"))
            .task(TaskSpec::new("count", "p").after(["split"]))
            .task(TaskSpec::new("late", "p").after(["split"]))
            .build();
        let plan = troupe::workflow::plan::plan(spec, &["k"][..]).unwrap();
        let task = |id: &str, status, attempts, ms, output: Option<Value>, error: Option<&str>| {
            TaskReport {
                id: id.into(),
                status,
                attempts,
                duration: Duration::from_millis(ms),
                output,
                error: error.map(String::from),
            }
        };
        let report = WorkflowReport {
            run_id: RunId::new("local/demo#1"),
            name: "demo".into(),
            outcome: Outcome::Failed {
                cause: "task late failed after 2 attempt(s): boom".into(),
            },
            tasks: vec![
                task(
                    "split",
                    TaskStatus::Succeeded,
                    1,
                    5,
                    Some(json!(["a", "b"])),
                    None,
                ),
                task(
                    "count",
                    TaskStatus::Succeeded,
                    1,
                    1500,
                    Some(json!("line1\nline2\nline3")),
                    None,
                ),
                task(
                    "late",
                    TaskStatus::Failed,
                    2,
                    7,
                    None,
                    Some("boom\nsecond line"),
                ),
            ],
            critical_path: CriticalPath {
                tasks: vec!["split".into(), "count".into()],
                total: Duration::from_millis(1505),
            },
            duration: Duration::from_millis(1600),
            warnings: vec![],
            compensations: vec![],
        };
        (report, plan)
    }

    #[test]
    fn the_summary_lists_tasks_path_outputs_and_verdict() {
        let (report, plan) = fixture();
        let text = render(&report, &plan, 2);
        assert!(
            text.contains("count  ok                1       1.50s"),
            "{text}"
        );
        assert!(
            text.contains("late   FAILED            2       7.0ms  boom\n"),
            "only the first line of an error: {text}"
        );
        assert!(
            text.contains("critical path: split → count (1.50s)"),
            "{text}"
        );
        assert!(
            text.contains("output of count:\n  line1\n  line2\n  … (1 more lines"),
            "{text}"
        );
        assert!(
            !text.contains("output of split"),
            "only tasks nothing depends on: {text}"
        );
        assert!(
            text.trim_end().ends_with(
                "workflow demo FAILED after 1.60s: task late failed after 2 attempt(s): boom"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_json_report_has_every_task() {
        let (report, _) = fixture();
        let v: Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(v["outcome"], "failed");
        assert_eq!(v["tasks"].as_array().unwrap().len(), 3);
        assert_eq!(v["tasks"][0]["output"], json!(["a", "b"]));
        assert_eq!(v["critical_path"], json!(["split", "count"]));
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human(Duration::from_micros(850)), "850µs");
        assert_eq!(human(Duration::from_micros(12_340)), "12.3ms");
        assert_eq!(human(Duration::from_millis(4_200)), "4.20s");
        assert_eq!(human(Duration::from_secs(125)), "2m05s");
    }
}
