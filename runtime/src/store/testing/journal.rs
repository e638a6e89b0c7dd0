//! Cases: appending, reading, the size limit, compaction, group commit and fencing.

use std::sync::Arc;
use std::time::Duration;

use super::runs::{make_run, t};
use crate::store::{
    LeaseRequest, NewEntry, Retention, RunSnapshot, RunStatus, Store, StoreConfig, StoreError,
};

/// A store whose journals hold at most 100 bytes.
pub(super) fn small_journal() -> StoreConfig {
    StoreConfig {
        journal_limit_bytes: 100,
        ..StoreConfig::default()
    }
}

fn entry(at: u64, kind: &str, payload: &[u8]) -> NewEntry {
    NewEntry::new(t(at), kind, payload.to_vec())
}

fn seqs(entries: &[crate::store::JournalEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.seq).collect()
}

pub(super) async fn append_assigns_increasing_seqs(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    let ack = store
        .append(
            "r1".into(),
            None,
            vec![entry(2, "a", b"1"), entry(3, "b", b"22")],
        )
        .await
        .unwrap();
    assert_eq!((ack.first, ack.last), (1, 2));
    let ack = store
        .append("r1".into(), None, vec![entry(4, "c", b"333")])
        .await
        .unwrap();
    assert_eq!((ack.first, ack.last), (3, 3));
    let run = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(run.last_seq, 3);
    assert_eq!(run.journal_bytes, (1 + 1) + (1 + 2) + (1 + 3));
    let read = store.read_journal("r1".into(), 1).await.unwrap();
    assert_eq!(read.snapshot, None);
    assert_eq!(seqs(&read.entries), [1, 2, 3]);
    let kinds: Vec<&str> = read.entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["a", "b", "c"]);
    assert_eq!(read.entries[1].at, t(3));
    assert_eq!(read.entries[2].payload, b"333");
}

/// A batch larger than one INSERT statement carries (the SQL stores split it into chunks)
/// keeps every entry, in order, each with its own seq and payload.
pub(super) async fn a_large_batch_keeps_every_entry_in_order(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    store
        .append("r1".into(), None, vec![entry(2, "first", b"0")])
        .await
        .unwrap();
    let batch: Vec<NewEntry> = (0..300u64)
        .map(|i| entry(3 + i, &format!("k{i}"), i.to_string().as_bytes()))
        .collect();
    let ack = store.append("r1".into(), None, batch).await.unwrap();
    assert_eq!((ack.first, ack.last), (2, 301));
    let read = store.read_journal("r1".into(), 1).await.unwrap();
    assert_eq!(seqs(&read.entries), (1..=301).collect::<Vec<u64>>());
    for (i, e) in read.entries[1..].iter().enumerate() {
        assert_eq!(e.kind, format!("k{i}"));
        assert_eq!(e.payload, i.to_string().as_bytes());
        assert_eq!(e.at, t(3 + i as u64));
    }
}

pub(super) async fn append_keeps_payload_bytes_exactly(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    let every_byte: Vec<u8> = (0..=255).collect();
    store
        .append(
            "r1".into(),
            None,
            vec![entry(1, "all", &every_byte), entry(2, "empty", b"")],
        )
        .await
        .unwrap();
    let read = store.read_journal("r1".into(), 0).await.unwrap();
    assert_eq!(read.entries.len(), 2);
    assert_eq!(read.entries[0].payload, every_byte);
    assert_eq!(read.entries[1].payload, Vec::<u8>::new());
}

