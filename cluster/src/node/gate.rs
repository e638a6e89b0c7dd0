//! The admission gate in front of each local agent: counts calls in flight, and while the
//! agent moves (migration, passivation) holds new calls back until it is known where the agent
//! went. Nothing queued in a stopping actor's mailbox is ever dropped, because nothing is
//! queued there: calls wait here instead.

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use crate::registry::NodeName;

/// Where a held-back call goes once the move is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Redirect {
    /// The agent now lives on this node: forward the call there.
    To(NodeName),
    /// The agent stayed (or will be re-activated) here: route the call again.
    Retry,
}

enum State {
    Open,
    Closed(Vec<oneshot::Sender<Redirect>>),
    Moved(NodeName),
}

pub(crate) struct Gate {
    state: Mutex<(State, usize)>,
    drained: Notify,
}

/// A call admitted to the agent; leaving decrements the in-flight count.
pub(crate) struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state.lock();
        s.1 -= 1;
        if s.1 == 0 {
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
            state: Mutex::new((State::Open, 0)),
            drained: Notify::new(),
        }
    }

    /// Lets a call in, or tells it to wait for the end of a move.
    pub(crate) fn admit(&self) -> Admission<'_> {
        let mut s = self.state.lock();
        match &mut s.0 {
            State::Open => {
                s.1 += 1;
                Admission::Enter(Pass(self))
            }
            State::Closed(waiting) => {
                let (tx, rx) = oneshot::channel();
                waiting.push(tx);
                Admission::Wait(rx)
            }
            State::Moved(to) => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Redirect::To(to.clone()));
                Admission::Wait(rx)
            }
        }
    }

    /// Closes the gate (new calls wait) and returns once no call is in flight. Returns `false`
    /// if the gate was already closed (another move is under way).
    pub(crate) async fn close_and_drain(&self) -> bool {
        {
            let mut s = self.state.lock();
            if !matches!(s.0, State::Open) {
                return false;
            }
            s.0 = State::Closed(Vec::new());
        }
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.state.lock().1 == 0 {
                return true;
            }
            notified.await;
        }
    }

    /// Ends a move: every held call learns where to go. With [`Redirect::Retry`] the gate
    /// opens again; otherwise it stays closed and later arrivals are redirected too.
    pub(crate) fn release(&self, redirect: Redirect) -> usize {
        let mut s = self.state.lock();
        let waiting = match std::mem::replace(&mut s.0, State::Open) {
            State::Closed(w) => w,
            State::Open | State::Moved(_) => Vec::new(),
        };
        if let Redirect::To(to) = &redirect {
            s.0 = State::Moved(to.clone());
        }
        drop(s);
        let n = waiting.len();
        for tx in waiting {
            let _ = tx.send(redirect.clone());
        }
        n
    }

    /// Calls currently inside the agent.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> usize {
        self.state.lock().1
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
