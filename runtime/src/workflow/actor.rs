//! The workflow actor: one per run. It starts the run's agent pools under their own
//! supervisor, feeds task results to the [`Engine`] and carries out its commands: a task actor
//! per attempt, timers for retries, events, and the final report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::durable::Recorder;
use super::engine::{Command, Engine, Outcome, TaskError, TaskStatus};
use super::plan::{critical_path, Plan};
use super::pool::Pool;
use super::report::{TaskReport, WorkflowReport};
use super::task::{TaskActor, TaskArgs};
use crate::error::SpawnError;
use crate::events::{EventBus, EventKind};
use crate::ids::{AgentId, RunId};
use crate::runtime::{Runtime, SpawnOptions};
use crate::supervision::{ChildSpec, SupervisorConfig, SupervisorRef};

#[path = "actor_saga.rs"]
mod saga;

/// How long a finished run waits for its pools to stop (their agents' own shutdown policy
/// bounds each; this bounds the whole).
const POOL_STOP_WAIT: Duration = Duration::from_secs(10);

/// Messages of a workflow actor.
pub(crate) enum WorkflowMsg {
    TaskDone {
        task: usize,
        attempt: u32,
        result: Result<Value, TaskError>,
        elapsed: Duration,
    },
    RetryDue(usize),
    /// A saga compensation attempt ended.
    CompensationDone {
        task: usize,
        attempt: u32,
        result: Result<Value, TaskError>,
    },
    /// The backoff of a failed compensation attempt is over.
    CompensationRetryDue(usize),
    Cancel,
    /// Something outside the tasks broke (the journal could not be written): the run fails.
    Abort(String),
    /// Pause, resume, signals, a waiting task's timer (see `actor_control.rs`).
    Control(ControlMsg),
}

impl ractor::Message for WorkflowMsg {}

pub(crate) struct WorkflowArgs {
    pub(crate) runtime: Runtime,
    pub(crate) plan: Arc<Plan>,
    pub(crate) run: RunId,
    pub(crate) done: oneshot::Sender<WorkflowReport>,
    pub(crate) seed: u64,
    /// Where a pool that fails to start leaves its name and error, for a typed submit error.
    pub(crate) failure: Arc<parking_lot::Mutex<Option<(String, crate::error::SpawnError)>>>,
    /// The journal recorder (and replayed state) of a durable run.
    pub(crate) durable: Option<DurableArgs>,
}

/// A durable run's recorder, and the replayed journal when it resumes.
pub(crate) struct DurableArgs {
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) replayed: Option<super::durable::Replayed>,
    /// How often the run's inbox is read.
    pub(crate) inbox_poll: Duration,
    /// The tenant the run belongs to: its pools' calls take turns with other tenants' where
    /// they share a queue (see [`super::fair`]).
    pub(crate) tenant: Option<String>,
}

pub(crate) struct WorkflowActor;

#[path = "actor_control.rs"]
mod control;
pub(crate) use control::ControlMsg;

pub(crate) struct WorkflowState {
    runtime: Runtime,
    events: EventBus,
    plan: Arc<Plan>,
    run: RunId,
    engine: Engine,
    pools: HashMap<String, Arc<Pool>>,
    pool_supervisor: Option<ActorCell>,
    agents: Vec<AgentId>,
    running: HashMap<usize, ActorCell>,
    by_actor: HashMap<ActorId, (usize, u32)>,
    first_start: Vec<Option<Instant>>,
    ended: Vec<Option<Instant>>,
    notes: Vec<Option<String>>,
    started: Instant,
    span: tracing::Span,
    done: Option<oneshot::Sender<WorkflowReport>>,
    recorder: Option<Arc<Recorder>>,
    resumed: Option<Vec<Command>>,
    /// The poller of a durable run's inbox, and how often it reads.
    inbox: Option<tokio::task::AbortHandle>,
    inbox_poll: Duration,
    /// The compensation call in flight (a saga rolls back one task at a time).
    compensating: Option<tokio::task::AbortHandle>,
    /// The run's tenant (durable runs), for fair sharing of queues.
    tenant: Option<Arc<str>>,
}

