//! The admission gate in front of each local agent: the shell of
//! [`super::core::admission::GateState`]. Calls in flight are counted, and while the agent
//! moves (migration, passivation) new calls wait here until it is known where the agent went.
//! Nothing queued in a stopping actor's mailbox is ever dropped, because nothing is queued
//! there: calls wait here instead.

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

pub(crate) use super::core::admission::Redirect;
use super::core::admission::{Admit, GateState};

pub(crate) struct Gate {
    state: Mutex<GateState<oneshot::Sender<Redirect>>>,
    drained: Notify,
}

/// A call admitted to the agent; leaving decrements the in-flight count.
pub(crate) struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if self.0.state.lock().leave() {
            self.0.drained.notify_waiters();
        }
    }
}

pub(crate) enum Admission<'a> {
    Enter(Pass<'a>),
    Wait(oneshot::Receiver<Redirect>),
}

impl Gate {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(GateState::default()),
            drained: Notify::new(),
        }
    }

    /// Lets a call in, or tells it to wait for the end of a move.
    pub(crate) fn admit(&self) -> Admission<'_> {
        let mut s = self.state.lock();
        match s.admit() {
            Admit::Enter => Admission::Enter(Pass(self)),
            Admit::Hold => {
                let (tx, rx) = oneshot::channel();
                s.hold(tx);
                Admission::Wait(rx)
            }
            Admit::Moved(to) => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Redirect::To(to));
                Admission::Wait(rx)
            }
        }
    }

    /// Closes the gate (new calls wait) and returns once no call is in flight. Returns `false`
    /// if the gate was already closed (another move is under way).
    pub(crate) async fn close_and_drain(&self) -> bool {
        if !self.state.lock().close() {
            return false;
        }
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state.lock().in_flight() == 0 {
                return true;
            }
            notified.await;
        }
    }

    /// Ends a move: every held call learns where to go. With [`Redirect::Retry`] the gate
    /// opens again; otherwise it stays closed and later arrivals are redirected too.
    pub(crate) fn release(&self, redirect: Redirect) -> usize {
        let waiting = self.state.lock().release(&redirect);
        let n = waiting.len();
        for tx in waiting {
            let _ = tx.send(redirect.clone());
        }
        n
    }

    /// Calls currently inside the agent.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.state.lock().in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_move_waits_for_calls_in_flight_and_holds_new_ones() {
        let gate = std::sync::Arc::new(Gate::new());
        let Admission::Enter(pass) = gate.admit() else {
            panic!("open gate refused a call")
        };
        let g = gate.clone();
        let mover = tokio::spawn(async move { g.close_and_drain().await });
        // The mover cannot finish while the call is inside.
        tokio::task::yield_now().await;
        let held = loop {
            match gate.admit() {
                Admission::Wait(rx) => break rx,
                Admission::Enter(p) => {
                    drop(p);
                    tokio::task::yield_now().await;
                }
            }
        };
        assert!(!mover.is_finished());
        drop(pass);
        assert!(mover.await.unwrap());
        assert_eq!(gate.in_flight(), 0);
        assert_eq!(gate.release(Redirect::To("b".into())), 1);
        assert_eq!(held.await.unwrap(), Redirect::To("b".into()));
        // After a move away, late arrivals are redirected too.
        assert!(matches!(gate.admit(), Admission::Wait(_)));
    }

    #[tokio::test]
    async fn a_failed_move_reopens_the_gate() {
        let gate = Gate::new();
        assert!(gate.close_and_drain().await);
        assert!(
            !gate.close_and_drain().await,
            "a second move must not start"
        );
        let Admission::Wait(rx) = gate.admit() else {
            panic!("closed gate let a call in")
        };
        gate.release(Redirect::Retry);
        assert_eq!(rx.await.unwrap(), Redirect::Retry);
        assert!(matches!(gate.admit(), Admission::Enter(_)));
    }
}
