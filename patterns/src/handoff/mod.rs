//! The handoff pattern (`pattern.handoff`): a member agent transfers control of a conversation,
//! with its context, to another member; the pattern tracks which member is active; a member
//! can hand control back, or fork the job to several members at once and join their replies.
//!
//! # Requests and replies of the pattern agent
//!
//! | request | reply |
//! |---|---|
//! | `{"conversation": "c1", "message": m, "context"?: patch}` | [`TurnOutcome`]: `{"conversation", "reply", "active", "context", "path"}` |
//! | `{"conversation": "c1", "query": true}` | [`ConversationView`]: `{"conversation", "active", "context", "stack", "turns", "history"}` |
//! | `{"conversation": "c1", "end": true}` | the [`ConversationView`] it had; the conversation is forgotten |
//!
//! A new conversation id starts at the configured `start` member with an empty context; a
//! turn's `context` is merged into the conversation's first. A [`TurnInput`] is a valid turn
//! request, so a handoff pattern can itself be a member of another pattern. Turns are served
//! one at a time (the pattern agent is one actor).
//!
//! # The member protocol
//!
//! Each step of a turn calls one member with a [`TurnInput`]:
//! `{"conversation", "message", "context", "from"?: {"agent", "action"}, "joined"?, "branch"?,
//! "history"?}`. The member answers with a [`Turn`]:
//!
//! | answer | effect |
//! |---|---|
//! | `{"reply": v, "context"?: patch}` | `v` answers the turn; this member is active |
//! | `{"handoff": {"to": "b", "context"?: patch, "message"?: m}}` | this member is pushed on the stack; `b` becomes active and is called in the same turn (with `m` if given) |
//! | `{"handback": {"context"?, "message"?, "reply"?: v}}` | the stack is popped; the member popped becomes active; with `reply` the turn ends with `v`, without it the popped member is called in the same turn |
//! | `{"fork": {"to": ["a","b"], "merge": rule, "join"?: "back" \| "reply", "context"?, "message"?}}` | every `to` member is called at once (`"branch": true`); their replies are joined by `rule` |
//! | anything else (a string, an object of another shape...) | a plain reply, so any kind — another pattern too — can be a member |
//!
//! An object is a turn only when its keys are exactly one of `reply`, `handoff`, `handback`,
//! `fork` (plus `context` beside `reply`); its body is then decoded strictly (unknown fields
//! are a protocol error).
//!
//! Every `context` is an object merged into the conversation's context as a JSON Merge Patch
//! (RFC 7396: keys overwrite, nested objects merge, `null` deletes), before the next member is
//! called; the context every member receives is the conversation's context as of that step.
//!
//! **Forks.** A branch must answer with a reply (a handoff, handback or fork inside a branch
//! fails the branch); its context patch is not merged (branches run at once and would
//! conflict; the forking member decides what to keep). The [`Merge`] rules: `all` (array in
//! `to` order), `object` (`{member: reply}`), `concat` (arrays concatenated) — these three
//! fail as soon as one branch fails; `first_success` (first reply to arrive; fails only if all
//! fail); `majority` (a reply given by more than half the branches, JSON equality; fails when
//! none has one); `vote` (the most frequent reply; a tie goes to the one first in `to` order;
//! fails only if all fail). With `"join": "back"` (the default) the forking member is called
//! again with `"joined": {"merge", "result", "failed"?}` and continues the turn; with
//! `"join": "reply"` the joined result is the turn's reply. A rule that fails fails the turn.
//!
//! **Loops.** Each handoff, continuing handback and fork counts as one transfer; a turn that
//! needs more than `max_handoffs` fails with `handoff limit of 8 reached in one turn: a -> b ->
//! a -> ...`.
//!
//! **Failures.** A failed turn leaves the conversation exactly as it was before the turn. A
//! member that crashes on a call is restarted by the pattern's team (the members' supervisor,
//! linked to the pattern agent); the pattern waits for the restart and sends the same input
//! again, up to `crash.retries` times (default 1), then fails the turn with `member billing:
//! agent desk/billing/0 crashed on each of 2 attempt(s)`. Members therefore see a retried input
//! at least once more: make them idempotent per input. A team that exceeds its restart
//! intensity fails the pattern agent (escalation to its own supervisor).
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use troupe_patterns::handoff::{self, HandoffClient, HandoffConfig, Turn};
//! use troupe_runtime::Runtime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let runtime = Runtime::start(Default::default()).await.unwrap();
//! handoff::register_member(runtime.kinds(), "triage", "routes", |input| {
//!     Ok(match input.from {
//!         None => Turn::handoff("billing", json!({"topic": "refund"})),
//!         Some(_) => Turn::reply("anything else?"),
//!     })
//! });
//! handoff::register_member(runtime.kinds(), "billing", "refunds", |input| {
//!     let topic = input.context["topic"].as_str().unwrap_or("?");
//!     Ok(Turn::handback().with_reply(format!("refunded ({topic})")))
//! });
//! let config = HandoffConfig::new("triage")
//!     .member("triage", "triage", json!(null))
//!     .member("billing", "billing", json!(null));
//! let desk = HandoffClient::spawn(&runtime, "desk", config).await.unwrap();
//! let out = desk.turn("c1", "my card was charged twice").await.unwrap();
//! assert_eq!(out.reply, json!("refunded (refund)"));
//! assert_eq!(out.active, "triage");
//! runtime.shutdown().await;
//! # }
//! ```

mod agent;
mod config;
mod crash;
mod error;
mod machine;
mod merge;
mod protocol;
mod request;
mod sdk;

#[cfg(test)]
mod tests;
mod turn;

pub use agent::{HandoffPattern, HandoffState};
pub use config::{HandoffConfig, KIND};
pub use crash::{CrashPolicy, MemberError};
pub use error::HandoffError;
pub use protocol::{
    Action, Context, ConversationView, HistoryEntry, Joined, Origin, TurnInput, TurnOutcome,
};
pub use request::HandoffRequest;
pub(crate) use sdk::PatternHandle;
pub use sdk::{register_member, FnMember, HandoffClient};
pub use turn::{Fork, Join, Merge, Turn};

pub(crate) use config::{check_members, check_seconds, check_team, names};
pub(crate) use crash::MemberCaller;
pub(crate) use protocol::describe;

use troupe_runtime::workflow::PatternAdapter;
use troupe_runtime::KindRegistry;

/// Registers the `pattern.handoff` kind.
pub fn register(registry: &KindRegistry) {
    registry.register_pattern(
        "handoff",
        "passes a conversation and its context between member agents (handoff, hand back, fork)",
        HandoffPattern::from_config,
        PatternAdapter::members(),
    );
    registry.nested_agents(KIND, |config| crate::member::nested_in(config, "members"));
}
