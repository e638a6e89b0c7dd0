//! Cases: leases (one driver per run) and their fencing tokens.

use std::sync::Arc;
use std::time::Duration;

use super::runs::t;
use crate::store::{Lease, LeaseRequest, Store, StoreError};

fn request(run: &str, owner: &str, now: u64) -> LeaseRequest {
    LeaseRequest {
        run: run.into(),
        owner: owner.into(),
        ttl: Duration::from_millis(1_000),
        now: t(now),
    }
}

pub(super) async fn lease_refuses_another_owner_until_expiry(store: Arc<dyn Store>) {
    let lease = store
        .acquire_lease(request("r1", "node-a", 0))
        .await
        .unwrap();
    assert_eq!((lease.owner.as_str(), lease.until), ("node-a", t(1_000)));
    let err = store
        .acquire_lease(request("r1", "node-b", 999))
        .await
        .expect_err("held by node-a");
    match &err {
        StoreError::LeaseHeld { run, holder, until } => {
            assert_eq!(
                (run.as_str(), holder.as_str(), *until),
                ("r1", "node-a", t(1_000))
            );
        }
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
    assert!(err.to_string().contains("node-a"), "{err}");
    assert!(err.is_retryable());
    // Another run's lease is independent.
    store
        .acquire_lease(request("r2", "node-b", 999))
        .await
        .unwrap();
    // Once expired, another owner may take it.
    let taken = store
        .acquire_lease(request("r1", "node-b", 1_000))
        .await
        .unwrap();
    assert_eq!(taken.owner, "node-b");
    assert_eq!(store.get_lease("r1".into()).await.unwrap(), Some(taken));
}

pub(super) async fn lease_token_increases_on_every_acquire(store: Arc<dyn Store>) {
    let mut last = 0;
    for (owner, now) in [("a", 0), ("a", 10), ("b", 5_000), ("a", 10_000)] {
        let lease = store
            .acquire_lease(request("r1", owner, now))
            .await
            .unwrap();
        assert!(lease.token > last, "token {} after {last}", lease.token);
        last = lease.token;
    }
    let held = store.get_lease("r1".into()).await.unwrap().unwrap();
    store.release_lease(held).await.unwrap();
    let again = store
        .acquire_lease(request("r1", "c", 10_001))
        .await
        .unwrap();
    assert!(again.token > last, "a release does not reset the token");
}

pub(super) async fn lease_renew_extends_and_release_frees(store: Arc<dyn Store>) {
    let lease = store.acquire_lease(request("r1", "a", 0)).await.unwrap();
    let renewed = store
        .renew_lease(lease.clone(), Duration::from_millis(5_000), t(900))
        .await
        .unwrap();
    assert_eq!((renewed.token, renewed.until), (lease.token, t(5_900)));
    let err = store
        .acquire_lease(request("r1", "b", 2_000))
        .await
        .expect_err("renewed past 2000");
    assert!(matches!(err, StoreError::LeaseHeld { .. }), "{err:?}");
    store.release_lease(renewed).await.unwrap();
    assert_eq!(store.get_lease("r1".into()).await.unwrap(), None);
    let b = store
        .acquire_lease(request("r1", "b", 2_001))
        .await
        .unwrap();
    assert_eq!(b.owner, "b");
}

pub(super) async fn stale_lease_cannot_renew_or_release(store: Arc<dyn Store>) {
    let old = store.acquire_lease(request("r1", "a", 0)).await.unwrap();
    let new = store
        .acquire_lease(request("r1", "b", 1_000))
        .await
        .unwrap();
    let err = store
        .renew_lease(old.clone(), Duration::from_secs(1), t(1_001))
        .await
        .expect_err("a lost it");
    assert!(
        matches!(&err, StoreError::LeaseLost { run, token } if run.as_str() == "r1" && *token == old.token),
        "{err:?}"
    );
    let err = store.release_lease(old).await.expect_err("a lost it");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
    assert_eq!(
        store.get_lease("r1".into()).await.unwrap(),
        Some(new.clone())
    );
    let forged = Lease {
        owner: "a".into(),
        ..new
    };
    let err = store.release_lease(forged).await.expect_err("wrong owner");
    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err:?}");
}
