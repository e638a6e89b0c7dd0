//! Placement by resources, IO-free: what a node offers ([`NodeResources`]: cpu, memory,
//! flags, declared in its config), what a pool's agents need ([`Need`], from the pools'
//! `resources` in the workflow language), and whether a run's pools can be packed onto the
//! live nodes ([`pack`]).
//!
//! A run's pools are packed all agents at once (a pool of `count` agents needs `count` times
//! its `resources`, as on one runtime), first-fit by decreasing need onto the nodes' free
//! capacity. A node without declared resources offers nothing to pools that need some, and
//! everything to pools that need nothing. A workflow task of a pool runs only on a node that
//! can hold one of its agents ([`fits`]): the owner keeps such tasks off nodes that cannot
//! ([`crate::stealing`]'s thieves are checked the same way).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use troupe_runtime::workflow::resources::{parse_cpu, parse_memory, Resources};

use crate::registry::NodeName;

/// What a node offers to the pools of workflows: cpu, memory, and flags (named features such
/// as `gpu`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawResources", into = "RawResources")]
pub struct NodeResources {
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Named features.
    pub flags: BTreeSet<String>,
}

/// The config file's shape: `resources: { cpu: 8, memory: 16GB, flags: [gpu] }`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cpu: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory: Option<serde_json::Value>,
    #[serde(default)]
    flags: Vec<String>,
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl TryFrom<RawResources> for NodeResources {
    type Error = String;

    fn try_from(raw: RawResources) -> Result<Self, String> {
        let cpu_millis = raw
            .cpu
            .as_ref()
            .map(|v| parse_cpu(&scalar(v)))
            .transpose()?
            .unwrap_or(0);
        let memory_bytes = raw
            .memory
            .as_ref()
            .map(|v| parse_memory(&scalar(v)))
            .transpose()?
            .unwrap_or(0);
        Ok(Self {
            cpu_millis,
            memory_bytes,
            flags: raw.flags.into_iter().collect(),
        })
    }
}

impl From<NodeResources> for RawResources {
    fn from(r: NodeResources) -> Self {
        Self {
            cpu: Some(format!("{}m", r.cpu_millis).into()),
            memory: Some(r.memory_bytes.into()),
            flags: r.flags.into_iter().collect(),
        }
    }
}

impl NodeResources {
    /// Parses the flag's form, `cpu=8,memory=16GB,flags=gpu+ssd` (parts may be left out).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut r = Self::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "resources {part:?}: expected cpu=CORES, memory=SIZE or flags=A+B \
                     (e.g. cpu=8,memory=16GB,flags=gpu)"
                ));
            };
            let value = value.trim();
            match key.trim() {
                "cpu" => r.cpu_millis = parse_cpu(value)?,
                "memory" => r.memory_bytes = parse_memory(value)?,
                "flags" => r.flags.extend(
                    value
                        .split('+')
                        .map(str::trim)
                        .filter(|f| !f.is_empty())
                        .map(String::from),
                ),
                other => {
                    return Err(format!(
                        "resources: unknown resource {other:?}, expected cpu, memory or flags"
                    ))
                }
            }
        }
        Ok(r)
    }

    /// Whether one agent needing `need` fits in what is offered.
    pub fn holds(&self, need: &Need) -> bool {
        need.cpu_millis <= self.cpu_millis
            && need.memory_bytes <= self.memory_bytes
            && need.flags.iter().all(|f| self.flags.contains(f))
    }
}

impl fmt::Display for NodeResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let need = Need {
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
            flags: self.flags.clone(),
        };
        write!(f, "{need}")
    }
}

/// What one agent of a pool needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    /// CPU in millicores.
    #[serde(default)]
    pub cpu_millis: u64,
    /// Memory in bytes.
    #[serde(default)]
    pub memory_bytes: u64,
    /// Flags the node must have.
    #[serde(default)]
    pub flags: BTreeSet<String>,
}

impl Need {
    /// Whether it asks for nothing (any node can run it, declared resources or not).
    pub fn is_nothing(&self) -> bool {
        self.cpu_millis == 0 && self.memory_bytes == 0 && self.flags.is_empty()
    }
}