pub(super) async fn append_to_missing_run_is_not_found(store: Arc<dyn Store>) {
    let err = store
        .append("ghost".into(), None, vec![entry(1, "a", b"x")])
        .await
        .expect_err("no such run");
    assert!(
        matches!(&err, StoreError::NotFound { what } if what.contains("ghost")),
        "{err:?}"
    );
    let err = store
        .read_journal("ghost".into(), 1)
        .await
        .expect_err("no such run");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

pub(super) async fn append_empty_batch_is_invalid(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    let err = store
        .append("r1".into(), None, Vec::new())
        .await
        .expect_err("empty batch");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    assert_eq!(
        store.get_run("r1".into()).await.unwrap().unwrap().last_seq,
        0
    );
}

pub(super) async fn read_journal_from_a_seq(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    let batch: Vec<NewEntry> = (1..=5).map(|i| entry(i, "e", &[i as u8])).collect();
    store.append("r1".into(), None, batch).await.unwrap();
    assert_eq!(
        seqs(&store.read_journal("r1".into(), 3).await.unwrap().entries),
        [3, 4, 5]
    );
    assert_eq!(
        seqs(&store.read_journal("r1".into(), 5).await.unwrap().entries),
        [5]
    );
    assert!(store
        .read_journal("r1".into(), 6)
        .await
        .unwrap()
        .entries
        .is_empty());
    assert_eq!(
        seqs(&store.read_journal("r1".into(), 0).await.unwrap().entries).len(),
        5
    );
}

pub(super) async fn journals_of_runs_are_apart(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    make_run(&*store, "r2", "w", 1).await;
    store
        .append("r1".into(), None, vec![entry(1, "one", b"1")])
        .await
        .unwrap();
    let ack = store
        .append("r2".into(), None, vec![entry(1, "two", b"2")])
        .await
        .unwrap();
    assert_eq!(ack.first, 1, "each run numbers its own entries");
    store
        .append("r1".into(), None, vec![entry(2, "one", b"3")])
        .await
        .unwrap();
    let r1 = store.read_journal("r1".into(), 1).await.unwrap();
    let r2 = store.read_journal("r2".into(), 1).await.unwrap();
    assert_eq!(seqs(&r1.entries), [1, 2]);
    assert_eq!(seqs(&r2.entries), [1]);
    assert_eq!(r2.entries[0].kind, "two");
}

pub(super) async fn journal_full_at_the_limit(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    // 1 + 59 = 60 bytes, then 1 + 39 = 40: exactly the limit of 100.
    store
        .append("r1".into(), None, vec![entry(1, "a", &[0; 59])])
        .await
        .unwrap();
    store
        .append("r1".into(), None, vec![entry(2, "b", &[0; 39])])
        .await
        .unwrap();
    let err = store
        .append("r1".into(), None, vec![entry(3, "c", b"")])
        .await
        .expect_err("the journal is full");
    match &err {
        StoreError::JournalFull {
            run,
            limit,
            size,
            adding,
        } => {
            assert_eq!(run.as_str(), "r1");
            assert_eq!((*limit, *size, *adding), (100, 100, 1));
        }
        other => panic!("expected JournalFull, got {other:?}"),
    }
    assert!(err.to_string().contains("r1") && err.to_string().contains("100"));
    assert!(!err.is_retryable());
    let run = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(
        (run.last_seq, run.journal_bytes),
        (2, 100),
        "the refused batch left nothing"
    );
    assert_eq!(
        store
            .read_journal("r1".into(), 1)
            .await
            .unwrap()
            .entries
            .len(),
        2
    );
}

pub(super) async fn compaction_reads_snapshot_then_later_entries(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    let batch: Vec<NewEntry> = (1..=6).map(|i| entry(i, "e", &[i as u8])).collect();
    store.append("r1".into(), None, batch).await.unwrap();
    let snapshot = RunSnapshot {
        seq: 4,
        at: t(50),
        data: b"state after 4".to_vec(),
    };
    store.compact("r1".into(), snapshot.clone()).await.unwrap();
    let read = store.read_journal("r1".into(), 1).await.unwrap();
    assert_eq!(read.snapshot.as_ref(), Some(&snapshot));
    assert_eq!(seqs(&read.entries), [5, 6]);
    // Reading after the snapshot's seq needs no snapshot.
    let later = store.read_journal("r1".into(), 6).await.unwrap();
    assert_eq!(later.snapshot, None);
    assert_eq!(seqs(&later.entries), [6]);
    // Appends go on numbering after the last entry.
    let ack = store
        .append("r1".into(), None, vec![entry(7, "e", b"7")])
        .await
        .unwrap();
    assert_eq!(ack.first, 7);
    // A later snapshot replaces the earlier one.
    let newer = RunSnapshot {
        seq: 7,
        at: t(60),
        data: b"state after 7".to_vec(),
    };
    store.compact("r1".into(), newer.clone()).await.unwrap();
    let read = store.read_journal("r1".into(), 0).await.unwrap();
    assert_eq!(read.snapshot, Some(newer));
    assert!(read.entries.is_empty());
}

pub(super) async fn compaction_frees_journal_bytes(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    store
        .append("r1".into(), None, vec![entry(1, "a", &[1; 89])])
        .await
        .unwrap();
    store
        .append("r1".into(), None, vec![entry(2, "b", &[2; 9])])
        .await
        .unwrap();
    assert!(store
        .append("r1".into(), None, vec![entry(3, "c", &[3; 9])])
        .await
        .is_err());
    let snapshot = RunSnapshot {
        seq: 1,
        at: t(3),
        data: vec![9; 500],
    };
    store.compact("r1".into(), snapshot).await.unwrap();
    let run = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(
        run.journal_bytes, 10,
        "only entry 2 is left (snapshots do not count)"
    );
    store
        .append("r1".into(), None, vec![entry(3, "c", &[3; 9])])
        .await
        .expect("room again after compaction");
}

pub(super) async fn compaction_refuses_past_end_or_older_snapshot(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    let batch: Vec<NewEntry> = (1..=3).map(|i| entry(i, "e", b"x")).collect();
    store.append("r1".into(), None, batch).await.unwrap();
    let snap = |seq| RunSnapshot {
        seq,
        at: t(9),
        data: vec![seq as u8],
    };
    let err = store
        .compact("r1".into(), snap(4))
        .await
        .expect_err("past the end");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
    store.compact("r1".into(), snap(3)).await.unwrap();
    let err = store
        .compact("r1".into(), snap(2))
        .await
        .expect_err("older");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let err = store
        .compact("ghost".into(), snap(1))
        .await
        .expect_err("no run");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    let read = store.read_journal("r1".into(), 1).await.unwrap();
    assert_eq!(read.snapshot, Some(snap(3)));
}

pub(super) async fn concurrent_appends_are_all_durable_and_ordered(store: Arc<dyn Store>) {
    const RUNS: usize = 4;
    const WRITERS: usize = 8;
    const APPENDS: usize = 5;
    for r in 0..RUNS {
        make_run(&*store, &format!("r{r}"), "w", 1).await;
    }
    let before = store.stats();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for i in 0..APPENDS {
                let run = format!("r{}", (w + i) % RUNS);
                let payload = format!("{w}:{i}").into_bytes();
                let ack = store
                    .append(run.clone().into(), None, vec![entry(1, "e", &payload)])
                    .await
                    .expect("append");
                acks.push((run, ack.first, payload));
            }
            acks
        }));
    }
    let mut acked = Vec::new();
    for task in tasks {
        acked.extend(task.await.expect("writer task"));
    }
    assert_eq!(acked.len(), WRITERS * APPENDS);
    let mut total = 0;
    for r in 0..RUNS {
        let run = format!("r{r}");
        let read = store.read_journal(run.clone().into(), 1).await.unwrap();
        let expected: Vec<u64> = (1..=read.entries.len() as u64).collect();
        assert_eq!(
            seqs(&read.entries),
            expected,
            "run {run}: gap-free, in order"
        );
        for (acked_run, seq, payload) in acked.iter().filter(|a| a.0 == run) {
            let stored = &read.entries[*seq as usize - 1];
            assert_eq!(&stored.payload, payload, "{acked_run} seq {seq}");
        }
        total += read.entries.len();
    }
    assert_eq!(
        total,
        WRITERS * APPENDS,
        "every acknowledged append is stored"
    );
    let after = store.stats();
    assert_eq!(after.appends - before.appends, (WRITERS * APPENDS) as u64);
    assert_eq!(after.entries - before.entries, (WRITERS * APPENDS) as u64);
    let commits = after.commits - before.commits;
    assert!(
        (1..=(WRITERS * APPENDS) as u64).contains(&commits),
        "{commits} commits for {} appends",
        WRITERS * APPENDS
    );
}

