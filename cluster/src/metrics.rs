//! A cluster node's series in a runtime [`Metrics`]: membership, registry, work stealing,
//! migrations and failovers, read from the node at each scrape.
//!
//! [`observe`] adds a collector (no global recorder, no timer): two nodes in one process keep
//! their own figures, each in its own `Metrics`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use metrics::{counter, describe_counter, describe_gauge, gauge};
use troupe_runtime::metrics::Metrics;

use crate::node::ClusterNode;

/// Makes `metrics` carry `node`'s cluster series. The runtime's own series come from giving
/// the node's runtime the same `Metrics` ([`troupe_runtime::RuntimeConfig::metrics`], or
/// [`Metrics::observe`]). The collector holds the node weakly: once the node is gone its
/// series keep their last values.
pub fn observe(node: &ClusterNode, metrics: &Metrics) {
    metrics.record(describe);
    let weak = Arc::downgrade(&node.inner);
    metrics.add_collector(move |m| {
        let Some(inner) = weak.upgrade() else { return };
        let node = ClusterNode { inner };
        let members = node.members();
        let linked = node.linked();
        let unreachable = members
            .iter()
            .filter(|m| &m.name != node.name() && !linked.contains(&m.name))
            .count();
        let registry = node.inner.registry.lock().iter().count();
        m.record(|| {
            gauge!("troupe_cluster_members").set(members.len() as f64);
            gauge!("troupe_cluster_members_unreachable").set(unreachable as f64);
            gauge!("troupe_cluster_registry_entries").set(registry as f64);
            gauge!("troupe_cluster_local_agents").set(node.local_agents().len() as f64);
            gauge!("troupe_cluster_tasks_queued").set(node.tasks_queued() as f64);
            counter!("troupe_cluster_tasks_executed_total").absolute(node.tasks_executed() as u64);
            counter!("troupe_cluster_tasks_stolen_total").absolute(node.tasks_stolen() as u64);
            counter!("troupe_cluster_migrations_total")
                .absolute(node.inner.stats.migrations.load(Ordering::Relaxed));
            counter!("troupe_cluster_failovers_total")
                .absolute(node.inner.stats.failovers.load(Ordering::Relaxed));
        });
    });
}

fn describe() {
    let g = |n: &'static str, h: &'static str| describe_gauge!(n, h);
    g(
        "troupe_cluster_members",
        "Live members (alive or suspected) as this node sees them, itself included.",
    );
    g(
        "troupe_cluster_members_unreachable",
        "Live members this node has no transport session with (suspects).",
    );
    g(
        "troupe_cluster_registry_entries",
        "Agents in this node's copy of the cluster registry.",
    );
    g(
        "troupe_cluster_local_agents",
        "Agents running on this node.",
    );
    g(
        "troupe_cluster_tasks_queued",
        "Workflow tasks queued on this node and not yet started.",
    );
    let c = |n: &'static str, h: &'static str| describe_counter!(n, h);
    c(
        "troupe_cluster_tasks_executed_total",
        "Workflow tasks this node ran (its own and stolen).",
    );
    c(
        "troupe_cluster_tasks_stolen_total",
        "Workflow tasks this node stole from busier nodes.",
    );
    c(
        "troupe_cluster_migrations_total",
        "Agents this node migrated to another node.",
    );
    c(
        "troupe_cluster_failovers_total",
        "Agents re-activated here from a checkpoint after their node went down.",
    );
}