impl Actor for WorkflowActor {
    type Msg = WorkflowMsg;
    type State = WorkflowState;
    type Arguments = WorkflowArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<WorkflowMsg>,
        args: WorkflowArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let n = args.plan.len();
        let failure = args.failure.clone();
        let events = args.runtime.events().clone();
        let span = tracing::info_span!("workflow", node = args.runtime.name(), run = %args.run, name = %args.plan.spec.name);
        let (recorder, replayed, inbox_poll, tenant) = match args.durable {
            Some(d) => (
                Some(d.recorder),
                d.replayed,
                d.inbox_poll,
                d.tenant.map(Arc::from),
            ),
            None => (None, None, Duration::ZERO, None),
        };
        let (engine, resumed) = match replayed {
            Some(r) => (r.engine, Some(r.commands)),
            None => (Engine::new(args.plan.clone(), args.seed), None),
        };
        let mut st = WorkflowState {
            events,
            engine,
            recorder,
            resumed,
            inbox: None,
            inbox_poll,
            runtime: args.runtime,
            plan: args.plan,
            run: args.run,
            pools: HashMap::new(),
            pool_supervisor: None,
            agents: Vec::new(),
            running: HashMap::new(),
            by_actor: HashMap::new(),
            first_start: vec![None; n],
            ended: vec![None; n],
            notes: vec![None; n],
            started: Instant::now(),
            span,
            done: Some(args.done),
            compensating: None,
            tenant,
        };
        if let Err((pool, error)) = st.start_pools(&myself).await {
            st.forget_agents();
            let reason = format!("pool {pool:?}: {error}");
            *failure.lock() = Some((pool, error));
            return Err(reason.into());
        }
        Ok(st)
    }

    async fn post_start(
        &self,
        myself: ActorRef<WorkflowMsg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        st.emit(
            None,
            EventKind::WorkflowStarted {
                name: st.plan.spec.name.clone(),
                tasks: st.plan.len(),
            },
        );
        // A resumed run continues from its journal (already recorded), a new one starts.
        match st.resumed.take() {
            Some(commands) => {
                // Everything replay asks for was journaled, except an end the journal lacks
                // (the last result was durable, the finish not yet): record that one.
                let ends: Vec<Command> = commands
                    .iter()
                    .filter(|c| matches!(c, Command::Finish(_)))
                    .cloned()
                    .collect();
                if let (false, Some(recorder)) = (ends.is_empty(), &st.recorder) {
                    if let Err(e) = recorder.record(&ends).await {
                        tracing::warn!(run = %st.run, error = %e, "the end of a resumed run could not be journaled");
                    }
                }
                st.apply_batches(&myself, commands, false).await
            }
            None => {
                let commands = st.engine.start();
                st.apply(&myself, commands).await;
            }
        }
        // Before any result comes in: the requests posted while nobody drove the run.
        st.start_inbox(&myself).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<WorkflowMsg>,
        message: WorkflowMsg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let commands = match message {
            WorkflowMsg::TaskDone {
                task,
                attempt,
                result,
                elapsed,
            } => {
                let current = st.engine.status(task) == TaskStatus::Running
                    && st.engine.attempts(task) == attempt;
                if current {
                    st.running.remove(&task);
                }
                match result {
                    Ok(output) => {
                        if current {
                            st.ended[task] = Some(Instant::now());
                            st.emit(
                                Some(task),
                                EventKind::TaskCompleted {
                                    attempt,
                                    duration: elapsed,
                                },
                            );
                            st.publish_output(task, attempt, &output);
                        }
                        st.engine.succeeded(task, attempt, output)
                    }
                    Err(error) => st.engine.failed(task, attempt, error),
                }
            }
            WorkflowMsg::RetryDue(task) => st.engine.retry_due(task),
            WorkflowMsg::CompensationDone {
                task,
                attempt,
                result,
            } => st.compensation_done(task, attempt, result),
            WorkflowMsg::CompensationRetryDue(task) => st.engine.compensation_retry_due(task),
            WorkflowMsg::Cancel => {
                st.request(&myself, crate::store::RequestKind::Cancel, None, None, None)
                    .await;
                return Ok(());
            }
            WorkflowMsg::Abort(cause) => st.engine.abort(&cause),
            WorkflowMsg::Control(msg) => {
                st.control(&myself, msg).await;
                return Ok(());
            }
        };
        st.apply(&myself, commands).await;
        Ok(())
    }

    /// Stopped from outside (the runtime shuts down) before the run ended: the run is
    /// cancelled and its report still delivered.
    async fn post_stop(
        &self,
        myself: ActorRef<WorkflowMsg>,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        st.stop_inbox();
        if st.done.is_some() {
            // A durable run is interrupted, not cancelled: it can be resumed.
            if let Some(recorder) = &st.recorder {
                recorder.interrupted().await;
            }
            let commands = st.engine.cancel();
            st.apply(&myself, commands).await;
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<WorkflowMsg>,
        event: SupervisionEvent,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let commands = match event {
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                st.by_actor.remove(&cell.get_id());
                return Ok(());
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                let id = cell.get_id();
                if let Some((task, attempt)) = st.by_actor.remove(&id) {
                    st.running.remove(&task);
                    let error = TaskError {
                        class: "task_crashed".into(),
                        message: format!("task actor crashed: {err}"),
                        retryable: true,
                    };
                    st.engine.failed(task, attempt, error)
                } else if st.pool_supervisor.as_ref().map(|c| c.get_id()) == Some(id) {
                    st.pool_supervisor = None;
                    st.engine
                        .abort(&format!("the workflow's agent pools gave up: {err}"))
                } else {
                    return Ok(());
                }
            }
            _ => return Ok(()),
        };
        st.apply(&myself, commands).await;
        Ok(())
    }
}

