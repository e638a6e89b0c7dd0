//! The `troupe` command: run and check workflow files on an embedded single-node runtime or
//! across a cluster, and run cluster nodes.

mod bench;
mod node;
mod progress;
mod run;
mod summary;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a workflow file on an embedded single-node runtime; exit 0 only if it succeeded.
    Run(run::RunArgs),
    /// Check a workflow file (syntax, fields, task graph, agent kinds) without running it.
    Validate {
        /// The workflow file (YAML).
        file: PathBuf,
    },
    /// List the agent kinds a workflow file can use.
    Kinds,
    /// Run a cluster node until SIGTERM or Ctrl-C (then it leaves, moving its agents away).
    Node(node::NodeArgs),
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
    init_tracing(cli.log.as_deref());
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
            Command::Node(args) => node::node(args).await,
            Command::Members(args) => node::members(args).await,
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

/// Agents that panic are restarted by their supervisors; a full backtrace on the terminal would
/// read as a crash of `troupe` itself. Print one line instead (RUST_BACKTRACE=1 keeps the
/// default hook).
fn quiet_panics() {
    if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("note: an actor panicked{at}: {msg} (its supervisor handles it)");
    }));
}

fn init_tracing(filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("error")),
    };
    let filter = filter.unwrap_or_else(|e| {
        eprintln!("warning: bad log filter ({e}); logging errors only");
        EnvFilter::new("error")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