impl From<Resources> for Need {
    fn from(r: Resources) -> Self {
        Self {
            cpu_millis: r.cpu_millis,
            memory_bytes: r.memory_bytes,
            flags: BTreeSet::new(),
        }
    }
}

impl fmt::Display for Need {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = Resources {
            cpu_millis: self.cpu_millis,
            memory_bytes: self.memory_bytes,
        };
        write!(f, "{r}")?;
        if !self.flags.is_empty() {
            let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
            write!(f, " and flags {}", flags.join("+"))?;
        }
        Ok(())
    }
}

/// Whether a node offering `offered` (`None`: it declared nothing) may run a task needing
/// `need`.
pub fn fits(offered: Option<&NodeResources>, need: &Need) -> bool {
    need.is_nothing() || offered.is_some_and(|o| o.holds(need))
}

/// A pool to place: its name, what each agent needs, how many agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolNeed {
    /// The pool's name in the workflow.
    pub pool: String,
    /// What one agent needs.
    pub need: Need,
    /// How many agents it runs.
    pub count: usize,
}

/// Why a run's pools cannot be placed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unplaced {
    /// No live node could hold even one agent of the pool: refused.
    #[error("pool {pool:?} needs {need} per agent, and no live node offers that (the largest offers {largest})")]
    NoNode {
        /// The pool.
        pool: String,
        /// What one of its agents needs.
        need: Need,
        /// The most any live node offers (`nothing` when none declared resources).
        largest: String,
    },
    /// Each agent fits some node, but the live nodes cannot hold all of the run's agents at
    /// once: it may be placed when nodes join.
    #[error("pool {pool:?}: {left} of its agents do not fit on the live nodes next to the run's other pools")]
    NotNow {
        /// The first pool whose agents did not all fit.
        pool: String,
        /// How many of its agents were left over.
        left: usize,
    },
}

/// Where each agent of each pool goes: `(pool, node)` per agent, in the order packed.
pub type Packing = Vec<(String, NodeName)>;

