//! The cost per task of replicating run state: a chain of durable tasks submitted to a
//! 3-node cluster whose nodes replicate each journal append to one backup (the default),
//! beside the same on 3 nodes that do not replicate (`TROUPE_RUN_REPLICATION=off`).

use std::time::Duration;

use troupe_cluster::node::ClusterNode;
use troupe_cluster::runs::RunRequest;

use crate::scenario::{reason, time_each, Prepared, Reason, Variant};

use super::fleet::Fleet;
use super::Context;

/// Tasks in the chain (each one journal append of its result, so one replication).
pub const CHAIN_TASKS: u64 = 20;

/// A chain of [`CHAIN_TASKS`] `util.echo` tasks, each after the one before.
fn chain() -> String {
    let mut yaml = String::from(
        "workflow:\n  name: bench-chain\n  agents:\n    echo: { type: util.echo }\n  tasks:\n    - { id: t0, agent: echo, input: 0 }\n",
    );
    for i in 1..CHAIN_TASKS {
        yaml.push_str(&format!(
            "    - {{ id: t{i}, agent: echo, depends_on: [t{}] }}\n",
            i - 1
        ));
    }
    yaml
}

/// Submits the chain to its owner and waits until it has completed there.
async fn run_once(client: &ClusterNode, yaml: &str) -> Result<(), Reason> {
    let owner = client
        .run_nodes("bench-chain")
        .into_iter()
        .next()
        .ok_or("no node hosts runs")?;
    let limit = Duration::from_secs(30);
    let submit = RunRequest::Submit {
        definition: yaml.to_string(),
        source: "bench-chain.yaml".into(),
    };
    let info = client
        .run_request(&owner, submit, limit)
        .await
        .map_err(reason)?
        .ok_or("the owner did not take the run")?;
    let wait = RunRequest::Status {
        run: info.run.clone(),
        wait: true,
    };
    let ended = client
        .run_request(&owner, wait, limit)
        .await
        .map_err(reason)?
        .ok_or("the owner lost the run")?;
    if ended.status != "completed" {
        return Err(format!("run {} ended {}", ended.run, ended.status));
    }
    Ok(())
}

fn variant(name: &str, subject: bool, client: ClusterNode) -> Variant {
    let yaml = chain();
    let run_ops = move |ops: u64| {
        let client = client.clone();
        let yaml = yaml.clone();
        async move { Ok(time_each!(ops, |_i| run_once(&client, &yaml).await?)) }
    };
    if subject {
        Variant::subject(name.to_string(), run_ops)
    } else {
        Variant::baseline(name.to_string(), run_ops)
    }
}

/// The chain on 3 replicating nodes, beside 3 nodes that do not replicate.
pub(super) async fn cost(ctx: Context) -> Result<Prepared, Reason> {
    let with = Fleet::local(&ctx, 3, "rep1").await?;
    let without = Fleet::local_env(&ctx, 3, "rep0", &[("TROUPE_RUN_REPLICATION", "off")]).await?;
    let variants = vec![
        variant("backups 1 (replicated)", true, with.client().clone()),
        variant(
            "backups 0 (not replicated)",
            false,
            without.client().clone(),
        ),
    ];
    Ok(Prepared::new(variants)
        .note(format!(
            "a chain of {CHAIN_TASKS} durable util.echo tasks per op; nodes with --store memory"
        ))
        .note(with.note())
        .note(without.note())
        .teardown(async move {
            with.shutdown().await;
            without.shutdown().await;
        }))
}
