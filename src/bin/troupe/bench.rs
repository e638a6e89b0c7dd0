//! `troupe bench` (the harness of the `troupe-bench` crate, with a progress bar and the output
//! files) and the hidden `troupe bench-peer` (the peer process and the per-process memory
//! probes).

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use troupe_bench::report::{format, json, markdown, svg, table, Outcome, ScenarioReport};
use troupe_bench::{BenchConfig, Observer, Report, Scenario, Stop, SuiteName};

fn suite_help() -> String {
    let mut help = String::from("Suites (repeat --suite to run several; the default is quick):\n");
    for (name, what) in SuiteName::HELP {
        help.push_str(&format!("  {name:<9} {what}\n"));
    }
    help.push_str(
        "\nEach scenario measures its Troupe figure and the raw baselines beside it in the same \
         run, in interleaved rounds, and reports p50/p90/p99/max, throughput and the ratio \
         Troupe ÷ baseline (at p50). Exit code: 0 if every scenario was measured, 1 if any \
         failed (it is reported as FAILED with its reason; the others still run), 2 for bad \
         arguments.",
    );
    help
}

/// Arguments of `troupe bench`.
#[derive(clap::Args, Debug)]
#[command(after_help = suite_help())]
pub struct BenchArgs {
    /// A suite to run: quick (the default), full, ask, patterns, savina, tree, memory, net,
    /// cluster, durable or llm. Repeatable.
    #[arg(long = "suite", value_name = "NAME", value_parser = parse_suite)]
    suites: Vec<SuiteName>,
    /// Seconds per scenario, all its variants together (default: 1 with quick, 4 otherwise).
    #[arg(long, value_name = "SECS", conflicts_with = "iterations", value_parser = parse_secs)]
    duration: Option<Duration>,
    /// Problem sizes: quick or full (default: quick with the quick suite, full otherwise).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    size: Option<troupe_bench::Size>,
    /// Measured operations per variant of each scenario, instead of a duration.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// A running cluster to measure cross-node calls against (a member's gossip address);
    /// without it the cluster suite starts `troupe node` processes of its own.
    #[arg(long, value_name = "SEED")]
    cluster: Option<String>,
    /// The cookie of the cluster given with --cluster (or TROUPE_COOKIE).
    #[arg(long, env = "TROUPE_COOKIE", hide_env_values = true)]
    cookie: Option<String>,
    /// Also write the full report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the table as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Also write SVG plots (latency distributions per suite, scaling curves) into DIR.
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
    /// The `troupe` executable to start as the peer process and the memory probes (default:
    /// this one).
    #[arg(long, value_name = "PATH", hide = true)]
    peer_exe: Option<PathBuf>,
}

fn parse_suite(s: &str) -> Result<SuiteName, String> {
    s.parse()
}

fn parse_size(s: &str) -> Result<troupe_bench::Size, String> {
    match s {
        "quick" => Ok(troupe_bench::Size::Quick),
        "full" => Ok(troupe_bench::Size::Full),
        _ => Err(format!("unknown size {s:?}: quick or full")),
    }
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0 and 86400"
        )),
    }
}

/// Arguments of the hidden `troupe bench-peer`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["listen", "memory"])))]
pub struct PeerArgs {
    /// Run the peer of the two-process baselines, listening on this address.
    #[arg(long, value_name = "ADDR", requires_all = ["cookie", "group"])]
    listen: Option<SocketAddr>,
    /// The peer's cluster cookie.
    #[arg(long)]
    cookie: Option<String>,
    /// The process group the peer's echo actor joins.
    #[arg(long)]
    group: Option<String>,
    /// Run one memory probe of this variant (troupe, ractor, tokio, passivated) and exit.
    #[arg(long, value_name = "VARIANT", requires = "agents")]
    memory: Option<String>,
    /// Units the memory probe creates.
    #[arg(long, value_name = "N")]
    agents: Option<u64>,
}