impl WorkflowState {
    /// Starts the run's pools; `Err` names the pool that did not start, and why.
    async fn start_pools(
        &mut self,
        myself: &ActorRef<WorkflowMsg>,
    ) -> Result<(), (String, SpawnError)> {
        let config = SupervisorConfig::new(format!("{}/agents", self.run))
            .intensity(10, Duration::from_secs(10));
        let (spec, handle): (ChildSpec, SupervisorRef) =
            self.runtime
                .supervisor_spec(format!("{}/agents", self.run), config, vec![]);
        let cell = (spec.start)(myself.get_cell()).await.map_err(|reason| {
            let agent = AgentId::new(format!("{}/agents", self.run));
            (
                "(the pools' supervisor)".to_string(),
                SpawnError::StartFailed { agent, reason },
            )
        })?;
        self.pool_supervisor = Some(cell);
        let breaker = self.plan.spec.fault_tolerance.circuit_breaker;
        let pools = self.plan.pools.clone();
        let dispatcher = self.runtime.dispatcher();
        for (name, pool) in pools {
            if let Some(dispatcher) = &dispatcher {
                let remote = super::pool::Remote {
                    dispatcher: dispatcher.clone(),
                    kind: pool.kind.clone(),
                    config: pool.config.clone(),
                    resources: pool.resources,
                };
                let p = Pool::remote(
                    name.clone(),
                    remote,
                    breaker,
                    self.events.clone(),
                    self.run.clone(),
                )
                .with_metrics(self.runtime.metrics().cloned())
                .with_tenant(self.tenant.clone());
                self.pools.insert(name, Arc::new(p));
                continue;
            }
            let mut members = Vec::with_capacity(pool.count);
            for i in 0..pool.count {
                let id = AgentId::new(format!("{}/{}/{}", self.run, name, i));
                let mut options = SpawnOptions::default().under(handle.clone());
                if let Some(capacity) = pool.mailbox {
                    options = options.mailbox(capacity);
                }
                let agent = self
                    .runtime
                    .spawn_kind_with(&pool.kind, id.clone(), pool.config.clone(), options)
                    .await
                    .map_err(|e| (name.clone(), e))?;
                self.agents.push(id);
                members.push(agent);
            }
            self.publish_assigned(&name, pool.count);
            let p = Pool::new(
                name.clone(),
                members,
                breaker,
                self.events.clone(),
                self.run.clone(),
            )
            .with_metrics(self.runtime.metrics().cloned())
            .with_tenant(self.tenant.clone());
            self.pools.insert(name, Arc::new(p));
        }
        Ok(())
    }

