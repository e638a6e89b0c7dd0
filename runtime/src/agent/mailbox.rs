//! The bound on an agent's mailbox. ractor's mailbox is unbounded; Troupe bounds it in the
//! [`super::AgentRef`] layer: every request queued for the agent holds one permit of its
//! [`Mailbox`], released when the handler takes the request (or when the request is dropped
//! unserved, e.g. by a crash). A caller that finds no permit waits (`ask`, `tell_wait`) or is
//! refused ([`crate::CallError::MailboxFull`], `tell`).
//!
//! Internal messages (snapshots, periodic flushes) do not take permits: they are few and the
//! runtime sends them itself.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests an agent's mailbox holds when nothing else is configured: enough to keep a busy
/// agent fed across a burst, small enough that a flood waits at its callers instead of
/// growing the process (a request is typically well under 1 KB: 1,024 of them are a few
/// hundred KB per agent at most).
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// One queued request's place in the mailbox; dropping it frees the place.
pub(crate) type Permit = OwnedSemaphorePermit;

/// An agent's mailbox bound, shared by all its incarnations (it lives in the slot).
#[derive(Debug)]
pub(crate) struct Mailbox {
    places: Arc<Semaphore>,
    capacity: usize,
}

impl Mailbox {
    /// A mailbox of `capacity` places (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            places: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// Its capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Requests queued or being taken right now.
    pub(crate) fn queued(&self) -> usize {
        self.capacity
            .saturating_sub(self.places.available_permits())
    }

    /// A place if one is free now.
    pub(crate) fn try_place(&self) -> Option<Permit> {
        self.places.clone().try_acquire_owned().ok()
    }

    /// A place, waiting for one at most `timeout` (`None`: as long as it takes). `None` when
    /// the time passed first.
    pub(crate) async fn place(&self, timeout: Option<Duration>) -> Option<Permit> {
        if let Some(p) = self.try_place() {
            return Some(p);
        }
        let wait = self.places.clone().acquire_owned();
        let permit = match timeout {
            Some(t) => tokio::time::timeout(t, wait).await.ok()?,
            None => wait.await,
        };
        // The semaphore is never closed.
        permit.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_place_frees_when_its_permit_drops() {
        let m = Mailbox::new(2);
        let a = m.try_place().expect("first place");
        let _b = m.try_place().expect("second place");
        assert_eq!(m.queued(), 2);
        assert!(m.try_place().is_none(), "a full mailbox gives no place");
        assert!(m.place(Some(Duration::from_millis(1))).await.is_none());
        drop(a);
        assert_eq!(m.queued(), 1);
        assert!(m.place(None).await.is_some());
    }

    #[test]
    fn capacity_is_at_least_one() {
        assert_eq!(Mailbox::new(0).capacity(), 1);
    }
}
