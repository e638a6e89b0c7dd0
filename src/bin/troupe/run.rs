//! `troupe run` and `troupe validate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use troupe::workflow::plan::{plan, Plan};
use troupe::workflow::resources::Capacity;
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
    /// Run on a cluster: this process joins as a client (hosting nothing) and submits the
    /// run to a node, which owns it (journals it in its store and drives it, its tasks spread
    /// over the cluster's nodes) whatever happens to this process.
    #[command(flatten)]
    cluster: crate::node::ClusterArgs,
    /// With --cluster: print the run's id and exit once a node owns the run (follow it with
    /// `troupe status RUN` / `troupe wait RUN`).
    #[arg(long, requires = "seed")]
    detach: bool,
    /// Where the run is journaled (see `troupe runs`, `troupe resume`).
    #[command(flatten)]
    store: crate::runs::StoreArgs,
    #[command(flatten)]
    capacity: CapacityArgs,
    #[command(flatten)]
    metrics: crate::metrics_http::MetricsArgs,
    /// The most one run's journal may hold (`50MiB`, `2GB`, bytes): a run that reaches it fails
    /// with an error naming the cap, instead of growing without bound.
    #[arg(
        long,
        env = "TROUPE_JOURNAL_CAP",
        default_value = "50MiB",
        value_name = "SIZE",
        value_parser = journal_cap
    )]
    journal_cap: u64,
    #[command(flatten)]
    retain: crate::prune::RetainArgs,
    /// The run's input, given to its tasks as the API's `input_data` is (a task without
    /// dependencies and without an `input` gets all of it; `"$input.a.b"` in a task's `input`
    /// becomes that part) and journaled with its submission: inline JSON (`'{"topic": "x"}'`)
    /// or `@FILE` to read JSON from a file.
    #[arg(long, value_name = "JSON|@FILE", value_parser = crate::input::parse_input)]
    input: Option<serde_json::Value>,
}