/// Runs `troupe bench`.
pub async fn bench(args: BenchArgs) -> ExitCode {
    let config = BenchConfig {
        suites: args.suites,
        stop: match (args.iterations, args.duration) {
            (Some(n), _) => Some(Stop::Iterations(n)),
            (None, Some(d)) => Some(Stop::Duration(d)),
            (None, None) => None,
        },
        cluster: args.cluster,
        cookie: args.cookie,
        peer_exe: args.peer_exe,
        size: args.size,
        ..BenchConfig::default()
    };
    let suites: Vec<&str> = config.resolved_suites().iter().map(|s| s.name()).collect();
    eprintln!(
        "troupe bench: {} ({} sizes){}",
        suites.join(", "),
        config.size().name(),
        if cfg!(debug_assertions) {
            " — a debug build: figures are not representative, use --release"
        } else {
            ""
        }
    );
    let progress = Progress::new(std::io::stderr().is_terminal());
    let report = troupe_bench::run(&config, &progress).await;
    progress.finish();
    print!("{}", table::render(&report));
    let mut ok = write_outputs(
        &report,
        args.json.as_deref(),
        args.markdown.as_deref(),
        args.svg.as_deref(),
    );
    let failed: Vec<String> = report.failed().map(ScenarioReport::id).collect();
    if !failed.is_empty() {
        eprintln!(
            "error: {} scenario(s) failed: {}",
            failed.len(),
            failed.join(", ")
        );
        ok = false;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn write_outputs(
    report: &Report,
    json_path: Option<&Path>,
    md: Option<&Path>,
    svg_dir: Option<&Path>,
) -> bool {
    let mut ok = true;
    let mut write = |path: &Path, body: String| match std::fs::write(path, body) {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", path.display());
            ok = false;
        }
    };
    if let Some(p) = json_path {
        write(p, json::render(report));
    }
    if let Some(p) = md {
        write(p, markdown::render(report));
    }
    if let Some(dir) = svg_dir {
        match svg::write_all(report, dir) {
            Ok(files) => eprintln!("wrote {} SVG plots into {}", files.len(), dir.display()),
            Err(e) => {
                eprintln!("error: cannot write the plots into {}: {e}", dir.display());
                ok = false;
            }
        }
    }
    ok
}

/// Runs `troupe bench-peer`.
pub async fn peer(args: PeerArgs) -> ExitCode {
    let result = match (
        args.listen,
        args.memory,
        args.cookie,
        args.group,
        args.agents,
    ) {
        (Some(listen), _, Some(cookie), Some(group), _) => {
            troupe_bench::peer::serve(troupe_bench::peer::PeerOptions {
                listen,
                cookie,
                group,
            })
            .await
        }
        (_, Some(variant), _, _, Some(n)) => {
            match troupe_bench::suites::memory::probe(&variant, n).await {
                Ok(line) => {
                    println!("{line}");
                    use std::io::Write as _;
                    let _ = std::io::stdout().flush();
                    // The probe's units are still alive: leave without tearing them down.
                    std::process::exit(0);
                }
                Err(e) => Err(e),
            }
        }
        _ => Err(
            "bench-peer needs --listen ADDR --cookie C --group G, or --memory V --agents N".into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The progress bar on stderr (drawn only when stderr is a terminal).
struct Progress {
    bar: ProgressBar,
    visible: bool,
}

impl Progress {
    fn new(visible: bool) -> Self {
        let bar = ProgressBar::new(0);
        if visible {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:24} {pos}/{len} {prefix}: {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(120));
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self { bar, visible }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Progress {
    fn scenario_started(&self, index: usize, total: usize, scenario: &Scenario) {
        self.bar.set_length(total as u64);
        self.bar.set_position(index as u64);
        self.bar.set_prefix(scenario.id());
        self.bar.set_message("");
    }

    fn activity(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }

    fn scenario_finished(&self, index: usize, report: &ScenarioReport) {
        self.bar.set_position(index as u64 + 1);
        if !self.visible {
            return;
        }
        let line = match &report.outcome {
            Outcome::Failed { reason } => format!("✗ {}: FAILED: {reason}", report.id()),
            Outcome::Measured(m) => format!(
                "✓ {}: {} {} vs {} {} ({})",
                report.id(),
                m.subject.name,
                format::value(&report.unit, m.subject.summary.p50),
                m.baseline,
                format::value(&report.unit, m.baselines[0].summary.p50),
                format::ratio(m.ratio)
            ),
        };
        self.bar.println(line);
    }
}
