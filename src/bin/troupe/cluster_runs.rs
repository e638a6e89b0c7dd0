//! Runs that belong to the cluster, from the client's side: `troupe run --cluster` submits
//! the run to a node (the first of the submission's placement order) which owns and drives it
//! in its own store; the client then waits for its end, and may leave (`--detach`, Ctrl-C,
//! or killed): the run goes on. `troupe status RUN --cluster SEED` and `troupe wait RUN
//! --cluster SEED` ask the live nodes, in the run's placement order, which of them has it.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use troupe::cluster::node::ClusterNode;
use troupe::cluster::runs::{RunInfo, RunRequest};

use crate::node::{join_as_client, ClusterArgs};
use crate::run::Output;

/// How long one request may wait for a run to end before it is asked again.
const WAIT_ROUND: Duration = Duration::from_secs(3600);
/// How long a node may take to journal a submitted run.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause before asking again when no live node drives the run (its owner is down and
/// another is about to resume it).
const ASK_AGAIN: Duration = Duration::from_millis(250);
/// How many rounds in which no live node knows the run before giving up.
const UNKNOWN_ROUNDS: u32 = 20;

/// Exit code for a file or definition that is not valid.
const INVALID: u8 = 2;

/// Arguments of `troupe status` and `troupe wait`.
#[derive(clap::Args, Debug)]
pub struct RunRefArgs {
    /// The run (as `troupe run --cluster` printed it).
    run: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// `troupe wait`: also write the run's report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<std::path::PathBuf>,
}

/// Submits `text` to the cluster `client` is in; with `detach`, prints the run id and
/// returns, else waits for the run's end and prints how it ended.
pub async fn submit(
    client: ClusterNode,
    text: String,
    source: String,
    detach: bool,
    output: &Output,
) -> ExitCode {
    let key = format!(
        "{source}/{}/{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    );
    let mut refused = None;
    let mut info = None;
    for node in client.run_nodes(&key) {
        let request = RunRequest::Submit {
            definition: text.clone(),
            source: source.clone(),
        };
        match client.run_request(&node, request, SUBMIT_TIMEOUT).await {
            Ok(Some(i)) => {
                info = Some(i);
                break;
            }
            Ok(None) => refused = Some(format!("node {node} answered without a run")),
            Err(troupe::cluster::node::ClusterError::Run {
                cause: troupe::cluster::wire::WireError::RunRefused { reason, .. },
                ..
            }) => {
                eprintln!("error: {reason}");
                return leave(&client, ExitCode::from(INVALID)).await;
            }
            Err(e) => refused = Some(e.to_string()),
        }
    }
    let Some(info) = info else {
        let why = refused.unwrap_or_else(|| "no live node hosts runs".into());
        eprintln!("error: cannot submit the run: {why}");
        return leave(&client, ExitCode::from(1)).await;
    };
    if detach {
        println!("{}", info.run);
        return leave(&client, ExitCode::SUCCESS).await;
    }
    eprintln!(
        "run {} owned by node {} (Ctrl-C stops following it, not the run; `troupe wait {} --cluster ...` follows it again)",
        info.run, info.node, info.run
    );
    let code = tokio::select! {
        ended = wait_for(&client, &info.run) => finish(ended, output),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("\nno longer following run {}; it goes on in the cluster", info.run);
            ExitCode::from(130)
        }
    };
    leave(&client, code).await
}

async fn leave(client: &ClusterNode, code: ExitCode) -> ExitCode {
    client.shutdown().await;
    client.runtime().shutdown().await;
    code
}

/// What every live node that hosts runs says of `run`, in its placement order (the nodes
/// that do not know it left out).
async fn ask_all(client: &ClusterNode, run: &str, wait: bool) -> (Vec<RunInfo>, Vec<String>) {
    let mut set = tokio::task::JoinSet::new();
    for (i, node) in client.run_nodes(run).into_iter().enumerate() {
        let client = client.clone();
        let request = RunRequest::Status {
            run: run.to_string(),
            wait,
        };
        let timeout = if wait { WAIT_ROUND } else { SUBMIT_TIMEOUT };
        set.spawn(async move { (i, client.run_request(&node, request, timeout).await) });
    }
    let mut answers = Vec::new();
    let mut errors = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, Ok(Some(info)))) => {
                // A node that has seen the run end answers for all: stop waiting for others.
                let done = wait && info.is_finished();
                answers.push((i, info));
                if done {
                    set.abort_all();
                    break;
                }
            }
            Ok((_, Ok(None))) => {}
            Ok((_, Err(e))) => errors.push(e.to_string()),
            Err(_) => {}
        }
    }
    answers.sort_by_key(|(i, _)| *i);
    (answers.into_iter().map(|(_, a)| a).collect(), errors)
}

