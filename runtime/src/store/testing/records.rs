//! Cases: agent snapshots and dead letters.

use std::sync::Arc;

use serde_json::json;

use super::runs::t;
use crate::ids::{AgentId, RunId, TaskId};
use crate::store::{AgentSnapshot, DeadLetterFilter, NewDeadLetter, Store, StoreError};

fn snapshot(agent: &str, version: u64, data: &[u8]) -> AgentSnapshot {
    AgentSnapshot {
        agent: AgentId::new(agent),
        version,
        at: t(version * 10),
        data: data.to_vec(),
    }
}

pub(super) async fn agent_snapshot_put_get_delete(store: Arc<dyn Store>) {
    let agent = AgentId::new("counter-7");
    assert_eq!(store.get_agent_snapshot(agent.clone()).await.unwrap(), None);
    store
        .put_agent_snapshot(snapshot("counter-7", 1, b"one"))
        .await
        .unwrap();
    store
        .put_agent_snapshot(snapshot("other", 5, b"x"))
        .await
        .unwrap();
    store
        .put_agent_snapshot(snapshot("counter-7", 2, b"two"))
        .await
        .unwrap();
    let got = store.get_agent_snapshot(agent.clone()).await.unwrap();
    assert_eq!(got, Some(snapshot("counter-7", 2, b"two")));
    assert!(store.delete_agent_snapshot(agent.clone()).await.unwrap());
    assert!(
        !store.delete_agent_snapshot(agent.clone()).await.unwrap(),
        "already gone"
    );
    assert_eq!(store.get_agent_snapshot(agent).await.unwrap(), None);
    assert_eq!(
        store.get_agent_snapshot("other".into()).await.unwrap(),
        Some(snapshot("other", 5, b"x")),
        "other agents are untouched"
    );
}

pub(super) async fn agent_snapshot_refuses_stale_version(store: Arc<dyn Store>) {
    store
        .put_agent_snapshot(snapshot("a", 3, b"three"))
        .await
        .unwrap();
    for stale in [3, 2] {
        let err = store
            .put_agent_snapshot(snapshot("a", stale, b"stale"))
            .await
            .expect_err("not newer");
        assert!(
            matches!(&err, StoreError::Conflict { reason } if reason.contains("\"a\"") && reason.contains('3')),
            "{err:?}"
        );
    }
    assert_eq!(
        store.get_agent_snapshot("a".into()).await.unwrap(),
        Some(snapshot("a", 3, b"three"))
    );
}

fn letter(run: Option<&str>, task: &str, attempts: u32) -> NewDeadLetter {
    NewDeadLetter {
        run: run.map(RunId::new),
        task: Some(TaskId::new(task)),
        input: json!({"task": task}),
        errors: vec!["calling agent".into(), "connection refused".into()],
        attempts,
        at: t(u64::from(attempts)),
    }
}

pub(super) async fn dead_letters_put_list_get_drop(store: Arc<dyn Store>) {
    let first = store
        .put_dead_letter(letter(Some("r1"), "fetch", 3))
        .await
        .unwrap();
    let undeliverable = NewDeadLetter {
        run: None,
        task: None,
        ..letter(None, "x", 1)
    };
    let second = store.put_dead_letter(undeliverable.clone()).await.unwrap();
    assert!(second.id > first.id, "ids increase");
    assert_eq!(first.letter, letter(Some("r1"), "fetch", 3));
    let got = store
        .get_dead_letter(second.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got.letter, undeliverable);
    let all = store
        .list_dead_letters(DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(all, vec![first.clone(), second.clone()]);
    assert!(store.drop_dead_letter(first.id).await.unwrap());
    assert!(
        !store.drop_dead_letter(first.id).await.unwrap(),
        "already dropped"
    );
    assert_eq!(store.get_dead_letter(first.id).await.unwrap(), None);
    let all = store
        .list_dead_letters(DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(all, vec![second]);
}

pub(super) async fn dead_letters_filter_by_run_and_paginate(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for i in 0..5u32 {
        let run = if i % 2 == 0 { "even" } else { "odd" };
        ids.push(
            store
                .put_dead_letter(letter(Some(run), "t", i + 1))
                .await
                .unwrap()
                .id,
        );
    }
    let even = store
        .list_dead_letters(DeadLetterFilter {
            run: Some("even".into()),
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    let even_ids: Vec<u64> = even.iter().map(|l| l.id).collect();
    assert_eq!(even_ids, [ids[0], ids[2], ids[4]]);
    let page = store
        .list_dead_letters(DeadLetterFilter {
            after: Some(ids[1]),
            limit: 2,
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    let page_ids: Vec<u64> = page.iter().map(|l| l.id).collect();
    assert_eq!(page_ids, [ids[2], ids[3]]);
}

pub(super) async fn prune_removes_the_runs_agent_snapshots(store: Arc<dyn Store>) {
    use crate::store::{Retention, RunStatus, Timestamp};
    super::runs::make_run(&*store, "r_1", "wf", 1).await;
    super::runs::make_run(&*store, "r%1", "wf", 2).await;
    for agent in [
        "r_1/pool/0",
        "r_1/agents",
        "r%1/pool/0",
        "r_10/pool/0",
        "R_1/pool/0",
        "r_1x",
        "other",
    ] {
        store
            .put_agent_snapshot(snapshot(agent, 1, b"s"))
            .await
            .unwrap();
    }
    store
        .set_run_status("r_1".into(), RunStatus::Completed, t(3))
        .await
        .unwrap();
    let rule = Retention {
        finished_before: Some(Timestamp::from_millis(100)),
        keep_finished: None,
    };
    assert_eq!(store.prune_runs(rule).await.unwrap(), 1);
    for gone in ["r_1/pool/0", "r_1/agents"] {
        let got = store.get_agent_snapshot(AgentId::new(gone)).await.unwrap();
        assert_eq!(got, None, "{gone} belongs to the pruned run");
    }
    // Other runs' agents (even ones whose ids a careless LIKE would match) stay.
    for kept in ["r%1/pool/0", "r_10/pool/0", "R_1/pool/0", "r_1x", "other"] {
        let got = store.get_agent_snapshot(AgentId::new(kept)).await.unwrap();
        assert!(got.is_some(), "{kept} was not the pruned run's");
    }
}
