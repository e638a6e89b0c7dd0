//! The admission gate of a local agent, as a state machine: counts calls in flight, and while
//! the agent moves (migration, passivation, a stop) holds new calls back until it is known
//! where the agent went. The shell's gate wraps it in a lock and gives each held call a
//! channel (`W`, the waiter) that [`GateState::release`] hands back.

use crate::registry::NodeName;

/// Where a held-back call goes once the move is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Redirect {
    /// The agent now lives on this node: forward the call there.
    To(NodeName),
    /// The agent stayed (or will be re-activated) here: route the call again.
    Retry,
}

/// What a call arriving at the gate does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Go in (counted in flight until [`GateState::leave`]).
    Enter,
    /// Wait: the shell registers a waiter with [`GateState::hold`] at once.
    Hold,
    /// The agent moved to this node: go there.
    Moved(NodeName),
}

#[derive(Debug)]
enum Mode<W> {
    Open,
    Closed(Vec<W>),
    Moved(NodeName),
}

/// The gate's state: open, closed for a move (with the calls waiting), or moved away.
#[derive(Debug)]
pub(crate) struct GateState<W> {
    mode: Mode<W>,
    in_flight: usize,
}

impl<W> Default for GateState<W> {
    fn default() -> Self {
        Self {
            mode: Mode::Open,
            in_flight: 0,
        }
    }
}

impl<W> GateState<W> {
    /// A call arrives.
    pub(crate) fn admit(&mut self) -> Admit {
        match &self.mode {
            Mode::Open => {
                self.in_flight += 1;
                Admit::Enter
            }
            Mode::Closed(_) => Admit::Hold,
            Mode::Moved(to) => Admit::Moved(to.clone()),
        }
    }

    /// Registers the waiter of a call told to [`Admit::Hold`].
    pub(crate) fn hold(&mut self, waiter: W) {
        if let Mode::Closed(waiting) = &mut self.mode {
            waiting.push(waiter);
        }
    }

    /// A call that entered leaves; returns whether none is in flight any more.
    pub(crate) fn leave(&mut self) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.in_flight == 0
    }

    /// Closes the gate for a move; `false` if it was not open (another move is under way).
    pub(crate) fn close(&mut self) -> bool {
        if !matches!(self.mode, Mode::Open) {
            return false;
        }
        self.mode = Mode::Closed(Vec::new());
        true
    }

    /// Calls currently inside the agent.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Ends a move and returns the waiters to tell `redirect`. With [`Redirect::Retry`] the
    /// gate opens again; otherwise it stays shut and later arrivals are sent on too.
    pub(crate) fn release(&mut self, redirect: &Redirect) -> Vec<W> {
        let waiting = match std::mem::replace(&mut self.mode, Mode::Open) {
            Mode::Closed(w) => w,
            Mode::Open | Mode::Moved(_) => Vec::new(),
        };
        if let Redirect::To(to) = redirect {
            self.mode = Mode::Moved(to.clone());
        }
        waiting
    }
}
