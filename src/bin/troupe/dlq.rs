//! `troupe dlq`: the dead-letter table of the run store — work that was given up.
//!
//! A durable run keeps a letter for every task that fails for good (its retries exhausted, or
//! a failure no retry can help) and for every saga compensation that fails for good (its task
//! shows as `TASK/compensate`): the run, the task, its input, the error chain and the attempts.
//!
//! - `troupe dlq list [--run RUN]`: the letters, oldest first.
//! - `troupe dlq replay ID`: runs the letter's stored input again, once, on a fresh agent of
//!   the same kind and config as the task's pool in the run's stored definition (the task's
//!   timeout, `parallel` fan-out and retry policy apply; for a compensation, the
//!   compensation's). On success the output is printed and the letter is dropped (exit 0); on
//!   failure the letter stays and the error is printed (exit 1). The run itself is not
//!   reopened: its journal stays as it ended, a replay is a new call.
//! - `troupe dlq drop ID`: removes the letter.

use std::process::ExitCode;

use troupe::runtime::store::{DeadLetter, DeadLetterFilter, Store};
use troupe::workflow::spec::{TaskSpec, WorkflowSpec};
use troupe::{RunId, Runtime};

use crate::runs::StoreArgs;

/// Arguments of `troupe dlq`.
#[derive(clap::Args, Debug)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(clap::Subcommand, Debug)]
enum DlqCommand {
    /// List the dead letters (id, run, task, attempts, when, last error).
    List {
        /// Only the letters of this run.
        #[arg(long)]
        run: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Run a letter's input again on the same kind of agent; drop the letter on success.
    Replay {
        /// The letter's id (see `troupe dlq list`).
        id: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove a letter.
    Drop {
        /// The letter's id.
        id: u64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `troupe dlq ...`.
pub async fn dlq(args: DlqArgs) -> ExitCode {
    let (DlqCommand::List { store, .. }
    | DlqCommand::Replay { store, .. }
    | DlqCommand::Drop { store, .. }) = &args.command;
    let store = match store.open().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match args.command {
        DlqCommand::List { run, .. } => list(store.as_ref(), run).await,
        DlqCommand::Replay { id, .. } => replay(store.as_ref(), id).await,
        DlqCommand::Drop { id, .. } => match store.drop_dead_letter(id).await {
            Ok(true) => {
                println!("dead letter {id} dropped");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("error: no dead letter {id} in {}", store.location());
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
    }
}

async fn list(store: &dyn Store, run: Option<String>) -> ExitCode {
    let mut filter = DeadLetterFilter {
        run: run.map(RunId::new),
        ..DeadLetterFilter::default()
    };
    let mut letters = Vec::new();
    loop {
        match store.list_dead_letters(filter.clone()).await {
            Ok(page) => {
                let full = page.len() >= filter.limit;
                filter.after = page.last().map(|l| l.id);
                letters.extend(page);
                if !full {
                    break;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let run_w = letters
        .iter()
        .map(|l| l.letter.run.as_ref().map_or(1, |r| r.as_str().len()))
        .fold(3, usize::max);
    let task_w = letters
        .iter()
        .map(|l| l.letter.task.as_ref().map_or(1, |t| t.as_str().len()))
        .fold(4, usize::max);
    println!(
        "{:<4}  {:<run_w$}  {:<task_w$}  {:>8}  {:<25} ERROR",
        "ID", "RUN", "TASK", "ATTEMPTS", "AT"
    );
    for l in &letters {
        let d = &l.letter;
        let error = d.errors.first().map(String::as_str).unwrap_or("");
        println!(
            "{:<4}  {:<run_w$}  {:<task_w$}  {:>8}  {:<25} {}",
            l.id,
            d.run.as_ref().map_or("-", |r| r.as_str()),
            d.task.as_ref().map_or("-", |t| t.as_str()),
            d.attempts,
            d.at.to_string(),
            error.lines().next().unwrap_or("")
        );
    }
    ExitCode::SUCCESS
}

async fn replay(store: &dyn Store, id: u64) -> ExitCode {
    let letter = match store.get_dead_letter(id).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            eprintln!("error: no dead letter {id} in {}", store.location());
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let Some(rt) = crate::run::local_runtime().await else {
        return ExitCode::from(2);
    };
    let code = replay_on(&rt, store, &letter).await;
    rt.shutdown().await;
    code
}

async fn replay_on(rt: &Runtime, store: &dyn Store, letter: &DeadLetter) -> ExitCode {
    let id = letter.id;
    match replay_letter(rt, store, letter).await {
        Ok(done) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&done["output"]).unwrap_or_default()
            );
            eprintln!(
                "dead letter {id} replayed: {} succeeded after {} attempt(s); letter dropped",
                done["task"].as_str().unwrap_or("?"),
                done["attempts"]
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs a dead letter again once on `rt`; when it succeeds the letter is dropped and its
/// task, attempts and output are returned, else why not (the letter is kept). `troupe dlq
/// replay` and `troupe serve`'s `POST /api/v1/dead-letters/{id}/replay` both use it.
pub async fn replay_letter(
    rt: &Runtime,
    store: &dyn Store,
    letter: &DeadLetter,
) -> Result<serde_json::Value, String> {
    let id = letter.id;
    let spec = replay_spec(rt, store, letter)
        .await
        .map_err(|e| format!("cannot replay dead letter {id}: {e}"))?;
    let report = rt
        .run(spec)
        .await
        .map_err(|e| format!("cannot replay dead letter {id}: {e}"))?;
    let Some(task) = report.tasks.first() else {
        return Err(format!("dead letter {id}: the replay ran no task"));
    };
    match (&report.outcome, &task.output) {
        (troupe::Outcome::Succeeded, Some(output)) => {
            store
                .drop_dead_letter(id)
                .await
                .map_err(|e| format!("dead letter {id} replayed but could not be dropped: {e}"))?;
            Ok(serde_json::json!({
                "task": task.id.to_string(),
                "attempts": task.attempts,
                "output": output,
            }))
        }
        _ => {
            let why = task.error.clone().unwrap_or_else(|| match &report.outcome {
                troupe::Outcome::Failed { cause } => cause.clone(),
                other => format!("{other:?}"),
            });
            Err(format!(
                "dead letter {id} replayed: {} failed again after {} attempt(s): {why}; the letter is kept",
                task.id, task.attempts
            ))
        }
    }
}

/// A one-task workflow: the letter's input on a pool like the task's (or its compensation's).
async fn replay_spec(
    rt: &Runtime,
    store: &dyn Store,
    letter: &DeadLetter,
) -> Result<WorkflowSpec, String> {
    let d = &letter.letter;
    let (Some(run), Some(task)) = (&d.run, &d.task) else {
        return Err("it names no run and task to take the agent from".into());
    };
    let record = store
        .get_run(run.clone())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("its run {run} is no longer in {}", store.location()))?;
    let plan = crate::runs::stored_plan(rt, &record)
        .ok_or_else(|| format!("the stored definition of run {run} is not valid here"))?;
    let (name, compensation) = match task.as_str().strip_suffix("/compensate") {
        Some(name) => (name, true),
        None => (task.as_str(), false),
    };
    let original = plan
        .index
        .get(name)
        .map(|&i| plan.task(i).clone())
        .ok_or_else(|| format!("run {run} has no task {name}"))?;
    let mut replayed = TaskSpec::new(task.as_str(), "replay").input(d.input.clone());
    let agent = if compensation {
        let c = original
            .compensate
            .as_ref()
            .ok_or_else(|| format!("task {name} of run {run} has no compensation"))?;
        replayed.retry = c.retry.clone();
        replayed.timeout = c.timeout;
        c.agent.clone()
    } else {
        replayed.retry = original.retry.clone();
        replayed.timeout = original.timeout;
        replayed.parallel = original.parallel;
        plan.task_pool[plan.index[name]].clone()
    };
    let pool = plan
        .pools
        .get(&agent)
        .cloned()
        .ok_or_else(|| format!("run {run} has no pool {agent}"))?;
    Ok(WorkflowSpec::builder(format!("dlq-replay-{}", letter.id))
        .pool("replay", pool)
        .task(replayed)
        .build())
}