pub(super) async fn fenced_append_requires_the_current_lease(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    let request = |owner: &str, now| LeaseRequest {
        run: "r1".into(),
        owner: owner.into(),
        ttl: Duration::from_secs(10),
        now: t(now),
    };
    let err = store
        .append("r1".into(), Some(1), vec![entry(1, "e", b"x")])
        .await
        .expect_err("no lease yet");
    assert!(
        matches!(err, StoreError::LeaseLost { token: 1, .. }),
        "{err:?}"
    );
    let first = store.acquire_lease(request("a", 0)).await.unwrap();
    store
        .append("r1".into(), Some(first.token), vec![entry(1, "e", b"a")])
        .await
        .expect("the holder writes");
    // a's lease expires; b takes over.
    let second = store.acquire_lease(request("b", 20_000)).await.unwrap();
    let err = store
        .append(
            "r1".into(),
            Some(first.token),
            vec![entry(2, "e", b"stale")],
        )
        .await
        .expect_err("the old driver is fenced off");
    assert!(
        matches!(&err, StoreError::LeaseLost { run, token } if run.as_str() == "r1" && *token == first.token),
        "{err:?}"
    );
    store
        .append("r1".into(), Some(second.token), vec![entry(2, "e", b"b")])
        .await
        .unwrap();
    let read = store.read_journal("r1".into(), 1).await.unwrap();
    let payloads: Vec<&[u8]> = read.entries.iter().map(|e| e.payload.as_slice()).collect();
    assert_eq!(payloads, [b"a".as_slice(), b"b".as_slice()]);
}

pub(super) async fn prune_removes_the_journal(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    store
        .append("r1".into(), None, vec![entry(1, "e", b"x")])
        .await
        .unwrap();
    store
        .compact(
            "r1".into(),
            RunSnapshot {
                seq: 1,
                at: t(2),
                data: b"s".to_vec(),
            },
        )
        .await
        .unwrap();
    store
        .set_run_status("r1".into(), RunStatus::Completed, t(3))
        .await
        .unwrap();
    let rule = Retention {
        keep_finished: Some(0),
        ..Retention::default()
    };
    assert_eq!(store.prune_runs(rule).await.unwrap(), 1);
    let err = store.read_journal("r1".into(), 1).await.expect_err("gone");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    // The id can be used again, with a fresh journal.
    make_run(&*store, "r1", "w", 4).await;
    let read = store.read_journal("r1".into(), 0).await.unwrap();
    assert_eq!((read.snapshot, read.entries.len()), (None, 0));
    let ack = store
        .append("r1".into(), None, vec![entry(5, "e", b"y")])
        .await
        .unwrap();
    assert_eq!(ack.first, 1);
}
