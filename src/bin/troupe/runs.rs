//! Durable runs from the command line: where the store lives (`--store`), `troupe runs` and
//! `troupe resume` (which continues an interrupted run here, or un-pauses a paused run that
//! another live process drives).
//!
//! By default runs are journaled to an embedded SQLite file: `$XDG_DATA_HOME/troupe/troupe.db`,
//! else `$HOME/.local/share/troupe/troupe.db`, else `.troupe/troupe.db` in the current
//! directory. `--store` (or `TROUPE_STORE`) names another: a path, `sqlite:PATH`,
//! `postgres://...` or `memory` (nothing survives the process).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use troupe::runtime::store::{
    RunFilter, RunRecord, RunStatus, Store, StoreConfig, StoreSpec, Timestamp,
};
use troupe::runtime::workflow::durable::{Durability, DurableError};
use troupe::workflow::plan::{plan, Plan};
use troupe::{parse_workflow, RunId, Runtime};

/// Where runs are journaled.
#[derive(clap::Args, Debug, Clone)]
pub struct StoreArgs {
    /// The run store: a file path, `sqlite:PATH`, `postgres://...` or `memory` [default:
    /// $XDG_DATA_HOME/troupe/troupe.db, else ~/.local/share/troupe/troupe.db].
    #[arg(long = "store", env = "TROUPE_STORE", value_name = "STORE")]
    pub store: Option<String>,
    /// How long a driver's lease on its runs lasts without renewal, in milliseconds (a
    /// crashed driver's runs can be resumed once it expires).
    #[arg(
        long,
        env = "TROUPE_LEASE_TTL_MS",
        default_value_t = 10_000,
        hide = true
    )]
    pub lease_ttl_ms: u64,
}

impl StoreArgs {
    /// Opens the store (creating the default file's directory). When the default store
    /// cannot be opened (no writable data directory), `troupe run` still runs, unjournaled, with
    /// a warning; a store given with `--store` must open.
    pub async fn open(&self) -> Result<Arc<dyn Store>, String> {
        self.open_with(StoreConfig::default()).await
    }

    /// [`Self::open`] with these limits.
    pub async fn open_with(&self, config: StoreConfig) -> Result<Arc<dyn Store>, String> {
        match self.open_spec(config).await {
            Err(e) if self.store.is_none() => {
                eprintln!("warning: {e}; this run is not journaled (give --store to choose one)");
                StoreSpec::Memory
                    .open(config)
                    .await
                    .map_err(|e| e.to_string())
            }
            other => other,
        }
    }

    async fn open_spec(&self, config: StoreConfig) -> Result<Arc<dyn Store>, String> {
        let spec = match &self.store {
            Some(text) => StoreSpec::parse(text).map_err(|e| e.to_string())?,
            None => StoreSpec::Sqlite(default_path()),
        };
        if let StoreSpec::Sqlite(path) = &spec {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    format!("cannot create the store's directory {}: {e}", dir.display())
                })?;
            }
        }
        spec.open(config).await.map_err(|e| e.to_string())
    }

    /// How this process drives runs in `store`.
    pub fn durability(&self, store: Arc<dyn Store>) -> Durability {
        let mut d = Durability::new(store, owner());
        d.lease_ttl = Duration::from_millis(self.lease_ttl_ms.max(100));
        d.holder_is_gone = holder_is_gone;
        d
    }
}

/// The default store file.
pub fn default_path() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        });
    match base {
        Some(base) => base.join("troupe").join("troupe.db"),
        None => PathBuf::from(".troupe").join("troupe.db"),
    }
}

/// This machine's name (in lease owners and schedule claims).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// This process as a run's owner: `host/pid`.
pub fn owner() -> String {
    format!("{}/{}", hostname(), std::process::id())
}

