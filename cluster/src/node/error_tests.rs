//! Tests of [`super::ClusterError`]: a node's reasons stay typed up to the caller.

use troupe_runtime::{AgentId, CallError};

use super::ClusterError;
use crate::wire::WireError;

#[test]
fn a_node_that_cannot_serve_says_why_in_a_typed_retryable_error() {
    let agent = AgentId::new("x");
    let e = ClusterError::from_wire(
        &agent,
        WireError::Moving {
            agent: agent.clone(),
        },
    );
    assert!(matches!(
        &e,
        ClusterError::Unavailable {
            cause: WireError::Moving { .. },
            ..
        }
    ));
    assert!(e.is_retryable());
    assert_eq!(e.to_string(), "agent x: agent x is moving; try again");
    // An agent's own errors stay call errors.
    let e = ClusterError::from_wire(&agent, WireError::NoSuchAgent);
    assert!(matches!(
        e,
        ClusterError::Call(CallError::NoSuchAgent { .. })
    ));
}
