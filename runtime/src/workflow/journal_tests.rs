use serde_json::json;

use super::*;

fn chain(message: &str) -> ErrorChain {
    ErrorChain {
        class: "agent_failed".into(),
        retryable: true,
        messages: vec!["calling pool fetch".into(), message.into()],
    }
}

fn every_event() -> Vec<JournalEvent> {
    let task = TaskId::new("fetch");
    vec![
        JournalEvent::Submitted {
            workflow: "etl".into(),
            definition: "name: etl\n".into(),
            definition_version: "v2".into(),
            input: json!({"rows": [1, 2], "deep": {"x": null}}),
            options: json!({}),
            tree: None,
        },
        JournalEvent::AttemptStarted {
            task: task.clone(),
            attempt: 1,
            item: Some(3),
            idempotency_key: "run-1/fetch/1/3".into(),
        },
        JournalEvent::TaskCompleted {
            task: task.clone(),
            attempt: 2,
            output: json!(["ok", 1.5, -7, true]),
        },
        JournalEvent::TaskFailed {
            task: task.clone(),
            attempt: 1,
            error: chain("connection refused"),
            retry_at: Some(Timestamp::from_millis(5_000)),
        },
        JournalEvent::TimerSet {
            timer: "cool_off".into(),
            fires_at: Timestamp::from_millis(600_000),
        },
        JournalEvent::TimerFired {
            timer: "cool_off".into(),
        },
        JournalEvent::SignalReceived {
            name: "approval".into(),
            value: json!({"ok": true}),
        },
        JournalEvent::Paused {
            by: Some("alice".into()),
        },
        JournalEvent::Resumed { by: None },
        JournalEvent::Cancelled {
            by: Some("bob".into()),
            reason: Some("wrong input".into()),
        },
        JournalEvent::CompensationStarted {
            task: task.clone(),
            attempt: 1,
        },
        JournalEvent::CompensationFinished {
            task,
            error: Some(chain("refund failed")),
            attempt: 1,
            retry_at: Some(Timestamp::from_millis(9)),
        },
        JournalEvent::RunFinished {
            status: FinalStatus::Failed,
            error: Some(chain("gave up")),
        },
    ]
}

fn stored(seq: u64, entry: NewEntry) -> JournalEntry {
    JournalEntry {
        seq,
        at: entry.at,
        kind: entry.kind,
        payload: entry.payload,
    }
}

#[test]
fn every_event_round_trips_through_a_journal_entry() {
    let run = RunId::new("run-1");
    for (i, event) in every_event().into_iter().enumerate() {
        let entry = event.encode(Timestamp::from_millis(42)).expect("encode");
        assert_eq!(entry.kind, event.kind());
        assert_eq!(entry.at, Timestamp::from_millis(42));
        let decoded = JournalEvent::decode(&run, &stored(i as u64 + 1, entry)).expect("decode");
        assert_eq!(decoded, event);
    }
}

#[test]
fn payloads_carry_the_format_version_and_explicit_tags() {
    let kinds: Vec<&str> = every_event().iter().map(JournalEvent::kind).collect();
    let mut unique = kinds.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), kinds.len(), "tags are distinct: {kinds:?}");
    for event in every_event() {
        let entry = event.encode(Timestamp::default()).unwrap();
        let as_json: serde_json::Value = rmp_serde::from_slice(&entry.payload).unwrap();
        assert_eq!(as_json["v"], json!(FORMAT));
        assert_eq!(as_json["event"]["type"], json!(event.kind()));
    }
}

#[test]
fn the_wire_format_of_an_event_is_stable() {
    // Locks the bytes: a rename of a Rust type or field must not change them.
    let event = JournalEvent::TimerFired { timer: "t".into() };
    let entry = event.encode(Timestamp::default()).unwrap();
    let expected: &[u8] = &[
        0x82, 0xa1, b'v', 0x01, 0xa5, b'e', b'v', b'e', b'n', b't', 0x82, 0xa4, b't', b'y', b'p',
        b'e', 0xab, b't', b'i', b'm', b'e', b'r', b'_', b'f', b'i', b'r', b'e', b'd', 0xa5, b't',
        b'i', b'm', b'e', b'r', 0xa1, b't',
    ];
    assert_eq!(entry.payload, expected);
}

