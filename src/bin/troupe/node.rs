//! `troupe node` (run a cluster node), `troupe members` (list a cluster's members), and the
//! client node that `troupe run --cluster` uses.
//!
//! A node runs until SIGTERM or Ctrl-C. With the hidden `--exit-with-stdin` it also stops when
//! its stdin reaches end of file. `troupe bench` and the multi-process tests start their nodes
//! with it and hold the write end of the pipe, so a node never outlives its parent, not even
//! one killed by SIGKILL (which runs no clean-up), without platform calls such as `prctl`.
//! For partition tests, such a node also takes fault-injection lines on its stdin:
//! `partition ADDR,ADDR...` (drop membership traffic to and from these gossip addresses) and
//! `heal` ([`ClusterNode::partition_from`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use troupe::cluster::node::{ClusterConfig, ClusterNode};
use troupe::cluster::transport::TlsConfig;
use troupe::cluster::ConfigError;
use troupe::{Runtime, RuntimeConfig};

use crate::run::register_kinds;

/// Exit code for bad flags or a bad config file.
const INVALID: u8 = 2;

/// How long a node whose parent is gone (`--exit-with-stdin`) tries to leave gracefully before
/// it just stops: its peers are usually being stopped at the same moment.
const ORPHAN_LEAVE: Duration = Duration::from_secs(3);

/// Arguments of `troupe node`.
#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// A YAML file with the node's settings (the same names as the flags, with `_`: `name`,
    /// `listen`, `gossip`, `seeds`, `cookie`, `capacity`, `kinds`, `task_slots`,
    /// `passivate_after`, `backups`, ..., and `tls: {cert, key, ca}` with paths relative to the file).
    /// Flags given as well override the file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The node's name, unique in the cluster.
    #[arg(long)]
    name: Option<String>,
    /// Transport address (TCP), e.g. 127.0.0.2:7000.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Membership address (UDP), e.g. 127.0.0.2:7001; other nodes use it as a seed.
    #[arg(long, value_name = "ADDR")]
    gossip: Option<SocketAddr>,
    /// The gossip address of a node to join through (repeat for several).
    #[arg(long = "seed", value_name = "ADDR")]
    seeds: Vec<SocketAddr>,
    /// The cluster's shared secret (or TROUPE_COOKIE).
    #[arg(long, env = "TROUPE_COOKIE", hide_env_values = true)]
    cookie: Option<String>,
    /// Relative capacity for placement.
    #[arg(long)]
    capacity: Option<u32>,
    /// Agent kinds this node hosts (comma separated; default all).
    #[arg(long, value_delimiter = ',')]
    kinds: Option<Vec<String>>,
    /// What this node offers to workflow pools that need resources, e.g.
    /// `cpu=8,memory=16GB,flags=gpu+ssd` (or `resources:` in the config file). Tasks of a pool
    /// whose `resources` this does not hold run on other nodes; a run no live node can hold
    /// is refused with the pool named. Without it the node runs only pools that need nothing,
    /// unless no node of the cluster declares resources.
    #[arg(long, value_name = "cpu=N,memory=SIZE,flags=A+B")]
    resources: Option<String>,
    /// Workflow tasks this node runs at once.
    #[arg(long)]
    task_slots: Option<usize>,
    /// Passivate agents idle for this many milliseconds.
    #[arg(long, value_name = "MS")]
    passivate_after: Option<u64>,
    /// How many nodes hold each agent's checkpoint (default 1); its state survives as long
    /// as one of them does.
    #[arg(long, value_name = "N")]
    backups: Option<usize>,
    /// Where this node keeps the runs submitted to it: a file path, `sqlite:PATH`, or
    /// `postgres://...` (one database shared by every node) [default: `store:` in the config
    /// file, else $XDG_DATA_HOME/troupe/nodes/NAME.db]. A node restarted after a crash resumes
    /// the runs of its store that nobody drives.
    #[arg(long, value_name = "STORE")]
    store: Option<String>,
    /// How long this node's lease on its runs lasts without renewal, in milliseconds.
    #[arg(
        long,
        env = "TROUPE_LEASE_TTL_MS",
        default_value_t = 10_000,
        hide = true
    )]
    lease_ttl_ms: u64,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    metrics: crate::metrics_http::MetricsArgs,
    #[command(flatten)]
    api: crate::node_api::ApiArgs,
    /// Hidden, for harnesses that start nodes as child processes (`troupe bench`, the
    /// multi-process tests): also stop when stdin reaches end of file, the same way as on
    /// SIGTERM (leave, moving agents away, for at most 3 s; then just stop), and
    /// exit 0. The parent keeps the write end of a pipe open for the child's lifetime; when
    /// the parent dies, even by SIGKILL, the pipe closes and the node does not outlive it.
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

