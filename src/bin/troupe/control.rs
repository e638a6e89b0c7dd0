//! `troupe pause`, `troupe cancel`, `troupe signal` and the un-pausing side of `troupe resume`:
//! requests posted to a run's inbox in the store, applied by whichever process drives the run.
//!
//! When a live process drives the run, the command waits until that driver has journaled the
//! request (it reads its inbox every 100 ms), so that once it returns the run is paused,
//! cancelled or signalled. When nobody drives it, the request waits in the inbox and is
//! applied when the run is resumed — except `cancel`, which finishes an undriven run at once.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use troupe::runtime::store::{RequestKind, RunRequest, RunStatus, Store, Timestamp};
use troupe::runtime::workflow::durable::{cancel_undriven, post_request, DurableError};
use troupe::RunId;

use crate::runs::{holder_is_gone, StoreArgs};

/// Arguments of `troupe pause` and `troupe cancel`.
#[derive(clap::Args, Debug)]
pub struct ControlArgs {
    /// The run (see `troupe runs`).
    run: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// Arguments of `troupe signal`.
#[derive(clap::Args, Debug)]
pub struct SignalArgs {
    /// The run (see `troupe runs`).
    run: String,
    /// The signal's name (a task's `await_signal`).
    name: String,
    /// The signal's value, as JSON: the output of the tasks awaiting it.
    #[arg(long, default_value = "null", value_name = "JSON")]
    value: String,
    #[command(flatten)]
    store: StoreArgs,
}

/// How long a command waits for a live driver to apply its request.
const APPLY_WAIT: Duration = Duration::from_secs(30);

/// `troupe pause RUN`.
pub async fn pause(args: ControlArgs) -> ExitCode {
    let Some(store) = open(&args.store).await else {
        return ExitCode::from(2);
    };
    send(&store, RunId::new(args.run), RequestKind::Pause, "paused").await
}

/// `troupe cancel RUN`.
pub async fn cancel(args: ControlArgs) -> ExitCode {
    let Some(store) = open(&args.store).await else {
        return ExitCode::from(2);
    };
    let run = RunId::new(args.run);
    if driver(&store, &run).await.is_none() {
        let durability = args.store.durability(store.clone());
        return match cancel_undriven(&run, &durability).await {
            Ok(()) => {
                println!("run {run} cancelled");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}", refusal(&e, "cancel"));
                ExitCode::from(1)
            }
        };
    }
    send(&store, run, RequestKind::Cancel, "cancelled").await
}

/// `troupe signal RUN NAME --value JSON`.
pub async fn signal(args: SignalArgs) -> ExitCode {
    let value: serde_json::Value = match serde_json::from_str(&args.value) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --value is not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(store) = open(&args.store).await else {
        return ExitCode::from(2);
    };
    let kind = RequestKind::Signal {
        name: args.name.clone(),
        value,
    };
    let what = format!("signalled ({})", args.name);
    send(&store, RunId::new(args.run), kind, &what).await
}

/// Whether a live driver holds `run` and the run is paused or about to be: then `troupe
/// resume` un-pauses it instead of driving it.
pub async fn is_paused_by_live_driver(store: &Arc<dyn Store>, run: &RunId) -> bool {
    if driver(store, run).await.is_none() {
        return false;
    }
    let paused = matches!(
        store.get_run(run.clone()).await,
        Ok(Some(r)) if r.status == RunStatus::Paused
    );
    let pausing = store.pending_requests(run.clone()).await.is_ok_and(|p| {
        p.iter()
            .any(|r| matches!(r.request.kind, RequestKind::Pause | RequestKind::Resume))
    });
    paused || pausing
}

/// `troupe resume RUN` of a paused run that a live process drives.
pub async fn unpause(store: &Arc<dyn Store>, run: RunId) -> ExitCode {
    send(store, run, RequestKind::Resume, "resumed").await
}

/// Why a request was refused, in the words of the command (`verb`).
fn refusal(e: &DurableError, verb: &str) -> String {
    match e {
        DurableError::Finished { run, status } => {
            format!("run {run} is already {status}: nothing to {verb}")
        }
        other => format!("cannot {verb}: {other}"),
    }
}

async fn open(args: &StoreArgs) -> Option<Arc<dyn Store>> {
    match args.open().await {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// The live process holding the run's lease, if any.
pub async fn driver(store: &Arc<dyn Store>, run: &RunId) -> Option<String> {
    match store.get_lease(run.clone()).await {
        Ok(Some(lease)) if lease.until > Timestamp::now() && !holder_is_gone(&lease.owner) => {
            Some(lease.owner)
        }
        _ => None,
    }
}

/// Posts the request; with a live driver, waits until it has applied it.
async fn send(store: &Arc<dyn Store>, run: RunId, kind: RequestKind, done: &str) -> ExitCode {
    let by = Some(crate::runs::owner());
    let verb = match &kind {
        RequestKind::Pause => "pause",
        RequestKind::Resume => "resume",
        RequestKind::Cancel => "cancel",
        RequestKind::Signal { .. } => "signal",
    };
    let posted = match post_request(store.as_ref(), &run, kind, by).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}", refusal(&e, verb));
            return ExitCode::from(1);
        }
    };
    let Some(holder) = driver(store, &run).await else {
        println!(
            "run {run}: request posted; nobody drives the run now, it applies when the run is \
             resumed (troupe resume {run})"
        );
        return ExitCode::SUCCESS;
    };
    match applied(store, &posted).await {
        Ok(true) => {
            println!("run {run} {done} (driven by {holder})");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            eprintln!(
                "error: run {run}: the request is posted but its driver {holder} did not apply \
                 it within {}s; it applies when the run is next driven",
                APPLY_WAIT.as_secs()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Waits (polling the store) until the request has left the inbox, or the run is over.
async fn applied(store: &Arc<dyn Store>, posted: &RunRequest) -> Result<bool, String> {
    let deadline = Instant::now() + APPLY_WAIT;
    let run = posted.request.run.clone();
    loop {
        let pending = store
            .pending_requests(run.clone())
            .await
            .map_err(|e| e.to_string())?;
        if !pending.iter().any(|r| r.id == posted.id) {
            return Ok(true);
        }
        let over =
            matches!(store.get_run(run.clone()).await, Ok(Some(r)) if r.status.is_finished());
        if over {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
