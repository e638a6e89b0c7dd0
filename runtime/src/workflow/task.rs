//! The task actor: one per running task attempt. It calls the task's pool (once, or once per
//! input item for a parallel task), reports the result to its workflow and stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serde_json::Value;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::actor::WorkflowMsg;
use super::engine::TaskError;
use super::pool::Pool;

/// What a task actor needs.
pub(crate) struct TaskArgs {
    pub(crate) workflow: ActorRef<WorkflowMsg>,
    pub(crate) task: usize,
    pub(crate) attempt: u32,
    pub(crate) input: Value,
    pub(crate) pool: Arc<Pool>,
    /// `run/task/attempt`: the idempotency key of this attempt's pool calls.
    pub(crate) key: String,
    /// A durable run's recorder: the result is journaled before it is reported.
    pub(crate) recorder: Option<Arc<super::durable::Recorder>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) parallel: bool,
    /// The task's priority (see [`super::fair`]).
    pub(crate) priority: u8,
    pub(crate) span: tracing::Span,
}

pub(crate) struct TaskActor;

/// The only message: run (sent to itself once started).
pub(crate) struct Run;

impl ractor::Message for Run {}

impl Actor for TaskActor {
    type Msg = Run;
    type State = Option<TaskArgs>;
    type Arguments = TaskArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Run>,
        args: TaskArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_message(Run)?;
        Ok(Some(args))
    }

    async fn handle(
        &self,
        myself: ActorRef<Run>,
        _msg: Run,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(args) = st.take() else {
            return Ok(());
        };
        let started = Instant::now();
        let span = args.span.clone();
        let result = run(&args).instrument(span).await;
        // A durable run's result counts once it is journaled (sharing a commit with the
        // results ready at the same moment).
        if let (Ok(output), Some(recorder)) = (&result, &args.recorder) {
            if let Err(e) = recorder.completed(args.task, args.attempt, output).await {
                let cause = format!("the result of a task could not be journaled: {e}");
                let _ = args.workflow.send_message(WorkflowMsg::Abort(cause));
                myself.stop(None);
                return Ok(());
            }
        }
        // Last step: report. If the workflow is gone, there is nobody to tell.
        let _ = args.workflow.send_message(WorkflowMsg::TaskDone {
            task: args.task,
            attempt: args.attempt,
            result,
            elapsed: started.elapsed(),
        });
        myself.stop(None);
        Ok(())
    }
}

async fn run(args: &TaskArgs) -> Result<Value, TaskError> {
    if !args.parallel {
        return args
            .pool
            .call(
                args.input.clone(),
                args.timeout,
                args.key.clone(),
                args.priority,
            )
            .await
            .map_err(TaskError::from);
    }
    let Value::Array(items) = &args.input else {
        return Err(TaskError {
            class: "bad_input".into(),
            message: format!(
                "a parallel task needs an array input, got {}",
                kind_of(&args.input)
            ),
            retryable: false,
        });
    };
    let mut units = JoinSet::new();
    for (i, item) in items.iter().enumerate() {
        let pool = args.pool.clone();
        let item = item.clone();
        let timeout = args.timeout;
        let key = format!("{}/{i}", args.key);
        let priority = args.priority;
        units.spawn(async move { (i, pool.call(item, timeout, key, priority).await) });
    }
    let mut results = vec![Value::Null; items.len()];
    while let Some(joined) = units.join_next().await {
        match joined {
            Ok((i, Ok(v))) => results[i] = v,
            Ok((i, Err(e))) => {
                let mut err = TaskError::from(e);
                err.message = format!("item {i}: {}", err.message);
                return Err(err); // dropping the set aborts the other units
            }
            Err(join) => {
                return Err(TaskError {
                    class: "task_crashed".into(),
                    message: format!("a unit crashed: {join}"),
                    retryable: true,
                })
            }
        }
    }
    Ok(Value::Array(results))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
