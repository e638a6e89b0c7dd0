//! Retention of finished runs: `troupe runs prune` on demand, and the retention that `troupe
//! run` and `troupe resume` apply to their store when a run ends (`--retain`, `--retain-runs`).
//!
//! Only finished runs (completed, failed, cancelled) are ever removed, with their journals,
//! snapshots and leases; pending, running, paused and interrupted runs are kept whatever their
//! age.

use std::process::ExitCode;
use std::time::Duration;

use troupe::runtime::config::parse_duration;
use troupe::runtime::store::{Retention, Store, Timestamp};

use crate::runs::StoreArgs;

/// Arguments of `troupe runs prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove finished runs that finished longer ago than this (`7d`, `12h`, `30m`).
    #[arg(long, value_name = "AGE", value_parser = age)]
    older_than: Option<Duration>,
    /// Keep only the N most recently finished runs.
    #[arg(long, value_name = "N")]
    keep: Option<u64>,
    #[command(flatten)]
    store: StoreArgs,
}

/// How long finished runs are kept by `troupe run` and `troupe resume`.
#[derive(clap::Args, Debug, Clone)]
pub struct RetainArgs {
    /// When a run ends, remove the store's finished runs that finished longer ago than this
    /// (`30d`, `12h`; `forever` keeps them).
    #[arg(
        long,
        env = "TROUPE_RETAIN",
        default_value = "30d",
        value_name = "AGE",
        value_parser = retain_age
    )]
    retain: Retain,
    /// When a run ends, keep only this many finished runs in the store (the most recent).
    #[arg(long, env = "TROUPE_RETAIN_RUNS", value_name = "N")]
    retain_runs: Option<u64>,
}

/// A retention age, or none.
#[derive(Clone, Copy, Debug)]
pub struct Retain(Option<Duration>);

/// Parses a duration flag (`500ms`, `7d`).
pub(crate) fn age(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

fn retain_age(text: &str) -> Result<Retain, String> {
    match text.trim() {
        "forever" | "never" => Ok(Retain(None)),
        other => age(other).map(|d| Retain(Some(d))),
    }
}

/// The store's rule for "finished before `now - older_than`, beyond the `keep` newest".
fn rule(older_than: Option<Duration>, keep: Option<u64>, now: Timestamp) -> Retention {
    Retention {
        finished_before: older_than.map(|age| {
            let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
            Timestamp::from_millis(now.as_millis().saturating_sub(age))
        }),
        keep_finished: keep,
    }
}

impl RetainArgs {
    /// Applies the retention to `store` (a failure is a warning: the run itself is done).
    pub async fn apply(&self, store: &dyn Store) {
        if self.retain.0.is_none() && self.retain_runs.is_none() {
            return;
        }
        let rule = rule(self.retain.0, self.retain_runs, Timestamp::now());
        match store.prune_runs(rule).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, store = store.location(), "old runs pruned"),
            Err(e) => eprintln!(
                "warning: cannot prune old runs in {}: {e}",
                store.location()
            ),
        }
    }
}

/// `troupe runs prune`: removes finished runs by age or count; prints how many.
pub async fn prune(args: PruneArgs) -> ExitCode {
    if args.older_than.is_none() && args.keep.is_none() {
        eprintln!("error: troupe runs prune needs --older-than AGE, --keep N or both");
        return ExitCode::from(2);
    }
    let store = match args.store.open().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match store
        .prune_runs(rule(args.older_than, args.keep, Timestamp::now()))
        .await
    {
        Ok(n) => {
            println!(
                "removed {n} finished run{} from {}",
                if n == 1 { "" } else { "s" },
                store.location()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_forever_parse() {
        assert_eq!(
            retain_age("7d").unwrap().0,
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(retain_age("forever").unwrap().0, None);
        assert!(retain_age("a week").unwrap_err().contains("a week"));
    }

    #[test]
    fn the_rule_counts_back_from_now() {
        let now = Timestamp::from_millis(10_000);
        let r = rule(Some(Duration::from_secs(3)), Some(2), now);
        assert_eq!(r.finished_before, Some(Timestamp::from_millis(7_000)));
        assert_eq!(r.keep_finished, Some(2));
    }
}
