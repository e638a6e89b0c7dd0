//! Checkpoints in the node's store: [`install`] reads back what this node persisted in an
//! earlier life, holds it, persists from then on, and re-activates the agents as
//! [`restore::decide`] says when each is [`restore::due`].

use std::sync::{Arc, Weak};

use troupe_runtime::{Store, StoreError};

use super::core::restore::{self, Restore};
use super::persisted::{Persister, Stored};
use super::state::{self, Inner};

/// Persists this node's checkpoints to `store` from now on, and re-activates the agents it
/// persisted there before (in tasks of their own); returns how many checkpoints it read
/// back. A second store is ignored (0).
pub(crate) async fn install(
    inner: &Arc<Inner>,
    store: Arc<dyn Store>,
) -> Result<usize, StoreError> {
    let (persister, found) = Persister::open(store, inner.name.as_str()).await?;
    let Some(found) = inner.checkpoints.persist_to(persister, found) else {
        return Ok(0);
    };
    let count = found.len();
    let started = state::now();
    let (own, backups): (Vec<Stored>, Vec<Stored>) = found.into_iter().partition(|s| s.own);
    tracing::info!(target: "troupe::cluster", node = %inner.name, own = own.len(),
        backups = backups.len(), "checkpoints read back from the store");
    if !own.is_empty() {
        let weak = Arc::downgrade(inner);
        let at = restore::due(true, Default::default(), started);
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            for stored in own {
                if !reactivate(&weak, stored).await {
                    return;
                }
            }
        });
    }
    for stored in backups {
        let weak = Arc::downgrade(inner);
        let turn = inner.failover_turn(&stored.record.agent, &stored.record.kind);
        let at = restore::due(false, turn, started);
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            reactivate(&weak, stored).await;
        });
    }
    Ok(count)
}

/// Re-activates one agent from its checkpoint if [`restore::decide`] says so; `false` once
/// the node is gone or stopping.
async fn reactivate(inner: &Weak<Inner>, stored: Stored) -> bool {
    let Some(inner) = inner.upgrade() else {
        return false;
    };
    if inner.stopping.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let agent = stored.record.agent.clone();
    let slot = inner.registry.lock().winner(&agent).cloned();
    let local = inner.locals.contains(&agent);
    match restore::decide(slot.as_ref(), local, &inner.name, |n| inner.is_live(n)) {
        Restore::Leave => {}
        Restore::Forget => inner.checkpoints.remove(&agent),
        Restore::Activate => match inner.activate_local(stored.record, true).await {
            Ok(()) => tracing::info!(target: "troupe::cluster", node = %inner.name, %agent,
                own = stored.own, "re-activated from the store"),
            Err(e) => tracing::warn!(target: "troupe::cluster", node = %inner.name, %agent,
                "re-activation from the store failed: {e}"),
        },
    }
    true
}