/// Mutual TLS for the transport: all three files, or none (plain TCP).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// TLS: this node's certificate chain (PEM), with its transport IP as an IP subject
    /// alternative name. Needs --tls-key and --tls-ca.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "tls_ca"])]
    pub tls_cert: Option<PathBuf>,
    /// TLS: the private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_ca"])]
    pub tls_key: Option<PathBuf>,
    /// TLS: the certificate of the CA that signs every node's certificate (PEM).
    #[arg(long, value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// The TLS files given, if any; an error names what is missing when only some are (the
    /// command line already refuses that, with exit code 2).
    pub fn config(&self) -> Result<Option<TlsConfig>, String> {
        match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), Some(ca)) => Ok(Some(TlsConfig::new(cert, key, ca))),
            (cert, key, ca) => {
                let missing: Vec<&str> = [
                    (cert.is_none(), "--tls-cert"),
                    (key.is_none(), "--tls-key"),
                    (ca.is_none(), "--tls-ca"),
                ]
                .into_iter()
                .filter_map(|(absent, flag)| absent.then_some(flag))
                .collect();
                Err(format!(
                    "--tls-cert, --tls-key and --tls-ca go together (or none, for plain TCP): \
                     missing {}",
                    missing.join(" and ")
                ))
            }
        }
    }
}

/// Why a node's settings could not be made from its flags and its file.
#[derive(Debug)]
enum ArgsError {
    /// The settings file could not be read or decoded.
    File { path: PathBuf, reason: String },
    /// A flag needed when no settings file is given.
    Missing(&'static str),
    /// The TLS flags, given only in part.
    Tls(String),
    /// `--resources` could not be read.
    Resources(String),
    /// A setting the cluster cannot run with.
    Config(ConfigError),
}

impl std::fmt::Display for ArgsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::Missing(flag) => write!(f, "--{flag} is required (or give --config FILE)"),
            Self::Tls(reason) => f.write_str(reason),
            Self::Resources(reason) => write!(f, "--resources: {reason}"),
            Self::Config(e) => write!(f, "{e}"),
        }
    }
}

impl From<ConfigError> for ArgsError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

