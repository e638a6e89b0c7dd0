//! Cases: the schema version and runs (create, get, list, status, owner, prune).

use std::sync::Arc;

use serde_json::json;

use crate::ids::RunId;
use crate::store::{NewRun, Retention, RunFilter, RunStatus, Store, StoreError, Timestamp};

pub(super) fn t(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Creates run `id` of `workflow` at time `at`.
pub(super) async fn make_run(store: &dyn Store, id: &str, workflow: &str, at: u64) {
    store
        .create_run(NewRun::new(id, workflow, t(at)))
        .await
        .unwrap_or_else(|e| panic!("creating run {id}: {e}"));
}

pub(super) async fn schema_version_is_latest(store: Arc<dyn Store>) {
    let version = store.schema_version().await.expect("schema version");
    assert_eq!(version, crate::store::sql::schema::LATEST);
}

pub(super) async fn create_and_get_run(store: Arc<dyn Store>) {
    let new = NewRun::new("r1", "etl", t(1_000))
        .definition("name: etl\ntasks: []\n", "v3")
        .input(json!({"rows": [1, 2, 3], "name": "ünïcode"}))
        .options(json!({"retries": 2}))
        .tenant("acme");
    let created = store.create_run(new.clone()).await.expect("create");
    let got = store
        .get_run(RunId::new("r1"))
        .await
        .expect("get")
        .expect("run r1 exists");
    assert_eq!(created, got);
    assert_eq!(got.id, new.id);
    assert_eq!(got.workflow, "etl");
    assert_eq!(got.definition, new.definition);
    assert_eq!(got.definition_version, "v3");
    assert_eq!(got.input, new.input);
    assert_eq!(got.options, new.options);
    assert_eq!(got.tenant.as_deref(), Some("acme"));
    assert_eq!(got.status, RunStatus::Pending);
    assert_eq!(got.owner, None);
    assert_eq!(got.created_at, t(1_000));
    assert_eq!(got.updated_at, t(1_000));
    assert_eq!(got.finished_at, None);
    assert_eq!((got.last_seq, got.journal_bytes), (0, 0));
    assert!(got.ordinal > 0, "ordinals start at 1");
}

pub(super) async fn create_run_twice_is_already_exists(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "etl", 1).await;
    let err = store
        .create_run(NewRun::new("r1", "other", t(2)))
        .await
        .expect_err("a second run r1 is refused");
    assert!(
        matches!(&err, StoreError::AlreadyExists { what } if what.contains("r1")),
        "{err:?}"
    );
    let kept = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(kept.workflow, "etl", "the first run is untouched");
}

pub(super) async fn get_missing_run_is_none(store: Arc<dyn Store>) {
    assert_eq!(store.get_run("nope".into()).await.unwrap(), None);
}

pub(super) async fn list_runs_filters_by_status_workflow_and_tenant(store: Arc<dyn Store>) {
    make_run(&*store, "a1", "alpha", 1).await;
    store
        .create_run(NewRun::new("b1", "beta", t(2)).tenant("acme"))
        .await
        .unwrap();
    make_run(&*store, "a2", "alpha", 3).await;
    store
        .set_run_status("a2".into(), RunStatus::Running, t(4))
        .await
        .unwrap();
    let ids = |page: crate::store::RunPage| {
        page.runs
            .into_iter()
            .map(|r| r.id.to_string())
            .collect::<Vec<_>>()
    };
    let all = store.list_runs(RunFilter::default()).await.unwrap();
    assert_eq!(all.next, None);
    assert_eq!(ids(all), ["a1", "b1", "a2"]);
    let alpha = RunFilter {
        workflow: Some("alpha".into()),
        ..RunFilter::default()
    };
    assert_eq!(
        ids(store.list_runs(alpha.clone()).await.unwrap()),
        ["a1", "a2"]
    );
    let running_alpha = RunFilter {
        status: Some(RunStatus::Running),
        ..alpha
    };
    assert_eq!(ids(store.list_runs(running_alpha).await.unwrap()), ["a2"]);
    let pending = RunFilter {
        status: Some(RunStatus::Pending),
        ..RunFilter::default()
    };
    assert_eq!(ids(store.list_runs(pending).await.unwrap()), ["a1", "b1"]);
    let acme = RunFilter {
        tenant: Some("acme".into()),
        ..RunFilter::default()
    };
    assert_eq!(ids(store.list_runs(acme).await.unwrap()), ["b1"]);
    let none = RunFilter {
        workflow: Some("gamma".into()),
        ..RunFilter::default()
    };
    assert!(store.list_runs(none).await.unwrap().runs.is_empty());
}

