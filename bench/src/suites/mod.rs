//! The suites: each a set of scenarios, each scenario a Troupe figure (the subject) beside raw
//! baselines.
//!
//! | suite | scenarios | baselines |
//! |---|---|---|
//! | `ask` | ask round trip, one-way tell, spawn | ractor `call`/`cast`/spawn, tokio mpsc (+oneshot), tokio task |
//! | `patterns` | one unit through each pattern | raw ractor actors making the same hops |
//! | `savina` | PingPong, Counting, ThreadRing, Fork-Join throughput and creation, Chameneos, Big | the same benchmark on raw ractor |
//! | `tree` | the skynet tree (10k, 100k, 1M leaves) | raw ractor actors, tokio tasks |
//! | `memory` | bytes per agent at 10k, 100k, 1M agents; passivated | raw ractor actors, tokio tasks |
//! | `net` | ractor_cluster call and cast between two processes | TCP ping-pong and one-way on loopback |
//! | `durable` | 10k-task fan-out, chain step, resume of 10k events, journaled in SQLite (and PostgreSQL when installed) | the same in memory, a raw `fdatasync`, a raw journal read |
//! | `llm` | an `llm.chat` call, 1,000 concurrent LLM agents, memory per LLM agent (local scripted server) | raw reqwest calls to the same server |
//! | `api` | submit → complete of a 3-task workflow over HTTP, `GET` an execution under 16 clients, events to one SSE client (in-process `troupe_service` on 127.0.0.1) | the Rust SDK, `GET /health`, the in-process event bus |
//! | `cluster` | cross-node ask, one-way throughput, 1 MiB migration, `kill -9` failover, workflow on 1/2/3 nodes (own `troupe node` processes, or `--cluster SEED`) | ractor_cluster call/cast, TCP, a local runtime |

pub mod api;
pub mod ask;
pub mod cluster;
pub mod durable;
pub mod llm;
pub mod memory;
pub mod net;
pub mod patterns;
pub mod savina;
pub mod tree;

use std::path::PathBuf;
use std::str::FromStr;

use super::scenario::{Reason, Scenario};

/// Problem sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A subset at small sizes: the whole run finishes in under a minute on 2 cores.
    Quick,
    /// Everything at full size (1M-leaf tree, 1M agents).
    Full,
}

impl Size {
    /// `quick` or `full`.
    pub fn name(&self) -> &'static str {
        match self {
            Size::Quick => "quick",
            Size::Full => "full",
        }
    }

    /// `quick` or `full` value.
    pub fn pick<T>(&self, quick: T, full: T) -> T {
        match self {
            Size::Quick => quick,
            Size::Full => full,
        }
    }
}

/// A concrete suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// Agent ask, tell, spawn.
    Ask,
    /// The multi-agent patterns.
    Patterns,
    /// The Savina micro-benchmarks.
    Savina,
    /// The skynet tree.
    Tree,
    /// Memory per agent.
    Memory,
    /// Two-process transport baselines.
    Net,
    /// Cross-node figures: on `troupe node` processes of its own, or a running cluster.
    Cluster,
    /// Durable runs: journal cost, fsyncs per task, resume time.
    Durable,
    /// `llm.chat` against a local scripted endpoint, beside raw HTTP calls.
    Llm,
    /// The HTTP API in process: submit → complete, status under load, SSE events.
    Api,
}

impl Suite {
    /// Every suite, in the order they run.
    pub const ALL: [Suite; 10] = [
        Suite::Ask,
        Suite::Patterns,
        Suite::Savina,
        Suite::Tree,
        Suite::Memory,
        Suite::Net,
        Suite::Cluster,
        Suite::Durable,
        Suite::Llm,
        Suite::Api,
    ];

