//! Tests of [`super::admission`]: the gate's states, without channels.

use super::admission::{Admit, GateState, Redirect};

#[test]
fn an_open_gate_counts_calls_in_and_out() {
    let mut g = GateState::<u32>::default();
    assert_eq!(g.admit(), Admit::Enter);
    assert_eq!(g.admit(), Admit::Enter);
    assert_eq!(g.in_flight(), 2);
    assert!(!g.leave());
    assert!(g.leave(), "the last call out drains the gate");
}

#[test]
fn a_move_holds_new_calls_and_a_second_move_is_refused() {
    let mut g = GateState::default();
    assert_eq!(g.admit(), Admit::Enter);
    assert!(g.close());
    assert!(!g.close(), "another move is under way");
    assert_eq!(g.admit(), Admit::Hold);
    g.hold(1);
    assert_eq!(g.admit(), Admit::Hold);
    g.hold(2);
    assert_eq!(g.in_flight(), 1, "held calls are not in flight");
    assert!(g.leave());
    assert_eq!(g.release(&Redirect::To("b".into())), [1, 2]);
    // Moved away: later arrivals are sent on, and no move starts again.
    assert_eq!(g.admit(), Admit::Moved("b".into()));
    assert!(!g.close());
}

#[test]
fn a_failed_move_reopens_the_gate() {
    let mut g = GateState::default();
    assert!(g.close());
    assert_eq!(g.admit(), Admit::Hold);
    g.hold("call");
    assert_eq!(g.release(&Redirect::Retry), ["call"]);
    assert_eq!(g.admit(), Admit::Enter);
}