impl NodeArgs {
    fn config(&self) -> Result<ClusterConfig, ArgsError> {
        let mut config = match &self.config {
            Some(path) => {
                let file = |reason: String| ArgsError::File {
                    path: path.clone(),
                    reason,
                };
                let text =
                    std::fs::read_to_string(path).map_err(|e| file(format!("cannot read: {e}")))?;
                let mut config = serde_saphyr::from_str::<ClusterConfig>(&text)
                    .map_err(|e| file(e.to_string()))?;
                // TLS file names in the file are relative to the file, not to where the node
                // was started.
                let dir = path.parent().unwrap_or(Path::new("."));
                config.tls = config.tls.map(|tls| tls.relative_to(dir));
                config
            }
            None => {
                let missing = ArgsError::Missing;
                ClusterConfig::new(
                    self.name.clone().ok_or_else(|| missing("name"))?,
                    self.listen.ok_or_else(|| missing("listen"))?,
                    self.gossip.ok_or_else(|| missing("gossip"))?,
                    self.cookie.clone().ok_or_else(|| missing("cookie"))?,
                )
            }
        };
        if let Some(v) = &self.name {
            config.name = v.clone();
        }
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = self.gossip {
            config.gossip = v;
        }
        config.seeds.extend(self.seeds.iter().copied());
        if let Some(v) = &self.cookie {
            config.cookie = v.clone();
        }
        if let Some(v) = self.capacity {
            config.capacity = v;
        }
        if let Some(v) = &self.kinds {
            config.kinds = Some(v.clone());
        }
        if let Some(text) = &self.resources {
            let parsed = troupe::cluster::packing::NodeResources::parse(text);
            config.resources = Some(parsed.map_err(ArgsError::Resources)?);
        }
        if let Some(v) = self.task_slots {
            config.task_slots = v;
        }
        if let Some(ms) = self.passivate_after {
            config.passivate_after = Some(Duration::from_millis(ms));
        }
        if let Some(n) = self.backups {
            config.backups = n;
        }
        if let Some(v) = &self.store {
            config.store = Some(v.clone());
        }
        if let Some(tls) = self.tls.config().map_err(ArgsError::Tls)? {
            config.tls = Some(tls);
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs a node until SIGTERM or Ctrl-C (or, with `--exit-with-stdin`, until stdin closes),
/// then leaves gracefully (moving its agents away).
pub async fn node(args: NodeArgs) -> ExitCode {
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(INVALID);
        }
    };
    let metrics = args
        .metrics
        .metrics
        .map(|_| troupe::runtime::metrics::Metrics::new(&config.name));
    let rt_config = RuntimeConfig {
        metrics: metrics.clone(),
        ..RuntimeConfig::named(config.name.clone())
    };
    let rt = match Runtime::start(rt_config).await {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // The llm.chat budgets of this node: each node admits budget ÷ live members.
    let budgets = troupe::agents::llm::Budgets::new();
    troupe::agents::register_all_with(rt.kinds(), &budgets);
    troupe::patterns::register_all(rt.kinds());
    let store = config.store.clone();
    let task_slots = config.task_slots;
    let node = match ClusterNode::start(config, rt.clone()).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            rt.shutdown().await;
            return ExitCode::from(1);
        }
    };
    let _split = split_budgets(&node, budgets);
    let _metrics = match (args.metrics.metrics, metrics.clone()) {
        (Some(addr), Some(metrics)) => {
            troupe::cluster::metrics::observe(&node, &metrics);
            match crate::metrics_http::start(addr, metrics, rt.downgrade()).await {
                Ok(server) => {
                    server.ready();
                    Some(server)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    node.shutdown().await;
                    rt.shutdown().await;
                    return ExitCode::from(INVALID);
                }
            }
        }
        _ => None,
    };
    let stop = stop_signal(args.exit_with_stdin, &node);
    let (store, durability) = match crate::hosted::start(&node, store, args.lease_ttl_ms).await {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {e}");
            node.shutdown().await;
            rt.shutdown().await;
            return ExitCode::from(1);
        }
    };
    let api_metrics = metrics
        .clone()
        .map(troupe::runtime::metrics::http::metrics_router)
        .unwrap_or_default();
    let api =
        match crate::node_api::start(&args.api, &node, task_slots, durability, api_metrics).await {
            Ok(api) => api,
            Err(e) => {
                eprintln!("error: {e}");
                node.shutdown().await;
                rt.shutdown().await;
                return ExitCode::from(INVALID);
            }
        };
    eprintln!("troupe node {}: runs in {store}", node.name());
    // Harnesses parse this line (`... gossip ADDR` at its end): keep its shape.
    say(&format!(
        "troupe node {} up: transport {}, gossip {}",
        node.name(),
        node.listen_addr(),
        node.gossip_addr()
    ));
    if let Some(api) = &api {
        say(&format!(
            "troupe node {} api: http://{} (UI at http://{}/ui/)",
            node.name(),
            api.addr,
            api.addr
        ));
        if let Some(token) = &api.token {
            say(&format!(
                "admin token (this process only, valid 30 days): {token}"
            ));
        }
    }
    match stop.await {
        Stop::Signal => {
            eprintln!("troupe node {}: leaving (moving agents away)", node.name());
            node.shutdown().await;
        }
        Stop::StdinClosed => {
            eprintln!(
                "troupe node {}: stdin closed (its parent is gone); leaving",
                node.name()
            );
            if tokio::time::timeout(ORPHAN_LEAVE, node.shutdown())
                .await
                .is_err()
            {
                eprintln!(
                    "troupe node {}: could not leave within {ORPHAN_LEAVE:?}; stopping",
                    node.name()
                );
                node.crash().await;
            }
        }
    }
    rt.shutdown().await;
    say(&format!("troupe node {} stopped", node.name()));
    ExitCode::SUCCESS
}

