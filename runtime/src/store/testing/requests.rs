//! Cases: the run inbox (post, read pending, acknowledge, prune).

use std::sync::Arc;

use serde_json::json;

use super::runs::{make_run, t};
use crate::ids::RunId;
use crate::store::{
    NewRunRequest, RequestKind, Retention, RunStatus, Store, StoreError, Timestamp,
};

fn request(run: &str, kind: RequestKind, at: u64) -> NewRunRequest {
    NewRunRequest {
        run: RunId::new(run),
        kind,
        by: Some(format!("host/{at}")),
        at: t(at),
    }
}

fn signal(name: &str, value: serde_json::Value) -> RequestKind {
    RequestKind::Signal {
        name: name.into(),
        value,
    }
}

pub(super) async fn requests_post_and_read_in_order(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "wf", 1).await;
    let posted = [
        request("r1", RequestKind::Pause, 10),
        request(
            "r1",
            signal("approval", json!({"ok": true, "who": "ünï"})),
            11,
        ),
        request("r1", RequestKind::Resume, 12),
        NewRunRequest {
            by: None,
            ..request("r1", RequestKind::Cancel, 13)
        },
    ];
    let mut ids = Vec::new();
    for r in &posted {
        let stored = store.post_request(r.clone()).await.expect("post");
        assert_eq!(&stored.request, r);
        ids.push(stored.id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    let pending = store.pending_requests("r1".into()).await.unwrap();
    let got: Vec<NewRunRequest> = pending.iter().map(|r| r.request.clone()).collect();
    assert_eq!(got, posted, "every field comes back, in posting order");
    let got_ids: Vec<u64> = pending.iter().map(|r| r.id).collect();
    assert_eq!(got_ids, ids);
}

pub(super) async fn requests_to_a_missing_run_are_not_found(store: Arc<dyn Store>) {
    let err = store
        .post_request(request("ghost", RequestKind::Pause, 1))
        .await
        .expect_err("no such run");
    assert!(
        matches!(&err, StoreError::NotFound { what } if what.contains("ghost")),
        "{err:?}"
    );
    assert!(store
        .pending_requests("ghost".into())
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn requests_ack_drops_through_an_id_of_one_run(store: Arc<dyn Store>) {
    make_run(&*store, "a", "wf", 1).await;
    make_run(&*store, "b", "wf", 2).await;
    let a1 = store
        .post_request(request("a", RequestKind::Pause, 3))
        .await
        .unwrap();
    let b1 = store
        .post_request(request("b", RequestKind::Pause, 4))
        .await
        .unwrap();
    let a2 = store
        .post_request(request("a", RequestKind::Resume, 5))
        .await
        .unwrap();
    assert_eq!(store.ack_requests("a".into(), a1.id).await.unwrap(), 1);
    assert_eq!(
        store.pending_requests("a".into()).await.unwrap(),
        vec![a2.clone()],
        "only the later request of run a is left"
    );
    assert_eq!(
        store.pending_requests("b".into()).await.unwrap(),
        vec![b1.clone()],
        "acknowledging run a's requests leaves run b's, even with a lower id"
    );
    assert_eq!(
        store.ack_requests("a".into(), a1.id).await.unwrap(),
        0,
        "acknowledging again drops nothing"
    );
    assert_eq!(
        store.ack_requests("a".into(), u64::MAX >> 1).await.unwrap(),
        1
    );
    assert!(store.pending_requests("a".into()).await.unwrap().is_empty());
    // Later requests get later ids even after the earlier ones are gone.
    let a3 = store
        .post_request(request("a", RequestKind::Cancel, 6))
        .await
        .unwrap();
    assert!(a3.id > a2.id && a3.id > b1.id, "{a3:?}");
}

pub(super) async fn prune_removes_the_inbox(store: Arc<dyn Store>) {
    make_run(&*store, "done", "wf", 1).await;
    make_run(&*store, "live", "wf", 2).await;
    store
        .post_request(request("done", RequestKind::Pause, 3))
        .await
        .unwrap();
    let live = store
        .post_request(request("live", RequestKind::Pause, 4))
        .await
        .unwrap();
    store
        .set_run_status("done".into(), RunStatus::Completed, t(5))
        .await
        .unwrap();
    let rule = Retention {
        finished_before: Some(Timestamp::from_millis(100)),
        keep_finished: None,
    };
    assert_eq!(store.prune_runs(rule).await.unwrap(), 1);
    assert!(store
        .pending_requests("done".into())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.pending_requests("live".into()).await.unwrap(),
        vec![live]
    );
    // A run of the same id created again starts with an empty inbox.
    make_run(&*store, "done", "wf", 6).await;
    assert!(store
        .pending_requests("done".into())
        .await
        .unwrap()
        .is_empty());
}
