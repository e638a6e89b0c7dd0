//! # Troupe
//!
//! A runtime for multi-agent systems on the actor model. Every agent, workflow and task is a
//! supervised [ractor](https://docs.rs/ractor) actor; supervision trees restart what fails.
//!
//! This facade re-exports the workspace's crates:
//!
//! | crate | what |
//! |---|---|
//! | [`runtime`] (also at the root) | agents, supervision, workflows, events, policies |
//! | [`agents`] | ready-made agent kinds (text, JSON, commands, HTTP, demo utilities) |
//! | [`patterns`] | multi-agent patterns as actor topologies |
//! | [`cluster`] | clustering of nodes |
//!
//! The `troupe` binary (feature `cli`, on by default) runs workflow files and cluster nodes;
//! its `troupe bench` harness is the separate crate `troupe-bench`.
//!
//! ```
//! use troupe::{Runtime, RuntimeConfig, TaskSpec, PoolSpec, WorkflowSpec};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let rt = Runtime::start(RuntimeConfig::default()).await.unwrap();
//! troupe::agents::register_all(rt.kinds());
//! let spec = WorkflowSpec::builder("shout")
//!     .pool("upper", PoolSpec::new("text.transform", 1).config(json!({"op": "uppercase"})))
//!     .task(TaskSpec::new("a", "upper").input(json!("hello")))
//!     .build();
//! let report = rt.run(spec).await.unwrap();
//! assert_eq!(report.output("a"), Some(&json!("HELLO")));
//! rt.shutdown().await;
//! # }
//! ```
#![deny(missing_docs)]

pub use troupe_agents as agents;
pub use troupe_cluster as cluster;
pub use troupe_patterns as patterns;
pub use troupe_runtime as runtime;
pub use troupe_runtime::*;
