//! One-way messages that cannot be delivered. A JSON tell ([`DynAgent::tell_value`], the path
//! of every tell that crosses the cluster) that fails — the agent is stopped or between a crash
//! and its restart, or the message does not fit its kind — is kept in the runtime's
//! dead-letter store when one is set ([`Runtime::set_dead_letter_store`]): no run, the target
//! agent as its task, the message as its input, the error, one attempt. An event
//! ([`EventKind::DeadLettered`]) says so. A typed tell ([`AgentRef::tell`]) that fails hands
//! the error to its caller and is kept the same way, its input naming what was sent instead of
//! holding it (typed requests need not be JSON): `{"undelivered": "typed request", "kind":
//! KIND, "request_type": RUST TYPE}`. A tell that was delivered and then rejected by the
//! agent's handler is not a dead letter (it is logged), nor is one refused by a full mailbox
//! (backpressure: the caller was told).
//!
//! [`DynAgent::tell_value`]: super::DynAgent::tell_value
//! [`AgentRef::tell`]: super::AgentRef::tell
//! [`Runtime::set_dead_letter_store`]: crate::Runtime::set_dead_letter_store
//! [`EventKind::DeadLettered`]: crate::EventKind::DeadLettered

use serde_json::Value;

use crate::error::CallError;
use crate::events::EventKind;
use crate::ids::{AgentId, TaskId};
use crate::runtime::WeakRuntime;
use crate::store::{NewDeadLetter, Timestamp};

/// Keeps a dead letter for a typed request of type `R` to `agent` (of kind `kind`) that could
/// not be delivered because of `error` (see the [module docs](self)).
pub(crate) fn keep_typed<R>(runtime: &WeakRuntime, agent: &AgentId, kind: &str, error: &CallError) {
    let input = serde_json::json!({
        "undelivered": "typed request",
        "kind": kind,
        "request_type": std::any::type_name::<R>(),
    });
    keep(runtime, agent, input, error);
}

/// Keeps `message` for `agent`, which could not be delivered because of `error`, if the
/// runtime has a dead-letter store (written off the caller's thread; a failed write is
/// logged).
pub(crate) fn keep(runtime: &WeakRuntime, agent: &AgentId, message: Value, error: &CallError) {
    // A full mailbox is backpressure, not a lost message: the caller was refused and may wait
    // for room (`tell_wait`), so nothing is kept.
    if matches!(error, CallError::MailboxFull { .. }) {
        return;
    }
    let Some(rt) = runtime.upgrade() else { return };
    let Some(store) = rt.dead_letter_store() else {
        return;
    };
    let Ok(tokio) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let letter = NewDeadLetter {
        run: None,
        task: Some(TaskId::from(agent.as_str().to_string())),
        input: message,
        errors: vec![format!("{}: {error}", error.class())],
        attempts: 1,
        at: Timestamp::now(),
    };
    let (agent, error) = (agent.clone(), error.to_string());
    let events = rt.events().clone();
    tokio.spawn(async move {
        match store.put_dead_letter(letter).await {
            Ok(kept) => events.agent(
                &agent,
                EventKind::DeadLettered {
                    id: kept.id,
                    attempts: 1,
                    error,
                },
            ),
            Err(e) => {
                tracing::warn!(%agent, error = %e, "could not keep an undeliverable one-way message")
            }
        }
    });
}