/// Whether `holder` (`host/pid`) is a process of this host that no longer runs. Without
/// `/proc` nothing is known to be gone.
pub fn holder_is_gone(holder: &str) -> bool {
    let Some((host, pid)) = holder.rsplit_once('/') else {
        return false;
    };
    if host != hostname() || !std::path::Path::new("/proc/self").exists() {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses; Z: a zombie, X: dead.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// Arguments of `troupe runs`.
#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// Only runs with this status (pending, running, interrupted, completed, failed, ...).
    #[arg(long)]
    status: Option<String>,
    /// Only runs of this workflow.
    #[arg(long)]
    workflow: Option<String>,
    /// At most this many runs (the most recent).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: Option<RunsCommand>,
}

/// What `troupe runs` does besides listing.
#[derive(clap::Subcommand, Debug)]
enum RunsCommand {
    /// Remove finished runs by age or count (interrupted, running and paused runs are kept).
    Prune(crate::prune::PruneArgs),
}

/// The status to show: a run marked running whose driver is gone (lease expired or its
/// process dead) is interrupted.
pub async fn shown_status(store: &dyn Store, run: &RunRecord, now: Timestamp) -> RunStatus {
    if run.status != RunStatus::Running {
        return run.status;
    }
    match store.get_lease(run.id.clone()).await {
        Ok(Some(lease)) if lease.until > now && !holder_is_gone(&lease.owner) => RunStatus::Running,
        Ok(_) => RunStatus::Interrupted,
        Err(_) => run.status,
    }
}

/// Every run of the store matching `filter`, in submission order.
pub async fn all_runs(store: &dyn Store, mut filter: RunFilter) -> Result<Vec<RunRecord>, String> {
    let mut out = Vec::new();
    loop {
        let page = store
            .list_runs(filter.clone())
            .await
            .map_err(|e| e.to_string())?;
        out.extend(page.runs);
        match page.next {
            Some(next) => filter.after = Some(next),
            None => return Ok(out),
        }
    }
}

/// `troupe runs`: a table of runs.
pub async fn runs(args: RunsArgs) -> ExitCode {
    if let Some(RunsCommand::Prune(prune)) = args.command {
        return crate::prune::prune(prune).await;
    }
    let store = match args.store.open().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let status = match args.status.as_deref().map(|s| (s, RunStatus::parse(s))) {
        Some((s, None)) => {
            eprintln!("error: unknown status {s:?} (known: pending, running, paused, interrupted, completed, failed, cancelled)");
            return ExitCode::from(2);
        }
        Some((_, Some(st))) => Some(st),
        None => None,
    };
    let filter = RunFilter {
        workflow: args.workflow.clone(),
        // Running runs may show as interrupted: filter after deciding.
        status: status.filter(|s| !matches!(s, RunStatus::Running | RunStatus::Interrupted)),
        ..RunFilter::default()
    };
    let list = match all_runs(store.as_ref(), filter).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let now = Timestamp::now();
    let mut rows = Vec::new();
    for run in list.iter().rev() {
        let shown = shown_status(store.as_ref(), run, now).await;
        if status.is_some_and(|s| s != shown) {
            continue;
        }
        rows.push((run, shown));
        if rows.len() >= args.limit {
            break;
        }
    }
    rows.reverse();
    // Columns as wide as their widest value (a run id's Display ignores width: print strings).
    let id_w = rows
        .iter()
        .map(|(r, _)| r.id.to_string().len())
        .fold(3, usize::max);
    let wf_w = rows
        .iter()
        .map(|(r, _)| r.workflow.len())
        .fold(8, usize::max);
    let owner_w = rows
        .iter()
        .map(|(r, _)| r.owner.as_deref().map_or(1, str::len))
        .fold(5, usize::max);
    println!(
        "{:<id_w$}  {:<wf_w$}  {:<12} {:<25} {:<owner_w$}  WAITING FOR",
        "RUN", "WORKFLOW", "STATUS", "STARTED", "OWNER"
    );
    for (run, shown) in rows {
        println!(
            "{:<id_w$}  {:<wf_w$}  {:<12} {:<25} {:<owner_w$}  {}",
            run.id.to_string(),
            run.workflow,
            shown.as_str(),
            run.created_at.to_string(),
            run.owner.as_deref().unwrap_or("-"),
            waiting_for(store.as_ref(), run).await
        );
    }
    ExitCode::SUCCESS
}

/// What an unfinished run waits for (signals with their timeout, timers with their wake
/// time: read from its journal), `-` for nothing, or why it cannot be told.
async fn waiting_for(store: &dyn Store, run: &RunRecord) -> String {
    match troupe::runtime::workflow::durable::stored_waits(store, run).await {
        Ok(waits) if waits.is_empty() => "-".into(),
        Ok(waits) => waits
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        Err(e) => format!("? ({})", e.to_string().lines().next().unwrap_or_default()),
    }
}

/// Arguments of `troupe resume`.
#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The run to resume (see `troupe runs`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    run: Option<String>,
    /// Resume every interrupted run, one after another.
    #[arg(long)]
    all: bool,
    /// No progress bar (also off when stderr is not a terminal).
    #[arg(long)]
    no_progress: bool,
    /// Lines of each final output to print (0: none).
    #[arg(long, default_value_t = 20, value_name = "N")]
    output_lines: usize,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    capacity: crate::run::CapacityArgs,
    #[command(flatten)]
    retain: crate::prune::RetainArgs,
}

