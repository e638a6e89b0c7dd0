//! The event consumer: turns a runtime's events into series of its [`Metrics`].

use std::collections::HashMap;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use tokio::sync::broadcast::error::RecvError;

use super::Metrics;
use crate::events::{Event, EventKind, EventStream};
use crate::ids::RunId;

/// What the consumer knows of a running run.
struct Run {
    /// The workflow's name (the `workflow` label).
    name: String,
    /// Tasks neither finished (completed, skipped, finally failed) nor running.
    queued: i64,
    /// Attempts running now.
    running: i64,
    /// When the last task became ready (the run's start or its latest completion).
    ready_at: Duration,
}

#[derive(Default)]
struct State {
    runs: HashMap<RunId, Run>,
}

/// The label an error class gets in `troupe_task_failures_total` (an empty class is
/// `unknown`).
pub fn error_class_label(class: &str) -> &str {
    if class.is_empty() {
        "unknown"
    } else {
        class
    }
}

pub(super) fn spawn(metrics: Metrics, mut events: EventStream) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut state = State::default();
        loop {
            match events.recv().await {
                Ok(event) => {
                    let lag = events.len();
                    metrics.record(|| {
                        gauge!("troupe_event_consumer_lag").set(lag as f64);
                        counter!("troupe_events_total").increment(1);
                        state.apply(&event);
                    });
                    metrics.inner_processed(event.seq);
                }
                Err(RecvError::Lagged(n)) => {
                    metrics.record(|| counter!("troupe_events_dropped_total").increment(n));
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

impl State {
    fn apply(&mut self, e: &Event) {
        let run = e.workflow.as_ref();
        let name = run
            .and_then(|r| self.runs.get(r))
            .map_or_else(String::new, |r| r.name.clone());
        let wf = [("workflow", name.clone())];
        match &e.kind {
            EventKind::WorkflowStarted { name, tasks } => {
                if let Some(run) = run {
                    self.runs.insert(
                        run.clone(),
                        Run {
                            name: name.clone(),
                            queued: *tasks as i64,
                            running: 0,
                            ready_at: e.at,
                        },
                    );
                }
                counter!("troupe_workflows_started_total", "workflow" => name.clone()).increment(1);
            }
            EventKind::WorkflowCompleted { duration } => {
                histogram!("troupe_workflow_duration_seconds", &wf).record(duration.as_secs_f64());
                self.finish(run, &name, "completed");
            }
            EventKind::WorkflowFailed { .. } => self.finish(run, &name, "failed"),
            EventKind::WorkflowCancelled => self.finish(run, &name, "cancelled"),
            EventKind::SignalReceived { .. } => counter!("troupe_signals_total", &wf).increment(1),
            EventKind::TaskStarted { attempt } => {
                counter!("troupe_task_attempts_total", &wf).increment(1);
                if let Some(r) = run.and_then(|r| self.runs.get_mut(r)) {
                    r.running += 1;
                    r.queued -= 1;
                    if *attempt == 1 {
                        let waited = e.at.saturating_sub(r.ready_at);
                        histogram!("troupe_coordination_latency_seconds")
                            .record(waited.as_secs_f64());
                    }
                }
            }
            EventKind::TaskCompleted { duration, .. } => {
                counter!("troupe_tasks_completed_total", &wf).increment(1);
                histogram!("troupe_task_duration_seconds", &wf).record(duration.as_secs_f64());
                if let Some(r) = run.and_then(|r| self.runs.get_mut(r)) {
                    r.running -= 1;
                    r.ready_at = e.at;
                }
            }
            EventKind::TaskFailed {
                class,
                final_attempt,
                ..
            } => {
                let labels = [
                    ("workflow", name.clone()),
                    ("class", error_class_label(class).to_string()),
                ];
                counter!("troupe_task_failures_total", &labels).increment(1);
                if *final_attempt {
                    counter!("troupe_tasks_failed_total", &wf).increment(1);
                }
                if let Some(r) = run.and_then(|r| self.runs.get_mut(r)) {
                    r.running -= 1;
                    if !*final_attempt {
                        r.queued += 1; // waits for its next attempt
                    }
                }
            }
            EventKind::TaskRetried { .. } => {
                counter!("troupe_task_retries_total", &wf).increment(1)
            }
            EventKind::TaskSkipped { .. } => {
                counter!("troupe_tasks_skipped_total", &wf).increment(1);
                if let Some(r) = run.and_then(|r| self.runs.get_mut(r)) {
                    r.queued -= 1;
                }
            }
            EventKind::AgentStarted => {
                counter!("troupe_agent_starts_total").increment(1);
                gauge!("troupe_agents").increment(1.0);
            }
            EventKind::AgentRestarted { .. } => {
                counter!("troupe_agent_restarts_total").increment(1)
            }
            EventKind::AgentStopped => gauge!("troupe_agents").decrement(1.0),
            EventKind::AgentFailed { .. } => counter!("troupe_agent_failures_total").increment(1),
            EventKind::SupervisorEscalated { .. } | EventKind::RootFailed { .. } => {
                counter!("troupe_supervisor_escalations_total").increment(1)
            }
            EventKind::CircuitOpened { pool } => {
                counter!("troupe_circuit_opened_total", "pool" => pool.clone()).increment(1);
                gauge!("troupe_circuit_open", "pool" => pool.clone()).set(1.0);
            }
            EventKind::CircuitClosed { pool } => {
                gauge!("troupe_circuit_open", "pool" => pool.clone()).set(0.0);
            }
            EventKind::AgentsAssigned { pool, .. } => {
                // A pool known to have a circuit: 0 until it opens (the alert's denominator).
                gauge!("troupe_circuit_open", "pool" => pool.clone()).increment(0.0);
            }
            EventKind::CompensationCompleted { .. } => {
                counter!("troupe_compensations_total", "outcome" => "completed").increment(1)
            }
            EventKind::CompensationFailed {
                final_attempt: true,
                ..
            } => counter!("troupe_compensations_total", "outcome" => "failed").increment(1),
            EventKind::DeadLettered { .. } => counter!("troupe_dead_letters_total").increment(1),
            EventKind::LlmUsage {
                model,
                prompt_tokens,
                completion_tokens,
                ..
            } => {
                let labels = [("workflow", name.clone()), ("model", model.clone())];
                counter!("troupe_llm_calls_total", &labels).increment(1);
                let prompt = [&labels[..], &[("kind", "prompt".to_string())]].concat();
                counter!("troupe_llm_tokens_total", &prompt).increment(*prompt_tokens);
                let completion = [&labels[..], &[("kind", "completion".to_string())]].concat();
                counter!("troupe_llm_tokens_total", &completion).increment(*completion_tokens);
            }
            _ => {}
        }
        let (queued, running) = self.runs.values().fold((0, 0), |(q, r), run| {
            (q + run.queued.max(0), r + run.running.max(0))
        });
        gauge!("troupe_tasks_queued").set(queued as f64);
        gauge!("troupe_tasks_running").set(running as f64);
        gauge!("troupe_workflows_running").set(self.runs.len() as f64);
    }

    fn finish(&mut self, run: Option<&RunId>, name: &str, outcome: &'static str) {
        if let Some(run) = run {
            self.runs.remove(run);
        }
        counter!("troupe_workflows_finished_total", "workflow" => name.to_string(), "outcome" => outcome)
            .increment(1);
    }
}

/// Help texts (and units) of the consumer's series.
pub(super) fn describe() {
    let c = |n: &'static str, h: &'static str| describe_counter!(n, h);
    c(
        "troupe_events_total",
        "Events consumed from the runtime's event stream.",
    );
    c(
        "troupe_events_dropped_total",
        "Events the metrics consumer missed because it lagged.",
    );
    c("troupe_workflows_started_total", "Workflow runs started.");
    c(
        "troupe_workflows_finished_total",
        "Workflow runs finished, by outcome (completed, failed, cancelled).",
    );
    c("troupe_signals_total", "Signals received by workflow runs.");
    c("troupe_task_attempts_total", "Task attempts started.");
    c("troupe_tasks_completed_total", "Tasks completed.");
    c(
        "troupe_task_failures_total",
        "Failed task attempts, by error class.",
    );
    c(
        "troupe_tasks_failed_total",
        "Tasks failed for good (their last attempt failed).",
    );
    c("troupe_task_retries_total", "Task retries scheduled.");
    c(
        "troupe_tasks_skipped_total",
        "Tasks skipped (a dependency failed or the run was cancelled).",
    );
    c("troupe_agent_starts_total", "Agents started (allocations).");
    c(
        "troupe_agent_restarts_total",
        "Agents restarted after a failure.",
    );
    c(
        "troupe_agent_failures_total",
        "Agents that crashed or failed to start.",
    );
    c(
        "troupe_supervisor_escalations_total",
        "Supervisors that exceeded their restart intensity.",
    );
    c(
        "troupe_circuit_opened_total",
        "Times a pool's circuit breaker opened.",
    );
    c(
        "troupe_compensations_total",
        "Saga compensations finished, by outcome.",
    );
    c(
        "troupe_dead_letters_total",
        "Work given up and kept as a dead letter.",
    );
    let g = |n: &'static str, h: &'static str| describe_gauge!(n, h);
    g(
        "troupe_event_consumer_lag",
        "Events published but not yet consumed by the metrics consumer.",
    );
    g(
        "troupe_tasks_queued",
        "Tasks of running runs waiting for an attempt (queue depth).",
    );
    g(
        "troupe_tasks_running",
        "Task attempts running now (slots busy).",
    );
    g("troupe_workflows_running", "Workflow runs in progress.");
    g("troupe_agents", "Agents alive on this runtime.");
    g(
        "troupe_circuit_open",
        "Whether a pool's circuit breaker is open (1) or closed (0).",
    );
    let h = |n: &'static str, h: &'static str| describe_histogram!(n, metrics::Unit::Seconds, h);
    h(
        "troupe_workflow_duration_seconds",
        "Wall time of completed workflow runs.",
    );
    h(
        "troupe_task_duration_seconds",
        "Duration of successful task attempts (execution latency).",
    );
    h(
        "troupe_agent_call_duration_seconds",
        "Calls to agents from workflow pools, by agent kind and outcome.",
    );
    h(
        "troupe_coordination_latency_seconds",
        "Time from a task becoming ready to its first attempt starting.",
    );
}
