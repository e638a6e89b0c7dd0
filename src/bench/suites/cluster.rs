//! `cluster`: cross-node ask round trip and one-way throughput against a running cluster,
//! given by `--cluster SEED` (a member's address).
//!
//! | scenario | subject | baseline |
//! |---|---|---|
//! | cross-node ask round trip | Troupe `ask` to an agent on another node | ractor_cluster `call` to an actor on that node |
//! | cross-node one-way throughput | 1000 Troupe `tell`s to an agent on another node + one `ask` | 1000 ractor_cluster `cast`s + one `call` |
//!
//! **Not measurable yet**: the cluster node (`troupe-cluster`, `cluster/src/node`) is being
//! written and has no client API to join a cluster and call an agent on another node. Until it
//! has, both scenarios are reported as failed with that reason (never silently skipped).
//!
//! To fill in: in `setup`, join the cluster at `seed` as a client node, place (or find) an echo
//! agent on another member, and return the variants — the subject through Troupe's API, the
//! baseline a raw ractor_cluster session to the same member (see [`crate::bench::peer`] for a
//! session opened and its remote actor looked up by group, in that session only).

use super::Context;
use crate::bench::scenario::{Plan, Prepared, Reason, Scenario, Unit};

/// Why the suite cannot run yet.
pub const NOT_AVAILABLE: &str = "cluster client API not available yet";

/// The scenarios of the suite.
pub fn scenarios(ctx: &Context) -> Vec<Scenario> {
    let (a, b) = (ctx.cluster.clone(), ctx.cluster.clone());
    vec![
        Scenario::new(
            "cluster",
            "cross-node ask round trip",
            Unit::per_op("ask"),
            Plan::batch(1_000),
            move || setup(a),
        )
        .describe("an ask to an agent on another node, and its reply"),
        Scenario::new(
            "cluster",
            "cross-node one-way",
            Unit::batch(1_000, "msg"),
            Plan::batch(20),
            move || setup(b),
        )
        .describe("1000 tells to an agent on another node, then one ask"),
    ]
}

async fn setup(seed: Option<String>) -> Result<Prepared, Reason> {
    Err(match seed {
        Some(seed) => format!("{NOT_AVAILABLE} (troupe-cluster cannot join {seed} as a client yet)"),
        None => format!("{NOT_AVAILABLE}; it will also need --cluster SEED (a running member's address)"),
    })
}