/// Prints a status line; a closed stdout (the supervisor stopped reading) is not an error.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Why a node stops.
enum Stop {
    /// SIGTERM or Ctrl-C.
    Signal,
    /// Stdin reached end of file (`--exit-with-stdin`): the parent closed it or died.
    StdinClosed,
}

/// Resolves on SIGTERM or Ctrl-C, and when `with_stdin`, once stdin closes. The handlers (and
/// the stdin watcher) are installed when this is called, so call it before announcing the node
/// is up.
fn stop_signal(with_stdin: bool, node: &ClusterNode) -> impl std::future::Future<Output = Stop> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    let stdin = with_stdin.then(|| stdin_closed(faults_from_stdin(node)));
    let signal = async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = ctrl_c => {}
            }
            return;
        }
        let _ = ctrl_c.await;
    };
    async move {
        match stdin {
            Some(stdin) => tokio::select! {
                () = signal => Stop::Signal,
                () = stdin => Stop::StdinClosed,
            },
            None => {
                signal.await;
                Stop::Signal
            }
        }
    }
}

/// Resolves once stdin reaches end of file or fails; what is read is ignored.
///
/// Read on a thread of its own, not with `tokio::io::stdin`: tokio reads stdin on its blocking
/// pool, and that read cannot be cancelled, so after SIGTERM the runtime's shutdown would wait
/// for the parent to close stdin (see the `tokio::io::stdin` docs). A plain thread blocked in
/// `read` does not hold up the process's exit.
fn stdin_closed(
    faults: tokio::sync::mpsc::UnboundedSender<String>,
) -> impl std::future::Future<Output = ()> {
    let (closed, on_closed) = tokio::sync::oneshot::channel::<()>();
    let watcher = std::thread::Builder::new()
        .name("troupe-stdin".into())
        .spawn(move || {
            use std::io::Read as _;
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 256];
            let mut line = Vec::new();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        for b in &buf[..n] {
                            if *b == b'\n' {
                                let _ = faults.send(String::from_utf8_lossy(&line).into_owned());
                                line.clear();
                            } else {
                                line.push(*b);
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = closed.send(());
        });
    if let Err(e) = &watcher {
        eprintln!("warning: cannot watch stdin ({e}); the node stops on SIGTERM only");
    }
    async move {
        match watcher {
            Ok(_) => {
                let _ = on_closed.await;
            }
            Err(_) => std::future::pending().await,
        }
    }
}

/// Applies the fault-injection lines read from stdin (`partition ADDR,...`, `heal`) to `node`;
/// other lines are ignored with a warning.
fn faults_from_stdin(node: &ClusterNode) -> tokio::sync::mpsc::UnboundedSender<String> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let node = node.clone();
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            let line = line.trim();
            if line == "heal" {
                eprintln!("troupe node {}: fault injection: healed", node.name());
                node.partition_from(Vec::new());
            } else if let Some(list) = line.strip_prefix("partition ") {
                let addrs: Result<Vec<SocketAddr>, _> =
                    list.split(',').map(|a| a.trim().parse()).collect();
                match addrs {
                    Ok(addrs) => {
                        eprintln!(
                            "troupe node {}: fault injection: cut off from {list}",
                            node.name()
                        );
                        node.partition_from(addrs);
                    }
                    Err(e) => eprintln!("warning: stdin: {line:?}: {e}"),
                }
            } else if !line.is_empty() {
                eprintln!("warning: stdin: {line:?} is not `partition ADDR,...` or `heal`");
            }
        }
    });
    tx
}

