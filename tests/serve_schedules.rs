//! Two `troupe serve` processes sharing one SQLite store and a schedule that ticks every
//! second: each tick is claimed in the store by one of them and runs once — the shell task of
//! each run appends a line to a side-effect log, and the lines, the runs and the claimed ticks
//! agree. The second process also knows the workflow the first one was given (it is in the
//! store).

#[path = "common/durable.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use troupe::runtime::store::{KeyedFilter, SqliteOptions, SqliteStore, Store};

use common::{log_lines, scratch, serve, shell_pool, wait_until};

/// The claimed ticks in the store: (tick ms, owner, execution id).
async fn claims(dir: &Path) -> Vec<(u64, String, Option<String>)> {
    let store = SqliteStore::open(dir.join("runs.db"), SqliteOptions::default())
        .await
        .unwrap();
    let all = store
        .list_keyed(KeyedFilter::kind("schedule-tick"))
        .await
        .unwrap();
    all.into_iter()
        .map(|r| {
            (
                r.value["tick_ms"].as_u64().unwrap(),
                r.value["by"].as_str().unwrap().to_string(),
                r.value["execution_id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_store_run_each_tick_once() {
    let dir = scratch("serve-schedules");
    let (a, b) = (
        serve(&dir, &["--schedule-check", "100ms"]),
        serve(&dir, &["--schedule-check", "100ms"]),
    );
    let yaml = format!(
        "workflow:\n  name: ticker\n  schedule: {{ cron: \"* * * * * *\", missed_ticks: catch_up }}\n  agents:\n{}  tasks:\n    - {{ id: tick, agent: tick }}\n",
        shell_pool(&dir, "tick", None)
    );
    let (code, w) = a
        .call(reqwest::Method::POST, "/api/v1/workflows", Some(yaml))
        .await;
    assert_eq!(code, 201, "{w}");
    let id = w["workflow_id"].as_str().unwrap().to_string();
    // The other process knows the workflow from the store.
    let (code, s) = b
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/workflows/{id}/schedule"),
            None,
        )
        .await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["next_fire_times"].as_array().unwrap().len(), 5, "{s}");
    wait_until("six ticks ran", None, || log_lines(&dir).len() >= 6);
    let (code, _) = a
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/workflows/{id}/schedule"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    // Every run started finishes (a tick claimed just before the delete may still start one).
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let (_, list) = a
            .call(
                reqwest::Method::GET,
                "/api/v1/executions?workflow=ticker&limit=500",
                None,
            )
            .await;
        let runs = list["executions"].as_array().unwrap().clone();
        let claimed = claims(&dir).await.iter().filter(|c| c.2.is_some()).count();
        if runs.len() == claimed && runs.iter().all(|r| r["status"] == "completed") {
            break runs;
        }
        assert!(Instant::now() < deadline, "runs never settled: {runs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let claims = claims(&dir).await;
    let ticks: BTreeSet<u64> = claims.iter().map(|c| c.0).collect();
    assert_eq!(
        ticks.len(),
        claims.len(),
        "a tick claimed twice: {claims:?}"
    );
    assert!(
        claims.iter().all(|c| c.2.is_some()),
        "a claimed tick without a run: {claims:?}"
    );
    assert_eq!(runs.len(), claims.len(), "one run per claimed tick");
    assert_eq!(
        log_lines(&dir).len(),
        runs.len(),
        "each run's task ran once"
    );
    let ids: BTreeSet<&str> = claims.iter().filter_map(|c| c.2.as_deref()).collect();
    assert_eq!(ids.len(), claims.len(), "every tick its own run");
    let owners: BTreeSet<&str> = claims.iter().map(|c| c.1.as_str()).collect();
    eprintln!(
        "{} ticks, claimed by {} process(es): {owners:?}",
        claims.len(),
        owners.len()
    );
    drop((a, b));
    let _ = std::fs::remove_dir_all(&dir);
}
