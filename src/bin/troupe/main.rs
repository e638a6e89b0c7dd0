//! The `troupe` command: run and check workflow files on an embedded single-node runtime or
//! across a cluster, and run cluster nodes.

mod admission;
mod bench;
mod cluster_runs;
mod control;
mod dlq;
mod hosted;
mod input;
mod metrics_http;
mod node;
mod node_api;
mod progress;
mod prune;
mod replicas;
mod replicating;
mod run;
mod runs;
mod serve;
mod summary;
mod telemetry;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Troupe: a runtime for multi-agent systems on the actor model.
#[derive(Parser, Debug)]
#[command(name = "troupe", version, about, long_about = None)]
struct Cli {
    /// Log filter for diagnostics on stderr (e.g. `info`, `troupe=debug`); RUST_LOG also works.
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
    /// Log lines as `text` or `json` (one object a line, with the run, task and agent spans).
    #[arg(long, global = true, value_enum, default_value_t = telemetry::LogFormat::Text)]
    log_format: telemetry::LogFormat,
    /// Export traces (one per run; spans per task attempt and agent call) over OTLP/HTTP to
    /// this endpoint, e.g. http://127.0.0.1:4318/v1/traces. Off unless given.
    #[arg(long, global = true, env = "TROUPE_OTLP", value_name = "ENDPOINT")]
    otlp: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a workflow file on an embedded single-node runtime; exit 0 only if it succeeded.
    Run(run::RunArgs),
    /// List the runs in the store (id, workflow, status, started, owner).
    Runs(runs::RunsArgs),
    /// Continue an interrupted run from its journal (or every one with --all); un-pause a
    /// paused run that another process drives.
    Resume(runs::ResumeArgs),
    /// Pause a run: no new attempt starts (running ones finish) until `troupe resume RUN`.
    Pause(control::ControlArgs),
    /// Cancel a run (driven by any process, or interrupted).
    Cancel(control::ControlArgs),
    /// Send a signal to a run: tasks with `await_signal: NAME` complete with the value.
    Signal(control::SignalArgs),
    /// The dead-letter table: work given up (list, replay ID, drop ID).
    Dlq(dlq::DlqArgs),
    /// Check a workflow file (syntax, fields, task graph, agent kinds) without running it.
    Validate {
        /// The workflow file (YAML).
        file: PathBuf,
    },
    /// List the agent kinds a workflow file can use.
    Kinds,
    /// Serve the HTTP API (v1 REST, SSE, WebSocket, OpenAPI) over an embedded runtime and store
    /// until SIGTERM or Ctrl-C, resuming the store's interrupted runs at start.
    Serve(serve::ServeArgs),
    /// Run a cluster node until SIGTERM or Ctrl-C (then it leaves, moving its agents away).
    Node(node::NodeArgs),
    /// What a cluster knows of a run submitted with `troupe run --cluster` (asks the nodes).
    Status(cluster_runs::RunRefArgs),
    /// Wait for the end of a run submitted with `troupe run --cluster`; exit 0 if it completed.
    Wait(cluster_runs::RunRefArgs),
    /// List the live members of a cluster.
    Members(node::ClusterArgs),
    /// Measure coordination latency and throughput, each beside raw baselines in the same run.
    Bench(bench::BenchArgs),
    /// The peer process of `troupe bench` (internal).
    #[command(hide = true)]
    BenchPeer(bench::PeerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _traces = telemetry::init(cli.log.as_deref(), cli.log_format, cli.otlp.as_deref());
    quiet_panics();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Runs(args) => runs::runs(args).await,
            Command::Resume(args) => runs::resume(args).await,
            Command::Pause(args) => control::pause(args).await,
            Command::Cancel(args) => control::cancel(args).await,
            Command::Signal(args) => control::signal(args).await,
            Command::Dlq(args) => dlq::dlq(args).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Node(args) => node::node(args).await,
            Command::Members(args) => node::members(args).await,
            Command::Status(args) => cluster_runs::status(args).await,
            Command::Wait(args) => cluster_runs::wait(args).await,
            Command::Validate { file } => run::validate(&file).await,
            Command::Kinds => {
                let kinds = troupe::KindRegistry::new();
                run::register_kinds(&kinds);
                for kind in kinds.kinds() {
                    println!("{:<22} {}", kind.name(), kind.description());
                }
                ExitCode::SUCCESS
            }
            Command::Bench(args) => bench::bench(args).await,
            Command::BenchPeer(args) => bench::peer(args).await,
        }
    })
}

/// Agents that panic are restarted by their supervisors; a backtrace on the terminal would read
/// as a crash of `troupe` itself. Their panics go to `tracing` (the backtrace at debug level,
/// `--log troupe::crash=debug`) and the supervisor's crash report is printed as one line; every
/// other panic is printed as usual.
fn quiet_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(troupe::runtime::crash::panic_hook(previous));
}
