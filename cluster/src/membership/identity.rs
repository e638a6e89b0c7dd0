//! Who a cluster member is: [`NodeIdentity`] and its placement metadata [`NodeMeta`].

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::registry::NodeName;
use crate::ConfigError;

/// A cluster member as membership knows it: a stable name, where to reach it, and which
/// incarnation of it this is.
///
/// The **name** is the node's stable identity (foca's `Identity::Addr`): two identities with
/// the same name are two incarnations of the same node, and only one of them can be a member at
/// a time. Addresses, metadata and the incarnation may all change when a node restarts or
/// rejoins; the higher [`incarnation`](Self::incarnation) wins, and on a tie the identity the
/// cluster already knows is kept (the newcomer then renews itself and wins).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The node's stable name; unique in the cluster.
    pub name: NodeName,
    /// The UDP address the node's membership (SWIM) socket listens on.
    pub gossip: SocketAddr,
    /// The TCP address of the node's `ractor_cluster` transport.
    pub transport: SocketAddr,
    /// Bumped every time the node rejoins after being declared down (see
    /// [`foca::Identity::renew`]); a restarted node starts from any value and renews itself
    /// past the old one when the cluster still remembers it.
    pub incarnation: u64,
    /// What the node offers to placement.
    pub meta: NodeMeta,
}

/// What a node offers to placement: its weight and the agent kinds it can host.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeMeta {
    /// Placement weight (at least 1): a node with capacity 2 gets about twice the agents of a
    /// node with capacity 1.
    pub capacity: u32,
    /// The agent kinds this node can host; `None` means every kind.
    pub kinds: Option<Vec<String>>,
    /// What it offers to workflow pools that need resources (`None`: nothing declared).
    pub resources: Option<crate::packing::NodeResources>,
}

impl Default for NodeMeta {
    fn default() -> Self {
        Self {
            capacity: 1,
            kinds: None,
            resources: None,
        }
    }
}

impl NodeIdentity {
    /// A first-incarnation identity with default metadata (capacity 1, every kind).
    pub fn new(name: impl Into<NodeName>, gossip: SocketAddr, transport: SocketAddr) -> Self {
        Self {
            name: name.into(),
            gossip,
            transport,
            incarnation: 0,
            meta: NodeMeta::default(),
        }
    }

    /// Replaces the metadata.
    pub fn with_meta(mut self, meta: NodeMeta) -> Self {
        self.meta = meta;
        self
    }

    /// Replaces the incarnation.
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = incarnation;
        self
    }

    /// Checks what the protocol relies on: a non-empty name and a capacity of at least 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.as_str().is_empty() {
            return Err(ConfigError::new("name", "node name must not be empty"));
        }
        if self.meta.capacity == 0 {
            return Err(ConfigError::new(
                "capacity",
                format!("node {}: capacity must be at least 1", self.name),
            ));
        }
        Ok(())
    }

    /// The stand-in destination of an announce sent to a seed whose identity is not known
    /// yet: an empty name (never a valid node name) and the seed's address. The receiving
    /// codec reads the empty name as "whoever listens here" (see `codec`).
    pub(crate) fn unknown_at(addr: SocketAddr) -> Self {
        Self {
            name: NodeName::new(""),
            gossip: addr,
            transport: addr,
            incarnation: 0,
            meta: NodeMeta::default(),
        }
    }

    /// Whether this is the stand-in of [`Self::unknown_at`].
    pub(crate) fn is_unknown(&self) -> bool {
        self.name.as_str().is_empty()
    }
}

impl foca::Identity for NodeIdentity {
    type Addr = NodeName;

    /// The same node with the next incarnation; `None` only when the counter is exhausted.
    fn renew(&self) -> Option<Self> {
        let incarnation = self.incarnation.checked_add(1)?;
        Some(Self {
            incarnation,
            ..self.clone()
        })
    }

    fn addr(&self) -> NodeName {
        self.name.clone()
    }

    /// Higher incarnation wins; on a tie the identity already known (`self`, the incumbent in
    /// foca's member list) is kept, so a restarted node that reuses an incarnation is told it
    /// is down and renews itself to a strictly higher one.
    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.incarnation >= adversary.incarnation
    }
}