/// The answer that says most: a finished run's (with its report first), else its driver's,
/// else the first.
fn best(answers: Vec<RunInfo>) -> Option<RunInfo> {
    let rank = |a: &RunInfo| match (a.is_finished(), a.report.is_some(), a.driving) {
        (true, true, _) => 0,
        (true, false, _) => 1,
        (false, _, true) => 2,
        _ => 3,
    };
    answers.into_iter().min_by_key(rank)
}

/// Waits until a live node says `run` has ended.
async fn wait_for(client: &ClusterNode, run: &str) -> Result<RunInfo, String> {
    let mut unknown = 0;
    loop {
        let (answers, errors) = ask_all(client, run, true).await;
        if answers.is_empty() {
            unknown += 1;
            if unknown >= UNKNOWN_ROUNDS {
                let errors = if errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", errors.join("; "))
                };
                return Err(format!(
                    "no live node knows run {run}{errors}: with a store per node, a run whose node is down goes on when that node is started again"
                ));
            }
        }
        if let Some(info) = best(answers).filter(RunInfo::is_finished) {
            return Ok(info);
        }
        // Nobody drives it right now (its owner went down, another is taking it over): ask
        // again shortly.
        tokio::time::sleep(ASK_AGAIN).await;
    }
}

/// Prints how a run ended (and writes its report); the exit code says how.
fn finish(ended: Result<RunInfo, String>, output: &Output) -> ExitCode {
    let info = match ended {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match &info.report {
        Some(report) => {
            print!("{}", render(report, output.output_lines));
            if let Some(path) = &output.report {
                let text = serde_json::to_string_pretty(report).unwrap_or_default();
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("error: cannot write {}: {e}", path.display());
                }
            }
        }
        None => println!("run {}: {} (on node {})", info.run, info.status, info.node),
    }
    match info.status.as_str() {
        "completed" => ExitCode::SUCCESS,
        "cancelled" => ExitCode::from(130),
        _ => ExitCode::from(1),
    }
}

/// A short summary of a report's JSON: a line per task, then the outcome.
fn render(report: &Value, output_lines: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for t in report["tasks"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<20} {:<10} attempts {}  {}",
            t["id"].as_str().unwrap_or("?"),
            t["status"].as_str().unwrap_or("?"),
            t["attempts"],
            t["error"].as_str().unwrap_or("")
        );
        if output_lines > 0 && !t["output"].is_null() {
            let text = serde_json::to_string_pretty(&t["output"]).unwrap_or_default();
            for line in text.lines().take(output_lines) {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let _ = writeln!(
        out,
        "run {}: {}",
        report["run"].as_str().unwrap_or("?"),
        report["outcome"].as_str().unwrap_or("?")
    );
    out
}

async fn join(args: &ClusterArgs) -> Result<ClusterNode, ExitCode> {
    let Some(seed) = args.seed else {
        eprintln!("error: --cluster SEED is required");
        return Err(ExitCode::from(INVALID));
    };
    join_as_client(args, seed).await.map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })
}

/// `troupe status RUN --cluster SEED`: what the cluster knows of a run.
pub async fn status(args: RunRefArgs) -> ExitCode {
    let client = match join(&args.cluster).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (answers, errors) = ask_all(&client, &args.run, false).await;
    let code = match best(answers) {
        Some(info) => {
            let how = if info.driving {
                "driven by"
            } else {
                "known to"
            };
            println!("{} {} ({how} node {})", info.run, info.status, info.node);
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "error: no live node knows run {}{}",
                args.run,
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", errors.join("; "))
                }
            );
            ExitCode::from(1)
        }
    };
    leave(&client, code).await
}

/// `troupe wait RUN --cluster SEED`: waits for a run's end; the exit code says how it ended.
pub async fn wait(args: RunRefArgs) -> ExitCode {
    let client = match join(&args.cluster).await {
        Ok(c) => c,
        Err(code) => return code,
    };
    let output = Output {
        report: args.report.clone(),
        output_lines: 0,
    };
    let code = finish(wait_for(&client, &args.run).await, &output);
    leave(&client, code).await
}
