//! The progress bar of `troupe run`, fed by the runtime's event stream, and the one-line crash
//! reports of agents that failed (which agent, why, what its supervisor did).

use std::collections::BTreeSet;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;
use troupe::workflow::plan::Plan;
use troupe::{EventKind, EventStream};

/// A progress bar following one run's task events (and adding up its LLM token usage).
pub struct Progress {
    bar: ProgressBar,
    task: JoinHandle<()>,
    tokens: std::sync::Arc<std::sync::Mutex<crate::tokens::Tally>>,
}

impl Progress {
    /// Starts following `events`; draws nothing when `visible` is false or stderr is no terminal.
    pub fn start(plan: &Plan, mut events: EventStream, visible: bool) -> Self {
        let bar = ProgressBar::new(plan.len() as u64);
        if !visible {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} tasks  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        let b = bar.clone();
        let tokens = std::sync::Arc::new(std::sync::Mutex::new(crate::tokens::Tally::default()));
        let tally = tokens.clone();
        let task = tokio::spawn(async move {
            let mut running = BTreeSet::new();
            loop {
                let event = match events.recv().await {
                    Ok(e) => e,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                if let EventKind::LlmUsage { .. } = &event.kind {
                    if let Ok(mut t) = tally.lock() {
                        t.apply(&event);
                    }
                    continue;
                }
                if let EventKind::AgentFailed { reason, action, .. } = &event.kind {
                    let agent = event.agent.as_ref().map_or("?", |a| a.as_str());
                    let line = format!("crash: agent {agent}: {reason}; {action}");
                    b.suspend(|| eprintln!("{line}"));
                    continue;
                }
                let control = match &event.kind {
                    EventKind::WorkflowPaused => {
                        Some("paused: no new task starts until `troupe resume`".to_string())
                    }
                    EventKind::WorkflowResumed => Some("resumed".to_string()),
                    EventKind::SignalReceived { name } => Some(format!("signal {name} received")),
                    _ => None,
                };
                if let Some(line) = control {
                    b.suspend(|| eprintln!("{line}"));
                    continue;
                }
                let Some(task) = event.task.as_ref().map(|t| t.to_string()) else {
                    if matches!(
                        event.kind,
                        EventKind::WorkflowCompleted { .. }
                            | EventKind::WorkflowFailed { .. }
                            | EventKind::WorkflowCancelled
                    ) {
                        break;
                    }
                    continue;
                };
                match event.kind {
                    EventKind::TaskStarted { .. } => {
                        running.insert(task);
                    }
                    EventKind::TaskCompleted { .. }
                    | EventKind::TaskFailed {
                        final_attempt: true,
                        ..
                    } => {
                        running.remove(&task);
                        b.inc(1);
                    }
                    EventKind::TaskSkipped { .. } => b.inc(1),
                    EventKind::TaskRetried { next_attempt, .. } => {
                        b.println(format!("  retrying {task} (attempt {next_attempt})"));
                    }
                    EventKind::CompensationStarted { attempt } => {
                        b.println(format!("  compensating {task} (attempt {attempt})"));
                    }
                    EventKind::DeadLettered { id, .. } => {
                        b.println(format!(
                            "  {task} kept as dead letter {id} (troupe dlq list)"
                        ));
                    }
                    _ => {}
                }
                b.set_message(describe(&running));
            }
        });
        Self { bar, task, tokens }
    }

    /// Stops following (once the run's end event was seen, or after a second), clears the bar,
    /// and returns the run's token usage.
    pub async fn finish(mut self) -> crate::tokens::Tally {
        if tokio::time::timeout(std::time::Duration::from_secs(1), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
            let _ = self.task.await;
        }
        self.bar.finish_and_clear();
        let tally = self.tokens.lock().map(|t| t.clone());
        tally.unwrap_or_default()
    }
}

fn describe(running: &BTreeSet<String>) -> String {
    const SHOWN: usize = 4;
    let mut names: Vec<&str> = running.iter().take(SHOWN).map(String::as_str).collect();
    if running.len() > SHOWN {
        names.push("…");
    }
    if names.is_empty() {
        String::new()
    } else {
        format!("running: {}", names.join(", "))
    }
}
