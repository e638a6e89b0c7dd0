//! The workflow actor's part for saga compensations, dead letters and the opt-in event topics
//! (`coordination.event_driven`): it carries out the engine's compensation commands.

use super::*;
use crate::ids::TaskId;
use crate::workflow::coordination::Topic;
use crate::workflow::report::CompensationReport;

impl WorkflowState {
    /// Carries out a compensation command; returns what the engine decides next when a
    /// compensation cannot even start.
    pub(super) async fn apply_saga(
        &mut self,
        myself: &ActorRef<WorkflowMsg>,
        command: Command,
    ) -> Vec<Command> {
        match command {
            Command::Compensate {
                task,
                attempt,
                input,
            } => {
                if let Err(error) = self.start_compensation(myself, task, attempt, input) {
                    return self.engine.compensation_failed(task, attempt, error);
                }
            }
            Command::CompensationRetry {
                task,
                attempt,
                error,
                delay,
            } => {
                self.emit(
                    Some(task),
                    EventKind::CompensationFailed {
                        attempt,
                        error: error.message,
                        final_attempt: false,
                    },
                );
                myself.send_after(delay, move || WorkflowMsg::CompensationRetryDue(task));
            }
            Command::Compensated { task, attempt } => {
                self.emit(Some(task), EventKind::CompensationCompleted { attempt });
            }
            Command::CompensationFailed {
                task,
                attempt,
                error,
            } => {
                self.emit(
                    Some(task),
                    EventKind::CompensationFailed {
                        attempt,
                        error: error.message.clone(),
                        final_attempt: true,
                    },
                );
                let input = self.engine.compensation_input(task).cloned();
                self.dead_letter(task, Some(input.unwrap_or(Value::Null)), &error, attempt)
                    .await;
            }
            _ => {}
        }
        Vec::new()
    }

    /// Calls the compensation's pool off the actor; the result comes back as
    /// [`WorkflowMsg::CompensationDone`].
    fn start_compensation(
        &mut self,
        myself: &ActorRef<WorkflowMsg>,
        task: usize,
        attempt: u32,
        input: Value,
    ) -> Result<(), TaskError> {
        let spec = &self.plan.spec.tasks[task];
        let no_pool = |message: String| TaskError {
            class: "task_crashed".into(),
            message,
            retryable: false,
        };
        let comp = spec
            .compensate
            .as_ref()
            .ok_or_else(|| no_pool(format!("task {} has no compensation", spec.id)))?;
        let pool = self
            .pools
            .get(&comp.agent)
            .cloned()
            .ok_or_else(|| no_pool(format!("no pool {}", comp.agent)))?;
        self.emit(Some(task), EventKind::CompensationStarted { attempt });
        let key = format!("{}/{}/compensate/{attempt}", self.run, spec.id);
        let timeout = comp.timeout;
        let priority = spec.priority;
        let workflow = myself.clone();
        let span = tracing::info_span!(parent: &self.span, "compensation", task = %spec.id, attempt, pool = %comp.agent);
        let call = async move {
            let result = pool
                .call(input, timeout, key, priority)
                .await
                .map_err(TaskError::from);
            let _ = workflow.send_message(WorkflowMsg::CompensationDone {
                task,
                attempt,
                result,
            });
        };
        let handle = tokio::spawn(tracing::Instrument::instrument(call, span));
        self.compensating = Some(handle.abort_handle());
        Ok(())
    }

    /// A compensation attempt ended: the engine decides what comes next.
    pub(super) fn compensation_done(
        &mut self,
        task: usize,
        attempt: u32,
        result: Result<Value, TaskError>,
    ) -> Vec<Command> {
        self.compensating = None;
        match result {
            Ok(_) => self.engine.compensated(task, attempt),
            Err(error) => self.engine.compensation_failed(task, attempt, error),
        }
    }

    /// Keeps a task (or, with `compensation` as its input, a task's compensation) that failed
    /// for good in the store's dead-letter table, for durable runs, and says so in an event.
    pub(super) async fn dead_letter(
        &self,
        task: usize,
        compensation: Option<Value>,
        error: &TaskError,
        attempts: u32,
    ) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        let id = &self.plan.spec.tasks[task].id;
        let (what, input) = match compensation {
            Some(input) => (TaskId::from(format!("{id}/compensate")), input),
            None => (id.clone(), self.engine.input_of(task)),
        };
        match recorder.dead_letter(what, input, error, attempts).await {
            Ok(letter) => self.emit(
                Some(task),
                EventKind::DeadLettered {
                    id: letter,
                    attempts,
                    error: error.message.clone(),
                },
            ),
            Err(e) => {
                tracing::warn!(run = %self.run, task = %id, error = %e, "could not keep a dead letter")
            }
        }
    }

    /// What the report says about each compensation.
    pub(super) fn compensation_reports(&self) -> Vec<CompensationReport> {
        self.engine
            .compensations()
            .into_iter()
            .map(|(task, attempts, status)| CompensationReport {
                task: self.plan.spec.tasks[task].id.clone(),
                attempts,
                status,
            })
            .collect()
    }

    fn publishes(&self, topic: Topic) -> bool {
        self.plan
            .spec
            .coordination
            .as_ref()
            .is_some_and(|c| c.publishes(topic))
    }

    /// Publishes a task's output when the run lists `data_updates`.
    pub(super) fn publish_output(&self, task: usize, attempt: u32, output: &Value) {
        if self.publishes(Topic::DataUpdates) {
            let output = output.clone();
            self.emit(Some(task), EventKind::TaskOutput { attempt, output });
        }
    }

    /// Publishes which agents serve pool `pool` when the run lists `agent_status`.
    pub(super) fn publish_assigned(&self, pool: &str, count: usize) {
        if self.publishes(Topic::AgentStatus) {
            let agents = (0..count)
                .map(|i| AgentId::new(format!("{}/{}/{}", self.run, pool, i)))
                .collect();
            let pool = pool.to_string();
            self.emit(None, EventKind::AgentsAssigned { pool, agents });
        }
    }
}