/// The plan of a stored run, as the runtime rebuilds it on resume.
pub fn stored_plan(rt: &Runtime, run: &RunRecord) -> Option<Arc<Plan>> {
    let spec = parse_workflow(&run.definition, &format!("run {}", run.id)).ok()?;
    plan(spec, rt.kinds()).ok().map(Arc::new)
}

/// `troupe resume`: continues interrupted runs to their end.
pub async fn resume(args: ResumeArgs) -> ExitCode {
    // Each run keeps the journal cap it was submitted with (the recorder enforces it): the
    // store's own limit only backs it up.
    let limits = StoreConfig {
        journal_limit_bytes: 1 << 40,
        ..StoreConfig::default()
    };
    let store = match args.store.open_with(limits).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let ids: Vec<RunId> = if args.all {
        let ids = match resumable_runs(&store).await {
            Ok(ids) => ids,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        if ids.is_empty() {
            println!("no interrupted runs in {}", store.location());
            return ExitCode::SUCCESS;
        }
        ids
    } else {
        vec![RunId::new(args.run.clone().unwrap_or_default())]
    };
    // Pool agents of a resumed run have the ids they had: those that persist start from the
    // snapshots the earlier process stored.
    let Some(rt) = crate::run::local_runtime_with(&args.capacity, Some(store.clone()), None).await
    else {
        return ExitCode::from(2);
    };
    let mut code = ExitCode::SUCCESS;
    for id in ids {
        let c = resume_one(&rt, &store, id, &args).await;
        if c != ExitCode::SUCCESS {
            code = c;
        }
    }
    rt.shutdown().await;
    args.retain.apply(store.as_ref()).await;
    code
}

/// The runs `troupe resume --all` (and `troupe serve` at start) continue: interrupted or
/// never started, in submission order. A paused run whose driver is gone is named on stderr
/// and left alone.
pub async fn resumable_runs(store: &Arc<dyn Store>) -> Result<Vec<RunId>, String> {
    let list = all_runs(store.as_ref(), RunFilter::default()).await?;
    let now = Timestamp::now();
    let mut ids = Vec::new();
    for run in &list {
        let shown = shown_status(store.as_ref(), run, now).await;
        // A paused run whose driver is gone would be driven here still paused, holding up
        // the others: it is named, not resumed.
        if shown == RunStatus::Paused && crate::control::driver(store, &run.id).await.is_none() {
            eprintln!(
                "skipping paused run {} (its driver is gone): `troupe resume {}` drives it,                      still paused, until another `troupe resume {}`",
                run.id, run.id, run.id
            );
        }
        if matches!(shown, RunStatus::Interrupted | RunStatus::Pending) {
            ids.push(run.id.clone());
        }
    }
    Ok(ids)
}

async fn resume_one(
    rt: &Runtime,
    store: &Arc<dyn Store>,
    id: RunId,
    args: &ResumeArgs,
) -> ExitCode {
    let record = match store.get_run(id.clone()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            eprintln!("error: no run {id} in store {}", store.location());
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // A paused run that a live process drives is un-paused there, not driven here.
    if crate::control::is_paused_by_live_driver(store, &id).await {
        return crate::control::unpause(store, id).await;
    }
    let plan = stored_plan(rt, &record);
    let progress = plan
        .as_ref()
        .map(|p| crate::progress::Progress::start(p, rt.subscribe(), !args.no_progress));
    let handle = match rt
        .resume_durable(id.clone(), args.store.durability(store.clone()))
        .await
    {
        Ok(h) => h,
        Err(e) => {
            if let Some(p) = progress {
                p.finish().await;
            }
            eprintln!("error: cannot resume {id}: {e}");
            return match e {
                DurableError::Finished { .. } => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            };
        }
    };
    eprintln!("resuming {id} ({})", record.workflow);
    let (Some(plan), Some(progress)) = (plan, progress) else {
        eprintln!("error: run {id}: its stored definition is not valid here");
        return ExitCode::from(1);
    };
    let output = crate::run::Output {
        report: None,
        output_lines: args.output_lines,
    };
    crate::run::await_report(None, &plan, handle, progress, &output).await
}
