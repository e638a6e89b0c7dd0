//! The store conformance suite on a real PostgreSQL server, started by the test from the
//! installed binaries in a temporary directory, on a free loopback port, and stopped at the
//! end by a guard (also when a test fails): the harness is
//! `troupe_runtime::store::testing::postgres` (shared with `troupe bench --suite durable`).
//!
//! Without the binaries the tests print a loud SKIPPED line and pass, except in CI
//! (`CI=true`), where a missing server is a failure.

#![cfg(feature = "postgres")]

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use troupe_runtime::store::testing::postgres::{pg_bin_or_skip, PgServer};
use troupe_runtime::store::testing::{run_suite, Built, StoreFactory};
use troupe_runtime::store::{
    LeaseRequest, NewEntry, NewRun, PostgresOptions, PostgresStore, Store, StoreConfig, StoreError,
    Timestamp,
};
use troupe_runtime::BoxFuture;

/// Starts a test server (fsync off: the tests check behaviour, not speed).
fn start(bin: std::path::PathBuf) -> PgServer {
    PgServer::start(bin, false).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs SQL as the superuser, panicking with the server's message on failure.
fn admin(server: &PgServer, sql: String) {
    server.admin(sql).unwrap_or_else(|e| panic!("{e}"));
}

/// A fresh database per case on one server.
struct Postgres {
    server: Arc<PgServer>,
    next: AtomicU64,
}

impl StoreFactory for Postgres {
    fn build(&self, config: StoreConfig) -> BoxFuture<'_, Result<Built, StoreError>> {
        Box::pin(async move {
            let db = format!("case_{}", self.next.fetch_add(1, Ordering::Relaxed));
            admin(&self.server, format!("CREATE DATABASE {db}"));
            let options = PostgresOptions {
                config,
                ..PostgresOptions::default()
            };
            let store = PostgresStore::connect(&self.server.url(&db), options).await?;
            Ok(Built {
                store: Arc::new(store),
                guard: Box::new(()),
            })
        })
    }
}

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

async fn fresh(server: &PgServer, db: &str) -> PostgresStore {
    admin(server, format!("CREATE DATABASE {db}"));
    PostgresStore::connect(&server.url(db), PostgresOptions::default())
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_passes_the_conformance_suite() {
    let Some(bin) = pg_bin_or_skip("conformance suite") else {
        return;
    };
    let factory = Postgres {
        server: Arc::new(start(bin)),
        next: AtomicU64::new(0),
    };
    run_suite(&factory).await.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_of_two_nodes_share_runs_journals_and_leases() {
    let Some(bin) = pg_bin_or_skip("two nodes") else {
        return;
    };
    let server = start(bin);
    let a = fresh(&server, "shared").await;
    let b = PostgresStore::connect(&server.url("shared"), PostgresOptions::default())
        .await
        .expect("second node connects and finds the schema in place");
    a.create_run(NewRun::new("r1", "w", t(1))).await.unwrap();
    assert!(b.get_run("r1".into()).await.unwrap().is_some());
    let batch = |who: &str| vec![NewEntry::new(t(2), who, who.as_bytes().to_vec())];
    let appends_a = async {
        for _ in 0..20 {
            a.append("r1".into(), None, batch("a")).await.unwrap();
        }
    };
    let appends_b = async {
        for _ in 0..20 {
            b.append("r1".into(), None, batch("b")).await.unwrap();
        }
    };
    tokio::join!(appends_a, appends_b);
    let read = b.read_journal("r1".into(), 1).await.unwrap();
    let seqs: Vec<u64> = read.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "one gap-free journal");
    let request = |owner: &str| LeaseRequest {
        run: "r1".into(),
        owner: owner.into(),
        ttl: Duration::from_secs(30),
        now: t(10),
    };
    a.acquire_lease(request("node-a")).await.unwrap();
    let err = b.acquire_lease(request("node-b")).await.expect_err("held");
    assert!(
        matches!(&err, StoreError::LeaseHeld { holder, .. } if holder == "node-a"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_from_a_newer_build_is_refused() {
    let Some(bin) = pg_bin_or_skip("schema version") else {
        return;
    };
    let server = start(bin);
    drop(fresh(&server, "newer").await);
    let url = server.url("newer");
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .batch_execute("INSERT INTO schema_version (version) VALUES (99)")
            .unwrap();
    })
    .join()
    .unwrap();
    let err = PostgresStore::connect(&server.url("newer"), PostgresOptions::default())
        .await
        .expect_err("newer schema");
    match &err {
        StoreError::SchemaTooNew {
            location, found, ..
        } => {
            assert!(location.ends_with("/newer"), "{location}");
            assert_eq!(*found, 99);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn postgres_store_without_a_server_is_unavailable_and_retryable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let options = PostgresOptions {
        connect_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let url = format!("postgres://troupe:secret@127.0.0.1:{port}/runs");
    let err = PostgresStore::connect(&url, options)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_retryable());
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1:{port}/runs")),
        "{message}"
    );
    assert!(
        !message.contains("secret"),
        "the password stays out: {message}"
    );
}

#[tokio::test]
async fn postgres_store_refuses_a_malformed_address() {
    let err = PostgresStore::connect("postgres://[::1", PostgresOptions::default())
        .await
        .expect_err("malformed");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_appends_share_commits() {
    let Some(bin) = pg_bin_or_skip("group commit") else {
        return;
    };
    let server = start(bin);
    let store = Arc::new(fresh(&server, "group_commit").await);
    store
        .create_run(NewRun::new("r1", "w", t(1)))
        .await
        .unwrap();
    let before = store.stats();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let entry = NewEntry::new(t(i), "e", vec![0u8; 16]);
                store.append("r1".into(), None, vec![entry]).await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let after = store.stats();
    let (commits, appended) = (
        after.commits - before.commits,
        after.appends - before.appends,
    );
    assert_eq!(appended, 200);
    assert!(
        commits < appended,
        "{commits} commits for {appended} appends"
    );
    let read = store.read_journal("r1".into(), 1).await.unwrap();
    assert_eq!(read.entries.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_reconnects_after_losing_its_connection() {
    let Some(bin) = pg_bin_or_skip("reconnect") else {
        return;
    };
    let server = start(bin);
    let store = fresh(&server, "reconnect").await;
    store
        .create_run(NewRun::new("r1", "w", t(1)))
        .await
        .unwrap();
    admin(
        &server,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = 'reconnect' AND pid <> pg_backend_pid()"
            .into(),
    );
    // The first call may meet the dead connection: a retryable error, never a wrong answer.
    match store.get_run("r1".into()).await {
        Ok(run) => assert!(run.is_some()),
        Err(e) => assert!(e.is_retryable(), "{e:?}"),
    }
    let run = store.get_run("r1".into()).await.expect("reconnected");
    assert!(run.is_some());
    store
        .append(
            "r1".into(),
            None,
            vec![NewEntry::new(t(2), "e", b"after".to_vec())],
        )
        .await
        .expect("writes work again");
}