    async fn apply(&mut self, myself: &ActorRef<WorkflowMsg>, commands: Vec<Command>) {
        self.apply_batches(myself, commands, true).await;
    }

    /// Carries out `commands` batch by batch (commands that a batch causes form the next one);
    /// a durable run journals each batch first (`record`: also the first one).
    async fn apply_batches(
        &mut self,
        myself: &ActorRef<WorkflowMsg>,
        commands: Vec<Command>,
        record: bool,
    ) {
        let mut batch = commands;
        let mut record = record;
        while !batch.is_empty() {
            if let (true, Some(recorder)) = (record, &self.recorder) {
                if let Err(e) = recorder.record(&batch).await {
                    let cause = format!("the run's journal could not be written: {e}");
                    batch = self.engine.abort(&cause);
                    // A run over its journal cap still journals how it ended.
                    record = matches!(e, super::journal::JournalError::Cap(_));
                    continue;
                }
            }
            record = true;
            batch = self.apply_one(myself, batch).await;
        }
    }

    async fn apply_one(
        &mut self,
        myself: &ActorRef<WorkflowMsg>,
        commands: Vec<Command>,
    ) -> Vec<Command> {
        let mut next = Vec::new();
        for command in commands {
            match command {
                Command::Start {
                    task,
                    attempt,
                    input,
                } => {
                    if let Err(error) = self.start_task(myself, task, attempt, input).await {
                        next.extend(self.engine.failed(task, attempt, error));
                    }
                }
                Command::Retry {
                    task,
                    attempt,
                    error,
                    delay,
                } => {
                    self.emit(
                        Some(task),
                        EventKind::TaskFailed {
                            attempt,
                            class: error.class.clone(),
                            error: error.message,
                            final_attempt: false,
                        },
                    );
                    self.emit(
                        Some(task),
                        EventKind::TaskRetried {
                            next_attempt: attempt + 1,
                            delay,
                        },
                    );
                    myself.send_after(delay, move || WorkflowMsg::RetryDue(task));
                }
                Command::Failed {
                    task,
                    attempt,
                    error,
                } => {
                    self.ended[task] = Some(Instant::now());
                    self.emit(
                        Some(task),
                        EventKind::TaskFailed {
                            attempt,
                            error: error.message.clone(),
                            class: error.class.clone(),
                            final_attempt: true,
                        },
                    );
                    self.dead_letter(task, None, &error, attempt).await;
                }
                Command::Skip { task, reason } => {
                    self.emit(
                        Some(task),
                        EventKind::TaskSkipped {
                            reason: reason.clone(),
                        },
                    );
                    self.notes[task] = Some(reason);
                }
                Command::Finish(outcome) => self.finish(myself, outcome),
                wait @ (Command::Sleep { .. }
                | Command::AwaitSignal { .. }
                | Command::Completed { .. }) => self.apply_wait(myself, wait),
                saga @ (Command::Compensate { .. }
                | Command::CompensationRetry { .. }
                | Command::Compensated { .. }
                | Command::CompensationFailed { .. }) => {
                    next.extend(self.apply_saga(myself, saga).await)
                }
            }
        }
        next
    }