fn journal_cap(text: &str) -> Result<u64, String> {
    match troupe::runtime::config::parse_bytes(text) {
        Ok(0) => Err("the journal cap must be at least 1 byte".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// What to do with a finished run's report.
pub struct Output {
    /// Write the full report as JSON here.
    pub report: Option<PathBuf>,
    /// Lines of each final output to print.
    pub output_lines: usize,
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

/// What this node offers to the pools of the runs it hosts (their `resources`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CapacityArgs {
    /// This node's capacity for the runs' pools, e.g. `cpu=8,memory=16GB` (a part left out
    /// keeps its default) [default: this machine's cores and memory]. A run whose pools'
    /// `resources` need more is refused with "insufficient resources".
    #[arg(long, env = "TROUPE_CAPACITY", value_name = "cpu=N,memory=SIZE")]
    pub capacity: Option<String>,
}

impl CapacityArgs {
    /// The capacity given, or this machine's.
    pub fn capacity(&self) -> Result<Capacity, String> {
        let machine = Capacity::of_this_machine();
        match &self.capacity {
            Some(text) => Capacity::parse(text, machine).map_err(|e| format!("--capacity: {e}")),
            None => Ok(machine),
        }
    }
}

/// A single-node runtime with every kind of the binary and this machine's capacity.
pub async fn local_runtime() -> Option<Runtime> {
    local_runtime_with(&CapacityArgs::default(), None, None).await
}

/// A single-node runtime with every kind of the binary, the capacity `args` give, `store` for
/// the snapshots of agents that persist (`None`: they stay in memory), recording to `metrics`
/// (`--metrics`).
pub async fn local_runtime_with(
    args: &CapacityArgs,
    store: Option<Arc<dyn troupe::runtime::store::Store>>,
    metrics: Option<troupe::runtime::metrics::Metrics>,
) -> Option<Runtime> {
    let capacity = match args.capacity() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    let config = RuntimeConfig {
        capacity,
        store,
        metrics,
        ..RuntimeConfig::named("local")
    };
    match Runtime::start(config).await {
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
            if let Err(e) = rt.check_capacity(&plan) {
                eprintln!("warning: on this machine: {e} (see --capacity of troupe run)");
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
    // The definition as submitted, journaled with the run so that it can be resumed.
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.file.display());
            return ExitCode::from(INVALID);
        }
    };
    // The input reaches the tasks as `input_data` does over the API: written into the run's
    // definition (so a resumed run keeps it), and journaled with the submission too.
    let (spec, text) = match &args.input {
        None => (spec, text),
        Some(input) => match with_input(&text, input, &args.file) {
            Ok(rewritten) => rewritten,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(INVALID);
            }
        },
    };
    if let Some(seed) = args.cluster.seed {
        if args.store.store.is_some() {
            eprintln!(
                "warning: --store is ignored with --cluster: the run is journaled in the store of \
                 the node that owns it (`troupe node --store`)"
            );
        }
        let client = match crate::node::join_as_client(&args.cluster, seed).await {
            Ok(client) => client,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let output = Output {
            report: args.report.clone(),
            output_lines: args.output_lines,
        };
        let source = args.file.display().to_string();
        return crate::cluster_runs::submit(client, text, source, args.detach, &output).await;
    }
    // The store's own per-run limit stays above the cap, so the cap is what a run meets (and
    // the run's last event, which may pass the cap, still fits).
    let limits = troupe::runtime::store::StoreConfig {
        journal_limit_bytes: args.journal_cap.saturating_mul(2).max(64 << 20),
        ..Default::default()
    };
    let store = match args.store.open_with(limits).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(INVALID);
        }
    };
    let local_metrics = args
        .metrics
        .metrics
        .map(|_| troupe::runtime::metrics::Metrics::new("local"));
    let (rt, client) = match local_runtime_with(
        &args.capacity,
        Some(store.clone()),
        local_metrics.clone(),
    )
    .await
    {
        Some(rt) => (rt, None::<troupe::cluster::node::ClusterNode>),
        None => return ExitCode::from(INVALID),
    };
    let _metrics = match (args.metrics.metrics, local_metrics) {
        (Some(addr), Some(metrics)) => {
            metrics.observe_store(store.clone());
            match crate::metrics_http::start(addr, metrics, rt.downgrade()).await {
                Ok(server) => {
                    server.ready();
                    Some(server)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    rt.shutdown().await;
                    return ExitCode::from(INVALID);
                }
            }
        }
        _ => None,
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
    // One-way messages that cannot be delivered are kept with the run store's dead letters.
    rt.set_dead_letter_store(store.clone());
    let events = rt.subscribe();
    let progress = Progress::start(&plan, events, !args.no_progress);
    let definition = troupe::runtime::workflow::durable::Definition {
        text,
        source: args.file.display().to_string(),
    };
    let location = store.location().to_string();
    let waits_for_signals = plan
        .spec
        .tasks
        .iter()
        .any(|t| matches!(t.wait, Some(troupe::workflow::TaskWait::Signal(_))));
    if waits_for_signals && location == "memory" {
        eprintln!(
            "warning: this run awaits signals but its store is `memory`: no other process can              signal it (use a store file)"
        );
    }
    let mut durability = args.store.durability(store.clone());
    durability.limits.cap_bytes = args.journal_cap;
    let handle = match rt
        .submit_durable_with_input(
            plan.clone(),
            definition,
            args.input.clone().unwrap_or_default(),
            durability,
        )
        .await
    {
        Ok(h) => h,
        Err(e) => {
            progress.finish().await;
            eprintln!("error: {e}");
            rt.shutdown().await;
            return ExitCode::from(1);
        }
    };
    eprintln!("run {} (journaled in {location})", handle.run_id());
    let output = Output {
        report: args.report.clone(),
        output_lines: args.output_lines,
    };
    let code = await_report(client.as_ref(), &plan, handle, progress, &output).await;
    rt.shutdown().await;
    args.retain.apply(store.as_ref()).await;
    code
}

/// Waits for a run's report (Ctrl-C cancels it), prints its summary, writes the JSON report
/// if asked; the exit code says how it ended.
pub async fn await_report(
    client: Option<&troupe::cluster::node::ClusterNode>,
    plan: &Plan,
    handle: troupe::WorkflowHandle,
    progress: Progress,
    output: &Output,
) -> ExitCode {
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
    let tokens = progress.finish().await;
    if let Some(client) = client {
        client.shutdown().await;
    }
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    print!("{}", summary::render(&report, plan, output.output_lines));
    print!("{}", tokens.render());
    if let Some(path) = &output.report {
        let mut doc: serde_json::Value =
            serde_json::from_str(&summary::json(&report)).unwrap_or_default();
        if let Some(o) = doc.as_object_mut() {
            o.insert("llm_usage".into(), tokens.json());
        }
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write {}: {e}", path.display());
        }
    }
    match report.outcome {
        Outcome::Succeeded => ExitCode::SUCCESS,
        Outcome::Failed { .. } => ExitCode::from(1),
        Outcome::Cancelled => ExitCode::from(CANCELLED),
    }
}

/// The workflow `text` (read from `file`) with the run's `--input` written into it, and the
/// spec read back from the rewritten text.
fn with_input(
    text: &str,
    input: &serde_json::Value,
    file: &std::path::Path,
) -> Result<(troupe::workflow::WorkflowSpec, String), String> {
    let text = troupe::runtime::workflow::file::rewrite_definition(text, None, Some(input))
        .map_err(|e| format!("--input for {}: {e}", file.display()))?;
    let spec = troupe::runtime::workflow::parse_workflow(&text, &file.display().to_string())
        .map_err(|e| format!("--input for {}: {e}", file.display()))?;
    Ok((spec, text))
}
