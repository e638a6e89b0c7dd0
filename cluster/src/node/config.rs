//! Node configuration.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::membership::MembershipConfig;
use crate::transport::TlsConfig;
use crate::ConfigError;

/// How a node runs. Build with [`ClusterConfig::new`] and adjust the fields; the `troupe node`
/// command fills it from flags or a YAML file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The node's name, unique in the cluster.
    pub name: String,
    /// Transport address (ractor_cluster TCP).
    pub listen: SocketAddr,
    /// Membership address (SWIM over UDP).
    pub gossip: SocketAddr,
    /// Gossip addresses of nodes to join through; empty starts a new cluster.
    #[serde(default)]
    pub seeds: Vec<SocketAddr>,
    /// Shared secret every node of the cluster must present.
    pub cookie: String,
    /// Mutual TLS for the transport (`None`, the default: plain TCP). Every node of a cluster
    /// must use the same choice; see [`crate::transport::tls`] for the files and certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
    /// Relative capacity for placement (default 1).
    #[serde(default = "one")]
    pub capacity: u32,
    /// Agent kinds this node hosts; `None` means all registered kinds.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// What this node offers to workflow pools that need resources (`resources: { cpu: 8,
    /// memory: 16GB, flags: [gpu] }`); `None`: nothing, so it runs only tasks of pools
    /// that need none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::packing::NodeResources>,
    /// Deadline of calls to other nodes when the caller gives none.
    #[serde(default = "call_timeout", with = "millis")]
    pub call_timeout: Duration,
    /// How often agents that handled requests are checkpointed to their backup nodes.
    #[serde(default = "checkpoint_every", with = "millis")]
    pub checkpoint_every: Duration,
    /// How many nodes hold each agent's checkpoint (default 1): the next ones after the
    /// agent's node in placement order. An agent's state survives as long as one of them is
    /// alive; with fewer nodes, every other node holds one.
    #[serde(default = "one_usize")]
    pub backups: usize,
    /// How often registry state is exchanged with a random peer (anti-entropy).
    #[serde(default = "gossip_every", with = "millis")]
    pub gossip_every: Duration,
    /// Passivate agents idle for this long (`None`: never).
    #[serde(default, with = "opt_millis")]
    pub passivate_after: Option<Duration>,
    /// Move agents to a node that joins when placement now prefers it.
    #[serde(default = "yes")]
    pub rebalance_on_join: bool,
    /// Workflow tasks this node runs at once (0: it runs none, e.g. a client that only
    /// submits; its tasks are all stolen by other nodes).
    #[serde(default = "task_slots")]
    pub task_slots: usize,
    /// Where the node keeps its runs (a path, `sqlite:PATH` or `postgres://...`), for the
    /// `troupe node` binary's run service; the cluster crate itself does not read it.
    /// `None`: the binary's default, a file per node name under the data directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Membership (failure detection) tuning.
    #[serde(skip, default = "MembershipConfig::lan")]
    pub membership: MembershipConfig,
}

fn one() -> u32 {
    1
}
fn one_usize() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn task_slots() -> usize {
    4
}
fn call_timeout() -> Duration {
    Duration::from_secs(30)
}
fn checkpoint_every() -> Duration {
    Duration::from_millis(200)
}
fn gossip_every() -> Duration {
    Duration::from_millis(500)
}

impl ClusterConfig {
    /// A node named `name` with transport on `listen` and membership on `gossip`.
    pub fn new(
        name: impl Into<String>,
        listen: SocketAddr,
        gossip: SocketAddr,
        cookie: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            listen,
            gossip,
            seeds: Vec::new(),
            cookie: cookie.into(),
            tls: None,
            capacity: 1,
            kinds: None,
            resources: None,
            call_timeout: call_timeout(),
            checkpoint_every: checkpoint_every(),
            backups: 1,
            store: None,
            gossip_every: gossip_every(),
            passivate_after: None,
            rebalance_on_join: true,
            task_slots: task_slots(),
            membership: MembershipConfig::lan(),
        }
    }

    /// Adds seeds to join through.
    pub fn with_seeds(mut self, seeds: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.seeds.extend(seeds);
        self
    }

    /// Checks the values make sense; the message names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason: &str| Err(ConfigError::new(field, reason));
        if self.name.is_empty() || self.name.len() > 200 {
            return bad("name", "must be 1 to 200 characters");
        }
        if self.cookie.is_empty() {
            return bad("cookie", "must not be empty");
        }
        if self.capacity == 0 {
            return bad("capacity", "must be at least 1");
        }
        if self.backups == 0 {
            return bad("backups", "must be at least 1");
        }
        for (field, d) in [
            ("call_timeout", self.call_timeout),
            ("checkpoint_every", self.checkpoint_every),
            ("gossip_every", self.gossip_every),
        ] {
            if d.is_zero() {
                return bad(field, "must be more than 0 ms");
            }
        }
        Ok(())
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::ClusterConfig;
    use crate::ConfigError;

    fn config() -> ClusterConfig {
        let any = "127.0.0.1:0".parse().unwrap();
        ClusterConfig::new("n1", any, any, "secret")
    }

    #[test]
    fn one_backup_by_default_and_zero_is_refused_by_name() {
        let c = config();
        assert_eq!(c.backups, 1);
        assert!(c.validate().is_ok());
        let json = serde_json::json!({
            "name": "n1", "listen": "127.0.0.1:7000", "gossip": "127.0.0.1:7001",
            "cookie": "secret"
        });
        let parsed: ClusterConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(parsed.backups, 1);
        let mut with_two = json;
        with_two["backups"] = 2.into();
        let parsed: ClusterConfig = serde_json::from_value(with_two).unwrap();
        assert_eq!(parsed.backups, 2);
        let mut none = config();
        none.backups = 0;
        let e = none.validate().unwrap_err();
        assert_eq!(e, ConfigError::new("backups", "must be at least 1"));
        assert_eq!(e.to_string(), "backups: must be at least 1");
    }
}
