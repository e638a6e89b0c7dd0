//! Keyed records: put, insert-if-absent, get, list, delete.

use std::sync::Arc;

use serde_json::json;

use crate::store::types::{KeyedFilter, KeyedRecord, Timestamp};
use crate::store::Store;

fn rec(kind: &str, key: &str, v: serde_json::Value) -> KeyedRecord {
    KeyedRecord::new(kind, key, v, Timestamp::from_millis(1_000))
}

pub(super) async fn keyed_put_get_replace_delete(store: Arc<dyn Store>) {
    store
        .put_keyed(rec("workflow", "w1", json!({"text": "ünï", "n": 1})))
        .await
        .expect("put");
    let got = store
        .get_keyed("workflow".into(), "w1".into())
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(got.value, json!({"text": "ünï", "n": 1}));
    assert_eq!(got.at, Timestamp::from_millis(1_000));
    store
        .put_keyed(rec("workflow", "w1", json!(2)))
        .await
        .expect("replace");
    let got = store.get_keyed("workflow".into(), "w1".into()).await;
    assert_eq!(got.expect("get").expect("stored").value, json!(2));
    assert!(store
        .get_keyed("webhook".into(), "w1".into())
        .await
        .expect("get")
        .is_none());
    assert!(store
        .delete_keyed("workflow".into(), "w1".into())
        .await
        .expect("delete"));
    assert!(!store
        .delete_keyed("workflow".into(), "w1".into())
        .await
        .expect("delete again"));
    assert!(store
        .get_keyed("workflow".into(), "w1".into())
        .await
        .expect("get")
        .is_none());
}

pub(super) async fn keyed_insert_claims_once(store: Arc<dyn Store>) {
    let claims: Vec<_> = (0..8)
        .map(|i| store.insert_keyed(rec("tick", "s1@60000", json!({"by": i}))))
        .collect();
    let mut won = 0;
    for claim in claims {
        if claim.await.expect("insert") {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one insert of a key wins");
    let kept = store.get_keyed("tick".into(), "s1@60000".into()).await;
    assert!(kept.expect("get").is_some());
    assert!(store
        .insert_keyed(rec("tick", "s1@120000", json!(0)))
        .await
        .expect("another key"));
}

pub(super) async fn keyed_list_in_key_order_with_prefix_and_pages(store: Arc<dyn Store>) {
    for key in ["b-2", "a-1", "b-10", "b_1", "c"] {
        store
            .put_keyed(rec("audit", key, json!(key)))
            .await
            .expect("put");
    }
    store
        .put_keyed(rec("other", "a-0", json!(0)))
        .await
        .expect("put");
    let keys = |rs: Vec<KeyedRecord>| rs.into_iter().map(|r| r.key).collect::<Vec<_>>();
    let all = store.list_keyed(KeyedFilter::kind("audit")).await;
    assert_eq!(
        keys(all.expect("list")),
        ["a-1", "b-10", "b-2", "b_1", "c"],
        "bytewise key order, one kind only"
    );
    let b = KeyedFilter {
        prefix: Some("b".into()),
        limit: 2,
        ..KeyedFilter::kind("audit")
    };
    let page = keys(store.list_keyed(b.clone()).await.expect("page 1"));
    assert_eq!(page, ["b-10", "b-2"]);
    let next = KeyedFilter {
        after: Some("b-2".into()),
        ..b
    };
    let page = keys(store.list_keyed(next).await.expect("page 2"));
    assert_eq!(page, ["b_1"]);
}
