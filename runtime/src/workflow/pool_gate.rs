//! The queue in front of a local pool: at most [`CALLS_PER_MEMBER`] calls per member are
//! handed to the agents (one served, one waiting in its mailbox, so a member never idles
//! between calls); the others wait here, in [`FairQueue`] order (higher task priority first),
//! and each call that ends hands its place to the next waiter. Without it the calls would wait
//! in the members' mailboxes, first come first served, whatever their priority.

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::fair::FairQueue;

/// Calls handed to each member of a local pool at once.
pub(crate) const CALLS_PER_MEMBER: usize = 2;

/// The pool's places and the calls waiting for one.
pub(crate) struct PoolGate {
    state: Mutex<GateState>,
}

struct GateState {
    inside: usize,
    limit: usize,
    waiting: FairQueue<oneshot::Sender<()>>,
}

/// A place in the pool: the call may go to a member. Dropping it hands the place on.
pub(crate) struct Place<'g> {
    gate: &'g PoolGate,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.gate.leave();
    }
}

/// A call waiting for a place; if it gives up after a place was handed to it, the place goes
/// on to the next waiter.
struct Waiting<'g> {
    gate: &'g PoolGate,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            if rx.try_recv().is_ok() {
                self.gate.leave();
            }
        }
    }
}

impl PoolGate {
    /// A gate for a pool of `members` agents.
    pub(crate) fn new(members: usize) -> Self {
        Self {
            state: Mutex::new(GateState {
                inside: 0,
                limit: members.max(1) * CALLS_PER_MEMBER,
                waiting: FairQueue::new(),
            }),
        }
    }

    /// Waits for a place, behind the waiting calls of higher priority (and, within a
    /// priority, taking turns between tenants).
    pub(crate) async fn enter(&self, priority: u8, tenant: Option<&str>) -> Place<'_> {
        let rx = {
            let mut st = self.state.lock();
            if st.inside < st.limit {
                st.inside += 1;
                return Place { gate: self };
            }
            let (tx, rx) = oneshot::channel();
            st.waiting.push(tx, priority, tenant);
            rx
        };
        let mut waiting = Waiting {
            gate: self,
            rx: Some(rx),
        };
        if let Some(rx) = waiting.rx.as_mut() {
            // The sender is dropped only with the gate, which outlives its callers.
            let _ = rx.await;
        }
        waiting.rx = None;
        Place { gate: self }
    }

    /// Calls waiting for a place.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.state.lock().waiting.len()
    }

    fn leave(&self) {
        let mut st = self.state.lock();
        while let Some(next) = st.waiting.pop() {
            if next.send(()).is_ok() {
                return; // the place goes to `next`
            }
        }
        st.inside = st.inside.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_get_places_by_priority() {
        let gate = std::sync::Arc::new(PoolGate::new(1));
        let a = gate.enter(5, None).await;
        let b = gate.enter(5, None).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut joins = Vec::new();
        for (name, priority) in [("low", 1u8), ("high", 9), ("mid", 5)] {
            let (g, tx) = (gate.clone(), tx.clone());
            joins.push(tokio::spawn(async move {
                let _place = g.enter(priority, None).await;
                tx.send(name).unwrap();
            }));
            // Each is queued before the next is spawned.
            while gate.waiting() < joins.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(a);
        drop(b);
        for j in joins {
            j.await.unwrap();
        }
        let order: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(order, ["high", "mid", "low"]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_a_place() {
        let gate = PoolGate::new(1);
        let a = gate.enter(5, None).await;
        let _b = gate.enter(5, None).await;
        {
            let waiter = gate.enter(5, None);
            tokio::pin!(waiter);
            assert!(futures_poll_once(waiter.as_mut()).await.is_none());
        } // dropped while waiting
        drop(a);
        // The place freed by `a` is usable again (the dead waiter was skipped).
        let c = tokio::time::timeout(std::time::Duration::from_secs(5), gate.enter(5, None)).await;
        assert!(
            c.is_ok(),
            "the freed place was lost to a caller that gave up"
        );
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        let mut f = f;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