    /// Its name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Suite::Ask => "ask",
            Suite::Patterns => "patterns",
            Suite::Savina => "savina",
            Suite::Tree => "tree",
            Suite::Memory => "memory",
            Suite::Net => "net",
            Suite::Cluster => "cluster",
            Suite::Durable => "durable",
            Suite::Llm => "llm",
            Suite::Api => "api",
        }
    }

    /// Its scenarios.
    pub fn scenarios(&self, ctx: &Context) -> Vec<Scenario> {
        match self {
            Suite::Ask => ask::scenarios(ctx),
            Suite::Patterns => patterns::scenarios(ctx),
            Suite::Savina => savina::scenarios(ctx),
            Suite::Tree => tree::scenarios(ctx),
            Suite::Memory => memory::scenarios(ctx),
            Suite::Net => net::scenarios(ctx),
            Suite::Cluster => cluster::scenarios(ctx),
            Suite::Durable => durable::scenarios(ctx),
            Suite::Llm => llm::scenarios(ctx),
            Suite::Api => api::scenarios(ctx),
        }
    }
}

/// A name given to `--suite`: a suite, or `quick` / `full`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteName {
    /// One suite.
    One(Suite),
    /// Every suite but `cluster` (unless a seed is given) at quick sizes.
    Quick,
    /// Every suite at full sizes.
    Full,
}

impl SuiteName {
    /// Every accepted name with what it runs.
    pub const HELP: [(&'static str, &'static str); 12] = [
        (
            "quick",
            "a subset of every suite at small sizes, under a minute (the default)",
        ),
        (
            "full",
            "every suite at full size, cluster included (minutes; needs ~12 GB free for 1M agents)",
        ),
        ("ask", "agent ask round trip, one-way tell, spawn"),
        ("patterns", "one unit through each multi-agent pattern"),
        ("savina", "Savina micro-benchmarks on agents vs raw ractor"),
        ("tree", "the skynet tree: 10k/100k/1M leaves"),
        (
            "memory",
            "memory per agent at 10k/100k/1M agents, passivated",
        ),
        ("net", "ractor_cluster vs TCP between two processes"),
        (
            "cluster",
            "cross-node ask, throughput, migration, kill -9 failover, workflow on 1-3 nodes",
        ),
        (
            "durable",
            "journaled runs: 10k fan-out and 100-task chain vs in memory and raw fsync, resume 10k events; SQLite and PostgreSQL",
        ),
        (
            "llm",
            "llm.chat call overhead vs raw reqwest, 1,000 concurrent LLM agents, memory per LLM agent",
        ),
        (
            "api",
            "the HTTP API in process: submit → complete vs the SDK, GET an execution under 16 clients, SSE events/s vs the bus",
        ),
    ];

    /// The concrete suite, unless this is `quick` or `full`.
    pub fn suite(&self) -> Option<Suite> {
        match self {
            SuiteName::One(s) => Some(*s),
            SuiteName::Quick | SuiteName::Full => None,
        }
    }
}

impl FromStr for SuiteName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quick" => Ok(SuiteName::Quick),
            "full" => Ok(SuiteName::Full),
            _ => Suite::ALL
                .iter()
                .find(|suite| suite.name() == s)
                .map(|suite| SuiteName::One(*suite))
                .ok_or_else(|| {
                    let valid: Vec<&str> = Self::HELP.iter().map(|(n, _)| *n).collect();
                    format!("unknown suite {s:?}; valid suites: {}", valid.join(", "))
                }),
        }
    }
}

/// What suites need to build their scenarios.
#[derive(Debug, Clone)]
pub struct Context {
    /// Problem sizes.
    pub size: Size,
    /// The `troupe` executable for child processes (`None`: the current one).
    pub peer_exe: Option<PathBuf>,
    /// The cluster seed, if given.
    pub cluster: Option<String>,
    /// The cluster's cookie, if given.
    pub cookie: Option<String>,
}

impl Context {
    /// The executable to start child processes from.
    pub fn exe(&self) -> Result<PathBuf, Reason> {
        match &self.peer_exe {
            Some(p) => Ok(p.clone()),
            None => std::env::current_exe()
                .map_err(|e| format!("cannot find the troupe executable for child processes: {e}")),
        }
    }
}

pub(crate) use crate::report::format::count;

/// A `CallError` or `MessagingErr` as a reason.
pub(crate) fn err(what: &str, e: impl std::fmt::Display) -> Reason {
    format!("{what}: {e}")
}
