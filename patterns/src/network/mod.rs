//! The network pattern (`pattern.network`): any member can message any other by name; the
//! members decide the routing; cycles are allowed, guarded by a hop budget per path and a
//! message budget per request, so a request cannot travel forever.
//!
//! # Topology: decentralised
//!
//! Every member is wrapped by a **peer actor** (in the pattern's team, next to the member). A
//! peer receives a message, calls its member with it, and acts on the answer itself: it casts
//! the message on to the next member's peer, or answers the request. The pattern agent is only
//! the entry and exit point: it hands the request to the `entry` member's peer and awaits the
//! answer, which the answering peer sends straight back to it. No central loop sees the hops,
//! so the routing work is spread over the peers (each serves its own member, one message at a
//! time, like the member itself).
//!
//! # Requests and replies of the pattern agent
//!
//! A request is any JSON value: the message delivered to `entry`. The reply is an [`Answer`]:
//! `{"answer": v, "path": ["a", "b", "c"]}` — the first reply of any branch, and the members
//! its message passed through. Requests are served one at a time (the pattern agent awaits
//! each answer).
//!
//! # The member protocol
//!
//! A member receives a [`PeerInput`]: `{"message", "from"?, "path", "hops_left"}` (`path` ends
//! with the member itself; `from` is absent at the first delivery). It answers with a
//! [`Step`]:
//!
//! | answer | effect |
//! |---|---|
//! | `{"reply": v}` | `v` answers the request; other branches still travelling are dropped at their next peer |
//! | `{"send": {"to": "b", "message"?: m}}` | the message (`m`, or the one received) goes on to `b` |
//! | `{"send": [{"to": "b"}, {"to": "c", "message": m}]}` | fan-out: one branch per send |
//! | `{"send": []}` | this branch ends without an answer |
//! | anything else (an object of another shape too) | a plain reply, so any kind — another pattern too — can be a member |
//!
//! # Budgets and failures
//!
//! - **Hop budget** (`hop_budget`, default 8): the sends allowed along one path. The send past
//!   it fails the branch: `hop budget of 8 spent: a -> b -> a -> b -> a -> b -> a -> b -> a
//!   (refused: a -> b)`.
//! - **Message budget** (`message_budget`, default 64): deliveries for one request, all
//!   branches together (fan-outs in a cycle grow exponentially without it).
//! - **Unknown member**: a send to a name that is not a member fails the branch: `member a
//!   sent to unknown member "zed" (members: a, b, c)`.
//! - **A branch that fails** ends only itself; the request fails with the first branch error
//!   once every branch has ended without a reply (with a single path: at once).
//! - **A member that crashes** on a message is restarted by the team; its peer waits for the
//!   restart and gives it the same message again, up to `crash.retries` times (default 1),
//!   then fails the branch with `member b: agent net/b/0 crashed on each of 2 attempt(s)`.
//!   Members may thus see a message twice: make them idempotent per message.
//! - **A message can never be lost silently**: every message in flight owns its branch; a
//!   message dropped anywhere (a peer stopped with it in its mailbox) ends its branch, and the
//!   request fails if no branch is left.
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use troupe_patterns::network::{self, NetworkClient, NetworkConfig, Step};
//! use troupe_runtime::Runtime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let runtime = Runtime::start(Default::default()).await.unwrap();
//! network::register_member(runtime.kinds(), "router", "asks the expert", |_| Ok(Step::forward("expert")));
//! network::register_member(runtime.kinds(), "expert", "answers", |input| {
//!     Ok(Step::reply(format!("42 (via {})", input.from.unwrap_or_default())))
//! });
//! let config = NetworkConfig::new("router")
//!     .member("router", "router", json!(null))
//!     .member("expert", "expert", json!(null));
//! let net = NetworkClient::spawn(&runtime, "net", config).await.unwrap();
//! let out = net.ask("the question").await.unwrap();
//! assert_eq!(out.answer, json!("42 (via router)"));
//! assert_eq!(out.path, ["router", "expert"]);
//! runtime.shutdown().await;
//! # }
//! ```

mod agent;
mod config;
mod error;
mod peer;
mod protocol;
mod route;
mod sdk;

#[cfg(test)]
mod tests;

pub use crate::handoff::{CrashPolicy, MemberError};
pub use agent::{NetworkPattern, NetworkState};
pub use config::{NetworkConfig, KIND, MAX_HOP_BUDGET};
pub use error::NetworkError;
pub use protocol::{Answer, PeerInput, Send, Step};
pub use sdk::{register_member, FnMember, NetworkClient};

use troupe_runtime::workflow::PatternAdapter;
use troupe_runtime::KindRegistry;

/// Registers the `pattern.network` kind.
pub fn register(registry: &KindRegistry) {
    registry.register_pattern(
        "network",
        "members message each other by name under a hop budget (decentralised peers)",
        NetworkPattern::from_config,
        PatternAdapter::members(),
    );
    registry.nested_agents(KIND, |config| crate::member::nested_in(config, "members"));
}