/// Packs the agents of `pools` onto `nodes` (name and what it offers, `None`: nothing
/// declared), first-fit by decreasing need (cpu, then memory); pools that need nothing are
/// not placed (they run anywhere).
pub fn pack(
    pools: &[PoolNeed],
    nodes: &[(NodeName, Option<NodeResources>)],
) -> Result<Packing, Unplaced> {
    let mut wanted: Vec<&PoolNeed> = pools.iter().filter(|p| !p.need.is_nothing()).collect();
    for p in &wanted {
        if !nodes.iter().any(|(_, o)| fits(o.as_ref(), &p.need)) {
            let largest = nodes
                .iter()
                .filter_map(|(_, o)| o.as_ref())
                .max_by_key(|o| (o.cpu_millis, o.memory_bytes))
                .map_or_else(|| "nothing".to_string(), ToString::to_string);
            return Err(Unplaced::NoNode {
                pool: p.pool.clone(),
                need: p.need.clone(),
                largest,
            });
        }
    }
    wanted.sort_by(|a, b| {
        (b.need.cpu_millis, b.need.memory_bytes)
            .cmp(&(a.need.cpu_millis, a.need.memory_bytes))
            .then_with(|| a.pool.cmp(&b.pool))
    });
    let mut free: Vec<(NodeName, Option<NodeResources>)> = nodes.to_vec();
    let mut out = Vec::new();
    for p in wanted {
        for placed in 0..p.count {
            let Some((name, offered)) = free.iter_mut().find(|(_, o)| fits(o.as_ref(), &p.need))
            else {
                return Err(Unplaced::NotNow {
                    pool: p.pool.clone(),
                    left: p.count - placed,
                });
            };
            if let Some(o) = offered {
                o.cpu_millis -= p.need.cpu_millis;
                o.memory_bytes -= p.need.memory_bytes;
            }
            out.push((p.pool.clone(), name.clone()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, text: &str) -> (NodeName, Option<NodeResources>) {
        (
            NodeName::new(name),
            Some(NodeResources::parse(text).unwrap()),
        )
    }

    fn pool(name: &str, cpu: u64, memory: u64, count: usize) -> PoolNeed {
        PoolNeed {
            pool: name.into(),
            need: Need {
                cpu_millis: cpu,
                memory_bytes: memory,
                flags: BTreeSet::new(),
            },
            count,
        }
    }

    #[test]
    fn the_flag_form_parses_and_bad_parts_are_named() {
        let r = NodeResources::parse("cpu=8, memory=16GB, flags=gpu+ssd").unwrap();
        assert_eq!(r.cpu_millis, 8000);
        assert_eq!(r.memory_bytes, 16_000_000_000);
        assert!(r.flags.contains("gpu") && r.flags.contains("ssd"));
        assert!(NodeResources::parse("disk=1TB")
            .unwrap_err()
            .contains("disk"));
        assert!(NodeResources::parse("cpu=lots")
            .unwrap_err()
            .contains("lots"));
        assert!(NodeResources::parse("cpu")
            .unwrap_err()
            .contains("cpu=CORES"));
    }

    #[test]
    fn the_config_form_reads_numbers_and_sizes() {
        let r: NodeResources = serde_json::from_value(
            serde_json::json!({"cpu": 4, "memory": "8GB", "flags": ["gpu"]}),
        )
        .unwrap();
        assert_eq!((r.cpu_millis, r.memory_bytes), (4000, 8_000_000_000));
        let back: NodeResources =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let bad = serde_json::from_value::<NodeResources>(serde_json::json!({"cpu": "x"}));
        assert!(bad.unwrap_err().to_string().contains("\"x\""));
    }

    #[test]
    fn big_agents_go_first_and_each_node_holds_what_it_offers() {
        let nodes = [
            node("small", "cpu=2,memory=4GB"),
            node("big", "cpu=8,memory=16GB"),
        ];
        let pools = [
            pool("light", 1000, 0, 2),
            pool("heavy", 4000, 8_000_000_000, 2),
        ];
        let packed = pack(&pools, &nodes).unwrap();
        let on = |p: &str, n: &str| {
            packed
                .iter()
                .filter(|(a, b)| a == p && b.as_str() == n)
                .count()
        };
        assert_eq!(on("heavy", "big"), 2);
        assert_eq!(
            on("light", "small"),
            2,
            "the big node is full after the heavy pool"
        );
    }

    #[test]
    fn a_pool_no_node_can_hold_is_refused_by_name_and_a_crowded_one_may_wait() {
        let nodes = [node("a", "cpu=2"), node("b", "cpu=4")];
        let err = pack(&[pool("render", 8000, 0, 1)], &nodes).unwrap_err();
        assert!(matches!(&err, Unplaced::NoNode { pool, .. } if pool == "render"));
        assert!(err.to_string().contains("\"render\""), "{err}");
        assert!(
            err.to_string().contains("4 cores"),
            "the largest offer: {err}"
        );
        let err = pack(&[pool("many", 2000, 0, 4)], &nodes).unwrap_err();
        assert_eq!(
            err,
            Unplaced::NotNow {
                pool: "many".into(),
                left: 1
            }
        );
    }

    #[test]
    fn pools_that_need_nothing_run_anywhere_and_flags_must_match() {
        let undeclared = (NodeName::new("plain"), None);
        assert!(
            pack(&[pool("any", 0, 0, 10)], std::slice::from_ref(&undeclared))
                .unwrap()
                .is_empty()
        );
        let mut gpu = pool("gpu", 0, 0, 1);
        gpu.need.flags.insert("gpu".into());
        assert!(!fits(None, &gpu.need));
        let packed = pack(&[gpu.clone()], &[undeclared, node("g", "flags=gpu")]).unwrap();
        assert_eq!(packed, vec![("gpu".to_string(), NodeName::new("g"))]);
        assert!(!fits(
            Some(&NodeResources::parse("cpu=64").unwrap()),
            &gpu.need
        ));
    }
}