/// How a client reaches a cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// The gossip address of any node of the cluster.
    #[arg(long = "cluster", value_name = "SEED")]
    pub seed: Option<SocketAddr>,
    /// The cluster's shared secret (or TROUPE_COOKIE).
    #[arg(long, env = "TROUPE_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
    /// Local address for this client's sockets (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    /// Wait until this many nodes (besides this client) are reachable before starting.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub min_nodes: usize,
    /// TLS for a cluster whose nodes use it (the client's certificate needs the --bind IP).
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Joins the cluster at `seed` as a client: a member that hosts no agents and runs no tasks.
/// Returns once it is linked to every member it has heard of (or an error after 10 s).
pub async fn join_as_client(args: &ClusterArgs, seed: SocketAddr) -> Result<ClusterNode, String> {
    let cookie = args
        .cookie
        .clone()
        .ok_or("--cookie is required with --cluster (or set TROUPE_COOKIE)")?;
    let tls = args.tls.config()?;
    let name = format!("client-{}", std::process::id());
    let rt = Runtime::start(RuntimeConfig::named(name.clone()))
        .await
        .map_err(|e| e.to_string())?;
    register_kinds(rt.kinds());
    let mut config = ClusterConfig::new(name, args.bind, args.bind, cookie).with_seeds([seed]);
    config.kinds = Some(Vec::new());
    config.task_slots = 0;
    config.tls = tls;
    let node = ClusterNode::start(config, rt)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stable_since: Option<(usize, Instant)> = None;
    loop {
        let members = node.members().len();
        let linked = node.linked().len();
        if members > args.min_nodes && linked + 1 == members {
            // Settled: the same view for a moment (gossip brings the rest of the members).
            match stable_since {
                Some((n, at)) if n == members && at.elapsed() > SETTLE => return Ok(node),
                Some((n, _)) if n == members => {}
                _ => stable_since = Some((members, Instant::now())),
            }
        }
        if Instant::now() > deadline {
            node.shutdown().await;
            return Err(format!(
                "could not join the cluster at {seed} within 30 s ({} members seen, {} linked, \
                 {} wanted); check the address, the cookie and the TLS settings",
                members - 1,
                linked,
                args.min_nodes
            ));
        }
        // Woken by the next membership or session change; the end of the settle window is the
        // only timer (and a 100 ms bound re-checks a change that came just before the wait).
        let wait = match stable_since {
            Some((_, at)) => SETTLE.saturating_sub(at.elapsed()) + Duration::from_millis(1),
            None => Duration::from_millis(100),
        };
        node.wait_changed(wait.min(Duration::from_millis(100)))
            .await;
    }
}

/// How long a joining client's view must stay the same before it counts as settled.
const SETTLE: Duration = Duration::from_millis(300);

/// `troupe members`: prints the cluster's live members.
pub async fn members(args: ClusterArgs) -> ExitCode {
    let Some(seed) = args.seed else {
        eprintln!("error: --cluster SEED is required");
        return ExitCode::from(INVALID);
    };
    let client = match join_as_client(&args, seed).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    for m in client.members() {
        if &m.name == client.name() {
            continue;
        }
        println!(
            "{:<20} transport {:<21} gossip {:<21} capacity {}",
            m.name.as_str(),
            m.transport,
            m.gossip,
            m.meta.capacity
        );
    }
    client.shutdown().await;
    client.runtime().shutdown().await;
    ExitCode::SUCCESS
}

/// The task keeping a node's budgets split; stopped when dropped (when the node's command ends).
struct SplitTask(tokio::task::JoinHandle<()>);

impl Drop for SplitTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps the node's llm.chat budgets split across the live members: recomputed on every
/// membership change the node sees.
fn split_budgets(node: &ClusterNode, budgets: troupe::agents::llm::Budgets) -> SplitTask {
    let node = node.clone();
    SplitTask(tokio::spawn(async move {
        let me = node.name().to_string();
        let mut split = troupe::agents::llm::BudgetSplit::new(budgets, me.clone());
        loop {
            let names: Vec<String> = node.members().iter().map(|m| m.name.to_string()).collect();
            split.set_members(&me, names.iter().map(String::as_str));
            node.wait_changed(Duration::from_secs(5)).await;
        }
    }))
}