    async fn start_task(
        &mut self,
        myself: &ActorRef<WorkflowMsg>,
        task: usize,
        attempt: u32,
        input: Value,
    ) -> Result<(), TaskError> {
        let spec = &self.plan.spec.tasks[task];
        let pool_name = &self.plan.task_pool[task];
        let pool = self
            .pools
            .get(pool_name)
            .cloned()
            .ok_or_else(|| TaskError {
                class: "task_crashed".into(),
                message: format!("no pool {pool_name}"),
                retryable: false,
            })?;
        self.first_start[task].get_or_insert_with(Instant::now);
        self.emit(Some(task), EventKind::TaskStarted { attempt });
        let span = tracing::info_span!(parent: &self.span, "task", task = %spec.id, attempt, pool = %pool_name);
        let args = TaskArgs {
            workflow: myself.clone(),
            task,
            attempt,
            input,
            pool,
            key: super::durable::idempotency_key(&self.run, &spec.id, attempt),
            recorder: self.recorder.clone(),
            timeout: spec.timeout,
            parallel: spec.parallel,
            priority: spec.priority,
            span,
        };
        let (actor, _) = Actor::spawn_linked(None, TaskActor, args, myself.get_cell())
            .await
            .map_err(|e| TaskError {
                class: "task_crashed".into(),
                message: format!("task actor failed to start: {e}"),
                retryable: true,
            })?;
        let cell = actor.get_cell();
        self.by_actor.insert(cell.get_id(), (task, attempt));
        self.running.insert(task, cell);
        Ok(())
    }

    fn finish(&mut self, myself: &ActorRef<WorkflowMsg>, outcome: Outcome) {
        self.stop_inbox();
        for (_, cell) in self.running.drain() {
            cell.kill();
        }
        if let Some(call) = self.compensating.take() {
            call.abort();
        }
        let duration = self.started.elapsed();
        let now = Instant::now();
        let tasks: Vec<TaskReport> = (0..self.plan.len())
            .map(|i| {
                let took = match (self.first_start[i], self.ended[i]) {
                    (Some(s), Some(e)) => e - s,
                    (Some(s), None) => now - s,
                    _ => Duration::ZERO,
                };
                let status = self.engine.status(i);
                TaskReport {
                    id: self.plan.spec.tasks[i].id.clone(),
                    status,
                    attempts: self.engine.attempts(i),
                    duration: took,
                    output: (status == TaskStatus::Succeeded)
                        .then(|| self.engine.output(i).cloned())
                        .flatten(),
                    error: match status {
                        TaskStatus::Failed => self.engine.error(i).map(|e| e.message.clone()),
                        TaskStatus::Skipped => self.notes[i].clone(),
                        _ => None,
                    },
                }
            })
            .collect();
        let weights: Vec<Duration> = tasks.iter().map(|t| t.duration).collect();
        let critical_path = critical_path(&self.plan, &weights);
        let kind = match &outcome {
            Outcome::Succeeded => EventKind::WorkflowCompleted { duration },
            Outcome::Failed { cause } => EventKind::WorkflowFailed {
                cause: cause.clone(),
            },
            Outcome::Cancelled => EventKind::WorkflowCancelled,
        };
        self.emit(None, kind);
        let report = WorkflowReport {
            run_id: self.run.clone(),
            name: self.plan.spec.name.clone(),
            outcome,
            tasks,
            critical_path,
            duration,
            warnings: self.plan.spec.warnings.clone(),
            compensations: self.compensation_reports(),
        };
        // The run is over once its pools have stopped: agents clean up in their stop (a
        // `cmd.run` worktree is removed there), and a caller that exits on the report must not
        // cut that short.
        // The workflow actor stops only after them: ractor terminates an actor's children when
        // it exits, which would cut their stop short.
        let done = self.done.take();
        let pools = self.pool_supervisor.take();
        let myself = myself.clone();
        tokio::spawn(async move {
            if let Some(sup) = pools {
                let reason = Some("workflow finished".into());
                let _ = sup.stop_and_wait(reason, Some(POOL_STOP_WAIT)).await;
            }
            if let Some(done) = done {
                let _ = done.send(report);
            }
            myself.stop(None);
        });
        self.forget_agents();
    }

    fn forget_agents(&mut self) {
        for id in self.agents.drain(..) {
            self.runtime.forget_agent(&id);
        }
    }

    fn emit(&self, task: Option<usize>, kind: EventKind) {
        let task_id = task.map(|t| &self.plan.spec.tasks[t].id);
        // The event's log line is inside the run's span (JSON logs list it: the run id).
        let _span = self.span.enter();
        self.events.emit(Some(&self.run), task_id, None, kind);
    }
}
