//! The store conformance suite on SQLite, and what only a file store has: durability across
//! reopening, two stores (as two processes would) on one file, group commit, damaged files,
//! schema versions.

use std::sync::Arc;
use std::time::Duration;

use troupe_runtime::store::testing::{run_suite, Built, StoreFactory, TempDir};
use troupe_runtime::store::{
    LeaseRequest, NewEntry, NewRun, RunStatus, SqliteOptions, SqliteStore, Store, StoreConfig,
    StoreError, Timestamp,
};
use troupe_runtime::BoxFuture;

struct Sqlite;

impl StoreFactory for Sqlite {
    fn build(&self, config: StoreConfig) -> BoxFuture<'_, Result<Built, StoreError>> {
        Box::pin(async move {
            let dir = TempDir::new("troupe-store-suite").map_err(|e| StoreError::Unavailable {
                location: "temp dir".into(),
                reason: e.to_string(),
            })?;
            let options = SqliteOptions {
                config,
                ..SqliteOptions::default()
            };
            let store = SqliteStore::open(dir.path().join("store.db"), options).await?;
            Ok(Built {
                store: Arc::new(store),
                guard: Box::new(dir),
            })
        })
    }
}

fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

async fn open(path: &std::path::Path) -> Result<SqliteStore, StoreError> {
    SqliteStore::open(path, SqliteOptions::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_conformance_suite() {
    run_suite(&Sqlite).await.assert_ok();
}

#[tokio::test]
async fn sqlite_store_keeps_everything_across_reopening() {
    let dir = TempDir::new("troupe-store-reopen").unwrap();
    let path = dir.path().join("store.db");
    {
        let store = open(&path).await.unwrap();
        store
            .create_run(NewRun::new("r1", "etl", t(1)).input(serde_json::json!({"n": 1})))
            .await
            .unwrap();
        store
            .append(
                "r1".into(),
                None,
                vec![NewEntry::new(t(2), "submitted", b"x".to_vec())],
            )
            .await
            .unwrap();
        store
            .set_run_status("r1".into(), RunStatus::Running, t(3))
            .await
            .unwrap();
    }
    let store = open(&path).await.unwrap();
    let run = store
        .get_run("r1".into())
        .await
        .unwrap()
        .expect("run r1 survived");
    assert_eq!((run.status, run.last_seq), (RunStatus::Running, 1));
    let read = store.read_journal("r1".into(), 1).await.unwrap();
    assert_eq!(read.entries[0].payload, b"x");
    let ack = store
        .append(
            "r1".into(),
            None,
            vec![NewEntry::new(t(4), "resumed", Vec::new())],
        )
        .await
        .unwrap();
    assert_eq!(ack.first, 2, "numbering goes on after reopening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_share_runs_and_leases() {
    let dir = TempDir::new("troupe-store-two").unwrap();
    let path = dir.path().join("store.db");
    let (a, b) = tokio::join!(open(&path), open(&path));
    let (a, b) = (a.unwrap(), b.unwrap());
    a.create_run(NewRun::new("r1", "w", t(1))).await.unwrap();
    let seen = b.get_run("r1".into()).await.unwrap();
    assert!(seen.is_some(), "b sees a's run");
    let err = b
        .create_run(NewRun::new("r1", "w", t(1)))
        .await
        .expect_err("the id is taken in the shared file");
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    // Both append concurrently: one gap-free journal.
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
    let read = a.read_journal("r1".into(), 1).await.unwrap();
    let seqs: Vec<u64> = read.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    // One driver: b is refused while a holds the lease.
    let request = |owner: &str| LeaseRequest {
        run: "r1".into(),
        owner: owner.into(),
        ttl: Duration::from_secs(30),
        now: t(10),
    };
    a.acquire_lease(request("process-a")).await.unwrap();
    let err = b
        .acquire_lease(request("process-b"))
        .await
        .expect_err("held");
    assert!(
        matches!(&err, StoreError::LeaseHeld { holder, .. } if holder == "process-a"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits() {
    let dir = TempDir::new("troupe-store-group").unwrap();
    let store = Arc::new(open(&dir.path().join("store.db")).await.unwrap());
    store
        .create_run(NewRun::new("r1", "w", t(1)))
        .await
        .unwrap();
    let before = store.stats();
    let appends = (0..200).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let entry = NewEntry::new(t(i), "e", vec![0u8; 16]);
            store.append("r1".into(), None, vec![entry]).await.unwrap()
        })
    });
    let tasks: Vec<_> = appends.collect();
    for task in tasks {
        task.await.unwrap();
    }
    let after = store.stats();
    let (commits, appended) = (
        after.commits - before.commits,
        after.appends - before.appends,
    );
    assert_eq!(appended, 200);
    println!("group commit: {appended} appends in {commits} commits");
    assert!(
        commits < appended,
        "appends ready together share a commit: {commits} commits for {appended} appends"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_corrupt_naming_the_file() {
    let dir = TempDir::new("troupe-store-garbage").unwrap();
    let path = dir.path().join("store.db");
    std::fs::write(&path, vec![0x5a; 64 * 1024]).unwrap();
    let err = open(&path).await.expect_err("garbage");
    match &err {
        StoreError::Corrupt { location, .. } => {
            assert!(location.contains("store.db"), "{err}")
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_truncated_file_is_corrupt_naming_the_file() {
    let dir = TempDir::new("troupe-store-truncated").unwrap();
    let path = dir.path().join("store.db");
    {
        let store = open(&path).await.unwrap();
        for r in 0..50 {
            let id = format!("run-{r}");
            store
                .create_run(NewRun::new(id.as_str(), "w", t(1)))
                .await
                .unwrap();
            let entries = (0..10)
                .map(|i| NewEntry::new(t(i), "e", vec![r as u8; 200]))
                .collect();
            store.append(id.into(), None, entries).await.unwrap();
        }
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 16 * 4096, "the file has many pages ({len} bytes)");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let err = open(&path).await.expect_err("truncated");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_store_from_a_newer_build_is_refused() {
    let dir = TempDir::new("troupe-store-newer").unwrap();
    let path = dir.path().join("store.db");
    drop(open(&path).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("INSERT INTO schema_version (version) VALUES (99)", [])
        .unwrap();
    drop(conn);
    let err = open(&path).await.expect_err("newer schema");
    match &err {
        StoreError::SchemaTooNew {
            location,
            found,
            supported,
        } => {
            assert!(location.contains("store.db"));
            assert_eq!(*found, 99);
            assert!(*supported < 99);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn reopening_does_not_migrate_again() {
    let dir = TempDir::new("troupe-store-migrate").unwrap();
    let path = dir.path().join("store.db");
    let version = open(&path).await.unwrap().schema_version().await.unwrap();
    let again = open(&path).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), version);
    drop(again);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, i64::from(version), "one row per applied migration");
}

#[tokio::test]
async fn a_store_in_a_missing_directory_is_unavailable_naming_the_path() {
    let dir = TempDir::new("troupe-store-missing").unwrap();
    let path = dir.path().join("no/such/dir/store.db");
    let err = open(&path).await.expect_err("no directory");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[tokio::test]
async fn a_damaged_row_is_corrupt_naming_the_file_not_a_wrong_value() {
    let dir = TempDir::new("troupe-store-row").unwrap();
    let path = dir.path().join("store.db");
    {
        let store = open(&path).await.unwrap();
        for id in ["bad_json", "bad_status"] {
            store.create_run(NewRun::new(id, "w", t(1))).await.unwrap();
        }
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE runs SET input = '{not json' WHERE id = 'bad_json'",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE runs SET status = 'exploded' WHERE id = 'bad_status'",
        [],
    )
    .unwrap();
    drop(conn);
    let store = open(&path).await.unwrap();
    for (id, says) in [("bad_json", "not JSON"), ("bad_status", "exploded")] {
        let err = store.get_run(id.into()).await.expect_err("damaged row");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(says), "{message}");
        assert!(
            message.contains(&format!("run \"{id}\"")),
            "names the run: {message}"
        );
    }
    let err = store
        .list_runs(Default::default())
        .await
        .expect_err("listing meets the damaged rows");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

/// Set (to the store file) only in the child process of
/// `two_processes_append_to_one_file_at_once`.
const CHILD_STORE: &str = "TROUPE_STORE_TEST_CHILD_FILE";

/// The second process of `two_processes_append_to_one_file_at_once`; a no-op otherwise.
#[tokio::test]
async fn second_process_appends_when_run_as_a_child() {
    let Ok(path) = std::env::var(CHILD_STORE) else {
        return;
    };
    let store = open(std::path::Path::new(&path)).await.unwrap();
    assert!(
        store.get_run("shared".into()).await.unwrap().is_some(),
        "the child sees the parent's run"
    );
    for i in 0..50 {
        let entry = NewEntry::new(t(i), "child", vec![1]);
        store
            .append("shared".into(), None, vec![entry])
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_append_to_one_file_at_once() {
    let dir = TempDir::new("troupe-store-processes").unwrap();
    let path = dir.path().join("store.db");
    let store = open(&path).await.unwrap();
    store
        .create_run(NewRun::new("shared", "w", t(1)))
        .await
        .unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "second_process_appends_when_run_as_a_child",
            "--test-threads=1",
        ])
        .env(CHILD_STORE, &path)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the second process");
    for i in 0..50 {
        let entry = NewEntry::new(t(i), "parent", vec![0]);
        store
            .append("shared".into(), None, vec![entry])
            .await
            .unwrap();
    }
    let status = child.wait().await.unwrap();
    assert!(status.success(), "the second process failed: {status}");
    let read = store.read_journal("shared".into(), 1).await.unwrap();
    let seqs: Vec<u64> = read.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "one gap-free journal");
    let from_child = read.entries.iter().filter(|e| e.kind == "child").count();
    assert_eq!(
        from_child, 50,
        "every append of the second process is there"
    );
}

/// Flips one byte of the first occurrence of `marker` in the store's files (main file or WAL).
fn flip_inside(path: &std::path::Path, marker: &[u8]) {
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    for file in [path.to_path_buf(), wal] {
        let Ok(mut bytes) = std::fs::read(&file) else {
            continue;
        };
        if let Some(at) = bytes.windows(marker.len()).position(|w| w == marker) {
            bytes[at + marker.len() / 2] ^= 0x01;
            std::fs::write(&file, bytes).unwrap();
            return;
        }
    }
    panic!("marker not found in {}", path.display());
}

#[tokio::test]
async fn a_flipped_byte_in_a_journal_entry_is_corrupt_naming_run_and_seq() {
    let dir = TempDir::new("troupe-store-flip").unwrap();
    let path = dir.path().join("store.db");
    let marker = b"PAYLOAD-MARKER-0123456789-ABCDEFGHIJ";
    {
        let store = open(&path).await.unwrap();
        store
            .create_run(NewRun::new("r1", "w", t(1)))
            .await
            .unwrap();
        let entries = vec![
            NewEntry::new(t(2), "a", b"plain".to_vec()),
            NewEntry::new(t(3), "b", marker.to_vec()),
        ];
        store.append("r1".into(), None, entries).await.unwrap();
    }
    flip_inside(&path, marker);
    let store = open(&path).await.expect("the file's structure is intact");
    let err = store
        .read_journal("r1".into(), 1)
        .await
        .expect_err("a changed payload is never returned");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        path.display().to_string().as_str(),
        "run \"r1\"",
        "seq 2",
        "checksum",
    ] {
        assert!(message.contains(part), "{message} should name {part}");
    }
}

#[tokio::test]
async fn a_flipped_byte_in_a_snapshot_is_corrupt() {
    let dir = TempDir::new("troupe-store-flip-snapshot").unwrap();
    let path = dir.path().join("store.db");
    let marker = b"SNAPSHOT-MARKER-0123456789-ABCDEFGHIJ";
    {
        let store = open(&path).await.unwrap();
        store
            .create_run(NewRun::new("r1", "w", t(1)))
            .await
            .unwrap();
        let entries = vec![NewEntry::new(t(2), "a", b"x".to_vec())];
        store.append("r1".into(), None, entries).await.unwrap();
        let snapshot = troupe_runtime::store::RunSnapshot {
            seq: 1,
            at: t(3),
            data: marker.to_vec(),
        };
        store.compact("r1".into(), snapshot).await.unwrap();
        let agent = troupe_runtime::store::AgentSnapshot {
            agent: "a1".into(),
            version: 1,
            at: t(4),
            data: [b"AGENT-".as_slice(), marker].concat(),
        };
        store.put_agent_snapshot(agent).await.unwrap();
    }
    flip_inside(&path, marker);
    flip_inside(&path, &[b"AGENT-".as_slice(), marker].concat());
    let store = open(&path).await.unwrap();
    let err = store
        .read_journal("r1".into(), 0)
        .await
        .expect_err("run snapshot");
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("snapshot of run \"r1\"")),
        "{err:?}"
    );
    let err = store
        .get_agent_snapshot("a1".into())
        .await
        .expect_err("agent snapshot");
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("agent \"a1\"")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_journal_entry_is_corrupt_not_a_shorter_journal() {
    let dir = TempDir::new("troupe-store-gap").unwrap();
    let path = dir.path().join("store.db");
    {
        let store = open(&path).await.unwrap();
        store
            .create_run(NewRun::new("r1", "w", t(1)))
            .await
            .unwrap();
        let entries = (0..4)
            .map(|i| NewEntry::new(t(i), "e", vec![i as u8]))
            .collect();
        store.append("r1".into(), None, entries).await.unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM journal WHERE seq = 2", [])
        .unwrap();
    drop(conn);
    let store = open(&path).await.unwrap();
    let err = store.read_journal("r1".into(), 1).await.expect_err("gap");
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("entry 2 is missing")),
        "{err:?}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM journal WHERE seq = 4", [])
        .unwrap();
    drop(conn);
    let err = store
        .read_journal("r1".into(), 3)
        .await
        .expect_err("lost tail");
    assert!(
        matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("records 4")),
        "{err:?}"
    );
}

#[tokio::test]
async fn random_damage_never_panics_and_never_returns_changed_entries() {
    let dir = TempDir::new("troupe-store-fuzz").unwrap();
    let pristine = dir.path().join("pristine.db");
    let mut original = Vec::new();
    {
        let store = open(&pristine).await.unwrap();
        for r in 0..8 {
            let id = format!("run-{r}");
            store
                .create_run(NewRun::new(id.as_str(), "w", t(1)))
                .await
                .unwrap();
            let entries: Vec<NewEntry> = (0..20)
                .map(|i| NewEntry::new(t(i), "e", format!("{id}/{i}").repeat(20).into_bytes()))
                .collect();
            original.push(
                entries
                    .iter()
                    .map(|e| e.payload.clone())
                    .collect::<Vec<_>>(),
            );
            store.append(id.into(), None, entries).await.unwrap();
        }
    }
    let bytes = std::fs::read(&pristine).unwrap();
    let (mut opened, mut refused) = (0, 0);
    for seed in 0..24u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut damaged = bytes.clone();
        for _ in 0..8 {
            let at = rng.usize(100..damaged.len());
            damaged[at] = rng.u8(..);
        }
        let path = dir.path().join(format!("damaged-{seed}.db"));
        std::fs::write(&path, &damaged).unwrap();
        let store = match open(&path).await {
            Ok(store) => store,
            Err(e) => {
                assert!(
                    matches!(e, StoreError::Corrupt { .. } | StoreError::Backend { .. }),
                    "seed {seed}: {e:?}"
                );
                refused += 1;
                continue;
            }
        };
        opened += 1;
        let _ = store.list_runs(Default::default()).await;
        for (r, payloads) in original.iter().enumerate() {
            match store.read_journal(format!("run-{r}").into(), 1).await {
                Ok(read) => {
                    let got: Vec<&Vec<u8>> = read.entries.iter().map(|e| &e.payload).collect();
                    let want: Vec<&Vec<u8>> = payloads.iter().collect();
                    assert_eq!(got, want, "seed {seed}: run-{r} read back changed");
                }
                Err(e) => assert!(
                    !matches!(e, StoreError::Closed { .. }),
                    "seed {seed}: the store's writer died: {e:?}"
                ),
            }
        }
    }
    println!("random damage: {opened} damaged files opened, {refused} refused");
}

#[tokio::test]
async fn a_path_spec_opens_an_sqlite_store_in_that_file() {
    let dir = TempDir::new("troupe-store-spec").unwrap();
    let path = dir.path().join("runs.db");
    let spec = troupe_runtime::store::StoreSpec::parse(path.to_str().unwrap()).unwrap();
    let store = spec.open(StoreConfig::default()).await.unwrap();
    assert_eq!(store.location(), path.display().to_string());
    store
        .create_run(NewRun::new("r1", "w", t(1)))
        .await
        .unwrap();
    drop(store);
    let again = open(&path).await.unwrap();
    assert!(again.get_run("r1".into()).await.unwrap().is_some());
}

#[tokio::test]
async fn a_version_1_store_is_migrated_to_the_run_inbox_keeping_its_runs() {
    let dir = TempDir::new("troupe-store-v1").unwrap();
    let path = dir.path().join("store.db");
    let store = open(&path).await.unwrap();
    store
        .create_run(NewRun::new("old", "wf", t(1)))
        .await
        .unwrap();
    drop(store);
    // Take the file back to version 1, as a build before the inbox wrote it.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE run_requests; DROP TABLE keyed_records; \
         DELETE FROM schema_version WHERE version >= 2; \
         DELETE FROM counters WHERE name = 'run_request';",
    )
    .unwrap();
    drop(conn);
    let store = open(&path).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 3);
    assert!(store.get_run("old".into()).await.unwrap().is_some());
    let posted = store
        .post_request(troupe_runtime::store::NewRunRequest {
            run: "old".into(),
            kind: troupe_runtime::store::RequestKind::Pause,
            by: None,
            at: t(2),
        })
        .await
        .unwrap();
    assert_eq!(
        store.pending_requests("old".into()).await.unwrap(),
        vec![posted]
    );
}