pub(super) async fn list_runs_paginates_in_submission_order(store: Arc<dyn Store>) {
    // Ids sort differently from submission order, on purpose.
    let ids = ["r9", "r3", "r7", "r1", "r5"];
    for (i, id) in ids.iter().enumerate() {
        make_run(&*store, id, "w", i as u64).await;
    }
    let mut seen = Vec::new();
    let mut filter = RunFilter {
        limit: 2,
        ..RunFilter::default()
    };
    let mut pages = 0;
    loop {
        let page = store.list_runs(filter.clone()).await.unwrap();
        assert!(page.runs.len() <= 2);
        pages += 1;
        seen.extend(page.runs.iter().map(|r| r.id.to_string()));
        match page.next {
            Some(cursor) => filter.after = Some(cursor),
            None => break,
        }
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
}

pub(super) async fn set_run_status_records_finished_at(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    store
        .set_run_status("r1".into(), RunStatus::Running, t(5))
        .await
        .unwrap();
    let run = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.updated_at, run.finished_at),
        (RunStatus::Running, t(5), None)
    );
    store
        .set_run_status("r1".into(), RunStatus::Failed, t(9))
        .await
        .unwrap();
    let run = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.updated_at, run.finished_at),
        (RunStatus::Failed, t(9), Some(t(9)))
    );
    // Resumed after a failure: not finished any more.
    store
        .set_run_status("r1".into(), RunStatus::Running, t(12))
        .await
        .unwrap();
    let run = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(run.finished_at, None);
    let err = store
        .set_run_status("ghost".into(), RunStatus::Running, t(1))
        .await
        .expect_err("unknown run");
    assert!(
        matches!(&err, StoreError::NotFound { what } if what.contains("ghost")),
        "{err:?}"
    );
}

pub(super) async fn set_run_owner_records_the_owner(store: Arc<dyn Store>) {
    make_run(&*store, "r1", "w", 1).await;
    store
        .set_run_owner("r1".into(), Some("node-a/4711".into()))
        .await
        .unwrap();
    let run = store.get_run("r1".into()).await.unwrap().unwrap();
    assert_eq!(run.owner.as_deref(), Some("node-a/4711"));
    store.set_run_owner("r1".into(), None).await.unwrap();
    assert_eq!(
        store.get_run("r1".into()).await.unwrap().unwrap().owner,
        None
    );
    let err = store
        .set_run_owner("ghost".into(), None)
        .await
        .expect_err("unknown run");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
}

async fn finish(store: &dyn Store, id: &str, status: RunStatus, at: u64) {
    store
        .set_run_status(id.into(), status, t(at))
        .await
        .unwrap();
}

async fn remaining(store: &dyn Store) -> Vec<String> {
    let page = store.list_runs(RunFilter::default()).await.unwrap();
    page.runs.into_iter().map(|r| r.id.to_string()).collect()
}

pub(super) async fn prune_runs_by_age_removes_old_finished_runs(store: Arc<dyn Store>) {
    for id in ["old_done", "old_running", "new_done"] {
        make_run(&*store, id, "w", 1).await;
    }
    finish(&*store, "old_done", RunStatus::Completed, 10).await;
    finish(&*store, "old_running", RunStatus::Running, 10).await;
    finish(&*store, "new_done", RunStatus::Cancelled, 100).await;
    let rule = Retention {
        finished_before: Some(t(50)),
        ..Retention::default()
    };
    assert_eq!(store.prune_runs(rule).await.unwrap(), 1);
    assert_eq!(remaining(&*store).await, ["old_running", "new_done"]);
    assert_eq!(
        store.prune_runs(rule).await.unwrap(),
        0,
        "pruning again removes nothing"
    );
}

pub(super) async fn prune_runs_by_count_keeps_newest_and_unfinished(store: Arc<dyn Store>) {
    for id in ["f1", "f2", "f3", "p1", "f4"] {
        make_run(&*store, id, "w", 1).await;
    }
    finish(&*store, "f1", RunStatus::Completed, 10).await;
    finish(&*store, "f2", RunStatus::Failed, 40).await;
    finish(&*store, "f3", RunStatus::Completed, 20).await;
    finish(&*store, "f4", RunStatus::Completed, 30).await;
    let rule = Retention {
        keep_finished: Some(2),
        ..Retention::default()
    };
    assert_eq!(store.prune_runs(rule).await.unwrap(), 2);
    assert_eq!(remaining(&*store).await, ["f2", "p1", "f4"]);
    assert_eq!(store.get_run("f1".into()).await.unwrap(), None);
}
