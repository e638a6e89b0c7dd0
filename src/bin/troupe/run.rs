//! `troupe run` and `troupe validate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use troupe::workflow::plan::plan;
use troupe::{load_workflow, Outcome, Runtime, RuntimeConfig};

use crate::progress::Progress;
use crate::summary;

/// Arguments of `troupe run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The workflow file (YAML).
    file: PathBuf,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Write the full report (every task's output) as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Lines of each final output to print (0: none).
    #[arg(long, default_value_t = 20, value_name = "N")]
    output_lines: usize,
    /// Run across a cluster: this process joins as a client (hosting nothing) and the
    /// workflow's tasks are spread over the cluster's nodes.
    #[command(flatten)]
    cluster: crate::node::ClusterArgs,
}

/// Exit code for a file or definition that is not valid.
const INVALID: u8 = 2;
/// Exit code for a cancelled run (as after SIGINT).
const CANCELLED: u8 = 130;

/// Registers every kind the binary offers: the ready-made agents and the patterns.
pub fn register_kinds(kinds: &troupe::KindRegistry) {
    troupe::agents::register_all(kinds);
    troupe::patterns::register_all(kinds);
}

async fn local_runtime() -> Option<Runtime> {
    match Runtime::start(RuntimeConfig::named("local")).await {
        Ok(rt) => {
            register_kinds(rt.kinds());
            Some(rt)
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// Checks a file and prints what is wrong, or a one-line summary.
pub async fn validate(file: &Path) -> ExitCode {
    let spec = match load_workflow(file) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(INVALID);
        }
    };
    let Some(rt) = local_runtime().await else {
        return ExitCode::from(INVALID);
    };
    let result = plan(spec, rt.kinds());
    rt.shutdown().await;
    match result {
        Ok(plan) => {
            for w in &plan.spec.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: workflow {:?} is valid: {} tasks, {} agent pools",
                file.display(),
                plan.spec.name,
                plan.len(),
                plan.pools.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("error: {} is not a valid workflow:", file.display());
            for e in &errors.0 {
                eprintln!("  - {e}");
            }
            ExitCode::from(INVALID)
        }
    }
}

/// Runs a file to its end with progress and a summary.
pub async fn run(args: RunArgs) -> ExitCode {
    let spec = match load_workflow(&args.file) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(INVALID);
        }
    };
    for w in &spec.warnings {
        eprintln!("warning: {w}");
    }
    let (rt, client) = match args.cluster.seed {
        Some(seed) => match crate::node::join_as_client(&args.cluster, seed).await {
            Ok(client) => (client.runtime().clone(), Some(client)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        },
        None => match local_runtime().await {
            Some(rt) => (rt, None),
            None => return ExitCode::from(INVALID),
        },
    };
    let plan = match plan(spec, rt.kinds()) {
        Ok(plan) => Arc::new(plan),
        Err(errors) => {
            eprintln!("error: {} is not a valid workflow:", args.file.display());
            for e in &errors.0 {
                eprintln!("  - {e}");
            }
            rt.shutdown().await;
            return ExitCode::from(INVALID);
        }
    };
    let events = rt.subscribe();
    let progress = Progress::start(&plan, events, !args.no_progress);
    let handle = match rt.submit_plan(plan.clone()).await {
        Ok(h) => h,
        Err(e) => {
            progress.finish().await;
            eprintln!("error: {e}");
            rt.shutdown().await;
            return ExitCode::from(1);
        }
    };
    let run_id = handle.run_id().clone();
    let canceller = handle.canceller();
    let wait = handle.wait();
    tokio::pin!(wait);
    let report = loop {
        tokio::select! {
            r = &mut wait => break r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("\ninterrupted: cancelling {run_id} (Ctrl-C again to wait no longer)");
                canceller.cancel();
            }
        }
    };
    progress.finish().await;
    if let Some(client) = &client {
        client.shutdown().await;
    }
    rt.shutdown().await;
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    print!("{}", summary::render(&report, &plan, args.output_lines));
    if let Some(path) = &args.report {
        if let Err(e) = std::fs::write(path, summary::json(&report)) {
            eprintln!("error: cannot write {}: {e}", path.display());
        }
    }
    match report.outcome {
        Outcome::Succeeded => ExitCode::SUCCESS,
        Outcome::Failed { .. } => ExitCode::from(1),
        Outcome::Cancelled => ExitCode::from(CANCELLED),
    }
}