#[test]
fn fields_added_later_default_when_missing() {
    // An older writer's `paused` without `by`, and `task_failed` without `retry_at`.
    let paused = rmp_serde::to_vec_named(&json!({"v": 1, "event": {"type": "paused"}})).unwrap();
    let run = RunId::new("r");
    let entry = JournalEntry {
        seq: 1,
        at: Timestamp::default(),
        kind: "paused".into(),
        payload: paused,
    };
    assert_eq!(
        JournalEvent::decode(&run, &entry).unwrap(),
        JournalEvent::Paused { by: None }
    );
    let failed = json!({"v": 1, "event": {"type": "task_failed", "task": "t", "attempt": 2,
        "error": {"class": "timeout", "retryable": true, "messages": ["timed out"]}}});
    let entry = JournalEntry {
        kind: "task_failed".into(),
        payload: rmp_serde::to_vec_named(&failed).unwrap(),
        ..entry
    };
    match JournalEvent::decode(&run, &entry).unwrap() {
        JournalEvent::TaskFailed { retry_at, .. } => assert_eq!(retry_at, None),
        other => panic!("{other:?}"),
    }
}

fn decode_error(kind: &str, payload: Vec<u8>) -> JournalDecodeError {
    let entry = JournalEntry {
        seq: 7,
        at: Timestamp::default(),
        kind: kind.into(),
        payload,
    };
    JournalEvent::decode(&RunId::new("run-9"), &entry).expect_err("must not decode")
}

#[test]
fn a_bad_entry_is_an_error_naming_the_run_and_seq() {
    let garbage = decode_error("paused", vec![0xc1, 0xff, 0x00]);
    let unknown = decode_error(
        "exploded",
        rmp_serde::to_vec_named(&json!({"v": 1, "event": {"type": "exploded"}})).unwrap(),
    );
    let newer = decode_error(
        "paused",
        rmp_serde::to_vec_named(&json!({"v": 2, "event": {"type": "paused"}})).unwrap(),
    );
    let event = JournalEvent::Resumed { by: None };
    let mismatched = decode_error(
        "paused",
        event.encode(Timestamp::default()).unwrap().payload,
    );
    let truncated = {
        let mut payload = every_event()[0]
            .encode(Timestamp::default())
            .unwrap()
            .payload;
        payload.truncate(payload.len() / 2);
        decode_error("submitted", payload)
    };
    for (err, says) in [
        (&garbage, "not a journal event payload"),
        (&unknown, "exploded"),
        (&newer, "format 2"),
        (&mismatched, "\"resumed\""),
        (&truncated, "journal event"),
    ] {
        assert_eq!((err.run.as_str(), err.seq), ("run-9", 7));
        let message = err.to_string();
        assert!(
            message.starts_with("journal of run run-9, entry 7: "),
            "{message}"
        );
        assert!(message.contains(says), "{message} should say {says}");
    }
}

#[tokio::test]
async fn events_round_trip_through_a_store() {
    use crate::store::{MemoryStore, NewRun};
    let store = MemoryStore::new();
    let run = RunId::new("run-1");
    store
        .create_run(NewRun::new(run.clone(), "etl", Timestamp::from_millis(1)))
        .await
        .unwrap();
    let events = every_event();
    let (head, tail) = events.split_at(3);
    let at = Timestamp::from_millis(9);
    append_events(&store, &run, None, at, head).await.unwrap();
    let ack = append_events(&store, &run, None, at, tail).await.unwrap();
    assert_eq!(ack.last, events.len() as u64);
    let history = read_events(&store, &run, 1).await.unwrap();
    assert_eq!(history.snapshot, None);
    let read: Vec<JournalEvent> = history.events.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(read, events);
    assert_eq!(history.events[4].0, 5);
    // A foreign entry in the journal is a decode error naming run and seq.
    store
        .append(
            run.clone(),
            None,
            vec![NewEntry::new(at, "mystery", vec![1, 2, 3])],
        )
        .await
        .unwrap();
    let err = read_events(&store, &run, 1)
        .await
        .expect_err("foreign entry");
    assert!(
        matches!(&err, JournalError::Decode(e) if e.seq == events.len() as u64 + 1),
        "{err:?}"
    );
    let err = read_events(&store, &RunId::new("ghost"), 1)
        .await
        .expect_err("no run");
    assert!(
        matches!(err, JournalError::Store(StoreError::NotFound { .. })),
        "{err:?}"
    );
}
